// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// snapshotResource is a saved sandbox (msb snapshot): made once, never
// changed; any change makes a new one.
type snapshotResource struct {
	named[snapshotModel, msb.SnapshotInfo]
}

type snapshotModel struct {
	ID          types.String `tfsdk:"id"`
	Sandbox     types.String `tfsdk:"sandbox"`
	Name        types.String `tfsdk:"name"`
	ForceRemove types.Bool   `tfsdk:"force_destroy"`
	Kind        types.String `tfsdk:"kind"`
	Reason      types.String `tfsdk:"reason"`
	Image       types.String `tfsdk:"image"`
	SizeBytes   types.Int64  `tfsdk:"size_bytes"`
	CreatedAt   types.String `tfsdk:"created_at"`
}

var _ resource.ResourceWithImportState = (*snapshotResource)(nil)

func newSnapshotResource() resource.Resource {
	return &snapshotResource{named[snapshotModel, msb.SnapshotInfo]{
		what: "snapshot",
		get: func(ctx context.Context, name string) (*msb.SnapshotInfo, error) {
			snap, err := msb.GetSnapshot(ctx, name)
			if err != nil {
				return nil, err
			}
			return snap.Info(ctx)
		},
		remove: func(ctx context.Context, name string, force bool) error {
			snap, err := msb.GetSnapshot(ctx, name)
			if err != nil {
				return err
			}
			return snap.Remove(ctx, force)
		},
		fill: (*snapshotModel).fill,
		key:  func(m *snapshotModel) (string, bool) { return m.Name.ValueString(), m.ForceRemove.ValueBool() },
	}}
}

func (r *snapshotResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_snapshot"
}

func computedStr(desc string) schema.StringAttribute {
	return schema.StringAttribute{Computed: true, Description: desc,
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
}

func (r *snapshotResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A snapshot of a sandbox (msb snapshot): a running sandbox is paused " +
			"(not stopped) while its memory, vCPU and device state and its disk are saved, " +
			"then goes on; a stopped one, or one with volumes, gives a disk-only snapshot. " +
			"Sandboxes restore from it with `from_snapshot`. A snapshot is never changed: " +
			"changing `sandbox` or `name` makes a new one.",
		Attributes: map[string]schema.Attribute{
			"id": computedStr("The snapshot's name."),
			"sandbox": schema.StringAttribute{Required: true, PlanModifiers: replaceStr(),
				Description: "The sandbox to save." + " Changing it makes a new snapshot."},
			"name": schema.StringAttribute{Required: true, PlanModifiers: replaceStr(),
				Description: "The snapshot's name. Import takes it. Changing it makes a new snapshot."},
			"force_destroy": schema.BoolAttribute{Optional: true,
				Description: "Destroy it even while sandboxes restored from it exist (they can " +
					"then no longer start). Default false: destroying it is refused meanwhile."},
			"kind":       computedStr("`full` (memory and disk) or `disk`."),
			"reason":     computedStr("Why a snapshot is `disk` only."),
			"image":      computedStr("The image of the sandbox saved."),
			"size_bytes": schema.Int64Attribute{Computed: true, Description: "Host disk it takes."},
			"created_at": computedStr("When it was taken (RFC 3339)."),
		},
	}
}

func (m *snapshotModel) fill(i *msb.SnapshotInfo) {
	m.ID = types.StringValue(i.Name)
	m.Name = types.StringValue(i.Name)
	m.Sandbox = types.StringValue(i.Source)
	m.Kind = types.StringValue(i.Kind)
	m.Reason = types.StringValue(i.Reason)
	m.Image = types.StringValue(i.Image)
	m.SizeBytes = types.Int64Value(int64(i.SizeBytes))
	m.CreatedAt = types.StringValue(i.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
}

func (r *snapshotResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m snapshotModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sb, err := msb.GetSandbox(ctx, m.Sandbox.ValueString())
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot find sandbox "+m.Sandbox.ValueString(), err)
		return
	}
	defer sb.Close()
	var info *msb.SnapshotInfo
	snap, err := sb.Snapshot(ctx, m.Name.ValueString())
	if err == nil {
		info, err = snap.Info(ctx)
	}
	r.made(ctx, &m, info, err, resp)
}
