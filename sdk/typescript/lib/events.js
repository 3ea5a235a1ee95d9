// SPDX-License-Identifier: Apache-2.0
// events.js - a sandbox's events from the host (docs/events.md): Event,
// EventStream (`for await (const ev of sb.events(topic))`) and
// EventSubscription (`sb.on(topic, fn)`).
//
// A reader is a connection of its own (msb_events_open, opened in the
// thread pool), whose descriptor the event loop polls (lib/stream.js):
// nothing waits on the loop's thread and no thread waits for events.
// Events the caller has not taken are bounded: past HELD_HIGH the stream
// stops reading, the supervisor's queue for this reader fills, and the
// reader is told later how many it missed (`dropped`) instead of growing
// memory here.
'use strict';

const native = require('./native');
const { NativeStream } = require('./stream');
const { InvalidArgumentError } = require('./errors');

/** Events held for the caller before the stream stops reading. */
const HELD_HIGH = 4096;

/** One event of a sandbox's log. */
class Event {
  constructor(n) {
    /** Its number in the sandbox's log, from 1. */
    this.seq = n.seq;
    /** When the supervisor took it. */
    this.time = new Date(n.time * 1000);
    /** "guest" (its programs, the agent), "host" (emit) or "msb" (the sandbox's own). */
    this.source = n.source;
    this.topic = n.topic;
    /** Its data, the JSON value decoded (null if none). */
    this.data = JSON.parse(n.data);
  }
}

function checkTopic(topic) {
  if (topic !== undefined && topic !== null && typeof topic !== 'string') {
    throw new InvalidArgumentError('a topic is a string ("name", or "prefix.*"), or null for all');
  }
  return topic || null;
}

/**
 * The events of one sandbox, in order: an async iterator. With `follow`
 * (the default) it ends when the sandbox stops; without, at the last event
 * the log keeps. close() (or `await using`, or leaving a for-await loop)
 * ends it.
 */
class EventStream {
  /** @internal use sb.events() */
  constructor(name, topic, { since = -1, follow = true, signal } = {}) {
    topic = checkTopic(topic);
    if (!Number.isInteger(since) || since < -1) {
      throw new InvalidArgumentError(`since is an event's seq, 0 for the oldest kept or -1 for only those to come, not ${since}`);
    }
    /** Events this reader missed: the sandbox's log (its last 4096) moved past them. */
    this.dropped = 0;
    this._held = [];
    this._waiters = [];
    this._end = null; // null: going on; true: ended; an Error: failed
    this._closed = false;
    this._stream = null;
    this._signal = signal;
    this._onAbort = () => this.close();
    if (signal) {
      if (signal.aborted) {
        this._end = true;
        this._closed = true;
      } else {
        signal.addEventListener('abort', this._onAbort, { once: true });
      }
    }
    this._opened = this._closed ? Promise.resolve() :
      native.eventsOpen(name, topic, since, !!follow).then((h) => {
        if (this._closed) {
          native.streamFree(h);
          return;
        }
        this._stream = new NativeStream(h, native.eventsNext,
          (ev) => this._take(ev), (err) => this._finish(err));
        this._stream.start();
      }, (err) => this._finish(err));
  }

  _take(ev) {
    if (ev.end) {
      this._finish(true);
      return;
    }
    if (ev.dropped) {
      this.dropped += ev.dropped;
      return;
    }
    let e;
    try {
      e = new Event(ev);
    } catch (err) {
      this._finish(err);
      return;
    }
    const w = this._waiters.shift();
    if (w) {
      w.resolve({ value: e, done: false });
      return;
    }
    this._held.push(e);
    if (this._held.length >= HELD_HIGH) this._stream.pause();
  }

  _finish(why) {
    if (this._end === null) this._end = why;
    this._release();
    for (const w of this._waiters.splice(0)) {
      if (this._end instanceof Error) w.reject(this._end);
      else w.resolve({ value: undefined, done: true });
    }
  }

  _release() {
    if (this._stream) {
      this._stream.close('the events stream was closed');
      this._stream = null;
    }
    if (this._signal) this._signal.removeEventListener('abort', this._onAbort);
  }

  /** next() - the next event (`done` at the end). */
  next() {
    if (this._held.length) {
      const value = this._held.shift();
      if (this._stream && this._held.length < HELD_HIGH / 2) this._stream.resume();
      return Promise.resolve({ value, done: false });
    }
    if (this._end !== null) {
      if (this._end instanceof Error) {
        const err = this._end;
        this._end = true; // told once
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  /** return() - what a for-await loop calls when left early: close(). */
  async return() {
    this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** close() - end the stream: pending next() calls resolve as done. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._held = [];
    this._finish(true);
  }

  async [Symbol.asyncDispose]() {
    this.close();
  }
}

/**
 * What sb.on() returns: @fn is called with each new event, one call at a
 * time (an async fn is awaited before the next event), until the sandbox
 * stops or close(). `done` settles then: it rejects with what @fn threw
 * or the stream's failure. Such a failure is also a process warning
 * (process.emitWarning), so it is seen even when nobody awaits `done`,
 * without being an unhandled rejection that would end the program.
 */
class EventSubscription {
  /** @internal use sb.on() */
  constructor(stream, fn) {
    this._stream = stream;
    this.done = (async () => {
      try {
        for await (const ev of stream) await fn(ev);
      } finally {
        stream.close();
      }
    })();
    this.done.catch((e) => {
      process.emitWarning(`an events subscription ended: ${e && e.message}`,
        { type: 'MicrosandboxWarning', detail: e && e.stack });
    });
  }

  /** close() - stop listening. */
  close() {
    this._stream.close();
  }

  async [Symbol.asyncDispose]() {
    this.close();
    await this.done.catch(() => {});
  }
}

/** emit() - @data (any JSON value) to the sandbox's programs on @topic. */
async function emit(name, topic, data) {
  if (typeof topic !== 'string' || !topic) {
    throw new InvalidArgumentError('an event needs a topic (a string)');
  }
  const text = data === undefined ? 'null' : JSON.stringify(data);
  if (text === undefined) {
    throw new InvalidArgumentError(`an event's data must be a JSON value, not ${typeof data}`);
  }
  return native.eventSend(name, topic, text);
}

module.exports = { Event, EventStream, EventSubscription, emit, HELD_HIGH };
