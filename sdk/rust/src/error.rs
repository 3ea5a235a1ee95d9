// SPDX-License-Identifier: Apache-2.0
//! Errors: every failure of libmsb, typed by its code (`MSB_E_*` in
//! include/msb.h), with libmsb's message, which says what happened and
//! what to do.

use std::ffi::CStr;
use std::fmt;
use std::io;

use microsandbox_sys as sys;

use crate::command::ExecResult;
use crate::project::SandboxfileError;

/// The result of every fallible call of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a failed call was doing, libmsb's code for why, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The operation: "create sandbox agent", "read /etc/x".
    pub op: String,
    /// libmsb's code: a negative `MSB_E_*` value, or a negative errno
    /// value (-ENOSPC) with errno's meaning.
    pub code: i32,
    /// The code's symbolic name, as `msb_error_name()` gives it
    /// ("MSB_E_NOT_FOUND", "ENOSPC").
    pub name: String,
    /// What happened and what to do, as libmsb wrote it.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op.is_empty() || self.message.starts_with(&self.op) {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.op, self.message)
        }
    }
}

/// An error of this crate. Each variant but [`Error::Exit`] and
/// [`Error::HostIo`] is one of libmsb's codes and carries a [`Failure`]
/// ([`Error::Sandboxfile`] is `MSB_E_INVALID` with where it is):
/// match on the variant, read the message with `to_string()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such sandbox, snapshot, local image, or guest file.
    #[error("{0}")]
    NotFound(Failure),
    /// The name is taken, or the guest file exists (an exclusive write or
    /// mkdir).
    #[error("{0}")]
    AlreadyExists(Failure),
    /// Bad input: a name, an option, a path, a value, a NUL byte in a
    /// string.
    #[error("{0}")]
    Invalid(Failure),
    /// The sandbox is not running (stopped, failed, or still booting or
    /// stopping).
    #[error("{0}")]
    NotRunning(Failure),
    /// Starting a running sandbox or stopping a stopped one, where that
    /// is an error (the lifecycle calls of this crate take it as done).
    #[error("{0}")]
    Already(Failure),
    /// Removing a running sandbox without force, a snapshot still used,
    /// too many connections to a sandbox.
    #[error("{0}")]
    Busy(Failure),
    /// A wait ran out of time.
    #[error("{0}")]
    Timeout(Failure),
    /// The sandbox stopped during the call, or the command or file
    /// operation was already over.
    #[error("{0}")]
    Stopped(Failure),
    /// Refused by the guest's file permissions, or by a registry (a login,
    /// a push, a plugin's publish; a refused pull is [`Error::ImagePull`],
    /// its message saying why).
    #[error("{0}")]
    PermissionDenied(Failure),
    /// A peer (supervisor, guest agent, registry) broke its protocol.
    #[error("{0}")]
    Protocol(Failure),
    /// An image could not be pulled.
    #[error("{0}")]
    ImagePull(Failure),
    /// The registry has no such image (a kind of pull failure:
    /// [`Error::is_image_pull`] holds for it too).
    #[error("{0}")]
    ImageNotFound(Failure),
    /// The sandbox did not boot; its log says why
    /// ([`crate::blocking::Sandbox::log_path`]).
    #[error("{0}")]
    BootFailed(Failure),
    /// Refused by a security policy (a secret with private ranges
    /// opened...).
    #[error("{0}")]
    PolicyRefused(Failure),
    /// The guest could not start the command (an unknown user...). A
    /// command that is not found is not this: it exits 127, as in a shell.
    #[error("{0}")]
    ExecFailed(Failure),
    /// A snapshot's files do not match its record: it is not restored.
    /// Also: an image's layer is damaged and its blob gone or damaged
    /// too (pull the image again).
    #[error("{0}")]
    Damaged(Failure),
    /// The reference names the other kind: a sandbox where an image was
    /// wanted, or an image where a sandbox was.
    #[error("{0}")]
    WrongKind(Failure),
    /// A push or pull would lose changes made since the last one (force
    /// replaces them).
    #[error("{0}")]
    SyncConflict(Failure),
    /// A form of the seeds this version does not serve yet (hooks and
    /// filesystems written in Rust, plugins, sync, spawning from inside a
    /// sandbox); the message says what to use meanwhile.
    #[error("{0}")]
    NotSupported(Failure),
    /// The handle (a sandbox, a process, a file stream) was closed.
    #[error("{0}")]
    Closed(Failure),
    /// Another errno value from libmsb or the guest (EISDIR, ENOTEMPTY,
    /// ENOSPC...): [`Error::errno`] gives it.
    #[error("{0}")]
    Os(Failure),
    /// A Sandboxfile that cannot be used (an unknown key, a wrong type, a
    /// bad value, a dependency cycle): where, and libmsb's failure
    /// (`MSB_E_INVALID`, its message starting "FILE:LINE:COL: ").
    #[error("{0}")]
    Sandboxfile(Box<SandboxfileError>),
    /// A command exited non-zero, was killed or timed out, and
    /// [`crate::Command::check`] was asked for.
    #[error("{0}")]
    Exit(Box<ExitError>),
    /// Reading or writing on the host's side (the reader a file is
    /// written from, the writer it is read into).
    #[error("host I/O: {0}")]
    HostIo(#[from] io::Error),
}

