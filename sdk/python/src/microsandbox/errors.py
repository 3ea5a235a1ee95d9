# SPDX-License-Identifier: Apache-2.0
"""Typed errors: each of libmsb's error codes (include/msb.h, MSB_E_*) is an
exception class, carrying the library's message. Catch MicrosandboxError
for all of them."""

from __future__ import annotations

import errno as _errno


class MicrosandboxError(Exception):
    """A call into microsandbox failed. ``code`` is libmsb's negative code,
    ``name`` its symbolic name (``"MSB_E_NOT_FOUND"``, ``"ENOSPC"``), and
    the message says what happened and what to do."""

    _name, _code = "", 0  # what an error raised by the SDK itself carries

    def __init__(self, message: str, code: int = 0, name: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code or self._code
        self.name = name or self._name


class LibraryNotFound(MicrosandboxError, ImportError):
    """libmsb could not be loaded (not installed, or another version)."""


class NotFound(MicrosandboxError, LookupError):
    """No such sandbox, image (locally), snapshot, or file in the guest."""

    _name, _code = "MSB_E_NOT_FOUND", -2


class AlreadyExists(MicrosandboxError):
    """The name is taken; the file in the guest exists (exclusive)."""

    _name, _code = "MSB_E_EXISTS", -17


class InvalidArgument(MicrosandboxError, ValueError):
    """Bad input: a name, an option, a path, a config value."""

    _name, _code = "MSB_E_INVALID", -22


class NotRunning(MicrosandboxError):
    """The sandbox is not running (stopped, failed, booting, stopping)."""

    _name, _code = "MSB_E_NOT_RUNNING", -107


class AlreadyInState(MicrosandboxError):
    """Start of a running sandbox, stop of a stopped one."""

    _name, _code = "MSB_E_ALREADY", -114


class Busy(MicrosandboxError):
    """Remove of a running sandbox without force; too many connections."""

    _name, _code = "MSB_E_BUSY", -16


class Timeout(MicrosandboxError, TimeoutError):
    """A wait ran out of time."""

    _name, _code = "MSB_E_TIMEOUT", -110


class SandboxStopped(MicrosandboxError):
    """The sandbox stopped during the call, or the operation was over."""

    _name, _code = "MSB_E_STOPPED", -32


class PermissionDenied(MicrosandboxError, PermissionError):
    """Refused by the guest's file permissions, or by a registry (a push,
    a plugin's publish, a login it refuses the credentials of; a refused
    pull is ImagePullFailed, its message saying why)."""

    _name, _code = "MSB_E_PERMISSION", -13


class ImagePullFailed(MicrosandboxError):
    """An image could not be pulled (registry unreachable, refused...)."""

    _name, _code = "MSB_E_PULL", -1001


class ImageNotFound(ImagePullFailed, NotFound):
    """The registry has no such image."""

    _name, _code = "MSB_E_IMAGE_NOT_FOUND", -1002


class BootFailed(MicrosandboxError):
    """The sandbox did not boot; the message ends with its console's last
    lines, and ``msb logs NAME`` has the rest."""

    _name, _code = "MSB_E_BOOT", -1003


class PolicyRefused(MicrosandboxError):
    """Refused by a security policy (a secret with private ranges opened)."""

    _name, _code = "MSB_E_POLICY", -1004


class ExecFailed(MicrosandboxError):
    """The guest could not start the command (unknown user, ...)."""

    _name, _code = "MSB_E_EXEC", -1005


class Damaged(MicrosandboxError):
    """Stored files do not match their record: a snapshot's (truncated,
    edited: it is not restored), an installed plugin's, or an image layer
    that is damaged with its blob gone or damaged too (pull the image
    again)."""

    _name, _code = "MSB_E_DAMAGED", -1006


#: The name before layers and plugins could be damaged too; the same class.
SnapshotDamaged = Damaged


class SandboxfileError(InvalidArgument):
    """A Sandboxfile that cannot be used: a bad key, type or value, a
    dependency cycle. ``file``, ``line`` and ``column`` say where (the
    message starts with them, ``FILE:LINE:COL: ``)."""

    def __init__(self, message: str, code: int = 0, name: str = "",
                 file: str = "", line: int = 0, column: int = 0):
        super().__init__(message, code, name)
        self.file, self.line, self.column = file, line, column


class WrongKind(InvalidArgument):
    """The reference names the other kind: a sandbox where an image was
    wanted, or an image where a sandbox was."""

    _name, _code = "MSB_E_KIND", -1007


class SyncConflict(MicrosandboxError):
    """A push or pull would lose changes made since the last one (force
    replaces them)."""

    _name, _code = "MSB_E_CONFLICT", -1008


class ProtocolError(MicrosandboxError):
    """A peer broke its protocol."""

    _name, _code = "MSB_E_PROTOCOL", -71


class FileError(MicrosandboxError, OSError):
    """A file operation failed in the guest with an errno not mapped to a
    class of its own (``errno`` holds it: ENOSPC, EISDIR, ENOTEMPTY...);
    also a registry a login cannot reach (EHOSTUNREACH)."""

    def __init__(self, message: str, code: int = 0, name: str = ""):
        MicrosandboxError.__init__(self, message, code, name)
        self.errno = -code
        self.strerror = message
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


class NotSupported(MicrosandboxError, NotImplementedError):
    """Asked for something this version does not do yet; the message says
    what to use instead."""

    _name, _code = "EOPNOTSUPP", -95


class CommandError(MicrosandboxError):
    """``exec(..., check=True)`` of a command that exited non-zero;
    ``result`` is its ExecResult."""

    def __init__(self, message: str, result):
        super().__init__(message, 0, "")
        self.result = result


class ExecTimeout(Timeout):
    """A command ran past its ``timeout`` and was killed in the guest;
    ``result`` holds what it printed until then."""

    def __init__(self, message: str, result):
        super().__init__(message, 0, "")
        self.result = result


_BY_NAME = {
    "MSB_E_NOT_FOUND": NotFound, "MSB_E_EXISTS": AlreadyExists,
    "MSB_E_INVALID": InvalidArgument, "MSB_E_NOT_RUNNING": NotRunning,
    "MSB_E_ALREADY": AlreadyInState, "MSB_E_BUSY": Busy,
    "MSB_E_TIMEOUT": Timeout, "MSB_E_STOPPED": SandboxStopped,
    "MSB_E_PERMISSION": PermissionDenied, "MSB_E_PROTOCOL": ProtocolError,
    "MSB_E_PULL": ImagePullFailed, "MSB_E_IMAGE_NOT_FOUND": ImageNotFound,
    "MSB_E_BOOT": BootFailed, "MSB_E_POLICY": PolicyRefused,
    "MSB_E_EXEC": ExecFailed, "MSB_E_DAMAGED": Damaged,
    "MSB_E_KIND": WrongKind, "MSB_E_CONFLICT": SyncConflict,
    "EPERM": PermissionDenied,
    "EOPNOTSUPP": NotSupported,
}


def from_code(code: int, name: str, message: str) -> MicrosandboxError:
    """The exception for libmsb's @code (named @name by msb_error_name)."""
    cls = _BY_NAME.get(name)
    if cls is None:
        cls = FileError if -code in _errno.errorcode else MicrosandboxError
    return cls(message, code, name)
