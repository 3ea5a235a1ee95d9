# SPDX-License-Identifier: Apache-2.0
"""HTTP hooks from Python code (docs/plugins.md): on_http_response sees
each answer before the guest does, and passes it, rewrites its head and
body, or blocks it; on_http's modify replaces a request's body. A guest
fetches from a server of this test on the host's loopback
(Network(allow_host=[port]))."""

import asyncio

import pytest

from .pysdk import run, serve_http, unique
from .test_runtime import agent  # noqa: F401 (the stand-in agent)
from microsandbox import HttpAction, InvalidArgument, Network, Sandbox


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
