# SPDX-License-Identifier: Apache-2.0
"""The C unit tests (under ASan and UBSan) and a fuzzing run, under pytest."""

import os
import re
import shutil
import subprocess
import tempfile

from conftest import BUILD, ROOT


def test_unit_suite_sanitized():
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    p = subprocess.run([os.path.join(BUILD, "tests", "unit")], capture_output=True,
                       text=True, env=env, timeout=600)
    out = p.stdout + p.stderr
    m = re.search(r"^unit: (\d+) passed, (\d+) failed$", out, re.M)
    assert m, out[-4000:]
    assert int(m.group(1)) > 0 and int(m.group(2)) == 0, out[-4000:]
    assert p.returncode == 0, out[-4000:]
    assert "Sanitizer" not in out, out[-4000:]


def test_fuzz_frame_parser():
    corpus = tempfile.mkdtemp(prefix="msb-fuzz-")
    seeds = os.path.join(ROOT, "fuzz", "corpus", "frame")
    try:
        p = subprocess.run([os.path.join(BUILD, "fuzz", "frame"),
                            "-max_total_time=20", "-rss_limit_mb=1024",
                            corpus, seeds], capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr[-4000:]
        assert "Done" in p.stderr, p.stderr[-2000:]
    finally:
        shutil.rmtree(corpus, ignore_errors=True)


def test_fuzz_net_stack():
    """Arbitrary guest frames (and host socket events) into src/net/."""
    corpus = tempfile.mkdtemp(prefix="msb-fuzz-net-")
    seeds = os.path.join(ROOT, "fuzz", "corpus", "net")
    try:
        p = subprocess.run([os.path.join(BUILD, "fuzz", "net"),
                            "-max_total_time=20", "-rss_limit_mb=1024",
                            corpus, seeds], capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr[-4000:]
        assert "Done" in p.stderr, p.stderr[-2000:]
    finally:
        shutil.rmtree(corpus, ignore_errors=True)


def test_fuzz_tar_headers():
    """Arbitrary tar headers and pax records, as msb load reads them."""
    corpus = tempfile.mkdtemp(prefix="msb-fuzz-tar-")
    try:
        p = subprocess.run([os.path.join(BUILD, "fuzz", "tar"),
                            "-max_total_time=10", "-rss_limit_mb=1024", corpus],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-4000:]
        assert "Done" in p.stderr, p.stderr[-2000:]
    finally:
        shutil.rmtree(corpus, ignore_errors=True)
