#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Volume round trips (not a test): create+stat+unlink cycles
(bench/fsbench.c `cycle`; --test read and write: a sequential read of a
--mib MiB file after the guest's caches are dropped, a sequential write
and fsync) on one host directory, served to sandboxes of one or more
builds, to the raw VM by our server alone (bench/fsserve.c) and to the
raw VM by virtiofsd, in short interleaved rounds (the order reversed
every other round), so that a shared host's load swings fall on all
alike. Reports the median and best rate of each, the median of each
round's rate over virtiofsd's in the same round, and per file (per MiB)
the CPU time QEMU and the server took, the time their threads waited
on a run queue for a CPU (/proc/PID/task/*/schedstat: far steadier than
wall time on a loaded host, and it says whether a side was slower for
work or for waiting its turn), and how many times QEMU's threads were
put on a CPU (each wakeup of a vCPU or of QEMU's main loop: what a
request or an interrupt costs the VMM, counted, not timed).

  bench/fscycle.py BUILD [--base BUILD ...] [--mode auto] [--files 300]
                   [--rounds 12] [--test cycle|read|write] [--mib 64]
                   [--block BYTES] [--peer-session own|bench|own,bench]
                   [--virtiofsd-xattr]

The raw VM is the first sandbox's QEMU command line (bench/rawboot.py),
so it boots the first build's kernel and agent; virtiofsd runs with
cache= as --mode (never: none). Each raw VM and its server run in a
session of their own, as a sandbox's QEMU and supervisor do: the kernel
schedules each session as one group, and on a loaded host that alone
moved a side's rate 2x (docs/performance.md); --peer-session bench
leaves them in the bench's session, as before.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

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
ap.add_argument("--test", default="cycle", choices=("cycle", "read", "write"))
ap.add_argument("--mib", type=int, default=64,
                help="--test read and write: the file's size")
ap.add_argument("--block", type=int, default=1 << 20,
                help="--test write: bytes per write(2) (a divisor of 1 MiB)")
ap.add_argument("--peer-session", default="own",
                help="own: each raw VM and its server in a session of their "
                     "own, as a sandbox's are; bench: in the bench's; "
                     "own,bench: both (the ratios are to the first)")
ap.add_argument("--virtiofsd", default="/usr/lib/qemu/virtiofsd")
ap.add_argument("--virtiofsd-xattr", action="store_true",
                help="virtiofsd with -o xattr, offering the guest xattrs "
                "as our server does (its default offers none)")
args, _ = ap.parse_known_args()
if set(args.peer_session.split(",")) - {"own", "bench"}:
    sys.exit("--peer-session: own, bench or own,bench")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = tempfile.mkdtemp(prefix="msb-bench-fscycle-")
VFSD_MODE = {"default": "auto", "auto": "auto", "always": "always",
             "never": "none"}


def msb(binary, *a):
    p = subprocess.run([binary, *a], env=dict(os.environ, MSB_HOME=HOME),
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        sys.exit(f"msb {' '.join(a[:3])}: {p.stderr.strip()}")
    return p.stdout


def waited(pid):
    """(run, wait, runs) of all @pid's threads: seconds on a CPU, seconds
    runnable but waiting for one, and how many times one of them was put
    on a CPU (schedstat)."""
    run = wait = runs = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                a, b, c = f.read().split()
        except (OSError, ValueError):
            continue
        run += int(a)
        wait += int(b)
        runs += int(c)
    return run / 1e9, wait / 1e9, runs


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


def raw_vm(argv, upper, server, name, session):
    """The raw VM, its volume served by @server (argv, socket path) in a
    session of their own with QEMU (@session) or in the bench's."""
    work = tempfile.mkdtemp(prefix=f"msb-bench-{name}-")
    init = b"".join((tlv(9, name.encode()), tlv(10, b"upper"),
                     tlv(11, b"layer0"), tlv(19, b"\x00msbvol0\x00/data")))

    def swap(x):
        if x.startswith("stream,id=net0,"):
            return "user,id=net0"
        if x.startswith("socket,id=fs0,fd="):
            return f"socket,id=fs0,path={server[1]}"
        return x
    return RawVM(argv, upper, work, init, name, swap, server,
                 session), work


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
    vms = []
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
        for where in args.peer_session.split(","):
            own = where == "own"
            tail = "" if where == "own" else ", bench's session"
            sock = os.path.join(work, f"alone-{where}.sock")
            vm, w = raw_vm(argv, upper, ([fsserve, sock, shared, args.mode],
                                         sock), "fsserve", own)
            vms.append((vm, w))
            sides["our server alone, raw VM" + tail] = (
                (lambda v: lambda c: v.run(c).decode())(vm), vm.q.pid,
                vm.server)
            sock = os.path.join(work, f"vfsd-{where}.sock")
            vm, w = raw_vm(argv, upper, (
                [args.virtiofsd, f"--socket-path={sock}", "-o",
                 f"source={shared}", "-o", "sandbox=chroot", "-o",
                 "cache=" + VFSD_MODE[args.mode],
                 *(["-o", "xattr"] if args.virtiofsd_xattr else [])], sock),
                "virtiofsd", own)
            vms.append((vm, w))
            sides["virtiofsd, raw VM" + tail] = (
                (lambda v: lambda c: v.run(c).decode())(vm), vm.q.pid,
                vm.server)
        rate = {k: [] for k in sides}
        per = {k: [] for k in sides}  # each round: QEMU, server cpu, wait
        unit = args.files if args.test == "cycle" else args.mib
        if args.test == "read":
            for i, (k, (run, q, s)) in enumerate(sides.items()):
                run(f"/data/fsbench seqwrite /data/big{i} {args.mib}")
        for r in range(args.rounds):
            order = list(enumerate(sides.items()))
            if r % 2:
                order.reverse()
            for i, (k, (run, q, s)) in order:
                d = f"/data/r{r}s{i}"
                cmd = {"cycle": f"/data/fsbench cycle {d} {args.files}",
                       "read": f"/data/fsbench seqread /data/big{i}",
                       "write": f"/data/fsbench seqwrite {d} {args.mib} "
                                f"{args.block}"}
                if args.test == "cycle":
                    run(f"mkdir {d}")
                q0, s0 = waited(q), waited(s)
                out = run(cmd[args.test])
                q1, s1 = waited(q), waited(s)
                per[k].append((q1[0] - q0[0], s1[0] - s0[0],
                               q1[1] - q0[1] + s1[1] - s0[1],
                               q1[2] - q0[2]))
                rate[k].append(unit / float(out.split()[0]))
                if args.test != "read":
                    run(f"rm -rf {d}")
    finally:
        for vm, w in vms:
            vm.close()
            shutil.rmtree(w, ignore_errors=True)
        for i, b in enumerate([args.build] + args.base):
            subprocess.run([os.path.join(os.path.abspath(b), "bin", "msb"),
                            "rm", "-f", f"fscycle{i}"],
                           env=dict(os.environ, MSB_HOME=HOME),
                           capture_output=True)
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)
    vk = [k for k in sides if k.startswith("virtiofsd")][0]
    what = {"cycle": "create+stat+unlink", "read": "seq read",
            "write": "seq write"}[args.test]
    u = "file" if args.test == "cycle" else "MiB"
    rl = "files/s" if args.test == "cycle" else "MiB/s"
    size = (f"{args.files} files" if args.test == "cycle"
            else f"{args.mib} MiB")
    if args.test == "write" and args.block != 1 << 20:
        size += f" in writes of {args.block} bytes"
    print(f"\n{what}, cache={args.mode}: {args.rounds} rounds of {size} "
          f"each, interleaved; load {os.getloadavg()[0]:.1f}")
    print(f"{'':44}{rl + ' median':>15}{'best':>8}{'/vfsd':>7}"
          f"{'range':>12}{'QEMU ms/' + u:>14}{'server ms/' + u:>16}"
          f"{'waited ms/' + u:>16}{'QEMU runs/' + u:>16}")

    def med(k, j, scale=1000):
        return statistics.median(x[j] for x in per[k]) / unit * scale
    for k in sides:
        m = statistics.median(rate[k])
        rr = sorted(a / b for a, b in zip(rate[k], rate[vk]))
        print(f"{k:44}{m:15.1f}{max(rate[k]):8.1f}"
              f"{statistics.median(rr):7.2f}"
              f"{f'{rr[0]:.2f}-{rr[-1]:.2f}':>12}{med(k, 0):14.3f}"
              f"{med(k, 1):16.3f}{med(k, 2):16.3f}{med(k, 3, 1):16.1f}")
    print(f"(/vfsd and range: each round's rate over virtiofsd's in the "
          f"same round; CPU and waits: the median round's)")

if __name__ == "__main__":
    main()
