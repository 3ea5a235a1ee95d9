// SPDX-License-Identifier: Apache-2.0

package guest_test

// The runtime as code inside a sandbox uses it (docs/spawn.md), against a
// stand-in for the agent's socket that speaks its frames
// (docs/agent-protocol.md §7c): the requests written and how the answers
// are read. tests/e2e/test_spawn.py runs examples/peers, built on this
// package, through a real agent in a real guest.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microsandbox/microsandbox/sdk/go/guest"
)

func frame(kind byte, p []byte) []byte {
	b := make([]byte, 12+len(p))
	binary.BigEndian.PutUint32(b, uint32(len(p)))
	b[8] = kind
	copy(b[12:], p)
	return b
}

func result(errno uint32, msg string) []byte {
	p := []byte{31, 0, 0, 0, 4, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(p[5:], errno)
	if msg != "" {
		m := []byte{32, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(m[1:], uint32(len(msg)))
		p = append(append(p, m...), msg...)
	}
	return frame(73, p)
}

func exitFrame(code, sig uint32) []byte {
	p := make([]byte, 8)
	binary.BigEndian.PutUint32(p, code)
	binary.BigEndian.PutUint32(p[4:], sig)
	return frame(69, p)
}

func readFrame(r io.Reader) (kind byte, p []byte, err error) {
	var h [12]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[4]|h[5]|h[6]|h[7] != 0 {
		return 0, nil, errors.New("a frame on a stream other than 0")
	}
	p = make([]byte, binary.BigEndian.Uint32(h[:4]))
	_, err = io.ReadFull(r, p)
	return h[8], p, err
}

// agent answers each connection's one PEER with answer(request, conn).
type agent struct {
	t        *testing.T
	mu       sync.Mutex
	requests []string // as sent
	ended    chan string
}

func newAgent(t *testing.T, answer func(req map[string]any, c net.Conn)) *agent {
	a := &agent{t: t, ended: make(chan string, 16)}
	old := guest.AgentSocket
	guest.AgentSocket = filepath.Join(t.TempDir(), "agent.sock")
	t.Cleanup(func() { guest.AgentSocket = old })
	l, err := net.Listen("unix", guest.AgentSocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				kind, p, err := readFrame(c)
				if err != nil || kind != 76 {
					a.t.Errorf("the first frame: %d %v", kind, err)
					return
				}
				var req map[string]any
				if err := json.Unmarshal(p, &req); err != nil {
					a.t.Errorf("the request %q: %v", p, err)
					return
				}
				a.mu.Lock()
				a.requests = append(a.requests, string(p))
				a.mu.Unlock()
				answer(req, c)
			}()
		}
	}()
	return a
}

func (a *agent) sent() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func standIn(req map[string]any, c net.Conn) {
	switch req["op"] {
	case "exec":
		c.Write(append(append(frame(67, []byte("out\n")), frame(68, []byte("err\n"))...),
			exitFrame(3, 0)...))
	case "ps":
		c.Write(append(frame(67, []byte(`[{"name":"coder","image":"default",`+
			`"status":"running","cpus":1,"memory_mib":256}]`)), result(0, "")...))
	case "logs":
		c.Write(append(frame(67, []byte("booting coder\n")), result(0, "")...))
	default:
		if req["name"] == "third" {
			c.Write(result(1, "this sandbox's tree already has 2 live peers"))
			return
		}
		if req["name"] == "nope" {
			c.Write(result(22, "a bad request"))
			return
		}
		c.Write(append(frame(67, []byte(req["name"].(string)+"\n")), result(0, "")...))
	}
}

