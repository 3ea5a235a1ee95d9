// SPDX-License-Identifier: Apache-2.0
// Types of the microsandbox SDK for Node.js (lib/): written by hand,
// checked by the SDK's own tests, which are TypeScript.

/// <reference types="node" />

import type { Readable, Writable } from 'node:stream';

// ---- options ----------------------------------------------------------------

/** A DNS query of the guest, as a DNS hook sees it. */
export interface DnsQuery {
  /** "api.example.com" */
  name: string;
  /** "A", "AAAA", ... */
  type: string;
}

/** A DNS hook's verdict: go on as the policy decided, NXDOMAIN, or an
 * answer of these addresses (DnsAction.answer([...])). */
export type DnsAction = 'allow' | 'deny' | { action: 'answer'; addrs: string[] };
export declare const DnsAction: {
  readonly ALLOW: 'allow';
  readonly DENY: 'deny';
  answer(addrs: Iterable<string>): { action: 'answer'; addrs: string[] };
};

/** A guest's HTTP request, as an HTTP hook sees it (inside intercepted
 * TLS too). Headers by lowercase name. */
export interface HttpRequest {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string[]>;
  /** Its body, de-chunked (empty when streamed: over 8 MiB). */
  body: Buffer;
  /** Seen inside intercepted TLS. */
  tls?: boolean;
  /** A body over 8 MiB: its size (-1 if unknown), not given. */
  bodyStreamed?: number;
}

/** An answer to the guest, as an onHttpResponse hook sees it before the
 * guest does (inside intercepted TLS too; a secret's value already back
 * to its placeholder). Change body or head and forward it: those go. */
export interface HttpResponse {
  status: number;
  /** The status line and headers, CRLF each, through the empty line. */
  head: string;
  /** Headers by lowercase name. */
  headers: Record<string, string[]>;
  /** The Host of the request it answers. */
  host: string;
  /** That request's line ("GET /x HTTP/1.1"), its method and path. */
  request: string;
  method: string;
  path: string;
  /** Its body, de-chunked, whole up to 8 MiB (empty when streamed). */
  body: Buffer;
  tls?: boolean;
  /** A body over 8 MiB: its size (-1 if unknown), not given, not replaceable. */
  bodyStreamed?: number;
}

/** An answer's head as it came from the server, as onHttpResponseHead is
 * told it: before any of the answer goes to the guest, and before
 * onHttpResponse is asked (what that hook changes or blocks is told as
 * it came). */
export interface HttpResponseHead {
  status: number;
  /** The status line and headers, CRLF each, through the empty line (a
   * secret's value already back to its placeholder). */
  head: string;
  /** Headers by lowercase name. */
  headers: Record<string, string[]>;
  /** Its body's length (its Content-Length; 0 for an answer without a
   * body), -1 when the head does not say (chunked, until the close). */
  bodyLength: number;
  /** The Host of the request it answers. */
  host: string;
  /** That request's line ("GET /x HTTP/1.1"), its method and path. */
  request: string;
  method: string;
  path: string;
  tls: boolean;
}

/** A new connection of the guest, as a connect hook sees it. */
export interface ConnectRequest {
  proto: 'tcp' | 'udp' | 'icmp';
  ip: string;
  /** 0 for an ICMP echo. */
  port: number;
}

/** A command about to run in the sandbox, as an exec hook sees it. */
export interface ExecCall {
  argv: string[];
  /** The exec's own KEY=VALUEs (not the sandbox's defaults). */
  env: string[];
  cwd?: string;
  user?: string;
  tty: boolean;
}

/** An exec hook's verdict. */
export type ExecAction =
  | 'allow'
  | { action: 'deny'; reason: string }
  | { action: 'rewrite'; argv?: string[]; env?: string[] };
export declare const ExecAction: {
  readonly ALLOW: 'allow';
  /** The caller gets PolicyRefusedError ("exec denied by plugin js-sdk: REASON"). */
  deny(reason: string): { action: 'deny'; reason: string };
  /** Run it with this argv and/or these KEY=VALUEs instead. */
  rewrite(r: { argv?: string[]; env?: string[] }): { action: 'rewrite'; argv?: string[]; env?: string[] };
};

/** A command that ended, as onExecExit sees it. */
export interface ExecExit {
  argv: string[];
  exitCode: number;
  signal: number;
  durationMs: number;
  timedOut: boolean;
}

/** A lifecycle event of the sandbox, as onLifecycle sees it. */
export interface LifecycleEvent {
  /** "start", "restore", "snapshot", "stop" */
  event: string;
  sandbox: string;
  bootMs?: number;
  snapshot?: string;
  full?: boolean;
  error?: string;
}

/** The audit-log built-in plugin: one JSON line per lifecycle event,
 * exec, DNS query, connection, HTTP request and hooked file operation,
 * in DIR/NAME.jsonl (default DIR: the sandbox's own audit directory). */
export declare class AuditLog {
  constructor(dir?: string, options?: { fs?: string | string[] });
  readonly name: 'audit-log';
}

/** The rate-limiter built-in plugin: execs and new connections a second
 * (default 100 each); beyond, they are refused. */
export declare class RateLimiter {
  constructor(options?: { maxExecPerSec?: number; maxConnectPerSec?: number });
  readonly name: 'rate-limiter';
}

/** A hook call's fields (docs/plugins.md), `body` decoded for http_request. */
export type HookCall = Record<string, any> & { hook: string; body?: Buffer };
/** A reply's fields: a verdict and what goes with it. */
export type HookReply = { verdict: 'allow' | 'deny' | 'answer' | 'modify'; [k: string]: unknown };

/** A plugin in JS, for a --plugin-process command (the hook protocol of
 * docs/plugins.md): `new Plugin("dlp").on("http_request", (c) => ...).run()`. */
export declare class Plugin {
  constructor(name: string, options?: { fsOps?: string[] });
  readonly name: string;
  /** @fn answers @hook: undefined allows; or a Plugin.deny(...), ... */
  on(hook: 'lifecycle' | 'exec_before' | 'exec_after' | 'dns' | 'connect' | 'http_request' | 'http_response' |
    'http_response_head' | 'fs',
    fn: (call: HookCall) => HookReply | string | void | Promise<HookReply | string | void>,
    options?: { fsOps?: string[] }): this;
  /** Serve the channel of a --plugin-process command (descriptor 3,
   * $MSB_PLUGIN_FD) until the sandbox stops. */
  run(fd?: number): Promise<void>;
  static allow(): HookReply;
  static deny(reason?: string, errno?: number): HookReply;
  static answer(addrs: Iterable<string>): HookReply;
  static modify(body: Buffer | Uint8Array | string | null, head?: string): HookReply;
  static rewrite(r: { argv?: string[]; env?: string[] }): HookReply;
}

/** An HTTP hook's verdict: forward(req) or block(reason). */
export type HttpAction =
  | { action: 'forward'; request: HttpRequest | HttpResponse }
  | { action: 'block'; reason: string };

/** Send the request (or answer) on, as it is or changed. */
export declare function forward(req: HttpRequest | HttpResponse): HttpAction;
/** Refuse the request with @reason. */
export declare function block(reason: string): HttpAction;

/** A published port: "8080:80", "127.0.0.1:8080:80", "[::1]:8080:80",
 * "80" (a free host port), or [hostPort, guestPort]. */
