# SPDX-License-Identifier: Apache-2.0
"""What a sandbox is made with: its network policy, volumes and secrets,
as the seeds write them:

    Sandbox.create("worker", image="node:20",
        network=Network(allow=["api.openai.com", "*.stripe.com"],
                        block_cidr=["169.254.0.0/16", "10.0.0.0/8"]),
        volumes={"/data": "./data", "/cache": MemFs()},
        secrets={"OPENAI_API_KEY": (key, "api.openai.com")})

Each becomes libmsb's C config (include/msb.h); nothing here decides
policy, the library and the supervisor do.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

from . import _lib, _native
from .errors import InvalidArgument, NotSupported

# ---- network -----------------------------------------------------------------


class DnsAction:
    """What an ``on_dns`` hook answers: ``ALLOW``, ``DENY`` (NXDOMAIN) or
    ``DnsAction.answer(["192.0.2.1"])``. A tuple's last item counts (the
    seed's ``lambda q: (log(...), DnsAction.ALLOW)``)."""

    ALLOW = "allow"
    DENY = "deny"

    @staticmethod
    def answer(addrs: Sequence[str]) -> dict:
        return {"verdict": "answer", "addrs": list(addrs)}


class HttpAction:
    """What an ``on_http`` or ``on_http_response`` hook answers (see
    DnsAction): ``forward`` it as it is, ``block`` it, or ``modify`` it (a
    new body; for an answer, a new head too)."""

    def __init__(self, kind: str, reason: str | None = None, request=None,
                 body: bytes | None = None, head: str | None = None):
        self.kind, self.reason, self.request = kind, reason, request
        self.body, self.head = body, head

    @classmethod
    def forward(cls, request=None) -> "HttpAction":
        return cls("forward", request=request)

    @classmethod
    def block(cls, reason: str) -> "HttpAction":
        return cls("block", reason=reason)

    @classmethod
    def modify(cls, body: bytes | None = None,
               head: str | None = None) -> "HttpAction":
        """``body``: the new body; ``head`` (answers only): the new status
        line and headers through the empty line (CRLFs), whose framing
        headers are replaced by the body's."""
        if body is None and head is None:
            raise InvalidArgument("HttpAction.modify() takes a body, a "
                                  "head or both")
        if isinstance(body, str):
            body = body.encode()
        return cls("modify", body=body, head=head)


class ConnectAction:
    """What an ``on_connect`` hook answers (see DnsAction): ``ALLOW`` (or
    None), ``DENY`` or ``ConnectAction.deny(reason)``: the guest's
    connection is reset (TCP), its datagrams dropped (UDP) or its echo
    answered unreachable (ICMP), and the sandbox's log says the reason."""

    ALLOW = "allow"
    DENY = "deny"

    @staticmethod
    def deny(reason: str = "on_connect") -> dict:
        if not isinstance(reason, str):
            raise InvalidArgument(f"ConnectAction.deny() takes a reason (a "
                                  f"string), not {reason!r}")
        return {"verdict": "deny", "reason": reason or "on_connect"}


@dataclass(frozen=True)
class ConnectRequest:
    """A new connection of the guest, as ``on_connect`` sees it, after the
    network policy let it through: ``proto`` ("tcp", "udp", "icmp"), the
    destination's ``ip`` (as the guest addressed it: the gateway's
    10.0.2.2 for an ``allow_host`` port) and ``port`` (0 for an ICMP
    echo)."""

    proto: str
    ip: str
    port: int


@dataclass(frozen=True)
class HttpResponseHead:
    """An answer's head as it came from the server, as
    ``on_http_response_head`` is told it, before any of the answer goes to
    the guest and before ``on_http_response`` is asked: its ``status``,
    ``head`` (the status line and headers, CRLF each, through the empty
    line; a secret's value already back to its placeholder), ``headers``
    (by lowercase name, each a list of values), ``body_length`` (its
    Content-Length; 0 for an answer without a body; -1 when the head does
    not say: chunked, until the close), ``request`` (the line of the
    request it answers), ``host`` (that request's Host) and ``tls``
    (inside intercepted TLS)."""

    status: int
    head: str
    headers: Mapping[str, list]
    body_length: int
    request: str
    host: str
    tls: bool = False


# ---- exec and lifecycle -------------------------------------------------------


