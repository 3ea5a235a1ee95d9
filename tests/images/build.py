# SPDX-License-Identifier: Apache-2.0
"""Test images, built from scratch and pushed to a registry.

Layers are tar streams made with tarfile (owners, modes, hard links,
symlinks, device nodes, PAX xattrs, OCI whiteouts), compressed with gzip or
the zstd command; manifests, configs and indexes are written by hand and
pushed over the registry API (monolithic blob uploads, PUT of manifests),
so every byte of every image is known to the tests.

    python3 build.py http://127.0.0.1:5000     # push every image
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Tar:
    """A layer being written."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.t = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name, typ=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0,
            link="", major=0, minor=0, xattrs=None):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.mtime = 1700000000
        ti.linkname = link
        ti.devmajor, ti.devminor = major, minor
        if xattrs:
            ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        if typ == tarfile.REGTYPE:
            ti.size = len(data)
            self.t.addfile(ti, io.BytesIO(data))
        else:
            self.t.addfile(ti)

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.add(name, tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid)

    def raw(self):
        self.t.close()
        return self.buf.getvalue()


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, mtime=0), MT_LAYER_GZ
    if how == "zstd":
        out = subprocess.run(["zstd", "-q", "-c", "-"], input=raw,
                             stdout=subprocess.PIPE, check=True).stdout
        return out, MT_LAYER_ZSTD
    return raw, MT_LAYER_TAR


def busybox_layer():
    t = Tar()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys",
              "dev", "run", "home", "var"):
        t.dir(d)
    t.dir("root", 0o700)
    t.dir("tmp", 0o1777)
    t.dir("home/user", 0o755, 1000, 1000)
    with open(BUSYBOX, "rb") as f:
        t.add("bin/busybox", data=f.read(), mode=0o755)
    apps = subprocess.run([BUSYBOX, "--list-full"], capture_output=True,
                          text=True, check=True).stdout.split()
    for app in apps:
        if app != "bin/busybox":
            t.add(app, tarfile.SYMTYPE, link="/bin/busybox", mode=0o777)
    t.add("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
          b"user:x:1000:1000:user:/home/user:/bin/sh\n")
    t.add("etc/group", data=b"root:x:0:\nuser:x:1000:\n")
    return t.raw()


class Image:
    def __init__(self, layers, config=None, arch="amd64", docker=False):
        """@layers: [(raw tar bytes, "gzip"|"zstd"|"none")], bottom first."""
        self.blobs = {}
        descs, diff_ids = [], []
        for raw, how in layers:
            data, mt = compress(raw, how)
            if docker:
                mt = MT_DOCKER_LAYER
            d = sha(data)
            self.blobs[d] = data
            descs.append({"mediaType": mt, "digest": d, "size": len(data)})
            diff_ids.append(sha(raw))
        cfg = {"architecture": arch, "os": "linux",
               "config": config or {"Env": [PATH_ENV], "Cmd": ["sh"]},
               "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        cb = json.dumps(cfg).encode()
        self.blobs[sha(cb)] = cb
        man = {"schemaVersion": 2,
               "mediaType": MT_DOCKER_MANIFEST if docker else MT_MANIFEST,
               "config": {"mediaType": MT_DOCKER_CONFIG if docker else MT_CONFIG,
                          "digest": sha(cb), "size": len(cb)},
               "layers": descs}
        self.manifest = json.dumps(man).encode()
        self.media_type = man["mediaType"]
        self.arch = arch
        self.layer_digests = [d["digest"] for d in descs]


class Registry:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def _req(self, method, path, data=None, headers=None):
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers=headers or {})
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, dict(resp.headers)

    def blob(self, name, digest, data):
        try:
            self._req("HEAD", f"/v2/{name}/blobs/{digest}")
            return
        except urllib.error.HTTPError:
            pass
        _, h = self._req("POST", f"/v2/{name}/blobs/uploads/")
        loc = h["Location"]
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        r = urllib.request.Request(f"{loc}{sep}digest={digest}", data=data,
                                   method="PUT",
                                   headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(r, timeout=60).close()

    def manifest(self, name, ref, body, media_type):
        self._req("PUT", f"/v2/{name}/manifests/{ref}", data=body,
                  headers={"Content-Type": media_type})

    def push(self, name, tag, img):
        for d, data in img.blobs.items():
            self.blob(name, d, data)
        self.manifest(name, tag, img.manifest, img.media_type)

    def push_index(self, name, tag, imgs):
        ms = []
        for img in imgs:
            for d, data in img.blobs.items():
                self.blob(name, d, data)
            md = sha(img.manifest)
            self.manifest(name, md, img.manifest, img.media_type)
            ms.append({"mediaType": img.media_type, "digest": md,
                       "size": len(img.manifest),
                       "platform": {"architecture": img.arch, "os": "linux"}})
        idx = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX,
                          "manifests": ms}).encode()
        self.manifest(name, tag, idx, MT_INDEX)
        return sha(idx)


