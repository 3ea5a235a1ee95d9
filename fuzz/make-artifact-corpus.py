#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Seeds for fuzz/artifact.c: a sandbox manifest, a config blob (with
volumes, secrets and a network policy to drop), a snapshot's manifest and
config blob (with the maps of its RAM and device state) and a zstd chunk,
each behind the bytes that select it."""

import hashlib
import json
import os
import subprocess
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "artifact")
os.makedirs(out, exist_ok=True)


def d(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


raw = (b"ext4 superblock " * 300)[:4096]
chunk = subprocess.run(["zstd", "-q", "-3", "-c"], input=raw,
                       capture_output=True, check=True).stdout
cfg = {
    "format": 1, "name": "dev", "parent": d(b"p"),
    "image": {"reference": "127.0.0.1:5000/busybox:1", "digest": d(b"i"),
              "display": "127.0.0.1:5000/busybox:1"},
    "cpus": 1, "memory_mib": 512,
    "config": {"env": ["PATH=/bin", "K=msb_placeholder_" + "ab" * 16],
               "workdir": "/", "user": "1000", "entrypoint": ["sh"],
               "image_cmd": [], "cmd": ["sh", "-c", "x"],
               "boot_timeout_ms": 60000, "kernel": "msb",
               "net": {"allow": ["a.test", "*.b.test"], "allow_cidr": ["10.0.0.0/8"],
                       "block_cidr": ["1.2.3.0/24"], "deny_all": False,
                       "dns": "1.1.1.1:53", "ports": ["8080:80"]},
               "volumes": [{"guest": "/d", "kind": "memory", "size_mib": 8, "ro": False}],
               "secrets": [{"env": "K", "source": "env", "ref": "HOME",
                            "hosts": ["a.test"], "placeholder": "msb_placeholder_" + "ab" * 16}],
               "secret_violation": "block", "tls_bypass": ["x.test"]},
    "disk": {"size": 8 << 20, "chunk_size": 1 << 20, "compression": "zstd",
             "chunks": [[0, 1 << 20, d(chunk), d(raw), len(chunk)],
                        [3 << 20, 1 << 20, d(chunk), d(raw), len(chunk)]]},
}
cfgb = json.dumps(cfg).encode()
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "artifactType": "application/vnd.microsandbox.sandbox.v1+json",
       "config": {"mediaType": "application/vnd.microsandbox.sandbox.config.v1+json",
                  "digest": d(cfgb), "size": len(cfgb)},
       "layers": [{"mediaType": "application/vnd.microsandbox.disk.chunk.v1+zstd",
                   "digest": d(chunk), "size": len(chunk)}]}
snap = dict(cfg)
snap["snapshot"] = {
    "kind": "full", "reason": "", "engine": "7.2.19", "source": "dev",
    "created_at": 1700000000, "next_stream": 12,
    "ram": {"size": 512 << 20, "chunk_size": 1 << 20, "compression": "zstd",
            "chunks": [[0, 1 << 20, d(chunk), d(raw), len(chunk)]]},
    "state": {"size": 4096, "chunk_size": 1 << 20, "compression": "zstd",
              "chunks": [[0, 4096, d(chunk), d(raw), len(chunk)]]}}
snapb = json.dumps(snap).encode()
sman = dict(man, artifactType="application/vnd.microsandbox.snapshot.v1+json")
sman["config"] = {"mediaType": "application/vnd.microsandbox.snapshot.config.v1+json",
                  "digest": d(snapb), "size": len(snapb)}
seeds = {
    "manifest": b"\x00" + json.dumps(man).encode(),
    "config": b"\x01\x00" + cfgb,
    "snapshot-manifest": b"\x00" + json.dumps(sman).encode(),
    "snapshot-config": b"\x01\x01" + snapb,
    "chunk": b"\x02" + (len(raw) - 1).to_bytes(2, "big") + chunk,
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
