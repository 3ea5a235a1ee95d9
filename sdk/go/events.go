// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
	"unsafe"
)

// Event is one event of a sandbox (docs/events.md): its programs'
// (`msb event emit` inside), the host's (Emit) or its own ("msb.*").
type Event struct {
	Seq    uint64    // its number in the sandbox's log, from 1
	Time   time.Time // when the supervisor took it
	Source string    // "guest", "host" or "msb"
	Topic  string
	Data   json.RawMessage // one JSON value ("null" if none)
}

// EventOption sets how Events reads.
type EventOption func(*eventConfig)

type eventConfig struct {
	since  int64
	follow bool
}

// EventsSince starts at the event numbered @seq (0: the oldest the
// sandbox keeps). The default is -1: only those to come.
func EventsSince(seq int64) EventOption { return func(c *eventConfig) { c.since = seq } }

// EventsNoFollow ends the stream at the last event kept, instead of
// following new ones until the sandbox stops.
func EventsNoFollow() EventOption { return func(c *eventConfig) { c.follow = false } }

// EventStream reads a sandbox's events; Next gives them in order, io.EOF
// at the end. Close it when done.
type EventStream struct {
	name    string
	mu      sync.Mutex
	h       *C.msb_events
	pf      *pollFd
	stop    chan struct{}
	once    sync.Once
	Dropped uint64 // events missed: the sandbox's log moved past them
}

// Events opens a reader of the sandbox's events on @topic ("" for all,
// or "prefix.*").
func (sb *Sandbox) Events(ctx context.Context, topic string, opts ...EventOption) (*EventStream, error) {
	op := "events of sandbox " + sb.name
	cfg := eventConfig{since: -1, follow: true}
	for _, o := range opts {
		o(&cfg)
	}
	cname := C.CString(sb.name)
	defer C.free(unsafe.Pointer(cname))
	var ctopic *C.char
	if topic != "" {
		ctopic = C.CString(topic)
		defer C.free(unsafe.Pointer(ctopic))
	}
	var cerr C.msb_error
	var h *C.msb_events
	if r := C.msb_events_open(cname, ctopic, C.int64_t(cfg.since), cbool(cfg.follow), &h, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	pf, err := thePoller.register(int(C.msb_events_fd(h)))
	if err != nil {
		C.msb_events_free(h)
		return nil, err
	}
	return &EventStream{name: sb.name, h: h, pf: pf, stop: make(chan struct{})}, nil
}

// Next is the next event, waiting for it (until @ctx ends); io.EOF once
// there are no more (the log read to its end without follow, or the
// sandbox stopped).
func (s *EventStream) Next(ctx context.Context) (*Event, error) {
	op := "events of sandbox " + s.name
	for {
		s.mu.Lock()
		if s.h == nil {
			s.mu.Unlock()
			return nil, io.EOF
		}
		var ev C.msb_event
		var cerr C.msb_error
		r := C.msb_events_next(s.h, &ev, 0, &cerr)
		if r == 1 && ev.dropped != 0 {
			s.Dropped += uint64(ev.dropped)
			s.mu.Unlock()
			continue
		}
		if r == 1 {
			sec, frac := math.Modf(float64(ev.time))
			out := &Event{Seq: uint64(ev.seq), Time: time.Unix(int64(sec), int64(frac*1e9)),
				Source: C.GoString(ev.source), Topic: C.GoString(ev.topic),
				Data: json.RawMessage(C.GoString(ev.data))}
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		if r < 0 {
			if int(r) == codeStopped {
				return nil, io.EOF
			}
			return nil, cError(op, r, &cerr)
		}
		if err := thePoller.wait(ctx, s.pf, pollIn, s.stop); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("msb: %s: %w", op, ctx.Err())
			}
			return nil, io.EOF
		}
	}
}

// Close ends the stream; a Next waiting returns io.EOF.
func (s *EventStream) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h != nil {
		thePoller.unregister(s.pf)
		C.msb_events_free(s.h)
		s.h = nil
	}
	return nil
}

// On calls @fn with each new event on @topic ("" for all) in a goroutine
// of its own, until the sandbox stops or @ctx ends.
func (sb *Sandbox) On(ctx context.Context, topic string, fn func(*Event)) error {
	s, err := sb.Events(ctx, topic)
	if err != nil {
		return err
	}
	go func() {
		defer s.Close()
		for {
			ev, err := s.Next(ctx)
			if err != nil {
				return
			}
			fn(ev)
		}
	}()
	return nil
}

// Emit sends an event to the sandbox's programs (`msb event wait TOPIC`
// inside prints @data as JSON); it returns the event's seq.
func (sb *Sandbox) Emit(ctx context.Context, topic string, data any) (uint64, error) {
	op := "event " + topic + " to sandbox " + sb.name
	text, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("msb: %s: %w", op, err)
	}
	var seq C.uint64_t
	err = blocking(ctx, op, func(cerr *C.msb_error) C.int {
		cname, ctopic, cdata := C.CString(sb.name), C.CString(topic), C.CString(string(text))
		defer C.free(unsafe.Pointer(cname))
		defer C.free(unsafe.Pointer(ctopic))
		defer C.free(unsafe.Pointer(cdata))
		return C.msb_event_send(cname, ctopic, cdata, &seq, cerr)
	})
	return uint64(seq), err
}
