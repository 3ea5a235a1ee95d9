// SPDX-License-Identifier: Apache-2.0

package msb_test

// msb.CurrentRuntime with this package's options, as the seed writes it,
// against a stand-in for the sandbox agent's socket (the guest package's
// tests cover the frames; tests/e2e/test_spawn.py a real guest).

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/guest"
)

func agentFrame(kind byte, p []byte) []byte {
	b := make([]byte, 12+len(p))
	binary.BigEndian.PutUint32(b, uint32(len(p)))
	b[8] = kind
	return append(b[:12], p...)
}

// standInAgent answers each PEER: exec with output and status 3, a start
// of "third" refused as the host refuses one, the rest done; it returns
// the requests as they were sent.
func standInAgent(t *testing.T) func() []string {
	old := guest.AgentSocket
	guest.AgentSocket = filepath.Join(t.TempDir(), "agent.sock")
	t.Cleanup(func() { guest.AgentSocket = old })
	l, err := net.Listen("unix", guest.AgentSocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var reqs []string
	result := func(errno byte, msg string) []byte {
		p := []byte{31, 0, 0, 0, 4, 0, 0, 0, errno, 32, 0, 0, 0, byte(len(msg))}
		return agentFrame(73, append(p, msg...))
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var h [12]byte
			if _, err := io.ReadFull(c, h[:]); err != nil || h[8] != 76 {
				t.Errorf("not a PEER: %v", err)
				c.Close()
				continue
			}
			p := make([]byte, binary.BigEndian.Uint32(h[:4]))
			io.ReadFull(c, p)
			mu.Lock()
			reqs = append(reqs, string(p))
			mu.Unlock()
			switch req := string(p); {
			case strings.Contains(req, `"stdin":true`):
				// the input to its end, given back as it comes, then
				// as the command's output
				var in []byte
				for {
					if _, err := io.ReadFull(c, h[:]); err != nil || h[8] != 3 {
						t.Errorf("not STDIN: %v", err)
						break
					}
					d := make([]byte, binary.BigEndian.Uint32(h[:4]))
					io.ReadFull(c, d)
					if len(d) == 0 {
						break
					}
					in = append(in, d...)
					c.Write(agentFrame(7, binary.BigEndian.AppendUint32(nil, uint32(len(d)))))
				}
				for len(in) > 0 {
					n := min(len(in), 65536)
					c.Write(agentFrame(67, in[:n]))
					in = in[n:]
				}
				c.Write(agentFrame(69, make([]byte, 8)))
			case strings.Contains(req, `"snapshot":"gone"`):
				c.Write(result(2, "no snapshot 'gone'"))
			case strings.Contains(req, `"op":"snapshot_ls"`):
				c.Write(append(agentFrame(67, []byte(`[{"name":"s1","source":"coder",`+
					`"kind":"disk","size_bytes":7}]`)), result(0, "")...))
			case strings.Contains(req, `"op":"exec"`):
				c.Write(append(agentFrame(67, []byte("hi\n")),
					agentFrame(69, []byte{0, 0, 0, 3, 0, 0, 0, 0})...))
			case strings.Contains(req, `"name":"third"`):
				c.Write(result(1, "this sandbox's tree already has 2 live peers"))
			case strings.Contains(req, `"op":"ps"`):
				c.Write(append(agentFrame(67, []byte(`[{"name":"coder","image":"node:20",`+
					`"status":"running","cpus":1,"memory_mib":512}]`)), result(0, "")...))
			default:
				c.Write(result(0, ""))
			}
			c.Close()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reqs...)
	}
}

// seedSpawn is the seed's Go snippet as written (its errors dropped as
// the seed drops them: a nil peer fails the test).
func seedSpawn(ctx context.Context, key string) (*msb.Peer, *msb.Peer) {
	// Running inside a microsandbox
	rt, _ := msb.CurrentRuntime(ctx)

	// Spawn peer sandboxes (isolated, same level)
	researcher, _ := rt.Start("researcher",
		msb.Image("python:3.12"),
		msb.SecretEnv("SERP_KEY", key, "serpapi.com"),
	)

	coder, _ := rt.Start("coder",
		msb.Image("node:20"),
		msb.Network(msb.DenyAll()), // air-gapped
	)
	return researcher, coder
}

