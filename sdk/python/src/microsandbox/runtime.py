# SPDX-License-Identifier: Apache-2.0
"""Peer sandboxes, from code running inside a sandbox (docs/spawn.md).

``await Sandbox.current_runtime()`` inside a sandbox gives a Runtime that
asks the host, through the sandbox's agent (its socket
/run/microsandbox/agent.sock, the agent link, never the network), to
start peers beside it and run commands in them. No libmsb is needed in
the guest: this module speaks the agent's frames itself
(docs/agent-protocol.md §7c). What is allowed is the host's decision
(msb run --allow-spawn N); a refusal raises PolicyRefused with the
host's reason.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import struct
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .errors import (InvalidArgument, MicrosandboxError, NotSupported,
                     PolicyRefused, ProtocolError)
from .process import Command, ExecResult, argv_of

AGENT_SOCK = "/run/microsandbox/agent.sock"

# frame types and TLV tags (src/proto/proto.h)
_STDOUT, _STDERR, _EXIT, _RESULT, _PEER, _WINDOW = 67, 68, 69, 73, 76, 7
# the host sends output within the credit given back as it is taken
# (MSB_WINDOW_INIT at first)
_WINDOW_INIT = 256 * 1024
_T_ERRNO, _T_MESSAGE = 31, 32
_HDR = struct.Struct(">IIBBH")
_FRAME_MAX = 64 * 1024


def _result(payload: bytes) -> tuple[int, str]:
    """A RESULT's errno and message."""
    err, msg, i = None, "", 0
    while i + 5 <= len(payload):
        tag, n = payload[i], struct.unpack(">I", payload[i + 1:i + 5])[0]
        v = payload[i + 5:i + 5 + n]
        if len(v) != n:
            break
        if tag == _T_ERRNO and n == 4:
            err = struct.unpack(">I", v)[0]
        elif tag == _T_MESSAGE:
            msg = v.decode("utf-8", "replace")
        i += 5 + n
    if err is None:
        raise ProtocolError("a RESULT without ERRNO from the sandbox's agent")
    return err, msg


def _raise(err: int, msg: str):
    if err == errno.EPERM:
        raise PolicyRefused(msg)
    if err == errno.EINVAL:
        raise InvalidArgument(msg)
    raise MicrosandboxError(msg or os.strerror(err), -err)


async def _ask(req: dict) -> tuple[bytes, bytes, tuple[int, int] | None]:
    """One request; its output, and (code, signal) for an exec."""
    body = json.dumps(req).encode()
    if len(body) > 60 * 1024:
        raise InvalidArgument("the request is over 60 KiB")
    try:
        r, w = await asyncio.open_unix_connection(AGENT_SOCK)
    except OSError as e:
        raise NotSupported(f"not inside a microsandbox sandbox ({AGENT_SOCK}: "
                           f"{e.strerror})") from None
    out, err = bytearray(), bytearray()
    taken = 0
    try:
        w.write(_HDR.pack(len(body), 0, _PEER, 0, 0) + body)
        await w.drain()
        while True:
            try:
                hdr = await r.readexactly(_HDR.size)
                n, _, kind, flags, _ = _HDR.unpack(hdr)
                if n > _FRAME_MAX or flags:
                    raise ProtocolError("a bad frame from the sandbox's agent")
                p = await r.readexactly(n)
            except asyncio.IncompleteReadError:
                raise ProtocolError("the sandbox's agent closed the "
                                    "connection before the answer's end") \
                    from None
            if kind in (_STDOUT, _STDERR):
                (out if kind == _STDOUT else err).extend(p)
                taken += n
                if taken >= _WINDOW_INIT // 4:
                    w.write(_HDR.pack(4, 0, _WINDOW, 0, 0) +
                            struct.pack(">I", taken))
                    await w.drain()
                    taken = 0
            elif kind == _EXIT and n >= 8:
                code, sig = struct.unpack(">iI", p[:8])
                return bytes(out), bytes(err), (code, sig)
            elif kind == _RESULT:
                e, msg = _result(p)
                if e:
                    _raise(e, msg)
                return bytes(out), bytes(err), None
    finally:
        w.close()


_NET_HOOKS = ("on_dns", "on_connect", "on_http", "on_http_response")


def _no_hooks(net, hooks: Mapping[str, Any]) -> None:
    """Refuse hooks given to a peer: a hook runs in the host program that
    made a sandbox, served over a socket its supervisor connects to; a
    peer's supervisor has no such program to call."""
    given = [k for k, v in hooks.items() if v is not None]
    given += [f"Network({k}=...)" for k in _NET_HOOKS
              if getattr(net, k, None) is not None]
    if given:
        raise InvalidArgument(
            f"a peer takes no hooks ({', '.join(given)}): hooks run in the "
            f"host program that made a sandbox, not in a sandbox's code; "
            f"give them to Sandbox.create() in a program on the host, or "
            f"leave them out here")


