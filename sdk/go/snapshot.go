// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Snapshot is a saved sandbox (docs/snapshots.md): "full" holds its
// memory, vCPU and device state and its disk, restored running, its
// processes going on where they were; "disk" holds its disk only,
// restored by booting it.
type Snapshot struct {
	mu       sync.Mutex
	name     string    // under mu: Rename changes it
	lastSync *SyncInfo // the PullSnapshot that made this handle, or nil
}

// SnapshotInfo is a snapshot's record.
type SnapshotInfo struct {
	Name   string
	Source string // the sandbox it was taken of
	Kind   string // "full" or "disk"
	// Reason says why a snapshot is "disk" ("the sandbox was stopped",
	// "the sandbox has volumes").
	Reason    string
	Image     string
	CPUs      uint
	MemoryMiB uint64
	CreatedAt time.Time
	RAMBytes  uint64 // guest RAM stored (touched pages only)
	DiskBytes uint64 // upper disk stored
	SizeBytes uint64 // host disk it takes in all
	Users     uint   // sandboxes restored from it that still exist
}

func snapInfoFromC(c *C.msb_snapshot_info) SnapshotInfo {
	return SnapshotInfo{
		Name: goString(&c.name[0]), Source: goString(&c.source[0]),
		Kind: goString(&c.kind[0]), Reason: goString(&c.reason[0]),
		Image: goString(&c.image[0]), CPUs: uint(c.cpus), MemoryMiB: uint64(c.memory_mib),
		CreatedAt: unixTime(c.created_at), RAMBytes: uint64(c.ram_bytes),
		DiskBytes: uint64(c.disk_bytes), SizeBytes: uint64(c.size_bytes), Users: uint(c.users),
	}
}

// Snapshot saves the sandbox as @name. A running sandbox is paused (not
// stopped) while its memory, vCPU and device state and its disk are saved
// at one instant, then goes on untouched; a stopped one, or one with
// volumes, gives a disk-only snapshot. Nothing is left behind when it
// fails.
func (sb *Sandbox) Snapshot(ctx context.Context, name string) (*Snapshot, error) {
	op := "snapshot " + sb.name + " as " + name
	if err := sb.checkOpen(op); err != nil {
		return nil, err
	}
	err := blocking(ctx, op, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		cs, cn := m.strAlways(sb.name), m.strAlways(name)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_snapshot_create(cs, cn, nil, cerr)
	})
	if err != nil {
		return nil, err
	}
	return &Snapshot{name: name}, nil
}

// GetSnapshot is the snapshot @name (ErrNotFound if there is none).
func GetSnapshot(ctx context.Context, name string) (*Snapshot, error) {
	s := &Snapshot{name: name}
	if _, err := s.Info(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Snapshots is every snapshot, oldest first.
func Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: list snapshots: %w", err)
	}
	var arr *C.msb_snapshot_info
	var n C.size_t
	var cerr C.msb_error
	if r := C.msb_snapshot_list(&arr, &n, &cerr); r < 0 {
		return nil, cError("list snapshots", r, &cerr)
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]SnapshotInfo, 0, int(n))
	for i := range unsafe.Slice(arr, int(n)) {
		out = append(out, snapInfoFromC(&unsafe.Slice(arr, int(n))[i]))
	}
	return out, nil
}

// Name is the snapshot's name.
func (s *Snapshot) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// Rename gives the snapshot the name @newName (msb snapshot rename), its
// files checked first as a restore checks them (ErrDamaged); where it was
// pushed or pulled goes with it, and the handle's Name is @newName from
// then on. Refused while sandboxes restored from it exist, since they
// find it by its name (ErrBusy: remove them first), and when @newName is
// taken (ErrAlreadyExists); an invalid name is ErrInvalid.
func (s *Snapshot) Rename(ctx context.Context, newName string) error {
	old := s.Name()
	return blocking(ctx, "rename snapshot "+old+" to "+newName, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		co, cn := m.strAlways(old), m.strAlways(newName)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		r := C.msb_snapshot_rename(co, cn, cerr)
		if r == 0 { // here, not after blocking: a cancelled wait still renames
			s.mu.Lock()
			s.name = newName
			s.mu.Unlock()
		}
		return r
	})
}

