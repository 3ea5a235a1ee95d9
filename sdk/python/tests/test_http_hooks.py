# SPDX-License-Identifier: Apache-2.0
"""HTTP hooks from Python code (docs/plugins.md): on_http_response sees
each answer before the guest does, and passes it, rewrites its head and
body, or blocks it; on_http's modify replaces a request's body;
on_http_response_head is told each answer's head and holds up nothing.
A guest fetches from a server of this test on the host's loopback
(Network(allow_host=[port]))."""

import asyncio
import json
import logging
import socket
import struct
import threading

import pytest

from .pysdk import run, serve_http, unique
from .test_exec_hooks import eventually
from .test_runtime import agent  # noqa: F401 (the stand-in agent)
from microsandbox import (HttpAction, HttpResponseHead, InvalidArgument,
                          Network, Sandbox)
from microsandbox.plugin import EVENT_QUEUE_MAX, HookServer, Plugin


def answer(method, path, body):
    """POST echoes its body; GET /doc and /card have something to find."""
    if method == "POST":
        return body
    return {"/doc": b"top CONFIDENTIAL plan\n",
            "/card": b"card 4111 1111 1111 1111\n"}.get(path, b"plain\n")


def test_on_http_response_redacts_tags_and_blocks():
    web = serve_http(answer)
    port = web.port
    seen = []

    def on_response(resp):
        seen.append((resp.request, resp.status, resp.body))
        if b"4111" in (resp.body or b""):
            return HttpAction.block("DLP: card number")
        if b"CONFIDENTIAL" in (resp.body or b""):
            return HttpAction.modify(
                body=resp.body.replace(b"CONFIDENTIAL", b"[redacted]"),
                head=resp.head[:-2] + "X-Redacted: 1\r\n\r\n")
        return HttpAction.forward(resp)

    def on_request(req):
        if req.body == b"rewrite-me":
            return HttpAction.modify(body=b"rewritten")
        return HttpAction.forward(req)

    async def main():
        sb = await Sandbox.create(unique("pyhttp"), network=Network(
            allow_host=[port], on_http=on_request,
            on_http_response=on_response))
        try:
            url = f"http://10.0.2.2:{port}"
            r = await sb.exec(f"wget -S -q -O- {url}/doc 2>&1", shell=True)
            assert "top [redacted] plan" in r.stdout, r.stdout
            assert "X-Redacted: 1" in r.stdout, r.stdout
            assert ("GET /doc HTTP/1.1", 200,
                    b"top CONFIDENTIAL plan\n") in seen, seen
            r = await sb.exec(f"wget -q -O- {url}/card", shell=True)
            assert r.exit_code != 0 and "4111" not in r.stdout, r
            r = await sb.exec(f"wget -q -O- --post-data rewrite-me {url}/p",
                              shell=True)
            assert r.stdout == "rewritten", r
            r = await sb.exec(f"wget -q -O- {url}/plain", shell=True)
            assert r.stdout == "plain\n", r
        finally:
            await sb.remove(force=True)
            web.shutdown()
    run(main())


def test_on_http_response_head_is_told_each_head_and_holds_nothing():
    web = serve_http(answer)
    port = web.port
    heads = []
    let_go = threading.Event()

    def on_head(h):
        # /doc's head is held here until the guest has read that answer:
        # an answer that waited for this hook would never come
        if h.request == "GET /doc HTTP/1.1":
            let_go.wait(120)
        heads.append(h)
        return HttpAction.block("ignored: an event is not answered")

    def on_response(resp):
        return HttpAction.forward(resp)

    def told(request):
        h = [h for h in heads if h.request == request]
        assert h, [h.request for h in heads]
        return h[0]

    async def main():
        sb = await Sandbox.create(unique("pyhead"), network=Network(
            allow_host=[port], on_http_response=on_response,
            on_http_response_head=on_head))
        try:
            url = f"http://10.0.2.2:{port}"
            r = await sb.exec(f"wget -q -O- {url}/doc", shell=True)
            assert r.stdout == "top CONFIDENTIAL plan\n", r
            assert not heads, heads
            let_go.set()
            r = await sb.exec(f"wget -q -O- {url}/card", shell=True)
            assert r.stdout == "card 4111 1111 1111 1111\n", r
        finally:
            let_go.set()
            await sb.remove(force=True)
            web.shutdown()
    run(main())
    for request, body in (("GET /doc HTTP/1.1", "top CONFIDENTIAL plan\n"),
                          ("GET /card HTTP/1.1",
                           "card 4111 1111 1111 1111\n")):
        h = eventually(lambda: told(request))
        assert isinstance(h, HttpResponseHead), h
        assert (h.status, h.body_length, h.host, h.tls) == (
            200, len(body), "10.0.2.2", False), h
        assert h.headers["content-length"] == [str(len(body))], h
        assert h.head.startswith("HTTP/1.0 200 OK\r\n"), h.head
        assert h.head.endswith("\r\n\r\n") and "Server: " in h.head, h.head
    assert [h.request for h in heads] == ["GET /doc HTTP/1.1",
                                          "GET /card HTTP/1.1"], heads