/// A command that did not exit 0, as [`Error::Exit`] carries it.
#[derive(Debug, Clone)]
pub struct ExitError {
    /// How it ended, and its output.
    pub result: ExecResult,
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.result;
        if r.timed_out {
            write!(f, "command timed out (exit code {})", r.exit_code)
        } else if r.signal != 0 {
            write!(f, "command killed by signal {} (exit code {})", r.signal, r.exit_code)
        } else {
            write!(f, "command exited with code {}", r.exit_code)
        }
    }
}

impl std::error::Error for ExitError {}

const EBADF: i32 = -libc::EBADF;
const EOPNOTSUPP: i32 = -libc::EOPNOTSUPP;

/// `msb_error_name(code)`.
pub(crate) fn code_name(code: i32) -> String {
    // SAFETY: msb_error_name returns a static string for any code.
    unsafe { CStr::from_ptr(sys::msb_error_name(code)) }.to_string_lossy().into_owned()
}

impl Error {
    /// An error of this crate's own making, with libmsb's code for it.
    pub(crate) fn new(code: i32, op: impl Into<String>, message: impl Into<String>) -> Error {
        Error::from_failure(Failure { op: op.into(), code, name: code_name(code), message: message.into() })
    }

    pub(crate) fn invalid(op: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(sys::MSB_E_INVALID, op, message)
    }

    pub(crate) fn closed(op: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(EBADF, op, message)
    }

    pub(crate) fn not_supported(op: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(EOPNOTSUPP, op, message)
    }

    /// A failed libmsb call: its return value and the message it wrote.
    pub(crate) fn from_c(op: impl Into<String>, r: i32, err: &sys::msb_error) -> Error {
        let code = if err.code != 0 { err.code } else { r };
        // SAFETY: libmsb NUL-terminates the message (it is zeroed before).
        let mut message = unsafe { CStr::from_ptr(err.message.as_ptr()) }.to_string_lossy().into_owned();
        if message.is_empty() {
            message = if code <= -1000 { code_name(code) } else { io::Error::from_raw_os_error(-code).to_string() };
        }
        Error::from_failure(Failure { op: op.into(), code, name: code_name(code), message })
    }

    pub(crate) fn from_failure(f: Failure) -> Error {
        match f.code {
            sys::MSB_E_NOT_FOUND => Error::NotFound(f),
            sys::MSB_E_EXISTS => Error::AlreadyExists(f),
            sys::MSB_E_INVALID => Error::Invalid(f),
            sys::MSB_E_NOT_RUNNING => Error::NotRunning(f),
            sys::MSB_E_ALREADY => Error::Already(f),
            sys::MSB_E_BUSY => Error::Busy(f),
            sys::MSB_E_TIMEOUT => Error::Timeout(f),
            sys::MSB_E_STOPPED => Error::Stopped(f),
            sys::MSB_E_PERMISSION => Error::PermissionDenied(f),
            c if c == -libc::EPERM => Error::PermissionDenied(f),
            sys::MSB_E_PROTOCOL => Error::Protocol(f),
            sys::MSB_E_PULL => Error::ImagePull(f),
            sys::MSB_E_IMAGE_NOT_FOUND => Error::ImageNotFound(f),
            sys::MSB_E_BOOT => Error::BootFailed(f),
            sys::MSB_E_POLICY => Error::PolicyRefused(f),
            sys::MSB_E_EXEC => Error::ExecFailed(f),
            sys::MSB_E_DAMAGED => Error::Damaged(f),
            sys::MSB_E_KIND => Error::WrongKind(f),
            sys::MSB_E_CONFLICT => Error::SyncConflict(f),
            EOPNOTSUPP => Error::NotSupported(f),
            EBADF => Error::Closed(f),
            _ => Error::Os(f),
        }
    }