class ExecAction:
    """What an ``on_exec`` hook answers (see DnsAction): ``ALLOW`` (or
    None), ``ExecAction.deny(reason)`` (the caller gets PolicyRefused with
    the reason) or ``ExecAction.rewrite(argv=[...], env=...)`` (that
    command runs instead; ``env``: ``KEY=VALUE`` strings or a mapping,
    replacing the exec's own)."""

    ALLOW = "allow"

    def __init__(self, kind: str, reason: str | None = None,
                 argv: list | None = None, env: list | None = None):
        self.kind, self.reason, self.argv, self.env = kind, reason, argv, env

    def __repr__(self) -> str:
        if self.kind == "deny":
            return f"ExecAction.deny({self.reason!r})"
        return f"ExecAction.rewrite(argv={self.argv!r}, env={self.env!r})"

    @classmethod
    def deny(cls, reason: str = "on_exec") -> "ExecAction":
        if not isinstance(reason, str):
            raise InvalidArgument(f"ExecAction.deny() takes a reason (a "
                                  f"string), not {reason!r}")
        return cls("deny", reason=reason or "on_exec")

    @classmethod
    def rewrite(cls, argv: Sequence[str] | None = None,
                env: Union[Mapping[str, str], Sequence[str], None] = None
                ) -> "ExecAction":
        if argv is None and env is None:
            raise InvalidArgument("ExecAction.rewrite() takes argv=[...], "
                                  "env=... or both")
        if argv is not None:
            if isinstance(argv, str) or not isinstance(argv, (list, tuple)) \
                    or not argv or not all(isinstance(a, str) for a in argv) \
                    or not argv[0]:
                raise InvalidArgument(
                    f"ExecAction.rewrite(argv={argv!r}): argv is a non-empty "
                    "list of strings, the program first")
            argv = list(argv)
        if env is not None:
            if isinstance(env, Mapping):
                env = [f"{k}={v}" for k, v in env.items()]
            elif isinstance(env, str) or not isinstance(env, (list, tuple)) \
                    or not all(isinstance(e, str) and "=" in e[1:]
                               for e in env):
                raise InvalidArgument(
                    f"ExecAction.rewrite(env={env!r}): env is a mapping or "
                    "a list of 'KEY=VALUE' strings")
            env = list(env)
        return cls("rewrite", argv=argv, env=env)


@dataclass(frozen=True)
class ExecCall:
    """A command about to run, as ``on_exec`` sees it: its ``argv``, the
    exec's own ``env`` (``KEY=VALUE`` strings, not the sandbox's
    defaults), its ``cwd`` and ``user`` when given, ``tty`` when it has
    one."""

    argv: list
    env: list
    cwd: str | None = None
    user: str | None = None
    tty: bool = False


@dataclass(frozen=True)
class ExecExit:
    """A command that ended, as ``on_exec_exit`` sees it: the ``argv`` that
    ran (after any rewrite), its ``exit_code``, the ``signal`` that ended
    it (0 if none), ``duration`` (seconds) and ``timed_out`` (its timeout
    killed it)."""

    argv: list
    exit_code: int
    signal: int
    duration: float
    timed_out: bool = False


@dataclass(frozen=True)
class LifecycleEvent:
    """A sandbox's lifecycle event, as ``on_lifecycle`` sees it:
    ``event`` ("create", "start", "restore", "snapshot", "stop",
    "remove"), ``sandbox`` (its name); ``boot_ms`` (start, restore),
    ``snapshot`` (a restore's snapshot), ``full`` (a snapshot with
    memory), ``error`` (a stop that failed) and ``image`` (create) when
    the event has them; ``fields``: all of them as sent
    (docs/plugins.md)."""

    event: str
    sandbox: str
    boot_ms: int | None = None
    snapshot: str | None = None
    full: bool | None = None
    error: str | None = None
    image: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Network:
    """The sandbox's network policy (docs/network.md).

    allow       names (``"api.openai.com"``, ``"*.stripe.com"``); with any,
                only the addresses the sandbox's resolver returned for them
                are reachable
    allow_cidr  ranges opened, even default-denied ones
    block_cidr  ranges closed (``"169.254.0.0/16"``)
    deny_all    nothing leaves but what is allowed here (air-gapped)
    dns         ``"IP[:PORT]"`` of the upstream resolver
    ports       published ports: ``"8080:80"``, ``"127.0.0.1:8080:80"``,
                or ``(host_port, guest_port)``
    plugin      a shared object with network hooks (msb_net_plugin.h)
    allow_host  TCP ports of the host's loopback the guest may reach at
                the gateway (``host.msb.internal:PORT``), e.g. ``[11434]``
    on_dns, on_connect, on_http, on_http_response, on_http_response_head
                hooks written in Python, called in this process (the hook
                protocol, docs/plugins.md, over a socket the sandbox's
                supervisor connects to): ``on_dns(q)`` gets ``q.name``,
                ``q.qtype``; ``on_connect(c)`` a ConnectRequest for each
                new connection the policy let through (``c.proto``,
                ``c.ip``, ``c.port``) and returns ``ConnectAction.ALLOW``
                (or None), ``DENY`` or ``ConnectAction.deny(reason)``;
                anything else it returns refuses the connection;
                ``on_http(req)`` gets ``req.host``,
                ``req.head``, ``req.body`` (bytes), ``req.tls``;
                ``on_http_response(resp)`` gets every answer before the
                guest does: ``resp.status``, ``resp.head``, ``resp.body``
                (bytes, whole up to 8 MiB; None past it),
                ``resp.request`` (the request line), ``resp.host``,
                ``resp.tls``, secret values already scrubbed back to
                their placeholders. Each call has a deadline (1 s): a
                hook that misses it, or raises, refuses that query,
                request or answer. ``on_http_response_head(h)`` only
                watches: it is told each answer's head as the server
                sent it (an HttpResponseHead: ``h.status``,
                ``h.headers``, ``h.body_length``, ``h.request``...)
                before any of it reaches the guest; nothing waits for it
                (it runs on a thread of its own, in order), what it
                returns is ignored, what it raises is printed
    """

    allow: Sequence[str] | None = None
    block_cidr: Sequence[str] | None = None
    allow_cidr: Sequence[str] | None = None
    deny_all: bool = False
    dns: str | None = None
    ports: Sequence[Union[str, tuple]] | None = None
    plugin: str | None = None
    allow_host: Sequence[Union[int, str]] | None = None
    on_dns: Callable[[Any], Any] | None = None
    on_connect: Callable[[ConnectRequest], Any] | None = None
    on_http: Callable[[Any], Any] | None = None
    on_http_response: Callable[[Any], Any] | None = None
    on_http_response_head: Callable[[HttpResponseHead], Any] | None = None


