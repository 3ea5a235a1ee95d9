# SPDX-License-Identifier: Apache-2.0
"""Sandbox.current_runtime() as code inside a sandbox uses it
(docs/spawn.md), against a stand-in for the agent's socket that speaks
its frames (docs/agent-protocol.md §7c): the requests the Runtime writes
and how it reads the answers. tests/e2e/test_spawn.py runs the same
requests through a real agent with the `msb` command."""

import asyncio
import hashlib
import json
import os
import socket
import struct
import tempfile
import threading

import pytest

from microsandbox import (AlreadyExists, Busy, InvalidArgument,
                          MicrosandboxError, Network, NotFound, NotSupported,
                          PolicyRefused, Sandbox)
from microsandbox import runtime as rtmod

HDR = struct.Struct(">IIBBH")


def frame(kind, payload=b""):
    return HDR.pack(len(payload), 0, kind, 0, 0) + payload


def result(err, msg=b""):
    p = bytes([31]) + struct.pack(">I", 4) + struct.pack(">I", err)
    if msg:
        p += bytes([32]) + struct.pack(">I", len(msg)) + msg
    return frame(73, p)


class Agent:
    """Answers each connection's one PEER with @answer(request). A request
    that takes input (an exec with "stdin", a cp_in) has it read first to
    its end (the empty STDIN), into self.inputs (None: the connection
    closed before it): credit is given back only once the program has
    used all of MSB_PEER_STDIN_WINDOW, 1000 bytes then 64 KiB in turn, so
    a program that sends past its credit shows in self.over."""

    def __init__(self, answer):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "agent.sock")
        self.requests, self.windows, self.bodies = [], [], []
        self.inputs, self.input_frames, self.over = [], [], []
        self.served = threading.Condition()
        self.connections = 0
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen()
        self.answer = answer
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            try:
                self.one(c)
            except Exception as e:
                self.errors.append(e)
            finally:
                with self.served:
                    self.connections += 1
                    self.served.notify_all()

    def wait(self, n):
        """Until @n connections were served to their end."""
        with self.served:
            assert self.served.wait_for(lambda: self.connections >= n, 30)

    def one(self, c):
        with c:
            f = c.makefile("rb")
            n, stream, kind, _, _ = HDR.unpack(f.read(HDR.size))
            assert (stream, kind) == (0, 76)
            body = f.read(n)
            self.bodies.append(body)
            req = json.loads(body)
            self.requests.append(req)
            if req.get("stdin") or req["op"] == "cp_in":
                if self.take_input(c, f) is None:
                    return
            if req.get("name") == "big":
                # a window's worth, then more only for credit back
                c.sendall(frame(67, b"x" * 65536) * 4)
                n, _, kind, _, _ = HDR.unpack(f.read(HDR.size))
                self.windows.append((kind, f.read(n)))
                c.sendall(frame(67, b"y") +
                          frame(69, struct.pack(">iI", 0, 0)))
                return
            c.sendall(self.answer(req))

    def take_input(self, c, f):
        data, owed, grants = bytearray(), 0, [1000, 65536]
        while True:
            h = f.read(HDR.size)
            if len(h) < HDR.size:
                self.inputs.append(None)
                return None
            n, stream, kind, _, _ = HDR.unpack(h)
            p = f.read(n)
            assert (stream, kind) == (0, 3), (stream, kind)
            self.input_frames.append(n)
            if not n:
                self.inputs.append(bytes(data))
                return data
            data += p
            owed += n
            if owed > 128 * 1024:
                self.over.append(owed)
            if owed == 128 * 1024:
                owed -= grants[0]
                c.sendall(frame(7, struct.pack(">I", grants[0])))
                grants.reverse()


@pytest.fixture
def agent(monkeypatch):
    def answer(req):
        if req["op"] == "exec":
            return (frame(67, b"out\n") + frame(68, b"err\n") +
                    frame(69, struct.pack(">iI", 3, 0)))
        if req["op"] == "ps":
            return frame(67, json.dumps([{
                "name": "coder", "image": "default", "status": "running",
                "cpus": 1, "memory_mib": 256}]).encode()) + result(0)
        if req["name"] == "third":
            return result(1, b"this sandbox's tree already has 2 live "
                          b"peers")
        return frame(67, req["name"].encode() + b"\n") + result(0)

    a = Agent(answer)
    monkeypatch.setattr(rtmod, "AGENT_SOCK", a.path)
    return a


