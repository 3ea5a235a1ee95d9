# SPDX-License-Identifier: Apache-2.0
"""A sandbox's life through the SDK: create with options, get, list, info,
metrics, stop, start, remove, the scoped form, and the typed errors of bad
input and dead sandboxes."""

import os
import re
import subprocess

import pytest

from .pysdk import run, unique
from microsandbox import (AlreadyExists, ImageNotFound, InvalidArgument, MemFs,
                          MicrosandboxError, NotFound, NotRunning, Sandbox,
                          SandboxStopped)


def test_life_of_a_sandbox(home):
    name = unique("pylife")

    async def main():
        sb = await Sandbox.create(name, cpus=1, memory="256M",
                                  env={"STAGE": "one"}, workdir="/tmp")
        assert sb.boot_ms > 0
        r = await sb.exec("sh -c 'echo $STAGE; pwd'", shell=False)
        assert r.stdout == "one\n/tmp\n"
        info = await sb.info()
        assert (info.status, info.memory_mib, info.image) == ("running", 256, "default")
        assert name in [i.name for i in await Sandbox.list()]
        m = await sb.metrics()
        assert m.running and m.memory_limit_bytes == 256 << 20
        assert m.guest and 0 < m.memory_used_bytes < m.memory_limit_bytes
        assert name in [x.name for x in await Sandbox.metrics_all()]
        with pytest.raises(AlreadyExists):
            await Sandbox.create(name)
        # another handle on it, by name
        other = await Sandbox.get(name)
        await other.fs.write("/root/kept", "disk survives a stop\n")
        assert await sb.stop() >= 0
        assert (await sb.info()).status == "stopped"
        with pytest.raises(NotRunning):
            await sb.exec("true")
        with pytest.raises(NotRunning):
            await other.fs.read("/root/kept")
        stopped = await sb.metrics()
        assert not stopped.running and stopped.disk_bytes > 0
        await sb.start()
        assert await sb.fs.read_text("/root/kept") == "disk survives a stop\n"
        await sb.kill()
        await sb.remove()
        with pytest.raises(NotFound):
            await Sandbox.get(name)
        await sb.remove()  # gone already: fine
    run(main())


def test_scoped_form_always_cleans_up(home):
    name = unique("pyscope")

    async def main():
        with pytest.raises(RuntimeError):
            async with Sandbox.create(name) as sb:
                assert (await sb.exec("echo in")).stdout == "in\n"
                raise RuntimeError("the block fails")
        with pytest.raises(NotFound):
            await Sandbox.get(name)
        # the other spelling: a Sandbox is its own context manager
        sb = await Sandbox.create(name)
        async with sb:
            pass
        assert name not in [i.name for i in await Sandbox.list()]
    run(main())


def test_bad_input_errors(home):
    async def main():
        for bad in ("../x", "", "a b", "-x", "x" * 64):
            with pytest.raises(InvalidArgument):
                await Sandbox.create(bad)
        with pytest.raises(InvalidArgument):
            await Sandbox.create("ok-name", memory="lots")
        with pytest.raises(InvalidArgument):
            await Sandbox.create("ok-name", cpus=0)
        with pytest.raises(InvalidArgument):
            await Sandbox.create("ok-name", volumes={"/data": 42})
        # a volume where the guest's own files are, or not a path at all
        with pytest.raises(InvalidArgument, match="/proc"):
            await Sandbox.create("ok-name", volumes={"/proc/x": MemFs()})
        with pytest.raises(InvalidArgument, match="absolute"):
            await Sandbox.create("ok-name", volumes={"data": MemFs()})
        with pytest.raises(NotFound, match="/no/such/dir"):
            await Sandbox.create("ok-name", volumes={"/data": "/no/such/dir"})
        # sync=True with nowhere to push: refused before anything is made
        with pytest.raises(NotFound, match="remote"):
            await Sandbox.create("ok-name", sync=True)
        with pytest.raises(InvalidArgument, match="ephemeral"):
            await Sandbox.create("ok-name", sync=True, ephemeral=True)
        with pytest.raises(InvalidArgument, match="working directory"):
            await Sandbox.create("ok-name", workdir="relative")
        with pytest.raises(NotFound, match="no-such-box"):
            await Sandbox.get("no-such-box")
        with pytest.raises(NotFound):
            await Sandbox("no-such-box").exec("true")
        # every error is a MicrosandboxError with the library's code
        try:
            await Sandbox.get("no-such-box")
        except MicrosandboxError as e:
            assert e.name == "MSB_E_NOT_FOUND" and e.code == -2
        assert "ok-name" not in [i.name for i in await Sandbox.list()]
    run(main())


def _ca(d, name):
    """A self-signed CA made by the openssl tool: (its PEM file, its key)."""
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", pem, "-days", "2",
                    "-subj", f"/CN={name}/O=msb tests"],
                   check=True, capture_output=True)
    return pem, key


def test_tls_upstream_ca_files(home, tmp_path):
    """tls_upstream_ca's paths are read as msb run --tls-upstream-ca reads
    them: a missing file (NotFound, as in every SDK) or a private key is
    refused naming it, before
    anything is made; a CA file and PEM text are kept in the record."""
    a, a_key = _ca(str(tmp_path), "Upstream A")
    b, _ = _ca(str(tmp_path), "Upstream B")
    name = unique("pytls")

    async def main():
        missing = str(tmp_path / "no-such-ca.pem")
        with pytest.raises(NotFound, match=re.escape(missing)):
            await Sandbox.create(name, tls_upstream_ca=[missing])
        with pytest.raises(InvalidArgument,
                           match=re.escape(a_key) + ".*private key"):
            await Sandbox.create(name, tls_upstream_ca=[a, a_key])
        # (text that is not PEM is taken for a path)
        with pytest.raises(NotFound, match="CA file 'no pem here'"):
            await Sandbox.create(name, tls_upstream_ca=["no pem here"])
        assert name not in [i.name for i in await Sandbox.list()]
        async with Sandbox.create(name, tls_upstream_ca=[
                tmp_path / "Upstream A.pem", open(b).read()]) as sb:
            cas = (await sb.inspect())["config"]["tls_upstream_ca"]
            assert [c["subject"] for c in cas] == [
                "O=msb tests,CN=Upstream A", "O=msb tests,CN=Upstream B"]
    run(main())


def test_missing_image(registry):
    async def main():
        with pytest.raises(ImageNotFound) as e:
            await Sandbox.create(unique("noimg"),
                                 image=f"{registry}/no-such-image:1")
        assert "no-such-image" in str(e.value)
    run(main())


def test_stopped_mid_command(home):
    name = unique("pystop")

    async def main():
        async with Sandbox.create(name) as sb:
            p = await sb.exec_stream("sleep 600")
            await (await Sandbox.get(name)).kill()
            with pytest.raises(SandboxStopped):
                await p.wait()
    run(main())