def _port(p) -> str:
    if isinstance(p, str):
        return p
    if isinstance(p, tuple) and len(p) in (2, 3):
        return ":".join(str(x) for x in p)
    raise InvalidArgument(f"invalid port {p!r}: use 'HOST:GUEST' or "
                          "(host_port, guest_port)")


# ---- volumes -----------------------------------------------------------------


@dataclass
class HostDir:
    """A host directory passed through (``volumes={"/data": "./data"}`` is
    ``HostDir("./data")``). ``readonly`` is enforced by the host;
    ``overlay_mib`` keeps the guest's changes in host RAM, never writing
    the directory; ``direct`` bypasses the guest's page cache; ``cache``
    ("auto", "always" or "never", as ``-v DIR:/p:cache=``) is what the
    guest may keep of names and attributes, ``cache_timeout`` for how many
    seconds instead of the mode's (docs/filesystems.md)."""

    path: str
    readonly: bool = False
    direct: bool = False
    overlay_mib: int = 0
    cache: str | None = None
    cache_timeout: float | None = None


@dataclass
class MemFs:
    """A filesystem in host RAM, ``size_mib`` big (default 64)."""

    size_mib: int = 0
    readonly: bool = False


@dataclass
class PluginFs:
    """A filesystem served by a shared object implementing msb_fs.h
    (``examples/auditfs.c``), given ``arg``, optionally over a host
    directory ``dir``."""

    path: str
    arg: str | None = None
    dir: str | None = None
    readonly: bool = False


@dataclass
class NamedVolume:
    """A named volume (``Volume.create``, ``msb volume create``) mounted by
    name, as ``msb run -v NAME:/path``: a directory the host keeps apart
    from any sandbox, shared by every sandbox that mounts it. One that does
    not exist yet is made, with no size limit."""

    name: str
    readonly: bool = False


class Passthrough:
    """The native backend a ``FileSystemBackend`` wraps: its operations
    return None, "let the supervisor's own backend do it". Data never
    crosses into Python; only the operations a subclass overrides are
    asked of it (docs/plugins.md)."""

    def __init__(self, source: Union[str, os.PathLike, "HostDir", "MemFs"]):
        if isinstance(source, (str, os.PathLike)):
            source = HostDir(os.fspath(source))
        self.source = source

    def __getattr__(self, op):
        if op in FS_OPS:
            return lambda *a, **k: None
        raise AttributeError(op)


# Operations a FileSystemBackend may override (docs/plugins.md); each is
# called as op(ctx, ino, ...) with ctx.pid, ctx.uid, and the call's
# fields as keywords (name, flags...). Return None (or self.inner.op(...))
# to let the native backend run it, raise OSError(errno, ...) to refuse.
FS_OPS = ("lookup", "getattr", "setattr", "readlink", "symlink", "mknod",
          "mkdir", "unlink", "rmdir", "rename", "link", "open", "read",
          "write", "statfs", "release", "fsync", "setxattr", "getxattr",
          "listxattr", "removexattr", "flush", "opendir", "readdir",
          "releasedir", "fsyncdir", "getlk", "setlk", "access", "create",
          "fallocate", "lseek", "copy_file_range", "syncfs")


