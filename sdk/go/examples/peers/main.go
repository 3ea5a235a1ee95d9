// SPDX-License-Identifier: Apache-2.0

// Command peers runs inside a sandbox the host lets spawn (msb run
// --allow-spawn 1): it starts a peer beside it, air-gapped, runs commands
// in it, shows that the host refuses a second, and removes it. It uses the
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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
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

	if err := peer.Stop(ctx); err != nil {
		die("stop", err)
	}
	if err := peer.Remove(ctx); err != nil {
		die("remove", err)
	}
	if peers, err = rt.List(ctx); err != nil {
		die("list", err)
	}
	say("removed", "peers", peers)
}
