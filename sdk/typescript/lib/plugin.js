// SPDX-License-Identifier: Apache-2.0
// plugin.js - the hook protocol (docs/plugins.md), served from Node.
//
// One Plugin (a name, and a handler per hook) answers on a channel: the
// descriptor a --plugin-process command is given (plugin.run()), or each
// connection a sandbox's supervisor makes to a HookServer, a unix socket
// of this process (how Sandbox.create's onDns, onHttp, onExec... run in
// the program that made the sandbox). Messages both ways are a 4-byte
// big-endian length, then one JSON object; calls come one at a time on a
// channel, each with a deadline (the supervisor denies a call that misses
// it, and drops a late reply).
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { InvalidArgumentError } = require('./errors');

/** At most this many bytes in a message (the protocol's bound). */
const MAX_MSG = 16 << 20;
const HOOKS = Object.freeze(['lifecycle', 'exec_before', 'exec_after', 'dns', 'connect',
  'http_request', 'http_response', 'http_response_head', 'fs']);
const EVENTS = new Set(['lifecycle', 'exec_after', 'http_response_head']);
/**
 * At most this many of a connection's events are held for their handlers,
 * the one being told among them (docs/plugins.md): while that many are, a
 * newer one is dropped, counted and warned of, so that a handler that is
 * slow or stuck costs this process no more than that, however many events
 * the guest makes (an HTTP answer is one). Calls are never dropped. The
 * same in the four SDKs.
 */
const EVENT_QUEUE_MAX = 4096;

/** Verdicts a handler may return (undefined: allow). */
const allow = () => ({ verdict: 'allow' });
const deny = (reason = '', errno) => (errno === undefined ? { verdict: 'deny', reason } :
  { verdict: 'deny', reason, errno });
const answer = (addrs) => ({ verdict: 'answer', addrs: [...addrs] });
/** A new body (http_request, http_response; null: unchanged) and, for
 * an answer, a new head (its status line and headers through the empty
 * line; the framing headers become the body's). */
function modify(body, head) {
  const r = { verdict: 'modify' };
  if (body != null) r.body_b64 = Buffer.from(body).toString('base64');
  if (head != null) r.head = String(head);
  if (body == null && head == null) throw new InvalidArgumentError('modify() takes a body, a head or both');
  return r;
}
function rewrite({ argv, env } = {}) {
  const r = { verdict: 'allow' };
  if (argv !== undefined) r.argv = [...argv];
  if (env !== undefined) r.env = [...env];
  return r;
}

/** The message of @obj, framed. */
function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

class Plugin {
  /** @name: 1 to 63 characters, no spaces (in log lines and denials). */
  constructor(name, { fsOps = [] } = {}) {
    if (typeof name !== 'string' || !/^\S{1,63}$/.test(name)) {
      throw new InvalidArgumentError(`invalid plugin name ${JSON.stringify(name)}: 1 to 63 characters, no spaces`);
    }
    this.name = name;
    this.handlers = new Map();
    this.fsOps = [...fsOps];
  }

  /**
   * on() - @fn answers @hook: it gets the call's fields (docs/plugins.md;
   * `body`, a Buffer, for http_request) and returns (or resolves with)
   * undefined for allow, or deny(reason), answer(addrs), modify(body),
   * rewrite({ argv, env }), or a reply's fields. For an event (lifecycle,
   * exec_after, http_response_head) what it returns is ignored. Returns the plugin.
   */
  on(hook, fn, { fsOps = [] } = {}) {
    if (!HOOKS.includes(hook)) {
      throw new InvalidArgumentError(`unknown hook '${hook}': one of ${HOOKS.join(', ')}`);
    }
    if (typeof fn !== 'function') throw new InvalidArgumentError(`the ${hook} hook must be a function`);
    this.handlers.set(hook, fn);
    for (const op of fsOps) if (!this.fsOps.includes(op)) this.fsOps.push(op);
    return this;
  }

  hello() {
    const h = { type: 'hello', name: this.name, hooks: [...this.handlers.keys()].sort() };
    if (this.handlers.has('fs')) h.fs_ops = this.fsOps;
    return h;
  }

  /** reply() - the reply to call @msg: a handler's verdict, or deny when it throws. */
  async reply(msg) {
    const fn = this.handlers.get(msg.hook);
    let out;
    try {
      out = fn ? await fn(callOf(msg)) : undefined;
    } catch (e) {
      process.emitWarning(`plugin ${this.name}: its ${msg.hook} hook failed: ${e && e.message}`,
        { type: 'MicrosandboxWarning' });
      out = deny(`plugin error: ${e && e.message}`);
    }
    if (out === undefined || out === null) out = allow();
    if (typeof out === 'string') out = { verdict: out };
    return { ...out, type: 'reply', id: msg.id };
  }

