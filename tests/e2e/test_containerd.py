# SPDX-License-Identifier: Apache-2.0
"""containerd runs containers as microsandboxes through
containerd-shim-msb-v2 (runtime io.containerd.msb.v2): Debian's containerd
1.6, started here with its state under a temp dir, imports a busybox image
tar made here, and ctr runs, execs, kills and deletes; two containers run
at once, each its own microVM; a killed supervisor and a killed shim are
both cleaned up by delete. Three microVMs boot in the whole module."""

import json
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
RT = "io.containerd.msb.v2"
IMAGE = "docker.io/library/msbtest:1"

pytestmark = pytest.mark.skipif(
    not shutil.which("containerd") or not shutil.which("ctr"),
    reason="no containerd (apt-get install containerd; ./setup --test does)")


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module")
def ctrd():
    if not os.access(SHIM, os.X_OK):
        if not go_binary():
            pytest.skip("no Go toolchain: containerd-shim-msb-v2 is not built")
        pytest.fail(f"{SHIM} is missing: `make` builds it when Go is installed")
    tmp = tempfile.mkdtemp(prefix="msbctr-", dir="/tmp")
    c = ctrenv.Containerd(tmp, BUILD)
    try:
        ctrenv.busybox_image_tar(os.path.join(tmp, "img.tar"), IMAGE)
        c.ctr("image", "import", os.path.join(tmp, "img.tar"))
        yield c
    finally:
        for cid in c.ctr("task", "ls", "-q", check=None).stdout.decode().split():
            c.ctr("task", "kill", "-s", "SIGKILL", cid, check=None)
            c.ctr("task", "delete", "-f", cid, check=None)
        c.close()
        for pid in ctrenv.shim_pids(c.sock):
            os.kill(pid, signal.SIGKILL)
        subprocess.run([os.path.join(BUILD, "bin", "msb"), "rm", "-f",
                        *sandboxes(c)], env=c.env, capture_output=True)
        ctrenv.teardown_mounts(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def sandboxes(c):
    p = subprocess.run([os.path.join(BUILD, "bin", "msb"), "ls", "-a", "-q"],
                       env=c.env, capture_output=True, text=True)
    return p.stdout.split()


def task_status(c, cid):
    for line in c.ctr("task", "ls").stdout.decode().splitlines()[1:]:
        f = line.split()
        if f and f[0] == cid:
            return f[2]
    return None


def wait_for(what, cond, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_run_output_exit_code_spec(ctrd):
    """ctr run --rm: the process's output and exit status, the image's
    env, the spec's cwd and env; the pod's microVM is gone after."""
    p = ctrd.ctr("run", "--rm", "--runtime", RT, "--cwd", "/tmp",
                 "--env", "GREETING=hi there", IMAGE, "once",
                 "sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; echo $FROM_IMAGE; '
                 'test -d /proc/self && echo proc; echo err >&2; exit 3', check=3)
    assert p.stdout.decode().splitlines() == ["hi there", "/tmp", "0", "0", "yes", "proc"]
    assert p.stderr.decode().strip() == "err"
    assert sandboxes(ctrd) == []
    assert ctrd.ctr("container", "ls", "-q").stdout.decode().split() == []


def test_exec_kill_delete_two_at_once(ctrd):
    """Two detached containers (two pods: two microVMs) at once; ctr task
    exec in each with its exit status; kill and delete one."""
    for cid in ("a", "b"):
        ctrd.ctr("run", "-d", "--runtime", RT, IMAGE, cid, "sh", "-c",
                 f"echo {cid} > /tmp/who; exec sleep 1000")
    assert sorted(ctrd.ctr("task", "ls", "-q").stdout.decode().split()) == ["a", "b"]
    assert task_status(ctrd, "a") == "RUNNING"
    assert len(sandboxes(ctrd)) == 2
    for cid in ("a", "b"):
        # (the container's own command writes /tmp/who once it runs,
        # which on a loaded host may be after the exec starts)
        p = ctrd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c",
                     "i=0; while [ ! -s /tmp/who ] && [ $i -lt 100 ]; do "
                     "sleep 0.1; i=$((i+1)); done; cat /tmp/who; exit 5",
                     check=5)
        assert p.stdout.decode() == f"{cid}\n"
    # stdin reaches an exec'd process
    p = ctrd.ctr("task", "exec", "--exec-id", "e2", "a", "wc", "-c", input=b"12345")
    assert p.stdout.decode().strip() == "5"
    # the exec's user and directory
    p = ctrd.ctr("task", "exec", "--exec-id", "e4", "--user", "1000", "--cwd", "/home/user",
                 "a", "sh", "-c", "id -u; id -g; pwd")
    assert p.stdout.decode().split() == ["1000", "1000", "/home/user"]
    # a terminal of the size of ctr's (script(1) gives ctr one). ctr
    # sizes it with a resize right after the start, so a loaded host may
    # run the command first: it waits (up to 10 s) for a size not the
    # default 24x80
    cmd = (f"stty cols 123 rows 45; ctr -a {ctrd.sock} -n msbtest task exec -t --exec-id t a "
           "sh -c 'test -t 0 && echo tty; i=0; while [ \"$(stty size)\" = \"24 80\" ] && "
           "[ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; stty size; exit 9'")
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=ctrd.env, capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 9, p
    # (the last "rows cols" the command printed: a loaded host's terminal
    # may echo a stray ^@ in front of it)
    sizes = re.findall(rb"(\d+) (\d+)", p.stdout)
    assert sizes and sizes[-1] == (b"45", b"123") and b"tty" in p.stdout, p
    # the pod's VM as cgroup v1 metrics
    m = ctrd.ctr("task", "metrics", "a").stdout.decode()
    assert "memory.usage_in_bytes" in m and "pids.current" in m, m
    # the container's processes, as the guest numbers them
    pids = ctrd.ctr("task", "ps", "a").stdout.decode().splitlines()[1:]
    assert len(pids) == 1 and pids[0].split()[0].isdigit()

    ctrd.ctr("task", "kill", "-s", "SIGTERM", "b")
    wait_for("b to stop", lambda: task_status(ctrd, "b") == "STOPPED")
    p = ctrd.ctr("task", "delete", "b")
    assert "exit code 143" in p.stderr.decode()      # 128 + SIGTERM
    ctrd.ctr("container", "rm", "b")
    assert len(sandboxes(ctrd)) == 1
    # a's still runs
    assert ctrd.ctr("task", "exec", "--exec-id", "e3", "a", "cat", "/tmp/who").stdout == b"a\n"


def test_killed_supervisor_cleaned_by_delete(ctrd):
    """The pod's supervisor (and its VM) killed: the task stops with 137,
    delete removes the microsandbox."""
    [name] = sandboxes(ctrd)
    info = json.loads(subprocess.run([os.path.join(BUILD, "bin", "msb"), "inspect", name],
                                     env=ctrd.env, capture_output=True, check=True).stdout)
    pid = info.get("supervisor_pid") or info.get("pid")
    assert pid, info
    os.kill(int(pid), signal.SIGKILL)
    wait_for("a to stop", lambda: task_status(ctrd, "a") == "STOPPED")
    p = ctrd.ctr("task", "delete", "a")
    assert "exit code 137" in p.stderr.decode()
    ctrd.ctr("container", "rm", "a")
    assert sandboxes(ctrd) == []


def test_killed_shim_cleaned_by_delete(ctrd):
    """The shim killed: containerd runs its delete, which removes the
    pod's microsandbox and the container's mounts."""
    ctrd.ctr("run", "-d", "--runtime", RT, IMAGE, "c", "sleep", "1000")
    assert len(sandboxes(ctrd)) == 1
    [shim] = ctrenv.shim_pids(ctrd.sock)
    os.kill(shim, signal.SIGKILL)
    wait_for("containerd to clean up", lambda: task_status(ctrd, "c") in (None, "STOPPED")
             and sandboxes(ctrd) == [])
    ctrd.ctr("task", "delete", "c", check=None)
    ctrd.ctr("container", "rm", "c")
    with open("/proc/self/mountinfo") as f:
        assert ctrd.tmp not in f.read()
