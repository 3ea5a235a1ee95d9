# SPDX-License-Identifier: Apache-2.0
"""The shim in what clusters run today: containerd 2.x and its ctr, built
here from containerd's Go module (tests/containerd/containerd2, go.sum
pinned; ./setup --test fetches the modules, the build is offline; without
its CRI and the snapshotters that need kernel modules), running
containerd-shim-msb-v2 as 1.6 does in test_containerd.py: output and exit
status of ctr run --rm, a ctr task exec while it runs, its exit status and
the cleanup. One microVM boots."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "containerd"))
import ctrenv  # noqa: E402

SHIM = os.path.join(BUILD, "bin", "containerd-shim-msb-v2")
SRC = os.path.join(ROOT, "tests", "containerd", "containerd2")
RT = "io.containerd.msb.v2"
IMAGE = "docker.io/library/msbtest:1"
TAGS = "no_cri,no_btrfs,no_devmapper,no_zfs,no_tracing"


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module")
def ctrd2():
    go = go_binary()
    if not go:
        pytest.skip("no Go toolchain: neither the shim nor containerd 2 can be built")
    assert os.access(SHIM, os.X_OK), f"{SHIM} is missing: `make` builds it when Go is installed"
    with open(os.path.join(SRC, "go.mod")) as f:
        need = re.search(r"^go (\d+)\.(\d+)", f.read(), re.M).groups()
    have = re.search(r"go(\d+)\.(\d+)", subprocess.run([go, "env", "GOVERSION"], capture_output=True,
                                                       text=True).stdout).groups()
    if tuple(map(int, have)) < tuple(map(int, need)):
        pytest.skip(f"containerd 2 needs Go {'.'.join(need)}; this Go is {'.'.join(have)}")
    out = os.path.join(BUILD, "tests", "containerd2")
    p = subprocess.run([go, "build", "-tags", TAGS, "-o", out + "/",
                        "github.com/containerd/containerd/v2/cmd/containerd",
                        "github.com/containerd/containerd/v2/cmd/ctr"],
                       cwd=SRC, capture_output=True, text=True,
                       env=dict(os.environ, GOPROXY="off", GOFLAGS="-mod=readonly"))
    assert p.returncode == 0, "building containerd 2 (./setup --test fetches its modules):\n" + p.stderr[-3000:]
    tmp = tempfile.mkdtemp(prefix="msbctr2-", dir="/tmp")
    # Its ctr before Debian's on PATH.
    os.environ["PATH"] = out + ":" + os.environ["PATH"]
    try:
        c = ctrenv.Containerd(tmp, BUILD, binary=os.path.join(out, "containerd"))
    except Exception:
        os.environ["PATH"] = os.environ["PATH"].split(":", 1)[1]
        raise
    try:
        ctrenv.busybox_image_tar(os.path.join(tmp, "img.tar"), IMAGE)
        c.ctr("image", "import", os.path.join(tmp, "img.tar"))
        yield c
    finally:
        os.environ["PATH"] = os.environ["PATH"].split(":", 1)[1]
        c.close()
        for pid in ctrenv.shim_pids(c.sock):
            os.kill(pid, signal.SIGKILL)
        ctrenv.teardown_mounts(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def sandboxes(c):
    p = subprocess.run([os.path.join(BUILD, "bin", "msb"), "ls", "-a", "-q"],
                       env=c.env, capture_output=True, text=True)
    return p.stdout.split()


def test_containerd2_run_exec(ctrd2):
    v = ctrd2.ctr("version").stdout.decode()
    assert re.search(r"Server:\s+Version:\s+v?2\.", v), v
    run = subprocess.Popen(["ctr", "-a", ctrd2.sock, "-n", "msbtest", "run", "--rm",
                            "--runtime", RT, IMAGE, "r", "sh", "-c",
                            "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo done; exit 3"],
                           env=ctrd2.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            p = ctrd2.ctr("task", "exec", "--exec-id", "e", "r", "sh", "-c",
                          "echo exec; exit 6", check=None)
            if p.returncode == 6 or time.monotonic() > deadline or run.poll() is not None:
                break
            time.sleep(0.3)
        # The task waits for /tmp/go, which only the exec below makes: it
        # cannot have ended yet. (An exec that made it itself raced the
        # task's exit, which may end the exec and ctr run before the exec's
        # status is read.)
        assert run.poll() is None, ("ctr run ended early", run.returncode, run.communicate())
        assert p.returncode == 6 and p.stdout == b"exec\n", (p, ctrd2.log_tail())
        ctrd2.ctr("task", "exec", "--exec-id", "go", "r", "touch", "/tmp/go", check=None)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 3, (out, err, ctrd2.log_tail())
    assert out == b"done\n"
    assert sandboxes(ctrd2) == []
    assert ctrd2.ctr("container", "ls", "-q").stdout.decode().split() == []
