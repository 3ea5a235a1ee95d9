# SPDX-License-Identifier: Apache-2.0
"""run, exec, ps, stop, start, rm, logs, inspect: the lifecycle end to end."""

import json
import os
import re
import subprocess
import time

from conftest import unique


def test_detached_lifecycle(msb):
    name = unique("dev")
    out = msb.out("run", "--name", name, "-d")
    assert re.fullmatch(rf"created {name} default cpu=1 mem=512Mi \d+\.\ds\n", out), out

    p = msb("exec", name, "--", "sh", "-c", "echo hello; uname -r; exit 7")
    assert p.returncode == 7, p
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "hello"
    # The guest runs its own kernel (the project's, by default), not the host's.
    assert lines[1].startswith("6.1."), lines
    assert lines[1] != os.uname().release

    ps = msb.out("ps")
    row = [l for l in ps.splitlines() if l.startswith(name + " ")]
    assert ps.splitlines()[0].split() == ["NAME", "IMAGE", "STATUS", "CPU",
                                          "MEM", "PORTS"]
    # CPU and memory use against the sandbox's limits; no ports published.
    assert row and row[0].split()[:3] == [name, "default", "running"], ps
    assert re.fullmatch(r"\d+%/1", row[0].split()[3]), ps
    assert re.fullmatch(r"[\d.]+[KMG]iB/512Mi", row[0].split()[4]), ps
    assert len(row[0].split()) == 5, ps

    msb("exec", name, "--", "sh", "-c", "echo kept > /root/file; sync", check=0)
    out = msb.out("stop", name)
    assert re.fullmatch(rf"stopped {name} \d+ms\n", out), out
    assert name not in msb.out("ps")
    row = [l for l in msb.out("ps", "-a").splitlines() if l.startswith(name + " ")]
    assert row[0].split()[2] == "stopped"
    # inspect of a stopped sandbox shows no pid of a VM that is gone.
    info = json.loads(msb.out("inspect", name))
    assert info["pid"] == 0 and "vm_pid" not in info["runtime"], info
    # exec on a stopped sandbox is refused clearly.
    p = msb("exec", name, "--", "true")
    assert p.returncode == 125 and b"stopped" in p.stderr, p
    # so are the calls that go straight to its API socket, which say
    # what to do rather than which socket was missing
    for args in (["events", name], ["event", "send", name, "t"]):
        p = msb(*args)
        assert p.returncode == 1, p
        assert p.stderr == (f"msb: sandbox '{name}' is not running; start "
                            f"it with 'msb start {name}'\n").encode(), p

    out = msb.out("start", name)
    assert out.startswith(f"started {name} "), out
    assert msb.out("exec", name, "--", "cat", "/root/file") == "kept\n"

    info = json.loads(msb.out("inspect", name))
    assert info["name"] == name and info["status"] == "running"
    assert info["cpus"] == 1 and info["memory_mib"] == 512
    assert info["runtime"]["boot_ms"] > 0
    assert info["pid"] > 0 and os.path.exists(info["paths"]["api_socket"])

    logs = msb.out("logs", name)
    assert "[msb" in logs and "ready in" in logs

    assert msb.out("rm", "-f", name) == f"removed {name}\n"
    assert name not in msb.out("ps", "-a")
    assert not os.path.exists(info["paths"]["dir"])


