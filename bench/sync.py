#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Cloud sync benchmark against a local registry (not a test).

One run, in this order, against Debian's docker-registry on loopback behind
a proxy that counts the bytes each way:

1. A sandbox holding a 500 MiB file of random bytes (copied in from a
   volume), stopped. `msb push` of it to an empty registry (first), `msb
   pull` of it into an empty $MSB_HOME (first); then 1 MiB of the file
   changed in the guest, `msb push` again and `msb pull` again over the
   copy pulled before (incremental).
2. The peer: `skopeo copy` of an OCI image of the same size (one layer: a
   tar of the same 500 MiB file) from an OCI layout to the same registry,
   and back into an empty layout; then of the image with the same 1 MiB
   changed (a layer is all or nothing: it goes whole).
3. Chunking: bench/chunkstat.c over the sandbox's disk before and after
   the change: what a second push would send with fixed windows of 256
   KiB to 16 MiB and with content-defined chunks; and the first push of
   the same disk end to end with 256 KiB, 1 MiB and 4 MiB chunks
   ($MSB_SYNC_CHUNK_KIB).

Usage: bench/sync.py [BUILD_DIR] [--mib 500]
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
import build  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--mib", type=int, default=500)
args, _ = ap.parse_known_args()
MSB = os.path.join(os.path.abspath(args.build), "bin", "msb")
MIB = 1 << 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    def __init__(self, root):
        self.port = free_port()
        os.makedirs(root, exist_ok=True)
        cfg = os.path.join(root, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {root}/data\nhttp:\n"
                    f"  addr: 127.0.0.1:{self.port}\n")
        self.p = subprocess.Popen([shutil.which("docker-registry"), "serve", cfg],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start")

    def stop(self):
        self.p.kill()
        self.p.wait()


class Proxy:
    """Counts bytes to (up) and from (down) the registry."""

    def __init__(self, port):
        self.port, self.up, self.down = port, 0, 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.host = f"127.0.0.1:{self.srv.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _pump(self, a, b, up):
        try:
            while True:
                d = a.recv(1 << 16)
                if not d:
                    break
                with self.lock:
                    if up:
                        self.up += len(d)
                    else:
                        self.down += len(d)
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self):
        while True:
            c, _ = self.srv.accept()
            u = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def take(self):
        with self.lock:
            r = (self.up, self.down)
            self.up = self.down = 0
        return r


