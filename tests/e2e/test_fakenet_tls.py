# SPDX-License-Identifier: Apache-2.0
"""The fake internet's HTTPS side (fakenet.py, fakeweb.py), checked from
the host with curl and Python's ssl, no guest: the TLS interception tests
and bench/tls.py stand on it, so it must itself be what it claims (a
valid api.test, an invalid badcert.test, a TLS 1.1-only old.test, a
CONNECT proxy, logs holding every request's bytes)."""

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import warnings

import pytest

from fakenet import HOSTS, internet, tls_internet  # noqa: F401

pytestmark = pytest.mark.skipif(not shutil.which("curl"),
                                reason="curl is not installed (./setup --test)")


def curl(net, url, *opts, ca=None):
    """curl @url, names resolved as the fake internet's dnsmasq would."""
    host = url.split("/")[2]
    name = host.split(":")[0]
    base = ".".join(name.split(".")[-2:])
    addr = HOSTS[base][0]
    port = 443 if url.startswith("https:") else 80
    p = subprocess.run(["curl", "-sS", "--max-time", "20",
                        "--cacert", ca or net.ca,
                        "--resolve", f"{name}:{port}:{addr}", url, *opts],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def test_api_test_answers_over_tls_with_keep_alive(tls_internet):
    net = tls_internet
    before = len(net.log("api"))
    token = "tok-" + hashlib.sha256(net.ns.encode()).hexdigest()[:16]
    rc, out, err = curl(net, "https://api.test/one", "-H",
                        f"Authorization: Bearer {token}",
                        "-w", "\nconnects %{num_connects}\n",
                        "https://api.test/two")
    assert rc == 0, err
    lines = out.splitlines()
    one, two = [json.loads(l) for l in lines if l.startswith("{")]
    assert one["path"] == "/one" and two["path"] == "/two"
    assert one["authorization"] == f"Bearer {token}"
    assert one["sni"] == "api.test" and one["tls"] in ("TLSv1.2", "TLSv1.3")
    # the second request rode the first one's connection
    assert [l for l in lines if l.startswith("connects")] == \
        ["connects 1", "connects 0"], out
    log = net.log("api")[before:]
    assert log.count(b" port 443 tls TLSv1.") == 2, log
    assert b"GET /one HTTP/1.1\n" in log and b"GET /two HTTP/1.1\n" in log
    assert f"Authorization: Bearer {token}\n".encode() in log


def test_api_test_bodies_are_logged_and_hashed(tls_internet):
    net = tls_internet
    body = "secret=" + net.ns
    rc, out, err = curl(net, "https://x.api.test/post", "--data-binary", body)
    assert rc == 0, err
    assert out.strip() == hashlib.sha256(body.encode()).hexdigest()
    log = net.log("api")
    assert b"sni x.api.test\nPOST /post HTTP/1.1\n" in log, log[-500:]
    assert log.endswith(f"\n\n{body}\n".encode()), log[-300:]
    # a chunked body is logged decoded
    rc, out, err = curl(net, "https://api.test/chunked", "--data-binary",
                        body + "-chunked", "-H", "Transfer-Encoding: chunked")
    assert rc == 0, err
    assert out.strip() == hashlib.sha256(
        (body + "-chunked").encode()).hexdigest()
    assert net.log("api").endswith(f"\n\n{body}-chunked\n".encode())


def test_api_test_over_ipv6_and_plain_http(tls_internet):
    net = tls_internet
    v6 = HOSTS["api.test"][1]
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert",
                        net.ca, "--resolve", f"api.test:443:[{v6}]",
                        "https://api.test/six"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["path"] == "/six"
    # from the host's own address on the veth
    assert b"== 2001:db8:64::1 port 443 tls" in net.log("api")
    rc, out, err = curl(net, "http://api.test/plain", "--data-binary", "p=1")
    assert rc == 0 and out.strip() == hashlib.sha256(b"p=1").hexdigest(), err
    log = net.log("api_http")
    assert b"port 80 plain\nPOST /plain HTTP/1.1\n" in log and \
        log.endswith(b"\n\np=1\n"), log
    assert b"/plain" not in net.log("api")


def test_evil_test_is_valid(tls_internet):
    rc, out, err = curl(tls_internet, "https://evil.test/e")
    assert rc == 0, err
    assert json.loads(out)["sni"] == "evil.test"
    assert b"GET /e HTTP/1.1" in tls_internet.log("evil")


def test_badcert_test_fails_verification(tls_internet):
    net = tls_internet
    rc, out, err = curl(net, "https://badcert.test/b")
    assert rc == 60 and "unable to get local issuer certificate" in err, err
    assert b"GET /b" not in net.log("badcert")
    # the server itself is up: its own CA accepts it
    rc, out, err = curl(net, "https://badcert.test/b2", ca=net.other_ca)
    assert rc == 0 and json.loads(out)["path"] == "/b2", err


def test_old_test_speaks_tls_1_1_only(tls_internet):
    net = tls_internet
    rc, out, err = curl(net, "https://old.test/", "--tlsv1.2")
    assert rc == 35 and "protocol version" in err, (rc, err)
    # a client that allows TLS 1.1 gets through, at TLS 1.1
    ctx = ssl.create_default_context(cafile=net.ca)
    with warnings.catch_warnings():  # outdated on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection((HOSTS["old.test"][0], 443), 10) as s, \
            ctx.wrap_socket(s, server_hostname="old.test") as t:
        assert t.version() == "TLSv1.1"
        t.sendall(b"GET /old HTTP/1.1\r\nHost: old.test\r\n"
                  b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := t.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ") and b'"/old"' in reply
    assert b"tls TLSv1.1 sni old.test\nGET /old" in net.log("old")


def test_connect_proxy_tunnels_and_logs(tls_internet):
    net = tls_internet
    proxy = f"http://{HOSTS['proxy.test'][0]}:3128"
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert",
                        net.ca, "--proxy", proxy, "https://api.test/via"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["path"] == "/via"
    assert b"\nCONNECT api.test:443 HTTP/1.1\r\n" in net.log("proxy")
    assert b"GET /via HTTP/1.1" in net.log("api")
    # anything but CONNECT is refused
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "/dev/null",
                        "-w", "%{http_code}", "--proxy", proxy,
                        "http://api.test/"], capture_output=True, text=True)
    assert p.stdout == "405", (p.stdout, p.stderr)


@pytest.mark.parametrize("name,want", [
    ("api.test", ["198.51.100.4", "2001:db8:64::4"]),
    ("deep.api.test", ["198.51.100.4", "2001:db8:64::4"]),
    ("evil.test", ["198.51.100.5", "2001:db8:64::5"]),
    ("badcert.test", ["198.51.100.6"]),
    ("old.test", ["198.51.100.7"]),
    ("proxy.test", ["198.51.100.8"]),
    ("rebind.test", ["10.1.2.4", "fd00::1235"]),
])
def test_dnsmasq_answers_the_names(internet, name, want):
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox is not installed (./setup)")
    p = subprocess.run([busybox, "nslookup", name, "198.51.100.2"],
                       capture_output=True, text=True, timeout=20)
    got = [l.split()[-1] for l in p.stdout.splitlines()
           if l.startswith("Address:") and not l.endswith(":53")]
    assert sorted(got) == sorted(want), p.stdout + p.stderr
