// SPDX-License-Identifier: Apache-2.0
// runtime.js - peer sandboxes, from code running inside a sandbox
// (docs/spawn.md)
//
// `await Sandbox.currentRuntime()` inside a sandbox gives a Runtime that
// asks the host, through the sandbox's agent (its socket
// /run/microsandbox/agent.sock, the agent's link, never the network), to
// start peers beside it and run commands in them. Nothing here needs the
// native addon or libmsb: this module speaks the agent's frames itself
// (docs/agent-protocol.md §7c), so the package works in a guest installed
// with `npm install --ignore-scripts`. What is allowed is the host's
// decision (msb run --allow-spawn N); a refusal is a PolicyRefusedError
// with the host's reason.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const { ExecResult } = require('./process');
const { splitCommand } = require('./shellwords');
const {
  MicrosandboxError, InvalidArgumentError, NotSupportedError, PolicyRefusedError, ProtocolError,
  CommandError,
} = require('./errors');

// frame types and TLV tags (src/proto/proto.h)
const WINDOW = 7, STDOUT = 67, STDERR = 68, EXIT = 69, RESULT = 73, PEER = 76;
const T_ERRNO = 31, T_MESSAGE = 32;
const HDR = 12;
const FRAME_MAX = 64 * 1024;
const REQ_MAX = 60 * 1024;
// The host sends output within the credit given back as it is taken
// (MSB_WINDOW_INIT at first), a quarter at a time.
const WINDOW_INIT = 256 * 1024;

function frame(kind, payload) {
  const b = Buffer.alloc(HDR + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b[8] = kind;
  payload.copy(b, HDR);
  return b;
}

/** result() - a RESULT's errno and message. */
function result(p) {
  let err = null;
  let msg = '';
  for (let i = 0; i + 5 <= p.length;) {
    const tag = p[i];
    const n = p.readUInt32BE(i + 1);
    if (i + 5 + n > p.length) break;
    const v = p.subarray(i + 5, i + 5 + n);
    if (tag === T_ERRNO && n === 4) err = v.readUInt32BE(0);
    else if (tag === T_MESSAGE) msg = v.toString('utf8');
    i += 5 + n;
  }
  if (err === null) throw new ProtocolError("a RESULT without ERRNO from the sandbox's agent");
  return [err, msg];
}

function refusal(err, msg) {
  const E = os.constants.errno;
  if (err === E.EPERM) return new PolicyRefusedError(msg);
  if (err === E.EINVAL) return new InvalidArgumentError(msg);
  const name = Object.keys(E).find((k) => E[k] === err) || '';
  return new MicrosandboxError(msg || name || `error ${err}`, { errno: -err, code: name });
}

function notInside(why) {
  return new NotSupportedError(`not inside a microsandbox sandbox (${Runtime.agentSocket}: ${why}): ` +
    'currentRuntime() is for code running in one; from the host, use Sandbox.create()');
}

function abortReason(signal) {
  return signal.reason !== undefined ? signal.reason :
    new DOMException('The operation was aborted', 'AbortError');
}

/**
 * ask() - one request on a connection of its own, its answer read to the
 * end: output to @onStdout/@onStderr as it comes (credit given back once
 * they returned), then { exit: {code, signal} } for an exec, {} for the
 * others. Aborting @signal closes the connection: the agent tells the
 * host, which cancels the request (a peer's command is killed).
 */
function ask(req, { onStdout, onStderr, signal } = {}) {
  const body = Buffer.from(JSON.stringify(req));
  if (body.length > REQ_MAX) return Promise.reject(new InvalidArgumentError('the request is over 60 KiB'));
  if (signal && signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(Runtime.agentSocket);
    let buf = Buffer.alloc(0);
    let taken = 0;
    let done = false;
    const onAbort = () => finish(abortReason(signal));
    function finish(err, value) {
      if (done) return;
      done = true;
      if (signal) signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    }
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => sock.write(frame(PEER, body)));
    sock.on('error', (e) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ENOTSOCK' || e.code === 'EACCES') {
        finish(notInside(e.code === 'ENOENT' ? 'no such file' : e.message));
      } else {
        finish(new ProtocolError(`the sandbox's agent's connection failed: ${e.message}`));
      }
    });
    sock.on('close', () => finish(new ProtocolError(
      "the sandbox's agent closed the connection before the answer's end")));
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      try {
        while (!done && buf.length >= HDR) {
          const n = buf.readUInt32BE(0);
          if (n > FRAME_MAX || buf[9] !== 0) throw new ProtocolError("a bad frame from the sandbox's agent");
          if (buf.length < HDR + n) break;
          const kind = buf[8];
          const p = buf.subarray(HDR, HDR + n);
          buf = buf.subarray(HDR + n);
          if (kind === STDOUT || kind === STDERR) {
            const f = kind === STDOUT ? onStdout : onStderr;
            if (f) f(Buffer.from(p));
            taken += n;
            if (taken >= WINDOW_INIT / 4) {
              const c = Buffer.alloc(4);
              c.writeUInt32BE(taken, 0);
              // A connection the agent has closed (the answer's end
              // already sent) is found by the next read, not here.
              if (sock.writable) sock.write(frame(WINDOW, c), () => {});
              taken = 0;
            }
          } else if (kind === EXIT) {
            if (n < 8) throw new ProtocolError("a bad EXIT from the sandbox's agent");
            finish(null, { exit: { code: p.readInt32BE(0), signal: p.readUInt32BE(4) } });
          } else if (kind === RESULT) {
            const [err, msg] = result(p);
            if (err) finish(refusal(err, msg));
            else finish(null, {});
          }
        }
      } catch (e) {
        finish(e);
      }
    });
  });
}

