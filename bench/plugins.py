#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a hook call costs (not a test): the same guest loops on sandboxes
with no plugin, with C in-process plugins (examples/net_plugin.so's
on_connect, examples/auditfs.so's open hook), with a plugin process in
Python (the hook protocol over a socketpair, docs/plugins.md) and with a
Python SDK callback (AuditFs, served by this process over a socket). One
run, every kind booted in turn; each loop timed inside the guest
(/proc/uptime, 10 ms resolution, over loops of seconds).

  fs open   N times `: < /data/f` in the guest's shell (no fork): FUSE
            lookup/open/flush/release, one open hook each
  connect   N times `nc -w 1 1.1.1.1 80` (refused at once: no route out
            here): one connect hook each, and a fork+exec of nc, which
            dominates
  answer    N times `wget -q -O /dev/null` from an HTTP server of this
            process on the host's loopback (a 4 KiB answer): one
            http_response hook each (its answer framed and held for it),
            and wget's fork+exec; the C kind here is a sandbox of its own
            with examples/dlp_plugin.so (its regex over each answer),
            since a sandbox loads one --net-plugin

The table gives each loop's time per iteration and what the kind adds
per hook call over "none" in the same run. On a loaded host the guest's
own time swamps a hook's; so a second table times the call alone
(bench/hookcall.c, built here): a C plugin's on_connect, the
rate-limiter built-in with the chain's JSON arguments, and a round trip
of the hook protocol to a Python plugin process the keeper started.

Usage: bench/plugins.py [BUILD_DIR] [--opens N] [--connects N] [--answers N]
                        [--rounds N]
"""

import argparse
import asyncio
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--opens", type=int, default=3000)
ap.add_argument("--connects", type=int, default=150)
ap.add_argument("--answers", type=int, default=150)
ap.add_argument("--rounds", type=int, default=3)
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-plugins-")
ENV = dict(os.environ, MSB_HOME=HOME)
ENV.pop("MSB_PREFIX", None)
os.environ["MSB_HOME"] = HOME
os.environ.setdefault("MSB_LIB", os.path.join(BUILD, "lib", "libmsb.so.0"))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python", "src"))

PLUGIN = """
import sys
sys.path.insert(0, %r)
from microsandbox.plugin import Plugin
p = Plugin("bench")
p.on("connect", lambda call: None)
p.on("fs", lambda call: None, fs_ops=["open"])
p.on("http_response", lambda call: None)
p.run()
""" % os.path.join(ROOT, "sdk", "python", "src")

LOOP = ("t0=$(cut -d' ' -f1 /proc/uptime); i=0; while [ $i -lt {n} ]; do "
        "{body}; i=$((i+1)); done; t1=$(cut -d' ' -f1 /proc/uptime); "
        "echo $t0 $t1")


def msb(*a, check=True):
    p = subprocess.run([MSB, *a], capture_output=True, env=ENV, timeout=900)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)}: {p.stderr.decode()}")
    return p.stdout.decode()


def loop(name, n, body):
    out = msb("exec", name, "--", "sh", "-c", LOOP.format(n=n, body=body))
    t0, t1 = map(float, out.split()[-2:])
    return (t1 - t0) / n * 1e6  # us per iteration


class Answer(http.server.BaseHTTPRequestHandler):
    BODY = b"x" * 4096

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *a):
        pass


def main():
    from microsandbox import FileSystemBackend, Network, Sandbox

    class Watch(FileSystemBackend):
        def open(self, ctx, ino, flags):
            return self.inner.open(ctx, ino, flags)

    data = os.path.join(HOME, "data")
    os.makedirs(data)
    plugin = os.path.join(HOME, "plugin.py")
    with open(plugin, "w") as f:
        f.write(PLUGIN)
    ex = os.path.join(BUILD, "examples")
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    port = web.server_address[1]
    url = f"http://10.0.2.2:{port}/"
    host = ["--net-allow-host", str(port)]
    kinds = [
        ("none", ["-v", f"{data}:/data", *host]),
        ("C in-process", ["-v", f"{data}:/data",
                          "--volume-plugin", f"{ex}/auditfs.so:/data",
                          "--net-plugin", f"{ex}/net_plugin.so", *host]),
        ("process (Python)", ["-v", f"{data}:/data",
                              "--plugin-process", f"python3 {plugin}", *host]),
        # (answers only: a sandbox loads one --net-plugin)
        ("C in-process (answers)", [*host, "--net-plugin",
                                    f"{ex}/dlp_plugin.so"]),
    ]
    # All booted at once, then measured round after round, each kind in
    # turn: the host's load falls on every kind alike.
    names = []
    for i, (kind, opts) in enumerate(kinds):
        msb("run", "--name", f"pb{i}", "-d", *opts)
        names.append(f"pb{i}")
    async def make():
        return await Sandbox.create(
            "pbsdk", volumes={"/data": Watch(data)},
            network=Network(allow_host=[port],
                            on_http_response=lambda resp: None))
    sdk = asyncio.run(make())
    kinds.append(("SDK callback (Python)", None))
    names.append("pbsdk")
    msb("exec", "pb0", "--", "sh", "-c", "echo x > /data/f")
    opens = {n: [] for n in names}
    conns = {n: [] for n in names}
    answers = {n: [] for n in names}
    answers_only = "pb3"
    for _ in range(args.rounds):
        for n in names:
            if n != answers_only:
                opens[n].append(loop(n, args.opens, ": < /data/f"))
            if n not in ("pbsdk", answers_only):
                # (the Python SDK has no connect hook from code)
                conns[n].append(loop(
                    n, args.connects,
                    "nc -w 1 1.1.1.1 80 </dev/null 2>/dev/null"))
            if n != "pb1":  # (its net plugin has no answer hook)
                answers[n].append(loop(
                    n, args.answers, f"wget -q -O /dev/null {url}"))
    asyncio.run(sdk.remove(force=True))
    web.shutdown()

    def m(v):
        return statistics.median(v) if v else float("nan")
    med = {n: (m(opens[n]), m(conns[n]), m(answers[n])) for n in names}
    base = med["pb0"]
    print(f"hook call cost, {args.opens} opens, {args.connects} connects and "
          f"{args.answers} HTTP answers a loop, median of {args.rounds} "
          f"rounds (TCG; us)")
    print(f"{'kind':24} {'open/iter':>10} {'+/open':>8} "
          f"{'connect/iter':>13} {'+/connect':>10} {'answer/iter':>12} "
          f"{'+/answer':>9}")
    for (kind, _), n in zip(kinds, names):
        cells = []
        for v, b, w1, w2, f in zip(med[n], base, (10, 13, 12), (8, 10, 9),
                                   (".1f", ".0f", ".0f")):
            cells.append(f"{v:{w1}{f}} {v - b:{w2}{f}}" if v == v else
                         f"{'n/a':>{w1}} {'n/a':>{w2}}")
        print(f"{kind:24} " + " ".join(cells))


def hookcall():
    exe = os.path.join(HOME, "hookcall")
    src = [os.path.join(ROOT, f) for f in (
        "bench/hookcall.c", "src/plugins/wire.c", "src/plugins/keeper.c",
        "src/plugins/ratelimit.c", "src/plugins/audit.c",
        "src/plugins/options.c", "src/common/util.c")]
    subprocess.run(["cc", "-O2", "-I" + os.path.join(ROOT, "include"),
                    "-I" + os.path.join(ROOT, "src/common"),
                    "-I" + os.path.join(ROOT, "src/plugins"), "-o", exe, *src,
                    "-ljson-c", "-ldl", "-lpthread"], check=True)
    plugin = os.path.join(HOME, "connect.py")
    with open(plugin, "w") as f:
        f.write(PLUGIN)
    out = subprocess.run([exe, os.path.join(BUILD, "examples",
                                            "net_plugin.so"),
                          f"python3 {plugin}", "20000"],
                         capture_output=True, text=True, check=True).stdout
    print("\none connect hook call, in the supervisor's process (us)")
    for line in out.splitlines():
        kind, us = line.split("\t")
        print(f"{kind:24} {float(us):10.3f}")


try:
    main()
    hookcall()
finally:
    for n in msb("ps", "-a", "-q", check=False).split():
        msb("rm", "-f", n, check=False)
    shutil.rmtree(HOME, ignore_errors=True)
