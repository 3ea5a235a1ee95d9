// SPDX-License-Identifier: Apache-2.0
// native.js - the addon (build/msb.node, compiled against libmsb by
// scripts/build-native.js at install), loaded on first use so that
// importing the package works even where it is not built: the first call
// then says what is missing and what to do.
'use strict';

const path = require('node:path');
const errors = require('./errors');

let addon = null;

/** The path of the addon: $MSB_NODE_ADDON, else the package's build. */
function addonPath() {
  return process.env.MSB_NODE_ADDON || path.join(__dirname, '..', 'build', 'msb.node');
}

function load() {
  if (addon) return addon;
  const file = addonPath();
  let a;
  try {
    a = require(file);
  } catch (e) {
    let why;
    if (e && e.code === 'MODULE_NOT_FOUND') {
      why = `the native addon ${file} is not built: run \`npm rebuild microsandbox\` ` +
        '(or `node scripts/build-native.js` in sdk/typescript), which compiles it ' +
        'against libmsb found with pkg-config';
    } else if (/libmsb/.test(String(e && e.message))) {
      why = `libmsb could not be loaded (${e.message}): install microsandbox with ./setup ` +
        '(libmsb under /usr/local), then rebuild this package (`npm rebuild microsandbox`)';
    } else {
      why = `the native addon ${file} could not be loaded: ${e && e.message}; rebuild it ` +
        'with `npm rebuild microsandbox`';
    }
    throw new errors.LibraryNotFoundError(why, { cause: e });
  }
  a.setErrorFactory(errors.fromCode);
  addon = a;
  return addon;
}

/** The addon's exports, loaded on first property access. */
module.exports = new Proxy({}, {
  get(_t, key) {
    if (key === 'addonPath') return addonPath;
    if (key === 'loaded') return addon !== null;
    return load()[key];
  },
});
