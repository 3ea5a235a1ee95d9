# SPDX-License-Identifier: Apache-2.0
"""Peer sandboxes, from code running inside a sandbox (docs/spawn.md).

``await Sandbox.current_runtime()`` inside a sandbox gives a Runtime that
asks the host, through the sandbox's agent (its socket
/run/microsandbox/agent.sock, the agent link, never the network), to
start peers beside it, run commands in them (with input), copy files in
and out of them, and snapshot and restore them. No libmsb is needed in
the guest: this module speaks the agent's frames itself
(docs/agent-protocol.md §7c). What is allowed is the host's decision
(msb run --allow-spawn N); a refusal raises PolicyRefused with the
host's reason.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import stat
import struct
from dataclasses import dataclass
from typing import Any, AsyncIterable, AsyncIterator, Mapping, Sequence

from .errors import (AlreadyExists, Busy, FileError, InvalidArgument,
                     MicrosandboxError, NotFound, NotRunning, NotSupported,
                     PermissionDenied, PolicyRefused, ProtocolError, Timeout)
from .process import Command, ExecResult, argv_of

AGENT_SOCK = "/run/microsandbox/agent.sock"

# frame types and TLV tags (src/proto/proto.h)
_STDIN, _WINDOW = 3, 7
_STDOUT, _STDERR, _EXIT, _RESULT, _PEER = 67, 68, 69, 73, 76
# the host sends output within the credit given back as it is taken
# (MSB_WINDOW_INIT at first); the program sends input within
# MSB_PEER_STDIN_WINDOW, which the host gives back as the peer takes it
_WINDOW_INIT = 256 * 1024
_STDIN_WINDOW = 128 * 1024
_STDIN_CHUNK = 32 * 1024
_T_ERRNO, _T_MESSAGE = 31, 32
_HDR = struct.Struct(">IIBBH")
_FRAME_MAX = 64 * 1024
# a copy's archive (MSB_PCP_*): records, a file's bytes in chunks
_PCP_DIR, _PCP_FILE, _PCP_LINK, _PCP_END = b"D", b"F", b"L", b"E"
_PCP_CHUNK = 64 * 1024
_PCP_NAME_MAX = 4095


def _result(payload: bytes) -> tuple[int, str]:
    """A RESULT's errno and message."""
    err, msg, i = None, "", 0
    while i + 5 <= len(payload):
        tag, n = payload[i], struct.unpack(">I", payload[i + 1:i + 5])[0]
        v = payload[i + 5:i + 5 + n]
        if len(v) != n:
            break
        if tag == _T_ERRNO and n == 4:
            err = struct.unpack(">I", v)[0]
        elif tag == _T_MESSAGE:
            msg = v.decode("utf-8", "replace")
        i += 5 + n
    if err is None:
        raise ProtocolError("a RESULT without ERRNO from the sandbox's agent")
    return err, msg


# the host's errno (peers.c: libmsb's code, MSB_E_POLICY as EPERM) as the
# SDK's error class
_BY_ERRNO = {
    errno.EPERM: PolicyRefused, errno.EINVAL: InvalidArgument,
    errno.ENOENT: NotFound, errno.EEXIST: AlreadyExists, errno.EBUSY: Busy,
    errno.ENOTCONN: NotRunning, errno.EPROTO: ProtocolError,
    errno.ETIMEDOUT: Timeout, errno.EACCES: PermissionDenied,
}


def _raise(err: int, msg: str):
    cls = _BY_ERRNO.get(err)
    if cls is not None:
        raise cls(msg or os.strerror(err))
    raise MicrosandboxError(msg or os.strerror(err), -err)


def _frame(kind: int, payload: bytes = b"") -> bytes:
    return _HDR.pack(len(payload), 0, kind, 0, 0) + payload


