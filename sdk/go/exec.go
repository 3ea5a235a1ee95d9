// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ExecResult is how a command ended, and its output when it was captured
// (Exec, ExecArgs, Shell without Stdout or Stderr writers).
type ExecResult struct {
	// ExitCode is the command's status, 128+N if signal N killed it
	// (137 when its Timeout killed it), 127 if it was not found, 126 if
	// it could not run (as a shell reports them).
	ExitCode int
	// Signal is the signal that killed it, 0 if it exited.
	Signal int
	// TimedOut says the Timeout option killed it (with SIGKILL; msb
	// exec --timeout then exits 124, as timeout(1) does).
	TimedOut bool
	// Stdout and Stderr are its output (nil when it went to a writer,
	// or was streamed).
	Stdout, Stderr []byte
}

// Success tells whether the command exited 0.
func (r *ExecResult) Success() bool {
	return r.ExitCode == 0 && r.Signal == 0 && !r.TimedOut
}

type execConfig struct {
	env            []string
	workdir, user  string
	tty            bool
	rows, cols     uint
	timeout        time.Duration
	stdin          io.Reader
	interactive    bool
	stdout, stderr io.Writer
	check          bool
}

type execFunc func(c *execConfig)

func (f execFunc) applyExec(c *execConfig) { f(c) }

// Stdin feeds the command @r, then end of file.
func Stdin(r io.Reader) ExecOption {
	return execFunc(func(c *execConfig) { c.stdin = r })
}

// Interactive keeps the command's stdin open for Process.Stdin (docker
// exec -i); without it (and without Stdin) the command reads end of file.
func Interactive() ExecOption {
	return execFunc(func(c *execConfig) { c.interactive = true })
}

// Stdout sends the command's stdout to @w as it comes, chunk by chunk
// (one Write per chunk: a callback), instead of capturing it.
func Stdout(w io.Writer) ExecOption {
	return execFunc(func(c *execConfig) { c.stdout = w })
}

// Stderr sends the command's stderr to @w as it comes, instead of
// capturing it.
func Stderr(w io.Writer) ExecOption {
	return execFunc(func(c *execConfig) { c.stderr = w })
}

// TTY gives the command a pseudo-terminal of @rows x @cols (0: 24x80);
// its stdout and stderr are then one stream, on stdout.
func TTY(rows, cols uint) ExecOption {
	return execFunc(func(c *execConfig) { c.tty, c.rows, c.cols = true, rows, cols })
}

// Timeout kills the command's process group (SIGKILL) @d after it
// started, on the host's clock; it then ends with TimedOut set (and
// ExitCode 137, Signal 9). Context deadlines kill it too (the call then fails with
// the context's error); Timeout also holds if this program goes away.
func Timeout(d time.Duration) ExecOption {
	return execFunc(func(c *execConfig) { c.timeout = d })
}

// Check makes a command that did not exit 0 an error: an *ExitError
// holding the result, matching ErrNonZeroExit (and ErrTimeout if it
// timed out). Without it, any exit status is data in the ExecResult.
func Check() ExecOption {
	return execFunc(func(c *execConfig) { c.check = true })
}

// Exec runs @cmdline and waits for it, capturing its output. The line is
// split into words as SplitCommand documents (quotes and backslashes as a
// shell has them; no variables, globs, pipes or redirections: use Shell
// for those), and the first word is the program. A non-zero exit is not
// an error (see Check). The error is for what kept the command from
// running or finishing: ErrNotRunning, ErrExecFailed, the context's.
func (sb *Sandbox) Exec(ctx context.Context, cmdline string, opts ...ExecOption) (*ExecResult, error) {
	argv, err := SplitCommand(cmdline)
	if err != nil {
		return nil, err
	}
	return sb.ExecArgs(ctx, argv, opts...)
}

// Shell runs @script with sh -c, so pipes, redirections and variables
// work, and waits for it, capturing its output.
func (sb *Sandbox) Shell(ctx context.Context, script string, opts ...ExecOption) (*ExecResult, error) {
	return sb.ExecArgs(ctx, []string{"sh", "-c", script}, opts...)
}

