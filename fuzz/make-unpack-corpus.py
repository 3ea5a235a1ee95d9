#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-unpack-corpus.py - seed layers for fuzz/unpack.c.

Small tar streams of each kind a layer has: directories, files, symlinks,
hard links, a device node, a FIFO, OCI whiteouts (".wh.NAME" and the
opaque ".wh..wh..opq"), pax headers with xattrs, gzip compression; and the
escapes unpack.c must refuse ("../x", "/abs", a symlink to follow out, a
hard link to outside). The fuzzer mutates them.

Usage: fuzz/make-unpack-corpus.py [DIR]   (default: fuzz/corpus/unpack)
"""

import gzip
import io
import os
import sys
import tarfile


def tar(entries, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for e in entries:
            data = e.pop("data", None)
            ti = tarfile.TarInfo(e.pop("name"))
            for k, v in e.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return b.getvalue()


D, F, L, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "unpack")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "tree": tar([
            {"name": "etc", "type": D, "mode": 0o755},
            {"name": "etc/hostname", "type": F, "data": b"box\n", "mode": 0o644},
            {"name": "bin", "type": D, "mode": 0o755},
            {"name": "bin/sh", "type": F, "data": b"\x7fELF", "mode": 0o4755,
             "uid": 0, "gid": 0},
            {"name": "bin/ash", "type": L, "linkname": "sh"},
            {"name": "bin/hard", "type": H, "linkname": "bin/sh"},
        ]),
        "whiteouts": tar([
            {"name": "a", "type": D, "mode": 0o755},
            {"name": "a/.wh..wh..opq", "type": F, "data": b""},
            {"name": "a/.wh.gone", "type": F, "data": b""},
            {"name": ".wh.old", "type": F, "data": b""},
            {"name": "a/new", "type": F, "data": b"x"},
        ]),
        "special": tar([
            {"name": "dev", "type": D, "mode": 0o755},
            {"name": "dev/null", "type": tarfile.CHRTYPE, "devmajor": 1,
             "devminor": 3, "mode": 0o666},
            {"name": "dev/fifo", "type": tarfile.FIFOTYPE, "mode": 0o600},
        ]),
        "pax-xattr": tar([
            {"name": "f", "type": F, "data": b"data",
             "pax_headers": {"SCHILY.xattr.user.k": "v",
                             "SCHILY.xattr.security.capability": "\x01"}},
        ]),
        "escape-dotdot": tar([{"name": "../evil", "type": F, "data": b"x"}]),
        "escape-abs": tar([{"name": "/evil", "type": F, "data": b"x"}],
                          fmt=tarfile.GNU_FORMAT),
        "escape-symlink": tar([
            {"name": "up", "type": L, "linkname": ".."},
            {"name": "up/evil", "type": F, "data": b"x"},
        ]),
        "escape-hardlink": tar([
            {"name": "h", "type": H, "linkname": "../outside/sentinel"},
        ]),
        "ustar-long": tar([{"name": "d" * 60 + "/" + "n" * 90, "type": F,
                            "data": b"long"}], fmt=tarfile.USTAR_FORMAT),
    }
    seeds["tree.gz"] = gzip.compress(seeds["tree"], mtime=0)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
