#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Density benchmark (not a test): the host memory of N idle sandboxes
running at once, and what each costs beyond the RAM its guest touched.

For each build given (BUILD, and --base BASE_BUILD beside it in the same
run), N sandboxes of the built-in image with --memory 512M are started one
after another and left idle for --settle seconds. Then, per sandbox, from
/proc/PID/smaps:

  guest RAM   the resident pages of the guest's RAM (QEMU's mapping of
              the memfd "msb-guest-ram"): what the guest touched
  QEMU        QEMU's proportional set size (Pss: a page shared by k
              processes counts 1/k in each) without the guest RAM
  supervisor  the supervisor's Pss (and any other process below it but
              QEMU: the launcher)

and for the host as a whole the fall of MemAvailable from before the
first start to after the last, divided by N. A page of a shared library
or of the image's read-only layers (the host's page cache) counts once
for all, not N times.

Then freed guest memory: in one sandbox of each build, a tmpfs in the
guest is filled with --touch MiB and emptied again; the guest RAM's
resident size is read before, right after the fill, and --settle seconds
after the removal. With free page reporting (a virtio-balloon device
with free-page-reporting=on), the guest hands freed memory back to the
host, which drops it; without it the host keeps every page the guest ever
touched.

CPU: the sandboxes' CPU time (supervisor, launcher, QEMU) over --settle
seconds of idling, per sandbox, as a share of one host CPU.

With --tb-mib 64,16 the build runs once per TCG code buffer size
(MSB_TCG_TB_MIB, src/engine/qemu.c), each measured as a build of its own.

With --restore each build also runs a column of N sandboxes restored from
one snapshot (`msb restore SNAP -d`) of an idle sandbox taken after
--settle seconds, instead of booted: their guest RAM is a private mapping
of the snapshot's RAM file, so the pages no guest has written are the
host's page cache, counted once for all (Pss), and QEMU translates only
the code run after the restore. The "all in" row adds the guest RAM's
Pss to QEMU and the supervisor: what each sandbox costs the host.

Usage: bench/density.py [BUILD_DIR] [--count N] [--base BASE_BUILD]
                        [--settle S] [--touch MiB] [--tb-mib 64,16]
                        [--restore]
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
ap.add_argument("--base", help="a second build, measured beside BUILD")
ap.add_argument("--count", type=int, default=50)
ap.add_argument("--memory", default="512M")
ap.add_argument("--settle", type=float, default=10.0)
ap.add_argument("--touch", type=int, default=256)
ap.add_argument("--tb-mib", help="MSB_TCG_TB_MIB values, one build each")
ap.add_argument("--restore", action="store_true",
                help="also N sandboxes restored from one snapshot, per build")
args = ap.parse_args()
TICK = os.sysconf("SC_CLK_TCK")


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def smaps(pid):
    """(Pss of everything, Pss and Rss of the guest RAM mapping), KiB."""
    total = ram_pss = ram_rss = 0
    in_ram = False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 1)[0]
                if not first.endswith(":") or "-" in first:
                    # a mapping's header: address range ... name
                    # (booted: the memfd; restored: the snapshot's RAM file)
                    in_ram = ("msb-guest-ram" in line or
                              line.rstrip().endswith("/ram"))
                    continue
                if first == "Pss:":
                    kib = int(line.split()[1])
                    total += kib
                    if in_ram:
                        ram_pss += kib
                elif first == "Rss:" and in_ram:
                    ram_rss += int(line.split()[1])
    except OSError:
        pass
    return total, ram_pss, ram_rss


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])
    except OSError:
        return 0


