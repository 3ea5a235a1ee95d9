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
	"net"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Sandbox is a handle on a sandbox: a microVM with its own kernel, owned
// by a supervisor process of its own (no daemon). Its methods may be
// called from any number of goroutines at once.
//
// Close and Remove: Remove deletes the sandbox (killing it if it runs)
// and its disk. Close ends this handle; for a sandbox this handle made
// (NewSandbox, Restore, Runtime.Start) without Keep, it removes the
// sandbox too, so that
//
//	sb, err := msb.NewSandbox("agent")
//	...
//	defer sb.Close()
//
// leaves nothing behind. For a sandbox got by name (GetSandbox, Pull) or
// made with Keep, Close only releases the handle and the sandbox runs on.
type Sandbox struct {
	name  string
	owned bool // made here without Keep: Close removes it

	mu     sync.Mutex
	h      *C.msb_sandbox
	boot   time.Duration
	closed bool

	lastSync *SyncInfo   // the Pull that made this handle or Stop's push, or nil (mu)
	hooks    *hookServer // its hooks written in Go, served while it is open
}

// NewSandbox creates the sandbox @name (1-63 of [a-zA-Z0-9_.-], starting
// with a letter or digit), boots it and returns once its guest is ready
// to run commands. With no Image, the built-in "default" image is used.
// A boot that fails (ErrBootFailed) leaves the sandbox, failed, with its
// log (LogPath) for a look; Remove deletes it.
func NewSandbox(name string, opts ...Option) (*Sandbox, error) {
	return NewSandboxContext(context.Background(), name, opts...)
}

// NewSandboxContext is NewSandbox bounded by @ctx: if @ctx ends first,
// the call returns its error at once and the sandbox, once its boot is
// over, is removed.
func NewSandboxContext(ctx context.Context, name string, opts ...Option) (*Sandbox, error) {
	var cfg sandboxConfig
	for _, o := range opts {
		if o != nil {
			o.applySandbox(&cfg)
		}
	}
	op := "create sandbox " + name
	if err := cfg.refusal(op); err != nil {
		return nil, err
	}
	if err := cfg.spawn.check(op); err != nil {
		return nil, err
	}
	if err := cfg.syncCheck(op); err != nil {
		return nil, err
	}
	// one plugin for this program's hooks: the sandbox's, the
	// network's, its filesystems'
	h := cfg.hooks
	n := cfg.net.hooks
	h.dns, h.connect, h.http, h.response, h.head = n.dns, n.connect, n.http, n.response, n.head
	for _, v := range cfg.volumes {
		if v.hooked != nil {
			if h.fs == nil {
				h.fs = map[string]any{}
			}
			h.fs[v.guestPath] = v.hooked
		}
	}
	if !h.empty() {
		srv, err := startHookServer(h)
		if err != nil {
			return nil, fmt.Errorf("msb: %s: its hooks' socket: %w", op, err)
		}
		cfg.hookSrv = srv
	}
	sb, err := runBoot(ctx, op, name, func(m *cmem, out **C.msb_sandbox, cerr *C.msb_error) C.int {
		return cfg.enableSync(name, out, cerr, cfg.create(m, name, out, cerr))
	}, !cfg.keep)
	if cfg.hookSrv != nil {
		if err != nil {
			cfg.hookSrv.close(false)
		} else {
			sb.hooks = cfg.hookSrv
		}
	}
	return sb, err
}

