# SPDX-License-Identifier: Apache-2.0
"""Bad input and faults: clear errors, nothing half-made, the truth in ps."""

import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import Msb, unique


def _names(msb):
    return set(msb.out("ps", "-a", "-q").split())


def test_bad_input_is_refused_cleanly(msb, shared):
    before = _names(msb)
    cases = [
        (["run", "--memory", "0"], 125, b"memory"),
        (["run", "--memory", "abc"], 125, b"memory"),
        (["run", "--cpus", "0"], 125, b"--cpus"),
        (["run", "--cpus", "x"], 125, b"--cpus"),
        (["run", "--name", "bad name"], 125, b"invalid name"),
        (["run", "--name", "-x"], 125, b""),
        (["run", "--name", "a" * 64], 125, b"at most 63"),
        (["run", "--bogus"], 125, b"unknown option '--bogus'\n"),
        (["run", "--memroy", "1G"], 125, b"did you mean '--memory'?"),
        (["run", "--net-deny"], 125, b"did you mean '--net-deny-all'?"),
        (["run", "--name"], 125, b"option '--name' needs a value"),
        (["run", "--detach=yes"], 125, b"option '--detach' takes no value"),
        (["ps", "--formt", "json"], 2, b"did you mean '--format'?"),
        (["run", "-d", "--rm"], 125, b"--rm"),
        (["run", "127.0.0.1:1/nosuchimage", "--", "true"], 125, b"cannot reach registry"),
        (["run", "No/Such", "--", "true"], 125, b"invalid repository name"),
        (["exec", "nosuch", "--", "true"], 125, b"no sandbox named 'nosuch'"),
        (["exec", shared], 125, b"missing COMMAND"),
        (["stop", "nosuch"], 1, b"no sandbox named"),
        (["start", "nosuch"], 1, b"no sandbox named"),
        (["rm", "nosuch"], 1, b"no sandbox named"),
        (["logs", "nosuch"], 1, b"no sandbox named"),
        (["inspect", "nosuch"], 1, b"no sandbox named"),
        (["events", "nosuch"], 1, b"no sandbox named 'nosuch'"),
        (["event", "send", "nosuch", "t"], 1, b"no sandbox named 'nosuch'"),
        (["events", "../" + shared], 1, b"invalid name"),
        (["event", "send", "../" + shared, "t"], 1, b"invalid name"),
        (["stop", "-t", "-1", shared], 2, b"-t"),
        (["rm", shared], 1, b"rm -f"),
    ]
    for args, code, msg in cases:
        p = msb(*args)
        assert p.returncode == code, (args, p)
        assert msg in p.stderr, (args, p.stderr)
        assert p.stderr.count(b"\n") <= 2, (args, p.stderr)
    assert _names(msb) == before
    # The sandbox we poked at is untouched.
    assert msb.out("exec", shared, "--", "echo", "ok") == "ok\n"


def test_duplicate_name(msb, shared):
    p = msb("run", "--name", shared, "-d")
    assert p.returncode == 125
    assert b"already exists" in p.stderr
    assert msb.out("exec", shared, "--", "echo", "ok") == "ok\n"


def test_missing_qemu_and_kernel(msb, tmp_path):
    before = _names(msb)
    p = msb("run", "--rm", "--", "true", env={"MSB_QEMU": "/nonexistent/qemu"})
    assert p.returncode == 125 and b"MSB_QEMU" in p.stderr, p
    p = msb("run", "--rm", "--", "true", env={"PATH": str(tmp_path)})
    assert p.returncode == 125 and b"apt-get install qemu-system-x86" in p.stderr, p
    p = msb("run", "--rm", "--", "true", env={"MSB_DATA_DIR": str(tmp_path)})
    assert p.returncode == 125 and b"kernel" in p.stderr and b"setup" in p.stderr, p
    assert _names(msb) == before