def msb(home, *a, env=None, check=True):
    e = dict(os.environ, MSB_HOME=home)
    e.pop("MSB_PREFIX", None)
    e.update(env or {})
    p = subprocess.run([MSB, *a], capture_output=True, env=e, timeout=3600)
    if check and p.returncode:
        raise RuntimeError(f"msb {' '.join(a)}: {p.stderr.decode()[-800:]}")
    return p.stdout.decode()


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def layer_tar(data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("data/big")
        ti.size, ti.mtime = len(data), 1700000000
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def oci_layout(d, data):
    """An OCI layout of one uncompressed layer (the file), for skopeo."""
    layer = layer_tar(data)
    img = build.Image([(layer, "none")])
    build.write_layout(img, d, "big:1")


def main():
    work = tempfile.mkdtemp(prefix="msb-bench-sync-")
    reg = Registry(os.path.join(work, "reg"))
    px = Proxy(reg.port)
    rows = []
    try:
        build.Registry(f"http://127.0.0.1:{reg.port}").push(
            "busybox", "1", build.Image([(build.busybox_layer(), "gzip")]))
        src = os.path.join(work, "src")
        os.makedirs(src)
        data = bytearray(os.urandom(args.mib * MIB))
        with open(f"{src}/big", "wb") as f:
            f.write(data)
        off = (args.mib // 2) * MIB
        changed = os.urandom(MIB)
        with open(f"{src}/patch", "wb") as f:
            f.write(changed)
        a, b = os.path.join(work, "a"), os.path.join(work, "b")
        env = {"MSB_REMOTE": f"{px.host}/bench"}
        msb(a, "run", "--name", "big", "-v", f"{src}:/src:ro",
            f"127.0.0.1:{reg.port}/busybox:1", "--", "sh", "-c",
            "mkdir -p /data && cp /src/big /data/big && sync", env=env)
        disk = f"{a}/sandboxes/big/upper.ext4"
        before = os.path.join(work, "before.ext4")
        subprocess.run(["cp", "--sparse=always", disk, before], check=True)

        px.take()
        t = timed(lambda: msb(a, "push", "-q", "big", env=env))
        rows.append(("msb push, first", t, *px.take()))
        t = timed(lambda: msb(b, "pull", "-q", "--trust", "big", env=env))
        rows.append(("msb pull, first (empty home)", t, *px.take()))
        msb(a, "start", "big", env=env)
        msb(a, "exec", "big", "--", "sh", "-c",
            f"dd if=/src/patch of=/data/big bs=1M count=1 seek={off // MIB} "
            "conv=notrunc 2>/dev/null && sync", env=env)
        msb(a, "stop", "big", env=env)
        px.take()
        t = timed(lambda: msb(a, "push", "-q", "big", env=env))
        rows.append(("msb push, 1 MiB changed", t, *px.take()))
        t = timed(lambda: msb(b, "pull", "-q", "big", env=env))
        rows.append(("msb pull, 1 MiB changed (over the old copy)", t, *px.take()))

        # the peer: the same bytes as an image, skopeo to the same registry
        l1, l2 = os.path.join(work, "l1"), os.path.join(work, "l2")
        oci_layout(l1, bytes(data))
        data[off:off + MIB] = changed
        oci_layout(l2, bytes(data))
        dst = f"docker://{px.host}/peer/big:1"
        sk = ["skopeo", "copy", "-q", "--dest-tls-verify=false",
              "--src-tls-verify=false"]
        px.take()
        t = timed(lambda: subprocess.run(sk + [f"oci:{l1}:big:1", dst], check=True))
        rows.append(("skopeo copy layout -> registry, first", t, *px.take()))
        o1 = os.path.join(work, "o1")
        t = timed(lambda: subprocess.run(sk + [dst, f"oci:{o1}:big:1"], check=True))
        rows.append(("skopeo copy registry -> empty layout, first", t, *px.take()))
        t = timed(lambda: subprocess.run(sk + [f"oci:{l2}:big:1", dst], check=True))
        rows.append(("skopeo copy layout -> registry, 1 MiB changed", t, *px.take()))
        t = timed(lambda: subprocess.run(sk + [dst, f"oci:{o1}:big:1"], check=True))
        rows.append(("skopeo copy registry -> old layout, 1 MiB changed", t,
                     *px.take()))

        print(f"\nsync: a {args.mib} MiB sandbox (random bytes) against skopeo "
              f"copy of an image of the same file, same registry, one run")
        print("| | seconds | MB up | MB down |")
        print("|---|---|---|---|")
        for name, t, up, down in rows:
            print(f"| {name} | {t:.2f} | {up / 1e6:.1f} | {down / 1e6:.1f} |")

        # chunking schemes over the two disks
        tool = os.path.join(work, "chunkstat")
        subprocess.run(["cc", "-O2", "-o", tool,
                        os.path.join(ROOT, "bench", "chunkstat.c"), "-lcrypto"],
                       check=True)
        print("\nchunking: the disk before and after the change (raw bytes)")
        print("| scheme | chunks | second push sends | chunks sent |")
        print("|---|---|---|---|")
        for how, kib in (("fixed", 256), ("fixed", 1024), ("fixed", 4096),
                         ("fixed", 16384), ("cdc", 256), ("cdc", 1024)):
            out = subprocess.run([tool, how, str(kib), before, disk],
                                 capture_output=True, text=True, check=True).stdout
            oc, ob, nc, nb = map(int, out.split())
            print(f"| {how} {kib} KiB | {oc} | {nb / 1e6:.1f} MB | {nc} |")

        print("\nchunk size end to end: first push of the same disk, each to "
              "an empty repository")
        print("| chunk | seconds | MB up | blobs |")
        print("|---|---|---|---|")
        for kib in (256, 1024, 4096):
            c = os.path.join(work, f"c{kib}")
            # pulled straight from the registry, pushed through the
            # proxy: to the registry those are two names, so no blob is
            # mounted from the first repository
            msb(c, "pull", "-q", "--trust", "--name", "big",
                f"127.0.0.1:{reg.port}/bench/big", env=env)
            px.take()
            out = {}

            def push():
                out["o"] = msb(c, "push", "-q", "big",
                               f"{px.host}/size{kib}/big:1",
                               env=dict(env, MSB_SYNC_CHUNK_KIB=str(kib)))
            t = timed(push)
            up, _ = px.take()
            n = out["o"].split(" chunks")[0].rsplit(" ", 1)[1]
            print(f"| {kib} KiB | {t:.2f} | {up / 1e6:.1f} | {n} |")
    finally:
        for h in ("a", "b", "c256", "c1024", "c4096"):
            home = os.path.join(work, h)
            if os.path.isdir(home):
                for n in msb(home, "ps", "-a", "-q", check=False).split():
                    msb(home, "rm", "-f", n, check=False)
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)


main()