// Info is the snapshot's record.
func (s *Snapshot) Info(ctx context.Context) (*SnapshotInfo, error) {
	name := s.Name()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: snapshot %s: %w", name, err)
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var ci C.msb_snapshot_info
	var cerr C.msb_error
	if r := C.msb_snapshot_info_get(cn, &ci, &cerr); r < 0 {
		return nil, cError("snapshot "+name, r, &cerr)
	}
	info := snapInfoFromC(&ci)
	return &info, nil
}

// Inspect is the snapshot's full record as the JSON document msb
// snapshot inspect prints: its meta.json (name, source, kind, image,
// config, the files it holds with their sizes, timings) with "path"
// (its directory), "size_bytes" and "used_by" (the sandboxes restored
// from it that still exist). ErrNotFound when there is none.
func (s *Snapshot) Inspect(ctx context.Context) ([]byte, error) {
	name := s.Name()
	op := "inspect snapshot " + name
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	var m cmem
	defer m.free()
	cn := m.strAlways(name)
	if m.nul != "" {
		return nil, m.bad(op)
	}
	var js *C.char
	var cerr C.msb_error
	if r := C.msb_snapshot_inspect_json(cn, &js, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	defer C.free(unsafe.Pointer(js))
	return []byte(C.GoString(js)), nil
}

// Remove deletes the snapshot; refused (ErrBusy) while sandboxes
// restored from it exist, unless @force (they can then no longer start).
func (s *Snapshot) Remove(ctx context.Context, force bool) error {
	name := s.Name()
	return blocking(ctx, "remove snapshot "+name, func(cerr *C.msb_error) C.int {
		cn := C.CString(name)
		defer C.free(unsafe.Pointer(cn))
		return C.msb_snapshot_remove(cn, cbool(force), cerr)
	})
}

// restoreOptions are what a restore takes; the rest are refused.
var restoreOptions = map[string]bool{"Env": true, "CPUs": true, "Memory": true,
	"DiskOnly": true, "Ephemeral": true, "BootTimeout": true, "Keep": true, "Sync": true}

// Restore makes the sandbox @name from the snapshot: for a full one, a
// copy of the machine that goes on where it was (its processes running,
// with its own hostname, clock, entropy and MAC), for a disk one a fresh
// boot of its disk. It takes Env (every later command gets it; restored
// processes read it from /run/msb/env), CPUs and Memory (a full restore
// cannot change them), DiskOnly, Ephemeral, BootTimeout, Keep and Sync; a
// damaged snapshot is refused (ErrDamaged), nothing started. Like
// NewSandbox's, the handle's Close removes the sandbox unless Keep.
func (s *Snapshot) Restore(ctx context.Context, name string, opts ...Option) (*Sandbox, error) {
	var cfg sandboxConfig
	for _, o := range opts {
		if o != nil {
			o.applySandbox(&cfg)
		}
	}
	from := s.Name()
	op := "restore " + from + " as " + name
	var bad []string
	for _, g := range cfg.given {
		if !restoreOptions[g] {
			bad = append(bad, "msb."+g)
		}
	}
	if len(bad) > 0 {
		return nil, newError(op, codeInvalid, "%s does not apply to a restore (it takes "+
			"Env, CPUs, Memory, DiskOnly, Ephemeral, BootTimeout, Keep and Sync)",
			strings.Join(bad, ", "))
	}
	if err := cfg.syncCheck(op); err != nil {
		return nil, err
	}
	return runBoot(ctx, op, name, func(m *cmem, out **C.msb_sandbox, cerr *C.msb_error) C.int {
		var o C.msb_restore_opts
		C.msb_restore_opts_init(&o)
		o.name = m.strAlways(name)
		o.env = m.strv(cfg.env)
		o.cpus = C.uint(cfg.cpus)
		if r := cfg.memoryMiBC(m, &o.memory_mib, cerr); r < 0 {
			return r
		}
		o.disk_only = cbool(cfg.diskOnly)
		o.ephemeral = cbool(cfg.ephemeral)
		if cfg.bootTimeout > 0 {
			o.boot_timeout_ms = C.uint(cfg.bootTimeout.Milliseconds())
		}
		cs := m.strAlways(from)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return cfg.enableSync(name, out, cerr, C.msb_snapshot_restore(cs, &o, out, cerr))
	}, !cfg.keep)
}
