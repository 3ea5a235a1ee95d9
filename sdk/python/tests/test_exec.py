# SPDX-License-Identifier: Apache-2.0
"""Commands: the one-call form, its options and errors, the streaming form
(output, stdin, signals, a terminal), timeouts, cancellation, and 50 at once
from one event loop without a thread each."""

import asyncio
import signal
import threading

import pytest

from .pysdk import run
from microsandbox import (CommandError, ExecFailed, ExecTimeout,
                          InvalidArgument, SandboxStopped)


def test_command_line_and_argv(shared):
    async def main():
        r = await shared.exec("echo hello world")
        assert (r.exit_code, r.stdout, r.stderr) == (0, "hello world\n", "")
        # a command line is split as a shell splits words, nothing expanded
        r = await shared.exec("printf '%s|' 'two words' \"$HOME\" a;b")
        assert r.stdout == "two words|$HOME|a;b|"
        r = await shared.exec(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (r.exit_code, r.stdout, r.stderr, r.ok) == (3, "out\n", "err\n", False)
        r = await shared.exec("echo $HOME && exit 4", shell=True)
        assert (r.exit_code, r.stdout) == (4, "/root\n")
    run(main())


def test_long_script_on_the_command_line(shared):
    # An agent's generated script passed inline, past one agent frame
    # (64 KiB), up to Linux's own 2 MiB; past that, InvalidArgument.
    async def main():
        # (one string: under the guest kernel's 128 KiB for one argument)
        script = "".join(f"x{i}=1\n" for i in range(14000)) + "echo $x13999"
        assert 64 * 1024 < len(script) < 128 * 1024
        r = await shared.exec(["sh", "-c", script])
        assert (r.exit_code, r.stdout) == (0, "1\n"), r.stderr
        with pytest.raises(InvalidArgument, match="2097152 bytes"):
            await shared.exec(["true"] + ["y" * 100000] * 22)
    run(main())


def test_options_and_errors(shared):
    async def main():
        r = await shared.exec(["sh", "-c", 'echo "$A $B"; pwd; id -u'],
                              env={"A": "1", "B": "two"}, cwd="/tmp", user="user")
        assert r.stdout == "1 two\n/tmp\n1000\n"
        with pytest.raises(InvalidArgument, match="cwd must be an absolute path"):
            await shared.exec("pwd", cwd="tmp")
        r = await shared.exec("cat", stdin="line\n" * 3)
        assert r.stdout == "line\n" * 3
        big = bytes(range(256)) * 4096
        r = await shared.exec("cat", stdin=big)
        assert r.stdout_bytes == big
        # non-zero is data; check=True makes it an error carrying the result
        with pytest.raises(CommandError) as e:
            await shared.exec("sh -c 'echo nope >&2; exit 9'", check=True)
        assert e.value.result.exit_code == 9 and "nope" in str(e.value)
        r = await shared.exec("no-such-command")
        assert r.exit_code == 127 and "not found" in r.stderr
        with pytest.raises(ExecFailed, match="nosuchuser"):
            await shared.exec("true", user="nosuchuser")
        with pytest.raises(InvalidArgument):
            await shared.exec("")
        with pytest.raises(InvalidArgument):
            await shared.exec("echo 'unbalanced")
        with pytest.raises(InvalidArgument):
            await shared.exec("true", timeout=0)
    run(main())


def test_timeout_kills_in_the_guest(shared):
    async def main():
        with pytest.raises(ExecTimeout) as e:
            # 5 s: room for the echo on a loaded host, whose output the
            # timed-out result must keep
            await shared.exec("sh -c 'echo started; sleep 60'", timeout=5)
        res = e.value.result
        assert res.timed_out and res.signal == 9 and res.stdout == "started\n"
        assert isinstance(e.value, TimeoutError)
    run(main())


def test_cancel_kills_in_the_guest(shared):
    async def main():
        task = asyncio.ensure_future(
            shared.exec(["sh", "-c", "echo $$ > /tmp/cancelled.pid; exec sleep 600"]))
        for _ in range(100):
            if (await shared.exec("cat /tmp/cancelled.pid")).ok:
                break
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pid = (await shared.exec("cat /tmp/cancelled.pid")).stdout.strip()
        for _ in range(100):
            if (await shared.exec(["kill", "-0", pid])).exit_code:
                break
            await asyncio.sleep(0.1)
        assert (await shared.exec(["kill", "-0", pid])).exit_code != 0, \
            "the cancelled command still runs in the guest"
    run(main())


def test_output_callbacks(shared):
    async def main():
        seen = []
        r = await shared.exec("sh -c 'echo a; sleep 0.2; echo b >&2; sleep 0.2; echo c'",
                              on_output=seen.append)
        assert [(c.stream, c.text) for c in seen] == \
            [("stdout", "a\n"), ("stderr", "b\n"), ("stdout", "c\n")]
        assert (r.stdout, r.stderr) == ("a\nc\n", "b\n")  # the result has it all
        got = []

        async def slow(chunk):
            await asyncio.sleep(0.01)
            got.append(chunk.data)
        r = await shared.exec("seq 1000", on_output=slow)
        assert b"".join(got) == r.stdout_bytes and r.stdout.split()[-1] == "1000"

        # a callback that raises: the error is the caller's, the command is
        # killed in the guest
        def boom(chunk):
            raise ValueError("enough")
        with pytest.raises(ValueError, match="enough"):
            await shared.exec(["sh", "-c", "echo $$ > /tmp/cb.pid; echo go; exec sleep 600"],
                              on_output=boom)
        pid = (await shared.exec("cat /tmp/cb.pid")).stdout.strip()
        for _ in range(100):
            if (await shared.exec(["kill", "-0", pid])).exit_code:
                break
            await asyncio.sleep(0.1)
        assert (await shared.exec(["kill", "-0", pid])).exit_code != 0, \
            "the command still runs after its callback raised"
    run(main())


def test_fifty_at_once_on_one_loop_without_threads(shared):
    async def main():
        await shared.exec("true")  # the handle, opened once
        before = threading.active_count()
        peak = before

        async def one(i):
            nonlocal peak
            r = await shared.exec(["sh", "-c", f"sleep 1; echo {i}; echo e{i} >&2"])
            peak = max(peak, threading.active_count())
            return r
        rs = await asyncio.gather(*(one(i) for i in range(50)))
        assert [r.stdout for r in rs] == [f"{i}\n" for i in range(50)]
        assert [r.stderr for r in rs] == [f"e{i}\n" for i in range(50)]
        # no thread per command: the loop watches their descriptors
        assert peak <= before, (before, peak)
    run(main())


def test_streaming(shared):
    async def main():
        p = await shared.exec_stream(
            "sh -c 'for i in 1 2 3; do echo $i; echo e$i >&2; sleep 0.2; done'")
        got = [(c.stream, c.text) async for c in p]
        assert [t for s, t in got if s == "stdout"] == ["1\n", "2\n", "3\n"]
        assert "".join(t for s, t in got if s == "stderr") == "e1\ne2\ne3\n"
        res = await p.wait()
        assert res.exit_code == 0 and res.stdout == ""  # already iterated
        # interactive stdin: each line echoed before the next is sent
        async with await shared.exec_stream("cat", stdin=True) as p:
            it = p.__aiter__()
            for line in ("a\n", "b\n"):
                await p.write(line)
                assert (await it.__anext__()).text == line
            await p.close_stdin()
            assert (await p.wait()).exit_code == 0
        # a signal reaches the process group
        p = await shared.exec_stream("sleep 60")
        await p.send_signal(signal.SIGTERM)
        res = await p.wait()
        assert (res.exit_code, res.signal) == (143, 15)
        with pytest.raises(SandboxStopped):
            await p.write(b"x")
        # a terminal, resized
        p = await shared.exec_stream("sh -c 'stty size; read x; stty size'",
                                     stdin=True, tty=(30, 100))
        first = ""
        async for c in p:
            first += c.text
            if "30 100" in first:
                break
        await p.resize(40, 120)
        await p.write("\n")
        res = await p.wait()
        assert res.stdout.split()[-2:] == ["40", "120"], res.stdout
        # leaving the block kills what still runs
        async with await shared.exec_stream("sleep 600") as p:
            pass
        assert p.returncode == 137
    run(main())


def test_large_output_is_bounded_and_whole(shared):
    """20 MB read slowly: the reader is paused, the guest waits, nothing
    is lost."""
    async def main():
        p = await shared.exec_stream("sh -c 'yes 0123456789abcdef | head -c 20000000'")
        n = 0
        async for c in p:
            n += len(c.data)
            assert p._held <= (8 << 20)
            if n < (2 << 20):
                await asyncio.sleep(0.01)
        assert n == 20000000 and (await p.wait()).exit_code == 0
    run(main())


def test_paused_while_the_host_disk_is_full(monkeypatch):
    # The supervisor tells a running command when its sandbox pauses on a
    # full host disk and when it runs again (docs/api-protocol.md §11.4):
    # Process.paused is its words while paused, None after.
    import errno
    import os
    import shutil
    import subprocess
    import tempfile
    import time

    from microsandbox import Sandbox

    from .pysdk import msb, unique

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for $MSB_HOME needs root")
    d = tempfile.mkdtemp(prefix="msb-pypause-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", d],
                   check=True)
    monkeypatch.setenv("MSB_HOME", os.path.join(d, "home"))
    fill = os.path.join(d, "fill")
    name = unique("pypause")

    async def until(what, fn, timeout=60):
        end = time.monotonic() + timeout
        while not fn():
            assert time.monotonic() < end, f"never: {what}"
            await asyncio.sleep(0.1)

    async def main():
        sb = await Sandbox.create(name)
        p = await sb.exec_stream(
            "sh -c 'echo ready; read x; "
            "dd if=/dev/urandom of=/big bs=1M count=24 conv=fsync 2>/dev/null"
            " && echo wrote; read x'", stdin=True)
        assert (await p.__aiter__().__anext__()).text == "ready\n"
        assert p.paused is None
        with open(fill, "wb") as f:  # the host disk, full
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
        try:
            await p.write("go\n")  # the guest writes: QEMU pauses it
            await until("paused", lambda: p.paused is not None)
            assert f"sandbox {name} is paused: the host disk under " \
                in p.paused, p.paused
        finally:
            os.unlink(fill)
        # (Said 2 s after the guest runs on: the command waits for it.)
        await until("resumed", lambda: p.paused is None)
        await p.write("end\n")
        res = await p.wait()
        assert (res.exit_code, res.stdout) == (0, "wrote\n"), res

    try:
        run(main())
    finally:
        if os.path.exists(fill):
            os.unlink(fill)
        msb("rm", "-f", name, check=False)
        subprocess.run(["umount", "-l", d])
        shutil.rmtree(d, ignore_errors=True)
