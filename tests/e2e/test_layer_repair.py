# SPDX-License-Identifier: Apache-2.0
"""Layer images damaged after a pull (as a power cut leaves them: a pull
renames each converted layer into the store unsynced, docs/images.md "The
store") are found before a boot and made again from their blobs; with the
blob gone too, the run says to pull again, and the pull repairs it."""

import os
import re
import sqlite3
import struct
import subprocess

import pytest

from conftest import Msb, unique
from test_images import ref, registry  # noqa: F401  (the fixture)

DAMAGE = {
    "truncated": lambda p: os.truncate(p, os.path.getsize(p) // 2),
    "zeroed superblock": lambda p: zero(p, 1024, 128),
    "deleted": os.unlink,
}
WHY = {
    "truncated": "when it was made",
    "zeroed superblock": "its EROFS superblock is zeroed",
    "deleted": "it is missing",
}


def zero(path, off, n):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\0" * n, off)
    finally:
        os.close(fd)


def pulled(registry, tmp_path):
    """A home with busybox pulled: (msb, reference, layer image path)."""
    m = Msb(str(tmp_path / "home"))
    r = ref(registry, "busybox")
    m.out("pull", "-q", r)
    layer = registry["info"]["busybox"][0]
    return m, r, f"{m.home}/layers/{layer[7:]}.erofs", layer


def whole(path, size):
    """The layer image is the size it was made and has its superblock."""
    with open(path, "rb") as f:
        head = f.read(4096)
    magic, = struct.unpack_from("<I", head, 1024)
    return os.path.getsize(path) == size and magic == 0xE0F5E1E2


def repaired_lines(stderr, layer):
    return re.findall(rb"msb: layer sha256:" + layer[7:19].encode() +
                      rb" was damaged \((.*?)\): converted again from its blob\n",
                      stderr)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_layer_made_again_before_the_boot(registry, tmp_path, damage):
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    DAMAGE[damage](path)
    p = m("run", "--rm", r, "--", "sh", "-c", "wc -l < /etc/passwd", check=0)
    assert p.stdout == b"2\n", p
    why = repaired_lines(p.stderr, layer)
    assert len(why) == 1 and WHY[damage].encode() in why[0], p.stderr
    assert whole(path, size)
    # Whole now: the next run says nothing.
    p = m("run", "--rm", r, "--", "true", check=0)
    assert b"damaged" not in p.stderr, p.stderr


def test_two_runs_at_once_repair_once(registry, tmp_path):
    """Both find the layer damaged; one makes it again, the other waits
    for it (a lock on the store's layers) and finds it whole."""
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    os.truncate(path, 4096)
    runs = [m.popen("run", "--rm", r, "--", "true", stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) + (p.returncode,) for p in runs]
    assert [o[2] for o in outs] == [0, 0], outs
    assert sum(len(repaired_lines(o[1], layer)) for o in outs) == 1, outs
    assert whole(path, size)
    assert os.listdir(f"{m.home}/layers/tmp") == []


@pytest.mark.parametrize("blob", ["gone", "damaged"])
def test_blob_gone_too_says_pull_and_pull_repairs(registry, tmp_path, blob):
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    os.truncate(path, size - 4096)
    bpath = f"{m.home}/blobs/sha256/{layer[7:]}"
    if blob == "gone":
        os.unlink(bpath)
    else:
        zero(bpath, 100, 16)
    p = m("run", "--rm", r, "--", "true", check=125)
    assert f"run 'msb pull {r}' again".encode() in p.stderr, p.stderr
    assert (b"is missing" if blob == "gone" else b"is damaged too") \
        in p.stderr, p.stderr
    # (a blob that does not hash to its name is removed: the pull fetches it)
    assert not os.path.exists(bpath)
    p = m("pull", r, check=0)
    assert len(repaired_lines(p.stderr, layer)) == 1, p.stderr
    assert whole(path, size)
    p = m("run", "--rm", r, "--", "sh", "-c", "wc -l < /etc/passwd", check=0)
    assert p.stdout == b"2\n" and b"damaged" not in p.stderr, p


def test_pull_of_a_pulled_image_repairs_it(registry, tmp_path):
    """A pull that downloads nothing still checks each stored layer, makes
    a damaged one again, and does not call that "up to date"."""
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    zero(path, 1024, 128)
    p = m("pull", r, check=0)
    assert p.stdout.decode().rstrip().endswith("(repaired)"), p.stdout
    assert len(repaired_lines(p.stderr, layer)) == 1, p.stderr
    assert whole(path, size)
    assert m.out("pull", r).rstrip().endswith("(up to date)")


def test_store_from_before_the_layers_table(registry, tmp_path):
    """A database from before sizes were recorded (schema 1, no layers
    table) is brought up to date when opened; a layer it has no size for is
    checked by its superblock alone, and its size recorded once it is made
    again."""
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    db = sqlite3.connect(f"{m.home}/msb.db")
    db.execute("DROP TABLE IF EXISTS layers")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    os.truncate(path, size - 4096)
    p = m("run", "--rm", r, "--", "true", check=0)
    why = repaired_lines(p.stderr, layer)
    assert len(why) == 1 and b"EROFS superblock counts" in why[0], p.stderr
    assert whole(path, size)
    db = sqlite3.connect(f"{m.home}/msb.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert db.execute("SELECT size FROM layers WHERE name = ?",
                          (layer[7:],)).fetchall() == [(size,)]
    finally:
        db.close()


def test_start_of_a_stopped_sandbox_repairs(registry, tmp_path):
    """A sandbox's boot checks the disks its record names, not only a new
    run's: one stopped before the damage starts on a whole layer."""
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    name = unique("repair")
    m.out("run", "--name", name, "-d", r)
    try:
        m.out("stop", name)
        os.unlink(path)
        p = m("start", name, check=0)
        assert len(repaired_lines(p.stderr, layer)) == 1, p.stderr
        assert whole(path, size)
        assert m.out("exec", name, "--", "sh", "-c",
                     "wc -l < /etc/passwd") == "2\n"
    finally:
        m("rm", "-f", name)


def test_pull_fetches_a_damaged_blob_again(registry, tmp_path):
    """A pull that finds a layer damaged and its stored blob damaged too
    fetches the blob again and makes the layer from it, in one go."""
    m, r, path, layer = pulled(registry, tmp_path)
    size = os.path.getsize(path)
    zero(path, 0, 4096)
    zero(f"{m.home}/blobs/sha256/{layer[7:]}", 100, 16)
    p = m("pull", r, check=0)
    assert len(repaired_lines(p.stderr, layer)) == 1, p.stderr
    assert not p.stdout.decode().rstrip().endswith(")"), p.stdout
    assert whole(path, size)
    p = m("run", "--rm", r, "--", "sh", "-c", "wc -l < /etc/passwd", check=0)
    assert p.stdout == b"2\n" and b"damaged" not in p.stderr, p
