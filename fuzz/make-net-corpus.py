#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-net-corpus.py - seed scripts for fuzz/net.c: a guest's frames.

Each file is a script of operations (see fuzz/net.c): frames with their
checksums left for the harness to fix (op 0x80), host socket data, time
passing, host socket closes. The frames are what a guest at 10.0.2.15
sends: ARP for the gateway, a ping, a DNS query, a whole TCP connection,
and the same over IPv6 (neighbour solicitation, ICMPv6 echo, an AAAA
query, TCP), plus pings beyond the gateway.

Usage: fuzz/make-net-corpus.py [DIR]   (default: fuzz/corpus/net)
Stdlib only; the output is deterministic, so the files can be committed.
"""

import os
import struct
import sys

GMAC = bytes.fromhex("525400123456")
HMAC = bytes.fromhex("525400123502")
GUEST, GW, DNS, REMOTE = (bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2]),
                          bytes([10, 0, 2, 3]), bytes([198, 51, 100, 7]))


def eth(t, payload, dst=HMAC):
    return dst + GMAC + struct.pack(">H", t) + payload


def ip4(proto, dst, payload):
    return eth(0x0800, struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload),
                                   1, 0x4000, 64, proto, 0, GUEST, dst) + payload)


def tcp(seq, ack, flags, data=b"", opts=b"", sport=40000, dport=80):
    off = (20 + len(opts)) // 4
    return ip4(6, REMOTE, struct.pack(">HHIIBBHHH", sport, dport, seq, ack,
                                      off << 4, flags, 65535, 0, 0) + opts + data)


GUEST6 = bytes.fromhex("fd6d7362000000000000000000000015")
GW6 = bytes.fromhex("fd6d7362000000000000000000000002")
DNS6 = bytes.fromhex("fd6d7362000000000000000000000003")
REMOTE6 = bytes.fromhex("20010db8000000000000000000000007")


def ip6(proto, dst, payload, src=GUEST6, hops=64):
    return eth(0x86dd, struct.pack(">IHBB16s16s", 0x60000000, len(payload),
                                   proto, hops, src, dst) + payload)


def tcp6(seq, ack, flags, data=b"", opts=b"", sport=40000, dport=80):
    off = (20 + len(opts)) // 4
    return ip6(6, REMOTE6, struct.pack(">HHIIBBHHH", sport, dport, seq, ack,
                                       off << 4, flags, 65535, 0, 0) + opts + data)


def frame(f):
    return bytes([0x80]) + struct.pack(">H", len(f)) + f


def host(data):
    return bytes([1, len(data)]) + data


def tick(n):
    return bytes([2, n])


ARP = eth(0x0806, struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, GMAC,
                              GUEST, b"\0" * 6, GW), dst=b"\xff" * 6)
PING = ip4(1, GW, struct.pack(">BBHHH", 8, 0, 0, 1, 1) + b"ping")
QNAME = b"\x07example\x03com\x00"
DNSQ = ip4(17, DNS, struct.pack(">HHHH", 5353, 53, 8 + 12 + len(QNAME) + 4, 0)
           + struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + QNAME
           + struct.pack(">HH", 1, 1))
UDP = ip4(17, REMOTE, struct.pack(">HHHH", 5000, 7, 8 + 5, 0) + b"hello")
SYN = tcp(1000, 0, 0x02, opts=bytes([2, 4, 5, 0xb4, 1, 3, 3, 7]))

NS = ip6(58, bytes.fromhex("ff0200000000000000000001ff000002"),
         struct.pack(">BBHI16s", 135, 0, 0, 0, GW6) + bytes([1, 1]) + GMAC,
         hops=255)
PING6 = ip6(58, GW6, struct.pack(">BBHHH", 128, 0, 0, 1, 1) + b"ping")
PING6_OUT = ip6(58, REMOTE6, struct.pack(">BBHHH", 128, 0, 0, 7, 1) + b"ping")
PING_OUT = ip4(1, REMOTE, struct.pack(">BBHHH", 8, 0, 0, 7, 1) + b"ping")
DNSQ6 = ip6(17, DNS6, struct.pack(">HHHH", 5353, 53, 8 + 12 + len(QNAME) + 4, 0)
            + struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + QNAME
            + struct.pack(">HH", 28, 1))
SYN6 = tcp6(1000, 0, 0x02, opts=bytes([2, 4, 5, 0xa0, 1, 3, 3, 7]))


def long_name(total):
    """A name of @total characters (dots included) in labels of 63 at most."""
    out, left = b"", total
    while left:
        n = 61 if 63 < left < 65 else min(left, 63)
        out += bytes([n]) + b"a" * n
        left -= n
        left -= 1 if left else 0
    return out + b"\0"


def dnsq(name, qid=0x1234):
    return ip4(17, DNS, struct.pack(">HHHH", 5353, 53, 8 + 12 + len(name) + 4, 0)
               + struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name
               + struct.pack(">HH", 1, 1))


# An upstream's answer to example.com A: its id is random, so the fuzzer
# has to mutate it; the parser runs either way.
ANSWER = (struct.pack(">HHHHHH", 0x4242, 0x8180, 1, 1, 0, 0) + QNAME
          + struct.pack(">HH", 1, 1)
          + struct.pack(">HHHIH", 0xc00c, 1, 1, 60, 4) + REMOTE)

SEEDS = {
    "arp": frame(ARP),
    "ping": frame(PING),
    "dns": frame(DNSQ) + tick(200),
    "udp": frame(UDP) + host(b"reply"),
    # The stack's ISN is not known in advance: the ACK is a guess the
    # fuzzer can mutate; the data and FIN paths still run.
    "tcp": frame(SYN) + tick(1) + frame(tcp(1001, 1, 0x10))
    + frame(tcp(1001, 1, 0x18, b"GET / HTTP/1.0\r\n\r\n"))
    + host(b"HTTP/1.0 200 OK\r\n\r\nhi") + bytes([3])
    + frame(tcp(1019, 1, 0x11)) + tick(20),
    "synflood": b"".join(frame(tcp(i, 0, 0x02, sport=1000 + i)) for i in range(40)),
    "ndp": frame(NS) + frame(PING6),
    "ping-out": frame(PING_OUT) + host(struct.pack(">BBHHH", 0, 0, 0, 99, 1)
                                       + b"ping") + frame(PING6_OUT) + tick(250),
    "dns6": frame(DNSQ6) + tick(200),
    # Names at the length limit (253) and one past it (254: refused).
    "dns-name-limit": frame(dnsq(long_name(253))) + frame(dnsq(long_name(254)))
    + tick(200),
    "dns-answer": frame(DNSQ) + host(ANSWER) + tick(1),
    "tcp6": frame(SYN6) + tick(1) + frame(tcp6(1001, 1, 0x10))
    + frame(tcp6(1001, 1, 0x18, b"GET / HTTP/1.0\r\n\r\n"))
    + host(b"HTTP/1.0 200 OK\r\n\r\nhi") + bytes([3])
    + frame(tcp6(1019, 1, 0x11)) + tick(20),
}


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "net")
    os.makedirs(d, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
