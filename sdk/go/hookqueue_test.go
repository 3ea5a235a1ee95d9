// SPDX-License-Identifier: Apache-2.0

package msb

// The hook server's bound on a connection's events, through its socket
// with a stand-in supervisor: no guest needed.

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHookServerDropsEventsBeyondItsBound: a guest decides how many
// answers' heads there are. With a hook stuck, a connection holds
// EventQueueMax of its events and drops the newer ones (counted,
// logged), and a call after them is answered while the hook is still
// stuck; once it lets go the held ones are told, in order.
func TestHookServerDropsEventsBeyondItsBound(t *testing.T) {
	const extra = 100
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	letGo := make(chan struct{})
	var mu sync.Mutex
	var told []string
	s, err := startHookServer(goHooks{
		head: func(h HttpResponseHead) {
			<-letGo
			mu.Lock()
			told = append(told, h.Request)
			mu.Unlock()
		},
		dns: func(q DnsQuery) DnsAction { return DnsDeny },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", s.path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	send := func(m map[string]any) {
		if err := writeHookMsg(c, m); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "hello", "protocol": 1, "sandbox": "bound"})
	if h, err := readHookMsg(c); err != nil || fmt.Sprint(h["hooks"]) != "[dns http_response_head]" {
		t.Fatalf("hello: %v %v", h, err)
	}
	for i := range EventQueueMax + extra {
		send(map[string]any{"type": "event", "hook": "http_response_head",
			"request": fmt.Sprintf("GET /%d HTTP/1.1", i), "host": "h", "status": 200,
			"head": "HTTP/1.1 200 OK\r\n\r\n", "body_length": 0, "tls": false})
	}
	send(map[string]any{"type": "call", "id": 7, "hook": "dns", "deadline_ms": 1000,
		"name": "example.com", "qtype": 1})
	r, err := readHookMsg(c)
	if err != nil || r["id"] != float64(7) || r["verdict"] != "deny" || r["reason"] != "OnDns" {
		t.Fatalf("the call after the events: %v %v", r, err)
	}
	// answered with the hook still stuck on the first head, every event
	// already read
	mu.Lock()
	n := len(told)
	mu.Unlock()
	if n != 0 || s.dropped.Load() != extra {
		t.Fatalf("before letting go: %d told, %d dropped", n, s.dropped.Load())
	}
	close(letGo)
	c.Close()
	s.close(true) // once the connection's events are told
	s.serving.Wait()
	if len(told) != EventQueueMax {
		t.Fatalf("%d events told, not %d", len(told), EventQueueMax)
	}
	for i, r := range told {
		if r != fmt.Sprintf("GET /%d HTTP/1.1", i) {
			t.Fatalf("event %d told is %q", i, r)
		}
	}
	if s.dropped.Load() != extra {
		t.Fatalf("%d dropped, not %d", s.dropped.Load(), extra)
	}
	out := logged.String()
	if strings.Count(out, "newer events are dropped") != 1 ||
		!strings.Contains(out, fmt.Sprintf("%d events of a connection not yet told", EventQueueMax)) ||
		!strings.Contains(out, fmt.Sprintf("%d events of a connection dropped, its hooks too slow", extra)) {
		t.Fatalf("logged:\n%s", out)
	}
}
