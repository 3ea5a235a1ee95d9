// SPDX-License-Identifier: Apache-2.0

package guest_test

// A peer's stdin, copies and snapshots (docs/agent-protocol.md §7c)
// against a stand-in agent that answers as the host does: each request's
// bytes, the input sent within its window, the copy's archive written and
// read from the protocol's table, and the host's refusals as this
// package's errors.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/microsandbox/microsandbox/sdk/go/guest"
)

const (
	ePERM  = 1
	eNOENT = 2
	eBUSY  = 16
	eEXIST = 17
)

// peerAgent is the host's side of the stand-in. A request that takes
// input (an exec with "stdin", a cp_in) has it read first to its end
// (the empty STDIN), into inputs (nil: the connection closed before it):
// credit is given back only once the program has used all of
// MSB_PEER_STDIN_WINDOW, 1000 bytes then 64 KiB in turn, so a program
// that sends past its credit shows in over. A cp_out's archive is
// archive, sent in frames of cut bytes.
type peerAgent struct {
	*agent
	mu          sync.Mutex
	inputs      [][]byte
	inputFrames []int
	over        []int
	served      int
	archive     []byte
	cut         int
}

func newPeerAgent(t *testing.T) *peerAgent {
	pa := &peerAgent{archive: rec('E', 0, "", ""), cut: 7}
	pa.agent = newAgent(t, func(req map[string]any, c net.Conn) {
		defer func() {
			pa.mu.Lock()
			pa.served++
			pa.mu.Unlock()
		}()
		var got []byte
		if req["stdin"] == true || req["op"] == "cp_in" {
			if got = pa.takeInput(t, c); got == nil {
				return
			}
		}
		c.Write(pa.answer(req, got))
	})
	return pa
}

func (pa *peerAgent) takeInput(t *testing.T, c net.Conn) []byte {
	data, owed, grants := []byte{}, 0, []int{1000, 65536}
	for {
		kind, p, err := readFrame(c)
		if err != nil {
			pa.mu.Lock()
			pa.inputs = append(pa.inputs, nil)
			pa.mu.Unlock()
			return nil
		}
		if kind != 3 {
			t.Errorf("a frame of type %d amid the input", kind)
		}
		pa.mu.Lock()
		pa.inputFrames = append(pa.inputFrames, len(p))
		pa.mu.Unlock()
		if len(p) == 0 {
			pa.mu.Lock()
			pa.inputs = append(pa.inputs, data)
			pa.mu.Unlock()
			return data
		}
		data = append(data, p...)
		owed += len(p)
		if owed > 128*1024 {
			pa.mu.Lock()
			pa.over = append(pa.over, owed)
			pa.mu.Unlock()
		}
		if owed == 128*1024 {
			owed -= grants[0]
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(grants[0]))
			c.Write(frame(7, b[:]))
			grants[0], grants[1] = grants[1], grants[0]
		}
	}
}

func (pa *peerAgent) answer(req map[string]any, got []byte) []byte {
	name, _ := req["name"].(string)
	snap, _ := req["snapshot"].(string)
	switch req["op"] {
	case "exec":
		return append(frame(67, fmt.Appendf(nil, "%d %x\n", len(got), md5.Sum(got))),
			exitFrame(0, 0)...)
	case "snapshot":
		if name != "coder" {
			return result(ePERM, "'"+name+"' is not a peer of this sandbox: a sandbox acts "+
				"only on the peers it started (msb ps lists them)")
		}
		if snap == "taken" {
			return result(eEXIST, "snapshot 'taken' exists")
		}
		return append(frame(67, []byte(snap+" (full)\n")), result(0, "")...)
	case "snapshot_ls":
		return append(frame(67, []byte(`[{"name":"s1","source":"coder","kind":"full",`+
			`"size_bytes":12345}]`+"\n")), result(0, "")...)
	case "snapshot_rm":
		if snap == "base" {
			return result(eBUSY, "snapshot 'base' is the base of peers restored from it: "+
				"remove them first (msb rm NAME)")
		}
		return result(0, "")
	case "restore":
		if name == "third" {
			return result(ePERM, "this sandbox's tree already has 1 live peers")
		}
		return append(frame(67, []byte(name+"\n")), result(0, "")...)
	case "cp_in":
		return result(0, "")
	case "cp_out":
		if req["path"] == "/nope" {
			return result(eNOENT, "/nope: No such file or directory")
		}
		pa.mu.Lock()
		b, cut := pa.archive, pa.cut
		pa.mu.Unlock()
		var out []byte
		for i := 0; i < len(b); i += cut {
			out = append(out, frame(67, b[i:min(i+cut, len(b))])...)
		}
		return append(out, result(0, "")...)
	}
	return result(22, "unexpected")
}

