// SPDX-License-Identifier: Apache-2.0

package msb_test

// Hooks written in Go (docs/plugins.md), called in this process by the
// sandbox's supervisor over the hook protocol, on one sandbox of the
// built-in image: execs seen, denied with their reason, rewritten, told
// when they end, refused when their hook panics, misses its deadline or
// rewrites into a bad env; the sandbox's start, stop and remove told;
// DNS denied and seen, connections refused, HTTP blocked by a DLP rule
// or its body rewritten, answers redacted, tagged or blocked before the
// guest reads them, each answer's head told as the server sent it (a
// hook that holds it holding up nothing), a hook that panics refusing
// its call, and a
// filesystem in Go over a host directory that watches opens and refuses
// a create while every other call stays native.

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
	"time"

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
	var bodies, dns, answers, heads []string
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
	var execs, exits, events []string
	stalled, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	onExec := msb.OnExec(func(c msb.ExecCall) msb.ExecAction {
		mu.Lock()
		execs = append(execs, strings.Join(c.Argv, " "))
		mu.Unlock()
		switch c.Argv[0] {
		case "forbidden":
			return msb.ExecDeny("not on this sandbox")
		case "greet":
			return msb.ExecRewrite(append([]string{"echo", "rewritten"}, c.Argv[1:]...), nil)
		case "boom":
			panic("a bug in the hook")
		case "stall":
			stalled <- struct{}{}
			<-release
		case "badenv":
			return msb.ExecRewrite(nil, []string{"NOEQUALS"})
		}
		if strings.Contains(strings.Join(c.Argv, " "), "$GREETING") {
			return msb.ExecRewrite(nil, append(c.Env, "GREETING=hello from the hook"))
		}
		return msb.ExecAllow()
	})
	onExit := msb.OnExecExit(func(e msb.ExecExit) {
		mu.Lock()
		exits = append(exits, strings.Join(e.Argv, " ")+" = "+strconv.Itoa(e.ExitCode))
		mu.Unlock()
	})
	onLife := msb.OnLifecycle(func(e msb.LifecycleEvent) {
		if e.Event == "remove" {
			time.Sleep(200 * time.Millisecond) // Remove waits for it all the same
		}
		mu.Lock()
		events = append(events, e.Event)
		mu.Unlock()
	})
	// The head of /doc's answer is held here until the guest has read
	// that answer: an answer that waited for it would never come.
	headHeld := make(chan struct{})
	releaseHead := sync.OnceFunc(func() { close(headHeld) })
	defer releaseHead()
	onHead := msb.OnHttpResponseHead(func(h msb.HttpResponseHead) {
		if h.Request == "GET /doc HTTP/1.1" {
			<-headHeld
		}
		mu.Lock()
		heads = append(heads, strings.Join([]string{h.Request, strconv.Itoa(h.Status),
			strings.Join(h.Header["content-type"], ";"), strconv.FormatInt(h.BodyLength, 10),
			strconv.FormatBool(strings.HasPrefix(h.Head, "HTTP/1.1 200 OK\r\n") &&
				!strings.Contains(h.Head, "X-Redacted")), h.Host}, " "), ";")
		mu.Unlock()
	})
	seen := func(what string, list *[]string, want string) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			got := strings.Join(*list, ",")
			mu.Unlock()
			if strings.Contains(","+got+",", ","+want+",") {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("%s: %q was never told (%q)", what, want, got)
			}
		}
	}
	opts := []msb.Option{onExec, onExit, onLife, msb.Volume("/data", g)}
	sb, err := msb.NewSandboxContext(ctx, unique("gohooks"), append(opts, msb.Network(
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
		onHead,
	))...)
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

	// exec: seen with its argv, denied with its reason, rewritten; a
	// hook that panics, misses its deadline or rewrites into a bad env
	// refuses its command, and the next runs
	if res, err := sb.Exec(ctx, "echo seen"); err != nil || string(res.Stdout) != "seen\n" {
		t.Fatalf("an allowed exec: %v %+v", err, res)
	}
	seen("OnExec", &execs, "echo seen")
	_, err = sb.Exec(ctx, "forbidden now")
	if !errors.Is(err, msb.ErrPolicyRefused) {
		t.Fatalf("a denied exec: %v", err)
	}
	contains(t, "a denied exec", err.Error(), "exec denied by plugin go-sdk: not on this sandbox")
	if res, err := sb.Exec(ctx, "greet you"); err != nil || string(res.Stdout) != "rewritten you\n" {
		t.Fatalf("a rewritten argv: %v %+v", err, res)
	}
	contains(t, "a rewritten env", sh("echo $GREETING"), "hello from the hook")
	for _, c := range []struct{ argv, why string }{
		{"boom", "the hook panicked"},
		{"stall", "exec denied by plugin go-sdk"},
		{"badenv", `env entry "NOEQUALS" is not KEY=VALUE`},
	} {
		_, err = sb.Exec(ctx, c.argv)
		if !errors.Is(err, msb.ErrPolicyRefused) {
			t.Fatalf("%s: %v", c.argv, err)
		}
		contains(t, c.argv, err.Error(), c.why)
	}
	<-stalled
	// the stalled hook still runs: the supervisor's channel is not held
	contains(t, "an exec after a stalled hook", sh("echo still"), "still\n")
	release <- struct{}{}
	// each end told, the rewritten command's as it ran
	if res, err := sb.Shell(ctx, "exit 3"); err != nil || res.ExitCode != 3 {
		t.Fatalf("exit 3: %v %+v", err, res)
	}
	seen("OnExecExit", &exits, "sh -c exit 3 = 3")
	seen("OnExecExit", &exits, "echo rewritten you = 0")
	seen("OnLifecycle", &events, "create")
	seen("OnLifecycle", &events, "start")

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
	// each head told as the server sent it (not as OnHttpResponse
	// changed it), the blocked answer's too, /doc's once let go
	releaseHead()
	seen("OnHttpResponseHead", &heads, "GET /doc HTTP/1.1 200 text/plain; charset=utf-8 22 true 10.0.2.2")
	seen("OnHttpResponseHead", &heads, "GET /card HTTP/1.1 200 text/plain; charset=utf-8 25 true 10.0.2.2")
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

	// lifecycle: the stop, then the remove (told before Remove returns)
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	seen("OnLifecycle", &events, "stop")
	if err := sb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	contains(t, "OnLifecycle", strings.Join(events, ","), "create,start,stop,remove")
	mu.Unlock()
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
	for _, o := range []msb.Option{
		msb.Network(msb.OnDns(func(msb.DnsQuery) msb.DnsAction { return msb.DnsAllow })),
		msb.Network(msb.OnHttpResponse(func(r *msb.HttpResponse) msb.HttpResponseAction {
			return msb.HttpResponseForward(r)
		})),
		msb.Network(msb.OnHttpResponseHead(func(msb.HttpResponseHead) {})),
		msb.OnExec(func(msb.ExecCall) msb.ExecAction { return msb.ExecAllow() }),
		msb.OnExecExit(func(msb.ExecExit) {}),
		msb.OnLifecycle(func(msb.LifecycleEvent) {}),
	} {
		_, err := rt.Start("x", msb.Image("python:3.12"), o)
		if !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("%v", err)
		}
		contains(t, "a peer's hooks", err.Error(), "a peer takes no hooks in Go (msb.On")
	}
	if got := sent(); len(got) != 0 {
		t.Fatalf("sent: %v", got)
	}
}
