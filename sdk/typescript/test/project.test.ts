// SPDX-License-Identifier: Apache-2.0
// A Sandboxfile project from TypeScript: a bad file's error says where,
// then one small project (one sandbox of the built-in image) is brought
// up, listed, driven by key (exec, a script, its logs), brought up again
// (nothing changes), restarted, stopped and brought down. Two boots; the
// tests run in order and share the project.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  InvalidArgumentError, NotFoundError, Project, Sandbox, SandboxfileError, type ProjectEvent,
} from 'microsandbox';
import { LONG, Progress, unique } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-project-'));
const name = unique('tsproj');
const file = path.join(dir, 'Sandboxfile');
fs.writeFileSync(file, `name: ${name}\nsandboxes:\n  web:\n    env: { GREETING: hello }\n` +
  '    scripts:\n      greet: echo "$GREETING from web"\n      fail: exit 3\n');
let p: Project;

after(async () => {
  await p?.down().catch(() => {});
  fs.rmSync(dir, { recursive: true, force: true });
});

const states = async () => (await p.ps()).map((e) => `${e.key} ${e.name} ${e.status} ${e.state}`);

test('a file that cannot be used says where', async () => {
  const bad = path.join(dir, 'Bad');
  await assert.rejects(Project.parse('sandboxes:\n  web:\n    memroy: 1G\n', bad), (e: unknown) => {
    assert.ok(e instanceof SandboxfileError && e instanceof InvalidArgumentError, String(e));
    assert.deepEqual([e.file, e.line, e.column], [bad, 3, 5]);
    assert.match(e.message, /did you mean 'memory'/);
    return true;
  });
  await assert.rejects(Project.load(path.join(dir, 'Missing')), NotFoundError);
});

test('a loaded file: its name, sandboxes, resolved config, and nothing up', async () => {
  p = await Project.load(file);
  assert.equal(p.name, name);
  assert.equal(p.file, file);
  assert.deepEqual(p.sandboxes, [{ key: 'web', name: `${name}-web` }]);
  assert.deepEqual(p.config().sandboxes.web.env, ['GREETING=hello']);
  assert.deepEqual(await states(), [`web ${name}-web missing missing`]);
});

test('up makes the sandbox; exec, scripts and logs by key', LONG, async () => {
  await assert.rejects(p.up({ progress: 'x' as any }), (e: Error) =>
    e instanceof InvalidArgumentError && /up: progress is a function/.test(e.message));
  const progress = new Progress<ProjectEvent>();
  await p.up({ progress: progress.fn });
  await progress.settled();
  const events = progress.events;
  assert.ok(events.some((e) => e.sandbox === 'web' && e.what === 'created'), JSON.stringify(events));
  assert.deepEqual(await states(), [`web ${name}-web running current`]);
  assert.equal((await p.exec('web', ['sh', '-c', 'echo $GREETING'])).stdout, 'hello\n');
  assert.equal((await p.run('web', 'greet')).stdout, 'hello from web\n');
  assert.equal((await p.run('web', 'fail')).exitCode, 3);
  await assert.rejects(p.run('web', 'no-such-script'), NotFoundError);
  await assert.rejects(p.exec('nope', 'true'), InvalidArgumentError);
  assert.match(await p.logs('web'), /ready in/);
  assert.equal((await p.logs('web', { tail: 2 })).split('\n').length, 3);
});

test('up again changes nothing', LONG, async () => {
  const events: ProjectEvent[] = [];
  await p.up({ progress: (e) => events.push(e) });
  assert.deepEqual(events.map((e) => `${e.sandbox} ${e.what}`), ['web up-to-date']);
});

test('restart, stop and down', LONG, async () => {
  await p.restart();
  assert.equal((await p.exec('web', 'cat /proc/uptime')).exitCode, 0);
  // a progress callback that throws is a process warning; the stop goes on
  const warned: string[] = [];
  const onWarning = (w: Error) => { if (w.name === 'MicrosandboxWarning') warned.push(w.message); };
  process.on('warning', onWarning);
  try {
    await p.stop({ progress: (e) => { throw new Error(`not ${e.what}`); } });
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    process.off('warning', onWarning);
  }
  assert.ok(warned.includes('stop: the progress callback failed: not stopped'), warned.join('\n'));
  assert.deepEqual(await states(), [`web ${name}-web stopped current`]);
  await p.down();
  assert.deepEqual(await states(), [`web ${name}-web missing missing`]);
  await assert.rejects(Sandbox.get(`${name}-web`), NotFoundError);
});
