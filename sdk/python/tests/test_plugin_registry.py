# SPDX-License-Identifier: Apache-2.0
"""The plugin registry from Python (microsandbox.Plugins): a plugin
published to the local docker-registry, found, installed, checked,
refused by name once changed, removed. No sandbox boots here (running an
installed plugin is tests/e2e/test_plugin_registry.py's)."""

import os

import pytest

from .pysdk import ROOT, run
from microsandbox import (InvalidArgument, Plugins, Sandbox,
                          SnapshotDamaged)

PLUGIN = os.path.join(ROOT, "tests", "e2e", "plugins", "registry")


def test_publish_search_install_list_remove(registry):
    ns = f"{registry}/pyplugins"

    async def main():
        pub = await Plugins.publish(PLUGIN, registry=ns)
        assert (pub.name, pub.version) == ("msb-guard", "1.0.0")
        assert pub.reference == f"{ns}/msb-guard:1.0.0"
        [found] = await Plugins.search("deny", registry=ns)
        assert found.digest == pub.digest
        assert found.hooks == ("exec_before",)
        assert await Plugins.search("no-such-thing", registry=ns) == []
        got = await Plugins.install("msb-guard", registry=ns)
        assert got.digest == pub.digest and got.verified and got.files == 2
        assert [p.name for p in await Plugins.list()] == ["msb-guard"]
        with open(os.path.join(got.path, "guard.py"), "a") as f:
            f.write("# changed\n")
        with pytest.raises(SnapshotDamaged, match="guard.py does not match"):
            await Plugins.inspect("msb-guard")
        [listed] = await Plugins.list()
        assert not listed.verified
        # refused by name before anything is made
        with pytest.raises(SnapshotDamaged, match="does not match"):
            await Sandbox.create("pyplug-never", plugins=["msb-guard"])
        await Plugins.remove("msb-guard")
        assert await Plugins.list() == []
        with pytest.raises(InvalidArgument, match="no installed plugin"):
            await Sandbox.create("pyplug-never", plugins=["msb-guard"])
    run(main())
