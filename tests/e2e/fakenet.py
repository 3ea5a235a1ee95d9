# SPDX-License-Identifier: Apache-2.0
"""The fake internet the network, secrets and TLS tests share, and
bench/tls.py: a network namespace joined to the root one by a veth pair
(RFC 5737's 198.51.100.0/24, RFC 3849's 2001:db8::/32), made by
fake_internet() and, for tests, the module fixtures `internet` (yields
the namespace's name) and `tls_internet` (its Net: the test CA, the log
files).

    root ns  198.51.100.1  2001:db8:64::1  the host's own (port 8081)
    netns    198.51.100.2  2001:db8:64::2  HTTP/1.0 server (download,
                                           upload checksum), dnsmasq
             198.51.100.3  2001:db8:64::3  the same server
             198.51.100.4  2001:db8:64::4  api.test, *.api.test: HTTPS
                                           (443) and HTTP (80), keep-alive
             198.51.100.5  2001:db8:64::5  evil.test: HTTPS, a valid cert
             198.51.100.6                  badcert.test: HTTPS, its cert
                                           from a CA no one trusts
             198.51.100.7                  old.test: TLS 1.1 at most
             198.51.100.8                  proxy.test: HTTP CONNECT, 3128

dnsmasq answers web.test (.2, ::2), web6.test (::2 only), other.test
(.3, ::3), private.test (10.1.2.3, fd00::1234) and rebind.test
(10.1.2.4, fd00::1235), which rebinding protection must drop, and the
names above. Certificates are made at setup with the openssl CLI, under
the setup's directory: Net.ca is the PEM of the CA that signs api.test,
evil.test and old.test (what --tls-upstream-ca takes); badcert.test's CA
is Net.other_ca. The web servers are fakeweb.py: each logs every request
as it arrived, body included (Net.logs[NAME]). Needs root, ip, dnsmasq,
openssl (./setup --test)."""

import contextlib
import os
import shutil
import subprocess
import time
import uuid

import pytest

# ns -> the file where the namespace's HTTP server (web.test) logs each
# request's line and headers as it arrived
LOGS = {}
# ns -> its Net (below)
NETS = {}

HERE = os.path.dirname(os.path.abspath(__file__))

BLOB_MB = 24
SEED = 4242

