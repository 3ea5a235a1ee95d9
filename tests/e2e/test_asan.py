# SPDX-License-Identifier: Apache-2.0
"""Real guests through a supervisor built with ASan and UBSan
(build/tests/msb-supervisor-asan, given by MSB_SUPERVISOR): the unit
suite and the fuzzers hold each part to the sanitizers on its own; this
runs the whole process as a user does, confined as always, with a guest
driving every part of it at once: the network stack (DNS, TCP both ways
checksummed, a published port), a secret over plain HTTP (blocked) and
over intercepted TLS (substituted, the answer scrubbed), a host volume
and a memory one, msb cp both ways, events, a full snapshot restored
(the restore runs under the same supervisor), stop and start. Any report
in a supervisor's log (its stderr), or a sandbox that failed, fails the
test. Leaks are not checked: LeakSanitizer's end-of-process scan needs
ptrace, which the supervisor's seccomp filter refuses."""

import contextlib
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import urllib.request

import pytest

from conftest import BUILD, Msb, unique
from fakenet import BLOB_MB, SEED, internet, tls_internet  # noqa: F401
from test_tls import debian_image  # noqa: F401

ASAN_SUP = os.path.join(BUILD, "tests", "msb-supervisor-asan")
VALUE = "sk-asan-" + os.urandom(12).hex()
REPORT = re.compile(rb"AddressSanitizer|UndefinedBehaviorSanitizer|"
                    rb"runtime error:|LeakSanitizer|SUMMARY: ")


@pytest.fixture(scope="module")
def asan(home):
    if not os.path.exists(ASAN_SUP):
        pytest.skip("build/tests/msb-supervisor-asan is not built "
                    "(make test builds it)")
    m = Msb(home)
    m.env.update(MSB_SUPERVISOR=ASAN_SUP, MSB_ASAN_TOKEN=VALUE,
                 ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
                 UBSAN_OPTIONS="print_stacktrace=1")
    return m


def supervisor_log(msb, name):
    info = json.loads(msb.out("inspect", name))
    with open(os.path.join(info["paths"]["dir"], "supervisor.log"),
              "rb") as f:
        return f.read()


def report(msb, name):
    """What the sanitizers said in @name's supervisor log, or None."""
    try:
        log = supervisor_log(msb, name)
    except (OSError, AssertionError, ValueError):
        return None
    m = REPORT.search(log)
    return log[max(0, m.start() - 200):].decode(errors="replace")[:6000] \
        if m else None


@contextlib.contextmanager
def reports_first(msb, *names):
    """A failed assertion in the block is raised as the sanitizer's
    report instead, when one of @names' supervisors made one: that is
    why a command failed."""
    try:
        yield
    except AssertionError:
        for n in names:
            said = report(msb, n)
            if said:
                raise AssertionError(f"{n}'s supervisor: {said}")
        raise


def clean(msb, name):
    said = report(msb, name)
    assert said is None, said
    row = json.loads(msb.out("inspect", name))
    assert row["status"] != "failed", row.get("error")


