# SPDX-License-Identifier: Apache-2.0
"""Snapshots through a registry and renamed (msb push --snapshot, msb pull
of a snapshot, msb snapshot rename), against the local docker-registry of
conftest.registry: a full snapshot pushed, removed here, pulled back and
restored with the file written before it; a second push sends nothing;
rename refused while a sandbox restored from it exists, then done."""

import pytest

from .pysdk import run, unique
from microsandbox import (AlreadyExists, Busy, InvalidArgument, NotFound,
                          Sandbox, Snapshot, WrongKind)


def test_a_snapshot_goes_through_a_registry_and_is_renamed(registry):
    src, snapname = unique("pysnapsrc"), unique("pysnap")
    w1, renamed = unique("pysnapw"), unique("pysnapnew")
    ref = f"{registry}/snaps/{snapname}:v1"

    async def main():
        async with Sandbox.create(src, memory="256M") as sb:
            await sb.fs.write("/root/mark", "before the snapshot\n")
            snap = await sb.snapshot(snapname)
        assert snap.kind == "full"
        reports = []
        pushed = await snap.push(ref, progress=reports.append)
        assert pushed is snap.synced and pushed.name == snapname, pushed
        assert pushed.reference.endswith(f"/snaps/{snapname}:v1"), pushed
        assert pushed.digest.startswith("sha256:") and pushed.transferred > 0
        assert "uploading" in {r.phase for r in reports}, reports
        assert (await snap.push()).up_to_date  # where it was pushed: nothing to send
        await snap.remove()
        with pytest.raises(NotFound):
            await Snapshot.get(snapname)

        back = await Snapshot.pull(ref)
        assert (back.name, back.kind) == (snapname, "full")
        assert back.synced.digest == pushed.digest, back.synced
        assert (await back.info()).source == src
        # what is here already: nothing moves
        assert (await Snapshot.pull(ref)).synced.up_to_date
        w = await back.restore(w1)
        try:
            assert await w.fs.read_text("/root/mark") == "before the snapshot\n"
            with pytest.raises(Busy):
                await back.rename(renamed)  # w finds it by name
        finally:
            await w.remove(force=True)
        assert await back.rename(renamed) is back and back.name == renamed
        assert (await Snapshot.get(renamed)).kind == "full"
        with pytest.raises(NotFound):
            await Snapshot.get(snapname)
        # pulled again under its old name; the new one is taken
        again = await Snapshot.pull(ref, name=snapname)
        with pytest.raises(AlreadyExists):
            await again.rename(renamed)
        await again.remove()
        await back.remove()
        with pytest.raises(WrongKind):
            await Snapshot.pull(f"{registry}/python:3.12")  # an image
        with pytest.raises(InvalidArgument):
            await Snapshot.pull("")
    run(main())
