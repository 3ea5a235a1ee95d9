# SPDX-License-Identifier: Apache-2.0
"""exec: streams, status, users, stdin, terminals and signals."""

import fcntl
import hashlib
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time

from conftest import MSB, unique


def test_streams_stay_separate(msb, shared):
    p = msb("exec", shared, "--", "sh", "-c",
            "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 5")
    assert p.returncode == 5
    assert p.stdout == b"out1\nout2\n"
    assert p.stderr == b"err1\nerr2\n"


def test_long_command_lines(msb, shared):
    # A request longer than one agent frame (64 KiB) goes in pieces: a
    # script or data passed on the command line up to Linux's own 2 MiB.
    a = "a" * 100000
    out = msb.out("exec", shared, "-e", "BIG=" + a, "--", "sh", "-c",
                  'echo $# ${#BIG}; for x; do echo ${#x}; done | uniq -c',
                  "sh", *[a] * 8)
    assert out.split() == ["8", "100000", "8", "100000"], out[:200]
    # Past that, a clear error and nothing run; the sandbox goes on.
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(msb.home, "sandboxes", shared, "api.sock"))
    req = {"id": 1, "method": "exec",
           "params": {"argv": ["true"] + ["b" * 100000] * 22}}
    s.sendall(json.dumps(req).encode() + b"\n")
    f = s.makefile("rb")
    reply = json.loads(f.readline())
    s.close()
    assert "exceed 2097152 bytes" in reply["error"]["message"], reply
    assert msb.out("exec", shared, "--", "echo", "ok") == "ok\n"


def test_the_sandbox_name_resolves(msb, shared):
    # Its name is in /etc/hostname and resolves through /etc/hosts, as
    # software that looks its own host up expects (sudo, Java, Spark);
    # the image's own lines stay.
    assert msb.out("exec", shared, "--", "cat", "/etc/hostname") == \
        shared + "\n"
    assert msb.out("exec", shared, "--", "hostname", "-i").split() == \
        ["127.0.1.1"]
    hosts = msb.out("exec", shared, "--", "cat", "/etc/hosts")
    assert "127.0.0.1\tlocalhost\n" in hosts, hosts
    assert hosts.count(f"\t{shared}\t") == 1, hosts


def test_command_not_found(msb, shared):
    p = msb("exec", shared, "--", "no-such-command", "arg")
    assert p.returncode == 127, p
    assert b"no-such-command" in p.stderr and b"not found" in p.stderr
    p = msb("exec", shared, "--", "/etc/passwd")
    assert p.returncode == 126, p


def test_exit_by_signal(msb, shared):
    p = msb("exec", shared, "--", "sh", "-c", "kill -TERM $$")
    assert p.returncode == 128 + signal.SIGTERM


def test_command_starts_with_default_signals(msb, shared):
    # The agent (PID 1) ignores SIGPIPE and blocks SIGCHLD; the command it
    # starts inherits neither: nothing ignored, nothing blocked.
    p = msb("exec", shared, "--", "grep", "-E", "^Sig(Ign|Blk)",
            "/proc/self/status")
    assert p.returncode == 0, p
    assert b"SigIgn:\t0000000000000000" in p.stdout, p.stdout
    assert b"SigBlk:\t0000000000000000" in p.stdout, p.stdout


def test_env_workdir_user(msb, shared):
    p = msb("exec", "-e", "A=1", "-e", "B=two words", "-w", "/etc", shared,
            "--", "sh", "-c", 'echo "$A|$B|$(pwd)|$(id -u)|$HOME"')
    assert p.stdout == b"1|two words|/etc|0|/root\n", p
    p = msb("exec", "-u", "user", shared, "--", "sh", "-c", 'echo "$(id -u):$(id -g)|$HOME"')
    assert p.stdout == b"1000:1000|/home/user\n", p
    p = msb("exec", "-u", "65534:65534", shared, "--", "id", "-u")
    assert p.stdout == b"65534\n", p
    p = msb("exec", "-u", "nosuchuser", shared, "--", "true")
    assert p.returncode != 0 and b"nosuchuser" in p.stderr, p
    p = msb("exec", "-w", "/nonexistent", shared, "--", "true")
    assert p.returncode != 0 and b"/nonexistent" in p.stderr, p
    p = msb("exec", "-e", "NOEQUALS", shared, "--", "true")
    assert p.returncode == 125 and b"KEY=VALUE" in p.stderr