export type PortSpec = string | number | [number, number] | [string, number, number];

/** What may leave the sandbox (docs/network.md). By default the public
 * internet is reachable, and loopback, private, link-local (cloud
 * metadata), ULA, multicast and the host's own addresses are not. */
export interface NetworkOptions {
  /** Names reachable: "example.com", "*.example.com"; with any, only the
   * addresses the sandbox's resolver returned for them are. */
  allow?: string[];
  /** Ranges opened, even default-denied ones. */
  allowCidr?: string[];
  /** Ranges closed: "169.254.0.0/16", "10.0.0.0/8". */
  blockCidr?: string[];
  /** Nothing leaves but what allow and allowCidr open (air-gapped alone). */
  denyAll?: boolean;
  /** "IP[:PORT]" of the resolver the sandbox asks (default: the host's). */
  dns?: string;
  ports?: PortSpec[];
  /** A shared object with C network hooks (include/msb_net_plugin.h). */
  plugin?: string;
  /** TCP ports of the host's loopback the guest may reach as
   * host.msb.internal:PORT. */
  allowHost?: (number | string)[];
  /** Called (in this program) for each DNS query the policy let
   * through: docs/plugins.md's dns hook. Within the hooks' deadline
   * (pluginTimeout, 1 s), or the query is refused. */
  onDns?: (q: DnsQuery) => DnsAction | void | Promise<DnsAction | void>;
  /** Called for each new connection the policy let through: "allow" or "deny". */
  onConnect?: (c: ConnectRequest) => 'allow' | 'deny' | void | Promise<'allow' | 'deny' | void>;
  /** Called for each HTTP request (HTTPS too, intercepted): forward(req)
   * (with req.body changed: the new body goes) or block(reason) (the
   * guest gets 403). */
  onHttp?: (req: HttpRequest) => HttpAction | void | Promise<HttpAction | void>;
  /** Called for each answer before the guest reads it: forward(resp)
   * (with resp.body or resp.head changed: those go) or block(reason)
   * (the guest gets 403, the connection ends). */
  onHttpResponse?: (resp: HttpResponse) => HttpAction | void | Promise<HttpAction | void>;
  /** Told each answer's head as the server sent it, before any of the
   * answer reaches the guest. It only watches: nothing waits for it (a
   * promise it returns is awaited before the next head is told, never
   * by the answer or by another hook), what it returns is ignored. */
  onHttpResponseHead?: (head: HttpResponseHead) => void | Promise<void>;
}

/** A host directory passed through. */
export declare class HostDir {
  constructor(path: string, options?: {
    readonly?: boolean; direct?: boolean; overlayMib?: number;
    cache?: VolumeCache; cacheTimeout?: number;
  });
  readonly path: string;
  readonly readonly: boolean;
  /** Reads and writes bypass the guest's page cache. */
  readonly direct: boolean;
  /** > 0: the guest's changes stay in a RAM layer of this size; the
   * directory is never written. */
  readonly overlayMib: number;
  /** What the guest may keep of names and attributes (`-v DIR:/p:cache=`):
   * 'auto' for a second, 'always' for a day (file pages across opens too:
   * for a directory only this sandbox writes), 'never' nothing;
   * undefined: a change on either side is seen at the next call. */
  readonly cache?: VolumeCache;
  /** Seconds (0 to 86400) the guest keeps names and attributes instead
   * of the mode's own (`timeout=`). */
  readonly cacheTimeout?: number;
}

/** A volume's cache mode (docs/filesystems.md). */
export type VolumeCache = 'auto' | 'always' | 'never';

/** A named volume (createVolume): mounted by as many sandboxes as like. */
export declare class NamedVolume {
  constructor(name: string, options?: { readonly?: boolean; direct?: boolean });
  readonly name: string;
  readonly readonly: boolean;
  readonly direct: boolean;
}

/** A filesystem in host RAM (default 64 MiB), gone with the sandbox. */
export declare class MemFs {
  constructor(options?: { sizeMib?: number; readonly?: boolean });
  readonly sizeMib: number;
  readonly readonly: boolean;
}

/** A filesystem served by a C plugin (include/msb_fs.h). */
export declare class PluginFs {
  constructor(path: string, options?: { arg?: string; dir?: string; readonly?: boolean });
  readonly path: string;
  readonly arg?: string;
  /** A host directory handed to it, which it may wrap. */
  readonly dir?: string;
  readonly readonly: boolean;
}

/** The guest process behind a filesystem request. */
export interface FsContext {
  pid: number;
  uid: number;
  /** (not given by the hook protocol) */
  gid?: number;
}

/** A file operation's other fields (what applies to it). */
export interface FsCall {
  name?: string;
  newname?: string;
  newparent?: number;
  flags?: number;
}

/** What an overridden operation returns: nothing (or the inner's) to go
 * on; it throws to refuse (the error's `code`, "EACCES", or `errno`). */
type FsResult = void | undefined | Promise<void | undefined>;

/** A filesystem written in JS (the seeds' AuditFs): extend it and
 * override the operations to watch or refuse, reaching the wrapped one
 * through `inner`. Only the overridden ones are asked of this program,
 * by the sandbox's supervisor, before its native backend (the host
 * directory or memory underneath) runs them; every other one stays
 * native. */
export declare class FileSystemBackend {
  /** @inner: a path (a PassthroughFs of it), HostDir, NamedVolume, MemFs,
   * or another backend to wrap. */
  constructor(inner: string | FileSystemBackend | HostDir | NamedVolume | MemFs);
  /** What it wraps, as a FileSystemBackend (a native one's operations go
   * on to the supervisor's backend). */
  inner: FileSystemBackend;
  /** The operations this class overrides. */
  overridden(): string[];
  open(ctx: FsContext, ino: number, flags: number, call?: FsCall): FsResult;
  opendir(ctx: FsContext, ino: number, flags: number, call?: FsCall): FsResult;
  create(ctx: FsContext, parent: number, flags: number, call?: FsCall): FsResult;
  lookup(ctx: FsContext, parent: number, call: FsCall): FsResult;
  mkdir(ctx: FsContext, parent: number, call: FsCall): FsResult;
  unlink(ctx: FsContext, parent: number, call: FsCall): FsResult;
  rmdir(ctx: FsContext, parent: number, call: FsCall): FsResult;
  rename(ctx: FsContext, parent: number, call: FsCall): FsResult;
  read(ctx: FsContext, ino: number, call: FsCall): FsResult;
  write(ctx: FsContext, ino: number, call: FsCall): FsResult;
  getattr(ctx: FsContext, ino: number, call: FsCall): FsResult;
  setattr(ctx: FsContext, ino: number, call: FsCall): FsResult;
  /** ...and every other operation of docs/plugins.md's list, alike. */
  [op: string]: unknown;
}

/** A host directory as a FileSystemBackend (the seeds' `inner`): as a
 * volume by itself it is a HostDir. */
export declare class PassthroughFs extends FileSystemBackend {
  constructor(path: string);
  readonly path: string;
}

export type VolumeSpec = string | HostDir | NamedVolume | MemFs | PluginFs | FileSystemBackend;