class FileSystemBackend:
    """A filesystem written in Python (the seeds' ``AuditFs``): subclass and
    override the operations to watch or refuse (``open(self, ctx, ino,
    flags)``, ...); ``self.inner`` is the native backend underneath
    (``AuditFs("./data")`` wraps a passthrough of ./data, ``AuditFs(MemFs())``
    one in RAM). The overridden operations are called in this process
    before the native backend runs them; every other one stays native.
    An operation that returns None (``return self.inner.open(...)``) goes
    on; one that raises OSError is refused with its errno."""

    def __init__(self, inner=None):
        if inner is None:
            raise InvalidArgument(
                f"{type(self).__name__} needs the backend it wraps: a host "
                "directory (\"./data\"), HostDir(...) or MemFs(...)")
        self.inner = inner if isinstance(inner, Passthrough) \
            else Passthrough(inner)

    def overridden(self) -> list:
        return [op for op in FS_OPS
                if getattr(type(self), op, None) is not None and
                getattr(type(self), op) is not getattr(FileSystemBackend, op,
                                                        None)]


@dataclass
class AuditLog:
    """The audit-log built-in (docs/plugins.md): JSON lines of lifecycle,
    exec, network and file events in ``dir`` (default: the sandbox's
    audit/ directory); ``fs``: the file operations logged."""

    dir: str | None = None
    fs: Sequence[str] | None = None

    name = "audit-log"

    def options(self) -> str:
        o = []
        if self.dir:
            o.append(f"dir={os.path.abspath(self.dir)}")
        if self.fs:
            o.append("fs=" + "+".join(self.fs))
        return ",".join(o)


@dataclass
class RateLimiter:
    """The rate-limiter built-in: execs and new connections a second
    beyond which they are refused (``RateLimiter(100)``: 100 execs), and
    the bytes a second the guest's network carries each way
    (``max_bytes_per_sec=1 << 20``)."""

    max_exec_per_sec: float | None = None
    max_conn_per_sec: float | None = None
    max_bytes_per_sec: int | None = None

    name = "rate-limiter"

    def options(self) -> str:
        o = []
        if self.max_exec_per_sec:
            o.append(f"exec={self.max_exec_per_sec:g}")
        if self.max_conn_per_sec:
            o.append(f"connect={self.max_conn_per_sec:g}")
        if self.max_bytes_per_sec:
            o.append(f"bytes={int(self.max_bytes_per_sec)}")
        return ",".join(o)


VolumeSpec = Union[str, os.PathLike, HostDir, MemFs, PluginFs, NamedVolume,
                   FileSystemBackend]

# ---- secrets -----------------------------------------------------------------


@dataclass
class Secret:
    """A secret the guest sees only as a placeholder; the value is swapped in
    on the host, only in verified TLS to ``hosts`` (docs/secrets.md).
    ``secrets={"KEY": (value, "api.example.com")}`` is
    ``Secret.value(value, "api.example.com")``; ``from_env`` and
    ``from_file`` read the value again at every start, so such a sandbox
    can be stopped and started."""

    source: int
    ref: str
    hosts: Union[str, Sequence[str]]
    inject: Union[str, Sequence[str], None] = None

    @classmethod
    def value(cls, value: str, hosts, inject=None) -> "Secret":
        return cls(_lib.SECRET_VALUE, value, hosts, inject)

    @classmethod
    def from_env(cls, var: str, hosts, inject=None) -> "Secret":
        return cls(_lib.SECRET_ENV, var, hosts, inject)

    @classmethod
    def from_file(cls, path: str, hosts, inject=None) -> "Secret":
        return cls(_lib.SECRET_FILE, os.fspath(path), hosts, inject)


def _joined(v) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else ",".join(v)


# ---- into the C config -------------------------------------------------------


@dataclass
class CConfig:
    """A filled msb_sandbox_config and everything its pointers point at."""

    cfg: _lib.SandboxConfig
    keep: list = field(default_factory=list)
    hooks: Any = None  # a microsandbox.plugin.Plugin of Python callbacks
    spawn: "SpawnPolicy | None" = None


# ---- spawning peers (docs/spawn.md) -------------------------------------------


class SpawnPolicy:
    """An msb_spawn_policy: what a sandbox's programs may start beside it
    (``allow_spawn=`` and the ``spawn_*`` options of Sandbox.create).
    libmsb enforces it; this only hands it over. Freed with the object."""

    def __init__(self, max_peers: int, images: Sequence[str], cpus: int,
                 memory_mib: int, total_memory_mib: int):
        lib = _lib.lib()
        self.ptr = lib.msb_spawn_policy_new(max_peers)
        if not self.ptr:
            raise InvalidArgument(f"allow_spawn={max_peers}: give 1 to 64 "
                                  "live peers")
        for img in images:
            err = _lib.MsbError()
            if lib.msb_spawn_policy_add_image(self.ptr, img.encode(),
                                              ctypes.byref(err)) < 0:
                raise InvalidArgument(f"spawn_images: {_lib.text(err.message)}",
                                      err.code, "MSB_E_INVALID")
        lib.msb_spawn_policy_set_limits(self.ptr, cpus, memory_mib,
                                        total_memory_mib)

    def __del__(self):
        if getattr(self, "ptr", None):
            _lib.lib().msb_spawn_policy_free(self.ptr)
            self.ptr = None


