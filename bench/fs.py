#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Filesystem benchmark (not a test): the supervisor's virtio-fs server
against Debian's virtiofsd (/usr/lib/qemu/virtiofsd), serving the same
host directory to the same guest, in one run.

Ours: `msb run -v DIR:/data:cache=MODE` beside virtiofsd's cache=MODE,
for each of --modes (auto, always, never: the same promise on both
sides, docs/filesystems.md), and ours with no mode (names and
attributes never cached, as before the modes existed) beside virtiofsd's
cache=auto. The peer: the same QEMU command line (read
from our sandbox's engine.log) booted with no msb around it, its
vhost-user-fs chardev pointed at virtiofsd's socket instead, and the
agent asked to mount the same tag at /data (INIT's VOLUME record,
docs/agent-protocol.md), QEMU and virtiofsd in a session of their own
as a sandbox's QEMU and supervisor are (the kernel schedules each
session as one group: docs/performance.md). In the guest,
bench/fsbench.c (built static here and served from DIR) measures with
the guest's clock:

  seq write   MiB/s: --mib MiB in 1 MiB writes, then fsync
  seq read    MiB/s: the same file after dropping the guest's caches
  rand read   4 KiB preads a second at random offsets, caches dropped
  create+stat+unlink   files a second, --files times in turn (one file
              at a time)
  create, stat, unlink   a second each, in phases over --phase-files files
              (all alive at once; a passthrough volume holds a descriptor
              per file the guest caches, so this stays under the open file
              limit a container may impose)

With --alone, the same raw VM is also booted against the supervisor's
volume server on its own (bench/fsserve.c: the same src/fs code, one
thread, no sandbox around it) for each mode: the server against
virtiofsd on the very same VM, and the sandbox against both.

A second table gives the server's own CPU use during each run (from
/proc/PID/stat): a server far from 100 % is not what limits that row.
The host's page cache is left alone (it serves all alike). virtiofsd runs
once per mode, each time with a thread pool and -o sandbox=chroot (the
namespace sandbox needs privileges a container may not have); its
cache=never is spelled none.

Usage: bench/fs.py [BUILD_DIR] [--mib N] [--reads N] [--files N]
                   [--modes default,auto,always,never] [--alone]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawboot import RawVM, build_fsserve, logged_argv, tlv  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--mib", type=int, default=1024)
ap.add_argument("--reads", type=int, default=5000)
ap.add_argument("--files", type=int, default=10000)
ap.add_argument("--phase-files", type=int, default=5000)
ap.add_argument("--modes", default="default,auto,always,never",
                help="msb cache modes, each beside virtiofsd's same one "
                     "(default: ours with no mode, beside cache=auto)")
ap.add_argument("--virtiofsd", default="/usr/lib/qemu/virtiofsd")
ap.add_argument("--alone", action="store_true",
                help="also our server alone (bench/fsserve.c) in the raw VM")
ap.add_argument("--dir", default="/var/tmp",
                help="where the shared host directory is made")
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-")
ENV = dict(os.environ, MSB_HOME=HOME)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def msb(*a, check=True):
    p = subprocess.run([MSB, *a], env=ENV, capture_output=True, text=True,
                       timeout=3600)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)}: {p.stderr.strip()}")
    return p.stdout


def virtiofsd_vm(argv, upper, work, server, name="virtiofsd"):
    """Our sandbox's VM without msb, its volume's device connected to
    virtiofsd's (or fsserve's) socket: @server is (its argv, the socket's
    path), started with QEMU in a session of their own, as a sandbox's
    supervisor and QEMU are (rawboot.RawVM); vm.server is its pid."""
    fs_sock = server[1]
    init = b"".join((tlv(9, b"vfsd"), tlv(10, b"upper"), tlv(11, b"layer0"),
                     tlv(19, b"\x00msbvol0\x00/data")))

    def swap(x):
        if x.startswith("stream,id=net0,"):
            return "user,id=net0"
        if x.startswith("socket,id=fs0,fd="):
            return f"socket,id=fs0,path={fs_sock}"
        return x
    return RawVM(argv, upper, work, init, name, swap, server)


def cpu_s(pid):
    """CPU seconds (user + system) @pid has used, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def measure(run, server):
    """The measurements through @run(shell command) -> its stdout, and the
    share of each run's wall time that @server (pid) spent on a CPU."""
    r, busy = {}, {}

    def timed(key, cmd):
        c0, t0 = cpu_s(server), time.monotonic()
        out = run(cmd)
        busy[key] = 100 * (cpu_s(server) - c0) / (time.monotonic() - t0)
        return out.split()
    r["write"] = args.mib / float(timed(
        "write", f"/data/fsbench seqwrite /data/big {args.mib}")[0])
    r["read"] = args.mib / float(timed("read", "/data/fsbench seqread /data/big")[0])
    r["rand"] = args.reads / float(timed(
        "rand", f"/data/fsbench randread /data/big {args.reads}")[0])
    run("rm /data/big && mkdir /data/meta")
    r["cycle"] = args.files / float(timed(
        "cycle", f"/data/fsbench cycle /data/meta {args.files}")[0])
    n = args.phase_files
    c, s, u = map(float, timed("meta", f"/data/fsbench meta /data/meta {n}")[:3])
    r["create"], r["stat"], r["unlink"] = n / c, n / s, n / u
    run("rmdir /data/meta")
    for k in ("create", "stat", "unlink"):
        busy[k] = busy["meta"]
    return r, busy


