# SPDX-License-Identifier: Apache-2.0
"""`pip install ./sdk/python` with no index at all (offline), into a fresh
virtual environment, and the installed package driving a sandbox; a clear
error when libmsb is missing."""

import os
import subprocess
import sys

import pytest

from .pysdk import BUILD, SDK


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("venv")
    p = subprocess.run([sys.executable, "-m", "venv", str(d)],
                       capture_output=True, text=True)
    if p.returncode:
        pytest.skip(f"no venv module here ({p.stderr.strip()[-200:]}): "
                    "install python3-venv")
    p = subprocess.run([str(d / "bin" / "pip"), "install", "--no-index",
                        "--no-cache-dir", SDK], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return d


def test_installed_package_runs(venv, shared):
    code = ("import asyncio, microsandbox as m\n"
            "async def main():\n"
            f"    sb = await m.Sandbox.get({shared.name!r})\n"
            "    print((await sb.exec('echo installed')).stdout, end='')\n"
            "    print(m.library_path())\n"
            "asyncio.run(main())\n")
    env = dict(os.environ)
    env.pop("MSB_LIB", None)
    # found through pkg-config, as an installed libmsb would be
    env["PKG_CONFIG_PATH"] = os.path.join(BUILD, "lib", "pkgconfig")
    p = subprocess.run([str(venv / "bin" / "python"), "-c", code],
                       capture_output=True, text=True, env=env, cwd="/",
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0] == "installed"
    assert os.path.realpath(out[1]) == os.path.realpath(
        os.path.join(BUILD, "lib", "libmsb.so.0"))


def test_missing_library_is_a_clear_error(venv):
    code = ("import asyncio, microsandbox as m\n"
            "try:\n"
            "    asyncio.run(m.Sandbox.get('x'))\n"
            "except m.LibraryNotFound as e:\n"
            "    print(e)\n")
    env = dict(os.environ, MSB_LIB="/nonexistent/libmsb.so.0")
    p = subprocess.run([str(venv / "bin" / "python"), "-c", code],
                       capture_output=True, text=True, env=env, cwd="/",
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert "libmsb, the microsandbox C library, was not found" in p.stdout
    assert "MSB_LIB" in p.stdout and "/nonexistent/libmsb.so.0" in p.stdout
