// SPDX-License-Identifier: Apache-2.0
// sandbox.js - sandboxes, snapshots and images
//
// A Sandbox is a handle on a microVM owned by a supervisor process of its
// own (no daemon). One made here (create, restore) is removed by close()
// unless `keep`, so `await using sb = await Sandbox.create(...)` leaves
// nothing behind; one got by name is only let go.
'use strict';

const native = require('./native');
const { sandboxConfig, restoreConfig } = require('./config');
const { startProcess, argvOf, envList } = require('./process');
const { Files } = require('./files');
const { EventStream, EventSubscription, emit } = require('./events');
const { pluginsOf } = require('./hooks');
const { HookServer } = require('./plugin');
const { progressOf } = require('./progress');

/** The hook servers of sandboxes made here (their JS hooks), by name:
 * each lives until its sandbox's handle is closed or removed, or this
 * process ends (its hooks' calls are then denied: fail closed). */
const hookServers = new Map();

function dropHooks(name) {
  const s = hookServers.get(name);
  if (s) {
    hookServers.delete(name);
    s.close();
  }
}

/** createNative() - the create call, with its plugins and a hook server
 * for its JS hooks listening first. */
async function createNative(name, cfg, options) {
  const plugins = pluginsOf(options);
  if (!plugins) return native.sandboxCreate(cfg);
  let server = null;
  const spec = { builtins: plugins.builtins, processes: plugins.processes, sockets: [],
    timeoutMs: plugins.timeoutMs, restarts: plugins.restarts };
  if (plugins.hooks) {
    server = await new HookServer(plugins.hooks).listen();
    spec.sockets.push(server.path);
  }
  try {
    const h = await native.sandboxCreate(cfg, spec);
    if (server) {
      dropHooks(name);
      hookServers.set(name, server);
    }
    return h;
  } catch (e) {
    if (server) server.close();
    throw e;
  }
}
const {
  AlreadyInStateError, BootFailedError, ClosedError, InvalidArgumentError, NotFoundError,
} = require('./errors');

/** How long stop() waits for the guest to power off before killing it. */
const STOP_TIMEOUT = 10000;

function abortReason(signal) {
  return signal.reason !== undefined ? signal.reason :
    new DOMException('The operation was aborted', 'AbortError');
}

/**
 * booting() - a boot (create, start, restore) that an AbortSignal may stop
 * waiting for: the call rejects at once, and a sandbox it then makes is
 * removed when @owned, as its handle would have been; so is one whose boot
 * then fails (its record, kept for a caller to read, has no reader).
 */
