// SPDX-License-Identifier: Apache-2.0
// Files through the guest agent's file channel, metrics, and the shared
// vectors' file and error cases, on one shared sandbox.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AlreadyExistsError, ExecFailedError, FileError, InvalidArgumentError, MicrosandboxError,
  NotFoundError, PermissionDeniedError, Sandbox, type CopyProgress, type FileOptions,
} from 'microsandbox';
import { LONG, Progress, repoRoot, sharedSandbox, unique } from './helpers';
import { loadVectors, unb64 } from './vectors';

/** @n bytes of a pattern no block repeats, as a Readable. */
function pattern(n: number): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= n) {
        this.push(null);
        return;
      }
      const len = Math.min(256 * 1024, n - off);
      const b = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) {
        const x = off + i;
        b[i] = (x ^ (x >> 8) ^ (x >> 16)) & 0xff;
      }
      off += len;
      this.push(b);
    },
  });
}

test('whole files and one-shot calls', LONG, async () => {
  const sb = await sharedSandbox();
  const f = sb.fs;
  const dir = `/tmp/${unique('files')}`;
  await f.mkdir(`${dir}/a/b`, { parents: true });
  const data = Buffer.from('hello\0binary\xff\n', 'latin1');
  await f.write(`${dir}/a/b/f.bin`, data, { mode: 0o600 });
  assert.deepEqual(await f.read(`${dir}/a/b/f.bin`), data);
  // What the guest sees, through a command.
  assert.equal((await sb.shell(`stat -c '%a %s' ${dir}/a/b/f.bin`)).stdout, '600 14\n');
  const st = await f.stat(`${dir}/a/b/f.bin`);
  assert.deepEqual([st.size, st.mode, st.isFile(), st.isDirectory(), st.name], [14, 0o600, true, false, 'f.bin']);
  assert.ok(Math.abs(st.mtime.getTime() - Date.now()) < 10 * 60 * 1000);
  await f.write(`${dir}/a/b/f.bin`, 'more', { append: true });
  assert.equal((await f.read(`${dir}/a/b/f.bin`)).toString('latin1'), `${data.toString('latin1')}more`);
  await f.symlink('b/f.bin', `${dir}/a/link`);
  const ls = await f.lstat(`${dir}/a/link`);
  assert.ok(ls.isSymbolicLink());
  assert.equal(ls.linkTarget, 'b/f.bin');
  assert.deepEqual((await f.list(dir, { recursive: true })).map((e) => e.name), ['a', 'a/b', 'a/b/f.bin', 'a/link']);
  await f.rename(`${dir}/a/b/f.bin`, `${dir}/g.bin`);
  assert.equal(await f.exists(`${dir}/g.bin`), true);
  assert.equal(await f.exists(`${dir}/a/b/f.bin`), false);
  assert.equal(await f.readText(`${dir}/g.bin`), `${data.toString('utf8')}more`);

  // Errors carry the guest's errno, by class and by code.
  await assert.rejects(f.read(`${dir}/nope`), (e: unknown) => e instanceof NotFoundError && e.code === 'MSB_E_NOT_FOUND');
  await assert.rejects(f.mkdir(`${dir}/a`, { exclusive: true }), AlreadyExistsError);
  await assert.rejects(f.remove(`${dir}/a`), (e: unknown) => e instanceof FileError && e.code === 'ENOTEMPTY' && e.errno === -39);
  await assert.rejects(f.write('/root/x', 'x', { user: '1000' }), PermissionDeniedError);
  await assert.rejects(f.read('/tmp/a\0b'), (e: unknown) => e instanceof InvalidArgumentError && /NUL/.test(e.message));
  await assert.rejects(f.stat('x'.repeat(5000)), InvalidArgumentError);
  await assert.rejects(f.list('/tmp', { recursiv: true } as unknown as FileOptions), /unknown file option 'recursiv'/);
  await f.remove(dir, { recursive: true });
  assert.equal(await f.exists(dir), false);
});

