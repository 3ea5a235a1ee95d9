# SPDX-License-Identifier: Apache-2.0
"""Exec and lifecycle hooks from Python code (docs/plugins.md): on_exec
allows, denies (the caller sees the reason) or rewrites a command before
the guest runs it, on_exec_exit is told how each ended, on_lifecycle of
the sandbox's create, starts, stops and remove. One sandbox, made with
the async API, serves the exec cases; the blocking API makes its own."""

import asyncio
import time

import pytest

from .pysdk import run, unique
from microsandbox import (ExecAction, ExecCall, ExecExit, InvalidArgument,
                          LifecycleEvent, PolicyRefused, Sandbox)
from microsandbox import blocking


def eventually(check, seconds=30):
    """@check() once it holds: events are told, not waited for."""
    end = time.monotonic() + seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


class Seen:
    def __init__(self):
        self.calls, self.exits, self.lifecycle = [], [], []

    def on_exec(self, c):
        assert isinstance(c, ExecCall)
        self.calls.append(c)
        cmd = c.argv[0]
        if cmd == "forbidden":
            return ExecAction.deny("not on this sandbox")
        if cmd == "greet":
            return ExecAction.rewrite(argv=["echo", "rewritten", *c.argv[1:]])
        if c.argv == ["sh", "-c", "echo $WHO"]:
            return ExecAction.rewrite(env={"WHO": "the hook"})
        if cmd == "boom":
            raise RuntimeError("a bug in the hook")
        if cmd == "odd":
            return 42
        if cmd == "empty":
            return ExecAction.rewrite(argv=[])
        if cmd == "echo":
            return ExecAction.ALLOW
        return None  # allowed too

    def on_exec_exit(self, ev):
        assert isinstance(ev, ExecExit)
        self.exits.append(ev)

    def on_lifecycle(self, ev):
        assert isinstance(ev, LifecycleEvent)
        self.lifecycle.append(ev)

    def events(self, name):
        return [e.event for e in self.lifecycle if e.sandbox == name]


@pytest.fixture(scope="module")
def hooked(home):
    seen = Seen()
    sb = run(Sandbox.create(unique("pyexechook"), on_exec=seen.on_exec,
                            on_exec_exit=seen.on_exec_exit,
                            on_lifecycle=seen.on_lifecycle))
    try:
        yield sb, seen
    finally:
        run(sb.remove(force=True))


def test_an_allowed_exec_is_seen_with_its_argv(hooked):
    sb, seen = hooked
    r = run(sb.exec(["echo", "hello", "there"], env={"A": "1"}, cwd="/tmp"))
    assert r.stdout == "hello there\n", r
    c = [c for c in seen.calls if c.argv == ["echo", "hello", "there"]]
    assert c, seen.calls
    assert "A=1" in c[-1].env and c[-1].cwd == "/tmp", c[-1]


def test_a_denied_exec_is_refused_with_its_reason(hooked):
    sb, seen = hooked
    with pytest.raises(PolicyRefused,
                       match="exec denied by plugin python-sdk: "
                             "not on this sandbox"):
        run(sb.exec("forbidden now"))
    assert ["forbidden", "now"] in [c.argv for c in seen.calls]


def test_a_rewritten_argv_and_env_run_instead(hooked):
    sb, seen = hooked
    assert run(sb.exec("greet you")).stdout == "rewritten you\n"
    r = run(sb.exec(["sh", "-c", "echo $WHO"], env={"WHO": "a caller"}))
    assert r.stdout == "the hook\n", r
    # on_exec_exit is told the argv that ran, not the one asked for
    eventually(lambda: _exit_of(seen, ["echo", "rewritten", "you"]))


def _exit_of(seen, argv):
    e = [e for e in seen.exits if e.argv == argv]
    assert e, [x.argv for x in seen.exits]
    return e[-1]


def test_on_exec_exit_sees_the_exit_code_and_signal(hooked):
    sb, seen = hooked
    assert run(sb.exec("sh -c 'exit 3'")).exit_code == 3
    e = eventually(lambda: _exit_of(seen, ["sh", "-c", "exit 3"]))
    assert (e.exit_code, e.signal, e.timed_out) == (3, 0, False), e
    assert isinstance(e.duration, float) and e.duration >= 0, e
    r = run(sb.exec(["sh", "-c", "kill -9 $$"]))
    assert r.signal == 9, r
    e = eventually(lambda: _exit_of(seen, ["sh", "-c", "kill -9 $$"]))
    assert e.signal == 9, e