def test_requests_and_answers(agent):
    async def main():
        rt = await Sandbox.current_runtime()
        coder = await rt.start("coder", network=Network(deny_all=True),
                               memory=256, env={"A": "1"},
                               secrets={"K": ("msb_placeholder_ab",
                                              ["api.test", "x.test"])})
        r = await coder.exec("sh -c 'exit 3'")
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert [p.name for p in await rt.list()] == ["coder"]
        with pytest.raises(PolicyRefused, match="already has 2 live"):
            await rt.start("third")
        await coder.stop()
        await rt.peer("coder").remove()
    asyncio.run(main())
    assert agent.requests == [
        {"op": "start", "name": "coder", "memory": "256M", "env": ["A=1"],
         "net_deny_all": True,
         "secrets": [{"env": "K", "placeholder": "msb_placeholder_ab",
                      "hosts": "api.test,x.test"}]},
        {"op": "exec", "name": "coder", "argv": ["sh", "-c", "exit 3"]},
        {"op": "ps", "json": True},
        {"op": "start", "name": "third"},
        {"op": "stop", "name": "coder"},
        {"op": "rm", "name": "coder"},
    ]


def test_output_is_taken_within_its_credit(agent):
    async def main():
        rt = await Sandbox.current_runtime()
        r = await rt.peer("big").exec("cat")
        assert len(r.stdout_bytes) == 4 * 65536 + 1
    asyncio.run(main())
    assert agent.windows and agent.windows[0][0] == 7
    assert struct.unpack(">I", agent.windows[0][1])[0] >= 65536


def test_a_network_wider_than_allowed_fields_is_refused_here(agent):
    async def main():
        rt = await Sandbox.current_runtime()
        with pytest.raises(Exception, match="deny_all, allow and allow_cidr"):
            await rt.start("x", network=Network(ports=["8080:80"]))
    asyncio.run(main())
    assert agent.requests == []


def test_a_peer_takes_no_hooks(agent):
    """Hooks run in the host program that made a sandbox: a peer's are
    refused, each saying so, before anything is asked of the agent."""
    def hook(x):
        return None

    async def main():
        rt = await Sandbox.current_runtime()
        for k in ("on_exec", "on_exec_exit", "on_lifecycle"):
            with pytest.raises(InvalidArgument,
                               match=rf"a peer takes no hooks \({k}\): hooks "
                                     r"run in the host program that made a "
                                     r"sandbox"):
                await rt.start("x", **{k: hook})
        for k in ("on_dns", "on_connect", "on_http", "on_http_response",
                  "on_http_response_head"):
            with pytest.raises(InvalidArgument,
                               match=rf"\(Network\({k}=\.\.\.\)\): hooks run "
                                     r"in the host program"):
                await rt.start("x", network=Network(**{k: hook}))
        with pytest.raises(InvalidArgument,
                           match=r"\(on_exec, Network\(on_connect=\.\.\.\)\)"):
            await rt.start("x", on_exec=hook,
                           network=Network(deny_all=True, on_connect=hook))
    asyncio.run(main())
    assert agent.requests == []


def test_outside_a_sandbox():
    async def main():
        with pytest.raises(NotSupported, match="not inside a microsandbox"):
            await Sandbox.current_runtime()
    asyncio.run(main())


# ---- snapshots, stdin and cp (docs/agent-protocol.md §7c) ---------------

EPERM, ENOENT, EEXIST, EBUSY = 1, 2, 17, 16


def rec(kind, mode, name, link=b""):
    """One record of a copy's archive (MSB_PCP_*), written from the
    protocol's table."""
    r = kind + struct.pack(">I", mode) + struct.pack(">H", len(name)) + name
    if kind == b"L":
        r += struct.pack(">H", len(link)) + link
    return r


def data(b, chunk=65536):
    return b"".join(struct.pack(">I", len(b[i:i + chunk])) + b[i:i + chunk]
                    for i in range(0, len(b), chunk)) + struct.pack(">I", 0)


