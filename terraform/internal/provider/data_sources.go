// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// ---- microsandbox_images ------------------------------------------------------

type imagesDataSource struct{}

type imageModel struct {
	Reference types.String `tfsdk:"reference"`
	Canonical types.String `tfsdk:"canonical"`
	Digest    types.String `tfsdk:"digest"`
	ID        types.String `tfsdk:"id"`
	Size      types.Int64  `tfsdk:"size"`
	Layers    types.Int64  `tfsdk:"layers"`
}

type imagesModel struct {
	Images []imageModel `tfsdk:"images"`
}

func newImagesDataSource() datasource.DataSource { return &imagesDataSource{} }

func (d *imagesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_images"
}

func (d *imagesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The images in the local store (msb images), the built-in `default` first.",
		Attributes: map[string]schema.Attribute{
			"images": schema.ListNestedAttribute{Computed: true, Description: "The images.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"reference": schema.StringAttribute{Computed: true, Description: "As shown: `python:3.12`."},
					"canonical": schema.StringAttribute{Computed: true, Description: "`docker.io/library/python:3.12`."},
					"digest":    schema.StringAttribute{Computed: true, Description: "Of the manifest it resolved to."},
					"id":        schema.StringAttribute{Computed: true, Description: "Of its config."},
					"size":      schema.Int64Attribute{Computed: true, Description: "Compressed layers, bytes."},
					"layers":    schema.Int64Attribute{Computed: true, Description: "How many layers."},
				}}},
		},
	}
}

func (d *imagesDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	imgs, err := msb.Images(ctx)
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot list images", err)
		return
	}
	m := imagesModel{Images: []imageModel{}}
	for _, i := range imgs {
		m.Images = append(m.Images, imageModel{
			Reference: types.StringValue(i.Reference), Canonical: types.StringValue(i.Canonical),
			Digest: types.StringValue(i.Digest), ID: types.StringValue(i.ID),
			Size: types.Int64Value(int64(i.Size)), Layers: types.Int64Value(int64(i.Layers)),
		})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// ---- microsandbox_sandboxes ---------------------------------------------------

type sandboxesDataSource struct{}

type sandboxInfoModel struct {
	Name         types.String `tfsdk:"name"`
	Image        types.String `tfsdk:"image"`
	Status       types.String `tfsdk:"status"`
	CPUs         types.Int64  `tfsdk:"cpus"`
	Memory       types.Int64  `tfsdk:"memory"`
	FromSnapshot types.String `tfsdk:"from_snapshot"`
	Error        types.String `tfsdk:"error"`
	Parent       types.String `tfsdk:"parent"`
}

// summary is a sandbox's record as Terraform values: each of the data
// source's sandboxes, and the computed attributes of a
// microsandbox_sandbox (sandboxModel.refresh).
func summary(i *msb.SandboxInfo) sandboxInfoModel {
	return sandboxInfoModel{
		Name: types.StringValue(i.Name), Image: types.StringValue(i.Image),
		Status: types.StringValue(i.Status), CPUs: types.Int64Value(int64(i.CPUs)),
		Memory: types.Int64Value(int64(i.MemoryMiB)), FromSnapshot: types.StringValue(i.FromSnapshot),
		Error: types.StringValue(i.Error), Parent: types.StringValue(""),
	}
}

type sandboxesModel struct {
	Running   types.Bool         `tfsdk:"running"`
	Sandboxes []sandboxInfoModel `tfsdk:"sandboxes"`
}

func newSandboxesDataSource() datasource.DataSource { return &sandboxesDataSource{} }

func (d *sandboxesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_sandboxes"
}

func (d *sandboxesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "The sandboxes of this machine's state directory (msb ps -a), made by " +
			"Terraform or not, with the truth about supervisors that died.",
		Attributes: map[string]schema.Attribute{
			"running": schema.BoolAttribute{Optional: true,
				Description: "true: only those that run (msb ps); default: all (msb ps -a)."},
			"sandboxes": schema.ListNestedAttribute{Computed: true, Description: "The sandboxes.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":          str("Its name."),
					"image":         str("Its image."),
					"status":        str("created, starting, running, stopping, stopped or failed."),
					"cpus":          schema.Int64Attribute{Computed: true, Description: "Virtual CPUs."},
					"memory":        schema.Int64Attribute{Computed: true, Description: "Memory, MiB."},
					"from_snapshot": str("The snapshot it was restored from, or empty."),
					"error":         str("Why it failed, when it did."),
					"parent": str("The sandbox that spawned it from inside (msb ps's PARENT; " +
						"docs/spawn.md), or empty for one the host made."),
				}}},
		},
	}
}

