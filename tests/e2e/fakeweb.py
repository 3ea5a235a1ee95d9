# SPDX-License-Identifier: Apache-2.0
"""The fake internet's web servers (run by fakenet.py inside its network
namespace): HTTP/1.1 with keep-alive, over TLS or not, and an HTTP CONNECT
proxy. Every request is appended to LOG as it arrived, body included, so
a test can prove which bytes (a secret's real value, or its placeholder)
left the sandbox:

    == 198.51.100.1 port 443 tls TLSv1.3 sni api.test
    POST /p HTTP/1.1
    Host: api.test
    ...
    <blank line>
    <the body, as bytes, chunked bodies decoded>
    <blank line>

A failed handshake is logged as `!! tls handshake failed: REASON`.

  python3 fakeweb.py MODE LOG CERT KEY ADDR:PORT [ADDR:PORT...]

MODE: http (CERT and KEY are "-"), tls (TLS 1.2 and 1.3), tls11 (TLS 1.1
at most, ciphers at security level 0: an outdated server), or connect
(the proxy; CERT and KEY are "-"; it resolves names with
FAKEWEB_HOSTS, see resolve()). Prints "ready" once all listen. Answers: GET /blob the 64 MiB blob
fakenet.py's HTTP server sends (made at the first request), any other GET
a JSON object naming what it saw (method, path, headers, sni, tls), POST
and PUT the sha256 of the body, hex, and a newline.

/echo (any method, HEAD included) reflects the request as it arrived: the
request line, the headers and the body, with the target again in an
X-Echo-Target header, as a server that quotes what it is sent does (an
LLM repeating a string, a 404 page quoting the path, a paste service).
Its query picks the framing: chunk=N sends the body chunked, N bytes a
chunk (so a reflected value is cut across chunks); close=1 sends no
length and closes; b64=1 adds the request's head in base64; gzip=1
compresses the body (Content-Encoding: gzip) whatever the request
accepts, as a misbehaving server would.

/ws with Upgrade: websocket is a WebSocket (RFC 6455): it sends a text
message quoting the request's Authorization token, then one ending in
that token's first byte, then waits for the client's message, answers
"got " and it, and closes (1000).
"""

import base64
import gzip
import hashlib
import http.server
import json
import os
import random
import select
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse

BLOB_MB = 64
SEED = 4242
MODE, LOG, CERT, KEY = sys.argv[1:5]
LISTEN = sys.argv[5:]
log_lock = threading.Lock()
blob_lock = threading.Lock()
blob = None


def log(data):
    with log_lock, open(LOG, "ab") as f:
        f.write(data)


def the_blob():
    global blob
    with blob_lock:
        if blob is None:
            blob = random.Random(SEED).randbytes(BLOB_MB << 20)
    return blob


def ws_frame(b0, payload):
    """A server's WebSocket frame (unmasked), its length in the fewest
    bytes."""
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 1 << 16:
        head = bytes([b0, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 127]) + n.to_bytes(8, "big")
    return head + payload


