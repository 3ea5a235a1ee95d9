# SPDX-License-Identifier: Apache-2.0
"""A Sandboxfile project through the SDK: a bad file's error says where,
then one small project (one sandbox of the built-in image) is brought up,
listed, driven by key (exec, a script, its logs), brought up again (nothing
changes), restarted, stopped and brought down. Two boots in all."""

import pytest

from .pysdk import run, unique
from microsandbox import (InvalidArgument, NotFound, Project, Sandbox,
                          SandboxfileError, blocking)


def test_project_up_exec_run_logs_restart_stop_down(home, tmp_path):
    name = unique("pyproj")
    f = tmp_path / "Sandboxfile"
    f.write_text(f"name: {name}\n"
                 "sandboxes:\n"
                 "  web:\n"
                 "    env: { GREETING: hello }\n"
                 "    scripts:\n"
                 "      greet: echo \"$GREETING from web\"\n"
                 "      fail: exit 3\n")

    async def main():
        with pytest.raises(SandboxfileError) as e:
            await Project.parse("sandboxes:\n  web:\n    memroy: 1G\n",
                                str(tmp_path / "Bad"))
        assert (e.value.file, e.value.line, e.value.column) == \
            (str(tmp_path / "Bad"), 3, 5), e.value
        assert "did you mean 'memory'" in str(e.value)
        assert isinstance(e.value, InvalidArgument)
        with pytest.raises(NotFound) as e:
            await Project.load(tmp_path / "Missing")
        assert str(tmp_path / "Missing") in str(e.value)

        p = await Project.load(f)
        assert (p.name, p.file) == (name, str(f))
        assert p.sandboxes == {"web": f"{name}-web"}
        assert p.config()["sandboxes"]["web"]["env"] == ["GREETING=hello"]
        assert [(x.key, x.status, x.state) for x in await p.ps()] == \
            [("web", "missing", "missing")]

        events = []
        await p.up(progress=events.append)
        assert ("web", "created") in [(e.sandbox, e.what) for e in events]
        [e] = await p.ps()
        assert (e.name, e.status, e.state) == (f"{name}-web", "running", "current")

        r = await p.exec("web", "echo $GREETING", shell=True)
        assert r.stdout == "hello\n"
        assert (await p.run("web", "greet")).stdout == "hello from web\n"
        assert (await p.run("web", "fail")).exit_code == 3
        with pytest.raises(NotFound):
            await p.run("web", "no-such-script")
        with pytest.raises(InvalidArgument):
            await p.exec("nope", "true")
        assert "ready in" in await p.logs("web")
        assert len((await p.logs("web", tail=2)).splitlines()) == 2

        events.clear()
        await p.up(progress=events.append)      # nothing changed
        assert [(e.sandbox, e.what) for e in events] == [("web", "up-to-date")]

        await p.restart()
        assert (await p.exec("web", "echo $GREETING", shell=True)).stdout == "hello\n"
        await p.stop()
        assert [(x.status, x.state) for x in await p.ps()] == [("stopped", "current")]

        await p.down()
        assert [x.status for x in await p.ps()] == ["missing"]
        with pytest.raises(NotFound):
            await Sandbox.get(f"{name}-web")
    run(main())


def test_blocking_project(home, tmp_path):
    """microsandbox.blocking.Project: the same calls, no event loop (none
    of these boots)."""
    name = unique("pyblk")
    f = tmp_path / "Sandboxfile"
    f.write_text(f"name: {name}\nsandboxes:\n  a:\n  b: {{depends_on: [a]}}\n")
    with pytest.raises(SandboxfileError) as e:
        blocking.Project.parse("sandboxes:\n  a: {cpus: lots}\n", "X")
    assert (e.value.file, e.value.line, e.value.column) == ("X", 2, 13)
    p = blocking.Project.load(f)
    assert p.sandboxes == {"a": f"{name}-a", "b": f"{name}-b"}
    assert p.config()["order"] == ["a", "b"]
    assert [(x.key, x.state) for x in p.ps()] == [("a", "missing"),
                                                  ("b", "missing")]
    with pytest.raises(NotFound):
        p.sandbox("a")
    p.down()   # nothing to do
