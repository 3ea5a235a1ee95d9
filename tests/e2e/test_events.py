# SPDX-License-Identifier: Apache-2.0
"""Events between a sandbox's programs and the host (docs/events.md):
`msb event emit/wait` inside, `msb events` and `msb event send` outside,
the sandbox's own events, order both ways, a flood the host survives.
One sandbox for the whole module."""

import json
import os
import subprocess
import time

import pytest

from conftest import unique


@pytest.fixture(scope="module")
def sb(msb):
    name = unique("ev")
    # A blocked range, for a flow the policy denies (msb.net.denied).
    msb("run", "-d", "--name", name, "--net-block-cidr", "192.0.2.0/24",
        check=0)
    yield name
    msb("rm", "-f", name)


def events(msb, name, *args):
    out = msb.out("events", name, "--format", "json", *args)
    return [json.loads(line) for line in out.splitlines()]


def test_guest_events_reach_host_in_order(msb, sb):
    follow = msb.popen("events", sb, "--follow", "--since", "-1",
                       "--topic", "order", "--format", "json",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        msb("exec", sb, "--", "sh", "-c",
            "for i in $(seq 1 25); do msb event emit order "
            "\"{\\\"i\\\":$i}\" || exit 1; done", check=0)
        got = []
        while len(got) < 25:
            line = follow.stdout.readline()
            assert line, follow.stderr.read()
            got.append(json.loads(line))
    finally:
        follow.kill()
        follow.wait()
    assert [e["data"]["i"] for e in got] == list(range(1, 26))
    assert all(e["source"] == "guest" and e["topic"] == "order" for e in got)
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 25
    # the log holds them too, read afterwards, and each has a time
    logged = [e for e in events(msb, sb) if e["topic"] == "order"]
    assert [e["data"]["i"] for e in logged] == list(range(1, 26))
    assert all(abs(e["time"] - time.time()) < 600 for e in logged)


def test_host_events_reach_guest_in_order(msb, sb):
    for i in range(1, 16):
        msb("event", "send", sb, "tick", json.dumps({"i": i}), check=0)
    out = msb.out("exec", sb, "--", "sh", "-c",
                  "for i in $(seq 1 15); do msb event wait tick --timeout 20"
                  " || exit 1; done")
    assert [json.loads(l)["i"] for l in out.splitlines()] == list(range(1, 16))
    # a waiter first, the event after it
    w = msb.popen("exec", sb, "--", "msb", "event", "wait", "late",
                  "--timeout", "60", stdout=subprocess.PIPE)
    time.sleep(2)
    msb("event", "send", sb, "late", '"now"', check=0)
    assert w.communicate(timeout=60)[0] == b'"now"\n'
    assert w.returncode == 0
    hosts = [e for e in events(msb, sb, "--topic", "tick")]
    assert [e["source"] for e in hosts] == ["host"] * 15


def test_wait_timeout_and_bad_input(msb, sb):
    p = msb("exec", sb, "--", "msb", "event", "wait", "never", "--timeout",
            "1")
    assert p.returncode == 1 and b"no event on never" in p.stderr
    p = msb("exec", sb, "--", "msb", "event", "emit", "msb.started")
    assert p.returncode == 125 and b"the sandbox's own" in p.stderr
    p = msb("exec", sb, "--", "msb", "event", "emit", "t", "{not json")
    assert p.returncode == 125 and b"not one JSON value" in p.stderr
    p = msb("exec", sb, "--", "msb", "event", "emit", "bad topic")
    assert p.returncode == 125 and b"bad topic" in p.stderr
    p = msb("event", "send", sb, "msb.stopped")
    assert p.returncode == 1 and b"not beginning with 'msb.'" in p.stderr
    p = msb("event", "send", sb, "t", "{x")
    assert p.returncode == 1 and b"not one JSON value" in p.stderr
    # a user that is not root emits too
    msb("exec", "-u", "65534", sb, "--", "msb", "event", "emit", "nobody",
        check=0)
    assert [e["topic"] for e in events(msb, sb, "--topic", "nobody")] == [
        "nobody"]


def test_outside_a_sandbox_fails_cleanly(msb):
    p = msb("event", "emit", "x")
    assert p.returncode == 1
    assert b"not inside a microsandbox sandbox" in p.stderr


def test_sandbox_own_events(msb, sb):
    # the OOM killer: awk doubling a string until the guest has no memory
    msb("exec", sb, "--", "awk", 'BEGIN { s = "x"; while (1) s = s s }',
        check=137, timeout=300)
    msb("exec", sb, "--", "sh", "-c", "exit 3", check=3)
    msb("exec", sb, "--", "sh", "-c",
        "nc -w 1 192.0.2.1 80 </dev/null; true", check=0)
    got = events(msb, sb, "--topic", "msb.*")
    topics = [e["topic"] for e in got]
    assert topics[0] == "msb.started", topics
    assert all(e["source"] == "msb" for e in got if e["topic"] != "msb.oom")
    exits = [e["data"] for e in got if e["topic"] == "msb.exec.exited"]
    assert any(d["exit_code"] == 3 for d in exits), exits
    assert "msb.exec.started" in topics
    ooms = [e for e in got if e["topic"] == "msb.oom"]
    assert ooms and ooms[0]["data"]["process"] == "awk", ooms
    assert ooms[0]["source"] == "guest"
    deadline = time.time() + 10
    while "msb.net.denied" not in topics and time.time() < deadline:
        time.sleep(0.5)
        topics = [e["topic"] for e in events(msb, sb, "--topic", "msb.*")]
    assert "msb.net.denied" in topics, topics


def test_flood_bounded_and_host_unhurt(msb, sb, tmp_path):
    """A guest program emitting as fast as it can: the supervisor's memory
    stays flat, the log keeps at most 4096 events and says how many it
    refused, and the sandbox serves meanwhile."""
    flood = os.path.join(str(tmp_path), "evflood")
    subprocess.run(["cc", "-static", "-O2", "-o", flood,
                    os.path.join(os.path.dirname(__file__), "evflood.c")],
                   check=True)
    msb("cp", flood, f"{sb}:/tmp/evflood", check=0)
    sup = json.loads(msb.out("inspect", sb))["pid"]

    def rss():
        with open(f"/proc/{sup}/status") as f:
            return next(int(l.split()[1]) for l in f
                        if l.startswith("VmRSS:"))

    rss0 = rss()
    p = msb.popen("exec", sb, "--", "/tmp/evflood", "flood", "12000",
                  stdout=subprocess.PIPE)
    time.sleep(1)
    assert msb.out("exec", sb, "--", "echo", "alive") == "alive\n"
    out = p.communicate(timeout=300)[0].decode()
    assert p.returncode == 0 and out.startswith("sent 12000 "), out
    got = events(msb, sb)
    assert len(got) <= 4096
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs)
    # more than the log keeps went in: its oldest are gone
    assert seqs[0] > 1
    flooded = [e["data"]["i"] for e in got if e["topic"] == "flood"]
    assert flooded == sorted(flooded)
    # nothing grew with the flood but the bounded log (4 MiB at most)
    assert rss() - rss0 < 12 << 10, (rss0, rss())