class _Conn:
    """A connection to the agent's socket: frames read whole, frames
    written whole (the input's and the credit's writers share it). A
    write that fails (the agent closed the connection, the answer's end
    sent) is not an error here: the reads still give what came before
    it, and the next one says."""

    def __init__(self, sock):
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.lock = asyncio.Lock()

    async def send(self, kind: int, payload: bytes = b""):
        async with self.lock:
            try:
                await self.loop.sock_sendall(self.sock, _frame(kind, payload))
            except OSError:
                pass

    async def frame(self) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= _HDR.size:
                n, _, kind, flags, _ = _HDR.unpack(self.buf[:_HDR.size])
                if n > _FRAME_MAX or flags:
                    raise ProtocolError("a bad frame from the sandbox's agent")
                if len(self.buf) >= _HDR.size + n:
                    p = bytes(self.buf[_HDR.size:_HDR.size + n])
                    del self.buf[:_HDR.size + n]
                    return kind, p
            try:
                b = await self.loop.sock_recv(self.sock, 1 << 16)
            except OSError:
                b = b""
            if not b:
                raise ProtocolError("the sandbox's agent closed the "
                                    "connection before the answer's end")
            self.buf += b


async def _connect() -> _Conn:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, AGENT_SOCK)
    except OSError as e:
        sock.close()
        raise NotSupported(f"not inside a microsandbox sandbox ({AGENT_SOCK}: "
                           f"{e.strerror})") from None
    return _Conn(sock)


async def _ask(req: dict, *, stdin=None, on_stdout=None
               ) -> tuple[bytes, bytes, tuple[int, int] | None]:
    """One request; its output, and (code, signal) for an exec. @stdin,
    an async iterator of bytes, is sent as the request's input within the
    credit the host gives back; @on_stdout(bytes), if given, takes the
    output as it comes instead of the result. Leaving early (an error,
    a cancel) closes the connection: the host cancels the request."""
    body = json.dumps(req, separators=(",", ":")).encode()
    if len(body) > 60 * 1024:
        raise InvalidArgument("the request is over 60 KiB")
    c = await _connect()
    out, err = bytearray(), bytearray()
    taken = 0
    credit = _Credit()
    feeder = None
    try:
        await c.send(_PEER, body)
        if stdin is not None:
            feeder = asyncio.ensure_future(_feed(c, stdin, credit))
        while True:
            kind, p = await _next(c, feeder)
            if kind in (_STDOUT, _STDERR):
                if kind == _STDOUT and on_stdout is not None:
                    on_stdout(p)
                else:
                    (out if kind == _STDOUT else err).extend(p)
                taken += len(p)
                if taken >= _WINDOW_INIT // 4:
                    await c.send(_WINDOW, struct.pack(">I", taken))
                    taken = 0
            elif kind == _WINDOW and len(p) == 4:
                # the host took this much input
                credit.give(struct.unpack(">I", p)[0])
            elif kind == _EXIT and len(p) >= 8:
                code, sig = struct.unpack(">iI", p[:8])
                return bytes(out), bytes(err), (code, sig)
            elif kind == _RESULT:
                e, msg = _result(p)
                if e:
                    _raise(e, msg)
                return bytes(out), bytes(err), None
    finally:
        if feeder is not None and not feeder.done():
            feeder.cancel()
        c.sock.close()


