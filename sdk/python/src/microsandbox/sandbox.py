# SPDX-License-Identifier: Apache-2.0
"""Sandbox: a microVM of its own, made, driven and removed from asyncio.

    sb = await Sandbox.create("agent", image="python:3.12",
        secrets={"OPENAI_API_KEY": (key, "api.openai.com")})
    await sb.exec("pip install numpy")

    async with Sandbox.create("scratch") as sb:    # removed when the block ends
        print((await sb.exec(["uname", "-r"])).stdout)

Everything is done by libmsb; the calls that wait on a boot, a stop or a
database run in the default executor, and commands and file streams are
watched on the event loop itself (add_reader), so many of them at once
cost no threads.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from . import _lib, cloud, config, process
from .events import Event, EventStream
from ._native import blocking, call, call_json
from .errors import InvalidArgument, NotFound, NotSupported
from .files import Files
from .process import Command, ExecResult, OutputCallback, Process, argv_of


@dataclass(frozen=True)
class SandboxInfo:
    """A sandbox's record (``Sandbox.list()``, ``sb.info()``)."""

    name: str
    image: str
    status: str        # created starting running stopping stopped failed
    cpus: int
    memory_mib: int
    created_at: int    # unix seconds
    started_at: int
    stopped_at: int
    error: str | None  # why it failed, when it did
    from_snapshot: str | None

    @property
    def running(self) -> bool:
        return self.status == "running"


def _record(i: _lib.SandboxInfo) -> SandboxInfo:
    return SandboxInfo(_lib.text(i.name), _lib.text(i.image),
                       _lib.text(i.status), i.cpus, i.memory_mib, i.created_at,
                       i.started_at, i.stopped_at,
                       _lib.text(i.error) or None,
                       _lib.text(i.from_snapshot) or None)


@dataclass(frozen=True)
class Port:
    """A published port as bound: connections to ``host_ip:host_port``
    reach the guest's ``guest_port``."""

    host_ip: str
    host_port: int
    guest_port: int


@dataclass(frozen=True)
class Metrics:
    """What a sandbox uses (``sb.metrics()``). ``cpu_percent``: the VM's
    CPU use over the last second, 100 = one CPU busy; memory in use is the
    guest's (its total less what is available); ``disk_bytes`` the host
    disk its writable layer takes; network bytes are into (rx) and out of
    (tx) the guest; ``guest`` False when the guest did not answer (then
    memory_used_bytes is the host's RSS)."""

    name: str
    status: str
    running: bool
    guest: bool
    cpus: int
    cpu_percent: float
    cpu_time_ns: int
    memory_limit_bytes: int
    memory_used_bytes: int
    memory_total_bytes: int
    memory_rss_bytes: int
    disk_bytes: int
    disk_used_bytes: int
    disk_total_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    net_rx_packets: int
    net_tx_packets: int
    processes: int
    uptime_ms: int


def _metrics(s: _lib.Stats) -> Metrics:
    return Metrics(_lib.text(s.name), _lib.text(s.status), bool(s.running),
                   bool(s.guest), s.cpus, s.cpu_percent, s.cpu_time_ns,
                   s.memory_limit_bytes, s.memory_used_bytes,
                   s.memory_total_bytes, s.memory_rss_bytes, s.disk_bytes,
                   s.disk_used_bytes, s.disk_total_bytes, s.net_rx_bytes,
                   s.net_tx_bytes, s.net_rx_packets, s.net_tx_packets,
                   s.processes, s.uptime_ms)


class _Handle:
    """An msb_sandbox *, closed with the object."""

    def __init__(self, ptr: ctypes.c_void_p):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _lib.lib().msb_sandbox_close(self.ptr)
            self.ptr = None


# The hook servers of sandboxes made here (their Python callbacks), by
# name: they live as long as this process or the sandbox.
_hook_servers: dict = {}


