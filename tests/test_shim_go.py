# SPDX-License-Identifier: Apache-2.0
"""The containerd shim's own Go tests (shim/: go test ./...): the pod's
annotations turned into sandbox options and refused with a message, pods'
keys, names and socket paths, the guest command line of an OCI process
and the guest script that mounts a container's filesystems, a stdin FIFO
read to its end at CloseIO however late the copy comes. No VM boots;
tests/e2e/test_containerd.py and test_cri.py run the shim for real."""

import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT
from test_go_sdk import cgo_cflags


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


GO = go_binary()


@pytest.mark.skipif(not GO, reason="no Go toolchain (Go >= 1.22) on this host")
def test_shim_go_tests():
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"),
               GOPROXY="off", GOFLAGS="-mod=readonly", CGO_ENABLED="1",
               CGO_CFLAGS=cgo_cflags())
    p = subprocess.run([GO, "test", "-count=1", "-v", "./..."], cwd=os.path.join(ROOT, "shim"),
                       capture_output=True, text=True, env=env, timeout=900)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-6000:]
    assert out.count("--- PASS") >= 4, out[-3000:]
