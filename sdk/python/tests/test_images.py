# SPDX-License-Identifier: Apache-2.0
"""The image store through the SDK: the registry fixture pulled the seeds'
stand-ins from a local docker-registry (Image.pull, with progress) and
loaded the same images under the seeds' names (Image.load); here they are
listed, inspected, pulled again, removed, and bad references refused. No
sandbox is booted."""

import pytest

from .pysdk import run
from microsandbox import (Image, ImageNotFound, ImagePullFailed,
                          InvalidArgument, MicrosandboxError, NotFound)


def test_pull_load_list_inspect_remove(registry):
    phases = {p.phase for p in registry.progress}
    assert "downloading" in phases, phases
    assert all(p.count >= 1 for p in registry.progress if p.phase == "downloading")

    async def main():
        images = await Image.list()
        assert images[0].reference == "default" and images[0].builtin
        by_ref = {i.reference: i for i in images}
        pulled, loaded = by_ref[f"{registry}/python:3.12"], by_ref["python:3.12"]
        # one image, two names: the same config, the layer stored once
        assert pulled.id == loaded.id and pulled.layers == loaded.layers == 1
        assert loaded.canonical == "docker.io/library/python:3.12"
        doc = await Image.inspect("python:3.12")
        assert "SEED_IMAGE=python:3.12" in doc["config"]["config"]["Env"], doc
        # pulled again: everything is here already
        again = await Image.pull(f"{registry}/python:3.12")
        assert again.fetched == 0 and again.digest == pulled.digest
        with pytest.raises(ImageNotFound) as e:
            await Image.pull(f"{registry}/no-such-image:1")
        assert "no-such-image" in str(e.value)
        assert isinstance(e.value, ImagePullFailed) and isinstance(e.value, NotFound)
        with pytest.raises(InvalidArgument):
            await Image.pull("")
        with pytest.raises(InvalidArgument):
            await Image.pull("UPPER/case:1")
        with pytest.raises(MicrosandboxError) as e:
            await Image.load("/no/such/layout", tag="x:1")
        assert "/no/such/layout" in str(e.value)
        with pytest.raises(NotFound):
            await Image.remove("no-such-image:1")
        await Image.pull(f"{registry}/node:20")
        await Image.remove(f"{registry}/node:20")
        refs = [i.reference for i in await Image.list()]
        assert f"{registry}/node:20" not in refs and "node:20" in refs
    run(main())