def _network(net) -> dict:
    if net is None:
        return {}
    bad = [k for k in ("block_cidr", "dns", "ports", "plugin", "allow_host")
           if getattr(net, k, None)]
    if bad:
        raise InvalidArgument(f"a peer's network takes deny_all, allow and "
                              f"allow_cidr only (its parent's is the rest), "
                              f"not {', '.join(bad)}")
    out: dict = {}
    if net.deny_all and not (net.allow or net.allow_cidr):
        out["net_deny_all"] = True
    if net.allow:
        out["net_allow"] = list(net.allow)
    if net.allow_cidr:
        out["net_allow_cidr"] = list(net.allow_cidr)
    return out


def _secrets(secrets) -> list:
    out = []
    for env, spec in (secrets or {}).items():
        if isinstance(spec, str):
            ph, hosts = spec, None
        else:
            ph, hosts = spec[0], spec[1] if len(spec) > 1 else None
        s = {"env": env, "placeholder": ph}
        if hosts:
            s["hosts"] = hosts if isinstance(hosts, str) else ",".join(hosts)
        out.append(s)
    return out


@dataclass(frozen=True)
class PeerInfo:
    """A peer as ``rt.list()`` gives it."""
    name: str
    image: str
    status: str
    cpus: int
    memory_mib: int


class Peer:
    """A peer sandbox this sandbox started: exec, stop, remove, logs."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"Peer({self.name!r})"

    async def exec(self, cmd: Command, *, shell: bool = False,
                   env: Mapping[str, str] | None = None,
                   workdir: str | None = None,
                   check: bool = False) -> ExecResult:
        """Run @cmd in the peer to its end (no stdin)."""
        argv = argv_of(cmd, shell)
        req: dict[str, Any] = {"op": "exec", "name": self.name, "argv": argv}
        if env:
            req["env"] = [f"{k}={v}" for k, v in env.items()]
        if workdir:
            req["workdir"] = workdir
        out, err, st = await _ask(req)
        code, sig = st if st else (0, 0)
        res = ExecResult(argv=argv, exit_code=code, stdout_bytes=out,
                         stderr_bytes=err, signal=sig)
        return res.check_returncode() if check else res

    async def stop(self) -> None:
        await _ask({"op": "stop", "name": self.name})

    async def remove(self) -> None:
        await _ask({"op": "rm", "name": self.name})

    async def logs(self) -> str:
        return (await _ask({"op": "logs", "name": self.name}))[0].decode(
            "utf-8", "replace")


class Runtime:
    """The host, as a sandbox's code sees it: ``Sandbox.current_runtime()``."""

    async def start(self, name: str, *, image: str | None = None,
                    cpus: int | None = None, memory: str | int | None = None,
                    env: Mapping[str, str] | None = None, network=None,
                    secrets: Mapping[str, Any] | None = None,
                    on_exec=None, on_exec_exit=None,
                    on_lifecycle=None) -> Peer:
        """Start peer @name and return once it is booted. @secrets maps
        the peer's variable to (placeholder, hosts): the placeholder this
        sandbox holds (``os.environ["KEY"]``), hosts a string or a list,
        no wider than this sandbox's binding (None: the same).

        A peer takes no hooks (``on_exec``, ``on_exec_exit``,
        ``on_lifecycle``, a Network's ``on_dns``, ``on_connect``,
        ``on_http``, ``on_http_response``): hooks run in the host program
        that made a sandbox; given here they raise InvalidArgument before
        anything is asked of the host."""
        _no_hooks(network, {"on_exec": on_exec, "on_exec_exit": on_exec_exit,
                            "on_lifecycle": on_lifecycle})
        req: dict[str, Any] = {"op": "start", "name": name}
        if image:
            req["image"] = image
        if cpus:
            req["cpus"] = int(cpus)
        if memory:
            req["memory"] = f"{memory}M" if isinstance(memory, int) else memory
        if env:
            req["env"] = [f"{k}={v}" for k, v in env.items()]
        req.update(_network(network))
        if secrets:
            req["secrets"] = _secrets(secrets)
        await _ask(req)
        return Peer(name)

    def peer(self, name: str) -> Peer:
        """A handle on a peer started earlier."""
        return Peer(name)

    async def list(self) -> Sequence[PeerInfo]:
        """This sandbox's peers."""
        out = (await _ask({"op": "ps", "json": True}))[0]
        return [PeerInfo(**p) for p in json.loads(out or b"[]")]


async def current_runtime() -> Runtime:
    if not os.path.exists(AGENT_SOCK):
        raise NotSupported(f"not inside a microsandbox sandbox ({AGENT_SOCK} "
                           f"is missing): current_runtime() is for code "
                           f"running in one; from the host, use "
                           f"Sandbox.create()")
    return Runtime()
