# SPDX-License-Identifier: Apache-2.0
"""Sandboxes that spawn sandboxes, from the host's side (docs/spawn.md):
Sandbox.create's allow_spawn and spawn_* options hand libmsb a spawn
policy (msb_sandbox_create_full), which the guest's own ``msb start``
then uses; ``parent()`` names who spawned a sandbox. Bad policies are
refused before anything is made."""

import pytest

from .pysdk import run, unique
from microsandbox import InvalidArgument, NotFound, Sandbox


@pytest.mark.parametrize("what, kw", [
    ("0 peers", {"allow_spawn": 0}),
    ("65 peers", {"allow_spawn": 65}),
    ("images without allow_spawn", {"spawn_images": ["busybox"]}),
    ("limits without allow_spawn", {"spawn_memory": "256M"}),
    ("33 images", {"allow_spawn": 1,
                   "spawn_images": [f"img{i}:1" for i in range(33)]}),
    ("65 CPUs a peer", {"allow_spawn": 1, "spawn_cpus": 65}),
    ("an image with a space", {"allow_spawn": 1, "spawn_images": ["bad image"]}),
    ("no memory", {"allow_spawn": 1, "spawn_memory": "lots"}),
])
def test_a_bad_spawn_policy_is_refused_before_anything_is_made(home, what, kw):
    name = unique("pybadspawn")

    async def main():
        with pytest.raises(InvalidArgument):
            await Sandbox.create(name, **kw)
        with pytest.raises(NotFound):
            await Sandbox.get(name)
    run(main())


def test_a_sandbox_made_with_allow_spawn_starts_a_peer(home, shared):
    parent_name, peer = unique("pyspawner"), unique("pypeer")

    async def main():
        parent = await Sandbox.create(parent_name, memory="256M",
                                      allow_spawn=1, spawn_images=["busybox"],
                                      spawn_cpus=1, spawn_memory="256M")
        try:
            # the policy as the record keeps it
            sp = (await parent.inspect())["config"]["spawn"]
            assert (sp["max"], sp["images"], sp["cpus"], sp["memory_mib"],
                    sp["total_memory_mib"]) == (1, ["default", "busybox"], 1,
                                                256, 256), sp
            assert await parent.parent() is None
            r = await parent.exec(["msb", "start", peer])
            assert (r.exit_code, r.stdout) == (0, peer + "\n"), r
            child = await Sandbox.get(peer)
            info = await child.info()
            assert info.running and info.memory_mib == 256, info
            assert await child.parent() == parent_name
            # one live peer at most
            r = await parent.exec(["msb", "start", unique("pysecond")])
            assert r.exit_code == 125 and "--allow-spawn 1" in r.stderr, r
            with pytest.raises(NotFound):
                await Sandbox("no-such-sandbox").parent()
        finally:
            await parent.remove(force=True)
        # removing the parent removed its peer
        with pytest.raises(NotFound):
            await Sandbox.get(peer)
        # made without allow_spawn: no peer
        r = await shared.exec(["msb", "start", unique("pynope")])
        assert r.exit_code == 125 and "spawning is off" in r.stderr, r
    run(main())