END = rec(b"E", 0, b"")


@pytest.fixture
def peer_agent(monkeypatch):
    """The host's answers, as peers.c gives them; a cp_out's archive is
    agent.archive, sent in frames of agent.cut bytes."""
    def answer(req):
        op = req["op"]
        if op == "exec":
            got = a.inputs[-1] if req.get("stdin") else b""
            return (frame(67, b"%d %s\n" % (len(got), hashlib.md5(
                got).hexdigest().encode())) +
                frame(69, struct.pack(">iI", 0, 0)))
        if op == "snapshot":
            if req["name"] != "coder":
                return result(EPERM, b"'%s' is not a peer of this sandbox: "
                              b"a sandbox acts only on the peers it started "
                              b"(msb ps lists them)" % req["name"].encode())
            if req["snapshot"] == "taken":
                return result(EEXIST, b"snapshot 'taken' exists")
            return frame(67, req["snapshot"].encode() + b" (full)\n") + \
                result(0)
        if op == "snapshot_ls":
            return frame(67, json.dumps([{
                "name": "s1", "source": "coder", "kind": "full",
                "size_bytes": 12345}]).encode() + b"\n") + result(0)
        if op == "snapshot_rm":
            if req["snapshot"] == "base":
                return result(EBUSY, b"snapshot 'base' is the base of peers "
                              b"restored from it: remove them first (msb rm "
                              b"NAME)")
            return result(0)
        if op == "restore":
            if req["name"] == "third":
                return result(EPERM, b"this sandbox's tree already has 1 "
                              b"live peers")
            return frame(67, req["name"].encode() + b"\n") + result(0)
        if op == "cp_in":
            return result(0)
        if op == "cp_out":
            if req["path"] == "/nope":
                return result(ENOENT, b"/nope: No such file or directory")
            b, cut = a.archive, a.cut
            return b"".join(frame(67, b[i:i + cut])
                            for i in range(0, len(b), cut)) + result(0)
        return result(22, b"unexpected")

    a = Agent(answer)
    a.archive, a.cut = END, 7
    monkeypatch.setattr(rtmod, "AGENT_SOCK", a.path)
    return a


def run(coro):
    return asyncio.run(coro)


def test_snapshot_requests_and_answers(peer_agent):
    async def main():
        rt = await Sandbox.current_runtime()
        assert await rt.peer("coder").snapshot("s1") == "s1"
        snaps = await rt.snapshots()
        assert snaps == [rtmod.PeerSnapshotInfo("s1", "coder", "full",
                                                12345)]
        peer = await rt.restore(snaps[0], name="coder2")
        assert isinstance(peer, rtmod.Peer) and peer.name == "coder2"
        await rt.remove_snapshot("s1")
        # the host's refusals, as the SDK's errors with its message
        with pytest.raises(PolicyRefused, match="'other' is not a peer of "
                           "this sandbox"):
            await rt.peer("other").snapshot("s2")
        with pytest.raises(AlreadyExists, match="snapshot 'taken' exists"):
            await rt.peer("coder").snapshot("taken")
        with pytest.raises(PolicyRefused, match="already has 1 live peers"):
            await rt.restore("s1", name="third")
        with pytest.raises(Busy, match="remove them first"):
            await rt.remove_snapshot("base")
    run(main())
    assert peer_agent.bodies[:4] == [
        b'{"op":"snapshot","name":"coder","snapshot":"s1"}',
        b'{"op":"snapshot_ls","json":true}',
        b'{"op":"restore","snapshot":"s1","name":"coder2"}',
        b'{"op":"snapshot_rm","snapshot":"s1"}',
    ]


