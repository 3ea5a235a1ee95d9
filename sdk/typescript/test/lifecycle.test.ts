// SPDX-License-Identifier: Apache-2.0
// Sandboxes through their life, bad input, missing things, and the
// package's two faces (CommonJS and ES modules) against index.d.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as msb from 'microsandbox';
import {
  AlreadyExistsError, AuditLog, ClosedError, HostDir, ImageNotFoundError, ImagePullFailedError, InvalidArgumentError,
  MemFs, MicrosandboxError, NotFoundError, NotRunningError, NotSupportedError, Sandbox, Snapshot,
  NamedVolume, SandboxStoppedError, createVolume, getRemote, getVolume, inspectVolume, listVolumes, pullImage,
  removeVolume, setRemote, type SandboxOptions, type VolumeCache,
} from 'microsandbox';
import { LONG, seedImages, unique } from './helpers';

async function gone(name: string, within = 120000): Promise<void> {
  const end = Date.now() + within;
  for (;;) {
    try {
      await Sandbox.get(name);
    } catch (e) {
      if (e instanceof NotFoundError) return;
      throw e;
    }
    assert.ok(Date.now() < end, `sandbox ${name} is still there`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pids of the supervisor processes (msb-supervisor NAME) of @name. */
function supervisors(name: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('/msb-supervisor') && argv[1] === name) out.push(Number(p));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Resolves once a supervisor of @name runs (polled every few ms, to
 * catch it while it sets up). */
async function supervised(name: string, within = 120000): Promise<void> {
  const end = Date.now() + within;
  while (supervisors(name).length === 0) {
    assert.ok(Date.now() < end, `no supervisor of ${name} started`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// Refused before anything boots, with a class and a message that says
// what is wrong.
test('bad input is refused before anything boots', LONG, async () => {
  const cases: [string, SandboxOptions, new (...a: any[]) => Error, string][] = [
    ['-bad', {}, InvalidArgumentError, '-bad'],
    ['n'.repeat(64), {}, InvalidArgumentError, '63'],
    ['nul\0name', {}, InvalidArgumentError, 'NUL'],
    ['ok-name', { memory: 'lots' }, InvalidArgumentError, 'lots'],
    ['ok-name', { volumes: { '/proc': new MemFs() } }, InvalidArgumentError, '/proc'],
    ['ok-name', { volumes: { '/data': '/nonexistent-host-dir' } }, NotFoundError, '/nonexistent-host-dir'],
    ['ok-name', { volumes: { '/data': new HostDir('.', { cache: 'sometimes' as VolumeCache }) } },
      InvalidArgumentError, 'sometimes'],
    ['ok-name', { volumes: { '/data': new HostDir('.', { cacheTimeout: 86401 }) } }, InvalidArgumentError, 'cacheTimeout'],
    ['ok-name', { volumes: { '/data': new HostDir('.', { cacheTimeout: '1s' as unknown as number }) } },
      InvalidArgumentError, 'cacheTimeout'],
    ['ok-name', { network: { blockCidr: ['10.0.0.0/33'] } }, InvalidArgumentError, '10.0.0.0/33'],
    ['ok-name', { network: { allow: [''] } }, InvalidArgumentError, ''],
    ['ok-name', { secrets: { KEY: ['v', []] } }, InvalidArgumentError, 'KEY'],
    ['ok-name', { tlsUpstreamCaFile: ['/nonexistent.pem'] }, NotFoundError, '/nonexistent.pem'],
    ['ok-name', { imag: 'x' } as unknown as SandboxOptions, InvalidArgumentError, "unknown sandbox option 'imag'"],
    ['ok-name', { network: { block_cidr: [] } } as unknown as SandboxOptions, InvalidArgumentError, 'block_cidr'],
    // Plugins and hooks of the wrong shape.
    ['ok-name', { network: { onDns: 'allow' } } as unknown as SandboxOptions, InvalidArgumentError, 'network.onDns'],
    ['ok-name', { onExec: 1 } as unknown as SandboxOptions, InvalidArgumentError, 'onExec'],
    ['ok-name', { plugins: [{}] } as unknown as SandboxOptions, InvalidArgumentError, 'AuditLog'],
    ['ok-name', { plugins: [new AuditLog('')] }, InvalidArgumentError, 'audit-log'],
    ['ok-name', { pluginProcesses: 'node x.js' } as unknown as SandboxOptions, InvalidArgumentError, 'pluginProcesses'],
    ['ok-name', { pluginTimeout: 0 }, InvalidArgumentError, 'pluginTimeout'],
  ];
  for (const [name, opts, cls, message] of cases) {
    await assert.rejects(Sandbox.create(name, opts), (e: unknown) => {
      assert.ok(e instanceof cls, `${name} ${JSON.stringify(opts)}: ${e}`);
      assert.ok(e instanceof MicrosandboxError && e.code !== '' && e.message.includes(message),
        `${name}: ${(e as Error).message} does not name ${message}`);
      return true;
    });
  }
  assert.deepEqual((await Sandbox.list()).map((s) => s.name), [], 'a refused create left a record');
});

test('missing things', LONG, async () => {
  await assert.rejects(Sandbox.get('no-such-sandbox'),
    (e: unknown) => e instanceof NotFoundError && e.code === 'MSB_E_NOT_FOUND' && /no-such-sandbox/.test(e.message));
  await assert.rejects(Snapshot.get('no-such-snapshot'), NotFoundError);
  // An image on a registry that is not there: a pull error, no sandbox left.
  await assert.rejects(Sandbox.create('img-missing', { image: '127.0.0.1:1/nosuch:1' }),
    (e: unknown) => e instanceof ImagePullFailedError && e.code.startsWith('MSB_E_'));
  await assert.rejects(Sandbox.get('img-missing'), NotFoundError);
  // The remote: none, then one kept, then forgotten.
  delete process.env.MSB_REMOTE;
  await assert.rejects(getRemote(), (e: unknown) => e instanceof NotFoundError && /remote/.test(e.message));
  await setRemote('127.0.0.1:5999/team');
  assert.deepEqual(await getRemote(), { remote: '127.0.0.1:5999/team', insecure: false });
  await setRemote(null);
  await assert.rejects(getRemote(), NotFoundError);
  await assert.rejects(Sandbox.currentRuntime(),
    (e: unknown) => e instanceof NotSupportedError && /not inside a microsandbox sandbox/.test(e.message));
});

test('an image the registry does not have', LONG, async () => {
  const host = await seedImages();
  await assert.rejects(pullImage(`${host}/nosuch:1`),
    (e: unknown) => e instanceof ImageNotFoundError && e instanceof ImagePullFailedError && e.code === 'MSB_E_IMAGE_NOT_FOUND');
  await assert.rejects(Sandbox.create('no-image', { image: `${host}/python:nope` }), ImageNotFoundError);
});

// One sandbox through its life: get by name, list, stop, a dead
// sandbox's errors, start, kill, close's rules; its volumes' cache modes
// in its record.
test('lifecycle', LONG, async () => {
  const name = unique('life');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-cache-'));
  const sb = await Sandbox.create(name, {
    env: { LIFE: '1' }, cpus: 2, memory: '256M',
    volumes: {
      '/always': new HostDir(dir, { cache: 'always', cacheTimeout: 2.5 }),
      '/never': new HostDir(dir, { cache: 'never' }),
      '/plain': dir,
    },
  });
  try {
    const vols = (await sb.inspect()).config.volumes as { guest: string; cache?: string; cache_timeout_ms?: number }[];
    assert.deepEqual(vols.map((v) => [v.guest, v.cache, v.cache_timeout_ms]),
      [['/always', 'always', 2500], ['/never', 'never', undefined], ['/plain', undefined, undefined]]);
    fs.writeFileSync(path.join(dir, 'f'), 'from the host\n');
    assert.equal((await sb.exec('cat /always/f')).stdout, 'from the host\n');
    assert.equal(sb.name, name);
    assert.ok(sb.bootMs > 0);
    await assert.rejects(Sandbox.create(name), AlreadyExistsError);
    const info = await sb.info();
    assert.deepEqual([info.status, info.running, info.cpus, info.memoryMib, info.image],
      ['running', true, 2, 256, 'default']);
    assert.ok(info.pid > 0 && info.createdAt instanceof Date);
    assert.ok((await Sandbox.list()).some((s) => s.name === name));

    // Another handle by name: its close leaves the sandbox running.
    const other = await Sandbox.get(name);
    assert.equal((await other.exec(`sh -c 'echo $LIFE'`)).stdout, '1\n');
    await other.close();
    await assert.rejects(other.exec('true'), ClosedError);
    assert.equal((await sb.info()).status, 'running');
    assert.ok(fs.existsSync(await sb.logPath()));
    assert.equal((await sb.inspect()).name ?? (await sb.inspect()).config?.name, name);

    // Stopped: commands and files say it is not running, and how to start it.
    await sb.stop({ timeout: 3000 });
    await sb.stop();
    assert.equal((await sb.info()).status, 'stopped');
    await assert.rejects(sb.exec('true'), NotRunningError);
    const dead = await Sandbox.get(name);
    await assert.rejects(dead.exec('true'), (e: unknown) => e instanceof NotRunningError && /start/.test(e.message));
    await assert.rejects(dead.fs.read('/etc/hostname'), NotRunningError);

    // Started again, with its disk as it was.
    await sb.start();
    await sb.start();
    assert.equal((await sb.exec('true')).exitCode, 0);
    // A command cut by a kill fails, and so does its stream that is read;
    // the one nobody reads just ends (no 'error' event without a listener).
    const p = await sb.execStream('sleep 100');
    const reading = (async () => { for await (const _c of p.stdout) { /* none */ } })();
    reading.catch(() => {}); // checked below
    await sb.kill();
    await assert.rejects(p.wait(), SandboxStoppedError);
    await assert.rejects(reading, SandboxStoppedError);
    assert.equal((await sb.info()).status, 'stopped');
  } finally {
    await sb.close(); // made here: removed
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(Sandbox.get(name), NotFoundError);
  await sb.close();
  await assert.rejects(sb.start(), ClosedError);
});

test('keep, remove, await using, and a boot given up on', LONG, async () => {
  const name = unique('keep');
  const sb = await Sandbox.create(name, { keep: true });
  await sb.close();
  const again = await Sandbox.get(name);
  assert.equal((await again.info()).status, 'running');
  await again.remove();
  await assert.rejects(Sandbox.get(name), NotFoundError);

  // await using removes what it made at the end of its scope; a named
  // volume it mounted stays, with what was written into it.
  const scoped = unique('scoped');
  const vol = await createVolume(unique('vol'), { size: '64M' });
  assert.deepEqual([vol.sizeMib, vol.users], [64, 0]);
  await assert.rejects(createVolume(vol.name), AlreadyExistsError);
  {
    await using s = await Sandbox.create(scoped, { volumes: { '/data': new NamedVolume(vol.name) } });
    assert.equal((await s.shell('echo in scope | tee /data/kept')).stdout, 'in scope\n');
    assert.equal((await getVolume(vol.name)).running, 1);
    const rec = await inspectVolume(vol.name);
    assert.deepEqual([rec.name, rec.size_mib, rec.used_by, rec.running], [vol.name, 64, [scoped], 1]);
  }
  await assert.rejects(Sandbox.get(scoped), NotFoundError);
  assert.equal(fs.readFileSync(path.join(vol.path, 'kept'), 'utf8'), 'in scope\n');
  assert.ok((await listVolumes()).some((v) => v.name === vol.name && v.users === 0));
  await removeVolume(vol.name);
  await assert.rejects(getVolume(vol.name), NotFoundError);
  await assert.rejects(inspectVolume(vol.name), NotFoundError);

  // A boot given up on: the call rejects at once, and the sandbox is
  // removed once its boot is over.
  await assert.rejects(Sandbox.create(name, { signal: AbortSignal.timeout(50) }),
    (e: unknown) => (e as Error).name === 'TimeoutError');
  await supervised(name);
  await gone(name);
  assert.deepEqual(supervisors(name), [], `a supervisor of ${name} is still running`);
  // The same, removed meanwhile by a cleanup (as a test's after() does)
  // while its record still says "created" and its supervisor is setting
  // up: the remove waits until there is a process to stop, stops it, and
  // nothing of it is left running.
  await assert.rejects(Sandbox.create(name, { signal: AbortSignal.timeout(50) }),
    (e: unknown) => (e as Error).name === 'TimeoutError');
  await supervised(name);
  await (await Sandbox.get(name)).remove();
  await gone(name);
  assert.deepEqual(supervisors(name), [], `a supervisor of ${name} is still running`);
});

test('CommonJS and ES modules export the same, and index.d.ts declares it', async () => {
  const cjs = require('microsandbox');
  const esm = await import('microsandbox');
  const names = Object.keys(cjs).sort();
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), names);
  assert.equal(esm.Sandbox, cjs.Sandbox);
  assert.equal(msb.Sandbox, cjs.Sandbox);
  const dts = fs.readFileSync(path.join(__dirname, '..', '..', 'index.d.ts'), 'utf8');
  const declared = new Set([...dts.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual(names.filter((n) => !declared.has(n)), [], 'exported but not in index.d.ts');
  assert.deepEqual([...declared].filter((n) => !names.includes(n)), [], 'in index.d.ts but not exported');
});
