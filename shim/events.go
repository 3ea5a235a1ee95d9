// SPDX-License-Identifier: Apache-2.0

// events.go - the Task service's events, forwarded to containerd in
// the order they happened over its ttrpc socket ($TTRPC_ADDRESS), as
// containerd's own shims do.
package main

import (
	"context"
	"log"
	"net"
	"os"
	"strings"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type envelope struct {
	topic string
	event any
	at    time.Time
}

type publisher struct {
	ns     string
	addr   string
	q      chan envelope
	done   chan struct{}
	client *ttrpc.Client
}

func newPublisher(ns string) *publisher {
	p := &publisher{ns: ns, addr: strings.TrimPrefix(os.Getenv("TTRPC_ADDRESS"), "unix://"),
		q: make(chan envelope, 1024), done: make(chan struct{})}
	go p.run()
	return p
}

// publish queues @event (one of containerd's api/events types) under
// @topic ("/tasks/exit").
func (p *publisher) publish(topic string, event any) {
	p.q <- envelope{topic, event, time.Now()}
}

func (p *publisher) connect() error {
	if p.client != nil {
		return nil
	}
	c, err := net.DialTimeout("unix", p.addr, 5*time.Second)
	if err != nil {
		return err
	}
	p.client = ttrpc.NewClient(c)
	return nil
}

func (p *publisher) forward(e envelope) error {
	a, err := typeurl.MarshalAnyToProto(e.event)
	if err != nil {
		return err
	}
	if err := p.connect(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = eventsapi.NewEventsClient(p.client).Forward(ctx, &eventsapi.ForwardRequest{
		Envelope: &types.Envelope{Timestamp: timestamppb.New(e.at), Namespace: p.ns, Topic: e.topic, Event: a},
	})
	if err != nil {
		p.client.Close()
		p.client = nil
	}
	return err
}

func (p *publisher) run() {
	defer close(p.done)
	for e := range p.q {
		if p.addr == "" {
			continue
		}
		var err error
		for try := 0; try < 5; try++ {
			if err = p.forward(e); err == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
		if err != nil {
			log.Printf("event %s lost: %v", e.topic, err)
		}
	}
}

// close sends what is queued (for up to @d) and stops.
func (p *publisher) close(d time.Duration) {
	close(p.q)
	select {
	case <-p.done:
	case <-time.After(d):
	}
}