SERVER = r'''
import hashlib, http.server, random, socket, socketserver, sys, threading
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
def serve(addr):
    cls = type("S6", (S,), {"address_family": socket.AF_INET6}) \
        if ":" in addr else S
    cls((addr, int(sys.argv[2])), H).serve_forever()
# argv[1]: one address, or several with commas ("::" takes IPv4 too)
ts = [threading.Thread(target=serve, args=(a,)) for a in sys.argv[1].split(",")]
for t in ts:
    t.start()
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


class Net:
    """A running fake internet: ns (the namespace's name), dir (where its
    files are), ca and other_ca (PEM paths), logs {server: log file}, for
    server in "web" (web.test's HTTP), "api" (api.test's HTTPS), "api_http"
    (its plain HTTP), "evil", "badcert", "old", "proxy"."""

    def __init__(self, ns, d):
        self.ns, self.dir = ns, str(d)
        self.ca = os.path.join(self.dir, "ca.pem")
        self.other_ca = os.path.join(self.dir, "other-ca.pem")
        self.logs = {k: os.path.join(self.dir, f"{k}.log") for k in
                     ("api", "api_http", "evil", "badcert", "old", "proxy")}
        self.logs["web"] = os.path.join(self.dir, "requests.log")

    def log(self, server):
        """What @server logged so far, as bytes."""
        try:
            with open(self.logs[server], "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""


# name -> (IPv4, IPv6 or None) of the HTTPS hosts
HOSTS = {
    "api.test": ("198.51.100.4", "2001:db8:64::4"),
    "evil.test": ("198.51.100.5", "2001:db8:64::5"),
    "badcert.test": ("198.51.100.6", None),
    "old.test": ("198.51.100.7", None),
    "proxy.test": ("198.51.100.8", None),
}


def make_ca(d, name, cn):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
       "-subj", f"/CN={cn}", "-keyout", f"{d}/{name}.key",
       "-out", f"{d}/{name}.pem",
       "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_leaf(d, name, ca, names):
    """{d}/{name}.pem and .key: a server certificate for @names from @ca."""
    sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={names[0]}",
       "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
    with open(f"{d}/{name}.ext", "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=" +
                ",".join(f"DNS:{n}" for n in names) + "\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-days", "30",
       "-CA", f"{d}/{ca}.pem", "-CAkey", f"{d}/{ca}.key", "-CAcreateserial",
       "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")


def dns_entries():
    out = ["--address=/web.test/198.51.100.2",
           "--address=/web.test/2001:db8:64::2",
           "--address=/web6.test/2001:db8:64::2",
           "--address=/other.test/198.51.100.3",
           "--address=/other.test/2001:db8:64::3",
           "--address=/private.test/10.1.2.3",
           "--address=/private.test/fd00::1234",
           "--address=/rebind.test/10.1.2.4",
           "--address=/rebind.test/fd00::1235"]
    for name, (v4, v6) in HOSTS.items():
        out.append(f"--address=/{name}/{v4}")
        if v6:
            out.append(f"--address=/{name}/{v6}")
    return out


def missing_tools():
    """The first tool the fake internet needs that is not installed."""
    for tool in ("ip", "dnsmasq", "openssl"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return tool
    return None


OWNERS = "/run/msb-fakenet"


def clear_stale():
    """Take down fake internets whose test run died before its teardown
    (killed mid-run): their host end keeps 198.51.100.0/24 routed into an
    empty namespace, and every later run's traffic would go there. A live
    run's namespace is left alone."""
    p = subprocess.run(["ip", "netns", "list"], capture_output=True,
                       text=True)
    for line in p.stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        if not ns.startswith("msbnet-"):
            continue
        try:
            with open(os.path.join(OWNERS, ns)) as f:
                os.kill(int(f.read()), 0)
            continue                    # its run is alive
        except (OSError, ValueError):
            pass
        tag = ns[len("msbnet-"):]
        pids = subprocess.run(["ip", "netns", "pids", ns],
                              capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "link", "del", f"msbh{tag}"],
                       capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        try:
            os.unlink(os.path.join(OWNERS, ns))
        except OSError:
            pass


@contextlib.contextmanager
def fake_internet(d):
    """Make the fake internet with its files under directory @d; yield its
    Net; take it all down after. Needs root."""
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    tag = uuid.uuid4().hex[:5]
    ns, host_if, ns_if = f"msbnet-{tag}", f"msbh{tag}", f"msbn{tag}"
    os.makedirs(d, exist_ok=True)
    net = Net(ns, d)
    script = os.path.join(net.dir, "server.py")
    with open(script, "w") as f:
        f.write(SERVER)
    web = os.path.join(HERE, "fakeweb.py")
    make_ca(net.dir, "ca", "msb fake internet CA")
    make_ca(net.dir, "other-ca", "an untrusted CA")
    make_leaf(net.dir, "api", "ca", ["api.test", "*.api.test"])
    make_leaf(net.dir, "evil", "ca", ["evil.test"])
    make_leaf(net.dir, "badcert", "other-ca", ["badcert.test"])
    make_leaf(net.dir, "old", "ca", ["old.test"])
    procs = []

    def start(*argv):
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))

    hosts = ",".join(f"{n}={a}" for n, (a, _) in HOSTS.items())
    hosts += ",rebind.test=10.1.2.4"

    def webserver(mode, log, cert, *listen):
        """Start fakeweb.py; wait until it listens."""
        keys = (f"{net.dir}/{cert}.pem", f"{net.dir}/{cert}.key") if cert \
            else ("-", "-")
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", web, mode, net.logs[log],
             *keys, *listen], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=dict(os.environ,
                                                FAKEWEB_HOSTS=hosts))
        procs.append(p)
        if p.stdout.readline() != b"ready\n":
            raise AssertionError(f"fakeweb.py {mode} {' '.join(listen)} "
                                 "did not start (run it by hand to see why)")

    old_groups = None
    clear_stale()
    os.makedirs(OWNERS, exist_ok=True)
    owner = os.path.join(OWNERS, ns)
    try:
        with open(owner, "w") as f:
            f.write(str(os.getpid()))
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", "198.51.100.1/24", "dev", host_if)
        # (nodad: usable at once, not after duplicate address detection)
        sh("ip", "addr", "add", "2001:db8:64::1/64", "dev", host_if, "nodad")
        sh("ip", "link", "set", host_if, "up")
        v4 = ["198.51.100.2", "198.51.100.3"] + [a for a, _ in HOSTS.values()]
        v6 = ["2001:db8:64::2", "2001:db8:64::3"] + \
            [a for _, a in HOSTS.values() if a]
        cmds = [["ip", "addr", "add", f"{a}/24", "dev", ns_if] for a in v4]
        cmds += [["ip", "addr", "add", f"{a}/64", "dev", ns_if, "nodad"]
                 for a in v6]
        cmds += [["ip", "link", "set", ns_if, "up"],
                 ["ip", "link", "set", "lo", "up"]]
        for cmd in cmds:
            sh("ip", "netns", "exec", ns, *cmd)
        LOGS[ns] = net.logs["web"]
        # (not "::": api.test has port 80 at its own address)
        start("python3", script, "198.51.100.2,198.51.100.3,2001:db8:64::2,"
              "2001:db8:64::3", "80", net.logs["web"])
        start(dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts",
              "--bind-interfaces", "--listen-address=198.51.100.2",
              "--listen-address=2001:db8:64::2", "--pid-file=",
              *dns_entries())
        webserver("tls", "api", "api", "198.51.100.4:443",
                  "[2001:db8:64::4]:443")
        webserver("http", "api_http", None, "198.51.100.4:80",
                  "[2001:db8:64::4]:80")
        webserver("tls", "evil", "evil", "198.51.100.5:443",
                  "[2001:db8:64::5]:443")
        webserver("tls", "badcert", "badcert", "198.51.100.6:443")
        webserver("tls11", "old", "old", "198.51.100.7:443")
        webserver("connect", "proxy", None, "198.51.100.8:3128")
        # The host's own address, for --net-allow-cidr to open.
        for addr in ("198.51.100.1", "2001:db8:64::1"):
            procs.append(subprocess.Popen(
                ["python3", script, addr, "8081"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(ns, "198.51.100.2", 80)
        wait_port(ns, "2001:db8:64::3", 80)
        wait_port(None, "198.51.100.1", 8081)
        wait_port(None, "2001:db8:64::1", 8081)
        # The stack pings for the guest with ICMP sockets, which the host
        # may refuse (Debian's default "1 0" admits no group).
        old_groups = ping_groups("0 2147483647")
        NETS[ns] = net
        yield net
    finally:
        if old_groups is not None:
            ping_groups(old_groups)
        NETS.pop(ns, None)
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        try:
            os.unlink(owner)
        except OSError:
            pass


@pytest.fixture(scope="module")
def internet(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the fake internet needs root (network namespaces)")
    tool = missing_tools()
    if tool:
        pytest.skip(f"{tool} is not installed (./setup --test)")
    with fake_internet(tmp_path_factory.mktemp("internet")) as net:
        yield net.ns


@pytest.fixture(scope="module")
def tls_internet(internet):
    """The fake internet's Net: its CA (Net.ca), its servers' logs."""
    return NETS[internet]