def ws_read(f):
    """One client frame's payload, unmasked."""
    b0, b1 = f.read(2)
    n = b1 & 0x7f
    if n >= 126:
        n = int.from_bytes(f.read(2 if n == 126 else 8), "big")
    mask = f.read(4) if b1 & 0x80 else b"\0\0\0\0"
    return bytes(c ^ mask[i % 4] for i, c in enumerate(f.read(n)))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A reply leaves in one write (flushed after each request): head and
    # body in two would wait on Nagle and the client's delayed ACK, 40 ms
    # a request on a kept-alive connection.
    wbufsize = 1 << 16

    def log_message(self, *a):
        pass

    def tls(self):
        if isinstance(self.connection, ssl.SSLSocket):
            return (self.connection.version(),
                    getattr(self.connection, "sni", None))
        return None, None

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def record(self, body):
        version, sni = self.tls()
        head = (f"== {self.client_address[0]} port "
                f"{self.server.server_address[1]} "
                f"{'tls ' + version if version else 'plain'}"
                f"{' sni ' + sni if sni else ''}\n"
                f"{self.requestline}\n{self.headers}").encode()
        log(head + body + b"\n")

    def reply(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def echo(self, body):
        """/echo: the request back (see the module's docstring)."""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        head = f"{self.requestline}\n{self.headers}".encode()
        out = head + body
        if "b64" in q:
            out += b"\nb64: " + base64.b64encode(head) + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Echo-Target", self.path)
        if "gzip" in q:
            out = gzip.compress(out)
            self.send_header("Content-Encoding", "gzip")
        if "chunk" in q:
            n = max(1, int(q["chunk"][0]))
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for i in range(0, len(out), n):
                    part = out[i:i + n]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
        elif "close" in q:
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

    def websocket(self):
        """/ws: see the module's docstring."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
            .digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        token = self.headers.get("Authorization", "").split(" ")[-1]
        self.wfile.write(ws_frame(0x81, b"key " + token.encode()))
        self.wfile.write(ws_frame(0x81, b"then waits, after " +
                                  token[:1].encode()))
        self.wfile.flush()
        p = ws_read(self.rfile)
        self.wfile.write(ws_frame(0x81, b"got " + p))
        self.wfile.write(ws_frame(0x88, (1000).to_bytes(2, "big") + b"bye"))
        self.wfile.flush()
        self.close_connection = True

    def do_HEAD(self):
        self.record(b"")
        if self.path.startswith("/echo"):
            return self.echo(b"")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.record(b"")
        if self.path.startswith("/echo"):
            return self.echo(b"")
        if (self.path == "/ws" and
                self.headers.get("Upgrade", "").lower() == "websocket"):
            return self.websocket()
        if self.path == "/blob":
            return self.reply(the_blob(), "application/octet-stream")
        version, sni = self.tls()
        seen = {"method": self.command, "path": self.path,
                "headers": list(self.headers.items()),
                "authorization": self.headers.get("Authorization"),
                "sni": sni, "tls": version}
        self.reply((json.dumps(seen) + "\n").encode(), "application/json")

    def do_POST(self):
        body = self.read_body()
        self.record(body)
        if self.path.startswith("/echo"):
            return self.echo(body)
        self.reply((hashlib.sha256(body).hexdigest() + "\n").encode())

    do_PUT = do_POST


def resolve(host):
    """The proxy's resolver: the fake internet's names (FAKEWEB_HOSTS,
    "name=addr,..."; a name covers the names below it), else @host as
    given."""
    for entry in os.environ.get("FAKEWEB_HOSTS", "").split(","):
        name, _, addr = entry.partition("=")
        if name and (host == name or host.endswith("." + name)):
            return addr
    return host


class Proxy(socketserver.StreamRequestHandler):
    """CONNECT host:port, then bytes both ways until either side closes."""

    rbufsize = 0  # nothing of the tunnel's bytes may stay in a buffer here

    def handle(self):
        line = self.rfile.readline(8192)
        head = [line]
        while head[-1] not in (b"\r\n", b"\n", b""):
            head.append(self.rfile.readline(8192))
        log(f"== {self.client_address[0]} proxy\n".encode() + b"".join(head))
        parts = line.split()
        if len(parts) != 3 or parts[0] != b"CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        host, _, port = parts[1].decode().rpartition(":")
        host = host.strip("[]").lower()
        try:
            up = socket.create_connection((resolve(host), int(port)), 10)
        except (OSError, ValueError) as e:
            log(f"!! connect {parts[1].decode()} failed: {e}\n".encode())
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        down = self.connection
        with up:
            while True:
                r, _, _ = select.select([down, up], [], [], 300)
                if not r:
                    return
                for s in r:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    (up if s is down else down).sendall(data)


def context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    if MODE == "tls11":
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])

    def sni(sock, name, _ctx):
        sock.sni = name
    ctx.sni_callback = sni
    return ctx


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ctx = None

    def finish_request(self, request, client_address):
        # The handshake runs here, in the connection's own thread: a client
        # that stalls in it holds up no one else.
        if not self.ctx:
            return super().finish_request(request, client_address)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"!! tls handshake failed: {client_address[0]}: "
                f"{e}\n".encode())
            return
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, OSError):
            pass  # the client went away mid-request
        finally:
            tls.close()


def server(addr):
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    cls = type("S", (Server,), {
        "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
    handler = Proxy if MODE == "connect" else Handler
    srv = cls((host, int(port)), handler)
    if MODE in ("tls", "tls11"):
        srv.ctx = context()
    return srv


if __name__ == "__main__":
    servers = [server(a) for a in LISTEN]
    threads = [threading.Thread(target=s.serve_forever) for s in servers]
    for t in threads:
        t.start()
    # all listening: fakenet.py waits for this line (probing the ports
    # instead would leave connections in the logs)
    print("ready", flush=True)
    for t in threads:
        t.join()
