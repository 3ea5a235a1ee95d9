# SPDX-License-Identifier: Apache-2.0
"""An ordinary user does everything: no root, no daemon."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, restored_ram_kib

USER = "msbtest"


@pytest.fixture(scope="module")
def as_user():
    if os.getuid() != 0:
        pytest.skip("creating a test user needs root; run as root (CI does)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True)
    pw = pwd.getpwnam(USER)
    # A copy of the build the user can read wherever the checkout lives.
    root = tempfile.mkdtemp(prefix="msb-user-")
    os.chmod(root, 0o755)
    tree = os.path.join(root, "msb")
    shutil.copytree(BUILD, tree, symlinks=True,
                    ignore=shutil.ignore_patterns("obj", "tests", "fuzz"))
    # (one per run: two runs on one machine share the user, not its state)
    home = os.path.join(pw.pw_dir, f"msb-home-test-{os.getpid()}")
    shutil.rmtree(home, ignore_errors=True)

    def run(*args, timeout=180, env=None):
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        return subprocess.run(
            ["runuser", "-u", USER, "--", "env", f"MSB_HOME={home}",
             f"HOME={pw.pw_dir}", *extra, os.path.join(tree, "bin", "msb"),
             *args],
            capture_output=True, timeout=timeout)
    run.home, run.tree, run.user = home, tree, pw
    yield run
    run("rm", "-f", "userbox")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


def test_ordinary_user_lifecycle(as_user):
    p = as_user("run", "--rm", "--", "sh", "-c", "echo uid=$(id -u)")
    assert p.returncode == 0, p
    assert p.stdout == b"uid=0\n"  # root inside its own guest only
    p = as_user("run", "--name", "userbox", "-d")
    assert p.returncode == 0, p
    p = as_user("exec", "userbox", "--", "echo", "hi")
    assert p.stdout == b"hi\n", p
    # Its supervisor and VM run as that user, not as root.
    ps = subprocess.run(["ps", "-o", "user=,args=", "-u", USER],
                        capture_output=True, text=True).stdout
    assert "msb-supervisor userbox" in ps and "qemu-system-x86_64" in ps, ps
    assert as_user("stop", "userbox").returncode == 0
    assert as_user("rm", "userbox").returncode == 0


def test_ordinary_user_restore_gives_back_freed_memory(as_user):
    """A user's snapshot restores, and the launcher, with that user's
    rights only, tells the restored QEMU's fallocate(2) on the snapshot's
    RAM file from its disks' (docs/architecture.md)."""
    try:
        assert as_user("run", "--name", "usersnap", "-d").returncode == 0
        p = as_user("snapshot", "usersnap", "--name", "usersnap-s")
        assert p.returncode == 0, p
        p = as_user("restore", "usersnap-s", "--name", "userfork", "-d")
        assert p.returncode == 0, p
        p = as_user("inspect", "userfork")
        vm = json.loads(p.stdout)["runtime"]["vm_pid"]

        p = as_user("exec", "userfork", "--", "sh", "-c",
                    "mkdir -p /mnt/f && mount -t tmpfs -o size=1G t /mnt/f && "
                    "dd if=/dev/zero of=/mnt/f/f bs=1M count=96 2>/dev/null")
        assert p.returncode == 0, p
        full = restored_ram_kib(vm)
        assert full > 96 * 1024
        p = as_user("exec", "userfork", "--", "sh", "-c",
                    "rm /mnt/f/f && umount /mnt/f")
        assert p.returncode == 0, p
        deadline = time.time() + 90
        while restored_ram_kib(vm) > full - 48 * 1024 and time.time() < deadline:
            time.sleep(0.5)
        assert restored_ram_kib(vm) <= full - 48 * 1024, (full, restored_ram_kib(vm))
    finally:
        for n in ("userfork", "usersnap"):
            as_user("rm", "-f", n)
        as_user("snapshot", "rm", "--force", "usersnap-s")


