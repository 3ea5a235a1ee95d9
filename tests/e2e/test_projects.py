# SPDX-License-Identifier: Apache-2.0
"""Projects (docs/projects.md): Sandboxfiles read, checked and resolved by
'msb project'. These boot nothing: the file's format, its errors,
discovery, the starter file and the JSON Schema."""

import json
import os
import subprocess

import pytest

from conftest import MSB, ROOT

SEEDS = """\
name: my-project

volumes:
  data: { size: 10G }

sandboxes:
  api:
    image: python:3.11
    volumes: [./src:/app, data:/data]
    ports: [8000:8000]
    secrets: [OPENAI_API_KEY]
    network:
      allow: [api.openai.com]
      dns: { rebind_protection: strict }
    scripts:
      start: python app.py
      test: pytest

  worker:
    from_snapshot: ml-ready
    memory: 2G
    depends_on: [api]
"""


def run(msb, *args, cwd=None, check=None):
    p = subprocess.run([MSB, *args], capture_output=True, env=msb.env,
                       cwd=cwd, timeout=600)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stdout[-2000:],
                                       p.stderr[-2000:])
    return p


def test_seeds_example_resolves(msb, tmp_path):
    (tmp_path / "Sandboxfile").write_text(SEEDS)
    p = run(msb, "project", "config", cwd=tmp_path, check=0)
    c = json.loads(p.stdout)
    assert c["name"] == "my-project"
    assert c["file"] == str(tmp_path / "Sandboxfile")
    assert c["order"] == ["api", "worker"]
    assert c["volumes"]["data"] == {"name": "my-project-data",
                                    "size_mib": 10240, "external": False}
    api = c["sandboxes"]["api"]
    assert api["name"] == "my-project-api"
    assert api["volumes"][0] == {"type": "host", "source": str(tmp_path / "src"),
                                 "target": "/app", "readonly": False}
    assert api["volumes"][1]["source"] == "my-project-data"
    assert api["ports"] == ["8000:8000"]
    # a bare secret: the host's variable of that name, bound to network.allow
    assert api["secrets"] == [{"name": "OPENAI_API_KEY",
                               "env": "OPENAI_API_KEY",
                               "hosts": "api.openai.com"}]
    assert api["command"] == ["sh", "-c", "python app.py"]
    assert len(api["hash"]) == 64
    w = c["sandboxes"]["worker"]
    assert w["from_snapshot"] == "ml-ready" and w["memory_mib"] == 2048
    assert w["depends_on"] == [{"sandbox": "api", "condition": "started"}]


def test_errors_name_file_line_and_column(msb, tmp_path):
    f = tmp_path / "Sandboxfile"
    f.write_text("sandboxes:\n  api:\n    memory: lots\n")
    p = run(msb, "project", "config", cwd=tmp_path, check=1)
    assert p.stderr.decode() == (
        f"msb: {f}:3:13: sandboxes.api.memory: invalid memory size 'lots': "
        "use a number with M or G, e.g. 512M or 1G\n"), p.stderr
    assert p.stdout == b""
    f.write_text("sandboxes:\n  api:\n    imgae: python\n")
    p = run(msb, "project", "-f", str(f), "config", check=1)
    assert f"{f}:3:5: sandboxes.api: unknown key 'imgae' (did you mean " \
        "'image'?)" in p.stderr.decode(), p.stderr


def test_discovery_from_below_and_f(msb, tmp_path):
    (tmp_path / "Sandboxfile").write_text("name: up-here\nsandboxes: {a: }\n")
    sub = tmp_path / "x" / "y"
    sub.mkdir(parents=True)
    c = json.loads(run(msb, "project", "config", cwd=sub, check=0).stdout)
    assert c["name"] == "up-here"
    assert c["sandboxes"]["a"]["name"] == "up-here-a"
    other = tmp_path / "other.yaml"
    other.write_text("sandboxes: {b: }\n")
    c = json.loads(run(msb, "project", "--file", str(other), "config",
                       cwd=sub, check=0).stdout)
    # no name: the directory's
    assert c["sandboxes"]["b"]["name"] == f"{tmp_path.name.lower()}-b"
    p = run(msb, "project", "config", cwd="/", check=1)
    assert b"no Sandboxfile in the current directory or any directory " \
        b"above it" in p.stderr, p.stderr
    # a key of the file whose sandbox was never made, and one not in it
    for verb in (["exec", "a", "--", "true"], ["run", "a", "x"]):
        p = run(msb, "project", *verb, cwd=sub, check=125)
        assert b"sandbox 'a' of " in p.stderr and \
            b"is not up: 'msb project up a' makes and starts it" in p.stderr, p.stderr
    p = run(msb, "project", "exec", "zz", "--", "true", cwd=sub, check=125)
    assert b"no sandbox 'zz' in " in p.stderr, p.stderr


