// SPDX-License-Identifier: Apache-2.0

package msb

import (
	"context"
	"errors"
	"strings"

	"github.com/microsandbox/microsandbox/sdk/go/guest"
)

// Runtime is the host as a program inside a sandbox sees it: it starts
// peer sandboxes beside this one and runs commands in them, when the host
// allows it (msb run --allow-spawn N; docs/spawn.md). Requests go through
// the sandbox's agent (its socket, never the network), spoken by the
// pure-Go package guest: a program without libmsb in its guest (built
// with CGO_ENABLED=0) uses guest.CurrentRuntime, the same runtime with
// options of its own.
type Runtime struct{ rt *guest.Runtime }

// CurrentRuntime is the microsandbox this program runs inside. Outside
// one it fails with ErrNotSupported ("not inside a microsandbox
// sandbox"): it never spawns anything by accident.
func CurrentRuntime(ctx context.Context) (*Runtime, error) {
	rt, err := guest.CurrentRuntime(ctx)
	if err != nil {
		return nil, fromGuest(err)
	}
	return &Runtime{rt}, nil
}

// fromGuest is a guest error as this package's *Error (same code and
// message), so errors.Is(err, ErrPolicyRefused) and errors.As work.
func fromGuest(err error) error {
	var e *guest.Error
	if !errors.As(err, &e) {
		return err
	}
	return &Error{Op: e.Op, Code: e.Code, Name: codeName(e.Code), Message: e.Message}
}

// peerOptions are the options a peer takes: its image, size,
// environment, network (narrowed: DenyAll, Allow, AllowCidr) and secrets
// by placeholder. The rest of its policy is its parent's.
var peerOptions = map[string]bool{"Image": true, "CPUs": true, "Memory": true,
	"Env": true, "Network": true, "SecretEnv": true}

// Start starts the peer sandbox @name and returns once it is booted.
// It takes Image, CPUs, Memory or MemoryMiB, Env, Network with DenyAll,
// Allow and AllowCidr, and SecretEnv(env, placeholder, hosts...) with
// the placeholder this sandbox holds for the secret (os.Getenv of its
// variable; SecretFromEnv names the variable): the peer gets the value
// under a placeholder of its own, for @hosts no wider than this
// sandbox's binding (none: the same). What the host refuses is
// ErrPolicyRefused, with its reason.
func (rt *Runtime) Start(name string, opts ...Option) (*Peer, error) {
	return rt.StartContext(context.Background(), name, opts...)
}

// StartContext is Start with a context: cancelling it cancels the
// request.
func (rt *Runtime) StartContext(ctx context.Context, name string, opts ...Option) (*Peer, error) {
	op := "start peer " + name
	var c sandboxConfig
	for _, o := range opts {
		if o != nil {
			o.applySandbox(&c)
		}
	}
	if h := append(c.hooks.given(), c.net.hooks.given()...); len(h) > 0 {
		return nil, newError(op, codeInvalid, "a peer takes no hooks in Go (%s): they run "+
			"in the host program that made a sandbox, and a peer is started from inside "+
			"one", strings.Join(h, ", "))
	}
	for _, g := range c.given {
		if !peerOptions[g] {
			return nil, newError(op, codeInvalid, "a peer takes Image, CPUs, Memory, Env, "+
				"Network and SecretEnv (the rest is its parent's), not %s", g)
		}
	}
	n := c.net
	if len(n.blockCidr) > 0 || len(n.allowHost) > 0 || n.nameserver != "" || n.plugin != "" ||
		len(n.refused) > 0 || !n.hooks.empty() {
		return nil, newError(op, codeInvalid, "a peer's network takes DenyAll, Allow and "+
			"AllowCidr only (its parent's is the rest)")
	}
	var g []guest.Option
	if c.image != "" {
		g = append(g, guest.Image(c.image))
	}
	if c.cpus != 0 {
		g = append(g, guest.CPUs(c.cpus))
	}
	if c.memory != "" {
		g = append(g, guest.Memory(c.memory))
	} else if c.memoryMiB != 0 {
		g = append(g, guest.MemoryMiB(c.memoryMiB))
	}
	for _, kv := range c.env {
		g = append(g, envOf(kv))
	}
	var net []guest.NetworkOption
	if n.denyAll {
		net = append(net, guest.DenyAll())
	}
	if len(n.allow) > 0 {
		net = append(net, guest.Allow(n.allow...))
	}
	if len(n.allowCidr) > 0 {
		net = append(net, guest.AllowCidr(n.allowCidr...))
	}
	if len(net) > 0 {
		g = append(g, guest.Network(net...))
	}
	for _, s := range c.secrets {
		var hosts []string
		if s.hosts != "" {
			hosts = []string{s.hosts}
		}
		switch s.source {
		case 0:
			g = append(g, guest.SecretEnv(s.env, s.ref, hosts...))
		case 1:
			g = append(g, guest.SecretFromEnv(s.env, s.ref, hosts...))
		default:
			return nil, newError(op, codeInvalid, "a peer's secret is given by the "+
				"placeholder this sandbox holds (SecretEnv, SecretFromEnv), not from a file")
		}
	}
	p, err := rt.rt.StartContext(ctx, name, g...)
	if err != nil {
		return nil, fromGuest(err)
	}
	return &Peer{p}, nil
}

