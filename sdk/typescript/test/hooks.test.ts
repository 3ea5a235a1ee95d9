// SPDX-License-Identifier: Apache-2.0
// Hooks written in JS (docs/plugins.md), called in this process by the
// sandbox's supervisor over the hook protocol, with a built-in and a
// plugin process written with the SDK's Plugin, all on one sandbox of
// the built-in image: DNS answered, denied and logged, HTTP blocked by a
// DLP rule or its body rewritten, answers redacted, tagged or blocked
// before the guest reads them, each answer's head told (a hook that
// holds it holding up nothing), execs denied and rewritten, exits and
// lifecycle told, connections refused by the plugin process.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AuditLog, DnsAction, ExecAction, PassthroughFs, PolicyRefusedError, Sandbox, block, forward,
  type ExecExit, type FsCall, type FsContext, type HttpResponse, type HttpResponseHead, type LifecycleEvent,
} from 'microsandbox';
import { LONG, unique } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-hooks-'));
const dns: string[] = [];
const execs: string[][] = [];
const exits: ExecExit[] = [];
const lifecycle: LifecycleEvent[] = [];
const bodies: string[] = [];
const answers: HttpResponse[] = [];
const heads: HttpResponseHead[] = [];
// /doc's head is held by its hook until the guest has read that answer:
// an answer that waited for the hook would never come.
let letGo: () => void = () => {};
const held = new Promise<void>((r) => { letGo = r; });
let sb: Sandbox;
const opens: number[] = [];

// A filesystem in JS over a host directory: it watches opens and refuses
// to create one name; every other operation stays native.
class Guard extends PassthroughFs {
  open(ctx: FsContext, ino: number, flags: number) {
    opens.push(ino);
    return this.inner.open(ctx, ino, flags);
  }

  create(_ctx: FsContext, _parent: number, _flags: number, call?: FsCall) {
    if (call?.name === 'forbidden.txt') throw Object.assign(new Error('not this name'), { code: 'EPERM' });
  }
}
let server: http.Server;
let port = 0;

