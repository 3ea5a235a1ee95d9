#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Volume metadata round trips (not a test): create+stat+unlink cycles
(bench/fsbench.c `cycle`) on one host directory, served to sandboxes of
one or more builds, to the raw VM by our server alone (bench/fsserve.c)
and to the raw VM by virtiofsd, in short interleaved rounds (the order
reversed every other round), so that a shared host's load swings fall on
all alike. Reports the median and best rate of each, and the CPU time
QEMU and the server took per file (from /proc: far steadier than wall
time on a loaded host).

  bench/fscycle.py BUILD [--base BUILD ...] [--mode auto] [--files 300]
                   [--rounds 12]

The raw VM is the first sandbox's QEMU command line (bench/rawboot.py);
virtiofsd runs with cache= as --mode (never: none).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawboot import RawVM, build_fsserve, logged_argv, tlv  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--base", action="append", default=[],
                help="another build measured beside (repeatable)")
ap.add_argument("--mode", default="auto",
                choices=("default", "auto", "always", "never"))
ap.add_argument("--files", type=int, default=300)
ap.add_argument("--rounds", type=int, default=12)
ap.add_argument("--virtiofsd", default="/usr/lib/qemu/virtiofsd")
args, _ = ap.parse_known_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = tempfile.mkdtemp(prefix="msb-bench-fscycle-")
TICK = os.sysconf("SC_CLK_TCK")
VFSD_MODE = {"default": "auto", "auto": "auto", "always": "always",
             "never": "none"}


def msb(binary, *a):
    p = subprocess.run([binary, *a], env=dict(os.environ, MSB_HOME=HOME),
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        sys.exit(f"msb {' '.join(a[:3])}: {p.stderr.strip()}")
    return p.stdout


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def qemu_of(sup):
    """QEMU is the child of the supervisor's launcher."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{ppid}/stat") as f:
                gpid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/comm") as f:
                comm = f.read()
        except (OSError, ValueError):
            continue
        if gpid == sup and comm.startswith("qemu"):
            return int(d)
    sys.exit("QEMU not found below the supervisor")


def raw_vm(argv, upper, sock, name):
    work = tempfile.mkdtemp(prefix=f"msb-bench-{name}-")
    init = b"".join((tlv(9, name.encode()), tlv(10, b"upper"),
                     tlv(11, b"layer0"), tlv(19, b"\x00msbvol0\x00/data")))

    def swap(x):
        if x.startswith("stream,id=net0,"):
            return "user,id=net0"
        if x.startswith("socket,id=fs0,fd="):
            return f"socket,id=fs0,path={sock}"
        return x
    return RawVM(argv, upper, work, init, name, swap), work


def wait_path(p):
    for _ in range(400):
        if os.path.exists(p):
            return
        time.sleep(0.05)
    sys.exit(f"{p} never appeared")


def main():
    shared = tempfile.mkdtemp(prefix="msb-bench-fscycle-", dir="/var/tmp")
    os.chmod(shared, 0o755)
    work = tempfile.mkdtemp(prefix="msb-bench-fscycle-w-")
    subprocess.run(["musl-gcc", "-static", "-O2", "-o",
                    os.path.join(shared, "fsbench"),
                    os.path.join(ROOT, "bench", "fsbench.c")], check=True)
    fsserve = os.path.join(work, "fsserve")
    build_fsserve(fsserve)
    spec = f"{shared}:/data" + ("" if args.mode == "default"
                                else f":cache={args.mode}")
    sides = {}   # label -> (run, qemu pid, server pid)
    procs, vms = [], []
    try:
        for i, b in enumerate([args.build] + args.base):
            binary = os.path.join(os.path.abspath(b), "bin", "msb")
            name = f"fscycle{i}"
            msb(binary, "run", "--name", name, "-d", "--memory", "1G",
                "-v", spec)
            sup = int(json.loads(msb(binary, "inspect", name))["pid"])
            label = "msb " + ("(build)" if i == 0 else f"(base {i}: {b})")
            sides[label] = ((lambda bn, n: lambda c: msb(
                bn, "exec", n, "--", "sh", "-c", c))(binary, name),
                qemu_of(sup), sup)
        argv = logged_argv(HOME, "fscycle0")
        upper = os.path.join(HOME, "sandboxes", "fscycle0", "upper.ext4")
        sock = os.path.join(work, "alone.sock")
        srv = subprocess.Popen([fsserve, sock, shared, args.mode])
        procs.append(srv)
        wait_path(sock)
        vm, w = raw_vm(argv, upper, sock, "fsserve")
        vms.append((vm, w))
        sides["our server alone, raw VM"] = (
            lambda c: vm.run(c).decode(), vm.q.pid, srv.pid)
        vsock = os.path.join(work, "vfsd.sock")
        vfsd = subprocess.Popen(
            [args.virtiofsd, f"--socket-path={vsock}", "-o",
             f"source={shared}", "-o", "sandbox=chroot", "-o",
             "cache=" + VFSD_MODE[args.mode]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(vfsd)
        wait_path(vsock)
        vm2, w2 = raw_vm(argv, upper, vsock, "virtiofsd")
        vms.append((vm2, w2))
        sides["virtiofsd, raw VM"] = (lambda c: vm2.run(c).decode(),
                                      vm2.q.pid, vfsd.pid)
        rate = {k: [] for k in sides}
        cpu = {k: [0.0, 0.0] for k in sides}
        for r in range(args.rounds):
            order = list(sides.items())
            if r % 2:
                order.reverse()
            for i, (k, (run, q, s)) in enumerate(order):
                d = f"/data/r{r}s{i}"
                run(f"mkdir {d}")
                q0, s0 = cpu_s(q), cpu_s(s)
                out = run(f"/data/fsbench cycle {d} {args.files}")
                cpu[k][0] += cpu_s(q) - q0
                cpu[k][1] += cpu_s(s) - s0
                rate[k].append(args.files / float(out.split()[0]))
                run(f"rm -rf {d}")
    finally:
        for vm, w in vms:
            vm.close()
            shutil.rmtree(w, ignore_errors=True)
        for p in procs:
            p.kill()
            p.wait()
        for i, b in enumerate([args.build] + args.base):
            subprocess.run([os.path.join(os.path.abspath(b), "bin", "msb"),
                            "rm", "-f", f"fscycle{i}"],
                           env=dict(os.environ, MSB_HOME=HOME),
                           capture_output=True)
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)
    n = args.files * args.rounds
    vm_ = statistics.median(rate["virtiofsd, raw VM"])
    print(f"\ncreate+stat+unlink, cache={args.mode}: {args.rounds} rounds "
          f"of {args.files} files each, interleaved; load "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'':44}{'files/s median':>15}{'best':>8}{'/vfsd':>7}"
          f"{'QEMU ms/file':>14}{'server ms/file':>16}")
    for k in sides:
        m = statistics.median(rate[k])
        print(f"{k:44}{m:15.1f}{max(rate[k]):8.1f}{m / vm_:7.2f}"
              f"{cpu[k][0] / n * 1000:14.3f}{cpu[k][1] / n * 1000:16.3f}")


if __name__ == "__main__":
    main()