func (d *sandboxesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m sandboxesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	list, err := msb.List(ctx)
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot list sandboxes", err)
		return
	}
	m.Sandboxes = []sandboxInfoModel{}
	for _, i := range list {
		if m.Running.ValueBool() && !i.Running() {
			continue
		}
		s := summary(&i)
		if by, err := msb.SandboxParent(ctx, i.Name); err == nil {
			s.Parent = types.StringValue(by)
		}
		m.Sandboxes = append(m.Sandboxes, s)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// ---- microsandbox_plugins -------------------------------------------------------

type pluginsDataSource struct{}

type pluginEntryModel struct {
	Name        types.String `tfsdk:"name"`
	Version     types.String `tfsdk:"version"`
	Kind        types.String `tfsdk:"kind"`
	Language    types.String `tfsdk:"language"`
	Hooks       types.List   `tfsdk:"hooks"`
	Command     types.String `tfsdk:"command"`
	Description types.String `tfsdk:"description"`
	Reference   types.String `tfsdk:"reference"`
	Digest      types.String `tfsdk:"digest"`
	Path        types.String `tfsdk:"path"`
	Verified    types.Bool   `tfsdk:"verified"`
}

type pluginsModel struct {
	Registry types.String       `tfsdk:"registry"`
	Query    types.String       `tfsdk:"query"`
	Plugins  []pluginEntryModel `tfsdk:"plugins"`
}

func newPluginsDataSource() datasource.DataSource { return &pluginsDataSource{} }

func (d *pluginsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_plugins"
}

func (d *pluginsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "Plugins: those installed here (msb plugin ls), or with `registry` or " +
			"`query`, the entries of a plugin registry's index (msb plugin search).",
		Attributes: map[string]schema.Attribute{
			"registry": schema.StringAttribute{Optional: true,
				Description: "Search this plugin registry, REGISTRY/NAMESPACE (default with " +
					"`query`: $MSB_PLUGIN_REGISTRY)."},
			"query": schema.StringAttribute{Optional: true,
				Description: "Search for entries whose name, description, language, kind or " +
					"hooks hold it (case ignored)."},
			"plugins": schema.ListNestedAttribute{Computed: true, Description: "The plugins, by name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":        str("Its name."),
					"version":     str("Its version."),
					"kind":        str("`process`: a command speaking the hook protocol."),
					"language":    str("Its language, as it says."),
					"hooks":       schema.ListAttribute{ElementType: types.StringType, Computed: true, Description: "The hooks it asks for."},
					"command":     str("Run with /bin/sh -c in its files."),
					"description": str("What it says it does."),
					"reference":   str("Where it was published, or installed from."),
					"digest":      str("Its manifest digest."),
					"path":        str("Installed: its files on the host; else empty."),
					"verified":    schema.BoolAttribute{Computed: true, Description: "Installed: its files still match their digests."},
				}}},
		},
	}
}

func (d *pluginsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m pluginsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var list []msb.PluginInfo
	var err error
	if !m.Registry.IsNull() || !m.Query.IsNull() {
		list, err = msb.SearchPlugins(ctx, m.Registry.ValueString(), m.Query.ValueString())
	} else {
		list, err = msb.InstalledPlugins(ctx)
	}
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot list plugins", err)
		return
	}
	m.Plugins = []pluginEntryModel{}
	for _, p := range list {
		var r pluginResModel
		r.fill(&p)
		m.Plugins = append(m.Plugins, pluginEntryModel{
			Name: r.Name, Version: r.Version, Kind: r.Kind, Language: r.Language, Hooks: r.Hooks,
			Command: r.Command, Description: r.Description, Reference: r.Reference, Digest: r.Digest,
			Path: r.Path, Verified: types.BoolValue(p.Verified),
		})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
