# SPDX-License-Identifier: Apache-2.0
"""The Go SDK's own tests (sdk/go: go test ./...), under pytest: they boot
real sandboxes through libmsb from this build, run the shared vectors and
the seeds' Go snippets. Go's module cache is filled by ./setup --test (go
mod download); nothing is downloaded here (GOPROXY=off)."""

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


@pytest.mark.skipif(not GO, reason="no Go toolchain (Go >= 1.22) on this host")
def test_go_sdk():
    env = dict(os.environ,
               PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"),
               GOPROXY="off", GOFLAGS="-mod=readonly", CGO_ENABLED="1")
    # The tests make their own $MSB_HOME.
    env.pop("MSB_HOME", None)
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
