# SPDX-License-Identifier: Apache-2.0
"""A misbehaving --plugin-process for tests/e2e/test_plugins.py: allows
every exec but `crash` (exits), `hang` (never answers), `garbage` (answers
with bytes that are not JSON), `lie` (answers another call's id) and
`flood` (announces a 1 GiB message). Each start is counted in $STARTS."""

import json
import os
import socket
import struct
import sys
import time

fd = int(os.environ.get("MSB_PLUGIN_FD", "3"))
s = socket.socket(fileno=fd)
with open(os.environ["STARTS"], "a") as f:
    f.write("start\n")


def read():
    h = b""
    while len(h) < 4:
        b = s.recv(4 - len(h))
        if not b:
            sys.exit(0)
        h += b
    n = struct.unpack(">I", h)[0]
    d = b""
    while len(d) < n:
        b = s.recv(n - len(d))
        if not b:
            sys.exit(0)
        d += b
    return json.loads(d)


def send(m):
    b = json.dumps(m).encode()
    s.sendall(struct.pack(">I", len(b)) + b)


while True:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": "bad", "hooks": ["exec_before"]})
        continue
    if m["type"] != "call":
        continue
    cmd = m["argv"][0]
    if cmd == "crash":
        os._exit(3)
    if cmd == "hang":
        time.sleep(3600)
    if cmd == "garbage":
        s.sendall(struct.pack(">I", 12) + b"\x00not json{{{")
        continue
    if cmd == "lie":
        send({"type": "reply", "id": m["id"] + 1000, "verdict": "allow"})
        continue
    if cmd == "flood":
        s.sendall(struct.pack(">I", 1 << 30) + b"x" * 65536)
        continue
    send({"type": "reply", "id": m["id"], "verdict": "allow"})
