# SPDX-License-Identifier: Apache-2.0
"""Published ports (msb run -p) and network plugins (--net-plugin).

Neither needs the fake internet: a published port is a host connection into
the guest, and the example plugin (examples/net_plugin.c) answers and
denies names without asking an upstream.
"""

import os
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import unique

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

SERVE = ("mkdir -p /www && echo hello from the guest > /www/index.html && "
         "exec httpd -f -p 80 -h /www")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bindable(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def get(port, timeout=30):
    """The guest's page through the published port; the server may still be
    starting, which a published port shows as a reset connection."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/",
                                        timeout=10) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_published_port_reaches_guest_server(msb):
    port = free_port()
    name = unique("port")
    msb("run", "--name", name, "-d", "-p", f"{port}:80/tcp", "--",
        "sh", "-c", SERVE, check=0)
    try:
        assert get(port) == "hello from the guest\n"
        # A second connection, and a few at once.
        assert get(port) == "hello from the guest\n"
        socks = [socket.create_connection(("127.0.0.1", port), 10)
                 for _ in range(4)]
        for s in socks:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        for s in socks:
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            assert data.endswith(b"hello from the guest\n"), data
            s.close()
        # A guest port nobody listens on: the host connection is reset.
        assert bindable(port) is False
        assert f"net: published {port}:80/tcp" in msb.out("logs", name)
        # Bound to 127.0.0.1 only by default.
        assert f"127.0.0.1:{port}" in subprocess.run(
            ["ss", "-ltnH"], capture_output=True, text=True).stdout
    finally:
        msb("stop", name)
    # Stopped: the port is free at once.
    assert bindable(port)
    msb("rm", "-f", name, check=0)


def test_published_port_on_ipv6_loopback(msb):
    port = free_port()
    name = unique("port")
    msb("run", "--name", name, "-d", "-p", f"[::1]:{port}:80", "--",
        "sh", "-c", SERVE, check=0)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://[::1]:{port}/",
                                            timeout=10) as r:
                    assert r.read() == b"hello from the guest\n"
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True,
                                   text=True).stdout
        assert f"[::1]:{port}" in listening, listening
        # IPv6 only: 127.0.0.1 is another rule's.
        assert f"127.0.0.1:{port}" not in listening
    finally:
        msb("rm", "-f", name, check=0)


def test_published_port_to_closed_guest_port_resets(msb):
    port = free_port()
    name = unique("port")
    msb("run", "--name", name, "-d", "-p", f"{port}:81", check=0)
    try:
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.settimeout(20)
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            s.sendall(b"x")
            if s.recv(1) == b"":
                raise ConnectionResetError
        s.close()
    finally:
        msb("rm", "-f", name, check=0)


def test_taken_port_is_refused_and_nothing_made(msb):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    name = unique("port")
    try:
        p = msb("run", "--name", name, "-d", "-p", f"{port}:80")
        assert p.returncode == 125, p
        assert b"already in use" in p.stderr, p.stderr
        assert f"{port}:80".encode() in p.stderr, p.stderr
        assert name not in msb.out("ps", "-a")
        assert not os.path.exists(os.path.join(msb.home, "sandboxes", name))
    finally:
        holder.close()


@pytest.mark.parametrize("value", ["0", "80:0", "1.2.3:80:80", "80:80/udp"])
def test_bad_ports_are_refused(msb, value):
    p = msb("run", "--rm", "-p", value, "--", "true")
    assert p.returncode == 125, p
    assert value.encode() in p.stderr, p.stderr


def test_net_plugin_example(msb, tmp_path):
    so = tmp_path / "net_plugin.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-Wall", "-Werror",
                    "-Wno-unused-parameter", "-I", os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "examples", "net_plugin.c"), "-o",
                    str(so)], check=True)
    name = unique("plugin")
    msb("run", "--name", name, "-d", "--net-plugin", str(so), check=0)
    try:
        out = msb.out("exec", name, "--", "nslookup", "plugin.test")
        assert "192.0.2.77" in out, out
        out = msb.out("exec", name, "--", "nslookup", "-type=AAAA",
                      "plugin.test")
        assert "2001:db8::77" in out and "192.0.2.77" not in out, out
        p = msb("exec", name, "--", "nslookup", "blocked.test")
        assert p.returncode != 0 and b"NXDOMAIN" in p.stdout, p
        p = msb("exec", name, "--", "sh", "-c",
                "nc -w 5 198.51.100.9 9 </dev/null")
        assert b"refused" in p.stderr, p
        # on_connect sees IPv6 destinations too (plugin ABI 2).
        p = msb("exec", name, "--", "sh", "-c",
                "nc -w 5 2001:db8::9 9 </dev/null")
        assert b"refused" in p.stderr, p
        log = msb.out("logs", name)
        assert "net: plugin example: dns plugin.test (type 1)" in log
        assert "net: denied dns blocked.test: plugin example" in log
        assert "net: denied tcp 198.51.100.9:9: plugin example" in log
        assert "net: denied tcp [2001:db8::9]:9: plugin example" in log
    finally:
        msb("stop", name)
    assert "frames seen" in msb.out("logs", name)
    msb("rm", "-f", name, check=0)


def test_net_plugin_that_does_not_load(msb, tmp_path):
    bad = tmp_path / "bad.so"
    bad.write_text("not a shared object")
    p = msb("run", "--rm", "--net-plugin", str(bad), "--", "true")
    assert p.returncode == 125, p
    assert b"network plugin" in p.stderr, p.stderr
    p = msb("run", "--rm", "--net-plugin", str(tmp_path / "none.so"), "--",
            "true")
    assert p.returncode == 125 and b"--net-plugin" in p.stderr, p
