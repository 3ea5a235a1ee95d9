// SPDX-License-Identifier: Apache-2.0
// sdk_ts.js - the TypeScript SDK's side of bench/sdk.py: one measurement,
// as bench/sdkbench.c takes the C API's.
//
//   node bench/sdk_ts.js NAME exec N            N round trips of `true` (sb.exec)
//   node bench/sdk_ts.js NAME write GUEST HOST  HOST's bytes into GUEST (sb.fs.write of a stream)
//   node bench/sdk_ts.js NAME read GUEST HOST   GUEST's bytes into HOST (sb.fs.createReadStream)
//
// prints microseconds, one line per call for exec, one line otherwise.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { pipeline } = require('node:stream/promises');
const { Sandbox } = require(path.join(__dirname, '..', 'sdk', 'typescript'));

function us(t0) {
  return Number((process.hrtime.bigint() - t0) / 1000n);
}

async function main() {
  const [name, what, a, b] = process.argv.slice(2);
  const sb = await Sandbox.get(name);
  if (what === 'exec') {
    await sb.exec(['true']); // opens the handle, as msb_sandbox_open does before the C loop
    for (let i = 0; i < Number(a); i++) {
      const t0 = process.hrtime.bigint();
      await sb.exec(['true']);
      console.log(us(t0));
    }
  } else if (what === 'write') {
    await sb.fs.exists('/');
    const t0 = process.hrtime.bigint();
    await sb.fs.write(a, fs.createReadStream(b, { highWaterMark: 1 << 20 }));
    console.log(us(t0));
  } else if (what === 'read') {
    await sb.fs.exists('/');
    const t0 = process.hrtime.bigint();
    await pipeline(sb.fs.createReadStream(a), fs.createWriteStream(b));
    console.log(us(t0));
  } else {
    throw new Error('usage: sdk_ts.js NAME exec N | write|read GUEST HOST');
  }
}

main().catch((e) => {
  process.stderr.write(`sdk_ts: ${e.message}\n`);
  process.exit(1);
});