/** A secret the guest only sees as a placeholder (docs/secrets.md). */
export declare class Secret {
  private constructor(source: 'env' | 'file' | 'value', ref: string, hosts: string | string[], inject?: string | string[]);
  readonly source: 'env' | 'file' | 'value';
  readonly ref: string;
  readonly hosts: string | string[];
  readonly inject?: string | string[];
  /** The value itself: kept nowhere, so the sandbox cannot start again once stopped. */
  static value(value: string, hosts: string | string[], options?: { inject?: string | string[] }): Secret;
  /** Read from this program's environment variable at every start. */
  static fromEnv(variable: string, hosts: string | string[], options?: { inject?: string | string[] }): Secret;
  /** Read from a file (a trailing line break dropped) at every start. */
  static fromFile(path: string, hosts: string | string[], options?: { inject?: string | string[] }): Secret;
}

/** [value, hosts] or [value, hosts, inject], or a Secret. */
export type SecretSpec = [value: string, hosts: string | string[]] |
  [value: string, hosts: string | string[], inject: string | string[]] | Secret;

export interface SandboxOptions {
  /** An OCI image ("python:3.12", "host:port/repo:tag", "repo@sha256:...");
   * pulled if it is not here. Default: the built-in "default" image. */
  image?: string;
  /** Virtual CPUs (default 1). */
  cpus?: number;
  /** "512M", "1G", "1.5GiB", or MiB (default 512). */
  memory?: string | number;
  /** The writable disk: "4G" or MiB (default 4096; sparse). */
  disk?: string | number;
  /** Environment of every command. */
  env?: Record<string, string>;
  /** Working directory of every command. */
  workdir?: string;
  /** Guest user of every command: a name, uid or uid:gid. */
  user?: string;
  /** Guest path to filesystem. */
  volumes?: Record<string, VolumeSpec>;
  network?: NetworkOptions;
  ports?: PortSpec[];
  /** Guest variable to its secret. */
  secrets?: Record<string, SecretSpec>;
  /** A placeholder sent where its value may not go: "block" (default), "log", "allow". */
  onSecretViolation?: 'block' | 'log' | 'allow';
  /** Names whose TLS is passed through, never intercepted. */
  tlsBypass?: string[];
  /** PEM texts of CAs trusted for the servers of intercepted TLS. */
  tlsUpstreamCa?: string[];
  /** Files of such CAs. */
  tlsUpstreamCaFile?: string[];
  /** "msb" (the project's) or "cloud" (Debian's). */
  kernel?: 'msb' | 'cloud';
  /** Milliseconds the boot may take (default $MSB_BOOT_TIMEOUT or 60000). */
  bootTimeout?: number;
  /** A command run detached once booted (msb run -d NAME -- CMD). */
  command?: string | string[];
  /** Replaces the image's entrypoint for `command`; [] clears it. */
  entrypoint?: string[];
  /** Run the image's own entrypoint and command detached once booted. */
  imageCommand?: boolean;
  /** Removed as soon as it stops (msb run --rm). */
  ephemeral?: boolean;
  /** close() leaves the sandbox running instead of removing it. */
  keep?: boolean;
  /** It pushes itself (to the remote, or where it last synced) whenever
   * stop() stops it (msb run --sync). */
  sync?: boolean;
  /** Its programs may start up to this many (1 to 64) live peer
   * sandboxes beside it, a peer's own peers included (msb start inside
   * it; msb run --allow-spawn N; docs/spawn.md). Off without it. A peer
   * gets a network no wider than this sandbox's, no volume, and only the
   * secrets it holds, by placeholder; removing the sandbox removes its
   * peers. */
  allowSpawn?: number;
  /** Images peers may use besides the sandbox's own (--spawn-image; at
   * most 32). A peer's start pulls one not here yet: allow only images
   * you trust. Needs allowSpawn. */
  spawnImages?: string[];
  /** A peer's most CPUs (--spawn-cpus; default: the sandbox's own). Needs allowSpawn. */
  spawnCpus?: number;
  /** A peer's most memory, "256M" or MiB (--spawn-memory; default: the
   * sandbox's own). Needs allowSpawn. */
  spawnMemory?: string | number;
  /** The memory of all live peers of its tree together, "1G" or MiB
   * (--spawn-total-memory; default: allowSpawn times spawnMemory). Needs allowSpawn. */
  spawnTotalMemory?: string | number;
  /** Plugins, in order: built-ins (new AuditLog(dir), new
   * RateLimiter({ maxExecPerSec })) and installed plugins by name
   * (Plugins.install; their files verified now and at every start). */
  plugins?: (AuditLog | RateLimiter | string)[];
  /** Plugin processes: commands the sandbox's supervisor runs and
   * restarts, speaking the hook protocol on descriptor 3 (docs/plugins.md). */
  pluginProcesses?: string[];
  /** Each hook call's deadline in ms (default 1000): a call that misses
   * it is denied. */
  pluginTimeout?: number;
  /** How often a plugin process that exits is started again (default 3;
   * 0: never, and its hooks then refuse). */
  pluginRestarts?: number;
  /** Called (in this program) before each command runs: ExecAction.ALLOW
   * (or nothing), ExecAction.deny(reason), ExecAction.rewrite({ argv, env }). */
  onExec?: (cmd: ExecCall) => ExecAction | void | Promise<ExecAction | void>;
  /** Told each command's end. */
  onExecExit?: (ev: ExecExit) => void | Promise<void>;
  /** Told the sandbox's starts, stops, snapshots and restores. */
  onLifecycle?: (ev: LifecycleEvent) => void | Promise<void>;
  /** Stops waiting for the boot; the sandbox is then removed once booted. */
  signal?: AbortSignal;
}

export interface RestoreOptions {
  /** Every later command gets it; restored processes read /run/msb/env. */
  env?: Record<string, string>;
  /** Not for a full restore. */
  cpus?: number;
  memory?: string | number;
  /** Boot the snapshot's disk fresh instead of resuming its memory. */
  diskOnly?: boolean;
  ephemeral?: boolean;
  bootTimeout?: number;
  keep?: boolean;
  signal?: AbortSignal;
}

export interface ExecOptions {
  /** Environment on top of the sandbox's. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Guest user: a name, uid or uid:gid. */
  user?: string;
  /** Input: text, bytes, or a Readable or (async) iterable of them,
   * closed at its end; execStream: true keeps stdin open for p.write(). */
  stdin?: string | Uint8Array | Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> | boolean;
  /** Milliseconds, on the host's clock: then the process group is killed
   * (SIGKILL) and the result says timedOut (exit code 137). */
  timeout?: number;
  /** A result that is not a success is a CommandError. */
  check?: boolean;
  /** A pseudo-terminal (stdout and stderr are one stream then). */
  tty?: boolean | { rows: number; cols: number };
  /** Aborting kills the command (SIGKILL) and rejects with the reason. */
  signal?: AbortSignal;
  /** Each chunk of stdout as it comes (it is then not captured). */
  onStdout?: (chunk: Buffer) => void;
  /** Each chunk of stderr as it comes (it is then not captured). */
  onStderr?: (chunk: Buffer) => void;
}

