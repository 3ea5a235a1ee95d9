// SPDX-License-Identifier: Apache-2.0

package msb

// Exec and lifecycle hooks written in Go (docs/plugins.md): OnExec is
// the exec_before call, OnExecExit the exec_after event and OnLifecycle
// the lifecycle event, served with the network and filesystem hooks as
// the socket plugin go-sdk (hooks.go).

import (
	"fmt"
	"strings"
	"time"
)

// ExecCall is a command about to run in the sandbox, as an OnExec hook
// sees it.
type ExecCall struct {
	Argv []string
	Env  []string // the exec's own KEY=VALUEs, not the sandbox's defaults
	Cwd  string   // its working directory (or the sandbox's); "" when neither is set
	User string   // its user (or the sandbox's); "" when neither is set
	Tty  bool     // it has a terminal
}

// ExecAction is an OnExec hook's verdict: ExecAllow, ExecDeny or
// ExecRewrite.
type ExecAction struct {
	Deny   bool
	Reason string
	Argv   []string // run this argv instead (nil: the command's own)
	Env    []string // these KEY=VALUEs instead of the exec's own (nil: its own)
}

// ExecAllow lets the command run as it was asked.
func ExecAllow() ExecAction { return ExecAction{} }

// ExecDeny refuses the command: the caller gets ErrPolicyRefused with
// "exec denied by plugin go-sdk: REASON" (msb exec exits 125).
func ExecDeny(reason string) ExecAction { return ExecAction{Deny: true, Reason: reason} }

// ExecRewrite runs the command with @argv (non-empty) and @env
// (KEY=VALUEs replacing the exec's own) instead; nil keeps either as it
// was asked.
func ExecRewrite(argv, env []string) ExecAction { return ExecAction{Argv: argv, Env: env} }

// ExecExit is a command that ended, as an OnExecExit hook sees it.
type ExecExit struct {
	Argv     []string // as it ran (after any rewrite)
	ExitCode int
	Signal   int // the signal that ended it, or 0
	Duration time.Duration
	TimedOut bool // its timeout killed it
}

// LifecycleEvent is a step of the sandbox's life, as an OnLifecycle hook
// sees it.
type LifecycleEvent struct {
	// Event is "create" (a new sandbox's first start, before its boot),
	// "start", "restore", "snapshot", "stop" or "remove".
	Event    string
	Sandbox  string
	Image    string        // create: its image
	Snapshot string        // create and restore from a snapshot: the snapshot
	BootTime time.Duration // start and restore: how long the boot took
	Full     bool          // snapshot: of its memory too
	Error    string        // stop: why it failed; "" when it did not
}

// OnExec calls @hook, in this program, before each command runs in the
// sandbox (Exec, Shell, Stream, msb exec, a detached Cmd):
// ExecAllow, ExecDeny(reason) or ExecRewrite(argv, env). It runs on a
// goroutine of the SDK's hook server (docs/plugins.md); one that panics,
// misses the deadline (PluginTimeout, 1 s) or rewrites into a bad argv
// or env has its command refused (ErrPolicyRefused, saying why).
func OnExec(hook func(c ExecCall) ExecAction) Option {
	return option("OnExec", func(c *sandboxConfig) {
		if hook == nil {
			c.refused = append(c.refused, nilHook("OnExec"))
		}
		c.hooks.exec = hook
	})
}

// OnExecExit tells @hook, in this program, of each command's end: the
// argv that ran, its exit code or signal and how long it took. It is an
// event: nothing waits for it, and one that panics loses that event.
func OnExecExit(hook func(e ExecExit)) Option {
	return option("OnExecExit", func(c *sandboxConfig) {
		if hook == nil {
			c.refused = append(c.refused, nilHook("OnExecExit"))
		}
		c.hooks.exit = hook
	})
}

// OnLifecycle tells @hook, in this program, of the sandbox's create,
// starts, stops, snapshots, restores and its remove (an event, as
// OnExecExit's). Remove, and Close when it removes the sandbox, wait
// (3 s at most) for the last ones (stop, remove) to be told.
func OnLifecycle(hook func(e LifecycleEvent)) Option {
	return option("OnLifecycle", func(c *sandboxConfig) {
		if hook == nil {
			c.refused = append(c.refused, nilHook("OnLifecycle"))
		}
		c.hooks.lifecycle = hook
	})
}

