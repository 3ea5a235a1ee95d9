# SPDX-License-Identifier: Apache-2.0
"""The C SDK: the example program creates a sandbox, runs, reads, removes."""

import os
import subprocess

from conftest import BUILD, unique


def test_c_example(msb):
    name = unique("sdk")
    p = subprocess.run([os.path.join(BUILD, "examples", "hello"), name],
                       capture_output=True, env=msb.env, timeout=180)
    assert p.returncode == 0, p
    out = p.stdout.decode()
    assert "booted " + name in out
    assert "stdout: hello from 6.1." in out
    assert "stderr: to stderr" in out
    assert "exit code: 0" in out
    assert name not in msb.out("ps", "-a", "-q").split()
