// SPDX-License-Identifier: Apache-2.0

// Package msb is the Go SDK of microsandbox: every sandbox is a microVM
// with its own Linux kernel, on this machine, with no daemon. It binds
// libmsb (the C library the msb command line is built on) with cgo, and
// adds only what makes it Go: contexts, functional options, errors for
// errors.Is, io.Reader and io.Writer streams, goroutine-safe handles.
//
//	sb, err := msb.NewSandbox("agent",
//		msb.Image("python:3.12"),
//		msb.SecretEnv("OPENAI_API_KEY", key, "api.openai.com"),
//	)
//	if err != nil {
//		return err
//	}
//	defer sb.Close() // removes the sandbox this handle made
//
//	res, err := sb.Exec(ctx, `python -c "print('hello')"`)
//	// res.Stdout, res.Stderr, res.ExitCode: a non-zero exit is data
//
// # Building
//
// The package finds libmsb with pkg-config (#cgo pkg-config: libmsb).
// After ./setup (or make install) libmsb.pc is in PREFIX/lib/pkgconfig
// (/usr/local by default), which pkg-config searches. To use a build tree
// in place, point PKG_CONFIG_PATH at it:
//
//	PKG_CONFIG_PATH=/path/to/microsandbox/build/lib/pkgconfig go build
//
// "Package libmsb was not found in the pkg-config search path" means
// neither is the case. The .pc file carries an rpath, so programs find
// libmsb.so at run time without LD_LIBRARY_PATH.
//
// # Commands
//
// Exec takes a command line and splits it into words as SplitCommand
// documents (a shell's quoting, no expansion); ExecArgs takes the words
// as they are; Shell runs sh -c. All three wait and capture the output.
// Stream starts a command and leaves stdin, stdout, stderr, signals and
// the terminal size to the caller; its Paused says why while the sandbox
// is paused on a full host disk. ExecDetached starts one in the
// background (msb exec -d) and returns its pid; its output goes to the
// sandbox's log.
//
// # Waiting without threads
//
// Every command and file stream of libmsb is a socket whose descriptor is
// polled before the library is asked, with a zero timeout, for what came.
// The package puts those descriptors in one epoll instance whose own
// descriptor is handed to the Go runtime's netpoller, and a single
// goroutine dispatches its events: a stream that waits parks its
// goroutine, never an OS thread, so thousands of commands can run at once.
// Calls that are one request and its answer (a stat, a stop, a boot) are
// made directly and hold their thread for their duration; those that can
// take long (boots, stops, snapshots) run in a goroutine of their own so
// that their context can end the wait.
//
// # Contexts
//
// A command's context bounds its whole life: when it ends, the guest
// process is killed (SIGKILL) and the call fails with the context's error.
// Timeout kills it on the host's clock instead, as data (TimedOut). Other
// calls return their context's error as soon as it ends; what they started
// in libmsb finishes by itself (a boot abandoned by NewSandboxContext is
// removed once it is over).
//
// # Errors
//
// Every failure of libmsb is an *Error carrying its code, the code's name
// and libmsb's message (which says what happened and what to do). Match it
// with errors.Is against ErrNotFound, ErrAlreadyExists, ErrInvalid,
// ErrNotRunning, ErrImagePull, ErrBootFailed, ErrPolicyRefused,
// ErrTimeout, ErrDamaged, ErrNotSupported...; guest file errors also match
// fs.ErrNotExist, fs.ErrExist, fs.ErrPermission and their syscall.Errno.
// Nothing panics.
//
// # Hooks
//
// Exec and lifecycle hooks in Go (OnExec, OnExecExit, OnLifecycle),
// network hooks (OnDns, OnConnect, OnHttp, OnHttpResponse, and
// OnHttpResponseHead, which only watches) and the overridden calls of a Go filesystem wrapping a built-in one (the
// seeds' AuditFs) are served from this program over the hook protocol
// (docs/plugins.md), as the plugin go-sdk; a hook that panics or misses
// its deadline has its call refused.
//
// # Peers
//
// Inside a sandbox, CurrentRuntime starts peer sandboxes beside it when
// the host allows it (Runtime.Start, List, Peer; docs/spawn.md). The
// package guest is the same runtime in pure Go, for a guest without
// libmsb (CGO_ENABLED=0).
package msb