func nilHook(name string) error {
	return newError("create", codeInvalid, "msb.%s(nil): give it a function", name)
}

// execCall asks OnExec about the command of call @m.
func (s *hookServer) execCall(m map[string]any) map[string]any {
	if s.hooks.exec == nil {
		return allow()
	}
	tty, _ := m["tty"].(bool)
	a := s.hooks.exec(ExecCall{Argv: strs(m, "argv"), Env: strs(m, "env"),
		Cwd: str(m, "cwd"), User: str(m, "user"), Tty: tty})
	if a.Deny {
		if a.Reason == "" {
			a.Reason = "OnExec"
		}
		return deny(a.Reason)
	}
	if why := badRewrite(a); why != "" {
		return deny("OnExec's rewrite: " + why)
	}
	r := allow()
	if a.Argv != nil {
		r["argv"] = a.Argv
	}
	if a.Env != nil {
		r["env"] = a.Env
	}
	return r
}

// badRewrite is why the supervisor would refuse @a's argv or env (a
// reply it refuses drops go-sdk's channel, and every later call with
// it), or "".
func badRewrite(a ExecAction) string {
	if a.Argv != nil && len(a.Argv) == 0 {
		return "an empty argv (nil keeps the command's)"
	}
	if len(a.Argv) > hookArgvMax || len(a.Env) > hookArgvMax {
		return fmt.Sprintf("over %d entries", hookArgvMax)
	}
	for _, v := range [][]string{a.Argv, a.Env} {
		for _, s := range v {
			if len(s) > hookArgMax || strings.IndexByte(s, 0) >= 0 {
				return fmt.Sprintf("%.40q: a string of at most %d bytes without NUL", s, hookArgMax)
			}
		}
	}
	for _, kv := range a.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Sprintf("env entry %.40q is not KEY=VALUE", kv)
		}
	}
	return ""
}

// The supervisor's bounds on a rewrite (src/plugins/wire.h).
const (
	hookArgvMax = 4096  // entries of argv or env
	hookArgMax  = 65536 // bytes of one
)

// tell gives event @m (exec_after, lifecycle, http_response_head) to its
// hook.
func (s *hookServer) tell(m map[string]any) {
	defer func() { recover() }() // a hook that panics loses its event
	switch m["hook"] {
	case "exec_after":
		if s.hooks.exit != nil {
			ms, _ := m["duration_ms"].(float64)
			timedOut, _ := m["timed_out"].(bool)
			s.hooks.exit(ExecExit{Argv: strs(m, "argv"), ExitCode: int(num(m, "exit_code")),
				Signal: int(num(m, "signal")), TimedOut: timedOut,
				Duration: time.Duration(ms * float64(time.Millisecond))})
		}
	case "http_response_head":
		if s.hooks.head != nil {
			head := str(m, "head")
			_, hdr := parseHookHead(head)
			tls, _ := m["tls"].(bool)
			n := int64(-1)
			if v, ok := m["body_length"].(float64); ok {
				n = int64(v)
			}
			s.hooks.head(HttpResponseHead{Status: int(num(m, "status")), Head: head, Header: hdr,
				Host: str(m, "host"), Request: str(m, "request"), BodyLength: n, TLS: tls})
		}
	case "lifecycle":
		if s.hooks.lifecycle != nil {
			full, _ := m["full"].(bool)
			s.hooks.lifecycle(LifecycleEvent{
				Event:    str(m, "event"),
				Sandbox:  str(m, "sandbox"),
				Image:    str(m, "image"),
				Snapshot: str(m, "snapshot"),
				BootTime: time.Duration(num(m, "boot_ms")) * time.Millisecond,
				Full:     full,
				Error:    str(m, "error"),
			})
		}
	}
}

func strs(m map[string]any, k string) []string {
	a, _ := m[k].([]any)
	v := make([]string, 0, len(a))
	for _, x := range a {
		if s, ok := x.(string); ok {
			v = append(v, s)
		}
	}
	return v
}
