#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-vhost-user-corpus.py - seed inputs for fuzz/vhost_user.c.

A front-end's whole session as QEMU runs it (features, protocol features,
the memory table with a memfd, a ring's size, addresses, base, call and
kick eventfds, enable), then a request chain written into guest memory
and a kick; and variants (REPLY_ACK asked, a ring stopped with
GET_VRING_BASE, indirect descriptors). The fuzzer mutates them.

Usage: fuzz/make-vhost-user-corpus.py [DIR]   (default: fuzz/corpus/vhost_user)
"""

import os
import struct
import sys

UVA = 0x7f0000000000
NONE, MEMFD, MEMFD2, EVENTFD = 0, 1, 2, 3
NEXT, WRITE, INDIRECT = 1, 2, 4
FEATURES = (1 << 32) | (1 << 28) | (1 << 29) | (1 << 30)


def msg(req, payload=b"", kind=NONE, flags=1):
    return struct.pack("<BBBHB", 0, req, flags, len(payload), kind) + payload


def kick(q):
    return bytes([1, q])


def poke(off, data):
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += struct.pack("<BHB", 2, off, len(chunk)) + chunk
        off += len(chunk)
    return out


def u64(v):
    return struct.pack("<Q", v)


def state(i, num):
    return struct.pack("<II", i, num)


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def setup(q=1, flags=1):
    return (msg(1, flags=flags) + msg(2, u64(FEATURES), flags=flags)
            + msg(15, flags=flags) + msg(16, u64(0b1001), flags=flags)
            + msg(5, struct.pack("<II", 1, 0) +
                  struct.pack("<QQQQ", 0, 0x10000, UVA, 0), MEMFD, flags)
            + msg(8, state(q, 16), flags=flags)
            + msg(9, struct.pack("<IIQQQQ", q, 0, UVA, UVA + 0x2000,
                                 UVA + 0x1000, 0), flags=flags)
            + msg(10, state(q, 0), flags=flags)
            + msg(13, u64(q), EVENTFD, flags)
            + msg(12, u64(q), EVENTFD, flags)
            + msg(18, state(q, 1), flags=flags))


def request(q=1, indirect=False):
    fuse_in = struct.pack("<IIQQIIII", 40, 3, 1, 1, 0, 0, 0, 0)  # GETATTR
    if indirect:
        table = desc(0x3000, len(fuse_in), NEXT, 1) + desc(0x4000, 120, WRITE)
        ring = desc(0x5000, len(table), INDIRECT)
        mem = poke(0x0, ring) + poke(0x5000, table)
    else:
        mem = poke(0x0, desc(0x3000, len(fuse_in), NEXT, 1) +
                   desc(0x4000, 120, WRITE))
    avail = struct.pack("<HHH", 0, 1, 0)
    return mem + poke(0x1000, avail) + poke(0x3000, fuse_in) + kick(q)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "vhost_user")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "session": setup() + request(),
        "session-ack": setup(flags=1 | 8) + request(),
        "hiprio": setup(q=0) + request(q=0),
        "indirect": setup() + request(indirect=True),
        "stop": setup() + request() + msg(11, state(1, 0)) + kick(1),
        "reset": setup() + msg(4) + request(),
        "two-regions": msg(5, struct.pack("<II", 2, 0) +
                           struct.pack("<QQQQ", 0, 0x10000, UVA, 0) +
                           struct.pack("<QQQQ", 0x100000, 0x10000,
                                       UVA + 0x100000, 0), MEMFD2),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