def test_a_peer_takes_no_http_hooks(agent):  # noqa: F811
    """A peer started from inside a sandbox has no hooks of this
    program: refused before anything is asked of the agent."""
    async def main():
        rt = await Sandbox.current_runtime()
        with pytest.raises(InvalidArgument, match="on_http_response"):
            await rt.start("x", network=Network(
                on_http_response=lambda r: None))
    asyncio.run(main())
    assert agent.requests == []


def _send(s, m):
    b = json.dumps(m).encode()
    s.sendall(struct.pack(">I", len(b)) + b)


def _recv(s):
    def exactly(n):
        b = b""
        while len(b) < n:
            more = s.recv(n - len(b))
            assert more, "the hook server closed the connection"
            b += more
        return b
    return json.loads(exactly(struct.unpack(">I", exactly(4))[0]))


def test_hook_server_drops_the_events_beyond_its_bound(caplog):
    """A guest decides how many answers' heads there are: with a handler
    stuck, a connection holds EVENT_QUEUE_MAX of its events and drops the
    newer ones (counted, logged), and a call after them is answered while
    the handler is still stuck. A stand-in supervisor on the socket."""
    extra = 100
    let_go = threading.Event()
    told = []

    def on_head(c):
        let_go.wait()
        told.append(c.request)

    p = Plugin("bound").on("http_response_head", on_head)
    p.on("dns", lambda c: {"verdict": "answer", "addrs": ["10.9.8.7"]})
    srv = HookServer(p)
    caplog.set_level(logging.WARNING, logger="microsandbox.plugin")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(60)
        s.connect(srv.path)
        _send(s, {"type": "hello", "protocol": 1, "sandbox": "bound"})
        assert _recv(s)["hooks"] == ["dns", "http_response_head"]
        for i in range(EVENT_QUEUE_MAX + extra):
            _send(s, {"type": "event", "hook": "http_response_head",
                      "request": f"GET /{i} HTTP/1.1", "host": "h",
                      "status": 200, "head": "HTTP/1.1 200 OK\r\n\r\n",
                      "body_length": 0, "tls": False})
        _send(s, {"type": "call", "id": 7, "hook": "dns",
                  "deadline_ms": 1000, "name": "example.com", "qtype": 1})
        r = _recv(s)
        assert (r["id"], r["verdict"], r["addrs"]) == (7, "answer",
                                                       ["10.9.8.7"]), r
        # answered with the handler still stuck on the first head, and
        # every event already read
        assert told == [] and srv.events_dropped == extra
    finally:
        let_go.set()
        s.close()

    def msgs():
        return [r.getMessage() for r in caplog.records
                if r.name == "microsandbox.plugin"]

    def ended():
        # logged once the connection's events have been told
        m = [m for m in msgs() if "dropped, its" in m]
        assert m, msgs()
        return m
    end = eventually(ended)
    srv.close()
    assert told == [f"GET /{i} HTTP/1.1" for i in range(EVENT_QUEUE_MAX)]
    assert srv.events_dropped == extra
    assert [m for m in msgs() if "newer events are dropped" in m] == [
        f"hook server bound: {EVENT_QUEUE_MAX} events of a connection not "
        "yet told to their handlers (slow or stuck): newer events are "
        "dropped until there is room"], msgs()
    assert end == [f"hook server bound: {extra} events of a connection "
                   "dropped, its handlers too slow (at most "
                   f"{EVENT_QUEUE_MAX} held)"], msgs()