func envOf(kv string) guest.EnvOption {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return guest.Env(kv[:i], kv[i+1:])
		}
	}
	return guest.Env(kv, "")
}

// Peer is a handle on a peer started earlier (by this program or
// another of this sandbox's).
func (rt *Runtime) Peer(name string) *Peer { return &Peer{rt.rt.Peer(name)} }

// PeerInfo is a peer as List gives it: Name, Image, Status, CPUs,
// MemoryMiB.
type PeerInfo = guest.PeerInfo

// List gives this sandbox's own peers.
func (rt *Runtime) List(ctx context.Context) ([]PeerInfo, error) {
	l, err := rt.rt.List(ctx)
	return l, fromGuest(err)
}

// Peer is a peer sandbox this sandbox started: commands run in it (with
// Stdin; no terminal), CopyIn, CopyOut, Snapshot, Stop, Remove, Logs.
type Peer struct{ p *guest.Peer }

// Name is the peer's name.
func (p *Peer) Name() string { return p.p.Name() }

// Exec runs @cmdline in the peer (split as SplitCommand documents) and
// waits for it, capturing its output, taken at this program's pace. It
// takes Env, Workdir, Stdin, Stdout, Stderr, TTY and Check: Stdin's reader is
// read as the peer takes it (within the host's 128 KiB window), its end
// the command's end of file.
func (p *Peer) Exec(ctx context.Context, cmdline string, opts ...ExecOption) (*ExecResult, error) {
	argv, err := SplitCommand(cmdline)
	if err != nil {
		return nil, err
	}
	return p.ExecArgs(ctx, argv, opts...)
}

// Shell runs @script with sh -c in the peer and waits for it.
func (p *Peer) Shell(ctx context.Context, script string, opts ...ExecOption) (*ExecResult, error) {
	return p.ExecArgs(ctx, []string{"sh", "-c", script}, opts...)
}

// ExecArgs runs @argv as it is in the peer and waits for it. A non-zero
// exit is not an error (see Check); cancelling @ctx kills the command.
func (p *Peer) ExecArgs(ctx context.Context, argv []string, opts ...ExecOption) (*ExecResult, error) {
	op := "exec in peer " + p.p.Name()
	var c execConfig
	for _, o := range opts {
		if o != nil {
			o.applyExec(&c)
		}
	}
	if c.user != "" || c.timeout != 0 || c.interactive {
		return nil, newError(op, codeInvalid, "a peer's command takes Env, Workdir, "+
			"Stdin, Stdout, Stderr, TTY and Check (no Interactive, user or timeout: "+
			"give Stdin a reader, cancel the context to end it)")
	}
	var g []guest.ExecOption
	if c.tty {
		g = append(g, guest.TTY(c.rows, c.cols))
	}
	for _, kv := range c.env {
		g = append(g, envOf(kv))
	}
	if c.workdir != "" {
		g = append(g, guest.Workdir(c.workdir))
	}
	if c.stdin != nil {
		g = append(g, guest.Stdin(c.stdin))
	}
	if c.stdout != nil {
		g = append(g, guest.Stdout(c.stdout))
	}
	if c.stderr != nil {
		g = append(g, guest.Stderr(c.stderr))
	}
	r, err := p.p.ExecArgs(ctx, argv, g...)
	if err != nil {
		return nil, fromGuest(err)
	}
	res := &ExecResult{ExitCode: r.ExitCode, Signal: r.Signal, Stdout: r.Stdout, Stderr: r.Stderr}
	if c.check && !res.Success() {
		return res, &ExitError{res}
	}
	return res, nil
}

