# SPDX-License-Identifier: Apache-2.0
"""Named volumes (msb volume, msb run -v NAME:/path): two sandboxes mount
one at once, both write and each sees what the other wrote, the size
holds for both together (ENOSPC in the guest, df shows it), and the
volume outlives them.

Boots: the two sandboxes of the module, and one 'run --rm' at the end."""

import json

import pytest

from conftest import unique

SIZE_MIB = 16


@pytest.fixture(scope="module")
def pair(msb):
    vol, a, b = unique("vol"), unique("va"), unique("vb")
    p = msb("volume", "create", "--size", f"{SIZE_MIB}M", vol, check=0)
    assert p.stdout == f"created volume {vol} size={SIZE_MIB}M\n".encode()
    msb("run", "--name", a, "-d", "-v", f"{vol}:/data", check=0)
    msb("run", "--name", b, "-d", "-v", f"{vol}:/shared", check=0)
    yield vol, a, b
    msb("rm", "-f", a)
    msb("rm", "-f", b)
    msb("volume", "rm", "-f", vol)


def test_both_write_each_sees_the_other(msb, pair):
    vol, a, b = pair
    msb("exec", a, "--", "sh", "-c", "echo from-a > /data/note", check=0)
    assert msb.out("exec", b, "--", "cat", "/shared/note") == "from-a\n"
    msb("exec", b, "--", "sh", "-c", "echo from-b >> /shared/note; "
        "mkdir /shared/dir-b", check=0)
    assert msb.out("exec", a, "--", "cat", "/data/note") == \
        "from-a\nfrom-b\n"
    assert msb.out("exec", a, "--", "ls", "/data") == "dir-b\nnote\n"


def test_size_holds_for_both_and_df_shows_it(msb, pair):
    vol, a, b = pair
    df = msb.out("exec", b, "--", "df", "-k", "/shared").splitlines()[1]
    assert int(df.split()[1]) == SIZE_MIB * 1024, df
    # a fills it: ENOSPC in the guest at the limit
    p = msb("exec", a, "--", "sh", "-c",
            "dd if=/dev/zero of=/data/fill bs=1M count=64 2>&1; echo rc=$?")
    out = p.stdout.decode()
    assert "No space left on device" in out and "rc=1" in out, out
    # du counts the top directory too, which the limit does not
    used = int(msb.out("exec", a, "--", "du", "-sk", "/data").split()[0])
    assert SIZE_MIB * 1024 - 64 <= used <= SIZE_MIB * 1024 + 4, used
    # the other sandbox sees it full too
    df = msb.out("exec", b, "--", "df", "-k", "/shared").splitlines()[1]
    assert int(df.split()[3]) == 0, df
    info = json.loads(msb.out("volume", "inspect", vol))
    assert info["size_mib"] == SIZE_MIB
    assert info["used_bytes"] >= (SIZE_MIB << 20) - (64 << 10), info
    assert sorted(info["used_by"]) == sorted([a, b]), info
    assert info["running"] == 2, info
    # removing a file gives the room back
    msb("exec", a, "--", "rm", "/data/fill", check=0)
    msb("exec", a, "--", "sh", "-c",
        "dd if=/dev/zero of=/data/again bs=1M count=4 2>/dev/null", check=0)


def test_listed_and_kept_while_used(msb, pair):
    vol, a, b = pair
    rows = [l.split() for l in msb.out("volume", "ls").splitlines()[1:]]
    row = [r for r in rows if r[0] == vol][0]
    assert row[1] == f"{SIZE_MIB}M" and row[3] == "2/2", row
    assert vol in msb.out("volume", "ls", "-q").split()
    j = [v for v in json.loads(msb.out("volume", "ls", "--format", "json"))
         if v["name"] == vol][0]
    assert j["users"] == 2 and j["running"] == 2, j
    p = msb("volume", "rm", vol, check=1)
    assert b"stop them first" in p.stderr, p.stderr
    # even forced: never under a running sandbox
    assert msb("volume", "rm", "-f", vol).returncode == 1


def test_outlives_its_sandboxes(msb, pair):
    vol, a, b = pair
    msb("stop", a, b, check=0)
    p = msb("volume", "rm", vol, check=1)
    assert b"(stopped)" in p.stderr and b"remove them first" in p.stderr, \
        p.stderr
    msb("rm", a, b, check=0)
    # a new sandbox mounting it by name finds the files; read-only there,
    # as the host enforces
    p = msb("run", "--rm", "-v", f"{vol}:/v:ro", "--", "sh", "-c",
            "cat /v/note; echo x > /v/no")
    assert p.stdout == b"from-a\nfrom-b\n", p
    assert p.returncode == 1 and b"Read-only file system" in p.stderr, p
    assert msb.out("volume", "rm", vol) == f"removed volume {vol}\n"
    assert vol not in msb.out("volume", "ls", "-q").split()


def test_usage_errors(msb):
    for args in (["volume"], ["volume", "nosuch"], ["volume", "create"],
                 ["volume", "create", "--size", "0", "x"],
                 ["volume", "create", "bad/name"],
                 ["volume", "ls", "--size", "1G"],
                 ["volume", "--bogus"],
                 ["volume", "inspect", "nosuch-vol", "other-vol"]):
        p = msb(*args)
        assert p.returncode == 2 and b"See 'msb volume --help'" in p.stderr, \
            (args, p)
    p = msb("volume", "inspect", "nosuch-vol")
    assert p.returncode == 1 and b"no volume named 'nosuch-vol'" in p.stderr
    p = msb("run", "--rm", "-v", "v:/d:overlay", "--", "true")
    assert p.returncode == 125 and b"a named volume takes no overlay" in \
        p.stderr, p
