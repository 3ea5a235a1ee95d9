#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Snapshot benchmarks, each against a peer measured in the same run.

1. Restore: from `msb restore SNAP --name X -d` to the first exec's output
   (`msb exec X -- echo ok`), against a cold `msb run --name X -d` of the
   same image to its first exec's output; median of N each, interleaved.
   Each restore's phases (supervisor start to QEMU launched, to the device
   state loaded and running, to the agent's READY) come from its runtime
   record.
2. Memory: F forks of one 512 MiB snapshot running at once, the host
   memory they take in all (the sum of the proportional set size, Pss, of
   every supervisor and QEMU: a page shared by k processes counts 1/k in
   each), against C cold sandboxes of the same image (per sandbox, and
   projected to F).
3. Snapshot time against the guest's touched memory: a sandbox fills a
   tmpfs file of M MiB (RAM that the guest touched), then is snapshotted;
   the pause, the RAM copy and the total, per M.

Usage: bench/snapshot.py [BUILD_DIR] [--runs N] [--forks F] [--cold C]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--runs", type=int, default=10)
ap.add_argument("--forks", type=int, default=20)
ap.add_argument("--cold", type=int, default=5)
ap.add_argument("--sizes", default="0,64,128,256")
ap.add_argument("--only", default="restore,memory,snapshot")
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


def runtime(name):
    return json.loads(msb("inspect", name).stdout)["runtime"]


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sandbox_pss(name):
    """Supervisor + QEMU of a sandbox, in KiB."""
    info = json.loads(msb("inspect", name).stdout)
    return pss_kib(info["pid"]) + pss_kib(info["runtime"]["vm_pid"])


def first_output(cmd, ready=None):
    t0 = time.monotonic()
    msb(*cmd)
    if ready is not None:
        ready.append(time.monotonic() - t0)
    name = cmd[cmd.index("--name") + 1]
    out = msb("exec", name, "--", "echo", "ok").stdout
    assert out == b"ok\n", out
    return time.monotonic() - t0


def bench_restore():
    msb("run", "--name", "base", "-d")
    msb("snapshot", "base", "--name", "snap")
    cold, warm, phases, cready, wready = [], [], [], [], []
    for i in range(args.runs):
        cold.append(first_output(["run", "--name", f"c{i}", "-d"], cready))
        msb("rm", "-f", f"c{i}")
        warm.append(first_output(["restore", "snap", "--name", f"r{i}",
                                  "-d"], wready))
        rt = runtime(f"r{i}")
        phases.append((rt["host_launch_us"] / 1000,
                       rt["host_state_loaded_us"] / 1000,
                       rt["host_ready_us"] / 1000,
                       rt["guest_timings_us"].get("restore_apply", 0) / 1000))
        msb("rm", "-f", f"r{i}")
    mc, mw = statistics.median(cold), statistics.median(warm)
    print(f"\n1. First exec output, median of {args.runs} each (TCG)")
    print(f"   {'cold msb run -d + exec':34s} {mc * 1000:8.0f} ms")
    print(f"   {'msb restore -d + exec':34s} {mw * 1000:8.0f} ms")
    print(f"   {'ratio restore / cold':34s} {mw / mc:8.3f}   (aim <= 0.1)")
    print(f"   of which the create/restore call: cold "
          f"{statistics.median(cready) * 1000:.0f} ms, restore "
          f"{statistics.median(wready) * 1000:.0f} ms")
    med = [statistics.median(p[k] for p in phases) for k in range(4)]
    print("   restore phases (median, ms from the supervisor's start):")
    print(f"     QEMU launched {med[0]:6.0f}   state loaded and running "
          f"{med[1]:6.0f}   agent READY {med[2]:6.0f}   "
          f"(guest applying RESTORED {med[3]:.0f})")


def bench_memory():
    names = [f"m{i}" for i in range(args.forks)]
    for n in names:
        msb("restore", "snap", "--name", n, "-d")
    time.sleep(2)
    forks = sum(sandbox_pss(n) for n in names)
    for n in names:
        msb("rm", "-f", n)
    cnames = [f"k{i}" for i in range(args.cold)]
    for n in cnames:
        msb("run", "--name", n, "-d")
    time.sleep(2)
    cold = sum(sandbox_pss(n) for n in cnames)
    for n in cnames:
        msb("rm", "-f", n)
    per_f, per_c = forks / args.forks, cold / args.cold
    print(f"\n2. Host memory (Pss of supervisor + QEMU), 512 MiB guests")
    print(f"   {args.forks:3d} forks of one snapshot: {forks / 1024:8.0f} MiB"
          f" in all, {per_f / 1024:6.1f} MiB each")
    print(f"   {args.cold:3d} cold sandboxes:         {cold / 1024:8.0f} MiB"
          f" in all, {per_c / 1024:6.1f} MiB each; {args.forks} would take "
          f"{per_c * args.forks / 1024:.0f} MiB")


def bench_snapshot_time():
    print("\n3. Snapshot time against touched guest memory")
    print(f"   {'touched MiB':>11s} {'RAM stored MiB':>15s} {'paused ms':>10s}"
          f" {'RAM copy ms':>12s} {'total ms':>9s}")
    for m in [int(x) for x in args.sizes.split(",")]:
        msb("run", "--name", f"t{m}", "-d")
        if m:
            msb("exec", f"t{m}", "--", "sh", "-c",
                f"mkdir -p /fill && mount -t tmpfs -o size={m + 16}m "
                f"tmpfs /fill && dd if=/dev/urandom of=/fill/x bs=1M "
                f"count={m} 2>/dev/null")
        info = json.loads(msb("snapshot", f"t{m}", "--name", f"ts{m}",
                              "--format", "json").stdout)
        meta = json.loads(msb("snapshot", "inspect", f"ts{m}").stdout)
        t = meta["timings"]
        print(f"   {m:11d} {info['ram_bytes'] / 2**20:15.0f} "
              f"{t['paused_ms']:10.0f} {t['ram_ms']:12.0f} "
              f"{t['total_ms']:9.0f}")
        msb("rm", "-f", f"t{m}")
        msb("snapshot", "rm", f"ts{m}")


def main():
    try:
        only = args.only.split(",")
        if "restore" in only or "memory" in only:
            bench_restore()
        if "memory" in only:
            bench_memory()
        if "snapshot" in only:
            bench_snapshot_time()
    finally:
        for n in msb("ps", "-a", "-q", check=False).stdout.decode().split():
            msb("rm", "-f", n, check=False)
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
