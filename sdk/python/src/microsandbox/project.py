# SPDX-License-Identifier: Apache-2.0
"""Project: the sandboxes and named volumes of a Sandboxfile, brought up
and down together (``msb project``; docs/projects.md).

    p = await Project.load("Sandboxfile")     # None: found as msb finds it
    await p.up()                              # volumes, then sandboxes in order
    r = await p.exec("api", "python3 -V")     # in the sandbox of key "api"
    r = await p.run("api", "test")            # one of its scripts
    for e in await p.ps(): print(e.key, e.status, e.state)
    await p.down(volumes=True)

A Sandboxfile that cannot be used raises SandboxfileError, whose ``file``,
``line`` and ``column`` say where. Everything is done by libmsb's
msb_project_* calls; the ones that boot or stop run in the default
executor, and ``progress`` reports come back to the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
from ctypes import POINTER, c_char_p, c_void_p
from dataclasses import dataclass
from typing import Callable

from . import _lib
from ._native import blocking, call
from .errors import InvalidArgument, MicrosandboxError, SandboxfileError
from .process import Command, ExecResult
from .sandbox import Sandbox


# "FILE:LINE:COL: what" (src/lib/sandboxfile.c's messages)
_WHERE = re.compile(r"^(.+?):(\d+):(\d+): ")


def _located(e: MicrosandboxError) -> MicrosandboxError:
    """@e as a SandboxfileError when its message names a place in a file."""
    m = _WHERE.match(e.message)
    if not m or not isinstance(e, InvalidArgument):
        return e
    return SandboxfileError(e.message, e.code, e.name, m.group(1),
                            int(m.group(2)), int(m.group(3)))


def _call(fn, *args) -> int:
    try:
        return call(fn, *args)
    except MicrosandboxError as e:
        raise _located(e) from None


@dataclass(frozen=True)
class ProjectEvent:
    """A step of up, down, stop or restart: ``what`` is "creating",
    "created", "started", "up-to-date", "waiting", "healthy", "stopped",
    "removed", "volume created", ... (msb.h's msb_project_event); ``sandbox``
    is the key in the file (None for a volume or an orphan), ``name`` the
    sandbox's or volume's name, ``ms`` how long a finished step took."""

    sandbox: str | None
    name: str
    what: str
    ms: int
    detail: str | None


@dataclass(frozen=True)
class ProjectEntry:
    """A line of ``ps``: ``status`` as Sandbox.info's (or "missing"),
    ``state`` "current", "changed" (up recreates it), "missing" or
    "orphan" (no longer in the file: down removes it)."""

    key: str
    name: str
    status: str
    state: str
    image: str


def _opts(only=(), *, timeout: float = 10, volumes: bool = False,
          progress: Callable[[ProjectEvent], object] | None = None):
    """An msb_project_opts, and what must stay alive while it is used."""
    o = _lib.ProjectOpts()
    _lib.lib().msb_project_opts_init(ctypes.byref(o))
    keep = []
    for k in only:
        if not isinstance(k, str) or not k:
            raise InvalidArgument(f"a sandbox is named by its key in the "
                                  f"Sandboxfile, not {k!r}")
    if only:
        keep.append(_lib.StrArray(only))
        o.only = keep[-1].ptr
    o.stop_timeout_s = max(0, int(timeout))
    o.volumes = int(volumes)
    if progress is not None:
        loop = asyncio.get_running_loop()

        def cb(_ctx, e):
            r = e.contents
            s = lambda b: None if b is None else _lib.text(b)  # noqa: E731
            ev = ProjectEvent(s(r.sandbox), s(r.name) or "", s(r.what) or "",
                              r.ms, s(r.detail))
            loop.call_soon_threadsafe(progress, ev)
        o.progress = fn = _lib.PROJECT_PROGRESS_FN(cb)
        keep.append(fn)
    return o, keep


class Project:
    """A loaded Sandboxfile. Loading checks it all and starts nothing."""

    def __init__(self, ptr: c_void_p):
        self._p = ptr

    def __del__(self):
        p, self._p = getattr(self, "_p", None), None
        if p:
            _lib.lib().msb_project_free(p)

    def __repr__(self) -> str:
        return f"Project({self.name!r}, file={self.file!r})"

    @classmethod
    async def load(cls, path: str | os.PathLike | None = None) -> "Project":
        """Read and check the Sandboxfile at @path; None finds it as ``msb
        project`` does (``Sandboxfile`` here or in the nearest directory
        above). SandboxfileError says where a file is wrong."""
        b = None if path is None else os.fsencode(path)

        def run():
            p = c_void_p()
            _call(_lib.lib().msb_project_load, b, ctypes.byref(p))
            return cls(p)
        return await blocking(run)

    @classmethod
    async def parse(cls, text: str | bytes,
                    path: str | os.PathLike = "Sandboxfile") -> "Project":
        """The same from @text, as if read from @path (which names it in
        errors and anchors its relative paths)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        b = os.fsencode(path)

        def run():
            p = c_void_p()
            _call(_lib.lib().msb_project_parse, data, len(data), b,
                  ctypes.byref(p))
            return cls(p)
        return await blocking(run)

    @property
    def name(self) -> str:
        return _lib.text(_lib.lib().msb_project_name(self._p))

    @property
    def file(self) -> str:
        """The Sandboxfile's absolute path."""
        return _lib.text(_lib.lib().msb_project_file(self._p))

    @property
    def sandboxes(self) -> dict[str, str]:
        """Key in the file -> sandbox name ("api" -> "my-project-api"), in
        start order (dependencies first)."""
        lib, out = _lib.lib(), {}
        for i in range(lib.msb_project_count(self._p)):
            name = c_char_p()
            key = lib.msb_project_sandbox(self._p, i, ctypes.byref(name))
            out[_lib.text(key)] = _lib.text(name.value)
        return out

    def config(self) -> dict:
        """The project as msb resolves it (``msb project config``)."""
        p = c_void_p()
        _call(_lib.lib().msb_project_config_json, self._p, ctypes.byref(p))
        try:
            return json.loads(ctypes.string_at(p))
        finally:
            _lib.free(p)

    async def _run(self, fn, o, keep) -> None:
        try:
            await blocking(_call, fn, self._p, ctypes.byref(o))
        finally:
            del keep

    async def up(self, *only: str,
                 progress: Callable[[ProjectEvent], object] | None = None
                 ) -> None:
        """Make what is missing, recreate what changed, start what is
        stopped, leave the rest (a second up does nothing); with @only, those
        sandboxes and what they depend on. Independent sandboxes start in
        parallel; a failing one stops the up with its log's last lines."""
        o, keep = _opts(only, progress=progress)
        await self._run(_lib.lib().msb_project_up, o, keep)

    async def down(self, *, volumes: bool = False, timeout: float = 10,
                   progress: Callable[[ProjectEvent], object] | None = None
                   ) -> None:
        """Stop and remove every sandbox of the project (orphans too), in
        reverse start order; named volumes it made too with @volumes."""
        o, keep = _opts(timeout=timeout, volumes=volumes, progress=progress)
        await self._run(_lib.lib().msb_project_down, o, keep)

    async def stop(self, *only: str, timeout: float = 10,
                   progress: Callable[[ProjectEvent], object] | None = None
                   ) -> None:
        """Stop its running sandboxes (reverse order), keeping them."""
        o, keep = _opts(only, timeout=timeout, progress=progress)
        await self._run(_lib.lib().msb_project_stop, o, keep)

    async def restart(self, *only: str, timeout: float = 10,
                      progress: Callable[[ProjectEvent], object] | None = None
                      ) -> None:
        """Stop its running sandboxes and start them again, disks kept."""
        o, keep = _opts(only, timeout=timeout, progress=progress)
        await self._run(_lib.lib().msb_project_restart, o, keep)

    async def ps(self) -> list[ProjectEntry]:
        """The file's sandboxes in start order, then orphans."""
        def run():
            p = POINTER(_lib.ProjectEntry)()
            n = ctypes.c_size_t()
            _call(_lib.lib().msb_project_ps, self._p, ctypes.byref(p),
                  ctypes.byref(n))
            try:
                return [ProjectEntry(_lib.text(p[i].key), _lib.text(p[i].name),
                                     _lib.text(p[i].status),
                                     _lib.text(p[i].state),
                                     _lib.text(p[i].image))
                        for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    def _name(self, key: str) -> str:
        names = self.sandboxes
        if key not in names:
            raise InvalidArgument(f"no sandbox '{key}' in {self.file}: it has "
                                  + ", ".join(names))
        return names[key]

    async def sandbox(self, key: str) -> Sandbox:
        """The Sandbox of key @key (NotFound before up makes it)."""
        return await Sandbox.get(self._name(key))

    async def exec(self, key: str, cmd: Command, **kw) -> ExecResult:
        """Sandbox.exec (same arguments) in the sandbox of key @key."""
        return await (await self.sandbox(key)).exec(cmd, **kw)

    async def run(self, key: str, script: str, **kw) -> ExecResult:
        """One of @key's ``scripts`` to its end, as exec runs a command."""
        k, s = key.encode(), script.encode()
        argv = POINTER(c_char_p)()
        _call(_lib.lib().msb_project_script, self._p, k, s,
              ctypes.byref(argv))
        try:
            words = []
            while argv[len(words)] is not None:
                words.append(_lib.text(argv[len(words)]))
        finally:
            _lib.free(argv)
        return await self.exec(key, words, **kw)

    async def logs(self, key: str, *, tail: int | None = None) -> str:
        """The log of @key's sandbox (``msb logs``): its guest console and
        msb's lines; the last @tail lines only, if given."""
        path = (await self.sandbox(key)).log_path()

        def read():
            with open(path, "rb") as f:
                return _lib.text(f.read())
        text = await blocking(read)
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:] if tail > 0 else [])
        return text
