// SPDX-License-Identifier: Apache-2.0
// config.js - what a sandbox is made with, as the seeds write it
//
//   Sandbox.create("worker", { image: "node:20",
//     network: { allow: ["api.openai.com"], blockCidr: ["10.0.0.0/8"] },
//     volumes: { "/data": "./data", "/cache": new MemFs() },
//     secrets: { OPENAI_API_KEY: [key, "api.openai.com"] } })
//
// becomes the plain object native/config.c copies into libmsb's
// msb_sandbox_config. Nothing is decided here: libmsb checks every value
// and says what is wrong. Hooks written in JS (a FileSystemBackend's
// overridden operations too) and plugins are lib/hooks.js's.
'use strict';

const native = require('./native');
const { InvalidArgumentError } = require('./errors');
const { envList } = require('./process');

// ---- volumes ---------------------------------------------------------------

/** A host directory passed through (`"/data": "./data"` is
 * `new HostDir("./data")`); `readonly` is enforced by the host,
 * `overlayMib` keeps the guest's changes in host RAM, `direct` bypasses
 * the guest's page cache; `cache` ('auto', 'always' or 'never', as
 * `-v DIR:/p:cache=`) is what the guest may keep of names and attributes,
 * `cacheTimeout` for how many seconds instead of the mode's
 * (docs/filesystems.md). */
class HostDir {
  constructor(path, { readonly = false, direct = false, overlayMib = 0, cache, cacheTimeout } = {}) {
    this.path = path;
    this.readonly = readonly;
    this.direct = direct;
    this.overlayMib = overlayMib;
    this.cache = cache;
    this.cacheTimeout = cacheTimeout;
  }
}

const CACHE_MODES = ['auto', 'always', 'never'];

/** A HostDir's cache mode and timeout (seconds) as msb_volume's cache
 * and cache_timeout_ms; a mode or timeout libmsb would not take is
 * refused here, naming the option. */
function cacheOf(guestPath, spec) {
  const out = {};
  if (spec.cache != null) {
    if (!CACHE_MODES.includes(spec.cache)) {
      throw new InvalidArgumentError(
        `volume ${guestPath}: invalid cache mode ${JSON.stringify(spec.cache)}: use 'auto', 'always' or 'never'`);
    }
    out.cache = spec.cache;
  }
  if (spec.cacheTimeout != null) {
    const t = spec.cacheTimeout;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 86400) {
      throw new InvalidArgumentError(
        `volume ${guestPath}: invalid cacheTimeout ${JSON.stringify(t)}: use a number of seconds from 0 to 86400`);
    }
    out.cacheTimeoutMs = Math.round(t * 1000);
  }
  return out;
}

/** A filesystem in host RAM, gone with the sandbox (`sizeMib`, default 64). */
class MemFs {
  constructor({ sizeMib = 0, readonly = false } = {}) {
    this.sizeMib = sizeMib;
    this.readonly = readonly;
  }
}

/** A named volume (createVolume, msb volume create): a directory the
 * host keeps apart from any sandbox, mounted by as many as like at once;
 * what one writes, the others see. */
class NamedVolume {
  constructor(name, { readonly = false, direct = false } = {}) {
    this.name = name;
    this.readonly = readonly;
    this.direct = direct;
  }
}

/** A filesystem served by a shared object implementing msb_fs.h
 * (examples/auditfs.c), given `arg`, optionally over a host directory
 * `dir` it may wrap. */
class PluginFs {
  constructor(path, { arg, dir, readonly = false } = {}) {
    this.path = path;
    this.arg = arg;
    this.dir = dir;
    this.readonly = readonly;
  }
}

/** Operations a FileSystemBackend may override (docs/plugins.md). */
const FS_OPS = Object.freeze(['lookup', 'getattr', 'setattr', 'readlink', 'symlink', 'mknod',
  'mkdir', 'unlink', 'rmdir', 'rename', 'link', 'open', 'read', 'write', 'statfs', 'release',
  'fsync', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'flush', 'opendir', 'readdir',
  'releasedir', 'fsyncdir', 'getlk', 'setlk', 'access', 'create', 'fallocate', 'lseek',
  'copy_file_range', 'syncfs']);

/**
 * A filesystem written in JS (the seeds' AuditFs): extend it and override
 * the operations to watch or refuse (`open(ctx, ino, flags)`, `mkdir(ctx,
 * parent, call)`...), reaching the backend underneath through
 * `this.inner`. Only the overridden operations are asked of this program,
 * by the sandbox's supervisor, before its native backend runs them; every
 * other one (reads and writes too, unless overridden) stays native. An
 * operation that returns goes on; one that throws is refused with the
 * error's errno (`code: 'EACCES'`, or `errno`), EACCES by default.
 */