def test_init_writes_a_starter_that_loads(msb, tmp_path):
    d = tmp_path / "My App"
    d.mkdir()
    p = run(msb, "project", "init", cwd=d, check=0)
    assert p.stdout == f"wrote Sandboxfile (project myapp)\n".encode()
    text = (d / "Sandboxfile").read_text()
    assert text.startswith("# Sandboxfile: the sandboxes of project myapp")
    c = json.loads(run(msb, "project", "config", cwd=d, check=0).stdout)
    assert c["order"] == ["web", "client"]
    # never over a file, unless told
    p = run(msb, "project", "init", "--name", "x", cwd=d, check=1)
    assert b"--force overwrites it" in p.stderr
    run(msb, "project", "init", "--name", "other", "--force", cwd=d, check=0)
    assert "name: other\n" in (d / "Sandboxfile").read_text()


def test_schema_accepts_the_seeds_and_the_starter(msb, tmp_path):
    """docs/sandboxfile.schema.json, for editors, takes what msb takes."""
    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")
    with open(os.path.join(ROOT, "docs", "sandboxfile.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    run(msb, "project", "init", cwd=tmp_path, check=0)
    for text in (SEEDS, (tmp_path / "Sandboxfile").read_text()):
        jsonschema.validate(yaml.safe_load(text), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load("sandboxes: {a: {imgae: x}}"),
                            schema)


def test_project_usage(msb):
    out = run(msb, "project", "--help", check=0).stdout.decode()
    assert out.startswith("Usage: msb project [-f FILE] COMMAND")
    out = run(msb, "project", "config", "--help", check=0).stdout.decode()
    assert out.startswith("Usage: msb project [-f FILE] config")
    for args in (["project"], ["project", "--bogus"], ["project", "nosuch"],
                 ["project", "config", "--format", "table"],
                 ["project", "config", "extra"]):
        p = run(msb, *args, check=2)
        assert b"See 'msb project" in p.stderr, (args, p.stderr)


# ---- on real guests ---------------------------------------------------------
#
# Boots: the seeds' project (api, a throwaway sandbox the snapshot is taken
# of, worker; worker again when its definition changes; one 'run --rm'
# after down), and one sandbox whose health check never passes.

import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))

from conftest import unique  # noqa: E402

