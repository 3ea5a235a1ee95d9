# SPDX-License-Identifier: Apache-2.0
"""The escape suite: what a guest that took over the supervisor or QEMU
could still do (docs/security.md). Each test runs twice: as root and as an
ordinary user (tests/e2e/test_nonroot.py's user).

Inside the supervisor, tests/escape/forbid.c (preloaded) makes the calls a
hijacked supervisor would, from its confined main thread. Inside QEMU,
tests/escape/inject.c makes them (ptrace: the thread makes the call
itself). No timing decides anything.
"""

import errno
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, unique
from test_nonroot import as_user  # noqa: F401 (a fixture)

FORBID = os.path.join(BUILD, "tests", "forbid.so")
INJECT = os.path.join(BUILD, "tests", "msb-inject")
POLICY = ("on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
          "resourcecontrol=deny")
VMM_UID_BASE, VMM_UID_COUNT = 0x70000000, 1 << 22
# a root VMM's root directory (src/engine/vmmroot.c)
VMM_ROOT = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc",
            "dev", "proc", "sys"}


class Side:
    """msb as root (the test's own) or as the ordinary user."""

    def __init__(self, kind, run, home, forbid, uid):
        self.kind, self.run, self.home = kind, run, home
        self.forbid, self.uid = forbid, uid

    def ok(self, *args, env=None):
        p = self.run(*args, env=env)
        assert p.returncode == 0, p
        return p.stdout.decode()

    def mkdir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        os.chmod(d, 0o755)
        os.chown(d, self.uid, -1)
        return d


