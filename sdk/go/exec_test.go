// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

func TestExecCapturesOutputAndExitCode(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	res, err := sb.Exec(ctx, `sh -c "echo out; echo err >&2; exit 3"`)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Fatalf("got %+v (stdout %q, stderr %q)", res, res.Stdout, res.Stderr)
	}
	if res.Success() {
		t.Fatal("exit 3 counted as a success")
	}
	// Non-zero is data, unless Check is asked for.
	_, err = sb.Exec(ctx, "false", msb.Check())
	var ee *msb.ExitError
	if !errors.Is(err, msb.ErrNonZeroExit) || !errors.As(err, &ee) || ee.Result.ExitCode != 1 {
		t.Fatalf("Check: %v", err)
	}
	if _, err := sb.Exec(ctx, "true", msb.Check()); err != nil {
		t.Fatalf("Check of a success: %v", err)
	}
	// A command that is not found exits 127, as in a shell.
	res, err = sb.Exec(ctx, "no-such-command-here")
	if err != nil || res.ExitCode != 127 {
		t.Fatalf("missing command: %+v %v", res, err)
	}
}

func TestExecWordsAndShell(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	// The line is split as a shell splits words, and nothing is
	// expanded: printf gets its arguments exactly.
	res, err := sb.Exec(ctx, `printf "[%s]" 'a b' c\ d "$HOME" '*'`)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "[a b][c d][$HOME][*]" {
		t.Fatalf("words: %q", got)
	}
	res, err = sb.ExecArgs(ctx, []string{"printf", "[%s]", "x y", "", "$z"})
	if err != nil || string(res.Stdout) != "[x y][][$z]" {
		t.Fatalf("argv: %q %v", res.Stdout, err)
	}
	res, err = sb.Shell(ctx, "echo $((6*7)) | tr 4 X; echo $0")
	if err != nil || string(res.Stdout) != "X2\nsh\n" {
		t.Fatalf("shell: %q %v", res.Stdout, err)
	}
}

