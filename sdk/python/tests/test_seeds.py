# SPDX-License-Identifier: Apache-2.0
"""The seeds' Python snippets (create, exec, secrets, network, volumes), run
as they are written. python:3.12 and node:20 are the busybox test image
loaded under those names (conftest.registry): no network is needed."""

import asyncio
import os

import pytest

from .pysdk import run
from microsandbox import (Busy, DnsAction, FileSystemBackend, HttpAction,
                          InvalidArgument, MemFs, MicrosandboxError, Network,
                          NotSupported, Sandbox, Snapshot, WrongKind)

key = "sk-test-0123456789"
hooked = []


def log(msg):
    hooked.append(msg)


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
            r = await sb.exec("sh -c 'echo $OPENAI_API_KEY; echo $SEED_IMAGE'")
            placeholder, image = r.stdout.split()
            assert placeholder.startswith("msb_placeholder_"), r.stdout
            assert image == "python:3.12"
            # the real value is nowhere in the guest: not in any process's
            # environment, not in its files
            r = await sb.exec(
                "cat /proc/[0-9]*/environ | tr '\\0' '\\n'; "
                "find /etc /root /tmp /run -type f | xargs grep -l -- " + key,
                shell=True)
            assert placeholder in r.stdout and key not in r.stdout, r.stdout
            # a value kept nowhere cannot come back: once stopped, the
            # sandbox cannot start again, and says why
            await sb.kill()
            with pytest.raises(MicrosandboxError, match="kept nowhere"):
                await sb.start()
        finally:
            await sb.remove(force=True)
    run(main())


def test_network_seed(registry):
    async def main():
        # as written, with hooks in Python (docs/plugins.md): this
        # process answers them
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
        try:
            # an allowed name reaches on_dns (a refused one never does)
            await sb.exec("nslookup -type=a api.openai.com 10.0.2.3; true",
                          shell=True)
            assert "dns: api.openai.com" in hooked, hooked
            cfg = (await sb.inspect())["config"]["net"]
            assert cfg["allow"] == ["api.openai.com", "*.stripe.com"]
            assert cfg["block_cidr"] == ["169.254.0.0/16", "10.0.0.0/8"]
            # a name not allowed does not resolve; a blocked range is
            # refused; each leaves a line in the sandbox's log
            r = await sb.exec("nslookup evil.example 10.0.2.3; echo dns=$?; "
                              "echo | nc -w 5 10.1.2.3 80; echo nc=$?",
                              shell=True)
            assert "dns=1" in r.stdout and "nc=1" in r.stdout, r.stdout
            with open(sb.log_path()) as f:
                logged = f.read()
            assert "evil.example" in logged and "10.1.2.3" in logged
        finally:
            await sb.remove(force=True)
    run(main())