function envList(env, what) {
  if (env == null) return undefined;
  if (typeof env !== 'object' || Array.isArray(env)) {
    throw new InvalidArgumentError(`${what} must be an object of names and values`);
  }
  const l = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return l.length ? l : undefined;
}

function strings(v, what) {
  if (v == null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new InvalidArgumentError(`${what} is an array of strings`);
  }
  return v;
}

const NET_KEYS = new Set(['denyAll', 'allow', 'allowCidr']);

function networkOf(net) {
  if (net == null) return {};
  const bad = Object.keys(net).filter((k) => !NET_KEYS.has(k) && net[k] != null);
  if (bad.length) {
    throw new InvalidArgumentError("a peer's network takes denyAll, allow and allowCidr only " +
      `(its parent's is the rest), not ${bad.join(', ')}`);
  }
  const allow = strings(net.allow, 'network.allow');
  const cidr = strings(net.allowCidr, 'network.allowCidr');
  const out = {};
  // deny-all with names or ranges is: only those
  if (net.denyAll && !allow.length && !cidr.length) out.net_deny_all = true;
  if (allow.length) out.net_allow = [...allow];
  if (cidr.length) out.net_allow_cidr = [...cidr];
  return out;
}

function secretsOf(secrets) {
  if (typeof secrets !== 'object' || Array.isArray(secrets)) {
    throw new InvalidArgumentError('secrets is an object: { ENV: [placeholder, hosts] }');
  }
  return Object.entries(secrets).map(([env, spec]) => {
    const [ph, hosts] = typeof spec === 'string' ? [spec, null] : Array.isArray(spec) ? spec : [];
    if (typeof ph !== 'string' || !ph) {
      throw new InvalidArgumentError(`secret ${env}: give [placeholder, hosts], the placeholder ` +
        "this sandbox holds (its variable's value, process.env.KEY)");
    }
    const s = { env, placeholder: ph };
    if (hosts != null && hosts.length) s.hosts = typeof hosts === 'string' ? hosts : strings(hosts, `secret ${env}'s hosts`).join(',');
    return s;
  });
}

const START_KEYS = new Set(['image', 'cpus', 'memory', 'env', 'network', 'secrets', 'signal']);
const EXEC_KEYS = new Set(['env', 'cwd', 'check', 'signal', 'onStdout', 'onStderr']);

function known(o, keys, what) {
  for (const k of Object.keys(o)) {
    if (!keys.has(k)) throw new InvalidArgumentError(`unknown ${what} option '${k}' (one of ${[...keys].join(', ')})`);
  }
}

/** A peer as rt.list() gives it. */
class PeerInfo {
  constructor(p) {
    this.name = p.name;
    this.image = p.image;
    this.status = p.status;
    this.cpus = p.cpus;
    this.memoryMib = p.memory_mib;
  }
}

/** A peer sandbox this sandbox started: exec, shell, stop, remove, logs. */
class Peer {
  constructor(name) {
    /** Its name. */
    this.name = name;
  }

