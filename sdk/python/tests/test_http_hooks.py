# SPDX-License-Identifier: Apache-2.0
"""HTTP hooks from Python code (docs/plugins.md): on_http_response sees
each answer before the guest does, and passes it, rewrites its head and
body, or blocks it; on_http's modify replaces a request's body;
on_http_response_head is told each answer's head and holds up nothing.
A guest fetches from a server of this test on the host's loopback
(Network(allow_host=[port]))."""

import asyncio
import threading

import pytest

from .pysdk import run, serve_http, unique
from .test_exec_hooks import eventually
from .test_runtime import agent  # noqa: F401 (the stand-in agent)
from microsandbox import (HttpAction, HttpResponseHead, InvalidArgument,
                          Network, Sandbox)


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
