#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# drive.py - boot msb-agent in a QEMU microVM and exercise the agent protocol
#
#   tests/agent/drive.py --kernel K --initrd I --layer L [--qemu Q] [--keep DIR]
#
# Standard library only; builds nothing. Boots the VM the way the host does
# (docs/agent-protocol.md), speaks the protocol on a socketpair, runs a set of
# execs and checks every result, then SHUTDOWN and expects QEMU to exit 0.
# A second boot on the same upper disk checks that writes persisted.
# Exit status: 0 if every check passed.

import argparse
import hashlib
import os
import queue
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

# --- protocol constants (src/proto/proto.h) --------------------------------
# The agent version this tree builds, read from the header itself.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "src", "proto", "proto.h")) as _f:
    AGENT_VERSION = next(l.split('"')[1] for l in _f
                         if l.startswith("#define MSB_AGENT_VERSION "))

HDR = 12
FRAME_MAX = 64 * 1024
WINDOW_INIT = 256 * 1024

F_INIT, F_EXEC, F_STDIN, F_SIGNAL, F_RESIZE, F_SHUTDOWN = 1, 2, 3, 4, 5, 6
F_WINDOW, F_PING, F_PONG = 7, 8, 9
F_EXEC_PART = 17
EXEC_MAX = 2 * 1024 * 1024
F_HELLO, F_READY, F_STARTED, F_STDOUT, F_STDERR, F_EXIT, F_ERROR, F_LOG = (
    64, 65, 66, 67, 68, 69, 70, 71)

T_VERSION, T_AGENT, T_ARG, T_ENV, T_CWD, T_USER, T_TTY, T_STDIN = (
    1, 2, 3, 4, 5, 6, 7, 8)
T_HOSTNAME, T_UPPER, T_LAYER, T_TIME, T_TIMING, T_DETACH = (
    9, 10, 11, 12, 13, 14)


def tlv(tag, value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">BI", tag, len(value)) + value


def tlv_u32(tag, v):
    return tlv(tag, struct.pack(">I", v))


def tlv_parse(buf):
    out, off = [], 0
    while off < len(buf):
        tag, n = struct.unpack_from(">BI", buf, off)
        out.append((tag, buf[off + 5:off + 5 + n]))
        off += 5 + n
    return out


class Stream:
    """One exec as the host sees it."""

    def __init__(self, sid, autogrant):
        self.id = sid
        self.autogrant = autogrant
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.frames = []          # (type, payload) in arrival order
        self.pid = None
        self.exit = None          # (code, signal)
        self.error = None
        self.stdin_credit = WINDOW_INIT
        self.cond = threading.Condition()


