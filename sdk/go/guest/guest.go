// SPDX-License-Identifier: Apache-2.0

// Package guest is the host as a program inside a microsandbox sandbox
// sees it: CurrentRuntime starts peer sandboxes beside this one, runs
// commands in them (with input), copies files into and out of them and
// snapshots and restores them, when the host allows it (msb run
// --allow-spawn N; docs/spawn.md). Requests go through the sandbox's agent (its socket
// /run/microsandbox/agent.sock, the agent's link to the host, never the
// network), in the agent's frames (docs/agent-protocol.md §7c), which this
// package speaks itself: it is pure Go, no cgo and no libmsb, so a program
// built with CGO_ENABLED=0 runs in any guest.
//
//	rt, err := guest.CurrentRuntime(ctx)
//	coder, err := rt.Start("coder", guest.Image("node:20"),
//		guest.Network(guest.DenyAll()))
//	res, err := coder.Shell(ctx, "node -v")
//	res, err = coder.ExecArgs(ctx, []string{"wc", "-c"}, guest.Stdin(r))
//	err = coder.CopyIn(ctx, "./src", "/src")
//	snap, err := coder.Snapshot(ctx, "coder-1")
//	coder2, err := rt.Restore(ctx, snap, "coder2")
//
// The msb package's CurrentRuntime is this runtime, taking msb's options
// (msb.Image, msb.Network(msb.DenyAll()), msb.SecretEnv), for a program
// built with libmsb.
package guest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
)

// AgentSocket is the sandbox agent's socket the runtime speaks to. Tests
// point it at a stand-in.
var AgentSocket = "/run/microsandbox/agent.sock"

// Sentinel errors, for errors.Is. Every error of this package for a
// request is an *Error, whose Code is libmsb's for the same failure (the
// msb package's errors match theirs: msb.ErrPolicyRefused...).
var (
	// ErrPolicyRefused: the host refused the request (spawning off,
	// too many peers, an image, network or secret wider than this
	// sandbox's, a sandbox that is not this one's peer); the message
	// says why.
	ErrPolicyRefused = errors.New("refused by policy")
	// ErrNotSupported: this program is not inside a microsandbox
	// sandbox.
	ErrNotSupported = errors.New("not supported")
	// ErrInvalid: bad input, here or as the host read it.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound: no such peer, snapshot or file (the peer's, or this
	// sandbox's for a copy).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the name (a snapshot's, a peer's) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrBusy: a snapshot still used by peers restored from it.
	ErrBusy = errors.New("busy")
	// ErrNotRunning: the peer is not running (a copy needs it running).
	ErrNotRunning = errors.New("sandbox not running")
	// ErrTimeout: the host ran out of time.
	ErrTimeout = errors.New("timed out")
	// ErrPermission: refused by file permissions (the peer's, or this
	// sandbox's for a copy).
	ErrPermission = errors.New("permission denied")
	// ErrProtocol: the agent broke its protocol or closed the
	// connection before the answer's end.
	ErrProtocol = errors.New("protocol error")
	// ErrNonZeroExit: a command exited non-zero (or was killed) and
	// Check was given; the error is an *ExitError.
	ErrNonZeroExit = errors.New("command exited non-zero")
)

// libmsb's codes (include/msb.h) for the failures above.
const (
	CodeInvalid      = -int(syscall.EINVAL)     // MSB_E_INVALID
	CodeProtocol     = -int(syscall.EPROTO)     // MSB_E_PROTOCOL
	CodePolicy       = -1004                    // MSB_E_POLICY
	CodeNotSupported = -int(syscall.EOPNOTSUPP) // EOPNOTSUPP
	CodeNotFound     = -int(syscall.ENOENT)     // MSB_E_NOT_FOUND
	CodeExists       = -int(syscall.EEXIST)     // MSB_E_EXISTS
	CodeBusy         = -int(syscall.EBUSY)      // MSB_E_BUSY
	CodeNotRunning   = -int(syscall.ENOTCONN)   // MSB_E_NOT_RUNNING
	CodeTimeout      = -int(syscall.ETIMEDOUT)  // MSB_E_TIMEOUT
	CodePermission   = -int(syscall.EACCES)     // MSB_E_PERMISSION
)

