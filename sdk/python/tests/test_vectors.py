# SPDX-License-Identifier: Apache-2.0
"""The shared SDK test vectors (tests/sdk/vectors.json) through the Python
SDK: the same cases the C runner (build/tests/sdk-vectors) and every other
SDK run, with the same results."""

import base64
import json

import pytest

from .pysdk import VECTORS, run
from microsandbox import ExecTimeout, MicrosandboxError, Sandbox

V = json.load(open(VECTORS))


def _bytes(o, k):
    if k in o:
        return o[k].encode()
    if k + "_b64" in o:
        return base64.b64decode(o[k + "_b64"])
    return None


@pytest.mark.parametrize("case", V["exec"], ids=[c["name"] for c in V["exec"]])
def test_exec_vector(shared, case):
    e = case["expect"]

    async def main():
        if "command" in case:
            from microsandbox.process import argv_of
            assert argv_of(case["command"]) == case["argv"]
        kw = dict(env=case.get("env"), cwd=case.get("cwd"), user=case.get("user"))
        stdin = _bytes(case, "stdin")
        timeout = case.get("timeout_ms", 0) / 1000 or None
        try:
            r = await shared.exec(case.get("command", case["argv"]), stdin=stdin,
                                  timeout=timeout, **kw)
        except ExecTimeout as x:
            assert e.get("timed_out"), "timed out unexpectedly"
            r = x.result
        assert r.exit_code == e["exit_code"], (r.exit_code, r.stderr)
        for k in ("stdout", "stderr"):
            want = _bytes(e, k)
            if want is not None:
                assert getattr(r, k + "_bytes") == want, k
        if "stdout_size" in e:
            assert len(r.stdout_bytes) == e["stdout_size"]
        if "stderr_contains" in e:
            assert e["stderr_contains"] in r.stderr
        if "signal" in e:
            assert r.signal == e["signal"]
        assert r.timed_out == e.get("timed_out", False)
    run(main())


def test_file_vectors(shared):
    f = V["files"]

    async def main():
        fs = shared.fs
        await fs.remove(f["dir"], recursive=True, missing_ok=True)
        await fs.mkdir(f["dir"], parents=True)
        for c in f["write"]:
            data = _bytes(c, "content")
            await fs.write(c["path"], data, mode=c.get("mode"),
                           parents=c.get("parents", False))
            assert await fs.read(c["path"]) == data, c["name"]
            st = await fs.stat(c["path"])
            x = c["expect"]
            assert (st.size, st.type, st.mode) == (x["size"], x["type"], x["mode"]), c["name"]
        lst = f["list"]
        assert [e.name for e in await fs.list(lst["path"])] == lst["names"]
        assert [e.name for e in await fs.list(lst["path"], recursive=True)] == \
            lst["recursive_names"]
        m = f["mkdir"]
        await fs.mkdir(m["path"], parents=m["parents"])
        st = await fs.stat(m["path"])
        assert (st.type, st.mode) == (m["expect"]["type"], m["expect"]["mode"])
        rn = f["rename"]
        await fs.rename(rn["from"], rn["to"])
        assert await fs.read_text(rn["to"]) == rn["content"]
        assert not await fs.exists(rn["from"])
        await fs.remove(f["remove"]["path"], recursive=f["remove"]["recursive"])
        assert not await fs.exists(f["remove"]["path"])
    run(main())


@pytest.mark.parametrize("case", V["errors"], ids=[c["name"] for c in V["errors"]])
def test_error_vector(shared, case):
    async def main():
        op, fs = case["op"], shared.fs
        try:
            if op == "exec":
                res = await shared.exec(case["argv"], user=case.get("user"))
            elif op == "read":
                res = await fs.read(case["path"], user=case.get("user"))
            elif op == "stat":
                res = await fs.stat(case["path"])
            elif op == "exists":
                res = await fs.exists(case["path"])
            elif op == "mkdir":
                # exclusive: neither parents nor exist_ok
                res = await fs.mkdir(case["path"])
            elif op == "write":
                res = await fs.write(case["path"], case["content"],
                                     user=case.get("user"))
            elif op == "remove":
                res = await fs.remove(case["path"])
            elif op == "open":
                res = await Sandbox.get(case["sandbox"])
            else:
                pytest.fail(f"unknown op {op}")
        except MicrosandboxError as e:
            assert "error" in case, f"unexpected {e.name}: {e}"
            assert e.name == case["error"], (e.name, str(e))
            return
        assert "error" not in case, f"wanted {case['error']}, got {res!r}"
        assert res == case["result"]
    run(main())
