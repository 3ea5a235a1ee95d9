# SPDX-License-Identifier: Apache-2.0
"""A newcomer's walk through the README: every command it shows that can
run offline is run, in the README's order, in a home of its own, and what
it prints is checked against what the README shows under it (numbers,
generated names and spacing aside).

Every command of the README must be listed in COMMANDS, either with how it
is run (and what more is checked) or with why it is not: a README that
gains a command this test does not know, or loses one it knows, fails
here, so the two cannot drift apart.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import MSB, ROOT


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The README's commands, as written (continuation lines joined). Each is
# ("run", what else to check or None) or ("skip", why).
def _ls_data(out):
    assert out.split() == ["hello.txt"], out


def _images(out):
    # The built-in image is there, and listed first.
    lines = out.splitlines()
    assert len(lines) > 1 and lines[1].split()[:2] == ["default", "built-in"], out


def _hello(out):
    assert re.fullmatch(r"hello from 6\.1\.\d+\S*\n", out), out


COMMANDS = {
    "msb run -d --name dev": ("run", None),
    "msb exec dev -- msb event emit progress '{\"step\":1}'": ("run", None),
    "msb events dev --topic progress --format json": ("run", None),
    "msb event send dev go '{\"n\":5}'": ("run", None),
    "msb exec dev -- msb event wait go": ("run", None),
    "msb events dev --follow # every event, until it stops":
        ("skip", "follows until the sandbox stops"),
    "msb run -d --name boss --allow-spawn 2": ("run", None),
    "msb exec boss -- msb start scout --net-deny-all": ("run", None),
    "msb exec boss -- msb exec scout -- hostname": ("run", None),
    "msb exec boss -- msb ps": ("run", None),
    "msb rm -f boss # its peers go with it": ("run", None),
    "./setup && msb run --rm -- sh -c 'echo hello from $(uname -r)'":
        ("run", _hello),
    "./setup --test": ("skip", "the whole suite, this test among it"),
    "msb run --name dev -d": ("run", None),
    "msb exec dev -- sh -c 'echo hello; uname -r; exit 7'": ("run", None),
    "echo $?": ("run", None),
    "msb ps": ("run", None),
    "msb stop dev": ("run", None),
    "msb start dev # boots again; the disk is as it was": ("run", None),
    "msb rm -f dev": ("run", None),
    "msb run --rm -- echo hi": ("run", None),
    "msb run --name job -d -- sh -c 'echo working; exit 3'": ("run", None),
    "msb wait job # as docker wait: the detached command's status":
        ("run", None),
    "msb logs --tail 2 job": ("run", None),
    "msb rm -f job": ("run", None),
    "msb pull python:3.12 # with a registry at hand (not offline)":
        ("skip", "needs docker.io"),
    "msb run python:3.12 --name dev -d # a missing image is pulled first":
        ("skip", "needs docker.io"),
    "msb exec dev -- python -c \"print('hello')\"":
        ("skip", "needs the python image"),
    "msb images": ("run", _images),
    "msb rmi python:3.12": ("skip", "needs the python image"),
    "msb run --name app -d --volume ./data:/data --volume-mem /cache":
        ("run", None),
    "msb run --rm -v ./data:/data:ro -- ls /data": ("run", _ls_data),
    "msb volume create --size 10G data # a named volume": ("run", None),
    "msb run --rm -v data:/data -- sh -c 'echo hi > /data/f; df -h /data'":
        ("run", None),
    "msb volume ls": ("run", None),
    "msb run --name worker --net-allow api.openai.com,*.stripe.com "
    "--net-block-cidr 169.254.0.0/16,10.0.0.0/8 -d": ("run", None),
    "msb run --net-deny-all -- sh # air-gapped": ("run", None),
    "msb run --name web -d -p 8080:80 -- httpd -f -p 80 # host 127.0.0.1:8080":
        ("run", None),
    "msb port web": ("run", None),
    "msb run -p 0.0.0.0:8443:443 … # any host address":
        ("skip", "elided (…)"),
    "msb run --net-plugin ./net_plugin.so … # C hooks, in-process":
        ("skip", "elided (…)"),
    "msb run --secret-env OPENAI_API_KEY=@env:OPENAI_KEY:api.openai.com …":
        ("skip", "elided (…), and needs api.openai.com"),
    "msb run --secret-env GH_TOKEN=@file:./token:*.github.com …":
        ("skip", "elided (…), and needs github.com"),
    "msb run --rm --timings -- true": ("run", None),
    "ctr run --rm --runtime io.containerd.msb.v2 docker.io/library/busybox:latest demo echo hello":
        ("skip", "needs a running containerd and docker.io: tests/e2e/test_containerd.py runs it "
                 "with an image of its own"),
}


def readme_commands():
    """[(command, shown output lines)] in the README's order: the "$ "
    lines of its fenced blocks, and the quickstart's indented commands."""
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    out, fenced, i = [], False, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fenced = not fenced
            i += 1
            continue
        if not fenced and re.match(r"^    (\./setup|msb )", line):
            out.append((line.strip(), None))
            i += 1
            continue
        if fenced and line.startswith("$ "):
            cmd = line[2:]
            while cmd.endswith("\\"):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            shown = []
            i += 1
            while (i < len(lines) and not lines[i].startswith("$ ") and
                   not lines[i].startswith("```")):
                shown.append(lines[i])
                i += 1
            out.append((" ".join(cmd.split()), shown))
            continue
        i += 1
    return out


