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
import { Sandbox, loadImage, pullImage } from 'microsandbox';

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
