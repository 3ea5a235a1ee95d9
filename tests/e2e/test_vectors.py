# SPDX-License-Identifier: Apache-2.0
"""The shared SDK test vectors (tests/sdk/vectors.json) through the C API:
the reference every SDK's own run of the same file is held to."""

import json
import os
import subprocess

from conftest import BUILD, ROOT

VECTORS = os.path.join(ROOT, "tests", "sdk", "vectors.json")


def expected_cases():
    v = json.load(open(VECTORS))
    # each exec case, each write, two listings, mkdir, rename, remove,
    # each error case
    return len(v["exec"]) + len(v["files"]["write"]) + 5 + len(v["errors"])


def test_vectors_through_the_c_api(msb, shared):
    p = subprocess.run([os.path.join(BUILD, "tests", "sdk-vectors"), shared,
                        VECTORS], capture_output=True, text=True,
                       env=msb.env, timeout=600)
    lines = p.stdout.splitlines()
    failed = [l for l in lines if l.startswith("not ok")]
    assert not failed and p.returncode == 0, p.stdout + p.stderr
    n = expected_cases()
    assert lines[-1] == f"1..{n}", lines[-1]
    assert sum(l.startswith("ok ") for l in lines) == n


def test_vectors_split_as_a_shell_would():
    """Every 'command' splits to its 'argv' (POSIX shell words)."""
    import shlex

    for c in json.load(open(VECTORS))["exec"]:
        if "command" in c:
            assert shlex.split(c["command"]) == c["argv"], c["name"]
