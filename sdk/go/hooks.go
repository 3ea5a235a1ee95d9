// SPDX-License-Identifier: Apache-2.0

package msb

// Hooks written in Go, served from this program (docs/plugins.md): a
// sandbox's OnDns, OnConnect, OnHttp, OnHttpResponse and
// OnHttpResponseHead functions, its
// OnExec, OnExecExit and OnLifecycle (exechooks.go) and its filesystems
// written in Go become one plugin, "go-sdk", that a hook server (a unix
// socket of this process, msb_plugins_add_socket) answers for the
// sandbox's supervisor, a goroutine per connection. Each message both
// ways is a 4-byte big-endian length, then one JSON object; calls come
// one at a time on a connection, each with a deadline: a hook that
// misses it, or panics, has its call refused (fail closed), answered
// here just before the deadline so that the connection stays up for the
// calls after it. Events go to their hooks in order on a goroutine of
// the connection's own, so that a slow one holds up no call and no read
// (an answer's head is written in that answer's way: a channel left
// unread would delay it); at most EventQueueMax are held, the newer
// ones dropped (counted, logged) while that many are.

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// hookMsgMax is the protocol's bound on a message.
const hookMsgMax = 16 << 20

// ConnectRequest is a new connection of the guest, as a connect hook
// sees it.
type ConnectRequest struct {
	Proto string // "tcp", "udp", "icmp"
	IP    string
	Port  int // 0 for an ICMP echo
}

// HttpResponse is an answer to the guest, as an OnHttpResponse hook sees
// it before the guest does (inside intercepted TLS too; a secret's value
// already back to its placeholder).
type HttpResponse struct {
	Status int
	// Head is the status line and headers, CRLF each, through the empty
	// line. Forward a changed one and it goes (its framing headers become
	// the body's).
	Head    string
	Header  map[string][]string // by lowercase name
	Host    string              // the Host of the request it answers
	Request string              // that request's line ("GET /x HTTP/1.1")
	Body    []byte              // de-chunked, whole up to 8 MiB
	// BodyStreamed is a body over 8 MiB: its size (-1 if unknown), not
	// shown; a changed body for it is refused. 0 otherwise.
	BodyStreamed int64
	TLS          bool
}

// HttpResponseHead is an answer's head as it came from the server, as an
// OnHttpResponseHead hook is told it: before any of the answer goes to
// the guest, and before OnHttpResponse is asked (what that hook changes
// or blocks is told as it came).
type HttpResponseHead struct {
	Status int
	// Head is the status line and headers, CRLF each, through the empty
	// line (a secret's value already back to its placeholder).
	Head    string
	Header  map[string][]string // by lowercase name
	Host    string              // the Host of the request it answers
	Request string              // that request's line ("GET /x HTTP/1.1")
	// BodyLength is its body's length (its Content-Length; 0 for an
	// answer without a body), -1 when the head does not say (chunked,
	// until the close).
	BodyLength int64
	TLS        bool
}

// HttpResponseAction is an answer hook's verdict: HttpResponseForward or
// HttpResponseBlock.
type HttpResponseAction struct {
	Block  bool
	Reason string
	Resp   *HttpResponse
}

// HttpResponseForward lets @resp reach the guest (as it is, or with its
// Head or Body changed).
func HttpResponseForward(resp *HttpResponse) HttpResponseAction {
	return HttpResponseAction{Resp: resp}
}

// HttpResponseBlock refuses the answer: the guest gets 403 with @reason
// instead, and the connection ends.
func HttpResponseBlock(reason string) HttpResponseAction {
	return HttpResponseAction{Block: true, Reason: reason}
}

// goHooks are a sandbox's hooks written in Go: the network's (given to
// Network), the sandbox's own (OnExec...) and its filesystems'.
type goHooks struct {
	dns       func(DnsQuery) DnsAction
	connect   func(ConnectRequest) bool
	http      func(*HttpRequest) HttpAction
	response  func(*HttpResponse) HttpResponseAction
	head      func(HttpResponseHead)
	exec      func(ExecCall) ExecAction
	exit      func(ExecExit)
	lifecycle func(LifecycleEvent)
	fs        map[string]any // guest path: a filesystem written in Go
}

func (h *goHooks) empty() bool {
	return h.dns == nil && h.connect == nil && h.http == nil && h.response == nil &&
		h.head == nil && h.exec == nil && h.exit == nil && h.lifecycle == nil && len(h.fs) == 0
}