// Stop stops the peer.
func (p *Peer) Stop(ctx context.Context) error { return fromGuest(p.p.Stop(ctx)) }

// Remove deletes the peer (stopping it first) and its disk, and its own
// peers.
func (p *Peer) Remove(ctx context.Context) error { return fromGuest(p.p.Remove(ctx)) }

// Logs is the last 256 KiB of the peer's log.
func (p *Peer) Logs(ctx context.Context) (string, error) {
	s, err := p.p.Logs(ctx)
	return s, fromGuest(err)
}

// copyOptions are a peer copy's options: User alone.
func copyOptions(op string, opts []FileOption) ([]guest.CopyOption, error) {
	var c fileConfig
	for _, o := range opts {
		if o != nil {
			o.applyFile(&c)
		}
	}
	if c.mode != 0 || c.parents || c.recursive || c.exclusive || c.append || c.nofollow || c.modes ||
		c.progress != nil {
		return nil, newError(op, codeInvalid, "a copy with a peer takes User alone (modes "+
			"and symlinks are kept, as docker cp keeps them; the host reports no progress of it)")
	}
	if c.user == "" {
		return nil, nil
	}
	return []guest.CopyOption{guest.User(c.user)}, nil
}

// CopyIn copies this sandbox's file, directory (with everything in it)
// or symlink @local into the peer's @peerPath with docker cp's rules, as
// FS.CopyIn does (a @local ending in "/." copies what is in it), through
// the host; User owns what is made in the peer.
func (p *Peer) CopyIn(ctx context.Context, local, peerPath string, opts ...FileOption) error {
	g, err := copyOptions("copy "+local+" into peer "+p.p.Name(), opts)
	if err != nil {
		return err
	}
	return fromGuest(p.p.CopyIn(ctx, local, peerPath, g...))
}

// CopyOut copies the peer's @peerPath into this sandbox's @local with
// CopyIn's rules; a name that would land outside @local, or be reached
// through a symlink, is refused.
func (p *Peer) CopyOut(ctx context.Context, peerPath, local string, opts ...FileOption) error {
	g, err := copyOptions("copy "+peerPath+" out of peer "+p.p.Name(), opts)
	if err != nil {
		return err
	}
	return fromGuest(p.p.CopyOut(ctx, peerPath, local, g...))
}

// Snapshot takes a snapshot of the peer, kept on the host as @name (its
// memory and disk while it runs, its disk when stopped), and gives
// @name, for Runtime.Restore.
func (p *Peer) Snapshot(ctx context.Context, name string) (string, error) {
	s, err := p.p.Snapshot(ctx, name)
	return s, fromGuest(err)
}

// PeerSnapshotInfo is a snapshot of a peer as Snapshots gives it: Name,
// Source, Kind ("full" or "disk"), SizeBytes.
type PeerSnapshotInfo = guest.PeerSnapshotInfo

// Snapshots gives the snapshots of this sandbox's peers.
func (rt *Runtime) Snapshots(ctx context.Context) ([]PeerSnapshotInfo, error) {
	l, err := rt.rt.Snapshots(ctx)
	return l, fromGuest(err)
}

// RemoveSnapshot deletes a snapshot of one of this sandbox's peers
// (ErrBusy while peers restored from it exist).
func (rt *Runtime) RemoveSnapshot(ctx context.Context, snapshot string) error {
	return fromGuest(rt.rt.RemoveSnapshot(ctx, snapshot))
}

// Restore starts the new peer @name from @snapshot, within the host's
// limits for this sandbox's peers as Start is.
func (rt *Runtime) Restore(ctx context.Context, snapshot, name string) (*Peer, error) {
	p, err := rt.rt.Restore(ctx, snapshot, name)
	if err != nil {
		return nil, fromGuest(err)
	}
	return &Peer{p}, nil
}
