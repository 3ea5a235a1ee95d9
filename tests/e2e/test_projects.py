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