class FileSystemBackend {
  constructor(inner) {
    if (inner == null) {
      throw new InvalidArgumentError(
        `${new.target.name} needs the backend it wraps: a host directory ("./data"), ` +
        'HostDir, MemFs, or another FileSystemBackend');
    }
    /** The backend this one wraps: a PassthroughFs for a path, a
     * NativeFs for a HostDir, NamedVolume or MemFs. */
    this.inner = typeof inner === 'string' ? new PassthroughFs(inner) :
      inner instanceof FileSystemBackend ? inner : NativeFs.of(inner);
  }

  /** overridden() - the operations this class answers itself. */
  overridden() {
    return FS_OPS.filter((op) => typeof this[op] === 'function' &&
      this[op] !== FileSystemBackend.prototype[op]);
  }
}

// Every operation, not overridden, goes on to the backend underneath;
// a native one (a path, HostDir, MemFs) lets the supervisor run it.
for (const op of FS_OPS) {
  FileSystemBackend.prototype[op] = function passOn(...args) {
    const next = this.inner;
    return next instanceof FileSystemBackend ? next[op](...args) : undefined;
  };
}

/** A native backend (a HostDir, NamedVolume or MemFs) as a
 * FileSystemBackend: its operations let the supervisor's own run them. */
class NativeFs extends FileSystemBackend {
  static of(spec) {
    if (!(spec instanceof HostDir) && !(spec instanceof NamedVolume) && !(spec instanceof MemFs)) {
      throw new InvalidArgumentError(
        'a FileSystemBackend wraps a host path, HostDir, NamedVolume, MemFs or another FileSystemBackend');
    }
    const n = Object.create(NativeFs.prototype);
    n.inner = spec;
    return n;
  }
}

/** A host directory as a FileSystemBackend (the seeds' `inner`): as a
 * volume by itself it is a HostDir; its operations let the supervisor's
 * passthrough run them. */
class PassthroughFs extends FileSystemBackend {
  constructor(path) {
    super(new HostDir(path));
    this.path = path;
  }
}

/** nativeOf() - the native backend under a FileSystemBackend. */
function nativeOf(spec) {
  while (spec instanceof FileSystemBackend) spec = spec.inner;
  return spec;
}

function volumeOf(guestPath, spec) {
  const v = { guestPath };
  if (typeof spec === 'string') spec = new HostDir(spec);
  if (spec instanceof PassthroughFs && spec.constructor === PassthroughFs) spec = new HostDir(spec.path);
  if (spec instanceof HostDir) {
    return {
      ...v, kind: 'host', source: spec.path, readonly: spec.readonly, directIo: spec.direct,
      overlayMib: spec.overlayMib, ...cacheOf(guestPath, spec),
    };
  }
  if (spec instanceof NamedVolume) {
    return { ...v, kind: 'named', source: spec.name, readonly: spec.readonly, directIo: spec.direct };
  }
  if (spec instanceof MemFs) return { ...v, kind: 'memory', sizeMib: spec.sizeMib, readonly: spec.readonly };
  if (spec instanceof PluginFs) {
    return { ...v, kind: 'plugin', source: spec.path, arg: spec.arg, dir: spec.dir, readonly: spec.readonly };
  }
  if (spec instanceof FileSystemBackend) {
    // The native backend underneath is the volume; the overridden
    // operations are hooks (lib/hooks.js).
    return volumeOf(guestPath, nativeOf(spec));
  }
  throw new InvalidArgumentError(
    `invalid volume at ${guestPath}: use a host path, HostDir, NamedVolume, MemFs or PluginFs`);
}

// ---- secrets ---------------------------------------------------------------

function joined(v) {
  return v == null ? undefined : Array.isArray(v) ? v.join(',') : String(v);
}

/** A secret the guest sees only as a placeholder; its value is swapped in
 * on the host, only in verified TLS to `hosts` (docs/secrets.md).
 * `{ KEY: [value, "api.example.com"] }` is `Secret.value(value, ...)`;
 * fromEnv and fromFile read the value again at every start, so such a
 * sandbox can be stopped and started. */
class Secret {
  constructor(source, ref, hosts, inject) {
    this.source = source;
    this.ref = ref;
    this.hosts = hosts;
    this.inject = inject;
  }

  static value(value, hosts, { inject } = {}) {
    return new Secret('value', value, hosts, inject);
  }

