#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The snapshot seed's Terraform configuration applied with count = 100
(a base sandbox, its snapshot, 100 workers forked from it), against the
same made with msb commands, in the same run.

The Terraform side is the provider of terraform/ built into a private
directory and found by the CLI through dev_overrides: `apply
-parallelism=P` from an empty state, timed to its return with every
worker running, then `destroy`. The peer is what the seed's shell
snippet does: `msb run -d` of the base, `msb snapshot`, then P at a time
of `msb restore ml-ready --name w-I --env WORKER_ID=I -d`, then `msb rm
-f` of them all. python:3.12 is the small stand-in of tests/images/seed.py,
loaded into the image store. Both sides make the same sandboxes; the
difference is the provider's and the CLI's own cost (plan, state,
refresh, one provider process for all).

Usage: bench/terraform.py [BUILD_DIR] [--count N] [--parallelism P] [--cli PATH]
(the CLI: --cli, $TF_ACC_TERRAFORM_PATH, the cached OpenTofu of
scripts/build-opentofu.sh, tofu or terraform on $PATH)
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build")
ap.add_argument("--count", type=int, default=100)
ap.add_argument("--parallelism", type=int, default=10)
ap.add_argument("--cli")
args, _ = ap.parse_known_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(args.build)
MSB = os.path.join(BUILD, "bin", "msb")
HOME = tempfile.mkdtemp(prefix="msb-bench-")
ENV = dict(os.environ, MSB_HOME=HOME, CHECKPOINT_DISABLE="1")
N, P = args.count, args.parallelism


def find_cli():
    if args.cli:
        return args.cli
    if os.environ.get("TF_ACC_TERRAFORM_PATH"):
        return os.environ["TF_ACC_TERRAFORM_PATH"]
    cache = os.environ.get("MSB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "microsandbox")
    for c in (os.path.join(cache, "opentofu-v1.12.6", "tofu"), shutil.which("tofu"),
              shutil.which("terraform")):
        if c and os.access(c, os.X_OK):
            return c
    sys.exit("bench/terraform.py: no Terraform-compatible CLI (scripts/build-opentofu.sh builds OpenTofu)")


def run(cmd, cwd=None, env=ENV):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def msb(*a):
    return run([MSB, *a])


def timed(f):
    t = time.monotonic()
    f()
    return time.monotonic() - t


def main():
    cli = find_cli()
    go = shutil.which("go") or "/usr/local/go/bin/go"
    work = tempfile.mkdtemp(prefix="msb-bench-tf-")
    plugins = os.path.join(work, "plugins")
    run([go, "build", "-o", os.path.join(plugins, "terraform-provider-microsandbox"), "."],
        cwd=os.path.join(ROOT, "terraform"),
        env=dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig")))
    rc = os.path.join(work, "cli.tfrc")
    with open(rc, "w") as f:
        f.write('provider_installation {\n  dev_overrides {\n'
                f'    "microsandbox/microsandbox" = "{plugins}"\n  }}\n  direct {{}}\n}}\n')
    tfenv = dict(ENV, TF_CLI_CONFIG_FILE=rc, TF_IN_AUTOMATION="1")
    layouts = json.loads(run([sys.executable, os.path.join(ROOT, "tests", "images", "seed.py"),
                              "-", os.path.join(work, "layouts")]))
    msb("load", "--tag", "python:3.12", layouts["python:3.12"])

    cfg = os.path.join(work, "cfg")
    os.mkdir(cfg)
    with open(os.path.join(cfg, "main.tf"), "w") as f:
        f.write('terraform {\n  required_providers {\n'
                '    microsandbox = { source = "microsandbox/microsandbox" }\n  }\n}\n'
                f'''
resource "microsandbox_sandbox" "base" {{
  name = "base"
  image = "python:3.12"
}}

resource "microsandbox_snapshot" "ml_ready" {{
  sandbox = microsandbox_sandbox.base.name
  name = "ml-ready"
}}

resource "microsandbox_sandbox" "worker" {{
  count = {N}
  name = "w-${{count.index}}"
  from_snapshot = microsandbox_snapshot.ml_ready.name
  env = {{ WORKER_ID = count.index }}
}}
''')
    tf = lambda *a: run([cli, *a], cwd=cfg, env=tfenv)
    t_apply = timed(lambda: tf("apply", "-auto-approve", "-input=false", f"-parallelism={P}"))
    states = json.loads(msb("ps", "-a", "--format", "json"))
    up = sum(1 for s in states if s["name"].startswith("w-") and s["status"] == "running")
    if up != N:
        sys.exit(f"after apply, {up} of {N} workers run")
    t_plan = timed(lambda: tf("plan", "-input=false", "-detailed-exitcode"))
    t_destroy = timed(lambda: tf("destroy", "-auto-approve", "-input=false", f"-parallelism={P}"))

    def cli_apply():
        msb("run", "python:3.12", "--name", "base", "-d")
        msb("snapshot", "base", "--name", "ml-ready")
        with concurrent.futures.ThreadPoolExecutor(P) as ex:
            list(ex.map(lambda i: msb("restore", "ml-ready", "--name", f"w-{i}",
                                      "--env", f"WORKER_ID={i}", "-d"), range(N)))

    def cli_destroy():
        with concurrent.futures.ThreadPoolExecutor(P) as ex:
            list(ex.map(lambda i: msb("rm", "-f", f"w-{i}"), range(N)))
        msb("snapshot", "rm", "ml-ready")
        msb("rm", "-f", "base")

    c_apply = timed(cli_apply)
    c_destroy = timed(cli_destroy)
    print(f"snapshot seed, count = {N}, {P} at a time, {os.cpu_count()} CPUs, "
          f"CLI {os.path.basename(cli)}")
    print(f"{'':28} {'make all':>10} {'per worker':>11} {'remove all':>11}")
    print(f"{'terraform apply/destroy':28} {t_apply:9.1f}s {t_apply / N * 1000:9.0f}ms {t_destroy:10.1f}s")
    print(f"{'msb run/snapshot/restore':28} {c_apply:9.1f}s {c_apply / N * 1000:9.0f}ms {c_destroy:10.1f}s")
    print(f"re-plan of the applied state (no change): {t_plan:.1f}s")
    shutil.rmtree(work, ignore_errors=True)


try:
    main()
finally:
    subprocess.run([MSB, "rm", "-f", "base"] + [f"w-{i}" for i in range(N)],
                   env=ENV, capture_output=True)
    shutil.rmtree(HOME, ignore_errors=True)
