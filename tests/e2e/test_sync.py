# SPDX-License-Identifier: Apache-2.0
"""Cloud sync end to end (docs/sync.md): sandboxes pushed to Debian's
docker-registry on loopback (through a proxy that counts the bytes sent to
it), pulled into fresh homes, started, compared; a registry over TLS with
htpasswd logins in a network namespace; tampered and truncated blobs; a
registry killed in the middle of a push. Two boots in all: the sandbox
made with `msb run --sync` and its copy pulled into a second home, which
is also pushed while it runs."""

import glob
import hashlib
import json
import os
import pty
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, Msb, unique

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
import build  # noqa: E402

REGISTRY_BIN = shutil.which("docker-registry")
pytestmark = pytest.mark.skipif(not REGISTRY_BIN or not shutil.which("zstd"),
                                reason="docker-registry or zstd not installed "
                                "(./setup --test)")

MIB = 1 << 20
SECRET = "sync-secret-" + os.urandom(10).hex()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(host, port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, port), 0.3).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


class Registry:
    """Debian's docker-registry on loopback, stoppable and restartable on
    the same port and storage."""

    def __init__(self, root, auth=None):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.data = os.path.join(root, "data")
        self.cfg = os.path.join(root, "config.yml")
        extra = ""
        if auth:
            extra = f"auth:\n  htpasswd:\n    realm: msb-test\n    path: {auth}\n"
        with open(self.cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.data}\n  delete:\n    enabled: true\n"
                    f"{extra}http:\n  addr: {self.host}\n")
        self.p = None
        self.start()

    def start(self):
        self.p = subprocess.Popen([REGISTRY_BIN, "serve", self.cfg],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port("127.0.0.1", self.port)

    def kill(self):
        if self.p:
            self.p.kill()
            self.p.wait()
            self.p = None

    def blobs(self):
        return glob.glob(f"{self.data}/docker/registry/v2/blobs/sha256/*/*/data")


class CountingProxy:
    """TCP to the registry, counting the bytes clients send: what a push
    uploads, measured outside msb."""

    def __init__(self, upstream_port):
        self.up = upstream_port
        self.sent = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.host = f"127.0.0.1:{self.srv.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _pump(self, a, b, count):
        try:
            while True:
                d = a.recv(1 << 16)
                if not d:
                    break
                if count:
                    with self.lock:
                        self.sent += len(d)
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.up))
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def take(self):
        with self.lock:
            n, self.sent = self.sent, 0
        return n


def disk_digest(home, name):
    """The upper disk's data, holes and zero windows aside: equal for two
    disks with the same bytes wherever either has any."""
    h = hashlib.sha256()
    path = f"{home}/sandboxes/{name}/upper.ext4"
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos, w = 0, 1 << 16
        while pos < size:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA) // w * w
            except OSError:
                break
            buf = os.pread(fd, w, pos)
            if buf.strip(b"\0"):
                h.update(pos.to_bytes(8, "big") + buf)
            pos += w
    finally:
        os.close(fd)
    return h.hexdigest()


def home_dirt(home):
    """What a failed pull may not leave: sandboxes, their directories,
    staging directories, blobs."""
    left = []
    if os.path.isdir(f"{home}/sandboxes"):
        left += os.listdir(f"{home}/sandboxes")
    for d in ("blobs/tmp", "blobs/sha256"):
        if os.path.isdir(f"{home}/{d}"):
            left += os.listdir(f"{home}/{d}")
    return left


# Every file's checksum, and every entry's mode, owner, size, mtime and
# link target, over the guest's whole root. msb itself rewrites
# /etc/resolv.conf, the home's CA under /etc/ssl and the sandbox's name in
# /etc/hostname and /etc/hosts at every boot (so /etc and the root
# directory change too), and mount points show what is mounted on them:
# those are left out.
AGENTS = ("\\( -path ./etc/ssl -o -path ./etc/resolv.conf -o -path ./etc/hostname "
          "-o -path ./etc/hosts \\)")
