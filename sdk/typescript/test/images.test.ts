// SPDX-License-Identifier: Apache-2.0
// Images without a registry and registry credentials: saveImage (msb
// save) to an OCI tar and a docker one, loaded back under other tags
// (loadImage); pruneImages (msb image prune) freeing what a sandbox kept
// after its image was removed; registryLogin/registryLogout (msb registry
// login/logout) against a docker-registry on loopback that demands a
// login (a wrong one refused at the login), through a plugin publish to
// it, and a login off loopback over https or, insecure, http. A pull and
// a load into empty stores report their progress (the pull's registry:
// the seeds').

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  FileError, InvalidArgumentError, NotFoundError, PermissionDeniedError, Plugins, Sandbox, home, inspectImage, listImages,
  loadImage, pruneImages, pullImage, registryLogin, registryLogout, removeImage, saveImage, type PullProgress,
} from 'microsandbox';
import {
  LONG, Progress, authRegistry, checkPull, otherHome, repoRoot, seedImages, seedLayouts, unique,
} from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-images-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const tarList = (tar: string) => execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).split('\n');

test('bad input is refused', LONG, async () => {
  await assert.rejects(saveImage('node:20', path.join(dir, 'x.tar'), { format: 'tar' as any }),
    (e: Error) => e instanceof InvalidArgumentError && /'oci' or 'docker'/.test(e.message));
  await assert.rejects(saveImage('no-such-image:1', path.join(dir, 'x.tar')), NotFoundError);
  assert.equal(fs.existsSync(path.join(dir, 'x.tar')), false);
  await assert.rejects(registryLogin('127.0.0.1:1', 'a:b', 'pw'), InvalidArgumentError);
  await assert.rejects(registryLogin('127.0.0.1:1/ns', 'a', 'pw'), InvalidArgumentError);
  await assert.rejects(registryLogin('127.0.0.1:1', 'a', 'pw', { insecur: true } as any), (e: Error) =>
    e instanceof InvalidArgumentError && /unknown registry login option 'insecur'/.test(e.message));
  await assert.rejects(registryLogout('127.0.0.1:1'), (e: Error) =>
    e instanceof NotFoundError && /not logged in to 127.0.0.1:1/.test(e.message));
});