    /// The failure behind a libmsb error (`None` for [`Error::Exit`] and
    /// [`Error::HostIo`]).
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Error::NotFound(f)
            | Error::AlreadyExists(f)
            | Error::Invalid(f)
            | Error::NotRunning(f)
            | Error::Already(f)
            | Error::Busy(f)
            | Error::Timeout(f)
            | Error::Stopped(f)
            | Error::PermissionDenied(f)
            | Error::Protocol(f)
            | Error::ImagePull(f)
            | Error::ImageNotFound(f)
            | Error::BootFailed(f)
            | Error::PolicyRefused(f)
            | Error::ExecFailed(f)
            | Error::Damaged(f)
            | Error::WrongKind(f)
            | Error::SyncConflict(f)
            | Error::NotSupported(f)
            | Error::Closed(f)
            | Error::Os(f) => Some(f),
            Error::Sandboxfile(e) => Some(&e.failure),
            Error::Exit(_) | Error::HostIo(_) => None,
        }
    }

    /// libmsb's code (a negative `MSB_E_*` or errno value); 0 for
    /// [`Error::Exit`] and [`Error::HostIo`].
    pub fn code(&self) -> i32 {
        self.failure().map_or(0, |f| f.code)
    }

    /// The code's name as `msb_error_name()` gives it ("MSB_E_NOT_FOUND",
    /// "EISDIR"), the names the shared test vectors use.
    pub fn name(&self) -> &str {
        match self {
            Error::Exit(_) => "EXIT",
            Error::HostIo(_) => "HOST_IO",
            e => &e.failure().expect("a libmsb error").name,
        }
    }

    /// The errno value behind the error, when its code is one (ENOENT for
    /// [`Error::NotFound`], EISDIR...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::HostIo(e) => e.raw_os_error(),
            _ => {
                let c = self.code();
                (c < 0 && c > -1000).then_some(-c)
            }
        }
    }

    /// A pull failure of any kind ([`Error::ImagePull`] or
    /// [`Error::ImageNotFound`]).
    pub fn is_image_pull(&self) -> bool {
        matches!(self, Error::ImagePull(_) | Error::ImageNotFound(_))
    }

    /// A command that timed out ([`Error::Exit`] of a timed-out command)
    /// or a wait that ran out of time ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Exit(e) => e.result.timed_out,
            _ => false,
        }
    }

    /// The kind of `std::io::Error` this is, for the Read and Write
    /// implementations.
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::NotFound(_) | Error::ImageNotFound(_) => io::ErrorKind::NotFound,
            Error::AlreadyExists(_) => io::ErrorKind::AlreadyExists,
            Error::Invalid(_) | Error::Sandboxfile(_) => io::ErrorKind::InvalidInput,
            Error::PermissionDenied(_) => io::ErrorKind::PermissionDenied,
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Stopped(_) | Error::NotRunning(_) => io::ErrorKind::BrokenPipe,
            Error::NotSupported(_) => io::ErrorKind::Unsupported,
            Error::HostIo(e) => e.kind(),
            Error::Os(f) if f.code == -libc::ENOSPC => io::ErrorKind::StorageFull,
            Error::Os(f) if f.code == -libc::EISDIR => io::ErrorKind::IsADirectory,
            Error::Os(f) if f.code == -libc::ENOTDIR => io::ErrorKind::NotADirectory,
            Error::Os(f) if f.code == -libc::ENOTEMPTY => io::ErrorKind::DirectoryNotEmpty,
            _ => io::ErrorKind::Other,
        }
    }
}

/// An [`Error`] as a `std::io::Error` (from the Read and Write
/// implementations); `get_ref()` and `into_inner()` give the [`Error`]
/// back, and a host I/O error is returned as it was.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::HostIo(e) => e,
            e => io::Error::new(e.io_kind(), e),
        }
    }
}

/// The [`Error`] inside a `std::io::Error` made from one; any other
/// becomes [`Error::HostIo`].
pub(crate) fn from_io(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        return *e.into_inner().unwrap().downcast::<Error>().unwrap();
    }
    Error::HostIo(e)
}
