# SPDX-License-Identifier: Apache-2.0
"""Named volumes (docs/filesystems.md): directories the host keeps apart
from any sandbox, mounted by name by as many sandboxes as like at once
(what one writes, the others see), outliving them.

    await Volume.create("data", size="1G")
    sb = await Sandbox.create("a", volumes={"/data": NamedVolume("data")})
    for v in await Volume.list(): print(v.name, v.used_bytes)
    await Volume.remove("data")        # Busy while a sandbox mounts it

Their size, if they have one, holds for all their sandboxes together:
past it, writes fail with ENOSPC in the guest.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from . import _lib
from ._native import blocking, call, call_json
from .config import parse_memory
from .errors import InvalidArgument


@dataclass(frozen=True)
class VolumeInfo:
    """A named volume's record (``msb volume ls``): ``size_mib`` its limit
    (0: none but the host's disk), ``used_bytes`` the host disk its files
    take, ``created_at`` unix seconds, ``project`` the project that made it
    (or None), ``path`` its files on the host, ``users`` the sandboxes that
    mount it (any status) and ``running`` those of them running
    (``Volume.inspect`` names them)."""

    name: str
    size_mib: int
    used_bytes: int
    created_at: int
    project: str | None
    path: str
    users: int
    running: int


def _info(i: _lib.VolumeInfo) -> VolumeInfo:
    return VolumeInfo(_lib.text(i.name), i.size_mib, i.used_bytes,
                      i.created_at, _lib.text(i.project) or None,
                      _lib.text(i.path), i.users, i.running)


def _name(name) -> bytes:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a volume's name is a non-empty string, not "
                              f"{name!r}")
    if "\0" in name:
        raise InvalidArgument(f"{name!r} contains a NUL byte, which no name "
                              "may hold")
    return name.encode()


class Volume:
    """The named volumes of this host; every method is a class method.
    Mount one with ``volumes={"/data": NamedVolume("data")}``."""

    @classmethod
    async def create(cls, name: str, *, size: int | str | None = None
                     ) -> VolumeInfo:
        """Make the named volume @name, of at most ``size`` (MiB or
        ``"1G"``, at most 1024G; None: no limit but the host's disk), as
        ``msb volume create``. AlreadyExists if the name is taken."""
        n = _name(name)
        mib = 0 if size is None else parse_memory(size, "size")
        out = _lib.VolumeInfo()
        await blocking(call, _lib.lib().msb_volume_create, n, mib,
                       ctypes.byref(out))
        return _info(out)

    @classmethod
    async def get(cls, name: str) -> VolumeInfo:
        """The named volume @name's record (NotFound if there is none)."""
        n = _name(name)
        out = _lib.VolumeInfo()
        await blocking(call, _lib.lib().msb_volume_info_get, n,
                       ctypes.byref(out))
        return _info(out)

    @classmethod
    async def list(cls) -> list[VolumeInfo]:
        """Every named volume, by name (``msb volume ls``)."""
        def run():
            p = ctypes.POINTER(_lib.VolumeInfo)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_volume_list, ctypes.byref(p), ctypes.byref(n))
            try:
                return [_info(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    @classmethod
    async def inspect(cls, name: str) -> dict:
        """Its record with ``used_by``, the names of the sandboxes that
        mount it, and ``running``, how many of them run (``msb volume
        inspect``)."""
        return await blocking(call_json, _lib.lib().msb_volume_inspect_json,
                              _name(name))

    @classmethod
    async def remove(cls, name: str, *, force: bool = False) -> None:
        """Delete the named volume @name and its files (``msb volume rm``).
        Busy while a running sandbox mounts it, and, unless ``force``,
        while a stopped one does (it could not start again); NotFound if
        there is none."""
        await blocking(call, _lib.lib().msb_volume_remove, _name(name),
                       int(bool(force)))
