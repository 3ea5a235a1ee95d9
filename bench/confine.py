#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What confinement costs (not a test): the same boot, exec, network and
filesystem measures with the supervisor and QEMU confined (the default:
seccomp, Landlock, no capabilities, QEMU's -sandbox and its own uid as
root; docs/security.md) and with MSB_NO_CONFINE=1, which turns all of it
off and is honoured for this comparison only. One run, both kinds
interleaved (a round of one, then a round of the other), so that the
load of this shared host falls on both alike; medians.

  boot      `msb run --rm -- true`, wall seconds
  exec      `msb exec NAME -- true`, p50 and p90 milliseconds
  download  --mib MiB host -> guest over TCP (busybox nc), MiB/s
  upload    --mib MiB guest -> host, MiB/s
  fs write  --fs-mib MiB into a host-directory volume, then fsync, MiB/s
  fs read   the same file after dropping the guest's caches, MiB/s
  files     --files files created then removed on the volume, files/s

Then bench/syscost.c, built and run here with the supervisor's own
seccomp.c: what the allow-list adds to each system call and Landlock to
each open, in nanoseconds, which the VM-level rows above are too noisy
on a shared host to show; and bench/hop.c: what moving the guest-facing
parsers into a process of their own would add to every intercepted
flow (docs/security.md weighs it).

Usage: bench/confine.py [BUILD_DIR] [--rounds N] [--mib N] [--fs-mib N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from hostnet import Server, host_ip

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--execs", type=int, default=20, help="per round")
ap.add_argument("--mib", type=int, default=64)
ap.add_argument("--fs-mib", type=int, default=128)
ap.add_argument("--files", type=int, default=500)
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-confine-")
KINDS = {"confined": {}, "MSB_NO_CONFINE=1": {"MSB_NO_CONFINE": "1"}}


def msb(kind, *a, check=True):
    env = dict(os.environ, MSB_HOME=HOME)
    env.pop("MSB_NO_CONFINE", None)
    env.update(KINDS[kind])
    p = subprocess.run([MSB, *a], env=env, capture_output=True)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)} ({kind}) failed: {p.stderr.decode()}")
    return p


def timed(kind, name, script):
    t0 = time.monotonic()
    msb(kind, "exec", name, "--", "sh", "-c", script)
    return time.monotonic() - t0


def main():
    hip = host_ip()
    # down sends --mib MiB to each connection; up reads until EOF
    down, up = Server("down", args.mib << 20), Server("up")
    vols, names = {}, {}
    res = {k: {m: [] for m in ("boot", "exec", "download", "upload",
                               "fs write", "fs read", "files")}
           for k in KINDS}
    # the first boot of a home learns whether KVM works here
    msb("confined", "run", "--rm", "--", "true")
    for i, kind in enumerate(KINDS):
        vols[kind] = tempfile.mkdtemp(prefix="msb-bench-vol-", dir="/var/tmp")
        names[kind] = f"bench-confine-{i}"
        msb(kind, "run", "--name", names[kind], "-d", "--net-allow-cidr",
            f"{hip}/32", "-v", f"{vols[kind]}:/v")
    try:
        for rnd in range(args.rounds):
            order = list(KINDS) if rnd % 2 == 0 else list(KINDS)[::-1]
            for kind in order:
                r, name = res[kind], names[kind]
                t0 = time.monotonic()
                msb(kind, "run", "--rm", "--", "true")
                r["boot"].append(time.monotonic() - t0)
                for _ in range(args.execs):
                    t0 = time.monotonic()
                    msb(kind, "exec", name, "--", "true")
                    r["exec"].append((time.monotonic() - t0) * 1000)
                timed(kind, name, f"nc {hip} {down.port} >/dev/null")
                t0, t1, n = down.times[-1]
                r["download"].append(n / (1 << 20) / (t1 - t0))
                timed(kind, name, f"head -c {args.mib << 20} /dev/zero | "
                                  f"nc {hip} {up.port}")
                t0, t1, n = up.times[-1]
                r["upload"].append(n / (1 << 20) / (t1 - t0))
                s = timed(kind, name, f"dd if=/dev/zero of=/v/f bs=1M "
                                      f"count={args.fs_mib} conv=fsync "
                                      f"2>/dev/null")
                r["fs write"].append(args.fs_mib / s)
                s = timed(kind, name, "echo 3 > /proc/sys/vm/drop_caches; "
                                      "cat /v/f >/dev/null; rm /v/f")
                r["fs read"].append(args.fs_mib / s)
                s = timed(kind, name, f"mkdir /v/d && cd /v/d && i=0; "
                                      f"while [ $i -lt {args.files} ]; do "
                                      f"echo x > $i; i=$((i+1)); done; "
                                      f"cd / && rm -r /v/d")
                r["files"].append(args.files / s)
    finally:
        for kind in KINDS:
            msb(kind, "rm", "-f", names[kind], check=False)
            shutil.rmtree(vols[kind], ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)

    def med(v):
        return statistics.median(v)

    def p90(v):
        return sorted(v)[int(len(v) * 0.9)]

    a, b = list(KINDS)
    rows = [("boot, s", "boot", med), ("exec p50, ms", "exec", med),
            ("exec p90, ms", "exec", p90),
            (f"download {args.mib} MiB, MiB/s", "download", med),
            (f"upload {args.mib} MiB, MiB/s", "upload", med),
            (f"fs write {args.fs_mib} MiB + fsync, MiB/s", "fs write", med),
            (f"fs read {args.fs_mib} MiB (cold), MiB/s", "fs read", med),
            (f"{args.files} files made and removed, files/s", "files", med)]
    print(f"confinement, {args.rounds} rounds each, interleaved "
          f"(median; exec over {args.rounds * args.execs} calls)\n")
    print(f"| | {a} | {b} | {a} / {b} |")
    print("|---|---|---|---|")
    for label, key, f in rows:
        x, y = f(res[a][key]), f(res[b][key])
        print(f"| {label} | {x:.3g} | {y:.3g} | {x / y:.2f} |")
    syscost()
    hop()


def syscost():
    """bench/syscost.c: each call under the supervisor's filter and rules."""
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(here)
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "syscost")
        subprocess.run(["cc", "-O2", "-I", os.path.join(top, "src/supervisor"),
                        "-I", os.path.join(top, "src/common"), "-o", exe,
                        os.path.join(here, "syscost.c"),
                        os.path.join(top, "src/supervisor/seccomp.c"),
                        os.path.join(top, "src/common/isolation.c"),
                        "-lseccomp"], check=True)
        print("\nwhat each system call pays (bench/syscost.c)\n")
        print(subprocess.run([exe], capture_output=True, text=True,
                             check=True).stdout, end="")


def hop():
    """bench/hop.c: a process boundary against memory, on this host."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hop.c")
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "hop")
        subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
        print("\nwhat a process boundary costs (bench/hop.c)\n")
        print(subprocess.run([exe], capture_output=True, text=True,
                             check=True).stdout, end="")


if __name__ == "__main__":
    main()
