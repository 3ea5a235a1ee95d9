# SPDX-License-Identifier: Apache-2.0
"""Sandbox.current_runtime() as code inside a sandbox uses it
(docs/spawn.md), against a stand-in for the agent's socket that speaks
its frames (docs/agent-protocol.md §7c): the requests the Runtime writes
and how it reads the answers. tests/e2e/test_spawn.py runs the same
requests through a real agent with the `msb` command."""

import asyncio
import json
import os
import socket
import struct
import tempfile
import threading

import pytest

from microsandbox import (InvalidArgument, Network, NotSupported,
                          PolicyRefused, Sandbox)
from microsandbox import runtime as rtmod

HDR = struct.Struct(">IIBBH")


def frame(kind, payload=b""):
    return HDR.pack(len(payload), 0, kind, 0, 0) + payload


def result(err, msg=b""):
    p = bytes([31]) + struct.pack(">I", 4) + struct.pack(">I", err)
    if msg:
        p += bytes([32]) + struct.pack(">I", len(msg)) + msg
    return frame(73, p)


class Agent:
    """Answers each connection's one PEER with @answer(request)."""

    def __init__(self, answer):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "agent.sock")
        self.requests, self.windows = [], []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen()
        self.answer = answer
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            with c:
                f = c.makefile("rb")
                n, stream, kind, _, _ = HDR.unpack(f.read(HDR.size))
                assert (stream, kind) == (0, 76)
                req = json.loads(f.read(n))
                self.requests.append(req)
                if req.get("name") == "big":
                    # a window's worth, then more only for credit back
                    c.sendall(frame(67, b"x" * 65536) * 4)
                    n, _, kind, _, _ = HDR.unpack(f.read(HDR.size))
                    self.windows.append((kind, f.read(n)))
                    c.sendall(frame(67, b"y") +
                              frame(69, struct.pack(">iI", 0, 0)))
                    continue
                c.sendall(self.answer(req))


@pytest.fixture
def agent(monkeypatch):
    def answer(req):
        if req["op"] == "exec":
            return (frame(67, b"out\n") + frame(68, b"err\n") +
                    frame(69, struct.pack(">iI", 3, 0)))
        if req["op"] == "ps":
            return frame(67, json.dumps([{
                "name": "coder", "image": "default", "status": "running",
                "cpus": 1, "memory_mib": 256}]).encode()) + result(0)
        if req["name"] == "third":
            return result(1, b"this sandbox's tree already has 2 live "
                          b"peers")
        return frame(67, req["name"].encode() + b"\n") + result(0)

    a = Agent(answer)
    monkeypatch.setattr(rtmod, "AGENT_SOCK", a.path)
    return a


def test_requests_and_answers(agent):
    async def main():
        rt = await Sandbox.current_runtime()
        coder = await rt.start("coder", network=Network(deny_all=True),
                               memory=256, env={"A": "1"},
                               secrets={"K": ("msb_placeholder_ab",
                                              ["api.test", "x.test"])})
        r = await coder.exec("sh -c 'exit 3'")
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert [p.name for p in await rt.list()] == ["coder"]
        with pytest.raises(PolicyRefused, match="already has 2 live"):
            await rt.start("third")
        await coder.stop()
        await rt.peer("coder").remove()
    asyncio.run(main())
    assert agent.requests == [
        {"op": "start", "name": "coder", "memory": "256M", "env": ["A=1"],
         "net_deny_all": True,
         "secrets": [{"env": "K", "placeholder": "msb_placeholder_ab",
                      "hosts": "api.test,x.test"}]},
        {"op": "exec", "name": "coder", "argv": ["sh", "-c", "exit 3"]},
        {"op": "ps", "json": True},
        {"op": "start", "name": "third"},
        {"op": "stop", "name": "coder"},
        {"op": "rm", "name": "coder"},
    ]


def test_output_is_taken_within_its_credit(agent):
    async def main():
        rt = await Sandbox.current_runtime()
        r = await rt.peer("big").exec("cat")
        assert len(r.stdout_bytes) == 4 * 65536 + 1
    asyncio.run(main())
    assert agent.windows and agent.windows[0][0] == 7
    assert struct.unpack(">I", agent.windows[0][1])[0] >= 65536


def test_a_network_wider_than_allowed_fields_is_refused_here(agent):
    async def main():
        rt = await Sandbox.current_runtime()
        with pytest.raises(Exception, match="deny_all, allow and allow_cidr"):
            await rt.start("x", network=Network(ports=["8080:80"]))
    asyncio.run(main())
    assert agent.requests == []


def test_a_peer_takes_no_hooks(agent):
    """Hooks run in the host program that made a sandbox: a peer's are
    refused, each saying so, before anything is asked of the agent."""
    def hook(x):
        return None

    async def main():
        rt = await Sandbox.current_runtime()
        for k in ("on_exec", "on_exec_exit", "on_lifecycle"):
            with pytest.raises(InvalidArgument,
                               match=rf"a peer takes no hooks \({k}\): hooks "
                                     r"run in the host program that made a "
                                     r"sandbox"):
                await rt.start("x", **{k: hook})
        for k in ("on_dns", "on_connect", "on_http", "on_http_response"):
            with pytest.raises(InvalidArgument,
                               match=rf"\(Network\({k}=\.\.\.\)\): hooks run "
                                     r"in the host program"):
                await rt.start("x", network=Network(**{k: hook}))
        with pytest.raises(InvalidArgument,
                           match=r"\(on_exec, Network\(on_connect=\.\.\.\)\)"):
            await rt.start("x", on_exec=hook,
                           network=Network(deny_all=True, on_connect=hook))
    asyncio.run(main())
    assert agent.requests == []


def test_outside_a_sandbox():
    async def main():
        with pytest.raises(NotSupported, match="not inside a microsandbox"):
            await Sandbox.current_runtime()
    asyncio.run(main())