// given are the names of the hooks set, for a refusal.
func (h *goHooks) given() []string {
	var v []string
	for _, x := range []struct {
		name string
		set  bool
	}{
		{"OnDns", h.dns != nil}, {"OnConnect", h.connect != nil}, {"OnHttp", h.http != nil},
		{"OnHttpResponse", h.response != nil}, {"OnHttpResponseHead", h.head != nil},
		{"OnExec", h.exec != nil},
		{"OnExecExit", h.exit != nil}, {"OnLifecycle", h.lifecycle != nil},
	} {
		if x.set {
			v = append(v, "msb."+x.name)
		}
	}
	return v
}

// The calls a filesystem written in Go may override, by the hook
// protocol's names (docs/plugins.md).
type (
	fsOpen interface {
		Open(ctx Context, ino uint64, flags uint32) (uint64, error)
	}
	fsLookup interface {
		Lookup(ctx Context, parent uint64, name string) (uint64, error)
	}
	fsCreate interface {
		Create(ctx Context, parent uint64, name string, flags uint32) (uint64, error)
	}
	fsMkdir interface {
		Mkdir(ctx Context, parent uint64, name string, mode uint32) (uint64, error)
	}
	fsUnlink interface {
		Unlink(ctx Context, parent uint64, name string) error
	}
	fsRmdir interface {
		Rmdir(ctx Context, parent uint64, name string) error
	}
	fsRename interface {
		Rename(ctx Context, parent uint64, name string, newparent uint64, newname string) error
	}
)

// fsOpsOf is what @b overrides: the calls it has methods for.
func fsOpsOf(b any) []string {
	var ops []string
	for _, c := range []struct {
		op string
		ok bool
	}{
		{"open", is[fsOpen](b)}, {"lookup", is[fsLookup](b)}, {"create", is[fsCreate](b)},
		{"mkdir", is[fsMkdir](b)}, {"unlink", is[fsUnlink](b)}, {"rmdir", is[fsRmdir](b)},
		{"rename", is[fsRename](b)},
	} {
		if c.ok {
			ops = append(ops, c.op)
		}
	}
	return ops
}

func is[T any](b any) bool {
	_, ok := b.(T)
	return ok
}

// innerOf is the built-in filesystem @b wraps: what its Inner() returns,
// else its first field (exported or not) holding a built-in backend.
func innerOf(b any) any {
	if w, ok := b.(interface{ Inner() any }); ok {
		return w.Inner()
	}
	v := reflect.ValueOf(b)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	// an addressable copy, so that its unexported fields can be read
	cp := reflect.New(v.Type()).Elem()
	cp.Set(v)
	for i := 0; i < cp.NumField(); i++ {
		f := cp.Field(i)
		x := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
		var probe volumeSpec
		if builtinVolume(&probe, x) {
			return x
		}
	}
	return nil
}

// fsErrno is the errno a refused filesystem call gives the guest.
func fsErrno(err error) int {
	var e syscall.Errno
	switch {
	case errors.As(err, &e) && e > 0 && e < 4096:
		return int(e)
	case errors.Is(err, fs.ErrNotExist):
		return int(syscall.ENOENT)
	case errors.Is(err, fs.ErrExist):
		return int(syscall.EEXIST)
	}
	return int(syscall.EACCES)
}

// fsCall asks call @m of its volume's filesystem, if it overrides it.
func (s *hookServer) fsCall(m map[string]any) map[string]any {
	b := s.hooks.fs[str(m, "volume")]
	if b == nil {
		return allow()
	}
	ctx := Context{Pid: uint32(num(m, "pid")), Uid: uint32(num(m, "uid"))}
	ino, name, flags := uint64(num(m, "ino")), str(m, "name"), uint32(num(m, "flags"))
	var err error
	switch str(m, "op") {
	case "open":
		if f, ok := b.(fsOpen); ok {
			_, err = f.Open(ctx, ino, flags)
		}
	case "lookup":
		if f, ok := b.(fsLookup); ok {
			_, err = f.Lookup(ctx, ino, name)
		}
	case "create":
		if f, ok := b.(fsCreate); ok {
			_, err = f.Create(ctx, ino, name, flags)
		}
	case "mkdir":
		if f, ok := b.(fsMkdir); ok {
			_, err = f.Mkdir(ctx, ino, name, 0)
		}
	case "unlink":
		if f, ok := b.(fsUnlink); ok {
			err = f.Unlink(ctx, ino, name)
		}
	case "rmdir":
		if f, ok := b.(fsRmdir); ok {
			err = f.Rmdir(ctx, ino, name)
		}
	case "rename":
		if f, ok := b.(fsRename); ok {
			err = f.Rename(ctx, ino, name, uint64(num(m, "newparent")), str(m, "newname"))
		}
	}
	if err != nil {
		return map[string]any{"verdict": "deny", "reason": err.Error(), "errno": fsErrno(err)}
	}
	return allow()
}

