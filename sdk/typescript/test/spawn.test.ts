// SPDX-License-Identifier: Apache-2.0
// Sandboxes that spawn sandboxes (docs/spawn.md): the spawn policy a
// sandbox is made with (allowSpawn and the spawn* options, msb run
// --allow-spawn N), kept in its record and enforced by libmsb when the
// guest's own `msb start` asks for a peer, and parent(). Real guests: a
// parent allowed one peer, the peer its guest starts, and the file's
// shared sandbox, made without the option.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, NotFoundError, Sandbox, type SandboxOptions } from 'microsandbox';
import { LONG, sharedSandbox, unique } from './helpers';

async function exists(name: string): Promise<boolean> {
  try {
    await Sandbox.get(name);
    return true;
  } catch (e) {
    if (e instanceof NotFoundError) return false;
    throw e;
  }
}

test('a spawn policy libmsb would not take is refused before anything is made', LONG, async () => {
  const cases: [string, SandboxOptions, string][] = [
    ['0 peers', { allowSpawn: 0 }, 'give 1 to 64 live peers'],
    ['65 peers', { allowSpawn: 65 }, 'give 1 to 64 live peers'],
    ['1.5 peers', { allowSpawn: 1.5 }, 'give 1 to 64 live peers'],
    ['spawnImages without allowSpawn', { spawnImages: ['busybox'] }, 'give allowSpawn too'],
    ['spawnMemory without allowSpawn', { spawnMemory: '256M' }, 'give allowSpawn too'],
    ['65 CPUs a peer', { allowSpawn: 1, spawnCpus: 65 }, 'spawnCpus 65'],
    ['33 images', { allowSpawn: 1, spawnImages: Array.from({ length: 33 }, (_, i) => `img${i}`) }, 'at most 32'],
    ['a bad memory size', { allowSpawn: 1, spawnMemory: 'lots' }, 'lots'],
  ];
  for (const [what, opts, words] of cases) {
    const name = unique('bad-spawn');
    await assert.rejects(Sandbox.create(name, opts), (e: Error) => {
      assert.ok(e instanceof InvalidArgumentError, `${what}: ${e}`);
      assert.ok(e.message.includes(words), `${what}: ${e.message}`);
      return true;
    });
    assert.equal(await exists(name), false, `${what} left sandbox ${name} behind`);
  }
  // An image libmsb refuses (msb_spawn_policy_add_image), in its words.
  const name = unique('bad-spawn');
  await assert.rejects(Sandbox.create(name, { allowSpawn: 1, spawnImages: ['bad image'] }),
    InvalidArgumentError);
  assert.equal(await exists(name), false);
});

const parentName = unique('spawner');
let parent: Promise<Sandbox> | null = null;

/** The parent: one live peer at most, of its own image or busybox, each
 * of 1 CPU and 256 MiB, 300 MiB for all together. */
function spawner(): Promise<Sandbox> {
  if (!parent) {
    parent = Sandbox.create(parentName, {
      allowSpawn: 1, spawnImages: ['busybox'], spawnCpus: 1, spawnMemory: '256M', spawnTotalMemory: 300,
    });
  }
  return parent;
}

test('the policy is kept in the sandbox\'s record', LONG, async () => {
  const sb = await spawner();
  const spawn = (await sb.inspect()).config.spawn;
  assert.equal(spawn.max, 1);
  assert.deepEqual(spawn.images, ['default', 'busybox']);
  assert.equal(spawn.cpus, 1);
  assert.equal(spawn.memory_mib, 256);
  assert.equal(spawn.total_memory_mib, 300);
  assert.equal(await sb.parent(), null); // the host made it
});

const peerName = unique('peer');

test('the guest\'s own msb start makes a peer whose parent is the sandbox', LONG, async () => {
  const sb = await spawner();
  const r = await sb.exec(['msb', 'start', peerName]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, `${peerName}\n`);
  const peer = await Sandbox.get(peerName);
  assert.equal(await peer.parent(), parentName);
  const info = await peer.info();
  assert.ok(info.running, info.status);
  assert.equal(info.memoryMib, 256);
  // One live peer at most: a second is refused, in msb run's words.
  const second = await sb.exec(['msb', 'start', unique('second')]);
  assert.equal(second.exitCode, 125, second.stdout);
  assert.match(second.stderr, /--allow-spawn 1/);
});

test('removing the parent removes its peer', LONG, async () => {
  const sb = await spawner();
  assert.equal(await exists(peerName), true);
  await sb.remove();
  assert.equal(await exists(parentName), false);
  assert.equal(await exists(peerName), false, 'the peer outlived its parent');
});

test('a sandbox made without allowSpawn may start no peer', LONG, async () => {
  const sb = await sharedSandbox();
  const name = unique('nope');
  const r = await sb.exec(['msb', 'start', name]);
  assert.equal(r.exitCode, 125, r.stdout);
  assert.match(r.stderr, /spawning is off/);
  assert.equal(await exists(name), false);
});