def test_lifecycle_verbs_speak_json(msb):
    """run -d, stop, start and rm with --format json: one object (run) or
    an array with an entry for each name given, in order, the same exit
    status as the table, errors in the entry and on stderr."""
    name, missing = unique("js"), unique("none")
    got = json.loads(msb.out("run", "--name", name, "-d", "--cpus", "2",
                             "-m", "256M", "--format", "json"))
    assert set(got) == {"name", "image", "cpus", "memory_mib", "seconds"}
    assert (got["name"], got["image"], got["cpus"], got["memory_mib"]) == \
        (name, "default", 2, 256), got
    assert got["seconds"] > 0
    p = msb("stop", "--format", "json", name, missing, name)
    assert p.returncode == 1, p
    assert f"no sandbox named '{missing}'".encode() in p.stderr, p
    got = json.loads(p.stdout)
    assert [g["name"] for g in got] == [name, missing, name], got
    assert got[0]["stopped"] is True and got[0]["seconds"] >= 0
    assert got[0]["error"] is None and got[0]["pushed"] is None
    assert got[1]["stopped"] is False and "no sandbox named" in got[1]["error"]
    # the second time it was not running: no error, as in the table
    assert got[2] == {"name": name, "stopped": False, "seconds": None,
                      "pushed": None, "error": None}, got
    got = json.loads(msb.out("start", "--format", "json", name, name))
    assert got[0]["started"] is True and got[0]["seconds"] > 0, got
    assert got[1] == {"name": name, "started": False, "seconds": None,
                      "error": None}, got
    p = msb("rm", "--format", "json", "-f", name, missing)
    assert p.returncode == 1, p
    got = json.loads(p.stdout)
    assert got[0] == {"name": name, "removed": True, "error": None}, got
    assert got[1]["removed"] is False and "no sandbox named" in got[1]["error"]
    assert name not in msb.out("ps", "-a", "-q").split()
    # JSON goes with -d only; a bad format is named
    p = msb("run", "--rm", "--format", "json", "--", "true")
    assert p.returncode == 125 and b"--format json goes with -d" in p.stderr, p
    p = msb("restore", "s", "--name", "n", "--format", "json")
    assert p.returncode == 2 and b"--format json goes with -d" in p.stderr, p
    for verb in ("stop", "start", "rm"):
        p = msb(verb, "--format", "yaml", name)
        assert p.returncode == 2 and b"invalid --format 'yaml'" in p.stderr, p


def test_run_rm_oneshot(msb):
    before = msb.out("ps", "-a", "-q")
    p = msb("run", "--rm", "--", "echo", "hi")
    assert p.returncode == 0, p
    assert p.stdout == b"hi\n"
    assert msb.out("ps", "-a", "-q") == before


def test_home_with_comma_and_space_boots(tmp_path):
    # QEMU option strings end a value at a comma unless it is doubled: the
    # console log's and the disks' paths under such a $MSB_HOME must not
    # be cut into two options.
    from conftest import Msb
    home = tmp_path / "a,b c"
    home.mkdir()
    os.chmod(tmp_path, 0o755)
    m = Msb(str(home))
    name = unique("comma")
    try:
        p = m("run", "--name", name, "--", "sh", "-c",
              "echo hi; cat /proc/mounts | grep -c ' / '")
        assert p.returncode == 0, p
        assert p.stdout.decode().split()[0] == "hi", p.stdout
        assert "ready in" in m.out("logs", name)
    finally:
        m("rm", "-f", name)


def test_cloud_kernel_fallback(msb):
    # Its timers tick too: under TCG with ACPI (hardware-reduced, no PIT)
    # the APIC timer is the only clock event device the kernel can have.
    p = msb("run", "--rm", "--kernel", "cloud", "--", "sh", "-c",
            "uname -r; sleep 1; echo slept", timeout=90)
    assert p.returncode == 0, p
    release, slept = p.stdout.decode().split()
    assert release.endswith("-cloud-amd64") and slept == "slept", p.stdout
    p = msb("run", "--rm", "--kernel", "nope", "--", "true")
    assert p.returncode == 125 and b"--kernel" in p.stderr


def test_project_kernel_is_default(msb):
    p = msb("run", "--rm", "--", "uname", "-r")
    assert p.returncode == 0, p
    release = p.stdout.decode().strip()
    assert release.startswith("6.1.") and "cloud" not in release, release