def test_options_after_the_name_up_to_a_double_dash(msb, shared):
    # As msb run takes options after IMAGE: between NAME and a '--'.
    p = msb("exec", shared, "-w", "/etc", "-e", "A=1", "-u", "65534", "--",
            "sh", "-c", 'echo "$A|$(pwd)|$(id -u)"')
    assert p.stdout == b"1|/etc|65534\n", p
    # Options on both sides add up.
    p = msb("exec", "-e", "A=1", shared, "-e", "B=2", "--", "sh", "-c",
            'echo "$A$B"')
    assert p.stdout == b"12\n", p
    # A word that is not an option: the command was meant to go after '--'.
    p = msb("exec", shared, "-w", "/etc", "pwd", "--", "x")
    assert p.returncode == 125 and b"'pwd'" in p.stderr and \
        b"after the '--'" in p.stderr, p
    p = msb("exec", shared, "-x", "--", "true")
    assert p.returncode == 125 and b"'-x'" in p.stderr, p
    # Without a '--' after them, or with one right after NAME, the words
    # are the command, as before.
    p = msb("exec", shared, "--", "-w")
    assert p.returncode == 127 and b"-w: command not found" in p.stderr, p
    p = msb("exec", shared, "-w")
    assert p.returncode == 127 and b"-w: command not found" in p.stderr, p
    p = msb("exec", shared, "sh", "-c", 'echo "$@"', "--", "a", "-w")
    assert p.stdout == b"a -w\n", p


def test_user_database_changes_seen_by_next_exec(msb):
    """The agent keeps what it read of /etc/passwd and /etc/group between
    execs (src/agent/user.c): a change to either, a new file or the same
    one written in place at the same size, is seen by the next exec."""
    name = unique("users")
    msb("run", "--name", name, "-d", check=0)

    def who():
        return msb.out("exec", "-u", "user", name, "--", "sh", "-c",
                       'echo "$(id -u):$(id -G)|$HOME"')
    try:
        # A file changed within the last two seconds is read again at
        # every exec: these are kept, and must be seen to change.
        msb("exec", name, "--", "sed", "-i", "s/^nobody:/nobody:/",
            "/etc/passwd", check=0)
        time.sleep(2.5)
        assert who() == "1000:1000|/home/user\n"
        assert who() == "1000:1000|/home/user\n"
        # In place, same size: the inode and the size stay.
        passwd = msb.out("exec", name, "--", "cat", "/etc/passwd")
        off = passwd.index("/home/user")
        msb("exec", name, "--", "sh", "-c",
            f"printf /home/resu | dd of=/etc/passwd bs=1 seek={off} "
            "conv=notrunc", check=0)
        assert who() == "1000:1000|/home/resu\n"
        # A new file in its place.
        msb("exec", name, "--", "sed", "-i", "s:/home/resu:/srv/user:",
            "/etc/passwd", check=0)
        assert who() == "1000:1000|/srv/user\n"
        # Group membership.
        msb("exec", name, "--", "sh", "-c",
            "echo extra:x:2000:user >> /etc/group", check=0)
        assert who() == "1000:1000 2000|/srv/user\n"
        # A user removed is refused again.
        msb("exec", name, "--", "sed", "-i", "/^user:/d", "/etc/passwd",
            check=0)
        p = msb("exec", "-u", "user", name, "--", "true")
        assert p.returncode != 0 and b"user" in p.stderr, p
    finally:
        msb("rm", "-f", name)


def test_stdin_streamed(msb, shared):
    data = os.urandom(3 * 1024 * 1024 + 17)
    p = msb("exec", "-i", shared, "--", "sha256sum", input=data)
    assert p.returncode == 0, p
    assert p.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    # Without -i the command sees no input at all.
    p = msb("exec", shared, "--", "cat", input=b"ignored")
    assert p.returncode == 0 and p.stdout == b""


