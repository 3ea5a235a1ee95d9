# SPDX-License-Identifier: Apache-2.0
"""The path the kubelet takes: containerd 1.6's CRI plugin with a runtime
handler `msb` (runtime io.containerd.msb.v2), a pause image made here, and
a small CRI client (tests/containerd/criclient, on k8s.io/cri-api, built
offline here): a pod on the node's network, two containers in it sharing
one microVM (its /dev/shm, its hostname), exec with its exit status,
containers' logs, the pod's annotations reaching the VM, stop and remove.
One microVM boots in the whole module."""

import http.server
import json
import os
import shutil
import threading
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "containerd"))
import ctrenv  # noqa: E402

SHIM = os.path.join(BUILD, "bin", "containerd-shim-msb-v2")
CLIENT_SRC = os.path.join(ROOT, "tests", "containerd", "criclient")
IMAGE = "docker.io/library/msbtest:1"
PAUSE = "localhost/pause:msb"

pytestmark = pytest.mark.skipif(
    not shutil.which("containerd") or not shutil.which("ctr"),
    reason="no containerd (apt-get install containerd; ./setup --test does)")


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def cri_config(tmp):
    return f'''[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.msb]
      runtime_type = "io.containerd.msb.v2"
      pod_annotations = ["io.microsandbox/*"]
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{tmp}/cni"
'''


# Pods of their own network: CNI's bridge plugin on a bridge and subnet
# no other test uses.
CNI_BIN = "/usr/lib/cni"
BRIDGE, GATEWAY, SUBNET = "msbcri0", "10.213.7.1", "10.213.7.0/24"


def cni_config(tmp):
    os.makedirs(os.path.join(tmp, "cni"))
    with open(os.path.join(tmp, "cni", "10-msbtest.conflist"), "w") as f:
        json.dump({"cniVersion": "0.4.0", "name": "msbtest", "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET, "gateway": GATEWAY}]],
                      "dataDir": os.path.join(tmp, "cni-ipam")}}]}, f)


@pytest.fixture(scope="module")
def cri():
    go = go_binary()
    if not os.access(SHIM, os.X_OK):
        if not go:
            pytest.skip("no Go toolchain: containerd-shim-msb-v2 is not built")
        pytest.fail(f"{SHIM} is missing: `make` builds it when Go is installed")
    if not go:
        pytest.skip("no Go toolchain to build the CRI client")
    client = os.path.join(BUILD, "tests", "criclient")
    p = subprocess.run([go, "build", "-o", client, "."], cwd=CLIENT_SRC, capture_output=True,
                       text=True, env=dict(os.environ, GOPROXY="off", GOFLAGS="-mod=readonly"))
    assert p.returncode == 0, "building the CRI client (./setup --test fetches its modules):\n" + p.stderr
    tmp = tempfile.mkdtemp(prefix="msbcri-", dir="/tmp")
    cni_config(tmp)
    secrets = os.path.join(tmp, "secrets")
    os.makedirs(secrets)
    with open(os.path.join(secrets, "token"), "w") as f:
        f.write("the-real-token")
    c = ctrenv.Containerd(tmp, BUILD, cri=True, extra=cri_config(tmp),
                          env={"MSB_SHIM_SECRETS_DIR": secrets})
    c.client = client
    try:
        for ref, pause in ((IMAGE, False), (PAUSE, True)):
            path = os.path.join(tmp, "pause.tar" if pause else "img.tar")
            ctrenv.busybox_image_tar(path, ref, pause=pause)
            c.ctr("image", "import", path, ns="k8s.io")
        c.logs = os.path.join(tmp, "logs")
        os.makedirs(c.logs)
        yield c
    finally:
        c.close()
        for pid in ctrenv.shim_pids(c.sock):
            os.kill(pid, signal.SIGKILL)
        names = sandboxes(c)
        if names:
            subprocess.run([os.path.join(BUILD, "bin", "msb"), "rm", "-f", *names],
                           env=c.env, capture_output=True)
        ctrenv.teardown_mounts(tmp)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def sandboxes(c):
    p = subprocess.run([os.path.join(BUILD, "bin", "msb"), "ls", "-a", "-q"],
                       env=c.env, capture_output=True, text=True)
    return p.stdout.split()


def call(c, *args, check=0, podnet=False):
    flags = ["-podnet"] if podnet else ["-hostname", "p1"]
    p = subprocess.run([c.client, "-a", c.sock, *flags, *args], capture_output=True, text=True,
                       env=c.env, timeout=240)
    if check is not None and p.returncode != check:
        raise AssertionError(f"criclient {' '.join(args)} exited {p.returncode}, wanted {check}\n"
                             f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}\n"
                             f"containerd log:\n{c.log_tail()}")
    return p


