// SPDX-License-Identifier: Apache-2.0
// process.js - commands in a sandbox: exec (wait and capture) and
// execStream (a Process: stdin, stdout and stderr as they go, signals,
// terminal size)
//
// Each command is a connection of its own to the sandbox's supervisor,
// polled on the event loop (stream.js): fifty commands at once are fifty
// descriptors in libuv's poll set, not fifty threads. Output not taken
// yet is bounded: past 1 MiB held for a reader, the connection is not
// read, and the guest's process waits on its pipe.
'use strict';

const os = require('node:os');
const { Readable, Writable } = require('node:stream');
const native = require('./native');
const { NativeStream } = require('./stream');
const { splitCommand } = require('./shellwords');
const {
  InvalidArgumentError, SandboxStoppedError, ClosedError, CommandError,
} = require('./errors');

/** Output bytes held for a reader before the guest is made to wait. */
const HIGH_WATER = 1 << 20;

/** How a command ended, and its output when it was captured. */
class ExecResult {
  constructor(exitCode, signal, timedOut, stdoutBytes, stderrBytes) {
    /** Its status; 128+N if signal N killed it (137 for a timeout). */
    this.exitCode = exitCode;
    /** The signal that killed it, 0 if it exited. */
    this.signal = signal;
    /** Killed by its `timeout` (SIGKILL). */
    this.timedOut = timedOut;
    this.stdoutBytes = stdoutBytes;
    this.stderrBytes = stderrBytes;
    this.stdout = stdoutBytes.toString('utf8');
    this.stderr = stderrBytes.toString('utf8');
  }

  /** It exited 0. */
  get success() {
    return this.exitCode === 0 && this.signal === 0 && !this.timedOut;
  }
}

/** A piece of a command's output, as it came. */
class OutputChunk {
  constructor(stream, data) {
    /** "stdout" or "stderr". */
    this.stream = stream;
    /** The bytes. */
    this.data = data;
  }

  /** The bytes as UTF-8 text (a character cut by a chunk's end is
   * replaced: join the data before decoding to keep it). */
  get text() {
    return this.data.toString('utf8');
  }
}

const EMPTY = Buffer.alloc(0);
const EXEC_KEYS = new Set(['env', 'cwd', 'user', 'stdin', 'timeout', 'check', 'tty',
  'signal', 'onStdout', 'onStderr']);

/** signalNumber() - "SIGTERM", "TERM" or 15 as Linux's number. */
function signalNumber(sig) {
  if (typeof sig === 'number' && Number.isInteger(sig) && sig > 0 && sig < 65) return sig;
  if (typeof sig === 'string') {
    const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
    const n = os.constants.signals[name];
    if (n) return n;
  }
  throw new InvalidArgumentError(`unknown signal ${JSON.stringify(sig)}: use a name ("SIGTERM") or a number`);
}

