# SPDX-License-Identifier: Apache-2.0
"""Plugins in Python: the hook protocol (docs/plugins.md), served.

A ``--plugin-process`` command::

    from microsandbox.plugin import Plugin, deny

    p = Plugin("dlp")

    @p.hook("http_request")
    def http(call):
        if b"123-45-6789" in call.body:
            return deny("DLP: PII")

    p.run()            # serves $MSB_PLUGIN_FD until the sandbox stops

A handler gets the call's fields as attributes (``call.argv``,
``call.name``, ``call.body`` for http_request and http_response, decoded)
and returns None (allow), ``deny(reason)``, ``answer([ips])`` (dns),
``modify(body)`` (http_request, http_response), ``modify(head=...)``
(http_response: a new status line and headers), ``rewrite(argv=...,
env=...)`` (exec_before) or a dict of the reply's fields. Events (lifecycle, exec_after,
http_response_head: an answer's head, never held) return nothing.
Standard library only: a plugin runs wherever python3 does.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import os
import socket
import struct
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional

MAX_MSG = 16 << 20
# At most this many of a connection's events are held for its handlers
# (the one being told among them) by a HookServer; newer ones are dropped
# while it is full (docs/plugins.md). The same in the four SDKs.
EVENT_QUEUE_MAX = 4096

_log = logging.getLogger("microsandbox.plugin")
HOOKS = ("lifecycle", "exec_before", "exec_after", "dns", "connect",
         "http_request", "http_response", "http_response_head", "fs")


def deny(reason: str = "", errno: Optional[int] = None) -> dict:
    r = {"verdict": "deny", "reason": reason}
    if errno is not None:
        r["errno"] = errno
    return r


def allow() -> dict:
    return {"verdict": "allow"}


def answer(addrs: Iterable[str]) -> dict:
    return {"verdict": "answer", "addrs": list(addrs)}


def modify(body: Optional[bytes] = None, head: Optional[str] = None) -> dict:
    """A new body (http_request, http_response) and/or, for an answer, a
    new head: its status line and headers through the empty line (its
    framing headers are replaced by the body's)."""
    if body is None and head is None:
        raise ValueError("modify() needs a body, a head or both")
    r: Dict[str, Any] = {"verdict": "modify"}
    if body is not None:
        r["body_b64"] = base64.b64encode(body).decode()
    if head is not None:
        r["head"] = head
    return r


def rewrite(argv: Optional[List[str]] = None,
            env: Optional[List[str]] = None) -> dict:
    r: Dict[str, Any] = {"verdict": "allow"}
    if argv is not None:
        r["argv"] = list(argv)
    if env is not None:
        r["env"] = list(env)
    return r


class Call:
    """One hook call or event: its fields as attributes."""

    def __init__(self, msg: dict):
        self._msg = msg
        self.hook: str = msg.get("hook", "")
        for k, v in msg.items():
            if k not in ("type", "id", "hook"):
                setattr(self, k, v)
        if "body_b64" in msg:
            self.body = base64.b64decode(msg["body_b64"])

    def __getattr__(self, name):  # fields a hook does not have
        return None

    def __repr__(self):
        return f"Call({self._msg!r})"


def _read_exact(sock: socket.socket, n: int) -> Optional[bytes]:
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            return None
        buf += b
    return bytes(buf)


def read_msg(sock: socket.socket) -> Optional[dict]:
    h = _read_exact(sock, 4)
    if h is None:
        return None
    (n,) = struct.unpack(">I", h)
    if n == 0 or n > MAX_MSG:
        raise ValueError(f"a message of {n} bytes")
    body = _read_exact(sock, n)
    if body is None:
        return None
    return json.loads(body)


def write_msg(sock: socket.socket, msg: dict) -> None:
    b = json.dumps(msg, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(b)) + b)