// Error is a failed request: what was asked, the code (libmsb's for
// the same failure, or the negative errno value the host answered
// with) and the host's message.
type Error struct {
	Op      string
	Code    int
	Message string
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "msb: " + e.Message
	}
	return "msb: " + e.Op + ": " + e.Message
}

// Is matches the sentinels by code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrPolicyRefused:
		return e.Code == CodePolicy
	case ErrNotSupported:
		return e.Code == CodeNotSupported
	case ErrInvalid:
		return e.Code == CodeInvalid
	case ErrProtocol:
		return e.Code == CodeProtocol
	case ErrNotFound:
		return e.Code == CodeNotFound
	case ErrAlreadyExists:
		return e.Code == CodeExists
	case ErrBusy:
		return e.Code == CodeBusy
	case ErrNotRunning:
		return e.Code == CodeNotRunning
	case ErrTimeout:
		return e.Code == CodeTimeout
	case ErrPermission:
		return e.Code == CodePermission || e.Code == -int(syscall.EPERM)
	}
	return false
}

// Unwrap gives the syscall.Errno of a code that is an errno value.
func (e *Error) Unwrap() error {
	if e.Code < 0 && e.Code > -4096 {
		return syscall.Errno(-e.Code)
	}
	return nil
}

func fail(op string, code int, format string, args ...any) *Error {
	return &Error{Op: op, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ---- the agent's frames (src/proto/proto.h) ------------------------------

const (
	fStdin  = 3
	fWindow = 7
	fStdout = 67
	fStderr = 68
	fExit   = 69
	fResult = 73
	fPeer   = 76

	tErrno   = 31
	tMessage = 32

	hdrLen   = 12
	frameMax = 64 * 1024
	reqMax   = 60 * 1024
	// The host sends output within the credit given back as it is
	// taken (MSB_WINDOW_INIT at first); it is given back a quarter at a
	// time.
	windowInit = 256 * 1024
	// The program sends input within MSB_PEER_STDIN_WINDOW, which the
	// host gives back (WINDOW) as the peer takes it, in frames of at
	// most stdinChunk bytes.
	stdinWindow = 128 * 1024
	stdinChunk  = 32 * 1024
)

func frame(kind byte, p []byte) []byte {
	b := make([]byte, hdrLen+len(p))
	binary.BigEndian.PutUint32(b, uint32(len(p)))
	b[8] = kind
	copy(b[hdrLen:], p)
	return b
}

// result is a RESULT's errno and message.
func result(p []byte) (errno uint32, msg string, ok bool) {
	for len(p) >= 5 {
		tag, n := p[0], binary.BigEndian.Uint32(p[1:5])
		if uint64(n) > uint64(len(p)-5) {
			break
		}
		v := p[5 : 5+n]
		switch {
		case tag == tErrno && n == 4:
			errno, ok = binary.BigEndian.Uint32(v), true
		case tag == tMessage:
			msg = string(v)
		}
		p = p[5+n:]
	}
	return errno, msg, ok
}

// request is one PEER request (docs/spawn.md), its fields in the order
// msb start writes them.
type request struct {
	Op           string   `json:"op"`
	Name         string   `json:"name,omitempty"`
	Image        string   `json:"image,omitempty"`
	CPUs         uint     `json:"cpus,omitempty"`
	Memory       string   `json:"memory,omitempty"`
	NetDenyAll   bool     `json:"net_deny_all,omitempty"`
	NetAllow     []string `json:"net_allow,omitempty"`
	NetAllowCidr []string `json:"net_allow_cidr,omitempty"`
	Argv         []string `json:"argv,omitempty"`
	Env          []string `json:"env,omitempty"`
	Workdir      string   `json:"workdir,omitempty"`
	Stdin        bool     `json:"stdin,omitempty"`
	TTY          bool     `json:"tty,omitempty"`
	Rows         uint     `json:"rows,omitempty"`
	Cols         uint     `json:"cols,omitempty"`
	Path         string   `json:"path,omitempty"`
	User         string   `json:"user,omitempty"`
	Contents     bool     `json:"contents,omitempty"`
	Snapshot     string   `json:"snapshot,omitempty"`
	Secrets      []secret `json:"secrets,omitempty"`
	JSON         bool     `json:"json,omitempty"`
}

// restoreRequest is restore's, its fields in msb restore's order.
type restoreRequest struct {
	Op       string `json:"op"`
	Snapshot string `json:"snapshot"`
	Name     string `json:"name"`
}

type secret struct {
	Env         string `json:"env"`
	Placeholder string `json:"placeholder"`
	Hosts       string `json:"hosts,omitempty"`
}

// exit is how an exec ended.
type exit struct{ code, signal int }

// ask sends @req on a connection of its own and reads the answer to its
// end: output to @stdout and @stderr (credit given back once written),
// then the command's exit (an exec) or nil (the others). @stdin, when not
// nil, is the request's input: read and sent as STDIN frames within the
// credit the host gives back, its end (io.EOF) sent as the input's end;
// a Read that fails ends the request with its error.
func ask(ctx context.Context, op string, req any, stdin io.Reader, stdout, stderr io.Writer) (*exit, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fail(op, CodeInvalid, "%v", err)
	}
	if len(body) > reqMax {
		return nil, fail(op, CodeInvalid, "the request is over 60 KiB")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", AgentSocket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, notInside(op, err)
	}
	defer c.Close()
	// A cancelled context closes the connection: the agent tells the
	// host, which cancels the request (a peer's command is killed).
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var wmu sync.Mutex
	// send writes one frame whole; the input's and the credit's writers
	// share the connection. A connection the agent has closed (the
	// answer's end already sent) is found by the next read, not here.
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(frame(kind, p))
		return err
	}
	if err := send(fPeer, body); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail(op, CodeProtocol, "the sandbox's agent closed the connection")
	}
	var cr *credit
	inErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	if stdin != nil {
		cr = &credit{left: stdinWindow, more: make(chan struct{}, 1)}
		go func() {
			if err := feed(stdin, cr, send, done); err != nil {
				inErr <- err
				c.Close()
			}
		}()
	}
	ended := func(e error) error {
		select {
		case err := <-inErr:
			var me *Error
			if errors.As(err, &me) {
				return err
			}
			return fmt.Errorf("msb: %s: its input: %w", op, err)
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return e
	}
	var hdr [hdrLen]byte
	buf := make([]byte, frameMax)
	taken := 0
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return nil, ended(fail(op, CodeProtocol, "the sandbox's agent closed the "+
				"connection before the answer's end"))
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n > frameMax || hdr[9] != 0 {
			return nil, fail(op, CodeProtocol, "a bad frame from the sandbox's agent")
		}
		p := buf[:n]
		if _, err := io.ReadFull(c, p); err != nil {
			return nil, ended(fail(op, CodeProtocol, "the sandbox's agent closed the "+
				"connection before the answer's end"))
		}
		switch hdr[8] {
		case fStdout, fStderr:
			w := stdout
			if hdr[8] == fStderr {
				w = stderr
			}
			if w != nil {
				if _, err := w.Write(p); err != nil {
					return nil, err
				}
			}
			taken += int(n)
			if taken >= windowInit/4 {
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], uint32(taken))
				send(fWindow, b[:])
				taken = 0
			}
		case fWindow:
			// the host took this much input
			if cr != nil && n == 4 {
				cr.give(int(binary.BigEndian.Uint32(p)))
			}
		case fExit:
			if n < 8 {
				return nil, fail(op, CodeProtocol, "a bad EXIT from the sandbox's agent")
			}
			return &exit{int(int32(binary.BigEndian.Uint32(p))),
				int(binary.BigEndian.Uint32(p[4:]))}, nil
		case fResult:
			e, msg, ok := result(p)
			if !ok {
				return nil, fail(op, CodeProtocol, "a RESULT without ERRNO from the sandbox's agent")
			}
			if e != 0 {
				return nil, refused(op, syscall.Errno(e), msg)
			}
			return nil, nil
		}
	}
}

