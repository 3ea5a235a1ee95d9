#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Filesystem benchmark (not a test): the supervisor's virtio-fs server
against Debian's virtiofsd (/usr/lib/qemu/virtiofsd), serving the same
host directory to the same guest, in one run.

Ours: `msb run -v DIR:/data`, and again with `-v DIR:/data:direct`
(no guest page cache), set beside virtiofsd's cache=none. The peer: the same QEMU command line (read
from our sandbox's engine.log) booted with no msb around it, its
vhost-user-fs chardev pointed at virtiofsd's socket instead, and the
agent asked to mount the same tag at /data (INIT's VOLUME record,
docs/agent-protocol.md). In the guest, bench/fsbench.c (built static here
and served from DIR) measures with the guest's clock:

  seq write   MiB/s: --mib MiB in 1 MiB writes, then fsync
  seq read    MiB/s: the same file after dropping the guest's caches
  rand read   4 KiB preads a second at random offsets, caches dropped
  create+stat+unlink   files a second, --files times in turn (one file
              at a time)
  create, stat, unlink   a second each, in phases over --phase-files files
              (all alive at once; a passthrough volume holds a descriptor
              per file the guest caches, so this stays under the open file
              limit a container may impose)

A second table gives the server's own CPU use during each run (from
/proc/PID/stat): a server far from 100 % is not what limits that row.
The host's page cache is left alone (it serves all alike). virtiofsd runs
twice, each time with a thread pool and -o sandbox=chroot (the namespace
sandbox needs privileges a container may not have): with its default
cache=auto, which lets the guest cache names and attributes for a second,
and with cache=none, which like ours lets it cache nothing (every stat
reaches the host, so changes on either side are seen at once).

Usage: bench/fs.py [BUILD_DIR] [--mib N] [--reads N] [--files N]
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
from rawboot import RawVM, logged_argv, tlv  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--mib", type=int, default=1024)
ap.add_argument("--reads", type=int, default=5000)
ap.add_argument("--files", type=int, default=10000)
ap.add_argument("--phase-files", type=int, default=5000)
ap.add_argument("--virtiofsd", default="/usr/lib/qemu/virtiofsd")
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


def virtiofsd_vm(argv, upper, work, fs_sock):
    """Our sandbox's VM without msb, its volume's device connected to
    virtiofsd's socket @fs_sock."""
    init = b"".join((tlv(9, b"vfsd"), tlv(10, b"upper"), tlv(11, b"layer0"),
                     tlv(19, b"\x00msbvol0\x00/data")))

    def swap(x):
        if x.startswith("stream,id=net0,"):
            return "user,id=net0"
        if x.startswith("socket,id=fs0,fd="):
            return f"socket,id=fs0,path={fs_sock}"
        return x
    return RawVM(argv, upper, work, init, "virtiofsd", swap)


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
    shared = tempfile.mkdtemp(prefix="msb-bench-fs-", dir=args.dir)
    os.chmod(shared, 0o755)
    work = tempfile.mkdtemp(prefix="msb-bench-vfsd-")
    subprocess.run(["musl-gcc", "-static", "-O2", "-o",
                    os.path.join(shared, "fsbench"),
                    os.path.join(ROOT, "bench", "fsbench.c")], check=True)
    try:
        name = "bench-fs"
        msb("run", "--name", name, "-d", "--memory", "1G", "-v",
            f"{shared}:/data")
        argv = logged_argv(HOME, name)
        accel = "kvm" if "kvm" in argv else "tcg"
        sup = json.loads(msb("inspect", name))["pid"]
        ours, ours_busy = measure(lambda c: msb("exec", name, "--", "sh", "-c", c),
                                  sup)
        msb("stop", name)
        # The same with -v DIR:/data:direct (no guest page cache).
        msb("run", "--name", "bench-fs-direct", "-d", "--memory", "1G", "-v",
            f"{shared}:/data:direct")
        sup = json.loads(msb("inspect", "bench-fs-direct"))["pid"]
        direct, direct_busy = measure(
            lambda c: msb("exec", "bench-fs-direct", "--", "sh", "-c", c), sup)
        msb("rm", "-f", "bench-fs-direct")
        upper = os.path.join(HOME, "sandboxes", name, "upper.ext4")

        theirs, theirs_busy = {}, {}
        for cache in ("auto", "none"):
            sock = os.path.join(work, f"vfsd-{cache}.sock")
            vfsd = subprocess.Popen(
                [args.virtiofsd, f"--socket-path={sock}", "-o",
                 f"source={shared}", "-o", "sandbox=chroot", "-o",
                 f"cache={cache}"], stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(work, f"virtiofsd-{cache}.log"), "w"))
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            vm = virtiofsd_vm(argv, upper, work, sock)
            theirs[cache], theirs_busy[cache] = measure(
                lambda c: vm.run(c).decode(), vfsd.pid)
            vm.close()
            vfsd.kill()
            vfsd.wait()
    finally:
        msb("rm", "-f", "bench-fs", check=False)
        msb("rm", "-f", "bench-fs-direct", check=False)
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)

    print(f"\nfilesystem: one host directory, {args.mib} MiB file, "
          f"{args.reads} random reads, {args.files} + {args.phase_files} "
          f"files ({accel}, guest clock)")
    print(f"{'':22}{'msb':>10}{'virtiofsd':>11}{'ratio':>7}{'msb':>10}"
          f"{'virtiofsd':>11}{'ratio':>7}")
    print(f"{'':22}{'':>10}{'cache=auto':>11}{'':>7}{':direct':>10}"
          f"{'cache=none':>11}{'':>7}")
    for k, label in (("write", "seq write MiB/s"), ("read", "seq read MiB/s"),
                     ("rand", "rand 4 KiB reads/s"),
                     ("cycle", "create+stat+unlink/s"), ("create", "create/s"),
                     ("stat", "stat/s"), ("unlink", "unlink/s")):
        n, a = theirs["none"][k], theirs["auto"][k]
        print(f"{label:22}{ours[k]:10.1f}{a:11.1f}{ours[k] / a:7.2f}"
              f"{direct[k]:10.1f}{n:11.1f}{direct[k] / n:7.2f}")
    print("\nthe server's CPU use, % of each run's wall time (supervisor: the "
          "whole process; virtiofsd: all its threads)")
    print(f"{'':22}{'msb':>10}{'auto':>11}{'':>7}{':direct':>10}{'none':>11}")
    for k, label in (("write", "seq write"), ("read", "seq read"),
                     ("rand", "rand 4 KiB reads"), ("cycle", "create+stat+unlink"),
                     ("meta", "create, stat, unlink")):
        print(f"{label:22}{ours_busy[k]:10.1f}{theirs_busy['auto'][k]:11.1f}"
              f"{'':>7}{direct_busy[k]:10.1f}{theirs_busy['none'][k]:11.1f}")


if __name__ == "__main__":
    main()