TREE = ("cd / && find . -xdev " + AGENTS + " "
        "-prune -o -type f -print | sort | xargs md5sum; "
        "find . -xdev " + AGENTS + " -prune "
        "-o -print | sort | while read p; do case $p in .|./etc) continue;; esac; "
        "[ -d \"$p\" ] && [ $(stat -c %d \"$p\") != $(stat -c %d .) ] && continue; "
        "echo \"$p\"; done "
        "| xargs stat -c '%n %a %u:%g %s %Y %N'")


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    r = Registry(str(tmp_path_factory.mktemp("syncreg")))
    proxy = CountingProxy(r.port)
    build.Registry(f"http://{r.host}").push(
        "busybox", "1", build.Image([(build.busybox_layer(), "gzip")]))
    r.proxy = proxy
    yield r
    r.kill()


def new_home(tmp_path_factory, tag):
    m = Msb(str(tmp_path_factory.mktemp(tag)))
    return m


def cleanup(m):
    for n in m("ps", "-a", "-q").stdout.decode().split():
        m("rm", "-f", n)


@pytest.fixture(scope="module")
def first(reg, tmp_path_factory):
    """Home A: `msb run --sync` writes 200 MiB of random data and small
    files of every kind, prints the tree's checksums, stops, and pushes
    itself."""
    a = new_home(tmp_path_factory, "home-a")
    src = str(tmp_path_factory.mktemp("src"))
    with open(f"{src}/big", "wb") as f:
        f.write(os.urandom(200 * MIB))
    name = "proj"
    env = {"MSB_REMOTE": f"{reg.proxy.host}/team", "MSB_SYNC_SECRET": SECRET}
    reg.proxy.take()
    p = a("run", "--sync", "--name", name, "-e", "FOO=bar", "-m", "256M",
          "--secret-env", "TOKEN=@env:MSB_SYNC_SECRET:api.test",
          "-v", f"{src}:/src:ro", f"{reg.host}/busybox:1", "--",
          "sh", "-c",
          "mkdir -p /data/d && cp /src/big /data/big && echo small > /data/d/s "
          "&& ln -s s /data/d/link && ln /data/d/s /data/d/hard "
          "&& chmod 4750 /data/d/s && chown 1000:1000 /data/d/hard "
          "&& mkfifo /data/d/fifo && echo $TOKEN > /data/token && sync && " + TREE,
          env=env, timeout=900)
    assert p.returncode == 0, p.stderr
    pushed = p.stderr.decode()
    assert f"pushed {name} to {reg.proxy.host}/team/{name}:latest" in pushed, pushed
    bytes_first = reg.proxy.take()
    yield {"a": a, "name": name, "tree": p.stdout.decode(), "env": env,
           "bytes": bytes_first, "ref": f"{reg.proxy.host}/team/{name}:latest",
           "src": src}
    cleanup(a)


def test_first_push_holds_the_disk(first):
    a = first["a"]
    # a 200 MiB disk, pushed compressed: random data does not shrink
    assert first["bytes"] > 200 * MIB, first["bytes"]
    assert "./data/big" in first["tree"] and "./data/d/link" in first["tree"]
    # A second push of an unchanged sandbox sends nothing.
    out = a.out("push", "proj", env=first["env"])
    assert "(up to date)" in out, out


@pytest.fixture(scope="module")
def second(first, reg, tmp_path_factory):
    """Home B, fresh: pull (keeping the secret and the volume), start,
    compare, change 1 MiB of the 200 MiB file, stop: it pushes itself."""
    b = new_home(tmp_path_factory, "home-b")
    env = dict(first["env"])
    out = b.out("pull", "--trust", "proj", env=env)
    assert out.startswith(f"pulled proj from {first['ref']} "), out
    assert disk_digest(b.home, "proj") == disk_digest(first["a"].home, "proj")
    b.out("start", "proj", env=env)
    yield {"b": b, "env": env}
    cleanup(b)


def test_pulled_sandbox_has_the_same_files(first, second):
    b = second["b"]
    tree = b.out("exec", "proj", "--", "sh", "-c", TREE)
    assert tree == first["tree"]
    # the same environment: env, memory, the secret's placeholder (the
    # value was never pushed; this machine's variable supplies it)
    out = b.out("exec", "proj", "--", "sh", "-c", "echo $FOO; cat /data/token; "
                "echo $TOKEN; grep MemTotal /proc/meminfo")
    foo, token_file, token, mem = out.splitlines()
    assert foo == "bar" and token == token_file
    assert token.startswith("msb_placeholder_")
    assert int(mem.split()[1]) < 300 * 1024, mem


