// SPDX-License-Identifier: Apache-2.0
// peers.js - runs inside a sandbox the host lets spawn (msb run
// --allow-spawn 1): it starts a peer beside it, air-gapped, runs commands
// in it (one fed 3 MB on its stdin), shows that the host refuses a
// second, copies a tree into it and back, snapshots it and restores the
// snapshot as a new peer, and removes them. It needs only this package's
// lib/ (no addon, no libmsb: docs/spawn.md):
//
//   msb run -d --name orch --allow-spawn 1
//   (copy node, this package's lib/ and examples/ into orch)
//   msb exec orch -- node /tmp/msb/examples/peers.js coder
//
// Each step prints one JSON line, as the Go and Rust examples do;
// tests/e2e/test_spawn.py runs it so.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Sandbox, PolicyRefusedError, BusyError } = require('../lib/index.js');

function say(step, fields = {}) {
  console.log(JSON.stringify({ step, ...fields }));
}

function die(step, err) {
  say(step, { error: String(err && err.message ? err.message : err) });
  process.exit(1);
}

const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

/** tree() - each path below @root: its type and permission bits, a
 * symlink's target, a file's MD5. */
function tree(root, rel = '') {
  const out = [];
  for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    const p = path.join(root, r);
    const st = fs.lstatSync(p);
    const what = st.isSymbolicLink() ? fs.readlinkSync(p) : st.isFile() ? md5(fs.readFileSync(p)) : '';
    out.push(`${r} ${st.mode.toString(8)} ${what}`);
    if (st.isDirectory()) out.push(...tree(root, r));
  }
  return out;
}

// Blocks this program for @ms, as a busy reader would: the host waits for
// its credit meanwhile, nothing is lost.
function stall(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: peers.js NAME');
    process.exit(2);
  }
  const name = process.argv[2];
  let rt;
  let peer;
  try {
    rt = await Sandbox.currentRuntime();
  } catch (e) { die('runtime', e); }
  try {
    peer = await rt.start(name, { network: { denyAll: true }, env: { GREETING: 'hello' } });
  } catch (e) { die('start', e); }
  say('start', { name: peer.name });

  try {
    const r = await peer.shell('echo "$GREETING from $(hostname)"; echo to-stderr >&2; exit 3');
    say('exec', { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() });
  } catch (e) { die('exec', e); }

  let bytes = 0;
  try {
    const r = await peer.exec(['head', '-c', '3000000', '/dev/zero'], {
      onStdout: (b) => {
        if (bytes === 0) stall(2000);
        bytes += b.length;
      },
    });
    say('big', { bytes, code: r.exitCode });
  } catch (e) { die('big', e); }

  try {
    say('list', { peers: (await rt.list()).map((p) => ({ name: p.name, status: p.status })) });
  } catch (e) { die('list', e); }

  try {
    const extra = await rt.start(`${name}-2`);
    await extra.remove();
    die('refused', 'a second peer was allowed');
  } catch (e) {
    if (!(e instanceof PolicyRefusedError)) die('refused', e);
    say('refused', { message: e.message });
  }

  try {
    say('logs', { booting: (await peer.logs()).includes(`booting ${name}`) });
  } catch (e) { die('logs', e); }

  // stdin: more than the window the host gives at once, given back as
  // the peer takes it; the peer reads it only after a while
  try {
    const data = crypto.randomBytes(3000000);
    const pieces = function* () {
      for (let i = 0; i < data.length; i += 100000) yield data.subarray(i, i + 100000);
    };
    const r1 = await peer.exec(['sh', '-c', 'sleep 2; md5sum'], { stdin: data });
    const r2 = await peer.exec('md5sum', { stdin: pieces() });
    const r3 = await peer.exec('cat', { stdin: 'hi\n' });
    const r4 = await peer.exec('wc -c', { stdin: '' });
    say('stdin', {
      want: md5(data), sums: [r1.stdout.split(' ')[0], r2.stdout.split(' ')[0]],
      cat: r3.stdout, empty: r4.stdout.trim(),
    });
  } catch (e) { die('stdin', e); }

  // a terminal of the size asked for: the command's output is the
  // terminal's, lines ending in "\r\n"
  try {
    const r = await peer.shell('tty; stty size', { tty: { rows: 33, cols: 101 } });
    say('tty', { code: r.exitCode, stdout: r.stdout });
  } catch (e) { die('tty', e); }

  // cp: a tree in, as the peer sees it, and back out
  try {
    const src = '/tmp/cp-src/t';
    fs.rmSync('/tmp/cp-src', { recursive: true, force: true });
    fs.rmSync('/tmp/cp-back', { recursive: true, force: true });
    fs.mkdirSync(`${src}/sub`, { recursive: true });
    fs.writeFileSync(`${src}/a`, 'one\n');
    fs.writeFileSync(`${src}/sub/big`, crypto.randomBytes(1500000));
    fs.chmodSync(`${src}/a`, 0o640);
    fs.chmodSync(`${src}/sub`, 0o750);
    fs.symlinkSync('a', `${src}/link`);
    await peer.copyIn(src, '/tmp/');
    const there = await peer.shell("cd /tmp/t && md5sum a sub/big && readlink link && stat -c '%a %n' a sub");
    await peer.copyOut('/tmp/t', '/tmp/cp-back');
    const here = ['a', 'sub/big'].map((p) => `${md5(fs.readFileSync(`${src}/${p}`))}  ${p}`)
      .concat(['a', '640 a', '750 sub']);
    const back = tree('/tmp/cp-back');
    say('cp', {
      peerSeesIt: there.stdout === here.join('\n') + '\n',
      backSame: JSON.stringify(tree(src)) === JSON.stringify(back),
      back: back.filter((l) => !l.startsWith('sub/big')),
    });
  } catch (e) { die('cp', e); }

  // snapshot, and a new peer from it (the first stopped: one live peer)
  try {
    await peer.shell('echo kept > /tmp/mark');
    const snap = await peer.snapshot(`${name}-snap`);
    const listed = (await rt.snapshots()).map((x) => [x.name, x.source, x.kind]);
    await peer.stop();
    const again = await rt.restore(snap, { name: `${name}-r` });
    const r = await again.shell('hostname; cat /tmp/mark');
    let refused = 'a second restore was allowed';
    try {
      await rt.restore(snap, { name: `${name}-x` });
    } catch (e) {
      if (!(e instanceof PolicyRefusedError)) throw e;
      refused = e.message;
    }
    let busy = 'the snapshot of a live peer was removed';
    try {
      await rt.removeSnapshot(snap);
    } catch (e) {
      if (!(e instanceof BusyError)) throw e;
      busy = e.message;
    }
    await again.remove();
    await rt.removeSnapshot(snap);
    say('snapshot', {
      name: snap, listed, restored: r.stdout, refused, busy,
      left: (await rt.snapshots()).map((x) => x.name),
    });
  } catch (e) { die('snapshot', e); }

  try {
    await peer.remove();
    say('removed', { peers: (await rt.list()).map((p) => p.name) });
  } catch (e) { die('removed', e); }
}

main();
