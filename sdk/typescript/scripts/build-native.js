#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// build-native.js - compile the addon (native/*.c) into build/msb.node
// against libmsb, found with pkg-config, and Node's own headers; run by
// `npm install` (the package's install script). Nothing is downloaded: a
// C compiler, pkg-config, libmsb.pc and Node's headers must be here.
//
//   PKG_CONFIG_PATH=/path/to/microsandbox/build/lib/pkgconfig node scripts/build-native.js
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'build', 'msb.node');

function fail(msg) {
  process.stderr.write(`microsandbox: cannot build the native addon: ${msg}\n`);
  process.exit(1);
}

/** Node's headers: node_api.h and uv.h, beside this node or where
 * Debian's and most packages put them. */
function nodeHeaders() {
  const cands = [
    process.env.MSB_NODE_INCLUDE,
    path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  for (const d of cands) {
    if (fs.existsSync(path.join(d, 'node_api.h')) && fs.existsSync(path.join(d, 'uv.h'))) return d;
  }
  return fail(`Node's headers (node_api.h, uv.h) are not in ${cands.join(', ')}: ` +
    'install the package that has them (Debian: nodejs with its headers, or libnode-dev), ' +
    'or set MSB_NODE_INCLUDE to their directory');
}

function pkgConfig(args) {
  try {
    return execFileSync('pkg-config', [...args, 'libmsb'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim().split(/\s+/).filter(Boolean);
  } catch (e) {
    if (e.code === 'ENOENT') return fail('pkg-config is not installed (Debian: apt-get install pkg-config)');
    return fail('libmsb was not found by pkg-config: install microsandbox first (./setup in its ' +
      'repository installs libmsb and libmsb.pc under /usr/local), or point PKG_CONFIG_PATH at ' +
      'a build of it (PKG_CONFIG_PATH=/path/to/microsandbox/build/lib/pkgconfig)');
  }
}

const inc = nodeHeaders();
const cflags = pkgConfig(['--cflags']);
const libs = pkgConfig(['--libs']);
const cc = process.env.CC || 'cc';
const srcs = fs.readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.c'))
  .sort().map((f) => path.join(root, 'native', f));
fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const args = ['-std=gnu11', '-O2', '-g', '-fPIC', '-shared', '-fvisibility=hidden',
  '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror=implicit-function-declaration',
  '-I', inc, ...cflags, '-o', tmp, ...srcs, ...libs];
try {
  execFileSync(cc, args, { stdio: 'inherit' });
} catch (e) {
  try { fs.unlinkSync(tmp); } catch { /* not made */ }
  if (e.code === 'ENOENT') fail(`no C compiler (${cc}): install one (Debian: apt-get install gcc)`);
  fail(`${cc} failed (above)`);
}
// A rename, so a process that has the old addon loaded keeps it intact.
fs.renameSync(tmp, out);
process.stdout.write(`microsandbox: built ${path.relative(process.cwd(), out) || out}\n`);
