// SPDX-License-Identifier: Apache-2.0
// errors.js - typed errors: each of libmsb's error codes (include/msb.h,
// MSB_E_*) is a class, carrying the library's message. As Node's own
// system errors do, `code` is the code's name ("MSB_E_NOT_FOUND",
// "ENOSPC": msb_error_name()) and `errno` libmsb's negative number.
'use strict';

const os = require('node:os');

class MicrosandboxError extends Error {
  constructor(message, { errno = 0, code = '', cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.errno = errno;
    this.code = code;
  }
}

/** Defines a subclass whose SDK-made instances carry @code and @errno. */
function kind(name, base, code, errno) {
  const C = {
    [name]: class extends base {
      constructor(message, opts = {}) {
        super(message, { code, errno, ...opts });
      }
    },
  }[name];
  return C;
}

const E = os.constants.errno;
const NotFoundError = kind('NotFoundError', MicrosandboxError, 'MSB_E_NOT_FOUND', -E.ENOENT);
const AlreadyExistsError = kind('AlreadyExistsError', MicrosandboxError, 'MSB_E_EXISTS', -E.EEXIST);
const InvalidArgumentError = kind('InvalidArgumentError', MicrosandboxError, 'MSB_E_INVALID', -E.EINVAL);
const NotRunningError = kind('NotRunningError', MicrosandboxError, 'MSB_E_NOT_RUNNING', -E.ENOTCONN);
const AlreadyInStateError = kind('AlreadyInStateError', MicrosandboxError, 'MSB_E_ALREADY', -E.EALREADY);
const BusyError = kind('BusyError', MicrosandboxError, 'MSB_E_BUSY', -E.EBUSY);
const TimeoutError = kind('TimeoutError', MicrosandboxError, 'MSB_E_TIMEOUT', -E.ETIMEDOUT);
const SandboxStoppedError = kind('SandboxStoppedError', MicrosandboxError, 'MSB_E_STOPPED', -E.EPIPE);
const PermissionDeniedError = kind('PermissionDeniedError', MicrosandboxError, 'MSB_E_PERMISSION', -E.EACCES);
const ProtocolError = kind('ProtocolError', MicrosandboxError, 'MSB_E_PROTOCOL', -E.EPROTO);
const ImagePullFailedError = kind('ImagePullFailedError', MicrosandboxError, 'MSB_E_PULL', -1001);
const ImageNotFoundError = kind('ImageNotFoundError', ImagePullFailedError, 'MSB_E_IMAGE_NOT_FOUND', -1002);
const BootFailedError = kind('BootFailedError', MicrosandboxError, 'MSB_E_BOOT', -1003);
const PolicyRefusedError = kind('PolicyRefusedError', MicrosandboxError, 'MSB_E_POLICY', -1004);
const ExecFailedError = kind('ExecFailedError', MicrosandboxError, 'MSB_E_EXEC', -1005);
const DamagedError = kind('DamagedError', MicrosandboxError, 'MSB_E_DAMAGED', -1006);
// The name before layers and plugins could be damaged too; the same class.
const SnapshotDamagedError = DamagedError;
const WrongKindError = kind('WrongKindError', MicrosandboxError, 'MSB_E_KIND', -1007);
const ConflictError = kind('ConflictError', MicrosandboxError, 'MSB_E_CONFLICT', -1008);
const NotSupportedError = kind('NotSupportedError', MicrosandboxError, 'EOPNOTSUPP', -E.EOPNOTSUPP);
const ClosedError = kind('ClosedError', MicrosandboxError, 'EBADF', -E.EBADF);
const LibraryNotFoundError = kind('LibraryNotFoundError', MicrosandboxError, 'MSB_E_LIBRARY', 0);

/** A Sandboxfile that cannot be used (a bad key, type or value, a
 * dependency cycle): `file`, `line` and `column` say where, as the
 * message does ("FILE:LINE:COL: ..."). */
class SandboxfileError extends InvalidArgumentError {
  constructor(message, { file = '', line = 0, column = 0, ...opts } = {}) {
    super(message, opts);
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** A guest file operation failed with an errno that has no class of its
 * own (ENOSPC, EISDIR, ENOTEMPTY...): `code` names it. Also a registry a
 * login cannot reach (EHOSTUNREACH). */
class FileError extends MicrosandboxError {}

/** A command run with `check: true` did not exit 0 (or was killed, or
 * timed out); `result` holds how it ended and what it printed. */
class CommandError extends MicrosandboxError {
  constructor(message, result) {
    super(message, { code: result.timedOut ? 'MSB_E_TIMEOUT' : 'MSB_E_EXIT', errno: 0 });
    this.result = result;
  }
}

const BY_NAME = {
  MSB_E_NOT_FOUND: NotFoundError,
  MSB_E_EXISTS: AlreadyExistsError,
  MSB_E_INVALID: InvalidArgumentError,
  MSB_E_NOT_RUNNING: NotRunningError,
  MSB_E_ALREADY: AlreadyInStateError,
  MSB_E_BUSY: BusyError,
  MSB_E_TIMEOUT: TimeoutError,
  MSB_E_STOPPED: SandboxStoppedError,
  MSB_E_PERMISSION: PermissionDeniedError,
  EPERM: PermissionDeniedError,
  MSB_E_PROTOCOL: ProtocolError,
  MSB_E_PULL: ImagePullFailedError,
  MSB_E_IMAGE_NOT_FOUND: ImageNotFoundError,
  MSB_E_BOOT: BootFailedError,
  MSB_E_POLICY: PolicyRefusedError,
  MSB_E_EXEC: ExecFailedError,
  MSB_E_DAMAGED: DamagedError,
  MSB_E_KIND: WrongKindError,
  MSB_E_CONFLICT: ConflictError,
  EOPNOTSUPP: NotSupportedError,
  EBADF: ClosedError,
};

/**
 * fromCode() - the error for libmsb's @errno, named @code by
 * msb_error_name(), with libmsb's @message. The native addon makes every
 * error it throws or rejects with through this.
 */
function fromCode(errno, code, message) {
  let C = BY_NAME[code];
  if (!C) C = code && code !== 'MSB_E_UNKNOWN' ? FileError : MicrosandboxError;
  const e = new C(message || code, { errno, code });
  // The stack of an error made in a native callback shows nothing useful.
  return e;
}

module.exports = {
  MicrosandboxError,
  NotFoundError,
  AlreadyExistsError,
  InvalidArgumentError,
  SandboxfileError,
  NotRunningError,
  AlreadyInStateError,
  BusyError,
  TimeoutError,
  SandboxStoppedError,
  PermissionDeniedError,
  ProtocolError,
  ImagePullFailedError,
  ImageNotFoundError,
  BootFailedError,
  PolicyRefusedError,
  ExecFailedError,
  DamagedError,
  SnapshotDamagedError,
  WrongKindError,
  ConflictError,
  NotSupportedError,
  ClosedError,
  LibraryNotFoundError,
  FileError,
  CommandError,
  fromCode,
};