// A --plugin-process written with the SDK's Plugin: it refuses TCP to
// port 7007 and writes down each connection it is asked about, and the
// head of each HTTP answer it is told of (an event).
const MONITOR = `
const fs = require('node:fs');
const { Plugin } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib'))});
new Plugin('monitor-ts')
  .on('connect', (c) => {
    fs.appendFileSync(process.env.LOG, JSON.stringify(c) + '\\n');
    return c.port === 7007 ? Plugin.deny('no 7007 from monitor-ts') : undefined;
  })
  .on('http_response_head', (c) => {
    fs.appendFileSync(process.env.LOG, JSON.stringify(c) + '\\n');
  })
  .run();
`;

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      bodies.push(body);
      if (req.url === '/doc') res.end('top CONFIDENTIAL plan\n');
      else if (req.url === '/card') res.end('card 4111 1111 1111 1111\n');
      else res.end(`accepted ${body}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  fs.writeFileSync(path.join(dir, 'monitor.js'), MONITOR);
  fs.mkdirSync(path.join(dir, 'vol'));
  sb = await Sandbox.create(unique('hooks'), {
    network: {
      allowHost: [port],
      onDns: (q) => {
        dns.push(`${q.name} ${q.type}`);
        if (q.name === 'blocked.test') return DnsAction.DENY;
        if (q.name === 'plugin.test') return DnsAction.answer(['192.0.2.55']);
        return DnsAction.ALLOW;
      },
      onHttp: async (req) => {
        const body = req.body.toString();
        if (/\b\d{3}-\d{2}-\d{4}\b/.test(body)) return block('DLP: PII');
        if (body.includes('secret=')) return forward({ ...req, body: Buffer.from('secret=[redacted]') });
        return forward(req);
      },
      onHttpResponse: (resp) => {
        answers.push(resp);
        const text = resp.body.toString();
        if (text.includes('4111')) return block('DLP: card number');
        if (text.includes('CONFIDENTIAL')) {
          return forward({ ...resp, body: Buffer.from(text.replace('CONFIDENTIAL', '[redacted]')),
            head: resp.head.replace(/\r\n\r\n$/, '\r\nX-Redacted: 1\r\n\r\n') });
        }
        return forward(resp);
      },
      onHttpResponseHead: async (h) => {
        if (h.path === '/doc') await held;
        heads.push(h);
      },
    },
    onExec: (cmd) => {
      execs.push(cmd.argv);
      if (cmd.argv[0] === 'forbidden') return ExecAction.deny('not on this sandbox');
      if (cmd.argv[0] === 'boom') throw new Error('a bug in the hook');
      if (cmd.argv[0] === 'greet') return ExecAction.rewrite({ argv: ['echo', 'rewritten', ...cmd.argv.slice(1)] });
      return ExecAction.ALLOW;
    },
    onExecExit: (ev) => { exits.push(ev); },
    onLifecycle: (ev) => { lifecycle.push(ev); },
    volumes: { '/data': new Guard(path.join(dir, 'vol')) },
    plugins: [new AuditLog(path.join(dir, 'audit'))],
    pluginProcesses: [`LOG=${path.join(dir, 'monitor.jsonl')} node ${path.join(dir, 'monitor.js')}`],
  });
});

after(async () => {
  letGo();
  await sb?.close();
  server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function eventually(check: () => void, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return check();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test('exec: denied, rewritten, allowed; exits and lifecycle told', LONG, async () => {
  await assert.rejects(sb.exec('forbidden now'), (e: unknown) =>
    e instanceof PolicyRefusedError && /exec denied by plugin js-sdk: not on this sandbox/.test(e.message));
  assert.equal((await sb.exec('greet you')).stdout, 'rewritten you\n');
  const r = await sb.shell('exit 3');
  assert.equal(r.exitCode, 3);
  assert.ok(execs.some((a) => a[0] === 'forbidden') && execs.some((a) => a[0] === 'greet'));
  await eventually(() => assert.ok(exits.some((e) => e.argv.join(' ') === 'sh -c exit 3' && e.exitCode === 3),
    JSON.stringify(exits)));
  // The rewritten command is what ran.
  assert.ok(exits.some((e) => e.argv[0] === 'echo' && e.argv[1] === 'rewritten'));
  assert.ok(lifecycle.some((e) => e.event === 'start' && e.sandbox === sb.name), JSON.stringify(lifecycle));
  // The built-in audit-log saw the same, in its file.
  const audit = path.join(dir, 'audit', `${sb.name}.jsonl`);
  await eventually(() => assert.match(fs.readFileSync(audit, 'utf8'), /"greet"/));
});

test('dns: answered, denied, allowed, each seen here', LONG, async () => {
  const r = await sb.shell('nslookup plugin.test 10.0.2.3; nslookup blocked.test 10.0.2.3; echo done');
  const out = r.stdout + r.stderr;
  assert.match(out, /192\.0\.2\.55/);
  assert.match(out, /NXDOMAIN|can't find|server can't/i);
  assert.ok(dns.includes('plugin.test A') && dns.some((d) => d.startsWith('blocked.test')), dns.join(', '));
});

test('http: a DLP rule blocks, a body is rewritten, the rest goes through', LONG, async () => {
  const url = `http://10.0.2.2:${port}/submit`;
  const ok = await sb.shell(`wget -q -O- --post-data 'name=ann' ${url}`);
  assert.equal(ok.stdout, 'accepted name=ann\n');
  const pii = await sb.shell(`wget -q -O- --post-data 'ssn=123-45-6789' ${url}`);
  assert.notEqual(pii.exitCode, 0);
  assert.ok(!bodies.some((b) => b.includes('123-45-6789')), 'the PII reached the server');
  const changed = await sb.shell(`wget -q -O- --post-data 'secret=hunter2' ${url}`);
  assert.equal(changed.stdout, 'accepted secret=[redacted]\n');
  assert.match(fs.readFileSync(await sb.logPath(), 'utf8'), /plugin js-sdk: DLP: PII/);
});