def spawn_policy(allow_spawn=None, spawn_images=None, spawn_cpus=None,
                 spawn_memory=None, spawn_total_memory=None
                 ) -> SpawnPolicy | None:
    """The policy of ``Sandbox.create``'s spawn options (None: spawning
    off), refused as msb run refuses it, before anything is made."""
    shaped = (spawn_images is not None or spawn_cpus is not None or
              spawn_memory is not None or spawn_total_memory is not None)
    if allow_spawn is None:
        if shaped:
            raise InvalidArgument("spawn_images, spawn_cpus, spawn_memory and "
                                  "spawn_total_memory shape what allow_spawn=N "
                                  "allows: give it too")
        return None
    if isinstance(allow_spawn, bool) or not isinstance(allow_spawn, int) or \
            not 1 <= allow_spawn <= 64:
        raise InvalidArgument(f"allow_spawn={allow_spawn!r}: give 1 to 64 live "
                              "peers")
    if isinstance(spawn_images, str):
        spawn_images = [spawn_images]
    images = list(spawn_images or [])
    if len(images) > 32:
        raise InvalidArgument(f"spawn_images: {len(images)} images; at most 32 "
                              "(the sandbox's own always may be used)")
    for img in images:
        if not isinstance(img, str) or not img:
            raise InvalidArgument(f"spawn_images: {img!r} is not an image "
                                  "reference")
    cpus = 0
    if spawn_cpus is not None:
        if isinstance(spawn_cpus, bool) or not isinstance(spawn_cpus, int) or \
                not 1 <= spawn_cpus <= 64:
            raise InvalidArgument(f"spawn_cpus={spawn_cpus!r}: a peer's CPUs, "
                                  "1 to 64")
        cpus = spawn_cpus
    mem = 0 if spawn_memory is None else parse_memory(spawn_memory,
                                                      "spawn_memory")
    total = 0 if spawn_total_memory is None else \
        parse_memory(spawn_total_memory, "spawn_total_memory")
    return SpawnPolicy(allow_spawn, images, cpus, mem, total)


_CACHE_MODES = {"never": 1, "auto": 2, "always": 3}


def _cache(v, spec: HostDir) -> None:
    """HostDir's cache mode and timeout into msb_volume's fields."""
    if spec.cache is not None:
        if spec.cache not in _CACHE_MODES:
            raise InvalidArgument(f"invalid cache mode {spec.cache!r}: use "
                                  "'auto', 'always' or 'never'")
        v.cache = _CACHE_MODES[spec.cache]
    if spec.cache_timeout is not None:
        t = spec.cache_timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or \
                not 0 <= t <= 86400:
            raise InvalidArgument(f"invalid cache_timeout {t!r}: use a "
                                  "number of seconds from 0 to 86400")
        v.cache_timeout_ms = int(round(t * 1000))


def _arr(keep, items) -> Any:
    a = _lib.strv(items)
    if a is None:
        return None
    keep.append(a)
    return a.ptr