func TestRuntimeAsTheSeedWritesIt(t *testing.T) {
	sent := standInAgent(t)
	ctx := testCtx(t)
	researcher, coder := seedSpawn(ctx, "msb_placeholder_k1")
	if researcher == nil || coder == nil || researcher.Name() != "researcher" || coder.Name() != "coder" {
		t.Fatalf("peers %q %q", researcher.Name(), coder.Name())
	}
	r, err := coder.Exec(ctx, "node -e 'console.log(1)'", msb.Env("A", "1"), msb.Workdir("/w"))
	if err != nil || r.ExitCode != 3 || string(r.Stdout) != "hi\n" {
		t.Fatalf("exec: %+v %v", r, err)
	}
	if _, err := coder.Shell(ctx, "exit 3", msb.Check()); !errors.Is(err, msb.ErrNonZeroExit) {
		t.Fatalf("exec with Check: %v", err)
	}
	rt, err := msb.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := rt.List(ctx); err != nil || len(l) != 1 || l[0].MemoryMiB != 512 {
		t.Fatalf("list: %+v %v", l, err)
	}
	_, err = rt.Start("third", msb.MemoryMiB(256), msb.CPUs(1))
	var e *msb.Error
	if !errors.Is(err, msb.ErrPolicyRefused) || !errors.As(err, &e) || e.Name != "MSB_E_POLICY" {
		t.Fatalf("a refusal: %v", err)
	}
	contains(t, "refusal", err.Error(), "already has 2 live peers")
	if err := coder.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Peer("coder").Remove(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"op":"start","name":"researcher","image":"python:3.12","secrets":[{"env":"SERP_KEY",` +
			`"placeholder":"msb_placeholder_k1","hosts":"serpapi.com"}]}`,
		`{"op":"start","name":"coder","image":"node:20","net_deny_all":true}`,
		`{"op":"exec","name":"coder","argv":["node","-e","console.log(1)"],"env":["A=1"],"workdir":"/w"}`,
		`{"op":"exec","name":"coder","argv":["sh","-c","exit 3"]}`,
		`{"op":"ps","json":true}`,
		`{"op":"start","name":"third","cpus":1,"memory":"256M"}`,
		`{"op":"stop","name":"coder"}`,
		`{"op":"rm","name":"coder"}`,
	}
	if got := sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRuntimeRefusesWhatAPeerCannotHave: options a peer does not take
// are refused here, before anything is asked of the host.
func TestRuntimeRefusesWhatAPeerCannotHave(t *testing.T) {
	sent := standInAgent(t)
	ctx := testCtx(t)
	rt, err := msb.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []msb.Option{msb.Ports("8080:80"), msb.Volume("/data", "/tmp"),
		msb.Network(msb.BlockCidr("10.0.0.0/8")), msb.SecretFromFile("K", "/etc/k")} {
		if _, err := rt.Start("x", o); !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("%v", err)
		}
	}
	for _, o := range []msb.ExecOption{msb.Interactive(), msb.User("1000"), msb.Timeout(time.Second)} {
		if _, err := rt.Peer("x").Exec(ctx, "cat", o); !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("%v", err)
		}
	}
	for _, o := range []msb.FileOption{msb.Parents(), msb.CopyProgress(func(msb.CopyEvent) {})} {
		if err := rt.Peer("x").CopyIn(ctx, "/etc/hostname", "/tmp/", o); !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("a copy's option: %v", err)
		}
	}
	if got := sent(); len(got) != 0 {
		t.Fatalf("sent: %v", got)
	}
}

// TestRuntimePeerInputCopiesAndSnapshots: the guest package's stdin,
// copies and snapshots through this package's options and errors.
func TestRuntimePeerInputCopiesAndSnapshots(t *testing.T) {
	sent := standInAgent(t)
	ctx := testCtx(t)
	rt, err := msb.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Repeat("0123456789", 20000)
	r, err := rt.Peer("coder").Exec(ctx, "cat", msb.Stdin(strings.NewReader(in)))
	if err != nil {
		t.Fatalf("stdin: %v", err)
	}
	if string(r.Stdout) != in {
		t.Fatalf("stdin: %d bytes back", len(r.Stdout))
	}
	if _, err := rt.Peer("coder").Exec(ctx, "sh", msb.TTY(33, 101)); err != nil {
		t.Fatalf("a terminal: %v", err)
	}
	if _, err := rt.Peer("coder").Exec(ctx, "sh", msb.TTY(0, 0)); err != nil {
		t.Fatalf("a terminal of the default size: %v", err)
	}
	if s, err := rt.Peer("coder").Snapshot(ctx, "s1"); err != nil || s != "s1" {
		t.Fatalf("snapshot: %v", err)
	}
	if l, err := rt.Snapshots(ctx); err != nil || !reflect.DeepEqual(l, []msb.PeerSnapshotInfo{{
		Name: "s1", Source: "coder", Kind: "disk", SizeBytes: 7}}) {
		t.Fatalf("snapshots: %+v %v", l, err)
	}
	if p, err := rt.Restore(ctx, "s1", "coder2"); err != nil || p.Name() != "coder2" {
		t.Fatalf("restore: %v", err)
	}
	var e *msb.Error
	err = rt.RemoveSnapshot(ctx, "gone")
	if !errors.Is(err, msb.ErrNotFound) || !errors.As(err, &e) || e.Name != "MSB_E_NOT_FOUND" {
		t.Fatalf("a snapshot not there: %v", err)
	}
	if err := rt.Peer("coder").CopyIn(ctx, filepath.Join(t.TempDir(), "nope"), "/tmp/"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("a copy of nothing: %v", err)
	}
	want := []string{
		`{"op":"exec","name":"coder","argv":["cat"],"stdin":true}`,
		`{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":33,"cols":101}`,
		`{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":24,"cols":80}`,
		`{"op":"snapshot","name":"coder","snapshot":"s1"}`,
		`{"op":"snapshot_ls","json":true}`,
		`{"op":"restore","snapshot":"s1","name":"coder2"}`,
		`{"op":"snapshot_rm","snapshot":"gone"}`,
	}
	if got := sent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
