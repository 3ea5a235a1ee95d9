#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-corpus.py - seed inputs for fuzz/frame.c: agent link byte streams.

Each file is what a guest agent might write on the link: frames of a
12-byte header (u32 BE length, u32 BE stream, u8 type, u8 flags = 0,
u16 BE reserved = 0) and a payload, TLV records (u8 tag, u32 BE length,
value) where the frame type carries them. See src/proto/proto.h.

Usage: fuzz/make-corpus.py [DIR]   (default: fuzz/corpus/frame)
Stdlib only; the output is deterministic, so the files can be committed.
"""

import os
import struct
import sys

# enum msb_frame_type and enum msb_tag, from src/proto/proto.h
F_INIT, F_EXEC, F_STDIN, F_SIGNAL, F_RESIZE, F_SHUTDOWN = 1, 2, 3, 4, 5, 6
F_WINDOW, F_PING, F_PONG = 7, 8, 9
F_HELLO, F_READY, F_STARTED, F_STDOUT, F_STDERR = 64, 65, 66, 67, 68
F_EXIT, F_ERROR, F_LOG = 69, 70, 71
T_VERSION, T_AGENT, T_ARG, T_ENV, T_CWD, T_USER, T_TTY = 1, 2, 3, 4, 5, 6, 7
T_STDIN, T_HOSTNAME, T_UPPER, T_LAYER, T_TIME, T_TIMING = 8, 9, 10, 11, 12, 13
T_DETACH = 14
# file streams (docs/agent-protocol.md §7a)
F_FILE, F_RESULT = 13, 73
T_FOP, T_PATH, T_PATH2, T_MODE, T_FLAGS = 26, 27, 28, 29, 30
T_ERRNO, T_MESSAGE, T_SIZE, T_STAT, T_ENTRY, T_LINK = 31, 32, 33, 34, 35, 36
F_STATS, F_METRICS = 14, 74
T_G_MEM_TOTAL, T_G_MEM_AVAIL, T_G_PROCS, T_G_LOAD1 = 37, 38, 41, 44
FRAME_MAX = 64 * 1024


def frame(stream, ftype, payload=b"", flags=0, reserved=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">IIBBH", n, stream, ftype, flags, reserved) + payload


def tlv(tag, value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">BI", tag, len(value)) + value


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def fstat(mode, size, mtime=1700000000, nsec=5):
    return struct.pack(">IIIIQqII", mode, 1000, 100, 1, size, mtime, nsec, 0)


def entry(mode, size, name, link=b""):
    if isinstance(name, str):
        name = name.encode()
    return tlv(T_ENTRY, fstat(mode, size) + struct.pack(">H", len(name)) +
               name + link)


def seeds():
    hello = frame(0, F_HELLO, tlv(T_VERSION, u32(1)) + tlv(T_AGENT, "0.1.0"))
    ready = frame(0, F_READY, tlv(T_TIMING, "kernel=812000") +
                  tlv(T_TIMING, "rootfs=20500") + tlv(T_TIMING, "init=3100"))
    yield "boot", hello + ready + frame(0, F_LOG, b"agent: modules loaded")
    # The example exec of docs/api-protocol.md, as the guest answers it.
    yield "exec-transcript", (
        frame(1, F_STARTED, u32(211)) + frame(1, F_STDOUT, b"hi\n") +
        frame(1, F_STDERR, b"oops\n") +
        frame(1, F_EXIT, struct.pack(">iI", 3, 0)))
    yield "exec-killed", (
        frame(7, F_STARTED, u32(99)) + frame(7, F_WINDOW, u32(4096)) +
        frame(7, F_EXIT, struct.pack(">iI", 137, 9)))
    yield "exec-error", frame(3, F_ERROR, b"EXEC: bad ENV")
    yield "empty-frames", b"".join(
        frame(s, t) for s, t in ((1, F_STDOUT), (1, F_STDERR), (0, F_PONG),
                                 (2, F_STDIN), (1, F_EXIT)))
    yield "ping-pong", frame(0, F_PONG, u64(0x0123456789ABCDEF))
    yield "max-frame", frame(5, F_STDOUT, bytes(range(256)) * (FRAME_MAX // 256))
    # Host-to-guest payloads: the same TLV reader walks them.
    yield "exec-request", frame(4, F_EXEC, b"".join((
        tlv(T_ARG, "sh"), tlv(T_ARG, "-c"), tlv(T_ARG, "echo hi"),
        tlv(T_ENV, "PATH=/usr/bin:/bin"), tlv(T_CWD, "/root"),
        tlv(T_USER, "1000:1000"), tlv(T_TTY, struct.pack(">HH", 24, 80)),
        tlv(T_STDIN, u32(1)), tlv(T_DETACH, u32(1)), tlv(200, "future"))))
    yield "init", frame(0, F_INIT, tlv(T_HOSTNAME, "dev") +
                        tlv(T_UPPER, "upper") + tlv(T_LAYER, "layer0") +
                        tlv(T_TIME, u64(1700000000123456789)))
    # FILE streams: a read, a listing split across frames, a stat, errors.
    yield "file-read", (frame(2, F_STDOUT, b"hello\n") +
                        frame(2, F_RESULT, tlv(T_ERRNO, u32(0)) +
                              tlv(T_SIZE, u64(6))))
    listing = (entry(0o40755, 4096, "sub") + entry(0o100644, 3, "sub/a") +
               entry(0o120777, 1, "ln", b"sub/a") +
               entry(0o100600, 0, "../escape"))
    yield "file-list", (frame(3, F_STDOUT, listing[:30]) +
                        frame(3, F_STDOUT, listing[30:]) +
                        frame(3, F_RESULT, tlv(T_ERRNO, u32(0)) +
                              tlv(T_SIZE, u64(4))))
    yield "file-stat", frame(4, F_RESULT, tlv(T_ERRNO, u32(0)) +
                             tlv(T_STAT, fstat(0o120777, 9)) +
                             tlv(T_LINK, "/etc/hosts"))
    yield "file-error", frame(5, F_RESULT, tlv(T_ERRNO, u32(2)) +
                              tlv(T_MESSAGE, "open /x: No such file"))
    yield "file-request", frame(6, F_FILE, tlv(T_FOP, u32(7)) +
                                tlv(T_PATH, "/a") + tlv(T_PATH2, "/b") +
                                tlv(T_MODE, u32(0o644)) + tlv(T_FLAGS, u32(4)))
    yield "metrics", frame(9, F_METRICS, tlv(T_G_MEM_TOTAL, u64(512 << 20)) +
                           tlv(T_G_MEM_AVAIL, u64(400 << 20)) +
                           tlv(T_G_PROCS, u32(7)) + tlv(T_G_LOAD1, u64(2**64 - 1)))
    # Malformed: what must make the host drop the link.
    yield "bad-flags", frame(1, F_STDOUT, b"ok") + frame(1, F_STDOUT, b"x", flags=1)
    yield "bad-reserved", frame(1, F_STDOUT, b"x", reserved=0x100)
    yield "too-long", frame(1, F_STDOUT, b"", length=FRAME_MAX + 1)
    yield "truncated", frame(1, F_STDOUT, b"abcdef")[:-3]
    yield "tlv-truncated", frame(0, F_HELLO, tlv(T_VERSION, u32(1))[:-2])
    yield "tlv-huge-length", frame(0, F_READY, struct.pack(">BI", T_TIMING,
                                                            0xFFFFFFFF))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "frame")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
