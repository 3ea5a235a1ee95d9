# SPDX-License-Identifier: Apache-2.0
"""Many sandboxes, many concurrent execs, big outputs: nothing mixed or lost."""

import concurrent.futures
import hashlib

from conftest import unique

SANDBOXES = 4
EXECS = 8
MB_EACH = 2


def _checked_exec(msb, name, i):
    # stdout carries random data, stderr the guest's own checksum of it.
    script = (f"dd if=/dev/urandom of=/tmp/blob{i} bs=1M count={MB_EACH} 2>/dev/null; "
              f"sha256sum /tmp/blob{i} >&2; cat /tmp/blob{i}; rm /tmp/blob{i}")
    p = msb("exec", name, "--", "sh", "-c", script, timeout=600)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == MB_EACH << 20
    want = p.stderr.split()[0].decode()
    return hashlib.sha256(p.stdout).hexdigest() == want


def test_concurrent_execs_across_sandboxes(msb, shared):
    names = [shared] + [unique("par") for _ in range(SANDBOXES - 1)]
    with concurrent.futures.ThreadPoolExecutor(SANDBOXES - 1) as pool:
        boots = list(pool.map(lambda n: msb("run", "--name", n, "-d", "--memory", "256M"),
                              names[1:]))
    try:
        for b in boots:
            assert b.returncode == 0, b
        jobs = [(n, i) for n in names for i in range(EXECS)]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda j: _checked_exec(msb, *j), jobs))
        assert all(results), results
    finally:
        for n in names[1:]:
            msb("rm", "-f", n)


def test_large_output_50mb(msb, shared):
    p = msb("exec", shared, "--", "sh", "-c",
            "dd if=/dev/urandom of=/tmp/big bs=1M count=50 2>/dev/null; "
            "sha256sum /tmp/big >&2; cat /tmp/big; rm /tmp/big", timeout=600)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == 50 << 20
    assert hashlib.sha256(p.stdout).hexdigest() == p.stderr.split()[0].decode()
