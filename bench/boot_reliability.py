#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot reliability: N boots in a row (default 100) of `msb run --rm -- true`,
interleaved with as many raw QEMU boots of the same VM (bench/rawboot.py),
counting failures, hangs and boots slower than twice the median of each.

Usage: bench/boot_reliability.py [BUILD_DIR] [--boots N] [--kernel msb|cloud]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from rawboot import qemu_argv, raw_boot

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--boots", type=int, default=100)
ap.add_argument("--kernel", default="msb")
args = ap.parse_args()
MSB = os.path.join(os.path.abspath(args.build), "bin", "msb")
home = tempfile.mkdtemp(prefix="msb-rel-")
env = dict(os.environ, MSB_HOME=home)

def msb(*a):
    return subprocess.run([MSB, *a], capture_output=True, env=env, timeout=300)


argv, upper = qemu_argv(lambda *a: msb(*a), home, args.kernel)
work = tempfile.mkdtemp(prefix="msb-rel-raw-")
times, failures, raw = [], [], []
for i in range(args.boots):
    t0 = time.monotonic()
    p = subprocess.run([MSB, "run", "--rm", "--kernel", args.kernel,
                        "--boot-timeout", "60", "--", "true"],
                       capture_output=True, env=env, timeout=300)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        failures.append((i, p.returncode, p.stderr.decode().strip()[:200]))
    else:
        times.append(dt)
    raw.append(raw_boot(argv, upper, work)[0])
msb("rm", "-f", f"probe-{args.kernel}")
left = msb("ps", "-a", "-q").stdout.split()
shutil.rmtree(home, ignore_errors=True)
shutil.rmtree(work, ignore_errors=True)


def summary(v):
    med = statistics.median(v)
    q = statistics.quantiles(v, n=100)
    return med, q[89], q[98], max(v), sum(1 for t in v if t > 2 * med)


print(f"\nBoot reliability ({args.kernel} kernel, {args.boots} boots each, interleaved)")
print(f"{'':30} {'failed':>6} {'>2x med':>7} {'median':>7} {'p90':>7} {'p99':>7} {'max':>7}")
m = summary(times)
print(f"{'msb run --rm -- true':30} {len(failures):6} {m[4]:7} {m[0]:7.3f} {m[1]:7.3f} {m[2]:7.3f} {m[3]:7.3f}  s")
r = summary(raw)
print(f"{'raw QEMU, same VM':30} {'-':>6} {r[4]:7} {r[0]:7.3f} {r[1]:7.3f} {r[2]:7.3f} {r[3]:7.3f}  s")
print(f"{'sandboxes left behind':30} {len(left)}")
for f in failures[:10]:
    print("  failure:", f)