export interface FileOptions {
  /** Guest user the operation runs as (default: the one commands run as). */
  user?: string;
  /** write, mkdir: exact permission bits (default 0o644 / 0o755 less 022). */
  mode?: number;
  /** write: make missing parent directories; mkdir: mkdir -p. */
  parents?: boolean;
  /** list: the whole tree; remove: a directory and all in it. */
  recursive?: boolean;
  /** write, mkdir, rename: AlreadyExistsError if the path exists. */
  exclusive?: boolean;
  /** write: at the end, not replacing. */
  append?: boolean;
}

// ---- results ------------------------------------------------------------------

export declare class ExecResult {
  private constructor();
  /** Its status, 128+N if signal N killed it (137 for a timeout), 127 if
   * it was not found. */
  readonly exitCode: number;
  /** The signal that killed it, 0 if it exited. */
  readonly signal: number;
  /** Killed by its `timeout`. */
  readonly timedOut: boolean;
  /** Captured output as text ("" when streamed or given to a callback). */
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Buffer;
  readonly stderrBytes: Buffer;
  /** It exited 0. */
  readonly success: boolean;
}

export declare class OutputChunk {
  private constructor();
  readonly stream: 'stdout' | 'stderr';
  readonly data: Buffer;
  /** data as UTF-8. */
  readonly text: string;
}

