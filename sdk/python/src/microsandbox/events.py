# SPDX-License-Identifier: Apache-2.0
"""A sandbox's events from the host (docs/events.md): Event, and
EventStream, an async iterator over msb_events_* whose descriptor the
event loop watches (add_reader), as a Process's is. Events the caller has
not taken are bounded: past HELD_HIGH the loop stops reading, the
supervisor's queue for this reader fills, and the reader is told later
how many it missed (``EventStream.dropped``) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from . import _lib
from ._native import call, raise_for
from .errors import MicrosandboxError

HELD_HIGH = 4096
STOPPED = -32  # MSB_E_STOPPED: the log read to its end, or the sandbox stopped


@dataclass(frozen=True)
class Event:
    """One event: ``seq`` its number in the sandbox's log, ``time`` when the
    supervisor took it (seconds since the epoch), ``source`` "guest", "host"
    or "msb", ``topic``, ``data`` (the JSON value, decoded)."""
    seq: int
    time: float
    source: str
    topic: str
    data: Any


class EventStream:
    """``async for ev in sb.events(...)``; ``close()`` (or ``async with``)
    ends it. With follow it ends when the sandbox stops."""

    def __init__(self, name: str, topic: str | None, since: int, follow: bool):
        h = ctypes.c_void_p()
        call(_lib.lib().msb_events_open, name.encode(),
             topic.encode() if topic else None, since, int(follow),
             ctypes.byref(h))
        self._h = h
        self._loop = asyncio.get_running_loop()
        self._fd = _lib.lib().msb_events_fd(h)
        self._q: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._end: BaseException | None = None
        self._ended = False
        self._reading = False
        self._ev = _lib.Event()
        self._err = _lib.MsbError()
        self.dropped = 0
        self._resume()

    def _resume(self):
        if not self._reading and not self._ended and self._h:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause(self):
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self):
        lib = _lib.lib()
        while not self._ended:
            rc = lib.msb_events_next(self._h, ctypes.byref(self._ev), 0,
                                     ctypes.byref(self._err))
            if rc == 0:
                break
            if rc < 0:
                self._ended = True
                self._pause()
                if rc != STOPPED:
                    try:
                        raise_for(rc, self._err)
                    except MicrosandboxError as e:
                        self._end = e
                self._wake.set()
                break
            ev = self._ev
            if ev.dropped:
                self.dropped += ev.dropped
                continue
            self._q.append(Event(ev.seq, ev.time, ev.source.decode(),
                                 ev.topic.decode(), json.loads(ev.data)))
            self._wake.set()
            if len(self._q) >= HELD_HIGH:
                self._pause()
                break

    def __aiter__(self):
        return self

    async def __anext__(self) -> Event:
        while not self._q:
            if self._ended or not self._h:
                if self._end:
                    raise self._end
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        ev = self._q.popleft()
        if len(self._q) < HELD_HIGH // 2:
            self._resume()
        return ev

    def close(self) -> None:
        self._pause()
        self._ended = True
        if self._h:
            _lib.lib().msb_events_free(self._h)
            self._h = None
        self._wake.set()

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_h", None):
            try:
                self.close()
            except Exception:
                pass
