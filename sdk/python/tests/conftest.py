# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the Python SDK's tests (helpers in pysdk.py)."""

import json
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
    """A local docker-registry holding the stand-ins for the images the
    seeds name (tests/images/seed.py: busybox with SEED_IMAGE=python:3.12
    or node:20 in its environment), pulled from it through the SDK
    (Image.pull) and stored under the seeds' own names (Image.load), so
    their snippets run as written, offline. Yields the registry's
    host:port; the pull progress reports are kept in ``.progress``."""
    from microsandbox import Image

    reg = shutil.which("docker-registry")
    if not reg:
        pytest.skip("docker-registry not installed (./setup --test)")
    root = tempfile.mkdtemp(prefix="msb-pyreg-")
    port = _free_port()
    host = f"127.0.0.1:{port}"
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}/data\nhttp:\n  addr: {host}\n")
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
        out = subprocess.run([sys.executable,
                              os.path.join(ROOT, "tests", "images", "seed.py"),
                              f"http://{host}", os.path.join(root, "layouts")],
                             capture_output=True, text=True, check=True).stdout
        progress = []

        async def store():
            for ref, layout in json.loads(out).items():
                await Image.pull(f"{host}/{ref}", progress=progress.append)
                await Image.load(layout, tag=ref)
        run(store())
        yield Registry(host, progress)
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(root, ignore_errors=True)


class Registry(str):
    """The registry's host:port, with what its pulls reported."""

    def __new__(cls, host, progress):
        r = super().__new__(cls, host)
        r.progress = progress
        return r