// credit is the input bytes the host lets this program send now.
type credit struct {
	mu   sync.Mutex
	left int
	more chan struct{}
}

// give adds what the host gave back (never past the window: a host that
// gives more than it was sent is not believed).
func (c *credit) give(n int) {
	c.mu.Lock()
	if c.left+n <= stdinWindow {
		c.left += n
	}
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// take waits for credit and takes up to @want of it; 0 once @done.
func (c *credit) take(want int, done <-chan struct{}) int {
	for {
		c.mu.Lock()
		if c.left > 0 {
			n := min(want, c.left)
			c.left -= n
			c.mu.Unlock()
			return n
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-done:
			return 0
		}
	}
}

// refund gives back credit taken and not spent.
func (c *credit) refund(n int) {
	c.mu.Lock()
	c.left += n
	c.mu.Unlock()
}

// feed sends @in as STDIN frames within @cr, then the input's end; a
// Read's error other than io.EOF is returned. It stops once @done (the
// answer's end came) or a write fails.
func feed(in io.Reader, cr *credit, send func(byte, []byte) error, done <-chan struct{}) error {
	buf := make([]byte, stdinChunk)
	for {
		n := cr.take(stdinChunk, done)
		if n == 0 {
			return nil
		}
		m, err := in.Read(buf[:n])
		cr.refund(n - m)
		if m > 0 {
			if send(fStdin, buf[:m]) != nil {
				return nil
			}
		}
		if err == io.EOF {
			send(fStdin, nil)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// refused is the host's refusal as an *Error: EPERM is a policy's.
func refused(op string, e syscall.Errno, msg string) *Error {
	if msg == "" {
		msg = e.Error()
	}
	code := -int(e)
	if e == syscall.EPERM {
		code = CodePolicy
	}
	return &Error{Op: op, Code: code, Message: msg}
}

func notInside(op string, err error) *Error {
	why := err.Error()
	var se *os.SyscallError
	if errors.As(err, &se) {
		why = se.Err.Error()
	}
	return fail(op, CodeNotSupported, "not inside a microsandbox sandbox (%s: %s): "+
		"CurrentRuntime is for code running in one; from the host, use msb.NewSandbox",
		AgentSocket, why)
}

// ---- the runtime --------------------------------------------------------

// Runtime is the host as this sandbox's programs see it: Start, List and
// Peer.
type Runtime struct{}

// CurrentRuntime is the microsandbox this program runs inside. Outside
// one it fails with ErrNotSupported ("not inside a microsandbox
// sandbox"): it never spawns anything by accident.
func CurrentRuntime(ctx context.Context) (*Runtime, error) {
	if _, err := os.Stat(AgentSocket); err != nil {
		return nil, notInside("current runtime", err)
	}
	return &Runtime{}, nil
}

// Option configures a peer: Start takes them.
type Option interface {
	applyStart(c *startConfig) error
}

// ExecOption configures one command in a peer: Exec, Shell and ExecArgs
// take them.
type ExecOption interface {
	applyExec(c *execConfig)
}

type startConfig struct{ req request }

type startFunc func(c *startConfig) error

func (f startFunc) applyStart(c *startConfig) error { return f(c) }

// Image is the peer's image: one the host allows (msb run --spawn-image;
// by default this sandbox's own).
func Image(ref string) Option {
	return startFunc(func(c *startConfig) error { c.req.Image = ref; return nil })
}

// CPUs is the peer's virtual CPUs (1 to 64, within the host's ceiling).
func CPUs(n uint) Option {
	return startFunc(func(c *startConfig) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("CPUs takes 1 to 64, not %d", n)
		}
		c.req.CPUs = n
		return nil
	})
}

// Memory is the peer's memory as msb start --memory writes it ("256M",
// "1G"), within the host's ceiling.
func Memory(size string) Option {
	return startFunc(func(c *startConfig) error { c.req.Memory = size; return nil })
}

// MemoryMiB is the peer's memory in MiB.
func MemoryMiB(mib uint64) Option {
	return Memory(fmt.Sprintf("%dM", mib))
}

// EnvOption is a variable: of every command in the peer, given to Start;
// of one command, given to Exec.
type EnvOption struct{ Key, Value string }

// Env sets the variable @key to @value.
func Env(key, value string) EnvOption { return EnvOption{key, value} }

func (o EnvOption) applyStart(c *startConfig) error {
	c.req.Env = append(c.req.Env, o.Key+"="+o.Value)
	return nil
}

func (o EnvOption) applyExec(c *execConfig) { c.req.Env = append(c.req.Env, o.Key+"="+o.Value) }

// SecretEnv gives the peer the secret whose placeholder this sandbox
// holds (@placeholder: the value of this sandbox's variable for it,
// os.Getenv("KEY")) as its variable @env, under a placeholder of its own,
// for @hosts: each covered by this sandbox's binding of the secret
// (none: the same hosts). The value never enters either guest.
func SecretEnv(env, placeholder string, hosts ...string) Option {
	return startFunc(func(c *startConfig) error {
		if placeholder == "" {
			return fmt.Errorf("SecretEnv %s: the placeholder is empty (give the value of "+
				"this sandbox's variable holding the secret's placeholder)", env)
		}
		c.req.Secrets = append(c.req.Secrets, secret{env, placeholder, strings.Join(hosts, ",")})
		return nil
	})
}

// SecretFromEnv is SecretEnv with the placeholder this sandbox's
// variable @variable holds (msb start --secret-env ENV=@env:VARIABLE).
func SecretFromEnv(env, variable string, hosts ...string) Option {
	return startFunc(func(c *startConfig) error {
		ph := os.Getenv(variable)
		if ph == "" {
			return fmt.Errorf("SecretFromEnv %s: $%s is not set here (it names this "+
				"sandbox's variable holding the secret's placeholder)", env, variable)
		}
		return SecretEnv(env, ph, hosts...).applyStart(c)
	})
}

// NetworkOption is one rule of a peer's network: DenyAll, Allow,
// AllowCidr. The rest of its policy is this sandbox's.
type NetworkOption interface {
	applyNet(c *startConfig)
}

type netFunc func(c *startConfig)

func (f netFunc) applyNet(c *startConfig) { f(c) }

// Network narrows the peer's network: by default it is this sandbox's
// own policy; it is never wider.
func Network(opts ...NetworkOption) Option {
	return startFunc(func(c *startConfig) error {
		for _, o := range opts {
			if o != nil {
				o.applyNet(c)
			}
		}
		if c.req.NetDenyAll && (len(c.req.NetAllow) > 0 || len(c.req.NetAllowCidr) > 0) {
			// deny-all with names or ranges is: only those
			c.req.NetDenyAll = false
		}
		return nil
	})
}

// DenyAll: nothing leaves the peer (air-gapped), but what Allow and
// AllowCidr open.
func DenyAll() NetworkOption { return netFunc(func(c *startConfig) { c.req.NetDenyAll = true }) }

// Allow: only these names, each one this sandbox may reach.
func Allow(names ...string) NetworkOption {
	return netFunc(func(c *startConfig) { c.req.NetAllow = append(c.req.NetAllow, names...) })
}

// AllowCidr: only within these ranges, each one this sandbox was opened
// to.
func AllowCidr(cidrs ...string) NetworkOption {
	return netFunc(func(c *startConfig) { c.req.NetAllowCidr = append(c.req.NetAllowCidr, cidrs...) })
}

// Start starts the peer sandbox @name and returns once it is booted.
func (rt *Runtime) Start(name string, opts ...Option) (*Peer, error) {
	return rt.StartContext(context.Background(), name, opts...)
}

// StartContext is Start with a context: cancelling it cancels the
// request.
func (rt *Runtime) StartContext(ctx context.Context, name string, opts ...Option) (*Peer, error) {
	op := "start peer " + name
	c := startConfig{req: request{Op: "start", Name: name}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyStart(&c); err != nil {
			return nil, fail(op, CodeInvalid, "%v", err)
		}
	}
	if _, err := ask(ctx, op, &c.req, nil, nil, nil); err != nil {
		return nil, err
	}
	return &Peer{name: name}, nil
}

// Peer is a handle on a peer started earlier (by this program or
// another of this sandbox's).
func (rt *Runtime) Peer(name string) *Peer { return &Peer{name: name} }

// PeerInfo is a peer as List gives it.
type PeerInfo struct {
	Name      string `json:"name"`
	Image     string `json:"image"`
	Status    string `json:"status"`
	CPUs      int    `json:"cpus"`
	MemoryMiB int    `json:"memory_mib"`
}

// List gives this sandbox's own peers.
func (rt *Runtime) List(ctx context.Context) ([]PeerInfo, error) {
	var out bytes.Buffer
	if _, err := ask(ctx, "list peers", &request{Op: "ps", JSON: true}, nil, &out, nil); err != nil {
		return nil, err
	}
	peers := []PeerInfo{}
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &peers); err != nil {
			return nil, fail("list peers", CodeProtocol, "the host's list of peers: %v", err)
		}
	}
	return peers, nil
}