  static fromEnv(variable, hosts, { inject } = {}) {
    return new Secret('env', variable, hosts, inject);
  }

  static fromFile(path, hosts, { inject } = {}) {
    return new Secret('file', path, hosts, inject);
  }
}

function secretOf(env, spec) {
  if (Array.isArray(spec) && (spec.length === 2 || spec.length === 3)) {
    spec = Secret.value(spec[0], spec[1], { inject: spec[2] });
  }
  if (!(spec instanceof Secret)) {
    throw new InvalidArgumentError(
      `invalid secret ${env}: use [value, hosts] or Secret.fromEnv(...) / Secret.fromFile(...)`);
  }
  return { env, source: spec.source, ref: spec.ref, hosts: joined(spec.hosts), inject: joined(spec.inject) };
}

// ---- network ---------------------------------------------------------------

/** What a DNS hook answers: ALLOW, DENY (NXDOMAIN), or answer(addrs)
 * (the guest gets these addresses, of the asked type's family). */
const DnsAction = Object.freeze({
  ALLOW: 'allow',
  DENY: 'deny',
  answer: (addrs) => ({ action: 'answer', addrs: [...addrs].map(String) }),
});

/** An HTTP hook's verdict: forward the request (as it is, or changed). */
function forward(req) {
  return { action: 'forward', request: req };
}

/** An HTTP hook's verdict: refuse the request with @reason. */
function block(reason) {
  return { action: 'block', reason };
}

const NET_KEYS = new Set(['allow', 'allowCidr', 'blockCidr', 'denyAll', 'dns', 'ports',
  'plugin', 'allowHost', 'onDns', 'onConnect', 'onHttp', 'onHttpResponse', 'onHttpResponseHead']);

function portOf(p) {
  if (typeof p === 'string') return p;
  if (typeof p === 'number') return String(p);
  if (Array.isArray(p) && (p.length === 2 || p.length === 3)) return p.join(':');
  throw new InvalidArgumentError(`invalid port ${JSON.stringify(p)}: use "HOST:GUEST" or [hostPort, guestPort]`);
}

function strings(v, what) {
  if (v == null) return undefined;
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what} must be an array of strings`);
  return v.map(String);
}

function netOf(n, ports) {
  n = n || {};
  for (const k of Object.keys(n)) {
    if (!NET_KEYS.has(k)) throw new InvalidArgumentError(`unknown network option '${k}' (one of ${[...NET_KEYS].join(', ')})`);
  }
  const all = [...(n.ports || []), ...(ports || [])];
  return {
    denyAll: !!n.denyAll,
    allow: strings(n.allow, 'network.allow'),
    allowCidr: strings(n.allowCidr, 'network.allowCidr'),
    blockCidr: strings(n.blockCidr, 'network.blockCidr'),
    dnsNameserver: n.dns,
    ports: all.length ? all.map(portOf) : undefined,
    plugin: n.plugin,
    allowHost: n.allowHost == null ? undefined : n.allowHost.map(String),
  };
}

// ---- the whole ---------------------------------------------------------------

/** MiB from 512, "512M", "1G", "1.5GiB" (msb_parse_memory). */
function mib(v, what) {
  if (v == null) return undefined;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(`invalid ${what} ${v}: MiB, a whole number above 0`);
    return v;
  }
  return native.parseMemory(String(v));
}

const CREATE_KEYS = new Set(['image', 'cpus', 'memory', 'disk', 'env', 'workdir', 'user',
  'volumes', 'network', 'ports', 'secrets', 'onSecretViolation', 'tlsBypass', 'tlsUpstreamCa',
  'tlsUpstreamCaFile', 'kernel', 'bootTimeout', 'command', 'entrypoint', 'imageCommand',
  'ephemeral', 'keep', 'sync', 'plugins', 'pluginProcesses', 'pluginTimeout', 'pluginRestarts', 'onExec', 'onExecExit',
  'onLifecycle', 'signal', 'allowSpawn', 'spawnImages', 'spawnCpus', 'spawnMemory',
  'spawnTotalMemory']);

const SPAWN_SHAPE = ['spawnImages', 'spawnCpus', 'spawnMemory', 'spawnTotalMemory'];

/**
 * spawnPolicy() - what the sandbox's programs may start beside it (msb
 * run --allow-spawn N and its --spawn-* options; docs/spawn.md) as
 * native/calls.c's spawn_of takes it; undefined without `allowSpawn`.
 * A policy libmsb would not take is refused here, before anything is
 * made, in msb run's words.
 */
function spawnPolicy(o) {
  if (o.allowSpawn == null) {
    const shaped = SPAWN_SHAPE.find((k) => o[k] != null);
    if (shaped) {
      throw new InvalidArgumentError(
        `${shaped} shapes what allowSpawn: N allows: give allowSpawn too`);
    }
    return undefined;
  }
  const n = o.allowSpawn;
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new InvalidArgumentError(`allowSpawn ${JSON.stringify(n)}: give 1 to 64 live peers`);
  }
  const images = strings(o.spawnImages, 'spawnImages') || [];
  if (images.length > 32) {
    throw new InvalidArgumentError(`spawnImages: ${images.length} images: at most 32`);
  }
  const cpus = o.spawnCpus ?? 0;
  if (!Number.isInteger(cpus) || cpus < 0 || cpus > 64) {
    throw new InvalidArgumentError(
      `spawnCpus ${JSON.stringify(cpus)}: give 1 to 64 (0: the sandbox's own)`);
  }
  return {
    max: n,
    images,
    cpus,
    memoryMib: mib(o.spawnMemory, 'spawnMemory') ?? 0,
    totalMemoryMib: mib(o.spawnTotalMemory, 'spawnTotalMemory') ?? 0,
  };
}

