// SPDX-License-Identifier: Apache-2.0
// Snapshots to a registry and back (msb push SNAP, msb pull REF;
// docs/sync.md) and renamed (msb snapshot rename), against Debian's
// docker-registry on loopback: a full snapshot of the file's shared
// sandbox with a file written before it is pushed, removed here, pulled
// back, and restored, and the file is there. Their progress is reported;
// so is a sandbox pull's where its image is missing (phase "image").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlreadyExistsError, BusyError, InvalidArgumentError, NotFoundError, Sandbox, Snapshot, WrongKindError,
  listImages, type PullProgress, type SyncInfo, type SyncProgress,
} from 'microsandbox';
import {
  LONG, Progress, checkPull, checkSync, otherHome, seedImages, sharedSandbox, startRegistry, unique,
} from './helpers';

const snapName = unique('tssnap');
const mark = `written before the snapshot ${snapName}`;
let ref = '';
let digest = '';

test('bad options are refused before anything is asked', LONG, async () => {
  const snap = new (Snapshot as any)('no-such-snapshot') as Snapshot;
  await assert.rejects(snap.push({ name: 'x' } as any), (e: Error) =>
    e instanceof InvalidArgumentError && /unknown snapshot push option 'name'/.test(e.message));
  await assert.rejects(Snapshot.pull('127.0.0.1:1/a/b', { trust: true } as any), (e: Error) =>
    e instanceof InvalidArgumentError && /unknown snapshot pull option 'trust'/.test(e.message));
  await assert.rejects(snap.rename(7 as any), InvalidArgumentError);
  // a progress that is not a function, before anything is asked (there
  // is no such snapshot, and nothing listens at 127.0.0.1:1)
  const notFn = (what: string) => (e: Error) =>
    e instanceof InvalidArgumentError && new RegExp(`${what}: progress is a function`).test(e.message);
  await assert.rejects(snap.push('127.0.0.1:1/a/b:v1', { progress: 1 as any }), notFn('snapshot push'));
  await assert.rejects(Snapshot.pull('127.0.0.1:1/a/b', { progress: 'x' as any }), notFn('snapshot pull'));
  const sb = await sharedSandbox();
  await assert.rejects(sb.push('127.0.0.1:1/a/b:v1', { progress: {} as any }), notFn('push'));
  await assert.rejects(Sandbox.pull('127.0.0.1:1/a/b', { progress: [] as any }), notFn('sandbox pull'));
  await assert.rejects(sb.stop({ progress: true as any }), notFn('stop'));
  assert.equal((await sb.info()).status, 'running');
  // libmsb's own answers: no such snapshot, a name it does not take
  await assert.rejects(snap.push('127.0.0.1:1/a/b:v1'), NotFoundError);
  await assert.rejects(snap.rename('-bad'), (e: Error) =>
    e instanceof InvalidArgumentError || e instanceof NotFoundError);
});

test('a snapshot is pushed to the registry, a second push is up to date', LONG, async () => {
  const host = await startRegistry();
  const sb = await sharedSandbox();
  await sb.shell(`echo '${mark}' > /root/mark; sync`, { check: true });
  const snap = await sb.snapshot(snapName);
  assert.equal((await snap.info()).kind, 'full');
  ref = `${host}/tssnap/${snapName}:v1`;
  const pushed = new Progress<SyncProgress>();
  const up = await snap.push(ref, { progress: pushed.fn });
  await pushed.settled();
  // resolved, then its files read and uploaded, to the last chunk and byte
  checkSync('snapshot push', pushed.events, up, 'reading', 'uploading');
  assert.ok(up.digest.startsWith('sha256:'), up.digest);
  assert.ok(up.transferred > 0, JSON.stringify(up));
  assert.equal(up.upToDate, false);
  assert.equal(up.name, snapName);
  assert.ok(up.reference.includes(`tssnap/${snapName}:v1`), up.reference);
  digest = up.digest;
  // to where it went, by default; and ref given among the options
  const again = await snap.push();
  assert.equal(again.upToDate, true);
  assert.equal(again.digest, digest);
  assert.equal((await snap.push({ ref })).upToDate, true);
});

