# SPDX-License-Identifier: Apache-2.0
"""The plugin registry (docs/plugins.md, "The registry"): a plugin
published to Debian's docker-registry on loopback, found by search,
installed into clean homes and run by name; a tampered blob in the
registry and a tampered installed file refused. One boot in all: the
sandbox that runs the installed plugin (and is then refused a start once
its plugin's files changed)."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import Msb, unique

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.join(HERE, "plugins", "registry")
REGISTRY_BIN = shutil.which("docker-registry")
pytestmark = pytest.mark.skipif(not REGISTRY_BIN,
                                reason="docker-registry not installed "
                                "(./setup --test)")


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugreg")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = root / "config.yml"
    cfg.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n"
                   f"  filesystem:\n    rootdirectory: {root}/data\n"
                   f"http:\n  addr: 127.0.0.1:{port}\n")
    p = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.3).close()
            break
        except OSError:
            assert time.time() < end, "docker-registry did not start"
            time.sleep(0.05)
    yield {"ns": f"127.0.0.1:{port}/plugins", "data": root / "data",
           "root": root}
    p.kill()
    p.wait()


@pytest.fixture(scope="module")
def published(msb, reg):
    out = msb("plugin", "publish", PLUGIN, "--registry", reg["ns"],
              "--format", "json", check=0).stdout
    return json.loads(out)


def home(tmp_path, reg, tag="home"):
    m = Msb(str(tmp_path / tag))
    m.env["MSB_PLUGIN_REGISTRY"] = reg["ns"]
    return m


def test_publish_then_search_finds_it(msb, reg, published):
    assert published["name"] == "msb-guard"
    assert published["version"] == "1.0.0"
    assert published["reference"] == f"{reg['ns']}/msb-guard:1.0.0"
    assert published["digest"].startswith("sha256:")
    found = json.loads(msb.out("plugin", "search", "exec_before",
                               "--registry", reg["ns"], "--format", "json"))
    assert [(p["name"], p["digest"], p["hooks"], p["command"])
            for p in found] == [("msb-guard", published["digest"],
                                 ["exec_before"], "python3 guard.py")]
    table = msb.out("plugin", "search", "DENY", "--registry", reg["ns"])
    assert "msb-guard" in table and "1.0.0" in table
    assert "msb-guard" not in msb.out("plugin", "search", "nothing-like-it",
                                      "--registry", reg["ns"])


def test_install_on_a_clean_home_and_run_by_name(tmp_path, reg, published):
    m = home(tmp_path, reg)
    p = m("plugin", "install", "msb-guard", check=0)
    assert b"installed msb-guard 1.0.0" in p.stdout
    [i] = json.loads(m.out("plugin", "ls", "--format", "json"))
    assert i["digest"] == published["digest"] and i["verified"] is True
    assert i["files"] == 2
    files = os.path.join(m.home, "plugins", "msb-guard", "files")
    with open(os.path.join(files, "words", "deny.txt")) as f:
        assert f.read() == "forbidden-cmd\n"
    assert m.out("plugin", "ls", "-q") == "msb-guard\n"

    name = unique("plugreg")
    m("run", "-d", "--name", name, "--plugin", "msb-guard", check=0)
    try:
        p = m("exec", name, "--", "forbidden-cmd")
        assert p.returncode == 125, p
        assert (b"exec denied by plugin guard: forbidden-cmd is on the "
                b"deny list") in p.stderr
        assert m("exec", name, "--", "echo", "ok", check=0).stdout == b"ok\n"
        # its files changed: the next start is refused, naming the file
        m("stop", name, check=0)
        with open(os.path.join(files, "words", "deny.txt"), "w") as f:
            f.write("nothing\n")
        p = m("start", name)
        assert p.returncode != 0
        assert b"words/deny.txt does not match its digest" in p.stderr, p
        [i] = json.loads(m.out("plugin", "ls", "--format", "json"))
        assert i["verified"] is False
        # installed again, it starts
        m("plugin", "install", "msb-guard", check=0)
        m("start", name, check=0)
        assert m("exec", name, "--", "forbidden-cmd").returncode == 125
        # a restore of its snapshot keeps its plugins, checked again
        m("snapshot", "create", name, "--name", name + "-s", check=0)
        m("restore", name + "-s", "--name", name + "-r", "-d", check=0)
        p = m("exec", name + "-r", "--", "forbidden-cmd")
        assert p.returncode == 125
        assert b"exec denied by plugin guard" in p.stderr
    finally:
        m("rm", "-f", name + "-r")
        m("snapshot", "rm", name + "-s")
        m("rm", "-f", name)
    m("plugin", "rm", "msb-guard", check=0)
    assert json.loads(m.out("plugin", "ls", "--format", "json")) == []
    p = m("run", "--plugin", "msb-guard", "--", "true")
    assert p.returncode == 125
    assert b"no installed plugin has that name" in p.stderr


def test_a_tampered_installed_file_is_refused_at_load(tmp_path, reg,
                                                     published):
    m = home(tmp_path, reg)
    m("plugin", "install", f"msb-guard@{published['digest']}", check=0)
    with open(os.path.join(m.home, "plugins", "msb-guard", "files",
                           "guard.py"), "a") as f:
        f.write("# changed\n")
    p = m("run", "--plugin", "msb-guard", "--", "true")
    assert p.returncode == 125
    assert (b"installed plugin msb-guard: its file guard.py does not match "
            b"its digest") in p.stderr
    p = m("plugin", "inspect", "msb-guard")
    assert p.returncode == 1 and json.loads(p.stdout)["verified"] is False


def test_a_tampered_artifact_is_refused(tmp_path, reg, published):
    # the registry serves other bytes for guard.py's blob than its digest
    with open(os.path.join(PLUGIN, "guard.py"), "rb") as f:
        want = f.read()
    blobs = [os.path.join(d, "data") for d, _, names in
             os.walk(reg["data"]) if "data" in names]
    [blob] = [b for b in blobs if open(b, "rb").read() == want]
    saved = want
    try:
        with open(blob, "wb") as f:
            f.write(want.replace(b"deny", b"DENY"))
        m = home(tmp_path, reg)
        p = m("plugin", "install", "msb-guard")
        assert p.returncode == 1
        assert b"digest mismatch" in p.stderr, p
        assert not os.path.exists(os.path.join(m.home, "plugins",
                                               "msb-guard"))
        assert json.loads(m.out("plugin", "ls", "--format", "json")) == []
    finally:
        with open(blob, "wb") as f:
            f.write(saved)


def test_clear_errors(msb, tmp_path, reg, published):
    m = home(tmp_path, reg)
    p = m("plugin", "install", "no-such-plugin")
    assert p.returncode == 1 and b"has no plugin" in p.stderr
    # a reference that holds something else: the index is no plugin
    p = m("plugin", "install", f"{reg['ns']}/index:latest")
    assert p.returncode == 1 and b"is not a plugin" in p.stderr, p
    p = m("pull", f"{reg['ns']}/msb-guard:1.0.0")
    assert p.returncode == 1
    assert b"is a plugin, not an image: 'msb plugin install" in p.stderr, p
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.py").write_text("pass\n")
    (bad / "plugin.json").write_text(json.dumps(
        {"name": "bad", "version": "1", "kind": "process",
         "hooks": ["no_such_hook"], "command": "python3 x.py"}))
    p = msb("plugin", "publish", str(bad), "--registry", reg["ns"])
    assert p.returncode == 1 and b"no hook named 'no_such_hook'" in p.stderr
    p = Msb(str(tmp_path / "noreg"))("plugin", "search")
    assert p.returncode == 1 and b"no plugin registry" in p.stderr
    assert msb("plugin").returncode == 2
    assert b"msb plugin search" in msb("plugin", "--help", check=0).stdout
    assert msb("plugin", "ls", "--registry", "x").returncode == 2
