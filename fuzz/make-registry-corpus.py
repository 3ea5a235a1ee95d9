#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-registry-corpus.py - seed inputs for fuzz/registry.c.

Each file is the parser's number (0 manifest, 1 index, 2 Bearer challenge,
3 error body) and what a registry would send it. The fuzzer mutates them.

Usage: fuzz/make-registry-corpus.py [DIR]   (default: fuzz/corpus/registry)
"""

import json
import os
import sys

D1, D2, D3 = ("sha256:" + h * 32 for h in ("ab", "cd", "ef"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "registry")
    os.makedirs(out, exist_ok=True)
    man = {"schemaVersion": 2,
           "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": D1, "size": 1234},
           "layers": [{"mediaType":
                       "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": D1, "size": 99},
                      {"mediaType":
                       "application/vnd.oci.image.layer.v1.tar+zstd",
                       "digest": D2, "size": 1}]}
    idx = {"schemaVersion": 2,
           "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"digest": D1, "size": 10,
                          "platform": {"os": "linux", "architecture": "arm64",
                                       "variant": "v8"}},
                         {"digest": D3, "size": 10,
                          "platform": {"os": "linux",
                                       "architecture": "amd64"}}]}
    err = {"errors": [{"code": "MANIFEST_UNKNOWN",
                       "message": "manifest unknown", "detail": {}}]}
    seeds = {
        "manifest": b"\0" + json.dumps(man).encode(),
        "index": b"\1" + json.dumps(idx).encode(),
        "challenge": b'\2Bearer realm="https://auth.example/token",'
                     b'service="registry.example",scope="repository:lib/x:pull"',
        "challenge-bare": b"\2Bearer realm=https://a/t,service=s",
        "errors": b"\3" + json.dumps(err).encode(),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
