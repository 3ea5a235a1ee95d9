# SPDX-License-Identifier: Apache-2.0
"""The CLI under Valgrind's memcheck: every verb's refusal of an option,
the error paths a new user meets, and the verbs that act on a
sandbox, each run once with --error-exitcode so that a use after free, a
double free, a read past a buffer or a jump on an uninitialised value in
msb or libmsb fails the test (the unit suite runs the library's parts
under ASan; this is the CLI's own code, as a user runs it). Leaks are not
counted: the CLI is one process a command."""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import MSB, unique

VALGRIND = shutil.which("valgrind")
pytestmark = pytest.mark.skipif(not VALGRIND, reason="valgrind is not "
                                "installed (./setup --test installs it)")
ERR = 99


def memcheck(msb, *args, cwd=None, timeout=180):
    env = dict(msb.env)
    p = subprocess.run([VALGRIND, "-q", f"--error-exitcode={ERR}",
                        "--leak-check=no", MSB, *args], capture_output=True,
                       env=env, cwd=cwd, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    report = [l for l in p.stderr.decode(errors="replace").splitlines()
              if re.match(r"==\d+==", l)]
    return p, report


def check_all(msb, commands, cwd=None, parallel=False):
    """Each of @commands under memcheck, in order (or, @parallel, as many
    at once as there are CPUs: for commands that do not depend on one
    another, Valgrind's start being most of each one's time)."""
    def one(args):
        p, report = memcheck(msb, *args, cwd=cwd)
        if p.returncode == ERR or report:
            return f"msb {' '.join(args)}:\n  " + "\n  ".join(report[:12])
        return None

    if parallel:
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
            results = list(pool.map(one, commands))
    else:
        results = [one(args) for args in commands]
    bad = [r for r in results if r]
    assert not bad, "\n".join(bad)


def verbs():
    out = subprocess.run([MSB, "--help"], capture_output=True,
                         check=True).stdout.decode()
    body = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [l.split()[0] for l in body.splitlines() if l.strip()]


def test_memcheck_help_and_refusals(msb, tmp_path):
    names = verbs()
    assert {"run", "exec", "ps", "stop", "rm", "volume"} <= set(names), names
    # (every verb's refusal of an option it does not take, with its "did
    # you mean"; --help is the same fputs for every verb: once here)
    cmds = [["--help"], ["run", "--help"], ["--version"], ["nosuchverb"]]
    for v in names:
        cmds.append([v, "--bogus-option"])
    for v in ("image", "volume", "snapshot", "project", "plugin", "registry",
              "remote", "event"):
        cmds.append([v, "nosuchsub"])
    missing = unique("none")
    cmds += [
        ["version", "--format", "json"], ["ps", "-a"],
        ["ps", "--format", "json"], ["images", "--format", "json"],
        ["snapshot", "ls", "--format", "json"], ["plugin", "ls"],
        ["volume", "ls", "--format", "json"], ["remote"],
        ["wait", "--format", "json", missing], ["stop", "--format", "json",
                                                missing],
        ["start", "--format", "json", missing],
        ["rm", "--format", "json", missing], ["logs", missing],
        ["inspect", missing], ["image", "inspect", missing],
        ["rmi", missing], ["port", missing], ["events", missing],
        ["exec", missing, "--", "true"], ["cp", f"{missing}:/a", "/tmp/x"],
        ["snapshot", "inspect", missing], ["restore", missing],
        ["pull", "https://registry.invalid/a/b:1"],
        ["load", str(tmp_path / "none")],
        ["run", "--cpus", "0"], ["run", "-m", "1T"],
        ["run", "--rm", "-e", "KEY", "--", "true"],
        ["run", "--rm", "--format", "json", "--", "true"],
        ["exec", "-w", "tmp", missing, "--", "true"],
        ["project", "ps"],
    ]
    check_all(msb, cmds, cwd=str(tmp_path), parallel=True)


def test_memcheck_named_volume_and_project_files(msb, tmp_path):
    vol = unique("vgv")
    proj = tmp_path / "p"
    proj.mkdir()
    check_all(msb, [
        ["volume", "create", "--size", "64M", vol],
        ["volume", "ls"], ["volume", "inspect", vol],
        ["volume", "rm", vol],
        ["project", "init", "--name", "vgp"],
        ["project", "config"], ["project", "ps"],
    ], cwd=str(proj))
    assert vol not in msb.out("volume", "ls", "-q").split()
    assert json.loads(msb.out("project", "-f", str(proj / "Sandboxfile"),
                              "config"))["name"] == "vgp"


def test_memcheck_on_a_running_sandbox(msb, shared, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("memcheck\n")
    check_all(msb, [
        ["ps"], ["ps", "--format", "json"],
        ["stats", "--no-stream"], ["stats", "--no-stream", "--format", "json"],
        ["exec", shared, "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
        ["exec", "-e", "A=1", "-w", "/tmp", shared, "--", "env"],
        ["exec", "--timeout", "1s", shared, "--", "sleep", "5"],
        ["cp", str(src), f"{shared}:/tmp/in.txt"],
        ["cp", f"{shared}:/tmp/in.txt", str(tmp_path / "back.txt")],
        ["cp", f"{shared}:/etc", str(tmp_path / "etc")],
        ["logs", "--tail", "5", shared], ["logs", "--since", "10m", shared],
        ["inspect", shared], ["port", shared],
        ["port", shared, "--format", "json"],
        ["event", "send", shared, "memcheck", "hello"],
        ["events", shared, "--format", "json"],
    ])
    assert (tmp_path / "back.txt").read_text() == "memcheck\n"


def test_memcheck_lifecycle_and_snapshot(msb, tmp_path):
    name, snap, copy = unique("vg"), unique("vgsnap"), unique("vgr")
    try:
        check_all(msb, [
            ["run", "--name", name, "-d", "--format", "json"],
            ["snapshot", "create", name, "--name", snap],
            ["snapshot", "ls"], ["snapshot", "inspect", snap],
            ["restore", "-d", snap, "--name", copy, "--format", "json"],
            ["rm", "-f", copy],
            ["stop", name], ["stop", "--format", "json", name],
            ["start", "--format", "json", name], ["stop", "-t", "0", name],
            ["wait", "--format", "json", name],
            ["rm", "-f", "--format", "json", name],
            ["snapshot", "rm", snap],
        ])
    finally:
        msb("rm", "-f", copy)
        msb("rm", "-f", name)
        msb("snapshot", "rm", snap)
    assert name not in msb.out("ps", "-a", "-q").split()