@pytest.fixture(scope="module")
def live(first, second, tmp_path_factory):
    """B's sandbox pushed while it runs, just after a file was written
    that nobody synced; pulled into home H (without --trust: its volume
    and secret are dropped) as "live"."""
    b = second["b"]
    word = "live-" + os.urandom(6).hex()
    b.out("exec", "proj", "--", "sh", "-c", f"echo {word} > /data/live")
    out = b.out("push", "proj", env=second["env"])
    h = new_home(tmp_path_factory, "home-h")
    p = h("pull", "-q", "--name", "live", first["ref"], check=0)
    yield {"h": h, "word": word, "push": out, "pull": p}
    cleanup(h)


def test_running_sandbox_pushes_one_instant(first, second, live):
    """A file just written (not synced by anyone) is in the push of the
    running sandbox, which runs on: the guest's filesystems were synced
    and its disk copied at one instant. Read from the pulled disk on the
    host (debugfs), no boot. The disk is as a crash at that instant
    leaves one: what the sync committed may still be in ext4's journal
    only, which a mount replays; so does e2fsck on a copy, before debugfs
    (which does not) reads it."""
    b, h, word = second["b"], live["h"], live["word"]
    assert live["push"].startswith(f"pushed proj to {first['ref']} "), live["push"]
    assert b.out("exec", "proj", "--", "cat", "/data/live") == word + "\n"
    # pulled without --trust: what reached into the pushing host is named
    assert b"dropped from its configuration: volumes, secrets" in live["pull"].stderr
    disk = os.path.join(h.home, "replayed.ext4")
    shutil.copyfile(f"{h.home}/sandboxes/live/upper.ext4", disk)
    fsck = subprocess.run(["e2fsck", "-y", "-E", "journal_only", disk],
                          capture_output=True)
    assert fsck.returncode in (0, 1), fsck
    # (-c: the allocation bitmaps play no part in reading a file)
    got = subprocess.run(["debugfs", "-c", "-R", "cat /upper/data/live", disk],
                         capture_output=True)
    os.unlink(disk)
    assert got.stdout == (word + "\n").encode(), got


