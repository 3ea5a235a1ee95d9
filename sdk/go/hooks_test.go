// SPDX-License-Identifier: Apache-2.0

package msb_test

// Hooks written in Go (docs/plugins.md), called in this process by the
// sandbox's supervisor over the hook protocol, on one sandbox of the
// built-in image: DNS denied and seen, connections refused, HTTP blocked
// by a DLP rule or its body rewritten, answers redacted, tagged or
// blocked before the guest reads them, a hook that panics refusing its
// call, and a filesystem in Go over a host directory that watches opens
// and refuses a create while every other call stays native.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// guard is a filesystem in Go over a passthrough: its opens are written
// down, a create of forbidden.txt is refused (EPERM).
type guard struct {
	inner msb.PassthroughFs
	mu    sync.Mutex
	opens []uint32
}

func (g *guard) Open(ctx msb.Context, ino uint64, flags uint32) (uint64, error) {
	g.mu.Lock()
	g.opens = append(g.opens, ctx.Pid)
	g.mu.Unlock()
	return g.inner.Open(ctx, ino, flags)
}

func (g *guard) Create(ctx msb.Context, parent uint64, name string, flags uint32) (uint64, error) {
	if name == "forbidden.txt" {
		return 0, syscall.EPERM
	}
	return 0, nil
}

