// SPDX-License-Identifier: Apache-2.0

// Command terraform-provider-microsandbox is the Terraform (and OpenTofu)
// provider for microsandbox: sandboxes, snapshots and named volumes as
// resources, images and sandboxes as data sources. It binds libmsb
// through the Go SDK, so a plan acts on this machine's $MSB_HOME as msb
// does.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/microsandbox/microsandbox/terraform/internal/provider"
)

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "serve for a debugger: print TF_REATTACH_PROVIDERS and wait")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New, providerserver.ServeOpts{
		Address: provider.Address,
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
