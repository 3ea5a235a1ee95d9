// SPDX-License-Identifier: Apache-2.0
// Commands: exec, shell, execStream, on one shared sandbox of the
// built-in image, and the shared vectors' exec cases.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CommandError, ClosedError, ExecFailedError, InvalidArgumentError, NotFoundError, Sandbox,
  SandboxStoppedError, splitCommand, type Event, type ExecOptions,
} from 'microsandbox';
import { LONG, repoRoot, sharedSandbox } from './helpers';
import { loadVectors, unb64 } from './vectors';

describe('exec', LONG, () => {
  test('captures stdout, stderr and the exit code; non-zero is data', LONG, async () => {
    const sb = await sharedSandbox();
    const r = await sb.exec('sh -c "echo out; echo err >&2; exit 3"');
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.exitCode, 3);
    assert.equal(r.success, false);
    assert.deepEqual(r.stdoutBytes, Buffer.from('out\n'));
    // ...unless check is asked for.
    await assert.rejects(sb.exec('false', { check: true }), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.result.exitCode, 1);
      assert.match(e.message, /exited with code 1/);
      return true;
    });
    assert.equal((await sb.exec('true', { check: true })).success, true);
    // A command that is not found exits 127, as in a shell.
    assert.equal((await sb.exec('no-such-command-here')).exitCode, 127);
  });

  test('a command line is split into words, never expanded; argv and shell', LONG, async () => {
    const sb = await sharedSandbox();
    let r = await sb.exec(`printf "[%s]" 'a b' c\\ d "$HOME" '*'`);
    assert.equal(r.stdout, '[a b][c d][$HOME][*]');
    r = await sb.exec(['printf', '[%s]', 'x y', '', '$z']);
    assert.equal(r.stdout, '[x y][][$z]');
    r = await sb.shell('echo $((6*7)) | tr 4 X; echo $0');
    assert.equal(r.stdout, 'X2\nsh\n');
  });

  test('env, cwd, user, stdin, callbacks and a terminal', LONG, async () => {
    const sb = await sharedSandbox();
    let r = await sb.shell('echo "$A $B"; pwd; id -u', { env: { A: '1', B: 'x=y' }, cwd: '/tmp', user: '1000' });
    assert.equal(r.stdout, '1 x=y\n/tmp\n1000\n');
    r = await sb.exec('cat', { stdin: 'fed in\n' });
    assert.equal(r.stdout, 'fed in\n');
    r = await sb.exec('cat', { stdin: (async function* () { yield 'a'; yield Buffer.from('b'); })() });
    assert.equal(r.stdout, 'ab');
    // Callbacks get the output as it comes, instead of the result.
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    r = await sb.shell('echo a; echo b >&2', { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) });
    assert.equal(Buffer.concat(out).toString(), 'a\n');
    assert.equal(Buffer.concat(err).toString(), 'b\n');
    assert.equal(r.stdout, '');
    // A terminal: one stream, and isatty in the guest.
    r = await sb.shell('test -t 1 && echo tty; stty size', { tty: { rows: 33, cols: 101 } });
    assert.match(r.stdout, /tty/);
    assert.match(r.stdout, /33 101/);
  });

  test('a timeout kills the guest process, as data', LONG, async () => {
    const sb = await sharedSandbox();
    const t0 = Date.now();
    const r = await sb.exec('sleep 30', { timeout: 500 });
    assert.ok(r.timedOut && r.exitCode === 137 && r.signal === 9, JSON.stringify(r));
    assert.ok(Date.now() - t0 < 20000);
    await assert.rejects(sb.exec('sleep 30', { timeout: 300, check: true }), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.code, 'MSB_E_TIMEOUT');
      assert.equal(e.result.timedOut, true);
      return true;
    });
  });

  test('an AbortSignal kills the guest process', LONG, async () => {
    const sb = await sharedSandbox();
    await assert.rejects(sb.exec('sleep 4242', { signal: AbortSignal.timeout(700) }),
      (e: unknown) => (e as Error).name === 'TimeoutError' && !(e instanceof CommandError));
    const end = Date.now() + 30000;
    for (;;) {
      const r = await sb.shell("ps -o args | grep '[s]leep 4242' || true");
      if (r.stdout.trim() === '') break;
      assert.ok(Date.now() < end, `sleep 4242 still runs: ${r.stdout}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    // A signal already aborted runs nothing.
    const ac = new AbortController();
    ac.abort(new Error('gave up'));
    await assert.rejects(sb.exec('touch /tmp/should-not-be', { signal: ac.signal }), /gave up/);
    assert.equal(await sb.fs.exists('/tmp/should-not-be'), false);
  });
});

describe('execStream', LONG, () => {
  test('stdin written while stdout is read, more than every buffer holds', LONG, async () => {
    const sb = await sharedSandbox();
    const p = await sb.execStream('cat', { stdin: true });
    const size = 16 << 20;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
    const want = createHash('sha256').update(data).digest('hex');
    const writing = (async () => {
      await p.write(data);
      await p.closeStdin();
    })();
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of p.stdout) {
      h.update(chunk);
      n += chunk.length;
    }
    await writing;
    const r = await p.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(n, size);
    assert.equal(h.digest('hex'), want);
  });

  test('output not read holds the guest back, in bounded memory', LONG, async () => {
    const sb = await sharedSandbox();
    const p = await sb.execStream('sh -c "yes 0123456789 | head -c 20000000; echo done >&2"');
    const out = p.stdout;
    const errText: Buffer[] = [];
    p.stderr.on('data', (c: Buffer) => errText.push(c));
    await new Promise((r) => setTimeout(r, 1500));
    // Not read for a while: what is held stays near the high-water mark.
    assert.ok(out.readableLength <= 2 << 20, `held ${out.readableLength} bytes`);
    let n = 0;
    for await (const c of out) n += c.length;
    assert.equal(n, 20000000);
    assert.equal((await p.wait()).exitCode, 0);
    assert.equal(Buffer.concat(errText).toString(), 'done\n');
  });

  test('both streams iterated in order; callbacks', LONG, async () => {
    const sb = await sharedSandbox();
    const p = await sb.execStream(['sh', '-c', 'echo 1; sleep 0.2; echo 2 >&2; sleep 0.2; echo 3']);
    assert.ok(p.pid > 0);
    const seen: string[] = [];
    for await (const c of p) seen.push(`${c.stream}:${c.text}`);
    assert.deepEqual(seen, ['stdout:1\n', 'stderr:2\n', 'stdout:3\n']);
    assert.equal((await p.wait()).exitCode, 0);
  });

  test('signals, resize and close', LONG, async () => {
    const sb = await sharedSandbox();
    let p = await sb.execStream(['sh', '-c', "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"]);
    // stdout only: the shell may report the killed sleep on stderr.
    const it = p[Symbol.asyncIterator]();
    const nextOut = async () => {
      for (;;) {
        const c = await it.next();
        if (c.done || c.value.stream === 'stdout') return c.done ? null : c.value.text;
      }
    };
    assert.equal(await nextOut(), 'ready\n');
    await p.kill('SIGTERM');
    assert.equal(await nextOut(), 'got TERM\n');
    assert.equal(await nextOut(), null);
    assert.equal((await p.wait()).exitCode, 7);
    // Calls on a command that has ended say so.
    await assert.rejects(p.kill(), SandboxStoppedError);

    // A terminal's new size reaches its foreground process.
    p = await sb.execStream(['sh', '-c', "trap 'stty size' WINCH; echo ready; while :; do sleep 0.1; done"],
      { tty: { rows: 24, cols: 80 }, stdin: true });
    let text = '';
    const chunks = p[Symbol.asyncIterator]();
    while (!text.includes('ready')) text += (await chunks.next()).value?.text ?? '';
    await p.resize(50, 132);
    while (!text.includes('50 132')) text += (await chunks.next()).value?.text ?? '';
    // close hangs up; calls then fail with ClosedError.
    await p.close();
    await assert.rejects(p.write('x'), ClosedError);
    await assert.rejects(p.wait(), ClosedError);
    // Stdin that was never opened is refused with a hint.
    p = await sb.execStream('true');
    await assert.rejects(p.write('x'), (e: unknown) => e instanceof InvalidArgumentError && /stdin: true/.test(e.message));
    await p.wait();
    // await using hangs up at the end of its scope.
    let gone: typeof p;
    {
      await using q = await sb.execStream('sleep 100');
      gone = q;
    }
    await assert.rejects(gone.wait(), ClosedError);
  });
});

test('process.paused: the words while the host disk is full, null again after', LONG, async (t) => {
  // The supervisor tells a running command when its sandbox pauses on a
  // full host disk and when it runs again (docs/api-protocol.md §11.4).
  if (process.getuid?.() !== 0) {
    t.skip('mounting a small tmpfs for $MSB_HOME needs root');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-tspause-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', dir]);
  const oldHome = process.env.MSB_HOME;
  process.env.MSB_HOME = path.join(dir, 'home');
  const fill = path.join(dir, 'fill');
  const name = `tspause-${process.pid}`;
  const until = async (what: string, ok: () => boolean) => {
    const end = Date.now() + 60_000;
    while (!ok()) {
      assert.ok(Date.now() < end, `never: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  let sb: Sandbox | null = null;
  try {
    sb = await Sandbox.create(name);
    const p = await sb.execStream(['sh', '-c', 'echo ready; read x; '
      + 'dd if=/dev/urandom of=/big bs=1M count=24 conv=fsync 2>/dev/null && echo wrote; read x'],
    { stdin: true });
    const paused = (): string | null => p.paused;
    const it = p[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.text, 'ready\n');
    assert.equal(paused(), null);
    const fd = fs.openSync(fill, 'w'); // the host disk, full
    try {
      const mib = Buffer.alloc(1 << 20);
      for (;;) fs.writeSync(fd, mib);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    try {
      await p.write('go\n'); // the guest writes: QEMU pauses it
      await until('paused', () => paused() !== null);
      assert.ok(paused()?.includes(`sandbox ${name} is paused: the host disk under `), paused() ?? '');
    } finally {
      fs.rmSync(fill, { force: true });
    }
    // (Said 2 s after the guest runs on: the command waits for it.)
    await until('resumed', () => paused() === null);
    await p.write('end\n');
    assert.equal((await it.next()).value?.text, 'wrote\n');
    const r = await p.wait();
    assert.equal(r.exitCode, 0);
  } finally {
    fs.rmSync(fill, { force: true });
    await sb?.remove().catch(() => {});
    process.env.MSB_HOME = oldHome;
    spawnSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('50 commands at once on one sandbox, each output intact', LONG, async () => {
  const sb = await sharedSandbox();
  const rs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    sb.shell(`i=0; while [ $i -lt 200 ]; do echo ${i}-$i; i=$((i+1)); done; exit ${i % 7}`)));
  rs.forEach((r, i) => {
    const want = Array.from({ length: 200 }, (_, j) => `${i}-${j}\n`).join('');
    assert.equal(r.stdout, want, `exec ${i}`);
    assert.equal(r.exitCode, i % 7);
  });
});

// Commands wait on the event loop, not in threads: with libuv's one pool
// thread held (an open of a FIFO nobody writes), 50 commands still run.
test('no thread per command: 50 execs with the thread pool blocked', LONG, async () => {
  const sb = await sharedSandbox();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-fifo-'));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const script = `
    const fs = require('node:fs');
    const { Sandbox } = require('microsandbox');
    (async () => {
      const sb = await Sandbox.get(${JSON.stringify(sb.name)});
      await sb.exec('true');
      const held = fs.promises.open(${JSON.stringify(fifo)}, 'r');
      const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => sb.exec(['echo', String(i)])));
      const ok = rs.every((r, i) => r.stdout === i + '\\n');
      fs.closeSync(fs.openSync(${JSON.stringify(fifo)}, 'w'));
      await (await held).close();
      console.log(JSON.stringify({ ok }));
    })().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
  `;
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    encoding: 'utf8',
    timeout: 120000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}${r.signal ?? ''}`);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { ok: true });
});