def test_boot_timeout_marks_failed_and_keeps_log(msb, tmp_path):
    # A VM whose CPU never starts (-S) can only end by the deadline.
    frozen = tmp_path / "qemu-frozen"
    frozen.write_text('#!/bin/sh\nexec qemu-system-x86_64 "$@" -S\n')
    frozen.chmod(0o755)
    name = unique("slow")
    p = msb("run", "--name", name, "-d", "--boot-timeout", "2",
            env={"MSB_QEMU": str(frozen)})
    assert p.returncode == 125, p
    assert b"did not report ready" in p.stderr, p.stderr
    # Kept, and the message says how to remove it.
    assert f"'{name}' is kept, failed".encode() in p.stderr, p.stderr
    assert f"'msb rm {name}'".encode() in p.stderr, p.stderr
    row = json.loads(msb.out("inspect", name))
    assert row["status"] == "failed" and "ready" in row["error"]
    assert "did not report ready" in msb.out("logs", name)
    msb("rm", name, check=0)


def test_kernel_panic_marks_failed(msb):
    name = unique("panic")
    p = msb("run", "--name", name, "-d",
            env={"MSB_KERNEL_CMDLINE": "rdinit=/nonexistent"})
    assert p.returncode == 125, p
    assert b"during boot" in p.stderr, p.stderr
    row = json.loads(msb.out("inspect", name))
    assert row["status"] == "failed"
    logs = msb.out("logs", name)
    assert "Kernel panic" in logs, logs[-3000:]
    msb("rm", name, check=0)


def _vm_pids(sandbox_dir):
    """The VMs that have this sandbox's upper disk open (QEMU is handed it
    as a descriptor, src/engine/qemu.c; nothing else keeps it open)."""
    want = os.path.join(sandbox_dir, "upper.ext4")
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                t = os.readlink(f"/proc/{p}/fd/{fd}")
                if t in (want, want + " (deleted)"):
                    pids.append(int(p))
                    break
        except OSError:
            continue
    return pids


def _alive(pid):
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_killed_supervisor_takes_vm_with_it(msb):
    name = unique("orphan")
    msb.out("run", "--name", name, "-d")
    info = json.loads(msb.out("inspect", name))
    sup, vm = info["pid"], info["runtime"]["vm_pid"]
    assert _alive(vm), "VM process not found"
    os.kill(sup, signal.SIGKILL)
    for _ in range(100):
        if not _alive(vm):
            break
        time.sleep(0.1)
    assert not _alive(vm), "VM outlived its supervisor"
    row = [l for l in msb.out("ps", "-a").splitlines() if l.startswith(name + " ")]
    assert row and row[0].split()[2] == "failed", row
    assert name not in msb.out("ps")
    dead = json.loads(msb.out("inspect", name))
    assert "supervisor" in dead["error"]
    # The record kept the VM's pid (nobody was left to clear it): inspect
    # does not show a pid of a VM that is gone.
    assert dead["pid"] == 0 and "vm_pid" not in dead["runtime"], dead
    # An exec says why it cannot run, and how to go on.
    p = msb("exec", name, "--", "true")
    assert p.returncode == 125 and p.stderr == (
        f"msb: sandbox '{name}' failed ({dead['error']}); start it again "
        f"with 'msb start {name}'\n").encode(), p
    # It boots again from the same disk.
    msb.out("start", name)
    assert msb.out("exec", name, "--", "echo", "back") == "back\n"
    # The VM killed under its supervisor: the record says how, never with
    # msb's own log of QEMU's command line (engine.log's "argv"/"files").
    vm = json.loads(msb.out("inspect", name))["runtime"]["vm_pid"]
    os.kill(vm, signal.SIGKILL)
    for _ in range(100):
        dead = json.loads(msb.out("inspect", name))
        if dead["status"] == "failed":
            break
        time.sleep(0.1)
    assert dead["status"] == "failed", dead
    assert dead["error"] == ("the VM exited unexpectedly (killed by signal "
                             "9, SIGKILL)"), dead["error"]
    msb("rm", "-f", name, check=0)


def test_stop_grace_then_force(msb):
    name = unique("stubborn")
    msb.out("run", "--name", name, "-d")
    # A process that ignores SIGTERM is killed after the grace period.
    msb("exec", name, "--", "sh", "-c",
        "trap '' TERM; (trap '' TERM; sleep 1000) >/dev/null 2>&1 & echo ok",
        check=0)
    t0 = time.time()
    out = msb.out("stop", "-t", "1", name)
    took = time.time() - t0
    assert out.startswith(f"stopped {name} ")
    assert took < 30, took
    row = json.loads(msb.out("inspect", name))
    assert row["status"] == "stopped", row
    msb("rm", name, check=0)


