#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Python, TypeScript, Rust and Go SDKs against the C API and the CLI, in one
run, on one sandbox.

1. exec round trip of `true`, p50/p99 over N calls: the C API
   (msb_exec_capture in a loop, bench/sdkbench.c), the Python SDK
   (`await sb.exec(["true"])` in a loop), the TypeScript SDK (the same in
   Node, bench/sdk_ts.js), the Rust SDK (`sb.exec_args(["true"]).await`,
   sdk/rust/examples/sdkbench.rs), the Go SDK (`sb.ExecArgs(ctx,
   []string{"true"})`, sdk/go/examples/sdkbench) and the CLI (`msb exec NAME -- true`, a
   process per call);
2. a 100 MiB file written into the guest and read back: the C API
   (msb_file_write_fd / msb_file_read_fd), the Python SDK (`sb.fs.write`
   from a file object, `sb.fs.stream` to a file), the TypeScript SDK
   (`sb.fs.write` of a file's stream, `sb.fs.createReadStream` piped to a
   file), the Rust SDK (`fs().write_from` and `fs().read_to` with tokio
   files), the Go SDK (`FS().WriteFrom` and `FS().ReadTo` with os.File)
   and the CLI (`msb cp`), each checked by its SHA-256; rounds
   interleaved so load drifts hit all of them.

