# SPDX-License-Identifier: Apache-2.0
"""Files in a sandbox (``sb.fs``), through the guest agent's file channel:
read and written as a guest user (the guest's permissions apply), streamed
both ways with flow control, so files larger than RAM pass in bounded
memory (docs/api-protocol.md §5.6).

    await sb.fs.write("/app/main.py", "print('hi')\\n")
    data = await sb.fs.read("/app/main.py")
    async for chunk in sb.fs.stream("/var/log/big.log"): ...
    for e in await sb.fs.list("/app"): print(e.name, e.size)
    await sb.fs.copy_in("./project", "/app")    # files and trees, docker cp's rules
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from dataclasses import dataclass
from typing import (TYPE_CHECKING, AsyncIterable, AsyncIterator, Callable,
                    Iterable, Union)

from . import _lib
from ._native import blocking, call, raise_for
from .errors import InvalidArgument, MicrosandboxError, NotFound

if TYPE_CHECKING:
    from .sandbox import Sandbox

_TYPES = {1: "file", 2: "dir", 3: "symlink", 4: "fifo", 5: "socket",
          6: "char", 7: "block", 8: "other"}
HIGH = 4 << 20   # bytes held for a reader before its descriptor is paused
CHUNK = 1 << 20  # bytes per write handed to the library


@dataclass(frozen=True)
class FileInfo:
    """A file in the guest. ``name`` is relative to the listed directory
    (``"sub/file"`` in a recursive list; ``""`` from stat); ``mode`` the
    permission bits; ``mtime`` seconds since the epoch (a float)."""

    name: str
    type: str
    mode: int
    size: int
    uid: int
    gid: int
    nlink: int
    mtime: float
    link: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def is_file(self) -> bool:
        return self.type == "file"

    @property
    def is_symlink(self) -> bool:
        return self.type == "symlink"


@dataclass(frozen=True)
class CopyProgress:
    """How a copy is going (msb cp's progress): ``done`` of the ``total``
    bytes of the file ``path`` (in the guest) have moved. A file with no
    bytes reports nothing."""
    path: str
    done: int
    total: int


def _info(fi: _lib.FileInfo) -> FileInfo:
    link = _lib.text(fi.link)
    return FileInfo(_lib.text(fi.name), _TYPES.get(fi.type, "other"), fi.mode,
                    fi.size, fi.uid, fi.gid, fi.nlink,
                    fi.mtime + fi.mtime_nsec / 1e9, link or None)


def _path(p) -> bytes:
    p = os.fspath(p)
    if not isinstance(p, str) or not p:
        raise InvalidArgument("a guest path is a non-empty string")
    return p.encode()


class _FileOpts:
    def __init__(self, user=None, mode=None, parents=False, recursive=False,
                 exclusive=False, append=False, nofollow=False):
        self.keep = []
        o = self.o = _lib.FileOpts()
        if user is not None:
            b = str(user).encode()
            self.keep.append(b)
            o.user = b
        if mode is not None:
            if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
                raise InvalidArgument(f"invalid mode {mode!r}: 0 to 0o7777")
            o.mode = mode
        o.parents, o.recursive = int(parents), int(recursive)
        o.exclusive, o.append, o.nofollow = int(exclusive), int(append), int(nofollow)

    def ref(self):
        return ctypes.byref(self.o)


class _Stream:
    """One READ or LIST on its own connection, its descriptor watched by
    the loop; what it brings waits in a bounded queue."""

    def __init__(self, handle):
        self._h = handle
        self._loop = asyncio.get_running_loop()
        self._fd = _lib.lib().msb_file_fd(handle)
        self._items: list = []
        self._held = 0
        self._wake = asyncio.Event()
        self._done = self._loop.create_future()
        self._reading = False
        self._ev = _lib.FileEvent()
        self._err = _lib.MsbError()
        self._resume()

    def _resume(self):
        if not self._reading and not self._done.done():
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause(self):
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self):
        lib = _lib.lib()
        while not self._done.done():
            rc = lib.msb_file_next(self._h, ctypes.byref(self._ev), 0,
                                   ctypes.byref(self._err))
            if rc == 0:
                break
            if rc < 0:
                try:
                    raise_for(rc, self._err)
                except MicrosandboxError as e:
                    self._end(e)
                break
            ev = self._ev
            if ev.type == _lib.FILE_DATA:
                if ev.len:
                    self._items.append(ctypes.string_at(ev.data, ev.len))
                    self._held += ev.len
            elif ev.type == _lib.FILE_ENTRY:
                self._items.append(_info(ev.entry.contents))
                self._held += 200
            elif ev.type == _lib.FILE_DONE:
                self._end(None, ev.size)
                break
            self._wake.set()
            if self._held >= HIGH:
                self._pause()
                break

    def _end(self, exc, size=0):
        self._pause()
        if exc:
            self._done.set_exception(exc)
            self._done.exception()
        else:
            self._done.set_result(size)
        self._wake.set()
        self.close()

    def close(self):
        if self._h is not None:
            self._pause()
            _lib.lib().msb_file_free(self._h)
            self._h = None

    async def items(self):
        try:
            while True:
                if self._items:
                    it = self._items.pop(0)
                    self._held -= len(it) if isinstance(it, bytes) else 200
                    if self._held < HIGH // 2:
                        self._resume()
                    yield it
                    continue
                if self._done.done():
                    self._done.result()  # raises what went wrong
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            if not self._done.done():
                self.close()


class Files:
    """The files of one sandbox; ``user`` (default: as exec, the image's
    user or root) names whom the guest checks permissions for."""

    def __init__(self, sandbox: "Sandbox"):
        self._sb = sandbox

    async def _open(self, op, path, opts: _FileOpts):
        h = await self._sb._handle()
        fh = ctypes.c_void_p()
        call(_lib.lib().msb_file_open, h, op, _path(path), opts.ref(),
             ctypes.byref(fh))
        return fh

    # -- reading -----------------------------------------------------------------

    async def stream(self, path, *, user=None) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk, as the guest sends them."""
        s = _Stream(await self._open(_lib.FILE_READ, path, _FileOpts(user)))
        async for chunk in s.items():
            yield chunk

    async def read(self, path, *, user=None) -> bytes:
        """The whole file."""
        out = bytearray()
        async for chunk in self.stream(path, user=user):
            out += chunk
        return bytes(out)

    async def read_text(self, path, *, user=None, encoding="utf-8") -> str:
        return (await self.read(path, user=user)).decode(encoding)

    # -- writing -----------------------------------------------------------------

    async def write(self, path, data: Union[bytes, str, Iterable[bytes],
                                            AsyncIterable[bytes]],
                    *, user=None, mode=None, parents=False, append=False,
                    exclusive=False) -> int:
        """Write @data (bytes, str, a binary file object, or an (async)
        iterable of bytes) to @path; the number of bytes written. ``mode``
        sets the permission bits exactly; ``parents`` makes missing
        directories; ``exclusive`` fails with AlreadyExists if it exists."""
        opts = _FileOpts(user, mode, parents, exclusive=exclusive, append=append)
        if isinstance(data, str):
            data = data.encode()
        fh = await self._open(_lib.FILE_WRITE, path, opts)
        lib = _lib.lib()
        try:
            async for chunk in _chunks(data):
                await blocking(call, lib.msb_file_write, fh, chunk, len(chunk))
            await blocking(call, lib.msb_file_close_write, fh)
            s = _Stream(fh)
            fh = None  # the stream owns it now
            async for _ in s.items():
                pass
            return s._done.result()
        finally:
            if fh is not None:
                lib.msb_file_free(fh)

    async def write_text(self, path, text: str, *, encoding="utf-8", **kw) -> int:
        return await self.write(path, text.encode(encoding), **kw)

    # -- the rest -----------------------------------------------------------------

    async def list(self, path=".", *, recursive=False, user=None) -> list[FileInfo]:
        """The entries of a directory (sorted by name), or with ``recursive``
        of the whole tree."""
        s = _Stream(await self._open(_lib.FILE_LIST, path,
                                     _FileOpts(user, recursive=recursive)))
        out = [e async for e in s.items()]
        out.sort(key=lambda e: e.name)
        return out

    async def walk(self, path=".", *, user=None) -> AsyncIterator[FileInfo]:
        """The whole tree as the guest lists it, a directory before what is
        in it, without holding it all."""
        s = _Stream(await self._open(_lib.FILE_LIST, path,
                                     _FileOpts(user, recursive=True)))
        async for e in s.items():
            yield e

    async def _oneshot(self, fn, *args) -> int:
        h = await self._sb._handle()
        return await blocking(call, fn, h, *args)

    async def stat(self, path, *, follow_symlinks=True, user=None) -> FileInfo:
        o = _FileOpts(user, nofollow=not follow_symlinks)
        fi = _lib.FileInfo()
        await self._oneshot(_lib.lib().msb_file_stat, _path(path), o.ref(),
                            ctypes.byref(fi))
        return _info(fi)

    async def exists(self, path, *, user=None) -> bool:
        o = _FileOpts(user)
        return bool(await self._oneshot(_lib.lib().msb_file_exists,
                                        _path(path), o.ref()))

    async def mkdir(self, path, *, parents=False, exist_ok=False, mode=None,
                    user=None) -> None:
        """A directory; ``parents`` makes the missing ones too (and, as
        ``exist_ok``, is content with one that exists)."""
        o = _FileOpts(user, mode, parents=parents or exist_ok,
                      exclusive=not (parents or exist_ok))
        await self._oneshot(_lib.lib().msb_file_mkdir, _path(path), o.ref())

    async def remove(self, path, *, recursive=False, missing_ok=False,
                     user=None) -> None:
        """A file, a symlink, an empty directory, or with ``recursive`` a
        directory and all in it."""
        o = _FileOpts(user, recursive=recursive)
        try:
            await self._oneshot(_lib.lib().msb_file_remove, _path(path), o.ref())
        except NotFound:
            if not missing_ok:
                raise

    async def rename(self, src, dst, *, user=None, exclusive=False) -> None:
        o = _FileOpts(user, exclusive=exclusive)
        await self._oneshot(_lib.lib().msb_file_rename, _path(src), _path(dst),
                            o.ref())

    async def symlink(self, target: str, path, *, user=None) -> None:
        """Make @path a symlink pointing at @target."""
        o = _FileOpts(user)
        await self._oneshot(_lib.lib().msb_file_symlink, _path(target),
                            _path(path), o.ref())

    async def copy_in(self, host_path, guest_path, *, user=None,
                      progress: Callable[[CopyProgress], object] | None = None
                      ) -> None:
        """A host file or tree into the guest (docker cp's rules);
        ``progress`` is called with a CopyProgress as each file moves."""
        await self._copy(_lib.lib().msb_copy_in, host_path, guest_path, user,
                         progress)

    async def copy_out(self, guest_path, host_path, *, user=None,
                       progress: Callable[[CopyProgress], object] | None = None
                       ) -> None:
        """A guest file or tree to the host (docker cp's rules; names that
        would land outside @host_path are refused); ``progress`` as
        copy_in's."""
        await self._copy(_lib.lib().msb_copy_out, guest_path, host_path, user,
                         progress)

    async def _copy(self, fn, src, dst, user, progress):
        o = _lib.CopyOpts()
        b = str(user).encode() if user is not None else None
        o.user = b
        if progress is not None:
            if not callable(progress):
                raise InvalidArgument(f"progress {progress!r}: a function "
                                      "called with a CopyProgress")
            loop = asyncio.get_running_loop()

            def cb(_ctx, path, done, total):
                loop.call_soon_threadsafe(
                    progress, CopyProgress(_lib.text(path), done, total))
            o.progress = _lib.PROGRESS_FN(cb)
        await self._oneshot(fn, os.fsencode(src), os.fsencode(dst),
                            ctypes.byref(o))


async def _chunks(data) -> AsyncIterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        mv = memoryview(data)
        for i in range(0, len(mv), CHUNK):
            yield bytes(mv[i:i + CHUNK])
        if not len(mv):
            return
    elif hasattr(data, "read"):
        while True:
            b = await blocking(data.read, CHUNK)
            if not b:
                return
            yield b if isinstance(b, bytes) else str(b).encode()
    elif hasattr(data, "__aiter__"):
        async for b in data:
            yield b.encode() if isinstance(b, str) else bytes(b)
    elif hasattr(data, "__iter__"):
        for b in data:
            yield b.encode() if isinstance(b, str) else bytes(b)
    else:
        raise InvalidArgument("write() takes bytes, str, a binary file or an "
                              "iterable of bytes")
