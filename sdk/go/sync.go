// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdint.h>
#include <stdlib.h>
#include <msb.h>

extern void goSyncEvent(void *ctx, msb_sync_progress *p);

static void msb_go_sync_event(void *ctx, const msb_sync_progress *p)
{
	goSyncEvent(ctx, (msb_sync_progress *)p);
}

static void msb_go_sync_progress(msb_sync_opts *o, uintptr_t h)
{
	o->progress = msb_go_sync_event;
	o->ctx = (void *)h;
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// Cloud sync (docs/sync.md): a sandbox goes to any OCI registry as an
// artifact (its disk in content-addressed chunks, its configuration,
// never a secret's value) and comes back from it on any machine as a
// stopped sandbox with the same files. The remote, REGISTRY[/NAMESPACE],
// says where sandbox NAME goes by default: REMOTE/NAME:latest.

// SyncInfo is what a push or a pull did.
type SyncInfo struct {
	Name        string // the local sandbox
	Reference   string // canonical: where it went or came from
	Digest      string // the artifact's manifest
	Parent      string // the push it was based on, "" if none
	DiskBytes   uint64 // the disk's data (its holes not counted)
	Chunks      uint   // of the disk
	Transferred uint   // chunks uploaded (push) or downloaded (pull)
	Bytes       uint64 // bytes sent (push) or received (pull)
	Reused      uint   // pull: chunks taken from the local disk
	UpToDate    bool   // nothing had to be sent or fetched
	Dropped     string // pull: settings dropped (without SyncTrust)
}

func syncInfoFromC(c *C.msb_sync_info) *SyncInfo {
	return &SyncInfo{
		Name:        goString(&c.name[0]),
		Reference:   goString(&c.reference[0]),
		Digest:      goString(&c.digest[0]),
		Parent:      goString(&c.parent[0]),
		DiskBytes:   uint64(c.disk_bytes),
		Chunks:      uint(c.chunks),
		Transferred: uint(c.transferred),
		Bytes:       uint64(c.bytes),
		Reused:      uint(c.reused),
		UpToDate:    c.up_to_date != 0,
		Dropped:     goString(&c.dropped[0]),
	}
}

// SyncEvent is how a push or a pull is going, as SyncProgress reports it
// (msb push's and msb pull's progress lines).
type SyncEvent struct {
	// Phase is "resolving", "reading" (the local disk), "uploading",
	// "image" (pulling the image the sandbox or snapshot needs: Image
	// says how far), "downloading" or "writing".
	Phase string
	// Done and Total are bytes of the disk dealt with, of all:
	// "reading" counts each file it reads in turn from 0 (a snapshot's
	// memory, state and disk); in "uploading" and "downloading" Done
	// and ChunksDone only grow.
	Done, Total uint64
	ChunksDone  uint
	ChunksTotal uint
	// Image is the image pull's own event in phase "image", else nil.
	Image *ImageEvent
}

func syncEventFromC(p *C.msb_sync_progress) SyncEvent {
	e := SyncEvent{Done: uint64(p.done), Total: uint64(p.total),
		ChunksDone: uint(p.chunks_done), ChunksTotal: uint(p.chunks_total)}
	if p.phase != nil {
		e.Phase = C.GoString(p.phase)
	}
	if p.image != nil {
		ie := imageEventFromC(p.image)
		e.Image = &ie
	}
	return e
}

// SyncOption changes a push or a pull.
type SyncOption interface {
	applySync(c *syncConfig)
}

type syncConfig struct {
	ref, name              string
	insecure, force, trust bool
	progress               func(SyncEvent)
}

type syncFunc func(c *syncConfig)

func (f syncFunc) applySync(c *syncConfig) { f(c) }

// SyncRef pushes to @ref (REGISTRY/REPO[:TAG], or a TAG of the
// sandbox's repository) instead of where it was last pushed or pulled,
// else REMOTE/NAME:latest.
func SyncRef(ref string) SyncOption { return syncFunc(func(c *syncConfig) { c.ref = ref }) }

// SyncName pulls into the local sandbox @name (default: the
// repository's last component).
func SyncName(name string) SyncOption { return syncFunc(func(c *syncConfig) { c.name = name }) }

// SyncInsecure allows plain http to a registry that is not on loopback.
func SyncInsecure() SyncOption { return syncFunc(func(c *syncConfig) { c.insecure = true }) }

// SyncForce, on a push, replaces what another machine pushed to that tag
// since; on a pull, replaces a local sandbox that changed since its last
// push or pull. Without it both are refused with ErrConflict.
func SyncForce() SyncOption { return syncFunc(func(c *syncConfig) { c.force = true }) }

// SyncTrust, on a pull, keeps the settings that reach into this host
// (volumes, secret sources, a network plugin, opened ranges, published
// ports, extra CAs); without it they are dropped (SyncInfo.Dropped).
func SyncTrust() SyncOption { return syncFunc(func(c *syncConfig) { c.trust = true }) }

// SyncProgress calls @f with each step of a push or a pull (Push, Pull,
// PullSnapshot) as it happens, one call at a time, from the threads
// doing the work: @f should return quickly. If the call's context ends
// first, the transfer goes on and so do the calls, until it is over.
func SyncProgress(f func(SyncEvent)) SyncOption {
	return syncFunc(func(c *syncConfig) { c.progress = f })
}

// syncProgress has @o report to @f (nil: nothing) until the function it
// returns is called, once libmsb is done with @o.
func syncProgress(o *C.msb_sync_opts, f func(SyncEvent)) func() {
	if f == nil {
		return func() {}
	}
	h := cgo.NewHandle(f)
	C.msb_go_sync_progress(o, C.uintptr_t(h))
	return h.Delete
}

// syncCall runs a push or a pull in a goroutine, so that @ctx can end the
// wait (the transfer itself goes on, and an interrupted one run again
// sends or fetches only what is still missing). The C memory is freed by
// that goroutine, once libmsb is done with it.
func syncCall(ctx context.Context, op string, target string, opts []SyncOption,
	call func(target *C.char, o *C.msb_sync_opts, out *C.msb_sync_info, cerr *C.msb_error) C.int) (*SyncInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	var cfg syncConfig
	for _, o := range opts {
		o.applySync(&cfg)
	}
	m := &cmem{}
	ct := m.strAlways(target)
	o := (*C.msb_sync_opts)(m.alloc(int(unsafe.Sizeof(C.msb_sync_opts{}))))
	o.ref = m.str(cfg.ref)
	o.name = m.str(cfg.name)
	o.insecure = cbool(cfg.insecure)
	o.force = cbool(cfg.force)
	o.trust = cbool(cfg.trust)
	if err := m.bad(op); err != nil {
		m.free()
		return nil, err
	}
	type result struct {
		info *SyncInfo
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		defer m.free()
		defer syncProgress(o, cfg.progress)()
		var out C.msb_sync_info
		var cerr C.msb_error
		if r := call(ct, o, &out, &cerr); r < 0 {
			ch <- result{nil, cError(op, r, &cerr)}
			return
		}
		ch <- result{syncInfoFromC(&out), nil}
	}()
	select {
	case r := <-ch:
		return r.info, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("msb: %s: %w", op, ctx.Err())
	}
}

// Push sends the sandbox, running or stopped, as it is at one instant, to
// a registry (SyncRef, else where it was last pushed or pulled, else
// REMOTE/NAME:latest). A running one's guest filesystems are synced and
// its vCPUs paused while its disk is copied; it then runs on. Only the
// chunks the registry lacks are sent. ErrConflict when the tag holds a
// push this sandbox did not start from, unless SyncForce.
func (sb *Sandbox) Push(ctx context.Context, opts ...SyncOption) (*SyncInfo, error) {
	if err := sb.checkOpen("push"); err != nil {
		return nil, err
	}
	if err := pushOptions("push sandbox "+sb.name, opts); err != nil {
		return nil, err
	}
	return syncCall(ctx, "push sandbox "+sb.name, sb.name, opts,
		func(t *C.char, o *C.msb_sync_opts, out *C.msb_sync_info, cerr *C.msb_error) C.int {
			return C.msb_sandbox_push(t, o, out, cerr)
		})
}

// Pull fetches the pushed sandbox @ref (a reference, or a bare NAME under
// the remote) and makes it here, stopped (Start boots it), returning a
// handle on it whose Close releases the handle only, as GetSandbox's. The
// image it needs is pulled, only the chunks the local copy lacks are
// fetched, and nothing is left behind on failure. An existing sandbox of
// that name is replaced only when it has not changed since its last push
// or pull, or with SyncForce (ErrConflict otherwise); never while it
// runs. The SyncInfo is the handle's LastSync.
func Pull(ctx context.Context, ref string, opts ...SyncOption) (*Sandbox, error) {
	if err := pullOptions("pull sandbox "+ref, opts); err != nil {
		return nil, err
	}
	info, err := syncCall(ctx, "pull sandbox "+ref, ref, opts,
		func(t *C.char, o *C.msb_sync_opts, out *C.msb_sync_info, cerr *C.msb_error) C.int {
			return C.msb_sandbox_pull(t, o, out, cerr)
		})
	if err != nil {
		return nil, err
	}
	return &Sandbox{name: info.Name, lastSync: info}, nil
}

// pushOptions refuses a pull's options given to a push.
func pushOptions(op string, opts []SyncOption) error {
	for _, o := range opts {
		var c syncConfig
		o.applySync(&c)
		if c.name != "" || c.trust {
			return newError(op, codeInvalid, "SyncName and SyncTrust are for a pull; "+
				"a push takes SyncRef, SyncForce and SyncInsecure")
		}
	}
	return nil
}

// pullOptions refuses a push's options given to a pull.
func pullOptions(op string, opts []SyncOption) error {
	for _, o := range opts {
		var c syncConfig
		o.applySync(&c)
		if c.ref != "" {
			return newError(op, codeInvalid, "SyncRef is for a push; a pull takes the reference itself")
		}
	}
	return nil
}

// Push sends the snapshot (docs/sync.md): its disk, and for a full one
// its memory (the pages the guest touched) and device state, in chunks as
// a sandbox's disk goes, checked against its integrity record first
// (ErrDamaged). It goes to SyncRef, else where it was last pushed or
// pulled, else REMOTE/NAME:latest. A snapshot never changes, so a push to
// where it already is sends nothing (UpToDate); a tag holding anything
// else is replaced only with SyncForce (ErrConflict).
func (s *Snapshot) Push(ctx context.Context, opts ...SyncOption) (*SyncInfo, error) {
	name := s.Name()
	op := "push snapshot " + name
	if err := pushOptions(op, opts); err != nil {
		return nil, err
	}
	return syncCall(ctx, op, name, opts,
		func(t *C.char, o *C.msb_sync_opts, out *C.msb_sync_info, cerr *C.msb_error) C.int {
			return C.msb_snapshot_push(t, o, out, cerr)
		})
}

// PullSnapshot fetches the pushed snapshot @ref (a reference, or a bare
// NAME under the remote) into a snapshot here (SyncName, default the
// repository's last component), every chunk verified and its image
// pulled; Restore then resumes its machine here (a full one needs the
// QEMU version that took it). One of that name is replaced only with
// SyncForce (ErrAlreadyExists), never while sandboxes restored from it
// exist (ErrBusy); ErrKind when @ref holds a sandbox or an image. The
// SyncInfo is the handle's LastSync.
func PullSnapshot(ctx context.Context, ref string, opts ...SyncOption) (*Snapshot, error) {
	op := "pull snapshot " + ref
	if err := pullOptions(op, opts); err != nil {
		return nil, err
	}
	info, err := syncCall(ctx, op, ref, opts,
		func(t *C.char, o *C.msb_sync_opts, out *C.msb_sync_info, cerr *C.msb_error) C.int {
			return C.msb_snapshot_pull(t, o, out, cerr)
		})
	if err != nil {
		return nil, err
	}
	return &Snapshot{name: info.Name, lastSync: info}, nil
}

// LastSync is what the PullSnapshot that made this handle did, or nil.
func (s *Snapshot) LastSync() *SyncInfo { return s.lastSync }

// LastSync is what the last push of a Stop of this handle did (for a
// sandbox that syncs), else what the Pull that made it did, else nil.
func (sb *Sandbox) LastSync() *SyncInfo {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.lastSync
}

// syncCheck refuses Sync where it cannot be served, before anything
// boots: with Ephemeral, or with no remote to push to.
func (c *sandboxConfig) syncCheck(op string) error {
	if !c.sync {
		return nil
	}
	if c.ephemeral {
		return newError(op, codeInvalid, "msb.Sync keeps the sandbox to push it and "+
			"msb.Ephemeral removes it when it stops: choose one")
	}
	var buf [1024]C.char
	var cerr C.msb_error
	if r := C.msb_remote_get(&buf[0], C.size_t(len(buf)), nil, &cerr); r < 0 {
		return cError(op, r, &cerr)
	}
	return nil
}

// enableSync follows the create or restore of sandbox @name that
// returned @r: with Sync, it records that the sandbox pushes itself at
// every stop, and removes the sandbox again if that fails (nothing is
// left half made).
func (c *sandboxConfig) enableSync(name string, out **C.msb_sandbox, cerr *C.msb_error, r C.int) C.int {
	if r < 0 || !c.sync {
		return r
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if r = C.msb_sandbox_set_sync(cname, 1, cerr); r < 0 {
		C.msb_sandbox_close(*out)
		*out = nil
		var e C.msb_error
		C.msb_sandbox_remove(cname, 1, &e)
	}
	return r
}

// SetSync turns on or off that the sandbox pushes itself whenever Stop
// stops it (Sync, msb run --sync), running or not; the setting is kept in
// its record and in what it pushes. Turning it on needs a remote or a
// last push or pull to go to (ErrNotFound, saying how to set one).
func (sb *Sandbox) SetSync(ctx context.Context, on bool) error {
	op := "set sync of sandbox " + sb.name
	if err := sb.checkOpen(op); err != nil {
		return err
	}
	return blocking(ctx, op, func(cerr *C.msb_error) C.int {
		cname := C.CString(sb.name)
		defer C.free(unsafe.Pointer(cname))
		return C.msb_sandbox_set_sync(cname, cbool(on), cerr)
	})
}

// Syncs tells whether the sandbox pushes itself at every stop (Sync,
// SetSync), as its record says.
func (sb *Sandbox) Syncs(ctx context.Context) (bool, error) {
	raw, err := sb.Inspect(ctx)
	if err != nil {
		return false, err
	}
	var doc struct {
		Config struct {
			Sync bool `json:"sync"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return false, newError("inspect sandbox "+sb.name, codeInvalid, "its document: %v", err)
	}
	return doc.Config.Sync, nil
}

// Remote is the remote sandboxes are pushed to and pulled from by
// default ($MSB_REMOTE, else the one SetRemote kept) and whether plain
// http was allowed for it; ErrNotFound, saying how to set one, when there
// is none.
func Remote(ctx context.Context) (remote string, insecure bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, fmt.Errorf("msb: remote: %w", err)
	}
	var buf [1024]C.char
	var ins C.int
	var cerr C.msb_error
	if r := C.msb_remote_get(&buf[0], C.size_t(len(buf)), &ins, &cerr); r < 0 {
		return "", false, cError("remote", r, &cerr)
	}
	return goString(&buf[0]), ins != 0, nil
}

// SetRemote keeps @remote (REGISTRY[/NAMESPACE]) in $MSB_HOME as the
// default remote; "" forgets it. @insecure allows plain http to a
// registry that is not on loopback. $MSB_REMOTE wins over it.
func SetRemote(ctx context.Context, remote string, insecure bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("msb: set remote: %w", err)
	}
	m := &cmem{}
	defer m.free()
	cr := m.str(remote)
	if err := m.bad("set remote"); err != nil {
		return err
	}
	var cerr C.msb_error
	if r := C.msb_remote_set(cr, cbool(insecure), &cerr); r < 0 {
		return cError("set remote", r, &cerr)
	}
	return nil
}