def main():
    if not os.access(args.virtiofsd, os.X_OK):
        sys.exit(f"{args.virtiofsd} not found: install qemu-system-common")
    modes = args.modes.split(",")
    for m in modes:
        if m not in ("default", "auto", "always", "never"):
            sys.exit(f"--modes: unknown mode '{m}'")
    shared = tempfile.mkdtemp(prefix="msb-bench-fs-", dir=args.dir)
    os.chmod(shared, 0o755)
    work = tempfile.mkdtemp(prefix="msb-bench-vfsd-")
    subprocess.run(["musl-gcc", "-static", "-O2", "-o",
                    os.path.join(shared, "fsbench"),
                    os.path.join(ROOT, "bench", "fsbench.c")], check=True)
    ours, ours_busy, theirs, theirs_busy = {}, {}, {}, {}
    alone, alone_busy = {}, {}
    fsserve = os.path.join(work, "fsserve")
    if args.alone:
        build_fsserve(fsserve)
    vfsd_mode = {"default": "auto", "auto": "auto", "always": "always",
                 "never": "none"}
    try:
        # One sandbox per mode, in turn; its virtiofsd peer right after,
        # booted from the first sandbox's command line.
        argv = upper = None
        for m in modes:
            name = f"bench-fs-{m}"
            spec = f"{shared}:/data" + ("" if m == "default" else f":cache={m}")
            msb("run", "--name", name, "-d", "--memory", "1G", "-v", spec)
            if argv is None:
                argv = logged_argv(HOME, name)
                keep = name
                upper = os.path.join(HOME, "sandboxes", name, "upper.ext4")
            sup = json.loads(msb("inspect", name))["pid"]
            ours[m], ours_busy[m] = measure(
                lambda c: msb("exec", name, "--", "sh", "-c", c), sup)
            msb("stop", name)
            if name != keep:
                msb("rm", "-f", name)
            if args.alone:
                sock = os.path.join(work, f"alone-{m}.sock")
                awork = tempfile.mkdtemp(prefix="msb-bench-alone-")
                vm = virtiofsd_vm(argv, upper, awork,
                                  ([fsserve, sock, shared, m], sock), "fsserve")
                alone[m], alone_busy[m] = measure(
                    lambda c: vm.run(c).decode(), vm.server)
                vm.close()
                shutil.rmtree(awork, ignore_errors=True)
            vm_ = vfsd_mode[m]
            if vm_ in theirs:
                continue
            sock = os.path.join(work, f"vfsd-{vm_}.sock")
            vm = virtiofsd_vm(argv, upper, work, (
                [args.virtiofsd, f"--socket-path={sock}", "-o",
                 f"source={shared}", "-o", "sandbox=chroot", "-o",
                 f"cache={vm_}"], sock))
            theirs[vm_], theirs_busy[vm_] = measure(
                lambda c: vm.run(c).decode(), vm.server)
            vm.close()
    finally:
        for m in modes:
            msb("rm", "-f", f"bench-fs-{m}", check=False)
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)
    accel = "kvm" if "kvm" in argv else "tcg"

    print(f"\nfilesystem: one host directory, {args.mib} MiB file, "
          f"{args.reads} random reads, {args.files} + {args.phase_files} "
          f"files ({accel}, guest clock); load {os.getloadavg()[0]:.1f}")
    print("each msb mode beside virtiofsd's same cache= mode (msb's default "
          "beside auto); ratio = msb / virtiofsd")
    hdr = "".join(f"{'msb ' + m:>14}{'vfsd ' + vfsd_mode[m]:>12}{'ratio':>7}"
                  for m in modes)
    if args.alone:
        hdr += "".join(f"{'alone ' + m:>14}{'ratio':>7}" for m in modes)
    print(f"{'':22}{hdr}")
    for k, label in (("write", "seq write MiB/s"), ("read", "seq read MiB/s"),
                     ("rand", "rand 4 KiB reads/s"),
                     ("cycle", "create+stat+unlink/s"), ("create", "create/s"),
                     ("stat", "stat/s"), ("unlink", "unlink/s")):
        row = "".join(f"{ours[m][k]:14.1f}{theirs[vfsd_mode[m]][k]:12.1f}"
                      f"{ours[m][k] / theirs[vfsd_mode[m]][k]:7.2f}"
                      for m in modes)
        if args.alone:
            row += "".join(f"{alone[m][k]:14.1f}"
                           f"{alone[m][k] / theirs[vfsd_mode[m]][k]:7.2f}"
                           for m in modes)
        print(f"{label:22}{row}")
    print("\nthe server's CPU use, % of each run's wall time (supervisor: the "
          "whole process; virtiofsd: all its threads)")
    print(f"{'':22}{hdr}")
    for k, label in (("write", "seq write"), ("read", "seq read"),
                     ("rand", "rand 4 KiB reads"), ("cycle", "create+stat+unlink"),
                     ("meta", "create, stat, unlink")):
        row = "".join(f"{ours_busy[m][k]:14.1f}"
                      f"{theirs_busy[vfsd_mode[m]][k]:12.1f}{'':>7}"
                      for m in modes)
        if args.alone:
            row += "".join(f"{alone_busy[m][k]:14.1f}{'':>7}" for m in modes)
        print(f"{label:22}{row}")


if __name__ == "__main__":
    main()
