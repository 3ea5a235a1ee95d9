// SPDX-License-Identifier: Apache-2.0
// Snapshots to a registry and back (msb push SNAP, msb pull REF;
// docs/sync.md) and renamed (msb snapshot rename), against Debian's
// docker-registry on loopback: a full snapshot of the file's shared
// sandbox with a file written before it is pushed, removed here, pulled
// back, and restored, and the file is there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlreadyExistsError, BusyError, InvalidArgumentError, NotFoundError, Sandbox, Snapshot, WrongKindError,
} from 'microsandbox';
import { LONG, sharedSandbox, startRegistry, unique } from './helpers';

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
  const up = await snap.push(ref);
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
  const snap = await Snapshot.pull(ref, { name: snapName });
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
