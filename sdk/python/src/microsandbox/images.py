# SPDX-License-Identifier: Apache-2.0
"""Images in the local store (docs/images.md): pulled from any OCI registry,
loaded from an OCI layout or a `docker save` archive, saved as one, listed,
removed, pruned; and the credentials pulls use.

    info = await Image.pull("python:3.12", progress=print)
    await Image.load("./layout", tag="mybox:1")
    await Image.save("mybox:1", "mybox.tar")
    for i in await Image.list(): print(i.reference, i.size)
    await registry_login("ghcr.io", "me", token)

``Sandbox.create(image=...)`` pulls what is missing by itself; these are
for doing it ahead of time, offline, or with progress shown.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from dataclasses import dataclass
from typing import Callable

from . import _lib
from ._native import blocking, call, call_json
from .errors import InvalidArgument


@dataclass(frozen=True)
class ImageInfo:
    """An image in the store. ``reference`` as shown ("python:3.12"),
    ``canonical`` in full ("docker.io/library/python:3.12"), ``digest`` of
    the manifest it resolved to, ``id`` of its config, ``size`` of its
    compressed layers; ``fetched``: blobs a pull downloaded (0: all were
    here already); ``builtin``: the built-in ``default`` image."""

    reference: str
    canonical: str
    digest: str
    id: str
    size: int
    layers: int
    pulled_at: int
    fetched: int
    builtin: bool


@dataclass(frozen=True)
class PullProgress:
    """How a pull or a load is going: ``phase`` is "resolving",
    "downloading", "converting" or "repaired" (a stored layer image was
    damaged and is made again); ``done``/``total`` bytes of the blob
    ``digest``, layer ``index`` of ``count``."""

    phase: str
    digest: str | None
    done: int
    total: int
    index: int
    count: int


def _info(i: _lib.ImageInfo) -> ImageInfo:
    return ImageInfo(_lib.text(i.reference), _lib.text(i.canonical),
                     _lib.text(i.digest), _lib.text(i.id), i.size, i.layers,
                     i.pulled_at, i.fetched, bool(i.builtin))


@dataclass(frozen=True)
class PruneResult:
    """What ``Image.prune()`` deleted: ``files`` (blobs, layers, debris of
    interrupted pulls) taking ``freed_bytes``."""

    freed_bytes: int
    files: int


_SAVE_FORMATS = {"oci": _lib.SAVE_OCI, "docker": _lib.SAVE_DOCKER}


def _ref(ref) -> bytes:
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument(f"an image reference is a non-empty string, "
                              f"not {ref!r}")
    return ref.encode()


def _progress_fn(progress: Callable[[PullProgress], object] | None):
    """A C callback that hands each report to @progress on the running
    loop (the library calls it from its pulling threads)."""
    if progress is None:
        return _lib.PULL_PROGRESS_FN()
    loop = asyncio.get_running_loop()

    def cb(_ctx, p):
        r = p.contents
        report = PullProgress(_lib.text(r.phase or b""),
                              _lib.text(r.digest) if r.digest else None,
                              r.done, r.total, r.index, r.count)
        loop.call_soon_threadsafe(progress, report)
    return _lib.PULL_PROGRESS_FN(cb)


class Image:
    """The local image store; every method is a class method."""

    @classmethod
    async def pull(cls, ref: str, *, insecure: bool = False,
                   progress: Callable[[PullProgress], object] | None = None
                   ) -> ImageInfo:
        """Pull @ref (each layer stored once); ``insecure``: plain http to a
        registry that is not on loopback; ``progress(report)`` is called on
        the event loop as it goes. ImageNotFound if the registry has no
        such image, ImagePullFailed for anything else that stops it."""
        o = _lib.PullOpts()
        o.insecure = int(insecure)
        o.progress = fn = _progress_fn(progress)
        out = _lib.ImageInfo()
        await blocking(call, _lib.lib().msb_image_pull, _ref(ref),
                       ctypes.byref(o), ctypes.byref(out))
        del fn
        return _info(out)

    @classmethod
    async def load(cls, path, *, tag: str | None = None,
                   progress: Callable[[PullProgress], object] | None = None
                   ) -> ImageInfo:
        """Store the image at @path (an OCI image layout directory, a tar of
        one, or a `docker save` archive) without a registry, named @tag
        (default: the archive's own name). Every blob is checked against
        its digest before any is stored."""
        o = _lib.LoadOpts()
        b = os.fsencode(path)
        t = tag.encode() if tag is not None else None
        o.tag = t
        o.progress = fn = _progress_fn(progress)
        out = _lib.ImageInfo()
        await blocking(call, _lib.lib().msb_image_load, b, ctypes.byref(o),
                       ctypes.byref(out))
        del fn, t
        return _info(out)

    @classmethod
    async def list(cls) -> list[ImageInfo]:
        """The built-in ``default`` (when built) first, then every pulled or
        loaded image."""
        def run():
            p = ctypes.POINTER(_lib.ImageInfo)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_image_list, ctypes.byref(p), ctypes.byref(n))
            try:
                return [_info(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    @classmethod
    async def remove(cls, ref: str) -> None:
        """Forget @ref and delete what no other image and no sandbox uses."""
        await blocking(call, _lib.lib().msb_image_remove, _ref(ref))

    @classmethod
    async def inspect(cls, ref: str) -> dict:
        """Its reference, digests, config and layers (``msb image inspect``)."""
        return await blocking(call_json, _lib.lib().msb_image_inspect_json,
                              _ref(ref))

    @classmethod
    async def save(cls, ref: str, path, *, format: str = "oci") -> None:
        """Write @ref as a tar at @path (``msb save``): an OCI image layout;
        ``format="docker"`` adds the manifest.json ``docker load`` reads.
        ``Image.load`` takes either back."""
        if format not in _SAVE_FORMATS:
            raise InvalidArgument(f"invalid format {format!r}: 'oci' or "
                                  "'docker'")
        r, b = _ref(ref), os.fsencode(path)
        if not b:
            raise InvalidArgument("Image.save needs a path to write the tar to")
        await blocking(call, _lib.lib().msb_image_save, r, b,
                       _SAVE_FORMATS[format])

    @classmethod
    async def prune(cls) -> PruneResult:
        """Delete the blobs and layers no image and no sandbox (nor
        snapshot) uses, and the debris of interrupted pulls (``msb image
        prune``)."""
        def run():
            freed, files = ctypes.c_uint64(), ctypes.c_uint()
            call(_lib.lib().msb_image_prune, ctypes.byref(freed),
                 ctypes.byref(files))
            return PruneResult(freed.value, files.value)
        return await blocking(run)


def _host(registry) -> bytes:
    if not isinstance(registry, str) or not registry or "/" in registry:
        raise InvalidArgument(f"a registry is a host[:port] (no '/'), not "
                              f"{registry!r}")
    return registry.encode()


async def registry_login(registry: str, user: str, password: str, *,
                         insecure: bool = False) -> None:
    """Check @user and @password with @registry (HOST[:PORT]), as docker
    login does, then keep them in $MSB_HOME/auth.json (0600), used from
    then on by pulls and pushes to it, images, sandboxes and snapshots
    alike (``msb registry login``). Credentials the registry refuses raise
    PermissionDenied ("HOST refused the login of 'USER' ...; nothing was
    stored"); a registry that cannot be reached raises FileError with
    errno EHOSTUNREACH ("cannot reach registry HOST (https) ..."). Either
    way nothing is stored and a login kept before stays as it was.
    ``insecure``: plain http to a registry that is not on loopback, as
    ``Image.pull``'s (loopback registries are always asked over http)."""
    if not isinstance(user, str) or not user or ":" in user:
        raise InvalidArgument("registry_login needs a user name without ':'")
    if not isinstance(password, str):
        raise InvalidArgument("registry_login needs a password (a string)")
    o = _lib.LoginOpts()
    o.insecure = int(insecure)
    await blocking(call, _lib.lib().msb_registry_login_with, _host(registry),
                   user.encode(), password.encode(), ctypes.byref(o))


async def registry_logout(registry: str) -> None:
    """Forget the credentials kept for @registry (``msb registry
    logout``); NotFound when none are."""
    await blocking(call, _lib.lib().msb_registry_logout, _host(registry))
