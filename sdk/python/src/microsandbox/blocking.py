# SPDX-License-Identifier: Apache-2.0
"""The same API without asyncio, for scripts and programs that have no
event loop:

    from microsandbox.blocking import Sandbox

    with Sandbox.create("agent", image="python:3.12") as sb:   # removed at the end
        print(sb.exec("uname -r").stdout)
        sb.fs.write("/tmp/a.txt", "hi\\n")
        for chunk in sb.exec_stream("sh -c 'echo 1; sleep 1; echo 2'"):
            print(chunk.text, end="")

Every method is the async one of the same name (same arguments, same
results, same exceptions), run to its end on an event loop private to the
calling thread. Objects are used from the thread that made them. Inside a
running event loop, use the async API instead: calling these there is an
error, not a silent stall of that loop. Ctrl-C during a command kills it
in the guest, as cancelling its task does.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

from . import cloud as _cloud
from . import images as _images
from . import process as _process
from . import project as _project
from . import sandbox as _sandbox
from . import volumes as _volumes
from .files import Files as _AsyncFiles
from .cloud import SyncInfo, SyncProgress  # noqa: F401 (re-exported)
from .files import CopyProgress  # noqa: F401 (re-exported)
from .images import ImageInfo, PruneResult, PullProgress  # noqa: F401
from .process import ExecResult, OutputChunk  # noqa: F401 (re-exported)
from .project import ProjectEntry, ProjectEvent  # noqa: F401 (re-exported)
from .volumes import VolumeInfo  # noqa: F401 (re-exported)
from .sandbox import Metrics, Port, SandboxInfo, SnapshotInfo  # noqa: F401

_local = threading.local()


def _loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


async def _await(aw):
    return await aw


def run(aw) -> Any:
    """Run the awaitable @aw to its end on this thread's private loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if hasattr(aw, "close"):
            aw.close()
        raise RuntimeError(
            "microsandbox.blocking was called inside a running event loop, which "
            "it would stall: there, await the async API (from microsandbox "
            "import Sandbox) instead")
    loop = _loop()
    task = loop.create_task(_await(aw))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            # Ctrl-C: cancel as asyncio.run does; a command is killed in
            # the guest by its cancellation.
            task.cancel()
            try:
                loop.run_until_complete(task)
            except BaseException:
                pass
        if _process._background:
            loop.run_until_complete(asyncio.wait(set(_process._background),
                                                 timeout=10))
        raise


def _iterate(agen) -> Iterator:
    try:
        while True:
            try:
                yield run(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        run(agen.aclose())


def _call(name, wrap=None, source=None):
    """A blocking method running the async method @name of self._a."""
    def method(self, *args, **kw):
        r = run(getattr(self._a, name)(*args, **kw))
        return wrap(r) if wrap else r
    method.__name__ = name
    if source is not None:
        method.__doc__ = getattr(source, name).__doc__
    return method


def _classcall(cls_async, name, wrap=None):
    def method(cls, *args, **kw):
        r = run(getattr(cls_async, name)(*args, **kw))
        return wrap(r) if wrap else r
    method.__name__ = name
    method.__doc__ = getattr(cls_async, name).__doc__
    return classmethod(method)


class Process:
    """A running command (``Sandbox.exec_stream``): iterate it for its
    OutputChunks; ``with`` kills it on leaving if it still runs."""

    def __init__(self, p: _process.Process):
        self._a = p

    @property
    def pid(self) -> int | None:
        return self._a.pid

    @property
    def argv(self) -> list:
        return self._a.argv

    @property
    def returncode(self) -> int | None:
        return self._a.returncode

    @property
    def paused(self) -> str | None:
        """Why the sandbox is paused (its host disk is full) while it is,
        None while it runs and once the command has ended: the events held for the command are read
        first (this thread's loop runs only inside a call)."""
        run(asyncio.sleep(0))
        return self._a.paused

    def __iter__(self) -> Iterator[OutputChunk]:
        return _iterate(self._a.__aiter__())

    wait = _call("wait", source=_process.Process)
    write = _call("write", source=_process.Process)
    close_stdin = _call("close_stdin", source=_process.Process)
    send_signal = _call("send_signal", source=_process.Process)
    terminate = _call("terminate", source=_process.Process)
    kill = _call("kill", source=_process.Process)
    resize = _call("resize", source=_process.Process)

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc) -> None:
        run(self._a.__aexit__(*exc))