The TypeScript SDK is left out (saying why) when Node or its addon cannot be
had: the addon is built against this build's libmsb first. The Rust SDK
likewise when cargo is not here or the example does not build (offline,
release, against this build's libmsb). The Go SDK likewise when go is not
here or the program does not build (offline from the module cache that
./setup --test fills, against this build's libmsb).

The ratio to the C API is the SDK's (and the CLI's) overhead.

Usage: bench/sdk.py [BUILD_DIR] [--execs N] [--mib N] [--rounds N]
"""

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--execs", type=int, default=100)
ap.add_argument("--mib", type=int, default=100)
ap.add_argument("--rounds", type=int, default=2)
args = ap.parse_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-sdk-")
os.environ.update(MSB_HOME=HOME,
                  MSB_LIB=os.path.join(BUILD, "lib", "libmsb.so.0"))
os.environ.pop("MSB_PREFIX", None)
sys.path.insert(0, os.path.join(ROOT, "sdk", "python", "src"))
from microsandbox import Sandbox  # noqa: E402

NAME = "bench-sdk"
TS = os.path.join(ROOT, "bench", "sdk_ts.js")


def msb(*a):
    p = subprocess.run([MSB, *a], capture_output=True)
    if p.returncode:
        sys.exit(f"msb {' '.join(a)} failed: {p.stderr.decode()}")
    return p.stdout


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def ts_available():
    """Node and the TypeScript SDK's addon, built against this build."""
    node = shutil.which("node")
    if not node:
        print("TypeScript SDK: left out (no node)")
        return None
    p = subprocess.run([node, os.path.join(ROOT, "sdk", "typescript", "scripts", "build-native.js")],
                       capture_output=True, text=True,
                       env=dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig")))
    if p.returncode:
        print(f"TypeScript SDK: left out (its addon does not build: {p.stderr.strip()})")
        return None
    return node


def rust_available():
    """sdk/rust's sdkbench example, built offline (release), or None."""
    cargo = shutil.which("cargo") or os.path.expanduser("~/.cargo/bin/cargo")
    if not os.access(cargo, os.X_OK):
        print("Rust SDK: left out (no cargo)")
        return None
    target = os.path.join(BUILD, "cargo-bench")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"),
               CARGO_TARGET_DIR=target)
    p = subprocess.run([cargo, "build", "--offline", "--locked", "--release", "-q",
                        "--example", "sdkbench"], cwd=os.path.join(ROOT, "sdk", "rust"),
                       env=env, capture_output=True, text=True)
    if p.returncode:
        print(f"Rust SDK: left out (its example does not build: {p.stderr.strip()[-500:]})")
        return None
    return os.path.join(target, "release", "examples", "sdkbench")


def go_available():
    """sdk/go's sdkbench program, built offline, or None."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.access(go, os.X_OK):
        print("Go SDK: left out (no go)")
        return None
    out = os.path.join(BUILD, "go-bench", "sdkbench")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"),
               GOPROXY="off", GOFLAGS="-mod=readonly", CGO_ENABLED="1")
    p = subprocess.run([go, "build", "-o", out, "./examples/sdkbench"],
                       cwd=os.path.join(ROOT, "sdk", "go"), env=env,
                       capture_output=True, text=True)
    if p.returncode:
        print(f"Go SDK: left out (its program does not build: {p.stderr.strip()[-500:]})")
        return None
    return out


def main():
    global NODE, RUST, GO
    NODE = ts_available()
    RUST = rust_available()
    GO = go_available()
    work = tempfile.mkdtemp(prefix="msb-bench-sdk-files-")
    cbench = os.path.join(work, "sdkbench")
    subprocess.run(["cc", "-O2", "-I", os.path.join(ROOT, "include"), "-o", cbench,
                    os.path.join(ROOT, "bench", "sdkbench.c"),
                    "-L", os.path.join(BUILD, "lib"), "-lmsb",
                    "-Wl,-rpath," + os.path.join(BUILD, "lib")], check=True)
    big = os.path.join(work, "big")
    with open(big, "wb") as f:
        for _ in range(args.mib):
            f.write(os.urandom(1 << 20))
    want = sha(big)
    msb("run", "--name", NAME, "-d")
    try:
        run(cbench, work, big, want)
    finally:
        subprocess.run([MSB, "rm", "-f", NAME], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(HOME, ignore_errors=True)


def run(cbench, work, big, want):
    sb = asyncio.run(Sandbox.get(NAME))
    lat = {"C API": [], "Python SDK": []}
    if NODE:
        lat["TS SDK"] = []
    if RUST:
        lat["Rust SDK"] = []
    if GO:
        lat["Go SDK"] = []
    lat["CLI"] = []
    # exec: interleaved in blocks of 10
    for _ in range(max(1, args.execs // 10)):
        out = subprocess.run([cbench, NAME, "exec", "10"], capture_output=True,
                             text=True, check=True).stdout
        lat["C API"] += [int(x) / 1000 for x in out.split()]

        async def ten():
            for _ in range(10):
                t0 = time.monotonic()
                await sb.exec(["true"])
                lat["Python SDK"].append((time.monotonic() - t0) * 1000)
        asyncio.run(ten())
        if NODE:
            out = subprocess.run([NODE, TS, NAME, "exec", "10"], capture_output=True,
                                 text=True, check=True).stdout
            lat["TS SDK"] += [int(x) / 1000 for x in out.split()]
        if RUST:
            out = subprocess.run([RUST, NAME, "exec", "10"], capture_output=True,
                                 text=True, check=True).stdout
            lat["Rust SDK"] += [int(x) / 1000 for x in out.split()]
        if GO:
            out = subprocess.run([GO, NAME, "exec", "10"], capture_output=True,
                                 text=True, check=True).stdout
            lat["Go SDK"] += [int(x) / 1000 for x in out.split()]
        for _ in range(10):
            t0 = time.monotonic()
            msb("exec", NAME, "--", "true")
            lat["CLI"].append((time.monotonic() - t0) * 1000)
    c50 = pct(lat["C API"], 50)
    print(f"exec round trip of `true`, {len(lat['C API'])} calls each "
          f"(ms; ratio of p50 to the C API's)")
    print(f"  {'':12} {'p50':>8} {'p99':>8} {'ratio':>7}")
    for k, v in lat.items():
        print(f"  {k:12} {pct(v, 50):8.1f} {pct(v, 99):8.1f} "
              f"{pct(v, 50) / c50:7.2f}")

    # 100 MiB each way
    secs = {k: {"write": [], "read": []} for k in lat}
    guest = "/root/bench.bin"
    back = os.path.join(work, "back")
    for _ in range(args.rounds):
        for k in lat:
            t0 = time.monotonic()
            if k == "C API":
                subprocess.run([cbench, NAME, "write", guest, big], check=True,
                               capture_output=True)
            elif k == "Python SDK":
                async def w():
                    with open(big, "rb") as f:
                        await sb.fs.write(guest, f)
                asyncio.run(w())
            elif k == "TS SDK":
                subprocess.run([NODE, TS, NAME, "write", guest, big], check=True,
                               capture_output=True)
            elif k == "Rust SDK":
                subprocess.run([RUST, NAME, "write", guest, big], check=True,
                               capture_output=True)
            elif k == "Go SDK":
                subprocess.run([GO, NAME, "write", guest, big], check=True,
                               capture_output=True)
            else:
                msb("cp", "-q", big, f"{NAME}:{guest}")
            secs[k]["write"].append(time.monotonic() - t0)
            if os.path.exists(back):
                os.unlink(back)
            t0 = time.monotonic()
            if k == "C API":
                subprocess.run([cbench, NAME, "read", guest, back], check=True,
                               capture_output=True)
            elif k == "Python SDK":
                async def r():
                    with open(back, "wb") as f:
                        async for chunk in sb.fs.stream(guest):
                            f.write(chunk)
                asyncio.run(r())
            elif k == "TS SDK":
                subprocess.run([NODE, TS, NAME, "read", guest, back], check=True,
                               capture_output=True)
            elif k == "Rust SDK":
                subprocess.run([RUST, NAME, "read", guest, back], check=True,
                               capture_output=True)
            elif k == "Go SDK":
                subprocess.run([GO, NAME, "read", guest, back], check=True,
                               capture_output=True)
            else:
                msb("cp", "-q", f"{NAME}:{guest}", back)
            secs[k]["read"].append(time.monotonic() - t0)
            if sha(back) != want:
                sys.exit(f"{k}: the file read back differs")
    print(f"\n{args.mib} MiB file, into the guest and back, best of "
          f"{args.rounds} (MiB/s; ratio of time to the C API's)")
    print(f"  {'':12} {'write':>8} {'ratio':>7} {'read':>8} {'ratio':>7}")
    cw, cr = min(secs["C API"]["write"]), min(secs["C API"]["read"])
    for k, v in secs.items():
        w, r = min(v["write"]), min(v["read"])
        print(f"  {k:12} {args.mib / w:8.1f} {w / cw:7.2f} "
              f"{args.mib / r:8.1f} {r / cr:7.2f}")
    import json
    accel = json.loads(msb("inspect", NAME)).get("runtime", {}).get("accel", "?")
    print(f"\n(host load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"CPUs; the guest under {accel})")


if __name__ == "__main__":
    main()