// ---- events (docs/events.md), on the same sandbox ----------------------------

describe('events', LONG, () => {
  test('both ways, in order: emit in, a guest program waits and emits back', LONG, async () => {
    const sb = await sharedSandbox();
    const stream = sb.events('ts.iter');
    const seq = await sb.emit('ts.go', { n: 5 });
    assert.ok(seq > 0);
    const r = await sb.shell('msb event wait ts.go; for i in 1 2 3; do msb event emit ts.iter "{\\"i\\":$i}"; done');
    assert.equal(r.stdout.trim(), '{"n":5}');
    const got: Event[] = [];
    for await (const ev of stream) {
      got.push(ev);
      if (got.length === 3) break; // leaving the loop closes the stream
    }
    assert.deepEqual(got.map((e) => [e.source, e.topic, e.data]),
      [1, 2, 3].map((i) => ['guest', 'ts.iter', { i }]));
    assert.ok(got[0].seq > seq && got[1].seq === got[0].seq + 1 && got[0].time instanceof Date);
    assert.equal((await stream.next()).done, true);
    // What the log keeps, from the start, without following: it ends.
    const all: Event[] = [];
    for await (const ev of sb.events(null, { since: 0, follow: false })) all.push(ev);
    const sent = all.find((e) => e.seq === seq);
    assert.deepEqual(sent && [sent.source, sent.topic, sent.data], ['host', 'ts.go', { n: 5 }]);
    assert.ok(all.some((e) => e.topic === 'msb.started' && e.source === 'msb'));
  });

  test('on(): the sandbox\'s own events for a command, each callback awaited in turn', LONG, async () => {
    const sb = await sharedSandbox();
    const seen: string[] = [];
    let busy = false;
    const sub = sb.on('msb.exec.*', async (ev) => {
      assert.equal(busy, false, 'two callbacks at once');
      busy = true;
      await new Promise((r) => setTimeout(r, 5));
      seen.push(`${ev.topic}:${ev.data.exit_code ?? ''}`);
      busy = false;
    });
    // The subscription is open once an event it sees comes: poll with
    // commands until the first one is seen.
    for (let i = 0; seen.length === 0; i++) {
      assert.ok(i < 200, 'on() saw no exec event');
      await sb.exec('true');
      await new Promise((r) => setTimeout(r, 20));
    }
    seen.length = 0;
    await sb.exec(['sh', '-c', 'exit 7']);
    for (let i = 0; !seen.includes('msb.exec.exited:7'); i++) {
      assert.ok(i < 500, `no exited event in ${seen}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(seen.slice(-2), ['msb.exec.started:', 'msb.exec.exited:7']);
    sub.close();
    await sub.done;
    // A callback that throws ends its subscription: done rejects with it.
    const boom = sb.on('ts.boom', () => { throw new Error('callback failed'); });
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 50; i++) {
      await sb.emit('ts.boom', i);
      const r = await Promise.race([boom.done.then(() => 'ended', (e) => e.message),
        new Promise((res) => setTimeout(() => res(null), 100))]);
      if (r !== null) {
        assert.equal(r, 'callback failed');
        break;
      }
      assert.ok(i < 49, 'the failing callback was never called');
    }
  });

  test('a burst from the guest, read later, all in order; the loop keeps turning', LONG, async () => {
    const sb = await sharedSandbox();
    const stream = sb.events('ts.burst');
    await sb.emit('ts.ready');
    const last = (await sb.events('ts.ready', { since: 0, follow: false }).next()).value;
    assert.equal(last?.topic, 'ts.ready'); // the stream's connection is up by now
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await sb.shell('i=0; while [ $i -lt 1500 ]; do msb event emit ts.burst $i; i=$((i+1)); done');
    let n = 0;
    for await (const ev of stream) {
      assert.equal(ev.data, n, `event ${n} out of order`);
      if (++n === 1500) break;
    }
    clearInterval(timer);
    assert.equal(stream.dropped, 0);
    assert.ok(ticks > 10, `the event loop turned only ${ticks} times`);
  });

  test('bad input and missing sandboxes', LONG, async () => {
    const sb = await sharedSandbox();
    await assert.rejects(sb.emit('msb.stopped'), InvalidArgumentError);
    await assert.rejects(sb.emit(''), InvalidArgumentError);
    await assert.rejects(sb.emit('ts.x', () => 1), InvalidArgumentError);
    assert.throws(() => sb.events(5 as unknown as string), InvalidArgumentError);
    assert.throws(() => sb.events('t', { since: -2 }), InvalidArgumentError);
    assert.throws(() => sb.on('t', 'nope' as unknown as () => void), InvalidArgumentError);
    // A handle on a name with no sandbox (Sandbox.get would refuse it).
    const none = Reflect.construct(Sandbox, [`nosuch-${process.pid}`, null, false]) as Sandbox;
    await assert.rejects(none.events().next(), NotFoundError);
    await assert.rejects(none.emit('ts.x'), NotFoundError);
  });
});

test('bad input is refused with a clear error', LONG, async () => {
  const sb = await sharedSandbox();
  await assert.rejects(sb.exec(''), InvalidArgumentError);
  await assert.rejects(sb.exec([]), InvalidArgumentError);
  await assert.rejects(sb.exec('echo "unterminated'), InvalidArgumentError);
  // A NUL byte would cut the argument short in C: refused instead.
  await assert.rejects(sb.exec(['echo', 'a\0b']), (e: unknown) => e instanceof InvalidArgumentError && /NUL/.test(e.message));
  await assert.rejects(sb.exec('id', { user: 'nosuchuser' }),
    (e: unknown) => e instanceof ExecFailedError && /nosuchuser/.test(e.message) && e.code === 'MSB_E_EXEC');
  await assert.rejects(sb.exec('true', { env: { '': 'x' } }), InvalidArgumentError);
  await assert.rejects(sb.exec('true', { timeOut: 5 } as unknown as ExecOptions), /unknown exec option 'timeOut'/);
  await assert.rejects(sb.execStream('true').then((p) => p.kill('SIGNOPE' as NodeJS.Signals)), InvalidArgumentError);
});

test('splitCommand: the command-line rule', () => {
  const cases: [string, string[]][] = [
    ['pip install numpy pandas torch', ['pip', 'install', 'numpy', 'pandas', 'torch']],
    ['  echo \t a\n b  ', ['echo', 'a', 'b']],
    [`python -c "print('hello')"`, ['python', '-c', "print('hello')"]],
    [`echo 'a "b" c'`, ['echo', 'a "b" c']],
    ['echo "a \\"b\\" \\\\ \\$x"', ['echo', 'a "b" \\ \\$x']],
    ["echo a\\ b \\'c", ['echo', 'a b', "'c"]],
    ['echo a"b c"d', ['echo', 'ab cd']],
    [`echo "" ''`, ['echo', '', '']],
    ['echo $HOME *.txt ~ a|b ; c > d', ['echo', '$HOME', '*.txt', '~', 'a|b', ';', 'c', '>', 'd']],
    ["echo 'it''s'", ['echo', 'its']],
    ['', []],
    ['   ', []],
    ["émoji ✓ 'ünï'", ['émoji', '✓', 'ünï']],
  ];
  for (const [line, want] of cases) assert.deepEqual(splitCommand(line), want, line);
  for (const bad of ['echo "abc', "echo 'abc", 'echo abc\\']) {
    assert.throws(() => splitCommand(bad), InvalidArgumentError, bad);
  }
});

describe('shared vectors: exec', LONG, () => {
  const v = loadVectors(repoRoot);
  for (const c of v.exec) {
    test(c.name, LONG, async () => {
      const sb = await sharedSandbox();
      if (c.command !== undefined) assert.deepEqual(splitCommand(c.command), c.argv);
      const o: ExecOptions = {};
      if (c.stdin !== undefined) o.stdin = c.stdin;
      if (c.stdin_b64 !== undefined) o.stdin = unb64(c.stdin_b64);
      if (c.env) o.env = c.env;
      if (c.cwd) o.cwd = c.cwd;
      if (c.user) o.user = c.user;
      if (c.timeout_ms) o.timeout = c.timeout_ms;
      const r = await sb.exec(c.command ?? c.argv, o);
      const e = c.expect;
      if (e.stdout !== undefined) assert.equal(r.stdout, e.stdout);
      if (e.stdout_b64 !== undefined) assert.deepEqual(r.stdoutBytes, unb64(e.stdout_b64));
      if (e.stdout_size !== undefined) assert.equal(r.stdoutBytes.length, e.stdout_size);
      if (e.stderr !== undefined) assert.equal(r.stderr, e.stderr);
      if (e.stderr_contains !== undefined) assert.ok(r.stderr.includes(e.stderr_contains), r.stderr);
      assert.deepEqual({ exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut },
        { exitCode: e.exit_code ?? 0, signal: e.signal ?? 0, timedOut: e.timed_out ?? false });
    });
  }
});