class Files:
    """The files of one sandbox (``sb.fs``), as the async Files."""

    def __init__(self, f: _AsyncFiles):
        self._a = f

    def stream(self, path, **kw) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk, as the guest sends them."""
        return _iterate(self._a.stream(path, **kw))

    def walk(self, path=".", **kw) -> Iterator:
        """The whole tree, a directory before what is in it."""
        return _iterate(self._a.walk(path, **kw))

    read = _call("read", source=_AsyncFiles)
    read_text = _call("read_text", source=_AsyncFiles)
    write = _call("write", source=_AsyncFiles)
    write_text = _call("write_text", source=_AsyncFiles)
    list = _call("list", source=_AsyncFiles)
    stat = _call("stat", source=_AsyncFiles)
    exists = _call("exists", source=_AsyncFiles)
    mkdir = _call("mkdir", source=_AsyncFiles)
    remove = _call("remove", source=_AsyncFiles)
    rename = _call("rename", source=_AsyncFiles)
    symlink = _call("symlink", source=_AsyncFiles)
    copy_in = _call("copy_in", source=_AsyncFiles)
    copy_out = _call("copy_out", source=_AsyncFiles)


class Sandbox:
    """A sandbox, as the async Sandbox; ``with Sandbox.create(...) as sb``
    removes it when the block ends, whatever happens in it."""

    def __init__(self, sb: _sandbox.Sandbox):
        self._a = sb
        self.fs = self.files = Files(sb.fs)

    @property
    def name(self) -> str:
        return self._a.name

    @property
    def boot_ms(self) -> int:
        return self._a.boot_ms

    def __repr__(self) -> str:
        return f"Sandbox({self.name!r})"

    @classmethod
    def create(cls, name: str, **kw) -> "Sandbox":
        """Make a sandbox and boot it (the async create's options)."""
        return cls(run(_sandbox.Sandbox.create(name, **kw)))

    get = _classcall(_sandbox.Sandbox, "get", lambda s: Sandbox(s))
    connect = get
    list = _classcall(_sandbox.Sandbox, "list")
    metrics_all = _classcall(_sandbox.Sandbox, "metrics_all")
    pull = _classcall(_sandbox.Sandbox, "pull", lambda s: Sandbox(s))
    current_runtime = _classcall(_sandbox.Sandbox, "current_runtime")

    info = _call("info", source=_sandbox.Sandbox)
    parent = _call("parent", source=_sandbox.Sandbox)
    inspect = _call("inspect", source=_sandbox.Sandbox)
    ports = _call("ports", source=_sandbox.Sandbox)
    wait = _call("wait", source=_sandbox.Sandbox)
    stop = _call("stop", source=_sandbox.Sandbox)
    kill = _call("kill", source=_sandbox.Sandbox)
    remove = _call("remove", source=_sandbox.Sandbox)
    exec = _call("exec", source=_sandbox.Sandbox)
    exec_detached = _call("exec_detached", source=_sandbox.Sandbox)
    exec_stream = _call("exec_stream", lambda p: Process(p), _sandbox.Sandbox)
    metrics = _call("metrics", source=_sandbox.Sandbox)
    snapshot = _call("snapshot", lambda s: Snapshot(s), _sandbox.Sandbox)
    push = _call("push", source=_sandbox.Sandbox)
    set_sync = _call("set_sync", source=_sandbox.Sandbox)

    @property
    def synced(self):
        """Its last push or pull here (SyncInfo), or None."""
        return self._a.synced

    def start(self) -> "Sandbox":
        """Boot it again with its disk (a stopped or failed sandbox)."""
        run(self._a.start())
        return self

    def log_path(self) -> str:
        """The file holding its guest console and agent messages."""
        return self._a.log_path()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.remove(force=True)


class Snapshot:
    """A saved sandbox, as the async Snapshot."""

    def __init__(self, snap: _sandbox.Snapshot):
        self._a = snap

    @property
    def name(self) -> str:
        return self._a.name

    @property
    def kind(self) -> str:
        return self._a.kind

    def __repr__(self) -> str:
        return f"Snapshot({self.name!r})"

    get = _classcall(_sandbox.Snapshot, "get", lambda s: Snapshot(s))
    list = _classcall(_sandbox.Snapshot, "list")
    info = _call("info", source=_sandbox.Snapshot)
    inspect = _call("inspect", source=_sandbox.Snapshot)
    restore = _call("restore", lambda s: Sandbox(s), _sandbox.Snapshot)
    remove = _call("remove", source=_sandbox.Snapshot)
    push = _call("push", source=_sandbox.Snapshot)
    pull = _classcall(_sandbox.Snapshot, "pull", lambda s: Snapshot(s))
    rename = _call("rename", lambda s: Snapshot(s), _sandbox.Snapshot)

    @property
    def synced(self):
        """Its last push or pull here (SyncInfo), or None."""
        return self._a.synced


def remote():
    """The default remote and whether plain http is allowed, or None."""
    return run(_cloud.remote())


def set_remote(remote, *, insecure=False) -> None:
    """Keep the default remote (None forgets it)."""
    run(_cloud.set_remote(remote, insecure=insecure))


class Image:
    """The local image store, as the async Image (``progress`` is called on
    the calling thread while the pull runs)."""

    pull = _classcall(_images.Image, "pull")
    load = _classcall(_images.Image, "load")
    list = _classcall(_images.Image, "list")
    remove = _classcall(_images.Image, "remove")
    inspect = _classcall(_images.Image, "inspect")
    save = _classcall(_images.Image, "save")
    prune = _classcall(_images.Image, "prune")


def registry_login(registry, user, password, *, insecure=False) -> None:
    """Check credentials with @registry and keep them, as the async
    registry_login (PermissionDenied when it refuses them)."""
    run(_images.registry_login(registry, user, password, insecure=insecure))


def registry_logout(registry) -> None:
    """Forget the credentials kept for @registry (NotFound if none)."""
    run(_images.registry_logout(registry))


class Volume:
    """The named volumes, as the async Volume."""

    create = _classcall(_volumes.Volume, "create")
    get = _classcall(_volumes.Volume, "get")
    list = _classcall(_volumes.Volume, "list")
    inspect = _classcall(_volumes.Volume, "inspect")
    remove = _classcall(_volumes.Volume, "remove")


class Project:
    """A Sandboxfile's project, as the async Project (``progress`` is
    called on the calling thread while up, down, stop or restart runs)."""

    def __init__(self, p: _project.Project):
        self._a = p

    @property
    def name(self) -> str:
        return self._a.name

    @property
    def file(self) -> str:
        return self._a.file

    @property
    def sandboxes(self) -> dict:
        """Key -> sandbox name, in start order."""
        return self._a.sandboxes

    def __repr__(self) -> str:
        return f"Project({self.name!r}, file={self.file!r})"

    load = _classcall(_project.Project, "load", lambda p: Project(p))
    parse = _classcall(_project.Project, "parse", lambda p: Project(p))

    def config(self) -> dict:
        """The project as msb resolves it (``msb project config``)."""
        return self._a.config()

    up = _call("up", source=_project.Project)
    down = _call("down", source=_project.Project)
    stop = _call("stop", source=_project.Project)
    restart = _call("restart", source=_project.Project)
    ps = _call("ps", source=_project.Project)
    sandbox = _call("sandbox", lambda s: Sandbox(s), _project.Project)
    exec = _call("exec", source=_project.Project)
    run = _call("run", source=_project.Project)
    logs = _call("logs", source=_project.Project)


__all__ = ["Sandbox", "Snapshot", "Process", "Files", "Image", "Project",
           "ProjectEntry", "ProjectEvent", "ExecResult",
           "OutputChunk", "SandboxInfo", "SnapshotInfo", "Metrics", "Port",
           "ImageInfo", "PullProgress", "SyncInfo", "SyncProgress", "remote",
           "set_remote", "run"]
