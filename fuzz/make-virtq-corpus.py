#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-virtq-corpus.py - seed inputs for fuzz/virtq_fuzz.c: guest rings.

Each file is the 4-byte queue setup (log2 size, feature bits, u16 LE
last_avail) and the guest's memory: descriptor table at gpa 0x0, available
ring at 0x1000, used ring at 0x2000, buffers after 0x3000 and in the second
region at 0x10000. Chains here are well formed; the fuzzer breaks them.

Usage: fuzz/make-virtq-corpus.py [DIR]   (default: fuzz/corpus/virtq)
"""

import os
import struct
import sys

NEXT, WRITE, INDIRECT = 1, 2, 4


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def image(size_log2, features, descs, heads, extra=None, last_avail=0):
    mem = bytearray(0x4000 + 0x1000)
    table = b"".join(descs)
    mem[0:len(table)] = table
    num = 1 << size_log2
    mem[0x1000:0x1004] = struct.pack("<HH", 0, (last_avail + len(heads)) & 0xffff)
    for i, h in enumerate(heads):
        slot = 0x1004 + 2 * ((last_avail + i) % num)
        mem[slot:slot + 2] = struct.pack("<H", h)
    for off, data in (extra or {}).items():
        mem[off:off + len(data)] = data
    # the target zero-fills what the input leaves out
    return (struct.pack("<BBH", size_log2, features, last_avail)
            + bytes(mem).rstrip(b"\0"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "corpus", "virtq")
    os.makedirs(out, exist_ok=True)
    seeds = {
        # a FUSE-like request: header in, reply header out, data page out
        "direct": image(4, 0, [desc(0x3000, 48, NEXT, 1),
                               desc(0x3100, 16, WRITE | NEXT, 2),
                               desc(0x10000, 4096, WRITE)], [0]),
        # the same through an indirect table at 0x3800
        "indirect": image(4, 1, [desc(0x3800, 48, INDIRECT)], [0], {
            0x3800: desc(0x3000, 48, NEXT, 1) + desc(0x3100, 16, WRITE | NEXT, 2)
            + desc(0x10000, 4096, WRITE)}),
        # two chains, event index on, wrapping last_avail
        "event-idx": image(2, 2, [desc(0x3000, 8), desc(0x3100, 8, WRITE)],
                           [0, 1], last_avail=0xffff),
        # a loop the walker must refuse
        "loop": image(3, 0, [desc(0x3000, 8, NEXT, 1), desc(0x3000, 8, NEXT, 0)],
                      [0]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
