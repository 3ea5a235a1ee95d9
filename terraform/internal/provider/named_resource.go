// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// named is what snapshots and named volumes share as resources: each is
// made once under its name and never changed (a change of anything but
// force_destroy makes a new one), read back by name (gone from the state
// when removed outside Terraform), removed with its force_destroy, and
// imported by name. Each says how it is made (Create), read, removed and
// written into its model (M) from what the Go SDK says of it (I).
type named[M any, I any] struct {
	what   string // "snapshot", "volume": for messages
	get    func(ctx context.Context, name string) (*I, error)
	remove func(ctx context.Context, name string, force bool) error
	fill   func(m *M, i *I)
	key    func(m *M) (name string, force bool)
}

// made records in the state what Create made (@i, @err from the Go SDK).
func (n named[M, I]) made(ctx context.Context, m *M, i *I, err error, resp *resource.CreateResponse) {
	if err != nil {
		name, _ := n.key(m)
		sdkError(&resp.Diagnostics, "Cannot create "+n.what+" "+name, err)
		return
	}
	n.fill(m, i)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (n named[M, I]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m M
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name, _ := n.key(&m)
	i, err := n.get(ctx, name)
	if errors.Is(err, msb.ErrNotFound) {
		resp.State.RemoveResource(ctx) // removed outside Terraform: the plan makes it again
		return
	}
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot read "+n.what+" "+name, err)
		return
	}
	n.fill(&m, i)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update only records force_destroy: everything else makes a new one.
func (n named[M, I]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m M
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (n named[M, I]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m M
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name, force := n.key(&m)
	if err := n.remove(ctx, name, force); err != nil && !errors.Is(err, msb.ErrNotFound) {
		sdkError(&resp.Diagnostics, "Cannot remove "+n.what+" "+name, err)
	}
}

func (n named[M, I]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}
