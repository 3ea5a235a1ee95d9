# SPDX-License-Identifier: Apache-2.0
"""OCI images end to end: a real registry (Debian's docker-registry on
loopback), images built by tests/images/build.py, pulled and booted."""

import base64
import contextlib
import glob
import gzip
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import MSB, ROOT, Msb, unique

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
import build  # noqa: E402

REGISTRY_BIN = shutil.which("docker-registry")
pytestmark = pytest.mark.skipif(not REGISTRY_BIN,
                                reason="docker-registry not installed (./setup --test)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def registry():
    root = tempfile.mkdtemp(prefix="msb-registry-")
    port = free_port()
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}/data\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    p = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        info = build.push_all(f"http://127.0.0.1:{port}")
        yield {"host": f"127.0.0.1:{port}", "root": f"{root}/data", "info": info}
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def img(registry):
    """A private MSB_HOME for the image tests, so store checks are exact."""
    d = tempfile.mkdtemp(prefix="msb-img-")
    m = Msb(d)
    yield m
    for n in m("ps", "-a", "-q").stdout.decode().split():
        m("rm", "-f", n)
    shutil.rmtree(d, ignore_errors=True)


def ref(registry, name):
    return f"{registry['host']}/{name}:1"


def store_files(home):
    return sorted(os.path.relpath(p, home) for p in
                  glob.glob(f"{home}/blobs/**/*", recursive=True) +
                  glob.glob(f"{home}/layers/**/*", recursive=True)
                  if os.path.isfile(p))


def no_debris(home):
    for d in ("blobs/tmp", "layers/tmp"):
        left = os.listdir(os.path.join(home, d)) if os.path.isdir(
            os.path.join(home, d)) else []
        assert left == [], f"{d} holds {left}"


def test_pull_busybox_run_and_list(img, registry):
    r = ref(registry, "busybox")
    p = img("pull", r, check=0)
    out = p.stdout.decode()
    assert out.startswith(f"pulled {r} sha256:"), out
    # Its layer is said to convert once (it was said again for the
    # image's disks, whether or not there was anything left to do).
    assert p.stderr.decode().count("converting") == 1, p.stderr
    layer = registry["info"]["busybox"][0][7:]
    assert os.path.isfile(f"{img.home}/blobs/sha256/{layer}")
    assert os.path.isfile(f"{img.home}/layers/{layer}.erofs")
    # A second pull fetches nothing, and converts nothing.
    p = img("pull", r, check=0)
    assert "(up to date)" in p.stdout.decode()
    assert "converting" not in p.stderr.decode(), p.stderr
    p = img("run", "--rm", r, "--", "sh", "-c", "echo hi from $(cat /etc/passwd | wc -l) users",
            check=0)
    assert p.stdout == b"hi from 2 users\n"
    js = json.loads(img.out("images", "--format", "json"))
    # The built-in image is listed first, as what it is.
    assert [i["reference"] for i in js] == ["default", r]
    assert js[0]["builtin"] and not js[1]["builtin"]
    assert js[1]["layers"] == 1 and js[1]["digest"].startswith("sha256:")
    assert img.out("images", "-q").split() == ["default", r]
    ins = json.loads(img.out("image", "inspect", r))
    assert ins["layers"] == registry["info"]["busybox"]
    assert ins["config"]["config"]["Cmd"] == ["sh"]
    no_debris(img.home)


def test_shared_layer_stored_once(img, registry):
    img.out("pull", ref(registry, "busybox"))
    before = set(store_files(img.home))
    out = img.out("pull", ref(registry, "dockerv2"))  # Docker v2 schema 2
    assert "1 layers" in out
    new = set(store_files(img.home)) - before
    # Only its manifest (its config is the same) is new: the layer and its
    # EROFS image were there already.
    assert len(new) == 1 and not any(n.startswith("layers/") for n in new), new


@pytest.fixture(scope="module")
def multi(img, registry):
    name = unique("multi")
    img("run", "--name", name, "-d", ref(registry, "multi"), check=0)
    yield name
    img("rm", "-f", name)


def sh(img, name, script, *opts):
    return img.out("exec", *opts, name, "--", "sh", "-c", script)


def test_layers_as_the_image_says(img, multi):
    out = sh(img, multi, "stat -c '%n %u:%g %a %h %i %F %t:%T' /data/a /data/hard1 "
             "/data/hard2 /data/null /data/setuid /data/c /opq/new")
    lines = {l.split()[0]: l.split()[1:] for l in out.splitlines()}
    assert lines["/data/a"][:3] == ["1000:1000", "640", "1"]
    assert lines["/data/hard1"][2] == "2" and lines["/data/hard1"][3] == lines["/data/hard2"][3]
    assert lines["/data/null"][0] == "0:0" and lines["/data/null"][-1] == "1:3"
    assert "character" in " ".join(lines["/data/null"])
    assert lines["/data/setuid"][1] == "4755"
    # directories keep their own mtime, not the time of the conversion
    # that added their entries (the layers' tar says 1700000000)
    assert sh(img, multi, "stat -c %Y /bin /usr/bin /sbin") == "1700000000\n" * 3
    # What sudo and ping rely on works for the image's user (uid 1000):
    # a setuid root program runs as root, a program with cap_net_raw opens
    # a raw socket; the same program without either does neither. (The
    # host never held these bits: test_unpack_never_makes_host_privileges.)
    out = sh(img, multi, "id -u; /data/privs-suid euid; /data/privs euid; "
             "/data/privs-cap raw; /data/privs raw; stat -c '%u %a' /data/privs-suid")
    assert out == "1000\neuid 0\neuid 1000\nraw ok\nraw Operation not permitted\n" \
        "0 4755\n", out
    assert sh(img, multi, "readlink /data/link; cat /data/link /data/c") == "a\nalpha\nfrom zstd\n"
    # The whiteout hides the file; the opaque dir hides everything below.
    assert sh(img, multi, "ls -A /opq; test -e /data/gone.txt || echo gone") == "new\ngone\n"


def test_image_config_applied(img, multi, registry):
    # User, WorkingDir, Env from the image; -u overrides.
    assert sh(img, multi, "id -u; pwd; echo $FOO") == "1000\n/data\nbar\n"
    assert sh(img, multi, "id -u", "-u", "0") == "0\n"
    r = ref(registry, "multi")
    # Entrypoint + Cmd; a command replaces Cmd; --entrypoint replaces both.
    assert img.out("run", "--rm", r) == "ep default-cmd\n"
    assert img.out("run", "--rm", r, "--", "x", "y") == "ep x y\n"
    assert img.out("run", "--rm", "--entrypoint", "/bin/echo", r, "--", "hi") == "hi\n"
    assert img.out("run", "--rm", "-e", "FOO=mine", "-w", "/", r, "--", "x") == "ep x\n"


def test_many_layers_merged(img, registry):
    r = ref(registry, "many")
    img.out("pull", r)
    ins = json.loads(img.out("image", "inspect", r))
    assert len(ins["layers"]) == 7 and len(ins["disks"]) == 4
    out = img.out("run", "--rm", r, "--", "sh", "-c", "ls /many; echo --; ls /many/d")
    assert out == "d\nf1\nf2\nf3\nf6\n--\nz\n"