async def _next(c: _Conn, feeder) -> tuple[int, bytes]:
    """The answer's next frame; an input that fails meanwhile (its
    iterator raised) ends the request with its error."""
    if feeder is not None and feeder.done() and not feeder.cancelled() \
            and feeder.exception() is not None:
        raise feeder.exception()
    if feeder is None or feeder.done():
        return await c.frame()
    rd = asyncio.ensure_future(c.frame())
    try:
        await asyncio.wait({rd, feeder}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        rd.cancel()
        raise
    if not rd.done():
        if feeder.exception() is not None:
            rd.cancel()
            raise feeder.exception()
        return await rd
    return rd.result()


class _Credit:
    """The input bytes the host lets this program send now."""

    def __init__(self):
        self.left = _STDIN_WINDOW
        self.more = asyncio.Event()

    def give(self, n: int):
        if self.left + n <= _STDIN_WINDOW:
            self.left += n
            self.more.set()

    async def take(self, want: int) -> int:
        while not self.left:
            self.more.clear()
            await self.more.wait()
        n = min(want, self.left)
        self.left -= n
        return n


async def _feed(c: _Conn, chunks, credit: _Credit):
    """@chunks as STDIN frames within @credit, then the input's end."""
    async for chunk in chunks:
        mv = memoryview(bytes(chunk))
        while mv:
            n = await credit.take(min(len(mv), _STDIN_CHUNK))
            await c.send(_STDIN, bytes(mv[:n]))
            mv = mv[n:]
    await c.send(_STDIN)


async def _chunks_of(data) -> AsyncIterator[bytes]:
    if data:
        yield data


def _tty_size(tty) -> tuple[int, int]:
    """exec's @tty as (rows, cols): True is 24 by 80."""
    if tty is True:
        return 24, 80
    if (isinstance(tty, tuple) and len(tty) == 2 and
            all(isinstance(n, int) and not isinstance(n, bool) and
                1 <= n <= 65535 for n in tty)):
        return tty
    raise InvalidArgument(f"tty is True or (rows, cols), each 1 to 65535, "
                          f"not {tty!r}")


def _input(stdin) -> AsyncIterator[bytes]:
    """exec's @stdin: bytes, a str (UTF-8) or an async iterable of
    bytes."""
    if isinstance(stdin, str):
        return _chunks_of(stdin.encode())
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        return _chunks_of(bytes(stdin))
    if hasattr(stdin, "__aiter__"):
        return _checked(stdin)
    raise InvalidArgument("stdin is bytes, a str or an async iterable of "
                          "bytes")


async def _checked(it) -> AsyncIterator[bytes]:
    async for chunk in it:
        if isinstance(chunk, str):
            chunk = chunk.encode()
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"stdin gave a {type(chunk).__name__}: "
                                  f"an async iterable of bytes is wanted")
        yield bytes(chunk)


# ---- a copy's archive (docs/agent-protocol.md §7c, MSB_PCP_* in proto.h)


def _local_error(e: OSError, what: str, path) -> MicrosandboxError:
    """An error of this sandbox's files, as the SDK's class for it."""
    msg = f"{what} {os.fsdecode(path)}: {e.strerror or e}"
    cls = {errno.ENOENT: NotFound, errno.EEXIST: AlreadyExists,
           errno.EACCES: PermissionDenied, errno.EPERM: PermissionDenied}
    if e.errno in cls:
        return cls[e.errno](msg)
    return FileError(msg, -(e.errno or errno.EIO),
                     errno.errorcode.get(e.errno or errno.EIO, ""))


def _base_name(p: str) -> str:
    """The copied item's name: @p's last component ("/" for "/")."""
    q = p.rstrip("/") or "/"
    return q if q == "/" else q.rsplit("/", 1)[-1]


def _contents_only(p: str) -> bool:
    """docker cp's SRC/. (or "/"): what is in the directory."""
    return p.endswith("/.") or (p != "" and p.strip("/") == "")


def _rec(kind: bytes, mode: int, name: bytes, link: bytes = b"") -> bytes:
    if len(name) > _PCP_NAME_MAX or len(link) > _PCP_NAME_MAX:
        raise InvalidArgument(f"{os.fsdecode(name)}: the name is too long "
                              f"(at most {_PCP_NAME_MAX} bytes)")
    r = kind + struct.pack(">IH", mode & 0o7777, len(name)) + name
    if kind == _PCP_LINK:
        r += struct.pack(">H", len(link)) + link
    return r


def _file_data(path: bytes):
    try:
        f = open(path, "rb", buffering=0)
    except OSError as e:
        raise _local_error(e, "cannot open", path) from None
    with f:
        while True:
            try:
                b = f.read(_PCP_CHUNK)
            except OSError as e:
                raise _local_error(e, "cannot read", path) from None
            if not b:
                break
            yield struct.pack(">I", len(b)) + b
    yield struct.pack(">I", 0)


