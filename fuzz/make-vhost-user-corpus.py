#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-vhost-user-corpus.py - seed inputs for fuzz/vhost_user.c.

A front-end's whole session as QEMU runs it (features, protocol features,
the memory table with a memfd, a ring's size, addresses, base, call and
kick eventfds, enable), then a request chain written into guest memory
and a kick; and variants (REPLY_ACK asked, a ring stopped with
GET_VRING_BASE, indirect descriptors). The fuzzer mutates them.

With --net, seeds for build/fuzz/vnet (the same records against the
network stack's virtio-net device): both queues set up with the offloads
negotiated, receive buffers given, and frames sent behind their
virtio-net headers: an ARP request for the gateway, a UDP DNS query with
its checksum left to the device (NEEDS_CSUM), a TCP SYN the same way, and
a frame asking for segmentation (dropped).

Usage: fuzz/make-vhost-user-corpus.py [--net] [DIR]
  (default: fuzz/corpus/vhost_user, with --net fuzz/corpus/vnet)
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


NET_FEATURES = FEATURES | 1 | 2 | (1 << 7) | (1 << 8)


def ring_setup(q, base, flags=1):
    """queue @q's rings at guest address @base: descriptors, then the
    available ring at +0x400, the used ring at +0x800"""
    return (msg(8, state(q, 8), flags=flags)
            + msg(9, struct.pack("<IIQQQQ", q, 0, UVA + base,
                                 UVA + base + 0x800, UVA + base + 0x400, 0),
                  flags=flags)
            + msg(10, state(q, 0), flags=flags)
            + msg(13, u64(q), EVENTFD, flags)
            + msg(12, u64(q), EVENTFD, flags)
            + msg(18, state(q, 1), flags=flags))


def net_setup():
    return (msg(1) + msg(2, u64(NET_FEATURES)) + msg(15)
            + msg(16, u64(0b1001))
            + msg(5, struct.pack("<II", 1, 0) +
                  struct.pack("<QQQQ", 0, 0x10000, UVA, 0), MEMFD)
            + ring_setup(0, 0x0) + ring_setup(1, 0x1000))


def rx_buffers(n=4):
    """@n writable buffers of 2 KiB on queue 0, at 0x4000 on"""
    table = b"".join(desc(0x4000 + i * 0x800, 0x800, WRITE) for i in range(n))
    avail = struct.pack("<HH", 0, n) + b"".join(
        struct.pack("<H", i) for i in range(n))
    return poke(0x0, table) + poke(0x400, avail) + kick(0)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def ipv4(proto, payload, dst=bytes([10, 0, 2, 3])):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000,
                    64, proto, 0, bytes([10, 0, 2, 15]), dst)
    h = h[:10] + struct.pack(">H", 0xffff - csum(h)) + h[12:]
    return h, payload


def partial(proto, src, dst, l4, off):
    """@l4 with the pseudo-header's sum in its checksum field (off)"""
    ph = src + dst + struct.pack(">BBH", 0, proto, len(l4))
    return l4[:off] + struct.pack(">H", csum(ph)) + l4[off + 2:]


def tx_frames(frames):
    """frames (header, frame) on queue 1: one chain of two descriptors
    each, the header at 0x8000 + i * 0x800, the frame right after"""
    table, mem = b"", b""
    for i, (hdr, frame) in enumerate(frames):
        a = 0x8000 + i * 0x800
        table += desc(a, len(hdr), NEXT, 2 * i + 1) + desc(a + 12, len(frame))
        mem += poke(a, hdr + frame)
    n = len(frames)
    avail = struct.pack("<HH", 0, n) + b"".join(
        struct.pack("<H", 2 * i) for i in range(n))
    return poke(0x1000, table) + mem + poke(0x1400, avail) + kick(1)


def vnet_hdr(flags=0, gso=0, start=0, off=0):
    return struct.pack("<BBHHHHH", flags, gso, 0, 0, start, off, 1)


def net_seeds():
    eth = bytes([0x52, 0x54, 0, 0x12, 0x35, 2, 0x52, 0x54, 0, 0x12, 0x34,
                 0x56])
    arp = (b"\xff" * 6 + eth[6:] + b"\x08\x06" +
           struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + eth[6:] +
           bytes([10, 0, 2, 15]) + bytes(6) + bytes([10, 0, 2, 2]))
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" \
        b"\x07example\x03com\x00\x00\x01\x00\x01"
    udp = struct.pack(">HHHH", 40000, 53, 8 + len(q), 0) + q
    src, dst = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 3])
    iph, _ = ipv4(17, udp)
    dns = eth + b"\x08\x00" + iph + partial(17, src, dst, udp, 6)
    tcp = struct.pack(">HHIIBBHHH", 40001, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
    web = bytes([192, 0, 2, 80])
    iph, _ = ipv4(6, tcp, web)
    syn = eth + b"\x08\x00" + iph + partial(6, src, web, tcp, 16)
    start = 14 + 20
    return {
        "net-arp": net_setup() + rx_buffers() + tx_frames([(vnet_hdr(), arp)]),
        "net-dns-csum": net_setup() + rx_buffers() + tx_frames(
            [(vnet_hdr(1, 0, start, 6), dns)]),
        "net-syn-csum": net_setup() + rx_buffers() + tx_frames(
            [(vnet_hdr(1, 0, start, 16), syn), (vnet_hdr(), arp)]),
        "net-gso": net_setup() + rx_buffers() + tx_frames(
            [(vnet_hdr(1, 1, start, 16), syn)]),
        "net-rx-later": net_setup() + tx_frames([(vnet_hdr(), arp)])
        + rx_buffers(),
    }


def main():
    net = "--net" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "--net"]
    out = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus",
        "vnet" if net else "vhost_user")
    if net:
        os.makedirs(out, exist_ok=True)
        for name, data in net_seeds().items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        return
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
