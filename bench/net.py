#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Network benchmark (not a test): our userspace stack against QEMU's own
user networking (`-netdev user`, slirp), on the same guest, in one run.

Both guests boot the same kernel, initramfs and disks with the same QEMU
command line (read from a sandbox's engine.log): ours through msb, whose
supervisor runs src/net; slirp's with the netdev swapped for
`-netdev user` and driven by this script speaking the agent protocol
(docs/agent-protocol.md), with eth0 set up by INIT's NET_* records (slirp
uses the same 10.0.2.0/24 addresses). Guest-side clients are busybox nc;
the servers are threads here, and time is measured on the host:

  download  host -> guest, MiB/s: accept to the last byte written
  upload    guest -> host, MiB/s: accept to the last byte read
  conn/s    new connections a second, guest loop of `nc` (one process
            each, so the guest's fork cost is in both columns)
  one proc  new connections a second from one guest process
            (bench/connloop.c, static: connect, read to EOF, close, 3
            times --conns of them, timed on the guest's clock): the
            stack's handshake and teardown without the fork and exec of
            nc, which under TCG is most of the row above
  1 GiB     one download and one upload of --big MiB (default 1024),
            checksummed: the guest's sha256sum of what it read against
            the host's of what it sent, and the host's of what it read
            against the guest's of what it sent; seconds and MiB/s, from
            the host's accept to the last byte, the guest's hashing
            included (one run each); with the CPU time each used on
            the host: the guest's vCPU thread, and the rest (ours: the
            supervisor and QEMU's other threads; slirp: QEMU's other
            threads, where slirp runs), read from /proc
  frames    the guest's eth0 frames received and sent during one --mib
            download and one upload (/proc/net/dev; the run with the
            median count sent); each row's range over the runs is
            printed too

The guest reaches the host at the host's own address with ours
(--net-allow-cidr opens it) and at 10.0.2.2 with slirp (its alias for the
host's loopback). Usage: bench/net.py [BUILD_DIR] [--mib N] [--conns N]
[--runs N] [--big MIB] [--big-kinds down,up]
"""

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

from hostnet import Server, host_ip
from rawboot import RawVM, qemu_argv, tlv

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--mib", type=int, default=64)
ap.add_argument("--conns", type=int, default=100)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--big", type=int, default=1024,
                help="MiB of the checksummed transfers (0: none)")
ap.add_argument("--big-kinds", default="down,up",
                help="which checksummed transfers: down, up or both")
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-")
ENV = dict(os.environ, MSB_HOME=HOME)
SIZE = args.mib << 20
BIG = args.big << 20
# The big download's bytes: a random block, sent over and over; its odd
# length keeps repeats off any power-of-two boundary.
BLOCK = random.Random(4242).randbytes((1 << 20) + 4099)


def msb(*a, check=True, env=None):
    p = subprocess.run([MSB, *a], env=env or ENV, capture_output=True)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return p


# --- servers on the host ---------------------------------------------------

class BigServer(Server):
    """The checksummed transfers: "bigdown" sends BIG bytes of BLOCK over
    and over; "bigup" reads until EOF, each connection's (bytes, sha256)
    going to self.sums."""

    def __init__(self, kind):
        self.sums = []
        super().__init__(kind)

    def serve(self, c):
        n = 0
        if self.kind == "bigdown":
            while n < BIG:
                b = BLOCK[:BIG - n]
                c.sendall(b)
                n += len(b)
            return n
        h = hashlib.sha256()
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
        self.sums.append((n, h.hexdigest()))
        return n


def big_sum():
    h, sent = hashlib.sha256(), 0
    while sent < BIG:
        b = BLOCK[:BIG - sent]
        h.update(b)
        sent += len(b)
    return h.hexdigest()


def big_scripts(addr, bigdown, bigup):
    return {
        "bigdown": f"nc {addr} {bigdown.port} | sha256sum",
        # tee hands the same bytes to sha256sum through a FIFO.
        "bigup": ("rm -f /tmp/bigup.fifo; mkfifo /tmp/bigup.fifo; "
                  "sha256sum </tmp/bigup.fifo >/tmp/bigup.sum & "
                  f"dd if=/dev/urandom bs=65536 count={BIG >> 16} "
                  "2>/dev/null | tee /tmp/bigup.fifo | "
                  f"nc {addr} {bigup.port}; wait; cat /tmp/bigup.sum; "
                  "rm -f /tmp/bigup.fifo /tmp/bigup.sum"),
    }


def thread_ticks(pids):
    """{(pid, tid): utime + stime clock ticks} of every thread of @pids."""
    ticks = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks[(pid, tid)] = int(st[11]) + int(st[12])
    return ticks


def cpu_split(before, after):
    """(vCPU seconds, other seconds): the busiest thread is taken as the
    guest's one vCPU (under TCG nothing else comes near it)."""
    hz = os.sysconf("SC_CLK_TCK")
    d = sorted((after[k] - before.get(k, 0) for k in after), reverse=True)
    return (d[0] / hz if d else 0.0), sum(d[1:]) / hz


def measure_big(run, addr, bigdown, bigup, want, pids):
    """Return: {"bigdown": (s, MiB/s, vCPU s, other s), "bigup": ...};
    exits on a checksum mismatch."""
    sc = big_scripts(addr, bigdown, bigup)
    res = {}
    kinds = args.big_kinds.split(",")
    for kind, srv in (("bigdown", bigdown), ("bigup", bigup)):
        if kind[3:] not in kinds:
            continue
        srv.take()
        c0 = thread_ticks(pids())
        out = run(sc[kind]).decode().split()
        c1 = thread_ticks(pids())
        time.sleep(0.2)
        (t0, t1, _), = srv.take()
        if kind == "bigdown":
            got = out[0] if out else ""
            ok = got == want
        else:
            (n, want_up), = srv.sums
            srv.sums = []
            got = out[0] if out else ""
            ok = got == want_up and n == BIG
        if not ok:
            sys.exit(f"{kind} via {addr}: checksums differ (guest {got!r})")
        res[kind] = (t1 - t0, BIG / (1 << 20) / (t1 - t0)) + \
            cpu_split(c0, c1)
    return res


def scripts(addr, down, up, conn):
    return {
        "down": f"nc {addr} {down.port} >/dev/null",
        # dd in 64 KiB blocks: busybox head copies in small ones, and
        # under TCG that alone costs more than the network.
        "up": (f"dd if=/dev/zero bs=65536 count={SIZE >> 16} 2>/dev/null | "
               f"nc {addr} {up.port}"),
        "conn": (f"i=0; while [ $i -lt {args.conns} ]; do "
                 f"nc {addr} {conn.port} </dev/null >/dev/null; "
                 "i=$((i+1)); done"),
    }


def netdev(run):
    """The guest's eth0 counters: (frames received, frames sent)."""
    for line in run("cat /proc/net/dev").decode().splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == "eth0":
            f = rest.split()
            return int(f[1]), int(f[9])
    return 0, 0


def measure(run, addr, servers):
    down, up, conn = servers
    sc = scripts(addr, down, up, conn)
    res = {"down": [], "up": [], "conn": [], "conn1": []}
    frames = {"down": [], "up": []}
    for _ in range(args.runs):
        for kind, srv in (("down", down), ("up", up)):
            srv.take()
            f0 = netdev(run)
            run(sc[kind])
            f1 = netdev(run)
            time.sleep(0.2)
            (t0, t1, _), = srv.take()
            res[kind].append(SIZE / (1 << 20) / (t1 - t0))
            frames[kind].append((f1[0] - f0[0], f1[1] - f0[1]))
        conn.take()
        run(sc["conn"])
        time.sleep(0.2)
        t = conn.take()
        res["conn"].append((len(t) - 1) / (t[-1][0] - t[0][0]))
        n, secs = run(f"/connloop {addr} {conn.port} {args.conns * 3}"
                      ).split()
        conn.take()
        res["conn1"].append(int(n) / float(secs))
    out = {k: sorted(v)[len(v) // 2] for k, v in res.items()}
    out["range"] = {k: (min(v), max(v)) for k, v in res.items()}
    # the guest's frames received and sent per transfer, the median run's
    for k, v in frames.items():
        out["frames_" + k] = sorted(v, key=lambda x: x[1])[len(v) // 2]
    return out


def put_file(run, src, path):
    """@src (a host file) written at @path in a guest that only runs
    commands: base64 in pieces that fit one request, decoded there."""
    with open(src, "rb") as f:
        text = base64.b64encode(f.read()).decode()
    run(f"rm -f {path}.b64")
    for i in range(0, len(text), 16384):
        run(f"echo '{text[i:i + 16384]}' >> {path}.b64")
    run(f"base64 -d {path}.b64 > {path} && rm {path}.b64 && chmod +x {path}")


# --- the slirp guest: raw QEMU and the agent protocol ----------------------

def slirp_vm(argv, upper, work):
    """Our VM with QEMU's slirp in place of our stack, eth0 as slirp
    addresses it."""
    ip4 = socket.inet_aton
    init = b"".join((tlv(9, b"slirp"), tlv(10, b"upper"), tlv(11, b"layer0"),
                     tlv(15, ip4("10.0.2.15") + bytes([24])),
                     tlv(16, ip4("10.0.2.2")), tlv(17, ip4("10.0.2.3")),
                     tlv(18, struct.pack(">I", 1500))))
    swap = lambda x: "user,id=net0" if x.startswith("stream,id=net0,") else x
    return RawVM(argv, upper, work, init, "slirp", swap)


def main():
    servers = (Server("down", SIZE), Server("up", SIZE), Server("conn"))
    bigdown, bigup = BigServer("bigdown"), BigServer("bigup")
    want = big_sum() if BIG else None
    hip = host_ip()
    argv, upper = qemu_argv(msb, HOME, "msb")
    accel = "kvm" if "kvm" in argv else "tcg"
    connloop = os.path.join(HOME, "connloop")
    subprocess.run(["musl-gcc", "-static", "-O2", "-o", connloop,
                    os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "connloop.c")], check=True)

    # Our stack twice: the guest's NIC over QEMU's netdev stream (the
    # default) and as the supervisor's vhost-user-net device
    # (MSB_NET_VHOST_USER=1, src/net/vnet.c).
    links = (("stream", "bench-net", {}),
             ("vhost-user", "bench-net-vu", {"MSB_NET_VHOST_USER": "1"}))
    for _, name, extra in links:
        msb("run", "--name", name, "-d", "--net-allow-cidr", f"{hip}/32",
            env=dict(ENV, **extra))
        msb("cp", connloop, f"{name}:/connloop")

    def ours_run(name):
        def run(cmd):
            p = msb("exec", name, "--", "sh", "-c", cmd, check=False)
            if p.returncode:
                sys.exit(f"msb guest: {cmd!r} exited {p.returncode}: "
                         f"{p.stderr.decode()}")
            return p.stdout
        return run

    def ours_pids(name):
        """The supervisor and what it started: the launcher, and QEMU
        below it."""
        def pids():
            out, todo = [], [json.loads(msb("inspect", name).stdout)["pid"]]
            while todo:
                p = todo.pop()
                out.append(p)
                with open(f"/proc/{p}/task/{p}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            return out
        return pids

    work = tempfile.mkdtemp(prefix="msb-raw-")
    vm = slirp_vm(argv, upper, work)
    put_file(vm.run, connloop, "/connloop")
    res = {}
    try:
        for label, name, _ in links:
            res[label] = measure(ours_run(name), hip, servers)
        slirp = measure(vm.run, "10.0.2.2", servers)
        if BIG:
            for label, name, _ in links:
                res[label].update(measure_big(ours_run(name), hip, bigdown,
                                              bigup, want, ours_pids(name)))
            slirp.update(measure_big(vm.run, "10.0.2.2", bigdown, bigup,
                                     want, lambda: [vm.q.pid]))
    finally:
        vm.close()
        for _, name, _ in links:
            msb("rm", "-f", name, check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)

    for label, _, _ in links:
        report(label, res[label], slirp, accel)


def report(link, ours, slirp, accel):
    print(f"\nnetwork, msb's NIC over {link}: {args.mib} MiB transfers, "
          f"{args.conns} connections, median of {args.runs} runs, {accel}, "
          f"{os.cpu_count()} host cpus")
    print(f"{'':28}{'msb stack':>12}{'slirp':>12}{'ratio':>8}")
    rows = (("download host->guest MiB/s", "down"),
            ("upload guest->host MiB/s", "up"),
            ("connections/s", "conn"),
            ("connections/s, one process", "conn1"))
    for label, k in rows:
        print(f"{label:28}{ours[k]:12.1f}{slirp[k]:12.1f}"
              f"{ours[k] / slirp[k]:8.2f}")

    def span(lo, hi):
        return "-".join(f"{x:.0f}" if x >= 1000 else f"{x:.1f}"
                        for x in (lo, hi))
    for label, k in rows:
        (a, b), (c, d) = ours["range"][k], slirp["range"][k]
        print(f"{'  range, ' + k:28}{span(a, b):>12}{span(c, d):>12}")
    for label, k in (("guest frames in/out, down", "frames_down"),
                     ("guest frames in/out, up", "frames_up")):
        print(f"{label:28}{'%d/%d' % ours[k]:>12}{'%d/%d' % slirp[k]:>12}")
    if not BIG:
        return
    for label, k in ((f"{args.big} MiB download, checksummed", "bigdown"),
                     (f"{args.big} MiB upload, checksummed", "bigup")):
        if k not in ours:
            continue
        (ts, tr, tv, to), (ss, sr, sv, so) = ours[k], slirp[k]
        print(f"{label:28}{'':12}{'':12}{'':8}\n"
              f"{'  seconds':28}{ts:12.1f}{ss:12.1f}{ss / ts:8.2f}\n"
              f"{'  MiB/s':28}{tr:12.1f}{sr:12.1f}{tr / sr:8.2f}\n"
              f"{'  guest vCPU, CPU s':28}{tv:12.1f}{sv:12.1f}"
              f"{sv / tv if tv else 0:8.2f}\n"
              f"{'  network side, CPU s':28}{to:12.1f}{so:12.1f}"
              f"{so / to if to else 0:8.2f}")


if __name__ == "__main__":
    main()
