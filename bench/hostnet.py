# SPDX-License-Identifier: Apache-2.0
"""The host side of the network benches (net.py, confine.py): the address
a guest reaches the host at, and TCP servers there that time each
connection on the host's clock."""

import socket
import subprocess
import sys
import threading
import time


def host_ip():
    """The host's first global IPv4 address, which --net-allow-cidr opens
    to a guest."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope",
                          "global"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        return line.split()[3].split("/")[0]
    sys.exit("no global IPv4 address on this host for the guest to reach")


class Server(threading.Thread):
    """Listens on 0.0.0.0:self.port and serves each connection by kind:
    "down" sends size bytes of zeros, "up" reads until EOF (or size bytes,
    when given), "conn" only accepts it. Each connection's (start, end,
    bytes) goes to self.times; a subclass serves other kinds in serve()."""

    def __init__(self, kind, size=None):
        super().__init__(daemon=True)
        self.kind, self.size = kind, size
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.times = []
        self.start()

    def run(self):
        self.zeros = bytes(1 << 20)
        while True:
            c, _ = self.sock.accept()
            t0 = time.monotonic()
            n = self.serve(c)
            c.close()
            self.times.append((t0, time.monotonic(), n))

    def serve(self, c):
        """Serve connection c; Return: the bytes it carried."""
        n = 0
        if self.kind == "down":
            for _ in range(self.size >> 20):
                c.sendall(self.zeros)
                n += len(self.zeros)
        elif self.kind == "up":
            while self.size is None or n < self.size:
                b = c.recv(1 << 20)
                if not b:
                    break
                n += len(b)
        return n

    def take(self):
        """The times of the connections since the last take()."""
        t, self.times = self.times, []
        return t