class Link:
    """The host end of the agent port: a reader thread plus locked writes."""

    def __init__(self, sock):
        self.sock = sock
        self.wlock = threading.Lock()
        self.control = queue.Queue()
        self.streams = {}
        self.slock = threading.Lock()
        self.next_id = 1
        self.closed = threading.Event()
        self.protocol_errors = []
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()

    def send(self, stream, ftype, payload=b""):
        assert len(payload) <= FRAME_MAX
        frame = struct.pack(">IIBBH", len(payload), stream, ftype, 0, 0) + payload
        with self.wlock:
            self.sock.sendall(frame)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _reader(self):
        try:
            while True:
                hdr = self._recv_exact(HDR)
                n, sid, ftype, flags, res = struct.unpack(">IIBBH", hdr)
                if n > FRAME_MAX or flags or res:
                    self.protocol_errors.append("bad header %r" % hdr)
                    return
                payload = self._recv_exact(n) if n else b""
                self._dispatch(sid, ftype, payload)
        except (EOFError, OSError):
            pass
        finally:
            self.closed.set()
            with self.slock:
                for s in self.streams.values():
                    with s.cond:
                        s.cond.notify_all()

    def _dispatch(self, sid, ftype, payload):
        if sid == 0 or ftype in (F_PONG,):
            self.control.put((sid, ftype, payload))
            return
        with self.slock:
            s = self.streams.get(sid)
        if s is None:
            self.protocol_errors.append("frame %d for unknown stream %d" % (ftype, sid))
            return
        with s.cond:
            if s.exit is not None:
                self.protocol_errors.append("frame %d after EXIT on %d" % (ftype, sid))
            s.frames.append((ftype, payload))
            if ftype in (F_STDOUT, F_STDERR):
                (s.stdout if ftype == F_STDOUT else s.stderr).extend(payload)
                if s.autogrant:
                    self.send(sid, F_WINDOW, struct.pack(">I", len(payload)))
            elif ftype == F_STARTED:
                s.pid = struct.unpack(">I", payload)[0]
            elif ftype == F_EXIT:
                s.exit = struct.unpack(">iI", payload)
            elif ftype == F_ERROR:
                s.error = payload.decode(errors="replace")
            elif ftype == F_WINDOW:
                s.stdin_credit += struct.unpack(">I", payload)[0]
            s.cond.notify_all()

    def control_frame(self, timeout):
        return self.control.get(timeout=timeout)

    # --- exec helpers ------------------------------------------------------

    def start(self, argv, env=(), cwd=None, user=None, tty=None, stdin=False,
              autogrant=True, sid=None):
        with self.slock:
            if sid is None:
                sid = self.next_id
                self.next_id += 1
            s = Stream(sid, autogrant)
            self.streams[sid] = s
        p = b"".join(tlv(T_ARG, a) for a in argv)
        p += b"".join(tlv(T_ENV, e) for e in env)
        if cwd is not None:
            p += tlv(T_CWD, cwd)
        if user is not None:
            p += tlv(T_USER, user)
        if tty is not None:
            p += tlv(T_TTY, struct.pack(">HH", *tty))
        if stdin:
            p += tlv_u32(T_STDIN, 1)
        self.send_exec(sid, p)
        return s

    def send_exec(self, sid, p):
        """An EXEC request, in EXEC_PART frames first when it is longer
        than a frame, as the host sends it."""
        while len(p) > FRAME_MAX:
            self.send(sid, F_EXEC_PART, p[:FRAME_MAX])
            p = p[FRAME_MAX:]
        self.send(sid, F_EXEC, p)

    def stream(self, sid):
        """A stream registered without sending anything."""
        with self.slock:
            s = self.streams[sid] = Stream(sid, True)
        return s

    def write_stdin(self, s, data, timeout=60):
        """Send @data respecting the agent's stdin window."""
        off = 0
        deadline = time.time() + timeout
        while off < len(data):
            with s.cond:
                while s.stdin_credit == 0 and s.exit is None and s.error is None:
                    if not s.cond.wait(max(0.01, deadline - time.time())):
                        raise TimeoutError("stdin window stuck on stream %d" % s.id)
                if s.exit is not None or s.error is not None:
                    return off
                n = min(FRAME_MAX, s.stdin_credit, len(data) - off)
                s.stdin_credit -= n
            self.send(s.id, F_STDIN, data[off:off + n])
            off += n
        return off

    def close_stdin(self, s):
        self.send(s.id, F_STDIN, b"")

    def wait(self, s, timeout=60):
        deadline = time.time() + timeout
        with s.cond:
            while s.exit is None and s.error is None and not self.closed.is_set():
                if not s.cond.wait(max(0.01, deadline - time.time())):
                    raise TimeoutError("stream %d %r did not end" % (s.id, s.frames[:3]))
        return s

    def wait_for(self, s, pred, timeout=30):
        deadline = time.time() + timeout
        with s.cond:
            while not pred(s):
                if not s.cond.wait(max(0.01, deadline - time.time())):
                    raise TimeoutError("stream %d: condition not met" % s.id)

    def run(self, argv, stdin_data=None, timeout=60, **kw):
        s = self.start(argv, stdin=stdin_data is not None, **kw)
        if stdin_data is not None:
            self.write_stdin(s, stdin_data, timeout)
            self.close_stdin(s)
        return self.wait(s, timeout)


