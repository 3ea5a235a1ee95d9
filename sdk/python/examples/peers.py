# SPDX-License-Identifier: Apache-2.0
"""peers.py - runs inside a sandbox the host lets spawn (msb run
--allow-spawn 1): it starts a peer beside it, air-gapped, runs commands in
it (one fed 3 MB on its stdin), copies a tree into it and back, snapshots
it and restores the snapshot as a new peer, and removes them. It needs
only this package's src/ (no libmsb in the guest: docs/spawn.md):

    msb run -d --name orch --allow-spawn 1
    (copy python3, this package's src/ and examples/ into orch)
    msb exec orch -- python3 /tmp/msb/examples/peers.py coder

Each step prints one JSON line, as the other SDKs' examples do;
tests/e2e/test_spawn.py runs it so.
"""

import asyncio
import hashlib
import json
import os
import shutil
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "src"))

from microsandbox import (Busy, Network, PolicyRefused,  # noqa: E402
                          Sandbox)


def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def tree(root):
    """Each path below @root: its type and permission bits, a symlink's
    target, a file's MD5."""
    out = []
    for d, ds, fs in os.walk(root):
        for n in sorted(ds + fs):
            p = os.path.join(d, n)
            st = os.lstat(p)
            what = (os.readlink(p) if stat.S_ISLNK(st.st_mode) else
                    hashlib.md5(open(p, "rb").read()).hexdigest()
                    if stat.S_ISREG(st.st_mode) else "")
            out.append(f"{os.path.relpath(p, root)} {oct(st.st_mode)} {what}")
    return sorted(out)


async def main(name):
    rt = await Sandbox.current_runtime()
    peer = await rt.start(name, network=Network(deny_all=True),
                          env={"GREETING": "hello"})
    say("start", name=peer.name)

    r = await peer.exec('echo "$GREETING from $(hostname)"; '
                        'echo to-stderr >&2; exit 3', shell=True)
    say("exec", code=r.exit_code, stdout=r.stdout, stderr=r.stderr)

    # stdin: more than the window the host gives at once, given back as
    # the peer takes it; the peer reads it only after a while
    data = os.urandom(3_000_000)

    async def pieces():
        for i in range(0, len(data), 100_000):
            yield data[i:i + 100_000]

    r1 = await peer.exec(["sh", "-c", "sleep 2; md5sum"], stdin=data)
    r2 = await peer.exec("md5sum", stdin=pieces())
    r3 = await peer.exec("cat", stdin="hi\n")
    r4 = await peer.exec("wc -c", stdin=b"")
    say("stdin", want=hashlib.md5(data).hexdigest(),
        sums=[r1.stdout.split()[0], r2.stdout.split()[0]],
        cat=r3.stdout, empty=r4.stdout.strip())

    # a terminal of the size asked for: the command's output is the
    # terminal's, lines ending in "\r\n"
    r = await peer.exec("tty; stty size", shell=True, tty=(33, 101))
    say("tty", code=r.exit_code, stdout=r.stdout)

    # cp: a tree in, as the peer sees it, and back out
    src = "/tmp/cp-src/t"
    shutil.rmtree("/tmp/cp-src", ignore_errors=True)
    shutil.rmtree("/tmp/cp-back", ignore_errors=True)
    os.makedirs(f"{src}/sub")
    with open(f"{src}/a", "w") as f:
        f.write("one\n")
    with open(f"{src}/sub/big", "wb") as f:
        f.write(os.urandom(1_500_000))
    os.chmod(f"{src}/a", 0o640)
    os.chmod(f"{src}/sub", 0o750)
    os.symlink("a", f"{src}/link")
    await peer.copy_in(src, "/tmp/")
    there = await peer.exec("cd /tmp/t && md5sum a sub/big && readlink link "
                            "&& stat -c '%a %n' a sub", shell=True)
    await peer.copy_out("/tmp/t", "/tmp/cp-back")
    here = [f"{hashlib.md5(open(f'{src}/{p}', 'rb').read()).hexdigest()}  {p}"
            for p in ("a", "sub/big")] + ["a", "640 a", "750 sub"]
    say("cp", peer_sees_it=there.stdout.splitlines() == here,
        back_same=tree(src) == tree("/tmp/cp-back"),
        back=[l for l in tree("/tmp/cp-back") if not l.startswith("sub/big")])

    # snapshot, and a new peer from it (the first stopped: one live peer)
    await peer.exec("echo kept > /tmp/mark", shell=True)
    snap = await peer.snapshot(f"{name}-snap")
    listed = [(s.name, s.source, s.kind) for s in await rt.snapshots()]
    await peer.stop()
    again = await rt.restore(snap, name=f"{name}-r")
    r = await again.exec("hostname; cat /tmp/mark", shell=True)
    try:
        await rt.restore(snap, name=f"{name}-x")
        refused = "a second restore was allowed"
    except PolicyRefused as e:
        refused = str(e)
    try:
        await rt.remove_snapshot(snap)
        busy = "the snapshot of a live peer was removed"
    except Busy as e:
        busy = str(e)
    await again.remove()
    await rt.remove_snapshot(snap)
    say("snapshot", name=snap, listed=listed, restored=r.stdout,
        refused=refused, busy=busy,
        left=[s.name for s in await rt.snapshots()])

    await peer.remove()
    say("removed", peers=[p.name for p in await rt.list()])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: peers.py NAME")
    asyncio.run(main(sys.argv[1]))