func TestHooks(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bodies, dns, answers []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		switch r.URL.Path {
		case "/doc":
			io.WriteString(w, "top CONFIDENTIAL plan\n")
		case "/card":
			io.WriteString(w, "card 4111 1111 1111 1111\n")
		default:
			io.WriteString(w, "accepted "+string(b)+"\n")
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	vol := t.TempDir()
	os.WriteFile(vol+"/hello.txt", []byte("hello\n"), 0o644)
	g := &guard{inner: msb.NewPassthrough(vol)}
	sb, err := msb.NewSandboxContext(ctx, unique("gohooks"), msb.Volume("/data", g), msb.Network(
		msb.AllowHostPort(strconv.Itoa(port)),
		msb.OnDns(func(q msb.DnsQuery) msb.DnsAction {
			mu.Lock()
			dns = append(dns, q.Name+" "+q.Type)
			mu.Unlock()
			if q.Name == "blocked.test" {
				return msb.DnsDeny
			}
			return msb.DnsAllow
		}),
		msb.OnConnect(func(c msb.ConnectRequest) bool {
			if c.Port == 6666 {
				panic("a bug in the hook")
			}
			return c.Port != 7007
		}),
		msb.OnHttp(func(req *msb.HttpRequest) msb.HttpAction {
			if strings.Contains(string(req.Body), "123-45-6789") {
				return msb.HttpBlock("DLP: PII")
			}
			if strings.Contains(string(req.Body), "secret=") {
				req.Body = []byte("secret=[redacted]")
			}
			return msb.HttpForward(req)
		}),
		msb.OnHttpResponse(func(resp *msb.HttpResponse) msb.HttpResponseAction {
			mu.Lock()
			answers = append(answers, resp.Request+" "+strconv.Itoa(resp.Status))
			mu.Unlock()
			if strings.Contains(string(resp.Body), "4111") {
				return msb.HttpResponseBlock("DLP: card number")
			}
			if strings.Contains(string(resp.Body), "CONFIDENTIAL") {
				resp.Body = []byte(strings.Replace(string(resp.Body), "CONFIDENTIAL", "[redacted]", 1))
				resp.Head = strings.TrimSuffix(resp.Head, "\r\n") + "X-Redacted: 1\r\n\r\n"
			}
			return msb.HttpResponseForward(resp)
		}),
	))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Remove(ctx)
	sh := func(script string) string {
		res, err := sb.Shell(ctx, script)
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Stdout) + string(res.Stderr)
	}

	// dns: denied here, and each query seen
	out := sh("nslookup blocked.test 10.0.2.3; echo dns=$?")
	contains(t, "a denied name", out, "dns=1")
	mu.Lock()
	contains(t, "what OnDns saw", strings.Join(dns, ","), "blocked.test A")
	mu.Unlock()
	// connect: refused, and a hook that panics refuses too
	contains(t, "a refused port", sh("echo | nc -w 2 1.1.1.1 7007; echo nc=$?"), "nc=1")
	contains(t, "a panicking hook", sh("echo | nc -w 2 1.1.1.1 6666; echo nc=$?"), "nc=1")
	// http: blocked by the DLP rule, a body rewritten, the rest through
	url := "http://10.0.2.2:" + strconv.Itoa(port)
	contains(t, "a clean request", sh("wget -q -O- --post-data 'name=ann' "+url+"/submit"), "accepted name=ann")
	if out := sh("wget -q -O- --post-data 'ssn=123-45-6789' " + url + "/submit; echo rc=$?"); strings.Contains(out, "accepted") {
		t.Fatalf("a request with PII went: %q", out)
	}
	contains(t, "a rewritten body", sh("wget -q -O- --post-data 'secret=hunter2' "+url+"/submit"),
		"accepted secret=[redacted]")
	mu.Lock()
	for _, b := range bodies {
		if strings.Contains(b, "123-45-6789") || strings.Contains(b, "hunter2") {
			t.Fatalf("the server got %q", b)
		}
	}
	mu.Unlock()
	// answers: redacted and tagged, blocked
	out = sh("wget -S -q -O- " + url + "/doc 2>&1")
	contains(t, "a redacted answer", out, "top [redacted] plan")
	contains(t, "a tagged answer", out, "X-Redacted: 1")
	if out := sh("wget -q -O- " + url + "/card; echo rc=$?"); strings.Contains(out, "4111") {
		t.Fatalf("a blocked answer reached the guest: %q", out)
	}
	mu.Lock()
	contains(t, "what OnHttpResponse saw", strings.Join(answers, ","), "GET /doc HTTP/1.1 200")
	mu.Unlock()
	// fs: opens seen here with the guest's pid, a create refused with
	// the errno given; reads and writes stay native
	out = sh("cat /data/hello.txt; echo x > /data/forbidden.txt; echo rc=$?; echo y > /data/ok.txt")
	contains(t, "the volume's file", out, "hello\n")
	contains(t, "the refused create", out, "Operation not permitted")
	if _, err := os.Stat(vol + "/forbidden.txt"); err == nil {
		t.Fatal("the refused file was made")
	}
	if b, _ := os.ReadFile(vol + "/ok.txt"); string(b) != "y\n" {
		t.Fatalf("ok.txt: %q", b)
	}
	g.mu.Lock()
	if len(g.opens) == 0 || g.opens[0] == 0 {
		t.Fatalf("opens seen: %v", g.opens)
	}
	g.mu.Unlock()
	logPath, _ := sb.LogPath()
	logb, _ := os.ReadFile(logPath)
	contains(t, "sandbox log", string(logb), "blocked: plugin go-sdk: DLP: card number")
	contains(t, "sandbox log", string(logb), "plugin go-sdk: DLP: PII")
}

// A peer started from inside a sandbox takes no hooks in Go (they run in
// the host program that made the sandbox): refused before anything is
// asked of the agent.
func TestPeerRefusesGoHooks(t *testing.T) {
	sent := standInAgent(t)
	ctx := testCtx(t)
	rt, err := msb.CurrentRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []msb.NetworkOption{
		msb.OnDns(func(msb.DnsQuery) msb.DnsAction { return msb.DnsAllow }),
		msb.OnHttpResponse(func(r *msb.HttpResponse) msb.HttpResponseAction {
			return msb.HttpResponseForward(r)
		}),
	} {
		if _, err := rt.Start("x", msb.Network(o)); !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("%v", err)
		}
	}
	if got := sent(); len(got) != 0 {
		t.Fatalf("sent: %v", got)
	}
}