# --- the VM ----------------------------------------------------------------

class VM:
    def __init__(self, args, workdir, upper, name):
        self.args = args
        self.console = os.path.join(workdir, name + "-console.log")
        host, guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cmd = [
            args.qemu, "-M", "microvm,pit=on,rtc=on", "-accel", "tcg",
            "-cpu", "max", "-m", "512", "-smp", "1", "-nodefaults",
            "-no-user-config", "-nographic", "-display", "none", "-no-reboot",
            "-kernel", args.kernel, "-initrd", args.initrd,
            "-append", "console=ttyS0 quiet panic=-1 tsc_early_khz=%d" % args.tsc_khz,
            "-serial", "file:" + self.console,
            "-global", "virtio-mmio.force-legacy=false",
            "-device", "virtio-serial-device",
            "-chardev", "socket,id=agent,fd=%d" % guest.fileno(),
            "-device", "virtserialport,chardev=agent,name=msb.agent",
            "-drive", "if=none,id=upper,file=%s,format=raw,cache=unsafe" % upper,
            "-device", "virtio-blk-device,drive=upper,serial=upper",
            "-drive", "if=none,id=layer0,file=%s,format=raw,readonly=on" % args.layer,
            "-device", "virtio-blk-device,drive=layer0,serial=layer0",
        ]
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, pass_fds=(guest.fileno(),),
                                     stdin=subprocess.DEVNULL)
        guest.close()
        self.link = Link(host)

    def console_tail(self, n=30):
        try:
            with open(self.console, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no console log)"

    def handshake(self, hostname="sandbox-test"):
        sid, ftype, p = self.link.control_frame(timeout=60)
        assert (sid, ftype) == (0, F_HELLO), "expected HELLO, got %r" % ((sid, ftype, p),)
        hello = dict(tlv_parse(p))
        assert struct.unpack(">I", hello[T_VERSION])[0] == 1, hello
        assert hello[T_AGENT] == AGENT_VERSION.encode(), hello
        t_hello = time.time() - self.t0
        init = (tlv(T_HOSTNAME, hostname) + tlv(T_UPPER, "upper") +
                tlv(T_LAYER, "layer0") +
                tlv(T_TIME, struct.pack(">Q", time.time_ns())))
        self.link.send(0, F_INIT, init)
        sid, ftype, p = self.link.control_frame(timeout=60)
        if ftype == F_ERROR:
            raise AssertionError("agent ERROR: %s" % p.decode())
        assert (sid, ftype) == (0, F_READY), (sid, ftype, p)
        t_ready = time.time() - self.t0
        timings = dict(v.decode().split("=") for t, v in tlv_parse(p) if t == T_TIMING)
        return t_hello, t_ready, timings

    def shutdown(self, grace_ms=2000, timeout=30):
        self.link.send(0, F_SHUTDOWN, struct.pack(">I", grace_ms))
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("QEMU did not exit after SHUTDOWN")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --- checks ----------------------------------------------------------------

class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def run(self, name, fn):
        t = time.time()
        try:
            fn()
        except Exception as e:  # report and continue with the next check
            self.failed.append(name)
            print("FAIL %-28s %s: %s" % (name, type(e).__name__, e), flush=True)
            return
        self.passed += 1
        print("ok   %-28s %.2fs" % (name, time.time() - t), flush=True)