def test_exec_sends_stdin_within_its_window(peer_agent):
    big = os.urandom(300000)

    async def chunks():
        for i in range(0, len(big), 70000):
            yield big[i:i + 70000]

    async def main():
        p = (await Sandbox.current_runtime()).peer("coder")
        r = await p.exec("cat", stdin=big)
        assert r.stdout == f"300000 {hashlib.md5(big).hexdigest()}\n"
        r = await p.exec(["wc", "-c"], stdin=chunks())
        assert r.stdout == f"300000 {hashlib.md5(big).hexdigest()}\n"
        r = await p.exec("cat", stdin="hi\n")
        hi = hashlib.md5("hi\n".encode()).hexdigest()
        assert r.stdout == f"3 {hi}\n"
        # an empty input: the command reads its end at once
        r = await p.exec("cat", stdin=b"")
        assert r.stdout.startswith("0 ")
    run(main())
    assert peer_agent.bodies[0] == \
        b'{"op":"exec","name":"coder","argv":["cat"],"stdin":true}'
    assert peer_agent.inputs == [big, big, b"hi\n", b""]
    # never past the credit, which it waited for (MSB_PEER_STDIN_WINDOW,
    # then 1000 bytes: a frame of that size)
    assert peer_agent.over == []
    assert 1000 in peer_agent.input_frames
    assert max(peer_agent.input_frames) <= 65536


def test_exec_with_a_terminal(peer_agent):
    async def main():
        p = (await Sandbox.current_runtime()).peer("coder")
        await p.exec("sh", tty=True)
        await p.exec("sh", tty=(33, 101), stdin="stty size\n")
        for bad in ((0, 80), (24,), (24, 65536), ("24", "80"), (True, 80),
                    "yes", 1):
            with pytest.raises(InvalidArgument, match="tty is True or "
                               r"\(rows, cols\)"):
                await p.exec("sh", tty=bad)
    run(main())
    # a bad size is refused here: nothing more went to the host
    assert peer_agent.bodies == [
        b'{"op":"exec","name":"coder","argv":["sh"],"tty":true,'
        b'"rows":24,"cols":80}',
        b'{"op":"exec","name":"coder","argv":["sh"],"tty":true,'
        b'"rows":33,"cols":101,"stdin":true}',
    ]


def test_an_input_that_fails_ends_the_request(peer_agent):
    async def chunks():
        yield b"part"
        raise OSError("the input went")

    async def main():
        p = (await Sandbox.current_runtime()).peer("coder")
        with pytest.raises(OSError, match="the input went"):
            await p.exec("cat", stdin=chunks())
        with pytest.raises(InvalidArgument, match="an async iterable of "
                           "bytes"):
            await p.exec("cat", stdin=12)
    run(main())
    # the connection closed without the input's end: the host cancels
    peer_agent.wait(1)
    assert peer_agent.errors == [] and peer_agent.inputs == [None]


def make_tree(root):
    os.makedirs(os.path.join(root, "t", "sub"))
    with open(os.path.join(root, "t", "a"), "wb") as f:
        f.write(b"one\n")
    with open(os.path.join(root, "t", "sub", "big"), "wb") as f:
        f.write(BIG)
    os.chmod(os.path.join(root, "t", "a"), 0o640)
    os.chmod(os.path.join(root, "t", "sub"), 0o750)
    os.chmod(os.path.join(root, "t"), 0o755)
    os.symlink("a", os.path.join(root, "t", "link"))
    os.mkfifo(os.path.join(root, "t", "fifo"))  # not copied


BIG = bytes(range(256)) * 600  # 153600 bytes: three chunks

# t as the archive holds it: names sorted, a directory before what is in it
TREE = (rec(b"D", 0o755, b"t") + rec(b"F", 0o640, b"a") + data(b"one\n") +
        rec(b"L", 0o777, b"link", b"a") + rec(b"D", 0o750, b"sub") +
        rec(b"F", 0o644, b"sub/big") + data(BIG) + END)


def test_copy_in_sends_the_archive(peer_agent, tmp_path):
    make_tree(tmp_path)
    os.chmod(tmp_path / "t" / "sub" / "big", 0o644)

    async def main():
        p = (await Sandbox.current_runtime()).peer("coder")
        await p.copy_in(str(tmp_path / "t"), "/tmp/", user=1000)
        await p.copy_in(tmp_path / "t" / "a", "/tmp/x")
        await p.copy_in(f"{tmp_path}/t/.", "/tmp/y")
        with pytest.raises(NotFound, match="cannot copy .*/nope"):
            await p.copy_in(str(tmp_path / "nope"), "/tmp/")
    run(main())
    assert peer_agent.bodies == [
        b'{"op":"cp_in","name":"coder","path":"/tmp/","user":"1000"}',
        b'{"op":"cp_in","name":"coder","path":"/tmp/x"}',
        b'{"op":"cp_in","name":"coder","path":"/tmp/y","contents":true}',
    ]
    assert peer_agent.inputs[0] == TREE
    assert peer_agent.inputs[1] == rec(b"F", 0o640, b"a") + data(b"one\n") \
        + END
    assert peer_agent.inputs[2] == rec(b"D", 0o755, b".") + TREE[7 + 1:]
    assert peer_agent.over == []