def read_log(c, name):
    """A container's output from its CRI log (TIME STREAM TAG TEXT)."""
    with open(os.path.join(c.logs, name + ".log")) as f:
        return [l.split(" ", 3)[3].rstrip("\n") for l in f if l.split(" ", 3)[1] == "stdout"]


def test_pod_two_containers_one_vm(cri):
    pod = call(cri, "runp", "p1", "msb", cri.logs, "io.microsandbox/memory=256M",
               "io.microsandbox/secret.TOKEN=@file:token:api.example.com").stdout.strip()
    [vm] = sandboxes(cri)
    one = call(cri, "create", pod, "one", IMAGE, cri.logs, "--", "sh", "-c",
               "echo one $CONTAINER; hostname; exec sleep 1000").stdout.strip()
    two = call(cri, "create", pod, "two", IMAGE, cri.logs, "--", "sh", "-c",
               "echo two > /dev/shm/x; cat /etc/resolv.conf; exec sleep 1000").stdout.strip()
    call(cri, "start", one)
    call(cri, "start", two)
    # still the pod's one microVM, of the size its annotation asked for
    assert sandboxes(cri) == [vm]
    ls = subprocess.run([os.path.join(BUILD, "bin", "msb"), "ls"], env=cri.env,
                        capture_output=True, text=True).stdout
    assert "256Mi" in ls, ls
    # exec in one sees what two wrote in the pod's /dev/shm; its status
    p = call(cri, "exec", one, "--", "sh", "-c", "cat /dev/shm/x; echo $CONTAINER; exit 4", check=4)
    assert p.stdout.split() == ["two", "one"]
    # the pod's secret is a placeholder in its containers, never the value
    p = call(cri, "exec", two, "--", "sh", "-c", "echo $TOKEN")
    assert p.stdout.startswith("msb_placeholder_"), p.stdout
    assert "the-real-token" not in p.stdout
    assert read_log(cri, "one") == ["one one", "p1"]
    assert "nameserver 10.0.2.3" in read_log(cri, "two")
    for cid in (one, two):
        call(cri, "stop", cid)
        call(cri, "rm", cid)
    assert sandboxes(cri) == [vm]
    call(cri, "stopp", pod)
    call(cri, "rmp", pod)
    assert sandboxes(cri) == []
    assert call(cri, "pods").stdout.strip() == ""
    with open("/proc/self/mountinfo") as f:
        assert os.path.join(cri.tmp, "msb") not in f.read()


def test_bad_annotation_refuses_the_pod(cri):
    """An io.microsandbox/ annotation the shim does not know fails the pod
    with a message naming it, and leaves no microVM."""
    p = call(cri, "runp", "p2", "msb", cri.logs, "io.microsandbox/net-alow=example.com", check=2)
    assert "unknown annotation io.microsandbox/net-alow" in p.stderr
    assert sandboxes(cri) == []


def test_pod_network_is_the_pods(cri):
    """A pod of its own network (CNI's bridge): the VM's supervisor is born
    in the pod's namespace, so a port the pod publishes listens on the
    pod's IP, and the guest's connections leave from it (a server on the
    bridge's gateway sees the pod's IP), under the pod's policy."""
    seen = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.client_address[0])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the node\n")

        def log_message(self, *a):
            pass

    pod = call(cri, "runp", "p3", "msb", cri.logs, "io.microsandbox/ports=0.0.0.0:8080:8080",
               f"io.microsandbox/net-allow-cidr={GATEWAY}/32", podnet=True).stdout.strip()
    try:
        ip = call(cri, "ip", pod, podnet=True).stdout.strip()
        assert ip.startswith("10.213.7."), ip
        srv = http.server.HTTPServer((GATEWAY, 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        web = call(cri, "create", pod, "web", IMAGE, cri.logs, "--", "sh", "-c",
                   "mkdir -p /www && echo served from the pod > /www/index.html && "
                   "exec httpd -f -p 8080 -h /www", podnet=True).stdout.strip()
        call(cri, "start", web, podnet=True)
        # the node reaches the pod's port on the pod's IP
        body = None
        for _ in range(100):
            p = subprocess.run(["curl", "-sf", "--max-time", "5", f"http://{ip}:8080/"],
                               capture_output=True, text=True)
            if p.returncode == 0:
                body = p.stdout
                break
            time.sleep(0.3)
        assert body == "served from the pod\n", (p, cri.log_tail())
        # the pod reaches the node from the pod's IP
        p = call(cri, "exec", web, "--", "wget", "-q", "-O", "-",
                 f"http://{GATEWAY}:{srv.server_address[1]}/", podnet=True)
        assert p.stdout == "from the node\n"
        assert seen == [ip], seen
        srv.shutdown()
        call(cri, "stop", web, podnet=True)
        call(cri, "rm", web, podnet=True)
    finally:
        call(cri, "stopp", pod, podnet=True, check=None)
        call(cri, "rmp", pod, podnet=True, check=None)
    assert sandboxes(cri) == []
