// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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

// A snapshot's full record (msb snapshot inspect) names it, its source,
// kind, files (with their sizes, the state's digest), directory and size, and the
// sandboxes restored from it while they exist; a missing one is
// ErrNotFound.
func TestSnapshotInspect(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	name := unique("goinspect")
	snap, err := sb.Snapshot(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Remove(context.Background(), true)
	type record struct {
		Name   string `json:"name"`
		Source string `json:"source"`
		Kind   string `json:"kind"`
		Files  map[string]struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
		Path      string   `json:"path"`
		SizeBytes int64    `json:"size_bytes"`
		UsedBy    []string `json:"used_by"`
	}
	inspect := func() record {
		t.Helper()
		raw, err := snap.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		return r
	}
	r := inspect()
	if r.Name != name || r.Source != sb.Name() || r.Kind != "full" || r.SizeBytes <= 0 ||
		r.UsedBy == nil || len(r.UsedBy) != 0 {
		t.Fatalf("record: %+v", r)
	}
	if len(r.Files) != 3 || len(r.Files["state"].SHA256) != 64 {
		t.Fatalf("files in the record: %+v", r.Files)
	}
	for _, f := range []string{"state", "ram", "upper.ext4"} {
		st, err := os.Stat(filepath.Join(r.Path, f))
		if err != nil || r.Files[f].Size <= 0 || st.Size() != r.Files[f].Size {
			t.Fatalf("file %s: %+v in the record, %v on disk", f, r.Files[f], err)
		}
	}
	restored := unique("goinspected")
	rs, err := snap.Restore(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if r := inspect(); len(r.UsedBy) != 1 || r.UsedBy[0] != restored {
		t.Fatalf("used_by with a restored sandbox: %v", r.UsedBy)
	}
	if err := rs.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if r := inspect(); len(r.UsedBy) != 0 {
		t.Fatalf("used_by once it is removed: %v", r.UsedBy)
	}
	gone, _ := msb.GetSnapshot(ctx, name)
	if err := snap.Remove(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Inspect(ctx); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("inspect of a removed snapshot: %v", err)
	}
}