function envList(env, what) {
  if (env == null) return undefined;
  if (typeof env !== 'object' || Array.isArray(env)) {
    throw new InvalidArgumentError(`${what} must be an object of names and values`);
  }
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** execOptions() - an exec's options as the addon takes them (msb_exec_opts). */
function execOptions(o, wantStdin) {
  for (const k of Object.keys(o)) {
    if (!EXEC_KEYS.has(k)) {
      throw new InvalidArgumentError(`unknown exec option '${k}' (one of ${[...EXEC_KEYS].join(', ')})`);
    }
  }
  const n = { env: envList(o.env, 'env'), workdir: o.cwd, user: o.user, stdin: wantStdin };
  if (o.timeout != null) {
    if (typeof o.timeout !== 'number' || !(o.timeout > 0) || o.timeout > 0xffffffff) {
      throw new InvalidArgumentError(`invalid timeout ${o.timeout}: milliseconds, more than 0`);
    }
    n.timeoutMs = Math.max(1, Math.round(o.timeout));
  }
  if (o.tty) {
    n.tty = true;
    if (typeof o.tty === 'object') {
      n.rows = o.tty.rows;
      n.cols = o.tty.cols;
    }
  }
  return n;
}

/** argvOf() - a command line split into words, or an argv as it is. */
function argvOf(cmd) {
  if (typeof cmd === 'string') return splitCommand(cmd);
  if (Array.isArray(cmd) && cmd.every((a) => typeof a === 'string')) return [...cmd];
  throw new InvalidArgumentError('a command is a command line (a string) or an argv (an array of strings)');
}

function abortReason(signal) {
  return signal.reason !== undefined ? signal.reason :
    new DOMException('The operation was aborted', 'AbortError');
}

/**
 * A command running in a sandbox. Its output is read one way of three:
 * `for await (const chunk of p)` (both streams, in order), `p.stdout` and
 * `p.stderr` (Node Readables), or the `onStdout`/`onStderr` callbacks;
 * output nobody asked for is dropped once wait() is called.
 */
class Process {
  constructor(argv, handle, opts, mode) {
    this.argv = argv;
    /** Its process id in the guest. */
    this.pid = 0;
    this._opts = opts;
    this._stdinOpen = opts.stdin != null && opts.stdin !== false;
    this._mode = mode; // capture | chunks | streams | discard
    this._state = 'running'; // running | exited | failed | closed
    this._paused = null;
    this._chunks = [];
    this._queued = 0;
    this._waiters = [];
    this._captured = { stdout: [], stderr: [] };
    this._readables = null;
    this._claimed = { stdout: false, stderr: false };
    this._wchain = Promise.resolve();
    this._started = new Promise((res, rej) => {
      this._startOk = res;
      this._startFail = rej;
    });
    this._done = new Promise((res, rej) => {
      this._doneOk = res;
      this._doneFail = rej;
    });
    this._started.catch(() => {});
    this._done.catch(() => {});
    this._ns = new NativeStream(handle, native.execNext,
      (ev) => this._event(ev), (err) => this._error(err));
    const signal = opts.signal;
    if (signal) {
      this._onAbort = () => this._abort(abortReason(signal));
      signal.addEventListener('abort', this._onAbort, { once: true });
    }
    this._ns.start();
  }

  _event(ev) {
    switch (ev.type) {
      case 'started':
        this.pid = ev.pid;
        this._startOk();
        break;
      case 'stdout':
      case 'stderr':
        this._output(ev.type, ev.data);
        break;
      case 'paused':
        this._paused = ev.message;
        break;
      case 'resumed':
        this._paused = null;
        break;
      case 'exit':
        this._paused = null;
        this._end('exited');
        this._result = { exitCode: ev.exitCode, signal: ev.signal, timedOut: ev.timedOut };
        this._startOk();
        this._endOutput(null);
        this._doneOk();
        break;
      default:
        break;
    }
  }

  _error(err) {
    this._paused = null;
    this._end('failed');
    this._startFail(err);
    this._endOutput(err);
    this._doneFail(err);
  }

  /**
   * Why the sandbox is paused (its host disk is full: "sandbox NAME is
   * paused: the host disk under DIR is full ...") while it is; null while
   * it runs and once the command has ended. The command waits meanwhile
   * and goes on by itself once there is room (docs/api-protocol.md §11.4).
   */
  get paused() {
    return this._paused;
  }

  _abort(reason) {
    if (this._state !== 'running') return;
    // SIGKILL to its process group, if the socket takes it now; the
    // connection closing hangs it up in any case.
    try {
      if (native.streamWritable(this._ns.handle)) native.execSignal(this._ns.handle, 9);
    } catch {
      /* it ended meanwhile */
    }
    this._end('failed');
    this._startFail(reason);
    this._endOutput(reason);
    this._doneFail(reason);
  }

  _end(state) {
    if (this._state !== 'running') return;
    this._state = state;
    this._ns.close(state === 'closed' ? 'the process was closed' : 'the command has exited');
    if (this._onAbort) this._opts.signal.removeEventListener('abort', this._onAbort);
  }

  // ---- output ----

  _output(stream, data) {
    const cb = stream === 'stdout' ? this._opts.onStdout : this._opts.onStderr;
    if (cb) {
      cb(data);
      return;
    }
    switch (this._mode) {
      case 'capture':
        this._captured[stream].push(data);
        break;
      case 'streams':
        this._want[stream] = false;
        if (!this._readables[stream].push(data)) this._ns.pause();
        break;
      case 'chunks':
        this._chunks.push(new OutputChunk(stream, data));
        this._queued += data.length;
        if (this._queued > HIGH_WATER) this._ns.pause();
        this._wake();
        break;
      default: // discard
        break;
    }
  }

  _wake() {
    const w = this._waiters;
    this._waiters = [];
    for (const f of w) f();
  }

  _endOutput(err) {
    this._outputEnded = true;
    this._outputError = err;
    if (this._readables) {
      // A stream nobody listens to for errors just ends: the error is
      // wait()'s, and an 'error' event without a listener would throw.
      for (const r of Object.values(this._readables)) {
        if (err && r.listenerCount('error') > 0) r.destroy(err);
        else r.push(null);
      }
    }
    this._wake();
  }

  /** A Readable asked for more (@stream): the connection is read again
   * once neither stream holds its fill unasked. */
  _readMore(stream) {
    this._want[stream] = true;
    const ok = (s) => this._want[s] || this._readables[s].readableLength < HIGH_WATER;
    if (ok('stdout') && ok('stderr')) this._ns.resume();
  }

  _toStreams() {
    if (this._readables) return;
    if (this._mode === 'capture') {
      throw new InvalidArgumentError('exec() captures the output: use execStream() to read it as streams');
    }
    if (this._iterating) {
      throw new InvalidArgumentError("the output is being iterated (for await): it cannot also be read as streams");
    }
    const make = (s) => new Readable({ highWaterMark: HIGH_WATER, read: () => this._readMore(s) });
    this._readables = { stdout: make('stdout'), stderr: make('stderr') };
    this._want = { stdout: false, stderr: false };
    const held = this._chunks;
    this._chunks = [];
    this._queued = 0;
    this._mode = this._mode === 'discard' ? 'discard' : 'streams';
    for (const c of held) this._readables[c.stream].push(c.data);
    if (this._outputEnded) this._endOutput(this._outputError);
    else this._ns.resume();
  }

  /** The command's stdout as a Readable (empty if an onStdout callback
   * takes it). Read it (and stderr) to their end before wait(). */
  get stdout() {
    this._toStreams();
    this._claimed.stdout = true;
    return this._readables.stdout;
  }

  /** The command's stderr, as stdout. */
  get stderr() {
    this._toStreams();
    this._claimed.stderr = true;
    return this._readables.stderr;
  }

  /** Both streams' output, chunk by chunk, in the order it came. */
  async *[Symbol.asyncIterator]() {
    if (this._mode === 'capture') {
      throw new InvalidArgumentError('exec() captures the output: use execStream() to iterate it');
    }
    if (this._readables) {
      throw new InvalidArgumentError('the output is read as streams (p.stdout): it cannot also be iterated');
    }
    this._iterating = true;
    for (;;) {
      if (this._chunks.length) {
        const c = this._chunks.shift();
        this._queued -= c.data.length;
        if (this._queued <= HIGH_WATER / 2) this._ns.resume();
        yield c;
        continue;
      }
      if (this._outputEnded) {
        if (this._outputError) throw this._outputError;
        return;
      }
      await new Promise((resolve) => this._waiters.push(resolve));
    }
  }

  // ---- input, signals, terminal ----

  _writer(what) {
    if (this._state === 'closed') throw new ClosedError(`${what}: the process was closed`);
    if (this._state !== 'running') throw new SandboxStoppedError(`${what}: the command has already exited`);
  }

  /** write() - bytes (or UTF-8 text) to the command's stdin, in order
   * with earlier writes; resolves once the sandbox took them. */
  write(data) {
    if (!this._stdinOpen) {
      return Promise.reject(new InvalidArgumentError(
        'stdin is not open: start the command with { stdin: true } (or data to send)'));
    }
    const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const p = this._wchain.then(() => {
      this._writer('stdin');
      return this._ns.write(buf, native.execWrite);
    });
    this._wchain = p.catch(() => {});
    return p;
  }

  /** closeStdin() - end of input, after every write before it. */
  closeStdin() {
    const p = this._wchain.then(() => {
      this._writer('close stdin');
      return this._ns.call(native.execCloseStdin);
    });
    this._wchain = p.catch(() => {});
    return p;
  }

  /** A Writable to the command's stdin (ending it closes stdin). */
  get stdin() {
    if (!this._stdinWritable) {
      this._stdinWritable = new Writable({
        write: (chunk, _enc, cb) => this.write(chunk).then(() => cb(), cb),
        final: (cb) => this.closeStdin().then(() => cb(), cb),
      });
    }
    return this._stdinWritable;
  }

  /** kill() - a signal ("SIGTERM", 15; default SIGKILL) to the command's
   * process group in the guest. */
  async kill(signal = 'SIGKILL') {
    const n = signalNumber(signal);
    this._writer('signal');
    await this._ns.call(native.execSignal, n);
  }

  /** resize() - the terminal's size (tty); its foreground process gets
   * SIGWINCH. */
  async resize(rows, cols) {
    this._writer('resize');
    await this._ns.call(native.execResize, rows, cols);
  }

  // ---- the end ----

  /** wait() - how the command ended. Output that nobody takes is
   * dropped from now on. With `check`, a command that did not exit 0 is
   * a CommandError. */
  async wait() {
    if (this._mode === 'chunks' && !this._iterating) {
      this._mode = 'discard';
      this._chunks = [];
      this._queued = 0;
      this._ns.resume();
    }
    if (this._readables) {
      for (const s of ['stdout', 'stderr']) if (!this._claimed[s]) this._readables[s].resume();
    }
    await this._done;
    if (this._state === 'closed' && !this._result) throw new ClosedError('the process was closed before it exited');
    const r = this._result;
    const res = new ExecResult(r.exitCode, r.signal, r.timedOut,
      this._mode === 'capture' ? Buffer.concat(this._captured.stdout) : EMPTY,
      this._mode === 'capture' ? Buffer.concat(this._captured.stderr) : EMPTY);
    if (this._opts.check && !res.success) {
      const why = res.timedOut ? `timed out (exit code ${res.exitCode})` :
        res.signal ? `was killed by signal ${res.signal} (exit code ${res.exitCode})` :
          `exited with code ${res.exitCode}`;
      throw new CommandError(`${JSON.stringify(this.argv.join(' '))} ${why}`, res);
    }
    return res;
  }

  /** close() - hang up: the connection closes, and a command still
   * running gets SIGHUP, as from a closed terminal. */
  async close() {
    if (this._state !== 'running') return;
    this._end('closed');
    const err = new ClosedError('the process was closed before it exited');
    this._startFail(err);
    this._endOutput(null);
    this._doneFail(err);
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

/** toBuffers() - what `stdin` gives, as Buffers. */
async function* toBuffers(src) {
  if (typeof src === 'string') {
    yield Buffer.from(src);
  } else if (src instanceof Uint8Array) {
    yield src;
  } else if (src && (typeof src[Symbol.asyncIterator] === 'function' || typeof src[Symbol.iterator] === 'function')) {
    for await (const c of src) yield typeof c === 'string' ? Buffer.from(c) : c;
  } else {
    throw new InvalidArgumentError('stdin takes a string, a Uint8Array, a Readable or an iterable of them');
  }
}

async function feed(p, src) {
  try {
    for await (const b of toBuffers(src)) await p.write(b);
    await p.closeStdin();
  } catch (e) {
    // A command that exits before reading all of its input is no error
    // of ours; anything else kills it.
    if (p._state === 'running') {
      p._error(e);
    }
  }
}

/**
 * startProcess() - @argv started in the sandbox whose libmsb handle
 * @handle gives; resolves once it runs.
 */
async function startProcess(handle, argv, opts, mode) {
  if (opts.signal && opts.signal.aborted) throw abortReason(opts.signal);
  const wantStdin = opts.stdin != null && opts.stdin !== false;
  const nopts = execOptions(opts, wantStdin);
  const h = native.execStart(handle, argv, nopts);
  const p = new Process(argv, h, opts, mode);
  if (wantStdin && opts.stdin !== true) feed(p, opts.stdin);
  await p._started;
  return p;
}

module.exports = { Process, ExecResult, OutputChunk, startProcess, argvOf, signalNumber, envList, toBuffers };