PY_SDK = os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "sdk", "python", "src")


def test_python_sdk_events(msb, sb):
    """The Python SDK: sb.on(topic, fn), async for ev in sb.events(),
    sb.emit (host to guest), and current_runtime() outside a sandbox."""
    from conftest import BUILD
    script = f"""
import asyncio, sys
from microsandbox import Sandbox, NotSupported

async def main():
    sb = await Sandbox.get({sb!r})
    seen = []
    task = sb.on("py.on", lambda ev: seen.append(ev.data))
    stream = sb.events("py.iter")
    await asyncio.sleep(0.3)
    seq = await sb.emit("py.go", {{"x": 1}})
    p = await sb.exec(["sh", "-c", "msb event wait py.go; "
                       "for i in 1 2 3; do msb event emit py.on $i; "
                       "msb event emit py.iter $i; done"])
    assert p.stdout_bytes.strip() == b'{{"x":1}}', p
    got = []
    async for ev in stream:
        assert ev.source == "guest" and ev.topic == "py.iter"
        got.append(ev.data)
        if len(got) == 3:
            break
    stream.close()
    for _ in range(50):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.1)
    task.cancel()
    assert got == [1, 2, 3] and seen == [1, 2, 3], (got, seen)
    assert seq > 0
    try:
        await Sandbox.current_runtime()
    except NotSupported as e:
        assert "not inside a microsandbox sandbox" in str(e)
    else:
        raise AssertionError("current_runtime() outside a sandbox")
    print("ok")

asyncio.run(main())
"""
    env = dict(msb.env, PYTHONPATH=PY_SDK,
               MSB_LIB=os.path.join(BUILD, "lib", "libmsb.so.0"))
    p = subprocess.run(["python3", "-c", script], capture_output=True,
                       env=env, timeout=180)
    assert p.returncode == 0 and p.stdout == b"ok\n", p.stderr.decode()[-3000:]


def test_follower_told_of_stop(msb, sb):
    """Last: a follower gets msb.stopped, then its stream ends."""
    follow = msb.popen("events", sb, "--follow", "--since", "-1",
                       "--format", "json", stdout=subprocess.PIPE)
    time.sleep(0.5)
    msb("stop", sb, check=0)
    out = follow.communicate(timeout=60)[0].decode().splitlines()
    assert follow.returncode == 0
    assert json.loads(out[-1])["topic"] == "msb.stopped", out[-3:]