// create makes and boots the sandbox @name as @cfg says.
func (cfg *sandboxConfig) create(m *cmem, name string, out **C.msb_sandbox, cerr *C.msb_error) C.int {
	var c C.msb_sandbox_config
	C.msb_sandbox_config_init(&c)
	if r := cfg.fill(m, name, &c, cerr); r < 0 {
		return r
	}
	sp, r := cfg.spawn.policy(m, cerr)
	if r < 0 {
		return r
	}
	if sp != nil {
		defer C.msb_spawn_policy_free(sp)
	}
	if len(cfg.plugins) == 0 && cfg.hookSrv == nil {
		if sp != nil {
			return C.msb_sandbox_create_full(&c, nil, sp, out, cerr)
		}
		return C.msb_sandbox_create(&c, out, cerr)
	}
	p := C.msb_plugins_new()
	defer C.msb_plugins_free(p)
	if cfg.pluginTimeout > 0 {
		C.msb_plugins_set_timeout(p, C.uint(max(cfg.pluginTimeout.Milliseconds(), 1)))
	}
	if cfg.pluginRestarts != nil {
		C.msb_plugins_set_restarts(p, C.uint(*cfg.pluginRestarts))
	}
	for _, pl := range cfg.plugins {
		var r C.int
		if pl.command != "" {
			r = C.msb_plugins_add_process(p, m.strAlways(pl.command), cerr)
		} else {
			var o *C.char
			if pl.options != "" {
				o = m.str(pl.options)
			}
			r = C.msb_plugins_add(p, m.strAlways(pl.builtin), o, cerr)
		}
		if r < 0 {
			return r
		}
	}
	// this program's hooks, after the built-ins and processes
	if cfg.hookSrv != nil {
		if r := C.msb_plugins_add_socket(p, m.strAlways(cfg.hookSrv.path), cerr); r < 0 {
			return r
		}
	}
	return C.msb_sandbox_create_full(&c, p, sp, out, cerr)
}

// runBoot runs a call that boots sandbox @name (create, start,
// restore) in a goroutine of its own, so that @ctx can end the wait.
func runBoot(ctx context.Context, op, name string,
	call func(m *cmem, out **C.msb_sandbox, cerr *C.msb_error) C.int, owned bool) (*Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	type result struct {
		h   *C.msb_sandbox
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var m cmem
		defer m.free()
		var cerr C.msb_error
		var h *C.msb_sandbox
		if r := call(&m, &h, &cerr); r < 0 {
			ch <- result{nil, cError(op, r, &cerr)}
			return
		}
		ch <- result{h, nil}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return newSandbox(name, r.h, owned), nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.h != nil {
				C.msb_sandbox_close(r.h)
				if owned {
					removeSandbox(name)
				}
			}
		}()
		return nil, fmt.Errorf("msb: %s: %w", op, ctx.Err())
	}
}

func newSandbox(name string, h *C.msb_sandbox, owned bool) *Sandbox {
	sb := &Sandbox{name: name, owned: owned, h: h}
	if h != nil {
		sb.boot = time.Duration(C.msb_sandbox_boot_ms(h)) * time.Millisecond
	}
	return sb
}

func removeSandbox(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.msb_error
	if r := C.msb_sandbox_remove(cname, 1, &cerr); r < 0 {
		return cError("remove sandbox "+name, r, &cerr)
	}
	return nil
}

// GetSandbox is a handle on the existing sandbox @name, running or not
// (ErrNotFound if there is none). Its Close releases the handle only.
func GetSandbox(ctx context.Context, name string) (*Sandbox, error) {
	if _, err := getInfo(ctx, name); err != nil {
		return nil, err
	}
	return &Sandbox{name: name}, nil
}

// Name is the sandbox's name.
func (sb *Sandbox) Name() string { return sb.name }

// BootTime is how long the boot (or restore) that made this handle took,
// from the call to the guest agent's ready report; 0 for a handle got by
// name.
func (sb *Sandbox) BootTime() time.Duration { return sb.boot }

// handle is the C handle for commands and files, opened on first use
// (ErrNotRunning, saying how to start it, for a sandbox not running).
func (sb *Sandbox) handle(op string) (*C.msb_sandbox, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.closed {
		return nil, newError(op, codeClosed, "the handle on sandbox '%s' was closed", sb.name)
	}
	if sb.h != nil {
		return sb.h, nil
	}
	cname := C.CString(sb.name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.msb_error
	if r := C.msb_sandbox_open(cname, &sb.h, &cerr); r < 0 {
		sb.h = nil
		return nil, cError(op, r, &cerr)
	}
	return sb.h, nil
}

func (sb *Sandbox) setHandle(h *C.msb_sandbox) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.h != nil {
		C.msb_sandbox_close(sb.h)
	}
	sb.h = h
	if h != nil {
		sb.boot = time.Duration(C.msb_sandbox_boot_ms(h)) * time.Millisecond
	}
}

