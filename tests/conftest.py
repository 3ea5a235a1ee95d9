# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: where the build is, a private MSB_HOME, an msb runner."""

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("MSB_BUILD", os.path.join(ROOT, "build"))
MSB = os.path.join(BUILD, "bin", "msb")


class Msb:
    """Runs build/bin/msb with a private $MSB_HOME."""

    def __init__(self, home):
        self.home = home
        self.env = dict(os.environ, MSB_HOME=home)
        self.env.pop("MSB_PREFIX", None)

    def __call__(self, *args, input=None, timeout=180, env=None, check=None):
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run([MSB, *args], input=input, capture_output=True,
                           timeout=timeout, env=e)
        if check is not None:
            assert p.returncode == check, (
                f"msb {' '.join(args)} exited {p.returncode}, wanted {check}\n"
                f"stdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr[-2000:]!r}")
        return p

    def popen(self, *args, **kw):
        return subprocess.Popen([MSB, *args], env=self.env, **kw)

    def out(self, *args, **kw):
        return self(*args, check=kw.pop("check", 0), **kw).stdout.decode()


def files_holding(root, *values):
    """The files under @root that hold any of @values (bytes or str),
    symlinks not followed. Sparse files (the 4 GiB writable disks) are read
    only where they hold data (SEEK_DATA/SEEK_HOLE): grep -r reads their
    holes as zeros, gigabytes per disk."""
    needles = [v.encode() if isinstance(v, str) else v for v in values]
    keep = max(len(n) for n in needles) - 1
    found = []
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                if _holds(fd, needles, keep):
                    found.append(path)
            finally:
                os.close(fd)
    return found


def _holds(fd, needles, keep):
    size = os.fstat(fd).st_size
    off = 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError:         # past the last data, or no SEEK_DATA here
            if off == 0:
                start, end = 0, size
            else:
                return False
        tail = b""
        pos = start
        while pos < end:
            chunk = os.pread(fd, min(1 << 20, end - pos), pos)
            if not chunk:
                break
            buf = tail + chunk
            if any(n in buf for n in needles):
                return True
            tail = buf[-keep:] if keep else b""
            pos += len(chunk)
        off = end
    return False


def restored_ram_kib(pid):
    """The resident KiB of a restored QEMU's RAM (its private mapping of
    the snapshot's file, docs/snapshots.md)."""
    kib, inside = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if not first.endswith(":") or "-" in first:
                inside = line.rstrip().endswith("/ram")
            elif inside and first == "Rss:":
                kib += int(line.split()[1])
    return kib


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def home():
    d = tempfile.mkdtemp(prefix="msb-test-")
    os.chmod(d, 0o755)
    yield d
    # Kill whatever a failed test left running, then clean up.
    m = Msb(d)
    names = m("ps", "-a", "-q").stdout.decode().split()
    for n in names:
        m("rm", "-f", n)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def msb(home):
    return Msb(home)


@pytest.fixture(scope="session")
def shared(msb):
    """One booted sandbox that exec-only tests share (boots cost seconds)."""
    name = unique("shared")
    msb("run", "--name", name, "-d", check=0)
    yield name
    msb("rm", "-f", name)