def sh(msb, name, script, timeout=300):
    p = msb("exec", name, "--", "sh", "-c", script, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_guest_through_a_sanitized_supervisor(asan, debian_image,
                                                tls_internet, tmp_path):
    msb, net = asan, tls_internet
    name, copy, snap = unique("asan"), unique("asanr"), unique("asans")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "from-host").write_text("host\n")
    port = free_port()
    try:
        with reports_first(msb, name, copy):
            msb("run", debian_image, "--name", name, "-d",
                "--dns-nameserver", "198.51.100.2",
                "--tls-upstream-ca", net.ca,
                "--secret-env", "TOKEN=@env:MSB_ASAN_TOKEN:api.test,web.test",
                "-v", f"{vol}:/data", "--volume-mem", "/scratch:64M",
                "-p", f"{port}:8000", check=0)

            pid = json.loads(msb.out("inspect", name))["pid"]
            assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(ASAN_SUP)

            # the network: a download and an upload, both hashed
            want = hashlib.sha256(random.Random(SEED).randbytes(
                BLOB_MB << 20)).hexdigest()
            rc, out, err = sh(msb, name, "curl -sS http://198.51.100.2/blob | "
                              "sha256sum")
            assert rc == 0 and out.split()[0] == want, (out, err)
            rc, out, err = sh(msb, name,
                              "head -c 3000000 /dev/urandom > /tmp/up && "
                              "sha256sum /tmp/up && curl -sS --data-binary "
                              "@/tmp/up http://198.51.100.2/sha256")
            assert rc == 0 and out.split()[0] == out.split()[-1], (out, err)
            # a secret over plain HTTP is blocked; over TLS it is swapped in
            rc, out, err = sh(msb, name, 'curl -sS -o /dev/null -w "%{http_code}" '
                              '-H "Authorization: Bearer $TOKEN" '
                              'http://web.test/h')
            assert out == "403", (out, err)
            before = len(net.log("api"))
            rc, out, err = sh(msb, name, 'curl -sS -f -H "Authorization: Bearer '
                              '$TOKEN" https://api.test/h')
            assert rc == 0, err
            assert f"Bearer {VALUE}".encode() in net.log("api")[before:]
            assert VALUE not in out
            # a published port: the guest's server, reached from the host
            msb("exec", "-d", name, "--", "busybox", "httpd", "-f", "-p", "8000",
                "-h", "/data", check=0)
            body = None
            for _ in range(100):
                try:
                    body = urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/from-host", timeout=5).read()
                    break
                except OSError:
                    subprocess.run(["sleep", "0.2"])
            assert body == b"host\n"

            # volumes: a host directory and memory, through the fs server
            rc, out, err = sh(msb, name,
                              "set -e; cd /data; mkdir -p d/e; "
                              "for i in $(seq 50); do echo $i > d/e/f$i; done; "
                              "mv d/e/f1 d/g; ln -s g d/link; cat d/link; "
                              "rm d/e/f2; ls d/e | wc -l; "
                              "dd if=/dev/urandom of=big bs=1M count=8 2>/dev/null;"
                              " sha256sum big; cp big /scratch/big; "
                              "sha256sum /scratch/big; stat -c %s /scratch/big")
            assert rc == 0, err
            lines = out.split("\n")
            assert lines[0] == "1" and lines[1] == "48", out
            assert lines[2].split()[0] == lines[3].split()[0], out
            assert (vol / "d" / "g").read_text() == "1\n"
            assert hashlib.sha256((vol / "big").read_bytes()).hexdigest() == \
                lines[2].split()[0]

            # msb cp both ways, events both ways
            src = tmp_path / "in.bin"
            src.write_bytes(os.urandom(300000))
            msb("cp", str(src), f"{name}:/tmp/in.bin", check=0)
            msb("cp", f"{name}:/tmp/in.bin", str(tmp_path / "out.bin"), check=0)
            assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
            msb("event", "send", name, "asan.topic", '{"n": 1}', check=0)
            got = msb.out("events", name, "--topic", "asan.topic", "--format",
                          "json")
            assert "asan.topic" in got, got

            # a full snapshot, restored under the same supervisor
            msb("snapshot", "create", name, "--name", snap, check=0)
            msb("restore", "-d", snap, "--name", copy, check=0)
            assert msb("exec", copy, "--", "cat", "/tmp/in.bin",
                       check=0).stdout == src.read_bytes()
            clean(msb, copy)
            msb("stop", copy, check=0)
            clean(msb, copy)

            # stop and start: the second boot, its log kept
            msb("stop", name, check=0)
            clean(msb, name)
            msb("start", name, check=0)
            rc, out, err = sh(msb, name, "cat /data/d/g")
            assert rc == 0 and out == "1\n", err
            msb("stop", name, check=0)
            clean(msb, name)
    finally:
        msb("rm", "-f", copy)
        msb("rm", "-f", name)
        msb("snapshot", "rm", snap)