// Peer is a peer sandbox this sandbox started.
type Peer struct{ name string }

// Name is the peer's name.
func (p *Peer) Name() string { return p.name }

// ExecResult is how a command ended and what it printed.
type ExecResult struct {
	// ExitCode is the command's status, 128+N if signal N killed it.
	ExitCode int
	// Signal is the signal that killed it, 0 if it exited.
	Signal int
	// Stdout and Stderr are its output (nil when it went to a writer).
	Stdout, Stderr []byte
}

// Success tells whether the command exited 0.
func (r *ExecResult) Success() bool { return r.ExitCode == 0 && r.Signal == 0 }

// ExitError is a command that exited non-zero or was killed, returned
// when Check was given. It matches ErrNonZeroExit.
type ExitError struct{ Result *ExecResult }

func (e *ExitError) Error() string {
	if e.Result.Signal != 0 {
		return fmt.Sprintf("msb: command killed by signal %d (exit code %d)",
			e.Result.Signal, e.Result.ExitCode)
	}
	return fmt.Sprintf("msb: command exited with code %d", e.Result.ExitCode)
}

// Is matches ErrNonZeroExit.
func (e *ExitError) Is(target error) bool { return target == ErrNonZeroExit }

type execConfig struct {
	req            request
	stdin          io.Reader
	stdout, stderr io.Writer
	check          bool
}

