// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// pluginResource is a plugin installed from a plugin registry (msb
// plugin install): installed once, pinned by digest; any change installs
// anew. Sandboxes load it by name in a `plugin` block.
type pluginResource struct {
	named[pluginResModel, msb.PluginInfo]
}

type pluginResModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	Version     types.String `tfsdk:"version"`
	Registry    types.String `tfsdk:"registry"`
	Digest      types.String `tfsdk:"digest"`
	Reference   types.String `tfsdk:"reference"`
	Kind        types.String `tfsdk:"kind"`
	Language    types.String `tfsdk:"language"`
	Hooks       types.List   `tfsdk:"hooks"`
	Command     types.String `tfsdk:"command"`
	Description types.String `tfsdk:"description"`
	Path        types.String `tfsdk:"path"`
	InstalledAt types.String `tfsdk:"installed_at"`
}

func newPluginResource() resource.Resource {
	return &pluginResource{named[pluginResModel, msb.PluginInfo]{
		what:   "plugin",
		get:    msb.InspectPlugin,
		remove: func(ctx context.Context, name string, _ bool) error { return msb.RemovePlugin(ctx, name) },
		fill:   (*pluginResModel).fill,
		key:    func(m *pluginResModel) (string, bool) { return m.Name.ValueString(), false },
	}}
}

func (r *pluginResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_plugin"
}

func (r *pluginResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A plugin installed from a plugin registry (msb plugin install, " +
			"docs/plugins.md): its files under $MSB_HOME/plugins/NAME, pinned by the digest " +
			"they came with and checked at every load. Sandboxes load it with " +
			"`plugin { name = microsandbox_plugin.x.name }`. Changing anything installs " +
			"it anew; sandboxes made with the old one are then refused a start until they " +
			"are made again (`replace_triggered_by = [microsandbox_plugin.x.digest]`). " +
			"Drift: one removed outside Terraform is installed again by the next plan; one " +
			"whose files changed fails the plan's read, saying so.",
		Attributes: map[string]schema.Attribute{
			"id": computedStr("The plugin's name."),
			"name": schema.StringAttribute{Required: true, PlanModifiers: replaceStr(),
				Description: "The plugin's name in the registry, and installed. Import takes " +
					"it. Changing it installs another plugin."},
			"version": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: keepReplaceStr(),
				Description: "The version (registry tag) to install; default the registry's " +
					"latest, read back as installed. Changing it installs that version."},
			"registry": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: keepReplaceStr(),
				Description: "The plugin registry, REGISTRY/NAMESPACE (`ghcr.io/me/plugins`); " +
					"default $MSB_PLUGIN_REGISTRY in the provider's environment. Read back " +
					"from where it was installed from. Changing it installs anew."},
			"digest":       computedStr("The manifest digest it is pinned to."),
			"reference":    computedStr("Where it was installed from."),
			"kind":         computedStr("`process`: a command speaking the hook protocol."),
			"language":     computedStr("Its language, as it says (informative)."),
			"hooks":        schema.ListAttribute{ElementType: types.StringType, Computed: true, Description: "The hooks it asks for."},
			"command":      computedStr("Run with /bin/sh -c in its files."),
			"description":  computedStr("What it says it does."),
			"path":         computedStr("Its files, on the host."),
			"installed_at": computedStr("When it was installed (RFC 3339)."),
		},
	}
}

func (m *pluginResModel) fill(i *msb.PluginInfo) {
	m.ID = types.StringValue(i.Name)
	m.Name = types.StringValue(i.Name)
	m.Version = types.StringValue(i.Version)
	// REGISTRY/NAMESPACE/NAME:TAG (or @DIGEST)
	if at := strings.LastIndex(i.Reference, "/"+i.Name); at > 0 {
		m.Registry = types.StringValue(i.Reference[:at])
	} else if m.Registry.IsUnknown() {
		m.Registry = types.StringNull()
	}
	m.Digest = types.StringValue(i.Digest)
	m.Reference = types.StringValue(i.Reference)
	m.Kind = types.StringValue(i.Kind)
	m.Language = types.StringValue(i.Language)
	hooks := make([]attr.Value, len(i.Hooks))
	for n, h := range i.Hooks {
		hooks[n] = types.StringValue(h)
	}
	m.Hooks = types.ListValueMust(types.StringType, hooks)
	m.Command = types.StringValue(i.Command)
	m.Description = types.StringValue(i.Description)
	m.Path = types.StringValue(i.Path)
	m.InstalledAt = types.StringValue(i.InstalledAt.UTC().Format("2006-01-02T15:04:05Z"))
}

func (r *pluginResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m pluginResModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	what := m.Name.ValueString()
	if v := m.Version.ValueString(); v != "" {
		what += ":" + v
	}
	info, err := msb.InstallPlugin(ctx, what, m.Registry.ValueString())
	r.made(ctx, &m, info, err, resp)
}
