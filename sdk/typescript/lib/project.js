// SPDX-License-Identifier: Apache-2.0
// project.js - the sandboxes and named volumes of a Sandboxfile, brought
// up and down together (msb project; docs/projects.md).
//
//   const p = await Project.load('Sandboxfile');   // undefined: found
//   await p.up({ progress: (e) => console.log(e.sandbox, e.what) });
//   const r = await p.run('api', 'test');           // one of its scripts
//   await p.down({ volumes: true });
//
// A file that cannot be used is a SandboxfileError (an
// InvalidArgumentError) with the file, line and column it names.
'use strict';

const fs = require('node:fs/promises');
const native = require('./native');
const errors = require('./errors');
const { Sandbox } = require('./sandbox');
const { progressOf } = require('./progress');

// "FILE:LINE:COL: what", as src/lib/sandboxfile.c writes its messages.
const WHERE = /^(.+?):(\d+):(\d+): /;

/** @e as a SandboxfileError when its message names a place in a file. */
function located(e) {
  if (!(e instanceof errors.InvalidArgumentError)) return e;
  const m = WHERE.exec(e.message);
  if (!m) return e;
  return new errors.SandboxfileError(e.message, {
    file: m[1], line: Number(m[2]), column: Number(m[3]), errno: e.errno, code: e.code,
  });
}

function throwing(fn) {
  try {
    return fn();
  } catch (e) {
    throw located(e);
  }
}

const STOP_TIMEOUT = 10;

function callOptions(what, { only, timeout = STOP_TIMEOUT, volumes = false, progress } = {}) {
  if (only !== undefined && (!Array.isArray(only) || only.some((k) => typeof k !== 'string' || !k))) {
    throw new errors.InvalidArgumentError(`${what}: only is a list of the Sandboxfile's keys`);
  }
  return [{ only, timeout: Math.max(0, Math.floor(timeout)), volumes: !!volumes }, progressOf(what, progress)];
}

/** A loaded Sandboxfile: loading checks all of it and starts nothing. */
class Project {
  /** @internal use Project.load or Project.parse */
  constructor(handle) {
    this._h = handle;
    const info = native.projectInfo(handle);
    /** The project's name. */
    this.name = info.name;
    /** The Sandboxfile's absolute path. */
    this.file = info.file;
    /** Its sandboxes in start order: { key: "api", name: "my-project-api" }. */
    this.sandboxes = info.sandboxes;
  }

  /** load() - read and check the Sandboxfile at @path; without one, the
   * Sandboxfile here or in the nearest directory above. */
  static async load(path) {
    return new Project(throwing(() => native.projectLoad(path ?? null)));
  }

  /** parse() - the same from @text, as if read from @path (which names it
   * in errors and anchors relative paths). */
  static async parse(text, path = 'Sandboxfile') {
    if (typeof text !== 'string') {
      throw new errors.InvalidArgumentError("a Sandboxfile's text is a string");
    }
    return new Project(throwing(() => native.projectParse(text, path)));
  }

  /** config() - the project as msb resolves it (msb project config). */
  config() {
    return JSON.parse(throwing(() => native.projectConfig(this._h)));
  }

  async _call(what, opts) {
    const [o, progress] = callOptions(what, opts);
    try {
      return await native.projectCall(this._h, what, o, progress);
    } catch (e) {
      throw located(e);
    }
  }

  /** up() - make what is missing, recreate what changed, start what is
   * stopped, leave the rest (a second up changes nothing); `only`: those
   * keys and what they depend on. */
  async up(options = {}) {
    await this._call('up', options);
  }

  /** down() - stop and remove every sandbox of the project, in reverse
   * start order; `volumes: true` removes the named volumes it made too. */
  async down({ volumes = false, timeout, progress } = {}) {
    await this._call('down', { volumes, timeout, progress });
  }

  /** stop() - stop its running sandboxes (reverse order), keeping them. */
  async stop(options = {}) {
    await this._call('stop', options);
  }

  /** restart() - stop its running sandboxes and start them again. */
  async restart(options = {}) {
    await this._call('restart', options);
  }

  /** ps() - the file's sandboxes in start order, then orphans. */
  async ps() {
    return this._call('ps', {});
  }

  _name(key) {
    const s = this.sandboxes.find((x) => x.key === key);
    if (!s) {
      throw new errors.InvalidArgumentError(`no sandbox '${key}' in ${this.file}: it has ` +
        this.sandboxes.map((x) => x.key).join(', '));
    }
    return s.name;
  }

  /** sandbox() - the Sandbox of key @key (NotFoundError before up). */
  async sandbox(key) {
    return Sandbox.get(this._name(key));
  }

  /** exec() - Sandbox.exec (same options) in the sandbox of key @key. */
  async exec(key, cmd, options = {}) {
    return (await this.sandbox(key)).exec(cmd, options);
  }

  /** run() - script @script of @key's scripts, as exec runs a command. */
  async run(key, script, options = {}) {
    const argv = native.projectScript(this._h, key, script);
    return this.exec(key, argv, options);
  }

  /** logs() - the log of @key's sandbox (msb logs); `tail`: its last lines. */
  async logs(key, { tail } = {}) {
    const text = await fs.readFile(await (await this.sandbox(key)).logPath(), 'utf8');
    if (tail === undefined) return text;
    const lines = text.split(/(?<=\n)/);
    return tail > 0 ? lines.slice(-tail).join('') : '';
  }
}

module.exports = { Project };
