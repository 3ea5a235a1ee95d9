// SPDX-License-Identifier: Apache-2.0
// What the SDK's tests share. They boot real sandboxes (QEMU, under KVM
// or TCG) through the libmsb the addon was built against, in a private
// $MSB_HOME made here, before anything touches libmsb. Booting costs
// seconds under TCG: each test file shares one sandbox among its tests.

import { after } from 'node:test';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import {
  Sandbox, loadImage, pullImage, type ImageInfo, type PullProgress, type SyncInfo, type SyncProgress,
} from 'microsandbox';

/** The repository's top directory (this package is sdk/typescript; the
 * tests run from build/test). */
export const repoRoot = process.env.MSB_REPO ?? path.resolve(__dirname, '..', '..', '..', '..');

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-test-'));
fs.chmodSync(home, 0o755);
process.env.MSB_HOME = home;
// libmsb makes $MSB_HOME again when it is used after the cleanup below
// (a handle closed late): remove it once more as the process ends.
process.on('exit', () => fs.rmSync(home, { recursive: true, force: true }));

/** Generous: TCG is slow, and the machine may be loaded. */
export const LONG = { timeout: 5 * 60 * 1000 };

let shared: Promise<Sandbox> | null = null;

/** One sandbox of the built-in image for the tests of a file. */
export function sharedSandbox(): Promise<Sandbox> {
  if (!shared) shared = Sandbox.create(`ts-shared-${process.pid}`);
  return shared;
}

/** A sandbox name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
}

// ---- the seeds' images, from a local registry --------------------------------

let registry: ChildProcess | null = null;
let registryDir = '';
let seeded: Promise<string> | null = null;
/** The seed images' OCI layouts, by the seeds' names, once seedImages() is done. */
export const seedLayouts: Record<string, string> = {};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function listening(host: string, port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, host, () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`docker-registry does not listen on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The path of @name on $PATH, or null. */
export function which(name: string): string | null {
  for (const d of (process.env.PATH ?? '').split(':')) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* not here */ }
  }
  return null;
}

let started: Promise<string> | null = null;

/**
 * startRegistry() - Debian's docker-registry on loopback, in a directory
 * of its own, for the file's tests (stopped after them). Resolves with
 * its host:port; rejects when docker-registry is not installed.
 */
export function startRegistry(): Promise<string> {
  if (!started) {
    started = (async () => {
      const bin = which('docker-registry');
      if (!bin) throw new Error('docker-registry is not installed (./setup --test installs it)');
      registryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-registry-'));
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const cfg = path.join(registryDir, 'config.yml');
      fs.writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n` +
        `    rootdirectory: ${registryDir}/data\nhttp:\n  addr: ${host}\n`);
      registry = spawn(bin, ['serve', cfg], { stdio: 'ignore' });
      await listening('127.0.0.1', port, 20000);
      return host;
    })();
  }
  return started;
}

const authRegistries: { proc: ChildProcess; dir: string }[] = [];

/**
 * authRegistry() - another docker-registry on loopback that demands a
 * login (htpasswd, as tests/e2e/test_sync.py's): @user with @password.
 * Resolves with its host:port; stopped after the file's tests.
 */
export async function authRegistry(user: string, password: string): Promise<string> {
  const bin = which('docker-registry');
  if (!bin) throw new Error('docker-registry is not installed (./setup --test installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-authreg-'));
  execFileSync('htpasswd', ['-Bbc', path.join(dir, 'htpasswd'), user, password], { stdio: 'ignore' });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n` +
    `    rootdirectory: ${dir}/data\nauth:\n  htpasswd:\n    realm: msb-test\n` +
    `    path: ${dir}/htpasswd\nhttp:\n  addr: ${host}\n`);
  authRegistries.push({ proc: spawn(bin, ['serve', cfg], { stdio: 'ignore' }), dir });
  await listening('127.0.0.1', port, 20000);
  return host;
}

/**
 * seedImages() - python:3.12 and node:20 (small busybox stand-ins,
 * tests/images/seed.py) as the seeds name them: pushed to Debian's
 * docker-registry on loopback (startRegistry), pulled from it by its
 * address, and stored under the seeds' short names with loadImage.
 * Resolves with the registry's host:port.
 */
export function seedImages(): Promise<string> {
  if (!seeded) {
    seeded = (async () => {
      const host = await startRegistry();
      const out = execFileSync('python3', [path.join(repoRoot, 'tests', 'images', 'seed.py'),
        `http://${host}`, path.join(registryDir, 'layouts')], { encoding: 'utf8' });
      const layouts: Record<string, string> = JSON.parse(out);
      Object.assign(seedLayouts, layouts);
      for (const [ref, dir] of Object.entries(layouts)) {
        await pullImage(`${host}/${ref}`); // the pull path, by the registry's address...
        await loadImage(dir, { tag: ref }); // ...and the seed's own name for it
      }
      return host;
    })();
  }
  return seeded;
}

// ---- progress reports ----------------------------------------------------------

/**
 * Progress - a `progress` callback that keeps each report, and says so if
 * one comes once the call settled: call settled() right after the await.
 */
export class Progress<E> {
  readonly events: E[] = [];
  private over = false;
  private late = 0;
  private busy: NodeJS.Timeout;
  readonly fn = (e: E): void => {
    if (this.over) this.late++;
    this.events.push(e);
  };