def _pack_tree(root: bytes, rel: bytes, depth: int):
    """What is in directory @root/@rel, each name below the copied item
    (a directory before what is in it); sockets, fifos and devices are
    not copied."""
    here = os.path.join(root, rel) if rel else root
    try:
        names = sorted(os.listdir(here))
    except OSError as e:
        raise _local_error(e, "cannot read", here) from None
    for n in names:
        name = os.path.join(rel, n) if rel else n
        path = os.path.join(root, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISDIR(st.st_mode):
            if depth >= 128:
                raise InvalidArgument(f"{os.fsdecode(path)}: directories "
                                      f"nested too deep")
            yield _rec(_PCP_DIR, st.st_mode, name)
            yield from _pack_tree(root, name, depth + 1)
        elif stat.S_ISREG(st.st_mode):
            yield _rec(_PCP_FILE, st.st_mode, name)
            yield from _file_data(path)
        elif stat.S_ISLNK(st.st_mode):
            try:
                yield _rec(_PCP_LINK, st.st_mode, name, os.readlink(path))
            except OSError:
                continue


def _pack(src: str, st: os.stat_result):
    """@src (lstat'ed as @st) as an archive, in pieces."""
    b = os.fsencode(src)
    base = os.fsencode(_base_name(src))
    if stat.S_ISDIR(st.st_mode):
        yield _rec(_PCP_DIR, st.st_mode, base)
        yield from _pack_tree(b, b"", 0)
    elif stat.S_ISREG(st.st_mode):
        yield _rec(_PCP_FILE, st.st_mode, base)
        yield from _file_data(b)
    elif stat.S_ISLNK(st.st_mode):
        try:
            link = os.readlink(b)
        except OSError as e:
            raise _local_error(e, "cannot read", src) from None
        yield _rec(_PCP_LINK, st.st_mode, base, link)
    else:
        raise InvalidArgument(f"{src} is not a file, a directory or a "
                              f"symlink")
    yield _rec(_PCP_END, 0, b"")


async def _pieces(gen) -> AsyncIterator[bytes]:
    """@gen's pieces gathered into chunks of about _STDIN_CHUNK bytes."""
    buf = bytearray()
    for piece in gen:
        buf += piece
        if len(buf) >= _STDIN_CHUNK:
            yield bytes(buf)
            buf.clear()
            await asyncio.sleep(0)
    if buf:
        yield bytes(buf)


def _name_ok(name: bytes) -> bool:
    """A name below the copied item (msb_fname_ok): relative, no empty,
    "." or ".." component, no NUL."""
    if not name or b"\0" in name or name.startswith(b"/"):
        return False
    return all(c not in (b"", b".", b"..") for c in name.split(b"/"))


class _Unpacker:
    """The archive of the peer's @src into this sandbox's @dst, as the
    data comes (docker cp's rules, as `msb cp PEER:SRC DST` applies
    them): a directory's names are reached one component at a time
    without following symlinks, none may leave it."""

    def __init__(self, src: str, dst: str):
        self.src, self.dst = src, dst
        self.buf = bytearray()
        self.root = None      # the copied item's record
        self.rootfd = -1      # the directory its names are below
        self.made = False     # the directory was made here (its mode)
        self.fd = -1          # the file being written, or -1
        self.fname = ""
        self.in_file = False  # a file's chunks come next
        self.fmode = 0
        self.dirs = []        # (name, mode): set last, deepest first
        self.done = False

    def feed(self, data: bytes):
        self.buf += data
        while not self.done:
            if self.in_file:
                if not self._chunk():
                    return
            elif not self._record():
                return

    def _chunk(self) -> bool:
        if len(self.buf) < 4:
            return False
        n = struct.unpack(">I", self.buf[:4])[0]
        if n > _PCP_CHUNK:
            raise ProtocolError("the copy's data is not an archive (a "
                                "chunk over 64 KiB)")
        if len(self.buf) < 4 + n:
            return False
        data = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        if n:
            if self.fd >= 0:
                try:
                    os.write(self.fd, data)
                except OSError as e:
                    raise _local_error(e, "cannot write", self.fname) \
                        from None
            return True
        self.in_file = False
        if self.fd >= 0:
            os.fchmod(self.fd, self.fmode)
            os.close(self.fd)
            self.fd = -1
        return True

    def _record(self) -> bool:
        b = self.buf
        if len(b) < 7:
            return False
        kind, mode, nl = b[0:1], struct.unpack(">I", b[1:5])[0] & 0o7777, \
            struct.unpack(">H", b[5:7])[0]
        if kind not in (_PCP_DIR, _PCP_FILE, _PCP_LINK, _PCP_END) or \
                nl > _PCP_NAME_MAX:
            raise ProtocolError("the copy's data is not an archive (a bad "
                                "record)")
        end = 7 + nl
        link = b""
        if kind == _PCP_LINK:
            if len(b) < end + 2:
                return False
            tl = struct.unpack(">H", b[end:end + 2])[0]
            if len(b) < end + 2 + tl:
                return False
            link = bytes(b[end + 2:end + 2 + tl])
            end += 2 + tl
        if len(b) < end:
            return False
        name = bytes(b[7:7 + nl])
        del self.buf[:end]
        if self.root is None:
            self._top(kind, mode, name, link)
        elif kind == _PCP_END:
            self._finish()
        else:
            self._below(kind, mode, name, link)
        return True

    def _top(self, kind, mode, name, link):
        src, dst = self.src, self.dst
        if kind == _PCP_END:
            raise ProtocolError("the copy's data is an empty archive")
        self.root = (kind, mode, name)
        try:
            st = os.stat(dst)
        except OSError:
            st = None
        isdir = st is not None and stat.S_ISDIR(st.st_mode)
        bad = b"/" in name or name in (b"", b".", b"..")
        if isdir and bad and not (kind == _PCP_DIR and _contents_only(src)):
            raise InvalidArgument(f"{os.fsdecode(name)!r} is not a name to "
                                  f"copy into {dst}")
        sep = "" if dst.endswith("/") else "/"
        target = dst
        if kind == _PCP_DIR:
            if st is not None and not isdir:
                raise InvalidArgument(f"cannot copy the directory {src} "
                                      f"onto the file {dst}")
            if isdir and not _contents_only(src):
                target = dst + sep + os.fsdecode(name)
                try:
                    os.mkdir(target, 0o700)
                    self.made = True
                except FileExistsError:
                    pass
                except OSError as e:
                    raise _local_error(e, "cannot make", target) from None
            elif not isdir:
                try:
                    os.mkdir(dst, 0o700)
                    self.made = True
                except OSError as e:
                    raise _local_error(e, "cannot make", dst) from None
            try:
                self.rootfd = os.open(target, os.O_RDONLY | os.O_DIRECTORY |
                                      os.O_CLOEXEC)
            except OSError as e:
                raise _local_error(e, "cannot open", target) from None
            return
        if isdir:
            target = dst + sep + os.fsdecode(name)
        elif st is None and dst.endswith("/"):
            raise NotFound(f"no directory {dst} here")
        if kind == _PCP_LINK:
            try:
                os.unlink(target)
            except OSError:
                pass
            try:
                os.symlink(link, target)
            except OSError as e:
                raise _local_error(e, "cannot make the symlink", target) \
                    from None
            return
        self._open(None, target, mode)

    def _open(self, dirfd, path, mode):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        if dirfd is not None:
            flags |= os.O_NOFOLLOW
        try:
            self.fd = os.open(path, flags, 0o600, dir_fd=dirfd)
        except OSError as e:
            raise _local_error(e, "cannot create", path) from None
        self.fname, self.fmode, self.in_file = os.fsdecode(path), mode, True

    def _beneath(self, name: bytes):
        """The directory holding @name below the copied item, reached
        without following symlinks, and @name's last component."""
        parts = name.split(b"/")
        fd = os.dup(self.rootfd)
        try:
            for c in parts[:-1]:
                nfd = os.open(c, os.O_RDONLY | os.O_DIRECTORY |
                              os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except OSError as e:
            os.close(fd)
            raise _local_error(e, "cannot reach the directory of", name) \
                from None
        return fd, parts[-1]

    def _below(self, kind, mode, name, link):
        if self.root[0] != _PCP_DIR:
            raise ProtocolError("the copy's data is not an archive (more "
                                "after a file)")
        if not _name_ok(name):
            raise InvalidArgument(f"{os.fsdecode(name)!r} is not a name "
                                  f"below {self.src}: not copied")
        pfd, leaf = self._beneath(name)
        try:
            if kind == _PCP_DIR:
                try:
                    os.mkdir(leaf, 0o700, dir_fd=pfd)
                except FileExistsError:
                    pass
                except OSError as e:
                    raise _local_error(e, "cannot make", name) from None
                self.dirs.append((name, mode))
            elif kind == _PCP_FILE:
                self._open(pfd, leaf, mode)
                self.fname = os.fsdecode(name)
            else:
                try:
                    os.unlink(leaf, dir_fd=pfd)
                except OSError:
                    pass
                try:
                    os.symlink(link, leaf, dir_fd=pfd)
                except OSError as e:
                    raise _local_error(e, "cannot make the symlink", name) \
                        from None
        finally:
            os.close(pfd)

    def _finish(self):
        # directories' modes last (one without write permission could not
        # have been filled), deepest first
        for name, mode in reversed(self.dirs):
            try:
                pfd, leaf = self._beneath(name)
            except MicrosandboxError:
                continue
            try:
                os.chmod(leaf, mode, dir_fd=pfd)
            except OSError:
                pass
            finally:
                os.close(pfd)
        if self.rootfd >= 0 and self.made:
            os.fchmod(self.rootfd, self.root[1])
        self.done = True
        self.close()

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.rootfd >= 0:
            os.close(self.rootfd)
            self.rootfd = -1


_NET_HOOKS = ("on_dns", "on_connect", "on_http", "on_http_response",
              "on_http_response_head")


def _no_hooks(net, hooks: Mapping[str, Any]) -> None:
    """Refuse hooks given to a peer: a hook runs in the host program that
    made a sandbox, served over a socket its supervisor connects to; a
    peer's supervisor has no such program to call."""
    given = [k for k, v in hooks.items() if v is not None]
    given += [f"Network({k}=...)" for k in _NET_HOOKS
              if getattr(net, k, None) is not None]
    if given:
        raise InvalidArgument(
            f"a peer takes no hooks ({', '.join(given)}): hooks run in the "
            f"host program that made a sandbox, not in a sandbox's code; "
            f"give them to Sandbox.create() in a program on the host, or "
            f"leave them out here")


def _network(net) -> dict:
    if net is None:
        return {}
    bad = [k for k in ("block_cidr", "dns", "ports", "plugin", "allow_host")
           if getattr(net, k, None)]
    if bad:
        raise InvalidArgument(f"a peer's network takes deny_all, allow and "
                              f"allow_cidr only (its parent's is the rest), "
                              f"not {', '.join(bad)}")
    out: dict = {}
    if net.deny_all and not (net.allow or net.allow_cidr):
        out["net_deny_all"] = True
    if net.allow:
        out["net_allow"] = list(net.allow)
    if net.allow_cidr:
        out["net_allow_cidr"] = list(net.allow_cidr)
    return out


def _secrets(secrets) -> list:
    out = []
    for env, spec in (secrets or {}).items():
        if isinstance(spec, str):
            ph, hosts = spec, None
        else:
            ph, hosts = spec[0], spec[1] if len(spec) > 1 else None
        s = {"env": env, "placeholder": ph}
        if hosts:
            s["hosts"] = hosts if isinstance(hosts, str) else ",".join(hosts)
        out.append(s)
    return out


@dataclass(frozen=True)
class PeerInfo:
    """A peer as ``rt.list()`` gives it."""
    name: str
    image: str
    status: str
    cpus: int
    memory_mib: int


@dataclass(frozen=True)
class PeerSnapshotInfo:
    """A snapshot of a peer as ``rt.snapshots()`` gives it: ``kind`` is
    "full" (memory and disk: restored running) or "disk"."""
    name: str
    source: str
    kind: str
    size_bytes: int


class Peer:
    """A peer sandbox this sandbox started: exec, copy_in, copy_out,
    snapshot, stop, remove, logs."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"Peer({self.name!r})"

    async def exec(self, cmd: Command, *, shell: bool = False,
                   env: Mapping[str, str] | None = None,
                   workdir: str | None = None,
                   stdin: bytes | str | AsyncIterable[bytes] | None = None,
                   tty: bool | tuple[int, int] = False,
                   check: bool = False) -> ExecResult:
        """Run @cmd in the peer to its end. @stdin (bytes, a str, or an
        async iterable of bytes, read as the peer takes it) is its
        input, its end the command's end-of-file; without it the command
        reads end-of-file at once. @tty (True for 24 rows and 80 columns,
        or (rows, cols)) gives the command a terminal: its output is all
        in stdout, as the terminal wrote it (lines end in "\r\n"), and
        its input goes through the terminal's line discipline."""
        argv = argv_of(cmd, shell)
        req: dict[str, Any] = {"op": "exec", "name": self.name, "argv": argv}
        if env:
            req["env"] = [f"{k}={v}" for k, v in env.items()]
        if workdir:
            req["workdir"] = workdir
        if tty:
            req["tty"] = True
            req["rows"], req["cols"] = _tty_size(tty)
        inp = None
        if stdin is not None:
            inp = _input(stdin)
            req["stdin"] = True
        out, err, st = await _ask(req, stdin=inp)
        code, sig = st if st else (0, 0)
        res = ExecResult(argv=argv, exit_code=code, stdout_bytes=out,
                         stderr_bytes=err, signal=sig)
        return res.check_returncode() if check else res

    async def copy_in(self, src, dst: str, *, user: str | int | None = None
                      ) -> None:
        """This sandbox's file, directory (with everything in it) or
        symlink @src into the peer's @dst, with docker cp's rules (a
        @src ending in "/." copies what is in it), through the host.
        @user owns what is made (name, uid or uid:gid)."""
        src = os.fspath(src)
        try:
            st = os.lstat(src)
        except OSError as e:
            raise _local_error(e, "cannot copy", src) from None
        req: dict[str, Any] = {"op": "cp_in", "name": self.name,
                               "path": dst}
        if user is not None:
            req["user"] = str(user)
        if stat.S_ISDIR(st.st_mode) and _contents_only(src):
            req["contents"] = True
        await _ask(req, stdin=_pieces(_pack(src, st)))

    async def copy_out(self, src: str, dst, *,
                       user: str | int | None = None) -> None:
        """The peer's file, directory or symlink @src into this
        sandbox's @dst, with docker cp's rules; a name that would land
        outside @dst is refused."""
        dst = os.fspath(dst)
        req: dict[str, Any] = {"op": "cp_out", "name": self.name,
                               "path": src}
        if user is not None:
            req["user"] = str(user)
        up = _Unpacker(src, dst)
        try:
            await _ask(req, on_stdout=up.feed)
        finally:
            up.close()
        if not up.done:
            raise ProtocolError("the copy ended before its end")

    async def snapshot(self, name: str) -> str:
        """Snapshot the peer as @name, kept on the host (its memory and
        disk while it runs, its disk when stopped): @name, for
        ``rt.restore()``."""
        await _ask({"op": "snapshot", "name": self.name, "snapshot": name})
        return name

    async def stop(self) -> None:
        await _ask({"op": "stop", "name": self.name})

    async def remove(self) -> None:
        await _ask({"op": "rm", "name": self.name})

    async def logs(self) -> str:
        return (await _ask({"op": "logs", "name": self.name}))[0].decode(
            "utf-8", "replace")


class Runtime:
    """The host, as a sandbox's code sees it: ``Sandbox.current_runtime()``."""

    async def start(self, name: str, *, image: str | None = None,
                    cpus: int | None = None, memory: str | int | None = None,
                    env: Mapping[str, str] | None = None, network=None,
                    secrets: Mapping[str, Any] | None = None,
                    on_exec=None, on_exec_exit=None,
                    on_lifecycle=None) -> Peer:
        """Start peer @name and return once it is booted. @secrets maps
        the peer's variable to (placeholder, hosts): the placeholder this
        sandbox holds (``os.environ["KEY"]``), hosts a string or a list,
        no wider than this sandbox's binding (None: the same).

        A peer takes no hooks (``on_exec``, ``on_exec_exit``,
        ``on_lifecycle``, a Network's ``on_dns``, ``on_connect``,
        ``on_http``, ``on_http_response``, ``on_http_response_head``):
        hooks run in the host program that made a sandbox; given here
        they raise InvalidArgument before anything is asked of the host."""
        _no_hooks(network, {"on_exec": on_exec, "on_exec_exit": on_exec_exit,
                            "on_lifecycle": on_lifecycle})
        req: dict[str, Any] = {"op": "start", "name": name}
        if image:
            req["image"] = image
        if cpus:
            req["cpus"] = int(cpus)
        if memory:
            req["memory"] = f"{memory}M" if isinstance(memory, int) else memory
        if env:
            req["env"] = [f"{k}={v}" for k, v in env.items()]
        req.update(_network(network))
        if secrets:
            req["secrets"] = _secrets(secrets)
        await _ask(req)
        return Peer(name)

    def peer(self, name: str) -> Peer:
        """A handle on a peer started earlier."""
        return Peer(name)

    async def list(self) -> Sequence[PeerInfo]:
        """This sandbox's peers."""
        out = (await _ask({"op": "ps", "json": True}))[0]
        return [PeerInfo(**p) for p in json.loads(out or b"[]")]

    async def snapshots(self) -> Sequence[PeerSnapshotInfo]:
        """The snapshots of this sandbox's peers (``peer.snapshot()``)."""
        out = (await _ask({"op": "snapshot_ls", "json": True}))[0]
        try:
            return [PeerSnapshotInfo(s["name"], s["source"], s["kind"],
                                     s["size_bytes"])
                    for s in json.loads(out or b"[]")]
        except (ValueError, TypeError, KeyError) as e:
            raise ProtocolError(f"the host's list of snapshots: {e}") \
                from None

    async def remove_snapshot(self, snapshot: str | PeerSnapshotInfo
                              ) -> None:
        """Delete a snapshot of one of this sandbox's peers (Busy while
        peers restored from it exist)."""
        await _ask({"op": "snapshot_rm", "snapshot": _snap_name(snapshot)})

    async def restore(self, snapshot: str | PeerSnapshotInfo, *,
                      name: str) -> Peer:
        """Start peer @name from @snapshot, within the host's limits for
        this sandbox's peers as ``start()`` is; a peer that held secrets
        given at its creation cannot be restored."""
        await _ask({"op": "restore", "snapshot": _snap_name(snapshot),
                    "name": name})
        return Peer(name)


def _snap_name(snapshot) -> str:
    if isinstance(snapshot, PeerSnapshotInfo):
        return snapshot.name
    if not isinstance(snapshot, str):
        raise InvalidArgument("a snapshot is its name (a str) or a "
                              "PeerSnapshotInfo")
    return snapshot


async def current_runtime() -> Runtime:
    if not os.path.exists(AGENT_SOCK):
        raise NotSupported(f"not inside a microsandbox sandbox ({AGENT_SOCK} "
                           f"is missing): current_runtime() is for code "
                           f"running in one; from the host, use "
                           f"Sandbox.create()")
    return Runtime()
