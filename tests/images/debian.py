# SPDX-License-Identifier: Apache-2.0
"""A Debian layer with python3 and curl, from Debian's own packages.

No debootstrap: `apt-get download` fetches python3.11-minimal, python3-minimal,
curl and what they need at run time (apt-cache's recursive Depends, without
dpkg and tar, which only maintainer scripts use), `dpkg-deb -x` unpacks them
into a root, and the host's busybox gives it a shell. No maintainer script
runs, so nothing is configured beyond what the files say.

The raw layer is cached under ~/.cache/microsandbox keyed by the exact .deb
file names (package and version), so a second run costs a read.

    python3 debian.py OUT.tar      # the layer, for a look with tar -tvf
"""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import build

PACKAGES = ["python3.11-minimal", "python3-minimal", "curl"]
# Depends that only package management needs: not in the image.
SKIP = {"dpkg", "tar", "debconf", "perl-base"}
CACHE = os.path.expanduser("~/.cache/microsandbox")
# Bumped when _build() changes what it makes from the same packages.
BUILD_VERSION = "2"
CONFIG = {"Env": [build.PATH_ENV, "LANG=C.UTF-8"], "Cmd": ["python3"]}


class Unavailable(Exception):
    """The packages cannot be had here (no apt, no network, no mirror)."""


def _run(*cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode:
        raise Unavailable(f"{' '.join(cmd[:3])}...: {p.stderr.strip()[-300:]}")
    return p.stdout


def packages():
    """The closure of PACKAGES' Depends (not Recommends), by name."""
    if not shutil.which("apt-cache") or not shutil.which("dpkg-deb"):
        raise Unavailable("apt-cache and dpkg-deb are needed (a Debian host)")
    out = _run("apt-cache", "depends", "--recurse", "--no-recommends",
               "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
               "--no-enhances", *PACKAGES)
    names = {l.strip() for l in out.splitlines()
             if l and not l.startswith((" ", "<"))}
    return sorted(names - SKIP)


def _uris(pkgs):
    """apt's file names (name_version_arch.deb) for @pkgs: the cache key."""
    out = _run("apt-get", "download", "--print-uris", *pkgs, cwd=tempfile.gettempdir())
    files = sorted(l.split()[1] for l in out.splitlines() if l.startswith("'"))
    if len(files) != len(pkgs):
        raise Unavailable(f"apt knows {len(files)} of {len(pkgs)} packages")
    return files


def _root_filter(ti):
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.mtime = 1700000000
    return ti


def _build(pkgs, out):
    with tempfile.TemporaryDirectory(prefix="msb-deb-") as tmp:
        dl = os.path.join(tmp, "debs")
        root = os.path.join(tmp, "root")
        os.makedirs(dl)
        os.makedirs(root)
        _run("apt-get", "download", *pkgs, cwd=dl)
        for deb in sorted(os.listdir(dl)):
            _run("dpkg-deb", "-x", os.path.join(dl, deb), root)
        for d in ("usr/share/doc", "usr/share/man", "usr/share/locale",
                  "usr/share/lintian"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys",
                  "dev", "run", "root", "tmp", "var", "home/user"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        os.chmod(os.path.join(root, "root"), 0o700)
        shutil.copy(build.BUSYBOX, os.path.join(root, "bin/busybox"))
        apps = _run(build.BUSYBOX, "--list-full").split()
        for app in apps:
            p = os.path.join(root, app)
            if app != "bin/busybox" and not os.path.lexists(p):
                os.symlink("/bin/busybox", p)
        # `python`, as the python images have it (python-is-python3 would
        # bring the whole of python3)
        os.symlink("python3", os.path.join(root, "usr/bin/python"))
        with open(os.path.join(root, "etc/passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n"
                    "user:x:1000:1000:user:/home/user:/bin/sh\n")
        with open(os.path.join(root, "etc/group"), "w") as f:
            f.write("root:x:0:\nuser:x:1000:\n")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name in sorted(os.listdir(root)):
                t.add(os.path.join(root, name), arcname=name, filter=_root_filter)
        with open(out + ".tmp", "wb") as f:
            f.write(buf.getvalue())
        os.rename(out + ".tmp", out)


def layer():
    """The raw layer tar, built or from the cache; raises Unavailable."""
    pkgs = packages()
    key = hashlib.sha256("\n".join([BUILD_VERSION] + _uris(pkgs)).encode()).hexdigest()[:16]
    path = os.path.join(CACHE, f"debian-python-{key}.tar")
    if not os.path.exists(path):
        os.makedirs(CACHE, exist_ok=True)
        _build(pkgs, path)
    with open(path, "rb") as f:
        return f.read()


def xattr_layer():
    """A small layer whose files carry xattrs, to be read back in a guest."""
    t = build.Tar()
    t.dir("xattr")
    t.add("xattr/f", data=b"x\n", xattrs={"user.msb": "hello",
                                          "trusted.msb": "root-only"})
    t.dir("xattr/d", mode=0o755)
    t.add("xattr/d/g", data=b"", xattrs={"user.another": "1"})
    return t.raw()


def image():
    return build.Image([(layer(), "zstd"), (xattr_layer(), "gzip")], CONFIG)


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(layer())