// OnDns calls @hook, in this program, for each DNS query the policy let
// through: DnsAllow, or DnsDeny (NXDOMAIN). It runs on a goroutine of
// the SDK's hook server (docs/plugins.md); one that panics, or misses
// the deadline (PluginTimeout, 1 s), has its query refused.
func OnDns(hook func(q DnsQuery) DnsAction) NetworkOption {
	return netFunc(func(n *networkConfig) { n.hooks.dns = hook })
}

// OnConnect calls @hook for each new connection the policy let through:
// true lets it go on, false refuses it (TCP reset, ICMP unreachable).
func OnConnect(hook func(c ConnectRequest) bool) NetworkOption {
	return netFunc(func(n *networkConfig) { n.hooks.connect = hook })
}

// OnHttp calls @hook for each HTTP request of the guest (HTTPS too, its
// TLS intercepted): HttpForward sends it on (with a changed Body, that
// body), HttpBlock answers 403 with the reason.
func OnHttp(hook func(req *HttpRequest) HttpAction) NetworkOption {
	return netFunc(func(n *networkConfig) { n.hooks.http = hook })
}

// OnHttpResponse calls @hook for each HTTP answer to the guest before the
// guest reads any of it (secrets' values already scrubbed from it):
// HttpResponseForward lets it go (with a changed Head or Body, those),
// HttpResponseBlock answers 403 instead.
func OnHttpResponse(hook func(resp *HttpResponse) HttpResponseAction) NetworkOption {
	return netFunc(func(n *networkConfig) { n.hooks.response = hook })
}

// OnHttpResponseHead tells @hook each HTTP answer's head (HTTPS too, its
// TLS intercepted) as it comes from the server, before any of the answer
// goes to the guest: its status, headers, body length, request and host.
// It only watches: nothing waits for it (it runs on a goroutine of the
// hook server's own, in order, the answer already on its way), and one
// that panics loses that head.
func OnHttpResponseHead(hook func(h HttpResponseHead)) NetworkOption {
	return netFunc(func(n *networkConfig) { n.hooks.head = hook })
}

// hookServer serves a sandbox's Go hooks on a unix socket of this
// process until it is closed.
type hookServer struct {
	dir, path string
	hooks     goHooks
	l         net.Listener

	mu      sync.Mutex
	conns   []net.Conn
	closed  bool
	serving sync.WaitGroup // a connection's serve, its events told
	dropped atomic.Int64   // events dropped over its connections (a full queue)
}

func startHookServer(h goHooks) (*hookServer, error) {
	dir, err := os.MkdirTemp("", "msb-hooks-")
	if err != nil {
		return nil, err
	}
	s := &hookServer{dir: dir, path: filepath.Join(dir, "hooks.sock"), hooks: h}
	if s.l, err = net.Listen("unix", s.path); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go s.accept()
	return s, nil
}

func (s *hookServer) accept() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns = append(s.conns, c)
		s.serving.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// drainWait bounds how long close(true) waits for the connections.
const drainWait = 3 * time.Second

// close stops serving. With @drain (the sandbox is gone, its supervisor
// and remover have closed their ends), the connections are first read to
// their end, so that the last events (stop, remove) are told, for at
// most drainWait; without, they are cut at once (a sandbox left running:
// its calls are refused from then on).
func (s *hookServer) close(drain bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.l.Close()
	if drain {
		done := make(chan struct{})
		go func() {
			s.serving.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(drainWait):
		}
	}
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	os.RemoveAll(s.dir)
}