def _create(cfg: config.CConfig, plugins=None,
            plugin_processes=None, plugin_restarts=None) -> tuple[_Handle, int]:
    lib = _lib.lib()
    h = ctypes.c_void_p()
    spawn = cfg.spawn.ptr if cfg.spawn is not None else None
    if plugin_restarts is not None and (
            isinstance(plugin_restarts, bool) or
            not isinstance(plugin_restarts, int) or
            not 0 <= plugin_restarts <= 0xFFFFFFFF):
        raise InvalidArgument(f"invalid plugin_restarts {plugin_restarts!r}: "
                              "how often a plugin process that exits is "
                              "started again, 0 (never) or more")
    if not plugins and not plugin_processes and cfg.hooks is None:
        if spawn is None:
            call(lib.msb_sandbox_create, ctypes.byref(cfg.cfg), ctypes.byref(h))
        else:
            call(lib.msb_sandbox_create_full, ctypes.byref(cfg.cfg), None,
                 spawn, ctypes.byref(h))
        return _Handle(h), lib.msb_sandbox_boot_ms(h)
    from .plugin import HookServer
    name = cfg.cfg.name.decode()
    p = lib.msb_plugins_new()
    server = None
    if plugin_restarts is not None:
        lib.msb_plugins_set_restarts(p, plugin_restarts)
    try:
        for pl in plugins or []:
            if isinstance(pl, str) and pl:
                # an installed plugin by name (Plugins.install())
                call(lib.msb_plugins_add, p, pl.encode(), None)
                continue
            if not isinstance(pl, (config.AuditLog, config.RateLimiter)):
                raise InvalidArgument(
                    f"invalid plugin {pl!r}: AuditLog(...), "
                    "RateLimiter(...) or an installed plugin's name; a "
                    "command of your own goes in plugin_processes")
            call(lib.msb_plugins_add, p, pl.name.encode(),
                 pl.options().encode() or None)
        for cmd in plugin_processes or []:
            call(lib.msb_plugins_add_process, p, str(cmd).encode())
        if cfg.hooks is not None:
            server = HookServer(cfg.hooks)
            call(lib.msb_plugins_add_socket, p, server.path.encode())
        call(lib.msb_sandbox_create_full, ctypes.byref(cfg.cfg), p, spawn,
             ctypes.byref(h))
    except BaseException:
        if server:
            server.close()
        raise
    finally:
        lib.msb_plugins_free(p)
    if server:
        old = _hook_servers.pop(name, None)
        if old:
            old.close()
        _hook_servers[name] = server
    return _Handle(h), lib.msb_sandbox_boot_ms(h)


def _open(name: str) -> _Handle:
    h = ctypes.c_void_p()
    call(_lib.lib().msb_sandbox_open, name.encode(), ctypes.byref(h))
    return _Handle(h)


def _remote_required() -> None:
    buf = ctypes.create_string_buffer(1024)
    call(_lib.lib().msb_remote_get, buf, len(buf), None)


def _info_get(name: str) -> SandboxInfo:
    i = _lib.SandboxInfo()
    call(_lib.lib().msb_sandbox_info_get, name.encode(), ctypes.byref(i))
    return _record(i)


class _Creating:
    """What ``Sandbox.create()`` returns: await it for the Sandbox, or use
    it in ``async with`` to have the sandbox removed at the end of the
    block, whatever happens in it."""

    def __init__(self, coro):
        self._coro = coro
        self._sb: Sandbox | None = None

    def __await__(self):
        return self._coro.__await__()

    async def __aenter__(self) -> "Sandbox":
        self._sb = await self._coro
        return self._sb

    async def __aexit__(self, *exc) -> None:
        if self._sb is not None:
            await self._sb.remove(force=True)