async function booting(promise, signal, name, owned) {
  if (!signal) return promise;
  const removeLater = () => {
    // Its hooks (a server of this process) go with it.
    const remove = () => owned && native.sandboxRemove(name, true).finally(() => dropHooks(name));
    // Only a failed boot made a record: any other failure (a name taken,
    // bad input) leaves the name to whoever has it.
    promise.then(remove, (e) => e instanceof BootFailedError && remove()).catch(() => {});
  };
  if (signal.aborted) {
    removeLater();
    throw abortReason(signal);
  }
  let onAbort;
  const aborted = new Promise((_, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } catch (e) {
    if (signal.aborted) removeLater();
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** A sandbox's record (msb_sandbox_info). */
class SandboxInfo {
  constructor(n) {
    this.name = n.name;
    this.image = n.image;
    /** created, starting, running, stopping, stopped or failed */
    this.status = n.status;
    this.cpus = n.cpus;
    this.memoryMib = n.memoryMib;
    /** The supervisor's pid while it runs, else 0. */
    this.pid = n.pid;
    const date = (s) => (s ? new Date(s * 1000) : null);
    this.createdAt = date(n.createdAt);
    this.startedAt = date(n.startedAt);
    this.stoppedAt = date(n.stoppedAt);
    /** Why it failed, when it did. */
    this.error = n.error;
    /** Its detached command's state in its last run: none, running or ended. */
    this.commandState = n.cmdState;
    /** Once ended, the detached command's status. */
    this.commandExitCode = n.cmdExitCode;
    /** The snapshot it was restored from, or "". */
    this.fromSnapshot = n.fromSnapshot;
  }

  /** A supervisor owns it (starting, running or stopping). */
  get running() {
    return ['starting', 'running', 'stopping'].includes(this.status);
  }
}

/** What a sandbox uses (msb stats; msb_stats). */
class Metrics {
  constructor(n) {
    Object.assign(this, n);
  }
}

class Sandbox {
  /** @internal use Sandbox.create, Sandbox.get or Snapshot.restore */
  constructor(name, handle, owned) {
    this.name = name;
    this._h = handle;
    this._owned = owned;
    this._closed = false;
    /** Milliseconds from the create (or restore) call to the guest's
     * ready report; 0 for a sandbox got by name. */
    this.bootMs = handle ? native.sandboxBootMs(handle) : 0;
    /** The sandbox's files. */
    this.fs = new Files(this);
  }

  /**
   * create() - make the sandbox @name (1-63 of [a-zA-Z0-9_.-], starting
   * with a letter or digit) and boot it; resolves once its guest runs
   * commands. Without `image`, the built-in "default" image; a missing
   * image is pulled first.
   */
  static async create(name, options = {}) {
    const cfg = sandboxConfig(name, options);
    const h = await booting(createNative(name, cfg, options), options.signal, name, !options.keep);
    const sb = new Sandbox(name, h, !options.keep);
    if (options.sync) {
      try {
        await native.sandboxSetSync(name, true);
      } catch (e) {
        if (!options.keep) await native.sandboxRemove(name, true).catch(() => {});
        throw e;
      }
    }
    return sb;
  }

  /** get() - a handle on the existing sandbox @name, running or not
   * (NotFoundError if there is none); its close() only lets it go. */
  static async get(name) {
    await native.sandboxInfo(name);
    return new Sandbox(name, null, false);
  }

  /** list() - every sandbox, with the truth about supervisors that died. */
  static async list() {
    return (await native.sandboxList()).map((n) => new SandboxInfo(n));
  }

  /** metricsAll() - every running sandbox's numbers (`all`: every one's). */
  static async metricsAll(all = false) {
    return (await native.statsList(!!all)).map((n) => new Metrics(n));
  }

  /**
   * pull() - a pushed sandbox brought here as a stopped sandbox with the
   * same files (docs/sync.md): @ref is a reference, or a bare name under
   * the remote. Options: `name` (default: the repository's last
   * component), `force` (replace a local sandbox changed since its last
   * sync), `trust` (keep settings that reach into this host: volumes,
   * secret sources...), `insecure`, `progress` (called with each report:
   * progress.js). Its handle's close() leaves it.
   */
  static async pull(ref, { name, force = false, trust = false, insecure = false, progress } = {}) {
    const report = progressOf('sandbox pull', progress);
    const info = await native.sandboxPull(ref, { name, force, trust, insecure }, report);
    const sb = new Sandbox(info.name, null, false);
    /** What the pull did (a SyncInfo). */
    sb.pulled = new SyncInfo(info);
    return sb;
  }

  /** currentRuntime() - inside a sandbox, the Runtime that starts peer
   * sandboxes beside it (runtime.js: no addon needed); outside one,
   * NotSupportedError ("not inside a microsandbox sandbox"). */
  static async currentRuntime() {
    return require('./runtime').currentRuntime();
  }

  _check(what) {
    if (this._closed) throw new ClosedError(`${what}: the handle on sandbox '${this.name}' was closed`);
  }

  /** The libmsb handle for commands and files, opened on first use. */
  async _handle(what) {
    this._check(what);
    if (!this._h) this._h = await native.sandboxOpen(this.name);
    return this._h;
  }

  // ---- lifecycle ----

  /** info() - the sandbox's record now. */
  async info() {
    return new SandboxInfo(await native.sandboxInfo(this.name));
  }

  /** inspect() - its full state (config, status, timings, paths), as
   * `msb inspect` prints it. */
  async inspect() {
    return JSON.parse(await native.sandboxInspect(this.name));
  }

  /** parent() - the sandbox that spawned this one from inside it (msb
   * start in its guest; msb ps's PARENT), or null for one the host made. */
  async parent() {
    return (await native.sandboxParent(this.name)) || null;
  }

  /** logPath() - the file with the guest's console and agent messages. */
  async logPath() {
    return native.sandboxLogsPath(this.name);
  }

  /** ports() - its published ports as bound (msb port). */
  async ports() {
    return native.sandboxPorts(this.name);
  }

  /** start() - boot the stopped (or failed) sandbox again with its disk as
   * it was; starting a running sandbox is no error. */
  async start() {
    this._check('start');
    try {
      this._h = await native.sandboxStart(this.name);
      this.bootMs = native.sandboxBootMs(this._h);
    } catch (e) {
      if (!(e instanceof AlreadyInStateError)) throw e;
    }
  }

  /** stop() - power the guest off: its processes get SIGTERM, and it is
   * killed after `timeout` ms (default 10 s). Its disk is kept. Stopping a
   * stopped sandbox is no error. A sandbox that syncs (`sync`) then pushes
   * itself, reporting to `progress`: resolves with that push's SyncInfo,
   * else null. */
  async stop({ timeout = STOP_TIMEOUT, progress } = {}) {
    this._check('stop');
    const report = progressOf('stop', progress);
    try {
      const r = await native.sandboxStopSync(this.name, Math.max(0, Math.floor(timeout / 1000)), report);
      return r.pushed ? new SyncInfo(r.pushed) : null;
    } catch (e) {
      if (!(e instanceof AlreadyInStateError)) throw e;
      return null;
    }
  }

  /** kill() - stop at once, without a grace period. */
  async kill() {
    return this.stop({ timeout: 0 });
  }

  /** remove() - delete the sandbox and its disk, killing it first if it
   * runs; the handle is closed with it. */
  async remove() {
    this._check('remove');
    await native.sandboxRemove(this.name, true);
    this._closed = true;
    this._h = null;
    dropHooks(this.name);
  }

  /** wait() - the detached command's exit status (`command`), or 0 once
   * the sandbox is no longer running. */
  async wait({ timeout = 0 } = {}) {
    return native.sandboxWait(this.name, timeout);
  }

  /** metrics() - what the sandbox uses now (CPU, memory, disk, network,
   * processes, uptime; waits up to about a second for the guest's part). */
  async metrics() {
    return new Metrics(await native.sandboxStats(this.name));
  }

  /**
   * close() - end the handle. A sandbox this handle made (create,
   * restore) is removed, running or not, unless `keep`; any other is left
   * as it is. Calls on a closed handle fail with ClosedError; closing
   * twice is fine.
   */
  async close() {
    if (this._closed) return;
    this._closed = true;
    this._h = null;
    if (this._owned) {
      try {
        await native.sandboxRemove(this.name, true);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
      dropHooks(this.name);
    }
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }

  // ---- commands ----

  /**
   * exec() - run @cmd and wait for it, capturing its output: a command
   * line (split into words as a shell splits them; nothing expanded) or
   * an argv. A non-zero exit is data in the result, unless `check`.
   */
  async exec(cmd, options = {}) {
    const argv = argvOf(cmd);
    const h = await this._handle(`exec ${argv[0] || ''}`);
    const p = await startProcess(h, argv, options, 'capture');
    return p.wait();
  }

  /** shell() - @script run by sh -c (pipes, redirections, variables),
   * waited for, its output captured. */
  async shell(script, options = {}) {
    return this.exec(['sh', '-c', script], options);
  }

  /** execStream() - start @cmd and return its Process once it runs, its
   * input and output left to the caller (`stdin: true` keeps stdin open). */
  async execStream(cmd, options = {}) {
    const argv = argvOf(cmd);
    const h = await this._handle(`exec ${argv[0] || ''}`);
    return startProcess(h, argv, options, 'chunks');
  }

  /** execDetached() - start @cmd in the background (msb exec -d): its
   * output goes to the sandbox's log; resolves with its pid. */
  async execDetached(cmd, { env, cwd, user, timeout } = {}) {
    const argv = argvOf(cmd);
    const h = await this._handle(`exec ${argv[0] || ''}`);
    return native.execDetach(h, argv, {
      env: envList(env, 'env'), workdir: cwd, user, timeoutMs: timeout,
    });
  }

  // ---- events ----

  /**
   * events() - the sandbox's events (docs/events.md) as an async
   * iterator of Event: its programs' (`msb event emit` inside), the
   * host's and its own ("msb.*"). @topic: one topic, "prefix.*", or
   * null for all. Options: `since` (-1, the default: only those to come;
   * 0 the oldest the sandbox keeps; or an event's seq), `follow` (go on
   * until the sandbox stops, the default; false: end at the last one
   * kept), `signal` (an AbortSignal that closes it).
   */
  events(topic = null, options = {}) {
    this._check('events');
    return new EventStream(this.name, topic, options);
  }

  /**
   * on() - call @fn (a function, or an async one, awaited before the
   * next) with each new event on @topic (null: all) until the sandbox
   * stops. Returns an EventSubscription: close() stops it, `done`
   * settles when it ends (rejecting with what @fn threw). Takes events()'s
   * options.
   */
  on(topic, fn, options = {}) {
    this._check('on');
    if (typeof fn !== 'function') throw new InvalidArgumentError('on() takes a topic and a function');
    return new EventSubscription(new EventStream(this.name, topic, options), fn);
  }

  /**
   * emit() - send an event to the sandbox's programs: `msb event wait
   * TOPIC` inside prints @data (any JSON value; null if none). Resolves
   * with its seq in the sandbox's log; NotRunningError if it does not run.
   */
  async emit(topic, data = null) {
    this._check('emit');
    return emit(this.name, topic, data);
  }

  // ---- snapshots and sync ----

  /** snapshot() - the sandbox saved as @name: a running one paused (not
   * stopped) while memory, CPU and disk are saved at one instant; a
   * stopped one, or one with volumes, gives a disk snapshot. */
  async snapshot(name) {
    this._check('snapshot');
    const info = await native.snapshotCreate(this.name, name);
    return new Snapshot(info.name);
  }

  /**
   * push() - the sandbox, running or stopped, as it is at one instant, to
   * a registry (docs/sync.md): to @ref (REGISTRY/REPO[:TAG], or a TAG of
   * its repository), else where it was last pushed or pulled, else
   * REMOTE/NAME:latest. Only chunks the registry lacks are sent.
   * ConflictError when another push took the tag since, unless `force`.
   * `progress` is called with each report (progress.js).
   */
  async push(ref, { force = false, insecure = false, progress } = {}) {
    this._check('push');
    if (ref !== undefined && typeof ref !== 'string') {
      throw new InvalidArgumentError('push takes a reference (a string), then options');
    }
    const report = progressOf('push', progress);
    return new SyncInfo(await native.sandboxPush(this.name, { ref, force, insecure }, report));
  }

  /** setSync() - with @on, the sandbox pushes itself whenever stop() stops
   * it (`sync` at create does the same). */
  async setSync(on = true) {
    this._check('sync');
    await native.sandboxSetSync(this.name, !!on);
  }
}

/** What a push or pull did (msb_sync_info). */
class SyncInfo {
  constructor(n) {
    Object.assign(this, n);
  }
}

/** getRemote() - where sandboxes go by default: $MSB_REMOTE, else the one
 * set (NotFoundError, saying how to set one, when there is none). */
async function getRemote() {
  return native.remoteGet();
}

/** setRemote() - keep @remote (REGISTRY[/NAMESPACE]) as where sandboxes
 * go; null forgets it. `insecure` allows plain http to a registry not on
 * loopback. */
async function setRemote(remote, { insecure = false } = {}) {
  await native.remoteSet(remote ?? '', !!insecure);
}

/** A named volume's record (msb_volume_info). */
class VolumeInfo {
  constructor(n) {
    Object.assign(this, n);
    this.createdAt = new Date(n.createdAt * 1000);
  }
}

/** createVolume() - a named volume, of at most `size` ("10G", or MiB;
 * default: no limit but the host's disk), for NamedVolume to mount. */
async function createVolume(name, { size } = {}) {
  const mib = size == null ? 0 : typeof size === 'number' ? size : native.parseMemory(String(size));
  return new VolumeInfo(await native.volumeCreate(name, mib));
}

/** getVolume() - a named volume's record (NotFoundError if none). */
async function getVolume(name) {
  return new VolumeInfo(await native.volumeInfo(name));
}

/** inspectVolume() - a named volume's record as `msb volume inspect`
 * prints it, parsed: name, size_mib, used_bytes, created_at, path,
 * project, used_by (the name of each sandbox that mounts it) and running
 * (how many of them run).
 * NotFoundError if none. */
async function inspectVolume(name) {
  return JSON.parse(await native.volumeInspect(name));
}

/** listVolumes() - every named volume, by name. */
async function listVolumes() {
  return (await native.volumeList()).map((n) => new VolumeInfo(n));
}

/** removeVolume() - delete it and its files; BusyError while a running
 * sandbox mounts it, or (unless `force`) a stopped one. */
async function removeVolume(name, { force = false } = {}) {
  await native.volumeRemove(name, !!force);
}

/** A snapshot's record (msb_snapshot_info). */
class SnapshotInfo {
  constructor(n) {
    Object.assign(this, n);
    this.createdAt = new Date(n.createdAt * 1000);
  }
}

/** A saved sandbox to restore (fork) from. */
class Snapshot {
  constructor(name) {
    this.name = name;
  }

  /** get() - the snapshot @name (NotFoundError if there is none). */
  static async get(name) {
    await native.snapshotInfo(name);
    return new Snapshot(name);
  }

  /** list() - every snapshot, oldest first. */
  static async list() {
    return (await native.snapshotList()).map((n) => new SnapshotInfo(n));
  }

  async info() {
    return new SnapshotInfo(await native.snapshotInfo(this.name));
  }

  /** inspect() - its record as `msb snapshot inspect` prints it, parsed:
   * its meta.json (kind, source, files...) with path, size_bytes and
   * used_by (the sandboxes restored from it). */
  async inspect() {
    return JSON.parse(await native.snapshotInspect(this.name));
  }

  /**
   * restore() - a new sandbox @name from the snapshot: for a full one a
   * copy of the machine going on where it was, for a disk one a fresh boot
   * of its disk. Takes env (restored processes read it from
   * /run/msb/env), cpus and memory (not for a full restore), diskOnly,
   * ephemeral, bootTimeout, keep and signal. A damaged snapshot is refused
   * (DamagedError). Like create's, the handle's close() removes
   * the sandbox unless `keep`.
   */
  async restore(name, options = {}) {
    const cfg = restoreConfig(name, options);
    const h = await booting(native.snapshotRestore(this.name, cfg), options.signal, name, !options.keep);
    return new Sandbox(name, h, !options.keep);
  }

  /** remove() - delete the snapshot; refused (BusyError) while sandboxes
   * restored from it exist, unless `force`. */
  async remove({ force = false } = {}) {
    await native.snapshotRemove(this.name, !!force);
  }

  /**
   * rename() - the snapshot becomes @newName (msb snapshot rename), its
   * files checked first as a restore checks them; this handle follows
   * it. Refused while sandboxes restored from it exist (BusyError: they
   * find it by name) and when @newName is taken (AlreadyExistsError).
   */
  async rename(newName) {
    if (typeof newName !== 'string') throw new InvalidArgumentError('rename takes the new name (a string)');
    await native.snapshotRename(this.name, newName);
    this.name = newName;
  }

  /**
   * push() - the snapshot to a registry (msb push SNAP; docs/sync.md) as
   * an artifact of its own: its disk, and for a full one its memory (the
   * pages the guest touched) and device state, checked against its
   * integrity record first (DamagedError). To @ref (REGISTRY/REPO[:TAG],
   * or a TAG; also `options.ref`), else where it was last pushed or
   * pulled, else REMOTE/NAME:latest. A snapshot never changes: a push to
   * where it already is sends nothing (`upToDate`); a tag holding
   * anything else is replaced only with `force` (ConflictError).
   * `progress` is called with each report (progress.js).
   */
  async push(ref, options = {}) {
    if (ref !== null && typeof ref === 'object') [ref, options] = [ref.ref, ref];
    if (ref != null && typeof ref !== 'string') {
      throw new InvalidArgumentError('push takes a reference (a string), then options');
    }
    checkKeys(options, PUSH_KEYS, 'snapshot push');
    const { force = false, insecure = false, progress } = options;
    const report = progressOf('snapshot push', progress);
    return new SyncInfo(await native.snapshotPush(this.name, { ref: ref ?? undefined, force, insecure }, report));
  }

  /**
   * pull() - a pushed snapshot brought here (msb pull REF): @ref is a
   * reference, or a bare name under the remote. Every chunk is verified
   * and its image pulled; restore() then resumes its machine here (a full
   * one needs the QEMU version that took it). Options: `name` (default:
   * the repository's last component), `force` (replace a snapshot of
   * that name: AlreadyExistsError otherwise; never while sandboxes
   * restored from it exist, BusyError), `insecure`, `progress` (called
   * with each report: progress.js). WrongKindError when @ref holds a
   * sandbox or an image. `pulled` is what it did.
   */
  static async pull(ref, options = {}) {
    if (typeof ref !== 'string') throw new InvalidArgumentError('a snapshot pull takes a reference (a string)');
    checkKeys(options, PULL_KEYS, 'snapshot pull');
    const { name, force = false, insecure = false, progress } = options;
    const report = progressOf('snapshot pull', progress);
    const info = await native.snapshotPull(ref, { name, force, insecure }, report);
    const snap = new Snapshot(info.name);
    /** What the pull did (a SyncInfo). */
    snap.pulled = new SyncInfo(info);
    return snap;
  }
}

const PUSH_KEYS = new Set(['ref', 'force', 'insecure', 'progress']);
const PULL_KEYS = new Set(['name', 'force', 'insecure', 'progress']);
const LOGIN_KEYS = new Set(['insecure']);

function checkKeys(o, allowed, what) {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) {
      throw new InvalidArgumentError(`unknown ${what} option '${k}' (one of ${[...allowed].join(', ')})`);
    }
  }
}

// ---- images -------------------------------------------------------------------

class ImageInfo {
  constructor(n) {
    Object.assign(this, n);
    this.pulledAt = n.pulledAt ? new Date(n.pulledAt * 1000) : null;
  }
}

/** pullImage() - fetch @ref (linux/amd64) from its registry and convert
 * its layers; create() pulls a missing image by itself. `progress` is
 * called with each report (progress.js). */
async function pullImage(ref, { insecure = false, progress } = {}) {
  if (typeof ref !== 'string') throw new InvalidArgumentError('an image reference is a string');
  const report = progressOf('image pull', progress);
  return new ImageInfo(await native.imagePull(ref, !!insecure, report));
}

/** loadImage() - an image without a registry: an OCI layout (directory or
 * tar) or a `docker save` archive, stored as `tag` (default: the
 * archive's name); `progress` as pullImage's. */
async function loadImage(path, { tag, progress } = {}) {
  const report = progressOf('image load', progress);
  return new ImageInfo(await native.imageLoad(path, tag, report));
}

/** listImages() - the built-in "default" image, then every other. */
async function listImages() {
  return (await native.imageList()).map((n) => new ImageInfo(n));
}

/** inspectImage() - the stored image @ref's record as `msb image inspect`
 * prints it, parsed: reference, digests, layers and its OCI config (Env,
 * Cmd, Entrypoint, WorkingDir, User). NotFoundError when it is not here. */
async function inspectImage(ref) {
  return JSON.parse(await native.imageInspect(ref));
}

/** removeImage() - forget @ref and delete what nothing else uses. */
async function removeImage(ref) {
  await native.imageRemove(ref);
}

/**
 * saveImage() - @ref as a tar at @path (msb save -o PATH): an OCI image
 * layout that loadImage (or any OCI tool) reads; `format: 'docker'`
 * also writes the manifest.json `docker load` reads.
 */
async function saveImage(ref, path, { format = 'oci' } = {}) {
  if (typeof ref !== 'string' || typeof path !== 'string') {
    throw new InvalidArgumentError('saveImage takes an image reference and a path (strings)');
  }
  if (format !== 'oci' && format !== 'docker') {
    throw new InvalidArgumentError(`invalid format ${JSON.stringify(format)}: use 'oci' or 'docker'`);
  }
  await native.imageSave(ref, path, format === 'docker');
}

/** pruneImages() - delete the blobs and layers no image and no sandbox
 * uses, and debris of interrupted pulls (msb image prune): resolves with
 * `{ freedBytes, files }`. */
async function pruneImages() {
  return native.imagePrune();
}

/** registryLogin() - check @user's @password with @registry (a host),
 * as `docker login` and `msb registry login` do, then keep them in
 * $MSB_HOME/auth.json (0600); pulls, pushes and plugin publishes to it
 * then send them. Credentials it refuses reject with a
 * PermissionDeniedError ("HOST refused the login of 'USER' ...; nothing
 * was stored"), a registry that cannot be reached with a FileError whose
 * code is 'EHOSTUNREACH'; either way nothing is stored and an earlier
 * login stays. `insecure`: plain http to a registry not on loopback, as
 * pullImage's. */
async function registryLogin(registry, user, password, options = {}) {
  for (const [what, v] of [['registry', registry], ['user', user], ['password', password]]) {
    if (typeof v !== 'string') throw new InvalidArgumentError(`registryLogin: the ${what} is a string`);
  }
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('registryLogin: the options are an object');
  }
  checkKeys(options, LOGIN_KEYS, 'registry login');
  await native.registryLogin(registry, user, password, !!options.insecure);
}

/** registryLogout() - forget the credentials for @registry
 * (NotFoundError when there are none). */
async function registryLogout(registry) {
  if (typeof registry !== 'string') throw new InvalidArgumentError('registryLogout: the registry is a string');
  await native.registryLogout(registry);
}

module.exports = {
  Sandbox, SandboxInfo, Metrics, Snapshot, SnapshotInfo, ImageInfo, SyncInfo,
  pullImage, loadImage, listImages, inspectImage, removeImage, saveImage, pruneImages, registryLogin, registryLogout,
  getRemote, setRemote,
  VolumeInfo, createVolume, getVolume, inspectVolume, listVolumes, removeVolume,
};