type execFunc func(c *execConfig)

func (f execFunc) applyExec(c *execConfig) { f(c) }

// Workdir is the command's working directory.
func Workdir(dir string) ExecOption { return execFunc(func(c *execConfig) { c.req.Workdir = dir }) }

// Stdout streams the command's output to @w as it comes (the host is
// given credit for more once it is written), instead of ExecResult.Stdout.
func Stdout(w io.Writer) ExecOption { return execFunc(func(c *execConfig) { c.stdout = w }) }

// Stdin is the command's input: @r is read as the peer takes it (sent
// within MSB_PEER_STDIN_WINDOW, 128 KiB, as the host gives it back) and
// its end (io.EOF) is the command's end of file; a Read that fails ends
// the request with its error (the command is killed). Without it the
// command reads end of file at once. A Read still blocked when the
// command has ended is left to return by itself: give a reader that
// ends, or close it.
func Stdin(r io.Reader) ExecOption { return execFunc(func(c *execConfig) { c.stdin = r }) }

// Stderr is Stdout for the command's standard error.
func Stderr(w io.Writer) ExecOption { return execFunc(func(c *execConfig) { c.stderr = w }) }

// TTY gives the command a terminal of @rows x @cols (0: 24 rows, 80
// columns; at most 65535 each): its output is all on stdout, as the
// terminal wrote it (lines end in "\r\n").
func TTY(rows, cols uint) ExecOption {
	return execFunc(func(c *execConfig) { c.req.TTY, c.req.Rows, c.req.Cols = true, rows, cols })
}

