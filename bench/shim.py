#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""containerd-shim-msb-v2 against runc's shim (not a test): one containerd
(Debian's 1.6, state under a temp dir, tests/containerd/ctrenv.py), one
busybox image made here, and in one run, rounds interleaved so that the
load of a shared host falls on both alike:

  ctr run     `ctr run --rm --runtime RT IMAGE ID true`, wall seconds
              (io.containerd.msb.v2: a microVM per container;
               io.containerd.runc.v2: runc's shim and runc)
  ctr exec    `ctr task exec` of `true` in a running container, wall ms
  pod (CRI)   RunPodSandbox + CreateContainer + StartContainer through
              containerd's CRI plugin (node network), handler msb or runc,
              with the CRI client of tests/e2e/test_cri.py; wall seconds

Medians, minimum and maximum. A kind that cannot run here (runc without
cgroups, no Go to build the CRI client) is left out, saying why.

Usage: bench/shim.py [BUILD_DIR] [--rounds N]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "containerd"))
import ctrenv  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
ap.add_argument("--rounds", type=int, default=5)
a = ap.parse_args()
BUILD = os.path.abspath(a.build)
IMAGE = "docker.io/library/msbtest:1"
PAUSE = "localhost/pause:msb"
RUNTIMES = {"msb": "io.containerd.msb.v2", "runc": "io.containerd.runc.v2"}

for tool in ("containerd", "ctr"):
    if not shutil.which(tool):
        sys.exit(f"bench/shim.py: no {tool} (apt-get install containerd)")
if not os.access(os.path.join(BUILD, "bin", "containerd-shim-msb-v2"), os.X_OK):
    sys.exit("bench/shim.py: no containerd-shim-msb-v2 in the build (make, with Go installed)")

tmp = tempfile.mkdtemp(prefix="msbbench-", dir="/tmp")
go = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
client = None
why_no_cri = "no Go toolchain to build the CRI client"
if go:
    client = os.path.join(tmp, "criclient")
    p = subprocess.run([go, "build", "-o", client, "."], capture_output=True, text=True,
                       cwd=os.path.join(ROOT, "tests", "containerd", "criclient"))
    if p.returncode:
        client, why_no_cri = None, "the CRI client did not build: " + p.stderr[-300:]
extra = f'''[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.msb]
      runtime_type = "io.containerd.msb.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{tmp}/cni/bin"
    conf_dir = "{tmp}/cni/conf"
'''
c = ctrenv.Containerd(tmp, BUILD, cri=True, extra=extra)
results = {}
skipped = {}


def timed(f):
    t = time.monotonic()
    f()
    return time.monotonic() - t


def cri(*args):
    p = subprocess.run([client, "-a", c.sock, *args], capture_output=True, text=True,
                       env=c.env, timeout=300)
    if p.returncode:
        raise RuntimeError(f"criclient {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout.strip()


try:
    for ref, pause in ((IMAGE, False), (PAUSE, True)):
        path = os.path.join(tmp, "pause.tar" if pause else "img.tar")
        ctrenv.busybox_image_tar(path, ref, pause=pause)
        for ns in ("bench", "k8s.io"):
            c.ctr("image", "import", path, ns=ns)
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    n = 0
    for r in range(a.rounds):
        for kind, rt in RUNTIMES.items():
            if kind in skipped:
                continue
            n += 1
            try:
                results.setdefault(("ctr run", kind), []).append(timed(lambda: c.ctr(
                    "run", "--rm", "--runtime", rt, IMAGE, f"r{n}", "true", ns="bench")))
                c.ctr("run", "-d", "--runtime", rt, IMAGE, f"d{n}", "sleep", "1000", ns="bench")
                results.setdefault(("ctr exec", kind), []).append(1000 * timed(lambda: c.ctr(
                    "task", "exec", "--exec-id", "x", f"d{n}", "true", ns="bench")))
                c.ctr("task", "kill", "-s", "SIGKILL", f"d{n}", ns="bench")
                c.ctr("task", "delete", f"d{n}", ns="bench", check=None)
                c.ctr("container", "rm", f"d{n}", ns="bench")
            except AssertionError as e:
                skipped[kind] = str(e).splitlines()[-1][:200] if r == 0 else "failed in a later round"
                results.pop(("ctr run", kind), None)
                results.pop(("ctr exec", kind), None)
                continue
            if client and ("cri", kind) not in skipped:
                def pod():
                    p = cri("runp", f"p{n}", kind, logs)
                    cid = cri("create", p, "c", IMAGE, logs, "--", "sleep", "1000")
                    cri("start", cid)
                    return p
                t = time.monotonic()
                try:
                    p = pod()
                    results.setdefault(("pod (CRI)", kind), []).append(time.monotonic() - t)
                    cri("stopp", p)
                    cri("rmp", p)
                except RuntimeError as e:
                    skipped[("cri", kind)] = str(e)[-300:]
finally:
    c.close()
    for pid in ctrenv.shim_pids(c.sock):
        os.kill(pid, signal.SIGKILL)
    ctrenv.teardown_mounts(tmp)
    shutil.rmtree(tmp, ignore_errors=True)

load = os.getloadavg()[0]
print(f"containerd {subprocess.run(['containerd', '--version'], capture_output=True, text=True).stdout.split()[2]}, "
      f"{a.rounds} rounds, {os.cpu_count()} CPUs, load {load:.1f} at the end")
print(f"{'measure':<12} {'runtime':<6} {'median':>9} {'min':>9} {'max':>9}  unit")
for (what, kind), v in results.items():
    unit = "ms" if what == "ctr exec" else "s"
    print(f"{what:<12} {kind:<6} {statistics.median(v):9.3f} {min(v):9.3f} {max(v):9.3f}  {unit}")
for k, why in skipped.items():
    print(f"left out: {k}: {why}")
if not client:
    print(f"left out: pod (CRI): {why_no_cri}")