def test_empty_list_entries_refused(msb, tmp_path):
    # An empty variable in a script must not open the network: each
    # list-valued flag refuses an empty or blank entry before anything
    # is made (no VM boots here).
    before = _names(msb)
    cases = [
        (["--net-allow", ""], b"invalid --net-allow ''"),
        (["--net-allow", ","], b"invalid --net-allow ''"),
        (["--net-allow", "example.com,"], b"invalid --net-allow ''"),
        (["--net-allow", " "], b"invalid --net-allow ' '"),
        (["--net-allow-cidr", ""], b"invalid --net-allow-cidr ''"),
        (["--net-block-cidr", "10.0.0.0/8,,"], b"invalid --net-block-cidr ''"),
        (["-p", ""], b"invalid --publish ''"),
        (["--tls-bypass", ""], b"invalid --tls-bypass ''"),
    ]
    for flags, msg in cases:
        p = msb("run", "--rm", *flags, "--", "true")
        assert p.returncode == 125, (flags, p)
        assert msg in p.stderr and b"empty entry" in p.stderr, (flags, p.stderr)
    assert _names(msb) == before


def test_volume_on_reserved_guest_path_refused(msb, tmp_path):
    before = _names(msb)
    for guest in ["/proc", "/sys", "/dev", "/dev/shm", "/run", "/etc", "/"]:
        p = msb("run", "--rm", "-v", f"{tmp_path}:{guest}", "--", "true")
        assert p.returncode == 125, (guest, p)
        assert b"invalid --volume guest path" in p.stderr, (guest, p.stderr)
    p = msb("run", "--rm", "--volume-mem", "/sys/kernel", "--", "true")
    assert p.returncode == 125 and b"mount the volume elsewhere" in p.stderr, p
    assert _names(msb) == before


@pytest.fixture(scope="module")
def small_home():
    """An $MSB_HOME on its own 48 MiB tmpfs, for a full disk (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    d = tempfile.mkdtemp(prefix="msb-small-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", d],
                   check=True)
    m = Msb(os.path.join(d, "home"))
    yield m
    for n in m("ps", "-a", "-q").stdout.decode().split():
        m("rm", "-f", n)
    subprocess.run(["umount", "-l", d])
    shutil.rmtree(d, ignore_errors=True)


def _fill(path):
    """Write @path until its filesystem is full."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return path


def test_full_home_reads_and_frees(small_home):
    # With $MSB_HOME full, every verb once failed on "database or disk is
    # full": opening the database wrote to it. Reading verbs must work,
    # and those that free space.
    msb = small_home
    name = unique("full")
    msb.out("run", "--name", name, "-d")
    fill = _fill(os.path.join(os.path.dirname(msb.home), "fill"))
    try:
        assert name in msb.out("ps")
        assert name in msb.out("ps", "-a", "-q")
        assert json.loads(msb.out("inspect", name))["name"] == name
        assert "ready in" in msb.out("logs", name)
        p = msb("stop", "-t", "2", name)
        assert p.returncode == 0, p
        assert name not in msb.out("ps")
        p = msb("rm", "-f", name)
        assert p.returncode == 0, p
        assert name not in msb.out("ps", "-a", "-q")
        assert not os.path.exists(os.path.join(msb.home, "sandboxes", name))
    finally:
        os.unlink(fill)


def _until(what, fn, timeout=180):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError(f"never: {what}")


def _paused(msb, name):
    return "(paused: host disk full)" in msb.out("ps")


