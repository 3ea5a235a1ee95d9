#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-fuse-corpus.py - seed inputs for fuzz/fuse_fuzz.c: FUSE sessions.

Each file is a flags byte (bit 0 passthrough, bit 1 read-only, bit 2 POSIX
locks, bit 3 overlay, bit 4 proxy, bit 5 the overlay's upper layer on the
host) and chains: u16 LE length, u8 in-split seed, u8 out-split seed, then
a request as <linux/fuse.h> lays it out (fuse_in_header: u32 len, u32
opcode, u64 unique, u64 nodeid, u32 uid, u32 gid, u32 pid, u16
total_extlen, u16 padding; then the opcode's arguments). The fuzzer has
done INIT; node ids and handles follow what each backend hands out first
(memory: node 2 = handle 2; passthrough: node 2, handle 1).

Usage: fuzz/make-fuse-corpus.py [DIR]   (default: fuzz/corpus/fuse)
Stdlib only; the output is deterministic, so the files can be committed.
"""

import os
import struct
import sys

(LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK, MKNOD, MKDIR, UNLINK,
 RMDIR, RENAME, LINK, OPEN, READ, WRITE, STATFS, RELEASE) = (
    1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
FSYNC, SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR, FLUSH = 20, 21, 22, 23, 24, 25
OPENDIR, READDIR, RELEASEDIR, GETLK, SETLK, SETLKW, ACCESS, CREATE = (
    27, 28, 29, 31, 32, 33, 34, 35)
BATCH_FORGET, FALLOCATE, READDIRPLUS, RENAME2, LSEEK, COPY_FILE_RANGE = (
    42, 43, 44, 45, 46, 47)

unique = [10]


def req(op, node, args=b"", seed_in=3, seed_out=5):
    unique[0] += 1
    n = 40 + len(args)
    h = struct.pack("<IIQQIIIHH", n, op, unique[0], node, 0, 0, 77, 0, 0)
    body = h + args
    return struct.pack("<HBB", len(body), seed_in, seed_out) + body


def name(s):
    return s.encode() + b"\0"


def create(parent, nm, flags=2, mode=0o100644):
    return req(CREATE, parent, struct.pack("<IIII", flags, mode, 0o22, 0) + name(nm))


def write(node, fh, off, data):
    return req(WRITE, node, struct.pack("<QQIIQII", fh, off, len(data), 0, 0, 0, 0) + data)


def read(node, fh, off, size):
    return req(READ, node, struct.pack("<QQIIQII", fh, off, size, 0, 0, 0, 0))


def session(fh):
    s = [create(1, "f"), write(2, fh, 0, b"hello world" * 20),
         read(2, fh, 0, 4096),
         req(MKDIR, 1, struct.pack("<II", 0o755, 0o22) + name("d")),
         req(SYMLINK, 1, name("s") + name("f")),
         req(LINK, 3, struct.pack("<Q", 2) + name("h")),
         req(SETXATTR, 2, struct.pack("<II", 3, 0) + name("user.a") + b"xyz"),
         req(GETXATTR, 2, struct.pack("<II", 64, 0) + name("user.a")),
         req(LISTXATTR, 2, struct.pack("<II", 0, 0)),
         req(RENAME2, 1, struct.pack("<QII", 3, 0, 0) + name("f") + name("g")),
         req(OPENDIR, 1, struct.pack("<II", 0, 0)),
         req(READDIRPLUS, 1, struct.pack("<QQIIQII", fh + 1, 0, 4096, 0, 0, 0, 0)),
         req(FALLOCATE, 2, struct.pack("<QQQII", fh, 0, 8192, 0x3, 0)),
         req(LSEEK, 2, struct.pack("<QQII", fh, 0, 4, 0)),
         req(SETLK, 2, struct.pack("<QQQQIIII", fh, 1, 0, 99, 1, 5, 0, 0)),
         req(GETLK, 2, struct.pack("<QQQQIIII", fh, 2, 0, 2**63 - 1, 1, 6, 0, 0)),
         req(SETATTR, 2, struct.pack("<IIQQQQQQIIIIIIII", 0x9, 0, 0, 3, 0, 0, 0, 0,
                                     0, 0, 0, 0o600, 0, 0, 0, 0)),
         req(RELEASE, 2, struct.pack("<QIIQ", fh, 0, 0, 0)),
         req(FORGET, 2, struct.pack("<Q", 1)),
         req(BATCH_FORGET, 0, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", 2, 1, 3, 1)),
         req(UNLINK, 3, name("h")), req(STATFS, 1)]
    return b"".join(s)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "fuse")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "memory-session": b"\x00" + session(2),
        "passthrough-session": b"\x01" + session(1),
        "passthrough-locks": b"\x05" + session(1),
        "readonly": b"\x03" + session(1),
        "overlay": b"\x09" + session(1) + req(LOOKUP, 1, name("d"))
        + req(UNLINK, 2, name("g")) + req(RMDIR, 1, name("d")),
        "proxy-overlay": b"\x19" + session(1) + create(1, "x"),
        "overlay-host-upper": b"\x29" + session(1) + req(LOOKUP, 1, name("d"))
        + req(UNLINK, 2, name("g")),
        "escape": b"\x01" + req(LOOKUP, 1, name("..")) + req(LOOKUP, 1, name("../x"))
        + req(SYMLINK, 1, name("up") + name("..")) + req(LOOKUP, 2, name("etc"))
        + create(2, "x"),
        "short": b"\x00" + struct.pack("<HBB", 10, 0, 0) + b"\x28" + b"\0" * 9,
    }
    for nm, data in seeds.items():
        with open(os.path.join(out, nm), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