// wait waits until @n connections were served to their end.
func (pa *peerAgent) wait(t *testing.T, n int) {
	for i := 0; i < 3000; i++ {
		pa.mu.Lock()
		s := pa.served
		pa.mu.Unlock()
		if s >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the stand-in served fewer than %d connections", n)
}

// rec is one record of a copy's archive (MSB_PCP_*), written from the
// protocol's table.
func rec(kind byte, mode uint32, name, link string) []byte {
	b := []byte{kind}
	b = binary.BigEndian.AppendUint32(b, mode)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	if kind == 'L' {
		b = binary.BigEndian.AppendUint16(b, uint16(len(link)))
		b = append(b, link...)
	}
	return b
}

// data is a file's bytes in chunks of 64 KiB, then the chunk 0.
func data(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i += 65536 {
		c := b[i:min(i+65536, len(b))]
		out = binary.BigEndian.AppendUint32(out, uint32(len(c)))
		out = append(out, c...)
	}
	return binary.BigEndian.AppendUint32(out, 0)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestSnapshotRequestsAndAnswers(t *testing.T) {
	a := newPeerAgent(t)
	ctx := ctx(t)
	rt, err := guest.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := rt.Peer("coder").Snapshot(ctx, "s1"); err != nil || s != "s1" {
		t.Fatalf("snapshot: %q %v", s, err)
	}
	snaps, err := rt.Snapshots(ctx)
	if err != nil || !reflect.DeepEqual(snaps, []guest.PeerSnapshotInfo{{Name: "s1",
		Source: "coder", Kind: "full", SizeBytes: 12345}}) {
		t.Fatalf("snapshots: %+v %v", snaps, err)
	}
	p, err := rt.Restore(ctx, snaps[0].Name, "coder2")
	if err != nil || p.Name() != "coder2" {
		t.Fatalf("restore: %v %v", p, err)
	}
	if err := rt.RemoveSnapshot(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	// the host's refusals, as this package's errors with its message
	for _, c := range []struct {
		err  error
		is   error
		what string
	}{
		{second(rt.Peer("other").Snapshot(ctx, "s2")), guest.ErrPolicyRefused,
			"'other' is not a peer of this sandbox"},
		{second(rt.Peer("coder").Snapshot(ctx, "taken")), guest.ErrAlreadyExists,
			"snapshot 'taken' exists"},
		{second(rt.Restore(ctx, "s1", "third")), guest.ErrPolicyRefused, "already has 1 live peers"},
		{rt.RemoveSnapshot(ctx, "base"), guest.ErrBusy, "remove them first"},
	} {
		var e *guest.Error
		if !errors.Is(c.err, c.is) || !errors.As(c.err, &e) || !strings.Contains(e.Message, c.what) {
			t.Errorf("%v: want %v saying %q", c.err, c.is, c.what)
		}
	}
	if err := rt.RemoveSnapshot(ctx, "base"); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("the errno: %v", err)
	}
	want := []string{
		`{"op":"snapshot","name":"coder","snapshot":"s1"}`,
		`{"op":"snapshot_ls","json":true}`,
		`{"op":"restore","snapshot":"s1","name":"coder2"}`,
		`{"op":"snapshot_rm","snapshot":"s1"}`,
	}
	if got := a.sent()[:4]; !reflect.DeepEqual(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func second[T any](_ T, err error) error { return err }

// pieces reads @b in pieces of @n bytes, as a pipe would give them.
type pieces struct {
	b []byte
	n int
}

func (r *pieces) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestExecSendsStdinWithinItsWindow(t *testing.T) {
	a := newPeerAgent(t)
	ctx := ctx(t)
	big := make([]byte, 300000)
	rand.Read(big)
	p := (&guest.Runtime{}).Peer("coder")
	sum := fmt.Sprintf("300000 %x\n", md5.Sum(big))
	r, err := p.ExecArgs(ctx, []string{"cat"}, guest.Stdin(bytes.NewReader(big)))
	if err != nil || string(r.Stdout) != sum {
		t.Fatalf("bytes: %q %v", r.Stdout, err)
	}
	r, err = p.ExecArgs(ctx, []string{"wc", "-c"}, guest.Stdin(&pieces{big, 70000}))
	if err != nil || string(r.Stdout) != sum {
		t.Fatalf("pieces: %q %v", r.Stdout, err)
	}
	r, err = p.Shell(ctx, "cat", guest.Stdin(strings.NewReader("hi\n")))
	if err != nil || string(r.Stdout) != fmt.Sprintf("3 %x\n", md5.Sum([]byte("hi\n"))) {
		t.Fatalf("a string: %q %v", r.Stdout, err)
	}
	// an empty input: the command reads its end at once
	r, err = p.ExecArgs(ctx, []string{"cat"}, guest.Stdin(strings.NewReader("")))
	if err != nil || !strings.HasPrefix(string(r.Stdout), "0 ") {
		t.Fatalf("empty: %q %v", r.Stdout, err)
	}
	if got := a.sent()[0]; got != `{"op":"exec","name":"coder","argv":["cat"],"stdin":true}` {
		t.Fatalf("request: %s", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !reflect.DeepEqual(a.inputs, [][]byte{big, big, []byte("hi\n"), {}}) {
		t.Fatalf("inputs: %d", len(a.inputs))
	}
	// never past the credit, which it waited for (MSB_PEER_STDIN_WINDOW,
	// then 1000 bytes: a frame of that size)
	if len(a.over) != 0 {
		t.Fatalf("sent past the window: %v", a.over)
	}
	has1000, most := false, 0
	for _, n := range a.inputFrames {
		has1000 = has1000 || n == 1000
		most = max(most, n)
	}
	if !has1000 || most > 65536 {
		t.Fatalf("frames: 1000 among them %v, the largest %d", has1000, most)
	}
}

func TestExecWithATerminal(t *testing.T) {
	a := newPeerAgent(t)
	ctx := ctx(t)
	p := (&guest.Runtime{}).Peer("coder")
	if _, err := p.ExecArgs(ctx, []string{"sh"}, guest.TTY(0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ExecArgs(ctx, []string{"sh"}, guest.TTY(33, 101),
		guest.Stdin(strings.NewReader("stty size\n"))); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]uint{{65536, 80}, {24, 65536}} {
		_, err := p.ExecArgs(ctx, []string{"sh"}, guest.TTY(bad[0], bad[1]))
		var ge *guest.Error
		if !errors.As(err, &ge) || ge.Code != guest.CodeInvalid ||
			!strings.Contains(err.Error(), "at most 65535 each") {
			t.Fatalf("%v: %v", bad, err)
		}
	}
	// a bad size is refused here: nothing more went to the host
	want := []string{
		`{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":24,"cols":80}`,
		`{"op":"exec","name":"coder","argv":["sh"],"stdin":true,"tty":true,"rows":33,"cols":101}`,
	}
	if got := a.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests: %q", got)
	}
}

type failing struct{ sent bool }

var errInputWent = errors.New("the input went")

func (r *failing) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "part"), nil
	}
	return 0, errInputWent
}

func TestAnInputThatFailsEndsTheRequest(t *testing.T) {
	a := newPeerAgent(t)
	p := (&guest.Runtime{}).Peer("coder")
	_, err := p.ExecArgs(ctx(t), []string{"cat"}, guest.Stdin(&failing{}))
	if !errors.Is(err, errInputWent) || !strings.Contains(err.Error(), "exec in peer coder") {
		t.Fatalf("a failing input: %v", err)
	}
	// the connection closed without the input's end: the host cancels
	a.wait(t, 1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.inputs) != 1 || a.inputs[0] != nil {
		t.Fatalf("inputs: %q", a.inputs)
	}
}

var big = bytes.Repeat(func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}(), 600) // 153600 bytes: three chunks

// tree is t as the archive holds it: names sorted, a directory before
// what is in it.
var tree = cat(rec('D', 0o755, "t", ""), rec('F', 0o640, "a", ""), data([]byte("one\n")),
	rec('L', 0o777, "link", "a"), rec('D', 0o750, "sub", ""), rec('F', 0o644, "sub/big", ""),
	data(big), rec('E', 0, "", ""))

func makeTree(t *testing.T, root string, fifo bool) {
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "t", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "t", "a"), []byte("one\n"), 0o600))
	must(os.WriteFile(filepath.Join(root, "t", "sub", "big"), big, 0o600))
	must(os.Chmod(filepath.Join(root, "t", "a"), 0o640))
	must(os.Chmod(filepath.Join(root, "t", "sub", "big"), 0o644))
	must(os.Chmod(filepath.Join(root, "t", "sub"), 0o750))
	must(os.Chmod(filepath.Join(root, "t"), 0o755))
	must(os.Symlink("a", filepath.Join(root, "t", "link")))
	if fifo {
		must(syscall.Mkfifo(filepath.Join(root, "t", "fifo"), 0o644)) // not copied
	}
}

