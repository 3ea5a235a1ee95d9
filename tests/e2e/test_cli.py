# SPDX-License-Identifier: Apache-2.0
"""The command line as people coming from Docker expect it: exit statuses,
options spelt out, what a verb says while a sandbox changes state, and the
verbs and flags they look for (issue 22, items 5 to 16).

Boots are few and shared: `shared` (conftest) for exec-only checks, one
module sandbox (`bg`) that goes through boot, a detached command, a stop
and a start."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import MSB, ROOT, unique

def _verbs(msb):
    """Every verb 'msb --help' lists, and how each exits on bad usage (run
    and exec: 125, as Docker's; the others 2)."""
    out = msb.out("--help").split("Commands:\n")[1].split("\n\n")[0]
    return {l.split()[0]: 125 if l.split()[0] in ("run", "exec") else 2
            for l in out.splitlines() if l.strip()}


def _long_options(msb, verb):
    """(name, takes_value) of each long option VERB's --help lists."""
    opts = []
    for line in msb.out(verb, "--help").splitlines():
        m = re.match(r"^\s+(?:-\w, )?--([a-z][a-z0-9-]+)(=| [A-Z\[]|\s{2,}|$)",
                     line)
        if m and m.group(1) != "help":
            opts.append((m.group(1), m.group(2).strip() not in ("",)))
    return opts


def test_long_options_are_never_abbreviated(msb):
    # getopt_long takes any unique prefix: '--net-deny' would be
    # --net-deny-all, '--al' --all. Every verb refuses them instead. A
    # trailing bad --cpus makes a run that took the prefix fail without a
    # boot, and with another message.
    bad = []
    verbs = _verbs(msb)
    assert {"run", "exec", "ps", "logs", "wait", "port"} <= set(verbs), verbs
    for verb, status in verbs.items():
        for name, value in _long_options(msb, verb):
            prefix = "--" + name[:-1]
            args = [verb, prefix + ("=x" if value else "")]
            if verb == "run":
                args += ["--cpus", "0", "--", "true"]
            elif verb == "exec":
                args += ["nosuch", "--", "true"]
            p = msb(*args)
            if p.returncode != status or b"unknown" not in p.stderr:
                bad.append((args, p.returncode, p.stderr[-200:]))
    assert not bad, bad
    p = msb("run", "--net-deny", "--", "true")
    assert p.returncode == 125 and b"'--net-deny'" in p.stderr, p


def test_usage_errors_of_run_and_exec_exit_125(msb):
    # README: run and exec exit 125 when msb itself failed, bad usage
    # included (as docker run and docker exec do); other verbs exit 2.
    for args in (["run", "--bogus"], ["run", "--cpus", "0"],
                 ["run", "-e", "=x"], ["run", "-d", "--rm"],
                 ["exec"], ["exec", "--bogus", "x", "--", "true"],
                 ["exec", "x"]):
        p = msb(*args)
        assert p.returncode == 125, (args, p)
        assert b"See 'msb " in p.stderr, (args, p.stderr)
    for args in (["ps", "--bogus"], ["stop"], ["logs"]):
        assert msb(*args).returncode == 2, args


def test_a_name_given_without_its_option_says_where_it_goes(msb):
    # 'msb snapshot dev base' and 'msb restore base dev2': the name is an
    # option's, and the error shows the command that was meant
    p = msb("snapshot", "dev", "base")
    assert p.returncode == 2, p
    assert b"'msb snapshot dev --name base'" in p.stderr, p.stderr
    p = msb("restore", "base", "dev2")
    assert p.returncode == 2, p
    assert b"'msb restore base --name dev2'" in p.stderr, p.stderr


def test_json_paths_read_as_written(msb, shared):
    # inspect's and stats' JSON write paths as they are ("/bin/sh"), not
    # json-c's default "\/bin\/sh"
    for args in (["inspect", shared],
                 ["stats", "--no-stream", "--format", "json", shared]):
        raw = msb.out(*args)
        assert "\\/" not in raw, (args, raw)
    assert '"/' in msb.out("inspect", shared)


def test_missing_workdir_exits_126(msb, shared):
    p = msb("exec", "-w", "/nonexistent", shared, "--", "true")
    assert p.returncode == 126, p
    assert b"cannot change directory to /nonexistent" in p.stderr, p.stderr
    # A relative one is refused before it is taken from wherever the
    # agent is, as run's --workdir is.
    p = msb("exec", "-w", "tmp", shared, "--", "pwd")
    assert p.returncode == 125 and b"invalid --workdir 'tmp': use an " \
        b"absolute path" in p.stderr, p


def test_start_of_running_and_stop_of_stopped_succeed(msb, shared):
    # As docker start and docker stop do: nothing to do is no error.
    p = msb("start", shared)
    assert p.returncode == 0 and p.stdout == f"{shared} is already running\n".encode(), p
    assert msb.out("exec", shared, "--", "echo", "ok") == "ok\n"


@pytest.fixture(scope="module")
def bg(msb):
    """A sandbox whose detached command does not exist, caught while it
    boots; yields (name, what exec said during the boot)."""
    name = unique("bg")
    run = msb.popen("run", "--name", name, "-d", "--", "nosuchcmd",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    status = None
    for _ in range(3000):
        p = msb("inspect", name)
        if p.returncode == 0:
            status = json.loads(p.stdout)["status"]
            if status in ("created", "starting"):
                break
        time.sleep(0.01)
    # exec while it boots waits for the boot, bounded by its boot timeout.
    during = msb("exec", name, "--", "echo", "waited")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    yield name, status, during
    msb("rm", "-f", name)


def test_exec_during_boot_waits(msb, bg):
    name, status, during = bg
    assert status in ("created", "starting"), status
    assert during.returncode == 0, during
    assert during.stdout == b"waited\n"


def test_exec_during_stop_says_so_and_stop_of_stopped_succeeds(msb, bg):
    name = bg[0]
    # A process that ignores SIGTERM keeps the stop going for its grace.
    msb("exec", name, "--", "sh", "-c",
        "(trap '' TERM; sleep 1000) >/dev/null 2>&1 & echo ok", check=0)
    stop = msb.popen("stop", "-t", "5", name, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
    for _ in range(500):
        if json.loads(msb.out("inspect", name))["status"] == "stopping":
            break
        time.sleep(0.01)
    p = msb("exec", name, "--", "true")
    stop.communicate(timeout=60)
    assert p.returncode == 125, p
    assert b"is stopping" in p.stderr and b"start it with" not in p.stderr, p.stderr
    assert stop.returncode == 0
    p = msb("stop", name)
    assert p.returncode == 0 and p.stdout == f"{name} is not running\n".encode(), p
    # exec on a stopped sandbox says how to start it.
    p = msb("exec", name, "--", "true")
    assert p.returncode == 125 and b"msb start" in p.stderr, p
    msb.out("start", name)


def test_detached_command_status_in_inspect_ps_and_wait(msb, bg):
    # msb run -d -- nosuchcmd said nothing; its 127 is in the record now.
    name = bg[0]
    cmd = None
    for _ in range(300):
        cmd = json.loads(msb.out("inspect", name))["runtime"].get("command")
        if cmd and cmd["status"] != "running":
            break
        time.sleep(0.1)
    assert cmd["argv"] == ["nosuchcmd"] and cmd["status"] == "exited", cmd
    assert cmd["exit_code"] == 127 and cmd["pid"] > 0, cmd
    rows = [l for l in msb.out("ps").splitlines() if l.startswith(name + " ")]
    assert rows and "running (cmd exited 127)" in rows[0], rows
    me = [r for r in json.loads(msb.out("ps", "--format", "json"))
          if r["name"] == name]
    assert me[0]["command"] == {"state": "ended", "exit_code": 127}, me
    # docker wait: the command's status, at once since it has ended.
    assert msb.out("wait", name) == "127\n"


def test_exec_timeout_kills_and_exits_124(msb, shared):
    p = msb("exec", "--timeout", "1", shared, "--", "sh", "-c",
            "echo start; sleep 600 & wait")
    assert p.returncode == 124, p
    assert p.stdout == b"start\n"
    assert b"timed out after 1s" in p.stderr, p.stderr
    # Its whole process group went, the background sleep too.
    ps = msb.out("exec", shared, "--", "ps", "-o", "args")
    assert "sleep 600" not in ps, ps
    p = msb("exec", "--timeout", "soon", shared, "--", "true")
    assert p.returncode == 125 and b"--timeout" in p.stderr, p


def _status_once_its_reader_goes(p, what):
    """Close @p's stdout, as `| head` does once it has enough: its exit
    status and stderr, failing if it goes on (within a minute)."""
    p.stdout.close()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail(f"{what} went on after its stdout was closed")
    return rc, p.stderr.read()


def test_exec_into_a_closed_pipe_ends_and_hangs_the_command_up(msb, shared):
    """`msb exec ... | head`: once the reader is gone msb exits 141, as a
    local pipeline's writer does, and the command (which would print
    forever) is hung up; before, msb read and dropped its output for as
    long as it ran."""
    p = msb.popen("exec", shared, "--", "sh", "-c", "yes closed-pipe-probe",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.read(20).startswith(b"closed-pipe-probe\n")
    rc, err = _status_once_its_reader_goes(p, "msb exec")
    assert rc == 141, (rc, err)
    for _ in range(200):
        ps = msb.out("exec", shared, "--", "ps", "-o", "args")
        if "closed-pipe-probe" not in ps:
            break
        time.sleep(0.1)
    assert "closed-pipe-probe" not in ps, ps


def test_following_into_a_closed_pipe_ends(msb, shared):
    """`msb logs -f | head -1` and `msb events -f | head -1` end once head
    has its line, as tail -f does, with nothing more to write; before,
    they followed an idle sandbox for good."""
    msb.out("exec", shared, "--", "true")       # an event, at least
    for verb in ("logs", "events"):
        p = msb.popen(verb, "-f", shared, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
        assert p.stdout.readline(), verb
        rc, err = _status_once_its_reader_goes(p, f"msb {verb} -f")
        # (141 if it saw its reader go; killed by SIGPIPE if it had more
        # to write first)
        assert rc in (141, -signal.SIGPIPE), (verb, rc, err)


def test_exec_detach(msb, shared):
    p = msb("exec", "-d", shared, "--", "sh", "-c",
            "sleep 1; echo detached-output; touch /tmp/detached-done")
    assert p.returncode == 0, p
    pid = int(p.stdout)
    assert pid > 1
    for _ in range(200):
        if msb("exec", shared, "--", "test", "-e",
               "/tmp/detached-done").returncode == 0:
            break
        time.sleep(0.1)
    logs = msb.out("logs", shared)
    assert "detached-output" in logs, logs[-2000:]
    assert f"detached command (pid {pid}) exited with status 0" in logs
    # With a timeout, a detached command is killed at its deadline too.
    p = msb("exec", "-d", "--timeout", "1", shared, "--", "sleep", "700")
    assert p.returncode == 0, p
    for _ in range(100):
        if "sleep 700" not in msb.out("exec", shared, "--", "ps", "-o", "args"):
            break
        time.sleep(0.1)
    assert "sleep 700" not in msb.out("exec", shared, "--", "ps", "-o", "args")
    p = msb("exec", "-d", "-i", shared, "--", "true")
    assert p.returncode == 125 and b"-d" in p.stderr, p


@pytest.fixture(scope="module")
def waiter(msb):
    """A sandbox whose detached command ends when /tmp/go appears."""
    name = unique("wait")
    msb.out("run", "--name", name, "-d", "--", "sh", "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3")
    yield name
    msb("rm", "-f", name)


def test_wait_blocks_until_the_command_ends(msb, waiter):
    w = msb.popen("wait", waiter, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
    me = [r for r in json.loads(msb.out("ps", "--format", "json"))
          if r["name"] == waiter]
    assert me[0]["command"] == {"state": "running"}, me
    assert w.poll() is None
    msb.out("exec", waiter, "--", "touch", "/tmp/go")
    out, err = w.communicate(timeout=60)
    assert w.returncode == 0 and out == b"3\n", (out, err)
    p = msb("wait", "nosuch")
    assert p.returncode == 1 and b"no sandbox named" in p.stderr
    # As JSON: every name, its status or why there is none; the same exit.
    p = msb("wait", "--format", "json", waiter, "nosuch")
    assert p.returncode == 1, p
    assert json.loads(p.stdout) == [
        {"name": waiter, "exit_code": 3},
        {"name": "nosuch",
         "error": "no sandbox named 'nosuch' (see 'msb ps -a')"}], p.stdout


def test_version(msb):
    assert re.fullmatch(rb"msb \d+\.\d+\.\d+\n", msb("version").stdout)
    assert msb("--version").stdout == msb("version").stdout
    v = json.loads(msb.out("version", "--format", "json"))
    assert "msb " + v["version"] + "\n" == msb.out("version")
    assert v["protocol"] == 1 and re.fullmatch(r"\d+\.\d+\.\d+", v["agent"])
    for bad in (["--bogus"], ["extra"], ["--format", "yaml"]):
        p = msb("version", *bad)
        assert p.returncode == 2 and b"msb version --help" in p.stderr, p


def _names(msb):
    return set(msb.out("ps", "-a", "-q").split())


def test_run_rm_removes_a_sandbox_whose_boot_failed(msb, tmp_path):
    # docker run --rm removes what could not start; the message says why
    # with the console's last lines, since there is no log left to read.
    frozen = tmp_path / "qemu-frozen"
    frozen.write_text('#!/bin/sh\nexec qemu-system-x86_64 "$@" -S\n')
    frozen.chmod(0o755)
    before = _names(msb)
    p = msb("run", "--rm", "--boot-timeout", "2", "--", "true",
            env={"MSB_QEMU": str(frozen)})
    assert p.returncode == 125, p
    assert b"did not report ready within 2000 ms" in p.stderr, p.stderr
    assert b"the guest printed nothing on its console" in p.stderr, p.stderr
    assert b"msb logs" not in p.stderr, p.stderr
    assert _names(msb) == before
    # A guest that said something: its last lines are in the message.
    p = msb("run", "--rm", "--", "true",
            env={"MSB_KERNEL_CMDLINE": "rdinit=/nonexistent"})
    assert p.returncode == 125, p
    assert b"during boot" in p.stderr and b"console's last lines" in p.stderr, p.stderr
    assert b"Kernel panic" in p.stderr, p.stderr
    assert _names(msb) == before
    assert not [d for d in os.listdir(os.path.join(msb.home, "sandboxes"))
                if d not in before]


def test_impossible_resources_are_refused_before_a_boot(msb):
    before = _names(msb)
    cpus = os.cpu_count() + 1
    p = msb("run", "--rm", "--cpus", str(cpus), "--memory", "1000G", "--",
            "true")
    assert p.returncode == 125, p
    assert f"--cpus {cpus} is more than this host's".encode() in p.stderr, p.stderr
    assert b"cannot give the sandbox 1000Gi of memory: this host has" in p.stderr
    assert _names(msb) == before


def test_msb_accel_is_checked(msb):
    before = _names(msb)
    p = msb("run", "--rm", "--", "true", env={"MSB_ACCEL": "foo"})
    assert p.returncode == 125 and b"invalid MSB_ACCEL 'foo'" in p.stderr, p
    # Forced KVM runs under KVM or not at all: never TCG behind its back.
    p = msb("run", "--rm", "--timings", "--", "true",
            env={"MSB_ACCEL": "kvm"})
    if p.returncode == 0:
        assert b"(kvm)" in p.stderr, p.stderr
    else:
        assert p.returncode == 125 and b"MSB_ACCEL=kvm" in p.stderr, p
    assert _names(msb) == before


def test_builtin_image_is_listed_and_inspected(msb):
    rows = json.loads(msb.out("images", "--format", "json"))
    assert rows[0]["reference"] == "default" and rows[0]["builtin"], rows
    assert msb.out("images", "-q").split()[0] == "default"
    assert msb.out("images").splitlines()[1].split()[:2] == ["default", "built-in"]
    ins = json.loads(msb.out("image", "inspect", "default"))
    assert ins["builtin"] and ins["config"]["config"]["Cmd"] == ["/bin/sh"]
    assert os.path.isfile(ins["disks"][0])


def test_mistyped_local_tag_says_it_is_not_here(msb, tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
    import build
    d = str(tmp_path / "layout")
    build.write_layout(build.Image(build.multi_layers(), build.MULTI_CONFIG),
                       d, "local/multi:1")
    msb.out("load", "-q", "--tag", "mybox:1", d)
    p = msb("run", "--rm", "mybox:2", "--", "true")
    assert p.returncode == 125, p
    assert (b"no image 'mybox:2' here (here: mybox:1), and pulling it "
            b"failed: ") in p.stderr, p.stderr
    # ...and then why the pull failed, naming the registry it tried
    assert b"docker.io" in p.stderr.split(b"failed: ", 1)[1], p.stderr
    msb("rmi", "mybox:1", check=0)


def test_bad_volume_option_is_named(msb, tmp_path):
    p = msb("run", "--rm", "-v", f"{tmp_path}:/data:rx", "--", "true")
    assert p.returncode == 125, p
    assert b"invalid --volume option 'rx'" in p.stderr, p.stderr


def test_an_env_without_a_value_is_not_the_hosts(msb, shared):
    # docker run -e KEY copies the host's KEY, often an API key: msb
    # refuses it, nothing made, and says how a secret goes instead.
    before = msb.out("ps", "-a", "-q")
    p = msb("run", "--rm", "-e", "OPENAI_API_KEY", "--", "true")
    assert p.returncode == 125, p
    assert b"invalid --env 'OPENAI_API_KEY': use KEY=VALUE (msb copies no " \
        b"variable of the host's; for a secret, --secret-env " \
        b"OPENAI_API_KEY=@env:OPENAI_API_KEY:HOST " in p.stderr, p.stderr
    assert msb.out("ps", "-a", "-q") == before
    p = msb("exec", "-e", "FOO", shared, "--", "true")
    assert p.returncode == 125 and \
        b"invalid --env 'FOO': use KEY=VALUE\n" in p.stderr, p


def test_taken_name_of_a_running_sandbox_says_rm_f(msb, shared):
    p = msb("run", "--name", shared, "-d")
    assert p.returncode == 125, p
    assert f"'msb rm -f {shared}'".encode() in p.stderr, p.stderr


def test_registry_login_without_a_terminal_says_why(msb):
    p = subprocess.run([MSB, "registry", "login", "localhost:5000"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       env=msb.env)
    assert p.returncode == 1, p
    assert b"without a terminal" in p.stderr and b"--password-stdin" in p.stderr, p


SERVE = ("mkdir -p /www && echo hello from the guest > /www/index.html && "
         "httpd -p 80 -h /www && httpd -p 81 -h /www && "
         "exec httpd -f -p 82 -h /www")


def _host_server(body):
    """An HTTP server on the host's loopback, on a free port."""
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _get(port, timeout=60):
    import urllib.request
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


@pytest.fixture(scope="module")
def netbox(msb):
    """One sandbox for the Docker-style network and disk flags: guest ports
    published on free host ports, one port of the host's loopback opened
    to it (another left closed), a 1 GiB writable disk."""
    opened = _host_server(b"hello from the host\n")
    closed = _host_server(b"should not be seen\n")
    name = unique("net")
    msb.out("run", "--name", name, "-d", "-p", "0:80", "-p", "81",
            "-p", "127.0.0.1::82", "--net-allow-host",
            str(opened.server_address[1]), "--disk-size", "1G", "--",
            "sh", "-c", SERVE)
    yield name, opened.server_address[1], closed.server_address[1]
    msb("rm", "-f", name)
    opened.shutdown()
    closed.shutdown()


def test_free_host_ports_are_shown_by_port_ps_and_inspect(msb, netbox):
    name = netbox[0]
    lines = msb.out("port", name).splitlines()
    got = {}
    for l in lines:
        m = re.fullmatch(r"(\d+)/tcp -> 127\.0\.0\.1:(\d+)", l)
        assert m, lines
        got[int(m.group(1))] = int(m.group(2))
    assert sorted(got) == [80, 81, 82] and 0 not in got.values(), lines
    assert len(set(got.values())) == 3
    assert msb.out("port", name, "81/tcp") == f"127.0.0.1:{got[81]}\n"
    for guest, host in got.items():
        assert _get(host) == "hello from the guest\n", guest
    row = [l for l in msb.out("ps").splitlines() if l.startswith(name + " ")]
    assert msb.out("ps").splitlines()[0].split()[-1] == "PORTS"
    assert (f"127.0.0.1:{got[80]}->80/tcp, 127.0.0.1:{got[81]}->81/tcp, "
            f"127.0.0.1:{got[82]}->82/tcp") in row[0], row
    me = [r for r in json.loads(msb.out("ps", "--format", "json"))
          if r["name"] == name][0]
    assert [(p["guest_port"], p["host_port"]) for p in me["ports"]] == \
        sorted(got.items())
    rt = json.loads(msb.out("inspect", name))["runtime"]
    assert [p["host_port"] for p in rt["ports"]] == [got[80], got[81], got[82]]
    p = msb("port", name, "99")
    assert p.returncode == 1 and b"publishes no port 99" in p.stderr, p
    # the same for scripts: every port, or the one asked for
    assert json.loads(msb.out("port", name, "--format", "json")) == [
        {"guest_port": g, "protocol": "tcp", "host_ip": "127.0.0.1",
         "host_port": h} for g, h in sorted(got.items())]
    assert json.loads(msb.out("port", "--format=json", name, "82")) == [
        {"guest_port": 82, "protocol": "tcp", "host_ip": "127.0.0.1",
         "host_port": got[82]}]
    p = msb("port", name, "--format", "xml")
    assert p.returncode == 2 and b"use table or json" in p.stderr, p


def test_net_allow_host_opens_one_loopback_port(msb, netbox, shared):
    name, opened, closed = netbox
    for host in ("10.0.2.2", "host.msb.internal"):
        out = msb.out("exec", name, "--", "wget", "-qO-",
                      f"http://{host}:{opened}/")
        assert out == "hello from the host\n", host
    # Only the port named: another of the host's loopback stays closed.
    p = msb("exec", name, "--", "wget", "-qO-",
            f"http://10.0.2.2:{closed}/")
    assert p.returncode != 0 and b"should not" not in p.stdout, p
    # Never by default.
    p = msb("exec", shared, "--", "wget", "-qO-",
            f"http://10.0.2.2:{opened}/")
    assert p.returncode != 0 and b"hello" not in p.stdout, p
    p = msb("exec", shared, "--", "wget", "-qO-",
            f"http://host.msb.internal:{opened}/")
    assert p.returncode != 0 and b"hello" not in p.stdout, p
    p = msb("run", "--rm", "--net-allow-host", "0", "--", "true")
    assert p.returncode == 125 and b"--net-allow-host '0'" in p.stderr, p


def test_disk_size(msb, netbox, shared):
    def size_kib(name):
        out = msb.out("exec", name, "--", "df", "-k", "/").splitlines()
        return int(out[1].split()[1])

    small, default = size_kib(netbox[0]), size_kib(shared)
    assert 800 * 1024 < small <= 1024 * 1024, small
    assert 3200 * 1024 < default <= 4096 * 1024, default
    cfg = json.loads(msb.out("inspect", netbox[0]))["config"]
    assert cfg["disk_mib"] == 1024
    p = msb("run", "--rm", "--disk-size", "10", "--", "true")
    assert p.returncode == 125 and b"--disk-size" in p.stderr, p


def test_ports_go_with_the_sandbox(msb, netbox):
    name = netbox[0]
    msb.out("stop", name)
    p = msb("port", name)
    assert p.returncode == 1 and b"is stopped" in p.stderr, p
    assert "ports" not in json.loads(msb.out("inspect", name))["runtime"]


def test_logs_tail_and_since(msb, shared):
    full = msb.out("logs", shared)
    tail = msb.out("logs", "--tail", "3", shared)
    assert tail.splitlines() == full.splitlines()[-3:], tail
    assert msb.out("logs", "-n", "0", shared) == ""
    msb.out("exec", "-d", shared, "--", "echo", "before-the-mark")
    log = os.path.join(msb.home, "sandboxes", shared, "console.log")
    idx = os.path.join(msb.home, "sandboxes", shared, "console.idx")
    for _ in range(300):
        if "before-the-mark" in msb.out("logs", shared):
            break
        time.sleep(0.1)
    # The supervisor notes when the log grew (once a second at most):
    # wait for the note that covers it, then ask for what came after.
    size = os.path.getsize(log)
    mark = None
    for _ in range(300):
        marks = [l.split() for l in open(idx).read().splitlines()]
        done = [int(t) for t, s in marks if int(s) >= size]
        if done:
            mark = done[0]
            break
        time.sleep(0.1)
    assert mark, marks[-3:]
    since = f"{(mark + 1) / 1000:.3f}"
    msb.out("exec", "-d", shared, "--", "echo", "after-the-mark")
    for _ in range(300):
        if "after-the-mark" in msb.out("logs", "--since", since, shared):
            break
        time.sleep(0.1)
    out = msb.out("logs", "--since", since, shared)
    assert "after-the-mark" in out and "before-the-mark" not in out, out
    # A duration back from now, and a time: everything of the last hour.
    assert "before-the-mark" in msb.out("logs", "--since", "1h", shared)
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 3600))
    assert "before-the-mark" in msb.out("logs", "--since", start, shared)
    p = msb("logs", "--since", "yesterday", shared)
    assert p.returncode == 2 and b"--since" in p.stderr, p