/** A command running in a sandbox (execStream). */
export declare class Process implements AsyncIterable<OutputChunk>, AsyncDisposable {
  private constructor();
  readonly argv: string[];
  /** Its process id in the guest. */
  readonly pid: number;
  /**
   * Why the sandbox is paused (its host disk is full: "sandbox NAME is
   * paused: the host disk under DIR is full ...") while it is; null while
   * it runs and once the command has ended. The command waits meanwhile
   * and goes on by itself once there is room.
   */
  readonly paused: string | null;
  /** Its stdout as a Readable; read stdout and stderr to their end before wait(). */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** A Writable to its stdin (given `stdin: true`); end() closes stdin. */
  readonly stdin: Writable;
  /** Both streams, chunk by chunk, in the order they came. */
  [Symbol.asyncIterator](): AsyncIterator<OutputChunk>;
  /** Input, in order with earlier writes (given `stdin: true`). */
  write(data: string | Uint8Array): Promise<void>;
  /** End of input, after every write before it. */
  closeStdin(): Promise<void>;
  /** A signal to its process group (default SIGKILL). */
  kill(signal?: NodeJS.Signals | number): Promise<void>;
  /** The terminal's size (tty). */
  resize(rows: number, cols: number): Promise<void>;
  /** How it ended (with `check`, a CommandError unless a success). */
  wait(): Promise<ExecResult>;
  /** Hang up: the connection closes; a command still running gets SIGHUP. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block' | 'other';

export declare class FileInfo {
  private constructor();
  /** list: relative to the listed directory ("a/b"); stat: the last element. */
  readonly name: string;
  readonly type: FileType;
  /** Permission bits (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly size: number;
  readonly mtime: Date;
  readonly mtimeMs: number;
  /** A symlink's target, "" otherwise. */
  readonly linkTarget: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** The guest's files (`sb.fs`), through the guest agent, as a guest user. */
export declare class Files {
  private constructor();
  read(path: string, options?: FileOptions): Promise<Buffer>;
  readText(path: string, options?: FileOptions): Promise<string>;
  /** Resolves with the bytes written. */
  write(path: string, data: string | Uint8Array | Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
    options?: FileOptions): Promise<number>;
  createReadStream(path: string, options?: FileOptions): Readable & { readonly bytesRead: number };
  createWriteStream(path: string, options?: FileOptions): Writable & { readonly bytesWritten: number };
  list(path: string, options?: FileOptions): Promise<FileInfo[]>;
  stat(path: string, options?: FileOptions): Promise<FileInfo>;
  lstat(path: string, options?: FileOptions): Promise<FileInfo>;
  exists(path: string, options?: FileOptions): Promise<boolean>;
  mkdir(path: string, options?: FileOptions): Promise<void>;
  remove(path: string, options?: FileOptions): Promise<void>;
  rename(from: string, to: string, options?: FileOptions): Promise<void>;
  symlink(target: string, path: string, options?: FileOptions): Promise<void>;
  /** docker cp's rules (msb cp); `progress` is called as each file's bytes move. */
  copyIn(hostPath: string, guestPath: string, options?: CopyOptions): Promise<void>;
  copyOut(guestPath: string, hostPath: string, options?: CopyOptions): Promise<void>;
}

export interface CopyOptions {
  /** The guest user, as FileOptions' `user`. */
  user?: string;
  /** Called on the event loop as each file's bytes move, in order, every
   * report before the call settles (InvalidArgumentError unless a
   * function); what it throws is a process warning, not the call's failure. */
  progress?: (event: CopyProgress) => void;
}

/** How a copy goes (msb_copy_opts.progress), reported as a file's bytes
 * move: none for an empty file, a directory or a symlink. */
export interface CopyProgress {
  /** The file's guest path. */
  readonly path: string;
  /** Its bytes copied so far, of `total` (its size); `done` only grows,
   * and reaches `total` once the file is copied. */
  readonly done: number;
  readonly total: number;
}

export declare class SandboxInfo {
  private constructor();
  readonly name: string;
  readonly image: string;
  readonly status: 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
  readonly cpus: number;
  readonly memoryMib: number;
  /** The supervisor's pid while it runs, else 0. */
  readonly pid: number;
  readonly createdAt: Date | null;
  readonly startedAt: Date | null;
  readonly stoppedAt: Date | null;
  /** Why it failed, when it did. */
  readonly error: string;
  readonly commandState: 'none' | 'running' | 'ended';
  readonly commandExitCode: number;
  readonly fromSnapshot: string;
  /** Starting, running or stopping. */
  readonly running: boolean;
}

/** What a sandbox uses (msb stats). */
export declare class Metrics {
  private constructor();
  readonly name: string;
  readonly status: string;
  /** false: only the limits and diskBytes. */
  readonly running: boolean;
  /** The guest's own numbers are in (memoryTotalBytes, disk*, processes). */
  readonly guest: boolean;
  readonly cpus: number;
  readonly memoryLimitBytes: number;
  readonly uptimeMs: number;
  /** Over the last second; 100 = one CPU busy. */
  readonly cpuPercent: number;
  readonly cpuTimeNs: number;
  readonly memoryRssBytes: number;
  readonly memoryUsedBytes: number;
  readonly memoryTotalBytes: number;
  readonly diskBytes: number;
  readonly diskUsedBytes: number;
  readonly diskTotalBytes: number;
  readonly netRxBytes: number;
  readonly netTxBytes: number;
  readonly netRxPackets: number;
  readonly netTxPackets: number;
  readonly processes: number;
}

export interface PortBinding {
  hostIp: string;
  hostPort: number;
  guestPort: number;
}

export declare class SnapshotInfo {
  private constructor();
  readonly name: string;
  /** The sandbox it was taken of. */
  readonly source: string;
  /** "full" (memory, CPU, devices and disk: restored running) or "disk". */
  readonly kind: 'full' | 'disk';
  /** For a disk snapshot, why. */
  readonly reason: string;
  readonly image: string;
  readonly cpus: number;
  readonly memoryMib: number;
  readonly createdAt: Date;
  readonly ramBytes: number;
  readonly diskBytes: number;
  readonly sizeBytes: number;
  /** Sandboxes restored from it that still exist. */
  readonly users: number;
}

export declare class Snapshot {
  private constructor();
  readonly name: string;
  static get(name: string): Promise<Snapshot>;
  static list(): Promise<SnapshotInfo[]>;
  info(): Promise<SnapshotInfo>;
  /** Its record as msb snapshot inspect prints it: its files, path,
   * size_bytes and used_by (the sandboxes restored from it). */
  inspect(): Promise<Record<string, any>>;
  restore(name: string, options?: RestoreOptions): Promise<Sandbox>;
  /** BusyError while sandboxes restored from it exist, unless force. */
  remove(options?: { force?: boolean }): Promise<void>;
  /** It becomes @newName (msb snapshot rename), this handle with it:
   * BusyError while sandboxes restored from it exist, AlreadyExistsError
   * when the name is taken. */
  rename(newName: string): Promise<void>;
  /** Push it (msb push SNAP; docs/sync.md) to @ref (REGISTRY/REPO[:TAG]
   * or a TAG), else where it last synced, else REMOTE/NAME:latest; a
   * push to where it already is sends nothing (upToDate). */
  push(ref?: string, options?: SnapshotPushOptions): Promise<SyncInfo>;
  push(options: SnapshotPushOptions & { ref?: string }): Promise<SyncInfo>;
  /** A pushed snapshot brought here (msb pull REF): a reference, or a
   * bare name under the remote; WrongKindError for a sandbox or an image. */
  static pull(ref: string, options?: SnapshotPullOptions): Promise<Snapshot>;
  /** What the pull that made this handle did (Snapshot.pull only). */
  readonly pulled?: SyncInfo;
}

export interface SnapshotPushOptions {
  /** Replace a tag holding anything else (ConflictError otherwise). */
  force?: boolean;
  /** Plain http to a registry not on loopback. */
  insecure?: boolean;
  /** Called with each step: see SyncProgress. */
  progress?: (event: SyncProgress) => void;
}

export interface SnapshotPullOptions {
  /** The local snapshot's name (default: the repository's last component). */
  name?: string;
  /** Replace a snapshot of that name (AlreadyExistsError otherwise);
   * never while sandboxes restored from it exist (BusyError). */
  force?: boolean;
  /** Plain http to a registry not on loopback. */
  insecure?: boolean;
  /** Called with each step: see SyncProgress. */
  progress?: (event: SyncProgress) => void;
}

// ---- the plugin registry (docs/plugins.md) -----------------------------------

/** A plugin as published, found or installed (msb_plugin_info). */
export declare class PluginInfo {
  private constructor();
  readonly name: string;
  readonly version: string;
  /** "process": a command speaking the hook protocol, run in its files. */
  readonly kind: string;
  /** Informative: "python", "node", "go"... */
  readonly language: string;
  /** The hooks it asks for ("exec_before", "dns"...). */
  readonly hooks: string[];
  /** Run with /bin/sh -c in its files. */
  readonly command: string;
  readonly description: string;
  /** Published as, or installed from. */
  readonly reference: string;
  /** The artifact's manifest digest. */
  readonly digest: string;
  /** Installed: its files' directory, else "". */
  readonly path: string;
  /** Bytes of its files. */
  readonly size: number;
  readonly files: number;
  /** When it was installed; null when it is not. */
  readonly installedAt: Date | null;
  /** Plugins.list(): its files still match their digests. */
  readonly verified: boolean;
}

/** REGISTRY/NAMESPACE (127.0.0.1:5000/plugins, ghcr.io/me); default
 * $MSB_PLUGIN_REGISTRY. */
export interface PluginRegistryOptions {
  registry?: string;
}

/** The plugin registry and the installed plugins (msb plugin ...):
 * plugins published to an OCI registry as artifacts, found, installed
 * under $MSB_HOME/plugins pinned by digest, loaded by name
 * (`plugins: ["name"]`). */
export declare class Plugins {
  private constructor();
  /** The plugin in @dir (its metadata in dir/plugin.json, every other
   * file one of its files) pushed as NAME:VERSION and NAME:latest and
   * entered in the registry's index. */
  static publish(dir: string, options?: PluginRegistryOptions): Promise<PluginInfo>;
  /** The index's entries whose name, description, language, kind or
   * hooks hold @query (case ignored; "" for all), by name. */
  static search(query?: string, options?: PluginRegistryOptions): Promise<PluginInfo[]>;
  /** NAME, NAME:VERSION, NAME@DIGEST or HOST/REPO:TAG, every blob
   * checked; NotFoundError when the registry has no such plugin. */
  static install(what: string, options?: PluginRegistryOptions): Promise<PluginInfo>;
  /** The installed plugins, by name, each verified. */
  static list(): Promise<PluginInfo[]>;
  /** One installed plugin, verified: DamagedError when its files changed,
   * NotFoundError when none of that name is installed. */
  static inspect(name: string): Promise<PluginInfo>;
  /** Uninstall it; sandboxes that load it then fail to start. */
  static remove(name: string): Promise<void>;
}

// ---- peers: sandboxes spawned from inside one (docs/spawn.md) ---------------

/** A peer's start: what it may have is the host's decision (msb run
 * --allow-spawn N), never wider than its parent's. */
export interface PeerOptions {
  /** Its image: one the host allows (by default the parent's own). */
  image?: string;
  /** Virtual CPUs, 1 to 64, within the host's ceiling. */
  cpus?: number;
  /** "256M", "1G", or a number of MiB, within the host's ceiling. */
  memory?: string | number;
  /** Variables of every command in it. */
  env?: Record<string, string>;
  /** Narrower than the parent's policy: the rest is the parent's. */
  network?: Pick<NetworkOptions, 'denyAll' | 'allow' | 'allowCidr'>;
  /** The peer's variable -> [placeholder, hosts]: the placeholder this
   * sandbox holds for a secret (process.env.KEY), its hosts (a name or a
   * list) no wider than this sandbox's binding (none: the same). */
  secrets?: Record<string, string | [string, (string | string[] | null)?]>;
  /** Aborting cancels the request. */
  signal?: AbortSignal;
}

/** A command in a peer: no terminal, user or timeout (abort it). Its
 * `stdin` is its data (not `true`): sent as the peer takes it, within the
 * host's window, its end the command's end-of-file. */
export type PeerExecOptions = Pick<ExecOptions, 'env' | 'cwd' | 'check' | 'signal' | 'onStdout' | 'onStderr' | 'tty'> & {
  stdin?: string | Uint8Array | Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
};

/** A copy into or out of a peer. */
export interface PeerCopyOptions {
  /** The peer's user for the files: name, uid or uid:gid. */
  user?: string | number;
  /** Aborting cancels the copy. */
  signal?: AbortSignal;
}

/** A snapshot of a peer as rt.snapshots() gives it. */
export declare class PeerSnapshotInfo {
  private constructor();
  readonly name: string;
  /** The peer it was taken of. */
  readonly source: string;
  /** "full" (memory and disk: restored running) or "disk". */
  readonly kind: string;
  readonly sizeBytes: number;
}

/** A peer as rt.list() gives it. */
export declare class PeerInfo {
  private constructor();
  readonly name: string;
  readonly image: string;
  /** "running", "stopped", "failed"... */
  readonly status: string;
  readonly cpus: number;
  readonly memoryMib: number;
}

/** A peer sandbox this sandbox started. */
export declare class Peer {
  private constructor();
  readonly name: string;
  /** A command line (split as Sandbox.exec splits it) or an argv, run
   * to its end; its output comes at the pace this program takes it. */
  exec(cmd: string | string[], options?: PeerExecOptions): Promise<ExecResult>;
  /** `sh -c script`. */
  shell(script: string, options?: PeerExecOptions): Promise<ExecResult>;
  stop(): Promise<void>;
  /** Delete it (stopping it first), its disk and its own peers. */
  remove(): Promise<void>;
  /** The last 256 KiB of its log. */
  logs(): Promise<string>;
  /** This sandbox's file, directory or symlink @src into the peer's
   * @dst, with docker cp's rules ("SRC/." copies what is in it). */
  copyIn(src: string, dst: string, options?: PeerCopyOptions): Promise<void>;
  /** The peer's @src into this sandbox's @dst, with docker cp's rules;
   * a name that would land outside @dst is refused. */
  copyOut(src: string, dst: string, options?: PeerCopyOptions): Promise<void>;
  /** Snapshot it as @name, kept on the host; resolves to @name. */
  snapshot(name: string): Promise<string>;
}

/** The host, as code inside a sandbox sees it (Sandbox.currentRuntime()):
 * requests go through the sandbox's agent, never the network, spoken by
 * this package in JavaScript alone (no addon, no libmsb in the guest).
 * The host's refusals are PolicyRefusedError, with its reason. */
export declare class Runtime {
  private constructor();
  /** The agent's socket the runtime speaks to
   * (/run/microsandbox/agent.sock); tests point it at a stand-in. */
  static agentSocket: string;
  /** Start peer @name; resolves once it is booted. */
  start(name: string, options?: PeerOptions): Promise<Peer>;
  /** A handle on a peer started earlier. */
  peer(name: string): Peer;
  /** This sandbox's own peers. */
  list(): Promise<PeerInfo[]>;
  /** The snapshots of this sandbox's peers. */
  snapshots(): Promise<PeerSnapshotInfo[]>;
  /** Delete one (BusyError while peers restored from it exist). */
  removeSnapshot(snapshot: string | PeerSnapshotInfo): Promise<void>;
  /** Start peer `name` from @snapshot, within the host's limits as
   * start() is. */
  restore(snapshot: string | PeerSnapshotInfo, options: { name: string; signal?: AbortSignal }): Promise<Peer>;
}

export declare class Sandbox implements AsyncDisposable {
  private constructor();
  readonly name: string;
  /** Milliseconds from create (or restore, start) to the guest's ready
   * report; 0 for a sandbox got by name. */
  readonly bootMs: number;
  readonly fs: Files;