function checkKeys(o, allowed, what) {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) throw new InvalidArgumentError(`unknown ${what} option '${k}' (one of ${[...allowed].join(', ')})`);
  }
}

/**
 * sandboxConfig() - @name and @o (SandboxOptions) as native/config.c
 * takes them; throws for what cannot be (a filesystem in JS, a bad
 * shape). Plugins and hooks are lib/hooks.js's (pluginsOf).
 */
function sandboxConfig(name, o = {}) {
  if (typeof name !== 'string') throw new InvalidArgumentError('a sandbox needs a name (a string)');
  checkKeys(o, CREATE_KEYS, 'sandbox');
  const c = {
    name,
    image: o.image,
    cpus: o.cpus,
    memoryMib: mib(o.memory, 'memory'),
    diskMib: mib(o.disk, 'disk'),
    env: envList(o.env, 'env'),
    workdir: o.workdir,
    user: o.user,
    kernel: o.kernel,
    bootTimeoutMs: o.bootTimeout,
    ephemeral: !!o.ephemeral,
    imageCmd: !!o.imageCommand,
    net: netOf(o.network, o.ports),
    onSecretViolation: o.onSecretViolation,
    tlsBypass: strings(o.tlsBypass, 'tlsBypass'),
    spawn: spawnPolicy(o),
  };
  if (o.command != null) {
    const { argvOf } = require('./process');
    c.cmd = argvOf(o.command);
  }
  if (o.entrypoint != null) c.entrypoint = strings(o.entrypoint, 'entrypoint');
  if (o.volumes) {
    c.volumes = Object.entries(o.volumes).map(([p, spec]) => volumeOf(p, spec));
  }
  if (o.secrets) c.secrets = Object.entries(o.secrets).map(([k, s]) => secretOf(k, s));
  const cas = [...(strings(o.tlsUpstreamCa, 'tlsUpstreamCa') || [])];
  for (const path of strings(o.tlsUpstreamCaFile, 'tlsUpstreamCaFile') || []) cas.push(native.tlsCaRead(path));
  if (cas.length) c.tlsUpstreamCa = cas;
  return c;
}

const RESTORE_KEYS = new Set(['env', 'cpus', 'memory', 'diskOnly', 'ephemeral', 'bootTimeout', 'keep', 'signal']);

/** restoreConfig() - a restore's options (msb_restore_opts). */
function restoreConfig(name, o = {}) {
  if (typeof name !== 'string') throw new InvalidArgumentError('a restored sandbox needs a name (a string)');
  for (const k of Object.keys(o)) {
    if (!RESTORE_KEYS.has(k)) {
      throw new InvalidArgumentError(
        `'${k}' does not apply to a restore (it takes ${[...RESTORE_KEYS].join(', ')})`);
    }
  }
  return {
    name,
    env: envList(o.env, 'env'),
    cpus: o.cpus,
    memoryMib: mib(o.memory, 'memory'),
    diskOnly: !!o.diskOnly,
    ephemeral: !!o.ephemeral,
    bootTimeoutMs: o.bootTimeout,
  };
}

module.exports = {
  HostDir, NamedVolume, MemFs, PluginFs, FileSystemBackend, PassthroughFs, FS_OPS, Secret, DnsAction,
  forward, block, sandboxConfig, restoreConfig,
};
