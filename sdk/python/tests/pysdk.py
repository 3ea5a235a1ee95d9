# SPDX-License-Identifier: Apache-2.0
"""Helpers of the Python SDK's tests, in a module named pysdk (not
conftest) so they never meet the repository suite's conftest in one pytest
run: the build under test (MSB_BUILD, as the repository's suite) and
libmsb from it, an msb runner, asyncio.run for awaitables.

The tests drive real sandboxes: every call goes through libmsb into a
supervisor and a guest under QEMU. Each test runs its coroutine with
asyncio.run (a Sandbox holds no event loop of its own)."""

import asyncio
import http.server
import os
import subprocess
import sys
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(SDK))
BUILD = os.environ.get("MSB_BUILD", os.path.join(ROOT, "build"))
MSB = os.path.join(BUILD, "bin", "msb")
VECTORS = os.path.join(ROOT, "tests", "sdk", "vectors.json")

# The package from the tree (test_install.py checks the pip install).
sys.path.insert(0, os.path.join(SDK, "src"))
os.environ.setdefault("MSB_LIB", os.path.join(BUILD, "lib", "libmsb.so.0"))
os.environ.pop("MSB_PREFIX", None)
os.environ.pop("MSB_REMOTE", None)  # the sync tests set their own


def run(aw):
    """asyncio.run of a coroutine or any awaitable (Sandbox.create returns
    one that is also an async context manager)."""
    async def main():
        return await aw
    return asyncio.run(main())


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def msb(*args, check=True, **kw):
    p = subprocess.run([MSB, *args], capture_output=True, timeout=300, **kw)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p




def serve_http(answer):
    """A loopback HTTP server for a guest to fetch from (allowed with
    Network(allow_host=[srv.port])): answer(method, path, body) gives the
    body of each GET and POST, answered 200; srv.hits counts requests.
    The caller ends it with srv.shutdown()."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, method):
            n = int(self.headers.get("Content-Length", 0) or 0)
            self.server.hits += 1
            body = answer(method, self.path, self.rfile.read(n))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer("GET")

        def do_POST(self):
            self._answer("POST")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.hits = 0
    srv.port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