class Build:
    def __init__(self, build, label, tb_mib=None, restore=False):
        self.label = label
        self.restore = restore
        self.build, self.tb_mib = build, tb_mib
        self.msb_bin = os.path.join(os.path.abspath(build), "bin", "msb")
        self.home = tempfile.mkdtemp(prefix="msb-bench-density-")
        self.env = dict(os.environ, MSB_HOME=self.home)
        if tb_mib is not None:
            self.env["MSB_TCG_TB_MIB"] = tb_mib
        self.names = []

    def msb(self, *a, check=True):
        p = subprocess.run([self.msb_bin, *a], env=self.env,
                           capture_output=True, text=True, timeout=600)
        if check and p.returncode:
            sys.exit(f"{self.label}: msb {' '.join(a)}: {p.stderr.strip()}")
        return p.stdout

    def pids(self, name):
        """(supervisor and launcher, QEMU)."""
        info = json.loads(self.msb("inspect", name))
        vm = info["runtime"]["vm_pid"]
        return [p for p in tree(info["pid"]) if p != vm], vm

    def start(self, n):
        if self.restore:
            self.msb("run", "--name", "template", "-d", "--memory",
                     args.memory)
            time.sleep(args.settle)
            self.msb("snapshot", "template", "--name", "idle")
            self.msb("rm", "-f", "template")
        t = []
        for i in range(n):
            name = f"d{i}"
            t0 = time.monotonic()
            if self.restore:
                self.msb("restore", "idle", "--name", name, "-d")
            else:
                self.msb("run", "--name", name, "-d", "--memory",
                         args.memory)
            t.append(time.monotonic() - t0)
            self.names.append(name)
        return t

    def measure(self):
        rows = []
        for name in self.names:
            sup, vm = self.pids(name)
            q_total, ram_pss, ram_rss = smaps(vm)
            s_total = sum(smaps(p)[0] for p in sup)
            rows.append({"ram": ram_rss, "qemu": q_total - ram_pss,
                         "sup": s_total, "ram_pss": ram_pss})
        return rows

    def idle_cpu(self, secs):
        pids = []
        for name in self.names:
            sup, vm = self.pids(name)
            pids += sup + [vm]
        c0 = sum(cpu_ticks(p) for p in pids)
        time.sleep(secs)
        c1 = sum(cpu_ticks(p) for p in pids)
        return 100.0 * (c1 - c0) / TICK / secs / len(self.names)

    def freed(self, name):
        """Guest RAM resident (MiB) before, after filling a tmpfs, and
        after emptying it and --settle seconds."""
        _, vm = self.pids(name)
        before = smaps(vm)[2] / 1024
        self.msb("exec", name, "--", "sh", "-c",
                 "mkdir -p /mnt/fill && mount -t tmpfs -o size=1G t /mnt/fill"
                 f" && dd if=/dev/zero of=/mnt/fill/f bs=1M count={args.touch}"
                 " 2>/dev/null")
        full = smaps(vm)[2] / 1024
        self.msb("exec", name, "--", "sh", "-c",
                 "rm /mnt/fill/f && umount /mnt/fill && sync && "
                 "echo 3 > /proc/sys/vm/drop_caches")
        time.sleep(args.settle)
        return before, full, smaps(vm)[2] / 1024

    def close(self):
        for name in self.names:
            self.msb("rm", "-f", name, check=False)
        self.names = []
        shutil.rmtree(self.home, ignore_errors=True)


def med(rows, k):
    return statistics.median(r[k] for r in rows) / 1024


def main():
    if args.tb_mib:
        builds = [Build(args.build, f"tb={v}", v)
                  for v in args.tb_mib.split(",")]
    else:
        builds = [Build(args.build, "msb")]
    if args.base:
        builds.append(Build(args.base, "base"))
    if args.restore:
        builds += [Build(b.build, b.label + " rst", b.tb_mib, True)
                   for b in list(builds)]
    per = {}
    load0 = os.getloadavg()[0]
    try:
        for b in builds:
            avail0 = mem_available_kib()
            starts = b.start(args.count)
            time.sleep(args.settle)
            rows = b.measure()
            avail1 = mem_available_kib()
            cpu = b.idle_cpu(args.settle)
            freed = b.freed(b.names[0])
            per[b.label] = (rows, (avail0 - avail1) / 1024 / args.count,
                            starts, cpu, freed)
            b.close()
    finally:
        for b in builds:
            b.close()
    load1 = os.getloadavg()[0]

    print(f"\ndensity: {args.count} idle sandboxes of {args.memory} each, "
          f"started in turn, measured {args.settle:.0f} s after the last "
          f"(load {load0:.1f} before, {load1:.1f} after)")
    labels = [b.label for b in builds]
    print(f"{'MiB per sandbox, median':44}" +
          "".join(f"{l:>12}" for l in labels))
    for k, label in (("ram", "guest RAM touched (resident)"),
                     ("qemu", "QEMU beyond guest RAM (Pss)"),
                     ("sup", "supervisor and launcher (Pss)")):
        print(f"{label:44}" + "".join(f"{med(per[l][0], k):12.1f}"
                                      for l in labels))
    print(f"{'cost beyond guest RAM (QEMU + supervisor)':44}" +
          "".join(f"{med(per[l][0], 'qemu') + med(per[l][0], 'sup'):12.1f}"
                  for l in labels))
    print(f"{'  the same, the largest of the N':44}" +
          "".join(f"{max(r['qemu'] + r['sup'] for r in per[l][0]) / 1024:12.1f}"
                  for l in labels))
    print(f"{'all in: QEMU + supervisor + guest RAM (Pss)':44}" +
          "".join(f"{med(per[l][0], 'qemu') + med(per[l][0], 'sup') + med(per[l][0], 'ram_pss'):12.1f}"
                  for l in labels))
    print(f"{'host MemAvailable fall / N':44}" +
          "".join(f"{per[l][1]:12.1f}" for l in labels))
    print(f"{'start, s (median)':44}" +
          "".join(f"{statistics.median(per[l][2]):12.2f}" for l in labels))
    print(f"{'idle CPU per sandbox, % of one CPU':44}" +
          "".join(f"{per[l][3]:12.2f}" for l in labels))
    print(f"\nfreed guest memory: a {args.touch} MiB tmpfs file filled, "
          f"then removed ({args.settle:.0f} s to settle); guest RAM "
          "resident, MiB")
    print(f"{'':44}" + "".join(f"{l:>12}" for l in labels))
    for i, label in enumerate(("before", "filled", "removed")):
        print(f"{label:44}" + "".join(f"{per[l][4][i]:12.1f}"
                                      for l in labels))


if __name__ == "__main__":
    main()