  /** The event loop is kept busy in 10 ms slices until the call settles,
   * as in a loaded program: libmsb's last reports and the end of its call
   * then reach the loop together, and the call must still settle after
   * the reports. */
  constructor() {
    this.busy = setInterval(() => {
      const end = Date.now() + 100;
      while (Date.now() < end) { /* busy */ }
    }, 1);
  }

  /** The call has settled: no report may follow (checked after the
   * event loop has had time to deliver any that would). */
  async settled(): Promise<void> {
    this.over = true;
    clearInterval(this.busy);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(this.late, 0, 'progress reported after the call settled');
  }

  phases(): Set<string> {
    return new Set(this.events.map((e) => (e as { phase: string }).phase));
  }
}

/**
 * checkPull() - an image pull's or load's reports (@evs) for @info: each
 * names a layer of its count; each blob's "downloading" bytes only grow,
 * and its last report has all of them; with @cold (nothing was here),
 * every layer is downloaded (a pull) and converted.
 */
export function checkPull(what: string, evs: PullProgress[], info: ImageInfo,
  { cold = false, downloads = true } = {}): void {
  const show = () => `${what}: ${JSON.stringify(evs)}`;
  assert.ok(evs.length > 0, show());
  const last = new Map<string, PullProgress>();
  const converted = new Set<number>();
  for (const e of evs) {
    assert.ok(['resolving', 'downloading', 'converting', 'repaired'].includes(e.phase), show());
    if (e.phase === 'resolving') continue;
    assert.equal(e.count, info.layers, show());
    assert.ok(e.index < e.count, show());
    assert.match(e.digest ?? '', /^sha256:[0-9a-f]{64}$/, show());
    if (e.phase === 'downloading') {
      const prev = last.get(e.digest!);
      assert.ok(!prev || e.done >= prev.done, `${what}: went back: ${JSON.stringify(e)} after ${JSON.stringify(prev)}`);
      assert.ok(e.done <= e.total, show());
      last.set(e.digest!, e);
    } else if (e.phase === 'converting') {
      converted.add(e.index);
    }
  }
  for (const e of last.values()) assert.ok(e.total > 0 && e.done === e.total, `${what}: last download ${JSON.stringify(e)}`);
  if (cold) {
    if (downloads) assert.equal(last.size, info.layers, show());
    assert.equal(converted.size, info.layers, show());
  }
}

/**
 * checkSync() - a push's or pull's reports (@evs) for @info (Go's
 * sync_test check): "resolving" first, then @phases in order, each at
 * least once and nothing else, none past its total; in the last phase,
 * the transfer, the bytes and chunks only grow (a push's "reading" goes
 * through each of a snapshot's files in turn, from 0), from before its
 * last chunk to the last chunk and byte of @info's disk.
 */
export function checkSync(what: string, evs: SyncProgress[], info: SyncInfo, ...phases: string[]): void {
  const show = () => `${what}: ${JSON.stringify(evs)}`;
  assert.ok(evs.length >= 2 && evs[0].phase === 'resolving', show());
  let at = -1;
  let first = evs[0];
  let prev = evs[0];
  for (const e of evs.slice(1)) {
    assert.equal(e.image, null, show());
    assert.ok(e.done <= e.total && e.chunksDone <= e.chunksTotal, show());
    if (at < phases.length - 1 && e.phase === phases[at + 1]) {
      at++;
      first = e;
    } else {
      assert.ok(at >= 0 && e.phase === phases[at], `${what}: ${e.phase} out of order (want ${phases}): ${show()}`);
      assert.ok(at < phases.length - 1 || (e.done >= prev.done && e.chunksDone >= prev.chunksDone),
        `${what}: went back: ${JSON.stringify(e)} after ${JSON.stringify(prev)}`);
    }
    prev = e;
  }
  const end = evs[evs.length - 1];
  assert.equal(at, phases.length - 1, show());
  assert.ok(first.chunksDone < first.chunksTotal, show());
  assert.equal(end.chunksTotal, info.chunks, show());
  assert.equal(end.chunksDone, end.chunksTotal, show());
  assert.equal(end.total, info.diskBytes, show());
  assert.equal(end.done, end.total, show());
}

/**
 * otherHome() - run @fn with $MSB_HOME an empty directory of its own (an
 * empty image store: "another machine"), then put it back and remove it.
 */
export async function otherHome<T>(fn: () => Promise<T>): Promise<T> {
  const prev = process.env.MSB_HOME;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-other-home-'));
  fs.chmodSync(dir, 0o755);
  process.env.MSB_HOME = dir;
  try {
    return await fn();
  } finally {
    process.env.MSB_HOME = prev;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

after(async () => {
  if (shared) {
    try { await (await shared).close(); } catch { /* a failed boot */ }
  }
  // Whatever a failed test left behind.
  try {
    for (const s of await Sandbox.list()) {
      await (await Sandbox.get(s.name)).remove().catch(() => {});
    }
  } catch { /* libmsb not loadable: nothing was made */ }
  if (registry) registry.kill();
  for (const r of authRegistries) {
    r.proc.kill();
    fs.rmSync(r.dir, { recursive: true, force: true });
  }
  if (registryDir) fs.rmSync(registryDir, { recursive: true, force: true });
  fs.rmSync(home, { recursive: true, force: true });
});
