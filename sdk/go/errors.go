// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <msb.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors: what went wrong, for errors.Is. Every error the package
// returns for a failed libmsb call is an *Error, which matches the
// sentinels below by its code and carries libmsb's message; errors.Is(err,
// fs.ErrNotExist) and errors.Is(err, syscall.ENOSPC) work too, since an
// *Error whose code is an errno value unwraps to that syscall.Errno.
var (
	// ErrNotFound: no such sandbox, snapshot, local image, or guest file.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the name is taken, or the guest file exists
	// (an exclusive write or mkdir).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalid: bad input (a name, an option, a path, a config value).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotRunning: the sandbox is not running (stopped, failed, or
	// still booting or stopping).
	ErrNotRunning = errors.New("sandbox not running")
	// ErrAlready: starting a running sandbox or stopping a stopped one.
	ErrAlready = errors.New("already in that state")
	// ErrBusy: removing a running sandbox without force, a snapshot
	// still used, or too many connections to a sandbox.
	ErrBusy = errors.New("busy")
	// ErrTimeout: a wait or a command ran out of time.
	ErrTimeout = errors.New("timed out")
	// ErrStopped: the sandbox stopped during the call, or the command
	// or file operation was already over.
	ErrStopped = errors.New("sandbox stopped")
	// ErrPermission: refused by the guest's file permissions, or by a
	// registry (a login, a push, a plugin's publish; a refused pull is
	// ErrImagePull, its message saying why).
	ErrPermission = errors.New("permission denied")
	// ErrProtocol: a peer (supervisor, guest agent, registry) broke
	// its protocol.
	ErrProtocol = errors.New("protocol error")
	// ErrImagePull: an image could not be pulled.
	ErrImagePull = errors.New("image pull failed")
	// ErrImageNotFound: the registry has no such image (it also
	// matches ErrImagePull and ErrNotFound).
	ErrImageNotFound = errors.New("image not found")
	// ErrBootFailed: the sandbox did not boot; its log says why
	// (Sandbox.LogPath).
	ErrBootFailed = errors.New("boot failed")
	// ErrPolicyRefused: refused by a security policy (a secret with
	// private ranges opened, ...).
	ErrPolicyRefused = errors.New("refused by policy")
	// ErrExecFailed: the guest could not start the command (unknown
	// user, ...). A command that is not found is not this: it runs a
	// shell's way and exits 127.
	ErrExecFailed = errors.New("command could not start")
	// ErrDamaged: stored files do not match their record: a snapshot's
	// (it is not restored), an installed plugin's, or an image's layer
	// damaged with its blob gone or damaged too (pull the image again).
	ErrDamaged = errors.New("damaged")
	// ErrNotSupported: this form is not available (yet): in-process Go
	// hooks, plugins, spawning from inside a sandbox, or a supervisor
	// too old for the request.
	ErrNotSupported = errors.New("not supported")
	// ErrConflict: a push or pull would lose work: the tag holds a push
	// this sandbox did not start from, or the local sandbox changed
	// since its last sync (SyncForce overrides).
	ErrConflict = errors.New("sync conflict")
	// ErrKind: a pushed reference holds another kind than was asked for
	// (a sandbox, a snapshot or an image); the message says which call
	// takes it (Pull, PullSnapshot, PullImage).
	ErrKind = errors.New("another kind of artifact")
	// ErrClosed: the handle (Sandbox, Process, file stream) was closed.
	ErrClosed = errors.New("use of closed handle")
	// ErrNonZeroExit: a command exited non-zero (or was killed) and
	// Check was given; the error is an *ExitError holding the result.
	ErrNonZeroExit = errors.New("command exited non-zero")
)

// libmsb's codes (msb.h, MSB_E_*).
const (
	codeNotFound      = int(C.MSB_E_NOT_FOUND)
	codeExists        = int(C.MSB_E_EXISTS)
	codeInvalid       = int(C.MSB_E_INVALID)
	codeNotRunning    = int(C.MSB_E_NOT_RUNNING)
	codeAlready       = int(C.MSB_E_ALREADY)
	codeBusy          = int(C.MSB_E_BUSY)
	codeTimeout       = int(C.MSB_E_TIMEOUT)
	codeStopped       = int(C.MSB_E_STOPPED)
	codePermission    = int(C.MSB_E_PERMISSION)
	codeProtocol      = int(C.MSB_E_PROTOCOL)
	codePull          = int(C.MSB_E_PULL)
	codeImageNotFound = int(C.MSB_E_IMAGE_NOT_FOUND)
	codeBoot          = int(C.MSB_E_BOOT)
	codePolicy        = int(C.MSB_E_POLICY)
	codeExec          = int(C.MSB_E_EXEC)
	codeDamaged       = int(C.MSB_E_DAMAGED)
	codeConflict      = int(C.MSB_E_CONFLICT)
	codeKind          = int(C.MSB_E_KIND)
	codeNotSupported  = -int(syscall.EOPNOTSUPP)
	codeClosed        = -int(syscall.EBADF)
)

