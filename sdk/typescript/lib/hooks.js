// SPDX-License-Identifier: Apache-2.0
// hooks.js - a sandbox's plugins from its create options: the built-ins
// (AuditLog, RateLimiter), plugin processes, and hooks written in JS
// (network.onDns, onConnect, onHttp, onHttpResponse, onHttpResponseHead;
// onExec, onExecExit, onLifecycle),
// which become one Plugin that this process serves on a HookServer
// (lib/plugin.js) for the sandbox's supervisor to call
// (docs/plugins.md).
'use strict';

const { Plugin, deny, answer, modify, rewrite } = require('./plugin');
const os = require('node:os');
const { InvalidArgumentError } = require('./errors');
const { FileSystemBackend } = require('./config');

/** The audit-log built-in: JSON lines of lifecycle, exec, network and
 * file events in @dir (default: the sandbox's own audit directory). */
class AuditLog {
  constructor(dir, { fs } = {}) {
    this.name = 'audit-log';
    this.dir = dir;
    this.fs = fs;
  }

  options() {
    const o = [];
    if (this.dir != null) o.push(`dir=${this.dir}`);
    if (this.fs) o.push(`fs=${[].concat(this.fs).join('+')}`);
    return o.join(',');
  }
}

/** The rate-limiter built-in: execs and new connections a second
 * (default 100 each). */
class RateLimiter {
  constructor({ maxExecPerSec, maxConnectPerSec } = {}) {
    this.name = 'rate-limiter';
    this.exec = maxExecPerSec;
    this.connect = maxConnectPerSec;
  }

  options() {
    const o = [];
    if (this.exec != null) o.push(`exec=${this.exec}`);
    if (this.connect != null) o.push(`connect=${this.connect}`);
    return o.join(',');
  }
}

/** DNS query types by number, for q.type. */
const QTYPES = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT',
  28: 'AAAA', 33: 'SRV', 65: 'HTTPS' };

/** What an exec hook answers: allow, deny(reason), rewrite({ argv, env }). */
const ExecAction = Object.freeze({
  ALLOW: 'allow',
  deny: (reason) => ({ action: 'deny', reason: String(reason ?? '') }),
  rewrite: ({ argv, env } = {}) => ({ action: 'rewrite', argv, env }),
});

function fnOf(v, what) {
  if (v == null) return null;
  if (typeof v !== 'function') throw new InvalidArgumentError(`${what} must be a function`);
  return v;
}

function dnsVerdict(r) {
  if (r === undefined || r === null || r === 'allow') return undefined;
  if (r === 'deny') return deny('onDns');
  if (typeof r === 'object' && r.action === 'answer') return answer(r.addrs);
  throw new InvalidArgumentError(`onDns returned ${JSON.stringify(r)}: "allow", "deny" or DnsAction.answer([...])`);
}

/** parseHead() - an HTTP request's line and headers, as the hook is given them. */
function parseHead(head) {
  const lines = String(head || '').split(/\r?\n/);
  const [method = '', target = ''] = lines[0].split(' ');
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    (headers[k] = headers[k] || []).push(l.slice(i + 1).trim());
  }
  return { method, path: target, headers };
}

/** parseResponseHead() - an answer's status and headers, as the hook is given them. */
function parseResponseHead(head) {
  const lines = String(head || '').split(/\r?\n/);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    (headers[k] = headers[k] || []).push(l.slice(i + 1).trim());
  }
  return headers;
}

/** responseVerdict() - what onHttpResponse returned, as a reply: forward
 * (with its body or head changed: those go) or block. */
function responseVerdict(r, resp) {
  if (r === undefined || r === null) return undefined;
  if (r.action === 'block') return deny(r.reason || 'onHttpResponse');
  if (r.action === 'forward') {
    const n = r.request || {};
    const nb = n.body;
    const body = nb != null && !(Buffer.isBuffer(nb) && nb.equals(resp.body)) ? Buffer.from(nb) : null;
    const head = n.head != null && n.head !== resp.head ? String(n.head) : null;
    return body != null || head != null ? modify(body, head) : undefined;
  }
  throw new InvalidArgumentError(`onHttpResponse returned ${JSON.stringify(r)}: forward(resp) or block(reason)`);
}