def test_a_hook_that_raises_or_answers_wrongly_refuses_the_exec(hooked):
    sb, seen = hooked
    with pytest.raises(PolicyRefused,
                       match=r"on_exec raised RuntimeError\('a bug in the "
                             r"hook'\)"):
        run(sb.exec("boom"))
    with pytest.raises(PolicyRefused,
                       match=r"on_exec returned 42: return ExecAction.ALLOW"):
        run(sb.exec("odd"))
    with pytest.raises(PolicyRefused, match=r"argv is a non-empty list"):
        run(sb.exec("empty"))
    # this program and its hook server go on
    assert run(sb.exec("echo still")).stdout == "still\n"


def test_lifecycle_start_and_stop_are_seen(hooked):
    sb, seen = hooked
    eventually(lambda: _has(seen.events(sb.name), ["create", "start"]))
    start = [e for e in seen.lifecycle
             if e.sandbox == sb.name and e.event == "start"][0]
    assert isinstance(start.boot_ms, int) and start.fields["event"] == "start"
    run(sb.stop())
    eventually(lambda: _has(seen.events(sb.name), ["start", "stop"]))
    run(sb.start())  # the supervisor connects to this process again
    eventually(lambda: _has(seen.events(sb.name),
                            ["start", "stop", "start"]))
    with pytest.raises(PolicyRefused, match="not on this sandbox"):
        run(sb.exec("forbidden again"))


def _has(events, want):
    """@want in order within @events."""
    it = iter(events)
    assert all(w in it for w in want), events


def test_the_blocking_api_takes_the_hooks(home):
    seen = Seen()
    name = unique("pyexechookb")
    with blocking.Sandbox.create(name, on_exec=seen.on_exec,
                                 on_lifecycle=seen.on_lifecycle) as sb:
        assert sb.exec("echo hi").stdout == "hi\n"
        with pytest.raises(PolicyRefused, match="not on this sandbox"):
            sb.exec("forbidden")
        assert [c.argv for c in seen.calls] == [["echo", "hi"],
                                                ["forbidden"]]
        eventually(lambda: _has(seen.events(name), ["create", "start"]))
    eventually(lambda: _has(seen.events(name), ["start", "stop", "remove"]))


def test_bad_hooks_are_refused_before_anything_starts(home):
    with pytest.raises(InvalidArgument, match="on_exec= takes a function"):
        Sandbox.create("x", on_exec="deny")
    with pytest.raises(InvalidArgument, match="on_lifecycle= takes a function"):
        blocking.Sandbox.create("x", on_lifecycle=3)

    async def later(c):
        return ExecAction.ALLOW
    with pytest.raises(InvalidArgument, match="on_exec_exit= takes a plain"):
        Sandbox.create("x", on_exec_exit=later)
    with pytest.raises(InvalidArgument, match="argv is a non-empty list"):
        ExecAction.rewrite(argv="echo hi")
    with pytest.raises(InvalidArgument, match="KEY=VALUE"):
        ExecAction.rewrite(env=["NOEQUALS"])
    with pytest.raises(InvalidArgument, match="argv=.*env=.*or both"):
        ExecAction.rewrite()


# A plugin process that allows one command and then exits.
ONCE_PY = r'''
import json, socket, struct, time
s = socket.socket(fileno=3)
def read():
    h = s.recv(4, socket.MSG_WAITALL)
    if len(h) < 4: raise SystemExit
    return json.loads(s.recv(struct.unpack(">I", h)[0], socket.MSG_WAITALL))
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
while True:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": "py-once", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        send({"type": "reply", "id": m["id"], "verdict": "allow"})
        time.sleep(0.05)
        raise SystemExit
'''


def test_plugin_restarts(home, tmp_path):
    """plugin_restarts=1: a plugin process that exits is started again
    once (the default is 3); after that its hooks refuse."""
    once = tmp_path / "once.py"
    once.write_text(ONCE_PY)

    async def main():
        with pytest.raises(InvalidArgument):
            await Sandbox.create(unique("pyrestarts"), plugin_restarts=-1)
        sb = await Sandbox.create(unique("pyrestarts"),
                                  plugin_processes=[f"python3 {once}"],
                                  plugin_restarts=1)
        try:
            assert (await sb.exec("echo one")).stdout == "one\n"
            await asyncio.sleep(2)  # it exits, and is started again
            assert (await sb.exec("echo two")).stdout == "two\n"
            await asyncio.sleep(2)  # it exits, and is not
            with pytest.raises(PolicyRefused):
                await sb.exec("echo three")
        finally:
            await sb.remove(force=True)
    run(main())
