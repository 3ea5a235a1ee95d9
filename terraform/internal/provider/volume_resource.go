// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// volumeResource is a named volume (msb volume create): a directory the
// host keeps apart from any sandbox, mounted by sandboxes with
// volume { backend = "named" source = NAME }.
type volumeResource struct {
	named[volumeResModel, msb.VolumeInfo]
}

type volumeResModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	Size        types.Int64  `tfsdk:"size"`
	ForceRemove types.Bool   `tfsdk:"force_destroy"`
	Path        types.String `tfsdk:"path"`
	CreatedAt   types.String `tfsdk:"created_at"`
}

var _ resource.ResourceWithImportState = (*volumeResource)(nil)

func newVolumeResource() resource.Resource {
	return &volumeResource{named[volumeResModel, msb.VolumeInfo]{
		what:   "volume",
		get:    msb.GetVolume,
		remove: msb.RemoveVolume,
		fill:   (*volumeResModel).fill,
		key:    func(m *volumeResModel) (string, bool) { return m.Name.ValueString(), m.ForceRemove.ValueBool() },
	}}
}

func (r *volumeResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_volume"
}

func (r *volumeResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A named volume (msb volume create): a directory the host keeps apart " +
			"from any sandbox, mounted by as many as like at once with " +
			"`volume { backend = \"named\" source = NAME }`, outliving them. Destroying it " +
			"deletes its files.",
		Attributes: map[string]schema.Attribute{
			"id": computedStr("The volume's name."),
			"name": schema.StringAttribute{Required: true, PlanModifiers: replaceStr(),
				Description: "The volume's name. Import takes it. Changing it makes a new volume."},
			"size": schema.Int64Attribute{Optional: true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description: "Its size in MiB, enforced with ENOSPC for all its sandboxes " +
					"together (msb volume create --size); none: the host's disk. Changing it " +
					"makes a new volume (its files are lost)."},
			"force_destroy": schema.BoolAttribute{Optional: true,
				Description: "Destroy it even while stopped sandboxes mount it (msb volume rm -f). " +
					"One a running sandbox mounts is never removed."},
			"path":       computedStr("Its files, on the host."),
			"created_at": computedStr("When it was made (RFC 3339)."),
		},
	}
}

func (m *volumeResModel) fill(i *msb.VolumeInfo) {
	m.ID = types.StringValue(i.Name)
	m.Name = types.StringValue(i.Name)
	if i.SizeMiB > 0 {
		m.Size = types.Int64Value(int64(i.SizeMiB))
	} else {
		m.Size = types.Int64Null()
	}
	m.Path = types.StringValue(i.Path)
	m.CreatedAt = types.StringValue(i.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
}

func (r *volumeResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m volumeResModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	info, err := msb.CreateVolume(ctx, m.Name.ValueString(), uint64(m.Size.ValueInt64()))
	r.made(ctx, &m, info, err, resp)
}
