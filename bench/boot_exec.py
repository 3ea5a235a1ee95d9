#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot and exec benchmarks, each against a peer measured in the same run.

1. `msb run --rm -- true`, wall time, against raw QEMU booting the same
   kernel, initramfs and disks with the same command line to power-off, driven
   by the smallest possible host (this script speaking the agent protocol:
   HELLO, INIT, READY, SHUTDOWN). The ratio is msb's overhead.
2. The project's kernel (PVH vmlinux) against Debian's cloud kernel, raw
   QEMU, from QEMU start to /init and to the agent's READY.
3. `msb exec NAME -- true` round trip, p50/p99 over 200 calls, against
   spawning a trivial host process (/bin/true) the same way.

Usage: bench/boot_exec.py [BUILD_DIR] [--boots N] [--execs N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from rawboot import qemu_argv, raw_boot

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--boots", type=int, default=7)
ap.add_argument("--execs", type=int, default=200)
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-")
ENV = dict(os.environ, MSB_HOME=HOME)


def msb(*a, check=True):
    p = subprocess.run([MSB, *a], env=ENV, capture_output=True)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return p


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def main():
    argv, upper = qemu_argv(msb, HOME, "msb")
    accel = "kvm" if "kvm" in argv else "tcg"
    work = tempfile.mkdtemp(prefix="msb-raw-")
    msb_t, raw_t, raw_ready = [], [], []
    for _ in range(args.boots):  # interleaved, so load drifts hit both
        t0 = time.monotonic()
        msb("run", "--rm", "--", "true")
        msb_t.append(time.monotonic() - t0)
        total, ready, _ = raw_boot(argv, upper, work)
        raw_t.append(total)
        raw_ready.append(ready)
    ms, rs = statistics.median(msb_t), statistics.median(raw_t)
    print(f"\nBoot to power-off ({accel}, project kernel, {args.boots} runs each, interleaved)")
    print(f"{'':36} {'median':>8} {'min':>8} {'max':>8}")
    print(f"{'msb run --rm -- true':36} {ms:8.3f} {min(msb_t):8.3f} {max(msb_t):8.3f}  s")
    print(f"{'raw QEMU, same VM, to power-off':36} {rs:8.3f} {min(raw_t):8.3f} {max(raw_t):8.3f}  s")
    print(f"{'  of which: to agent ready':36} {statistics.median(raw_ready):8.3f}")
    print(f"{'overhead ratio (msb / raw)':36} {ms / rs:8.3f}")

    cloud_argv, cloud_upper = qemu_argv(msb, HOME, "cloud")
    res = {"msb": ([], []), "cloud": ([], [])}
    for _ in range(args.boots):
        for k, (av, up) in (("msb", (argv, upper)), ("cloud", (cloud_argv, cloud_upper))):
            _, ready, init = raw_boot(av, up, work)
            res[k][0].append(init)
            res[k][1].append(ready)
    print(f"\nGuest kernels, raw QEMU, from QEMU start ({args.boots} runs each, median)")
    print(f"{'':36} {'to /init':>9} {'to ready':>9}")
    for k, label in (("msb", "project kernel (PVH vmlinux)"),
                     ("cloud", "Debian cloud kernel (bzImage)")):
        print(f"{label:36} {statistics.median(res[k][0]):9.3f} "
              f"{statistics.median(res[k][1]):9.3f}  s")

    msb("start", "probe-msb")
    lat, host = [], []
    for _ in range(args.execs):
        t0 = time.monotonic()
        msb("exec", "probe-msb", "--", "true")
        lat.append((time.monotonic() - t0) * 1000)
    for _ in range(args.execs):
        t0 = time.monotonic()
        subprocess.run(["/bin/true"])
        host.append((time.monotonic() - t0) * 1000)
    print(f"\nExec round trip ({args.execs} calls each)")
    print(f"{'':36} {'p50':>8} {'p99':>8} {'max':>8}")
    print(f"{'msb exec NAME -- true':36} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f} {max(lat):8.2f}  ms")
    print(f"{'host: spawn /bin/true':36} {pct(host, 50):8.2f} {pct(host, 99):8.2f} {max(host):8.2f}  ms")
    msb("rm", "-f", "probe-msb", "probe-cloud")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
