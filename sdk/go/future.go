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
