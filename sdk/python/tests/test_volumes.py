# SPDX-License-Identifier: Apache-2.0
"""Named volumes through the SDK (msb volume create/ls/inspect/rm):
made with a size, listed, mounted by name into a sandbox whose file
outlives it into a second sandbox, refused while in use, removed; and the
errors of a missing volume and a taken name."""

import pytest

from .pysdk import run, unique
from microsandbox import (AlreadyExists, Busy, InvalidArgument, NamedVolume,
                          NotFound, Sandbox, Volume)


def test_a_named_volume_outlives_its_sandboxes(home):
    vol, a, b = unique("pyvol"), unique("pyvola"), unique("pyvolb")

    async def main():
        info = await Volume.create(vol, size="64M")
        assert (info.name, info.size_mib, info.used_bytes, info.users,
                info.project) == (vol, 64, 0, 0, None), info
        assert info.created_at > 0 and info.path.startswith(home), info
        with pytest.raises(AlreadyExists):
            await Volume.create(vol)
        assert (await Volume.get(vol)) == info
        assert vol in [v.name for v in await Volume.list()]

        sa = await Sandbox.create(a, memory="256M",
                                  volumes={"/data": NamedVolume(vol)})
        try:
            await sa.exec("head -c 200000 /dev/urandom > /data/blob && "
                          "echo kept > /data/note", shell=True, check=True)
            df = (await sa.exec("df -m /data | tail -1", shell=True)).stdout.split()
            assert df[1] == "64", df  # its size is the filesystem's
            got = await Volume.get(vol)
            assert (got.users, got.running) == (1, 1), got
            assert got.used_bytes >= 200000, got
            rec = await Volume.inspect(vol)
            assert (rec["used_by"], rec["running"]) == ([a], 1), rec
            with pytest.raises(Busy):
                await Volume.remove(vol)
            with pytest.raises(Busy):
                await Volume.remove(vol, force=True)  # it runs
        finally:
            await sa.remove(force=True)
        assert (await Volume.get(vol)).users == 0

        async with Sandbox.create(b, memory="256M",
                                  volumes={"/v": NamedVolume(vol, readonly=True)}
                                  ) as sb:
            assert await sb.fs.read_text("/v/note") == "kept\n"
            assert (await sb.exec("touch /v/new")).exit_code != 0  # readonly
        await Volume.remove(vol)
        with pytest.raises(NotFound):
            await Volume.get(vol)
        assert vol not in [v.name for v in await Volume.list()]
        with pytest.raises(NotFound):
            await Volume.remove(vol)
        with pytest.raises(NotFound):
            await Volume.inspect(vol)
        with pytest.raises(InvalidArgument):
            await Volume.create("")
        with pytest.raises(InvalidArgument):
            await Volume.create(unique("pyvolbad"), size="lots")
    run(main())
