// SPDX-License-Identifier: Apache-2.0
// The seeds' TypeScript snippets (shared/seeds: the product's promise),
// run as written, against the stand-ins for python:3.12 and node:20 from a
// local registry. Where a snippet uses a form libmsb does not serve yet (a
// filesystem written in JS), the snippet as written must fail with
// NotSupportedError saying what to use, and the rest of it is run without
// that one form. The spawn snippet, run here outside a sandbox, must fail
// so; runtime.test.ts runs it against a stand-in for a sandbox's agent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  AuditLog, BusyError, FileSystemBackend, InvalidArgumentError, MemFs, NotFoundError, NotSupportedError,
  PolicyRefusedError, RateLimiter, Sandbox, Snapshot, block, forward, type RestoreOptions, type SyncInfo,
  type SyncProgress,
} from 'microsandbox';
import { LONG, Progress, checkSync, seedImages, seedLayouts } from './helpers';

/** The seeds' own logging. */
const logged: string[] = [];
function log(s: string): void {
  logged.push(s);
}

function containsPii(body: Buffer): boolean {
  return /\b\d{3}-\d{2}-\d{4}\b/.test(body.toString());
}

/** How many workers the snapshot seed forks here (it says 100;
 * bench/snapshot.py measures that many): MSB_TS_SEED_WORKERS, default 4. */
const WORKERS = Number(process.env.MSB_TS_SEED_WORKERS) || 4;

test('secrets', LONG, async () => {
  await seedImages();
  const key = `sk-test-${process.pid}-real-value`;

  const sb = await Sandbox.create("agent", {
    image: "python:3.12",
    secrets: { "OPENAI_API_KEY": [key, "api.openai.com"] }
  });
  try {
    // Inside the sandbox: echo $OPENAI_API_KEY -> msb_placeholder_...
    const r = await sb.exec(`sh -c 'echo $OPENAI_API_KEY; echo $SEED_IMAGE'`);
    const [placeholder, image] = r.stdout.split('\n');
    assert.match(placeholder, /^msb_placeholder_/);
    assert.equal(image, 'python:3.12');
    // The real value is nowhere in the guest: no process's environment,
    // no file.
    const all = await sb.shell("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; " +
      `find /etc /root /tmp /run -type f 2>/dev/null | xargs grep -l '${key}' 2>/dev/null`);
    assert.ok(!all.stdout.includes(key), 'the secret reached the guest');
    // A value kept nowhere cannot come back: the sandbox cannot start
    // again once stopped.
    await sb.kill();
    await assert.rejects(sb.start());
  } finally {
    await sb.close();
  }
});

test('network', LONG, async () => {
  await seedImages();
  // As written: the hooks in JS run here, called by the sandbox's
  // supervisor (test/hooks.test.ts has them refuse and rewrite).
  const sb = await Sandbox.create("worker", {
    image: "node:20",
    network: {
      allow: ["api.openai.com", "*.stripe.com"],
      onDns: (q) => { log(`dns: ${q.name}`); return "allow"; },
      onHttp: (req) =>
        containsPii(req.body) ? block("DLP: PII") : forward(req),
      blockCidr: ["169.254.0.0/16", "10.0.0.0/8"],
    }
  });
  try {
    // A name outside the allowlist gets NXDOMAIN; a blocked range is
    // refused; both leave a line in the log.
    const r = await sb.shell('nslookup evil.example 10.0.2.3; echo dns=$?; echo | nc -w 5 10.1.2.3 80; echo nc=$?');
    const out = r.stdout + r.stderr;
    assert.ok(!out.includes('dns=0') && !out.includes('nc=0'), `the policy let something through: ${out}`);
    const logText = fs.readFileSync(await sb.logPath(), 'utf8');
    assert.ok(logText.includes('evil.example') && logText.includes('10.1.2.3'));
    // An allowed name reaches onDns (a refused one never does).
    await sb.shell('nslookup -type=a api.openai.com 10.0.2.3; true');
    assert.ok(logged.includes('dns: api.openai.com'), logged.join(', '));
    assert.ok(!logged.includes('dns: evil.example'));
    const net = (await sb.inspect()).config.net;
    assert.deepEqual(net.allow, ['api.openai.com', '*.stripe.com']);
    assert.deepEqual(net.block_cidr, ['169.254.0.0/16', '10.0.0.0/8']);
  } finally {
    await sb.close();
  }
});

class AuditFs extends FileSystemBackend {
  open(ctx, ino, flags) {
    log(`open ino=${ino} pid=${ctx.pid}`);
    return this.inner.open(ctx, ino, flags);
  }
  // read, write, lookup, mkdir, unlink ...
}