// Check makes a command that did not exit 0 an error (*ExitError,
// ErrNonZeroExit), with the result beside it.
func Check() ExecOption { return execFunc(func(c *execConfig) { c.check = true }) }

// Shell runs @script with sh -c in the peer and waits for it.
func (p *Peer) Shell(ctx context.Context, script string, opts ...ExecOption) (*ExecResult, error) {
	return p.ExecArgs(ctx, []string{"sh", "-c", script}, opts...)
}

// ExecArgs runs @argv in the peer (a terminal with TTY; input with
// Stdin) and waits for it; its output comes at the pace this program
// takes it. A non-zero exit is not an error (see Check). Cancelling @ctx
// kills the command.
func (p *Peer) ExecArgs(ctx context.Context, argv []string, opts ...ExecOption) (*ExecResult, error) {
	op := "exec in peer " + p.name
	if len(argv) == 0 {
		return nil, fail(op, CodeInvalid, "no command to run")
	}
	c := execConfig{req: request{Op: "exec", Name: p.name, Argv: argv}}
	for _, o := range opts {
		if o != nil {
			o.applyExec(&c)
		}
	}
	if c.req.TTY {
		if c.req.Rows > 65535 || c.req.Cols > 65535 {
			return nil, fail(op, CodeInvalid, "a terminal of %d x %d: at most 65535 each",
				c.req.Rows, c.req.Cols)
		}
		if c.req.Rows == 0 {
			c.req.Rows = 24
		}
		if c.req.Cols == 0 {
			c.req.Cols = 80
		}
	}
	var out, errb *bytes.Buffer
	if c.stdout == nil {
		out = &bytes.Buffer{}
		c.stdout = out
	}
	if c.stderr == nil {
		errb = &bytes.Buffer{}
		c.stderr = errb
	}
	var in io.Reader
	if c.stdin != nil {
		c.req.Stdin = true
		in = c.stdin
	}
	st, err := ask(ctx, op, &c.req, in, c.stdout, c.stderr)
	if err != nil {
		return nil, err
	}
	res := &ExecResult{}
	if st != nil {
		res.ExitCode, res.Signal = st.code, st.signal
	}
	if out != nil {
		res.Stdout = out.Bytes()
	}
	if errb != nil {
		res.Stderr = errb.Bytes()
	}
	if c.check && !res.Success() {
		return res, &ExitError{res}
	}
	return res, nil
}