def test_volumes_take_slots_of_merged_layers(img, registry):
    """Four disks of layers and four volumes do not fit the VM's five free
    slots together: the top layers are merged into one disk for this
    sandbox (made once, stored), and the image reads the same."""
    r = ref(registry, "many")
    img.out("pull", "-q", r)
    before = set(store_files(img.home))
    vols = []
    for i in range(4):
        vols += ["--volume-mem", f"/v{i}"]
    out = img.out("run", "--rm", *vols, r, "--", "sh", "-c",
                  "ls /many; echo --; ls /many/d; echo --; "
                  "grep -c virtiofs /proc/mounts; ls /sys/block | grep -c vd")
    assert out == "d\nf1\nf2\nf3\nf6\n--\nz\n--\n4\n2\n", out
    made = set(store_files(img.home)) - before
    assert len([f for f in made if f.endswith(".erofs")]) == 1, made
    assert len(json.loads(img.out("image", "inspect", r))["disks"]) == 4
    # The record is as it was; the merged disk goes with a prune once
    # no sandbox uses it.
    img.out("image", "prune")
    assert set(store_files(img.home)) - before == set()


def test_multiarch_index_picks_amd64(img, registry):
    assert img.out("run", "--rm", ref(registry, "multiarch")) == "amd64\n"
    p = img("pull", ref(registry, "armonly"), check=1)
    assert b"no linux/amd64 image" in p.stderr and b"linux/arm64" in p.stderr


@pytest.mark.parametrize("name,why", [
    ("evil-dotdot", b"escapes the layer's root"),
    ("evil-abs", b"escapes the layer's root"),
    ("evil-symlink", b"goes through a symlink"),
    ("evil-hardlink", b"outside the layer"),
    ("evil-count", b"more than 1000 entries"),
    ("evil-bomb", b"decompression bomb"),
])
def test_hostile_layers_refused(img, registry, name, why):
    before = [f for f in store_files(img.home) if f.startswith("layers/")]
    p = img("pull", "-q", ref(registry, name), check=1,
            env={"MSB_LAYER_MAX_ENTRIES": "1000",
                 "MSB_LAYER_MAX_BYTES": str(64 << 20)})
    assert why in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert [f for f in store_files(img.home) if f.startswith("layers/")] == before
    no_debris(img.home)
    assert not os.path.exists("/tmp/msb-pwned")
    assert ref(registry, name) not in img.out("images", "-q")


def test_missing_tag_and_repo(img, registry):
    p = img("pull", f"{registry['host']}/busybox:nope", check=1)
    assert b"not found" in p.stderr and b"busybox:nope" in p.stderr
    p = img("pull", f"{registry['host']}/nosuch:1", check=1)
    assert b"not found" in p.stderr


def test_registry_down(img):
    port = free_port()
    p = img("pull", f"127.0.0.1:{port}/x:1", check=1)
    assert b"cannot reach registry" in p.stderr, p.stderr


def test_tampered_blob_then_good_pull(img, registry, tmp_path):
    # A fresh home: the layer must come from the (tampered) registry.
    m = Msb(str(tmp_path / "home"))
    layer = registry["info"]["multi"][1]
    hexd = layer[7:]
    data = os.path.join(registry["root"], "docker/registry/v2/blobs/sha256",
                        hexd[:2], hexd, "data")
    good = open(data, "rb").read()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    with open(data, "wb") as f:
        f.write(bad)
    try:
        p = m("pull", ref(registry, "multi"), check=1)
        assert b"digest mismatch" in p.stderr, p.stderr
        assert not os.path.exists(f"{m.home}/blobs/sha256/{hexd}")
        no_debris(m.home)
    finally:
        with open(data, "wb") as f:
            f.write(good)
    assert m.out("pull", ref(registry, "multi")).startswith("pulled")


def logging_helper(logdir):
    """msb-unpack wrapped to log, a line per run, the diff_id and the
    layer it is given (a file, or "socket:[...]" for a layer sent as it
    downloads) and its exit status; Return: the environment that makes msb use it, and the
    log's path."""
    # (world-writable: as root the helper runs as nobody, /tmp its own)
    os.chmod(logdir, 0o777)
    log = os.path.join(logdir, "log")
    libexec = os.path.join(os.path.dirname(os.path.dirname(MSB)),
                           "libexec", "msb")
    wrapper = os.path.join(logdir, "msb-unpack")
    # (the helper itself beside it: as root it runs with a /tmp of
    # its own, where a checkout under /tmp is not)
    real = os.path.join(logdir, "msb-unpack.real")
    shutil.copy(os.path.join(libexec, "msb-unpack"), real)
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "for a; do case $a in sha256:*=*) f=${a#*=}; i=${a%%=*}\n"
                "  case $f in /proc/self/fd/*) f=$(readlink $f) ;; esac ;;\n"
                "  esac; done\n"
                f"{real} \"$@\"\n"
                "rc=$?\n"
                f"echo \"$i $f $rc\" >> {log}\n"
                "exit $rc\n")
    os.chmod(wrapper, 0o755)
    return {"MSB_UNPACK": wrapper,
            "MSB_MKFS_TAR": os.path.join(libexec, "mkfs.erofs")}, log


def registry_blob(registry, digest):
    hexd = digest[7:]
    return os.path.join(registry["root"], "docker/registry/v2/blobs/sha256",
                        hexd[:2], hexd, "data")