  /** Make and boot a sandbox; resolves once its guest runs commands. */
  static create(name: string, options?: SandboxOptions): Promise<Sandbox>;
  /** A handle on an existing sandbox (NotFoundError if none). */
  static get(name: string): Promise<Sandbox>;
  static list(): Promise<SandboxInfo[]>;
  static metricsAll(all?: boolean): Promise<Metrics[]>;
  /** A pushed sandbox, brought here stopped with the same files
   * (docs/sync.md): a reference, or a bare name under the remote. */
  static pull(ref: string, options?: PullOptions): Promise<Sandbox>;
  /** Inside a sandbox, the Runtime that starts peers beside it;
   * outside one, NotSupportedError ("not inside a microsandbox sandbox"). */
  static currentRuntime(): Promise<Runtime>;

  info(): Promise<SandboxInfo>;
  /** Its full state as msb inspect prints it. */
  inspect(): Promise<Record<string, any>>;
  logPath(): Promise<string>;
  ports(): Promise<PortBinding[]>;
  /** The sandbox that spawned this one from inside it (msb start in its
   * guest; msb ps's PARENT), or null for one the host made. */
  parent(): Promise<string | null>;
  start(): Promise<void>;
  /** SIGTERM, then killed after `timeout` ms (default 10000); a sandbox
   * that syncs then pushes itself, reporting to `progress` (that push's
   * SyncInfo, else null). */
  stop(options?: StopOptions): Promise<SyncInfo | null>;
  kill(): Promise<SyncInfo | null>;
  /** Delete it and its disk (killing it first). */
  remove(): Promise<void>;
  /** The detached command's status, or 0 once it stopped. */
  wait(options?: { timeout?: number }): Promise<number>;
  metrics(): Promise<Metrics>;
  /** End the handle; removes the sandbox it made unless `keep`. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;

  /** Run a command line (split as a shell splits words, nothing expanded)
   * or an argv; wait; capture its output. */
  exec(cmd: string | string[], options?: ExecOptions): Promise<ExecResult>;
  /** sh -c @script. */
  shell(script: string, options?: ExecOptions): Promise<ExecResult>;
  /** Start a command and leave its input and output to the caller. */
  execStream(cmd: string | string[], options?: ExecOptions): Promise<Process>;
  /** Start a command in the background; resolves with its pid. */
  execDetached(cmd: string | string[], options?: Pick<ExecOptions, 'env' | 'cwd' | 'user' | 'timeout'>): Promise<number>;

  /** Save the sandbox as @name (paused, not stopped, while saved). */
  snapshot(name: string): Promise<Snapshot>;
  /** Push it, as it is at one instant, to @ref (REGISTRY/REPO[:TAG] or a
   * TAG), else where it last synced, else REMOTE/NAME:latest. */
  push(ref?: string, options?: PushOptions): Promise<SyncInfo>;
  /** With @on, it pushes itself whenever stop() stops it. */
  setSync(on?: boolean): Promise<void>;

