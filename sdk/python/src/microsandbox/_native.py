# SPDX-License-Identifier: Apache-2.0
"""Calling libmsb from asyncio: errors into exceptions, blocking calls off
the event loop, and descriptors watched with loop.add_reader (no thread per
stream)."""

from __future__ import annotations

import asyncio
import ctypes
import json
from typing import Any, Callable

from . import _lib, errors


def raise_for(rc: int, err: _lib.MsbError) -> None:
    """Raise the typed exception for libmsb's negative @rc."""
    name = _lib.lib().msb_error_name(rc)
    raise errors.from_code(rc, name.decode() if name else "",
                           _lib.text(err.message) or f"error {rc}")


def call(fn: Callable[..., int], *args) -> int:
    """fn(*args, &err), raising on a negative return."""
    err = _lib.MsbError()
    rc = fn(*args, ctypes.byref(err))
    if rc < 0:
        raise_for(rc, err)
    return rc


def call_json(fn: Callable[..., int], *args) -> Any:
    """fn(*args, &text, &err) for a libmsb call that returns JSON text it
    allocated: the text parsed, and freed."""
    p = ctypes.c_void_p()
    call(fn, *args, ctypes.byref(p))
    try:
        return json.loads(ctypes.string_at(p))
    finally:
        _lib.free(p)


async def blocking(fn: Callable[..., Any], *args) -> Any:
    """A call that may block (boot, stop, a database, a one-shot request),
    run in the default executor so the loop keeps going."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class Sends:
    """Serialises the sends of one stream (they must not overlap, msb.h)
    and runs them off the loop: a send blocks while the guest is slow to
    take its input, and the loop must keep reading meanwhile."""

    def __init__(self):
        self._lock = asyncio.Lock()

    async def __call__(self, fn: Callable[..., int], *args) -> int:
        async with self._lock:
            return await blocking(call, fn, *args)
