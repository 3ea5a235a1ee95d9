// SPDX-License-Identifier: Apache-2.0
// runtime.js - peer sandboxes, from code running inside a sandbox
// (docs/spawn.md)
//
// `await Sandbox.currentRuntime()` inside a sandbox gives a Runtime that
// asks the host, through the sandbox's agent (its socket
// /run/microsandbox/agent.sock, the agent's link, never the network), to
// start peers beside it, run commands in them (with input), copy files
// in and out of them, and snapshot and restore them. Nothing here needs the
// native addon or libmsb: this module speaks the agent's frames itself
// (docs/agent-protocol.md §7c), so the package works in a guest installed
// with `npm install --ignore-scripts`. What is allowed is the host's
// decision (msb run --allow-spawn N); a refusal is a PolicyRefusedError
// with the host's reason.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ExecResult, toBuffers } = require('./process');
const { splitCommand } = require('./shellwords');
const {
  MicrosandboxError, InvalidArgumentError, NotSupportedError, PolicyRefusedError, ProtocolError,
  CommandError, NotFoundError, AlreadyExistsError, BusyError, NotRunningError, TimeoutError,
  PermissionDeniedError, FileError,
} = require('./errors');

// frame types and TLV tags (src/proto/proto.h)
const STDIN = 3, WINDOW = 7, STDOUT = 67, STDERR = 68, EXIT = 69, RESULT = 73, PEER = 76;
const T_ERRNO = 31, T_MESSAGE = 32;
const HDR = 12;
const FRAME_MAX = 64 * 1024;
const REQ_MAX = 60 * 1024;
// The host sends output within the credit given back as it is taken
// (MSB_WINDOW_INIT at first), a quarter at a time; the program sends
// input within MSB_PEER_STDIN_WINDOW, which the host gives back as the
// peer takes it.
const WINDOW_INIT = 256 * 1024;
const STDIN_WINDOW = 128 * 1024;
const STDIN_CHUNK = 32 * 1024;
// a copy's archive (MSB_PCP_*): records, a file's bytes in chunks
const PCP_DIR = 0x44, PCP_FILE = 0x46, PCP_LINK = 0x4c, PCP_END = 0x45;
const PCP_CHUNK = 64 * 1024;
const PCP_NAME_MAX = 4095;

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

// the host's errno (peers.c: libmsb's code, MSB_E_POLICY as EPERM) as
// the SDK's error class
const E = os.constants.errno;
const BY_ERRNO = new Map([
  [E.EPERM, PolicyRefusedError], [E.EINVAL, InvalidArgumentError], [E.ENOENT, NotFoundError],
  [E.EEXIST, AlreadyExistsError], [E.EBUSY, BusyError], [E.ENOTCONN, NotRunningError],
  [E.EPROTO, ProtocolError], [E.ETIMEDOUT, TimeoutError], [E.EACCES, PermissionDeniedError],
]);

