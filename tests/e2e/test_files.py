# SPDX-License-Identifier: Apache-2.0
"""Files in the guest through the agent's file channel: msb cp both ways
(files, trees, symlinks, modes, docker cp's rules, '-'), the guest user's
permissions, errors, and a file larger than the guest's RAM streamed both
ways."""

import hashlib
import os
import stat
import subprocess

from conftest import unique


def sh(msb, name, script, **kw):
    return msb("exec", name, "--", "sh", "-c", script, **kw)


def test_cp_file_both_ways(msb, shared, tmp_path):
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello\x00world\n" * 1000)
    os.chmod(src, 0o640)
    sh(msb, shared, "rm -rf /tmp/cp1 && mkdir /tmp/cp1", check=0)
    # to an existing directory: lands in it under its own name, mode kept
    msb("cp", str(src), f"{shared}:/tmp/cp1", check=0)
    out = sh(msb, shared, "stat -c '%a %s %U' /tmp/cp1/hello.txt", check=0)
    assert out.stdout == b"640 12000 root\n"
    # to a new path; then back to a host directory and to a host path
    msb("cp", str(src), f"{shared}:/tmp/cp1/renamed", check=0)
    msb("cp", f"{shared}:/tmp/cp1/renamed", str(tmp_path), check=0)
    assert (tmp_path / "renamed").read_bytes() == src.read_bytes()
    assert stat.S_IMODE(os.stat(tmp_path / "renamed").st_mode) == 0o640
    msb("cp", f"{shared}:/tmp/cp1/hello.txt", str(tmp_path / "back"), check=0)
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    # relative guest paths start at the sandbox's working directory (/)
    msb("cp", str(src), f"{shared}:tmp/cp1/rel", check=0)
    assert sh(msb, shared, "cat /tmp/cp1/rel", check=0).stdout == src.read_bytes()


def test_cp_stdin_stdout(msb, shared):
    data = bytes(range(256)) * 300
    msb("cp", "-", f"{shared}:/tmp/from-stdin", input=data, check=0)
    assert msb("cp", f"{shared}:/tmp/from-stdin", "-", check=0).stdout == data


def test_cp_tree_both_ways(msb, shared, tmp_path):
    src = tmp_path / "tree"
    (src / "a" / "deep" / "er").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a" / "one").write_text("1\n")
    (src / "a" / "deep" / "two").write_bytes(os.urandom(100000))
    (src / "a" / "deep" / "er" / "x.sh").write_text("#!/bin/sh\necho x\n")
    os.chmod(src / "a" / "deep" / "er" / "x.sh", 0o755)
    os.chmod(src / "a" / "deep", 0o750)
    os.symlink("one", src / "a" / "link")
    os.symlink("/etc/passwd", src / "abs")
    sh(msb, shared, "rm -rf /tmp/t1 /tmp/t2 && mkdir /tmp/t2", check=0)
    # to a path that does not exist: becomes it
    msb("cp", str(src), f"{shared}:/tmp/t1", check=0)
    got = sh(msb, shared, "cd /tmp/t1 && find . | sort && stat -c '%n %a' "
             "a/deep a/deep/er/x.sh && readlink a/link && readlink abs && a/deep/er/x.sh",
             check=0).stdout.decode()
    assert got.split("\n")[:10] == [
        ".", "./a", "./a/deep", "./a/deep/er", "./a/deep/er/x.sh",
        "./a/deep/two", "./a/link", "./a/one", "./abs", "./empty"], got
    assert "a/deep 750\na/deep/er/x.sh 755\none\n/etc/passwd\nx\n" in got
    # to an existing directory: inside it; with "/.", only its contents
    msb("cp", str(src), f"{shared}:/tmp/t2", check=0)
    msb("cp", f"{src}/.", f"{shared}:/tmp/t2", check=0)
    assert sh(msb, shared, "ls /tmp/t2 | sort | tr '\\n' ' '",
              check=0).stdout == b"a abs empty tree "
    # and back out, compared file by file
    out = tmp_path / "out"
    msb("cp", f"{shared}:/tmp/t1", str(out), check=0)
    for rel in ("a/one", "a/deep/two", "a/deep/er/x.sh"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes(), rel
    assert os.readlink(out / "a" / "link") == "one"
    assert os.readlink(out / "abs") == "/etc/passwd"
    assert (out / "empty").is_dir()
    assert stat.S_IMODE(os.stat(out / "a" / "deep").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(out / "a" / "deep" / "er" / "x.sh").st_mode) == 0o755
    msb("cp", f"{shared}:/tmp/t1/.", str(out), check=0)  # contents onto itself
    assert sorted(os.listdir(out)) == ["a", "abs", "empty"]


def test_cp_as_a_user_and_errors(msb, shared, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    # the guest's permissions apply to the user given
    p = msb("cp", "-u", "user", str(f), f"{shared}:/etc/f")
    assert p.returncode == 1
    assert b"open /etc/f: Permission denied" in p.stderr
    p = msb("cp", "-u", "user", f"{shared}:/root", str(tmp_path))
    assert p.returncode == 1 and b"Permission denied" in p.stderr
    msb("cp", "-u", "user", str(f), f"{shared}:/tmp/by-user", check=0)
    assert sh(msb, shared, "stat -c %U /tmp/by-user", check=0).stdout == b"user\n"
    p = msb("cp", f"{shared}:/no/such/file", str(tmp_path))
    assert p.returncode == 1
    assert b"stat /no/such/file: No such file or directory" in p.stderr
    p = msb("cp", str(f), f"{shared}:/no/such/dir/")
    assert p.returncode == 1 and b"no directory /no/such/dir/" in p.stderr
    p = msb("cp", str(tmp_path), f"{shared}:/etc/passwd")
    assert p.returncode == 1 and b"onto the file /etc/passwd" in p.stderr
    # usage: one side in a sandbox, exactly
    assert msb("cp", str(f), str(tmp_path)).returncode == 2
    assert msb("cp", f"{shared}:/a", f"{shared}:/b").returncode == 2
    assert msb("cp", "only-one").returncode == 2
    p = msb("cp", str(f), "no-such-sandbox:/tmp")
    assert p.returncode == 1 and b"no sandbox named 'no-such-sandbox'" in p.stderr
    assert b"NAME:GUEST_PATH" in msb("cp", "--help", check=0).stdout


def test_cp_file_larger_than_guest_ram(msb, tmp_path):
    """72 MiB through a guest with 64 MiB of RAM, both ways: nothing on the
    way holds a whole file."""
    name = unique("small")
    msb("run", "--name", name, "--memory", "64M", "-d", check=0)
    try:
        big = tmp_path / "big"
        with open(big, "wb") as f:
            for _ in range(72):
                f.write(os.urandom(1 << 20))
        want = hashlib.sha256(big.read_bytes()).hexdigest()
        msb("cp", "-q", str(big), f"{name}:/root/big", check=0, timeout=900)
        got = msb("exec", name, "--", "sha256sum", "/root/big", check=0)
        assert got.stdout.split()[0].decode() == want
        back = tmp_path / "back"
        msb("cp", "-q", f"{name}:/root/big", str(back), check=0, timeout=900)
        assert hashlib.sha256(back.read_bytes()).hexdigest() == want
    finally:
        msb("rm", "-f", name)