def test_volumes_seed(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("data")

    async def main():
        # as written: AuditFs's open runs here, in Python; every other
        # operation (reads and writes too) stays in the native passthrough
        sb = await Sandbox.create("app", image="python:3.12",
          volumes={
            "/data": AuditFs("./data"),
            "/cache": MemFs(),
          }
        )
        try:
            await sb.exec("sh -c 'echo from the guest > /data/out; "
                          "echo cached > /cache/c; cat /cache/c'")
            assert open("data/out").read() == "from the guest\n"
            hooked.clear()
            r = await sb.exec("cat /data/out")
            assert r.stdout == "from the guest\n"
            assert any(m.startswith("open ino=") and "pid=" in m
                       for m in hooked), hooked
            assert (await sb.fs.read_text("/cache/c")) == "cached\n"
        finally:
            await sb.remove(force=True)
    run(main())


# How many workers the snapshot seed forks here: the seed says 100, which
# bench/snapshot.py measures; under TCG a test forks a few.
WORKERS = int(os.environ.get("MSB_PY_SEED_WORKERS", "4"))


def test_snapshot_seed(registry):
    async def main():
        sb = await Sandbox.create("base", image="python:3.12")
        await sb.exec("pip install numpy pandas torch")
        await sb.exec("sh -c 'echo before > /root/state'")  # (not the seed's)

        snap = await sb.snapshot("ml-ready")

        # Fork 100 workers from the same baseline
        workers = await asyncio.gather(*[
          snap.restore(f"w-{i}", env={"WORKER_ID": str(i)})
          for i in range(WORKERS)
        ])

        try:
            # no pip in the stand-in image: the exit status is data
            r = await sb.exec("pip install numpy pandas torch")
            assert r.exit_code == 127 and not r.ok
            for i, w in enumerate(workers):
                r = await w.exec("sh -c 'echo $WORKER_ID; hostname; cat /root/state'")
                assert r.stdout == f"{i}\nw-{i}\nbefore\n", r.stdout
            info = await snap.info()
            assert (info.kind, info.source, info.users) == ("full", "base", WORKERS)
            assert info.ram_bytes > 0 and info.image == "python:3.12"
            assert "ml-ready" in [s.name for s in await Snapshot.list()]
            assert (await Snapshot.get("ml-ready")).kind == "full"
            assert sorted((await snap.inspect())["used_by"]) == \
                sorted(w.name for w in workers)
            # in use: removing it is refused
            with pytest.raises(Busy):
                await snap.remove()
            # a fork's changes are its own
            await workers[0].exec("sh -c 'echo changed > /root/state'")
            assert (await workers[1].exec("cat /root/state")).stdout == "before\n"
            assert (await sb.exec("cat /root/state")).stdout == "before\n"
        finally:
            for w in workers:
                await w.remove(force=True)
            await snap.remove(force=True)
            await sb.remove(force=True)
    run(main())


def test_sync_seed(registry, monkeypatch):
    """The cloud is the local registry; "another machine" is this one once
    the sandbox is gone."""
    monkeypatch.setenv("MSB_REMOTE", f"{registry}/me")

    async def main():
        sb = await Sandbox.create("ml-project", image="python:3.12")
        await sb.exec("pip install torch")
        await sb.exec("sh -c 'echo trained > /root/model'")  # (not the seed's)

        # Push filesystem state to the cloud
        await sb.push()

        pushed = sb.synced
        assert pushed.reference.endswith("/me/ml-project:latest"), pushed
        assert pushed.transferred > 0 and pushed.digest.startswith("sha256:")
        await sb.remove(force=True)

        # On another machine: pull and resume
        sb = await Sandbox.pull("ml-project")
        await sb.start()

        try:
            assert sb.synced.digest == pushed.digest and sb.synced.reused == 0
            assert (await sb.exec("cat /root/model")).stdout == "trained\n"
            # one that syncs is pushed when it stops, with progress
            await sb.set_sync(True)
            await sb.exec("sh -c 'echo more > /root/model2'")
            reports = []
            await sb.stop(progress=reports.append)
            assert sb.synced.parent == pushed.digest and not sb.synced.up_to_date
            assert sb.synced.transferred < sb.synced.chunks
            assert "uploading" in {r.phase for r in reports}, reports
            # nothing changed since: up to date
            assert (await sb.push()).up_to_date
            # an image is not a sandbox
            with pytest.raises(WrongKind):
                await Sandbox.pull(f"{registry}/python:3.12")
        finally:
            await sb.remove(force=True)
    run(main())


MONITOR_JS = r"""
const net = require('net');
const fs = require('fs');
const sock = new net.Socket({ fd: 3, readable: true, writable: true });
let buf = Buffer.alloc(0);
const send = (m) => { const b = Buffer.from(JSON.stringify(m));
  const h = Buffer.alloc(4); h.writeUInt32BE(b.length);
  sock.write(Buffer.concat([h, b])); };
sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
    const n = buf.readUInt32BE(0);
    const m = JSON.parse(buf.subarray(4, 4 + n));
    buf = buf.subarray(4 + n);
    if (m.type === 'hello')
      send({ type: 'hello', name: 'monitor', hooks: ['exec_after'] });
    else if (m.type === 'event')
      fs.appendFileSync('monitor.log', m.argv.join(' ') + '\n');
  }
});
sock.on('end', () => process.exit(0));
"""

DLP_PY = """
import sys
sys.path.insert(0, sys.argv[1])
from microsandbox.plugin import Plugin, deny
p = Plugin("dlp")

@p.hook("exec_before")
def exec_before(call):
    if "exfiltrate" in call.argv:
        return deny("DLP: not that")

p.run()
"""


def test_plugins_seed(registry, tmp_path, monkeypatch):
    from microsandbox import AuditLog, RateLimiter
    from .pysdk import SDK
    monkeypatch.chdir(tmp_path)
    os.mkdir("plugins")
    with open("plugins/monitor.js", "w") as f:
        f.write(MONITOR_JS)
    with open("plugins/dlp.py", "w") as f:
        f.write(DLP_PY)
    audit = str(tmp_path / "audit")
    src = os.path.join(SDK, "src")

    async def main():
        sb = await Sandbox.create("app", image="python:3.12",
          plugins=[
            AuditLog(audit),
            RateLimiter(max_exec_per_sec=100),
          ],
          plugin_processes=[
            "node ./plugins/monitor.js",
            f"python3 ./plugins/dlp.py {src}",
          ]
        )
        try:
            r = await sb.exec("echo hi")
            assert r.stdout == "hi\n"
            with pytest.raises(MicrosandboxError, match="DLP: not that"):
                await sb.exec("echo exfiltrate")
        finally:
            await sb.remove(force=True)
        with open(os.path.join(audit, "app.jsonl")) as f:
            hooks = [l for l in f]
        assert any('"exec_before"' in l and '"echo hi"' not in l
                   for l in hooks) and any('"stop"' in l for l in hooks)
        assert "echo hi" in open("monitor.log").read()
    run(main())


def test_later_features_say_so(shared):
    async def main():
        with pytest.raises(NotSupported, match="not inside a microsandbox sandbox"):
            await Sandbox.current_runtime()
        with pytest.raises(InvalidArgument, match="invalid plugin"):
            await Sandbox.create("app2", plugins=[object()])
    run(main())
