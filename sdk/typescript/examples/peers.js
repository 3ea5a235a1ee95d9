// SPDX-License-Identifier: Apache-2.0
// peers.js - runs inside a sandbox the host lets spawn (msb run
// --allow-spawn 1): it starts a peer beside it, air-gapped, runs commands
// in it, shows that the host refuses a second, and removes it. It needs
// only this package's lib/ (no addon, no libmsb: docs/spawn.md):
//
//   msb run -d --name orch --allow-spawn 1
//   (copy node, this package's lib/ and examples/ into orch)
//   msb exec orch -- node /tmp/msb/examples/peers.js coder
//
// Each step prints one JSON line, as the Go and Rust examples do;
// tests/e2e/test_spawn.py runs it so.
'use strict';

const { Sandbox, PolicyRefusedError } = require('../lib/index.js');

function say(step, fields = {}) {
  console.log(JSON.stringify({ step, ...fields }));
}

function die(step, err) {
  say(step, { error: String(err && err.message ? err.message : err) });
  process.exit(1);
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
    await peer.stop();
    await peer.remove();
    say('removed', { peers: (await rt.list()).map((p) => p.name) });
  } catch (e) { die('removed', e); }
}

main();
