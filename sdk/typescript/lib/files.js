// SPDX-License-Identifier: Apache-2.0
// files.js - a sandbox's files, through the guest agent's file channel
// (msb_file_*), as a guest user, so the guest's permissions apply
//
// Reads and writes are streams on the event loop (stream.js) with flow
// control both ways: a file larger than RAM passes in bounded memory, and
// a reader that stops reading stops the guest. The one-shot calls (stat,
// list, mkdir, ...) are a request and its answer, made in libuv's thread
// pool.
'use strict';

const { Readable, Writable } = require('node:stream');
const native = require('./native');
const { NativeStream } = require('./stream');
const { InvalidArgumentError } = require('./errors');
const { progressOf } = require('./progress');

const FILE_KEYS = new Set(['user', 'mode', 'parents', 'recursive', 'exclusive', 'append']);

/** fileOptions() - msb_file_opts from the SDK's options. */
function fileOptions(o = {}, extra = {}) {
  for (const k of Object.keys(o)) {
    if (!FILE_KEYS.has(k)) throw new InvalidArgumentError(`unknown file option '${k}' (one of ${[...FILE_KEYS].join(', ')})`);
  }
  return { ...o, ...extra };
}

/** A guest file, as stat or list describe it (fs.Stats's names). */
class FileInfo {
  constructor(n) {
    /** list: relative to the listed directory ("a/b" when recursive);
     * stat: the path's last element. */
    this.name = n.name;
    /** "file", "dir", "symlink", "fifo", "socket", "char", "block", "other" */
    this.type = n.type;
    /** Permission bits (0o7777). */
    this.mode = n.mode;
    this.uid = n.uid;
    this.gid = n.gid;
    this.nlink = n.nlink;
    this.size = n.size;
    this.mtimeMs = n.mtimeMs;
    this.mtime = new Date(n.mtimeMs);
    /** A symlink's target, "" for anything else. */
    this.linkTarget = n.link;
  }

  isFile() { return this.type === 'file'; }

  isDirectory() { return this.type === 'dir'; }

  isSymbolicLink() { return this.type === 'symlink'; }
}

function baseName(p) {
  const t = p.replace(/\/+$/, '');
  const i = t.lastIndexOf('/');
  return i >= 0 && t.length > 1 ? t.slice(i + 1) : t || p;
}

/** A guest file read as a Node Readable. */
class GuestReadStream extends Readable {
  constructor(files, path, opts) {
    super({ highWaterMark: 1 << 20 });
    this._files = files;
    this.path = path;
    this._opts = opts;
    /** The file's size, once it has been read to its end. */
    this.bytesRead = 0;
  }

  _construct(cb) {
    this._files._open('read', this.path, this._opts).then((h) => {
      this._ns = new NativeStream(h, native.fileNext, (ev) => this._event(ev), (err) => this.destroy(err));
      this._ns.start();
      cb();
    }, cb);
  }

  _event(ev) {
    if (ev.type === 'data') {
      this.bytesRead += ev.data.length;
      if (!this.push(ev.data)) this._ns.pause();
    } else if (ev.type === 'done') {
      this._ns.finish();
      this._ns.close('the read is over');
      this.push(null);
    }
  }

  _read() {
    if (this._ns) this._ns.resume();
  }

  _destroy(err, cb) {
    if (this._ns) this._ns.close('the read stream was destroyed');
    cb(err);
  }
}

/** A guest file written as a Node Writable; 'finish' once the guest has
 * it all. */
class GuestWriteStream extends Writable {
  constructor(files, path, opts) {
    super({ highWaterMark: 1 << 20 });
    this._files = files;
    this.path = path;
    this._opts = opts;
    this._err = null;
    this._done = null;
    this.bytesWritten = 0;
  }

  _construct(cb) {
    this._files._open('write', this.path, this._opts).then((h) => {
      this._ns = new NativeStream(h, native.fileNext, (ev) => this._event(ev), (err) => this._fail(err));
      this._ns.start(); // an early error (no such directory, no space) comes as an event
      cb();
    }, cb);
  }

  _event(ev) {
    if (ev.type === 'done') {
      this._ns.finish();
      this._ns.close('the write is over');
      if (this._done) this._done();
    }
  }

  _fail(err) {
    this._err = this._err || err;
    if (this._done) this._done();
  }

  _write(chunk, _enc, cb) {
    if (this._err) {
      cb(this._err);
      return;
    }
    this._ns.write(chunk, native.fileWrite).then(() => {
      this.bytesWritten += chunk.length;
      cb(this._err);
    }, (e) => cb(this._err || e));
  }

  _final(cb) {
    if (this._err) {
      cb(this._err);
      return;
    }
    new Promise((resolve) => {
      this._done = resolve;
      this._ns.call(native.fileCloseWrite).catch((e) => this._fail(e));
      if (this._ns.closed) resolve();
    }).then(() => cb(this._err));
  }