// Error is a failed call: libmsb's code and message, and what the SDK was
// doing. Match it with errors.Is against the sentinels (ErrNotFound, ...),
// or errors.As to read the code.
type Error struct {
	// Op is the operation: "create sandbox agent", "read /etc/x", ...
	Op string
	// Code is libmsb's code: a negative MSB_E_* value, or a negative
	// errno value (-ENOSPC) with errno's meaning.
	Code int
	// Name is the code's symbolic name ("MSB_E_NOT_FOUND", "ENOSPC").
	Name string
	// Message says what happened and what to do, as libmsb wrote it.
	Message string
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "msb: " + e.Message
	}
	return "msb: " + e.Op + ": " + e.Message
}

// Is matches the sentinel errors by code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == codeNotFound || e.Code == codeImageNotFound
	case ErrAlreadyExists:
		return e.Code == codeExists
	case ErrInvalid:
		return e.Code == codeInvalid
	case ErrNotRunning:
		return e.Code == codeNotRunning
	case ErrAlready:
		return e.Code == codeAlready
	case ErrBusy:
		return e.Code == codeBusy
	case ErrTimeout:
		return e.Code == codeTimeout
	case ErrStopped:
		return e.Code == codeStopped
	case ErrPermission:
		return e.Code == codePermission || e.Code == -int(syscall.EPERM)
	case ErrProtocol:
		return e.Code == codeProtocol
	case ErrImagePull:
		return e.Code == codePull || e.Code == codeImageNotFound
	case ErrImageNotFound:
		return e.Code == codeImageNotFound
	case ErrBootFailed:
		return e.Code == codeBoot
	case ErrPolicyRefused:
		return e.Code == codePolicy
	case ErrExecFailed:
		return e.Code == codeExec
	case ErrDamaged:
		return e.Code == codeDamaged
	case ErrNotSupported:
		return e.Code == codeNotSupported
	case ErrClosed:
		return e.Code == codeClosed
	case ErrConflict:
		return e.Code == codeConflict
	case ErrKind:
		return e.Code == codeKind
	}
	return false
}

// Unwrap gives the syscall.Errno of a code that is an errno value, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, syscall.ENOSPC) hold.
func (e *Error) Unwrap() error {
	if e.Code < 0 && e.Code > -4096 {
		return syscall.Errno(-e.Code)
	}
	return nil
}

// codeName is msb_error_name(code).
func codeName(code int) string {
	return C.GoString(C.msb_error_name(C.int(code)))
}

// newError is an SDK-side failure with libmsb's code for it.
func newError(op string, code int, format string, args ...any) *Error {
	return &Error{Op: op, Code: code, Name: codeName(code),
		Message: fmt.Sprintf(format, args...)}
}

// cError is a failed libmsb call's return value and message as an *Error.
func cError(op string, r C.int, e *C.msb_error) *Error {
	code := int(r)
	msg := ""
	if e != nil {
		msg = C.GoString(&e.message[0])
		if e.code != 0 {
			code = int(e.code)
		}
	}
	if msg == "" {
		msg = syscall.Errno(-code).Error()
		if code <= -1000 {
			msg = codeName(code)
		}
	}
	return &Error{Op: op, Code: code, Name: codeName(code), Message: msg}
}

// ExitError is a command that exited non-zero, was killed by a signal or
// timed out, returned when Check was given. It matches ErrNonZeroExit
// (and ErrTimeout when the command timed out).
type ExitError struct {
	Result *ExecResult
}

func (e *ExitError) Error() string {
	r := e.Result
	switch {
	case r.TimedOut:
		return fmt.Sprintf("msb: command timed out (exit code %d)", r.ExitCode)
	case r.Signal != 0:
		return fmt.Sprintf("msb: command killed by signal %d (exit code %d)",
			r.Signal, r.ExitCode)
	}
	return fmt.Sprintf("msb: command exited with code %d", r.ExitCode)
}

// Is matches ErrNonZeroExit, and ErrTimeout for a command that timed out.
func (e *ExitError) Is(target error) bool {
	return target == ErrNonZeroExit || (target == ErrTimeout && e.Result.TimedOut)
}