# security.capability, VFS_CAP_REVISION_2 with the effective bit:
# cap_net_raw permitted and effective (ping's "cap_net_raw=ep").
CAP_NET_RAW_EP = "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12


def privs_binary():
    """tests/images/privs.c, static (musl), for the guest."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "privs.c")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "privs")
        subprocess.run(["musl-gcc", "-static", "-Os", "-s", "-o", out, src],
                       check=True)
        with open(out, "rb") as f:
            return f.read()


def multi_layers():
    """Three layers: busybox; files of every kind, setuid and
    file-capability programs among them; deletions (zstd)."""
    l2 = Tar()
    l2.dir("data", 0o755, 1000, 1000)
    l2.add("data/a", data=b"alpha\n", mode=0o640, uid=1000, gid=1000,
           xattrs={"user.test": "hello"})
    l2.add("data/hard1", data=b"same inode\n", mode=0o600)
    l2.add("data/hard2", tarfile.LNKTYPE, link="data/hard1")
    l2.add("data/link", tarfile.SYMTYPE, link="a", mode=0o777)
    l2.add("data/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3)
    l2.add("data/gone.txt", data=b"deleted later\n")
    l2.add("data/setuid", data=b"#!/bin/sh\n", mode=0o4755)
    privs = privs_binary()
    l2.add("data/privs-suid", data=privs, mode=0o4755)
    l2.add("data/privs-cap", data=privs, mode=0o755,
           xattrs={"security.capability": CAP_NET_RAW_EP})
    l2.add("data/privs", data=privs, mode=0o755)
    l2.dir("opq")
    l2.add("opq/keep1", data=b"1")
    l2.add("opq/keep2", data=b"2")
    l3 = Tar()
    l3.dir("data", 0o755, 1000, 1000)
    l3.add("data/.wh.gone.txt")
    l3.dir("opq")
    l3.add("opq/.wh..wh..opq")
    l3.add("opq/new", data=b"new\n")
    l3.add("data/c", data=b"from zstd\n")
    return [(busybox_layer(), "gzip"), (l2.raw(), "gzip"), (l3.raw(), "zstd")]


MULTI_CONFIG = {"Env": [PATH_ENV, "FOO=bar"], "Entrypoint": ["/bin/echo", "ep"],
                "Cmd": ["default-cmd"], "WorkingDir": "/data", "User": "1000:1000"}


def many_layers():
    """Seven layers (more than the disks a sandbox gets): the top ones are
    merged, their whiteouts and opaque dirs still hiding the lower disks."""
    ls = [(busybox_layer(), "gzip")]
    for i in range(1, 7):
        t = Tar()
        t.dir("many")
        t.add(f"many/f{i}", data=f"{i}\n".encode())
        if i == 2:
            t.dir("many/d")
            t.add("many/d/x", data=b"x")
            t.add("many/del-low", data=b"low")
        if i == 4:
            t.add("many/d/y", data=b"y")
            t.add("many/del-mid", data=b"mid")
        if i == 5:
            t.add("many/.wh.del-low")
            t.add("many/.wh.del-mid")
            t.add("many/.wh.f4")
        if i == 6:
            t.dir("many/d")
            t.add("many/d/.wh..wh..opq")
            t.add("many/d/z", data=b"z")
            t.add("many/.wh.f5")
        ls.append((t.raw(), "gzip" if i % 2 else "none"))
    return ls


def hostile():
    """Layers that must be refused: name -> (raw tar, compression)."""
    out = {}
    t = Tar()
    t.add("../escape", data=b"x")
    out["evil-dotdot"] = (t.raw(), "gzip")
    t = Tar()
    t.add("/abs-escape", data=b"x")
    out["evil-abs"] = (t.raw(), "gzip")
    t = Tar()
    t.add("etc", tarfile.SYMTYPE, link="/tmp")
    t.add("etc/msb-pwned", data=b"x")
    out["evil-symlink"] = (t.raw(), "gzip")
    t = Tar()
    t.add("hl", tarfile.LNKTYPE, link="../../etc/passwd")
    out["evil-hardlink"] = (t.raw(), "gzip")
    t = Tar()
    for i in range(3000):
        t.add(f"f{i}", data=b"")
    out["evil-count"] = (t.raw(), "gzip")
    # 256 MiB of zeros: a 250 KB gzip blob.
    t = Tar()
    zeros = b"\0" * (256 << 20)
    t.add("bomb", data=zeros)
    del zeros
    out["evil-bomb"] = (t.raw(), "gzip")
    return out


def write_layout(img, d, name=None):
    """@img as an OCI image layout directory (image-spec §image-layout);
    @name goes in the org.opencontainers.image.ref.name annotation."""
    os.makedirs(f"{d}/blobs/sha256", exist_ok=True)
    with open(f"{d}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    blobs = dict(img.blobs)
    blobs[sha(img.manifest)] = img.manifest
    for dg, data in blobs.items():
        with open(f"{d}/blobs/sha256/{dg[7:]}", "wb") as f:
            f.write(data)
    desc = {"mediaType": img.media_type, "digest": sha(img.manifest),
            "size": len(img.manifest)}
    if name:
        desc["annotations"] = {"org.opencontainers.image.ref.name": name}
    with open(f"{d}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": MT_INDEX,
                   "manifests": [desc]}, f)


def tar_dir(d):
    """A directory as tar bytes, entries relative to it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in sorted(os.listdir(d)):
            t.add(os.path.join(d, name), arcname=name)
    return buf.getvalue()


