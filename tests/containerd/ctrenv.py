# SPDX-License-Identifier: Apache-2.0
"""A containerd of the test's own (state, sockets and logs under one temp
dir) that finds containerd-shim-msb-v2 in the build, an OCI image tar of
busybox made here, and ctr against them. Used by tests/e2e/test_containerd.py
and bench/shim.py."""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "echo", "cat", "sleep", "id", "pwd", "env", "ls", "true",
           "false", "hostname", "ps", "mount", "printenv", "grep", "test",
           "wc", "kill", "head", "httpd", "wget", "ip", "mkdir"]


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def busybox_image_tar(path, ref, pause=False):
    """An OCI layout tar (what `ctr image import` takes) of one layer:
    busybox and a few applet links, PATH set, /tmp, a user 1000. With
    @pause, a pod's pause image: /pause sleeps until a signal ends it."""
    lbuf = io.BytesIO()
    with tarfile.open(fileobj=lbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(name, typ=tarfile.DIRTYPE, data=b"", mode=0o755, link=""):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.linkname = typ, mode, 1700000000, link
            ti.size = len(data) if typ == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "home/user"]:
            add(d, mode=0o1777 if d == "tmp" else 0o755)
        with open(BUSYBOX, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, f.read(), 0o755)
        for a in APPLETS:
            add("bin/" + a, tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("etc/passwd", tarfile.REGTYPE,
            b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", 0o644)
        add("etc/group", tarfile.REGTYPE, b"root:x:0:\nuser:x:1000:\n", 0o644)
        if pause:
            add("pause", tarfile.REGTYPE, b"#!/bin/sh\nexec sleep 2147483647\n", 0o755)
    raw = lbuf.getvalue()
    layer = gzip.compress(raw, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin", "FROM_IMAGE=yes"], "WorkingDir": "/",
                   **({"Entrypoint": ["/pause"]} if pause else {"Cmd": ["sh"]})},
        "rootfs": {"type": "layers", "diff_ids": [sha(raw)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(layer), "size": len(layer)}],
    }).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha(manifest), "size": len(manifest),
                       "annotations": {"io.containerd.image.name": ref,
                                       "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}}],
    }).encode()
    with tarfile.open(path, "w") as t:
        def put(name, data):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1700000000
            t.addfile(ti, io.BytesIO(data))
        put("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        put("index.json", index)
        for b in (config, manifest, layer):
            put("blobs/sha256/" + sha(b)[7:], b)


class Containerd:
    """containerd with its root, state, sockets and log under @tmp."""

    def __init__(self, tmp, build, binary="containerd", cri=False, extra="", env=None):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "c.sock")
        self.home = os.path.join(tmp, "msb")
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        self.log_path = os.path.join(tmp, "containerd.log")
        disabled = [] if cri else ['"io.containerd.grpc.v1.cri"']
        cfg = f"""version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = [{", ".join(disabled)}]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  level = "debug"
{extra}
"""
        self.config = os.path.join(tmp, "config.toml")
        with open(self.config, "w") as f:
            f.write(cfg)
        self.env = dict(os.environ, MSB_HOME=self.home,
                        PATH=os.path.join(build, "bin") + ":" + os.environ.get("PATH", ""),
                        **(env or {}))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary, "--config", self.config], env=self.env,
                                     stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.ctr("version", check=None).returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start:\n" + self.log_tail())
            time.sleep(0.2)

    def log_tail(self, n=6000):
        with open(self.log_path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")

    def ctr(self, *args, ns="msbtest", check=0, timeout=180, input=None):
        p = subprocess.run(["ctr", "-a", self.sock, "-n", ns, *args], env=self.env,
                           capture_output=True, timeout=timeout,
                           input=input if input is not None else b"")
        if check is not None and p.returncode != check:
            raise AssertionError(
                f"ctr {' '.join(args)} exited {p.returncode}, wanted {check}\n"
                f"stdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr[-2000:]!r}\n"
                f"containerd log:\n{self.log_tail()}")
        return p

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def shim_pids(sock):
    """The pids of the msb shims serving containerd @sock."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-msb-v2") and sock.encode() in argv \
                and b"start" not in argv and b"delete" not in argv:
            out.append(int(pid))
    return out


def teardown_mounts(tmp):
    """Whatever stays mounted under @tmp (a failed test's) is detached."""
    with open("/proc/self/mountinfo") as f:
        mps = [l.split()[4] for l in f]
    for mp in sorted((m for m in mps if m.startswith(tmp + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
