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
import subprocess
import time

import pytest

from conftest import unique

# The verbs whose options are parsed as getopt's, and how each exits on bad
# usage (run and exec: 125, as Docker's).
VERBS = {"run": 125, "exec": 125, "ps": 2, "stop": 2, "start": 2, "rm": 2,
         "logs": 2, "inspect": 2, "pull": 2, "images": 2, "rmi": 2,
         "load": 2, "save": 2}


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
    for verb, status in VERBS.items():
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


def test_missing_workdir_exits_126(msb, shared):
    p = msb("exec", "-w", "/nonexistent", shared, "--", "true")
    assert p.returncode == 126, p
    assert b"cannot change directory to /nonexistent" in p.stderr, p.stderr


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
