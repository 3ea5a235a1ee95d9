// SPDX-License-Identifier: Apache-2.0
// tests/sdk/vectors.json: the cases every SDK runs against a sandbox of the
// built-in image, to behave alike (the C runner, build/tests/sdk-vectors,
// is the reference).

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Expect {
  stdout?: string;
  stdout_b64?: string;
  stdout_size?: number;
  stderr?: string;
  stderr_contains?: string;
  exit_code?: number;
  signal?: number;
  timed_out?: boolean;
  size?: number;
  type?: string;
  mode?: number;
}

export interface ExecCase {
  name: string;
  argv: string[];
  command?: string;
  stdin?: string;
  stdin_b64?: string;
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  timeout_ms?: number;
  expect: Expect;
}

export interface WriteCase {
  name: string;
  path: string;
  content?: string;
  content_b64?: string;
  mode?: number;
  parents?: boolean;
  expect: Expect;
}

export interface ErrorCase {
  name: string;
  op: string;
  argv?: string[];
  user?: string;
  path?: string;
  exclusive?: boolean;
  content?: string;
  sandbox?: string;
  error?: string;
  result?: boolean;
}

export interface Vectors {
  version: number;
  exec: ExecCase[];
  files: {
    dir: string;
    write: WriteCase[];
    list: { path: string; names: string[]; recursive_names: string[] };
    mkdir: { path: string; parents?: boolean; expect: Expect };
    rename: { from: string; to: string; content: string };
    remove: { path: string; recursive?: boolean };
  };
  errors: ErrorCase[];
}

export function loadVectors(root: string): Vectors {
  const file = path.join(root, 'tests', 'sdk', 'vectors.json');
  const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Vectors;
  if (v.version !== 1) throw new Error(`${file}: version ${v.version}, this runner reads 1`);
  return v;
}

export function unb64(s: string): Buffer {
  return Buffer.from(s, 'base64');
}