def tree_of(root):
    out = []
    for d, ds, fs in sorted(os.walk(root)):
        for n in sorted(ds + fs):
            p = os.path.join(d, n)
            st = os.lstat(p)
            body = (os.readlink(p) if os.path.islink(p) else
                    open(p, "rb").read() if os.path.isfile(p) else None)
            out.append((os.path.relpath(p, root), oct(st.st_mode), body))
    return out


def test_copy_out_unpacks_the_archive(peer_agent, tmp_path):
    make_tree(tmp_path / "src")
    os.unlink(tmp_path / "src" / "t" / "fifo")
    os.chmod(tmp_path / "src" / "t" / "sub" / "big", 0o644)
    os.mkdir(tmp_path / "here")
    peer_agent.archive, peer_agent.cut = TREE, 4099

    async def main():
        p = (await Sandbox.current_runtime()).peer("coder")
        # into a directory that exists: t below it, as docker cp
        await p.copy_out("/tmp/t", str(tmp_path / "here"))
        # to a name that does not exist: the directory as that name
        await p.copy_out("/tmp/t", tmp_path / "fresh")
        # one file, in records cut at every byte
        peer_agent.archive = rec(b"F", 0o600, b"a") + data(b"one\n") + END
        peer_agent.cut = 1
        await p.copy_out("/tmp/t/a", str(tmp_path / "here"), user="1000")
        with pytest.raises(NotFound, match="/nope: No such file"):
            await p.copy_out("/nope", str(tmp_path / "here"))
    run(main())
    assert tree_of(tmp_path / "here" / "t") == tree_of(tmp_path / "src" / "t")
    assert tree_of(tmp_path / "fresh") == tree_of(tmp_path / "src" / "t")
    assert open(tmp_path / "here" / "a", "rb").read() == b"one\n"
    assert oct(os.stat(tmp_path / "here" / "a").st_mode) == "0o100600"
    assert peer_agent.bodies[:3] == [
        b'{"op":"cp_out","name":"coder","path":"/tmp/t"}',
        b'{"op":"cp_out","name":"coder","path":"/tmp/t"}',
        b'{"op":"cp_out","name":"coder","path":"/tmp/t/a","user":"1000"}',
    ]


@pytest.mark.parametrize("archive, why", [
    (rec(b"D", 0o755, b"t") + rec(b"F", 0o644, b"../evil") + data(b"x") +
     END, "'../evil' is not a name below"),
    (rec(b"D", 0o755, b"t") + rec(b"F", 0o644, b"/abs") + data(b"x") + END,
     "'/abs' is not a name below"),
    # a symlink in the copy is not followed to reach what is below it
    (rec(b"D", 0o755, b"t") + rec(b"L", 0o777, b"up", b"..") +
     rec(b"F", 0o644, b"up/evil") + data(b"x") + END,
     "cannot reach the directory of"),
    (rec(b"D", 0o755, b"t") + rec(b"F", 0o644, b"a") + data(b"x"),
     "the copy ended before its end"),
    (b"Z" + bytes(6) + END, "not an archive"),
], ids=["dotdot", "absolute", "through-a-symlink", "truncated", "bad-type"])
def test_copy_out_refuses_what_would_leave_the_destination(
        peer_agent, tmp_path, archive, why):
    os.mkdir(tmp_path / "here")
    peer_agent.archive = archive

    async def main():
        p = (await Sandbox.current_runtime()).peer("coder")
        with pytest.raises(MicrosandboxError, match=why):
            await p.copy_out("/tmp/t", str(tmp_path / "here"))
    run(main())
    assert not os.path.exists(tmp_path / "evil")
    assert not os.path.exists(tmp_path / "here" / "evil")