// Streams both ways, in bounded memory, checked by the guest's sha256sum.
test('streams: 48 MiB each way', LONG, async () => {
  const sb = await sharedSandbox();
  const f = sb.fs;
  const size = 48 << 20;
  const h = createHash('sha256');
  const src = pattern(size);
  src.on('data', (c: Buffer) => h.update(c));
  assert.equal(await f.write('/tmp/stream.bin', src), size);
  const want = h.digest('hex');
  assert.ok((await sb.exec('sha256sum /tmp/stream.bin')).stdout.startsWith(want));

  const h2 = createHash('sha256');
  let n = 0;
  const r = f.createReadStream('/tmp/stream.bin');
  for await (const c of r) {
    h2.update(c);
    n += c.length;
  }
  assert.equal(n, size);
  assert.equal(r.bytesRead, size);
  assert.equal(h2.digest('hex'), want);

  // Piped, with a slow reader: the guest waits, memory stays bounded.
  let seen = 0;
  let maxHeld = 0;
  const rs = f.createReadStream('/tmp/stream.bin');
  await pipeline(rs, new Writable({
    highWaterMark: 64 * 1024,
    write(c: Buffer, _e, cb) {
      seen += c.length;
      maxHeld = Math.max(maxHeld, rs.readableLength);
      setImmediate(cb);
    },
  }));
  assert.equal(seen, size);
  assert.ok(maxHeld <= 2 << 20, `held ${maxHeld} bytes`);

  // A write stream, piped into.
  await pipeline(pattern(1 << 20), f.createWriteStream('/tmp/piped.bin', { mode: 0o640 }));
  const st = await f.stat('/tmp/piped.bin');
  assert.deepEqual([st.size, st.mode], [1 << 20, 0o640]);

  // A write into a missing directory fails (at once, not at the end).
  await assert.rejects(f.write('/nonexistent-dir/x', pattern(4 << 20)), NotFoundError);
  // A read stream destroyed early frees its connection; the file is intact.
  const early = f.createReadStream('/tmp/stream.bin');
  for await (const _c of early) break;
  assert.equal((await f.stat('/tmp/stream.bin')).size, size);
  await f.remove('/tmp/stream.bin');
  await f.remove('/tmp/piped.bin');
});

test('copyIn and copyOut', LONG, async () => {
  const sb = await sharedSandbox();
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-copy-'));
  fs.mkdirSync(path.join(src, 'tree', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'tree', 'sub', 'x.txt'), 'x\n', { mode: 0o640 });
  fs.chmodSync(path.join(src, 'tree', 'sub', 'x.txt'), 0o640);
  fs.symlinkSync('sub/x.txt', path.join(src, 'tree', 'ln'));
  const dst = `/tmp/${unique('copy')}`;
  await sb.fs.copyIn(path.join(src, 'tree'), dst);
  const r = await sb.shell(`cat ${dst}/sub/x.txt; stat -c %a ${dst}/sub/x.txt; readlink ${dst}/ln`);
  assert.equal(r.stdout, 'x\n640\nsub/x.txt\n');
  await sb.fs.copyOut(dst, path.join(src, 'back'));
  assert.equal(fs.readFileSync(path.join(src, 'back', 'sub', 'x.txt'), 'utf8'), 'x\n');
  assert.equal(fs.readlinkSync(path.join(src, 'back', 'ln')), 'sub/x.txt');
  await assert.rejects(sb.fs.copyIn(path.join(src, 'nope'), dst), NotFoundError);
  fs.rmSync(src, { recursive: true, force: true });
});

/** checkCopy() - a copy's reports (@evs): each file of @sizes (by guest
 * path) is reported, its bytes only growing, the last report all of them;
 * nothing else is. */
function checkCopy(what: string, evs: CopyProgress[], sizes: Record<string, number>): void {
  const show = () => `${what}: ${JSON.stringify(evs)}`;
  const last = new Map<string, CopyProgress>();
  for (const e of evs) {
    assert.ok(e.path in sizes, show());
    assert.equal(e.total, sizes[e.path], show());
    const prev = last.get(e.path);
    assert.ok(e.done > 0 && e.done <= e.total && (!prev || e.done >= prev.done), show());
    last.set(e.path, e);
  }
  assert.deepEqual([...last.keys()].sort(), Object.keys(sizes).sort(), show());
  for (const e of last.values()) assert.equal(e.done, e.total, show());
}

