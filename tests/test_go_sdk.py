# SPDX-License-Identifier: Apache-2.0
"""The Go SDK's own tests (sdk/go: go test ./...), under pytest: they boot
real sandboxes through libmsb from this build, run the shared vectors and
the seeds' Go snippets. Go's module cache is filled by ./setup --test (go
mod download); nothing is downloaded here (GOPROXY=off)."""

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

SDK = os.path.join(ROOT, "sdk", "go")


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


GO = go_binary()


def cgo_cflags():
    """CGO_CFLAGS that name this build's headers by their digest. Go's
    build cache does not see a changed C header ('go help cache'): a
    package compiled against an older include/msb.h would be reused, its
    structs laid out as they were (a grown msb_volume read as garbage). The
    cache does key on CGO_CFLAGS, so a changed header recompiles what
    uses it. Nor does it key on pkg-config's -L: the library directory's
    digest keeps a package built against another build's libmsb (one
    since deleted, or older) from being linked against here."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(os.path.join(BUILD, "include")):
        dirs.sort()
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    lib = hashlib.sha256(os.path.abspath(os.path.join(BUILD, "lib")).encode())
    return (f"-g -O2 -DMSB_HEADERS_SHA256_{h.hexdigest()[:16]} "
            f"-DMSB_LIBDIR_SHA256_{lib.hexdigest()[:16]}")


def go_env():
    """The environment Go modules that bind libmsb build and test in: this
    build's libmsb (cgo_cflags()), offline, and no $MSB_HOME (the tests
    make their own)."""
    env = dict(os.environ,
               PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"),
               GOPROXY="off", GOFLAGS="-mod=readonly", CGO_ENABLED="1",
               CGO_CFLAGS=cgo_cflags())
    env.pop("MSB_HOME", None)
    return env


@pytest.mark.skipif(not GO, reason="no Go toolchain (Go >= 1.22) on this host")
def test_go_sdk():
    env = go_env()
    p = subprocess.run([GO, "test", "-count=1", "-timeout", "25m", "-v", "./..."],
                       cwd=SDK, capture_output=True, text=True, env=env,
                       timeout=1800)
    out = p.stdout + p.stderr
    summary = "\n".join(l for l in out.splitlines()
                        if l.startswith(("--- FAIL", "--- SKIP", "ok", "FAIL", "panic")))
    assert p.returncode == 0, out[-8000:]
    assert re.search(r"^ok\s+github.com/microsandbox/microsandbox/sdk/go\s", out, re.M), out[-4000:]
    assert "--- FAIL" not in out, summary
    passed = len(re.findall(r"^\s*--- PASS", out, re.M))
    assert passed >= 30, f"only {passed} Go tests passed\n{summary}"