/**
 * hooksOf() - the Plugin serving @net's and @o's JS hooks, or null if
 * there are none.
 */
function hooksOf(net, o) {
  net = net || {};
  const onDns = fnOf(net.onDns, 'network.onDns');
  const onConnect = fnOf(net.onConnect, 'network.onConnect');
  const onHttp = fnOf(net.onHttp, 'network.onHttp');
  const onHttpResponse = fnOf(net.onHttpResponse, 'network.onHttpResponse');
  const onHttpResponseHead = fnOf(net.onHttpResponseHead, 'network.onHttpResponseHead');
  const onExec = fnOf(o.onExec, 'onExec');
  const onExecExit = fnOf(o.onExecExit, 'onExecExit');
  const onLifecycle = fnOf(o.onLifecycle, 'onLifecycle');
  const fsVolumes = new Map();
  for (const [guestPath, spec] of Object.entries(o.volumes || {})) {
    if (spec instanceof FileSystemBackend && spec.overridden().length) fsVolumes.set(guestPath, spec);
  }
  if (!onDns && !onConnect && !onHttp && !onHttpResponse && !onHttpResponseHead && !onExec && !onExecExit &&
    !onLifecycle && !fsVolumes.size) return null;
  const p = new Plugin('js-sdk');
  if (fsVolumes.size) {
    const ops = new Set([...fsVolumes.values()].flatMap((b) => b.overridden()));
    p.on('fs', (c) => fsCall(fsVolumes, c), { fsOps: [...ops] });
  }
  if (onDns) {
    p.on('dns', async (c) => dnsVerdict(await onDns({ name: c.name, type: QTYPES[c.qtype] || String(c.qtype) })));
  }
  if (onConnect) {
    p.on('connect', async (c) => {
      const r = await onConnect({ proto: c.proto, ip: c.ip, port: c.port });
      if (r === undefined || r === null || r === 'allow') return undefined;
      if (r === 'deny') return deny('onConnect');
      throw new InvalidArgumentError(`onConnect returned ${JSON.stringify(r)}: "allow" or "deny"`);
    });
  }
  if (onHttp) {
    p.on('http_request', async (c) => {
      const body = c.body || Buffer.alloc(0);
      const req = { ...parseHead(c.head), host: c.host, tls: !!c.tls, body,
        bodyStreamed: c.body_streamed };
      const r = await onHttp(req);
      if (r === undefined || r === null) return undefined;
      if (r.action === 'block') return deny(r.reason || 'onHttp');
      if (r.action === 'forward') {
        const nb = r.request && r.request.body;
        if (nb != null && !(Buffer.isBuffer(nb) && nb.equals(body))) return modify(Buffer.from(nb));
        return undefined;
      }
      throw new InvalidArgumentError(`onHttp returned ${JSON.stringify(r)}: forward(req) or block(reason)`);
    });
  }
  if (onHttpResponse) {
    p.on('http_response', async (c) => {
      const [method = '', path = ''] = String(c.request || '').split(' ');
      const resp = { status: c.status, head: c.head, headers: parseResponseHead(c.head), host: c.host,
        request: c.request, method, path, tls: !!c.tls, body: c.body || Buffer.alloc(0),
        bodyStreamed: c.body_streamed };
      return responseVerdict(await onHttpResponse(resp), resp);
    });
  }
  if (onHttpResponseHead) {
    // an event: told, not answered (lib/plugin.js's HookServer tells it
    // apart from the calls, so nothing waits for it)
    p.on('http_response_head', async (c) => {
      const [method = '', path = ''] = String(c.request || '').split(' ');
      await onHttpResponseHead({ status: c.status, head: c.head, headers: parseResponseHead(c.head),
        bodyLength: typeof c.body_length === 'number' ? c.body_length : -1, host: c.host,
        request: c.request, method, path, tls: !!c.tls });
    });
  }
  if (onExec) {
    p.on('exec_before', async (c) => {
      const r = await onExec({ argv: c.argv, env: c.env || [], cwd: c.cwd, user: c.user, tty: !!c.tty });
      if (r === undefined || r === null || r === 'allow') return undefined;
      if (r.action === 'deny') return deny(r.reason || 'onExec');
      if (r.action === 'rewrite') return rewrite({ argv: r.argv, env: r.env });
      throw new InvalidArgumentError(
        `onExec returned ${JSON.stringify(r)}: ExecAction.ALLOW, ExecAction.deny(reason) or ExecAction.rewrite({ argv, env })`);
    });
  }
  if (onExecExit) {
    p.on('exec_after', (c) => onExecExit({ argv: c.argv, exitCode: c.exit_code, signal: c.signal,
      durationMs: c.duration_ms, timedOut: !!c.timed_out }));
  }
  if (onLifecycle) {
    p.on('lifecycle', (c) => {
      const ev = { event: c.event, sandbox: c.sandbox };
      if (c.boot_ms !== undefined) ev.bootMs = c.boot_ms;
      if (c.snapshot !== undefined) ev.snapshot = c.snapshot;
      if (c.full !== undefined) ev.full = c.full;
      if (c.error !== undefined) ev.error = c.error;
      return onLifecycle(ev);
    });
  }
  return p;
}