@pytest.fixture(params=["root", "user"])
def side(request, msb):
    if os.getuid() != 0:
        pytest.skip("the suite runs as root and as a user it creates")
    if request.param == "root":
        return Side("root", msb, msb.home, FORBID, 0)
    run = request.getfixturevalue("as_user")
    forbid = os.path.join(run.tree, "forbid.so")
    shutil.copy(FORBID, forbid)
    os.chmod(forbid, 0o755)
    return Side("user", run, run.home, forbid, run.user.pw_uid)


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def wait_for(cond, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def put_whole(path, text):
    """@text at @path, all at once: written beside it and renamed into
    place. The hook polls for the file, reads it and unlinks it; made in
    place, it could be read empty between its creation and the write and
    unlinked, the lines then going to a file no one would read."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def hook(side, vol, lines):
    """What the preloaded hook's calls returned, one line each."""
    out = os.path.join(vol, "forbid.out")
    put_whole(os.path.join(vol, "forbid"), "".join(l + "\n" for l in lines))
    wait_for(lambda: os.path.exists(out) and
             len(open(out).read().splitlines()) >= len(lines),
             "the hook never answered")
    got = open(out).read().splitlines()
    os.unlink(out)
    return got


def test_confined_supervisor_and_vmm(side):
    vol = side.mkdir("msb-escape-vol-")
    outside = tempfile.mkdtemp(prefix="msb-escape-outside-")
    os.chmod(outside, 0o755)
    with open(os.path.join(outside, "secret"), "w") as f:
        f.write("the user's other file\n")
    os.chmod(os.path.join(outside, "secret"), 0o644)
    with open(os.path.join(vol, "given"), "w") as f:
        f.write("in the volume\n")
    name = unique("escape")
    env = {"LD_PRELOAD": side.forbid,
           "MSB_TEST_FORBID": os.path.join(vol, "forbid")}
    try:
        side.ok("run", "--name", name, "-d", "-v", f"{vol}:/v", env=env)
        info = json.loads(side.ok("inspect", name))
        sup, vm = info["pid"], info["runtime"]["vm_pid"]
        assert info["runtime"]["confined"] is True

        # The supervisor: seccomp, no_new_privs, no capability.
        s = status(sup)
        assert s["Seccomp"] == "2" and s["NoNewPrivs"] == "1", s
        assert int(s["CapEff"], 16) == 0 and int(s["CapPrm"], 16) == 0, s
        if side.kind == "root":
            assert int(s["CapBnd"], 16) == 0, s
            assert s["Uid"].split()[0] == "0"  # root's files stay root's

        # QEMU: its own seccomp filter, no_new_privs, no capability, as
        # root a uid of its own, nothing of the caller's environment.
        q = status(vm)
        assert q["Seccomp"] == "2" and q["NoNewPrivs"] == "1", q
        assert int(q["CapEff"], 16) == 0 and int(q["CapPrm"], 16) == 0, q
        uid = int(q["Uid"].split()[0])
        if side.kind == "root":
            assert VMM_UID_BASE <= uid < VMM_UID_BASE + VMM_UID_COUNT, q
            assert set(q["Uid"].split()) == {str(uid)}, q
            assert int(q["Gid"].split()[0]) != 0, q
            # the VMMs' group (snapshots' RAM files), maybe /dev/kvm's
            groups = {int(g) for g in q["Groups"].split()}
            assert VMM_UID_BASE in groups and 0 not in groups, q
        else:
            assert uid == side.uid, q
        if side.kind == "root":
            # and a root of its own: what it reads by path, nothing else
            # of the host's (no /home, /root, /tmp, /etc beyond the
            # loader's cache, no $MSB_HOME), all of it read-only
            root = f"/proc/{vm}/root"
            assert set(os.listdir(root)) <= VMM_ROOT, os.listdir(root)
            assert {"usr", "dev", "proc"} <= set(os.listdir(root))
            assert os.listdir(root + "/etc") == ["ld.so.cache"]
            assert set(os.listdir(root + "/dev")) <= \
                {"null", "urandom", "kvm", "fd"}
            assert not os.path.exists(root + side.home)
            mounts = open(f"/proc/{vm}/mountinfo").read().splitlines()
            opts = {m.split()[4]: m.split()[5].split(",") for m in mounts}
            assert "ro" in opts["/"] and "ro" in opts["/usr"], opts
        with open(f"/proc/{vm}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[1:3] == [b"-sandbox", POLICY.encode()], argv
        with open(f"/proc/{vm}/environ", "rb") as f:
            assert f.read() == b"PATH=/usr/bin:/bin\0"
        # Its parent, the launcher: the same uid, nothing more.
        launcher = int(q["PPid"])
        ln = status(launcher)
        assert ln["Uid"] == q["Uid"] and ln["NoNewPrivs"] == "1", ln
        assert int(ln["CapEff"], 16) == 0, ln

        # From inside the supervisor: files outside what it serves are
        # out of reach, even those its uid may read; its volume is not.
        lines = [f"read {outside}/secret", f"create {outside}/new",
                 f"read {vol}/given"]
        if side.kind == "root":
            lines.append("read /etc/shadow")  # uid 0 owns it
        got = hook(side, vol, lines)
        assert got[0].endswith(" -1 EACCES"), got
        assert got[1].endswith(" -1 EACCES"), got
        assert got[2].endswith(" OK"), got
        if side.kind == "root":
            assert got[3].endswith(" -1 EACCES"), got
        assert not os.path.exists(os.path.join(outside, "new"))
        # The sandbox still works.
        assert side.ok("exec", name, "--", "cat", "/v/given") == \
            "in the volume\n"

        # QEMU's main thread makes calls for the test (msb-inject, as
        # the VMM's user: what a guest that took QEMU over could do).
        def inject(call, path):
            cmd = [INJECT, str(vm), call, path]
            if side.kind == "user":
                cmd = ["runuser", "-u", side.run.user.pw_name, "--"] + cmd
            for _ in range(20):  # (until it is caught waiting in a call)
                p = subprocess.run(cmd, capture_output=True, timeout=60,
                                   cwd="/", text=True)
                if "try again" not in p.stderr:
                    break
                time.sleep(0.05)
            assert p.returncode == 0, p
            return p.stdout.strip()

        # QEMU reaches no file by path but what it boots from: not the
        # user's other files, not /proc (its launcher may read /proc,
        # QEMU has rules of its own on top), while its own binary is
        # readable, so the refusals are Landlock's and not a broken call.
        got = [inject("open", f"{outside}/secret"),
               inject("open", "/proc/self/status"),
               inject("open", "/usr/bin/env")]
        # (as root QEMU's root directory has no such path at all; as a
        # user Landlock refuses it)
        want = errno.ENOENT if side.kind == "root" else errno.EACCES
        assert got[0] == f"= -{want}", got
        assert re.fullmatch(r"= -\d+", got[1]), got
        assert re.fullmatch(r"= \d+", got[2]), got
        assert not gone(vm)
        # and it still runs the guest
        assert side.ok("exec", name, "--", "cat", "/v/given") == \
            "in the volume\n"

        # QEMU cannot execute anything: its filter kills it (SIGSYS).
        assert inject("execve", "/bin/true") == "killed by signal 31"
        wait_for(lambda: gone(vm), "QEMU survived an execve")
        wait_for(lambda: gone(sup), "the supervisor did not end")
        logs = side.ok("logs", name)
        assert "killed by signal 31, SIGSYS" in logs, logs[-2000:]
    finally:
        side.run("rm", "-f", name)
        shutil.rmtree(vol, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


CALLS = {"exec": "execve", "ptrace": "ptrace", "socket": "socket"}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_forbidden_call_kills_the_supervisor(side, call):
    """A call off the allow-list, made the moment the supervisor is
    confined (before the guest has booted): the log names it, and the
    supervisor, its launcher and QEMU are gone."""
    if side.kind == "user" and call != "exec":
        pytest.skip("one call is enough to show it as a user too")
    vol = side.mkdir("msb-escape-vol-")
    put_whole(os.path.join(vol, "forbid"), call + "\n")
    name = unique("forbid")
    env = {"LD_PRELOAD": side.forbid,
           "MSB_TEST_FORBID": os.path.join(vol, "forbid")}
    try:
        p = side.run("run", "--name", name, "-d", "-v", f"{vol}:/v", env=env)
        assert p.returncode != 0, p
        logs = side.ok("logs", name)
        assert (f"seccomp: the supervisor made a forbidden system call, "
                f"{CALLS[call]} (") in logs, logs[-2000:]
        assert not os.path.exists(os.path.join(vol, "forbid.out")), \
            "the call returned: it was not refused"

        def none_left():
            ps = subprocess.run(["pgrep", "-f", f"msb-supervisor {name} "],
                                capture_output=True, text=True).stdout
            return not ps.strip()
        wait_for(none_left, "a supervisor or launcher outlived it")
    finally:
        side.run("rm", "-f", name)
        shutil.rmtree(vol, ignore_errors=True)


def test_root_serves_a_users_directory_as_that_user(msb):
    """As root the supervisor holds no capability, so a directory of
    another user is served with that user's ids (each volume thread's
    filesystem ids): the guest writes there as the user could, and what it
    makes is the user's. Directories of two users at once are refused
    before the guest boots, with a message."""
    if os.getuid() != 0:
        pytest.skip("root's case")
    uid, other = 54321, 54322
    d = tempfile.mkdtemp(prefix="msb-escape-owned-")
    e = tempfile.mkdtemp(prefix="msb-escape-other-")
    try:
        os.chmod(d, 0o755)
        os.chown(d, uid, uid)
        with open(os.path.join(d, "old"), "w") as f:
            f.write("old\n")
        os.chmod(os.path.join(d, "old"), 0o644)
        os.chown(os.path.join(d, "old"), uid, uid)
        p = msb("run", "--rm", "-v", f"{d}:/v", "--", "sh", "-c",
                "echo more >> /v/old && echo new > /v/new && mkdir /v/dir")
        assert p.returncode == 0, p
        for n in ("old", "new", "dir"):
            st = os.stat(os.path.join(d, n))
            assert (st.st_uid, st.st_gid) == (uid, uid), (n, st)
        assert open(os.path.join(d, "old")).read() == "old\nmore\n"
        os.chown(e, other, other)
        p = msb("run", "--rm", "-v", f"{d}:/v", "-v", f"{e}:/w", "--",
                "true")
        assert p.returncode == 125, p
        assert b"belong to different users" in p.stderr, p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(e, ignore_errors=True)
