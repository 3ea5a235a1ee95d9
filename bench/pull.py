#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pull benchmarks against a local registry (not a test).

1. Cold pull of one multi-layer image (the Debian python3+curl layer of the
   tests when apt can build it, busybox, and the tests' multi-layer files;
   gzip and zstd) from Debian's docker-registry on loopback: `msb pull`
   into an empty $MSB_HOME (download, verify, convert every layer to EROFS,
   record) against `skopeo copy` of the same reference into an empty OCI
   layout (download, verify, write), and against `podman pull` of it into
   an empty store of its own (download, verify, unpack every layer into
   overlay's directories: the work msb's pull does, in podman's form).
   Interleaved runs, min/median/max of wall time and the median of CPU
   time (user and system of the command and its children); the
   conversion's share is the same pull again with the blobs stored and
   the EROFS images deleted.
2. From `msb run` of a freshly pulled image to the first byte of its
   output, and the same with the pull inside the run (an image not yet
   pulled: `msb run` pulls it first).

With --base OTHER_BUILD, that build's `msb pull` runs beside (a
before/after in one run); --no-run leaves out the `msb run` rows (no VM
boots).

With --unpacked, the same build converting the old way beside (unpacking
under fakeroot for the system's mkfs.erofs, MSB_MKFS_TAR=none).

Usage: bench/pull.py [BUILD_DIR] [--runs N] [--base BUILD_DIR] [--unpacked] [--no-run]
"""

import argparse
import json
import os
import shutil
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
import build  # noqa: E402
import debian  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--base", help="another build whose msb pull runs beside")
ap.add_argument("--no-run", action="store_true", help="no msb run rows")
ap.add_argument("--unpacked", action="store_true",
                help="also this build unpacking for the system's mkfs.erofs "
                     "(MSB_MKFS_TAR=none) beside the tar stream conversion")
args, _ = ap.parse_known_args()
MSB = os.path.join(os.path.abspath(args.build), "bin", "msb")
BASE = os.path.join(os.path.abspath(args.base), "bin", "msb") if args.base else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_registry(root):
    port = free_port()
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\n")
    p = subprocess.Popen([shutil.which("docker-registry"), "serve", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("docker-registry did not start")


def the_image():
    layers = [(build.busybox_layer(), "gzip")]
    what = "busybox"
    try:
        layers.append((debian.layer(), "gzip"))
        what += " + Debian python3/curl"
    except debian.Unavailable as e:
        print(f"(no Debian layer: {e})", file=sys.stderr)
    layers += build.multi_layers()[1:]
    return build.Image(layers, build.MULTI_CONFIG), what + " + 2 small"


CPU = {}


def timed(argv, env=None, cpu=None):
    """Wall seconds of @argv; its CPU seconds (user and system, its
    children's included) appended to CPU[@cpu] when named: less moved by
    the host's other load than wall time."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, capture_output=True)
    dt = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        sys.exit(f"{' '.join(argv[:3])} failed: {p.stderr.decode()[-500:]}")
    if cpu:
        CPU.setdefault(cpu, []).append(r1.ru_utime - r0.ru_utime +
                                       r1.ru_stime - r0.ru_stime)
    return dt


def first_output(argv, env):
    """Seconds from start to the first byte on stdout; the process is then
    waited for."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = p.stdout.read(1)
    dt = time.monotonic() - t0
    p.communicate()
    if p.returncode or not first:
        sys.exit(f"{' '.join(argv[:3])} failed (status {p.returncode})")
    return dt


def row(name, v, unit="s"):
    c = CPU.get(id(v))
    cpu = f"   CPU {statistics.median(c):.2f} s" if c else ""
    print(f"{name:<44} {min(v):>7.2f} {statistics.median(v):>7.2f} "
          f"{max(v):>7.2f} {unit}{cpu}")


def main():
    if not shutil.which("docker-registry"):
        sys.exit("docker-registry is needed (./setup --test)")
    have_skopeo = shutil.which("skopeo") is not None
    have_podman = shutil.which("podman") is not None
    work = tempfile.mkdtemp(prefix="msb-bench-pull-")
    reg, host = start_registry(work)
    try:
        img, what = the_image()
        build.Registry(f"http://{host}").push("bench", "1", img)
        ref = f"{host}/bench:1"
        size = sum(d["size"] for d in json.loads(img.manifest)["layers"])
        msb_t, sko_t, run_t, runpull_t, conv_t = [], [], [], [], []
        pod_t = []
        base_t, base_conv_t, unp_t, unp_conv_t = [], [], [], []
        for i in range(args.runs):
            for binary, pulls, convs, extra in (
                    (MSB, msb_t, conv_t, {}),
                    (BASE, base_t, base_conv_t, {}),
                    (MSB if args.unpacked else None, unp_t, unp_conv_t,
                     {"MSB_MKFS_TAR": "none"})):
                if not binary:
                    continue
                home = os.path.join(work, f"home{i}")
                env = dict(os.environ, MSB_HOME=home, **extra)
                env.pop("MSB_PREFIX", None)
                pulls.append(timed([binary, "pull", "-q", ref], env,
                                   cpu=id(pulls)))
                if binary == MSB and not extra and not args.no_run:
                    run_t.append(first_output([MSB, "run", "--rm", ref, "--", "x"], env))
                # the same pull with every blob stored: the EROFS conversion
                for f in os.listdir(os.path.join(home, "layers")):
                    if f.endswith(".erofs"):
                        os.unlink(os.path.join(home, "layers", f))
                convs.append(timed([binary, "pull", "-q", ref], env,
                                   cpu=id(convs)))
                shutil.rmtree(home, ignore_errors=True)
            if have_skopeo:
                sko_t.append(timed(["skopeo", "copy", "-q", "--src-tls-verify=false",
                                    f"docker://{ref}",
                                    f"oci:{os.path.join(work, f'oci{i}')}:1"],
                                   cpu=id(sko_t)))
            if have_podman:
                store = os.path.join(work, f"podman{i}")
                pod_t.append(timed(["podman", "--root", f"{store}/root",
                                    "--runroot", f"{store}/run",
                                    "--storage-driver", "overlay",
                                    "pull", "-q", "--tls-verify=false",
                                    f"docker://{ref}"], cpu=id(pod_t)))
                subprocess.run(["podman", "--root", f"{store}/root",
                                "--runroot", f"{store}/run",
                                "--storage-driver", "overlay", "system",
                                "reset", "-f"], capture_output=True)
                shutil.rmtree(store, ignore_errors=True)
            if not args.no_run:
                home2 = os.path.join(work, f"cold{i}")
                env2 = dict(os.environ, MSB_HOME=home2)
                env2.pop("MSB_PREFIX", None)
                runpull_t.append(first_output([MSB, "run", "--rm", ref, "--", "x"], env2))
                shutil.rmtree(home2, ignore_errors=True)
        print(f"\ncold pull of {ref}: {len(img.layer_digests)} layers ({what}), "
              f"{size / 1e6:.1f} MB compressed; {args.runs} runs")
        print(f"{'':<44} {'min':>7} {'median':>7} {'max':>7}")
        row("msb pull (download, verify, EROFS)", msb_t)
        row("  of which EROFS conversion (blobs stored)", conv_t)
        if BASE:
            row("msb pull [base build]", base_t)
            row("  of which EROFS conversion [base build]", base_conv_t)
        if args.unpacked:
            row("msb pull, unpacking (MSB_MKFS_TAR=none)", unp_t)
            row("  of which EROFS conversion, unpacking", unp_conv_t)
        if have_skopeo:
            row("skopeo copy docker:// -> oci: (download)", sko_t)
            print(f"{'msb / skopeo (median)':<44} "
                  f"{statistics.median(msb_t) / statistics.median(sko_t):>15.2f}x")
        else:
            print("skopeo not installed: no peer row (apt-get install skopeo)")
        if have_podman:
            row("podman pull (download, verify, unpack)", pod_t)
            print(f"{'msb / podman (median)':<44} "
                  f"{statistics.median(msb_t) / statistics.median(pod_t):>15.2f}x")
        else:
            print("podman not installed: no peer row (apt-get install podman)")
        if not args.no_run:
            row("msb run of the pulled image, to 1st output", run_t)
            row("msb run, pull included, to 1st output", runpull_t)
    finally:
        reg.kill()
        reg.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
