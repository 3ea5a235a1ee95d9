// SPDX-License-Identifier: Apache-2.0

// Command peers runs inside a sandbox the host lets spawn (msb run
// --allow-spawn 1): it starts a peer beside it, air-gapped, runs commands
// in it (one fed 3 MB on its stdin), shows that the host refuses a
// second, copies a tree into it and back, snapshots it and restores the
// snapshot as a new peer, and removes them. It uses the
// pure-Go package guest, so built with CGO_ENABLED=0 it is one static
// file that needs nothing in the guest (docs/spawn.md):
//
//	CGO_ENABLED=0 go build -o peers ./examples/peers
//	msb run -d --name orch --allow-spawn 1
//	msb cp peers orch:/tmp/peers
//	msb exec orch -- /tmp/peers coder
//
// Each step prints one JSON line; tests/e2e/test_spawn.py runs it so.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/microsandbox/microsandbox/sdk/go/guest"
)

func say(step string, kv ...any) {
	m := map[string]any{"step": step}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

func die(step string, err error) {
	say(step, "error", err.Error())
	os.Exit(1)
}

// slowCounter takes the output slowly at first, as a busy reader would:
// the host waits for its credit meanwhile, nothing is lost.
type slowCounter struct{ n int }

func (w *slowCounter) Write(b []byte) (int, error) {
	if w.n == 0 {
		time.Sleep(2 * time.Second)
	}
	w.n += len(b)
	return len(b), nil
}

func md5hex(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }

// tree is each path below @root: its type and permission bits (octal),
// a symlink's target, a file's MD5.
func tree(root string) []string {
	var out []string
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		what := ""
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			what, _ = os.Readlink(p)
		case syscall.S_IFREG:
			b, _ := os.ReadFile(p)
			what = md5hex(b)
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fmt.Sprintf("%s %o %s", rel, st.Mode, what))
		return nil
	})
	sort.Strings(out)
	return out
}

// pieces gives @b 100000 bytes a Read, as a pipe would.
type pieces struct{ b []byte }

func (r *pieces) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 100000)], r.b)
	r.b = r.b[n:]
	return n, nil
}