  _destroy(err, cb) {
    if (this._ns) this._ns.close('the write stream was destroyed');
    cb(err);
  }
}

/** A sandbox's files: `sb.fs`. */
class Files {
  constructor(sandbox) {
    this._sb = sandbox;
  }

  async _open(op, path, opts) {
    const h = await this._sb._handle(`${op} ${path}`);
    return native.fileOpen(h, op, path, fileOptions(opts));
  }

  async _call(fn, ...args) {
    const h = await this._sb._handle('files');
    return fn(h, ...args);
  }

  /** read() - the whole file's bytes. */
  async read(path, opts = {}) {
    const parts = [];
    for await (const chunk of this.createReadStream(path, opts)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** readText() - the whole file as UTF-8 text. */
  async readText(path, opts = {}) {
    return (await this.read(path, opts)).toString('utf8');
  }

  /**
   * write() - @data (text, bytes, or a Readable or (async) iterable of
   * them, streamed in bounded memory) as the file @path; the file is
   * replaced unless `append`. Resolves with the bytes written.
   */
  async write(path, data, opts = {}) {
    const w = this.createWriteStream(path, opts);
    const done = new Promise((resolve, reject) => {
      w.on('finish', resolve);
      w.on('error', reject);
    });
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) {
        w.end(data);
      } else if (data && (typeof data[Symbol.asyncIterator] === 'function' || typeof data[Symbol.iterator] === 'function')) {
        for await (const chunk of data) {
          if (!w.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
            await new Promise((resolve) => {
              const go = () => { w.off('drain', go); w.off('close', go); resolve(); };
              w.on('drain', go);
              w.on('close', go);
            });
          }
          if (w.destroyed) break;
        }
        w.end();
      } else {
        throw new InvalidArgumentError('data is a string, a Uint8Array, or a Readable or iterable of them');
      }
    } catch (e) {
      w.destroy(e);
    }
    await done;
    return w.bytesWritten;
  }

  /** createReadStream() - the file as a Readable, in bounded memory. */
  createReadStream(path, opts = {}) {
    fileOptions(opts);
    return new GuestReadStream(this, path, opts);
  }

  /** createWriteStream() - a Writable into the file (`mode`, `parents`,
   * `append`, `exclusive`, `user`). */
  createWriteStream(path, opts = {}) {
    fileOptions(opts);
    return new GuestWriteStream(this, path, opts);
  }

  /** list() - a directory's entries sorted by name (`recursive`: the tree). */
  async list(path, opts = {}) {
    const entries = await this._call(native.fileList, path, fileOptions(opts));
    return entries.map((e) => new FileInfo(e));
  }

  /** stat() - @path, following a final symlink. */
  async stat(path, opts = {}) {
    const fi = await this._call(native.fileStat, path, fileOptions(opts));
    if (!fi.name) fi.name = baseName(path);
    return new FileInfo(fi);
  }

  /** lstat() - @path itself when it is a symlink. */
  async lstat(path, opts = {}) {
    const fi = await this._call(native.fileStat, path, fileOptions(opts, { nofollow: true }));
    if (!fi.name) fi.name = baseName(path);
    return new FileInfo(fi);
  }

  /** exists() - whether @path exists (a dangling symlink does not). */
  async exists(path, opts = {}) {
    return this._call(native.fileExists, path, fileOptions(opts));
  }

  /** mkdir() - a directory (`parents`: and its missing parents, an existing
   * one being fine; `exclusive`: refuse an existing one; `mode`). */
  async mkdir(path, opts = {}) {
    await this._call(native.fileMkdir, path, fileOptions(opts));
  }

  /** remove() - a file, symlink or empty directory (`recursive`: a tree). */
  async remove(path, opts = {}) {
    await this._call(native.fileRemove, path, fileOptions(opts));
  }

  /** rename() - @from to @to, replacing @to unless `exclusive`. */
  async rename(from, to, opts = {}) {
    await this._call(native.fileRename, from, to, fileOptions(opts));
  }

  /** symlink() - make @path a symlink pointing at @target. */
  async symlink(target, path, opts = {}) {
    await this._call(native.fileSymlink, target, path, fileOptions(opts));
  }

  /** copyIn() - a host file, directory or symlink into the guest, with
   * `docker cp`'s rules (msb cp); `progress` is called as each file's
   * bytes move ({ path, done, total }, path the guest's: progress.js). */
  async copyIn(hostPath, guestPath, { progress, ...opts } = {}) {
    const report = progressOf('copyIn', progress);
    await this._call(native.copyIn, hostPath, guestPath, fileOptions(opts), report);
  }

  /** copyOut() - a guest file, directory or symlink to the host, with
   * copyIn's rules; names that would land outside @hostPath are refused. */
  async copyOut(guestPath, hostPath, { progress, ...opts } = {}) {
    const report = progressOf('copyOut', progress);
    await this._call(native.copyOut, guestPath, hostPath, fileOptions(opts), report);
  }
}

module.exports = { Files, FileInfo };