func (sb *Sandbox) checkOpen(op string) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.closed {
		return newError(op, codeClosed, "the handle on sandbox '%s' was closed", sb.name)
	}
	return nil
}

// blocking runs a libmsb call that waits (a stop, a remove) in a
// goroutine, so that @ctx can end the wait; the call itself goes on.
func blocking(ctx context.Context, op string, call func(cerr *C.msb_error) C.int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("msb: %s: %w", op, err)
	}
	ch := make(chan error, 1)
	go func() {
		var cerr C.msb_error
		if r := call(&cerr); r < 0 {
			ch <- cError(op, r, &cerr)
			return
		}
		ch <- nil
	}()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("msb: %s: %w", op, ctx.Err())
	}
}

// Start boots the stopped (or failed) sandbox again, with its disk as it
// was. Starting a running sandbox is no error (as docker start).
func (sb *Sandbox) Start(ctx context.Context) error {
	op := "start sandbox " + sb.name
	if err := sb.checkOpen(op); err != nil {
		return err
	}
	var h *C.msb_sandbox
	err := blocking(ctx, op, func(cerr *C.msb_error) C.int {
		cname := C.CString(sb.name)
		defer C.free(unsafe.Pointer(cname))
		return C.msb_sandbox_start(cname, &h, cerr)
	})
	if e, ok := err.(*Error); ok && e.Code == codeAlready {
		return nil
	}
	if err != nil {
		return err
	}
	sb.setHandle(h)
	return nil
}

// StopTimeout is how long Stop waits for the guest to power off before
// killing it.
const StopTimeout = 10 * time.Second

// Stop powers the guest off: its processes get SIGTERM, and it is killed
// after StopTimeout (or when @ctx's deadline comes, if sooner). Its disk
// is kept; Start boots it again. Stopping a stopped sandbox is no error.
// A sandbox that syncs (Sync, SetSync) then pushes itself (LastSync says
// what went): SyncProgress reports that push, as msb stop shows it; the
// other SyncOptions are a push's or a pull's, and refused here.
func (sb *Sandbox) Stop(ctx context.Context, opts ...SyncOption) error {
	grace := StopTimeout
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left < grace {
			grace = left
		}
	}
	if grace < 0 {
		grace = 0
	}
	return sb.stop(ctx, "stop", uint(grace/time.Second), opts)
}

// Kill stops the sandbox at once, without a grace period.
func (sb *Sandbox) Kill(ctx context.Context) error {
	return sb.stop(ctx, "kill", 0, nil)
}

func (sb *Sandbox) stop(ctx context.Context, verb string, seconds uint, opts []SyncOption) error {
	op := verb + " sandbox " + sb.name
	if err := sb.checkOpen(op); err != nil {
		return err
	}
	var cfg syncConfig
	for _, o := range opts {
		o.applySync(&cfg)
	}
	if cfg.ref != "" || cfg.name != "" || cfg.insecure || cfg.force || cfg.trust {
		return newError(op, codeInvalid, "a stop pushes where the sandbox syncs "+
			"(SetRemote, or where it was last pushed): it takes SyncProgress only")
	}
	// A sandbox that syncs (Sync, SetSync) is pushed once it is down.
	var pushed C.msb_sync_info
	err := blocking(ctx, op, func(cerr *C.msb_error) C.int {
		cname := C.CString(sb.name)
		defer C.free(unsafe.Pointer(cname))
		o := (*C.msb_sync_opts)(C.calloc(1, C.size_t(unsafe.Sizeof(C.msb_sync_opts{}))))
		defer C.free(unsafe.Pointer(o))
		defer syncProgress(o, cfg.progress)()
		return C.msb_sandbox_stop_sync(cname, C.uint(seconds), o, &pushed, nil, cerr)
	})
	if e, ok := err.(*Error); ok && e.Code == codeAlready {
		return nil
	}
	if err == nil && pushed.name[0] != 0 {
		sb.mu.Lock()
		sb.lastSync = syncInfoFromC(&pushed)
		sb.mu.Unlock()
	}
	return err
}

