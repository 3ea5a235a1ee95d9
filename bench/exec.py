#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Exec round trip against its floor, the guest's own fork+exec, in one run.

On one running sandbox of the built-in image, rounds interleaved so that
load drifts hit every row alike:

1. `msb exec NAME -- true`, wall time from the host (a process per call);
2. the same request on the API socket from this script (connect, one JSON
   line, read to the result): the supervisor, the agent link and the guest,
   without the CLI's own start;
3. `msb --version`: the CLI's start alone (dynamic linking, exit);
   and /bin/true started the same way, the harness's own cost of a
   process (Python's subprocess, pipes), which rows 1 and 3 include;
   and bench/execclient.c (static, musl), the same request from a
   process per call that does nothing else: msb exec's row less this one
   is what the CLI itself costs, this one less the API socket's what a
   process per call costs; and the same client built with cc (glibc,
   dynamically linked, as msb is), which splits the CLI's cost into
   what any such process pays and what msb adds to it;
4. with --base OTHER_BUILD, a second sandbox booted by that build (its
   agent), measured the same way with that build's CLI: a before/after
   in one run;
5. the floor: in the guest, bench/spawnfloor.c (static, musl) runs
   /bin/true N times (fork+exec, vfork+exec, posix_spawn), each waited
   for, and reports the mean (the guest clock may tick as coarsely as
   10 ms, so only totals are timed there).

Also the CPU time each exec costs the supervisor and QEMU (the guest's
vCPU under TCG), from /proc over the API-socket calls, beside QEMU's per
fork+exec of the floor: CPU time moves far less with the host's load than
wall time.

Usage: bench/exec.py [BUILD_DIR] [--base BUILD_DIR] [--execs N] [--rounds N]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--base", help="another build whose msb exec runs beside")
ap.add_argument("--execs", type=int, default=50, help="calls per row per round")
ap.add_argument("--rounds", type=int, default=4)
args = ap.parse_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSB = os.path.join(os.path.abspath(args.build), "bin", "msb")
BASE = os.path.join(os.path.abspath(args.base), "bin", "msb") if args.base else None
HOME = tempfile.mkdtemp(prefix="msb-bench-exec-")
ENV = dict(os.environ, MSB_HOME=HOME)
BASE_HOME = tempfile.mkdtemp(prefix="msb-bench-exec-base-")
BASE_ENV = dict(os.environ, MSB_HOME=BASE_HOME)
NAME = "execbench"
TICK = os.sysconf("SC_CLK_TCK")


def msb(*a, binary=MSB, check=True):
    p = subprocess.run([binary, *a], env=BASE_ENV if binary == BASE else ENV,
                       capture_output=True)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return p


def api_exec(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b'{"id":1,"method":"exec","params":{"argv":["true"]}}\n')
    buf = b""
    while b'"result"' not in buf and b'"error"' not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    if b'"exit_code":0' not in buf:
        sys.exit(f"exec over the API socket failed: {buf!r}")


def client(sock, prog="execclient"):
    p = subprocess.run([os.path.join(HOME, prog), sock], capture_output=True)
    if p.returncode:
        sys.exit(f"{prog} failed ({p.returncode})")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except OSError:
                pass
    return out


def qemu_pid(sup):
    """QEMU is the supervisor's launcher's child."""
    for launcher in children(sup):
        for q in children(launcher):
            with open(f"/proc/{q}/comm") as f:
                if f.read().startswith("qemu"):
                    return q
    return None


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def timed(fn, n, out):
    for _ in range(n):
        t0 = time.monotonic()
        fn()
        out.append((time.monotonic() - t0) * 1000)


def boot(binary, home):
    """A sandbox with the floor program in it: (API socket, supervisor, QEMU)."""
    msb("run", "--name", NAME, "-d", binary=binary)
    msb("cp", os.path.join(HOME, "spawnfloor"), f"{NAME}:/spawnfloor", binary=binary)
    sup = int(json.loads(msb("inspect", NAME, binary=binary).stdout)["pid"])
    return os.path.join(home, "sandboxes", NAME, "api.sock"), sup, qemu_pid(sup)


def main():
    for prog in ("spawnfloor", "execclient"):
        subprocess.run(["musl-gcc", "-static", "-O2", "-o", os.path.join(HOME, prog),
                        os.path.join(ROOT, "bench", prog + ".c")], check=True)
    # The same client as the host's programs are built (glibc, dynamic,
    # as msb is): what that kind of process costs an exec.
    subprocess.run(["cc", "-O2", "-o", os.path.join(HOME, "execclient-glibc"),
                    os.path.join(ROOT, "bench", "execclient.c")], check=True)
    sides = {"new": (MSB,) + boot(MSB, HOME)}
    if BASE:
        sides["base"] = (BASE,) + boot(BASE, BASE_HOME)
    rows, cpu, floor = {}, {}, {}
    for side in sides:
        for k in ("cli", "api", "client", "gclient", "version"):
            rows[(side, k)] = []
        for k in ("supervisor", "qemu", "floor"):
            cpu[(side, k)] = []
    for k in ("fork", "vfork", "spawn"):
        floor[k] = []
    harness, floor_dist = [], []
    for side, (binary, sock, _, _) in sides.items():
        for _ in range(5):  # warm TCG's translations and the host's caches
            api_exec(sock)
            msb("exec", NAME, "--", "true", binary=binary)
    for _ in range(args.rounds):
        for side, (binary, sock, sup, qemu) in sides.items():
            timed(lambda: msb("exec", NAME, "--", "true", binary=binary),
                  args.execs, rows[(side, "cli")])
            s0, q0 = cpu_s(sup), cpu_s(qemu) if qemu else 0
            timed(lambda: api_exec(sock), args.execs, rows[(side, "api")])
            cpu[(side, "supervisor")].append((cpu_s(sup) - s0) / args.execs * 1000)
            if qemu:
                cpu[(side, "qemu")].append((cpu_s(qemu) - q0) / args.execs * 1000)
            timed(lambda: client(sock), args.execs, rows[(side, "client")])
            timed(lambda: client(sock, "execclient-glibc"), args.execs,
                  rows[(side, "gclient")])
            timed(lambda: msb("--version", binary=binary), args.execs,
                  rows[(side, "version")])
        timed(lambda: subprocess.run(["/bin/true"], capture_output=True),
              args.execs, harness)
        binary, _, _, qemu = sides["new"]
        for how in floor:
            q0 = cpu_s(qemu) if qemu else 0
            out = msb("exec", NAME, "--", "/spawnfloor", str(args.execs * 2), how,
                      "dist")
            mean, p50, p99 = (float(x) / 1000 for x in out.stdout.split())
            floor[how].append(mean)
            if how == "fork":
                floor_dist.append((p50, p99))
            if qemu and how == "fork":
                cpu[("new", "floor")].append(
                    (cpu_s(qemu) - q0) / (args.execs * 2) * 1000)
    n = args.rounds * args.execs
    print(f"\nExec round trip, `true`, {args.rounds} interleaved rounds of "
          f"{args.execs} calls per row ({n} each)")
    print(f"{'':46} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    for side in sides:
        tag = "" if side == "new" else " [base]"
        for k, label in (("cli", "msb exec NAME -- true"),
                         ("api", "the same on the API socket (no CLI)"),
                         ("client", "bench/execclient, a process per call"),
                         ("gclient", "the same client built with cc (glibc)"),
                         ("version", "msb --version (the CLI's start)")):
            v = rows[(side, k)]
            print(f"{label + tag:46} {pct(v, 50):7.2f} {pct(v, 90):7.2f} "
                  f"{pct(v, 99):7.2f} {max(v):7.2f}  ms")
    print(f"{'/bin/true on the host, started the same way':46} {pct(harness, 50):7.2f} "
          f"{pct(harness, 90):7.2f} {pct(harness, 99):7.2f} {max(harness):7.2f}  ms")
    print(f"\nFloor: the guest's own run of /bin/true, mean of "
          f"{args.execs * 2} per round, median of the rounds")
    for how, label in (("fork", "fork+execve+wait"), ("vfork", "vfork+execve+wait"),
                       ("spawn", "posix_spawn+wait")):
        print(f"{label:46} {statistics.median(floor[how]):7.2f}  ms")
    print(f"{'fork+execve+wait, single runs: p50, p99':46} "
          f"{statistics.median(d[0] for d in floor_dist):7.2f} "
          f"{statistics.median(d[1] for d in floor_dist):7.2f}  ms "
          f"(p99/p50 {statistics.median(d[1] / d[0] for d in floor_dist):.2f})")
    f = statistics.median(floor["fork"])
    print(f"{'msb exec p50 - floor':46} {pct(rows[('new', 'cli')], 50) - f:7.2f}  ms")
    print(f"{'API-socket exec p50 - floor':46} {pct(rows[('new', 'api')], 50) - f:7.2f}  ms")
    h = pct(harness, 50)
    for side in sides:
        tag = "" if side == "new" else " [base]"
        print(f"{'msb exec p50 - execclient p50 (the CLI)' + tag:46} "
              f"{pct(rows[(side, 'cli')], 50) - pct(rows[(side, 'client')], 50):7.2f}  ms")
        print(f"{'execclient p50 - API p50 - /bin/true p50' + tag:46} "
              f"{pct(rows[(side, 'client')], 50) - pct(rows[(side, 'api')], 50) - h:7.2f}  ms")
        print(f"{'glibc client p50 - execclient p50' + tag:46} "
              f"{pct(rows[(side, 'gclient')], 50) - pct(rows[(side, 'client')], 50):7.2f}  ms")
        print(f"{'msb exec p50 - glibc client p50' + tag:46} "
              f"{pct(rows[(side, 'cli')], 50) - pct(rows[(side, 'gclient')], 50):7.2f}  ms")
    for side in sides:
        tag = "" if side == "new" else " [base]"
        print(f"{'msb exec p50 - host /bin/true p50 - floor' + tag:46} "
              f"{pct(rows[(side, 'cli')], 50) - h - f:7.2f}  ms")
    for side in sides:
        tag = "" if side == "new" else " [base]"
        for k, label in (("cli", "msb exec"), ("api", "API-socket exec")):
            v = rows[(side, k)]
            print(f"{label + ' p99 / p50' + tag:46} {pct(v, 99) / pct(v, 50):7.2f}")
    print("\nCPU per exec over the API socket, median of the rounds")
    for side in sides:
        tag = "" if side == "new" else " [base]"
        print(f"{'supervisor' + tag:46} {statistics.median(cpu[(side, 'supervisor')]):7.2f}  ms")
        if cpu[(side, "qemu")]:
            print(f"{'QEMU (guest vCPU and devices)' + tag:46} "
                  f"{statistics.median(cpu[(side, 'qemu')]):7.2f}  ms")
    if cpu[("new", "floor")]:
        print(f"{'QEMU, per fork+execve+wait in the guest':46} "
              f"{statistics.median(cpu[('new', 'floor')]):7.2f}  ms")
    for side, (binary, _, _, _) in sides.items():
        msb("rm", "-f", NAME, binary=binary)
    shutil.rmtree(HOME, ignore_errors=True)
    shutil.rmtree(BASE_HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