def test_hostile_guest_input_through_a_sanitized_supervisor(asan, internet,
                                                             tmp_path):
    """Over the vhost-user link (the supervisor's own virtio-net device):
    random bytes at its DNS server over UDP and TCP and at the host's
    closed ports, a connection flood, an event flood, and 300 idle API
    connections; the sandbox still answers and nothing was reported."""
    msb = asan
    name = unique("asanh")
    tools = {}
    for prog in ("flood", "evflood"):
        tools[prog] = str(tmp_path / prog)
        subprocess.run(["cc", "-static", "-O2", "-o", tools[prog],
                        os.path.join(os.path.dirname(__file__),
                                     f"{prog}.c")], check=True)
    try:
        with reports_first(msb, name):
            msb("run", "--name", name, "-d", "--dns-nameserver", "198.51.100.2",
                check=0, env={"MSB_NET_VHOST_USER": "1"})
            for prog, path in tools.items():
                msb("cp", path, f"{name}:/tmp/{prog}", check=0)
            rc, out, err = sh(msb, name,
                              "ns=$(awk '/^nameserver/ {print $2; exit}' "
                              "/etc/resolv.conf); "
                              "for i in $(seq 40); do "
                              "head -c $((i * 37)) /dev/urandom | "
                              "nc -u -w 1 $ns 53 >/dev/null 2>&1; done; "
                              "for i in $(seq 10); do "
                              "head -c $((i * 701)) /dev/urandom | "
                              "nc -w 1 $ns 53 >/dev/null 2>&1; "
                              "head -c 4096 /dev/urandom | "
                              "nc -w 1 198.51.100.2 81 >/dev/null 2>&1; done; "
                              "ping -c 3 -s 1400 198.51.100.2 >/dev/null; "
                              "nslookup web.test $ns")
            assert "198.51.100.2" in out, (out, err)
            p = msb("exec", name, "--", "/tmp/flood", "198.51.100.2", "80", "81",
                    "8", "40", timeout=300)
            assert p.stdout.split() == [b"flood", b"320", b"320"], p
            p = msb("exec", name, "--", "/tmp/evflood", "flood", "3000",
                    timeout=300)
            assert p.returncode == 0 and p.stdout.startswith(b"sent 3000 "), p
            sock = os.path.join(msb.home, "sandboxes", name, "api.sock")
            idle = []
            try:
                for _ in range(300):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(sock)
                    idle.append(s)
                # an unknown method, then bytes that are not JSON: the
                # supervisor may close that connection at the latter
                for i, junk in enumerate((b'{"id":1,"method":"nosuch"}\n',
                                          b"{not json\n",
                                          os.urandom(3000) + b"\n")):
                    try:
                        idle[i].sendall(junk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                assert msb.out("exec", name, "--", "echo", "ok") == "ok\n"
            finally:
                for s in idle:
                    s.close()
            rc, out, err = sh(msb, name, "wget -q -O - http://web.test/")
            assert rc == 0 and "fake internet" in out, err
            msb("stop", name, check=0)
            clean(msb, name)
    finally:
        msb("rm", "-f", name)


def test_spawned_peers_through_a_sanitized_supervisor(asan):
    """A parent's requests for a peer (start, exec, cp both ways, ps,
    stop, rm, and ones it may not make) are guest input to its
    supervisor; the peer's supervisor is the sanitized one too."""
    msb = asan
    parent, peer = unique("asanp"), unique("asanq")
    try:
        with reports_first(msb, parent, peer):
            msb("run", "--name", parent, "-d", "--allow-spawn", "1",
                "--spawn-memory", "256M", check=0)
            rc, out, err = sh(msb, parent, f"msb start {peer} --net-deny-all")
            assert rc == 0 and out == f"{peer}\n", (out, err)
            pid = json.loads(msb.out("inspect", peer))["pid"]
            assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(ASAN_SUP)
            rc, out, err = sh(msb, parent,
                              "set -e; mkdir -p t/s; echo one > t/a; "
                              "head -c 700000 /dev/urandom > t/s/big; "
                              "ln -s a t/l; "
                              f"msb cp t {peer}:/tmp/; "
                              f"msb cp {peer}:/tmp/t back; diff -r t back; "
                              f"msb exec {peer} -- sh -c 'hostname; exit 4' || "
                              "echo status $?; "
                              f"echo in | msb cp - {peer}:/tmp/b; "
                              f"msb exec {peer} -- cat /tmp/b; "
                              "msb ps --format json | grep -c running")
            assert rc == 0 and out == f"{peer}\nstatus 4\nin\n1\n", (out, err)
            # what it may not ask: a second peer, a wider one, a bad name,
            # a path that is not there, a sandbox that is not its own
            for script, why in (
                    (f"msb start {peer}x", "already has 1 live peers"),
                    (f"msb start {peer}y --memory 4G", "over the host's ceiling"),
                    ("msb start ../../x", "invalid name"),
                    (f"msb cp {peer}:/nope /tmp/x", "stat /nope: No such file"),
                    (f"msb exec {parent} -- true", "is not a peer")):
                rc, out, err = sh(msb, parent, script)
                assert rc != 0 and why in err, (script, rc, out, err)
            rc, out, err = sh(msb, parent, f"msb stop {peer}")
            assert rc == 0, err
            clean(msb, peer)
            rc, out, err = sh(msb, parent, f"msb rm {peer}")
            assert rc == 0, err
            clean(msb, parent)
            msb("stop", parent, check=0)
            clean(msb, parent)
    finally:
        msb("rm", "-f", peer)
        msb("rm", "-f", parent)


def test_misbehaving_plugins_through_a_sanitized_supervisor(asan, tmp_path):
    """A plugin that crashes, answers with what is not JSON, answers a
    call never made and announces a 1 GiB message (tests/e2e/plugins/
    bad.py), beside the audit-log and rate-limiter built-ins: each is
    refused and the plugin started again, under the sanitizers."""
    msb = asan
    name = unique("asanpl")
    starts = tmp_path / "starts"
    bad = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "plugins", "bad.py")

    def started():
        try:
            return starts.read_text().count("start")
        except FileNotFoundError:
            return 0

    try:
        with reports_first(msb, name):
            msb("run", "--name", name, "-d", "--plugin-timeout", "500",
                "--plugin-restarts", "10",
                "--plugin-process", f"STARTS={starts} python3 {bad}",
                "--plugin", f"audit-log:dir={tmp_path / 'audit'}",
                "--plugin", "rate-limiter:connect=5", check=0)
            for cmd, said in (("crash", b"closed its channel"),
                              ("garbage", b"not one JSON object"),
                              ("lie", b"never made"),
                              ("flood", b"1073741824 bytes")):
                n = started()
                p = msb("exec", name, "--", cmd)
                assert p.returncode == 125 and said in p.stderr, (cmd, p)
                for _ in range(100):
                    if started() > n:
                        break
                    subprocess.run(["sleep", "0.1"])
                assert started() > n, cmd
                subprocess.run(["sleep", "0.5"])  # its hello
            assert msb.out("exec", name, "--", "echo", "ok") == "ok\n"
            assert (tmp_path / "audit" / f"{name}.jsonl").stat().st_size > 0
            msb("stop", name, check=0)
            clean(msb, name)
    finally:
        msb("rm", "-f", name)
