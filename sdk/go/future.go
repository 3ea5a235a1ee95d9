// SPDX-License-Identifier: Apache-2.0

package msb

import (
	"context"
	"os"
	"strings"
)

// The forms below are in the seeds but not in libmsb yet. They compile,
// so that code written against the seeds builds, and refuse with
// ErrNotSupported and a message saying what to use meanwhile.

// Push sends the sandbox's filesystem to its remote, to be pulled and
// resumed elsewhere (sandbox sync). Not in libmsb yet: ErrNotSupported.
func (sb *Sandbox) Push(ctx context.Context) error {
	return newError("push sandbox "+sb.name, codeNotSupported,
		"sandbox sync (push and pull) is not in this libmsb yet; "+
			"a snapshot (Sandbox.Snapshot) keeps its state on this host")
}

// Pull fetches the sandbox @name pushed elsewhere and makes it here,
// stopped (Start boots it). Not in libmsb yet: ErrNotSupported.
func Pull(ctx context.Context, name string) (*Sandbox, error) {
	return nil, newError("pull sandbox "+name, codeNotSupported,
		"sandbox sync (push and pull) is not in this libmsb yet")
}

// Runtime is the microsandbox a program runs inside, from which it could
// spawn peer sandboxes.
type Runtime struct{}

// CurrentRuntime is the microsandbox this program runs inside. Spawning
// peers from inside a sandbox is not in libmsb yet, so it fails with
// ErrNotSupported, saying whether this program is inside a sandbox at
// all (it never spawns anything by accident).
func CurrentRuntime(ctx context.Context) (*Runtime, error) {
	if !insideSandbox() {
		return nil, newError("current runtime", codeNotSupported,
			"this program is not running inside a microsandbox")
	}
	return nil, newError("current runtime", codeNotSupported,
		"spawning peer sandboxes from inside a sandbox is not supported yet")
}

// Start would create the peer sandbox @name; see CurrentRuntime.
func (rt *Runtime) Start(name string, opts ...Option) (*Sandbox, error) {
	return nil, newError("start peer sandbox "+name, codeNotSupported,
		"spawning peer sandboxes from inside a sandbox is not supported yet")
}

// insideSandbox tells whether the guest agent is this system's init.
func insideSandbox() bool {
	b, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(b)) == "msb-agent"
}