def test_snapshot_resumes_on_another_machine(first, live, reg, tmp_path_factory):
    """A full snapshot pushed with --snapshot, pulled into a fresh home and
    restored there: the process that ran at the snapshot runs on (its pid,
    a counter past where it was, a word only its memory and /run's tmpfs
    held). Its disk's chunks, pushed before with its sandbox, are mounted
    from that repository, not sent again."""
    h, env = live["h"], first["env"]
    # a disk-only snapshot of it while it is stopped, for later
    assert ": disk only" in h.out("snapshot", "live", "--name", "s2")
    h.out("start", "live", env=env)
    word = "mem-" + os.urandom(6).hex()
    h.out("exec", "-d", "live", "--", "sh", "-c",
          f"w={word}; n=0; while :; do n=$((n+1)); echo \"$w $n $$\" > /run/tick.new;"
          " mv /run/tick.new /run/tick; sleep 0.2; done")
    tick = ""
    for _ in range(100):
        tick = h.out("exec", "live", "--", "sh", "-c", "cat /run/tick 2>/dev/null || true")
        if tick:
            break
        time.sleep(0.2)
    w0, n0, pid0 = tick.split()
    assert w0 == word, tick
    out = h.out("snapshot", "live", "--name", "s1")
    assert ": full," in out, out

    reg.proxy.take()
    out = h.out("push", "--snapshot", "s1", "--format", "json", env=env)
    sent = reg.proxy.take()
    res = json.loads(out)
    assert res["kind"] == "snapshot" and res["name"] == "s1", res
    assert res["reference"] == f"{reg.proxy.host}/team/s1:latest", res
    assert res["transferred"] > 0 and not res["up_to_date"], res
    assert sent < first["bytes"] / 2, (sent, first["bytes"])
    # a snapshot never changes: the same push again sends nothing
    assert "(up to date)" in h.out("push", "--snapshot", "s1", env=env)
    # pulled where its sandbox is: the disk's chunks are taken from it
    res = json.loads(h.out("pull", "--format", "json", "--name", "s1-here",
                           res["reference"]))
    assert res["kind"] == "snapshot" and res["reused"] > 150, res
    assert res["transferred"] < res["chunks"] - 150, res
    # gone without a stop's push (it was made with --sync), which would
    # move team/proj under the tests that follow
    h.out("rm", "-f", "live")

    i = new_home(tmp_path_factory, "home-i")
    try:
        out = i.out("pull", "s1", env=env)   # a bare name: the remote's
        assert out.startswith(f"pulled snapshot s1 from {reg.proxy.host}/team/s1:latest "), out
        assert i.out("ps", "-a", "-q") == ""
        ls = json.loads(i.out("snapshot", "ls", "--format", "json"))
        assert [(x["name"], x["kind"]) for x in ls] == [("s1", "full")], ls
        # the guest agent's version goes with it (what a restore takes)
        assert json.loads(i.out("snapshot", "inspect", "s1"))["agent"] == \
            json.loads(h.out("snapshot", "inspect", "s1"))["agent"] == "0.2.0"
        i.out("restore", "s1", "--name", "back", "-d")
        w1, n1, pid1 = i.out("exec", "back", "--", "cat", "/run/tick").split()
        assert (w1, pid1) == (word, pid0) and int(n1) >= int(n0), (tick, n1, pid1)
        end = time.time() + 60
        while time.time() < end:
            n2 = i.out("exec", "back", "--", "cat", "/run/tick").split()[1]
            if int(n2) > int(n1):
                break
            time.sleep(0.3)
        assert int(n2) > int(n1), (n1, n2)
        # a snapshot here of that name is not replaced without --force,
        # and never while a sandbox restored from it exists (a disk-only
        # snapshot of H's, pushed to another tag, as the newcomer)
        assert "(up to date)" in i.out("pull", "s1", env=env)
        ref2 = f"{reg.proxy.host}/team/s1:disk"
        assert "pushed snapshot s2" in h.out("push", "--snapshot", "s2", ref2)
        p = i("pull", "--name", "s1", ref2, check=1)
        assert b"exists here" in p.stderr, p.stderr
        p = i("pull", "--force", "--name", "s1", ref2, check=1)
        assert b"is the base of" in p.stderr, p.stderr
        i.out("rm", "-f", "back")
        out = i.out("pull", "--force", "--name", "s1", ref2)
        assert out.startswith(f"pulled snapshot s1 from {ref2} "), out
        info = json.loads(i.out("snapshot", "inspect", "s1"))
        assert info["kind"] == "disk" and info["source"] == "live", info
    finally:
        cleanup(i)


def test_small_change_pushes_little(first, second, reg):
    b = second["b"]
    b.out("exec", "proj", "--", "sh", "-c",
          "dd if=/src/big of=/data/big bs=1M count=1 seek=100 conv=notrunc "
          "2>/dev/null && sync", env=second["env"])
    reg.proxy.take()
    out = b.out("stop", "proj", env=second["env"])
    sent = reg.proxy.take()
    assert "pushed proj to" in out, out
    assert sent < first["bytes"] * 0.05, (sent, first["bytes"])
    second["digest_b"] = disk_digest(b.home, "proj")


def test_pull_fast_forwards_from_the_local_copy(first, second):
    a = first["a"]
    out = a.out("pull", "proj", env=first["env"])
    assert " 0 reused" not in out and "fetched" in out, out
    fetched = int(out.split(" fetched")[0].rsplit(" ", 1)[1])
    assert fetched < 20, out
    assert disk_digest(a.home, "proj") == second["digest_b"]
    assert "(up to date)" in a.out("pull", "proj", env=first["env"])


def poke(home, name, off=3 << 30):
    """Change the disk file where ext4 keeps nothing: a change all the
    same, without a boot."""
    with open(f"{home}/sandboxes/{name}/upper.ext4", "r+b") as f:
        f.seek(off)
        f.write(os.urandom(16))


def test_conflicts_refused_unless_forced(first, second):
    a, b = first["a"], second["b"]
    poke(b.home, "proj")
    assert "pushed proj" in b.out("push", "proj", env=second["env"])
    # A is as it last synced, but the tag moved on: its push is refused
    p = a("push", "proj", env=first["env"], check=1)
    assert b"another push replaced it" in p.stderr, p.stderr
    # A changes too: pulling would lose that, so it is refused
    poke(a.home, "proj", (3 << 30) + (8 << 20))
    before = disk_digest(a.home, "proj")
    p = a("pull", "proj", env=first["env"], check=1)
    assert b"has changed since its last push or pull" in p.stderr, p.stderr
    assert disk_digest(a.home, "proj") == before
    assert "pulled proj" in a.out("pull", "--force", "proj", env=first["env"])
    assert disk_digest(a.home, "proj") == disk_digest(b.home, "proj")