test('http answers: redacted and tagged, blocked, the rest as they came', LONG, async () => {
  const url = `http://10.0.2.2:${port}`;
  const doc = await sb.shell(`wget -S -q -O- ${url}/doc 2>&1`);
  assert.match(doc.stdout, /top \[redacted\] plan/);
  assert.match(doc.stdout, /X-Redacted: 1/);
  const seen = answers.find((a) => a.path === '/doc');
  assert.ok(seen, answers.map((a) => a.request).join(', '));
  // its head is still held by onHttpResponseHead, which held up nothing
  assert.ok(!heads.some((h) => h.path === '/doc'), JSON.stringify(heads));
  letGo();
  assert.equal(seen.status, 200);
  assert.equal(seen.method, 'GET');
  assert.equal(seen.body.toString(), 'top CONFIDENTIAL plan\n');
  assert.equal(seen.host, '10.0.2.2');
  const card = await sb.shell(`wget -q -O- ${url}/card`);
  assert.notEqual(card.exitCode, 0);
  assert.ok(!card.stdout.includes('4111'), card.stdout);
  const plain = await sb.shell(`wget -q -O- --post-data 'x=1' ${url}/submit`);
  assert.equal(plain.stdout, 'accepted x=1\n');
  assert.match(fs.readFileSync(await sb.logPath(), 'utf8'),
    /on_http_response: .* to 'GET \/card HTTP\/1.1' blocked: plugin js-sdk: DLP: card number/);
  // onHttpResponseHead was told each head as the server sent it, the
  // blocked one's too, in order
  await eventually(() => {
    for (const [p, len] of [['/doc', 22], ['/card', 25]] as const) {
      const h = heads.find((e) => e.request === `GET ${p} HTTP/1.1`);
      assert.ok(h, JSON.stringify(heads));
      assert.equal(h.status, 200);
      assert.equal(h.bodyLength, len);
      assert.deepEqual(h.headers['content-length'], [String(len)]);
      assert.equal(h.method, 'GET');
      assert.equal(h.host, '10.0.2.2');
      assert.equal(h.tls, false);
      assert.ok(h.head.startsWith('HTTP/1.1 200 OK\r\n') && !h.head.includes('X-Redacted'), h.head);
    }
    const order = heads.map((e) => e.path).filter((x) => x === '/doc' || x === '/card');
    assert.deepEqual(order.slice(0, 2), ['/doc', '/card']);
  });
  // the plugin process was told each head as the server sent it, the
  // blocked one's too
  await eventually(() => {
    const heads = fs.readFileSync(path.join(dir, 'monitor.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l)).filter((e) => e.hook === 'http_response_head');
    for (const r of ['GET /doc HTTP/1.1', 'GET /card HTTP/1.1']) {
      const h = heads.find((e) => e.request === r);
      assert.ok(h, JSON.stringify(heads));
      assert.equal(h.status, 200);
      assert.ok(!('body_b64' in h) && h.head.startsWith('HTTP/1.1 200 OK\r\n'), h.head);
    }
  });
});

test('connect: a plugin process written with the SDK refuses a port', LONG, async () => {
  const r = await sb.shell('echo | nc -w 2 1.1.1.1 7007; echo nc=$?');
  assert.match(r.stdout, /nc=1/);
  await eventually(() => {
    const seen = fs.readFileSync(path.join(dir, 'monitor.jsonl'), 'utf8');
    assert.match(seen, /"port":7007/);
  });
  assert.match(fs.readFileSync(await sb.logPath(), 'utf8'), /plugin monitor-ts: no 7007 from monitor-ts/);
});

test('a hook that throws refuses its call (fail closed), and says so', LONG, async () => {
  const warned: string[] = [];
  const onWarning = (w: Error) => warned.push(w.message);
  process.on('warning', onWarning);
  try {
    await assert.rejects(sb.exec('boom'), (e: unknown) =>
      e instanceof PolicyRefusedError && /plugin error: a bug in the hook/.test(e.message));
    await eventually(() => assert.ok(warned.some((m) => m.includes('a bug in the hook')), warned.join('; ')));
  } finally {
    process.off('warning', onWarning);
  }
  // The channel goes on: the next command runs.
  assert.equal((await sb.exec('echo still')).stdout, 'still\n');
});

test('fs: a FileSystemBackend in JS sees opens and refuses a create; the rest is native', LONG, async () => {
  const made = await sb.shell('echo kept > /data/ok.txt && cat /data/ok.txt');
  assert.equal(made.stdout, 'kept\n', made.stderr);
  assert.equal(fs.readFileSync(path.join(dir, 'vol', 'ok.txt'), 'utf8'), 'kept\n');
  assert.ok(opens.length > 0, 'no open reached the backend');
  const refused = await sb.shell('echo no > /data/forbidden.txt');
  assert.notEqual(refused.exitCode, 0);
  assert.match(refused.stderr, /Operation not permitted/);
  assert.ok(!fs.existsSync(path.join(dir, 'vol', 'forbidden.txt')));
});

/** The hook servers this process listens on (unix sockets msb-hooks-*). */
function hookServers(): number {
  const mine = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) mine.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return fs.readFileSync('/proc/net/unix', 'utf8').split('\n')
    .filter((l) => l.includes('/msb-hooks-') && mine.has(l.trim().split(/\s+/)[6])).length;
}

test('a boot given up on takes its hooks with it', LONG, async () => {
  const before = hookServers();
  const name = unique('hooks-abort');
  await assert.rejects(Sandbox.create(name, { onExec: () => ExecAction.ALLOW, signal: AbortSignal.timeout(50) }),
    (e: unknown) => (e as Error).name === 'TimeoutError');
  // (its listening socket, and once the supervisor is there, the
  // connection it accepted: both are named by the server's path)
  assert.ok(hookServers() > before, 'the hooks are served while the boot goes on');
  const end = Date.now() + 120000;
  while (hookServers() !== before) {
    assert.ok(Date.now() < end, 'the hook server of a boot given up on is still listening');
    await new Promise((r) => setTimeout(r, 100));
  }
  await assert.rejects(Sandbox.get(name));
});

// A guest decides how many answers' heads there are. With a hook stuck,
// a connection holds EVENT_QUEUE_MAX of its events and drops the newer
// ones (counted, warned of), and a call after them is answered while the
// hook is still stuck; once it lets go the held ones are told, in order.
// A stand-in supervisor on the hook server's socket: no guest.
test('a connection drops the events beyond its bound; calls go on', { timeout: 120_000 }, async () => {
  const { HookServer, Plugin: P, EVENT_QUEUE_MAX } = require(path.join(__dirname, '..', '..', 'lib', 'plugin.js'));
  const extra = 100;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => { release = r; });
  const told: string[] = [];
  const p = new P('bound')
    .on('http_response_head', async (c: { request: string }) => { await gate; told.push(c.request); })
    .on('dns', () => P.deny('on dns'));
  const warnings: string[] = [];
  const onWarning = (w: Error) => { if (w.name === 'MicrosandboxWarning') warnings.push(w.message); };
  process.on('warning', onWarning);
  const srv = await new HookServer(p).listen();
  try {
    const c = net.createConnection(srv.path);
    let buf = Buffer.alloc(0);
    const got: any[] = [];
    const waiting: ((m: any) => void)[] = [];
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const m = JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString('utf8'));
        buf = buf.subarray(4 + buf.readUInt32BE(0));
        const w = waiting.shift();
        if (w) w(m); else got.push(m);
      }
    });
    const next = () => (got.length ? Promise.resolve(got.shift()) : new Promise<any>((r) => waiting.push(r)));
    const send = (m: object) => {
      const b = Buffer.from(JSON.stringify(m));
      const h = Buffer.alloc(4);
      h.writeUInt32BE(b.length);
      c.write(Buffer.concat([h, b]));
    };
    send({ type: 'hello', protocol: 1, sandbox: 'bound' });
    assert.deepEqual((await next()).hooks, ['dns', 'http_response_head']);
    for (let i = 0; i < EVENT_QUEUE_MAX + extra; i++) {
      send({ type: 'event', hook: 'http_response_head', request: `GET /${i} HTTP/1.1`, host: 'h',
        status: 200, head: 'HTTP/1.1 200 OK\r\n\r\n', body_length: 0, tls: false });
    }
    send({ type: 'call', id: 7, hook: 'dns', deadline_ms: 1000, name: 'example.com', qtype: 1 });
    const r = await next();
    assert.deepEqual([r.id, r.verdict, r.reason], [7, 'deny', 'on dns']);
    // answered with the hook still stuck on the first head, every event
    // already read
    assert.deepEqual([told.length, srv.eventsDropped], [0, extra]);
    release();
    c.end();
    // the count is told once the connection's events have been
    while (!warnings.some((w) => w.includes('dropped, its'))) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(told, Array.from({ length: EVENT_QUEUE_MAX }, (_, i) => `GET /${i} HTTP/1.1`));
    assert.equal(srv.eventsDropped, extra);
    assert.deepEqual(warnings, [
      `plugin bound: ${EVENT_QUEUE_MAX} events of a connection not yet told to their hooks (slow or stuck): ` +
        'newer events are dropped until there is room',
      `plugin bound: ${extra} events of a connection dropped, its hooks too slow (at most ${EVENT_QUEUE_MAX} held)`,
    ]);
  } finally {
    release();
    process.off('warning', onWarning);
    srv.close();
  }
});
