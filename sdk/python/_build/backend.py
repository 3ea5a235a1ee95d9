# SPDX-License-Identifier: Apache-2.0
"""A PEP 517 build backend for this pure-Python package, in the tree so
that `pip install ./sdk/python` needs nothing from an index: the package is
a few Python modules and a wheel is a zip file with its metadata
(PEP 427, PEP 566). Editable installs (PEP 660) point a .pth at src/."""

import base64
import hashlib
import io
import os
import tarfile
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "py3-none-any"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _dist(p):
    return p["name"].replace("-", "_")


def _metadata(p):
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}",
             f"Version: {p['version']}", f"Summary: {p['description']}",
             f"Requires-Python: {p['requires-python']}",
             f"License: {p['license']['text']}"]
    for c in p.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    readme = os.path.join(ROOT, p.get("readme", "README.md"))
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def _hash(data):
    d = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + d.decode()


def _wheel(wheel_directory, files):
    """files: (archive name, bytes) of the package; metadata is added."""
    p = _project()
    dist = f"{_dist(p)}-{p['version']}"
    info = f"{dist}.dist-info"
    files = list(files) + [
        (f"{info}/METADATA", _metadata(p).encode()),
        (f"{info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: microsandbox-backend\n"
                           f"Root-Is-Purelib: true\nTag: {TAG}\n").encode()),
        (f"{info}/top_level.txt", b"microsandbox\n"),
    ]
    record = "".join(f"{n},{_hash(d)},{len(d)}\n" for n, d in files)
    record += f"{info}/RECORD,,\n"
    name = f"{dist}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for n, d in files:
            z.writestr(zipfile.ZipInfo(n, (2020, 1, 1, 0, 0, 0)), d)
        z.writestr(f"{info}/RECORD", record)
    return name


def _package_files():
    src = os.path.join(ROOT, "src")
    for d, _, names in sorted(os.walk(os.path.join(src, "microsandbox"))):
        for n in sorted(names):
            if n.endswith((".py", ".typed")):
                path = os.path.join(d, n)
                with open(path, "rb") as f:
                    yield os.path.relpath(path, src), f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    pth = (os.path.join(ROOT, "src") + "\n").encode()
    return _wheel(wheel_directory, [("microsandbox_editable.pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = f"{_dist(p)}-{p['version']}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ("pyproject.toml", "README.md", "_build/backend.py"):
            t.add(os.path.join(ROOT, rel), f"{base}/{rel}")
        for rel, data in _package_files():
            ti = tarfile.TarInfo(f"{base}/src/{rel}")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        meta = _metadata(p).encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(meta)
        t.addfile(ti, io.BytesIO(meta))
    return name