class Sandbox:
    """A sandbox, named. Get one with ``create``, ``get`` or
    ``Snapshot.restore``; a Sandbox object holds no resources beyond a
    connection per running command or file stream."""

    def __init__(self, name: str, *, _handle: _Handle | None = None,
                 boot_ms: int = 0):
        _check_name(name)
        self.name = name
        self.boot_ms = boot_ms
        self._h = _handle
        self.fs = Files(self)
        self.files = self.fs  # the same, by another name
        self.synced: cloud.SyncInfo | None = None  # its last pull or push here

    def __repr__(self) -> str:
        return f"Sandbox({self.name!r})"

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    def create(cls, name: str, *, image: str | None = None,
               cpus: int | None = None, memory: int | str | None = None,
               disk: int | str | None = None,
               env: Mapping[str, str] | Sequence[str] | None = None,
               workdir: str | None = None, user: str | None = None,
               volumes: Mapping[str, config.VolumeSpec] | None = None,
               network: config.Network | None = None,
               secrets: Mapping[str, Any] | None = None,
               ports: Sequence[Any] | None = None,
               on_secret_violation: str | None = None,
               tls_bypass: Sequence[str] | None = None,
               tls_upstream_ca: Sequence[str | os.PathLike] | None = None,
               kernel: str | None = None, boot_timeout: float | None = None,
               ephemeral: bool = False, command: Command | None = None,
               sync: bool = False,
               plugins: Sequence[Any] | None = None,
               plugin_processes: Sequence[str] | None = None,
               plugin_restarts: int | None = None,
               on_exec: Callable[[config.ExecCall], Any] | None = None,
               on_exec_exit: Callable[[config.ExecExit], Any] | None = None,
               on_lifecycle: Callable[[config.LifecycleEvent], Any] | None
               = None,
               allow_spawn: int | None = None,
               spawn_images: Sequence[str] | None = None,
               spawn_cpus: int | None = None,
               spawn_memory: int | str | None = None,
               spawn_total_memory: int | str | None = None) -> _Creating:
        """Make a sandbox and boot it; returns once its guest is ready.

        ``image``: any OCI reference (pulled if missing) or None for the
        built-in ``default``; ``memory``: MiB or ``"1G"``; ``disk``: the
        writable disk's size (default 4G, sparse); ``env``: the
        environment of every command; ``volumes``: guest path to a host
        path, ``HostDir``, ``MemFs`` or ``PluginFs``; ``network``: a
        ``Network``; ``secrets``: variable to ``(value, hosts)`` or a
        ``Secret``; ``ports``: ``"8080:80"`` or ``(8080, 80)``;
        ``tls_bypass``: domains whose TLS is not intercepted;
        ``tls_upstream_ca``: CA certificates trusted, with the host's, for
        the servers of intercepted TLS, each a path of a PEM file (read as
        ``msb run --tls-upstream-ca`` reads it: a missing file, or one
        holding anything but certificates, is InvalidArgument naming it)
        or PEM text (``"-----BEGIN CERTIFICATE-----..."``);
        ``ephemeral``: removed when it stops; ``command``: run detached
        after boot; ``sync``: pushed whenever ``stop()`` stops it (needs a
        remote, checked first); ``plugins``: built-ins (``AuditLog(dir)``,
        ``RateLimiter(max_exec_per_sec=...)``), ``plugin_processes``:
        commands speaking the hook protocol (``plugin_restarts``: how often
        one that exits is started again, default 3, 0 never; after that
        its hooks refuse), asked in that order, after
        them the hooks written in Python (``network``'s ``on_dns``,
        ``on_connect``, ``on_http``..., ``FileSystemBackend`` volumes,
        ``on_exec``...), which
        this process serves until the sandbox is removed or the process
        ends (docs/plugins.md).

        ``on_exec(call)``: before each command runs, with an ExecCall
        (``argv``, ``env``, ``cwd``, ``user``, ``tty``); returns
        ``ExecAction.ALLOW`` (or None), ``ExecAction.deny(reason)`` (the
        caller gets PolicyRefused with the reason) or
        ``ExecAction.rewrite(argv=..., env=...)``; one that raises, returns
        anything else or misses its deadline (1 s) has the command refused.
        ``on_exec_exit(ev)``: each command's end, an ExecExit (``argv``
        as run, ``exit_code``, ``signal``, ``duration``, ``timed_out``).
        ``on_lifecycle(ev)``: a LifecycleEvent for the sandbox's create,
        starts, stops, snapshots, restores and remove. These two are told,
        not asked: nothing waits for them, and what they raise is printed
        to stderr. Hooks run on threads of this process's hook server.

        ``allow_spawn``: its programs may start up to N (1 to 64) live
        peer sandboxes beside it (``msb start`` inside it, or
        ``current_runtime()``), as ``msb run --allow-spawn N``; off
        without it. A peer gets this sandbox's image or one of
        ``spawn_images`` (at most 32; a peer's start pulls one not here,
        so allow only images you trust), at most ``spawn_cpus`` CPUs and
        ``spawn_memory`` (MiB or ``"256M"``; default this sandbox's own),
        all live peers together at most ``spawn_total_memory`` (default N
        times a peer's), a network no wider than this one's, no volume,
        and only the secrets this sandbox holds, by placeholder. Removing
        the sandbox removes its peers; ``parent()`` names a peer's
        spawner. The ``spawn_*`` options need ``allow_spawn``; a policy
        libmsb would not take raises InvalidArgument before anything is
        made (docs/spawn.md).
        """
        cfg = config.build(name, image=image, cpus=cpus, memory=memory,
                           disk=disk, env=env, workdir=workdir, user=user,
                           volumes=volumes, network=network, secrets=secrets,
                           ports=ports,
                           on_secret_violation=on_secret_violation,
                           tls_bypass=tls_bypass,
                           tls_upstream_ca=tls_upstream_ca, kernel=kernel,
                           boot_timeout=boot_timeout, ephemeral=ephemeral,
                           command=command, on_exec=on_exec,
                           on_exec_exit=on_exec_exit,
                           on_lifecycle=on_lifecycle)
        cfg.spawn = config.spawn_policy(allow_spawn, spawn_images, spawn_cpus,
                                        spawn_memory, spawn_total_memory)

        if sync and ephemeral:
            raise InvalidArgument("sync=True keeps the sandbox to push it; "
                                  "ephemeral=True removes it: choose one")

        async def make():
            if sync:
                await blocking(_remote_required)
            handle, boot_ms = await blocking(_create, cfg, plugins,
                                             plugin_processes, plugin_restarts)
            sb = cls(name, _handle=handle, boot_ms=boot_ms)
            if sync:
                await sb.set_sync(True)
            return sb

        return _Creating(make())

    @classmethod
    async def get(cls, name: str) -> "Sandbox":
        """The sandbox named @name, running or not (NotFound if none)."""
        _check_name(name)
        await blocking(_info_get, name)
        return cls(name)

    connect = get

    @classmethod
    async def list(cls) -> list[SandboxInfo]:
        """Every sandbox, with the truth about supervisors that died."""
        def run():
            p = ctypes.POINTER(_lib.SandboxInfo)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_list, ctypes.byref(p), ctypes.byref(n))
            try:
                return [_record(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    async def info(self) -> SandboxInfo:
        return await blocking(_info_get, self.name)

    async def parent(self) -> str | None:
        """The name of the sandbox that spawned this one from inside it
        (``msb ps``'s PARENT), or None for one the host made; NotFound if
        there is no such sandbox."""
        def run():
            buf = ctypes.create_string_buffer(256)
            call(_lib.lib().msb_sandbox_parent, self.name.encode(), buf,
                 len(buf))
            return _lib.text(buf.value) or None
        return await blocking(run)

    async def inspect(self) -> dict:
        """Its full state (as ``msb inspect``)."""
        return await blocking(call_json, _lib.lib().msb_inspect_json,
                              self.name.encode())

    async def ports(self) -> list[Port]:
        """Its published ports as bound while it runs (none otherwise): a
        ``"80"`` or ``(0, 80)`` asked for gets a free host port, told here."""
        def run():
            p = ctypes.POINTER(_lib.Port)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_sandbox_ports, self.name.encode(),
                 ctypes.byref(p), ctypes.byref(n))
            try:
                return [Port(_lib.text(p[i].host_ip), p[i].host_port,
                             p[i].guest_port) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    async def wait(self, timeout: float | None = None) -> int:
        """Until its detached ``command`` has ended (its exit status), or,
        without one, until it no longer runs (0); a failed sandbox raises
        with its reason. ``timeout`` seconds: Timeout when they run out."""
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        status = ctypes.c_int()
        await blocking(call, _lib.lib().msb_sandbox_wait, self.name.encode(),
                       ms, ctypes.byref(status))
        return status.value

    def log_path(self) -> str:
        """The file holding its guest console and agent messages (``msb
        logs``)."""
        buf = ctypes.create_string_buffer(4096)
        call(_lib.lib().msb_sandbox_logs_path, self.name.encode(), buf,
             len(buf))
        return _lib.text(buf.value)

    async def start(self) -> "Sandbox":
        """Boot it again with its disk (a stopped or failed sandbox)."""
        def run():
            h = ctypes.c_void_p()
            call(_lib.lib().msb_sandbox_start, self.name.encode(),
                 ctypes.byref(h))
            return _Handle(h), _lib.lib().msb_sandbox_boot_ms(h)
        self._h, self.boot_ms = await blocking(run)
        return self

    async def stop(self, timeout: float = 10, *,
                   progress: Callable[[cloud.SyncProgress], object] | None = None
                   ) -> int:
        """Power it off: SIGTERM to its processes, SIGKILL after @timeout
        seconds; the milliseconds it took. One that syncs (``set_sync``) is
        then pushed (``progress`` reports it; a failed push leaves it
        stopped and raises, and ``self.synced`` says what went)."""
        ms = ctypes.c_uint64()
        o = cloud.opts(progress=progress)
        pushed = _lib.SyncInfo()
        try:
            await blocking(call, _lib.lib().msb_sandbox_stop_sync,
                           self.name.encode(), max(0, int(timeout)),
                           ctypes.byref(o), ctypes.byref(pushed),
                           ctypes.byref(ms))
        finally:
            self._h = None
            if pushed.name:
                self.synced = cloud.info(pushed)
        return ms.value

    async def kill(self) -> int:
        """Stop it at once."""
        return await self.stop(0)

    async def remove(self, *, force: bool = False) -> None:
        """Delete it and its disk; with @force a running one is killed
        first. Removing one that is already gone is not an error."""
        try:
            await blocking(call, _lib.lib().msb_sandbox_remove,
                           self.name.encode(), int(force))
        except NotFound:
            pass
        self._h = None
        server = _hook_servers.pop(self.name, None)
        if server:
            server.close()

    async def __aenter__(self) -> "Sandbox":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.remove(force=True)

    async def _handle(self) -> ctypes.c_void_p:
        h = self._h
        if h is None or not h.ptr:
            h = self._h = await blocking(_open, self.name)
        return h.ptr

    # -- commands ---------------------------------------------------------------

    async def exec(self, cmd: Command, *, env=None, cwd=None, user=None,
                   stdin: bytes | str | None = None,
                   timeout: float | None = None, check: bool = False,
                   shell: bool = False, tty=False,
                   on_output: OutputCallback | None = None) -> ExecResult:
        """Run @cmd to its end: a command line (``"pip install numpy"``,
        split as a shell splits words, nothing expanded) or an argv list;
        ``shell=True`` hands the string to ``/bin/sh -c`` instead (pipes,
        ``$VARS``, ``&&``). Its exit code is data (``result.exit_code``)
        unless ``check=True``; ``timeout`` seconds kill it in the guest and
        raise ExecTimeout (with what it printed); cancelling the awaiting
        task kills it too. ``on_output(chunk)`` is called with each
        OutputChunk as it arrives (a coroutine function is awaited); the
        result still holds all of the output."""
        argv = argv_of(cmd, shell)
        h = await self._handle()
        p = process.start(h, argv, env=env, cwd=cwd, user=user, tty=tty,
                          timeout=timeout, stdin=stdin is not None)
        feeder = None
        if stdin is not None:
            data = stdin.encode() if isinstance(stdin, str) else bytes(stdin)

            async def feed():
                if data:
                    await p.write(data)
                await p.close_stdin()
            feeder = asyncio.ensure_future(feed())
        try:
            res = await p.wait(on_output=on_output)
        finally:
            if feeder is not None and not feeder.done():
                feeder.cancel()
        if feeder is not None and feeder.done() and not feeder.cancelled():
            feeder.exception()  # an input the process did not want is fine
        return res.check_returncode() if check else res

    async def exec_stream(self, cmd: Command, *, env=None, cwd=None, user=None,
                          stdin: bool = False, timeout: float | None = None,
                          shell: bool = False, tty=False) -> Process:
        """Start @cmd and return it running: iterate its output, write its
        stdin (``stdin=True``), signal it, wait for it. ``tty=True`` or
        ``(rows, cols)`` gives it a terminal."""
        argv = argv_of(cmd, shell)
        h = await self._handle()
        return process.start(h, argv, env=env, cwd=cwd, user=user, tty=tty,
                             timeout=timeout, stdin=stdin)

    async def exec_detached(self, cmd: Command, *, env=None, cwd=None,
                            user=None, timeout: float | None = None,
                            shell: bool = False) -> int:
        """Start @cmd in the background and return its pid in the guest once
        it runs (``msb exec -d``): its output goes to the sandbox's log, and
        it lives on after this program ends."""
        argv = argv_of(cmd, shell)
        h = await self._handle()

        def run():
            keep: list = []
            o = process.exec_opts(env, cwd, user, False, timeout, False, keep)
            av = _lib.StrArray(argv)
            pid = ctypes.c_int()
            call(_lib.lib().msb_exec_detach, h, av.ptr, ctypes.byref(o),
                 ctypes.byref(pid))
            return pid.value
        return await blocking(run)

    # -- metrics ---------------------------------------------------------------

    async def metrics(self) -> Metrics:
        def run():
            s = _lib.Stats()
            call(_lib.lib().msb_sandbox_stats, self.name.encode(), ctypes.byref(s))
            return _metrics(s)
        return await blocking(run)

    @classmethod
    async def metrics_all(cls, *, all: bool = False) -> list[Metrics]:
        """Every running sandbox's (with @all, every sandbox's)."""
        def run():
            p = ctypes.POINTER(_lib.Stats)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_stats_list, int(all), ctypes.byref(p),
                 ctypes.byref(n))
            try:
                return [_metrics(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    # -- snapshots, and what lands later -----------------------------------------

    async def snapshot(self, name: str) -> "Snapshot":
        """Save it whole under @name (docs/snapshots.md): a running sandbox is
        paused while its memory, CPU state and disk are saved, then resumes;
        one with volumes, or stopped, gives a disk-only snapshot."""
        _check_name(name, "snapshot")

        def run():
            info = _lib.SnapshotInfo()
            call(_lib.lib().msb_snapshot_create, self.name.encode(),
                 name.encode(), ctypes.byref(info))
            return _lib.text(info.kind)
        kind = await blocking(run)
        return Snapshot(name, kind)

    # -- cloud sync (docs/sync.md) ------------------------------------------------

    async def push(self, ref: str | None = None, *, force: bool = False,
                   insecure: bool = False,
                   progress: Callable[[cloud.SyncProgress], object] | None = None
                   ) -> cloud.SyncInfo:
        """Push it, running or stopped, as it is at one instant: to @ref
        (REGISTRY/REPO[:TAG], or a TAG of its repository), else where it was
        last pushed or pulled, else REMOTE/NAME:latest. Only the chunks the
        registry lacks are sent. SyncConflict when the tag holds a push this
        sandbox did not start from, unless ``force``."""
        o = cloud.opts(ref=ref, force=force, insecure=insecure,
                       progress=progress)
        out = _lib.SyncInfo()
        await blocking(call, _lib.lib().msb_sandbox_push, self.name.encode(),
                       ctypes.byref(o), ctypes.byref(out))
        self.synced = cloud.info(out)
        return self.synced

    @classmethod
    async def pull(cls, ref: str, *, name: str | None = None,
                   force: bool = False, trust: bool = False,
                   insecure: bool = False,
                   progress: Callable[[cloud.SyncProgress], object] | None = None
                   ) -> "Sandbox":
        """A pushed sandbox, @ref (a reference, or a bare NAME under the
        remote), as a stopped sandbox here (named ``name``, default the
        repository's last component); ``await sb.start()`` boots it. An
        existing one is replaced only if unchanged since its last sync, or
        with ``force``; host-bound settings (volumes, secret sources,
        ports...) are kept only with ``trust``, else dropped and named in
        ``sb.synced.dropped``. WrongKind when @ref is an image."""
        if not isinstance(ref, str) or not ref:
            raise InvalidArgument(f"a sandbox reference is a non-empty string, "
                                  f"not {ref!r}")
        o = cloud.opts(name=name, force=force, trust=trust, insecure=insecure,
                       progress=progress)
        out = _lib.SyncInfo()
        await blocking(call, _lib.lib().msb_sandbox_pull, ref.encode(),
                       ctypes.byref(o), ctypes.byref(out))
        sb = cls(_lib.text(out.name))
        sb.synced = cloud.info(out)
        return sb

    async def set_sync(self, on: bool = True) -> None:
        """With @on, it pushes itself whenever ``stop()`` stops it (as ``msb
        run --sync``); NotFound, saying how to set one, without a remote or
        a last sync."""
        await blocking(call, _lib.lib().msb_sandbox_set_sync,
                       self.name.encode(), int(on))

    def events(self, topic: str | None = None, *, since: int = -1,
               follow: bool = True) -> EventStream:
        """The sandbox's events (docs/events.md) as an async iterator of
        Event: its programs' (``msb event emit`` inside), the host's and
        its own ("msb.*"). @topic: one topic, or "prefix.*"; @since: -1 (the
        default) only those to come, 0 the oldest the sandbox keeps, or an
        event's seq; @follow: go on until the sandbox stops (else end at
        the last one kept)."""
        return EventStream(self.name, topic, since, follow)

    def on(self, topic: str | None, fn: Callable[[Event], Any]) -> asyncio.Task:
        """Call @fn (a function or a coroutine function) with each new
        event on @topic (None: all) until the sandbox stops. Returns the
        task: cancel it to stop listening."""
        stream = self.events(topic)

        async def run():
            try:
                async for ev in stream:
                    r = fn(ev)
                    if asyncio.iscoroutine(r):
                        await r
            finally:
                stream.close()

        return asyncio.get_running_loop().create_task(run())

    async def emit(self, topic: str, data: Any = None) -> int:
        """Send an event to the sandbox's programs (``msb event wait
        TOPIC`` inside prints @data as JSON). Returns its seq."""
        seq = ctypes.c_uint64()
        text = json.dumps(data).encode()
        await blocking(call, _lib.lib().msb_event_send, self.name.encode(),
                       topic.encode(), text, ctypes.byref(seq))
        return seq.value

    @classmethod
    async def current_runtime(cls):
        """Inside a sandbox: the host, to start peer sandboxes beside it
        (docs/spawn.md) when the host allows it; NotSupported outside
        one."""
        from .runtime import current_runtime
        return await current_runtime()


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot's record (``Snapshot.list()``, ``snap.info()``). ``kind``
    is "full" (memory, CPU state and disk: restored running) or "disk"
    (restored by booting; ``reason`` says why); ``users`` counts the
    sandboxes restored from it that still exist."""

    name: str
    source: str
    kind: str
    reason: str | None
    image: str
    cpus: int
    memory_mib: int
    created_at: int
    ram_bytes: int
    disk_bytes: int
    size_bytes: int
    users: int


def _snapshot_record(i: _lib.SnapshotInfo) -> SnapshotInfo:
    return SnapshotInfo(_lib.text(i.name), _lib.text(i.source),
                        _lib.text(i.kind), _lib.text(i.reason) or None,
                        _lib.text(i.image), i.cpus, i.memory_mib, i.created_at,
                        i.ram_bytes, i.disk_bytes, i.size_bytes, i.users)


def _snapshot_info(name: str) -> SnapshotInfo:
    i = _lib.SnapshotInfo()
    call(_lib.lib().msb_snapshot_info_get, name.encode(), ctypes.byref(i))
    return _snapshot_record(i)


class Snapshot:
    """A saved sandbox (``Sandbox.snapshot``, ``Snapshot.get``), to fork
    sandboxes from."""

    def __init__(self, name: str, kind: str = ""):
        _check_name(name, "snapshot")
        self.name = name
        self.kind = kind  # "full" or "disk"
        self.synced: cloud.SyncInfo | None = None  # its last pull or push here

    def __repr__(self) -> str:
        return f"Snapshot({self.name!r})"

    @classmethod
    async def get(cls, name: str) -> "Snapshot":
        """The snapshot named @name (NotFound if none)."""
        _check_name(name, "snapshot")
        info = await blocking(_snapshot_info, name)
        return cls(name, info.kind)

    @classmethod
    async def list(cls) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        def run():
            p = ctypes.POINTER(_lib.SnapshotInfo)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_snapshot_list, ctypes.byref(p), ctypes.byref(n))
            try:
                return [_snapshot_record(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    async def info(self) -> SnapshotInfo:
        return await blocking(_snapshot_info, self.name)

    async def inspect(self) -> dict:
        """Its full record, with its path, size and the sandboxes using it
        (as ``msb snapshot inspect``)."""
        return await blocking(call_json, _lib.lib().msb_snapshot_inspect_json,
                              self.name.encode())

    async def push(self, ref: str | None = None, *, force: bool = False,
                   insecure: bool = False,
                   progress: Callable[[cloud.SyncProgress], object] | None = None
                   ) -> cloud.SyncInfo:
        """Push it to a registry as a snapshot artifact (``msb push
        --snapshot``): its disk, and for a full snapshot its memory and
        device state, in chunks, to @ref (REGISTRY/REPO[:TAG], or a TAG of
        its repository), else where it was last pushed or pulled, else
        REMOTE/NAME:latest. Checked against its integrity record first
        (Damaged). A push to where it already is sends nothing
        (``up_to_date``); a tag holding anything else is replaced only with
        ``force`` (SyncConflict otherwise). ``self.synced`` says what
        went."""
        o = cloud.opts(ref=ref, force=force, insecure=insecure,
                       progress=progress)
        out = _lib.SyncInfo()
        await blocking(call, _lib.lib().msb_snapshot_push, self.name.encode(),
                       ctypes.byref(o), ctypes.byref(out))
        self.synced = cloud.info(out)
        return self.synced

    @classmethod
    async def pull(cls, ref: str, *, name: str | None = None,
                   force: bool = False, trust: bool = False,
                   insecure: bool = False,
                   progress: Callable[[cloud.SyncProgress], object] | None = None
                   ) -> "Snapshot":
        """A pushed snapshot, @ref (a reference, or a bare NAME under the
        remote), as a snapshot here (named ``name``, default the
        repository's last component), every chunk verified and its image
        pulled; ``restore()`` then resumes it (a full one needs the QEMU
        version that took it). One of that name is replaced only with
        ``force`` (AlreadyExists otherwise), never while sandboxes restored
        from it exist (Busy); host-bound settings are kept only with
        ``trust``. WrongKind when @ref holds a sandbox or an image;
        ``snap.synced`` says what came."""
        if not isinstance(ref, str) or not ref:
            raise InvalidArgument(f"a snapshot reference is a non-empty "
                                  f"string, not {ref!r}")
        if name is not None:
            _check_name(name, "snapshot")
        o = cloud.opts(name=name, force=force, trust=trust, insecure=insecure,
                       progress=progress)
        out = _lib.SyncInfo()
        await blocking(call, _lib.lib().msb_snapshot_pull, ref.encode(),
                       ctypes.byref(o), ctypes.byref(out))
        snap = cls(_lib.text(out.name))
        snap.kind = (await blocking(_snapshot_info, snap.name)).kind
        snap.synced = cloud.info(out)
        return snap

    async def rename(self, new_name: str) -> "Snapshot":
        """Give it the name @new_name (``msb snapshot rename``; its files
        are checked first, as a restore checks them). Busy while sandboxes
        restored from it exist (they find it by name), AlreadyExists when
        @new_name is taken."""
        _check_name(new_name, "snapshot")
        await blocking(call, _lib.lib().msb_snapshot_rename,
                       self.name.encode(), new_name.encode())
        self.name = new_name
        return self

    async def restore(self, name: str, *, env: Mapping[str, str] | None = None,
                      cpus: int | None = None, memory: int | str | None = None,
                      disk_only: bool = False,
                      ephemeral: bool = False) -> Sandbox:
        """A new sandbox @name continuing from this snapshot; ``env`` is given
        to every later command (restored processes read /run/msb/env)."""
        _check_name(name)
        o = _lib.RestoreOpts()
        _lib.lib().msb_restore_opts_init(ctypes.byref(o))
        keep = [name.encode()]
        o.name = keep[0]
        if env:
            a = _lib.StrArray([f"{k}={v}" for k, v in env.items()])
            keep.append(a)
            o.env = a.ptr
        if cpus:
            o.cpus = cpus
        if memory:
            o.memory_mib = config.parse_memory(memory)
        o.disk_only, o.ephemeral = int(disk_only), int(ephemeral)

        def run():
            h = ctypes.c_void_p()
            call(_lib.lib().msb_snapshot_restore, self.name.encode(),
                 ctypes.byref(o), ctypes.byref(h))
            return _Handle(h), _lib.lib().msb_sandbox_boot_ms(h)
        handle, ms = await blocking(run)
        del keep
        return Sandbox(name, _handle=handle, boot_ms=ms)

    async def remove(self, *, force: bool = False) -> None:
        """Delete it; refused (Busy) while sandboxes restored from it exist,
        unless @force (they can then no longer start)."""
        await blocking(call, _lib.lib().msb_snapshot_remove, self.name.encode(),
                       int(force))


def _check_name(name, what="sandbox") -> None:
    if not isinstance(name, str):
        raise InvalidArgument(f"a {what} name is a string, not {name!r}")