// Remove deletes the sandbox and its disk, killing it first if it runs.
// The handle is closed with it.
func (sb *Sandbox) Remove(ctx context.Context) error {
	op := "remove sandbox " + sb.name
	if err := sb.checkOpen(op); err != nil {
		return err
	}
	err := blocking(ctx, op, func(cerr *C.msb_error) C.int {
		cname := C.CString(sb.name)
		defer C.free(unsafe.Pointer(cname))
		return C.msb_sandbox_remove(cname, 1, cerr)
	})
	if err != nil {
		return err
	}
	sb.release(true)
	return nil
}

// release closes the handle and stops serving its hooks in Go; @gone:
// the sandbox was removed, and the events its supervisor and remover
// sent last (stop, remove) are told first.
func (sb *Sandbox) release(gone bool) {
	sb.mu.Lock()
	if sb.h != nil {
		C.msb_sandbox_close(sb.h)
		sb.h = nil
	}
	hooks := sb.hooks
	sb.hooks = nil
	sb.closed = true
	sb.mu.Unlock()
	if hooks != nil {
		hooks.close(gone)
	}
}

// Close ends the handle. A sandbox this handle made (NewSandbox, Restore,
// Runtime.Start) without Keep is removed, running or not; any other is
// left as it is. Commands and file streams still open fail from then on.
// Close is safe to call more than once.
func (sb *Sandbox) Close() error {
	sb.mu.Lock()
	if sb.closed {
		sb.mu.Unlock()
		return nil
	}
	sb.mu.Unlock()
	var err error
	if sb.owned {
		err = removeSandbox(sb.name)
		if e, ok := err.(*Error); ok && e.Code == codeNotFound {
			err = nil
		}
	}
	sb.release(sb.owned && err == nil)
	return err
}

// Wait waits until the sandbox's detached command (Cmd, ImageCmd) has
// ended and returns its exit status; without one, until the sandbox is
// no longer running (status 0). A sandbox that failed is an error.
func (sb *Sandbox) Wait(ctx context.Context) (int, error) {
	op := "wait for sandbox " + sb.name
	cname := C.CString(sb.name)
	defer C.free(unsafe.Pointer(cname))
	for {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("msb: %s: %w", op, err)
		}
		var status C.int
		var cerr C.msb_error
		r := C.msb_sandbox_wait(cname, 500, &status, &cerr)
		if r == C.int(codeTimeout) {
			continue
		}
		if r < 0 {
			return 0, cError(op, r, &cerr)
		}
		return int(status), nil
	}
}

// LogPath is the file holding the guest's console, the agent's messages
// and detached commands' output (msb logs).
func (sb *Sandbox) LogPath() (string, error) {
	cname := C.CString(sb.name)
	defer C.free(unsafe.Pointer(cname))
	buf := make([]byte, 4096)
	var cerr C.msb_error
	if r := C.msb_sandbox_logs_path(cname, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &cerr); r < 0 {
		return "", cError("logs of sandbox "+sb.name, r, &cerr)
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}

// Inspect is the sandbox's full state (configuration, status, boot
// timings, paths) as the JSON document msb inspect prints.
func (sb *Sandbox) Inspect(ctx context.Context) ([]byte, error) {
	cname := C.CString(sb.name)
	defer C.free(unsafe.Pointer(cname))
	var js *C.char
	var cerr C.msb_error
	if r := C.msb_inspect_json(cname, &js, &cerr); r < 0 {
		return nil, cError("inspect sandbox "+sb.name, r, &cerr)
	}
	defer C.free(unsafe.Pointer(js))
	return []byte(C.GoString(js)), nil
}

// PortBinding is a published port as bound: connections to
// HostIP:HostPort on the host reach the guest's GuestPort.
type PortBinding struct {
	HostIP    string // "127.0.0.1", "::1", "0.0.0.0"
	HostPort  int    // the one bound: a free one for a host port of 0
	GuestPort int
}

// Addr is the binding's host address as net.Dial takes it
// ("127.0.0.1:8080", "[::1]:8080").
func (p PortBinding) Addr() string {
	return net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
}

// Ports is the sandbox's published ports (the Ports option) as bound
// while it runs, in the order given, and none while it does not (msb
// port NAME). A host port of 0, or a guest port alone ("80"), is bound
// to a free port of the host's choosing: it is told here. ErrNotFound
// when the sandbox does not exist.
func (sb *Sandbox) Ports(ctx context.Context) ([]PortBinding, error) {
	op := "ports of sandbox " + sb.name
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	cname := C.CString(sb.name)
	defer C.free(unsafe.Pointer(cname))
	var arr *C.msb_port
	var n C.size_t
	var cerr C.msb_error
	if r := C.msb_sandbox_ports(cname, &arr, &n, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]PortBinding, 0, int(n))
	for _, cp := range unsafe.Slice(arr, int(n)) {
		out = append(out, PortBinding{HostIP: goString(&cp.host_ip[0]),
			HostPort: int(cp.host_port), GuestPort: int(cp.guest_port)})
	}
	return out, nil
}

