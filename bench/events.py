#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Events between a guest and its host (docs/events.md), not a test: one
sandbox, one run, printed as a table.

  guest -> host   events/s    tests/e2e/evflood.c in the guest emits N
                              events (within the 2000-a-second burst) on
                              one connection; timed from the first to the
                              last arriving at a host follower
                              (msb_events_next, libmsb through ctypes)
  host -> guest   events/s    msb_event_send N times from the host (a
                              connection each), timed on the host; the
                              guest's agent keeps them for `wait`
  round trip      ms p50/p90  host sends "ping", a guest shell loop
                              `msb event wait ping; msb event emit pong`
                              answers, the host follower sees "pong";
                              against its peer in the same run:
  exec            ms p50/p90  `msb exec NAME -- true` (one msb process in
                              the guest too, as each event's round trip
                              starts two)
  read kept       events/s    the N guest events the log keeps, read from
                              seq 0 without following: libmsb through
                              ctypes against the TypeScript SDK's
                              `for await (ev of sb.events(...))` (its
                              addon as built in sdk/typescript; skipped
                              without node or the addon)

Spawning a peer from the guest: bench/spawn.py.

Usage: bench/events.py [BUILD_DIR] [--n N] [--rounds N]
"""

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--n", type=int, default=1500)
ap.add_argument("--rounds", type=int, default=20)
args = ap.parse_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-events-")
os.environ["MSB_HOME"] = HOME
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def msb(*a, check=True):
    p = subprocess.run([MSB, *a], capture_output=True)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return p.stdout.decode()


class Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class Ev(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("time", ctypes.c_double),
                ("source", ctypes.c_char_p), ("topic", ctypes.c_char_p),
                ("data", ctypes.c_char_p), ("json", ctypes.c_char_p),
                ("dropped", ctypes.c_uint64)]


lib = ctypes.CDLL(os.path.join(BUILD, "lib", "libmsb.so"))
assert lib.msb_abi_sizeof(b"msb_error") == ctypes.sizeof(Err)
assert lib.msb_abi_sizeof(b"msb_event") == ctypes.sizeof(Ev)
lib.msb_events_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_int64, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_void_p),
                                ctypes.POINTER(Err)]
lib.msb_events_next.argtypes = [ctypes.c_void_p, ctypes.POINTER(Ev),
                                ctypes.c_int, ctypes.POINTER(Err)]
lib.msb_events_free.argtypes = [ctypes.c_void_p]
lib.msb_event_send.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_char_p, ctypes.c_void_p,
                               ctypes.POINTER(Err)]


def follower(name, topic):
    h = ctypes.c_void_p()
    e = Err()
    if lib.msb_events_open(name.encode(), topic.encode(), -1, 1,
                           ctypes.byref(h), ctypes.byref(e)) < 0:
        sys.exit(e.message.decode())
    return h


def next_event(h, timeout_ms=60000):
    ev, e = Ev(), Err()
    r = lib.msb_events_next(h, ctypes.byref(ev), timeout_ms, ctypes.byref(e))
    if r != 1:
        sys.exit(f"no event: {r} {e.message.decode()}")
    return ev


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


name = "bench-events"
flood = os.path.join(HOME, "evflood")
subprocess.run(["cc", "-static", "-O2", "-o", flood,
                os.path.join(ROOT, "tests", "e2e", "evflood.c")], check=True)
msb("run", "-d", "--name", name)
try:
    msb("cp", flood, f"{name}:/tmp/evflood")
    # guest -> host
    h = follower(name, "g2h")
    p = subprocess.Popen([MSB, "exec", name, "--", "/tmp/evflood", "g2h",
                          str(args.n)], stdout=subprocess.PIPE)
    next_event(h)
    t0 = time.monotonic()
    for _ in range(args.n - 1):
        last = next_event(h)  # noqa: the last one is checked
    g2h_s = time.monotonic() - t0
    assert json.loads(last.data)["i"] == args.n  # valid until the next call
    p.wait()
    lib.msb_events_free(h)
    g2h = (args.n - 1) / g2h_s

    # the same events, kept in the log, read from the start: libmsb
    # itself, then the TypeScript SDK
    h = ctypes.c_void_p()
    e = Err()
    lib.msb_events_open(name.encode(), b"g2h", 0, 0, ctypes.byref(h), ctypes.byref(e))
    t0 = time.monotonic()
    n = 0
    while lib.msb_events_next(h, ctypes.byref(Ev()), 60000, ctypes.byref(e)) == 1:
        n += 1
    kept_c = n / (time.monotonic() - t0)
    lib.msb_events_free(h)
    kept_ts = None
    addon = os.path.join(ROOT, "sdk", "typescript", "build", "msb.node")
    if shutil.which("node") and os.path.exists(addon):
        script = (
            "const { Sandbox } = require(%r);"
            "(async () => { const sb = await Sandbox.get(%r); const s = sb.events('g2h', { since: 0, follow: false });"
            " let n = 0, t0 = 0; for await (const ev of s) { if (!n++) t0 = process.hrtime.bigint(); }"
            " console.log(JSON.stringify({ n, s: Number(process.hrtime.bigint() - t0) / 1e9 })); })();"
            % (os.path.join(ROOT, "sdk", "typescript", "lib"), name))
        out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        assert r["n"] == n, (r, n)
        kept_ts = (r["n"] - 1) / r["s"]

    # host -> guest
    e = Err()
    t0 = time.monotonic()
    for i in range(args.n):
        if lib.msb_event_send(name.encode(), b"h2g",
                              json.dumps({"i": i}).encode(), None,
                              ctypes.byref(e)) < 0:
            sys.exit(e.message.decode())
    h2g = args.n / (time.monotonic() - t0)

    # round trips, and exec as the peer
    h = follower(name, "pong")
    loop = subprocess.Popen(
        [MSB, "exec", name, "--", "sh", "-c",
         f"for i in $(seq {args.rounds}); do msb event wait ping >/dev/null;"
         " msb event emit pong $i; done"])
    rtt = []
    for i in range(args.rounds):
        t0 = time.monotonic()
        lib.msb_event_send(name.encode(), b"ping", b"1", None, ctypes.byref(e))
        next_event(h)
        rtt.append((time.monotonic() - t0) * 1000)
    loop.wait()
    lib.msb_events_free(h)
    ex = []
    for i in range(args.rounds):
        t0 = time.monotonic()
        msb("exec", name, "--", "true")
        ex.append((time.monotonic() - t0) * 1000)
finally:
    msb("rm", "-f", name, check=False)

print(f"events between guest and host, one sandbox under "
      f"{'KVM' if os.access('/dev/kvm', os.R_OK) and os.environ.get('MSB_ACCEL') == 'kvm' else 'TCG'}, "
      f"{args.n} events, {args.rounds} round trips")
print(f"{'measure':<34} {'value':>18}")
print(f"{'guest -> host events/s':<34} {g2h:>18.0f}")
print(f"{'host -> guest events/s (sent)':<34} {h2g:>18.0f}")
print(f"{'round trip host->guest->host ms':<34} "
      f"{statistics.median(rtt):>8.1f} / {pct(rtt, 90):<8.1f}")
print(f"{'peer: msb exec -- true ms':<34} "
      f"{statistics.median(ex):>8.1f} / {pct(ex, 90):<8.1f}")
print(f"{'read kept, libmsb (ctypes) events/s':<34} {kept_c:>18.0f}")
if kept_ts is not None:
    print(f"{'read kept, TypeScript SDK events/s':<34} {kept_ts:>18.0f}")
print("spawn from the guest vs from the host: not measured (spawn is not "
      "built)")