test('removed here, pulled back, a sandbox pull of it says it is a snapshot', LONG, async () => {
  assert.ok(ref, 'the push above did not run');
  await (await Snapshot.get(snapName)).remove();
  await assert.rejects(Snapshot.get(snapName), NotFoundError);
  const fetched = new Progress<SyncProgress>();
  const snap = await Snapshot.pull(ref, { name: snapName, progress: fetched.fn });
  await fetched.settled();
  checkSync('snapshot pull', fetched.events, snap.pulled!, 'downloading');
  assert.equal(snap.name, snapName);
  assert.equal(snap.pulled?.digest, digest);
  assert.ok((snap.pulled?.transferred ?? 0) > 0);
  assert.equal((await snap.info()).kind, 'full');
  // a second pull of what it already holds fetches nothing
  const again = await Snapshot.pull(ref, { name: snapName });
  assert.equal(again.pulled?.upToDate, true);
  assert.equal(again.pulled?.digest, digest);
  await assert.rejects(Sandbox.pull(ref, { name: unique('notasandbox') }), (e: Error) =>
    e instanceof WrongKindError && /snapshot/.test(e.message));
});

const restored = unique('tsrestored');

test('the pulled snapshot restores, with the file written before it', LONG, async () => {
  const snap = await Snapshot.get(snapName);
  const sb = await snap.restore(restored, { keep: true });
  const r = await sb.exec(['cat', '/root/mark']);
  assert.equal(r.stdout, `${mark}\n`, r.stderr);
  // the list and the sandbox's own info both say where it came from
  const row = (await Sandbox.list()).find((i) => i.name === restored);
  assert.equal(row?.fromSnapshot, snapName);
  assert.equal((await sb.info()).fromSnapshot, snapName);
  // and the snapshot's record names it, beside its files
  const rec = await snap.inspect();
  assert.deepEqual(rec.used_by, [restored]);
  assert.deepEqual(Object.keys(rec.files).sort(), ['ram', 'state', 'upper.ext4']);
});

test('rename is refused while a restored sandbox exists, then allowed', LONG, async () => {
  const snap = await Snapshot.get(snapName);
  const newName = `${snapName}-renamed`;
  await assert.rejects(snap.rename(newName), BusyError);
  assert.equal(snap.name, snapName);
  await (await Sandbox.get(restored)).remove();
  const other = await (await sharedSandbox()).snapshot(unique('tstaken'));
  try {
    await assert.rejects(snap.rename(other.name), AlreadyExistsError);
  } finally {
    await other.remove({ force: true });
  }
  await snap.rename(newName);
  assert.equal(snap.name, newName);
  assert.equal((await Snapshot.get(newName)).name, newName);
  await assert.rejects(Snapshot.get(snapName), NotFoundError);
  await snap.remove({ force: true });
  await assert.rejects(snap.inspect(), NotFoundError);
});

test('a sandbox pulled where its image is missing pulls it too, and reports that pull', LONG, async () => {
  const host = await seedImages();
  const name = unique('tsimgsync');
  const sref = `${host}/tssync/${name}:v1`;
  const sb = await Sandbox.create(name, { image: `${host}/python:3.12` });
  let up: SyncInfo;
  try {
    await sb.shell('echo pushed with its progress > /root/mark; sync', { check: true });
    const pushed = new Progress<SyncProgress>();
    up = await sb.push(sref, { progress: pushed.fn });
    await pushed.settled();
    checkSync('sandbox push', pushed.events, up, 'reading', 'uploading');
  } finally {
    await sb.close();
  }
  await otherHome(async () => {
    // an empty store: the image is pulled first, its reports in phase
    // "image", then the disk's chunks downloaded
    const evs = new Progress<SyncProgress>();
    const pulled = await Sandbox.pull(sref, { progress: evs.fn });
    await evs.settled();
    try {
      assert.equal(pulled.pulled?.digest, up!.digest);
      const image: PullProgress[] = [];
      const rest: SyncProgress[] = [];
      for (const e of evs.events) {
        if (e.phase === 'image') {
          assert.ok(e.image, `an image report without the pull's: ${JSON.stringify(e)}`);
          assert.equal(e.done, e.image.done);
          assert.equal(e.total, e.image.total);
          image.push(e.image);
        } else {
          rest.push(e);
        }
      }
      const info = (await listImages()).find((i) => !i.builtin);
      assert.ok(info, 'the image was not pulled');
      assert.ok(image.some((e) => e.phase === 'downloading'), JSON.stringify(image));
      checkPull('the image of a sandbox pull', image, info, { cold: true });
      checkSync('sandbox pull', rest, pulled.pulled!, 'downloading');
    } finally {
      await pulled.remove();
    }
  });
});
