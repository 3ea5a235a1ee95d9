# SPDX-License-Identifier: Apache-2.0
"""The structs the SDK lays out by hand (microsandbox._lib) against msb.h,
field by field: a C program prints offsetof() of every field ctypes
names, and each must match. msb_abi_sizeof() catches a struct that grew
when the library loads; this catches a field moved or retyped at the same
size, before anyone runs it. No sandbox is booted."""

import ctypes
import os
import shutil
import subprocess

import pytest

from .pysdk import BUILD, ROOT
from microsandbox import _lib


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
