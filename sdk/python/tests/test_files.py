# SPDX-License-Identifier: Apache-2.0
"""Files in the guest through sb.fs: bytes, text, streams both ways, listing,
metadata, changes, a guest user's permissions, and copies of trees."""

import hashlib
import os

import pytest

from .pysdk import run
from microsandbox import (AlreadyExists, FileError, InvalidArgument, NotFound,
                          PermissionDenied)


def test_read_write(shared):
    async def main():
        fs = shared.fs
        await fs.remove("/tmp/pyfs", recursive=True, missing_ok=True)
        assert await fs.write("/tmp/pyfs/a.txt", "hello\n", parents=True) == 6
        assert await fs.read("/tmp/pyfs/a.txt") == b"hello\n"
        assert await fs.read_text("/tmp/pyfs/a.txt") == "hello\n"
        assert await fs.write("/tmp/pyfs/a.txt", "more\n", append=True) == 5
        assert await fs.read_text("/tmp/pyfs/a.txt") == "hello\nmore\n"
        data = os.urandom(3 << 20) + b"end"
        await fs.write("/tmp/pyfs/bin", data, mode=0o600)
        st = await fs.stat("/tmp/pyfs/bin")
        assert (st.type, st.size, st.mode, st.uid) == ("file", len(data), 0o600, 0)
        got = bytearray()
        async for chunk in fs.stream("/tmp/pyfs/bin"):
            assert len(chunk) <= 65536
            got += chunk
        assert bytes(got) == data
        # from an async generator and from a file object
        async def gen():
            for i in range(5):
                yield f"{i}\n".encode()
        await fs.write("/tmp/pyfs/gen", gen())
        assert await fs.read_text("/tmp/pyfs/gen") == "0\n1\n2\n3\n4\n"
        with open(__file__, "rb") as f:
            await fs.write("/tmp/pyfs/self.py", f)
        with open(__file__, "rb") as f:
            assert await fs.read("/tmp/pyfs/self.py") == f.read()
        with pytest.raises(AlreadyExists):
            await fs.write("/tmp/pyfs/gen", b"x", exclusive=True)
        # what the guest sees is what was written
        r = await shared.exec(["sha256sum", "/tmp/pyfs/bin"])
        assert r.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    run(main())


def test_list_stat_change(shared):
    async def main():
        fs = shared.fs
        await fs.remove("/tmp/pyls", recursive=True, missing_ok=True)
        await fs.mkdir("/tmp/pyls/d/e", parents=True)
        await fs.write("/tmp/pyls/d/e/f", "f")
        await fs.write("/tmp/pyls/g", "gg")
        await fs.symlink("g", "/tmp/pyls/ln")
        names = [e.name for e in await fs.list("/tmp/pyls")]
        assert names == ["d", "g", "ln"]
        tree = {e.name: e for e in await fs.list("/tmp/pyls", recursive=True)}
        assert sorted(tree) == ["d", "d/e", "d/e/f", "g", "ln"]
        assert tree["d"].is_dir and tree["g"].size == 2
        assert tree["ln"].is_symlink and tree["ln"].link == "g"
        walked = [e.name async for e in fs.walk("/tmp/pyls")]
        assert sorted(walked) == sorted(tree)
        assert walked.index("d") < walked.index("d/e") < walked.index("d/e/f")
        assert (await fs.stat("/tmp/pyls/ln")).type == "file"
        assert (await fs.stat("/tmp/pyls/ln", follow_symlinks=False)).link == "g"
        assert await fs.exists("/tmp/pyls/g") and not await fs.exists("/tmp/pyls/no")
        await fs.rename("/tmp/pyls/g", "/tmp/pyls/h")
        assert await fs.read_text("/tmp/pyls/h") == "gg"
        with pytest.raises(AlreadyExists):
            await fs.mkdir("/tmp/pyls/d")
        await fs.mkdir("/tmp/pyls/d", exist_ok=True)
        with pytest.raises(FileError) as e:
            await fs.remove("/tmp/pyls/d")
        assert e.value.name == "ENOTEMPTY"
        await fs.remove("/tmp/pyls", recursive=True)
        assert not await fs.exists("/tmp/pyls")
        with pytest.raises(NotFound):
            await fs.read("/tmp/pyls/h")
        with pytest.raises(FileError) as e:
            await fs.read("/etc")
        assert e.value.name == "EISDIR"
        with pytest.raises(PermissionDenied):
            await fs.write("/etc/denied", "x", user="user")
        with pytest.raises(PermissionDenied):
            await fs.list("/root", user="user")
        with pytest.raises(InvalidArgument):
            await fs.read("")
    run(main())


def test_copy_trees(shared, tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "one").write_text("1")
    (src / "a" / "b" / "two").write_bytes(os.urandom(100000))
    os.symlink("one", src / "a" / "ln")

    (src / "a" / "big").write_bytes(os.urandom(3 << 20))
    sizes = {"/tmp/pycp/a/one": 1, "/tmp/pycp/a/b/two": 100000,
             "/tmp/pycp/a/big": 3 << 20}

    def check(events, what):
        """Each file of sizes reported, its size as the total, done
        growing to it; the big one more than once."""
        last = {}
        for e in events:
            assert e.total == sizes.get(e.path), (what, e)
            assert last.get(e.path, 0) <= e.done <= e.total, (what, e)
            last[e.path] = e.done
        assert last == sizes, (what, events)
        assert sum(e.path.endswith("big") for e in events) > 1, (what, events)

    async def main():
        await shared.fs.remove("/tmp/pycp", recursive=True, missing_ok=True)
        went_in, came_out = [], []
        with pytest.raises(InvalidArgument, match="progress"):
            await shared.fs.copy_in(str(src), "/tmp/pycp", progress=3)
        await shared.fs.copy_in(str(src), "/tmp/pycp", progress=went_in.append)
        check(went_in, "copy in")
        assert await shared.fs.read("/tmp/pycp/a/b/two") == \
            (src / "a" / "b" / "two").read_bytes()
        await shared.fs.copy_out("/tmp/pycp", str(tmp_path / "back"),
                                 progress=came_out.append)
        check(came_out, "copy out")
        assert (tmp_path / "back" / "a" / "big").read_bytes() == \
            (src / "a" / "big").read_bytes()
        assert (tmp_path / "back" / "a" / "one").read_text() == "1"
        assert os.readlink(tmp_path / "back" / "a" / "ln") == "one"
        with pytest.raises(NotFound):
            await shared.fs.copy_out("/no/such", str(tmp_path / "x"))
    run(main())
