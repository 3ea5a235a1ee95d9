// SPDX-License-Identifier: Apache-2.0
// Sandbox.currentRuntime() as code inside a sandbox uses it
// (docs/spawn.md), against a stand-in for the agent's socket that speaks
// its frames (docs/agent-protocol.md §7c): the requests the Runtime
// writes and how it reads the answers. Nothing here loads the addon: the
// runtime is JavaScript alone, as it runs in a guest.
// tests/e2e/test_spawn.py runs the same requests through a real agent.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import {
  AlreadyExistsError, BusyError, CommandError, InvalidArgumentError, MicrosandboxError, NotFoundError,
  NotSupportedError, Peer, PeerInfo, PeerSnapshotInfo, PolicyRefusedError, ProtocolError, Runtime, Sandbox,
} from 'microsandbox';

const STDIN = 3, STDOUT = 67, STDERR = 68, EXIT = 69, RESULT = 73, PEER = 76, WINDOW = 7;

function frame(kind: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(12);
  h.writeUInt32BE(p.length, 0);
  h[8] = kind;
  return Buffer.concat([h, p]);
}

function result(errno: number, msg = ''): Buffer {
  const p = Buffer.alloc(9);
  p[0] = 31;
  p.writeUInt32BE(4, 1);
  p.writeUInt32BE(errno, 5);
  const m = Buffer.alloc(5);
  m[0] = 32;
  m.writeUInt32BE(Buffer.byteLength(msg), 1);
  return frame(RESULT, msg ? Buffer.concat([p, m, Buffer.from(msg)]) : p);
}

function exit(code: number, sig = 0): Buffer {
  const p = Buffer.alloc(8);
  p.writeInt32BE(code, 0);
  p.writeUInt32BE(sig, 4);
  return frame(EXIT, p);
}

/** The frames a connection brings, one at a time. */
class Frames {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private ended = false;

  constructor(sock: net.Socket) {
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    if (w) w();
  }

  async next(): Promise<{ kind: number; payload: Buffer } | null> {
    for (;;) {
      if (this.buf.length >= 12) {
        const n = this.buf.readUInt32BE(0);
        assert.equal(this.buf.readUInt32BE(4), 0, 'a frame on stream 0');
        if (this.buf.length >= 12 + n) {
          const f = { kind: this.buf[8], payload: this.buf.subarray(12, 12 + n) };
          this.buf = this.buf.subarray(12 + n);
          return f;
        }
      }
      if (this.ended) return null;
      await new Promise<void>((r) => { this.waiting = r; });
    }
  }
}

type Answer = (req: any, sock: net.Socket, frames: Frames) => Promise<void> | void;

/** A stand-in for the agent: each connection's one PEER answered by
 * @answer; as the agent does, the connection stays open after the
 * answer until the program closes it. */