def pattern(shown):
    """What the README shows under a command, as a regex over the real
    output: numbers, generated names and spacing may differ."""
    rx = []
    for line in shown:
        p = ""
        for tok in re.split(r"(\s+)", line.strip()):
            if not tok:
                continue
            if tok.isspace():
                p += r"\s+"
                continue
            for part in re.split(r"(sb-[0-9a-f]{6}|tcg|\d+(?:\.\d+)*)",
                                 tok):
                if re.fullmatch(r"sb-[0-9a-f]{6}", part):
                    p += r"sb-[0-9a-f]{6}"
                elif part == "tcg":
                    p += "(?:tcg|kvm)"
                elif re.fullmatch(r"\d+(?:\.\d+)*", part):
                    p += r"\d+(?:\.\d+)*"
                else:
                    p += re.escape(part)
        rx.append(p)
    return r"\s*" + r"\s*\n\s*".join(rx) + r"\s*"


@pytest.fixture(scope="module")
def walk():
    home = tempfile.mkdtemp(prefix="msb-readme-")
    os.chmod(home, 0o755)
    cwd = tempfile.mkdtemp(prefix="msb-readme-cwd-")
    os.makedirs(os.path.join(cwd, "data"))
    open(os.path.join(cwd, "data", "hello.txt"), "w").write("hello\n")
    bindir = os.path.join(cwd, "bin")
    os.makedirs(bindir)
    os.symlink(MSB, os.path.join(bindir, "msb"))
    env = dict(os.environ, MSB_HOME=home,
               PATH=bindir + os.pathsep + os.environ["PATH"])
    env.pop("MSB_PREFIX", None)
    yield env, cwd
    names = subprocess.run([MSB, "ps", "-a", "-q"], env=env,
                           capture_output=True).stdout.decode().split()
    for n in names:
        subprocess.run([MSB, "rm", "-f", n], env=env, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(cwd, ignore_errors=True)


def test_every_readme_command_is_known():
    got = [c for c, _ in readme_commands()]
    assert sorted(set(got)) == sorted(COMMANDS), (
        "README commands this test does not know: "
        f"{sorted(set(got) - set(COMMANDS))}; known but gone: "
        f"{sorted(set(COMMANDS) - set(got))}")


def test_walk_through_the_readme(walk):
    env, cwd = walk
    # Port 8080 may be taken on a shared machine: the same command on a
    # free port, and that port where the README shows 8080.
    port = str(_free_port())
    last, ran, failures = 0, 0, []
    for cmd, shown in readme_commands():
        how, check = COMMANDS[cmd]
        if how == "skip":
            continue
        run = cmd.replace("./setup && ", "").replace("8080", port)
        p = subprocess.run(["bash", "-c", f"(exit {last}); {run}"], cwd=cwd,
                           env=env, capture_output=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        ran += 1
        # A command's status is the README's too: only the shell's
        # 'echo $?' after exit 7 shows one, and run/exec pass theirs on.
        want = 7 if "exit 7" in cmd else 0
        if p.returncode != want:
            failures.append((cmd, f"exit {p.returncode}, wanted {want}", out, err))
        if shown:
            expect = [l.replace("8080", port) for l in shown]
            # What the user sees: stdout, then stderr (--timings).
            if not re.fullmatch(pattern(expect), out + err):
                failures.append((cmd, "output differs from the README's",
                                 out, err, "\n".join(expect)))
        if check:
            try:
                check(out)
            except AssertionError as e:
                failures.append((cmd, f"check failed: {e}", out, err))
        last = p.returncode
    assert not failures, failures
    assert ran >= 20, ran