  /**
   * serve() - answer on @sock (a connected stream socket) until it ends.
   * Resolves when the other side closes; a broken channel (a length over
   * the bound, not JSON) ends it. With @eventsApart (a HookServer's
   * connections) events are told in order on a queue of their own, so
   * that a handler's promise holds up no call; without, they keep their
   * place among the calls. Either way at most EVENT_QUEUE_MAX events are
   * held; newer ones are dropped while that many are, each told to
   * @onDropped (a warning at the first drop, and the count once the
   * connection has ended and its events have been told).
   */
  serve(sock, { eventsApart = false, onDropped = null } = {}) {
    return new Promise((resolve) => {
      let buf = Buffer.alloc(0);
      let queue = Promise.resolve();
      let events = Promise.resolve();
      let held = 0; // events queued or being told
      let dropped = 0;
      let ended = false;
      const end = () => {
        sock.destroy();
        resolve();
      };
      const counted = () => {
        if (ended) return;
        ended = true;
        // once the events read have been told
        Promise.all([queue, events]).then(() => {
          if (dropped) {
            process.emitWarning(`plugin ${this.name}: ${dropped} events of a connection dropped, its ` +
              `hooks too slow (at most ${EVENT_QUEUE_MAX} held)`, { type: 'MicrosandboxWarning' });
          }
        });
      };
      sock.on('data', (d) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        while (buf.length >= 4) {
          const n = buf.readUInt32BE(0);
          if (n === 0 || n > MAX_MSG) {
            end();
            return;
          }
          if (buf.length < 4 + n) break;
          let msg;
          try {
            msg = JSON.parse(buf.subarray(4, 4 + n).toString('utf8'));
          } catch {
            end();
            return;
          }
          buf = buf.subarray(4 + n);
          // One at a time, in order (calls come so; events keep their order).
          if (msg.type !== 'event') {
            queue = queue.then(() => this._handle(sock, msg));
            continue;
          }
          if (held >= EVENT_QUEUE_MAX) {
            if (++dropped === 1) {
              process.emitWarning(`plugin ${this.name}: ${EVENT_QUEUE_MAX} events of a connection not yet ` +
                'told to their hooks (slow or stuck): newer events are dropped until there is room',
              { type: 'MicrosandboxWarning' });
            }
            if (onDropped) onDropped(1);
            continue;
          }
          held++;
          const tell = () => this._handle(sock, msg).finally(() => { held--; });
          if (eventsApart) events = events.then(tell);
          else queue = queue.then(tell);
        }
      });
      sock.on('end', end);
      sock.on('error', end);
      sock.on('close', () => {
        counted();
        resolve();
      });
    });
  }

  async _handle(sock, msg) {
    if (msg.type === 'hello') {
      sock.write(frame(this.hello()));
    } else if (msg.type === 'call') {
      const r = await this.reply(msg);
      if (!sock.destroyed) sock.write(frame(r));
    } else if (msg.type === 'event' && EVENTS.has(msg.hook)) {
      const fn = this.handlers.get(msg.hook);
      try {
        if (fn) await fn(callOf(msg));
      } catch (e) {
        process.emitWarning(`plugin ${this.name}: its ${msg.hook} hook failed: ${e && e.message}`,
          { type: 'MicrosandboxWarning' });
      }
    }
  }

  /**
   * run() - serve the channel a --plugin-process command is given
   * (descriptor 3, $MSB_PLUGIN_FD) until the sandbox stops.
   */
  run(fd = Number(process.env.MSB_PLUGIN_FD || 3)) {
    return this.serve(new net.Socket({ fd, readable: true, writable: true }));
  }
}

/** callOf() - a call's fields for a handler; an HTTP body as a Buffer. */
function callOf(msg) {
  const c = { ...msg };
  delete c.type;
  delete c.id;
  if (typeof msg.body_b64 === 'string') c.body = Buffer.from(msg.body_b64, 'base64');
  return c;
}

/**
 * A unix socket of this process that a sandbox's supervisor connects to
 * at each start (msb_plugins_add_socket): each connection is served by
 * @plugin. It does not keep the process alive by itself (unref), as long
 * as the sandbox's handle is what the program holds.
 */
class HookServer {
  constructor(plugin) {
    this.plugin = plugin;
    this._dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-hooks-'));
    this.path = path.join(this._dir, 'hooks.sock');
    this._conns = new Set();
    /** Events dropped over its connections (a full queue: EVENT_QUEUE_MAX). */
    this.eventsDropped = 0;
    this._server = net.createServer((c) => {
      // The supervisor's connection does not keep this process alive
      // (a kept sandbox outlives it; its calls are then denied).
      c.unref();
      this._conns.add(c);
      plugin.serve(c, { eventsApart: true, onDropped: (n) => { this.eventsDropped += n; } })
        .then(() => this._conns.delete(c));
    });
  }

  listen() {
    return new Promise((resolve, reject) => {
      this._server.once('error', reject);
      this._server.listen(this.path, () => {
        this._server.removeListener('error', reject);
        fs.chmodSync(this.path, 0o600);
        this._server.unref();
        resolve(this);
      });
    });
  }

  close() {
    this._server.close();
    for (const c of this._conns) c.destroy();
    this._conns.clear();
    fs.rmSync(this._dir, { recursive: true, force: true });
  }
}

Plugin.allow = allow;
Plugin.deny = deny;
Plugin.answer = answer;
Plugin.modify = modify;
Plugin.rewrite = rewrite;

module.exports = { Plugin, HookServer, HOOKS, EVENT_QUEUE_MAX, allow, deny, answer, modify, rewrite, frame };
