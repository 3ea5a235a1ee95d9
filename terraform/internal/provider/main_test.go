// SPDX-License-Identifier: Apache-2.0

package provider

// The tests run in a private $MSB_HOME. Acceptance tests (acc_*_test.go)
// drive a Terraform-compatible CLI (OpenTofu or Terraform, named by
// $TF_ACC_TERRAFORM_PATH, else `tofu` or `terraform` on $PATH) through
// terraform-plugin-testing, which serves this provider in-process
// (TF_REATTACH_PROVIDERS): the CLI plans and applies real sandboxes.
// Without a CLI they are skipped, saying so; the unit tests
// (provider_test.go) speak the plugin protocol to the provider directly.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

// cliSkip says why acceptance tests cannot run ("" when they can).
var cliSkip string

// findCLI is the CLI acceptance tests drive, or "".
func findCLI() string {
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"tofu", "terraform"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	cleanup, err := msbtest.Home("msb-tf-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	home := os.Getenv("MSB_HOME")
	if cli := findCLI(); cli == "" {
		cliSkip = "no Terraform-compatible CLI: set TF_ACC_TERRAFORM_PATH or put tofu " +
			"(./setup --test builds OpenTofu) on PATH"
	} else {
		os.Setenv("TF_ACC", "1")
		os.Setenv("TF_ACC_TERRAFORM_PATH", cli)
		if strings.Contains(filepath.Base(cli), "tofu") {
			os.Setenv("TF_ACC_PROVIDER_HOST", "registry.opentofu.org")
		}
		// Never download a CLI or a provider; boot at most two sandboxes
		// at once on a small machine.
		os.Setenv("TF_ACC_SKIP_INSTALL", "1")
		os.Setenv("TF_CLI_ARGS_apply", "-parallelism=2")
		os.Setenv("TF_CLI_ARGS_destroy", "-parallelism=2")
		os.Setenv("CHECKPOINT_DISABLE", "1")
		// A CLI configuration of our own (empty): the user's may install
		// providers from elsewhere, or name a file that is not there.
		rc := filepath.Join(home, "cli.tfrc")
		os.WriteFile(rc, nil, 0o644)
		os.Setenv("TF_CLI_CONFIG_FILE", rc)
	}
	code := m.Run()
	registry.Stop()
	cleanup()
	os.Exit(code)
}

// factories serve the provider in-process to the CLI.
var factories = map[string]func() (tfprotov6.ProviderServer, error){
	"microsandbox": providerserver.NewProtocol6WithError(New()),
}

func needCLI(t *testing.T) {
	t.Helper()
	if cliSkip != "" {
		t.Skip(cliSkip)
	}
}

var seeds struct {
	once sync.Once
	err  error
}

// seedImages stores python:3.12 and node:20 (small busybox stand-ins,
// tests/images/seed.py) under the seeds' names, from OCI layouts.
func seedImages(t *testing.T) {
	t.Helper()
	seeds.once.Do(func() { seeds.err = msbtest.SeedImages(context.Background(), nil) })
	if seeds.err != nil {
		t.Fatalf("seed images: %v", seeds.err)
	}
}

// registry is a registry on loopback (Debian's docker-registry), one
// for the whole run.
var registry msbtest.OnceRegistry

// startRegistry is its host:port.
func startRegistry(t *testing.T) string { return registry.Get(t).Host }

// guest runs a shell script in sandbox @name and returns its stdout.
func guest(t *testing.T, name, script string) string {
	t.Helper()
	sb, err := msb.GetSandbox(context.Background(), name)
	if err != nil {
		t.Fatalf("sandbox %s: %v", name, err)
	}
	defer sb.Close()
	res, err := sb.Shell(context.Background(), script)
	if err != nil {
		t.Fatalf("sandbox %s: %s: %v", name, script, err)
	}
	return strings.TrimSpace(string(res.Stdout))
}
