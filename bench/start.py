#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A program's start, against /bin/true's, in one run.

  python3 bench/start.py [--calls N] [PROGRAM ARGS]...

Each program (by default /bin/true and `build/bin/msb --version`; give
others as one quoted word each, such as "OTHER/bin/msb --version") is
started with posix_spawn and waited for, its output to /dev/null, the
programs interleaved call by call so that load drifts hit them alike.
Prints p50 and p90 of the wall time, and each one's page faults a run
(`perf stat`, the mean of 20, where perf is installed): a process's
start on this host is mostly the dynamic loader and the faults of what
it maps.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def faults(argv):
    perf = shutil.which("perf")
    if not perf:
        return "-"
    p = subprocess.run([perf, "stat", "-x,", "-r", "20", "-e", "page-faults",
                        *argv], capture_output=True, text=True)
    for line in p.stderr.splitlines():
        if "page-faults" in line:
            return line.split(",")[0]
    return "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("programs", nargs="*",
                    default=["/bin/true",
                             os.path.join(ROOT, "build/bin/msb") +
                             " --version"])
    a = ap.parse_args()
    progs = [shlex.split(p) for p in a.programs]
    for p in progs:
        if not os.access(p[0], os.X_OK):
            ap.error(f"{p[0]}: not an executable")
    took = [[] for _ in progs]
    out = os.open(os.devnull, os.O_WRONLY)
    acts = [(os.POSIX_SPAWN_DUP2, out, 1)]
    for _ in range(a.calls):
        for i, p in enumerate(progs):
            t = time.perf_counter()
            pid = os.posix_spawn(p[0], p, os.environ, file_actions=acts)
            os.waitpid(pid, 0)
            took[i].append(time.perf_counter() - t)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"\nA program's start: {a.calls} calls each, interleaved; "
          f"load {load}")
    print(f"{'':56s}{'p50 ms':>8s}{'p90 ms':>8s}  page faults")
    for p, t in zip(progs, took):
        t.sort()
        print(f"{shlex.join(p)[-56:]:56s}{t[len(t) // 2] * 1e3:8.3f}"
              f"{t[len(t) * 9 // 10] * 1e3:8.3f}  {faults(p):>11s}")


if __name__ == "__main__":
    main()
