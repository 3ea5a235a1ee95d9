# SPDX-License-Identifier: Apache-2.0
"""The seeds' Python snippets (create, exec, secrets, network, volumes), run
as they are written. python:3.12 and node:20 are the busybox test image
loaded under those names (conftest.registry): no network is needed."""

import asyncio
import os

import pytest

from .pysdk import run
from microsandbox import (DnsAction, FileSystemBackend, HttpAction, MemFs,
                          Network, NotSupported, Sandbox)

key = "sk-test-0123456789"


def log(msg):
    pass


def contains_pii(body):
    return b"SSN" in (body or b"")


class AuditFs(FileSystemBackend):
    def open(self, ctx, ino, flags):
        log(f"open ino={ino} pid={ctx.pid}")
        return self.inner.open(ctx, ino, flags)


def test_secrets_seed(registry):
    async def main():
        sb = await Sandbox.create("agent", image="python:3.12",
          secrets={"OPENAI_API_KEY": (key, "api.openai.com")}
        )
        try:
            # Inside the sandbox: echo $OPENAI_API_KEY → msb_placeholder_...
            r = await sb.exec("sh -c 'echo $OPENAI_API_KEY'")
            assert r.stdout.startswith("msb_placeholder_"), r.stdout
            assert key not in r.stdout
            # and the exec from the snapshot seed: data, not an exception
            r = await sb.exec("pip install numpy pandas torch")
            assert r.exit_code == 127
        finally:
            await sb.remove(force=True)
    run(main())


def test_network_seed(registry):
    async def main():
        # as written, with hooks in Python: refused, saying what to use
        with pytest.raises(NotSupported, match="issue 14"):
            sb = await Sandbox.create("worker", image="node:20",
              network=Network(
                allow=["api.openai.com", "*.stripe.com"],
                on_dns=lambda q: (log(f"dns: {q.name}"), DnsAction.ALLOW),
                on_http=lambda req:
                  HttpAction.block("DLP: PII") if contains_pii(req.body)
                  else HttpAction.forward(req),
                block_cidr=["169.254.0.0/16", "10.0.0.0/8"],
              )
            )
        # the policy itself
        sb = await Sandbox.create("worker", image="node:20",
          network=Network(
            allow=["api.openai.com", "*.stripe.com"],
            block_cidr=["169.254.0.0/16", "10.0.0.0/8"],
          )
        )
        try:
            cfg = (await sb.inspect())["config"]["net"]
            assert cfg["allow"] == ["api.openai.com", "*.stripe.com"]
            assert cfg["block_cidr"] == ["169.254.0.0/16", "10.0.0.0/8"]
            # a name not allowed does not resolve in the guest
            r = await sb.exec("nslookup example.com")
            assert r.exit_code != 0
        finally:
            await sb.remove(force=True)
    run(main())


def test_volumes_seed(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("data")

    async def main():
        with pytest.raises(NotSupported, match="AuditFs"):
            sb = await Sandbox.create("app", image="python:3.12",
              volumes={
                "/data": AuditFs("./data"),
                "/cache": MemFs(),
              }
            )
        sb = await Sandbox.create("app", image="python:3.12",
          volumes={
            "/data": "./data",
            "/cache": MemFs(),
          }
        )
        try:
            await sb.exec("sh -c 'echo from the guest > /data/out; "
                          "echo cached > /cache/c; cat /cache/c'")
            assert open("data/out").read() == "from the guest\n"
            assert (await sb.fs.read_text("/cache/c")) == "cached\n"
        finally:
            await sb.remove(force=True)
    run(main())


def test_later_features_say_so(shared):
    async def main():
        with pytest.raises(NotSupported, match="issue 16"):
            await shared.push()
        with pytest.raises(NotSupported, match="issue 16"):
            await Sandbox.pull("ml-project")
        with pytest.raises(NotSupported, match="issue 15"):
            await Sandbox.current_runtime()
        with pytest.raises(NotSupported, match="issue 14"):
            await Sandbox.create("app2", plugins=[object()])
    run(main())
