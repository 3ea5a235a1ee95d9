# SPDX-License-Identifier: Apache-2.0
"""Secrets (docs/secrets.md): the guest holds placeholders; the real values
live only in the supervisor's memory, never in argv, environments, the
state database, logs or any file under $MSB_HOME (the guest's disk
included)."""

import json
import os
import re
import subprocess

import pytest

from conftest import files_holding, unique

# Real values: long enough never to appear by chance.
ENV_VALUE = "sk-live-" + os.urandom(12).hex()
FILE_VALUE = "ghp_" + os.urandom(12).hex()
PLACEHOLDER = re.compile(r"^msb_placeholder_[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("secrets") / "token"
    p.write_text(FILE_VALUE + "\n")
    p.chmod(0o600)
    return str(p)


@pytest.fixture(scope="module")
def sb(msb, secret_file):
    name = unique("sec")
    msb("run", "--name", name, "-d",
        "--secret-env", "API_KEY=@env:MSB_TEST_API_KEY:api.example.com,*.example.org",
        "--secret-env", f"GH_TOKEN=@file:{secret_file}:github.example.com",
        "-e", "API_KEY=user-set-wins-not", check=0,
        env={"MSB_TEST_API_KEY": ENV_VALUE})
    yield name
    msb("rm", "-f", name)


def guest_env(msb, name):
    out = msb.out("exec", name, "--", "sh", "-c",
                  'echo "$API_KEY"; echo "$GH_TOKEN"')
    return out.split()


def supervisor_pid(msb, name):
    return json.loads(msb.out("inspect", name))["pid"]


def children(pid):
    return [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True,
        text=True).stdout.split()]


def proc_bytes(pid, what):
    with open(f"/proc/{pid}/{what}", "rb") as f:
        return f.read()


def leaked_in(path_bytes):
    return ENV_VALUE.encode() in path_bytes or FILE_VALUE.encode() in path_bytes


def test_guest_sees_placeholders_only(msb, sb):
    api, gh = guest_env(msb, sb)
    assert PLACEHOLDER.match(api) and PLACEHOLDER.match(gh), (api, gh)
    assert api != gh
    # every process's environment in the guest, and a file on its disk
    out = msb("exec", sb, "--", "sh", "-c",
              "cat /proc/*/environ | tr '\\0' '\\n'; env > /root/env.txt; sync",
              check=0).stdout
    assert api.encode() in out
    assert not leaked_in(out)


def test_no_process_argv_or_environment_holds_a_value(msb, sb):
    sup = supervisor_pid(msb, sb)
    # the supervisor's child is QEMU's launcher (a copy of it, forked
    # before any value was read), whose child is QEMU
    launchers = children(sup)
    qemus = [q for pid in launchers for q in children(pid)]
    assert qemus, "no QEMU under the supervisor's launcher"
    for pid in [sup, *launchers, *qemus]:
        for what in ("cmdline", "environ"):
            data = proc_bytes(pid, what)
            assert not leaked_in(data), (pid, what)
        # the memfd that carried the values is closed
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            assert "msb-secrets" not in target, (pid, fd, target)
    # the source variable itself is not handed down to the supervisor
    assert b"MSB_TEST_API_KEY" not in proc_bytes(sup, "environ")
    # nor may anything of the same user read its memory
    st = os.stat(f"/proc/{sup}/mem")
    assert not os.access(f"/proc/{sup}/mem", os.R_OK) or st.st_uid == 0


def test_nothing_under_msb_home_holds_a_value(msb, sb):
    # writes to the guest disk reach its upper image on the host first
    msb("exec", sb, "--", "sh", "-c",
        'echo "$API_KEY $GH_TOKEN" > /root/keys.txt; sync', check=0)
    # The search must see a value where one is: the guest's file holds
    # its placeholders, found on the host disk the same way.
    api, gh = guest_env(msb, sb)
    assert files_holding(msb.home, f"{api} {gh}"), "the search finds nothing"
    for value in (ENV_VALUE, FILE_VALUE):
        assert files_holding(msb.home, value) == [], value[:6]
    # the record keeps where a value comes from, and its placeholder
    insp = msb.out("inspect", sb)
    api, _ = guest_env(msb, sb)
    assert api in insp and "MSB_TEST_API_KEY" in insp


def test_start_reads_the_values_again(msb, sb):
    before = guest_env(msb, sb)
    msb("stop", sb, check=0)
    # the value is read from its source at every start, never kept
    p = msb("start", sb, env={"MSB_TEST_API_KEY": ""})
    assert p.returncode != 0
    assert b"secret API_KEY: the value must be 1 to" in p.stderr, p.stderr
    msb("start", sb, env={"MSB_TEST_API_KEY": ENV_VALUE}, check=0)
    assert guest_env(msb, sb) == before


