// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"context"
	"errors"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// A snapshot of the shared sandbox renamed (msb snapshot rename): the
// handle and the record take the new name, the old one is gone, and the
// new one restores the machine as it was. Refused while a sandbox
// restored from it exists (ErrBusy), which it allows again once that is
// removed; refused for a name another snapshot has (ErrAlreadyExists)
// and for a bad name, the snapshot keeping its name each time.
func TestSnapshotRename(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	name := unique("gorename")
	mark := "/root/" + name
	if _, err := sb.Shell(ctx, "echo before-rename > "+mark); err != nil {
		t.Fatal(err)
	}
	defer sb.Shell(context.Background(), "rm -f "+mark)
	snap, err := sb.Snapshot(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { snap.Remove(context.Background(), true) }() // by its name then
	taken, err := sb.Snapshot(ctx, name+"-taken")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Remove(context.Background(), true)

	renamed := name + "-b"
	if err := snap.Rename(ctx, renamed); err != nil {
		t.Fatal(err)
	}
	if snap.Name() != renamed {
		t.Fatalf("the handle's name after the rename: %q", snap.Name())
	}
	if _, err := msb.GetSnapshot(ctx, name); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("the old name after the rename: %v", err)
	}
	if info, err := snap.Info(ctx); err != nil || info.Name != renamed || info.Kind != "full" {
		t.Fatalf("the renamed snapshot's record: %+v %v", info, err)
	}
	list, err := msb.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			t.Fatalf("msb.Snapshots still lists %q", name)
		}
	}

	// Taken and bad names: refused, nothing moved.
	err = snap.Rename(ctx, taken.Name())
	if !errors.Is(err, msb.ErrAlreadyExists) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	contains(t, "message", err.Error(), "already exists")
	for _, bad := range []string{"bad/name", "nul\x00name", ""} {
		if err := snap.Rename(ctx, bad); !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("rename to %q: %v", bad, err)
		}
	}
	if snap.Name() != renamed {
		t.Fatalf("a refused rename changed the handle's name to %q", snap.Name())
	}

	// The new name restores; while the restored sandbox exists, the
	// snapshot keeps its name.
	fork, err := msb.GetSnapshot(ctx, renamed)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fork.Restore(ctx, unique("gorenamed"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Shell(ctx, "cat "+mark)
	if err != nil || string(res.Stdout) != "before-rename\n" {
		t.Fatalf("the restored sandbox: %+v %v", res, err)
	}
	if err := snap.Rename(ctx, name+"-c"); !errors.Is(err, msb.ErrBusy) {
		t.Fatalf("rename of a snapshot a sandbox was restored from: %v", err)
	}
	if _, err := msb.GetSnapshot(ctx, renamed); err != nil || snap.Name() != renamed {
		t.Fatalf("a busy rename moved the snapshot: %q %v", snap.Name(), err)
	}
	if err := r.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := snap.Rename(ctx, name+"-c"); err != nil || snap.Name() != name+"-c" {
		t.Fatalf("rename once the restored sandbox is gone: %q %v", snap.Name(), err)
	}
}
