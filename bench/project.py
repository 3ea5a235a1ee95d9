#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A 5-sandbox project brought up, against the same 5 sandboxes started
one after another, in the same run.

`msb project up -d` of a Sandboxfile of N independent sandboxes (the
built-in image, each with a named volume of its own and a published port:
what a project of services has) starts them in parallel, one thread each;
the peer is the same N made with `msb run -d` one after another, as a
script would. Each is timed from the command's start to its return with
every sandbox running, then removed; median of R rounds, interleaved.
The host's CPUs bound what parallel boots gain (under TCG each boot keeps
a CPU busy), so the table says how many there are.

Usage: bench/project.py [BUILD_DIR] [--sandboxes N] [--rounds R]
"""

import argparse
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
ap.add_argument("--sandboxes", type=int, default=5)
ap.add_argument("--rounds", type=int, default=3)
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-")
ENV = dict(os.environ, MSB_HOME=HOME)
N = args.sandboxes


def msb(*a, cwd=None, check=True):
    p = subprocess.run([MSB, *a], env=ENV, capture_output=True, cwd=cwd)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project(d):
    ports = [free_port() for _ in range(N)]
    lines = ["name: bench", "volumes:"]
    lines += [f"  v{i}: {{ size: 64M }}" for i in range(N)]
    lines.append("sandboxes:")
    for i in range(N):
        lines += [f"  s{i}:", f"    volumes: [v{i}:/data]",
                  f"    ports: [{ports[i]}:80]",
                  "    command: httpd -f -p 80 -h /data"]
    with open(os.path.join(d, "Sandboxfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return ports


def up(d):
    t0 = time.monotonic()
    msb("project", "up", "-d", cwd=d)
    return time.monotonic() - t0


def down(d):
    msb("project", "down", "--timeout", "0", cwd=d)


def sequential(ports):
    t0 = time.monotonic()
    for i in range(N):
        msb("run", "--name", f"seq-s{i}", "-d", "-v", f"seq-v{i}:/data",
            "-p", f"{ports[i]}:80", "--", "httpd", "-f", "-p", "80", "-h",
            "/data")
    return time.monotonic() - t0


def seq_down(check=True):
    for i in range(N):
        msb("rm", "-f", f"seq-s{i}", check=check)


def accel():
    import json
    rt = json.loads(msb("inspect", "bench-s0").stdout).get("runtime", {})
    return rt.get("accel", "?")


def main():
    d = tempfile.mkdtemp(prefix="msb-bench-proj-")
    try:
        ports = project(d)
        for i in range(N):
            msb("volume", "create", "--size", "64M", f"seq-v{i}")
        # one of each first: images, kernels and disks warm
        up(d)
        down(d)
        sequential(ports)
        seq_down()
        par, seq = [], []
        for r in range(args.rounds):
            par.append(up(d))
            if not r:
                how = accel()
            down(d)
            seq.append(sequential(ports))
            seq_down()
        p, s = statistics.median(par), statistics.median(seq)
        print(f"{N} sandboxes up, median of {args.rounds} rounds "
              f"({os.cpu_count()} host CPUs, {how}):")
        print(f"  {'':34s} {'median':>8s} {'min':>8s} {'max':>8s}")
        print(f"  {'msb project up -d (parallel)':34s} {p:7.2f}s "
              f"{min(par):7.2f}s {max(par):7.2f}s")
        print(f"  {'msb run -d, one after another':34s} {s:7.2f}s "
              f"{min(seq):7.2f}s {max(seq):7.2f}s")
        print(f"  project up takes {p / s * 100:.0f}% of the sequential time")
    finally:
        subprocess.run([MSB, "project", "down", "--volumes", "--timeout",
                        "0"], env=ENV, cwd=d, capture_output=True)
        seq_down(check=False)
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