test('copyIn and copyOut report each file as its bytes move', LONG, async () => {
  const sb = await sharedSandbox();
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-copyp-'));
  try {
    const big = 3 * 1024 * 1024 + 17; // several of libmsb's messages
    const data = randomBytes(big);
    fs.mkdirSync(path.join(src, 'tree', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'tree', 'big.bin'), data);
    fs.writeFileSync(path.join(src, 'tree', 'sub', 'small.txt'), 'small\n');
    fs.writeFileSync(path.join(src, 'tree', 'empty'), '');
    fs.symlinkSync('big.bin', path.join(src, 'tree', 'ln'));
    const dst = `/tmp/${unique('copyp')}`;
    // a progress that is not a function: refused before anything is copied
    await assert.rejects(sb.fs.copyIn(path.join(src, 'tree'), dst, { progress: 'x' as any }), (e: Error) =>
      e instanceof InvalidArgumentError && /copyIn: progress is a function/.test(e.message));
    await assert.rejects(sb.fs.copyOut('/tmp', path.join(src, 'no'), { progress: 7 as any }), InvalidArgumentError);
    assert.equal(await sb.fs.exists(dst), false);
    assert.equal(fs.existsSync(path.join(src, 'no')), false);

    const into = new Progress<CopyProgress>();
    await sb.fs.copyIn(path.join(src, 'tree'), dst, { progress: into.fn });
    await into.settled();
    // the empty file and the symlink move no bytes
    checkCopy('copyIn', into.events, { [`${dst}/big.bin`]: big, [`${dst}/sub/small.txt`]: 6 });
    assert.ok(into.events.filter((e) => e.path.endsWith('big.bin')).length > 1, JSON.stringify(into.events));

    const back = new Progress<CopyProgress>();
    await sb.fs.copyOut(dst, path.join(src, 'back'), { progress: back.fn, user: 'root' });
    await back.settled();
    checkCopy('copyOut', back.events, { [`${dst}/big.bin`]: big, [`${dst}/sub/small.txt`]: 6 });
    assert.ok(fs.readFileSync(path.join(src, 'back', 'big.bin')).equals(data));
    await sb.fs.remove(dst, { recursive: true });
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
});

test('metrics', LONG, async () => {
  const sb = await sharedSandbox();
  await sb.exec('true');
  const m = await sb.metrics();
  assert.equal(m.name, sb.name);
  assert.equal(m.running, true);
  assert.equal(m.status, 'running');
  assert.equal(m.cpus, 1);
  assert.equal(m.memoryLimitBytes, 512 * 1024 * 1024);
  assert.ok(m.memoryRssBytes > 0 && m.uptimeMs > 0 && m.cpuTimeNs > 0, JSON.stringify(m));
  if (m.guest) assert.ok(m.processes > 0 && m.memoryTotalBytes > 0 && m.diskTotalBytes > 0, JSON.stringify(m));
  const all = await Sandbox.metricsAll(true);
  assert.ok(all.some((x) => x.name === sb.name));
});

describe('shared vectors: files and errors', LONG, () => {
  const v = loadVectors(repoRoot);
  const vf = v.files;
  test('files', LONG, async () => {
    const sb = await sharedSandbox();
    const f = sb.fs;
    await f.mkdir(vf.dir, { parents: true });
    for (const w of vf.write) {
      const data = w.content !== undefined ? Buffer.from(w.content) : unb64(w.content_b64 ?? '');
      const o: FileOptions = {};
      if (w.mode) o.mode = w.mode;
      if (w.parents) o.parents = true;
      await f.write(w.path, data, o);
      assert.deepEqual(await f.read(w.path), data, w.name);
      const st = await f.stat(w.path);
      assert.deepEqual([st.size, st.type, st.mode], [w.expect.size, w.expect.type, w.expect.mode], w.name);
    }
    assert.deepEqual((await f.list(vf.list.path)).map((e) => e.name), vf.list.names);
    assert.deepEqual((await f.list(vf.list.path, { recursive: true })).map((e) => e.name), vf.list.recursive_names);
    await f.mkdir(vf.mkdir.path, { parents: vf.mkdir.parents });
    const md = await f.stat(vf.mkdir.path);
    assert.deepEqual([md.type, md.mode], [vf.mkdir.expect.type, vf.mkdir.expect.mode]);
    await f.rename(vf.rename.from, vf.rename.to);
    assert.equal(await f.readText(vf.rename.to), vf.rename.content);
    assert.equal(await f.exists(vf.rename.from), false);
    await f.remove(vf.remove.path, { recursive: vf.remove.recursive });
    assert.equal(await f.exists(vf.remove.path), false);
  });

  for (const c of v.errors) {
    test(c.name, LONG, async () => {
      const sb = await sharedSandbox();
      const f = sb.fs;
      const fo: FileOptions = c.user ? { user: c.user } : {};
      let run: () => Promise<unknown>;
      switch (c.op) {
        case 'exec': run = () => sb.exec(c.argv ?? [], c.user ? { user: c.user } : {}); break;
        case 'read': run = () => f.read(c.path!, fo); break;
        case 'stat': run = () => f.stat(c.path!, fo); break;
        case 'exists': run = () => f.exists(c.path!, fo); break;
        case 'mkdir': run = () => f.mkdir(c.path!, { ...fo, exclusive: c.exclusive }); break;
        case 'write': run = () => f.write(c.path!, c.content ?? '', fo); break;
        case 'remove': run = () => f.remove(c.path!, fo); break;
        case 'open': run = () => Sandbox.get(c.sandbox!); break;
        default: throw new Error(`unknown op ${c.op}`);
      }
      if (c.result !== undefined) {
        assert.equal(await run(), c.result);
        return;
      }
      await assert.rejects(run(), (e: unknown) => {
        assert.ok(e instanceof MicrosandboxError, String(e));
        assert.equal(e.code, c.error);
        if (c.error === 'MSB_E_EXEC') assert.ok(e instanceof ExecFailedError);
        return true;
      });
    });
  }
});
