# SPDX-License-Identifier: Apache-2.0
"""The plugin registry (docs/plugins.md, "The registry"): plugins shared
through any OCI registry, searched, installed (pinned by digest, checked
at each load) and run by name.

    for p in await Plugins.search("pii", registry="ghcr.io/me/plugins"):
        print(p.name, p.version, p.hooks)
    await Plugins.install("msb-dlp", registry="ghcr.io/me/plugins")
    sb = await Sandbox.create("app", plugins=["msb-dlp"])

``registry`` is REGISTRY/NAMESPACE; left out, ``$MSB_PLUGIN_REGISTRY``
names it.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

from . import _lib
from ._native import blocking, call
from .errors import InvalidArgument


@dataclass(frozen=True)
class PluginInfo:
    """A plugin as the registry's index or this host's install knows it:
    its metadata, ``reference`` and ``digest`` (its manifest's); installed
    ones also have ``path`` (its files), ``files``, ``size``,
    ``installed_at`` and ``verified`` (its files still match their
    digests)."""

    name: str
    version: str
    kind: str
    language: str
    hooks: tuple[str, ...]
    command: str
    description: str
    reference: str
    digest: str
    path: str
    files: int
    size: int
    installed_at: int
    verified: bool


def _info(i: _lib.PluginInfo) -> PluginInfo:
    hooks = _lib.text(i.hooks)
    return PluginInfo(_lib.text(i.name), _lib.text(i.version),
                      _lib.text(i.kind), _lib.text(i.language),
                      tuple(h for h in hooks.split(",") if h),
                      _lib.text(i.command), _lib.text(i.description),
                      _lib.text(i.reference), _lib.text(i.digest),
                      _lib.text(i.path), i.files, i.size, i.installed_at,
                      bool(i.verified))


def _arg(what: str, v) -> bytes:
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str) or not v:
        raise InvalidArgument(f"{what} is a non-empty string, not {v!r}")
    return v.encode()


def _reg(registry: str | None) -> bytes | None:
    return None if registry is None else _arg("a plugin registry", registry)


class Plugins:
    """Search, install, list, remove and publish registry plugins (the
    SDK's ``msb plugin``)."""

    @classmethod
    async def search(cls, query: str = "", *,
                     registry: str | None = None) -> list[PluginInfo]:
        """The index's plugins whose name, description, hooks, language
        or kind hold @query (case ignored; "" for all), by name."""
        q, r = query.encode(), _reg(registry)

        def run():
            p = ctypes.POINTER(_lib.PluginInfo)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_plugin_search, r, q, ctypes.byref(p),
                 ctypes.byref(n))
            try:
                return [_info(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    @classmethod
    async def install(cls, what: str, *,
                      registry: str | None = None) -> PluginInfo:
        """NAME, NAME:VERSION, NAME@DIGEST or a whole reference: every
        blob checked against its digest, installed under the home
        (replacing one of that name)."""
        w, r = _arg("a plugin", what), _reg(registry)
        out = _lib.PluginInfo()
        await blocking(call, _lib.lib().msb_plugin_install, w, r,
                       ctypes.byref(out))
        return _info(out)

    @classmethod
    async def publish(cls, directory: str | os.PathLike, *,
                      registry: str | None = None) -> PluginInfo:
        """The plugin whose metadata is DIRECTORY/plugin.json, pushed as
        NAME:VERSION and NAME:latest and entered in the index."""
        d, r = _arg("a plugin directory", directory), _reg(registry)
        out = _lib.PluginInfo()
        await blocking(call, _lib.lib().msb_plugin_publish, d, r,
                       ctypes.byref(out))
        return _info(out)

    @classmethod
    async def list(cls) -> list[PluginInfo]:
        """The installed plugins, by name, each verified."""
        def run():
            p = ctypes.POINTER(_lib.PluginInfo)()
            n = ctypes.c_size_t()
            call(_lib.lib().msb_plugin_list, ctypes.byref(p),
                 ctypes.byref(n))
            try:
                return [_info(p[i]) for i in range(n.value)]
            finally:
                _lib.free(p)
        return await blocking(run)

    @classmethod
    async def inspect(cls, name: str) -> PluginInfo:
        """One installed plugin, verified (Damaged when its files
        changed since it was installed)."""
        n = _arg("a plugin name", name)
        out = _lib.PluginInfo()
        await blocking(call, _lib.lib().msb_plugin_inspect, n,
                       ctypes.byref(out))
        return _info(out)

    @classmethod
    async def remove(cls, name: str) -> None:
        """Uninstall @name."""
        await blocking(call, _lib.lib().msb_plugin_remove,
                       _arg("a plugin name", name))