def test_the_interception_ca_is_trusted_in_the_guest(msb, sb):
    """Runs after a restart: the bundle holds the CA once."""
    ca_dir = os.path.join(msb.home, "ca")
    with open(os.path.join(ca_dir, "ca.pem")) as f:
        pem = f.read()
    assert "BEGIN CERTIFICATE" in pem
    assert os.stat(os.path.join(ca_dir, "ca.key")).st_mode & 0o777 == 0o600
    out = msb.out("exec", sb, "--", "sh", "-c",
                  "cat /etc/ssl/certs/msb-ca.pem; echo ====; "
                  "cat /etc/ssl/certs/ca-certificates.crt; echo ====; "
                  "echo $SSL_CERT_FILE $REQUESTS_CA_BUNDLE $CURL_CA_BUNDLE "
                  "$NODE_EXTRA_CA_CERTS")
    own, bundle, env = out.split("====\n")
    assert own == pem
    assert bundle.count(pem) == 1
    assert env.split() == ["/etc/ssl/certs/ca-certificates.crt"] * 3 + \
        ["/etc/ssl/certs/msb-ca.pem"]
    # the key never goes in
    assert "PRIVATE KEY" not in msb.out(
        "exec", sb, "--", "sh", "-c",
        "cat /etc/ssl/certs/* 2>/dev/null; env")


def test_no_ca_without_secrets(msb, shared):
    out = msb.out("exec", shared, "--", "sh", "-c",
                  "ls /etc/ssl/certs/msb-ca.pem 2>&1; echo x$SSL_CERT_FILE")
    assert "No such file" in out and out.strip().endswith("x")


def test_start_without_the_source_fails_clearly(msb, secret_file):
    name = unique("sec")
    p = msb("run", "--name", name, "-d",
            "--secret-env", "K=@env:MSB_TEST_UNSET_VAR:api.example.com")
    assert p.returncode != 0
    assert b"variable MSB_TEST_UNSET_VAR is not set" in p.stderr, p.stderr
    # nothing was made
    assert name.encode() not in msb("ps", "-a", check=0).stdout


@pytest.mark.parametrize("spec,why", [
    ("K=plain", b"never given on the command line"),
    ("K=@env:V", b"no variable or path, or no hosts"),
    ("K=@env:V:bad host", b"is not a host name"),
    ("9K=@env:V:h.io", b"not an environment variable name"),
])
def test_bad_secrets_are_refused(msb, spec, why):
    p = msb("run", "--name", unique("sec"), "-d", "--secret-env", spec,
            env={"V": "x"})
    assert p.returncode != 0 and why in p.stderr, p.stderr


@pytest.mark.parametrize("inject,why", [
    ("K=cookie", b"secret K: 'cookie' is not a place its value can go"),
    ("K=header:Host", b"the Host header says where a request goes"),
    ("K=header:a b", b"'a b' is not a header name"),
    ("OTHER=query", b"--secret-inject OTHER: no --secret-env OTHER"),
    ("query", b"write NAME=PLACE[,PLACE...]"),
])
def test_bad_places_are_refused(msb, inject, why):
    p = msb("run", "--name", unique("sec"), "-d",
            "--secret-env", "K=@env:V:h.io", "--secret-inject", inject,
            env={"V": "x"})
    assert p.returncode == 125 and why in p.stderr, p.stderr


def test_places_are_given_once(msb):
    p = msb("run", "--name", unique("sec"), "-d", "--secret-inject",
            "K=query", "--secret-env", "K=@env:V:h.io",
            "--secret-inject", "K=body", env={"V": "x"})
    assert p.returncode == 125
    assert b"--secret-inject K is given twice" in p.stderr, p.stderr


# ---- placeholders over plain HTTP (the fake internet, fakenet.py) ----------

from fakenet import LOGS, internet  # noqa: E402,F401


def boot_net(msb, *flags):
    name = unique("secnet")
    msb("run", "--name", name, "-d", "--dns-nameserver", "198.51.100.2",
        "--secret-env", "API_KEY=@env:MSB_TEST_API_KEY:web.test",
        *flags, check=0, env={"MSB_TEST_API_KEY": ENV_VALUE})
    return name


@pytest.fixture(scope="module")
def blocking(msb, internet):
    name = boot_net(msb)
    yield name
    msb("rm", "-f", name)


@pytest.fixture(scope="module")
def logging_sb(msb, internet):
    name = boot_net(msb, "--on-secret-violation", "log")
    yield name
    msb("rm", "-f", name)