def build(name: str, *, image=None, cpus=None, memory=None, disk=None, env=None,
          workdir=None, user=None, volumes=None, network=None, secrets=None,
          ports=None, on_secret_violation=None, tls_bypass=None,
          tls_upstream_ca=None, kernel=None, boot_timeout=None,
          ephemeral=False, command=None, on_exec=None, on_exec_exit=None,
          on_lifecycle=None) -> CConfig:
    c = _lib.SandboxConfig()
    lib = _lib.lib()
    lib.msb_sandbox_config_init(ctypes.byref(c))
    out = CConfig(c)
    keep = out.keep

    def s(v):
        if v is None:
            return None
        b = str(v).encode()
        keep.append(b)
        return b

    if not isinstance(name, str) or not name:
        raise InvalidArgument("a sandbox needs a name (a string)")
    c.name = s(name)
    c.image = s(image)
    if cpus is not None:
        if not isinstance(cpus, int) or cpus < 1:
            raise InvalidArgument(f"invalid cpus {cpus!r}: a positive integer")
        c.cpus = cpus
    if memory is not None:
        c.memory_mib = parse_memory(memory)
    if disk is not None:
        c.disk_mib = parse_memory(disk, "disk")
    if env:
        items = [f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping) \
            else list(env)
        c.env = _arr(keep, items)
    c.workdir = s(workdir)
    c.user = s(user)
    c.kernel = s(kernel)
    c.ephemeral = 1 if ephemeral else 0
    if boot_timeout is not None:
        c.boot_timeout_ms = int(boot_timeout * 1000)
    if command is not None:
        import shlex
        c.cmd = _arr(keep, shlex.split(command) if isinstance(command, str)
                     else list(command))
    net = network or Network()
    if not isinstance(net, Network):
        raise InvalidArgument("network= takes a Network(...)")
    if _fn(net.on_dns, "on_dns", "a query") is not None:
        _hooks(out).on("dns", _dns_hook(net.on_dns))
    if _fn(net.on_connect, "on_connect", "a ConnectRequest") is not None:
        _hooks(out).on("connect", _connect_hook(net.on_connect))
    if _fn(net.on_http, "on_http", "a request") is not None:
        _hooks(out).on("http_request", _http_hook(net.on_http))
    if _fn(net.on_http_response, "on_http_response", "an answer") is not None:
        _hooks(out).on("http_response",
                       _http_hook(net.on_http_response, "on_http_response"))
    if _fn(net.on_http_response_head, "on_http_response_head",
           "an HttpResponseHead") is not None:
        _hooks(out).on("http_response_head",
                       _response_head_hook(net.on_http_response_head))
    if _fn(on_exec, "on_exec", "an ExecCall") is not None:
        _hooks(out).on("exec_before", _exec_hook(on_exec))
    if _fn(on_exec_exit, "on_exec_exit", "an ExecExit") is not None:
        _hooks(out).on("exec_after", _exec_exit_hook(on_exec_exit))
    if _fn(on_lifecycle, "on_lifecycle", "a LifecycleEvent") is not None:
        _hooks(out).on("lifecycle", _lifecycle_hook(on_lifecycle))
    c.net.deny_all = 1 if net.deny_all else 0
    c.net.allow = _arr(keep, net.allow)
    c.net.allow_cidr = _arr(keep, net.allow_cidr)
    c.net.block_cidr = _arr(keep, net.block_cidr)
    c.net.dns_nameserver = s(net.dns)
    all_ports = list(net.ports or []) + list(ports or [])
    c.net.ports = _arr(keep, [_port(p) for p in all_ports]) if all_ports else None
    c.net.plugin = s(net.plugin)
    if net.allow_host:
        c.net.allow_host = _arr(keep, [str(p) for p in net.allow_host])
    if volumes:
        vols = (_lib.Volume * len(volumes))()
        for i, (gpath, spec) in enumerate(volumes.items()):
            v = vols[i]
            v.guest_path = s(gpath)
            if isinstance(spec, (str, os.PathLike)):
                spec = HostDir(os.fspath(spec))
            if isinstance(spec, HostDir):
                v.kind = _lib.VOLUME_HOST
                v.source = s(spec.path)
                v.readonly = int(spec.readonly)
                v.direct_io = int(spec.direct)
                v.overlay_mib = spec.overlay_mib
                _cache(v, spec)
            elif isinstance(spec, MemFs):
                v.kind = _lib.VOLUME_MEMORY
                v.size_mib = spec.size_mib
                v.readonly = int(spec.readonly)
            elif isinstance(spec, NamedVolume):
                if not isinstance(spec.name, str) or not spec.name:
                    raise InvalidArgument(f"NamedVolume at {gpath}: a volume "
                                          "name (a string)")
                v.kind = _lib.VOLUME_NAMED
                v.source = s(spec.name)
                v.readonly = int(spec.readonly)
            elif isinstance(spec, PluginFs):
                v.kind = _lib.VOLUME_PLUGIN
                v.source = s(spec.path)
                v.arg = s(spec.arg)
                v.dir = s(spec.dir)
                v.readonly = int(spec.readonly)
            elif isinstance(spec, FileSystemBackend):
                src = spec.inner.source
                if isinstance(src, HostDir):
                    v.kind = _lib.VOLUME_HOST
                    v.source = s(src.path)
                    v.readonly = int(src.readonly)
                elif isinstance(src, MemFs):
                    v.kind = _lib.VOLUME_MEMORY
                    v.size_mib = src.size_mib
                else:
                    raise InvalidArgument(
                        f"{type(spec).__name__} at {gpath} wraps {src!r}: "
                        "a host directory or MemFs(...) can be wrapped")
                _fs_hooks(out, gpath, spec)
            else:
                raise InvalidArgument(
                    f"invalid volume {spec!r} at {gpath}: use a host path, "
                    "HostDir(...), MemFs(...), PluginFs(...) or "
                    "NamedVolume(...)")
        keep.append(vols)
        c.volumes = vols
        c.nvolumes = len(volumes)
    if secrets:
        arr = (_lib.Secret * len(secrets))()
        for i, (var, spec) in enumerate(secrets.items()):
            if isinstance(spec, tuple) and len(spec) in (2, 3):
                spec = Secret.value(*spec)
            if not isinstance(spec, Secret):
                raise InvalidArgument(
                    f"invalid secret {var}: use (value, hosts) or "
                    "Secret.from_env(...) / Secret.from_file(...)")
            arr[i].env = s(var)
            arr[i].source = spec.source
            arr[i].ref = s(spec.ref)
            arr[i].hosts = s(_joined(spec.hosts))
            arr[i].inject = s(_joined(spec.inject))
        keep.append(arr)
        c.secrets = arr
        c.nsecrets = len(secrets)
    c.on_secret_violation = s(on_secret_violation)
    if tls_bypass:
        c.tls_bypass = _arr(keep, list(tls_bypass))
        c.ntls_bypass = len(tls_bypass)
    if tls_upstream_ca:
        pems = [_tls_ca(ca) for ca in tls_upstream_ca]
        c.tls_upstream_ca = _arr(keep, pems)
        c.ntls_upstream_ca = len(pems)
    return out