func TestExecOptions(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	res, err := sb.Shell(ctx, `echo "$A $B"; pwd; id -u`,
		msb.Env("A", "1"), msb.Env("B", "x=y"), msb.Workdir("/tmp"), msb.User("1000"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "1 x=y\n/tmp\n1000\n" {
		t.Fatalf("got %q", got)
	}
	res, err = sb.Exec(ctx, "cat", msb.Stdin(strings.NewReader("fed in\n")))
	if err != nil || string(res.Stdout) != "fed in\n" {
		t.Fatalf("stdin: %q %v", res.Stdout, err)
	}
	// Writers get the output as it comes, instead of the result.
	var out, errw bytes.Buffer
	res, err = sb.Shell(ctx, "echo a; echo b >&2", msb.Stdout(&out), msb.Stderr(&errw))
	if err != nil || out.String() != "a\n" || errw.String() != "b\n" || res.Stdout != nil {
		t.Fatalf("writers: %q %q %+v %v", out.String(), errw.String(), res, err)
	}
	// A terminal: one stream, and isatty in the guest.
	res, err = sb.Shell(ctx, "test -t 1 && echo tty; stty size", msb.TTY(33, 101))
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "tty output", string(res.Stdout), "tty")
	contains(t, "tty output", string(res.Stdout), "33 101")
}

func TestExecTimeoutKillsTheGuestProcess(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	start := time.Now()
	res, err := sb.Exec(ctx, "sleep 30", msb.Timeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.ExitCode != 137 || res.Signal != 9 || time.Since(start) > 20*time.Second {
		t.Fatalf("timeout: %+v after %v", res, time.Since(start))
	}
	_, err = sb.Exec(ctx, "sleep 30", msb.Timeout(300*time.Millisecond), msb.Check())
	if !errors.Is(err, msb.ErrTimeout) || !errors.Is(err, msb.ErrNonZeroExit) {
		t.Fatalf("timeout with Check: %v", err)
	}
}

// A context that ends kills the command in the guest: its process is
// gone, not left running.
func TestExecContextCancelKillsTheGuestProcess(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	_, err := sb.Exec(short, "sleep 4242")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := sb.Shell(ctx, "ps -o args | grep '[s]leep 4242' || true")
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(res.Stdout)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep 4242 still runs: %q", res.Stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A context already over runs nothing.
	done, stop := context.WithCancel(ctx)
	stop()
	if _, err := sb.Exec(done, "true"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// Stdin written while output is read, more than every buffer on the way
// holds: a process that echoes its input must not deadlock with us.
func TestStreamEchoesLargeInput(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	p, err := sb.Stream(ctx, []string{"cat"}, msb.Interactive())
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	want := sha256.Sum256(data)
	go func() {
		p.Stdin().Write(data)
		p.Stdin().Close()
	}()
	h := sha256.New()
	n, err := io.Copy(h, p.Stdout())
	if err != nil || n != size {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("wait: %+v %v", res, err)
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the echoed bytes differ")
	}
}

func TestStreamSignalsResizeAndClose(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	p, err := sb.Stream(ctx, []string{"sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() <= 0 {
		t.Fatalf("pid %d", p.Pid())
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(p.Stdout(), buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q %v", buf, err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(p.Stdout())
	res, err := p.Wait()
	if err != nil || res.ExitCode != 7 || string(rest) != "got TERM\n" {
		t.Fatalf("after TERM: %+v %q %v", res, rest, err)
	}
	// Calls on a command that has ended say so.
	if err := p.Signal(syscall.SIGKILL); !errors.Is(err, msb.ErrStopped) {
		t.Fatalf("signal after exit: %v", err)
	}

	// Terminal resize reaches the foreground process.
	p, err = sb.Stream(ctx, []string{"sh", "-c", "trap 'stty size' WINCH; echo ready; while :; do sleep 0.1; done"},
		msb.TTY(24, 80), msb.Interactive())
	if err != nil {
		t.Fatal(err)
	}
	r := p.Stdout()
	line := readUntil(t, r, "ready")
	if err := p.Resize(50, 132); err != nil {
		t.Fatal(err)
	}
	line = readUntil(t, r, "50 132")
	_ = line
	// Close hangs up; calls then fail with ErrClosed.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stdin().Write([]byte("x")); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("stdin after Close: %v", err)
	}
	if _, err := p.Wait(); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("wait after Close: %v", err)
	}
	// Stdin that was never opened is refused with a hint.
	p, err = sb.Stream(ctx, []string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stdin().Write([]byte("x")); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("stdin not opened: %v", err)
	}
	p.Wait()
}

// readUntil reads @r until what was read holds @want.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	for !bytes.Contains(got, []byte(want)) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading for %q: got %q, %v", want, got, err)
		}
	}
	return string(got)
}

// 50 commands at once on one sandbox, from goroutines, each with its own
// output intact.
func TestFiftyConcurrentExecs(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := sb.Shell(ctx, fmt.Sprintf("i=0; while [ $i -lt 200 ]; do echo %d-$i; i=$((i+1)); done; exit %d", i, i%7))
			if err != nil {
				errs <- fmt.Errorf("exec %d: %w", i, err)
				return
			}
			var want strings.Builder
			for j := range 200 {
				fmt.Fprintf(&want, "%d-%d\n", i, j)
			}
			if string(res.Stdout) != want.String() || res.ExitCode != i%7 {
				errs <- fmt.Errorf("exec %d: exit %d, %d bytes of output", i, res.ExitCode, len(res.Stdout))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExecBadInput(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	if _, err := sb.Exec(ctx, ""); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("empty command: %v", err)
	}
	if _, err := sb.Exec(ctx, `echo "unterminated`); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("bad quoting: %v", err)
	}
	// A NUL byte would cut the argument short in C: refused instead.
	_, err := sb.ExecArgs(ctx, []string{"echo", "a\x00b"})
	if !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("NUL byte: %v", err)
	}
	contains(t, "NUL message", err.Error(), "NUL")
	_, err = sb.Exec(ctx, "id", msb.User("nosuchuser"))
	if !errors.Is(err, msb.ErrExecFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	contains(t, "unknown user message", err.Error(), "nosuchuser")
	_, err = sb.Exec(ctx, "true", msb.Env("", "x"))
	if !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("bad env: %v", err)
	}
}

// A detached command (msb exec -d) runs on after the call returns, with
// the pid returned, its options (Env, Workdir) applied, its output and
// its exit status in the sandbox's log; Timeout kills it; options that
// need a caller attached are refused.
func TestExecDetached(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	mark := unique("godetach")
	defer sb.Shell(context.Background(), "rm -f /tmp/"+mark+".*")
	until := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(time.Minute); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	script := "echo $$ > " + mark + ".pid; while [ ! -e " + mark + ".go ]; do sleep 0.1; done; " +
		"echo detached-$MARK; touch " + mark + ".done; exit 3"
	pid, err := sb.ExecDetached(ctx, []string{"sh", "-c", script},
		msb.Env("MARK", mark), msb.Workdir("/tmp"))
	if err != nil || pid <= 1 {
		t.Fatalf("exec detached: pid %d, %v", pid, err)
	}
	var got string
	until("its pid file", func() bool {
		res, err := sb.Exec(ctx, "cat /tmp/"+mark+".pid")
		got = strings.TrimSpace(string(res.Stdout))
		return err == nil && got != ""
	})
	if got != fmt.Sprint(pid) {
		t.Fatalf("the command's pid is %s, ExecDetached said %d", got, pid)
	}
	// Still running once the call has returned, waiting for its go.
	if res, err := sb.Exec(ctx, fmt.Sprintf("kill -0 %d", pid)); err != nil || res.ExitCode != 0 {
		t.Fatalf("kill -0 %d: %+v %v", pid, res, err)
	}
	if res, _ := sb.Exec(ctx, "test -e /tmp/"+mark+".done"); res.ExitCode == 0 {
		t.Fatal("done before it was told to go")
	}
	if _, err := sb.Exec(ctx, "touch /tmp/"+mark+".go"); err != nil {
		t.Fatal(err)
	}
	until("its done file", func() bool {
		res, err := sb.Exec(ctx, "test -e /tmp/"+mark+".done")
		return err == nil && res.ExitCode == 0
	})
	path, err := sb.LogPath()
	if err != nil {
		t.Fatal(err)
	}
	ended := fmt.Sprintf("detached command (pid %d) exited with status 3", pid)
	var logText string
	until("its end in the log", func() bool {
		b, _ := os.ReadFile(path)
		logText = string(b)
		return strings.Contains(logText, ended)
	})
	contains(t, "the sandbox's log", logText, "detached-"+mark)

	// Timeout kills it, on the host's clock.
	pid, err = sb.ExecDetached(ctx, []string{"sleep", "700"}, msb.Timeout(time.Second))
	if err != nil || pid <= 1 {
		t.Fatalf("exec detached with a timeout: pid %d, %v", pid, err)
	}
	until("the timeout's kill", func() bool {
		res, err := sb.Exec(ctx, fmt.Sprintf("kill -0 %d", pid))
		return err == nil && res.ExitCode != 0
	})

	// Refused: what needs a caller attached, no command, a NUL byte.
	for _, o := range []struct {
		opt  msb.ExecOption
		name string
	}{{msb.Interactive(), "msb.Interactive"}, {msb.TTY(0, 0), "msb.TTY"},
		{msb.Stdin(strings.NewReader("x")), "msb.Stdin"}, {msb.Stdout(io.Discard), "msb.Stdout"},
		{msb.Stderr(io.Discard), "msb.Stderr"}, {msb.Check(), "msb.Check"}} {
		_, err := sb.ExecDetached(ctx, []string{"true"}, o.opt)
		if !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("%s: %v", o.name, err)
		}
		contains(t, o.name, err.Error(), o.name)
	}
	if _, err := sb.ExecDetached(ctx, nil); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("no command: %v", err)
	}
	if _, err := sb.ExecDetached(ctx, []string{"echo", "a\x00b"}); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("NUL byte: %v", err)
	}
	_, err = sb.ExecDetached(ctx, []string{"id"}, msb.User("nosuchuser"))
	if !errors.Is(err, msb.ErrExecFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	contains(t, "unknown user message", err.Error(), "nosuchuser")
	other, err := msb.GetSandbox(ctx, sb.Name())
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := other.ExecDetached(ctx, []string{"true"}); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("on a closed handle: %v", err)
	}
}