func TestCopyInSendsTheArchive(t *testing.T) {
	a := newPeerAgent(t)
	ctx := ctx(t)
	dir := t.TempDir()
	makeTree(t, dir, true)
	p := (&guest.Runtime{}).Peer("coder")
	if err := p.CopyIn(ctx, filepath.Join(dir, "t"), "/tmp/", guest.User("1000")); err != nil {
		t.Fatal(err)
	}
	if err := p.CopyIn(ctx, filepath.Join(dir, "t", "a"), "/tmp/x"); err != nil {
		t.Fatal(err)
	}
	if err := p.CopyIn(ctx, dir+"/t/.", "/tmp/y"); err != nil {
		t.Fatal(err)
	}
	err := p.CopyIn(ctx, filepath.Join(dir, "nope"), "/tmp/")
	if !errors.Is(err, guest.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) ||
		!strings.Contains(err.Error(), "cannot copy "+dir+"/nope") {
		t.Fatalf("a missing source: %v", err)
	}
	want := []string{
		`{"op":"cp_in","name":"coder","path":"/tmp/","user":"1000"}`,
		`{"op":"cp_in","name":"coder","path":"/tmp/x"}`,
		`{"op":"cp_in","name":"coder","path":"/tmp/y","contents":true}`,
	}
	if got := a.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !bytes.Equal(a.inputs[0], tree) {
		t.Fatalf("the tree's archive:\n%q\nwant:\n%q", a.inputs[0], tree)
	}
	if w := cat(rec('F', 0o640, "a", ""), data([]byte("one\n")), rec('E', 0, "", "")); !bytes.Equal(a.inputs[1], w) {
		t.Fatalf("a file's archive: %q", a.inputs[1])
	}
	if w := cat(rec('D', 0o755, ".", ""), tree[8:]); !bytes.Equal(a.inputs[2], w) {
		t.Fatalf("the contents' archive: %q", a.inputs[2][:64])
	}
	if len(a.over) != 0 {
		t.Fatalf("sent past the window: %v", a.over)
	}
}

