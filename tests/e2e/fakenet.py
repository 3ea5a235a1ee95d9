# SPDX-License-Identifier: Apache-2.0
"""The fake internet the network and secrets tests share (see test_net.py's
docstring for its addresses and names): a network namespace joined by a
veth pair, an HTTP server that logs every request it receives (LOGS[ns]),
dnsmasq. Needs root, ip and dnsmasq (./setup --test)."""

import os
import shutil
import subprocess
import time
import uuid

import pytest

# ns -> the file where the namespace's HTTP server logs each request's line
# and headers as it arrived
LOGS = {}

BLOB_MB = 64
SEED = 4242

SERVER = r'''
import hashlib, http.server, random, socket, socketserver, sys
blob = random.Random(%d).randbytes(%d << 20)
LOG = sys.argv[3] if len(sys.argv) > 3 else None
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a):
        pass
    def parse_request(self):
        ok = super().parse_request()
        if LOG:
            # every request as it arrived: line and headers (for the
            # secrets tests: what left the sandbox)
            with open(LOG, "a") as f:
                f.write(self.requestline + "\n" + str(self.headers) + "\n")
        return ok
    def do_GET(self):
        body = blob if self.path == "/blob" else b"hello from the fake internet\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while n:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            n -= len(chunk)
        body = (h.hexdigest() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # "::" takes IPv4 too (as mapped addresses): one server, both families
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
''' % (SEED, BLOB_MB)


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def wait_port(ns, host, port):
    for _ in range(100):
        p = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c",
                            "import socket,sys; socket.create_connection("
                            "(sys.argv[1], int(sys.argv[2])), 1)",
                            host, str(port)] if ns else
                           ["python3", "-c", "import socket,sys; "
                            "socket.create_connection((sys.argv[1], "
                            "int(sys.argv[2])), 1)", host, str(port)],
                           capture_output=True)
        if p.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {host}:{port}")


PING_GROUPS = "/proc/sys/net/ipv4/ping_group_range"


def ping_groups(value=None):
    """Read (and set) which groups may open unprivileged ICMP sockets."""
    with open(PING_GROUPS) as f:
        old = f.read().strip()
    if value is not None:
        with open(PING_GROUPS, "w") as f:
            f.write(value)
    return old


@pytest.fixture(scope="module")
def internet(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the fake internet needs root (network namespaces)")
    for tool in ("ip", "dnsmasq"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.skip(f"{tool} is not installed (./setup --test)")
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    tag = uuid.uuid4().hex[:5]
    ns, host_if, ns_if = f"msbnet-{tag}", f"msbh{tag}", f"msbn{tag}"
    d = tmp_path_factory.mktemp("internet")
    script = d / "server.py"
    script.write_text(SERVER)
    procs = []
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", "198.51.100.1/24", "dev", host_if)
        # (nodad: usable at once, not after duplicate address detection)
        sh("ip", "addr", "add", "2001:db8:64::1/64", "dev", host_if, "nodad")
        sh("ip", "link", "set", host_if, "up")
        for cmd in (["ip", "addr", "add", "198.51.100.2/24", "dev", ns_if],
                    ["ip", "addr", "add", "198.51.100.3/24", "dev", ns_if],
                    ["ip", "addr", "add", "2001:db8:64::2/64", "dev", ns_if,
                     "nodad"],
                    ["ip", "addr", "add", "2001:db8:64::3/64", "dev", ns_if,
                     "nodad"],
                    ["ip", "link", "set", ns_if, "up"],
                    ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", ns, *cmd)
        LOGS[ns] = str(d / "requests.log")
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", str(script), "::",
             "80", LOGS[ns]], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, dnsmasq, "--no-daemon", "--no-resolv",
             "--no-hosts", "--bind-interfaces",
             "--listen-address=198.51.100.2",
             "--listen-address=2001:db8:64::2", "--pid-file=",
             "--address=/web.test/198.51.100.2",
             "--address=/web.test/2001:db8:64::2",
             "--address=/web6.test/2001:db8:64::2",
             "--address=/other.test/198.51.100.3",
             "--address=/other.test/2001:db8:64::3",
             "--address=/private.test/10.1.2.3",
             "--address=/private.test/fd00::1234"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # The host's own address, for --net-allow-cidr to open.
        procs.append(subprocess.Popen(
            ["python3", str(script), "198.51.100.1", "8081"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            ["python3", str(script), "2001:db8:64::1", "8081"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(ns, "198.51.100.2", 80)
        wait_port(ns, "2001:db8:64::3", 80)
        wait_port(None, "198.51.100.1", 8081)
        wait_port(None, "2001:db8:64::1", 8081)
        # The stack pings for the guest with ICMP sockets, which the host
        # may refuse (Debian's default "1 0" admits no group).
        old_groups = ping_groups("0 2147483647")
        yield ns
        ping_groups(old_groups)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