  /** exec() - @cmd (a command line, split as exec() splits it, or an
   * argv) run in the peer to its end, no stdin: an ExecResult. Output
   * comes at the pace this program takes it. */
  async exec(cmd, options = {}) {
    known(options, EXEC_KEYS, 'exec');
    let argv;
    if (typeof cmd === 'string') argv = splitCommand(cmd);
    else if (Array.isArray(cmd) && cmd.length && cmd.every((a) => typeof a === 'string')) argv = [...cmd];
    else throw new InvalidArgumentError('a command is a command line (a string) or an argv (an array of strings)');
    if (!argv.length) throw new InvalidArgumentError('no command to run');
    const req = { op: 'exec', name: this.name, argv };
    const env = envList(options.env, 'env');
    if (env) req.env = env;
    if (options.cwd) req.workdir = options.cwd;
    const out = [];
    const err = [];
    const r = await ask(req, {
      onStdout: options.onStdout || ((b) => out.push(b)),
      onStderr: options.onStderr || ((b) => err.push(b)),
      signal: options.signal,
    });
    const st = r.exit || { code: 0, signal: 0 };
    const res = new ExecResult(st.code, st.signal, false, Buffer.concat(out), Buffer.concat(err));
    if (options.check && !res.success) {
      const why = res.signal ? `was killed by signal ${res.signal} (exit code ${res.exitCode})` :
        `exited with code ${res.exitCode}`;
      throw new CommandError(`${JSON.stringify(argv.join(' '))} ${why}`, res);
    }
    return res;
  }

  /** shell() - @script with sh -c in the peer. */
  shell(script, options = {}) {
    return this.exec(['sh', '-c', script], options);
  }

  /** stop() - stop the peer. */
  async stop() {
    await ask({ op: 'stop', name: this.name });
  }

  /** remove() - delete the peer (stopping it first), its disk and its
   * own peers. */
  async remove() {
    await ask({ op: 'rm', name: this.name });
  }

  /** logs() - the last 256 KiB of the peer's log. */
  async logs() {
    const out = [];
    await ask({ op: 'logs', name: this.name }, { onStdout: (b) => out.push(b) });
    return Buffer.concat(out).toString('utf8');
  }
}

/** The host, as a sandbox's code sees it: Sandbox.currentRuntime(). */
class Runtime {
  /** start() - start peer @name and resolve once it is booted.
   * `secrets` maps the peer's variable to [placeholder, hosts]: the
   * placeholder this sandbox holds (process.env.KEY), hosts a string or
   * an array, no wider than this sandbox's binding (none: the same). */
  async start(name, options = {}) {
    known(options, START_KEYS, 'start');
    const req = { op: 'start', name };
    if (options.image) req.image = options.image;
    if (options.cpus != null) {
      if (!Number.isInteger(options.cpus) || options.cpus < 1 || options.cpus > 64) {
        throw new InvalidArgumentError(`cpus takes 1 to 64, not ${options.cpus}`);
      }
      req.cpus = options.cpus;
    }
    if (options.memory != null) {
      req.memory = typeof options.memory === 'number' ? `${options.memory}M` : String(options.memory);
    }
    Object.assign(req, networkOf(options.network));
    const env = envList(options.env, 'env');
    if (env) req.env = env;
    if (options.secrets != null) {
      const s = secretsOf(options.secrets);
      if (s.length) req.secrets = s;
    }
    await ask(req, { signal: options.signal });
    return new Peer(name);
  }

  /** peer() - a handle on a peer started earlier. */
  peer(name) {
    return new Peer(name);
  }

  /** list() - this sandbox's peers (PeerInfo). */
  async list() {
    const out = [];
    await ask({ op: 'ps', json: true }, { onStdout: (b) => out.push(b) });
    const text = Buffer.concat(out).toString('utf8');
    let l;
    try {
      l = text ? JSON.parse(text) : [];
    } catch (e) {
      throw new ProtocolError(`the host's list of peers: ${e.message}`);
    }
    return l.map((p) => new PeerInfo(p));
  }
}

/** The agent's socket the runtime speaks to; tests point it at a stand-in. */
Runtime.agentSocket = '/run/microsandbox/agent.sock';

/** currentRuntime() - the Runtime of the sandbox this program runs in;
 * outside one, NotSupportedError ("not inside a microsandbox sandbox"). */
async function currentRuntime() {
  if (!fs.existsSync(Runtime.agentSocket)) throw notInside('no such file');
  return new Runtime();
}

module.exports = { Runtime, Peer, PeerInfo, currentRuntime };
