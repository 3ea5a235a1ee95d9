# SPDX-License-Identifier: Apache-2.0
"""A volume operation that blocks stalls its volume only: the sandbox's
network and its API answer meanwhile.

The volume's plugin (tests/fs/gatefs.c) holds every fsync at a gate the
test keeps closed; while one is held, an exec through the API socket and
HTTP through a published port (the supervisor's network stack) must be
answered before the gate opens. No timing decides: the check is that they
finish while the fsync is still held.
"""

import os
import shutil
import subprocess
import tempfile
import time

from conftest import BUILD, MSB, unique
from test_net_ports import SERVE, free_port, get

GATEFS = os.path.join(BUILD, "tests", "gatefs.so")


def wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_slow_fsync_leaves_network_and_api_answering(msb):
    data = tempfile.mkdtemp(prefix="msb-slow-data-")
    os.chmod(data, 0o755)
    # Inside the volume's directory: a confined supervisor (and the
    # plugins it runs) reaches no other host path.
    gate = os.path.join(data, ".gate")
    os.mkdir(gate)
    port = free_port()
    name = unique("slowvol")
    held = stuck = None
    try:
        msb("run", "--name", name, "-d", "-p", f"{port}:80/tcp",
            "-v", f"{data}:/v", "--volume-plugin", f"{GATEFS}:/v:{gate}",
            "--", "sh", "-c", SERVE, check=0)
        assert get(port) == "hello from the guest\n"
        held = subprocess.Popen(
            [MSB, "exec", name, "--", "dd", "if=/dev/zero", "of=/v/f",
             "bs=4k", "count=1", "conv=fsync"],
            env=msb.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(os.path.join(gate, "held"))
        # A command whose working directory is on the volume waits in
        # its chdir (the volume answers nothing meanwhile); the agent
        # does not wait with it (src/agent/exec.c: no vfork).
        stuck = subprocess.Popen(
            [MSB, "exec", "-w", "/v", name, "--", "pwd"],
            env=msb.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        # The fsync is held in the volume's backend. The API and the
        # network stack answer all the same.
        assert msb.out("exec", name, "--", "echo", "ping",
                       timeout=50) == "ping\n"
        assert get(port) == "hello from the guest\n"
        assert not os.path.exists(os.path.join(gate, "done")), \
            "the fsync finished before the gate opened: nothing was held"
        assert held.poll() is None
        # Open the gate: the fsync completes, and the volume serves again.
        open(os.path.join(gate, "open"), "w").close()
        out, err = held.communicate(timeout=120)
        assert held.returncode == 0, err
        out, err = stuck.communicate(timeout=120)
        assert stuck.returncode == 0 and out == b"/v\n", (out, err)
        assert os.path.exists(os.path.join(gate, "done"))
        assert os.path.getsize(os.path.join(data, "f")) == 4096
        assert msb.out("exec", name, "--", "cat", "/v/f",
                       timeout=60) == "\0" * 4096
    finally:
        if held and held.poll() is None:
            open(os.path.join(gate, "open"), "w").close()
            held.kill()
        if stuck and stuck.poll() is None:
            stuck.kill()
        msb("rm", "-f", name)
        shutil.rmtree(data, ignore_errors=True)