def test_exec_loads_no_database_or_crypto(msb, shared):
    # msb exec on a running sandbox reads no record and hashes nothing:
    # libmsb loads SQLite, OpenSSL, libyaml and zstd on first use
    # (src/lib/lazylibs.c), and a ready sandbox is opened by its
    # supervisor's ready file, so none of them is in the process. msb has
    # libmsb and json-c linked in: the only library it maps is libc.
    proc = msb.popen("exec", "-i", shared, "--", "cat",
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(b"up\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"up\n"
        with open(f"/proc/{proc.pid}/maps") as f:
            maps = f.read()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0
    libs = {os.path.basename(line.split()[-1]) for line in maps.splitlines()
            if ".so" in line.split()[-1]}
    assert libs == {"libc.so.6", "ld-linux-x86-64.so.2"}, maps
    # Commands that need them still have them.
    assert shared in msb.out("ps")
    ins = json.loads(msb.out("inspect", shared))
    assert ins["status"] == "running", ins


def test_stdin_echo_roundtrip(msb, shared):
    # Input and output at once, far beyond every window and buffer.
    data = os.urandom(8 * 1024 * 1024)
    p = msb("exec", "-i", shared, "--", "cat", input=data)
    assert p.returncode == 0
    assert hashlib.sha256(p.stdout).digest() == hashlib.sha256(data).digest()


def _pty_msb(args, rows=24, cols=80):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([MSB, *args], stdin=slave, stdout=slave,
                            stderr=slave, env=_pty_msb.env,
                            start_new_session=True)
    os.close(slave)
    return proc, master


def _read_until(fd, needle, timeout=30):
    buf = b""
    end = time.time() + timeout
    while needle not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_tty_and_resize(msb, shared):
    _pty_msb.env = msb.env
    proc, master = _pty_msb(["exec", "-it", shared, "--", "sh"], rows=30, cols=100)
    try:
        os.write(master, b"tty; stty size; echo mark-$((6*7))\n")
        out = _read_until(master, b"mark-42")
        assert b"/dev/pts/" in out, out
        assert b"30 100" in out, out
        # Resizing our terminal resizes the guest's.
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))
        os.kill(proc.pid, signal.SIGWINCH)
        time.sleep(1)
        os.write(master, b"stty size; echo mark-$((7*7))\n")
        out = _read_until(master, b"mark-49")
        assert b"50 132" in out, out
        # Ctrl-C travels as a byte to the guest's terminal.
        os.write(master, b"sleep 100\n")
        time.sleep(1)
        os.write(master, b"\x03")
        os.write(master, b"echo after-$((2+3))\n")
        out = _read_until(master, b"after-5")
        assert b"after-5" in out, out
        os.write(master, b"exit 9\n")
        assert proc.wait(timeout=30) == 9
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_ctrl_c_reaches_guest(msb, shared):
    proc = msb.popen("exec", shared, "--", "sh", "-c",
                     'trap "echo got-INT; exit 42" INT; echo ready; '
                     'while :; do sleep 0.1; done',
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 42, (out, err)
    assert out == b"got-INT\n"


def test_killed_client_leaves_sandbox_serving(msb, shared):
    proc = msb.popen("exec", shared, "--", "sh", "-c",
                     "echo started; exec cat /dev/zero",
                     stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    proc.stdout.read(1 << 20)
    proc.kill()
    proc.wait()
    # The sandbox keeps serving, and the orphaned command was hung up.
    assert msb.out("exec", shared, "--", "echo", "still-here") == "still-here\n"
    for _ in range(50):
        ps = msb.out("exec", shared, "--", "ps")
        if "cat /dev/zero" not in ps:
            break
        time.sleep(0.2)
    assert "cat /dev/zero" not in ps, ps


def test_ctrl_c_on_run(msb):
    proc = msb.popen("run", "--rm", "--", "sh", "-c",
                     'trap "echo got-INT; exit 42" INT; echo ready; '
                     'while :; do sleep 0.1; done',
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 42, (out, err)
    assert out == b"got-INT\n"