def test_registry_holds_no_secret_value(first, second, reg):
    """Every blob, and every chunk decompressed, is free of the value;
    the secret's spec is there (so the search reads what was pushed)."""
    blobs = reg.blobs()
    raw = b"".join(open(p, "rb").read() for p in blobs)
    assert b"MSB_SYNC_SECRET" in raw and b"api.test" in raw
    assert SECRET.encode() not in raw
    z = [p for p in blobs if open(p, "rb").read(4) == b"\x28\xb5\x2f\xfd"]
    assert len(z) > 100
    out = subprocess.run(["zstd", "-dcq", *z], capture_output=True, check=True).stdout
    assert len(out) > 200 * MIB
    assert SECRET.encode() not in out
    # what the guest held instead: the placeholder, in the disk
    assert b"msb_placeholder_" in out


def chunk_blob(reg):
    """The data file of the biggest disk chunk (zstd) in the registry."""
    z = [p for p in reg.blobs() if open(p, "rb").read(4) == b"\x28\xb5\x2f\xfd"]
    return max(z, key=os.path.getsize)


def test_tampered_and_truncated_chunks_refused(first, reg, tmp_path_factory):
    c = new_home(tmp_path_factory, "home-c")
    blob = chunk_blob(reg)
    orig = open(blob, "rb").read()
    try:
        with open(blob, "r+b") as f:
            f.seek(len(orig) // 2)
            f.write(bytes([orig[len(orig) // 2] ^ 0xff]))
        p = c("pull", first["ref"], check=1)
        assert b"digest mismatch" in p.stderr, p.stderr
        assert home_dirt(c.home) == [], home_dirt(c.home)
        assert c.out("ps", "-a", "-q") == ""
        with open(blob, "wb") as f:
            f.write(orig[: len(orig) // 3])
        p = c("pull", first["ref"], check=1)
        assert b"truncated" in p.stderr or b"digest mismatch" in p.stderr, p.stderr
        assert home_dirt(c.home) == [], home_dirt(c.home)
        assert c.out("ps", "-a", "-q") == ""
    finally:
        with open(blob, "wb") as f:
            f.write(orig)
    # the same pull, on the intact registry, works
    assert c.out("pull", "-q", first["ref"]).startswith("pulled proj")
    assert c.out("ps", "-a", "-q").split() == ["proj"]


def test_progress_on_a_terminal(first, reg):
    a = first["a"]
    master, slave = pty.openpty()
    p = a.popen("push", "proj", f"{reg.proxy.host}/team/tty:1",
                stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, seen
    assert b"\r\x1b[Kuploading " in seen and b" chunks)" in seen, seen
    assert seen.endswith(b"\r\x1b[K"), seen
    assert out.decode().startswith("pushed proj to ")


def test_registry_killed_mid_push_then_resumed(first, tmp_path_factory):
    """A registry of its own (no blob of A's to mount), killed once 40
    chunks are in; the same push run again sends what is missing only."""
    a = first["a"]
    r = Registry(str(tmp_path_factory.mktemp("killreg")))
    proxy = CountingProxy(r.port)
    ref = f"{proxy.host}/team/resume:1"
    try:
        p = a.popen("push", "proj", ref, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
        end = time.time() + 120
        while len(r.blobs()) < 40 and time.time() < end and p.poll() is None:
            time.sleep(0.02)
        r.kill()
        out, err = p.communicate(timeout=120)
        assert p.returncode == 1, (out, err)
        assert b"cannot reach registry" in err or b"answered" in err, err
        first_try = proxy.take()
        stored = sum(os.path.getsize(b) for b in r.blobs())
        r.start()
        out = a.out("push", "proj", ref)
        resumed = proxy.take()
        assert out.startswith(f"pushed proj to {ref} "), out
        # what the registry kept before the kill is not sent again: the
        # rerun sends the rest, and little more (requests, HEADs)
        assert stored > 20 * MIB and first_try >= stored, (stored, first_try)
        assert resumed < first["bytes"] - stored + 2 * MIB, (
            resumed, first["bytes"], stored)
        d = new_home(tmp_path_factory, "home-d")
        d.out("pull", "--name", "resumed", ref)
        assert disk_digest(d.home, "resumed") == disk_digest(a.home, "proj")
    finally:
        r.kill()


def test_pull_tells_sandboxes_from_images(first, reg, tmp_path_factory):
    e = new_home(tmp_path_factory, "home-e")
    # an image stays an image
    out = e.out("pull", f"{reg.host}/busybox:1")
    assert out.startswith(f"pulled {reg.host}/busybox:1 sha256:"), out
    res = json.loads(e.out("pull", "--format", "json", f"{reg.host}/busybox:1"))
    assert res["kind"] == "image" and res["up_to_date"], res
    assert e.out("ps", "-a", "-q") == ""
    # a sandbox by its reference becomes a sandbox, not an image
    res = json.loads(e.out("pull", "-q", "--format", "json", f"{reg.host}/team/proj"))
    assert res["kind"] == "sandbox" and res["name"] == "proj", res
    assert res["reference"] == f"{reg.host}/team/proj:latest", res
    assert res["dropped"] == ["volumes", "secrets"], res
    assert e.out("ps", "-a", "-q").split() == ["proj"]
    assert "team/proj" not in e.out("images", "-q")
    # a bare name is the remote's when it has it ...
    env = {"MSB_REMOTE": f"{reg.host}/team"}
    assert "(up to date)" in e.out("pull", "-q", "proj", env=env)
    # ... and an image's otherwise (Docker Hub's, not reachable here)
    p = e("pull", "-q", "nosuchsandbox", env=env, check=1)
    assert b"docker.io" in p.stderr, p.stderr
    # a name taken here by another sandbox is not overwritten without --force
    p = e("pull", "-q", "--name", "proj", f"{reg.host}/team/tty:1", check=1)
    assert b"--force" in p.stderr, p.stderr
    assert "pulled proj" in e.out("pull", "-q", "--force", "--name", "proj",
                                  f"{reg.host}/team/tty:1")
    # msb run of a sandbox artifact says what it is
    p = e("run", "--rm", f"{reg.host}/team/proj", "--", "true", check=125)
    assert b"is a sandbox" in p.stderr, p.stderr


def test_remote_verb(tmp_path):
    m = Msb(str(tmp_path / "home"))
    p = m("remote", check=1)
    assert b"msb remote set" in p.stderr
    m.out("remote", "set", "--insecure", "registry.example.com:5000/team")
    assert m.out("remote") == "registry.example.com:5000/team (insecure)\n"
    assert stat.S_IMODE(os.stat(f"{m.home}/remote.json").st_mode) == 0o600
    p = m("remote", "set", "team-without-registry", check=1)
    assert b"invalid remote" in p.stderr
    # a URL is refused with what to give instead, and changes nothing
    p = m("remote", "set", "https://ghcr.io/me/", check=1)
    assert b"without a scheme, as 'ghcr.io/me'\n" in p.stderr, p.stderr
    p = m("remote", "set", "http://10.0.0.1:5000/t", check=1)
    assert b"as '10.0.0.1:5000/t' (a registry on plain http: --insecure)" \
        in p.stderr, p.stderr
    out = m.out("remote", env={"MSB_REMOTE": "127.0.0.1:5000/x"})
    assert out == "127.0.0.1:5000/x (from $MSB_REMOTE)\n"
    assert json.loads(m.out("remote", "--format", "json")) == {
        "remote": "registry.example.com:5000/team", "insecure": True,
        "from": "file"}
    m.out("remote", "unset")
    m("remote", check=1)
    for verb in ("push", "remote", "pull"):
        assert m.out(verb, "--help").startswith(f"Usage: msb {verb}")
    # --sync needs somewhere to push to, and says so before making anything
    p = m("run", "--sync", "--name", "x", "-d", check=125)
    assert b"msb remote set" in p.stderr, p.stderr
    assert m.out("ps", "-a", "-q") == ""


def test_htpasswd_registry_on_loopback(first, tmp_path_factory):
    """A registry with logins: refused without, pushed and pulled with."""
    d = str(tmp_path_factory.mktemp("authreg"))
    subprocess.run(["htpasswd", "-Bbc", f"{d}/htpasswd", "alice", "pw-alice"],
                   check=True, capture_output=True)
    r = Registry(d, auth=f"{d}/htpasswd")
    a = first["a"]
    try:
        ref = f"{r.host}/me/proj:1"
        p = a("push", "proj", ref, check=1)
        assert f"msb registry login {r.host}".encode() in p.stderr, p.stderr
        a("registry", "login", "-u", "alice", "--password-stdin", r.host,
          input=b"pw-alice\n", check=0)
        assert "pushed proj" in a.out("push", "proj", ref)
        f = new_home(tmp_path_factory, "home-f")
        f("registry", "login", "-u", "alice", "--password-stdin", r.host,
          input=b"pw-alice\n", check=0)
        f.out("pull", ref)
        assert disk_digest(f.home, "proj") == disk_digest(a.home, "proj")
    finally:
        r.kill()


@pytest.fixture(scope="module")
def tls_auth_registry(tmp_path_factory):
    """docker-registry over TLS (a test CA's certificate) with htpasswd
    logins, in a network namespace at a TEST-NET-3 address: not loopback,
    so msb insists on TLS."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("openssl"):
        pytest.skip("needs root, ip and openssl")
    d = tmp_path_factory.mktemp("tlsreg")
    tag = os.urandom(3).hex()
    ns, host_if, ns_if = f"msbsync-{tag}", f"vsh{tag}", f"vsn{tag}"
    k = int(tag, 16) % 60 + 1
    host_ip, ns_ip = f"203.0.113.{4 * k + 1}", f"203.0.113.{4 * k + 2}"

    def sh(*cmd):
        subprocess.run(cmd, check=True, capture_output=True)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=msb sync test CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ns_ip}",
       "-keyout", f"{d}/srv.key", "-out", f"{d}/srv.csr")
    with open(f"{d}/ext", "w") as f:
        f.write(f"subjectAltName=IP:{ns_ip}\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.crt",
       "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2",
       "-extfile", f"{d}/ext", "-out", f"{d}/srv.crt")
    sh("htpasswd", "-Bbc", f"{d}/htpasswd", "bob", "pw-bob")
    with open(f"{d}/config.yml", "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {d}/data\n"
                f"auth:\n  htpasswd:\n    realm: msb-test\n    path: {d}/htpasswd\n"
                f"http:\n  addr: {ns_ip}:443\n  tls:\n"
                f"    certificate: {d}/srv.crt\n    key: {d}/srv.key\n")
    sh("ip", "netns", "add", ns)
    p = None
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        sh("ip", "-n", ns, "link", "set", ns_if, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        p = subprocess.Popen(["ip", "netns", "exec", ns, REGISTRY_BIN, "serve",
                              f"{d}/config.yml"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wait_port(ns_ip, 443)
        yield {"host": ns_ip, "ca": f"{d}/ca.crt", "data": f"{d}/data"}
    finally:
        if p:
            p.kill()
            p.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def trust(m, reg):
    certs = os.path.join(m.home, "certs.d", reg["host"])
    os.makedirs(certs, exist_ok=True)
    shutil.copy(reg["ca"], f"{certs}/ca.crt")


def test_tls_and_login(first, tls_auth_registry, tmp_path_factory):
    a, r = first["a"], tls_auth_registry
    ref = f"{r['host']}/team/proj:tls"
    p = a("push", "proj", ref, check=1)
    assert b"cannot verify" in p.stderr and b"certs.d" in p.stderr, p.stderr
    trust(a, r)
    p = a("push", "proj", ref, check=1)
    assert b"msb registry login" in p.stderr, p.stderr
    a("registry", "login", "-u", "bob", "--password-stdin", r["host"],
      input=b"pw-bob\n", check=0)
    assert "pushed proj" in a.out("push", "proj", ref)
    g = new_home(tmp_path_factory, "home-g")
    trust(g, r)
    g("registry", "login", "-u", "bob", "--password-stdin", r["host"],
      input=b"pw-bob\n", check=0)
    g.out("pull", ref)
    assert disk_digest(g.home, "proj") == disk_digest(a.home, "proj")
    raw = b"".join(open(p, "rb").read() for p in glob.glob(
        f"{r['data']}/docker/registry/v2/blobs/sha256/*/*/data"))
    assert SECRET.encode() not in raw