// The supervisor tells a running command when its sandbox pauses on a
// full host disk and when it runs again (docs/api-protocol.md §11.4):
// Paused is its words while paused, "" after.
func TestProcessPausedWhileTheHostDiskIsFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs for $MSB_HOME needs root")
	}
	dir, err := os.MkdirTemp("", "msb-gopause-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	fill := filepath.Join(dir, "fill")
	t.Cleanup(func() {
		os.Remove(fill)
		exec.Command("umount", "-l", dir).Run()
		os.RemoveAll(dir)
	})
	t.Setenv("MSB_HOME", filepath.Join(dir, "home"))
	ctx := testCtx(t)
	name := fmt.Sprintf("gopause-%d", os.Getpid())
	sb, err := msb.NewSandbox(name)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Remove(context.Background())
	p, err := sb.Stream(ctx, []string{"sh", "-c", "echo ready; read x; " +
		"dd if=/dev/urandom of=/big bs=1M count=24 conv=fsync 2>/dev/null && echo wrote; read x"},
		msb.Interactive())
	if err != nil {
		t.Fatal(err)
	}
	out := p.Stdout()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q %v", buf, err)
	}
	if p.Paused() != "" {
		t.Fatalf("paused before the disk is full: %q", p.Paused())
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(time.Minute); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("never: %s", what)
			}
		}
	}
	f, err := os.Create(fill) // the host disk, full
	if err != nil {
		t.Fatal(err)
	}
	mib := make([]byte, 1<<20)
	for {
		if _, err = f.Write(mib); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling: %v", err)
	}
	if _, err := p.Stdin().Write([]byte("go\n")); err != nil { // the guest writes: QEMU pauses it
		t.Fatal(err)
	}
	until("paused", func() bool { return p.Paused() != "" })
	if want := "sandbox " + name + " is paused: the host disk under "; !strings.Contains(p.Paused(), want) {
		t.Fatalf("paused: %q, want it to say %q", p.Paused(), want)
	}
	os.Remove(fill)
	// (Said 2 s after the guest runs on: the command waits for it.)
	until("resumed", func() bool { return p.Paused() == "" })
	if _, err := p.Stdin().Write([]byte("end\n")); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(out)
	if err != nil || string(rest) != "wrote\n" {
		t.Fatalf("read %q %v", rest, err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("wait: %+v %v", res, err)
	}
}
