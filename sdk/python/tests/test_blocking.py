# SPDX-License-Identifier: Apache-2.0
"""The blocking form (microsandbox.blocking), on one sandbox that also carries
what the other tests leave out: an image pulled by create itself, a disk
size, a published port, a host port opened, a detached command waited
for, and a command started in the background."""

import asyncio
import time
import urllib.request

import pytest

from .pysdk import serve_http, unique
from microsandbox import Network, NotFound, blocking


@pytest.fixture
def host_server():
    """An HTTP server on the host's loopback, for allow_host."""
    srv = serve_http(lambda *_: b"hello from the host\n")
    yield srv.port
    srv.shutdown()
    srv.server_close()


def test_blocking_form_and_create_options(registry, host_server):
    name = unique("pyblock")
    ref = f"{registry}/node:20"
    if ref in [i.reference for i in blocking.Image.list()]:
        blocking.Image.remove(ref)
    with blocking.Sandbox.create(name, image=ref, disk="1G",
                             ports=["8080"], command="sh -c 'sleep 3; exit 3'",
                             network=Network(allow_host=[host_server])) as sb:
        r = sb.exec("echo $SEED_IMAGE", shell=True)
        assert (r.exit_code, r.stdout) == (0, "node:20\n")
        assert ref in [i.reference for i in blocking.Image.list()]
        assert blocking.Sandbox.get(name).name == name
        assert sb.inspect()["config"]["disk_mib"] == 1024
        # the detached command's status
        assert sb.wait(timeout=120) == 3
        # the host's one opened port, by the gateway's name
        r = sb.exec(f"wget -qO- http://host.msb.internal:{host_server}/")
        assert r.stdout == "hello from the host\n", r.stderr
        # a server started in the background, reached through the port
        sb.fs.write("/tmp/www/index.html", "hello from the guest\n",
                    parents=True)
        pid = sb.exec_detached("httpd -f -p 8080 -h /tmp/www")
        assert pid > 1
        assert sb.exec(["kill", "-0", str(pid)]).exit_code == 0
        (port,) = sb.ports()
        assert port.guest_port == 8080 and port.host_port > 0
        body = None
        for _ in range(50):
            try:
                body = urllib.request.urlopen(
                    f"http://{port.host_ip}:{port.host_port}/index.html",
                    timeout=10).read()
                break
            except OSError:
                time.sleep(0.2)
        assert body == b"hello from the guest\n"
        # streaming, stdin, files, all blocking
        chunks = list(sb.exec_stream("sh -c 'echo 1; echo 2 >&2'"))
        assert sorted((c.stream, c.text) for c in chunks) == \
            [("stderr", "2\n"), ("stdout", "1\n")]
        with sb.exec_stream("cat", stdin=True) as p:
            assert p.paused is None  # (test_exec's full disk has it set)
            p.write("line\n")
            p.close_stdin()
            assert p.wait().stdout == "line\n"
        data = bytes(range(256)) * 1000
        assert sb.fs.write("/tmp/sync.bin", data) == len(data)
        assert b"".join(sb.fs.stream("/tmp/sync.bin")) == data
        assert "sync.bin" in [e.name for e in sb.fs.list("/tmp")]
        assert sb.metrics().running
        # inside an event loop it refuses instead of stalling the loop
        async def inside():
            blocking.Sandbox.get(name)
        with pytest.raises(RuntimeError, match="running event loop"):
            asyncio.run(inside())
    with pytest.raises(NotFound):
        blocking.Sandbox.get(name)
    assert blocking.remote() is None  # a private home has none
    assert name not in [i.name for i in blocking.Sandbox.list()]
