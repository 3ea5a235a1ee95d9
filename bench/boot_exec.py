#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot and exec benchmarks, each against a peer measured in the same run.

1. `msb run --rm -- true`, wall time, against raw QEMU booting the same
   kernel, initramfs and disks with the same command line to power-off, driven
   by the smallest possible host (this script speaking the agent protocol:
   HELLO, INIT, READY, SHUTDOWN). The ratio is msb's overhead.
2. `msb exec NAME -- true` round trip, p50/p99 over 200 calls, against
   spawning a trivial host process (/bin/true) the same way.

Usage: bench/boot_exec.py [BUILD_DIR] [--boots N] [--execs N]
"""

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--boots", type=int, default=7)
ap.add_argument("--execs", type=int, default=200)
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


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


# --- the agent protocol, minimal (docs/agent-protocol.md) -----------------

def frame(stream, ftype, payload=b""):
    return struct.pack(">IIBBH", len(payload), stream, ftype, 0, 0) + payload


def tlv(tag, val):
    return struct.pack(">BI", tag, len(val)) + val


def read_frame(sock, buf):
    while True:
        if len(buf) >= 12:
            n, stream, ftype = struct.unpack(">IIB", buf[:9])
            if len(buf) >= 12 + n:
                payload = bytes(buf[12:12 + n])
                del buf[:12 + n]
                return stream, ftype, payload
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk


def qemu_argv():
    """The exact QEMU command line msb used, from a sandbox's engine.log."""
    msb("run", "--name", "probe", "-d")
    log = open(os.path.join(HOME, "sandboxes", "probe", "engine.log")).read()
    line = [l for l in log.splitlines() if l.startswith("argv ")][-1]
    argv = line[5:].split("\x1f")
    upper = os.path.join(HOME, "sandboxes", "probe", "upper.ext4")
    msb("stop", "probe")
    return argv, upper


def raw_boot(argv, upper_src, workdir):
    """Boot with no msb: same argv, own socketpair, own copy of the disk."""
    upper = os.path.join(workdir, "upper.ext4")
    a, b = socket.socketpair()
    av = []
    for x in argv:
        x = x.replace(upper_src, upper)
        if x.startswith("socket,id=agent,fd="):
            x = f"socket,id=agent,fd={b.fileno()}"
        if x.startswith("file,id=con,path="):
            x = f"file,id=con,path={workdir}/console.log,append=on"
        av.append(x)
    t0 = time.monotonic()
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-m", "0", "-E",
                    "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                    upper, "4G"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    q = subprocess.Popen(av, pass_fds=[b.fileno()], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b.close()
    buf = bytearray()
    t_ready = None
    while True:
        f = read_frame(a, buf)
        if f is None:
            break
        stream, ftype, payload = f
        if ftype == 64:  # HELLO -> INIT with the same disks
            a.sendall(frame(0, 1, tlv(9, b"raw") + tlv(10, b"upper") +
                            tlv(11, b"layer0")))
        elif ftype == 65:  # READY -> SHUTDOWN now
            t_ready = time.monotonic()
            a.sendall(frame(0, 6, struct.pack(">I", 0)))
    q.wait()
    t_end = time.monotonic()
    a.close()
    os.unlink(upper)
    return t_end - t0, (t_ready or t_end) - t0


def main():
    argv, upper = qemu_argv()
    accel = "kvm" if "kvm" in argv else "tcg"
    work = tempfile.mkdtemp(prefix="msb-raw-")
    msb_t, raw_t, raw_ready = [], [], []
    for _ in range(args.boots):  # interleaved, so load drifts hit both
        t0 = time.monotonic()
        p = msb("run", "--rm", "--", "true")
        msb_t.append(time.monotonic() - t0)
        total, ready = raw_boot(argv, upper, work)
        raw_t.append(total)
        raw_ready.append(ready)
    ms, rs = statistics.median(msb_t), statistics.median(raw_t)
    print(f"\nBoot to power-off ({accel}, {args.boots} runs each, interleaved)")
    print(f"{'':34} {'median':>8} {'min':>8} {'max':>8}")
    print(f"{'msb run --rm -- true':34} {ms:8.3f} {min(msb_t):8.3f} {max(msb_t):8.3f}  s")
    print(f"{'raw QEMU, same VM, to power-off':34} {rs:8.3f} {min(raw_t):8.3f} {max(raw_t):8.3f}  s")
    print(f"{'  of which: to agent ready':34} {statistics.median(raw_ready):8.3f}")
    print(f"{'overhead ratio (msb / raw)':34} {ms / rs:8.3f}")

    msb("start", "probe")
    lat, host = [], []
    for _ in range(args.execs):
        t0 = time.monotonic()
        msb("exec", "probe", "--", "true")
        lat.append((time.monotonic() - t0) * 1000)
    for _ in range(args.execs):
        t0 = time.monotonic()
        subprocess.run(["/bin/true"])
        host.append((time.monotonic() - t0) * 1000)
    print(f"\nExec round trip ({args.execs} calls each)")
    print(f"{'':34} {'p50':>8} {'p99':>8} {'max':>8}")
    print(f"{'msb exec NAME -- true':34} {pct(lat, 50):8.2f} {pct(lat, 99):8.2f} {max(lat):8.2f}  ms")
    print(f"{'host: spawn /bin/true':34} {pct(host, 50):8.2f} {pct(host, 99):8.2f} {max(host):8.2f}  ms")
    msb("rm", "-f", "probe")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
