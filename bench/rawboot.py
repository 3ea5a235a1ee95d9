#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot a sandbox's exact VM with no msb around it: the same QEMU command
line (read from a sandbox's engine.log), its own socketpair and disk, and
the smallest possible host speaking the agent protocol (HELLO, INIT, READY,
SHUTDOWN; docs/agent-protocol.md). The peer the benchmarks measure msb
against."""

import os
import re
import socket
import struct
import subprocess
import time

# --- the agent protocol, minimal (docs/agent-protocol.md) -----------------

def frame(stream, ftype, payload=b""):
    return struct.pack(">IIBBH", len(payload), stream, ftype, 0, 0) + payload


def tlv(tag, val):
    return struct.pack(">BI", tag, len(val)) + val


def tlvs(payload):
    i = 0
    while i + 5 <= len(payload):
        tag, n = struct.unpack(">BI", payload[i:i + 5])
        yield tag, payload[i + 5:i + 5 + n]
        i += 5 + n


def read_frame(sock, buf):
    while True:
        if len(buf) >= 12:
            n, stream, ftype = struct.unpack(">IIB", buf[:9])
            if len(buf) >= 12 + n:
                payload = bytes(buf[12:12 + n])
                del buf[:12 + n]
                return stream, ftype, payload
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk


def by_path(argv, files):
    """msb's QEMU argv (which hands every file over as a descriptor, and
    the QMP monitor as a socket) as one that opens the same files by path:
    @files maps the descriptor numbers to paths (engine.log's "files")."""
    sets, out, skip = {}, [], 0
    for i, x in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if x == "-add-fd":
            kv = dict(p.split("=", 1) for p in argv[i + 1].split(","))
            sets.setdefault(kv["set"], files[int(kv["fd"])])
            skip = 1
            continue
        if x == "-chardev" and argv[i + 1].startswith("socket,id=qmp,"):
            skip = 1
            continue
        if x == "-mon" and argv[i + 1].startswith("chardev=qmp,"):
            skip = 1
            continue
        if x.startswith("/proc/self/fd/"):
            x = files[int(x.rsplit("/", 1)[1])]
        for s_, path in sets.items():
            x = x.replace(f"=/dev/fdset/{s_},",
                          "=" + path.replace(",", ",,") + ",")
        out.append(x)
    return out


def logged_argv(home, name):
    """The last QEMU command line of sandbox @name, from its engine.log,
    with files named by their paths (by_path())."""
    log = open(os.path.join(home, "sandboxes", name, "engine.log")).read()
    # engine.log escapes control bytes: the separator reads "\x1f" there
    log = log.replace("\\x1f", "\x1f")
    line = [l for l in log.splitlines() if l.startswith("argv ")][-1]
    argv = line[5:].split("\x1f")
    files = {}
    # ("files" and its first entry are joined by a space or the separator)
    flines = [l for l in log.splitlines() if l.startswith(("files ", "files\x1f"))]
    if flines:
        for f in flines[-1][6:].split("\x1f"):
            n, _, path = f.partition("=")
            files[int(n)] = path
    return by_path(argv, files)


def qemu_argv(msb, home, kernel):
    """The exact QEMU command line msb used, from a sandbox's engine.log."""
    name = f"probe-{kernel}"
    msb("run", "--name", name, "-d", "--kernel", kernel)
    argv = logged_argv(home, name)
    upper = os.path.join(home, "sandboxes", name, "upper.ext4")
    msb("stop", name)
    return argv, upper


def fresh_upper(workdir):
    """A new sparse ext4 upper disk in @workdir, as msb makes one."""
    upper = os.path.join(workdir, "upper.ext4")
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-m", "0", "-E",
                    "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                    upper, "4G"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return upper


def build_fsserve(out):
    """bench/fsserve.c (the volume server alone) built at @out."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = [os.path.join(root, "src", "fs", f + ".c") for f in
           ("vhost_user", "virtqueue", "fuse", "passthrough", "plugin",
            "proxy")]
    src.append(os.path.join(root, "src", "common", "util.c"))
    subprocess.run(["cc", "-O2", "-I" + os.path.join(root, "include"),
                    "-I" + os.path.join(root, "src", "fs"),
                    "-I" + os.path.join(root, "src", "common"), "-o", out,
                    os.path.join(root, "bench", "fsserve.c"), *src, "-ldl"],
                   check=True)


def guest_ram(argv):
    """The guest's RAM as msb gives it to QEMU: a memfd of -m's size (an
    inheritable descriptor; close it once QEMU has started). msb's argv
    names its own descriptor (/proc/self/fd/N), which in a QEMU started
    here would be whatever QEMU itself opened first at that number (the
    console's log file: the guest's RAM then lived in a file on disk)."""
    fd = os.memfd_create("raw-guest-ram", 0)
    os.ftruncate(fd, int(argv[argv.index("-m") + 1]) << 20)
    return fd


def vm_argv(argv, upper_src, upper, workdir, agent_fd, swap=None,
            ram_fd=None):
    """msb's QEMU argv with our own upper disk, agent socket, console and
    RAM (@ram_fd, guest_ram()); @swap(x) may replace any other entry (a
    device's backend)."""
    av = []
    for x in argv:
        x = x.replace(upper_src, upper)
        if ram_fd is not None and x.startswith("memory-backend-file,"):
            x = re.sub(r"mem-path=/proc/self/fd/\d+",
                       f"mem-path=/proc/self/fd/{ram_fd}", x)
        if x.startswith("socket,id=agent,fd="):
            x = f"socket,id=agent,fd={agent_fd}"
        elif x.startswith(("file,id=con,path=", "socket,id=con,fd=")):
            x = f"file,id=con,path={workdir}/console.log,append=on"
        elif swap:
            x = swap(x)
        av.append(x)
    return av


class RawVM:
    """A sandbox's VM with no msb around it, kept running: commands go to
    the agent directly. @init: the INIT frame's TLVs; @name: for errors.

    @server: (argv, socket path) of a device's server (a volume's), started
    first and with QEMU in a session of their own (setsid), as a sandbox's
    supervisor and QEMU are: the kernel schedules each session as one group
    (autogroup), and a peer left in the bench's own session is scheduled
    unlike the sandbox it is compared with (docs/performance.md, "The
    sandbox's session"). self.server is then the server's pid (QEMU's
    child); @session=False leaves both in the bench's session."""

    def __init__(self, argv, upper_src, workdir, init, name, swap=None,
                 server=None, session=True):
        upper = fresh_upper(workdir)
        self.name = name
        self.server = None
        self.sock, b = socket.socketpair()
        ram = guest_ram(argv)
        av = vm_argv(argv, upper_src, upper, workdir, b.fileno(), swap, ram)
        if server:
            # sh starts the server, waits for its socket, becomes QEMU
            sargv, spath = server
            def pos(lo, hi):
                return " ".join(f'"${{{i}}}"' for i in range(lo, hi))
            n = len(sargv)
            av = ["sh", "-c", pos(1, n + 1) + ' & while ! [ -S "$0" ]; do '
                  'sleep 0.02; done; exec ' + pos(n + 1, n + 1 + len(av)),
                  spath, *sargv, *av]
        self.q = subprocess.Popen(av, pass_fds=[b.fileno(), ram],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=open(f"{workdir}/qemu.log", "w"),
                                  start_new_session=bool(server) and session)
        b.close()
        os.close(ram)
        if server:
            self.server = self._child()
        self.buf = bytearray()
        self.next_id = 1
        while True:
            f = read_frame(self.sock, self.buf)
            if f is None:
                raise SystemExit(f"the {name} guest died during boot; "
                                 f"see {workdir}")
            if f[1] == 64:  # HELLO -> INIT
                self.sock.sendall(frame(0, 1, init))
            elif f[1] == 65:  # READY
                return
            elif f[1] == 70:
                raise SystemExit(f"{name} guest: {f[2].decode()}")

    def _child(self):
        """The server's pid: QEMU's child (sh's, before it became QEMU)."""
        for _ in range(1000):
            try:
                with open(f"/proc/{self.q.pid}/comm") as f:
                    if not f.read().startswith("qemu"):
                        raise OSError
            except OSError:
                time.sleep(0.02)
                continue
            for d in os.listdir("/proc"):
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == self.q.pid:
                    return int(d)
            time.sleep(0.02)
        raise SystemExit(f"the {self.name} server did not start")

    def run(self, cmd):
        """sh -c @cmd; its output (bytes); exits the bench if it fails."""
        sid = self.next_id
        self.next_id += 1
        self.sock.sendall(frame(sid, 2, tlv(3, b"sh") + tlv(3, b"-c") +
                                tlv(3, cmd.encode())))
        out = b""
        while True:
            f = read_frame(self.sock, self.buf)
            if f is None:
                raise SystemExit(f"the {self.name} guest died")
            stream, ftype, payload = f
            if stream != sid:
                continue
            if ftype in (67, 68):
                out += payload
                self.sock.sendall(frame(sid, 7, struct.pack(
                    ">I", len(payload))))
            elif ftype == 69:
                code = struct.unpack(">i", payload[:4])[0]
                if code:
                    raise SystemExit(f"{self.name} guest: {cmd!r} exited "
                                     f"{code}: {out!r}")
                return out
            elif ftype == 70:
                raise SystemExit(f"{self.name} guest: {payload.decode()}")

    def close(self):
        self.sock.sendall(frame(0, 6, struct.pack(">I", 0)))
        try:
            self.q.wait(30)
        except subprocess.TimeoutExpired:
            self.q.kill()
            self.q.wait()
        self.sock.close()
        if self.server:
            try:
                os.kill(self.server, 9)
            except ProcessLookupError:
                pass


def raw_boot(argv, upper_src, workdir):
    """Boot with no msb: same argv, own socketpair, own copy of the disk."""
    a, b = socket.socketpair()
    t0 = time.monotonic()
    upper = fresh_upper(workdir)
    ram = guest_ram(argv)
    av = vm_argv(argv, upper_src, upper, workdir, b.fileno(), ram_fd=ram)
    q = subprocess.Popen(av, pass_fds=[b.fileno(), ram], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b.close()
    os.close(ram)
    buf = bytearray()
    t_ready = None
    t_init = None
    while True:
        f = read_frame(a, buf)
        if f is None:
            break
        stream, ftype, payload = f
        if ftype == 64:  # HELLO -> INIT with the same disks
            a.sendall(frame(0, 1, tlv(9, b"raw") + tlv(10, b"upper") +
                            tlv(11, b"layer0")))
        elif ftype == 65:  # READY -> SHUTDOWN now
            t_ready = time.monotonic()
            marks = dict(v.split(b"=") for t, v in tlvs(payload) if t == 13)
            # /init on the host timeline: READY's arrival less the guest
            # time from /init to READY.
            t_init = t_ready - (int(marks[b"ready"]) - int(marks[b"start"])) / 1e6
            a.sendall(frame(0, 6, struct.pack(">I", 0)))
    q.wait()
    t_end = time.monotonic()
    a.close()
    os.unlink(upper)
    return t_end - t0, (t_ready or t_end) - t0, (t_init or t_end) - t0