REGISTRY_BIN = shutil.which("docker-registry")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def python_ref():
    """The seeds' python:3.11, from a registry on 127.0.0.1: Debian's
    python3 (tests/images/debian.py) pushed as python:3.11, its WorkingDir
    /app (as an application image sets it: the seeds' 'python app.py'
    runs there)."""
    if not REGISTRY_BIN:
        pytest.skip("docker-registry not installed (./setup --test)")
    import build
    import debian
    try:
        im = build.Image([(debian.layer(), "zstd"),
                          (debian.xattr_layer(), "gzip")],
                         dict(debian.CONFIG, WorkingDir="/app"))
    except debian.Unavailable as e:
        pytest.skip(f"Debian packages for the python3 image unavailable: {e}")
    root = tempfile.mkdtemp(prefix="msb-proj-registry-")
    port = free_port()
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {root}/data\nhttp:\n"
                f"  addr: 127.0.0.1:{port}\n")
    p = subprocess.Popen([REGISTRY_BIN, "serve", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        build.Registry(f"http://127.0.0.1:{port}").push("python", "3.11", im)
        yield f"127.0.0.1:{port}/python:3.11"
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(root, ignore_errors=True)


KEY = "sk-proj-" + os.urandom(8).hex()


class Project:
    def __init__(self, msb, d, name):
        self.msb, self.dir, self.name = msb, d, name

    def __call__(self, *args, check=None):
        p = subprocess.run([MSB, "project", *args], capture_output=True,
                           env=dict(self.msb.env, OPENAI_API_KEY=KEY),
                           cwd=self.dir, timeout=600)
        if check is not None:
            assert p.returncode == check, (args, p.returncode,
                                           p.stdout[-3000:], p.stderr[-3000:])
        return p

    def events(self, *args):
        p = self("up", "-d", "--format", "json", *args, check=0)
        return [json.loads(l) for l in p.stdout.decode().splitlines()]

    def ps(self):
        return {e["sandbox"]: e for e in
                json.loads(self("ps", "--format", "json", check=0).stdout)}


@pytest.fixture(scope="module")
def seeds(msb, python_ref, tmp_path_factory):
    """The seeds' example, as written but for the image (from the local
    registry), python3 for python, the port (a free one) and unique names;
    ml-ready is made first, of a sandbox that mounts the project's data."""
    d = tmp_path_factory.mktemp("seeds")
    name, snap, port = unique("myproj"), unique("ml-ready"), free_port()
    (d / "src").mkdir()
    (d / "src" / "index.html").write_text("hello from ./src\n")
    # python3-minimal has no http.server: a file server on a socket
    (d / "src" / "app.py").write_text(
        "import socket\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('', 8000))\n"
        "s.listen(8)\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    path = (c.recv(4096).decode().split(' ') + ['', '/'])[1]\n"
        "    try:\n"
        "        body, st = open('/app' + path, 'rb').read(), b'200 OK'\n"
        "    except OSError:\n"
        "        body, st = b'no\\n', b'404 Not Found'\n"
        "    c.sendall(b'HTTP/1.0 ' + st + b'\\r\\nContent-Length: ' +\n"
        "              str(len(body)).encode() + b'\\r\\n\\r\\n' + body)\n"
        "    c.close()\n")
    text = (SEEDS.replace("my-project", name)
            .replace("python:3.11", python_ref)
            .replace("python app.py", "python3 app.py")
            .replace("[8000:8000]", f"[{port}:8000]")
            .replace("ml-ready", snap))
    (d / "Sandboxfile").write_text(text)
    p = Project(msb, d, name)
    p.port, p.snap = port, snap
    yield p
    p("down", "--volumes", "--timeout", "0")
    msb("snapshot", "rm", "-f", snap)
    msb("volume", "rm", "-f", f"{name}-data")


def get(port, path, timeout=60):
    end = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                        timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.3)


def test_seeds_example_end_to_end(msb, seeds):
    p = seeds
    # api first (worker's snapshot is made of a sandbox mounting data)
    ev = p.events("api")
    assert [(e["event"], e["name"]) for e in ev] == [
        ("volume created", f"{p.name}-data"),
        ("creating", f"{p.name}-api"), ("created", f"{p.name}-api")], ev
    base = unique("base")
    msb("run", "--name", base, "-d", "-v", f"{p.name}-data:/data", check=0)
    msb("snapshot", base, "--name", p.snap, check=0)
    msb("rm", "-f", base, check=0)
    # up: api is left as it is, worker restored from the snapshot
    ev = p.events()
    assert [(e["sandbox"], e["event"]) for e in ev] == [
        ("api", "up-to-date"), ("worker", "restoring"),
        ("worker", "restored")], ev
    assert ev[2]["detail"] == "booted from the snapshot's disk", ev
    # api serves ./src on the published port, with its script as written
    assert get(p.port, "/index.html") == "hello from ./src\n"
    # the secret: a placeholder in the guest, bound to network.allow
    out = p("exec", "api", "--", "sh", "-c", "echo $OPENAI_API_KEY",
            check=0).stdout.decode()
    assert out.startswith("msb_placeholder_") and KEY not in out, out
    info = json.loads(msb.out("inspect", f"{p.name}-api"))
    assert info["config"]["secrets"][0]["hosts"] == ["api.openai.com"], \
        info["config"]["secrets"]
    # both see data: what api writes, worker reads
    p("exec", "api", "--", "sh", "-c", "echo from-api > /data/note", check=0)
    out = p("exec", "worker", "--", "cat", "/data/note", check=0)
    assert out.stdout == b"from-api\n"
    w = json.loads(msb.out("inspect", f"{p.name}-worker"))
    assert w["memory_mib"] == 2048 and w["config"]["from_snapshot"] == p.snap, w
    # scripts: 'test' is pytest, which this image does not have
    r = p("run", "api", "test")
    assert r.returncode == 127, r
    assert {k: (v["status"], v["state"]) for k, v in p.ps().items()} == {
        "api": ("running", "current"), "worker": ("running", "current")}


def test_up_twice_changes_nothing(msb, seeds):
    p = seeds
    before = {n: json.loads(msb.out("inspect", f"{p.name}-{n}"))["pid"]
              for n in ("api", "worker")}
    ev = p.events()
    assert [(e["sandbox"], e["event"]) for e in ev] == [
        ("api", "up-to-date"), ("worker", "up-to-date")], ev
    after = {n: json.loads(msb.out("inspect", f"{p.name}-{n}"))["pid"]
             for n in ("api", "worker")}
    assert before == after


def test_an_edit_recreates_only_what_it_changes(msb, seeds):
    p = seeds
    f = p.dir / "Sandboxfile"
    f.write_text(f.read_text().replace("memory: 2G", "memory: 1G"))
    assert {k: v["state"] for k, v in p.ps().items()} == {
        "api": "current", "worker": "changed"}
    api_pid = json.loads(msb.out("inspect", f"{p.name}-api"))["pid"]
    ev = p.events()
    assert [(e["sandbox"], e["event"]) for e in ev] == [
        ("api", "up-to-date"), ("worker", "recreating"),
        ("worker", "recreated")], ev
    assert json.loads(msb.out("inspect", f"{p.name}-api"))["pid"] == api_pid
    assert json.loads(msb.out("inspect", f"{p.name}-worker"))[
        "memory_mib"] == 1024
    # the volume outlived the worker's remake
    assert p("exec", "worker", "--", "cat", "/data/note",
             check=0).stdout == b"from-api\n"


def test_down_keeps_volumes_unless_asked(msb, seeds):
    p = seeds
    out = p("down", "--timeout", "0", check=0).stdout.decode().splitlines()
    # reverse order: worker before api
    assert [l.split()[:2] for l in out if "removed" in l] == [
        ["worker", "removed"], ["api", "removed"]], out
    assert {k: v["state"] for k, v in p.ps().items()} == {
        "api": "missing", "worker": "missing"}
    names = msb.out("ps", "-a", "-q").split()
    assert f"{p.name}-api" not in names and f"{p.name}-worker" not in names
    # the named volume and its files are kept for the next up
    assert msb.out("run", "--rm", "-v", f"{p.name}-data:/d", "--", "cat",
                   "/d/note") == "from-api\n"
    out = p("down", "--volumes", check=0).stdout.decode()
    assert f"volume {p.name}-data removed" in " ".join(out.split()), out
    assert f"{p.name}-data" not in msb.out("volume", "ls", "-q").split()


def test_failing_dependency_stops_up(msb, tmp_path):
    """a's health check never passes: b, which waits for it, is never
    made, and the error names a with its log's last lines. a's command
    fails too, and its restart policy starts it again."""
    name = unique("fail")
    (tmp_path / "Sandboxfile").write_text(f"""\
name: {name}
sandboxes:
  a:
    command: echo a-ran; exit 3
    restart: on-failure
    healthcheck: {{ test: "false", interval: 200ms, retries: 3 }}
  b:
    depends_on: {{ a: {{ condition: healthy }} }}
""")
    p = Project(msb, tmp_path, name)
    try:
        r = p("up", "-d")
        assert r.returncode == 1, r
        err = r.stderr.decode()
        assert f"sandbox a ({name}-a) did not come up" in err, err
        assert "its healthcheck did not pass (3 failures; the last: exit " \
            "status 1" in err, err
        assert f"the last lines of its log ('msb logs {name}-a')" in err, err
        assert {k: v["state"] for k, v in p.ps().items()} == {
            "a": "current", "b": "missing"}
        # on-failure: the command ran again, spaced 1 s, 2 s, ...
        end = time.time() + 30
        while time.time() < end:
            log = msb.out("logs", f"{name}-a")
            if log.count("a-ran") >= 2:
                break
            time.sleep(0.5)
        assert log.count("a-ran") >= 2, log
        assert "starting it again in 1 s (restart: on-failure)" in log, log
        cmd = json.loads(msb.out("inspect", f"{name}-a"))["runtime"]["command"]
        assert cmd.get("restarts", 0) >= 1, cmd
    finally:
        p("down", "--timeout", "0")


def test_sync_pushes_when_stopped(msb, python_ref, tmp_path):
    """sync: true, as msb run --sync: refused before anything is made
    without a remote; with one (a registry on 127.0.0.1), the sandbox's
    record syncs, and stop pushes it there once it is down."""
    reg = python_ref.split("/")[0]
    name = unique("syncp")
    (tmp_path / "Sandboxfile").write_text(
        f"name: {name}\nsandboxes:\n  box:\n    sync: true\n")
    p = Project(msb, tmp_path, name)
    r = p("up", "-d")
    assert r.returncode == 1, r
    assert b"sandbox box has sync: true, and there is no remote" in r.stderr, r
    assert p.ps()["box"]["state"] == "missing"
    env = dict(msb.env, MSB_REMOTE=f"{reg}/projsync")

    def project(*args):
        return subprocess.run([MSB, "project", *args], capture_output=True,
                              env=env, cwd=tmp_path, timeout=600)
    try:
        r = project("up", "-d")
        assert r.returncode == 0, r
        cfg = json.loads(msb.out("inspect", f"{name}-box"))["config"]
        assert cfg.get("sync") is True, cfg
        r = project("stop", "--format", "json")
        assert r.returncode == 0, r
        stopped = [json.loads(l) for l in r.stdout.decode().splitlines()
                   if json.loads(l)["event"] == "stopped"]
        want = f"pushed to {reg}/projsync/{name}-box:latest"
        assert [e["detail"] for e in stopped] == [want], r.stdout
        with urllib.request.urlopen(
                f"http://{reg}/v2/projsync/{name}-box/tags/list",
                timeout=30) as t:
            assert json.load(t)["tags"] == ["latest"]
        # down pushes a running one before it removes it
        assert project("up", "-d").returncode == 0
        r = project("down", "--format", "json")
        assert r.returncode == 0, r
        removed = [json.loads(l) for l in r.stdout.decode().splitlines()
                   if json.loads(l)["event"] == "removed"]
        assert [e["detail"] for e in removed] == [want], r.stdout
    finally:
        project("down", "--timeout", "0")


def test_foreground_up_waits_for_health_follows_logs_and_stops(msb, tmp_path):
    """up without -d: b waits for a's healthcheck to pass (it does after
    a while), then both logs are followed, each line after its key, until
    Ctrl-C stops them, b before a; their logs stay readable."""
    name = unique("fg")
    (tmp_path / "Sandboxfile").write_text(f"""\
name: {name}
sandboxes:
  a:
    command: sleep 1; touch /tmp/ready; while true; do echo tick-a; sleep 1; done
    healthcheck: {{ test: test -f /tmp/ready, interval: 300ms, retries: 100 }}
  b:
    depends_on: {{ a: {{ condition: healthy }} }}
    command: echo hello-b
""")
    p = Project(msb, tmp_path, name)
    up = subprocess.Popen([MSB, "project", "up"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=msb.env, cwd=tmp_path)
    try:
        lines, end = [], time.time() + 300
        while time.time() < end:
            line = up.stdout.readline().decode()
            assert line, "up ended early:\n" + "".join(lines)
            lines.append(line)
            seen = "".join(lines)
            if "b   | hello-b" in seen and "a   | tick-a" in seen:
                break
        steps = [tuple(l.split()[:2]) for l in lines if "|" not in l]
        order = [s for s in steps if s in {("a", "created"), ("a", "healthy"),
                                            ("b", "creating")}]
        assert order == [("a", "created"), ("a", "healthy"),
                         ("b", "creating")], lines
        assert ("a", "waiting") in steps, lines
        up.send_signal(signal.SIGINT)
        rest = up.communicate(timeout=120)[0].decode().splitlines()
        stops = [tuple(l.split()[:2]) for l in rest if "stopped" in l]
        assert stops == [("b", "stopped"), ("a", "stopped")], rest
        assert {k: v["status"] for k, v in p.ps().items()} == {
            "a": "stopped", "b": "stopped"}
        tail = p("logs", "--tail", "1", "b", check=0).stdout.decode()
        assert tail.startswith("b   | ") and len(tail.splitlines()) == 1, tail
    finally:
        if up.poll() is None:
            up.kill()
        p("down", "--timeout", "0")