// ExecArgs runs the program @argv[0] with the arguments @argv[1:] as
// they are (no splitting) and waits for it, capturing its output.
func (sb *Sandbox) ExecArgs(ctx context.Context, argv []string, opts ...ExecOption) (*ExecResult, error) {
	var cfg execConfig
	for _, o := range opts {
		if o != nil {
			o.applyExec(&cfg)
		}
	}
	var out, errb *bytes.Buffer
	if cfg.stdout == nil {
		out = &bytes.Buffer{}
		cfg.stdout = out
	}
	if cfg.stderr == nil {
		errb = &bytes.Buffer{}
		cfg.stderr = errb
	}
	p, err := sb.stream(ctx, argv, &cfg)
	if err != nil {
		return nil, err
	}
	res, err := p.Wait()
	if res != nil {
		if out != nil {
			res.Stdout = out.Bytes()
		}
		if errb != nil {
			res.Stderr = errb.Bytes()
		}
	}
	return res, err
}

// Process is a command running in a sandbox, streamed: its stdin is
// written as the program goes (Stdin), its output read as it comes
// (Stdout and Stderr, or the writers given as options), signals and
// terminal sizes sent. Its context (Stream's) bounds its whole life:
// when it ends the process is killed (SIGKILL) and Wait fails with the
// context's error.
//
// Output has back-pressure: a reader that stops reading stops the
// guest's process (it blocks writing), never memory. Read Stdout and
// Stderr to their end before Wait, as with os/exec pipes; a stream never
// asked for (p.Stdout() not called) is discarded once Wait is called.
type Process struct {
	sb   *Sandbox
	argv []string
	ctx  context.Context
	cfg  execConfig

	// The writer side (stdin, signal, resize) of the C handle, which
	// libmsb allows beside the reader (the pump) calling
	// msb_exec_next; wmu serialises the writers and guards the end.
	wmu   sync.Mutex
	h     *C.msb_exec
	fd    int
	pf    *pollFd
	freed bool

	started  chan struct{}
	pid      int
	done     chan struct{}
	result   ExecResult
	err      error
	stop     chan struct{}
	stopOnce sync.Once
	stopWhy  error

	stdout, stderr *outPipe
	outW, errW     io.Writer

	paused atomic.Value // string: Paused
}

// Stream starts @argv (as ExecArgs takes it) and returns once it runs
// (or with ErrExecFailed if the guest could not start it), leaving its
// input and output to the caller.
func (sb *Sandbox) Stream(ctx context.Context, argv []string, opts ...ExecOption) (*Process, error) {
	var cfg execConfig
	for _, o := range opts {
		if o != nil {
			o.applyExec(&cfg)
		}
	}
	return sb.stream(ctx, argv, &cfg)
}

