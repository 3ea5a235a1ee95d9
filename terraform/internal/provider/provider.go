// SPDX-License-Identifier: Apache-2.0

// Package provider is microsandbox's Terraform provider, on
// terraform-plugin-framework over the Go SDK (package msb).
//
// Every sandbox is a microVM owned by a supervisor process of its own;
// the provider only asks libmsb to make, start, stop, snapshot and
// remove them, and reads their records back. Nothing of the provider
// stays running after an apply.
package provider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Address is the provider's registry address.
const Address = "registry.terraform.io/microsandbox/microsandbox"

type msbProvider struct{ version string }

// New is the provider, for providerserver.
func New() provider.Provider { return &msbProvider{version: "dev"} }

func (p *msbProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "microsandbox"
	resp.Version = p.version
}

type providerModel struct {
	Home types.String `tfsdk:"home"`
}

func (p *msbProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "microsandbox runs each sandbox as a microVM on this machine, with no " +
			"daemon. The provider acts on the state directory msb uses ($MSB_HOME, " +
			"default ~/.microsandbox) through libmsb.",
		Attributes: map[string]schema.Attribute{
			"home": schema.StringAttribute{
				Optional: true,
				Description: "The state directory (as $MSB_HOME). Default: $MSB_HOME, else " +
					"~/.microsandbox.",
			},
		},
	}
}

func (p *msbProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// libmsb finds its state directory through $MSB_HOME at every call.
	if h := m.Home.ValueString(); h != "" {
		if err := os.Setenv("MSB_HOME", h); err != nil {
			resp.Diagnostics.AddError("Cannot set the state directory", err.Error())
		}
	}
}

func (p *msbProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newSandboxResource, newSnapshotResource, newVolumeResource, newPluginResource}
}

func (p *msbProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newImagesDataSource, newSandboxesDataSource, newPluginsDataSource}
}