def test_run_foreground_status_env_workdir(msb):
    name = unique("fg")
    p = msb("run", "--name", name, "-e", "GREETING=hey", "-w", "/tmp",
            "--cpus", "2", "--memory", "1G", "--",
            "sh", "-c", 'echo "$GREETING $(pwd) $(nproc)"; '
            "grep MemTotal /proc/meminfo >&2; exit 3")
    assert p.returncode == 3, p
    assert p.stdout == b"hey /tmp 2\n"
    mem_kb = int(p.stderr.split()[1])
    assert 900_000 < mem_kb <= 1024 * 1024, p.stderr
    # Without --rm the sandbox stays, stopped, once its command is done.
    row = [l for l in msb.out("ps", "-a").splitlines() if l.startswith(name + " ")]
    assert row and row[0].split()[1:] == ["default", "stopped", "2", "1Gi"], row
    # Its sandbox-wide env applies to later execs too.
    msb.out("start", name)
    assert msb.out("exec", name, "--", "sh", "-c", "echo $GREETING") == "hey\n"
    msb("rm", "-f", name, check=0)


def test_run_detached_command_logs(msb):
    name = unique("bg")
    msb.out("run", "--name", name, "-d", "--", "sh", "-c",
            "echo from-detached-command")
    # The detached command's output goes to the sandbox log.
    for _ in range(100):
        if "from-detached-command" in msb.out("logs", name):
            break
        time.sleep(0.1)
    assert "from-detached-command" in msb.out("logs", name)
    follower = msb.popen("logs", "-f", name, stdout=subprocess.PIPE)
    msb.out("stop", name)
    out, _ = follower.communicate(timeout=30)
    assert follower.returncode == 0
    assert b"stopped" in out
    msb("rm", name, check=0)


def test_ps_formats(msb, shared):
    rows = json.loads(msb.out("ps", "--format", "json"))
    me = [r for r in rows if r["name"] == shared]
    assert me and me[0]["status"] == "running" and me[0]["image"] == "default"
    assert me[0]["memory_mib"] == 512 and me[0]["pid"] > 0
    assert shared in msb.out("ls", "-q").split()
    p = msb("ps", "--format", "yaml")
    assert p.returncode == 2 and b"--format" in p.stderr
    # the inspect verbs print JSON anyway, and take --format json from
    # scripts that give it to every command
    assert json.loads(msb.out("inspect", shared, "--format", "json")) == \
        json.loads(msb.out("inspect", shared))
    assert json.loads(msb.out("image", "inspect", "--format=json",
                              "default"))["reference"] == "default"
    for args in (["inspect", shared], ["image", "inspect", "default"]):
        p = msb(*args, "--format", "table")
        assert p.returncode == 2 and b"prints JSON only" in p.stderr, p


def test_help_on_every_verb(msb):
    for verb in ["run", "exec", "ps", "ls", "stop", "start", "rm", "logs", "inspect"]:
        out = msb.out(verb, "--help")
        assert out.startswith("Usage: msb "), (verb, out)
    assert "Commands:" in msb.out("--help")
    p = msb("frobnicate")
    assert p.returncode == 2 and b"unknown command" in p.stderr


def vmm_reaches_kvm():
    """/dev/kvm opens for others, or for a group that is not root's (the
    VMM's own uid gets that group: src/engine/qemu.c)."""
    st = os.stat("/dev/kvm")
    return (st.st_mode & 0o006 == 0o006 or
            (st.st_gid != 0 and st.st_mode & 0o060 == 0o060))


def test_accelerator_choice_is_recorded(msb, shared):
    info = json.loads(msb.out("inspect", shared))
    accel = info["runtime"]["accel"]
    assert accel in ("kvm", "tcg")
    broken = os.path.join(msb.home, "host", "kvm-broken")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert accel == "tcg"
    elif os.geteuid() == 0 and not vmm_reaches_kvm():
        # As root the VMM runs as a uid of its own, which a /dev/kvm
        # only root may open keeps out: TCG, and the log says why.
        assert accel == "tcg"
        assert "/dev/kvm may be opened by root only" in \
            msb.out("logs", shared)
    elif os.path.exists(broken):
        # KVM opened but could not run a guest here: msb fell back to TCG,
        # said so in the log of the boot that found out, and remembers it.
        assert accel == "tcg"
        assert open(broken).read().startswith("qemu -accel kvm exited")
    else:
        assert accel == "kvm"
    # Forcing TCG always works.
    p = msb("run", "--rm", "--", "true", env={"MSB_ACCEL": "tcg"})
    assert p.returncode == 0, p