func (sb *Sandbox) stream(ctx context.Context, argv []string, cfg *execConfig) (*Process, error) {
	op := "exec"
	if len(argv) > 0 {
		op = "exec " + argv[0]
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, newError(op, codeInvalid, "a command to run is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	h, err := sb.handle(op)
	if err != nil {
		return nil, err
	}
	p := &Process{sb: sb, argv: argv, ctx: ctx, cfg: *cfg,
		started: make(chan struct{}), done: make(chan struct{}), stop: make(chan struct{})}
	p.outW, p.errW = cfg.stdout, cfg.stderr
	if p.outW == nil {
		p.stdout = newOutPipe()
		p.outW = p.stdout
	}
	if p.errW == nil {
		p.stderr = newOutPipe()
		p.errW = p.stderr
	}

	var m cmem
	defer m.free()
	var o C.msb_exec_opts
	cfg.fill(&m, &o)
	cargv := m.strvAlways(argv)
	if err := m.bad(op); err != nil {
		return nil, err
	}
	var cerr C.msb_error
	var e *C.msb_exec
	if r := C.msb_exec_start(h, cargv, &o, &e, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	p.h = e
	p.fd = int(C.msb_exec_fd(e))
	pf, perr := thePoller.register(p.fd)
	if perr != nil {
		C.msb_exec_free(e)
		return nil, perr
	}
	p.pf = pf
	stopAfter := context.AfterFunc(ctx, func() { p.halt(ctx.Err()) })
	go func() {
		p.pump()
		p.paused.Store("")
		stopAfter()
		p.release()
		p.stdout.closeWrite()
		p.stderr.closeWrite()
		close(p.done)
	}()
	select {
	case <-p.started:
	case <-p.done:
		if p.err != nil {
			return nil, p.err
		}
	}
	if cfg.stdin != nil {
		go func() {
			w := p.Stdin()
			io.Copy(w, cfg.stdin)
			w.Close()
		}()
	}
	return p, nil
}

// fill sets @o as @cfg says, its strings in @m.
func (cfg *execConfig) fill(m *cmem, o *C.msb_exec_opts) {
	o.env = m.strv(cfg.env)
	o.workdir = m.str(cfg.workdir)
	o.user = m.str(cfg.user)
	o.tty = cbool(cfg.tty)
	o.rows, o.cols = C.uint(cfg.rows), C.uint(cfg.cols)
	o.stdin = cbool(cfg.stdin != nil || cfg.interactive)
	if cfg.timeout > 0 {
		ms := cfg.timeout.Milliseconds()
		if ms < 1 {
			ms = 1
		}
		o.timeout_ms = C.uint(ms)
	}
}

// ExecDetached starts @argv (as ExecArgs takes it) in the background
// (msb exec -d) and returns its pid in the guest once it runs; it does
// not wait for it to end. Its stdout and stderr go to the sandbox's log
// (LogPath), which also says how it ended ("detached command (pid N)
// exited with status S"); it lives on when this program goes, until it
// ends, its Timeout kills it, or the sandbox stops. Env, Workdir, User
// and Timeout apply; Stdin, Interactive, TTY, Stdout, Stderr and Check
// do not (ErrInvalid). ErrExecFailed when the guest could not start it;
// if @ctx ends first the call returns its error, and the command may
// still start.
func (sb *Sandbox) ExecDetached(ctx context.Context, argv []string, opts ...ExecOption) (int, error) {
	var cfg execConfig
	for _, o := range opts {
		if o != nil {
			o.applyExec(&cfg)
		}
	}
	op := "exec -d"
	if len(argv) > 0 {
		op = "exec -d " + argv[0]
	}
	if len(argv) == 0 || argv[0] == "" {
		return 0, newError(op, codeInvalid, "a command to run is required")
	}
	var bad []string
	for _, b := range []struct {
		given bool
		name  string
	}{{cfg.stdin != nil, "Stdin"}, {cfg.interactive, "Interactive"}, {cfg.tty, "TTY"},
		{cfg.stdout != nil, "Stdout"}, {cfg.stderr != nil, "Stderr"}, {cfg.check, "Check"}} {
		if b.given {
			bad = append(bad, "msb."+b.name)
		}
	}
	if len(bad) > 0 {
		return 0, newError(op, codeInvalid, "%s does not apply to a detached command "+
			"(its output goes to the sandbox's log; it takes Env, Workdir, User and Timeout)",
			strings.Join(bad, ", "))
	}
	h, err := sb.handle(op)
	if err != nil {
		return 0, err
	}
	var pid C.int
	err = blocking(ctx, op, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		var o C.msb_exec_opts
		cfg.fill(&m, &o)
		cargv := m.strvAlways(argv)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_exec_detach(h, cargv, &o, &pid, cerr)
	})
	if err != nil {
		return 0, err
	}
	return int(pid), nil
}

// halt ends the process early: killed for a context (@why), hung up
// for Close.
func (p *Process) halt(why error) {
	p.stopOnce.Do(func() {
		if why != nil {
			p.Signal(syscall.SIGKILL)
		}
		p.stopWhy = why
		close(p.stop)
		p.stdout.abort()
		p.stderr.abort()
	})
}

func (p *Process) op() string { return "exec " + p.argv[0] }

// pump reads the command's events until it exits, fails or is halted.
func (p *Process) pump() {
	var ev C.msb_exec_event
	var cerr C.msb_error
	startedOnce := false
	for {
		for {
			r := C.msb_exec_next(p.h, &ev, 0, &cerr)
			if r == 0 {
				break
			}
			if r < 0 {
				p.err = cError(p.op(), r, &cerr)
				return
			}
			switch ev._type {
			case C.MSB_EXEC_STARTED:
				p.pid = int(ev.pid)
				if !startedOnce {
					startedOnce = true
					close(p.started)
				}
			case C.MSB_EXEC_STDOUT, C.MSB_EXEC_STDERR:
				b := C.GoBytes(unsafe.Pointer(ev.data), C.int(ev.len))
				w := p.outW
				if ev._type == C.MSB_EXEC_STDERR {
					w = p.errW
				}
				w.Write(b)
				select {
				case <-p.stop:
					p.err = p.haltError()
					return
				default:
				}
			case C.MSB_EXEC_PAUSED:
				p.paused.Store(C.GoStringN((*C.char)(unsafe.Pointer(ev.data)), C.int(ev.len)))
			case C.MSB_EXEC_RESUMED:
				p.paused.Store("")
			case C.MSB_EXEC_EXIT:
				p.result = ExecResult{ExitCode: int(ev.exit_code), Signal: int(ev.signal),
					TimedOut: ev.timed_out != 0}
				// A context that has ended killed it (halt), or is
				// about to: its exit may come before the halt is
				// seen here, and is the context's doing all the same.
				if err := p.ctx.Err(); err != nil {
					p.err = fmt.Errorf("msb: %s: killed: %w", p.op(), err)
				}
				return
			}
		}
		if err := thePoller.wait(context.Background(), p.pf, pollIn, p.stop); err != nil {
			p.err = p.haltError()
			return
		}
	}
}

func (p *Process) haltError() error {
	if p.stopWhy != nil {
		return fmt.Errorf("msb: %s: killed: %w", p.op(), p.stopWhy)
	}
	return newError(p.op(), codeClosed, "the process was closed before it exited")
}

// release frees the C handle once the pump is over: the connection
// closes, and a command still running is hung up (SIGHUP).
func (p *Process) release() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	thePoller.unregister(p.pf)
	C.msb_exec_free(p.h)
	p.h = nil
	p.freed = true
}

// Pid is the command's process id in the guest.
func (p *Process) Pid() int {
	select {
	case <-p.started:
	case <-p.done:
	}
	return p.pid
}

// Paused is why the sandbox is paused while it is (its host disk is full:
// "sandbox NAME is paused: the host disk under DIR is full ..."), and ""
// while it runs and once the command has ended. The command waits
// meanwhile and goes on by itself once there is room
// (docs/api-protocol.md §11.4). It follows the command's events as they
// are read: output nobody reads holds them back.
func (p *Process) Paused() string {
	s, _ := p.paused.Load().(string)
	return s
}

// Stdout is the command's stdout, when no Stdout writer was given (else
// a reader at end of file). Close it to discard the rest.
func (p *Process) Stdout() io.ReadCloser {
	if p.stdout == nil {
		return io.NopCloser(bytes.NewReader(nil))
	}
	p.stdout.claim()
	return p.stdout
}

// Stderr is the command's stderr, as Stdout.
func (p *Process) Stderr() io.ReadCloser {
	if p.stderr == nil {
		return io.NopCloser(bytes.NewReader(nil))
	}
	p.stderr.claim()
	return p.stderr
}

// Stdin is the command's stdin (given Interactive): every Write reaches
// the guest in order, blocking while the guest's process does not read
// (without holding an OS thread); Close sends end of file.
func (p *Process) Stdin() io.WriteCloser { return stdinWriter{p} }

type stdinWriter struct{ p *Process }

func (w stdinWriter) Write(b []byte) (int, error) { return w.p.writeStdin(b) }
func (w stdinWriter) Close() error                { return w.p.closeStdin() }

// locked runs @f on the C handle under the writer lock, or fails if the
// command is over.
func (p *Process) locked(what string, f func(h *C.msb_exec, cerr *C.msb_error) C.int) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.freed {
		return p.overError(what)
	}
	var cerr C.msb_error
	if r := f(p.h, &cerr); r < 0 {
		return cError(p.op()+": "+what, r, &cerr)
	}
	return nil
}

