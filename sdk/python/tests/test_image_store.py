# SPDX-License-Identifier: Apache-2.0
"""More of the image store through the SDK: an image saved as an OCI tar
and as a docker archive (msb save) and loaded back under another name;
a prune that frees what a removed sandbox left of a removed image (msb
image prune); and credentials (msb registry login/logout) against a
docker-registry on loopback that demands them (htpasswd, as
tests/e2e/test_sync.py runs it), checked at the login, and a login off
loopback over https or, insecure, plain http."""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

from .pysdk import ROOT, run, unique
from microsandbox import (FileError, Image, ImagePullFailed, InvalidArgument,
                          NotFound, PermissionDenied, Sandbox, blocking,
                          registry_login, registry_logout)

sys.path.insert(0, os.path.join(ROOT, "tests", "images"))
import build  # noqa: E402


def test_save_as_oci_and_docker_and_load_back(registry, tmp_path):
    oci, docker = str(tmp_path / "oci.tar"), str(tmp_path / "docker.tar")

    async def main():
        orig = {i.reference: i for i in await Image.list()}["python:3.12"]
        await Image.save("python:3.12", oci)
        with tarfile.open(oci) as t:
            names = t.getnames()
        assert "oci-layout" in names and "index.json" in names, names
        assert "manifest.json" not in names, names
        back = await Image.load(oci, tag="pysaved:1")
        assert (back.reference, back.id, back.layers) == ("pysaved:1", orig.id, 1)
        doc = await Image.inspect("pysaved:1")
        assert "SEED_IMAGE=python:3.12" in doc["config"]["config"]["Env"], doc

        await Image.save("python:3.12", docker, format="docker")
        with tarfile.open(docker) as t:
            man = json.load(t.extractfile("manifest.json"))
        assert len(man) == 1 and len(man[0]["Layers"]) == 1, man
        back = await Image.load(docker, tag="pysaveddocker:1")
        assert back.id == orig.id
        for ref in ("pysaved:1", "pysaveddocker:1"):
            await Image.remove(ref)

        with pytest.raises(NotFound):
            await Image.save("no-such-image:1", oci)
        with pytest.raises(InvalidArgument):
            await Image.save("python:3.12", oci, format="zip")
    run(main())


def test_prune_frees_what_no_image_and_no_sandbox_uses(home, tmp_path):
    # an image of its own: busybox and a layer no other image has
    extra = build.Tar()
    extra.add("unique.bin", data=os.urandom(1 << 20))
    img = build.Image([(build.busybox_layer(), "gzip"), (extra.raw(), "gzip")])
    layout = str(tmp_path / "layout")
    build.write_layout(img, layout)
    ref, name = f"{unique('pyprune')}:1", unique("pyprune")

    async def main():
        await Image.prune()  # whatever was there before
        await Image.load(layout, tag=ref)
        async with Sandbox.create(name, image=ref, memory="256M") as sb:
            # forgotten while a sandbox uses it: its layers stay
            await Image.remove(ref)
            nothing = await Image.prune()
            assert nothing.files == 0, nothing
            assert (await sb.exec("wc -c /unique.bin")).stdout.split()[0] == \
                str(1 << 20)
        freed = await Image.prune()
        assert freed.files >= 1 and freed.freed_bytes >= 1 << 20, freed
        assert (await Image.prune()).files == 0
    run(main())