class Plugin:
    """A plugin: a name, hook handlers, and the loop that serves them."""

    def __init__(self, name: str, fs_ops: Iterable[str] = ()):
        self.name = name
        self.handlers: Dict[str, Callable[[Call], Any]] = {}
        self.fs_ops = list(fs_ops)

    def hook(self, name: str, *, fs_ops: Iterable[str] = ()):
        if name not in HOOKS:
            raise ValueError(f"unknown hook {name!r}: one of {HOOKS}")

        def deco(fn):
            self.handlers[name] = fn
            if name == "fs":
                self.fs_ops.extend(x for x in fs_ops if x not in self.fs_ops)
            return fn
        return deco

    def on(self, name: str, fn: Callable[[Call], Any], **kw) -> "Plugin":
        self.hook(name, **kw)(fn)
        return self

    def hello(self) -> dict:
        h: Dict[str, Any] = {"type": "hello", "name": self.name,
                             "hooks": sorted(self.handlers)}
        if "fs" in self.handlers:
            h["fs_ops"] = self.fs_ops
        return h

    def answer_call(self, msg: dict) -> dict:
        fn = self.handlers.get(msg.get("hook", ""))
        out: Any = None
        try:
            out = fn(Call(msg)) if fn else None
        except Exception as e:  # a handler's bug refuses that call
            print(f"plugin {self.name}: {msg.get('hook')} handler: {e!r}",
                  file=sys.stderr, flush=True)
            out = deny(f"plugin error: {e}")
        if out is None:
            out = allow()
        if isinstance(out, str):
            out = {"verdict": out}
        r = {"type": "reply", "id": msg["id"]}
        r.update(out)
        return r

    def tell(self, msg: dict) -> None:
        """Event @msg to its handler; what it raises is printed."""
        fn = self.handlers.get(msg.get("hook", ""))
        if fn:
            try:
                fn(Call(msg))
            except Exception as e:
                print(f"plugin {self.name}: event handler: {e!r}",
                      file=sys.stderr, flush=True)

    def serve(self, sock: socket.socket,
              tell: Optional[Callable[[dict], None]] = None) -> None:
        """Answer on @sock until the supervisor closes it; events go to
        @tell (default: told here, between the calls, in order)."""
        while True:
            msg = read_msg(sock)
            if msg is None:
                return
            t = msg.get("type")
            if t == "hello":
                write_msg(sock, self.hello())
            elif t == "call":
                write_msg(sock, self.answer_call(msg))
            elif t == "event":
                (tell or self.tell)(msg)

    def run(self, fd: Optional[int] = None) -> None:
        """Serve the channel a --plugin-process command is given."""
        if fd is None:
            fd = int(os.environ.get("MSB_PLUGIN_FD", "3"))
        sock = socket.socket(fileno=fd)
        try:
            self.serve(sock)
        finally:
            sock.close()


class _Events:
    """A connection's events on their way to its plugin's handlers, told
    in order on a thread of their own. At most EVENT_QUEUE_MAX are held,
    the one being told among them: while that many are, a new one is
    dropped (counted, a warning at the first) and the reader goes on."""

    def __init__(self, server: "HookServer"):
        self._server = server
        self._cv = threading.Condition()
        self._q: "collections.deque[dict]" = collections.deque()
        self._held = 0
        self._done = False
        self.dropped = 0
        self._t = threading.Thread(target=self._tell, daemon=True)
        self._t.start()

    def put(self, msg: dict) -> None:
        with self._cv:
            if self._held < EVENT_QUEUE_MAX:
                self._held += 1
                self._q.append(msg)
                self._cv.notify()
                return
            self.dropped += 1
            first = self.dropped == 1
        self._server._dropped(1)
        if first:
            _log.warning(
                "hook server %s: %d events of a connection not yet told to "
                "their handlers (slow or stuck): newer events are dropped "
                "until there is room", self._server.plugin.name,
                EVENT_QUEUE_MAX)

    def _tell(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._done:
                    self._cv.wait()
                if not self._q:
                    return
                msg = self._q.popleft()
            try:
                self._server.plugin.tell(msg)
            finally:
                with self._cv:
                    self._held -= 1

    def close(self) -> None:
        """Tell what is held, then end; the drops, if any, logged."""
        with self._cv:
            self._done = True
            self._cv.notify()
        self._t.join()
        if self.dropped:
            _log.warning(
                "hook server %s: %d events of a connection dropped, its "
                "handlers too slow (at most %d held)",
                self._server.plugin.name, self.dropped, EVENT_QUEUE_MAX)


class HookServer:
    """Callbacks of this process as a sandbox's plugin: a unix socket the
    supervisor connects to at each start (msb_plugins_add_socket), each
    connection served on a thread of its own, and its events told on
    another, in order: a slow event handler holds up no call and no read
    (an answer's head is written in that answer's way, so a channel left
    unread would delay it). At most EVENT_QUEUE_MAX events of a
    connection are held; newer ones are dropped while it is full
    (counted in events_dropped, logged)."""

    def __init__(self, plugin: Plugin, path: Optional[str] = None):
        import tempfile
        self.plugin = plugin
        #: events dropped over this server's connections (a full queue)
        self.events_dropped = 0
        self._lock = threading.Lock()
        self._dir = None
        if path is None:
            self._dir = tempfile.mkdtemp(prefix="msb-hooks-")
            path = os.path.join(self._dir, "hooks.sock")
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        os.chmod(path, 0o600)
        self._sock.listen(8)
        self._closed = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                c, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _dropped(self, n: int) -> None:
        with self._lock:
            self.events_dropped += n

    def _serve(self, c: socket.socket) -> None:
        events = _Events(self)
        try:
            self.plugin.serve(c, events.put)
        except (OSError, ValueError):
            pass
        finally:
            c.close()
            events.close()

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        finally:
            try:
                os.unlink(self.path)
                if self._dir:
                    os.rmdir(self._dir)
            except OSError:
                pass