def server_log(ns):
    try:
        with open(LOGS[ns], "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def sh_in(msb, name, script):
    p = msb("exec", name, "--", "sh", "-c", script, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_plain_http_with_a_placeholder_is_blocked(msb, internet, blocking):
    """Even to the secret's own host: plain HTTP is never trusted."""
    ph = sh_in(msb, blocking, 'echo "$API_KEY"')[1].strip()
    assert PLACEHOLDER.match(ph)
    before = server_log(internet)
    for how in ('"http://web.test/q?key=$API_KEY"',
                '--header "Authorization: Bearer $API_KEY" http://web.test/h',
                '--post-data "token=$API_KEY" http://web.test/p'):
        rc, out, err = sh_in(msb, blocking, f"wget -q -O - {how}")
        assert rc != 0 and "403" in err, (how, rc, out, err)
    after = server_log(internet)[len(before):]
    # nothing of the blocked requests reached the server
    assert b"/q?key" not in after and b"GET /h" not in after, after
    assert ph.encode() not in after and ENV_VALUE.encode() not in after
    logs = msb.out("logs", blocking)
    assert ("secrets: secret API_KEY: request to 198.51.100.2:80 "
            "(Host 'web.test', server name '') blocked: not over "
            "intercepted TLS") in logs, logs[-2000:]
    assert ENV_VALUE not in logs


def test_plain_http_without_placeholders_passes_intact(msb, internet, blocking):
    rc, out, err = sh_in(msb, blocking, "wget -q -O - http://web.test/")
    assert rc == 0 and out == "hello from the fake internet\n", (out, err)
    # a 4 MiB upload through the guard, checksummed by the server
    rc, out, err = sh_in(
        msb, blocking,
        # busybox wget sends strlen() of the file: no NULs
        "head -c 4194304 /dev/urandom | tr -d '\\000' > /tmp/up && "
        "sha256sum /tmp/up && "
        "wget -q -O - --post-file /tmp/up http://web.test/up")
    assert rc == 0, err
    local, remote = out.split()[0], out.split()[-1]
    assert local == remote


def test_log_mode_sends_the_placeholder_never_the_value(msb, internet,
                                                        logging_sb):
    ph = sh_in(msb, logging_sb, 'echo "$API_KEY"')[1].strip()
    rc, out, err = sh_in(
        msb, logging_sb,
        'wget -q -O - --header "X-Key: $API_KEY" "http://web.test/l?k=$API_KEY"')
    assert rc == 0, err
    log = server_log(internet)
    assert f"GET /l?k={ph} HTTP/1.1".encode() in log, log[-1000:]
    assert f"X-Key: {ph}".encode() in log
    assert ENV_VALUE.encode() not in log
    assert "sent with the placeholder: not over intercepted TLS" in \
        msb.out("logs", logging_sb)


def test_dns_query_carrying_a_placeholder_is_refused(msb, internet, blocking):
    rc, out, err = sh_in(msb, blocking,
                         'nslookup "$API_KEY.web.test" 10.0.2.3; '
                         'nslookup web.test 10.0.2.3')
    # the placeholder's name is refused; an ordinary one still resolves
    assert "198.51.100.2" in out, out + err
    assert "REFUSED" in out + err or "can't resolve" in out + err, out + err
    assert "net: refused dns query: its name carries a secret's " \
        "placeholder" in msb.out("logs", blocking)


# ---- on_http: the DLP example plugin (examples/dlp_plugin.c) ---------------

@pytest.fixture(scope="module")
def dlp(msb, internet):
    from conftest import BUILD
    name = unique("dlp")
    msb("run", "--name", name, "-d", "--dns-nameserver", "198.51.100.2",
        "--net-plugin", os.path.join(BUILD, "examples", "dlp_plugin.so"),
        check=0)
    yield name
    msb("rm", "-f", name)


def test_dlp_plugin_blocks_a_body_with_pii(msb, internet, dlp):
    before = len(server_log(internet))
    rc, out, err = sh_in(msb, dlp, 'wget -q -O - --post-data '
                         '"name=ann&ssn=123-45-6789" http://web.test/dlp1')
    assert rc != 0 and "403" in err, (rc, out, err)
    rc, out, err = sh_in(msb, dlp, 'wget -q -O - --post-data '
                         '"order=12345&qty=2" http://web.test/dlp2')
    assert rc == 0, err
    after = server_log(internet)[before:]
    assert b"POST /dlp1" not in after and b"POST /dlp2" in after, after
    assert ("on_http: request to 198.51.100.2:80 (Host 'web.test') "
            "blocked: DLP: PII detected") in msb.out("logs", dlp)


def test_secrets_keep_metadata_and_private_ranges_closed(msb):
    p = msb("run", "--name", unique("sec"), "-d",
            "--secret-env", "K=@env:V:h.io",
            "--net-allow-cidr", "169.254.0.0/16", env={"V": "x"})
    assert p.returncode != 0
    assert b"--net-allow-cidr 169.254.0.0/16 opens 169.254.169.254" in \
        p.stderr, p.stderr
