# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the Python SDK's tests (helpers in pysdk.py)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from .pysdk import ROOT, msb, run, unique


@pytest.fixture(scope="session", autouse=True)
def home():
    d = tempfile.mkdtemp(prefix="msb-pysdk-")
    os.chmod(d, 0o755)
    old = os.environ.get("MSB_HOME")
    os.environ["MSB_HOME"] = d
    yield d
    for n in msb("ps", "-a", "-q", check=False).stdout.decode().split():
        msb("rm", "-f", n, check=False)
    shutil.rmtree(d, ignore_errors=True)
    if old is None:
        os.environ.pop("MSB_HOME", None)
    else:
        os.environ["MSB_HOME"] = old


@pytest.fixture(scope="session")
def shared(home):
    """One sandbox of the built-in image, made through the SDK, shared by
    the tests that only exec and touch files (boots cost seconds)."""
    from microsandbox import Sandbox

    name = unique("pyshared")
    sb = run(Sandbox.create(name))
    yield sb
    run(sb.remove(force=True))


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def registry(home):
    """A local docker-registry with the test images of tests/images/build.py
    pushed, and the same busybox image loaded into the store under the
    names the seeds use (python:3.12, node:20), so their snippets run as
    written, offline."""
    reg = shutil.which("docker-registry")
    if not reg:
        pytest.skip("docker-registry not installed (./setup --test)")
    sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
    import build  # noqa: E402

    root = tempfile.mkdtemp(prefix="msb-pyreg-")
    port = _free_port()
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\n")
    p = subprocess.Popen([reg, "serve", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        end = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
        build.push_all(f"http://127.0.0.1:{port}")
        bb = build.Image([(build.busybox_layer(), "gzip")],
                         config={"Env": [build.PATH_ENV], "Cmd": ["sh"]})
        for tag in ("python:3.12", "node:20"):
            d = os.path.join(root, tag.replace(":", "-"))
            build.write_layout(bb, d, tag)
            msb("load", "-q", "--tag", tag, d)
        yield f"127.0.0.1:{port}"
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(root, ignore_errors=True)
