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
import {
  CommandError, InvalidArgumentError, NotSupportedError, Peer, PeerInfo, PolicyRefusedError, ProtocolError,
  Runtime, Sandbox,
} from 'microsandbox';

const STDOUT = 67, STDERR = 68, EXIT = 69, RESULT = 73, PEER = 76, WINDOW = 7;

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
  await assert.rejects(rt.start('x', { volumes: {} } as any), InvalidArgumentError);
  await assert.rejects(rt.start('x', { cpus: 0 }), InvalidArgumentError);
  await assert.rejects(rt.start('x', { secrets: { K: ['', 'a.test'] } }), InvalidArgumentError);
  await assert.rejects(rt.peer('x').exec('cat', { stdin: 'a' } as any), InvalidArgumentError);
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
