#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TLS interception benchmark (not a test): HTTPS from inside a guest to
the fake internet's api.test (tests/e2e/fakenet.py), intercepted with the
secret swapped in, against the same server reached through the same
sandbox with interception bypassed, in one run.

One sandbox (the Debian image with python3 and curl, tests/images/
debian.py, loaded with `msb load`), made with

    --secret-env TOKEN=@env:MSB_BENCH_TOKEN:api.test
    --tls-upstream-ca CA.pem          (the fake internet's test CA)
    --tls-bypass pass.api.test        (the same server: *.api.test)
    --dns-nameserver 198.51.100.2     (the fake internet's dnsmasq)

so both columns run in the same guest against the same server process,
the only difference being the supervisor's interception:

  intercepted  https://api.test/: the guest's TLS ends in the supervisor
               (a certificate from the home's CA), which verifies
               api.test against the test CA, swaps TOKEN's placeholder for
               the real value and re-encrypts
  bypassed     https://pass.api.test/: passed byte for byte (--tls-bypass);
               the guest verifies the server itself (the test CA is added
               to the guest's trust store) and the server gets the
               placeholder

The guest's curl (its trust store, CURL_CA_BUNDLE as the agent sets it)
sends `Authorization: Bearer $TOKEN`; curl's own timers, in the guest:

  keep-alive req/s     --requests GETs on one connection (one curl, the
                       connection reused: checked with num_connects); the
                       first (with the handshakes) left out, the others /
                       the sum of their times
  p50, p99 ms          those requests' times
  new conns/s          --conns GETs, each on a new connection
                       (Connection: close; --no-sessionid, so every
                       handshake is a full one on both sides)
  TLS handshake p50 ms time_appconnect - time_connect of those
  supervisor CPU ms/req   the supervisor's CPU time (utime + stime from
                       /proc) over the keep-alive requests, per request

What the server saw is checked, not assumed: the run stops unless every
intercepted request reached it with the real value (its log) and every
bypassed one with the placeholder, and unless the guest was shown the
placeholder in every echo (the intercepted answers scrubbed). Needs root
(the fake internet's namespace).

Usage: bench/tls.py [BUILD_DIR] [--requests N] [--conns N] [--runs N]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
import build  # noqa: E402  tests/images/build.py
import debian  # noqa: E402  tests/images/debian.py
from fakenet import fake_internet, missing_tools  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--requests", type=int, default=1000)
ap.add_argument("--conns", type=int, default=100)
ap.add_argument("--runs", type=int, default=3)
args, _ = ap.parse_known_args()
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-")
TOKEN = "sk-bench-" + os.urandom(12).hex()
ENV = dict(os.environ, MSB_HOME=HOME, MSB_BENCH_TOKEN=TOKEN)
IMAGE = "msb-bench/debian-python:1"
NAME = "bench-tls"


def msb(*a, check=True, input=None):
    p = subprocess.run([MSB, *a], env=ENV, capture_output=True,
                       input=input or b"", timeout=3600)
    if check and p.returncode:
        sys.exit(f"msb {' '.join(a)}: {p.stderr.decode().strip()}")
    return p


def guest(script):
    p = msb("exec", NAME, "--", "sh", "-c", script, check=False)
    if p.returncode:
        sys.exit(f"guest: {script[:120]!r}... exited {p.returncode}: "
                 f"{p.stderr.decode().strip()[-2000:]}")
    return p.stdout.decode()


def load_image(work):
    try:
        img = debian.image()
    except debian.Unavailable as e:
        sys.exit(f"the Debian image with curl cannot be made here: {e}")
    layout = os.path.join(work, "layout")
    build.write_layout(img, layout, IMAGE)
    msb("load", layout)


def curl(url, n, *opts):
    """The guest's curl: @n GETs of @url in one process; one line of
    timers per request, after its JSON body."""
    w = ("%{http_code} %{num_connects} %{time_connect} %{time_appconnect} "
         "%{time_total}\\n")
    out = guest(f"curl -sS -H \"Authorization: Bearer $TOKEN\" "
                f"{' '.join(opts)} -w '\\n{w}' '{url}?i=[1-{n}]'")
    bodies, timers = [], []
    for line in out.splitlines():
        if line.startswith("{"):
            bodies.append(json.loads(line))
        elif line:
            code, conns, tcp, tls, total = line.split()
            timers.append((code, int(conns), float(tcp), float(tls),
                           float(total)))
    if len(timers) != n or any(t[0] != "200" for t in timers):
        sys.exit(f"{url}: not {n} answers of 200: {out[-1000:]}")
    return bodies, timers


def check_seen(url, bodies, want):
    """The server's JSON echo of each request, as the guest got it: the
    placeholder either way (intercepted, the supervisor turned the value
    back into it)."""
    got = {b["authorization"] for b in bodies}
    if got != {f"Bearer {want}"}:
        sys.exit(f"{url}: the guest was shown {sorted(map(str, got))[:3]}, "
                 f"not the placeholder")


def check_sent(url, log, n, sent):
    """What reached the server (its log): @n requests with @sent."""
    got = log.count(f"Authorization: Bearer {sent}\n".encode())
    if got < n:
        sys.exit(f"{url}: the server saw {got} of {n} requests with the "
                 f"{'value' if sent == TOKEN else 'placeholder'}")


def sup_pid():
    return json.loads(msb("inspect", NAME).stdout)["pid"]


def accel():
    """The accelerator the sandbox's QEMU runs with (its -accel)."""
    sup = sup_pid()
    with open(f"/proc/{sup}/task/{sup}/children") as f:
        for pid in f.read().split():
            with open(f"/proc/{pid}/cmdline", "rb") as c:
                argv = c.read().split(b"\0")
            if b"-accel" in argv:
                return argv[argv.index(b"-accel") + 1].decode()
    return "?"


def sup_ticks():
    pid = sup_pid()
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def measure(net, url, sent, shown):
    """{row: value} for one run against @url; exits when the server saw
    anything but @sent, or the guest was shown anything but @shown."""
    at = len(net.log("api"))
    c0 = sup_ticks()
    bodies, t = curl(url, args.requests)
    cpu = sup_ticks() - c0
    check_seen(url, bodies, shown)
    check_sent(url, net.log("api")[at:], args.requests, sent)
    if [x[1] for x in t] != [1] + [0] * (len(t) - 1):
        sys.exit(f"{url}: curl did not keep its connection: "
                 f"{[x[1] for x in t]}")
    lat = [x[4] * 1000 for x in t[1:]]
    res = {"ka": len(lat) * 1000 / sum(lat), "p50": pct(lat, 50),
           "p99": pct(lat, 99), "cpu": cpu * 1000 / len(t)}
    bodies, t = curl(url, args.conns, "-H 'Connection: close'",
                     "--no-sessionid")
    check_seen(url, bodies, shown)
    if any(x[1] != 1 for x in t):
        sys.exit(f"{url}: a request reused a connection")
    res["conn"] = len(t) / sum(x[4] for x in t)
    res["hs"] = pct([(x[3] - x[2]) * 1000 for x in t], 50)
    return res


def main():
    if os.geteuid() != 0:
        sys.exit("bench/tls.py needs root (the fake internet's namespace)")
    tool = missing_tools()
    if tool:
        sys.exit(f"{tool} is not installed (./setup --test)")
    work = tempfile.mkdtemp(prefix="msb-bench-tls-")
    try:
        load_image(work)
        with fake_internet(os.path.join(work, "net")) as net:
            msb("run", IMAGE, "--name", NAME, "-d",
                "--dns-nameserver", "198.51.100.2",
                "--secret-env", "TOKEN=@env:MSB_BENCH_TOKEN:api.test",
                "--tls-upstream-ca", net.ca, "--tls-bypass", "pass.api.test")
            with open(net.ca, "rb") as f:
                # the guest trusts the test CA itself, for the bypassed name
                msb("exec", "-i", NAME, "--", "sh", "-c",
                    "cat >> /etc/ssl/certs/ca-certificates.crt", input=f.read())
            placeholder = guest('echo "$TOKEN"').strip()
            if not placeholder or placeholder == TOKEN:
                sys.exit(f"the guest's TOKEN is {placeholder!r}, "
                         "not a placeholder")
            how = accel()
            runs = {"in": [], "by": []}
            for _ in range(args.runs):
                runs["in"].append(measure(net, "https://api.test/", TOKEN,
                                          placeholder))
                runs["by"].append(measure(net, "https://pass.api.test/",
                                          placeholder, placeholder))
    finally:
        msb("rm", "-f", NAME, check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)

    def med(col, k):
        v = sorted(r[k] for r in runs[col])
        return v[len(v) // 2]

    print(f"\nTLS interception: guest curl to the fake internet's api.test, "
          f"{args.requests} keep-alive requests, {args.conns} new "
          f"connections, median of {args.runs} runs, {how}, "
          f"{os.cpu_count()} host cpus")
    print(f"{'':28}{'intercepted':>12}{'bypassed':>12}{'ratio':>8}")
    for label, k in (("keep-alive requests/s", "ka"),
                     ("  latency p50 ms", "p50"),
                     ("  latency p99 ms", "p99"),
                     ("  supervisor CPU ms/req", "cpu"),
                     ("new connections/s", "conn"),
                     ("  TLS handshake p50 ms", "hs")):
        a, b = med("in", k), med("by", k)
        print(f"{label:28}{a:12.2f}{b:12.2f}"
              f"{a / b if b else float('nan'):8.2f}")


if __name__ == "__main__":
    main()