def is_gzip_blob(registry, digest):
    with open(registry_blob(registry, digest), "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def test_layers_converted_once_from_the_download(img, registry, tmp_path):
    """Each layer a pull downloads is converted once: a gzip one from its
    download as it arrives (sent to the helper on a socket), any other
    from the downloaded file itself (its digest verified, while it is
    synced; before it is renamed into the store), and not again from the
    store: the helper, wrapped, logs the layer it is given."""
    logdir = tempfile.mkdtemp(prefix="msb-unpack-log-", dir="/var/tmp")
    try:
        env, log = logging_helper(logdir)
        m = Msb(str(tmp_path / "home"))
        m.env.update(env)
        assert m.out("pull", "-q", ref(registry, "multi")).startswith("pulled")
        got = [line.split() for line in open(log).read().splitlines()]
        layers = registry["info"]["multi"]
        assert len(got) == len(layers), got
        assert all(rc == "0" for _, _, rc in got), got
        gz = sum(is_gzip_blob(registry, d) for d in layers)
        assert 0 < gz < len(layers)  # (both ways are seen)
        assert sorted(f.startswith("socket:") for _, f, _ in got) == \
            sorted(is_gzip_blob(registry, d) for d in layers), got
        assert all("/blobs/tmp/dl." in f for _, f, _ in got
                   if not f.startswith("socket:")), got
        for d in layers:
            assert os.path.exists(f"{m.home}/blobs/sha256/{d[7:]}")
            assert os.path.exists(f"{m.home}/layers/{d[7:]}.erofs")
        no_debris(m.home)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def test_layer_converted_as_it_came_then_digest_wrong(registry, tmp_path):
    """A gzip layer is converted as it downloads, before its digest can be
    checked: when the blob turns out not to be what its digest says, what
    the conversion made is removed and never stored. The blob served here
    differs from the real one only in its gzip header's timestamp: it
    inflates to the same tar (the DiffID the config says), so its
    conversion succeeds; only its digest is wrong."""
    layers = registry["info"]["multi"]
    layer = next(d for d in layers if is_gzip_blob(registry, d))
    hexd = layer[7:]
    data = registry_blob(registry, layer)
    good = open(data, "rb").read()
    bad = bytearray(good)
    bad[4] ^= 0x5A  # MTIME, which inflating ignores
    i = "sha256:" + hashlib.sha256(gzip.decompress(good)).hexdigest()
    logdir = tempfile.mkdtemp(prefix="msb-unpack-log-", dir="/var/tmp")
    try:
        with open(data, "wb") as f:
            f.write(bad)
        env, log = logging_helper(logdir)
        m = Msb(str(tmp_path / "home"))
        m.env.update(env)
        p = m("pull", ref(registry, "multi"), check=1)
        assert b"digest mismatch" in p.stderr and layer.encode() in p.stderr, p.stderr
        assert b"nothing was stored" in p.stderr, p.stderr
        # It was converted, from the socket, and that conversion made its
        # image (the helper exited 0): only the digest refused it.
        got = [line.split() for line in open(log).read().splitlines()]
        assert [i, "0"] in [[i, rc] for i, f, rc in got
                            if f.startswith("socket:")], (i, got)
        assert not os.path.exists(f"{m.home}/layers/{hexd}.erofs")
        assert not os.path.exists(f"{m.home}/layers/{hexd}.diff_ids")
        assert not os.path.exists(f"{m.home}/blobs/sha256/{hexd}")
        no_debris(m.home)
    finally:
        with open(data, "wb") as f:
            f.write(good)
        shutil.rmtree(logdir, ignore_errors=True)


class FaultHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with one status."""
    status = 500

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def serve(handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.mark.parametrize("status,why", [(500, b"answered 500"), (429, b"rate-limiting")])
def test_registry_errors(img, status, why):
    h = type("H", (FaultHandler,), {"status": status})
    srv = serve(h)
    try:
        p = img("pull", f"127.0.0.1:{srv.server_address[1]}/x:1", check=1)
        assert why in p.stderr, p.stderr
    finally:
        srv.shutdown()


def token_proxy(upstream, user=None, password=None):
    """A registry front demanding Bearer tokens from its own token service
    (the Docker Hub flow); with @user, the token service wants basic auth."""
    token = "tok-" + os.urandom(4).hex()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            host = f"127.0.0.1:{self.server.server_address[1]}"
            if self.path.startswith("/token"):
                if user:
                    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                body = json.dumps({"token": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.headers.get("Authorization") != f"Bearer {token}":
                self.send_response(401)
                self.send_header("WWW-Authenticate",
                                 f'Bearer realm="http://{host}/token",service="test",'
                                 f'scope="repository:busybox:pull"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            req = urllib.request.Request(f"http://{upstream}{self.path}",
                                         headers={"Accept": self.headers.get("Accept", "*/*")})
            try:
                with urllib.request.urlopen(req) as r:
                    body, status, hdrs = r.read(), r.status, r.headers
            except urllib.error.HTTPError as e:
                body, status, hdrs = e.read(), e.code, e.headers
            self.send_response(status)
            for k in ("Content-Type", "Docker-Content-Digest"):
                if hdrs.get(k):
                    self.send_header(k, hdrs[k])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    return serve(H)


def test_bearer_token_anonymous(img, registry):
    srv = token_proxy(registry["host"])
    try:
        host = f"127.0.0.1:{srv.server_address[1]}"
        assert img.out("pull", f"{host}/busybox:1").startswith("pulled")
    finally:
        srv.shutdown()


def test_bearer_token_login(registry, tmp_path):
    m = Msb(str(tmp_path / "home"))
    srv = token_proxy(registry["host"], "alice", "s3cret-pw")
    try:
        host = f"127.0.0.1:{srv.server_address[1]}"
        p = m("pull", f"{host}/busybox:1", check=1)
        assert b"refused" in p.stderr and b"msb registry login" in p.stderr, p.stderr
        auth = os.path.join(m.home, "auth.json")
        # The token service refuses a wrong password at the login.
        p = m("registry", "login", "-u", "alice", "--password-stdin", host,
              input=b"wrong-pw\n", check=1)
        assert b"refused the login of 'alice'" in p.stderr, p.stderr
        assert not os.path.exists(auth) or host not in open(auth).read()
        p = m("registry", "login", "-u", "alice", "--password-stdin", host,
              input=b"s3cret-pw\n", check=0)
        assert b"s3cret" not in p.stdout + p.stderr
        assert stat.S_IMODE(os.stat(auth).st_mode) == 0o600
        assert m.out("pull", f"{host}/busybox:1").startswith("pulled")
        m.out("registry", "logout", host)
        assert host not in open(auth).read()
    finally:
        srv.shutdown()


def htpasswd_registry(root, addr, users):
    """docker-registry on plain http at @addr demanding a login of @users
    ({name: password}, htpasswd, basic auth); Return: (process, host)."""
    with open(f"{root}/htpasswd", "w") as f:
        for u, pw in users.items():
            f.write(subprocess.run(["htpasswd", "-Bbn", u, pw], check=True,
                                   capture_output=True).stdout.decode().strip() + "\n")
    port = free_port()
    with open(f"{root}/config.yml", "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}/data\n"
                f"auth:\n  htpasswd:\n    realm: msb-test\n    path: {root}/htpasswd\n"
                f"http:\n  addr: {addr}:{port}\n")
    p = subprocess.Popen([REGISTRY_BIN, "serve", f"{root}/config.yml"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 20
    while True:
        try:
            socket.create_connection((addr, port), 0.2).close()
            return p, f"{addr}:{port}"
        except OSError:
            if time.time() > end:
                p.kill()
                raise
            time.sleep(0.05)


def test_login_is_checked_with_the_registry(tmp_path):
    """msb registry login asks the registry (basic auth here) before it
    stores anything, as docker login does."""
    if not shutil.which("htpasswd"):
        pytest.skip("needs htpasswd (apache2-utils)")
    m = Msb(str(tmp_path / "home"))
    auth = os.path.join(m.home, "auth.json")
    p, host = htpasswd_registry(str(tmp_path), "127.0.0.1", {"alice": "pw-alice"})
    try:
        r = m("registry", "login", "-u", "alice", "--password-stdin", host,
              input=b"wrong\n", check=1)
        err = r.stderr.decode()
        assert f"{host} refused the login of 'alice'" in err, err
        assert "nothing was stored" in err, err
        assert not os.path.exists(auth) or host not in open(auth).read()
        r = m("registry", "login", "-u", "bob", "--password-stdin", host,
              input=b"pw-alice\n", check=1)
        assert b"refused the login of 'bob'" in r.stderr, r.stderr
        assert m.out("registry", "login", "-u", "alice", "--password-stdin",
                     host, input=b"pw-alice\n").startswith(f"logged in to {host} as alice")
        assert host in open(auth).read()
        # A wrong password later leaves the stored one as it was.
        before = open(auth).read()
        m("registry", "login", "-u", "alice", "--password-stdin", host,
          input=b"nope\n", check=1)
        assert open(auth).read() == before
    finally:
        p.kill()
        p.wait()
    # Nothing listening: nothing stored, and it says why.
    other = f"127.0.0.1:{free_port()}"
    r = m("registry", "login", "-u", "alice", "--password-stdin", other,
          input=b"pw\n", check=1)
    assert f"cannot reach registry {other}".encode() in r.stderr, r.stderr
    assert other not in open(auth).read()
    r = m("registry", "login", "-u", "alice", "--password-stdin", "a b",
          input=b"pw\n", check=1)
    assert b"not a registry host" in r.stderr, r.stderr
    # A URL where a host is wanted says which host.
    r = m("registry", "login", "-u", "alice", "--password-stdin",
          f"https://{host}/", input=b"pw\n", check=1)
    assert f"is a URL: give the registry's host alone, as '{host}'".encode() \
        in r.stderr, r.stderr
    r = m("registry", "logout", f"http://{host}", check=1)
    assert f"as '{host}'".encode() in r.stderr, r.stderr
    # An auth.json edited into something else is neither written over
    # nor asked about: the logins in it are the user's to mend.
    for bad in ('{"auths": {"a.io": {"auth": "YTpi"}', '{"auths": []}'):
        with open(auth, "w") as f:
            f.write(bad)
        for args in (("login", "-u", "alice", "--password-stdin", host),
                     ("logout", host)):
            r = m("registry", *args, input=b"pw-alice\n", check=1)
            assert b"nothing was changed" in r.stderr and auth.encode() in r.stderr, \
                r.stderr
            assert open(auth).read() == bad


@contextlib.contextmanager
def on_lo(addr):
    """@addr (IPv4) on lo while the block runs: a server of the test's own
    at an address that is this host's but not loopback, which msb speaks
    to as it would to a registry elsewhere."""
    subprocess.run(["ip", "addr", "add", f"{addr}/32", "dev", "lo"], check=True,
                   capture_output=True)
    try:
        yield addr
    finally:
        subprocess.run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"],
                       capture_output=True)


def test_login_to_plain_http_off_loopback_needs_insecure(tmp_path):
    """A registry that is not on loopback is asked over https, as pulls
    ask it; --insecure, as msb pull's, asks it over plain http."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("htpasswd"):
        pytest.skip("needs root, ip and htpasswd")
    # (TEST-NET-2: not this host's, nor the other tests' 192.0.2 and
    # 203.0.113 addresses)
    addr = f"198.51.100.{int.from_bytes(os.urandom(1), 'big') % 240 + 10}"
    if f" {addr}/" in subprocess.run(["ip", "-o", "addr"], capture_output=True,
                                     text=True).stdout:
        pytest.skip(f"{addr} is an address of this host")
    with on_lo(addr):
        p, host = htpasswd_registry(str(tmp_path), addr, {"carol": "pw-carol"})
        try:
            m = Msb(str(tmp_path / "home"))
            r = m("registry", "login", "-u", "carol", "--password-stdin", host,
                  input=b"pw-carol\n", check=1)
            assert f"cannot reach registry {host} (https)".encode() in r.stderr, \
                r.stderr
            r = m("registry", "login", "--insecure", "-u", "carol",
                  "--password-stdin", host, input=b"wrong\n", check=1)
            assert b"refused the login of 'carol'" in r.stderr, r.stderr
            assert m.out("registry", "login", "--insecure", "-u", "carol",
                         "--password-stdin", host,
                         input=b"pw-carol\n").startswith("logged in")
            assert host in open(os.path.join(m.home, "auth.json")).read()
        finally:
            p.kill()
            p.wait()


def test_rmi_and_prune_keep_what_sandboxes_use(registry, tmp_path):
    m = Msb(str(tmp_path / "home"))
    r = ref(registry, "busybox")
    m.out("pull", r)
    name = unique("keep")
    m("run", "--name", name, "-d", r, check=0)
    m.out("rmi", r)
    assert m.out("images", "-q") == "default\n"
    # Its layer stays while the sandbox exists.
    layer = registry["info"]["busybox"][0][7:]
    assert os.path.isfile(f"{m.home}/layers/{layer}.erofs")
    m.out("image", "prune")
    assert os.path.isfile(f"{m.home}/layers/{layer}.erofs")
    assert sh(m, name, "echo alive") == "alive\n"
    # A snapshot of it keeps the layer too, after the sandbox is gone.
    snap, fork = unique("keepsnap"), unique("keepfork")
    m.out("snapshot", name, "--name", snap)
    m.out("rm", "-f", name)
    m.out("image", "prune")
    assert os.path.isfile(f"{m.home}/layers/{layer}.erofs")
    m.out("restore", snap, "--name", fork, "-d")
    assert sh(m, fork, "echo alive") == "alive\n"
    m.out("rm", "-f", fork)
    m.out("snapshot", "rm", snap)
    m.out("image", "prune")
    assert store_files(m.home) == []
    p = m("rmi", r, check=1)
    assert b"no image" in p.stderr


def test_default_image_still_offline(img):
    assert img.out("run", "--rm", "--", "echo", "hi") == "hi\n"
    p = img("rmi", "default", check=1)
    assert b"built-in" in p.stderr


def test_bad_reference(img):
    p = img("pull", "UPPER/case", check=1)
    assert b"invalid" in p.stderr


from test_nonroot import as_user  # noqa: E402,F401  (the fixture)


def test_ordinary_user_pulls_and_runs(as_user, registry):
    """Owners, modes and device nodes survive an unprivileged pull
    (fakeroot), and the user's guest sees them."""
    r = ref(registry, "multi")
    p = as_user("pull", "-q", r)
    assert p.returncode == 0, p
    p = as_user("run", "--rm", "--entrypoint", "", r, "--", "stat", "-c", "%u:%g %a %t:%T",
                "/data/a", "/data/null", "/data/setuid")
    assert p.returncode == 0, p
    assert p.stdout.decode().split("\n")[:3] == ["1000:1000 640 0:0", "0:0 666 1:3",
                                                 "0:0 4755 0:0"], p


# ---- msb load / msb save ---------------------------------------------------

def hello_layer(text):
    t = build.Tar()
    t.add("hello", data=text.encode())
    return t.raw()


def test_load_oci_layout_and_run(img, tmp_path):
    im = build.Image(build.multi_layers(), build.MULTI_CONFIG)
    d = str(tmp_path / "layout")
    build.write_layout(im, d, "local/multi:1")
    out = img.out("load", d)
    assert out.startswith("loaded local/multi:1 sha256:") and "3 layers" in out, out
    # Each layer said on stderr as it converts (a line each, not a tty),
    # in a store of its own where none is yet (this one has some). The
    # layers convert side by side, one per CPU, so each is said once in
    # the order its conversion starts, which is the threads' to choose.
    p = img("load", d, env={"MSB_HOME": str(tmp_path / "fresh")}, check=0)
    said = [l for l in p.stderr.decode().splitlines() if "layer" in l]
    assert sorted(said) == [
        f"layer {i}/3 converting" for i in (1, 2, 3)], p.stderr
    assert img.out("run", "--rm", "local/multi:1") == "ep default-cmd\n"
    ins = json.loads(img.out("image", "inspect", "local/multi:1"))
    assert ins["layers"] == im.layer_digests
    assert ins["digest"] == build.sha(im.manifest)
    # The same layout, named on the command line; nothing new is stored.
    before = store_files(img.home)
    p = img("load", "-q", "--tag", "other:2", d, check=0)
    assert (p.stdout, p.stderr) == (b"other:2\n", b""), p
    assert store_files(img.home) == before
    no_debris(img.home)


def test_save_rmi_load_again(img, tmp_path):
    im = build.Image([(build.busybox_layer(), "gzip"), (hello_layer("saved\n"), "zstd")])
    d = str(tmp_path / "layout")
    build.write_layout(im, d, "local/saved:1")
    img.out("load", d)
    tar = str(tmp_path / "saved.tar")
    img.out("save", "-o", tar, "local/saved:1")
    with tarfile.open(tar) as t:
        names = t.getnames()
    assert names[:2] == ["oci-layout", "index.json"]
    assert f"blobs/sha256/{build.sha(im.manifest)[7:]}" in names
    img.out("rmi", "local/saved:1")
    img.out("image", "prune")
    assert "local/saved:1" not in img.out("images", "-q")
    # Loaded back from the saved tar (through stdin), same digests, runs.
    with open(tar, "rb") as f:
        out = img.out("load", input=f.read())
    assert out.startswith("loaded local/saved:1 "), out
    ins = json.loads(img.out("image", "inspect", "local/saved:1"))
    assert ins["digest"] == build.sha(im.manifest)
    assert img.out("run", "--rm", "local/saved:1", "--", "cat", "/hello") == "saved\n"
    # --format docker adds the manifest.json docker load reads.
    dtar = str(tmp_path / "docker.tar")
    img.out("image", "save", "--format", "docker", "-o", dtar, "local/saved:1")
    with tarfile.open(dtar) as t:
        m = json.load(t.extractfile("manifest.json"))
    assert m[0]["RepoTags"] == ["local/saved:1"] and len(m[0]["Layers"]) == 2
    p = img("save", "nosuch:1", "-o", str(tmp_path / "x.tar"), check=1)
    assert b"no image" in p.stderr and not os.path.exists(tmp_path / "x.tar")


def test_docker_save_archive_loads_and_runs(img, tmp_path):
    arch = build.docker_archive([build.busybox_layer(), hello_layer("from docker\n")],
                                {"Env": [build.PATH_ENV], "Cmd": ["cat", "/hello"]},
                                "dockersave:1")
    path = tmp_path / "docker.tar"
    path.write_bytes(arch)
    out = img.out("load", "-i", str(path))
    assert out.startswith("loaded dockersave:1 ") and "2 layers" in out, out
    assert img.out("run", "--rm", "dockersave:1") == "from docker\n"
    no_debris(img.home)


def tampered_oci(tmp_path):
    im = build.Image([(build.busybox_layer(), "gzip"), (hello_layer("x\n"), "gzip")])
    d = str(tmp_path / "layout")
    build.write_layout(im, d, "local/tampered:1")
    p = f"{d}/blobs/sha256/{im.layer_digests[1][7:]}"
    data = bytearray(open(p, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(p, "wb").write(data)
    return build.tar_dir(d)


def tampered_docker(tmp_path):
    arch = bytearray(build.docker_archive(
        [build.busybox_layer(), hello_layer("not tampered yet\n")],
        {"Cmd": ["sh"]}, "local/tampered:1"))
    at = arch.find(b"not tampered yet")
    arch[at] ^= 0x20
    return bytes(arch)


@pytest.mark.parametrize("make", [tampered_oci, tampered_docker])
def test_tampered_archive_refused(tmp_path, make):
    m = Msb(str(tmp_path / "home"))
    path = tmp_path / "bad.tar"
    path.write_bytes(make(tmp_path))
    p = m("load", str(path), check=1)
    assert b"digest mismatch" in p.stderr and b"nothing was stored" in p.stderr, p.stderr
    assert store_files(m.home) == []
    no_debris(m.home)
    assert m.out("images", "-q") == "default\n"
    # Not a tar at all, and a truncated one: refused the same way.
    path.write_bytes(b"hello" * 300)
    assert b"not a tar archive" in m("load", str(path), check=1).stderr
    path.write_bytes(make(tmp_path)[:70000])
    assert m("load", str(path), check=1).returncode == 1
    assert store_files(m.home) == []
    no_debris(m.home)


# ---- a Debian image with python3 and curl ------------------------------------

@pytest.fixture(scope="module")
def debian_ref(registry):
    import debian  # tests/images/debian.py
    try:
        im = debian.image()
    except debian.Unavailable as e:
        pytest.skip(f"Debian packages for the python3 image unavailable: {e}")
    build.Registry(f"http://{registry['host']}").push("debian-python", "1", im)
    return ref(registry, "debian-python")


def test_debian_python_hello(img, debian_ref):
    """The issue's first example: pull, run -d --name dev, exec python."""
    assert img.out("pull", "-q", debian_ref).startswith(f"pulled {debian_ref} ")
    name = unique("dev")
    img.out("run", debian_ref, "--name", name, "-d")
    try:
        assert img.out("exec", name, "--", "python", "-c", "print('hello')") == "hello\n"
        out = img.out("exec", name, "--", "python3", "-c",
                      "import sys, os, hashlib; print(sys.version_info[:2], "
                      "os.getuid(), hashlib.sha256(b'').hexdigest()[:8])")
        assert out == "(3, 11) 0 e3b0c442\n", out
        assert img.out("exec", name, "--", "curl", "--version").startswith("curl ")
        # xattrs as the layer says, read through EROFS and overlayfs
        out = img.out("exec", name, "--", "python3", "-c",
                      "import os; print(os.getxattr('/xattr/f', 'user.msb'), "
                      "os.getxattr('/xattr/f', 'trusted.msb'), "
                      "sorted(os.listxattr('/xattr/d/g')))")
        assert out == "b'hello' b'root-only' ['user.another']\n", out
    finally:
        img("rm", "-f", name)


def test_ordinary_user_loads_and_saves(as_user):
    """A docker save archive loaded by an unprivileged user keeps its
    owners and device nodes (fakeroot), and saves back."""
    d = tempfile.mkdtemp(prefix="msb-user-load-")
    os.chmod(d, 0o777)
    try:
        arch = build.docker_archive([build.busybox_layer(), build.multi_layers()[1][0]],
                                    {"Env": [build.PATH_ENV]}, "userload:1")
        path = os.path.join(d, "in.tar")
        with open(path, "wb") as f:
            f.write(arch)
        os.chmod(path, 0o644)
        p = as_user("load", path)
        assert p.returncode == 0 and p.stdout.startswith(b"loaded userload:1 "), p
        p = as_user("run", "--rm", "userload:1", "--", "stat", "-c", "%u:%g %a %t:%T",
                    "/data/a", "/data/null")
        assert p.stdout.decode().split("\n")[:2] == ["1000:1000 640 0:0", "0:0 666 1:3"], p
        p = as_user("save", "-o", os.path.join(d, "out.tar"), "userload:1")
        assert p.returncode == 0, p
        with tarfile.open(os.path.join(d, "out.tar")) as t:
            assert "index.json" in t.getnames()
    finally:
        as_user("rmi", "userload:1")
        shutil.rmtree(d, ignore_errors=True)


def random_layer(name, size):
    t = build.Tar()
    t.add(name, data=os.urandom(size))
    return t.raw()


def zeros_layer(size):
    t = build.Tar()
    t.add("zeros", data=bytes(size))
    return t.raw()


@pytest.fixture
def small_home(tmp_path):
    """An $MSB_HOME on a 24 MiB tmpfs; remount(size) gives it more room."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    home = str(tmp_path / "home")
    os.makedirs(home)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", home],
                   check=True)

    def remount(size):
        subprocess.run(["mount", "-o", f"remount,size={size}", home], check=True)
    try:
        yield Msb(home), remount
    finally:
        subprocess.run(["umount", "-l", home])


def assert_disk_full(m, p, doing):
    err = p.stderr.decode()
    assert f"while {doing}" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"no space left on device under {m.home}" in err, err
    assert "free some space or run 'msb image prune'" in err, err
    assert store_files(m.home) == [], store_files(m.home)
    no_debris(m.home)


def test_disk_full_pull_and_load_then_again(small_home, registry, tmp_path):
    m, remount = small_home
    reg = build.Registry(f"http://{registry['host']}")
    # 28 MiB that does not compress: the download fills the disk.
    big = build.Image([(random_layer("a", 14 << 20), "gzip"),
                       (random_layer("b", 14 << 20), "gzip")])
    reg.push("big", "1", big)
    # 40 MiB of zeros in a small blob: unpacking it fills the disk.
    bomb = build.Image([(zeros_layer(40 << 20), "gzip")])
    reg.push("zeros", "1", bomb)
    layout = str(tmp_path / "layout")
    build.write_layout(big, layout, "local/big:1")

    assert_disk_full(m, m("pull", "-q", ref(registry, "big"), check=1),
                     "storing blob")
    assert_disk_full(m, m("pull", "-q", ref(registry, "zeros"), check=1),
                     "unpacking a layer")
    assert_disk_full(m, m("load", "-q", layout, check=1), "loading an archive")
    assert m.out("images", "-q") == "default\n"

    remount("256m")
    assert m.out("pull", ref(registry, "big")).startswith("pulled")
    assert m.out("pull", ref(registry, "zeros")).startswith("pulled")
    assert m.out("load", "-q", layout) == "local/big:1\n"
    no_debris(m.home)


def with_wrong_diff_id(layer):
    """An image of @layer whose config names a diff_id it does not have."""
    im = build.Image([(layer, "gzip")])
    cfg_digest, = [d for d, b in im.blobs.items() if b.startswith(b"{")]
    cfg = json.loads(im.blobs.pop(cfg_digest))
    cfg["rootfs"]["diff_ids"] = [build.sha(layer + b"x")]
    cb = json.dumps(cfg).encode()
    im.blobs[build.sha(cb)] = cb
    man = json.loads(im.manifest)
    man["config"].update(digest=build.sha(cb), size=len(cb))
    im.manifest = json.dumps(man).encode()
    return im


def test_wrong_diff_id_refused(img, registry):
    im = with_wrong_diff_id(hello_layer("diff-id\n"))
    build.Registry(f"http://{registry['host']}").push("baddiff", "1", im)
    before = store_files(img.home)
    p = img("pull", "-q", ref(registry, "baddiff"), check=1)
    err = p.stderr.decode()
    assert len(err.strip().splitlines()) == 1, err
    assert "the image config says its diff_id is" in err, err
    assert store_files(img.home) == before
    no_debris(img.home)
    assert ref(registry, "baddiff") not in img.out("images", "-q")


def test_wrong_diff_id_refused_for_a_stored_layer(img, registry):
    """A layer already converted for one image is checked against the next
    image's config too, not trusted because it is in the store."""
    layer = hello_layer("stored diff-id\n")
    reg = build.Registry(f"http://{registry['host']}")
    reg.push("gooddiff", "1", build.Image([(layer, "gzip")]))
    reg.push("baddiff2", "1", with_wrong_diff_id(layer))
    img.out("pull", "-q", ref(registry, "gooddiff"))
    before = store_files(img.home)
    assert any(f.endswith(".diff_ids") for f in before), before
    p = img("pull", "-q", ref(registry, "baddiff2"), check=1)
    assert "the image config says its diff_id is" in p.stderr.decode()
    assert store_files(img.home) == before
    assert ref(registry, "baddiff2") not in img.out("images", "-q")
    img.out("rmi", ref(registry, "gooddiff"))


def test_pull_progress_on_a_tty_and_plain_lines_otherwise(img, registry):
    """A terminal gets one line rewritten in place and cleared at the end;
    anything else gets one plain line per event."""
    import pty
    reg = build.Registry(f"http://{registry['host']}")
    big = os.urandom(3 << 20)

    def image(tag):
        t = build.Tar()
        t.add(f"blob-{tag}", data=big + tag.encode())
        return build.Image([(hello_layer(f"progress {tag}\n"), "gzip"),
                            (t.raw(), "none")])

    reg.push("progress-tty", "1", image("tty"))
    reg.push("progress-plain", "1", image("plain"))

    master, slave = pty.openpty()
    p = img.popen("pull", ref(registry, "progress-tty"), stdout=subprocess.PIPE,
                  stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, seen
    assert out.decode().startswith(f"pulled {ref(registry, 'progress-tty')} ")
    assert b"\r\x1b[Kdownloading 3.2 MB of 3.2 MB" in seen, seen
    assert b"\r\x1b[Kconverting layer 2/2" in seen, seen
    assert seen.endswith(b"\r\x1b[K") and b"\n" not in seen.replace(b"\r\n", b""), seen

    p = img("pull", ref(registry, "progress-plain"), check=0)
    lines = p.stderr.decode().splitlines()
    assert lines[0] == "resolving", lines
    assert any(l.startswith("layer 2/2 sha256:") and l.endswith("downloaded (3.2 MB)")
               for l in lines), lines
    assert "layer 2/2 converting" in lines and "\r" not in p.stderr.decode(), lines
    for r in ("progress-tty", "progress-plain"):
        img.out("rmi", ref(registry, r))


# ---- a registry over TLS, signed by a private CA ----------------------------

@pytest.fixture(scope="module")
def tls_registry(registry, tmp_path_factory):
    """The same storage served over https by a registry in a network
    namespace at a TEST-NET-3 address (not loopback, so msb insists on
    TLS), with a certificate from a CA of the test's own."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("openssl"):
        pytest.skip("needs root, ip and openssl")
    d = tmp_path_factory.mktemp("tlsreg")
    tag = os.urandom(3).hex()
    ns, host_if, ns_if = f"msbreg-{tag}", f"vrh{tag}", f"vrn{tag}"
    k = int(tag, 16) % 60 + 1
    host_ip, ns_ip = f"203.0.113.{4 * k + 1}", f"203.0.113.{4 * k + 2}"

    def sh(*cmd):
        subprocess.run(cmd, check=True, capture_output=True)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=msb test registry CA", "-keyout", f"{d}/ca.key",
       "-out", f"{d}/ca.crt")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=msb test registry CA", "-keyout", f"{d}/other.key",
       "-out", f"{d}/other.crt")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ns_ip}",
       "-keyout", f"{d}/srv.key", "-out", f"{d}/srv.csr")
    with open(f"{d}/ext", "w") as f:
        f.write(f"subjectAltName=IP:{ns_ip}\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.crt",
       "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2",
       "-extfile", f"{d}/ext", "-out", f"{d}/srv.crt")
    with open(f"{d}/config.yml", "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {registry['root']}\n"
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
        end = time.time() + 20
        while True:
            try:
                socket.create_connection((ns_ip, 443), 0.3).close()
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.1)
        yield {"host": ns_ip, "ca": f"{d}/ca.crt", "other_ca": f"{d}/other.crt"}
    finally:
        if p:
            p.kill()
            p.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_tls_registry_with_a_private_ca(img, tls_registry):
    r = f"{tls_registry['host']}/busybox:1"
    t0 = time.time()
    p = img("pull", "-q", r, check=1)
    err = p.stderr.decode()
    certs = os.path.join(img.home, "certs.d", tls_registry["host"])
    assert f"cannot verify {tls_registry['host']} over TLS" in err, err
    assert f"{certs}/ca.crt" in err, err
    assert time.time() - t0 < 20, "a certificate failure is not worth retrying"
    assert r not in img.out("images", "-q")
    os.makedirs(certs)
    shutil.copy(tls_registry["ca"], f"{certs}/ca.crt")
    try:
        assert img.out("pull", "-q", r).startswith(f"pulled {r} ")
        assert img.out("run", "--rm", r, "--", "echo", "over tls") == "over tls\n"
        img.out("rmi", r)
        # A CA that did not sign it is no better than none.
        shutil.copy(tls_registry["other_ca"], f"{certs}/ca.crt")
        err = img("pull", "-q", r, check=1).stderr.decode()
        assert "over TLS with the CA in" in err, err
    finally:
        shutil.rmtree(os.path.join(img.home, "certs.d"))


# ---- a registry over https never falls back to plain http ------------------

@pytest.fixture
def https_front(tmp_path):
    """An https server of the test's own at a non-loopback address of this
    host (so msb insists on TLS), with a certificate from a CA of the
    test's own, and a plain http server on loopback that records every
    request it gets. The https one answers each request as its `mode`
    says: "redirect" (302 to the http server) or "realm" (401 with a Bearer
    challenge whose realm is the http server)."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("openssl"):
        pytest.skip("needs root, ip and openssl")
    import ssl
    addr = f"192.0.2.{100 + int.from_bytes(os.urandom(1), 'big') % 100}"
    d = str(tmp_path)

    def sh(*cmd):
        subprocess.run(cmd, check=True, capture_output=True)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=msb test CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={addr}",
       "-keyout", f"{d}/srv.key", "-out", f"{d}/srv.csr")
    with open(f"{d}/ext", "w") as f:
        f.write(f"subjectAltName=IP:{addr}\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.crt",
       "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2",
       "-extfile", f"{d}/ext", "-out", f"{d}/srv.crt")
    seen = []

    class Plain(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"token": "tok"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    plain = serve(Plain)
    plain_url = f"http://127.0.0.1:{plain.server_address[1]}"
    state = {"mode": "redirect"}

    class Front(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if state["mode"] == "redirect":
                self.send_response(302)
                self.send_header("Location", plain_url + self.path)
            else:
                self.send_response(401)
                self.send_header("WWW-Authenticate",
                                 f'Bearer realm="{plain_url}/token",'
                                 'service="test",scope="repository:x:pull"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    front = None
    try:
        with on_lo(addr):
            front = http.server.ThreadingHTTPServer((addr, 0), Front)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(f"{d}/srv.crt", f"{d}/srv.key")
            front.socket = ctx.wrap_socket(front.socket, server_side=True)
            threading.Thread(target=front.serve_forever, daemon=True).start()
            yield {"host": f"{addr}:{front.server_address[1]}", "ca": f"{d}/ca.crt",
                   "seen": seen, "state": state, "plain": plain_url}
            front.shutdown()
            front = None
    finally:
        if front:
            front.shutdown()
        plain.shutdown()


def test_https_registry_never_falls_back_to_plain_http(https_front, tmp_path):
    m = Msb(str(tmp_path / "home"))
    host = https_front["host"]
    certs = os.path.join(m.home, "certs.d", host)
    os.makedirs(certs)
    shutil.copy(https_front["ca"], f"{certs}/ca.crt")
    # A redirect from https to http is not followed.
    p = m("pull", "-q", f"{host}/x:1", check=1)
    err = p.stderr.decode()
    assert f"redirected to {https_front['plain']}/v2/x/manifests/1, which is " \
        "not https: refused" in err, err
    assert "--insecure" in err, err
    # A token realm over http gets neither the stored credentials nor a
    # request at all.
    # The login, which asks the registry first, is refused the same way.
    https_front["state"]["mode"] = "realm"
    p = m("registry", "login", "-u", "alice", "--password-stdin", host,
          input=b"s3cret-pw\n", check=1)
    assert f"sends us for a token to {https_front['plain']}/token, which is " \
        "not https: refused" in p.stderr.decode(), p.stderr
    p = m("pull", "-q", f"{host}/x:1", check=1)
    err = p.stderr.decode()
    assert f"sends us for a token to {https_front['plain']}/token, which is " \
        "not https: refused" in err, err
    assert https_front["seen"] == [], https_front["seen"]


# ---- what a layer asks for never becomes a host privilege -------------------

def descendants(pid):
    """Every live process below @pid."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


@pytest.mark.parametrize("way", ["unpacked", "tar-stream"])
def test_unpack_never_makes_host_privileges(registry, tmp_path, way):
    """Setuid and setgid programs, device nodes and file capabilities of an
    image exist only inside its EROFS disk: msb-unpack runs without
    privileges (under fakeroot; as root, as nobody) behind a seccomp
    filter, so even killed in the middle of a layer (here, with the pull
    that ran it) it leaves none of them on the host. As root it unpacks
    in a tmpfs of its own mount namespace (nosuid, nodev, noexec), gone
    with it. From the tar stream (mkfs.erofs --tar) nothing of the layer is
    made at all: caught while mkfs.erofs reads, the only file is the image."""
    cap = "\x01\x00\x00\x02\x00\x20" + "\x00" * 14  # CAP_NET_RAW, effective
    t = build.Tar()
    t.dir("p")
    t.add("p/suid", data=b"#!/bin/sh\n", mode=0o4755)
    t.add("p/sgid", data=b"#!/bin/sh\n", mode=0o2755)
    t.add("p/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3)
    t.add("p/disk", tarfile.BLKTYPE, mode=0o660, major=8, minor=0)
    t.add("p/cap", data=b"#!/bin/sh\n", mode=0o755,
          xattrs={"security.capability": cap})
    # (time to be caught in: the layer goes on with 64 MiB of zeros)
    t.add("p/zz", data=bytes(64 << 20))
    name = unique("privs")
    build.Registry(f"http://{registry['host']}").push(
        name, "1", build.Image([(t.raw(), "gzip")]))
    m = Msb(str(tmp_path / "home"))
    if way == "unpacked":
        m.env["MSB_MKFS_TAR"] = "none"
    pull = subprocess.Popen([MSB, "pull", "-q", f"{registry['host']}/{name}:1"],
                            env=m.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    tmp = os.path.join(m.home, "layers", "tmp")

    def places():
        """Where the layer is unpacked: layers/tmp, and as root the tmpfs
        of the helper's own mount namespace (seen through its /proc root)."""
        return [tmp] + [f"/proc/{p}/root/tmp/stage" for p in descendants(pull.pid)
                        if comm(p) == "msb-unpack"]

    def scan(roots):
        left, bad = [], []
        for top in roots:
            for root, dirs, files in os.walk(top):
                for n in dirs + files:
                    path = os.path.join(root, n)
                    try:
                        st = os.lstat(path)
                        caps = [] if stat.S_ISLNK(st.st_mode) else os.listxattr(path)
                    except OSError:
                        continue  # (the helper went on, or went)
                    left.append(n)
                    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                        bad.append(f"{n}: a device node")
                    if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o6000:
                        bad.append(f"{n}: mode {st.st_mode & 0o7777:o}")
                    if "security.capability" in caps:
                        bad.append(f"{n}: a file capability")
                    if os.geteuid() == 0 and st.st_uid == 0:
                        bad.append(f"{n}: root's")
        return left, bad

    end = time.time() + 120
    left, bad, holding = [], [], []
    try:
        while time.time() < end and pull.poll() is None:
            roots = places()
            if way == "tar-stream":
                # mkfs.erofs (the helper's child) has begun the image
                mkfs = [k for p in descendants(pull.pid) if comm(p) == "msb-unpack"
                        for k in descendants(p)]
                def begun(path):
                    try:
                        return path.endswith(".erofs") and os.path.getsize(path) > 0
                    except OSError:
                        return False  # (gone: the helper ended)
                if mkfs and any(begun(os.path.join(r, n)) for top in roots
                                for r, _, fs in os.walk(top) for n in fs):
                    left, bad = scan(roots)
                    break
            elif any("suid" in files for r in roots for _, _, files in os.walk(r)):
                left, bad = scan(roots)
                break
            time.sleep(0.002)
        unpackers = [p for p in descendants(pull.pid) if comm(p) == "msb-unpack"]
        assert unpackers, "the pull ended before its layer was half unpacked"
        # As root, the process that waits for the helper's pid namespace
        # (msb forked, never exec'd) holds no descriptor: one it kept (a
        # pipe of a conversion beside it) would hold that one's reader
        # until this one ended.
        for p in descendants(pull.pid):
            if comm(p) == "msb" and any(comm(k) != "msb" for k in descendants(p)):
                try:
                    holding += [f"{p}: fd {fd}" for fd in os.listdir(f"/proc/{p}/fd")]
                except OSError:
                    pass
    finally:
        # msb crashes, and its helper with it.
        pull.kill()
        pull.wait()
    for p in unpackers:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass  # (as root it dies with msb: a pid namespace of its own)
    assert holding == [], holding
    more_left, more_bad = scan([tmp])
    bad += more_bad
    assert bad == [], bad
    # What the kill interrupted was there to check, and a prune takes it
    # away once it is old enough not to be a pull in progress.
    if way == "tar-stream":
        assert [n for n in left if not n.endswith(".erofs") and n != "stage"
                and not n.startswith("conv.")] == [], left
        assert any(n.endswith(".erofs") for n in left), left
    else:
        assert "suid" in left and "null" in left, left
    if os.geteuid() == 0:  # (the helper's tmpfs went with it)
        assert "suid" not in more_left and "null" not in more_left, more_left
    for n in os.listdir(tmp):
        os.utime(os.path.join(tmp, n), (time.time() - 86400,) * 2)
    m.out("image", "prune")
    assert os.listdir(tmp) == [], os.listdir(tmp)
    # Unharmed, the same pull gives the guest all of it (booted elsewhere:
    # test_layers_as_the_image_says); here the store has the disk.
    assert m.out("pull", "-q", f"{registry['host']}/{name}:1").startswith("pulled")


def stand_in_helper(tmp_path, body):
    """A helper that a hostile layer has taken over (MSB_UNPACK points msb
    at it): a shell script run as msb-unpack is, doing @body."""
    p = tmp_path / "evil-unpack"
    p.write_text("#!/bin/sh\n" + body)
    os.chmod(p, 0o755)
    return {"MSB_UNPACK": str(p)}


def test_unpack_helper_taken_over_gets_root_nothing(registry, tmp_path):
    """As root, what the helper (nobody) leaves is taken without trusting
    a name in its directory: an out.erofs that is a symlink to a file of
    root's is refused, not chowned, chmodded and stored through. What it
    leaves running dies with it (a pid namespace of its own), so the pull
    neither hangs on its output nor leaves it behind."""
    if os.geteuid() != 0:
        pytest.skip("the helper drops to nobody only when msb runs as root")
    victim = tmp_path / "victim"
    victim.write_text("root's secret\n")
    os.chmod(victim, 0o600)
    t = build.Tar()
    t.add("f", data=b"x")
    name = unique("evil")
    build.Registry(f"http://{registry['host']}").push(
        name, "1", build.Image([(t.raw(), "gzip")]))
    r = f"{registry['host']}/{name}:1"
    m = Msb(str(tmp_path / "home"))
    p = m("pull", "-q", r, env=stand_in_helper(
        tmp_path, f"ln -s {victim} /tmp/out.erofs\n"))
    assert p.returncode == 1, p
    assert b"cannot take the image msb-unpack made" in p.stderr, p.stderr
    st = os.stat(victim)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), st
    layers = os.path.join(m.home, "layers")
    assert not [n for n in os.listdir(layers)
                if os.path.islink(os.path.join(layers, n))], os.listdir(layers)
    # A process it leaves behind holding the pipe: killed with it.
    marker = str(3000 + int.from_bytes(os.urandom(2), "big") % 1000)
    p = m("pull", "-q", r, timeout=120, env=stand_in_helper(
        tmp_path, f"sleep {marker} &\necho 'broken on purpose'\nexit 1\n"))
    assert p.returncode == 1 and b"broken on purpose" in p.stderr, p
    left = subprocess.run(["pgrep", "-f", f"^sleep {marker}$"],
                          capture_output=True, text=True).stdout
    assert left == "", left
    # Root without CAP_SYS_ADMIN (a container's root) cannot make those
    # namespaces: it is told so, and what to do, and nothing is left.
    if shutil.which("setpriv"):
        p = subprocess.run(["setpriv", "--bounding-set=-sys_admin", MSB,
                            "pull", "-q", r], env=m.env, capture_output=True,
                           timeout=120)
        assert p.returncode == 1, p
        assert b"needs CAP_SYS_ADMIN; without it, pull as an ordinary user" \
            in p.stderr, p.stderr
        assert os.listdir(os.path.join(layers, "tmp")) == []
