# SPDX-License-Identifier: Apache-2.0
"""The Rust SDK's own tests (sdk/rust: cargo test), under pytest: they boot
real sandboxes through libmsb from this build, run the shared vectors and
the seeds' Rust snippets. The crates are fetched by ./setup --test (cargo
fetch --locked); nothing is downloaded here (--offline)."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

SDK = os.path.join(ROOT, "sdk", "rust")


def cargo_binary():
    for cand in (shutil.which("cargo"),
                 os.path.expanduser("~/.cargo/bin/cargo")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


CARGO = cargo_binary()


@pytest.mark.skipif(not CARGO, reason="no Rust toolchain (cargo, Rust >= 1.82) on this host")
def test_rust_sdk():
    env = dict(os.environ,
               PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"),
               CARGO_TARGET_DIR=os.path.join(BUILD, "cargo"),
               CARGO_NET_OFFLINE="true")
    env["PATH"] = os.path.dirname(CARGO) + os.pathsep + env.get("PATH", "")
    # The tests make their own $MSB_HOME.
    env.pop("MSB_HOME", None)
    p = subprocess.run([CARGO, "test", "--offline", "--locked"], cwd=SDK,
                       capture_output=True, text=True, env=env, timeout=1800)
    out = p.stdout + p.stderr
    summary = "\n".join(l for l in out.splitlines()
                        if l.startswith(("test ", "failures", "---- ", "error")))
    assert p.returncode == 0, out[-8000:]
    assert "FAILED" not in out, summary
    passed = sum(int(n) for n in re.findall(r"^test result: ok\. (\d+) passed", out, re.M))
    assert passed >= 20, f"only {passed} Rust tests passed\n{summary}"