// Stop stops the peer (it may be removed after).
func (p *Peer) Stop(ctx context.Context) error {
	_, err := ask(ctx, "stop peer "+p.name, &request{Op: "stop", Name: p.name}, nil, nil, nil)
	return err
}

// Remove deletes the peer and its disk (and its own peers).
func (p *Peer) Remove(ctx context.Context) error {
	_, err := ask(ctx, "remove peer "+p.name, &request{Op: "rm", Name: p.name}, nil, nil, nil)
	return err
}

// Logs is the last 256 KiB of the peer's log.
func (p *Peer) Logs(ctx context.Context) (string, error) {
	var out bytes.Buffer
	if _, err := ask(ctx, "logs of peer "+p.name, &request{Op: "logs", Name: p.name}, nil, &out, nil); err != nil {
		return "", err
	}
	return out.String(), nil
}

// ---- snapshots ------------------------------------------------------------

// Snapshot takes a snapshot of the peer (its memory and disk while it
// runs, its disk when stopped), kept on the host as @name (host-wide: a
// name taken is ErrAlreadyExists), and gives @name, for Restore.
func (p *Peer) Snapshot(ctx context.Context, name string) (string, error) {
	_, err := ask(ctx, "snapshot peer "+p.name, &request{Op: "snapshot", Name: p.name,
		Snapshot: name}, nil, nil, nil)
	if err != nil {
		return "", err
	}
	return name, nil
}

// PeerSnapshotInfo is a snapshot of a peer as Snapshots gives it: Kind
// is "full" (memory and disk: restored running) or "disk".
type PeerSnapshotInfo struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Kind      string `json:"kind"`
	SizeBytes int64  `json:"size_bytes"`
}

// Snapshots gives the snapshots of this sandbox's peers.
func (rt *Runtime) Snapshots(ctx context.Context) ([]PeerSnapshotInfo, error) {
	var out bytes.Buffer
	op := "list snapshots of peers"
	if _, err := ask(ctx, op, &request{Op: "snapshot_ls", JSON: true}, nil, &out, nil); err != nil {
		return nil, err
	}
	snaps := []PeerSnapshotInfo{}
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &snaps); err != nil {
			return nil, fail(op, CodeProtocol, "the host's list of snapshots: %v", err)
		}
	}
	return snaps, nil
}

// RemoveSnapshot deletes a snapshot of one of this sandbox's peers
// (ErrBusy while peers restored from it exist).
func (rt *Runtime) RemoveSnapshot(ctx context.Context, snapshot string) error {
	_, err := ask(ctx, "remove snapshot "+snapshot, &request{Op: "snapshot_rm",
		Snapshot: snapshot}, nil, nil, nil)
	return err
}

// Restore starts the new peer @name from @snapshot and returns once it
// is booted, within the host's limits for this sandbox's peers as Start
// is; a snapshot of a peer that held secrets given at its creation is
// refused (ErrPolicyRefused).
func (rt *Runtime) Restore(ctx context.Context, snapshot, name string) (*Peer, error) {
	_, err := ask(ctx, "restore "+snapshot+" as peer "+name, &restoreRequest{Op: "restore",
		Snapshot: snapshot, Name: name}, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return &Peer{name: name}, nil
}
