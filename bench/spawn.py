#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A parent sandbox spawning a peer (docs/spawn.md) against the host
doing the same, not a test: one run, printed as a table.

Each round, in turn (so both see the same load):
  host     `msb run -d --name hN` (booted), then `msb exec hN -- echo hi`
           (its first output)
  parent   `msb exec P -- msb start pN` (booted), then
           `msb exec P -- msb exec pN -- echo hi`, both run from the host
           into the parent: each includes one exec into the parent,
           measured alone as `msb exec P -- true` in the same rounds
Then both peers are removed. Times are wall clock on the host, ms.

Usage: bench/spawn.py [BUILD_DIR] [--rounds N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--rounds", type=int, default=5)
args = ap.parse_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-spawn-")
os.environ["MSB_HOME"] = HOME
os.environ.pop("MSB_PREFIX", None)


def msb(*a):
    t0 = time.monotonic()
    p = subprocess.run([MSB, *a], capture_output=True)
    ms = (time.monotonic() - t0) * 1000
    if p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return ms, p.stdout.decode()


def main():
    parent = "bench-parent"
    msb("run", "-d", "--name", parent, "--allow-spawn", "1",
        "--spawn-memory", "256M")
    t = {k: [] for k in ("host_start", "host_exec", "host_total",
                         "peer_start", "peer_exec", "peer_total",
                         "into_parent")}
    try:
        for i in range(args.rounds):
            h = f"h{i}"
            a, _ = msb("run", "-d", "--name", h, "--memory", "256M")
            b, out = msb("exec", h, "--", "echo", "hi")
            assert out == "hi\n", out
            t["host_start"].append(a)
            t["host_exec"].append(b)
            t["host_total"].append(a + b)
            msb("rm", "-f", h)

            p = f"p{i}"
            a, _ = msb("exec", parent, "--", "msb", "start", p)
            b, out = msb("exec", parent, "--", "msb", "exec", p, "--",
                         "echo", "hi")
            assert out == "hi\n", out
            t["peer_start"].append(a)
            t["peer_exec"].append(b)
            t["peer_total"].append(a + b)
            c, _ = msb("exec", parent, "--", "true")
            t["into_parent"].append(c)
            msb("exec", parent, "--", "msb", "rm", p)
    finally:
        subprocess.run([MSB, "rm", "-f", parent], capture_output=True)
        shutil.rmtree(HOME, ignore_errors=True)

    def med(k):
        return statistics.median(t[k])

    load = os.getloadavg()[0]
    print(f"bench/spawn.py: {args.rounds} rounds, load average {load:.1f}, "
          f"ms (median)")
    print(f"{'':34} {'host':>8} {'parent':>8}")
    print(f"{'boot (run -d / msb start)':34} {med('host_start'):8.0f} "
          f"{med('peer_start'):8.0f}")
    print(f"{'first exec output':34} {med('host_exec'):8.0f} "
          f"{med('peer_exec'):8.0f}")
    print(f"{'spawn + first output':34} {med('host_total'):8.0f} "
          f"{med('peer_total'):8.0f}")
    print(f"{'(an exec into the parent alone)':34} {'':>8} "
          f"{med('into_parent'):8.0f}")


main()