def _tls_ca(ca) -> str:
    """The PEM text of a tls_upstream_ca entry: PEM text itself (it starts
    with "-----BEGIN"; checked by the create), else a path of a file of CA
    certificates, read by msb_tls_ca_read() as msb run --tls-upstream-ca
    reads it (checked as a create checks it: certificates that parse, no
    private key); the error names the file: NotFound for a missing one,
    PermissionDenied for one it may not read, InvalidArgument for one that
    holds no certificate or a private key, as in every SDK."""
    if isinstance(ca, str) and ca.lstrip().startswith("-----BEGIN"):
        return ca
    if not isinstance(ca, (str, bytes, os.PathLike)):
        raise InvalidArgument(f"invalid tls_upstream_ca entry {ca!r}: a path "
                              "of a PEM file of CA certificates, or PEM text")
    pem = ctypes.c_void_p()
    _native.call(_lib.lib().msb_tls_ca_read, os.fsencode(ca),
                 ctypes.byref(pem))
    try:
        return ctypes.string_at(pem).decode()
    finally:
        _lib.free(pem)


def parse_memory(memory, what="memory") -> int:
    """MiB from 512, "512M", "1G", "1.5GiB"."""
    if isinstance(memory, int):
        if isinstance(memory, bool) or memory <= 0:
            raise InvalidArgument(f"invalid {what} {memory!r}: MiB (an integer "
                                  "above 0) or a size such as \"1G\"")
        return memory
    mib = ctypes.c_uint64()
    err = _lib.MsbError()
    if _lib.lib().msb_parse_memory(str(memory).encode(), ctypes.byref(mib),
                                   ctypes.byref(err)) < 0:
        raise InvalidArgument(_lib.text(err.message), err.code, "MSB_E_INVALID")
    return mib.value


# ---- hooks written in Python (docs/plugins.md) -------------------------------


def _hooks(out: CConfig):
    from .plugin import Plugin
    if out.hooks is None:
        out.hooks = Plugin("python-sdk")
        out.hooks.fs_volumes = {}
    return out.hooks


def _last(r):
    return r[-1] if isinstance(r, tuple) and r else r


def _fn(v, what: str, arg: str):
    """@v if it is a hook this process can call (or None)."""
    if v is None:
        return None
    import inspect
    if not callable(v):
        raise InvalidArgument(f"{what}= takes a function called with {arg}, "
                              f"not {v!r}")
    if inspect.iscoroutinefunction(v) or inspect.iscoroutinefunction(
            getattr(v, "__call__", None)):
        raise InvalidArgument(
            f"{what}= takes a plain function: hooks are called on a thread "
            f"of this process's hook server, with no event loop to await "
            f"{getattr(v, '__name__', v)!r} on")
    return v


def _dns_hook(fn):
    def hook(call):
        r = _last(fn(call))
        if r is None or r == DnsAction.ALLOW:
            return None
        if r == DnsAction.DENY:
            return {"verdict": "deny", "reason": "on_dns"}
        if isinstance(r, dict):
            return r
        raise ValueError(f"on_dns returned {r!r}: DnsAction.ALLOW, "
                         "DnsAction.DENY or DnsAction.answer([...])")
    return hook


def _http_hook(fn, what="on_http"):
    def hook(call):
        r = _last(fn(call))
        if r is None or (isinstance(r, HttpAction) and r.kind == "forward"):
            return None
        if isinstance(r, HttpAction) and r.kind == "block":
            return {"verdict": "deny", "reason": r.reason or what}
        if isinstance(r, HttpAction) and r.kind == "modify" and (
                r.head is None or what == "on_http_response"):
            import base64
            out = {"verdict": "modify"}
            if r.body is not None:
                out["body_b64"] = base64.b64encode(r.body).decode()
            if r.head is not None:
                out["head"] = r.head
            return out
        mod = ("body=..., head=..." if what == "on_http_response" else
               "body=...")
        raise ValueError(f"{what} returned {r!r}: HttpAction.forward(), "
                         f"HttpAction.block(reason) or "
                         f"HttpAction.modify({mod})")
    return hook


def _refused(what: str, e: Union[BaseException, str]) -> dict:
    """A hook that raised, or returned what it may not: its call refused,
    saying why, here (stderr) and to the caller (the reason)."""
    import sys
    import traceback
    if isinstance(e, str):
        print(f"microsandbox: {e} (refused)", file=sys.stderr)
        return {"verdict": "deny", "reason": e}
    print(f"microsandbox: {what} raised (refused):", file=sys.stderr)
    traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    return {"verdict": "deny", "reason": f"{what} raised {e!r}"}