func readHookMsg(r io.Reader) (map[string]any, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || n > hookMsgMax {
		return nil, fmt.Errorf("a message of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func writeHookMsg(w io.Writer, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	out := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	_, err = w.Write(append(out, b...))
	return err
}

func (s *hookServer) names() []string {
	var v []string
	if s.hooks.connect != nil {
		v = append(v, "connect")
	}
	if s.hooks.dns != nil {
		v = append(v, "dns")
	}
	if s.hooks.exec != nil {
		v = append(v, "exec_before")
	}
	if s.hooks.exit != nil {
		v = append(v, "exec_after")
	}
	if s.hooks.http != nil {
		v = append(v, "http_request")
	}
	if s.hooks.response != nil {
		v = append(v, "http_response")
	}
	if s.hooks.head != nil {
		v = append(v, "http_response_head")
	}
	if s.hooks.lifecycle != nil {
		v = append(v, "lifecycle")
	}
	if len(s.hooks.fs) > 0 {
		v = append(v, "fs")
	}
	return v
}

// fsOps is every filesystem call some volume's filesystem overrides.
func (s *hookServer) fsOps() []string {
	var ops []string
	seen := map[string]bool{}
	for _, b := range s.hooks.fs {
		for _, op := range fsOpsOf(b) {
			if !seen[op] {
				seen[op] = true
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// EventQueueMax is how many of a connection's events a hook server holds
// for its hooks, the one being told among them (docs/plugins.md): while
// that many are, a newer one is dropped, counted and logged, so that a
// hook that is slow or stuck costs this program no more than that,
// however many events the guest makes (an HTTP answer is one). Calls are
// never dropped. The same in the four SDKs.
const EventQueueMax = 4096

// eventQueue is the events a connection read and its hooks are still to
// be told, in order: the reader never waits for them, and drops the
// newest while EventQueueMax are held.
type eventQueue struct {
	mu      sync.Mutex
	more    *sync.Cond
	q       []map[string]any
	held    int // in q, or being told
	done    bool
	dropped int64
}

func newEventQueue() *eventQueue {
	e := &eventQueue{}
	e.more = sync.NewCond(&e.mu)
	return e
}

// put queues @m, or drops it when the queue is full: false then.
func (e *eventQueue) put(m map[string]any) bool {
	e.mu.Lock()
	if e.held >= EventQueueMax {
		e.dropped++
		first := e.dropped == 1
		e.mu.Unlock()
		if first {
			log.Printf("msb: hook server: %d events of a connection not yet told to their hooks "+
				"(slow or stuck): newer events are dropped until there is room", EventQueueMax)
		}
		return false
	}
	e.held++
	e.q = append(e.q, m)
	e.mu.Unlock()
	e.more.Signal()
	return true
}

func (e *eventQueue) close() {
	e.mu.Lock()
	e.done = true
	e.mu.Unlock()
	e.more.Signal()
}

// next is the next event, or nil once the queue is closed and told; the
// one before it has been told.
func (e *eventQueue) next(told bool) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	if told {
		e.held--
	}
	for len(e.q) == 0 && !e.done {
		e.more.Wait()
	}
	if len(e.q) == 0 {
		return nil
	}
	m := e.q[0]
	e.q[0] = nil
	e.q = e.q[1:]
	return m
}

// serve answers on @c until the supervisor closes it, then returns once
// the events it read have been told.
func (s *hookServer) serve(c net.Conn) {
	events := newEventQueue()
	told := make(chan struct{})
	go func() {
		for m := events.next(false); m != nil; m = events.next(true) {
			s.tell(m)
		}
		close(told)
	}()
	defer func() {
		c.Close()
		events.close()
		<-told
		if events.dropped > 0 {
			log.Printf("msb: hook server: %d events of a connection dropped, its hooks too slow "+
				"(at most %d held)", events.dropped, EventQueueMax)
		}
		s.serving.Done()
	}()
	for {
		m, err := readHookMsg(c)
		if err != nil {
			return
		}
		switch m["type"] {
		case "hello":
			h := map[string]any{"type": "hello", "name": "go-sdk", "hooks": s.names()}
			if len(s.hooks.fs) > 0 {
				h["fs_ops"] = s.fsOps()
			}
			err = writeHookMsg(c, h)
		case "call":
			r := s.call(m)
			r["type"] = "reply"
			r["id"] = m["id"]
			err = writeHookMsg(c, r)
		case "event":
			if !events.put(m) {
				s.dropped.Add(1)
			}
		}
		if err != nil {
			return
		}
	}
}

// call is the reply's fields for call @m: a hook that panics refuses it,
// and so does one still running when its deadline (deadline_ms) is near:
// it is answered then, and what it returns later is dropped.
func (s *hookServer) call(m map[string]any) map[string]any {
	done := make(chan map[string]any, 1)
	go func() {
		defer func() {
			if recover() != nil {
				done <- deny("the hook panicked")
			}
		}()
		done <- s.answer(m)
	}()
	ms := num(m, "deadline_ms")
	if ms <= 0 {
		return <-done
	}
	// a tenth of the deadline (at most 100 ms) for the reply's way back
	by := time.Duration(ms) * time.Millisecond
	by -= min(by/10, 100*time.Millisecond)
	t := time.NewTimer(by)
	defer t.Stop()
	select {
	case r := <-done:
		return r
	case <-t.C:
		return deny(fmt.Sprintf("the hook missed its deadline (%d ms)", ms))
	}
}

func str(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

func num(m map[string]any, k string) int64 {
	v, _ := m[k].(float64)
	return int64(v)
}

var qtypeNames = map[int64]string{1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR",
	15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 65: "HTTPS"}

// parseHookHead is a head's first line split at spaces and its headers
// by lowercase name.
func parseHookHead(head string) ([]string, map[string][]string) {
	lines := strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	hdr := map[string][]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(k) == "" {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		hdr[k] = append(hdr[k], strings.TrimSpace(v))
	}
	return strings.SplitN(lines[0], " ", 3), hdr
}

// allow is a fresh reply's fields (the caller adds its own to them).
func allow() map[string]any { return map[string]any{"verdict": "allow"} }

// deny is a refusal's fields, with @reason.
func deny(reason string) map[string]any {
	return map[string]any{"verdict": "deny", "reason": reason}
}

func (s *hookServer) answer(m map[string]any) map[string]any {
	b64 := base64.StdEncoding
	switch m["hook"] {
	case "fs":
		return s.fsCall(m)
	case "exec_before":
		return s.execCall(m)
	case "dns":
		if s.hooks.dns == nil {
			return allow()
		}
		t := qtypeNames[num(m, "qtype")]
		if t == "" {
			t = strconv.FormatInt(num(m, "qtype"), 10)
		}
		if s.hooks.dns(DnsQuery{Name: str(m, "name"), Type: t}) == DnsDeny {
			return map[string]any{"verdict": "deny", "reason": "OnDns"}
		}
	case "connect":
		if s.hooks.connect != nil && !s.hooks.connect(ConnectRequest{Proto: str(m, "proto"),
			IP: str(m, "ip"), Port: int(num(m, "port"))}) {
			return map[string]any{"verdict": "deny", "reason": "OnConnect"}
		}
	case "http_request":
		if s.hooks.http == nil {
			return allow()
		}
		body, _ := b64.DecodeString(str(m, "body_b64"))
		first, hdr := parseHookHead(str(m, "head"))
		req := &HttpRequest{Host: str(m, "host"), Header: hdr, Body: body}
		if len(first) > 1 {
			req.Method, req.Path = first[0], first[1]
		}
		a := s.hooks.http(req)
		if a.Block {
			return map[string]any{"verdict": "deny", "reason": a.Reason}
		}
		if a.Req != nil && string(a.Req.Body) != string(body) {
			return map[string]any{"verdict": "modify", "body_b64": b64.EncodeToString(a.Req.Body)}
		}
	case "http_response":
		if s.hooks.response == nil {
			return allow()
		}
		body, _ := b64.DecodeString(str(m, "body_b64"))
		head := str(m, "head")
		_, hdr := parseHookHead(head)
		tls, _ := m["tls"].(bool)
		resp := &HttpResponse{Status: int(num(m, "status")), Head: head, Header: hdr,
			Host: str(m, "host"), Request: str(m, "request"), Body: body,
			BodyStreamed: num(m, "body_streamed"), TLS: tls}
		a := s.hooks.response(resp)
		if a.Block {
			return map[string]any{"verdict": "deny", "reason": a.Reason}
		}
		if a.Resp != nil && (string(a.Resp.Body) != string(body) || a.Resp.Head != head) {
			r := map[string]any{"verdict": "modify"}
			if string(a.Resp.Body) != string(body) {
				r["body_b64"] = b64.EncodeToString(a.Resp.Body)
			}
			if a.Resp.Head != head {
				r["head"] = a.Resp.Head
			}
			return r
		}
	}
	return allow()
}