def expect_eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def first_boot_checks(vm, c, hostname):
    L = vm.link

    def echo():
        s = L.run(["echo", "hello", "world"])
        expect_eq((s.exit, bytes(s.stdout), bytes(s.stderr)),
                  ((0, 0), b"hello world\n", b""), "echo")
        types = [t for t, _ in s.frames]
        expect_eq(types[0], F_STARTED, "first frame")
        expect_eq(types[-1], F_EXIT, "last frame")
        assert s.pid and s.pid > 1, s.pid

    def exit_codes():
        for code in (0, 1, 3, 255):
            s = L.run(["sh", "-c", "exit %d" % code])
            expect_eq(s.exit, (code, 0), "exit %d" % code)

    def stderr():
        s = L.run(["sh", "-c", "echo out; echo err >&2; exit 2"])
        expect_eq((bytes(s.stdout), bytes(s.stderr), s.exit),
                  (b"out\n", b"err\n", (2, 0)), "stderr")

    def not_found():
        s = L.run(["no-such-command", "x"])
        expect_eq(s.exit, (127, 0), "exit")
        expect_eq(bytes(s.stderr), b"msb: no-such-command: command not found\n", "msg")
        s = L.run(["/no/such/path"])
        expect_eq(s.exit, (127, 0), "absolute path exit")

    def not_executable():
        s = L.run(["/etc/passwd"])
        expect_eq(s.exit, (126, 0), "exit")
        assert b"Permission denied" in s.stderr, s.stderr

    def cwd():
        s = L.run(["pwd"], cwd="/tmp")
        expect_eq(bytes(s.stdout), b"/tmp\n", "pwd")
        s = L.run(["pwd"], cwd="/nonexistent")
        expect_eq(s.exit, (126, 0), "bad cwd exit")
        assert s.stderr.startswith(b"msb: cannot change directory to /nonexistent"), s.stderr

    def env():
        s = L.run(["sh", "-c", 'echo "$FOO|$HOME|$HOSTNAME|$PATH|$TERM"'],
                  env=["FOO=bar baz"])
        expect_eq(bytes(s.stdout),
                  ("bar baz|/root|%s|/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                   "/usr/bin:/sbin:/bin|\n" % hostname).encode(), "env")
        s = L.run(["sh", "-c", 'echo "$PATH|$HOME"'], env=["PATH=/bin", "HOME=/x"])
        expect_eq(bytes(s.stdout), b"/bin|/x\n", "env override")
        # argv[0] is resolved through the PATH given to the process
        s = L.run(["busybox", "true"], env=["PATH=/nonexistent"])
        expect_eq(s.exit, (127, 0), "PATH from ENV")

    def users():
        s = L.run(["id"])
        expect_eq(bytes(s.stdout), b"uid=0(root) gid=0(root) groups=0(root)\n", "root")
        s = L.run(["sh", "-c", "id; echo $HOME; pwd"], user="user", cwd="/home/user")
        expect_eq(bytes(s.stdout),
                  b"uid=1000(user) gid=1000(user) groups=1000(user)\n/home/user\n/home/user\n",
                  "user")
        s = L.run(["id"], user="1234:5")
        expect_eq(bytes(s.stdout), b"uid=1234 gid=5 groups=5\n", "numeric")
        s = L.run(["id", "-u"], user="nobody")
        expect_eq(bytes(s.stdout), b"65534\n", "nobody")
        s = L.start(["id"], user="nosuchuser")
        L.wait(s)
        assert s.error and "nosuchuser" in s.error, s.error
        expect_eq(s.exit, None, "no EXIT after ERROR")
        # the user cannot write to root's home
        s = L.run(["sh", "-c", "echo x > /root/f"], user="user")
        assert s.exit[0] != 0, s.exit

    def system():
        s = L.run(["hostname"])
        expect_eq(bytes(s.stdout), hostname.encode() + b"\n", "hostname")
        s = L.run(["date", "+%s"])
        skew = abs(int(s.stdout) - time.time())
        assert skew < 30, "guest clock off by %ds" % skew
        s = L.run(["cat", "/sys/class/net/lo/flags"])
        assert int(s.stdout, 16) & 1, "lo not up: %r" % s.stdout
        s = L.run(["sh", "-c", "grep -E ' / | /dev/pts | /dev/shm ' /proc/mounts | cut -d' ' -f2,3"])
        expect_eq(sorted(bytes(s.stdout).split(b"\n")),
                  sorted([b"/ overlay", b"/dev/pts devpts", b"/dev/shm tmpfs", b""]),
                  "mounts")
        s = L.run(["sh", "-c", "ls /dev/fd/ >/dev/null && echo fd; ulimit -n"])
        expect_eq(bytes(s.stdout), b"fd\n1024\n", "/dev/fd, fd limit")
        # The command's own descriptors, with no shell in between (a
        # shell's pipes and saved redirections race with what ls sees on
        # a loaded host): 0-2, and 3, the directory ls is reading.
        s = L.run(["ls", "/proc/self/fd"])
        expect_eq(bytes(s.stdout), b"0\n1\n2\n3\n", "inherited fds")

    def big_output():
        n = 6 * 1024 * 1024 + 12345
        s = L.run(["sh", "-c", "head -c %d /dev/urandom > /tmp/big && sha256sum /tmp/big" % n])
        want = bytes(s.stdout).split()[0].decode()
        t = time.time()
        s = L.run(["cat", "/tmp/big"], timeout=120)
        dt = time.time() - t
        expect_eq(len(s.stdout), n, "size")
        expect_eq(hashlib.sha256(s.stdout).hexdigest(), want, "sha256")
        expect_eq(s.exit, (0, 0), "exit")
        biggest = max(len(p) for t_, p in s.frames if t_ == F_STDOUT)
        assert biggest <= FRAME_MAX, biggest
        print("     %d bytes in %.2fs (%.1f MB/s)" % (n, dt, n / dt / 1e6))

    def output_credit():
        n = 1024 * 1024
        s = L.start(["head", "-c", str(n), "/dev/zero"], autogrant=False)
        L.wait_for(s, lambda s: len(s.stdout) >= WINDOW_INIT, timeout=30)
        time.sleep(1.0)
        with s.cond:
            expect_eq(len(s.stdout), WINDOW_INIT, "output beyond the window")
            assert s.exit is None, "EXIT before output was drained"
        L.send(s.id, F_WINDOW, struct.pack(">I", 100))
        L.wait_for(s, lambda s: len(s.stdout) >= WINDOW_INIT + 100, timeout=30)
        time.sleep(0.5)
        expect_eq(len(s.stdout), WINDOW_INIT + 100, "small grant")
        L.send(s.id, F_WINDOW, struct.pack(">I", n))
        L.wait(s)
        expect_eq((len(s.stdout), s.exit), (n, (0, 0)), "after grant")

    def stdin():
        data = random.randbytes(3 * 1024 * 1024 + 7)
        s = L.run(["sha256sum"], stdin_data=data, timeout=120)
        expect_eq(bytes(s.stdout).split()[0].decode(), hashlib.sha256(data).hexdigest(),
                  "sha256 of stdin")
        # everything acknowledged
        expect_eq(s.stdin_credit, WINDOW_INIT, "stdin window returned")
        s = L.run(["cat"], stdin_data=b"line one\nline two\n")
        expect_eq(bytes(s.stdout), b"line one\nline two\n", "cat")
        s = L.run(["cat"])  # no STDIN: /dev/null
        expect_eq((bytes(s.stdout), s.exit), (b"", (0, 0)), "stdin is /dev/null")

    def stdin_closed_early():
        # head exits after 10 bytes: the rest must be acknowledged and dropped
        data = b"x" * (2 * 1024 * 1024)
        s = L.start(["head", "-c", "10"], stdin=True)
        L.write_stdin(s, data)
        L.close_stdin(s)
        L.wait(s)
        expect_eq((bytes(s.stdout), s.exit), (b"x" * 10, (0, 0)), "head")

    def concurrent():
        streams = []
        for i in range(12):
            streams.append(L.start(
                ["sh", "-c", 'i=0; while [ $i -lt 300 ]; do echo "$ID $i"; i=$((i+1)); done; exit $ID'],
                env=["ID=%d" % i]))
        for i, s in enumerate(streams):
            L.wait(s)
            want = "".join("%d %d\n" % (i, k) for k in range(300)).encode()
            expect_eq((bytes(s.stdout), s.exit), (want, (i, 0)), "stream %d" % i)

    def tty():
        s = L.run(["sh", "-c", "tty; stty size; echo $TERM; test -t 0 && echo interactive"],
                  tty=(24, 80))
        out = bytes(s.stdout).replace(b"\r\n", b"\n")
        expect_eq(out, b"/dev/pts/0\n24 80\nxterm\ninteractive\n", "tty")
        expect_eq(s.exit, (0, 0), "exit")
        # resize, then input through the pty; its echo comes back as output
        s = L.start(["sh", "-c", "read x; stty size; echo got $x"], tty=(24, 80), stdin=True)
        L.wait_for(s, lambda s: s.pid is not None)
        L.send(s.id, F_RESIZE, struct.pack(">HH", 40, 132))
        time.sleep(0.2)
        L.write_stdin(s, b"ping\n")
        L.wait(s)
        out = bytes(s.stdout).replace(b"\r\n", b"\n")
        assert out.endswith(b"40 132\ngot ping\n"), out
        # stdin EOF on a tty is ^D
        s = L.run(["cat"], tty=(24, 80), stdin_data=b"abc\n")
        expect_eq(s.exit, (0, 0), "cat on tty ends on EOF")

    def signals():
        s = L.start(["sleep", "1000"])
        L.wait_for(s, lambda s: s.pid is not None)
        L.send(s.id, F_SIGNAL, struct.pack(">I", 15))
        L.wait(s, timeout=20)
        expect_eq(s.exit, (128 + 15, 15), "SIGTERM")
        # the whole process group gets it
        s = L.start(["sh", "-c", "sleep 1000 & sleep 1000; echo not reached"])
        L.wait_for(s, lambda s: s.pid is not None)
        time.sleep(0.3)
        L.send(s.id, F_SIGNAL, struct.pack(">I", 9))
        L.wait(s, timeout=20)
        expect_eq((s.exit, bytes(s.stdout)), ((128 + 9, 9), b""), "SIGKILL group")

    def stream_ids():
        s = L.start(["sleep", "2"], sid=5000)
        L.wait_for(s, lambda s: s.pid is not None)
        L.send(5000, F_EXEC, tlv(T_ARG, "true"))
        L.wait_for(s, lambda s: s.exit is not None)
        errors = [p for t, p in s.frames if t == F_ERROR]
        assert errors and b"already in use" in errors[0], s.frames
        expect_eq(s.exit, (0, 0), "original stream unaffected")
        # zero stream id: ERROR on stream 0
        L.send(0, F_EXEC, tlv(T_ARG, "true"))
        sid, ftype, p = L.control_frame(timeout=10)
        expect_eq((sid, ftype), (0, F_ERROR), "EXEC on 0")
        # empty request
        s = L.start([])
        L.wait(s)
        assert s.error and "ARG" in s.error, s.error

    def exec_parts():
        # a request longer than a frame, in pieces
        big = "x" * 40000
        s = L.run(["sh", "-c", "echo $#; for x; do echo ${#x}; done | uniq -c",
                   "sh"] + [big] * 5)
        expect_eq(bytes(s.stdout).split(), [b"5", b"5", b"40000"], "parts")
        # pieces of one request cut short by another stream's EXEC: the
        # first gets ERROR, the second runs
        cut = L.stream(6001)
        L.send(6001, F_EXEC_PART, tlv(T_ARG, "echo") + tlv(T_ARG, "no"))
        s = L.run(["echo", "ok"], sid=6002)
        expect_eq(bytes(s.stdout), b"ok\n", "the other stream runs")
        L.wait(cut)
        assert cut.error and "cut short" in cut.error, cut.frames
        # more than EXEC_MAX in all: ERROR at its EXEC, nothing run
        over = L.stream(6003)
        piece = tlv(T_ARG, "y" * (FRAME_MAX - 5))
        for _ in range(EXEC_MAX // FRAME_MAX + 1):
            L.send(6003, F_EXEC_PART, piece)
        L.send(6003, F_EXEC, tlv(T_ARG, "true"))
        L.wait(over)
        assert over.error and "longer than" in over.error, over.frames
        expect_eq(over.pid, None, "nothing started")
        s = L.run(["echo", "after"])
        expect_eq(bytes(s.stdout), b"after\n", "the agent goes on")

    def ping_and_unknown():
        L.send(0, 200, b"from the future")        # unknown type: ignored
        L.send(777, F_STDIN, b"nobody")            # unknown stream: ignored
        L.send(777, F_WINDOW, struct.pack(">I", 5))
        L.send(3, F_PING, b"abc\x00\xff")
        sid, ftype, p = L.control_frame(timeout=10)
        expect_eq((sid, ftype, p), (3, F_PONG, b"abc\x00\xff"), "PONG")

    def orphans():
        # a daemonised grandchild outlives its parent; PID 1 reaps it
        s = L.run(["sh", "-c", "(sleep 0.2 &) ; exit 0"])
        expect_eq(s.exit, (0, 0), "parent")
        time.sleep(0.6)
        s = L.run(["sh", "-c", "ps -o stat,comm | grep -c '^Z' || true"])
        expect_eq(bytes(s.stdout), b"0\n", "zombies")

    def persist_write():
        s = L.run(["sh", "-c", "echo persisted > /root/marker && sync"])
        expect_eq(s.exit, (0, 0), "write marker")

    for name, fn in [
        ("echo", echo), ("exit codes", exit_codes), ("stderr", stderr),
        ("command not found", not_found), ("not executable", not_executable),
        ("cwd", cwd), ("env", env), ("users", users), ("system", system),
        ("big output", big_output), ("output credit", output_credit),
        ("stdin", stdin), ("stdin closed early", stdin_closed_early),
        ("concurrent", concurrent), ("tty", tty), ("signals", signals),
        ("stream ids", stream_ids), ("exec in parts", exec_parts),
        ("ping, unknown frames", ping_and_unknown),
        ("orphans", orphans), ("persist (write)", persist_write),
    ]:
        c.run(name, fn)
    if L.protocol_errors:
        c.failed.append("protocol")
        print("FAIL protocol: %s" % L.protocol_errors[:5])


def extra_boots(args, workdir, upper, c):
    """Persistence, the initramfs-only mode, and the fatal paths."""

    def second_boot():
        vm = VM(args, workdir, upper, "boot2")
        try:
            vm.handshake("again")
            s = vm.link.run(["cat", "/root/marker"])
            expect_eq(bytes(s.stdout), b"persisted\n", "marker after reboot")
            s = vm.link.run(["hostname"])
            expect_eq(bytes(s.stdout), b"again\n", "hostname")
            expect_eq(vm.shutdown(grace_ms=0), 0, "QEMU exit status")
        finally:
            vm.kill()
        r = subprocess.run(["e2fsck", "-fn", upper], capture_output=True, text=True)
        expect_eq(r.returncode, 0, "e2fsck -fn after shutdown: " + r.stdout[-300:])
    c.run("persist (second boot, fsck)", second_boot)

    def no_upper_then_corrupt():
        # INIT without UPPER: the agent stays on the initramfs, which has no
        # shell; then a header with flags set is fatal: ERROR, power-off.
        vm = VM(args, workdir, upper, "boot3")
        try:
            L = vm.link
            sid, ftype, p = L.control_frame(timeout=60)
            expect_eq(ftype, F_HELLO, "HELLO")
            L.send(0, F_INIT, tlv(T_HOSTNAME, "bare"))
            sid, ftype, p = L.control_frame(timeout=60)
            expect_eq((sid, ftype), (0, F_READY), "READY")
            s = L.run(["sh"])
            expect_eq(s.exit, (127, 0), "no shell on the initramfs")
            with L.wlock:
                L.sock.sendall(struct.pack(">IIBBH", 0, 0, F_PING, 1, 0))
            sid, ftype, p = L.control_frame(timeout=30)
            expect_eq((sid, ftype), (0, F_ERROR), "ERROR on a corrupt header")
            assert b"corrupt" in p, p
            expect_eq(vm.proc.wait(timeout=30), 0, "QEMU exit status")
        finally:
            vm.kill()
    c.run("initramfs root, corrupt frame", no_upper_then_corrupt)

    def bad_init():
        vm = VM(args, workdir, upper, "boot4")
        try:
            L = vm.link
            L.control_frame(timeout=60)
            L.send(0, F_INIT, tlv(T_HOSTNAME, "x")[:-1] + b"\x0a\x00")
            sid, ftype, p = L.control_frame(timeout=30)
            expect_eq((sid, ftype), (0, F_ERROR), "ERROR for a bad INIT")
            assert b"truncated" in p, p
            expect_eq(vm.proc.wait(timeout=30), 0, "QEMU exit status")
            assert b"fatal: INIT" in open(vm.console, "rb").read(), "console message"
        finally:
            vm.kill()
    c.run("bad INIT is fatal", bad_init)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    share = os.path.join(root, "build", "share", "msb")
    ap.add_argument("--kernel", default=os.path.join(share, "kernel", "vmlinuz-cloud"))
    ap.add_argument("--initrd", default=os.path.join(share, "initramfs-cloud.cpio"))
    ap.add_argument("--layer", default=os.path.join(share, "images", "default", "layer.erofs"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--tsc-khz", type=int, default=2000000,
                    help="tsc_early_khz for the guest kernel (under TCG the guest "
                         "TSC runs at the host's rate: pass the host TSC kHz for a "
                         "guest clock that keeps time)")
    ap.add_argument("--keep", help="work directory to keep (console logs, upper disk)")
    ap.add_argument("--quick", action="store_true",
                    help="one boot only: skip persistence and fatal-path boots")
    args = ap.parse_args()

    workdir = args.keep or tempfile.mkdtemp(prefix="msb-agent-test-")
    os.makedirs(workdir, exist_ok=True)
    upper = os.path.join(workdir, "upper.ext4")
    if os.path.exists(upper):
        os.unlink(upper)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-F", upper, "4G"], check=True)

    c = Checks()
    hostname = "sandbox-test"
    vm = VM(args, workdir, upper, "boot1")
    try:
        try:
            t_hello, t_ready, timings = vm.handshake(hostname)
        except Exception:
            print(vm.console_tail())
            raise
        print("boot: HELLO %.2fs, READY %.2fs after QEMU start; agent timings (us): %s"
              % (t_hello, t_ready, timings))
        first_boot_checks(vm, c, hostname)

        def shutdown():
            # a process that ignores SIGTERM must not delay power-off past the grace
            s = vm.link.start(["sh", "-c", "trap '' TERM; echo armed; sleep 1000"])
            vm.link.wait_for(s, lambda s: s.stdout == b"armed\n")
            t = time.time()
            rc = vm.shutdown(grace_ms=1000)
            dt = time.time() - t
            expect_eq(rc, 0, "QEMU exit status")
            # the guest clock may run fast under TCG (see --tsc-khz)
            assert 0.5 < dt < 10, "grace not honoured: %.2fs" % dt
            print("     SHUTDOWN to QEMU exit: %.2fs (1 s grace)" % dt)
        c.run("shutdown", shutdown)
    finally:
        vm.kill()

    if not args.quick:
        extra_boots(args, workdir, upper, c)

    print("%d passed, %d failed%s" % (c.passed, len(c.failed),
                                      (": " + ", ".join(c.failed)) if c.failed else ""))
    if c.failed:
        print("console log of the first boot (tail):\n" +
              open(os.path.join(workdir, "boot1-console.log"), errors="replace").read()[-3000:])
    if not args.keep:
        for f in os.listdir(workdir):
            os.unlink(os.path.join(workdir, f))
        os.rmdir(workdir)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