def _connect_hook(fn):
    def hook(call):
        c = ConnectRequest(proto=call.proto or "", ip=call.ip or "",
                           port=int(call.port or 0))
        try:
            r = _last(fn(c))
        except BaseException as e:  # fail closed: the connection is refused
            return _refused("on_connect", e)
        if r is None or (isinstance(r, str) and r == ConnectAction.ALLOW):
            return None
        if isinstance(r, str) and r == ConnectAction.DENY:
            return {"verdict": "deny", "reason": "on_connect"}
        if isinstance(r, dict) and r.get("verdict") == "deny" and \
                isinstance(r.get("reason"), str):
            return {"verdict": "deny", "reason": r["reason"]}
        return _refused("on_connect", (
            f"on_connect returned {r!r}: return ConnectAction.ALLOW (or "
            "None), ConnectAction.DENY or ConnectAction.deny(reason)"))
    return hook


def _exec_hook(fn):
    def hook(call):
        c = ExecCall(argv=list(call.argv or []), env=list(call.env or []),
                     cwd=call.cwd, user=call.user, tty=bool(call.tty))
        try:
            r = _last(fn(c))
        except BaseException as e:  # fail closed: the exec is refused
            return _refused("on_exec", e)
        if r is None or r == ExecAction.ALLOW:
            return None
        if isinstance(r, ExecAction) and r.kind == "deny":
            return {"verdict": "deny", "reason": r.reason}
        if isinstance(r, ExecAction) and r.kind == "rewrite":
            out: dict = {"verdict": "allow"}
            if r.argv is not None:
                out["argv"] = r.argv
            if r.env is not None:
                out["env"] = r.env
            return out
        return _refused("on_exec", (
            f"on_exec returned {r!r}: return ExecAction.ALLOW (or None), "
            "ExecAction.deny(reason) or ExecAction.rewrite(argv=..., "
            "env=...)"))
    return hook


def _told(what: str, fn, ev) -> None:
    """Event @ev to hook @fn; what it raises is printed, not raised."""
    try:
        fn(ev)
    except BaseException as e:  # an event is not answered: go on serving
        import sys
        import traceback
        print(f"microsandbox: {what} raised:", file=sys.stderr)
        traceback.print_exception(type(e), e, e.__traceback__,
                                  file=sys.stderr)


def _exec_exit_hook(fn):
    def hook(call):
        _told("on_exec_exit", fn, ExecExit(
            argv=list(call.argv or []), exit_code=int(call.exit_code or 0),
            signal=int(call.signal or 0),
            duration=float(call.duration_ms or 0) / 1000,
            timed_out=bool(call.timed_out)))
    return hook


def _response_head_hook(fn):
    def hook(call):
        head = call.head or ""
        headers: dict = {}
        for line in head.split("\r\n")[1:]:
            k, sep, v = line.partition(":")
            if sep and k.strip():
                headers.setdefault(k.strip().lower(), []).append(v.strip())
        n = call.body_length
        _told("on_http_response_head", fn, HttpResponseHead(
            status=int(call.status or 0), head=head, headers=headers,
            body_length=-1 if n is None else int(n),
            request=call.request or "", host=call.host or "",
            tls=bool(call.tls)))
    return hook


def _lifecycle_hook(fn):
    def hook(call):
        m = {k: v for k, v in call._msg.items() if k not in ("type", "hook")}
        _told("on_lifecycle", fn, LifecycleEvent(
            event=m.get("event", ""), sandbox=m.get("sandbox", ""),
            boot_ms=m.get("boot_ms"), snapshot=m.get("snapshot"),
            full=m.get("full"), error=m.get("error"), image=m.get("image"),
            fields=m))
    return hook


class _Ctx:
    def __init__(self, call):
        self.pid = call.pid
        self.uid = call.uid


def _fs_hooks(out: CConfig, gpath: str, backend: FileSystemBackend) -> None:
    ops = backend.overridden()
    if not ops:
        return
    p = _hooks(out)
    p.fs_volumes[gpath] = backend
    for op in ops:
        if op not in p.fs_ops:
            p.fs_ops.append(op)

    def hook(call):
        b = p.fs_volumes.get(call.volume)
        fn = getattr(b, call.op, None) if b is not None else None
        if fn is None or call.op not in b.overridden():
            return None
        kw = {k: v for k, v in call._msg.items()
              if k in ("name", "newname", "newparent")}
        try:
            fn(_Ctx(call), call.ino, call.flags, **kw) if call.op in (
                "open", "opendir", "create") else fn(_Ctx(call), call.ino,
                                                     **kw)
        except OSError as e:
            return {"verdict": "deny", "reason": str(e),
                    "errno": e.errno or 13}
        return None
    p.on("fs", hook)
