#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What an SDK hook callback costs per call (not a test): the hook
protocol's round trip (docs/plugins.md), as a sandbox's supervisor makes
it, to the hook servers the SDKs run in the creating program: the
TypeScript SDK's (lib/plugin.js, a callback on Node's event loop) and,
in the same run as its peer, the Python SDK's (microsandbox.plugin's
HookServer, a thread per connection). No VM: this process plays the
supervisor (hello, then N connect calls one at a time, each timed from
the call's write to its reply's read), so the numbers are the SDK's
share of a hook call; bench/plugins.py has the guest's whole loop.

Usage: bench/sdkhooks.py [--calls N] [--rounds N]
"""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--calls", type=int, default=5000)
ap.add_argument("--rounds", type=int, default=3)
args = ap.parse_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python", "src"))

# The TypeScript SDK's hook server, with one connect hook, in a Node
# process of its own; it prints its socket's path.
TS = """
const { Plugin, HookServer } = require(%r);
const p = new Plugin('bench').on('connect', (c) => (c.port === 25 ? Plugin.deny('no') : undefined));
new HookServer(p).listen().then((s) => { console.log(s.path); setInterval(() => {}, 1 << 30); });
""" % os.path.join(ROOT, "sdk", "typescript", "lib", "plugin.js")


def send(s, m):
    b = json.dumps(m).encode()
    s.sendall(struct.pack(">I", len(b)) + b)


def recv(s):
    h = b""
    while len(h) < 4:
        h += s.recv(4 - len(h))
    n = struct.unpack(">I", h)[0]
    b = b""
    while len(b) < n:
        b += s.recv(n - len(b))
    return json.loads(b)


def measure(path):
    """Per-call round trips, in microseconds."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    send(s, {"type": "hello", "protocol": 1, "sandbox": "bench", "hooks": ["connect"]})
    assert "connect" in recv(s)["hooks"]
    out = []
    for i in range(args.calls):
        t = time.perf_counter_ns()
        send(s, {"type": "call", "id": i + 1, "hook": "connect", "deadline_ms": 1000,
                 "proto": "tcp", "ip": "192.0.2.1", "port": 80})
        r = recv(s)
        out.append((time.perf_counter_ns() - t) / 1000)
        assert r["id"] == i + 1 and r["verdict"] == "allow", r
    s.close()
    return out


def main():
    node = subprocess.Popen(["node", "-e", TS], stdout=subprocess.PIPE, text=True)
    ts_path = node.stdout.readline().strip()
    from microsandbox.plugin import HookServer, Plugin
    py = Plugin("bench")
    py.on("connect", lambda c: None)
    py_server = HookServer(py, os.path.join(tempfile.mkdtemp(), "hooks.sock"))
    rows = {"TypeScript SDK (Node event loop)": [], "Python SDK (thread per connection)": []}
    try:
        for _ in range(args.rounds):
            rows["TypeScript SDK (Node event loop)"] += measure(ts_path)
            rows["Python SDK (thread per connection)"] += measure(py_server.path)
    finally:
        node.kill()
        py_server.close()
    print(f"{args.calls} connect calls x {args.rounds} rounds, one at a time; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'hook server':38} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'calls/s':>9}")
    for k, v in rows.items():
        v.sort()
        q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
        print(f"{k:38} {q(.5):8.1f} {q(.9):8.1f} {q(.99):8.1f} {1e6 / statistics.mean(v):9.0f}")


main()
