# SPDX-License-Identifier: Apache-2.0
"""An ordinary user does everything: no root, no daemon."""

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD

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
    home = os.path.join(pw.pw_dir, "msb-home-test")
    shutil.rmtree(home, ignore_errors=True)

    def run(*args, timeout=180):
        return subprocess.run(
            ["runuser", "-u", USER, "--", "env", f"MSB_HOME={home}",
             f"HOME={pw.pw_dir}", os.path.join(tree, "bin", "msb"), *args],
            capture_output=True, timeout=timeout)
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