@pytest.fixture
def auth_registry(home):
    """A docker-registry on loopback demanding alice's login (htpasswd),
    holding pyauth/img:1 (pushed to the same storage by a registry without
    logins, which is then stopped)."""
    reg, hp = shutil.which("docker-registry"), shutil.which("htpasswd")
    if not reg or not hp:
        pytest.skip("docker-registry or htpasswd not installed (./setup --test)")
    root = tempfile.mkdtemp(prefix="msb-pyauthreg-")
    subprocess.run([hp, "-Bbc", f"{root}/htpasswd", "alice", "pw-alice"],
                   check=True, capture_output=True)
    procs = []

    def serve(auth):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cfg = f"{root}/config-{port}.yml"
        extra = (f"auth:\n  htpasswd:\n    realm: msb-test\n"
                 f"    path: {root}/htpasswd\n") if auth else ""
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n"
                    f"  filesystem:\n    rootdirectory: {root}/data\n"
                    f"{extra}http:\n  addr: 127.0.0.1:{port}\n")
        procs.append(subprocess.Popen([reg, "serve", cfg],
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        end = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return f"127.0.0.1:{port}"
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
    try:
        open_host = serve(False)
        cfg = {"Env": [build.PATH_ENV, "AUTH_IMAGE=1"], "Cmd": ["sh"]}
        build.Registry(f"http://{open_host}").push(
            "pyauth/img", "1", build.Image([(build.busybox_layer(), "gzip")], cfg))
        procs[0].kill()
        procs[0].wait()
        yield serve(True)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(root, ignore_errors=True)


def test_login_and_logout(auth_registry, home):
    host = auth_registry
    ref = f"{host}/pyauth/img:1"
    auth_file = os.path.join(home, "auth.json")

    def stored():
        if not os.path.exists(auth_file):
            return {}
        return json.load(open(auth_file)).get("auths", {})

    async def main():
        with pytest.raises(ImagePullFailed) as e:
            await Image.pull(ref)
        assert f"msb registry login {host}" in str(e.value), e.value
        # A wrong password is refused at the login, and nothing is kept:
        # the pull still needs a login.
        with pytest.raises(PermissionDenied) as e:
            await registry_login(host, "alice", "wrong")
        assert f"{host} refused the login of 'alice'" in str(e.value), e.value
        assert "nothing was stored" in str(e.value), e.value
        assert host not in stored()
        with pytest.raises(ImagePullFailed) as e:
            await Image.pull(ref)
        assert f"msb registry login {host}" in str(e.value), e.value
        await registry_login(host, "alice", "pw-alice")
        assert oct(os.stat(auth_file).st_mode & 0o777) == "0o600"
        assert host in stored()
        # A wrong one later leaves the right one as it was.
        before = open(auth_file).read()
        with pytest.raises(PermissionDenied):
            await registry_login(host, "bob", "pw-alice")
        assert open(auth_file).read() == before
        info = await Image.pull(ref)
        assert info.reference == ref and info.layers == 1
        await Image.remove(ref)
        await registry_logout(host)
        assert host not in json.load(open(auth_file)).get("auths", {})
        with pytest.raises(ImagePullFailed) as e:
            await Image.pull(ref)
        assert f"msb registry login {host}" in str(e.value), e.value
        with pytest.raises(NotFound):
            await registry_logout(host)  # not logged in
        with pytest.raises(InvalidArgument):
            await registry_login(f"{host}/pyauth", "alice", "pw-alice")
        with pytest.raises(InvalidArgument):
            await registry_login(host, "al:ice", "pw")
    run(main())


def _off_loopback_address():
    """An address of this host that is not loopback (the one a packet to
    TEST-NET-1 would leave from: a UDP connect() sends nothing), or None."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect(("192.0.2.1", 9))
            addr = s.getsockname()[0]
        finally:
            s.close()
    except OSError:
        return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def test_login_insecure_reaches_the_library(home):
    """A registry off loopback is asked over https unless insecure=True
    (as Image.pull's): a closed port on this host's own address tells
    which one the login tried, and that nothing is stored."""
    addr = _off_loopback_address()
    if not addr:
        pytest.skip("this host has no address but loopback")
    s = socket.socket()
    s.bind((addr, 0))
    host = f"{addr}:{s.getsockname()[1]}"
    s.close()
    auth_file = os.path.join(home, "auth.json")

    def check(e, scheme):
        msg = str(e.value)
        assert e.value.errno == errno.EHOSTUNREACH, (e.value.name, msg)
        assert f"cannot reach registry {host} ({scheme})" in msg, msg
        assert "nothing was stored" in msg, msg
        assert ("--insecure" in msg) == (scheme == "https"), msg
        assert not os.path.exists(auth_file) or \
            host not in open(auth_file).read()

    async def main():
        with pytest.raises(FileError) as e:
            await registry_login(host, "alice", "pw")
        check(e, "https")
        with pytest.raises(FileError) as e:
            await registry_login(host, "alice", "pw", insecure=True)
        check(e, "http")
    run(main())
    # and through the blocking wrapper
    with pytest.raises(FileError) as e:
        blocking.registry_login(host, "alice", "pw", insecure=True)
    check(e, "http")