func TestRequestsAndAnswers(t *testing.T) {
	a := newAgent(t, standIn)
	ctx := ctx(t)
	rt, err := guest.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	coder, err := rt.Start("coder", guest.Image("node:20"), guest.MemoryMiB(256),
		guest.Env("A", "1"), guest.Network(guest.DenyAll()),
		guest.SecretEnv("K", "msb_placeholder_ab", "api.test", "x.test"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := coder.Shell(ctx, "exit 3", guest.Env("B", "2"), guest.Workdir("/tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 3 || string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" || r.Success() {
		t.Fatalf("exec: %+v", r)
	}
	if _, err := coder.Shell(ctx, "exit 3", guest.Check()); !errors.Is(err, guest.ErrNonZeroExit) {
		t.Fatalf("exec with Check: %v", err)
	}
	peers, err := rt.List(ctx)
	if err != nil || !reflect.DeepEqual(peers, []guest.PeerInfo{{Name: "coder",
		Image: "default", Status: "running", CPUs: 1, MemoryMiB: 256}}) {
		t.Fatalf("list: %+v %v", peers, err)
	}
	_, err = rt.Start("third", guest.Network(guest.DenyAll(), guest.Allow("api.test")))
	var e *guest.Error
	if !errors.Is(err, guest.ErrPolicyRefused) || !errors.As(err, &e) ||
		!strings.Contains(e.Message, "already has 2 live peers") {
		t.Fatalf("a refusal: %v", err)
	}
	if _, err := rt.Start("nope"); !errors.Is(err, guest.ErrInvalid) {
		t.Fatalf("a bad request: %v", err)
	}
	if err := coder.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if logs, err := rt.Peer("coder").Logs(ctx); err != nil || logs != "booting coder\n" {
		t.Fatalf("logs: %q %v", logs, err)
	}
	if err := rt.Peer("coder").Remove(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"op":"start","name":"coder","image":"node:20","memory":"256M","net_deny_all":true,` +
			`"env":["A=1"],"secrets":[{"env":"K","placeholder":"msb_placeholder_ab",` +
			`"hosts":"api.test,x.test"}]}`,
		`{"op":"exec","name":"coder","argv":["sh","-c","exit 3"],"env":["B=2"],"workdir":"/tmp"}`,
		`{"op":"exec","name":"coder","argv":["sh","-c","exit 3"]}`,
		`{"op":"ps","json":true}`,
		// deny-all with names is: only those names
		`{"op":"start","name":"third","net_allow":["api.test"]}`,
		`{"op":"start","name":"nope"}`,
		`{"op":"stop","name":"coder"}`,
		`{"op":"logs","name":"coder"}`,
		`{"op":"rm","name":"coder"}`,
	}
	if got := a.sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOutputIsTakenWithinItsCredit: the stand-in sends no more than the
// credit it was given (256 KiB, then what comes back), as the host does;
// 1 MiB gets through only if the runtime gives credit back as it takes
// the output, here through a writer.
func TestOutputIsTakenWithinItsCredit(t *testing.T) {
	const total = 1 << 20
	var mu sync.Mutex
	granted := 0
	newAgent(t, func(req map[string]any, c net.Conn) {
		credit, sent := 256*1024, 0
		chunk := bytes.Repeat([]byte("x"), 65536)
		for sent < total {
			if credit < len(chunk) {
				kind, p, err := readFrame(c)
				if err != nil || kind != 7 || len(p) != 4 {
					t.Errorf("waiting for credit: %d %v", kind, err)
					return
				}
				n := int(binary.BigEndian.Uint32(p))
				credit += n
				mu.Lock()
				granted += n
				mu.Unlock()
				continue
			}
			c.Write(frame(67, chunk))
			credit -= len(chunk)
			sent += len(chunk)
		}
		c.Write(exitFrame(0, 0))
	})
	ctx := ctx(t)
	rt, err := guest.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out countWriter
	r, err := rt.Peer("big").ExecArgs(ctx, []string{"cat"}, guest.Stdout(&out))
	if err != nil {
		t.Fatal(err)
	}
	if out.n != total || r.Stdout != nil || r.ExitCode != 0 {
		t.Fatalf("%d bytes of %d, result %+v", out.n, total, r)
	}
	mu.Lock()
	given := granted
	mu.Unlock()
	if given < total-256*1024 {
		t.Fatalf("credit given back: %d", given)
	}
	// and collected in the result
	r, err = rt.Peer("big").ExecArgs(ctx, []string{"cat"})
	if err != nil || len(r.Stdout) != total {
		t.Fatalf("collected: %v", err)
	}
}

type countWriter struct{ n int }

func (w *countWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// TestCancelEndsTheRequest: a cancelled context closes the connection,
// which the agent passes on to the host as the request's end.
func TestCancelEndsTheRequest(t *testing.T) {
	closed := make(chan struct{})
	newAgent(t, func(req map[string]any, c net.Conn) {
		c.Write(frame(67, []byte("started\n")))
		var b [1]byte
		c.Read(b[:]) // EOF once the runtime lets go
		close(closed)
	})
	rt, err := guest.CurrentRuntime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		b := make([]byte, 8)
		pr.Read(b)
		cancel()
		io.Copy(io.Discard, pr)
	}()
	_, err = rt.Peer("coder").ExecArgs(ctx, []string{"sleep", "1000"}, guest.Stdout(pw))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	<-closed
}

func TestAnAnswerCutShortIsAProtocolError(t *testing.T) {
	newAgent(t, func(req map[string]any, c net.Conn) {
		c.Write(frame(67, []byte("half")))
	})
	rt, _ := guest.CurrentRuntime(context.Background())
	if _, err := rt.Peer("coder").Shell(ctx(t), "true"); !errors.Is(err, guest.ErrProtocol) {
		t.Fatalf("cut short: %v", err)
	}
}

func TestOutsideASandbox(t *testing.T) {
	old := guest.AgentSocket
	guest.AgentSocket = filepath.Join(t.TempDir(), "agent.sock")
	defer func() { guest.AgentSocket = old }()
	rt, err := guest.CurrentRuntime(context.Background())
	if rt != nil || !errors.Is(err, guest.ErrNotSupported) ||
		!strings.Contains(err.Error(), "not inside a microsandbox sandbox") {
		t.Fatalf("outside: %v", err)
	}
	if _, err := (&guest.Runtime{}).Start("x"); !errors.Is(err, guest.ErrNotSupported) {
		t.Fatalf("a start outside: %v", err)
	}
}

func TestBadInputIsRefusedHere(t *testing.T) {
	a := newAgent(t, standIn)
	rt, _ := guest.CurrentRuntime(context.Background())
	for _, opt := range []guest.Option{guest.CPUs(0), guest.SecretEnv("K", ""),
		guest.SecretFromEnv("K", "MSB_GO_TEST_UNSET")} {
		if _, err := rt.Start("x", opt); !errors.Is(err, guest.ErrInvalid) {
			t.Fatalf("bad option: %v", err)
		}
	}
	if _, err := rt.Peer("x").ExecArgs(context.Background(), nil); !errors.Is(err, guest.ErrInvalid) {
		t.Fatalf("no argv: %v", err)
	}
	if _, err := rt.Start("x", guest.Env("A", strings.Repeat("v", 61*1024))); !errors.Is(err, guest.ErrInvalid) ||
		!strings.Contains(err.Error(), "over 60 KiB") {
		t.Fatalf("too big: %v", err)
	}
	if got := a.sent(); len(got) != 0 {
		t.Fatalf("sent: %v", got)
	}
}