  /** Its events (docs/events.md): its programs' (`msb event emit`), the
   * host's and its own ("msb.*"); @topic a topic, "prefix.*", or null
   * for all. */
  events(topic?: string | null, options?: EventsOptions): EventStream;
  /** Call @fn with each new event on @topic (null: all), one call at a
   * time (a promise it returns is awaited), until the sandbox stops. */
  on(topic: string | null, fn: (ev: Event) => unknown, options?: EventsOptions): EventSubscription;
  /** An event to its programs (`msb event wait TOPIC` inside prints
   * @data); resolves with its seq. NotRunningError if it does not run. */
  emit(topic: string, data?: unknown): Promise<number>;
  /** After Sandbox.pull: what the pull did. */
  readonly pulled?: SyncInfo;
}

export interface EventsOptions {
  /** -1 (default): only events to come; 0: the oldest the sandbox keeps;
   * or an event's seq. */
  since?: number;
  /** Go on until the sandbox stops (default); false: end at the last
   * event kept. */
  follow?: boolean;
  /** Closes the stream when aborted. */
  signal?: AbortSignal;
}

/** One event of a sandbox's log. */
export declare class Event {
  private constructor();
  /** Its number in the sandbox's log, from 1. */
  readonly seq: number;
  /** When the supervisor took it. */
  readonly time: Date;
  /** "guest" (its programs), "host" (emit) or "msb" (the sandbox's own). */
  readonly source: 'guest' | 'host' | 'msb';
  readonly topic: string;
  /** Its data, the JSON value decoded (null if none). */
  readonly data: any;
}

/** A sandbox's events in order, read from the event loop; it holds at
 * most 4096 not yet taken (then stops reading: the sandbox counts what
 * this reader misses, in `dropped`). */
export declare class EventStream implements AsyncIterableIterator<Event>, AsyncDisposable {
  private constructor();
  /** Events this reader missed: the sandbox's log moved past them. */
  readonly dropped: number;
  next(): Promise<IteratorResult<Event, undefined>>;
  return(): Promise<IteratorResult<Event, undefined>>;
  [Symbol.asyncIterator](): EventStream;
  /** End it: a pending next() resolves as done. */
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What sb.on() returns. */
export declare class EventSubscription implements AsyncDisposable {
  private constructor();
  /** Settles when it ends (the sandbox stopped, or close()); rejects with
   * what the callback threw, or the stream's failure. */
  readonly done: Promise<void>;
  /** Stop listening. */
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface PullOptions {
  /** The local sandbox's name (default: the repository's last component). */
  name?: string;
  /** Replace a local sandbox changed since its last sync. */
  force?: boolean;
  /** Keep settings that reach into this host (volumes, secret sources, a
   * network plugin, opened ranges, published ports, extra CAs). */
  trust?: boolean;
  /** Plain http to a registry not on loopback. */
  insecure?: boolean;
  /** Called with each step: see SyncProgress. */
  progress?: (event: SyncProgress) => void;
}

export interface PushOptions {
  /** Replace what another machine pushed to the tag since (ConflictError otherwise). */
  force?: boolean;
  /** Plain http to a registry not on loopback. */
  insecure?: boolean;
  /** Called with each step: see SyncProgress. */
  progress?: (event: SyncProgress) => void;
}

export interface StopOptions {
  /** Milliseconds the guest gets to power off before it is killed (default 10000). */
  timeout?: number;
  /** For a sandbox that syncs, called with each step of its push: see SyncProgress. */
  progress?: (event: SyncProgress) => void;
}

/**
 * How a push or pull goes (msb_sync_progress; msb push's and msb pull's
 * lines). A `progress` callback is called on the event loop with each
 * step in the order libmsb made them, every one before the call settles
 * and none after; InvalidArgumentError before anything starts unless it
 * is a function. What it throws (or a promise it returns rejects with) is
 * a process warning (MicrosandboxWarning); the call goes on.
 */
export interface SyncProgress {
  /** "resolving" first; a push then "reading" (the local disk) and
   * "uploading"; a pull "image" (the image the sandbox needs is pulled:
   * `image` says how far), "downloading" and "writing". */
  readonly phase: 'resolving' | 'reading' | 'uploading' | 'image' | 'downloading' | 'writing';
  /** Bytes of the disk dealt with, of all of it (in phase "image": the
   * image pull's bytes of its blob). "reading" counts each file it reads
   * in turn from 0 (a snapshot's memory, state and disk); in "uploading"
   * and "downloading" they only grow, and the last report of a transfer
   * that moved the disk has done == total. */
  readonly done: number;
  readonly total: number;
  /** The disk's chunks dealt with, of all of them. */
  readonly chunksDone: number;
  readonly chunksTotal: number;
  /** In phase "image", that pull's own report; else null. */
  readonly image: PullProgress | null;
}

/** What a push or pull did (msb_sync_info). */
export declare class SyncInfo {
  private constructor();
  /** The local sandbox. */
  readonly name: string;
  /** Where it went or came from, canonical. */
  readonly reference: string;
  readonly digest: string;
  /** The push it was based on, "" if none. */
  readonly parent: string;
  readonly diskBytes: number;
  readonly chunks: number;
  /** Chunks uploaded (push) or downloaded (pull). */
  readonly transferred: number;
  readonly bytes: number;
  /** Pull: chunks taken from the local disk. */
  readonly reused: number;
  readonly upToDate: boolean;
  /** Pull: settings dropped for want of `trust`. */
  readonly dropped: string;
}

/** Where sandboxes go by default: $MSB_REMOTE, else the one set. */
export declare function getRemote(): Promise<{ remote: string; insecure: boolean }>;
/** Keep @remote (REGISTRY[/NAMESPACE]); null forgets it. */
export declare function setRemote(remote: string | null, options?: { insecure?: boolean }): Promise<void>;

/** A named volume's record. */
export declare class VolumeInfo {
  private constructor();
  readonly name: string;
  /** 0: no limit but the host's disk. */
  readonly sizeMib: number;
  readonly usedBytes: number;
  readonly createdAt: Date;
  /** The project that made it, or "". */
  readonly project: string;
  /** Its files, on the host. */
  readonly path: string;
  /** Sandboxes that mount it (any status), and the running ones. */
  readonly users: number;
  readonly running: number;
}

/** A named volume's record as msb volume inspect prints it. */
export interface VolumeRecord {
  name: string;
  /** 0: no limit but the host's disk. */
  size_mib: number;
  used_bytes: number;
  /** Seconds since the epoch. */
  created_at: number;
  path: string;
  /** The project that made it, or null. */
  project: string | null;
  /** The name of each sandbox that mounts it. */
  used_by: string[];
  /** How many of them run. */
  running: number;
}

/** A named volume of at most `size` ("10G" or MiB; default: no limit). */
export declare function createVolume(name: string, options?: { size?: string | number }): Promise<VolumeInfo>;
export declare function getVolume(name: string): Promise<VolumeInfo>;
/** Its record as msb volume inspect prints it; NotFoundError if none. */
export declare function inspectVolume(name: string): Promise<VolumeRecord>;
export declare function listVolumes(): Promise<VolumeInfo[]>;
/** BusyError while a running sandbox mounts it, or (unless force) a stopped one. */
export declare function removeVolume(name: string, options?: { force?: boolean }): Promise<void>;

// ---- projects (a Sandboxfile) ----------------------------------------------------

/** A step of up, down, stop or restart. */
export interface ProjectEvent {
  /** Its key in the file; undefined for a volume or a sandbox no longer in it. */
  readonly sandbox: string | undefined;
  /** The sandbox's or the volume's name. */
  readonly name: string;
  /** "creating", "created", "up-to-date", "waiting", "healthy", "stopped", "removed",
   * "volume created", ... */
  readonly what: string;
  /** How long a finished step took. */
  readonly ms: number;
  readonly detail?: string;
}

/** A line of Project.ps(). */
export interface ProjectEntry {
  readonly key: string;
  readonly name: string;
  /** As SandboxInfo's, or "missing". */
  readonly status: string;
  /** "current", "changed" (up recreates it), "missing" or "orphan". */
  readonly state: string;
  readonly image: string;
}

export interface ProjectOptions {
  /** up: these keys and what they depend on; stop, restart: these. */
  only?: string[];
  /** Seconds each guest gets to power off (default 10). */
  timeout?: number;
  /** Called on the event loop with each step, all of them before the call
   * resolves; what it throws is a process warning (MicrosandboxWarning). */
  progress?: (event: ProjectEvent) => void;
}

/** A loaded Sandboxfile (docs/projects.md). */
export declare class Project {
  private constructor();
  readonly name: string;
  /** The Sandboxfile's absolute path. */
  readonly file: string;
  /** Its sandboxes in start order. */
  readonly sandboxes: ReadonlyArray<{ readonly key: string; readonly name: string }>;
  /** Read and check @path; without one, the Sandboxfile here or above. SandboxfileError says where. */
  static load(path?: string): Promise<Project>;
  /** The same from @text, as if read from @path. */
  static parse(text: string, path?: string): Promise<Project>;
  /** The resolved project (msb project config). */
  config(): Record<string, any>;
  up(options?: ProjectOptions): Promise<void>;
  /** `volumes: true` removes the named volumes it made too. */
  down(options?: { volumes?: boolean; timeout?: number; progress?: (event: ProjectEvent) => void }): Promise<void>;
  stop(options?: ProjectOptions): Promise<void>;
  restart(options?: ProjectOptions): Promise<void>;
  ps(): Promise<ProjectEntry[]>;
  sandbox(key: string): Promise<Sandbox>;
  exec(key: string, cmd: string | string[], options?: ExecOptions): Promise<ExecResult>;
  /** One of its scripts; the result's exit code is the script's. */
  run(key: string, script: string, options?: ExecOptions): Promise<ExecResult>;
  logs(key: string, options?: { tail?: number }): Promise<string>;
}

export declare class ImageInfo {
  private constructor();
  readonly reference: string;
  readonly canonical: string;
  readonly digest: string;
  readonly id: string;
  readonly size: number;
  readonly layers: number;
  readonly pulledAt: Date | null;
  readonly fetched: number;
  readonly builtin: boolean;
}

/**
 * How an image pull or load goes (msb_pull_progress; msb pull's lines),
 * as `progress` is called with it: on the event loop, in the order
 * libmsb made them, every one before the call settles and none after
 * (InvalidArgumentError before anything starts unless a function; what
 * it throws is a process warning, and the call goes on).
 */
export interface PullProgress {
  /** "resolving" (the reference, first), "downloading" (a blob),
   * "converting" (a layer, into its filesystem image) or "repaired" (a
   * stored layer image was damaged and is made again). */
  readonly phase: 'resolving' | 'downloading' | 'converting' | 'repaired';
  /** The blob ("sha256:..."), when there is one; else null. */
  readonly digest: string | null;
  /** Bytes of that blob downloaded, of its size: for one blob they only
   * grow, and its last "downloading" report has done == total. */
  readonly done: number;
  readonly total: number;
  /** Which layer (from 0), of how many the image has. */
  readonly index: number;
  readonly count: number;
}

/** Fetch @ref from its registry and convert its layers (msb pull);
 * `insecure`: plain http to a registry not on loopback. */
export declare function pullImage(ref: string, options?: {
  insecure?: boolean;
  progress?: (event: PullProgress) => void;
}): Promise<ImageInfo>;
/** An OCI layout (directory or tar) or a `docker save` archive, stored as
 * `tag` (msb load); its layers are converted as a pull's are. */
export declare function loadImage(path: string, options?: {
  tag?: string;
  progress?: (event: PullProgress) => void;
}): Promise<ImageInfo>;
export declare function listImages(): Promise<ImageInfo[]>;
/** Its record as msb image inspect prints it: reference, digests, layers
 * and its OCI config; NotFoundError when it is not here. */
export declare function inspectImage(ref: string): Promise<Record<string, any>>;
export declare function removeImage(ref: string): Promise<void>;
/** @ref as a tar at @path (msb save): an OCI image layout; 'docker' also
 * writes the manifest.json `docker load` reads. */
export declare function saveImage(ref: string, path: string, options?: { format?: 'oci' | 'docker' }): Promise<void>;
/** Delete blobs and layers no image and no sandbox uses, and debris of
 * interrupted pulls (msb image prune). */
export declare function pruneImages(): Promise<{ freedBytes: number; files: number }>;
/** Check @user's @password with @registry (a host), as msb registry login
 * and docker login do, then keep them ($MSB_HOME/auth.json, 0600).
 * PermissionDeniedError when it refuses them, FileError ('EHOSTUNREACH')
 * when it cannot be reached: nothing is stored then. `insecure`: plain
 * http to a registry not on loopback, as pullImage's. */
export declare function registryLogin(registry: string, user: string, password: string, options?: {
  insecure?: boolean;
}): Promise<void>;
/** Forget them (NotFoundError when there are none). */
export declare function registryLogout(registry: string): Promise<void>;

/** A command line's words, the rule exec() uses. */
export declare function splitCommand(line: string): string[];
/** $MSB_HOME or ~/.microsandbox. */
export declare function home(): string;
/** Throws InvalidArgumentError unless @name is a sandbox name. */
export declare function validName(name: string): void;
export declare const version: string;

// ---- errors ---------------------------------------------------------------------

/** Every error of the SDK. `code` is libmsb's code name ("MSB_E_NOT_FOUND",
 * "ENOSPC"), `errno` its number; the message says what happened and what to do. */
export declare class MicrosandboxError extends Error {
  constructor(message: string, options?: { errno?: number; code?: string; cause?: unknown });
  readonly errno: number;
  readonly code: string;
}
export declare class NotFoundError extends MicrosandboxError {}
export declare class AlreadyExistsError extends MicrosandboxError {}
export declare class InvalidArgumentError extends MicrosandboxError {}
/** A Sandboxfile that cannot be used: where, as its message says. */
export declare class SandboxfileError extends InvalidArgumentError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}
export declare class NotRunningError extends MicrosandboxError {}
export declare class AlreadyInStateError extends MicrosandboxError {}
export declare class BusyError extends MicrosandboxError {}
export declare class TimeoutError extends MicrosandboxError {}
export declare class SandboxStoppedError extends MicrosandboxError {}
export declare class PermissionDeniedError extends MicrosandboxError {}
export declare class ProtocolError extends MicrosandboxError {}
export declare class ImagePullFailedError extends MicrosandboxError {}
export declare class ImageNotFoundError extends ImagePullFailedError {}
export declare class BootFailedError extends MicrosandboxError {}
export declare class PolicyRefusedError extends MicrosandboxError {}
export declare class ExecFailedError extends MicrosandboxError {}
/** Stored files do not match their record: a snapshot's (not restored), an
 * installed plugin's, or an image layer damaged with its blob gone or
 * damaged too (pull the image again). */
export declare class DamagedError extends MicrosandboxError {}
/** The name before layers and plugins could be damaged too: DamagedError. */
export declare const SnapshotDamagedError: typeof DamagedError;
export type SnapshotDamagedError = DamagedError;
/** A reference names the other kind: a sandbox where an image was wanted, or the reverse. */
export declare class WrongKindError extends MicrosandboxError {}
/** A push or pull would lose changes made since the last one (force replaces them). */
export declare class ConflictError extends MicrosandboxError {}
export declare class NotSupportedError extends MicrosandboxError {}
export declare class ClosedError extends MicrosandboxError {}
export declare class LibraryNotFoundError extends MicrosandboxError {}
/** A guest file error with no class of its own (code "ENOSPC", "EISDIR"...);
 * also a registry a login cannot reach ("EHOSTUNREACH"). */
export declare class FileError extends MicrosandboxError {}
/** exec with `check` of a command that was not a success. */
export declare class CommandError extends MicrosandboxError {
  constructor(message: string, result: ExecResult);
  readonly result: ExecResult;
}