def test_ordinary_user_volume(as_user, tmp_path):
    """A host directory of an ordinary user's: its files are root's in the
    guest, and what guest root creates there is the user's on the host; a
    chown or a setuid bit in the guest stays the guest's (an xattr), never
    refused and never the host file's."""
    pw = pwd.getpwnam(USER)
    d = tempfile.mkdtemp(prefix="msb-user-vol-")
    try:
        os.chmod(d, 0o755)
        with open(os.path.join(d, "mine"), "w") as f:
            f.write("user's\n")
        for p in (d, os.path.join(d, "mine")):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        p = as_user("run", "--rm", "-v", f"{d}:/d", "--", "sh", "-c",
                    "stat -c '%u:%g %n' /d/mine; cat /d/mine; "
                    "echo new > /d/made; mkdir /d/dir; stat -c '%u:%g' /d/made; "
                    "chown 1234:5678 /d/dir && chmod 4755 /d/made && "
                    "stat -c '%u:%g %a' /d/dir /d/made")
        assert p.returncode == 0, p
        assert p.stdout == b"0:0 /d/mine\nuser's\n0:0\n1234:5678 755\n0:0 4755\n", \
            p.stdout
        for n in ("made", "dir"):
            st = os.stat(os.path.join(d, n))
            assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), n
            assert st.st_mode & 0o7777 == 0o755, (n, oct(st.st_mode))
        assert os.getxattr(os.path.join(d, "dir"), "user.containers.override_stat") \
            == b"1234:5678:0755"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_no_home_at_all_falls_back_only_to_a_private_dir():
    # A uid with no password entry, run with neither $MSB_HOME nor $HOME:
    # its state goes to /tmp/.microsandbox-UID, which anyone could create
    # first; msb uses it only if it is a 0700 directory of that uid's.
    if os.getuid() != 0:
        pytest.skip("running as a uid with no password entry needs root")
    uid = 40000 + int.from_bytes(os.urandom(2), "big") % 20000
    try:
        pwd.getpwuid(uid)
        pytest.skip(f"uid {uid} has a password entry")
    except KeyError:
        pass
    # (A copy of the build that uid can reach, wherever the checkout is.)
    top = tempfile.mkdtemp(prefix="msb-nohome-")
    os.chmod(top, 0o755)
    tree = os.path.join(top, "msb")
    for d in ("bin", "lib"):
        shutil.copytree(os.path.join(BUILD, d), os.path.join(tree, d),
                        symlinks=True)
    fallback = f"/tmp/.microsandbox-{uid}"
    made_old = not os.path.exists("/tmp/.microsandbox")

    def ps():
        return subprocess.run([os.path.join(tree, "bin", "msb"), "ps"],
                              env={"PATH": os.environ["PATH"]}, user=uid,
                              group=uid, extra_groups=[], capture_output=True,
                              timeout=60)

    try:
        # Made first by someone else (here root), open to all: refused,
        # nothing written there.
        os.mkdir(fallback)
        os.chmod(fallback, 0o777)
        p = ps()
        assert p.returncode != 0, p
        err = p.stderr.decode()
        assert f"{fallback} is not a private directory of ours" in err, err
        assert "set MSB_HOME" in err, err
        assert os.listdir(fallback) == []
        # A link to a directory of the user's is no better.
        os.rmdir(fallback)
        target = os.path.join(top, "elsewhere")
        os.mkdir(target, 0o700)
        os.chown(target, uid, uid)
        os.symlink(target, fallback)
        p = ps()
        assert p.returncode != 0 and b"a symbolic link" in p.stderr, p
        assert os.listdir(target) == []
        # Free: made 0700, the user's own, and used.
        os.unlink(fallback)
        p = ps()
        assert p.returncode == 0, p
        st = os.lstat(fallback)
        assert st.st_uid == uid and (st.st_mode & 0o777) == 0o700
        assert os.path.exists(os.path.join(fallback, "msb.db"))
    finally:
        if os.path.islink(fallback):
            os.unlink(fallback)
        shutil.rmtree(fallback, ignore_errors=True)
        if made_old:
            shutil.rmtree("/tmp/.microsandbox", ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)


def test_a_home_the_user_cannot_write_says_so(as_user):
    """MSB_HOME an existing directory this user cannot write: every verb
    says which directory and what to do, not SQLite's "unable to open
    database file"."""
    d = tempfile.mkdtemp(prefix="msb-theirs-")
    os.chmod(d, 0o555)
    for verb in (["ps"], ["run", "--rm", "--", "true"]):
        p = as_user(*verb, env={"MSB_HOME": str(d)})
        err = p.stderr.decode()
        assert p.returncode != 0, (verb, p)
        assert f"{d} is not writable by this user (set MSB_HOME to a " \
            "directory you own)" in err, (verb, err)
    p = as_user("volume", "create", "v", env={"MSB_HOME": str(d)})
    assert p.returncode != 0 and \
        f"cannot create {d}/volumes: Permission denied (set MSB_HOME to " \
        "a directory you own)" in p.stderr.decode(), p
    assert os.listdir(d) == []
    # A home that would be made under a directory this user cannot
    # write: the same hint, from whichever verb makes it.
    for verb in (["ps"], ["volume", "create", "v"], ["pull", "x"]):
        p = as_user(*verb, env={"MSB_HOME": f"{d}/home"})
        assert p.returncode != 0 and \
            f"cannot create {d}/home: Permission denied (set MSB_HOME " \
            "to a directory you own)" in p.stderr.decode(), (verb, p)
    assert os.listdir(d) == []
    os.rmdir(d)
