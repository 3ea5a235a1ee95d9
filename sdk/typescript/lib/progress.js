// SPDX-License-Identifier: Apache-2.0
// progress.js - the `progress` option of the calls libmsb reports on: an
// image pull or load, a push or pull, a syncing stop, a copy, a
// project's up, down, stop and restart.
//
// libmsb calls its progress callback from the threads doing the work; the
// addon (native/progress.c) copies each report there and calls the
// function given here on the event loop, in order, every report before
// the call's promise settles and none after. A callback that throws, or
// returns a promise that rejects, does not stop the call: what it threw
// becomes a process warning (MicrosandboxWarning), so it is never silent
// nor an uncaught exception.
'use strict';

const { InvalidArgumentError } = require('./errors');

function warn(what, e) {
  process.emitWarning(`${what}: the progress callback failed: ${e && e.message}`,
    { type: 'MicrosandboxWarning', detail: e && e.stack });
}

/**
 * progressOf() - @progress (absent: undefined) checked before anything
 * starts, InvalidArgumentError unless a function, and wrapped for the
 * addon; @what names the call in errors and warnings.
 */
function progressOf(what, progress) {
  if (progress === undefined || progress === null) return undefined;
  if (typeof progress !== 'function') {
    throw new InvalidArgumentError(`${what}: progress is a function`);
  }
  return (event) => {
    try {
      const r = progress(event);
      if (r && typeof r.then === 'function') r.then(undefined, (e) => warn(what, e));
    } catch (e) {
      warn(what, e);
    }
  };
}

module.exports = { progressOf };