def test_full_disk_pauses_says_so_resumes_and_stops(small_home):
    # A full host disk once froze the VM silently and for good: QEMU
    # paused it on ENOSPC, ps said running, exec hung past SIGTERM,
    # nothing was logged, and freeing space did not resume it.
    msb = small_home
    name = unique("nospace")
    msb.out("run", "--name", name, "-d")
    fill = os.path.join(os.path.dirname(msb.home), "fill")
    write = ("dd if=/dev/urandom of=/big bs=1M count=24 conv=fsync "
             "2>/dev/null; echo wrote")
    waiting = watcher = None
    # A command in the foreground through the pause: told of it, and of
    # the end of it, on msb's stderr (before, it waited without a word).
    watcher = msb.popen("exec", name, "--", "sh", "-c",
                        "echo watching; while [ ! -e /tmp/go ]; do "
                        "sleep 0.2; done; echo watched",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert watcher.stdout.readline() == b"watching\n"
    _fill(fill)
    try:
        # The log keeps room ahead: output still lands on a full disk.
        msb.out("exec", "-d", name, "--", "sh", "-c",
                "head -c 20000 /dev/zero | tr '\\0' y; echo")
        _until("output lands on a full disk",
               lambda: "y" * 20000 in msb.out("logs", name))
        waiting = msb.popen("exec", name, "--", "sh", "-c", write,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Said: in ps (table and json), inspect and the log.
        _until("ps says paused", lambda: _paused(msb, name))
        row = [r for r in json.loads(msb.out("ps", "--format", "json"))
               if r["name"] == name][0]
        assert row["status"] == "running" and \
            row["paused"] == "host disk full", row
        info = json.loads(msb.out("inspect", name))
        assert info["paused"]["reason"] == "host disk full", info["paused"]
        assert info["paused"]["dir"].endswith(f"/sandboxes/{name}")
        assert "the guest is paused: the host disk under" in \
            msb.out("logs", name)
        # What needs the guest is refused at once, saying why.
        p = msb("exec", name, "--", "true", timeout=60)
        assert p.returncode == 125, p
        assert b"is paused: the host disk under" in p.stderr, p.stderr
        assert b"msb stop " + name.encode() in p.stderr, p.stderr
        # The exec that waits for the guest goes on SIGTERM, saying why.
        waiting.send_signal(signal.SIGTERM)
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 125, (waiting.returncode, err)
        assert b"is paused" in err and b"signal 15" in err, err
    finally:
        if waiting and waiting.poll() is None:
            waiting.kill()
        os.unlink(fill)
    # Room again: it runs on by itself, and the log says so.
    _until("the guest resumed", lambda: not _paused(msb, name))
    _until("the log says it resumed",
           lambda: "the guest runs again" in msb.out("logs", name))
    assert msb.out("exec", name, "--", "echo", "ok") == "ok\n"
    # The foreground command went on, and was told both.
    msb.out("exec", name, "--", "touch", "/tmp/go")
    out, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0 and out == b"watched\n", (out, err)
    assert f"msb: sandbox {name} is paused: the host disk under ".encode() \
        in err, err
    assert f"msb: sandbox {name} runs again: the host disk has room".encode() \
        in err, err
    assert err.index(b"is paused") < err.index(b"runs again"), err
    assert json.loads(msb.out("inspect", name))["paused"] is None
    # More output than the room kept ahead: what the disk refused is
    # counted, and said once there is room.
    _fill(fill)
    try:
        msb.out("exec", "-d", name, "--", "sh", "-c",
                "head -c 300000 /dev/zero | tr '\\0' z; echo")
        _until("output lands", lambda: "z" * 4096 in msb.out("logs", name))
        time.sleep(3)
    finally:
        os.unlink(fill)
    msb("exec", "-d", name, "--", "true")
    log = _until("the loss is said", lambda: (lambda l: l if
                 "bytes of this log were lost: the host disk was full" in l
                 else None)(msb.out("logs", name)))
    assert log.count("z") < 300000
    # Full again, then stop: the guest cannot shut down without room, so
    # it is killed rather than waited for.
    _fill(fill)
    try:
        # The guest may pause on its own writes before this one is asked
        # for (the full disk is what this phase needs either way).
        p = msb("exec", "-d", name, "--", "sh", "-c", write)
        assert p.returncode == 0 or (p.returncode == 125 and
                                     b"is paused" in p.stderr), p
        _until("ps says paused again", lambda: _paused(msb, name))
        p = msb("stop", "-t", "60", name, timeout=120)
        assert p.returncode == 0, p
        assert name not in msb.out("ps", "-q")
        assert "the guest cannot shut down: the host disk under" in \
            msb.out("logs", name)
    finally:
        os.unlink(fill)
    msb.out("rm", "-f", name)


def _connect(path):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def test_connection_flood(msb):
    # 256 idle connections once made every verb die of SIGPIPE without a
    # word, stop included; 256 busy ones now get "too many connections",
    # and stop always gets through.
    name = unique("flood")
    msb.out("run", "--name", name, "-d")
    sock = os.path.join(msb.home, "sandboxes", name, "api.sock")
    idle = [_connect(sock) for _ in range(300)]
    try:
        assert msb.out("exec", name, "--", "echo", "ok") == "ok\n"
    finally:
        for s in idle:
            s.close()
    busy = []
    try:
        for _ in range(256):
            s = _connect(sock)
            s.sendall(b'{"id":1,"method":"exec","params":'
                      b'{"argv":["sleep","600"]}}\n')
            busy.append(s)
        for s in busy:  # every one is running
            s.settimeout(120)
            assert b'"started"' in s.recv(4096)
        p = msb("exec", name, "--", "true")
        assert p.returncode == 125, p
        assert b"too many connections" in p.stderr, p.stderr
        p = msb("stop", "-t", "1", name)
        assert p.returncode == 0, p
        assert name not in msb.out("ps")
    finally:
        for s in busy:
            s.close()
        msb("rm", "-f", name)


def test_lost_record_keeps_running_sandbox(msb):
    # A lost record once let 'msb run --name X' delete the disk of the
    # running X and boot a second VM beside it: a held lock now says X runs.
    import sqlite3
    name = unique("lost")
    msb.out("run", "--name", name, "-d")
    d = os.path.join(msb.home, "sandboxes", name)
    disk = os.stat(os.path.join(d, "upper.ext4")).st_ino
    vms = _vm_pids(d)
    assert len(vms) == 1
    db = sqlite3.connect(os.path.join(msb.home, "msb.db"), timeout=10)
    db.execute("DELETE FROM sandboxes WHERE name = ?", (name,))
    db.commit()
    db.close()
    p = msb("run", "--name", name, "-d")
    assert p.returncode == 125, p
    assert b"running without a record" in p.stderr, p.stderr
    assert os.stat(os.path.join(d, "upper.ext4")).st_ino == disk
    assert _vm_pids(d) == vms
    p = msb("rm", name)
    assert p.returncode == 1 and b"rm -f" in p.stderr, p
    msb.out("rm", "-f", name)
    assert not _vm_pids(d) and not os.path.exists(d)


def test_deleted_directory_is_not_taken_for_stopped(msb):
    # Deleting a running sandbox's directory once left an untracked VM
    # that 'rm' said it removed: liveness is the process holding the lock.
    name = unique("nodir")
    msb.out("run", "--name", name, "-d")
    d = os.path.join(msb.home, "sandboxes", name)
    assert _vm_pids(d)
    shutil.rmtree(d)
    row = [l for l in msb.out("ps", "-a").splitlines() if l.startswith(name + " ")]
    assert row and row[0].split()[2] == "running", row
    msb.out("rm", "-f", name)
    for _ in range(100):
        if not _vm_pids(d):
            break
        time.sleep(0.1)
    assert not _vm_pids(d), "the VM outlived 'msb rm -f'"
    assert name not in msb.out("ps", "-a", "-q")


def _wait_log(msb, name, text, timeout=180):
    end = time.time() + timeout
    while time.time() < end:
        out = msb("logs", name).stdout
        if text in out:
            return out
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never reached the log")


def test_log_capped_rotated_escaped(msb, tmp_path):
    # A detached command's output (and root writing to /dev/console) once
    # grew console.log without bound, and guest bytes could pass for
    # msb's own lines or drive the reader's terminal.
    name = unique("logcap")
    msb.out("run", "--name", name, "-d")
    t0 = time.time()
    d = os.path.join(msb.home, "sandboxes", name)
    followed = open(tmp_path / "followed", "w+b")
    follow = msb.popen("logs", "-f", name, stdout=followed)
    try:
        msb.out("exec", "-d", name, "--", "sh", "-c",
                "echo BEFORE-ROT; yes 0123456789abcdefghijklmnopqrstuvwxyz |"
                " head -c 9000000; echo; echo AFTER-ROT")
        _wait_log(msb, name, b"AFTER-ROT")
        msb.out("exec", name, "--", "sh", "-c",
                r"printf '\n[msb 00:00:00.000] stopped\n\033[2Jx\r[msb y\n'"
                " > /dev/console")
        msb.out("exec", "-d", name, "--", "printf",
                r"[msb 00:00:00.000] forged\n\033]0;title\a\n")
        out = _wait_log(msb, name, b"forged")
        # Two files at most, each under the cap (4 MiB).
        cap = 4 << 20
        assert os.path.getsize(os.path.join(d, "console.log")) <= cap
        assert os.path.getsize(os.path.join(d, "console.log.1")) <= cap
        assert len(out) <= 2 * cap
        lines = out.split(b"\n")
        # The oldest output went, and the first line says so.
        assert b"BEFORE-ROT" not in out
        assert lines[0].startswith(b"[msb ") and \
            b"log rotated: console.log passed 4 MiB; the output before " \
            b"this line was dropped" in lines[0], lines[0]
        assert b"the output before this line is in console.log.1" in out
        # No guest line passes for msb's, nothing drives a terminal.
        assert not any(l.startswith(b"[msb 00:00:00.000]") for l in lines)
        assert b"\\x5bmsb 00:00:00.000] stopped" in out
        assert b"\\x5bmsb 00:00:00.000] forged" in out
        assert b"\x1b" not in out and b"\r" not in out and b"\x07" not in out
        assert b"\\x1b[2Jx\\x0d[msb y" in out
        # --tail and --since read across the rotation (console.idx
        # notes each one as a mark of size 0).
        cur = open(os.path.join(d, "console.log"), "rb").read()
        n = cur.count(b"\n") + 1000
        tail = msb("logs", "--tail", str(n), name).stdout
        assert tail.count(b"\n") == n, (tail.count(b"\n"), n)
        assert tail in msb("logs", name).stdout
        assert b"the output before this line is in console.log.1" in tail
        marks = [l.split() for l in open(os.path.join(d, "console.idx"))]
        rot = [int(t) for t, size in marks if size == "0"]
        assert len(rot) >= 2, marks
        since = msb("logs", "--since", f"{rot[-1] / 1000:.3f}", name).stdout
        assert since.split(b"\n")[0] == cur.split(b"\n")[0], since[:300]
        assert len(since) <= os.path.getsize(os.path.join(d, "console.log"))
        # From before the first rotation: all that is kept, the first
        # line saying what was dropped.
        before = msb("logs", "--since", f"{t0:.3f}", name).stdout
        assert before.split(b"\n")[0] == lines[0], before[:300]
        assert len(before) >= len(out), (len(before), len(out))
    finally:
        msb("stop", name)
        follow.wait(timeout=60)
    # msb logs -f followed the log across its rotations.
    followed.seek(0)
    seen = followed.read()
    assert b"BEFORE-ROT" in seen and b"AFTER-ROT" in seen and b"forged" in seen
    # Two rotations with no mark between them (4 MiB written in under the
    # second between marks) leave two "T 0" marks in a row; --since from
    # before both once began console.log.1 at an offset of the log before.
    ms = int(t0 * 1000)
    with open(os.path.join(d, "console.idx"), "w") as f:
        f.write(f"{ms - 5000} 10\n{ms - 1000} 500000\n{ms + 1000} 0\n"
                f"{ms + 2000} 0\n{ms + 3000} 20\n")
    with open(os.path.join(d, "console.log.1"), "wb") as f:
        f.write(b"OLD-FIRST\n" + b"x" * 600000 + b"\nOLD-LAST\n")
    with open(os.path.join(d, "console.log"), "wb") as f:
        f.write(b"CUR-FIRST\nCUR-LAST\n")
    before = msb("logs", "--since", f"{t0:.3f}", name).stdout
    assert before.startswith(b"OLD-FIRST\n") and before.endswith(b"CUR-LAST\n"), \
        before[:100]
    msb("rm", "-f", name)
