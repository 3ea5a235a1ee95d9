// SPDX-License-Identifier: Apache-2.0
// stream.js - a libmsb stream (an exec, a file read, write or list) on
// the event loop
//
// The addon polls the stream's descriptor with libuv (streamWatch) and
// calls back on readiness. Readable: libmsb is asked for events with a
// zero timeout until it has none, since one read can bring several that
// it then holds (msb.h, msb_exec_fd); a paused stream stops polling and,
// when resumed, first drains what libmsb holds. Writable: data goes out
// in libmsb-sized messages (48 KiB), each once the socket takes it, so
// no call blocks the loop and no thread waits.
'use strict';

const native = require('./native');
const { ClosedError, SandboxStoppedError } = require('./errors');

const READABLE = 1;
const WRITABLE = 2;
/** Bytes per write: one libmsb message (msb_exec_write's chunk). */
const CHUNK = 48 * 1024;
/** Events handled per wake-up before the loop gets a turn. */
const BUDGET = 64;

class NativeStream {
  /**
   * @handle: the addon's stream; @next: native.execNext or fileNext;
   * @onEvent(ev) for each event; @onError(err) once, when libmsb fails.
   */
  constructor(handle, next, onEvent, onError) {
    this.handle = handle;
    this._next = next;
    this._onEvent = onEvent;
    this._onError = onError;
    this._reading = false;
    this._paused = false;
    this._writers = [];
    this._watching = 0;
    this._draining = false;
    this._again = null;
    this.closed = false;
    this._cb = (status, events) => this._ready(status, events);
  }

  /** Start reading events. */
  start() {
    this._reading = true;
    this._update();
  }

  /** Stop taking events (back-pressure), until resume(). */
  pause() {
    if (this._paused || this.closed) return;
    this._paused = true;
    this._update();
  }

  resume() {
    if (!this._paused || this.closed) return;
    this._paused = false;
    // What libmsb already holds does not make the descriptor readable.
    this._schedule();
    this._update();
  }

  _update() {
    if (this.closed) return;
    const want = (this._reading && !this._paused ? READABLE : 0) |
      (this._writers.length ? WRITABLE : 0);
    if (want === this._watching) return;
    native.streamWatch(this.handle, want, this._cbSet ? undefined : this._cb);
    this._cbSet = true;
    this._watching = want;
  }

  _ready(status, events) {
    if (this.closed) return;
    if (status < 0) {
      // The descriptor failed: what libmsb says about it is the error.
      this._drain();
      if (!this.closed && this._reading) {
        this._fail(new SandboxStoppedError(`polling the stream's connection failed (${status})`));
      }
      return;
    }
    if (events & WRITABLE) {
      const w = this._writers;
      this._writers = [];
      this._update();
      for (const resolve of w) resolve();
    }
    if (events & READABLE) this._drain();
  }

  _schedule() {
    if (this._again || this.closed) return;
    this._again = setImmediate(() => {
      this._again = null;
      this._drain();
    });
  }

  _drain() {
    if (this._draining || this.closed || this._paused || !this._reading) return;
    this._draining = true;
    try {
      for (let n = 0; ; n++) {
        if (n === BUDGET) {
          this._schedule();
          break;
        }
        let ev;
        try {
          ev = this._next(this.handle);
        } catch (e) {
          this._fail(e);
          break;
        }
        if (ev === null) break;
        this._onEvent(ev);
        if (this.closed || this._paused || !this._reading) break;
      }
    } finally {
      this._draining = false;
    }
  }

  _fail(err) {
    this._reading = false;
    this._update();
    const w = this._writers;
    this._writers = [];
    for (const resolve of w) resolve();
    this._onError(err);
  }

  /** Stop reading: the operation is over (its last event came). */
  finish() {
    this._reading = false;
    this._update();
  }

  /** Resolves once the socket takes a message. */
  _writable() {
    if (native.streamWritable(this.handle)) return Promise.resolve();
    return new Promise((resolve) => {
      this._writers.push(resolve);
      this._update();
    });
  }

  /**
   * write() - @buf through @send (native.execWrite or fileWrite), a
   * message at a time, each once the socket takes it.
   */
  async write(buf, send) {
    for (let off = 0; off < buf.length; off += CHUNK) {
      if (this.closed) throw this.closedError();
      await this._writable();
      if (this.closed) throw this.closedError();
      send(this.handle, buf.subarray(off, off + CHUNK));
    }
  }

  /** call() - a small message (a signal, end of input) once the socket takes it. */
  async call(fn, ...args) {
    if (this.closed) throw this.closedError();
    await this._writable();
    if (this.closed) throw this.closedError();
    return fn(this.handle, ...args);
  }

  closedError() {
    return new ClosedError(this._closedWhy || 'the stream was closed');
  }

  /** close() - free libmsb's handle (@why: what later calls are told). */
  close(why) {
    if (this.closed) return;
    this.closed = true;
    this._closedWhy = why;
    if (this._again) clearImmediate(this._again);
    this._again = null;
    const w = this._writers;
    this._writers = [];
    native.streamFree(this.handle);
    for (const resolve of w) resolve();
  }
}

module.exports = { NativeStream, CHUNK };