// treeOf is each path below @root: its mode, a symlink's target, a
// file's bytes.
func treeOf(t *testing.T, root string) []string {
	var out []string
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		body := ""
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			body, _ = os.Readlink(p)
		case syscall.S_IFREG:
			b, _ := os.ReadFile(p)
			body = fmt.Sprintf("%x", md5.Sum(b))
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fmt.Sprintf("%s %o %s", rel, st.Mode, body))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestCopyOutUnpacksTheArchive(t *testing.T) {
	a := newPeerAgent(t)
	ctx := ctx(t)
	dir := t.TempDir()
	makeTree(t, filepath.Join(dir, "src"), false)
	here := filepath.Join(dir, "here")
	os.Mkdir(here, 0o755)
	a.archive, a.cut = tree, 4099
	p := (&guest.Runtime{}).Peer("coder")
	// into a directory that exists: t below it, as docker cp
	if err := p.CopyOut(ctx, "/tmp/t", here); err != nil {
		t.Fatal(err)
	}
	// to a name that does not exist: the directory as that name
	if err := p.CopyOut(ctx, "/tmp/t", filepath.Join(dir, "fresh")); err != nil {
		t.Fatal(err)
	}
	// one file, in records cut at every byte
	a.mu.Lock()
	a.archive, a.cut = cat(rec('F', 0o600, "a", ""), data([]byte("one\n")), rec('E', 0, "", "")), 1
	a.mu.Unlock()
	if err := p.CopyOut(ctx, "/tmp/t/a", here, guest.User("1000")); err != nil {
		t.Fatal(err)
	}
	err := p.CopyOut(ctx, "/nope", here)
	if !errors.Is(err, guest.ErrNotFound) || !strings.Contains(err.Error(), "/nope: No such file") {
		t.Fatalf("a missing source: %v", err)
	}
	src := treeOf(t, filepath.Join(dir, "src", "t"))
	if got := treeOf(t, filepath.Join(here, "t")); !reflect.DeepEqual(got, src) {
		t.Fatalf("into a directory:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(src, "\n"))
	}
	if got := treeOf(t, filepath.Join(dir, "fresh")); !reflect.DeepEqual(got, src) {
		t.Fatalf("as a new name:\n%s", strings.Join(got, "\n"))
	}
	var st syscall.Stat_t
	if b, _ := os.ReadFile(filepath.Join(here, "a")); string(b) != "one\n" ||
		syscall.Stat(filepath.Join(here, "a"), &st) != nil || st.Mode != 0o100600 {
		t.Fatalf("one file: %q %o", b, st.Mode)
	}
	want := []string{
		`{"op":"cp_out","name":"coder","path":"/tmp/t"}`,
		`{"op":"cp_out","name":"coder","path":"/tmp/t"}`,
		`{"op":"cp_out","name":"coder","path":"/tmp/t/a","user":"1000"}`,
	}
	if got := a.sent()[:3]; !reflect.DeepEqual(got, want) {
		t.Fatalf("requests:\n%s", strings.Join(got, "\n"))
	}
}

func TestCopyOutRefusesWhatWouldLeaveTheDestination(t *testing.T) {
	end := rec('E', 0, "", "")
	for _, c := range []struct {
		name    string
		archive []byte
		is      error
		why     string
	}{
		{"dotdot", cat(rec('D', 0o755, "t", ""), rec('F', 0o644, "../evil", ""), data([]byte("x")), end),
			guest.ErrInvalid, `"../evil" is not a name below`},
		{"absolute", cat(rec('D', 0o755, "t", ""), rec('F', 0o644, "/abs", ""), data([]byte("x")), end),
			guest.ErrInvalid, `"/abs" is not a name below`},
		// a symlink in the copy is not followed to reach what is below it
		{"through-a-symlink", cat(rec('D', 0o755, "t", ""), rec('L', 0o777, "up", ".."),
			rec('F', 0o644, "up/evil", ""), data([]byte("x")), end),
			syscall.ENOTDIR, "cannot reach the directory of"},
		{"truncated", cat(rec('D', 0o755, "t", ""), rec('F', 0o644, "a", ""), data([]byte("x"))),
			guest.ErrProtocol, "the copy ended before its end"},
		{"bad-type", cat([]byte("Z"), make([]byte, 6), end), guest.ErrProtocol, "not an archive"},
		{"a-file-then-more", cat(rec('F', 0o644, "f", ""), data([]byte("x")),
			rec('F', 0o644, "g", ""), data([]byte("y")), end), guest.ErrProtocol, "more after a file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newPeerAgent(t)
			dir := t.TempDir()
			here := filepath.Join(dir, "here")
			os.Mkdir(here, 0o755)
			a.archive = c.archive
			err := (&guest.Runtime{}).Peer("coder").CopyOut(ctx(t), "/tmp/t", here)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("%v: want %v saying %q", err, c.is, c.why)
			}
			for _, p := range []string{filepath.Join(dir, "evil"), filepath.Join(here, "evil"),
				"/abs", filepath.Join(here, "g")} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("%s was made", p)
				}
			}
		})
	}
}

// The answers' JSON is read as the host writes it, a trailing newline
// and all; an answer that is not a list is a protocol error.
func TestSnapshotsOfABadListing(t *testing.T) {
	newAgent(t, func(req map[string]any, c net.Conn) {
		c.Write(append(frame(67, []byte("not json")), result(0, "")...))
	})
	_, err := (&guest.Runtime{}).Snapshots(context.Background())
	var se *json.SyntaxError
	if !errors.Is(err, guest.ErrProtocol) || errors.As(err, &se) ||
		!strings.Contains(err.Error(), "the host's list of snapshots") {
		t.Fatalf("a bad listing: %v", err)
	}
}