/** fsCall() - a volume's operation, asked of its FileSystemBackend: what
 * it throws refuses the operation with the error's errno. */
function fsCall(volumes, c) {
  const b = volumes.get(c.volume);
  if (!b || !b.overridden().includes(c.op)) return undefined;
  const ctx = { pid: c.pid, uid: c.uid };
  const call = { name: c.name, newname: c.newname, newparent: c.newparent, flags: c.flags };
  const done = (e) => {
    const n = typeof e?.errno === 'number' && e.errno !== 0 ? Math.abs(e.errno) :
      (e?.code && os.constants.errno[e.code]) || os.constants.errno.EACCES;
    return deny(String(e?.message ?? e), n);
  };
  try {
    const r = ['open', 'opendir', 'create'].includes(c.op) ? b[c.op](ctx, c.ino, c.flags, call) :
      b[c.op](ctx, c.ino, call);
    return r && typeof r.then === 'function' ? r.then(() => undefined, done) : undefined;
  } catch (e) {
    return done(e);
  }
}

/**
 * pluginsOf() - the sandbox's chain from its options, in the order
 * libmsb asks it: `plugins` (built-ins), `pluginProcesses`, then this
 * program's hooks; null when there is none.
 */
function pluginsOf(o) {
  const builtins = (o.plugins || []).map((pl) => {
    // An installed plugin (Plugins.install), by name: libmsb verifies its
    // files now and at every start.
    if (typeof pl === 'string') return { name: pl };
    if (!(pl instanceof AuditLog) && !(pl instanceof RateLimiter)) {
      throw new InvalidArgumentError(
        `invalid plugin ${pl && pl.constructor ? pl.constructor.name : typeof pl}: new AuditLog(dir), ` +
        'new RateLimiter({ maxExecPerSec }) or an installed plugin\'s name; a command of your own goes in pluginProcesses, ' +
        'hooks in JS in network.onDns/onConnect/onHttp/onHttpResponse/onHttpResponseHead and ' +
        'onExec/onExecExit/onLifecycle');
    }
    return { name: pl.name, options: pl.options() };
  });
  if (o.pluginProcesses != null && !Array.isArray(o.pluginProcesses)) {
    throw new InvalidArgumentError('pluginProcesses must be an array of command lines');
  }
  const processes = (o.pluginProcesses || []).map(String);
  const hooks = hooksOf(o.network, o);
  if (o.pluginTimeout != null && (!Number.isInteger(o.pluginTimeout) || o.pluginTimeout <= 0)) {
    throw new InvalidArgumentError(`invalid pluginTimeout ${o.pluginTimeout}: milliseconds, a whole number above 0`);
  }
  if (o.pluginRestarts != null && (!Number.isInteger(o.pluginRestarts) || o.pluginRestarts < 0)) {
    throw new InvalidArgumentError(`invalid pluginRestarts ${o.pluginRestarts}: a whole number, 0 or more`);
  }
  if (!builtins.length && !processes.length && !hooks) return null;
  return { builtins, processes, hooks, timeoutMs: o.pluginTimeout, restarts: o.pluginRestarts };
}

module.exports = { AuditLog, RateLimiter, ExecAction, pluginsOf, parseHead };
