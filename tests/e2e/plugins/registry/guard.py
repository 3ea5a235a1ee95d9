# SPDX-License-Identifier: Apache-2.0
"""A plugin published and installed by tests/e2e/test_plugin_registry.py,
written from docs/plugins.md alone: refuses every exec whose program is a
word of words/deny.txt (read from the plugin's own files, its working
directory once installed)."""

import json
import os
import socket
import struct
import sys

with open(os.path.join("words", "deny.txt")) as f:
    DENY = {w.strip() for w in f if w.strip()}

s = socket.socket(fileno=int(os.environ.get("MSB_PLUGIN_FD", "3")))


def read(n):
    d = b""
    while len(d) < n:
        b = s.recv(n - len(d))
        if not b:
            sys.exit(0)
        d += b
    return d


def send(m):
    b = json.dumps(m).encode()
    s.sendall(struct.pack(">I", len(b)) + b)


while True:
    m = json.loads(read(struct.unpack(">I", read(4))[0]))
    if m["type"] == "hello":
        send({"type": "hello", "name": "guard", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        prog = os.path.basename(m["argv"][0])
        if prog in DENY:
            send({"type": "reply", "id": m["id"], "verdict": "deny",
                  "reason": f"{prog} is on the deny list"})
        else:
            send({"type": "reply", "id": m["id"], "verdict": "allow"})