test('a pull and a load report their progress, in order, all before they settle', LONG, async () => {
  const host = await seedImages();
  // a progress that is not a function: refused before anything starts
  // (that pull, from nowhere, would fail otherwise)
  await assert.rejects(pullImage('127.0.0.1:1/nothing:1', { progress: 'x' as any }), (e: Error) =>
    e instanceof InvalidArgumentError && /image pull: progress is a function/.test(e.message));
  await assert.rejects(loadImage(path.join(dir, 'nothing'), { progress: {} as any }), (e: Error) =>
    e instanceof InvalidArgumentError && /image load: progress is a function/.test(e.message));

  await otherHome(async () => {
    // into an empty store: resolved first, then every layer downloaded
    // to its last byte and converted
    const pulled = new Progress<PullProgress>();
    const info = await pullImage(`${host}/python:3.12`, { progress: pulled.fn });
    await pulled.settled();
    assert.equal(pulled.events[0].phase, 'resolving', JSON.stringify(pulled.events));
    assert.equal(pulled.events[0].digest, null);
    assert.ok(pulled.phases().has('downloading') && pulled.phases().has('converting'), JSON.stringify(pulled.events));
    assert.ok(info.fetched > 0 && info.layers > 0, JSON.stringify(info));
    checkPull('cold pull', pulled.events, info, { cold: true });

    // again, with callbacks that fail: each failure is a process warning,
    // and the pull goes on (everything is here: nothing is fetched)
    const warned: string[] = [];
    const onWarning = (w: Error) => { if (w.name === 'MicrosandboxWarning') warned.push(w.message); };
    process.on('warning', onWarning);
    try {
      let calls = 0;
      const again = await pullImage(`${host}/python:3.12`, {
        progress: (e) => { calls++; throw new Error(`no ${e.phase}`); },
      });
      assert.equal(again.fetched, 0);
      assert.equal(again.digest, info.digest);
      const late = await pullImage(`${host}/python:3.12`, { progress: async () => { throw new Error('later'); } });
      assert.equal(late.digest, info.digest);
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(calls > 0);
      assert.ok(warned.length > calls, warned.join('\n'));
      assert.match(warned[0], /^image pull: the progress callback failed: no resolving$/);
      assert.match(warned[warned.length - 1], /: later$/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  await otherHome(async () => {
    // a load into an empty store converts every layer; nothing to download
    const loaded = new Progress<PullProgress>();
    const info = await loadImage(seedLayouts['node:20'], { tag: 'tsprogress:1', progress: loaded.fn });
    await loaded.settled();
    assert.equal(info.reference, 'tsprogress:1');
    assert.ok(loaded.phases().has('converting'), JSON.stringify(loaded.events));
    checkPull('load', loaded.events, info, { cold: true, downloads: false });
  });
});

test('an image saved as an OCI tar loads back under another tag', LONG, async () => {
  await seedImages();
  const orig = (await listImages()).find((i) => i.reference === 'node:20');
  assert.ok(orig, 'node:20 is not here');
  // its record: the OCI config a sandbox's defaults come from, and its layers
  const rec = await inspectImage('node:20');
  assert.deepEqual([rec.reference, rec.digest, rec.layers.length], ['node:20', orig.digest, orig.layers]);
  assert.ok(rec.config.config.Env.includes('SEED_IMAGE=node:20'), JSON.stringify(rec.config));
  await assert.rejects(inspectImage('no-such-image:1'), NotFoundError);
  const tar = path.join(dir, 'node-oci.tar');
  await saveImage('node:20', tar);
  const names = tarList(tar);
  assert.ok(names.includes('oci-layout') && names.includes('index.json'), names.join(' '));
  assert.ok(!names.includes('manifest.json'), 'an OCI save has no docker manifest.json');
  const back = await loadImage(tar, { tag: 'saved:1' });
  assert.equal(back.reference, 'saved:1');
  assert.equal(back.id, orig.id);
  assert.equal(back.digest, orig.digest);
  assert.equal(back.layers, orig.layers);
});

test('the docker format has manifest.json, and loads too', LONG, async () => {
  const tar = path.join(dir, 'node-docker.tar');
  await saveImage('node:20', tar, { format: 'docker' });
  const names = tarList(tar);
  assert.ok(names.includes('manifest.json'), names.join(' '));
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', tar, 'manifest.json'], { encoding: 'utf8' }));
  assert.ok(manifest[0].RepoTags.some((t: string) => t.endsWith('node:20')), JSON.stringify(manifest));
  const back = await loadImage(tar, { tag: 'saved-docker:1' });
  assert.equal(back.id, (await listImages()).find((i) => i.reference === 'node:20')?.id);
});

test('a prune frees what a sandbox kept once its image was removed', LONG, async () => {
  // Only saved:1 is left to hold the layers; the tar is all it came from.
  for (const i of await listImages()) {
    if (!i.builtin && i.reference !== 'saved:1') await removeImage(i.reference);
  }
  const name = unique('saved');
  const sb = await Sandbox.create(name, { image: 'saved:1' });
  try {
    assert.equal((await sb.exec(['sh', '-c', 'echo $SEED_IMAGE'])).stdout, 'node:20\n');
    await removeImage('saved:1');
    assert.deepEqual((await listImages()).filter((i) => !i.builtin), []);
    await pruneImages(); // what the sandbox uses stays
    assert.equal((await sb.exec(['echo', 'alive'])).stdout, 'alive\n');
  } finally {
    await sb.remove();
  }
  const freed = await pruneImages();
  assert.ok(freed.freedBytes > 0 && freed.files > 0, JSON.stringify(freed));
  assert.deepEqual(await pruneImages(), { freedBytes: 0, files: 0 });
});

test('a registry that demands a login: refused without, served with, refused after logout', LONG, async () => {
  const host = await authRegistry('alice', 'pw-alice');
  const plugin = path.join(dir, 'plugin');
  fs.cpSync(path.join(repoRoot, 'tests', 'e2e', 'plugins', 'registry'), plugin, { recursive: true });
  const publish = () => Plugins.publish(plugin, { registry: `${host}/tsplugins` });
  // without credentials, "needs a login"; with wrong ones, "denied pushing"
  const refused = (e: Error) => e instanceof PermissionDeniedError &&
    e.message.includes(`msb registry login ${host}`);
  await assert.rejects(publish(), refused);
  // a wrong password is refused at the login, and nothing is kept: the
  // publish still needs a login
  const auth = path.join(home(), 'auth.json');
  const stored = () => (fs.existsSync(auth) ? JSON.parse(fs.readFileSync(auth, 'utf8')).auths ?? {} : {});
  const wrongLogin = (user: string) => (e: Error) => e instanceof PermissionDeniedError &&
    e.message.includes(`${host} refused the login of '${user}'`) && e.message.includes('nothing was stored');
  await assert.rejects(registryLogin(host, 'alice', 'wrong'), wrongLogin('alice'));
  assert.equal(stored()[host], undefined);
  await assert.rejects(publish(), refused);
  await registryLogin(host, 'alice', 'pw-alice');
  assert.equal(fs.statSync(auth).mode & 0o777, 0o600);
  assert.ok(stored()[host], 'no credentials kept for the host');
  // a wrong login later leaves the right one as it was
  const before = fs.readFileSync(auth, 'utf8');
  await assert.rejects(registryLogin(host, 'bob', 'pw-alice', { insecure: false }), wrongLogin('bob'));
  assert.equal(fs.readFileSync(auth, 'utf8'), before);
  assert.equal((await publish()).reference, `${host}/tsplugins/msb-guard:1.0.0`);
  await registryLogout(host);
  assert.equal(JSON.parse(fs.readFileSync(auth, 'utf8')).auths[host], undefined);
  await assert.rejects(publish(), refused);
  await assert.rejects(registryLogout(host), NotFoundError);
});

/** An address of this host that is not loopback (the one a packet to
 * TEST-NET-1 would leave from: a UDP connect sends nothing), or null. */
function offLoopbackAddress(): Promise<string | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.on('error', () => resolve(null));
    s.connect(9, '192.0.2.1', (err?: Error) => {
      let addr: string | null = null;
      if (!err) {
        try { addr = s.address().address; } catch { /* not bound */ }
      }
      s.close();
      resolve(addr && !addr.startsWith('127.') && addr !== '0.0.0.0' ? addr : null);
    });
  });
}

/** A port on @addr that nothing listens on (bound, read, closed). */
function closedPort(addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, addr, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

test('insecure reaches the library: a login off loopback is https, or with it http', LONG, async (t) => {
  const addr = await offLoopbackAddress();
  if (!addr) {
    t.skip('this host has no address but loopback');
    return;
  }
  const host = `${addr}:${await closedPort(addr)}`;
  const auth = path.join(home(), 'auth.json');
  const unreachable = (scheme: string) => (e: Error) => {
    assert.ok(e instanceof FileError && e.code === 'EHOSTUNREACH', `${e.name}: ${e.message}`);
    assert.ok(e.message.includes(`cannot reach registry ${host} (${scheme})`), e.message);
    assert.ok(e.message.includes('nothing was stored'), e.message);
    assert.equal(e.message.includes('--insecure'), scheme === 'https', e.message);
    return true;
  };
  await assert.rejects(registryLogin(host, 'alice', 'pw'), unreachable('https'));
  await assert.rejects(registryLogin(host, 'alice', 'pw', { insecure: true }), unreachable('http'));
  assert.ok(!fs.existsSync(auth) || !fs.readFileSync(auth, 'utf8').includes(host), 'the host was stored');
});
