#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TCG's translated-code buffer (not a test): what its size costs in host
memory and in guest CPU, one sandbox per size, sizes interleaved per round.

QEMU under TCG translates guest code into host code kept in one buffer,
flushed whole only when full; its resident size grows with every guest
instruction translated since the last flush. MSB_TCG_TB_MIB sets the
buffer's size (src/engine/qemu.c, 0 for QEMU's own 1 GiB). For each size,
a sandbox of --image boots (msb run -d, timed), then runs a workload
twice (the first run translates, the second finds most of it), then
`msb exec NAME -- true` 15 times; QEMU's CPU time over all of that; after
5 s idle, QEMU's anonymous memory outside guest RAM (from
/proc/PID/smaps: the code buffer, QEMU's heap, its libraries' written
pages).

  --image builtin   the built-in busybox image; the workload: ls, ps,
                    find | sort, awk, sed, gzip | sha256sum, seq | xargs
  --image python    tests/images/debian.py's python3 image (loaded from
                    Debian's packages); the workload: three Python runs
                    of pickle, re, csv, ast, ipaddress over a few MB

Usage: bench/tcgcache.py [BUILD_DIR] [--sizes 0,64,32,16] [--rounds 3]
                         [--image builtin|python]
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
ap.add_argument("--sizes", default="0,64,32,16")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--image", choices=("builtin", "python"), default="python")
args = ap.parse_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSB = os.path.join(os.path.abspath(args.build), "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-tcg-")
TICK = os.sysconf("SC_CLK_TCK")

BUSYBOX = ("for i in 1 2 3 4 5; do ls -la / /bin; ps; "
           "find /usr /etc | sort | uniq | wc -l; "
           "awk 'BEGIN{for(i=0;i<2000;i++)s+=i; print s}'; "
           "sed -e s/a/b/g /etc/passwd | tr a-z A-Z | md5sum; "
           "gzip -c /bin/busybox | gunzip | sha256sum; "
           "seq 1 300 | xargs -n 10 echo | grep 9 | cut -d' ' -f2 | "
           "sort -n | tail -1; done >/dev/null")
PYTHON = """for i in 1 2 3; do python3 -c '
import re, collections, textwrap, pickle, csv, io, ast, inspect, ipaddress, hashlib
d = [{"k": i, "v": str(i) * 5, "f": i / 7} for i in range(3000)]
s = pickle.dumps(d); d2 = pickle.loads(s)
c = collections.Counter(re.findall(r"[0-9]+", repr(d)))
t = textwrap.fill(" ".join(str(x) for x in range(500)), 40)
buf = io.StringIO(); w = csv.writer(buf); [w.writerow([x["k"], x["v"]]) for x in d]
tree = ast.parse(inspect.getsource(textwrap))
nets = [ipaddress.ip_network(f"10.{i}.0.0/16") for i in range(200)]
print(len(d2), len(c), len(buf.getvalue()), len(tree.body), hashlib.sha256(s).hexdigest()[:8])
'; done"""


def msb(size, *a):
    env = dict(os.environ, MSB_HOME=HOME, MSB_TCG_TB_MIB=str(size))
    p = subprocess.run([MSB, *a], env=env, capture_output=True, text=True,
                       timeout=900)
    if p.returncode:
        sys.exit(f"msb {' '.join(a[:3])}: {p.stderr.strip()}")
    return p.stdout


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


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def anon_mib(pid):
    """Anonymous memory outside the guest's RAM, and the guest RAM's
    resident size, MiB."""
    anon = ram = 0
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            k = line.split()
            if not k[0].endswith(":"):
                name = line
            elif k[0] == "Anonymous:" and "msb-guest-ram" not in name:
                anon += int(k[1])
            elif k[0] == "Rss:" and "msb-guest-ram" in name:
                ram += int(k[1])
    return anon / 1024, ram / 1024


def load_python_image():
    sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
    import build
    import debian
    d = tempfile.mkdtemp(prefix="msb-bench-tcg-img-")
    build.write_layout(debian.image(), d, "debian-curl:1")
    msb(0, "load", "-q", "-t", "debian-curl:1", d)
    shutil.rmtree(d, ignore_errors=True)
    return "debian-curl:1"


def main():
    sizes = [int(s) for s in args.sizes.split(",")]
    image = None
    if args.image == "python":
        try:
            image = load_python_image()
        except Exception as e:  # debian.Unavailable: no packages here
            print(f"the Python image cannot be built here ({e}): "
                  "measuring the built-in image")
            args.image = "builtin"
    work = PYTHON if image else BUSYBOX
    keys = ("boot", "cold", "warm", "exec", "cpu", "anon", "ram")
    res = {s: {k: [] for k in keys} for s in sizes}
    try:
        for r in range(args.rounds):
            for size in sizes:
                name = f"tcg{size}-{r}"
                t0 = time.monotonic()
                msb(size, "run", *([image] if image else []), "--name", name, "-d")
                res[size]["boot"].append(time.monotonic() - t0)
                q = qemu_of(json.loads(msb(size, "inspect", name))["pid"])
                c0 = cpu_s(q)
                for k in ("cold", "warm"):
                    t0 = time.monotonic()
                    msb(size, "exec", name, "--", "sh", "-c", work)
                    res[size][k].append(time.monotonic() - t0)
                ex = []
                for _ in range(15):
                    t0 = time.monotonic()
                    msb(size, "exec", name, "--", "true")
                    ex.append((time.monotonic() - t0) * 1000)
                res[size]["exec"].append(statistics.median(ex))
                res[size]["cpu"].append(cpu_s(q) - c0)
                time.sleep(5)
                anon, ram = anon_mib(q)
                res[size]["anon"].append(anon)
                res[size]["ram"].append(ram)
                msb(size, "rm", "-f", name)
    finally:
        shutil.rmtree(HOME, ignore_errors=True)
    print(f"\nTCG code buffer, {args.image} image, median of {args.rounds} "
          f"rounds; load {os.getloadavg()[0]:.1f}")
    print(f"{'MSB_TCG_TB_MIB':>15} {'boot s':>7} {'work 1st s':>11} "
          f"{'2nd s':>7} {'exec ms':>8} {'QEMU CPU s':>11} "
          f"{'QEMU anon MiB':>14} {'guest RAM MiB':>14}")
    for s in sizes:
        m = {k: statistics.median(v) for k, v in res[s].items()}
        label = f"{s}" + (" (1 GiB)" if s == 0 else "")
        print(f"{label:>15} {m['boot']:7.2f} {m['cold']:11.2f} {m['warm']:7.2f} "
              f"{m['exec']:8.1f} {m['cpu']:11.2f} {m['anon']:14.1f} "
              f"{m['ram']:14.1f}")


if __name__ == "__main__":
    main()