async function agent(answer: Answer): Promise<{ requests: string[]; windows: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-agent-'));
  const sockPath = path.join(dir, 'agent.sock');
  const seen = { requests: [] as string[], windows: [] as number[] };
  const server = net.createServer(async (sock) => {
    const frames = new Frames(sock);
    const f = await frames.next();
    assert.ok(f && f.kind === PEER, 'the first frame is a PEER');
    seen.requests.push(f.payload.toString());
    await answer(JSON.parse(f.payload.toString()), sock, frames);
    for (let g = await frames.next(); g; g = await frames.next()) {
      if (g.kind === WINDOW) seen.windows.push(g.payload.readUInt32BE(0));
    }
    sock.end();
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
  const old = Runtime.agentSocket;
  Runtime.agentSocket = sockPath;
  cleanups.push(() => {
    Runtime.agentSocket = old;
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return seen;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Answers as the host does: exec with output and status 3, ps with one
 * peer, a start of "third" refused, of "nope" a bad request. */
const standIn: Answer = (req, sock) => {
  if (req.op === 'exec') {
    sock.write(Buffer.concat([frame(STDOUT, 'out\n'), frame(STDERR, 'err\n'), exit(3)]));
  } else if (req.op === 'ps') {
    sock.write(Buffer.concat([frame(STDOUT, JSON.stringify([{
      name: 'coder', image: 'node:20', status: 'running', cpus: 1, memory_mib: 256,
    }])), result(0)]));
  } else if (req.op === 'logs') {
    sock.write(Buffer.concat([frame(STDOUT, 'booting coder\n'), result(0)]));
  } else if (req.name === 'third') {
    sock.write(result(1, "this sandbox's tree already has 2 live peers"));
  } else if (req.name === 'nope') {
    sock.write(result(22, 'a bad request'));
  } else {
    sock.write(Buffer.concat([frame(STDOUT, `${req.name}\n`), result(0)]));
  }
};

test("the seed's spawn snippet, as written", async () => {
  const seen = await agent(standIn);
  const key = 'msb_placeholder_k1';

  // Running inside a microsandbox
  const rt = await Sandbox.currentRuntime();

  // Spawn peer sandboxes (isolated, same level)
  const researcher = await rt.start("researcher", {
    image: "python:3.12",
    secrets: { "SERP_KEY": [key, "serpapi.com"] },
  });

  const coder = await rt.start("coder", {
    image: "node:20",
    network: { denyAll: true }, // air-gapped
  });

  assert.ok(researcher instanceof Peer && coder instanceof Peer);
  assert.deepEqual([researcher.name, coder.name], ['researcher', 'coder']);
  assert.deepEqual(seen.requests, [
    '{"op":"start","name":"researcher","image":"python:3.12","secrets":[{"env":"SERP_KEY",' +
      '"placeholder":"msb_placeholder_k1","hosts":"serpapi.com"}]}',
    '{"op":"start","name":"coder","image":"node:20","net_deny_all":true}',
  ]);
});

test('requests and answers', async () => {
  const seen = await agent(standIn);
  const rt = await Sandbox.currentRuntime();
  const coder = await rt.start('coder', {
    cpus: 2, memory: 256, env: { A: '1' },
    network: { denyAll: true, allow: ['api.test'] },
    secrets: { K: ['msb_placeholder_ab', ['api.test', 'x.test']], L: 'msb_placeholder_cd' },
  });
  const r = await coder.shell('exit 3', { env: { B: '2' }, cwd: '/tmp' });
  assert.deepEqual([r.exitCode, r.signal, r.stdout, r.stderr, r.success], [3, 0, 'out\n', 'err\n', false]);
  await assert.rejects(coder.exec("sh -c 'exit 3'", { check: true }),
    (e: unknown) => e instanceof CommandError && e.result.exitCode === 3);
  const peers = await rt.list();
  assert.ok(peers[0] instanceof PeerInfo);
  assert.deepEqual({ ...peers[0] }, { name: 'coder', image: 'node:20', status: 'running', cpus: 1, memoryMib: 256 });
  await coder.stop();
  assert.equal(await rt.peer('coder').logs(), 'booting coder\n');
  await rt.peer('coder').remove();
  assert.deepEqual(seen.requests.map((q) => JSON.parse(q)), [
    { op: 'start', name: 'coder', cpus: 2, memory: '256M', net_allow: ['api.test'], env: ['A=1'],
      secrets: [{ env: 'K', placeholder: 'msb_placeholder_ab', hosts: 'api.test,x.test' },
        { env: 'L', placeholder: 'msb_placeholder_cd' }] },
    { op: 'exec', name: 'coder', argv: ['sh', '-c', 'exit 3'], env: ['B=2'], workdir: '/tmp' },
    { op: 'exec', name: 'coder', argv: ['sh', '-c', 'exit 3'] },
    { op: 'ps', json: true },
    { op: 'stop', name: 'coder' },
    { op: 'logs', name: 'coder' },
    { op: 'rm', name: 'coder' },
  ]);
});

test("the host's refusals", async () => {
  await agent(standIn);
  const rt = await Sandbox.currentRuntime();
  await assert.rejects(rt.start('third'), (e: unknown) =>
    e instanceof PolicyRefusedError && e.code === 'MSB_E_POLICY' && /already has 2 live peers/.test(e.message));
  await assert.rejects(rt.start('nope'), (e: unknown) =>
    e instanceof InvalidArgumentError && e.message === 'a bad request');
});

// The stand-in sends no more than the credit it was given (256 KiB,
// then what comes back), as the host does: 1 MiB gets through only if
// the runtime gives credit back as it takes the output.
test('output past 256 KiB is taken within its credit', { timeout: 60000 }, async () => {
  const total = 1 << 20;
  const seen = await agent(async (req, sock, frames) => {
    let credit = 256 * 1024;
    const chunk = Buffer.alloc(65536, 'x');
    for (let sent = 0; sent < total;) {
      if (credit < chunk.length) {
        const f = await frames.next();
        assert.ok(f && f.kind === WINDOW && f.payload.length === 4, 'credit comes back');
        credit += f.payload.readUInt32BE(0);
        seen.windows.push(f.payload.readUInt32BE(0));
        continue;
      }
      sock.write(frame(STDOUT, chunk));
      credit -= chunk.length;
      sent += chunk.length;
    }
    sock.write(exit(0));
  });
  const rt = await Sandbox.currentRuntime();
  const r = await rt.peer('big').exec(['cat']);
  assert.equal(r.stdoutBytes.length, total);
  let streamed = 0;
  const s = await rt.peer('big').exec(['cat'], { onStdout: (b) => { streamed += b.length; } });
  assert.equal(streamed, total);
  assert.equal(s.stdoutBytes.length, 0);
  const given = seen.windows.reduce((a, b) => a + b, 0);
  assert.ok(given >= 2 * (total - 256 * 1024), `credit given back: ${given}`);
});

test('an aborted exec ends its request; an answer cut short is a ProtocolError', { timeout: 60000 }, async () => {
  let ended: () => void;
  const closed = new Promise<void>((r) => { ended = r; });
  await agent(async (req, sock, frames) => {
    if (req.name === 'cut') {
      sock.end(frame(STDOUT, 'half'));
      return;
    }
    sock.write(frame(STDOUT, 'started\n'));
    while (await frames.next());
    ended();
  });
  const rt = await Sandbox.currentRuntime();
  const ac = new AbortController();
  await assert.rejects(rt.peer('coder').exec(['sleep', '1000'], {
    signal: ac.signal, onStdout: () => ac.abort(),
  }), (e: unknown) => e instanceof Error && e.name === 'AbortError');
  await closed;
  await assert.rejects(rt.peer('cut').exec('true'), ProtocolError);
});

test('bad input is refused before anything is asked', async () => {
  const seen = await agent(standIn);
  const rt = await Sandbox.currentRuntime();
  await assert.rejects(rt.start('x', { network: { ports: ['8080:80'] } as any }),
    (e: unknown) => e instanceof InvalidArgumentError && /denyAll, allow and allowCidr only/.test(e.message));
  // a peer takes no hooks: they run in the host program that made a sandbox
  await assert.rejects(rt.start('x', { network: { onHttpResponseHead: () => {} } } as any),
    (e: unknown) => e instanceof InvalidArgumentError && /not onHttpResponseHead/.test(e.message));
  await assert.rejects(rt.start('x', { volumes: {} } as any), InvalidArgumentError);
  await assert.rejects(rt.start('x', { cpus: 0 }), InvalidArgumentError);
  await assert.rejects(rt.start('x', { secrets: { K: ['', 'a.test'] } }), InvalidArgumentError);
  await assert.rejects(rt.peer('x').exec('cat', { user: 'root' } as any), InvalidArgumentError);
  await assert.rejects(rt.peer('x').exec('cat', { stdin: true } as any), InvalidArgumentError);
  await assert.rejects(rt.restore('s1', {} as any), InvalidArgumentError);
  await assert.rejects(rt.start('x', { env: { A: 'v'.repeat(61 * 1024) } }),
    (e: unknown) => e instanceof InvalidArgumentError && /over 60 KiB/.test(e.message));
  assert.deepEqual(seen.requests, []);
});

test('outside a sandbox: NotSupportedError', async () => {
  const old = Runtime.agentSocket;
  Runtime.agentSocket = path.join(os.tmpdir(), `msb-no-agent-${process.pid}.sock`);
  try {
    await assert.rejects(Sandbox.currentRuntime(), (e: unknown) =>
      e instanceof NotSupportedError && /not inside a microsandbox sandbox/.test(e.message));
  } finally {
    Runtime.agentSocket = old;
  }
});

// ---- snapshots, stdin and cp (docs/agent-protocol.md §7c) ----------------

const EPERM = 1, ENOENT = 2, EEXIST = 17, EBUSY = 16;

/** takeInput() - a request's input read to its end (the empty STDIN), as
 * the host takes it: credit is given back only once the program has used
 * all of MSB_PEER_STDIN_WINDOW, 1000 bytes then 64 KiB in turn, so a
 * program that sends past its credit shows in @over. Null: the
 * connection closed before the input's end. */
async function takeInput(sock: net.Socket, frames: Frames, over: number[], sizes: number[]): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let owed = 0;
  const grants = [1000, 65536];
  for (;;) {
    const f = await frames.next();
    if (!f) return null;
    if (f.kind !== STDIN) continue;
    sizes.push(f.payload.length);
    if (!f.payload.length) return Buffer.concat(parts);
    parts.push(Buffer.from(f.payload));
    owed += f.payload.length;
    if (owed > 128 * 1024) over.push(owed);
    if (owed === 128 * 1024) {
      const c = Buffer.alloc(4);
      c.writeUInt32BE(grants[0], 0);
      owed -= grants[0];
      sock.write(frame(WINDOW, c));
      grants.reverse();
    }
  }
}

function rec(type: string, mode: number, name: string, link?: string): Buffer {
  const n = Buffer.from(name);
  const h = Buffer.alloc(7);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(mode, 1);
  h.writeUInt16BE(n.length, 5);
  if (type !== 'L') return Buffer.concat([h, n]);
  const l = Buffer.from(link!);
  const t = Buffer.alloc(2);
  t.writeUInt16BE(l.length, 0);
  return Buffer.concat([h, n, t, l]);
}

function data(b: Buffer, chunk = 65536): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) {
    const c = b.subarray(i, i + chunk);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(c.length, 0);
    parts.push(h, c);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

const END = rec('E', 0, '');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** The host's answers as peers.c gives them; a cp_out's archive is
 * host.archive, sent in frames of host.cut bytes. */
function host() {
  const h = { inputs: [] as (Buffer | null)[], over: [] as number[], sizes: [] as number[], archive: END, cut: 7 };
  const answer: Answer = async (req, sock, frames) => {
    let input: Buffer | null = Buffer.alloc(0);
    if (req.stdin || req.op === 'cp_in') {
      input = await takeInput(sock, frames, h.over, h.sizes);
      h.inputs.push(input);
      if (!input) return;
    }
    if (req.op === 'exec') {
      sock.write(Buffer.concat([frame(STDOUT, `${input.length} ${md5(input)}\n`), exit(0)]));
    } else if (req.op === 'snapshot') {
      if (req.name !== 'coder') {
        sock.write(result(EPERM, `'${req.name}' is not a peer of this sandbox: a sandbox acts only on the peers it started (msb ps lists them)`));
      } else if (req.snapshot === 'taken') {
        sock.write(result(EEXIST, "snapshot 'taken' exists"));
      } else {
        sock.write(Buffer.concat([frame(STDOUT, `${req.snapshot} (full)\n`), result(0)]));
      }
    } else if (req.op === 'snapshot_ls') {
      sock.write(Buffer.concat([frame(STDOUT, JSON.stringify([{ name: 's1', source: 'coder', kind: 'full', size_bytes: 12345 }]) + '\n'), result(0)]));
    } else if (req.op === 'snapshot_rm') {
      sock.write(req.snapshot === 'base' ?
        result(EBUSY, "snapshot 'base' is the base of peers restored from it: remove them first (msb rm NAME)") : result(0));
    } else if (req.op === 'restore') {
      sock.write(req.name === 'third' ? result(EPERM, "this sandbox's tree already has 1 live peers") :
        Buffer.concat([frame(STDOUT, `${req.name}\n`), result(0)]));
    } else if (req.op === 'cp_in') {
      sock.write(result(0));
    } else if (req.op === 'cp_out') {
      if (req.path === '/nope') {
        sock.write(result(ENOENT, '/nope: No such file or directory'));
        return;
      }
      const parts: Buffer[] = [];
      for (let i = 0; i < h.archive.length; i += h.cut) parts.push(frame(STDOUT, h.archive.subarray(i, i + h.cut)));
      parts.push(result(0));
      sock.write(Buffer.concat(parts));
    } else {
      sock.write(result(22, 'unexpected'));
    }
  };
  return { h, answer };
}

test('snapshot requests and answers, and the refusals as the SDK\'s errors', async () => {
  const { answer } = host();
  const seen = await agent(answer);
  const rt = await Sandbox.currentRuntime();
  assert.equal(await rt.peer('coder').snapshot('s1'), 's1');
  const snaps = await rt.snapshots();
  assert.ok(snaps[0] instanceof PeerSnapshotInfo);
  assert.deepEqual(snaps.map((x) => ({ ...x })), [{ name: 's1', source: 'coder', kind: 'full', sizeBytes: 12345 }]);
  const p = await rt.restore(snaps[0], { name: 'coder2' });
  assert.ok(p instanceof Peer && p.name === 'coder2');
  await rt.removeSnapshot('s1');
  await assert.rejects(rt.peer('other').snapshot('s2'), (e: unknown) =>
    e instanceof PolicyRefusedError && /'other' is not a peer of this sandbox/.test(e.message));
  await assert.rejects(rt.peer('coder').snapshot('taken'), (e: unknown) =>
    e instanceof AlreadyExistsError && e.message === "snapshot 'taken' exists");
  await assert.rejects(rt.restore('s1', { name: 'third' }), (e: unknown) =>
    e instanceof PolicyRefusedError && /already has 1 live peers/.test(e.message));
  await assert.rejects(rt.removeSnapshot('base'), (e: unknown) =>
    e instanceof BusyError && /remove them first/.test(e.message));
  assert.deepEqual(seen.requests.slice(0, 4), [
    '{"op":"snapshot","name":"coder","snapshot":"s1"}',
    '{"op":"snapshot_ls","json":true}',
    '{"op":"restore","snapshot":"s1","name":"coder2"}',
    '{"op":"snapshot_rm","snapshot":"s1"}',
  ]);
});

test('exec sends stdin within its window', { timeout: 60000 }, async () => {
  const { h, answer } = host();
  const seen = await agent(answer);
  const big = Buffer.alloc(300000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 255;
  async function* chunks() {
    for (let i = 0; i < big.length; i += 70000) yield big.subarray(i, i + 70000);
  }
  const p = (await Sandbox.currentRuntime()).peer('coder');
  assert.equal((await p.exec('cat', { stdin: big })).stdout, `300000 ${md5(big)}\n`);
  assert.equal((await p.exec(['wc', '-c'], { stdin: chunks() })).stdout, `300000 ${md5(big)}\n`);
  assert.equal((await p.exec('cat', { stdin: 'hi\n' })).stdout, `3 ${md5('hi\n')}\n`);
  // an empty input: the command reads its end at once
  assert.equal((await p.exec('cat', { stdin: '' })).stdout, `0 ${md5('')}\n`);
  assert.equal(seen.requests[0], '{"op":"exec","name":"coder","argv":["cat"],"stdin":true}');
  assert.deepEqual(h.inputs.map((b) => b && md5(b)), [md5(big), md5(big), md5('hi\n'), md5('')]);
  // never past the credit, which it waited for (MSB_PEER_STDIN_WINDOW,
  // then 1000 bytes: a frame of that size)
  assert.deepEqual(h.over, []);
  assert.ok(h.sizes.includes(1000), `frames: ${h.sizes}`);
  assert.ok(Math.max(...h.sizes) <= 65536);
});

test('exec with a terminal', async () => {
  const { answer } = host();
  const seen = await agent(answer);
  const p = (await Sandbox.currentRuntime()).peer('coder');
  await p.exec('sh', { tty: true });
  await p.exec('sh', { tty: { rows: 33, cols: 101 }, stdin: 'stty size\n' });
  for (const bad of [{ rows: 0, cols: 80 }, { rows: 24 }, { rows: 24, cols: 65536 }, { rows: '24', cols: '80' }, { rows: 2.5, cols: 80 }, 'yes', 1]) {
    await assert.rejects(p.exec('sh', { tty: bad as never }), (e: unknown) =>
      e instanceof InvalidArgumentError && /tty is true or \{rows, cols\}/.test(e.message), JSON.stringify(bad));
  }
  // a bad size is refused here: nothing more went to the host
  assert.deepEqual(seen.requests, [
    '{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":24,"cols":80}',
    '{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":33,"cols":101,"stdin":true}',
  ]);
});

test('an input that fails ends the request', async () => {
  const { h, answer } = host();
  let ended: () => void;
  const closed = new Promise<void>((r) => { ended = r; });
  await agent(async (req, sock, frames) => {
    await answer(req, sock, frames);
    ended();
  });
  async function* chunks() {
    yield Buffer.from('part');
    throw new Error('the input went');
  }
  const p = (await Sandbox.currentRuntime()).peer('coder');
  await assert.rejects(p.exec('cat', { stdin: chunks() }), /the input went/);
  await closed;
  // the connection closed without the input's end: the host cancels
  assert.deepEqual(h.inputs, [null]);
});

const BIG = Buffer.alloc(153600);
for (let i = 0; i < BIG.length; i++) BIG[i] = i & 255;
// t as the archive holds it: names sorted, a directory before what is in it
const TREE = Buffer.concat([rec('D', 0o755, 't'), rec('F', 0o640, 'a'), data(Buffer.from('one\n')),
  rec('L', 0o777, 'link', 'a'), rec('D', 0o750, 'sub'), rec('F', 0o644, 'sub/big'), data(BIG), END]);

function makeTree(root: string): void {
  fs.mkdirSync(path.join(root, 't', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 't', 'a'), 'one\n');
  fs.writeFileSync(path.join(root, 't', 'sub', 'big'), BIG);
  fs.chmodSync(path.join(root, 't', 'a'), 0o640);
  fs.chmodSync(path.join(root, 't', 'sub', 'big'), 0o644);
  fs.chmodSync(path.join(root, 't', 'sub'), 0o750);
  fs.chmodSync(path.join(root, 't'), 0o755);
  fs.symlinkSync('a', path.join(root, 't', 'link'));
}

function treeOf(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const what = st.isSymbolicLink() ? fs.readlinkSync(p) : st.isFile() ? md5(fs.readFileSync(p)) : '';
      out.push(`${r} ${st.mode.toString(8)} ${what}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

function tmpdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-cp-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('copyIn sends the archive', { timeout: 60000 }, async () => {
  const { h, answer } = host();
  const seen = await agent(answer);
  const d = tmpdir();
  makeTree(d);
  const p = (await Sandbox.currentRuntime()).peer('coder');
  await p.copyIn(path.join(d, 't'), '/tmp/', { user: 1000 });
  await p.copyIn(path.join(d, 't', 'a'), '/tmp/x');
  await p.copyIn(`${d}/t/.`, '/tmp/y');
  await assert.rejects(p.copyIn(path.join(d, 'nope'), '/tmp/'), (e: unknown) =>
    e instanceof NotFoundError && /cannot copy .*\/nope/.test(e.message));
  assert.deepEqual(seen.requests, [
    '{"op":"cp_in","name":"coder","path":"/tmp/","user":"1000"}',
    '{"op":"cp_in","name":"coder","path":"/tmp/x"}',
    '{"op":"cp_in","name":"coder","path":"/tmp/y","contents":true}',
  ]);
  assert.ok(h.inputs[0]!.equals(TREE));
  assert.ok(h.inputs[1]!.equals(Buffer.concat([rec('F', 0o640, 'a'), data(Buffer.from('one\n')), END])));
  assert.ok(h.inputs[2]!.equals(Buffer.concat([rec('D', 0o755, '.'), TREE.subarray(8)])));
  assert.deepEqual(h.over, []);
});

test('copyOut unpacks the archive', { timeout: 60000 }, async () => {
  const { h, answer } = host();
  const seen = await agent(answer);
  const d = tmpdir();
  makeTree(path.join(d, 'src'));
  fs.mkdirSync(path.join(d, 'here'));
  h.archive = TREE;
  h.cut = 4099;
  const p = (await Sandbox.currentRuntime()).peer('coder');
  // into a directory that exists: t below it, as docker cp
  await p.copyOut('/tmp/t', path.join(d, 'here'));
  // to a name that does not exist: the directory as that name
  await p.copyOut('/tmp/t', path.join(d, 'fresh'));
  // one file, in records cut at every byte
  h.archive = Buffer.concat([rec('F', 0o600, 'a'), data(Buffer.from('one\n')), END]);
  h.cut = 1;
  await p.copyOut('/tmp/t/a', path.join(d, 'here'), { user: '1000' });
  await assert.rejects(p.copyOut('/nope', path.join(d, 'here')), (e: unknown) =>
    e instanceof NotFoundError && /\/nope: No such file/.test(e.message));
  assert.deepEqual(treeOf(path.join(d, 'here', 't')), treeOf(path.join(d, 'src', 't')));
  assert.deepEqual(treeOf(path.join(d, 'fresh')), treeOf(path.join(d, 'src', 't')));
  assert.equal(fs.readFileSync(path.join(d, 'here', 'a'), 'utf8'), 'one\n');
  assert.equal(fs.statSync(path.join(d, 'here', 'a')).mode & 0o7777, 0o600);
  assert.deepEqual(seen.requests.slice(0, 3), [
    '{"op":"cp_out","name":"coder","path":"/tmp/t"}',
    '{"op":"cp_out","name":"coder","path":"/tmp/t"}',
    '{"op":"cp_out","name":"coder","path":"/tmp/t/a","user":"1000"}',
  ]);
});

const x = data(Buffer.from('x'));
for (const [what, archive, why] of [
  ['dotdot', Buffer.concat([rec('D', 0o755, 't'), rec('F', 0o644, '../evil'), x, END]), /'..\/evil' is not a name below/],
  ['absolute', Buffer.concat([rec('D', 0o755, 't'), rec('F', 0o644, '/abs'), x, END]), /'\/abs' is not a name below/],
  // a symlink in the copy is not followed to reach what is below it
  ['through a symlink', Buffer.concat([rec('D', 0o755, 't'), rec('L', 0o777, 'up', '..'), rec('F', 0o644, 'up/evil'), x, END]),
    /cannot reach the directory of/],
  ['truncated', Buffer.concat([rec('D', 0o755, 't'), rec('F', 0o644, 'a'), x]), /the copy ended before its end/],
  ['a bad type', Buffer.concat([Buffer.from('Z'), Buffer.alloc(6), END]), /not an archive/],
] as [string, Buffer, RegExp][]) {
  test(`copyOut refuses an archive: ${what}`, async () => {
    const { h, answer } = host();
    await agent(answer);
    const d = tmpdir();
    fs.mkdirSync(path.join(d, 'here'));
    h.archive = archive;
    const p = (await Sandbox.currentRuntime()).peer('coder');
    await assert.rejects(p.copyOut('/tmp/t', path.join(d, 'here')), (e: unknown) =>
      e instanceof MicrosandboxError && why.test(e.message));
    assert.ok(!fs.existsSync(path.join(d, 'evil')) && !fs.existsSync(path.join(d, 'here', 'evil')));
  });
}