function refusal(err, msg) {
  const name = Object.keys(E).find((k) => E[k] === err) || '';
  const C = BY_ERRNO.get(err);
  if (C) return new C(msg || name);
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
 * others. @input, an async iterable of Buffers, is sent as the request's
 * input within the credit the host gives back, then its end. Aborting
 * @signal (or an input or a handler that throws) closes the connection:
 * the agent tells the host, which cancels the request (a peer's command
 * is killed).
 */
function ask(req, { onStdout, onStderr, signal, input } = {}) {
  const body = Buffer.from(JSON.stringify(req));
  if (body.length > REQ_MAX) return Promise.reject(new InvalidArgumentError('the request is over 60 KiB'));
  if (signal && signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(Runtime.agentSocket);
    let buf = Buffer.alloc(0);
    let taken = 0;
    let done = false;
    // input: the credit left, and a sender waiting for more
    let credit = STDIN_WINDOW;
    let more = null;
    const onAbort = () => finish(abortReason(signal));
    function finish(err, value) {
      if (done) return;
      done = true;
      if (signal) signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (more) more();
      if (err) reject(err);
      else resolve(value);
    }
    // A connection the agent has closed (the answer's end already sent)
    // is found by the next read, not by a write.
    function send(kind, p) {
      return sock.writable && !done ? sock.write(frame(kind, p), () => {}) : true;
    }
    async function pump() {
      for await (const chunk of input) {
        for (let off = 0; off < chunk.length;) {
          while (!credit && !done) await new Promise((r) => { more = r; });
          if (done) return;
          more = null;
          const n = Math.min(chunk.length - off, credit, STDIN_CHUNK);
          credit -= n;
          const ok = send(STDIN, Buffer.from(chunk.buffer, chunk.byteOffset + off, n));
          off += n;
          if (!ok && !done) {
            await new Promise((r) => {
              sock.once('drain', r);
              sock.once('close', r);
            });
          }
        }
        if (done) return;
      }
      send(STDIN, Buffer.alloc(0));
    }
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => {
      sock.write(frame(PEER, body));
      if (input) pump().catch((e) => finish(e));
    });
    sock.on('error', (e) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ENOTSOCK' || e.code === 'EACCES') {
        finish(notInside(e.code === 'ENOENT' ? 'no such file' : e.message));
      } else if (e.code !== 'EPIPE') {
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
              send(WINDOW, c);
              taken = 0;
            }
          } else if (kind === WINDOW && n === 4) {
            // the host took this much input
            const k = p.readUInt32BE(0);
            if (credit + k <= STDIN_WINDOW) credit += k;
            if (more) more();
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
const EXEC_KEYS = new Set(['env', 'cwd', 'stdin', 'tty', 'check', 'signal', 'onStdout', 'onStderr']);
const COPY_KEYS = new Set(['user', 'signal']);
const RESTORE_KEYS = new Set(['name', 'signal']);

/** ttySize() - a peer exec's `tty` as {rows, cols}: true is 24 by 80. */
function ttySize(tty) {
  if (tty === true) return { rows: 24, cols: 80 };
  const dim = (n) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (tty && typeof tty === 'object' && dim(tty.rows) && dim(tty.cols)) return { rows: tty.rows, cols: tty.cols };
  throw new InvalidArgumentError(`tty is true or {rows, cols}, each 1 to 65535, not ${JSON.stringify(tty)}`);
}

function known(o, keys, what) {
  for (const k of Object.keys(o)) {
    if (!keys.has(k)) throw new InvalidArgumentError(`unknown ${what} option '${k}' (one of ${[...keys].join(', ')})`);
  }
}

// ---- a copy's archive (docs/agent-protocol.md §7c, MSB_PCP_* in proto.h)

/** localError() - an error of this sandbox's files, as the SDK's class. */
function localError(e, what, p) {
  const msg = `${what} ${p}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}`;
  if (e.code === 'ENOENT') return new NotFoundError(msg);
  if (e.code === 'EEXIST') return new AlreadyExistsError(msg);
  if (e.code === 'EACCES' || e.code === 'EPERM') return new PermissionDeniedError(msg);
  if (e instanceof MicrosandboxError) return e;
  return new FileError(msg, { code: e.code || '', errno: typeof e.errno === 'number' ? e.errno : 0 });
}

/** baseName() - the copied item's name: @p's last component ("/" for "/"). */
function baseName(p) {
  const q = p.replace(/\/+$/, '') || '/';
  return q === '/' ? q : q.slice(q.lastIndexOf('/') + 1);
}

/** contentsOnly() - docker cp's SRC/. (or "/"): what is in the directory. */
function contentsOnly(p) {
  return p.endsWith('/.') || (p !== '' && /^\/+$/.test(p));
}

function rec(type, mode, name, link) {
  const n = Buffer.from(name);
  const l = link == null ? null : Buffer.from(link);
  if (n.length > PCP_NAME_MAX || (l && l.length > PCP_NAME_MAX)) {
    throw new InvalidArgumentError(`${name}: the name is too long (at most ${PCP_NAME_MAX} bytes)`);
  }
  const h = Buffer.alloc(7);
  h[0] = type;
  h.writeUInt32BE(mode & 0o7777, 1);
  h.writeUInt16BE(n.length, 5);
  if (type !== PCP_LINK) return Buffer.concat([h, n]);
  const t = Buffer.alloc(2);
  t.writeUInt16BE(l.length, 0);
  return Buffer.concat([h, n, t, l]);
}

async function* fileData(p) {
  let fh;
  try {
    fh = await fs.promises.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    throw localError(e, 'cannot open', p);
  }
  try {
    for (;;) {
      const b = Buffer.alloc(PCP_CHUNK);
      let n;
      try {
        ({ bytesRead: n } = await fh.read(b, 0, PCP_CHUNK, null));
      } catch (e) {
        throw localError(e, 'cannot read', p);
      }
      if (!n) break;
      const h = Buffer.alloc(4);
      h.writeUInt32BE(n, 0);
      yield h;
      yield b.subarray(0, n);
    }
  } finally {
    await fh.close();
  }
  yield Buffer.alloc(4);
}

/** packTree() - what is in directory @root/@rel, each name below the
 * copied item (a directory before what is in it); sockets, fifos and
 * devices are not copied. */
async function* packTree(root, rel, depth) {
  const here = rel ? path.join(root, rel) : root;
  let names;
  try {
    names = (await fs.promises.readdir(here)).sort();
  } catch (e) {
    throw localError(e, 'cannot read', here);
  }
  for (const n of names) {
    const name = rel ? `${rel}/${n}` : n;
    const p = path.join(root, name);
    let st;
    try {
      st = await fs.promises.lstat(p);
    } catch {
      continue; // gone meanwhile
    }
    if (st.isDirectory()) {
      if (depth >= 128) throw new InvalidArgumentError(`${p}: directories nested too deep`);
      yield rec(PCP_DIR, st.mode, name);
      yield* packTree(root, name, depth + 1);
    } else if (st.isFile()) {
      yield rec(PCP_FILE, st.mode, name);
      yield* fileData(p);
    } else if (st.isSymbolicLink()) {
      let link;
      try {
        link = await fs.promises.readlink(p, { encoding: 'buffer' });
      } catch {
        continue;
      }
      yield rec(PCP_LINK, st.mode, name, link);
    }
  }
}

/** pack() - @src (lstat'ed as @st) as an archive, in pieces of about
 * STDIN_CHUNK bytes. */
async function* pack(src, st) {
  async function* records() {
    const base = baseName(src);
    if (st.isDirectory()) {
      yield rec(PCP_DIR, st.mode, base);
      yield* packTree(src, '', 0);
    } else if (st.isFile()) {
      yield rec(PCP_FILE, st.mode, base);
      yield* fileData(src);
    } else if (st.isSymbolicLink()) {
      let link;
      try {
        link = await fs.promises.readlink(src, { encoding: 'buffer' });
      } catch (e) {
        throw localError(e, 'cannot read', src);
      }
      yield rec(PCP_LINK, st.mode, base, link);
    } else {
      throw new InvalidArgumentError(`${src} is not a file, a directory or a symlink`);
    }
    yield rec(PCP_END, 0, '');
  }
  let parts = [];
  let len = 0;
  for await (const piece of records()) {
    parts.push(piece);
    len += piece.length;
    if (len >= STDIN_CHUNK) {
      yield Buffer.concat(parts);
      parts = [];
      len = 0;
    }
  }
  if (len) yield Buffer.concat(parts);
}

/** nameOk() - a name below the copied item (msb_fname_ok): relative, no
 * empty, "." or ".." component, no NUL. */
function nameOk(name) {
  if (!name.length || name.includes(0) || name[0] === 0x2f) return false;
  return name.toString('latin1').split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

function fsync(what, p, f) {
  try {
    return f();
  } catch (e) {
    throw localError(e, what, p);
  }
}

/**
 * The archive of the peer's @src into this sandbox's @dst, as the data
 * comes (docker cp's rules, as `msb cp PEER:SRC DST` applies them): no
 * name below a copied directory may leave it, and none is reached
 * through a symlink.
 */
class Unpacker {
  constructor(src, dst) {
    this.src = src;
    this.dst = dst;
    this.buf = Buffer.alloc(0);
    this.root = null; // the copied item's record
    this.top = null; // the directory its names are below
    this.made = false; // that directory was made here (its mode)
    this.fd = -1; // the file being written, or -1
    this.fname = '';
    this.inFile = false; // a file's chunks come next
    this.fmode = 0;
    this.dirs = []; // [name, mode]: set last, deepest first
    this.done = false;
  }

  feed(data) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (!this.done && (this.inFile ? this.chunk() : this.record()));
  }

  chunk() {
    if (this.buf.length < 4) return false;
    const n = this.buf.readUInt32BE(0);
    if (n > PCP_CHUNK) throw new ProtocolError("the copy's data is not an archive (a chunk over 64 KiB)");
    if (this.buf.length < 4 + n) return false;
    const data = this.buf.subarray(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    if (n) {
      if (this.fd >= 0) fsync('cannot write', this.fname, () => fs.writeSync(this.fd, data));
      return true;
    }
    this.inFile = false;
    if (this.fd >= 0) {
      fs.fchmodSync(this.fd, this.fmode);
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    return true;
  }

  record() {
    const b = this.buf;
    if (b.length < 7) return false;
    const type = b[0];
    const mode = b.readUInt32BE(1) & 0o7777;
    const nl = b.readUInt16BE(5);
    if (![PCP_DIR, PCP_FILE, PCP_LINK, PCP_END].includes(type) || nl > PCP_NAME_MAX) {
      throw new ProtocolError("the copy's data is not an archive (a bad record)");
    }
    let end = 7 + nl;
    let link = null;
    if (type === PCP_LINK) {
      if (b.length < end + 2) return false;
      const tl = b.readUInt16BE(end);
      if (b.length < end + 2 + tl) return false;
      link = Buffer.from(b.subarray(end + 2, end + 2 + tl));
      end += 2 + tl;
    }
    if (b.length < end) return false;
    const name = Buffer.from(b.subarray(7, 7 + nl));
    this.buf = b.subarray(end);
    if (!this.root) this.first(type, mode, name, link);
    else if (type === PCP_END) this.finish();
    else this.below(type, mode, name, link);
    return true;
  }

  first(type, mode, nameb, link) {
    const { src, dst } = this;
    if (type === PCP_END) throw new ProtocolError("the copy's data is an empty archive");
    const name = nameb.toString();
    this.root = { type, mode };
    let st = null;
    try {
      st = fs.statSync(dst);
    } catch {
      st = null;
    }
    const isdir = !!st && st.isDirectory();
    const bad = name.includes('/') || name === '' || name === '.' || name === '..';
    if (isdir && bad && !(type === PCP_DIR && contentsOnly(src))) {
      throw new InvalidArgumentError(`'${name}' is not a name to copy into ${dst}`);
    }
    const sep = dst.endsWith('/') ? '' : '/';
    let target = dst;
    if (type === PCP_DIR) {
      if (st && !isdir) throw new InvalidArgumentError(`cannot copy the directory ${src} onto the file ${dst}`);
      if (isdir && !contentsOnly(src)) {
        target = dst + sep + name;
        try {
          fs.mkdirSync(target, 0o700);
          this.made = true;
        } catch (e) {
          if (e.code !== 'EEXIST') throw localError(e, 'cannot make', target);
        }
      } else if (!isdir) {
        fsync('cannot make', dst, () => fs.mkdirSync(dst, 0o700));
        this.made = true;
      }
      this.top = target;
      return;
    }
    if (isdir) target = dst + sep + name;
    else if (!st && dst.endsWith('/')) throw new NotFoundError(`no directory ${dst} here`);
    if (type === PCP_LINK) {
      try {
        fs.unlinkSync(target);
      } catch { /* none there */ }
      fsync('cannot make the symlink', target, () => fs.symlinkSync(link, target));
      return;
    }
    this.open(target, mode, false);
  }

  open(p, mode, nofollow) {
    const c = fs.constants;
    const flags = c.O_WRONLY | c.O_CREAT | c.O_TRUNC | (nofollow ? c.O_NOFOLLOW : 0);
    this.fd = fsync('cannot create', p, () => fs.openSync(p, flags, 0o600));
    this.fname = p;
    this.fmode = mode;
    this.inFile = true;
  }

  /** beneath() - @name's path below the copied directory, each
   * directory on the way checked to be one (not a symlink to follow). */
  beneath(name) {
    const parts = name.toString().split('/');
    let p = this.top;
    for (const c of parts.slice(0, -1)) {
      p = `${p}/${c}`;
      let st;
      try {
        st = fs.lstatSync(p);
      } catch (e) {
        throw localError(e, 'cannot reach the directory of', name.toString());
      }
      if (!st.isDirectory()) {
        throw new FileError(`cannot reach the directory of ${name}: ${p} is not a directory`,
          { code: 'ENOTDIR', errno: -E.ENOTDIR });
      }
    }
    return `${p}/${parts[parts.length - 1]}`;
  }

  below(type, mode, name, link) {
    if (this.root.type !== PCP_DIR) throw new ProtocolError("the copy's data is not an archive (more after a file)");
    if (!nameOk(name)) throw new InvalidArgumentError(`'${name}' is not a name below ${this.src}: not copied`);
    const p = this.beneath(name);
    if (type === PCP_DIR) {
      try {
        fs.mkdirSync(p, 0o700);
      } catch (e) {
        if (e.code !== 'EEXIST') throw localError(e, 'cannot make', name.toString());
      }
      this.dirs.push([name, mode]);
    } else if (type === PCP_FILE) {
      this.open(p, mode, true);
    } else {
      try {
        fs.unlinkSync(p);
      } catch { /* none there */ }
      fsync('cannot make the symlink', name.toString(), () => fs.symlinkSync(link, p));
    }
  }

  finish() {
    // directories' modes last (one without write permission could not
    // have been filled), deepest first
    for (const [name, mode] of this.dirs.reverse()) {
      try {
        const p = this.beneath(name);
        if (fs.lstatSync(p).isDirectory()) fs.chmodSync(p, mode);
      } catch { /* as msb cp: best effort */ }
    }
    if (this.top && this.made) fs.chmodSync(this.top, this.root.mode);
    this.done = true;
    this.close();
  }

  close() {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
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

/** askList() - the JSON list a listing request (ps, snapshot_ls) writes
 * to its stdout; @what names it in a ProtocolError. */
async function askList(op, what) {
  const out = [];
  await ask({ op, json: true }, { onStdout: (b) => out.push(b) });
  const text = Buffer.concat(out).toString('utf8');
  try {
    return text ? JSON.parse(text) : [];
  } catch (e) {
    throw new ProtocolError(`the host's list of ${what}: ${e.message}`);
  }
}

/** A snapshot of a peer as rt.snapshots() gives it: `kind` is "full"
 * (memory and disk: restored running) or "disk". */
class PeerSnapshotInfo {
  constructor(s) {
    this.name = s.name;
    this.source = s.source;
    this.kind = s.kind;
    this.sizeBytes = s.size_bytes;
  }
}

/** A peer sandbox this sandbox started: exec, shell, copyIn, copyOut,
 * snapshot, stop, remove, logs. */
class Peer {
  constructor(name) {
    /** Its name. */
    this.name = name;
  }

  /** exec() - @cmd (a command line, split as exec() splits it, or an
   * argv) run in the peer to its end: an ExecResult. Output comes at the
   * pace this program takes it; `stdin` (a string, a Uint8Array, a
   * Readable or an iterable of them) is its input, sent as the peer takes
   * it, its end the command's end-of-file (without it the command reads
   * end-of-file at once). `tty` (true for 24 rows and 80 columns, or
   * {rows, cols}) gives the command a terminal: its output is all stdout,
   * as the terminal wrote it (lines end in "\r\n"). */
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
    if (options.tty) Object.assign(req, { tty: true }, ttySize(options.tty));
    let input;
    if (options.stdin != null) {
      if (typeof options.stdin === 'boolean') {
        throw new InvalidArgumentError("a peer's stdin is its data: a string, a Uint8Array, a Readable or an iterable of them");
      }
      input = toBuffers(options.stdin);
      req.stdin = true;
    }
    const out = [];
    const err = [];
    const r = await ask(req, {
      onStdout: options.onStdout || ((b) => out.push(b)),
      onStderr: options.onStderr || ((b) => err.push(b)),
      signal: options.signal,
      input,
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

  /** copyIn() - this sandbox's file, directory (with everything in it)
   * or symlink @src into the peer's @dst, with docker cp's rules (a @src
   * ending in "/." copies what is in it), through the host. `user` owns
   * what is made (name, uid or uid:gid). */
  async copyIn(src, dst, options = {}) {
    known(options, COPY_KEYS, 'copyIn');
    let st;
    try {
      st = await fs.promises.lstat(src);
    } catch (e) {
      throw localError(e, 'cannot copy', src);
    }
    const req = { op: 'cp_in', name: this.name, path: dst };
    if (options.user != null) req.user = String(options.user);
    if (st.isDirectory() && contentsOnly(src)) req.contents = true;
    await ask(req, { input: pack(src, st), signal: options.signal });
  }

  /** copyOut() - the peer's file, directory or symlink @src into this
   * sandbox's @dst, with docker cp's rules; a name that would land
   * outside @dst is refused. */
  async copyOut(src, dst, options = {}) {
    known(options, COPY_KEYS, 'copyOut');
    const req = { op: 'cp_out', name: this.name, path: src };
    if (options.user != null) req.user = String(options.user);
    const up = new Unpacker(src, dst);
    try {
      await ask(req, { onStdout: (b) => up.feed(b), signal: options.signal });
    } finally {
      up.close();
    }
    if (!up.done) throw new ProtocolError('the copy ended before its end');
  }

  /** snapshot() - the peer saved as @name, kept on the host (its memory
   * and disk while it runs, its disk when stopped): @name, for
   * rt.restore(). */
  async snapshot(name) {
    await ask({ op: 'snapshot', name: this.name, snapshot: name });
    return name;
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
    return (await askList('ps', 'peers')).map((p) => new PeerInfo(p));
  }

  /** snapshots() - the snapshots of this sandbox's peers
   * (PeerSnapshotInfo). */
  async snapshots() {
    return (await askList('snapshot_ls', 'snapshots')).map((x) => new PeerSnapshotInfo(x));
  }

  /** removeSnapshot() - delete a snapshot of one of this sandbox's peers
   * (BusyError while peers restored from it exist). */
  async removeSnapshot(snapshot) {
    await ask({ op: 'snapshot_rm', snapshot: snapName(snapshot) });
  }

  /** restore() - start peer `name` from @snapshot, within the host's
   * limits for this sandbox's peers as start() is; a peer that held
   * secrets given at its creation cannot be restored. */
  async restore(snapshot, options = {}) {
    known(options, RESTORE_KEYS, 'restore');
    if (typeof options.name !== 'string' || !options.name) {
      throw new InvalidArgumentError("restore() needs the new peer's name: { name: 'NEW' }");
    }
    await ask({ op: 'restore', snapshot: snapName(snapshot), name: options.name },
      { signal: options.signal });
    return new Peer(options.name);
  }
}

function snapName(s) {
  if (s instanceof PeerSnapshotInfo) return s.name;
  if (typeof s !== 'string') throw new InvalidArgumentError('a snapshot is its name (a string) or a PeerSnapshotInfo');
  return s;
}

/** The agent's socket the runtime speaks to; tests point it at a stand-in. */
Runtime.agentSocket = '/run/microsandbox/agent.sock';

/** currentRuntime() - the Runtime of the sandbox this program runs in;
 * outside one, NotSupportedError ("not inside a microsandbox sandbox"). */
async function currentRuntime() {
  if (!fs.existsSync(Runtime.agentSocket)) throw notInside('no such file');
  return new Runtime();
}

module.exports = { Runtime, Peer, PeerInfo, PeerSnapshotInfo, currentRuntime };
