# SPDX-License-Identifier: Apache-2.0
"""The binding itself, with no sandbox booted: the structs the SDK lays out
by hand (microsandbox._lib) against msb.h, field by field (a C program
prints offsetof() of every field ctypes names, and each must match:
msb_abi_sizeof() catches a struct that grew when the library loads, this
a field moved or retyped at the same size), and the error classes against
the library's codes."""

import ctypes
import os
import re
import shutil
import subprocess

import pytest

from .pysdk import BUILD, ROOT
from microsandbox import _lib, errors


def test_struct_layouts_match_msb_h(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    lines, want = [], []
    for cname, struct in _lib.STRUCTS.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof({cname}));')
        want.append(f"{cname} {ctypes.sizeof(struct)}")
        for fname, _ in struct._fields_:
            lines.append(f'printf("{cname}.{fname} %zu\\n", '
                         f'offsetof({cname}, {fname}));')
            want.append(f"{cname}.{fname} {getattr(struct, fname).offset}")
    src = tmp_path / "abi.c"
    src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include \"msb.h\"\n"
                   "int main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = tmp_path / "abi"
    p = subprocess.run([cc, "-I", os.path.join(ROOT, "include"), "-o", str(exe),
                        str(src)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr  # a field ctypes names that C lacks
    got = subprocess.run([str(exe)], capture_output=True, text=True,
                         check=True).stdout.split("\n")[:-1]
    bad = [f"{w} (C: {g.split()[1]})" for w, g in zip(want, got) if w != g]
    assert not bad, "ctypes layouts differ from msb.h: " + "; ".join(bad)


def test_library_sizes_match():
    """What the loader checks, against the build's libmsb."""
    lib = _lib.lib()
    assert os.path.realpath(lib.path) == os.path.realpath(
        os.path.join(BUILD, "lib", "libmsb.so.0"))
    for cname, struct in _lib.STRUCTS.items():
        assert lib.msb_abi_sizeof(cname.encode()) == ctypes.sizeof(struct), cname


def test_every_public_struct_has_its_size():
    """A struct added to msb.h is in msb_abi_sizeof()'s table (src/lib/abi.c)
    too, so a binding can check it."""
    with open(os.path.join(ROOT, "include", "msb.h")) as f:
        names = re.findall(r"^typedef struct (msb_\w+) \{", f.read(), re.M)
    assert len(names) > 15
    lib = _lib.lib()
    missing = [n for n in names if not lib.msb_abi_sizeof(n.encode())]
    assert not missing, f"not in src/lib/abi.c: {missing}"


def test_every_library_error_has_its_class():
    """Each MSB_E_* code raises an exception class of its own, carrying the
    code, its name and the message."""
    lib = _lib.lib()
    seen = set()
    for code in [*range(-1, -256, -1), *range(-1000, -1100, -1)]:
        name = lib.msb_error_name(code).decode()
        if not name.startswith("MSB_E_") or name == "MSB_E_UNKNOWN":
            continue
        seen.add(name)
        e = errors.from_code(code, name, "what happened")
        assert type(e) is not errors.MicrosandboxError, f"{name} has no class"
        assert (e.code, e.name, str(e)) == (code, name, "what happened")
        # what the SDK raises by itself carries the same
        assert (type(e)._name, type(e)._code) == (name, code)
    assert {"MSB_E_NOT_FOUND", "MSB_E_DAMAGED", "MSB_E_POLICY"} <= seen
    # errno values from the guest: their own classes or a FileError
    e = errors.from_code(-28, "ENOSPC", "full")
    assert isinstance(e, errors.FileError) and e.errno == 28


def test_host_dir_cache_mode_reaches_the_config():
    """HostDir(cache=, cache_timeout=) fills msb_volume's cache fields (no
    sandbox booted), and a bad mode or timeout is refused."""
    from microsandbox import HostDir, errors as e
    from microsandbox.config import build
    c = build("x", volumes={"/a": HostDir(".", cache="always",
                                          cache_timeout=2.5),
                            "/b": HostDir(".", cache="never"),
                            "/c": "."})
    vols = c.cfg.volumes
    assert (vols[0].cache, vols[0].cache_timeout_ms) == (3, 2500)
    assert (vols[1].cache, vols[1].cache_timeout_ms) == (1, 0)
    assert (vols[2].cache, vols[2].cache_timeout_ms) == (0, 0)
    for bad in (HostDir(".", cache="sometimes"),
                HostDir(".", cache_timeout=86401),
                HostDir(".", cache_timeout="1s")):
        with pytest.raises(e.InvalidArgument):
            build("x", volumes={"/a": bad})