test('volumes', LONG, async () => {
  await seedImages();
  // "./data" as the seed has it: relative to the current directory.
  const wd = process.cwd();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-seed-vol-'));
  process.chdir(dir);
  try {
    fs.mkdirSync('data');
    fs.writeFileSync('data/from-host.txt', 'host\n');

    // As written: AuditFs's open runs here, in JS; every other operation
    // (reads and writes too) stays in the native passthrough.
    const sb = await Sandbox.create("app", {
      image: "python:3.12",
      volumes: {
        "/data": new AuditFs("./data"),
        "/cache": new MemFs(),
      }
    });
    try {
      const r = await sb.shell("cat /data/from-host.txt && echo guest > /data/from-guest.txt && " +
        "echo c > /cache/c && grep ' /cache ' /proc/mounts | cut -d' ' -f3");
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'host\nvirtiofs\n');
      assert.equal(fs.readFileSync(path.join(dir, 'data', 'from-guest.txt'), 'utf8'), 'guest\n');
      assert.ok(logged.some((l) => /^open ino=\d+ pid=\d+$/.test(l)), logged.join(', '));
      // The memory filesystem is nowhere on the host's disk.
      assert.equal(fs.existsSync(path.join(dir, 'data', 'c')), false);
    } finally {
      await sb.close();
    }
  } finally {
    process.chdir(wd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('snapshots', LONG, async () => {
  await seedImages();
  const sb = await Sandbox.create("base", { image: "python:3.12" });
  const workers: Sandbox[] = [];
  let snapName = '';
  try {
    const pip = await sb.exec("pip install numpy pandas torch");
    assert.equal(pip.exitCode, 127); // no pip in the stand-in: data, not an error
    await sb.shell('echo installed > /root/deps');

    const snap = await sb.snapshot("ml-ready");
    snapName = snap.name;

    // Fork the workers from the same baseline
    workers.push(...await Promise.all(
      Array.from({ length: WORKERS }, (_, i) =>
        snap.restore(`w-${i}`, { env: { WORKER_ID: String(i) } })
      )
    ));
    for (const [i, w] of workers.entries()) {
      assert.equal((await w.shell('echo $WORKER_ID; cat /root/deps; hostname')).stdout, `${i}\ninstalled\nw-${i}\n`);
    }
    const info = await snap.info();
    assert.deepEqual([info.kind, info.source, info.users], ['full', 'base', WORKERS]);
    // A restore takes only what a restore can change.
    await assert.rejects(snap.restore('w-bad', { image: 'node:20' } as RestoreOptions),
      (e: unknown) => e instanceof InvalidArgumentError && /'image'/.test(e.message));
    // The snapshot is used: removing it without force is refused.
    await assert.rejects(snap.remove(), BusyError);
  } finally {
    for (const w of workers) await w.close();
    await sb.close();
    if (snapName) await (await Snapshot.get(snapName)).remove({ force: true });
  }
});

// The local registry is the cloud; "another machine" is another process
// with a $MSB_HOME of its own, which has the image the sandbox was made
// from (loaded, as on this one) and pulls the sandbox by name. Between
// the two, the sandbox is made to sync, changed and stopped: the stop
// pushes it (with progress), and that push is what the other one pulls.
test('sync', LONG, async () => {
  const host = await seedImages();
  process.env.MSB_REMOTE = host;
  try {
    const sb = await Sandbox.create("ml-project", {
      image: "python:3.12",
    });
    let pushed, synced: SyncInfo | null = null;
    try {
      await sb.exec("pip install torch");
      await sb.shell('echo made on the first machine > /root/marker');

      // Push filesystem state to the cloud
      pushed = await sb.push();

      // One that syncs pushes itself when it stops, reporting that push.
      await sb.setSync();
      await sb.shell('echo changed before the stop >> /root/marker; sync');
      const stopping = new Progress<SyncProgress>();
      synced = await sb.stop({ progress: stopping.fn });
      await stopping.settled();
      assert.ok(synced, 'a sandbox that syncs was not pushed by its stop');
      assert.equal(synced.parent, pushed.digest);
      assert.equal(synced.upToDate, false);
      assert.ok(synced.transferred > 0 && synced.transferred < synced.chunks, JSON.stringify(synced));
      assert.ok(stopping.phases().has('uploading'), JSON.stringify(stopping.events));
      checkSync('a syncing stop', stopping.events, synced, 'reading', 'uploading');
      // nothing changed since: up to date
      assert.equal((await sb.push()).upToDate, true);
    } finally {
      await sb.close();
    }
    assert.equal(pushed.name, 'ml-project');
    assert.ok(pushed.reference.includes(`${host}/ml-project`), pushed.reference);
    assert.match(pushed.digest, /^sha256:/);

    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-other-machine-'));
    fs.chmodSync(other, 0o755);
    const script = `
      const { Sandbox, loadImage } = require('microsandbox');
      (async () => {
        await loadImage(${JSON.stringify(seedLayouts['python:3.12'])}, { tag: 'python:3.12' });

        // On another machine: pull and resume
        const pulled = await Sandbox.pull("ml-project");
        await pulled.start();

        const r = await pulled.exec('cat /root/marker');
        console.log(JSON.stringify({ marker: r.stdout, name: pulled.name, digest: pulled.pulled.digest }));
        await pulled.remove();
      })().catch((e) => { console.log(JSON.stringify({ error: e.name + ': ' + e.message })); process.exit(1); });
    `;
    const r = spawnSync(process.execPath, ['-e', script], {
      cwd: path.join(__dirname, '..', '..'),
      env: { ...process.env, MSB_HOME: other, MSB_REMOTE: host },
      encoding: 'utf8',
      timeout: 4 * 60 * 1000,
    });
    fs.rmSync(other, { recursive: true, force: true });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout.trim()), {
      marker: 'made on the first machine\nchanged before the stop\n', name: 'ml-project', digest: synced!.digest,
    });
  } finally {
    delete process.env.MSB_REMOTE;
  }
});

// The seed's plugin processes, written from the hook protocol: monitor.js
// with the SDK's Plugin, dlp.py with the standard library alone.
const MONITOR_JS = `
const { Plugin } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib'))});
new Plugin('monitor').on('connect', () => undefined).run();
`;
const DLP_PY = `
import json, os, socket, struct
s = socket.socket(fileno=int(os.environ.get("MSB_PLUGIN_FD", "3")))
def read():
    h = s.recv(4, socket.MSG_WAITALL)
    if len(h) < 4: return None
    n = struct.unpack(">I", h)[0]
    return json.loads(s.recv(n, socket.MSG_WAITALL))
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
while True:
    m = read()
    if m is None: break
    if m["type"] == "hello": send({"type": "hello", "name": "dlp", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        bad = "exfiltrate" in m.get("argv", [])
        send({"type": "reply", "id": m["id"], "verdict": "deny" if bad else "allow", "reason": "DLP"})
`;

test('plugins as written; spawn outside a sandbox is refused, saying so', LONG, async () => {
  await seedImages();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msb-ts-plugins-'));
  fs.mkdirSync(path.join(dir, 'plugins'));
  fs.writeFileSync(path.join(dir, 'plugins', 'monitor.js'), MONITOR_JS);
  fs.writeFileSync(path.join(dir, 'plugins', 'dlp.py'), DLP_PY);
  const audit = path.join(dir, 'audit');
  const cwd = process.cwd();
  process.chdir(dir); // the processes run where the create was made
  let sb: Sandbox;
  try {
    sb = await Sandbox.create("app", {
      image: "python:3.12",
      plugins: [
        new AuditLog(audit),        // the seed's "/var/log/audit", here a directory of the test's
        new RateLimiter({ maxExecPerSec: 100 }),
      ],
      pluginProcesses: [
        "node ./plugins/monitor.js",
        "python ./plugins/dlp.py",
      ]
    });
  } finally {
    process.chdir(cwd);
  }
  try {
    assert.equal((await sb.exec('echo fine')).stdout, 'fine\n');
    await assert.rejects(sb.exec('echo exfiltrate'), (e: unknown) =>
      e instanceof PolicyRefusedError && /plugin dlp: DLP/.test(e.message));
    const lines = fs.readFileSync(path.join(audit, 'app.jsonl'), 'utf8');
    assert.match(lines, /"fine"/);
  } finally {
    await sb.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  await assert.rejects(async () => {
    // Running inside a microsandbox
    const rt = await Sandbox.currentRuntime();

    // Spawn peer sandboxes (isolated, same level)
    const researcher = await rt.start("researcher", {
      image: "python:3.12",
      secrets: { "SERP_KEY": ["key", "serpapi.com"] },
    });

    const coder = await rt.start("coder", {
      image: "node:20",
      network: { denyAll: true }, // air-gapped
    });
    return [researcher, coder];
  }, (e: unknown) => e instanceof NotSupportedError && /not inside a microsandbox sandbox/.test(e.message));
});