def docker_archive(layers, config, repotag):
    """A `docker save` archive as Docker before 25 wrote it: ID/layer.tar
    (uncompressed), ID/VERSION, ID/json, CONFIGHEX.json, manifest.json,
    repositories. @layers: raw tars, bottom first."""
    diff_ids = [sha(raw) for raw in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    chex = hashlib.sha256(cfg).hexdigest()
    t = Tar()
    paths, parent = [], ""
    for raw in layers:
        lid = hashlib.sha256((parent + sha(raw)).encode()).hexdigest()
        t.dir(lid)
        t.add(f"{lid}/VERSION", data=b"1.0")
        t.add(f"{lid}/json", data=json.dumps({"id": lid, "parent": parent}).encode())
        t.add(f"{lid}/layer.tar", data=raw)
        paths.append(f"{lid}/layer.tar")
        parent = lid
    t.add(f"{chex}.json", data=cfg)
    repo, tag = repotag.rsplit(":", 1)
    t.add("manifest.json", data=json.dumps(
        [{"Config": f"{chex}.json", "RepoTags": [repotag], "Layers": paths}]).encode())
    t.add("repositories", data=json.dumps({repo: {tag: parent}}).encode())
    return t.raw()


def push_all(base):
    reg = Registry(base)
    info = {}
    bb = Image([(busybox_layer(), "gzip")])
    reg.push("busybox", "1", bb)
    info["busybox"] = bb.layer_digests
    # The same base layer in a Docker v2 schema 2 manifest.
    reg.push("dockerv2", "1", Image([(busybox_layer(), "gzip")], docker=True))
    multi = Image(multi_layers(), MULTI_CONFIG)
    reg.push("multi", "1", multi)
    info["multi"] = multi.layer_digests
    reg.push("many", "1", Image(many_layers()))
    arm = Image([(busybox_layer(), "gzip")], arch="arm64",
                config={"Env": [PATH_ENV], "Cmd": ["echo", "arm64"]})
    amd = Image([(busybox_layer(), "gzip")],
                config={"Env": [PATH_ENV], "Cmd": ["echo", "amd64"]})
    reg.push_index("multiarch", "1", [arm, amd])
    reg.push_index("armonly", "1", [arm])
    for name, layer in hostile().items():
        reg.push(name, "1", Image([layer]))
    return info


if __name__ == "__main__":
    print(json.dumps(push_all(sys.argv[1])))