// ---- state ------------------------------------------------------------------

// SandboxInfo is a sandbox's record.
type SandboxInfo struct {
	Name   string
	Image  string
	Status string // created starting running stopping stopped failed
	CPUs   uint
	// MemoryMiB is the guest's memory.
	MemoryMiB uint64
	// Pid is the supervisor's while it runs, else 0.
	Pid                             int
	CreatedAt, StartedAt, StoppedAt time.Time // zero: never
	// Error says why it failed, when it did.
	Error string
	// CmdRunning and CmdExitCode: its detached command's state in its
	// last run (CmdExitCode is valid once CmdEnded).
	CmdRunning, CmdEnded bool
	CmdExitCode          int
	// FromSnapshot is the snapshot it was restored from, or "".
	FromSnapshot string
}

// Running tells whether a supervisor owns the sandbox (starting,
// running or stopping).
func (i *SandboxInfo) Running() bool {
	return i.Status == "starting" || i.Status == "running" || i.Status == "stopping"
}

func unixTime(s C.int64_t) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0)
}

func infoFromC(c *C.msb_sandbox_info) SandboxInfo {
	return SandboxInfo{
		Name:         goString(&c.name[0]),
		Image:        goString(&c.image[0]),
		Status:       goString(&c.status[0]),
		CPUs:         uint(c.cpus),
		MemoryMiB:    uint64(c.memory_mib),
		Pid:          int(c.pid),
		CreatedAt:    unixTime(c.created_at),
		StartedAt:    unixTime(c.started_at),
		StoppedAt:    unixTime(c.stopped_at),
		Error:        goString(&c.error[0]),
		CmdRunning:   c.cmd_state == C.MSB_CMD_RUNNING,
		CmdEnded:     c.cmd_state == C.MSB_CMD_ENDED,
		CmdExitCode:  int(c.cmd_exit_code),
		FromSnapshot: goString(&c.from_snapshot[0]),
	}
}

func getInfo(ctx context.Context, name string) (*SandboxInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: sandbox %s: %w", name, err)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var ci C.msb_sandbox_info
	var cerr C.msb_error
	if r := C.msb_sandbox_info_get(cname, &ci, &cerr); r < 0 {
		return nil, cError("sandbox "+name, r, &cerr)
	}
	info := infoFromC(&ci)
	return &info, nil
}

// Info is the sandbox's record now.
func (sb *Sandbox) Info(ctx context.Context) (*SandboxInfo, error) {
	return getInfo(ctx, sb.name)
}

// List is every sandbox, running or not, with the truth about
// supervisors that died.
func List(ctx context.Context) ([]SandboxInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: list sandboxes: %w", err)
	}
	var arr *C.msb_sandbox_info
	var n C.size_t
	var cerr C.msb_error
	if r := C.msb_list(&arr, &n, &cerr); r < 0 {
		return nil, cError("list sandboxes", r, &cerr)
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]SandboxInfo, 0, int(n))
	for _, ci := range unsafe.Slice(arr, int(n)) {
		out = append(out, infoFromC(&ci))
	}
	return out, nil
}

// Home is the state directory: $MSB_HOME or ~/.microsandbox.
func Home() string { return C.GoString(C.msb_home()) }

// ValidName checks a sandbox name: nil, or an ErrInvalid saying why.
func ValidName(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.msb_error
	if r := C.msb_name_valid(cname, &cerr); r < 0 {
		return cError("name", r, &cerr)
	}
	return nil
}