func (p *Process) overError(what string) error {
	select {
	case <-p.stop:
		if p.stopWhy == nil {
			return newError(p.op()+": "+what, codeClosed, "the process was closed")
		}
	default:
	}
	return newError(p.op()+": "+what, codeStopped, "the command has already exited")
}

const stdinChunk = 48 << 10 // bytes per message, as libmsb sends them

func (p *Process) writeStdin(b []byte) (int, error) {
	if !p.cfg.interactive && p.cfg.stdin == nil {
		return 0, newError(p.op()+": stdin", codeInvalid,
			"stdin is not open: start the command with msb.Interactive() or msb.Stdin(r)")
	}
	n := 0
	for n < len(b) {
		chunk := b[n:]
		if len(chunk) > stdinChunk {
			chunk = chunk[:stdinChunk]
		}
		if err := p.waitWritable(); err != nil {
			return n, err
		}
		err := p.locked("stdin", func(h *C.msb_exec, cerr *C.msb_error) C.int {
			return C.msb_exec_write(h, unsafe.Pointer(&chunk[0]), C.size_t(len(chunk)), cerr)
		})
		if err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// waitWritable waits (in the poller, not in C) until the socket takes a
// message, so the write that follows does not block its thread.
func (p *Process) waitWritable() error {
	for {
		p.wmu.Lock()
		if p.freed {
			p.wmu.Unlock()
			return p.overError("stdin")
		}
		ok := ready(p.fd, pollOut)
		p.wmu.Unlock()
		if ok {
			return nil
		}
		err := thePoller.wait(p.ctx, p.pf, pollOut, p.done)
		if errors.Is(err, ErrClosed) {
			return p.overError("stdin")
		}
		if err != nil {
			return fmt.Errorf("msb: %s: stdin: %w", p.op(), err)
		}
	}
}

func (p *Process) closeStdin() error {
	return p.locked("close stdin", func(h *C.msb_exec, cerr *C.msb_error) C.int {
		return C.msb_exec_close_stdin(h, cerr)
	})
}

// Signal sends @sig to the command's process group in the guest (Linux
// numbering: SIGINT, SIGTERM, SIGKILL...).
func (p *Process) Signal(sig syscall.Signal) error {
	return p.locked("signal", func(h *C.msb_exec, cerr *C.msb_error) C.int {
		return C.msb_exec_signal(h, C.int(sig), cerr)
	})
}

// Resize sets the command's terminal size (TTY); its foreground process
// gets SIGWINCH.
func (p *Process) Resize(rows, cols uint) error {
	return p.locked("resize", func(h *C.msb_exec, cerr *C.msb_error) C.int {
		return C.msb_exec_resize(h, C.uint(rows), C.uint(cols), cerr)
	})
}

// Wait waits for the command to end and returns how it did (output that
// went to writers is not in the result). Streams never asked for are
// discarded from now on. A non-zero exit is no error, unless Check was
// given.
func (p *Process) Wait() (*ExecResult, error) {
	p.stdout.discardUnclaimed()
	p.stderr.discardUnclaimed()
	<-p.done
	if p.err != nil {
		return nil, p.err
	}
	res := p.result
	if p.cfg.check && !res.Success() {
		return &res, &ExitError{Result: &res}
	}
	return &res, nil
}

// Done is closed when the command has ended (or failed, or was closed).
func (p *Process) Done() <-chan struct{} { return p.done }

// Close hangs up: the connection to the command closes, and if it still
// runs its process group gets SIGHUP, as from a closed terminal (send
// SIGKILL with Signal first to be sure it ends). Its output is dropped.
// Calls on the Process then fail with ErrClosed.
func (p *Process) Close() error {
	p.halt(nil)
	<-p.done
	return nil
}

// ---- output pipes -------------------------------------------------------------

const pipeLimit = 1 << 20 // bytes held before the pump waits for the reader

// outPipe is an output stream held for its reader, bounded: the pump
// writes, blocking while it is full (the guest's process then blocks
// too); a closed or unclaimed-and-waited-for stream is discarded.
type outPipe struct {
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	eof     bool
	discard bool
	claimed bool
}

func newOutPipe() *outPipe {
	p := &outPipe{}
	p.cond.L = &p.mu
	return p
}

func (p *outPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.discard && len(p.buf) > 0 && len(p.buf)+len(b) > pipeLimit {
		p.cond.Wait()
	}
	if !p.discard {
		p.buf = append(p.buf, b...)
		p.cond.Broadcast()
	}
	return len(b), nil
}

func (p *outPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.eof && !p.discard {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	p.cond.Broadcast()
	return n, nil
}

// Close discards the rest of the stream.
func (p *outPipe) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.discard, p.buf = true, nil
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

func (p *outPipe) claim() {
	p.mu.Lock()
	p.claimed = true
	p.mu.Unlock()
}

func (p *outPipe) discardUnclaimed() {
	if p == nil {
		return
	}
	p.mu.Lock()
	claimed := p.claimed
	p.mu.Unlock()
	if !claimed {
		p.Close()
	}
}

func (p *outPipe) closeWrite() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.eof = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// abort lets a pump blocked on a full pipe go (the process is halted).
func (p *outPipe) abort() { p.Close() }