func field(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: peers NAME")
		os.Exit(2)
	}
	name := os.Args[1]
	ctx := context.Background()
	rt, err := guest.CurrentRuntime(ctx)
	if err != nil {
		die("runtime", err)
	}
	peer, err := rt.Start(name, guest.Network(guest.DenyAll()), guest.Env("GREETING", "hello"))
	if err != nil {
		die("start", err)
	}
	say("start", "name", peer.Name())

	r, err := peer.Shell(ctx, `echo "$GREETING from $(hostname)"; echo to-stderr >&2; exit 3`)
	if err != nil {
		die("exec", err)
	}
	say("exec", "code", r.ExitCode, "stdout", string(r.Stdout), "stderr", string(r.Stderr))

	var big slowCounter
	r, err = peer.ExecArgs(ctx, []string{"head", "-c", "3000000", "/dev/zero"}, guest.Stdout(&big))
	if err != nil {
		die("big", err)
	}
	say("big", "bytes", big.n, "code", r.ExitCode)

	peers, err := rt.List(ctx)
	if err != nil {
		die("list", err)
	}
	say("list", "peers", peers)

	extra, err := rt.Start(name + "-2")
	switch {
	case errors.Is(err, guest.ErrPolicyRefused):
		say("refused", "message", err.Error())
	case err != nil:
		die("refused", err)
	default:
		extra.Remove(ctx)
		die("refused", errors.New("a second peer was allowed"))
	}

	logs, err := peer.Logs(ctx)
	if err != nil {
		die("logs", err)
	}
	say("logs", "booting", strings.Contains(logs, "booting "+name))

	// stdin: more than the window the host gives at once, given back as
	// the peer takes it; the peer reads it only after a while
	data := make([]byte, 3000000)
	rand.Read(data)
	r1, err := peer.Shell(ctx, "sleep 2; md5sum", guest.Stdin(bytes.NewReader(data)))
	if err != nil {
		die("stdin", err)
	}
	r2, err := peer.ExecArgs(ctx, []string{"md5sum"}, guest.Stdin(&pieces{data}))
	if err != nil {
		die("stdin", err)
	}
	r3, err := peer.ExecArgs(ctx, []string{"cat"}, guest.Stdin(strings.NewReader("hi\n")))
	if err != nil {
		die("stdin", err)
	}
	r4, err := peer.ExecArgs(ctx, []string{"wc", "-c"}, guest.Stdin(strings.NewReader("")))
	if err != nil {
		die("stdin", err)
	}
	say("stdin", "want", md5hex(data), "sums", []string{field(string(r1.Stdout)),
		field(string(r2.Stdout))}, "cat", string(r3.Stdout),
		"empty", strings.TrimSpace(string(r4.Stdout)))

	// a terminal of the size asked for: the command's output is the
	// terminal's, lines ending in "\r\n"
	r, err = peer.Shell(ctx, "tty; stty size", guest.TTY(33, 101))
	if err != nil {
		die("tty", err)
	}
	say("tty", "code", r.ExitCode, "stdout", string(r.Stdout))

	// cp: a tree in, as the peer sees it, and back out
	src := "/tmp/cp-src/t"
	os.RemoveAll("/tmp/cp-src")
	os.RemoveAll("/tmp/cp-back")
	blob := make([]byte, 1500000)
	rand.Read(blob)
	for _, err := range []error{
		os.MkdirAll(src+"/sub", 0o755),
		os.WriteFile(src+"/a", []byte("one\n"), 0o644),
		os.WriteFile(src+"/sub/big", blob, 0o644),
		os.Chmod(src+"/a", 0o640),
		os.Chmod(src+"/sub", 0o750),
		os.Symlink("a", src+"/link"),
	} {
		if err != nil {
			die("cp", err)
		}
	}
	if err := peer.CopyIn(ctx, src, "/tmp/"); err != nil {
		die("cp", err)
	}
	there, err := peer.Shell(ctx, "cd /tmp/t && md5sum a sub/big && readlink link && "+
		"stat -c '%a %n' a sub")
	if err != nil {
		die("cp", err)
	}
	if err := peer.CopyOut(ctx, "/tmp/t", "/tmp/cp-back"); err != nil {
		die("cp", err)
	}
	here := fmt.Sprintf("%s  a\n%s  sub/big\na\n640 a\n750 sub\n", md5hex([]byte("one\n")),
		md5hex(blob))
	back := tree("/tmp/cp-back")
	shown := []string{}
	for _, l := range back {
		if !strings.HasPrefix(l, "sub/big") {
			shown = append(shown, l)
		}
	}
	say("cp", "peer_sees_it", string(there.Stdout) == here,
		"back_same", reflect.DeepEqual(tree(src), back), "back", shown)

	// snapshot, and a new peer from it (the first stopped: one live peer)
	if _, err := peer.Shell(ctx, "echo kept > /tmp/mark", guest.Check()); err != nil {
		die("snapshot", err)
	}
	snap, err := peer.Snapshot(ctx, name+"-snap")
	if err != nil {
		die("snapshot", err)
	}
	snaps, err := rt.Snapshots(ctx)
	if err != nil {
		die("snapshot", err)
	}
	listed := [][]string{}
	for _, s := range snaps {
		listed = append(listed, []string{s.Name, s.Source, s.Kind})
	}
	if err := peer.Stop(ctx); err != nil {
		die("snapshot", err)
	}
	again, err := rt.Restore(ctx, snap, name+"-r")
	if err != nil {
		die("snapshot", err)
	}
	r, err = again.Shell(ctx, "hostname; cat /tmp/mark")
	if err != nil {
		die("snapshot", err)
	}
	refused := "a second restore was allowed"
	if _, err := rt.Restore(ctx, snap, name+"-x"); errors.Is(err, guest.ErrPolicyRefused) {
		refused = err.Error()
	} else if err != nil {
		die("snapshot", err)
	}
	busy := "the snapshot of a live peer was removed"
	if err := rt.RemoveSnapshot(ctx, snap); errors.Is(err, guest.ErrBusy) {
		busy = err.Error()
	} else if err != nil {
		die("snapshot", err)
	}
	if err := again.Remove(ctx); err != nil {
		die("snapshot", err)
	}
	if err := rt.RemoveSnapshot(ctx, snap); err != nil {
		die("snapshot", err)
	}
	if snaps, err = rt.Snapshots(ctx); err != nil {
		die("snapshot", err)
	}
	left := []string{}
	for _, s := range snaps {
		left = append(left, s.Name)
	}
	say("snapshot", "name", snap, "listed", listed, "restored", string(r.Stdout),
		"refused", refused, "busy", busy, "left", left)

	if err := peer.Remove(ctx); err != nil {
		die("remove", err)
	}
	if peers, err = rt.List(ctx); err != nil {
		die("list", err)
	}
	say("removed", "peers", peers)
}
