// SPDX-License-Identifier: Apache-2.0
// The plugin registry (Plugins; msb plugin publish/search/install/ls/
// inspect/rm) against Debian's docker-registry on loopback: the plugin
// tests/e2e/plugins/registry (msb-guard, which refuses execs of the
// words in its words/deny.txt) published, found, installed, loaded by
// name into a sandbox that it then guards, listed, inspected, refused
// once its files change, and removed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DamagedError, InvalidArgumentError, NotFoundError, PluginInfo, Plugins, PolicyRefusedError, Sandbox,
} from 'microsandbox';
import { LONG, repoRoot, startRegistry, unique } from './helpers';

// A copy: publish reads every file of the directory.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-plugin-'));
fs.cpSync(path.join(repoRoot, 'tests', 'e2e', 'plugins', 'registry'), dir, { recursive: true });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let ns = '';
let published: PluginInfo;

test('bad input is refused before anything is asked', async () => {
  await assert.rejects(Plugins.search('x', { registy: 'a/b' } as any), (e: Error) =>
    e instanceof InvalidArgumentError && /unknown plugin registry option 'registy'/.test(e.message));
  await assert.rejects(Plugins.install(7 as any), InvalidArgumentError);
  await assert.rejects(Plugins.inspect('no-such-plugin'), NotFoundError);
  await assert.rejects(Plugins.remove('no-such-plugin'), NotFoundError);
  assert.deepEqual(await Plugins.list(), []);
});

test('a plugin directory is published to the registry', LONG, async () => {
  ns = `${await startRegistry()}/tsplugins`;
  published = await Plugins.publish(dir, { registry: ns });
  assert.ok(published instanceof PluginInfo);
  assert.equal(published.name, 'msb-guard');
  assert.equal(published.version, '1.0.0');
  assert.equal(published.reference, `${ns}/msb-guard:1.0.0`);
  assert.match(published.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(published.installedAt, null);
});

test('search finds it by its words, and nothing else', LONG, async () => {
  const [hit, ...rest] = await Plugins.search('DENY', { registry: ns });
  assert.deepEqual(rest, []);
  assert.equal(hit.name, 'msb-guard');
  assert.equal(hit.digest, published.digest);
  assert.deepEqual(hit.hooks, ['exec_before']);
  assert.equal(hit.command, 'python3 guard.py');
  assert.equal(hit.language, 'python');
  assert.deepEqual(await Plugins.search('no-such-thing', { registry: ns }), []);
  assert.equal((await Plugins.search('', { registry: ns })).length, 1);
});

test('it installs pinned by digest, and is listed and inspected', LONG, async () => {
  await assert.rejects(Plugins.install('no-such-plugin', { registry: ns }), NotFoundError);
  const got = await Plugins.install('msb-guard', { registry: ns });
  assert.equal(got.digest, published.digest);
  assert.equal(got.files, 2);
  assert.ok(got.installedAt instanceof Date);
  assert.ok(fs.existsSync(path.join(got.path, 'guard.py')), got.path);
  const [listed, ...rest] = await Plugins.list();
  assert.deepEqual(rest, []);
  assert.equal(listed.name, 'msb-guard');
  assert.equal(listed.verified, true);
  assert.equal((await Plugins.inspect('msb-guard')).digest, published.digest);
});

test('a sandbox loads it by name, and it guards the sandbox', LONG, async () => {
  await using sb = await Sandbox.create(unique('guarded'), { plugins: ['msb-guard'] });
  assert.equal((await sb.exec('echo hi', { check: true })).stdout, 'hi\n');
  await assert.rejects(sb.exec(['forbidden-cmd']), PolicyRefusedError);
});

test('changed files are refused; removed, it is gone', LONG, async () => {
  const { path: where } = await Plugins.inspect('msb-guard');
  fs.appendFileSync(path.join(where, 'guard.py'), '# changed\n');
  await assert.rejects(Plugins.inspect('msb-guard'), (e: Error) =>
    e instanceof DamagedError && /guard.py does not match/.test(e.message));
  assert.equal((await Plugins.list())[0].verified, false);
  const name = unique('never');
  await assert.rejects(Sandbox.create(name, { plugins: ['msb-guard'] }), DamagedError);
  await Plugins.remove('msb-guard');
  assert.deepEqual(await Plugins.list(), []);
  await assert.rejects(Plugins.inspect('msb-guard'), NotFoundError);
  await assert.rejects(Sandbox.create(name, { plugins: ['msb-guard'] }), /no installed plugin/);
});

// A plugin process (written with the SDK's Plugin) that allows one exec
// and then exits.
const ONCE = `
const { Plugin } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib'))});
new Plugin('once-ts').on('exec_before', () => { setTimeout(() => process.exit(0), 50); }).run();
`;

test('pluginRestarts: a plugin process that exits is started again that many times', LONG, async () => {
  fs.writeFileSync(path.join(dir, 'once.js'), ONCE);
  await using sb = await Sandbox.create(unique('restarts'), {
    pluginProcesses: [`node ${path.join(dir, 'once.js')}`], pluginRestarts: 1,
  });
  const settle = () => new Promise((r) => setTimeout(r, 2000)); // it exits, and is started again
  assert.equal((await sb.exec('echo one', { check: true })).stdout, 'one\n');
  await settle();
  assert.equal((await sb.exec('echo two', { check: true })).stdout, 'two\n'); // the one restart
  await settle();
  await assert.rejects(sb.exec('echo three'), PolicyRefusedError); // no more (the default is 3)
  await assert.rejects(Sandbox.create(unique('never'), { pluginProcesses: ['true'], pluginRestarts: -1 }),
    InvalidArgumentError);
});
