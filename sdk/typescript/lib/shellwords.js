// SPDX-License-Identifier: Apache-2.0
// shellwords.js - a command line split into words, the rule every SDK's
// one-string exec uses (tests/sdk/vectors.json; Python's shlex.split).
'use strict';

const { InvalidArgumentError } = require('./errors');

const BLANK = new Set([' ', '\t', '\n', '\r']);

/**
 * splitCommand() - @line's words, as a POSIX shell splits a simple
 * command and nothing more: blanks separate words; 'single quotes' keep
 * everything as it is; "double quotes" keep everything but \" and \\;
 * outside quotes a backslash keeps the next character; parts next to
 * each other make one word; "" and '' make an empty one. Nothing is
 * expanded ($HOME, *, ~ stay) and | ; & < > are ordinary characters.
 * An unterminated quote or a trailing backslash is an
 * InvalidArgumentError.
 */
function splitCommand(line) {
  if (typeof line !== 'string') {
    throw new InvalidArgumentError('a command line must be a string');
  }
  const words = [];
  let cur = '';
  let inWord = false;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === "'") {
      if (ch === "'") quote = '';
      else cur += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = '';
      else if (ch === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) cur += line[++i];
      else cur += ch;
    } else if (BLANK.has(ch)) {
      if (inWord) {
        words.push(cur);
        cur = '';
        inWord = false;
      }
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\') {
      if (i + 1 >= line.length) {
        throw new InvalidArgumentError(
          `the command line ends with a lone backslash: ${JSON.stringify(line)}`);
      }
      cur += line[++i];
      inWord = true;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) {
    throw new InvalidArgumentError(
      `the command line has an unterminated ${quote} quote: ${JSON.stringify(line)}`);
  }
  if (inWord) words.push(cur);
  return words;
}

module.exports = { splitCommand };
