# SPDX-License-Identifier: Apache-2.0
"""Cloud sync (docs/sync.md): a sandbox pushed to any OCI registry, its disk
in chunks, and pulled back as a stopped sandbox on any machine.

    await sb.push()                        # REMOTE/NAME:latest
    sb = await Sandbox.pull("ml-project")  # stopped
    await sb.start()

The remote, REGISTRY[/NAMESPACE], is ``$MSB_REMOTE`` or the one
``set_remote()`` kept. The transfers block in libmsb, so they run in the
event loop's executor; progress reports come back on the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
from dataclasses import dataclass
from typing import Callable

from . import _lib
from ._native import blocking, call
from .images import PullProgress


@dataclass(frozen=True)
class SyncProgress:
    """How a push or pull is going: ``phase`` is "resolving", "reading"
    (the local disk), "uploading", "image" (pulling the image the sandbox
    needs; ``image`` has that pull's report), "downloading" or "writing";
    ``done``/``total`` bytes of the disk, ``chunks_done``/``chunks_total``
    ("reading" counts each file it reads in turn from 0, a snapshot's
    memory, state and disk; in "uploading" and "downloading" they only
    grow)."""

    phase: str
    done: int
    total: int
    chunks_done: int
    chunks_total: int
    image: PullProgress | None


@dataclass(frozen=True)
class SyncInfo:
    """What a push or pull did: the local ``name``, the canonical
    ``reference`` it went to or came from, the artifact's ``digest``, the
    disk's ``chunks`` and how many were ``transferred`` (``bytes`` sent or
    received), chunks ``reused`` from the local disk (pull), ``up_to_date``
    when nothing had to move, and the host-bound settings a pull without
    ``trust`` ``dropped``."""

    name: str
    reference: str
    digest: str
    parent: str | None
    disk_bytes: int
    chunks: int
    transferred: int
    bytes: int
    reused: int
    up_to_date: bool
    dropped: str | None


def info(i: _lib.SyncInfo) -> SyncInfo:
    return SyncInfo(_lib.text(i.name), _lib.text(i.reference),
                    _lib.text(i.digest), _lib.text(i.parent) or None,
                    i.disk_bytes, i.chunks, i.transferred, i.bytes, i.reused,
                    bool(i.up_to_date), _lib.text(i.dropped) or None)


def opts(*, ref=None, name=None, insecure=False, force=False, trust=False,
         progress: Callable[[SyncProgress], object] | None = None
         ) -> _lib.SyncOpts:
    """msb_sync_opts; its strings and callback live as long as it does."""
    o = _lib.SyncOpts()
    o.ref = ref.encode() if ref is not None else None
    o.name = name.encode() if name is not None else None
    o.insecure, o.force, o.trust = int(insecure), int(force), int(trust)
    if progress is not None:
        loop = asyncio.get_running_loop()

        def cb(_ctx, p):
            r = p.contents
            img = None
            if r.image:
                m = r.image.contents
                img = PullProgress(_lib.text(m.phase or b""),
                                   _lib.text(m.digest) if m.digest else None,
                                   m.done, m.total, m.index, m.count)
            report = SyncProgress(_lib.text(r.phase or b""), r.done, r.total,
                                  r.chunks_done, r.chunks_total, img)
            loop.call_soon_threadsafe(progress, report)
        o.progress = _lib.SYNC_PROGRESS_FN(cb)
    return o


async def remote() -> tuple[str, bool] | None:
    """The remote sandboxes are pushed to and pulled from by default, and
    whether plain http was allowed for it; None when there is none."""
    def run():
        buf = ctypes.create_string_buffer(1024)
        insecure = ctypes.c_int()
        err = _lib.MsbError()
        if _lib.lib().msb_remote_get(buf, len(buf), ctypes.byref(insecure),
                                     ctypes.byref(err)) < 0:
            return None
        return _lib.text(buf.value), bool(insecure.value)
    return await blocking(run)


async def set_remote(remote: str | None, *, insecure: bool = False) -> None:
    """Keep @remote (REGISTRY[/NAMESPACE]) in $MSB_HOME; None forgets it.
    ``$MSB_REMOTE`` wins over it."""
    r = remote.encode() if remote else None
    await blocking(call, _lib.lib().msb_remote_set, r, int(insecure))
