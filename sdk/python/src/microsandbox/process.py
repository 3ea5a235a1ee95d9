# SPDX-License-Identifier: Apache-2.0
"""Commands in a sandbox: ExecResult (a finished command) and Process (a
running one, streamed).

Each command has its own connection to the sandbox's supervisor, whose
descriptor (msb_exec_fd) the event loop watches with add_reader: a
thousand commands cost a thousand descriptors and no threads. Output
the caller has not taken yet is bounded: past OUT_HIGH bytes the loop
stops reading that command's descriptor, the supervisor stops granting it
credit, and the process in the guest waits on its full pipe.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import shlex
import signal as _signal
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Mapping, Sequence, Union

from . import _lib
from ._native import Sends, call, raise_for
from .errors import (CommandError, ExecTimeout, InvalidArgument,
                     MicrosandboxError, SandboxStopped)

OUT_HIGH = 4 << 20  # bytes held for a stream's reader before it pauses
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class OutputChunk:
    """Bytes a process wrote: ``stream`` is "stdout" or "stderr"."""

    stream: str
    data: bytes

    @property
    def text(self) -> str:
        return _lib.text(self.data)


@dataclass
class ExecResult:
    """A command that ended. A non-zero ``exit_code`` is data, not an error
    (``check=True``, or ``check_returncode()``, makes it one)."""

    argv: list
    exit_code: int
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    signal: int = 0          # the signal that killed it, 0 if it exited
    timed_out: bool = False  # killed for its timeout
    pid: int = 0

    @property
    def stdout(self) -> str:
        return _lib.text(self.stdout_bytes)

    @property
    def stderr(self) -> str:
        return _lib.text(self.stderr_bytes)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check_returncode(self) -> "ExecResult":
        if self.exit_code != 0:
            raise CommandError(
                f"{shlex.join(self.argv)} exited with status {self.exit_code}"
                + (f" (signal {self.signal})" if self.signal else "")
                + (f": {self.stderr.strip()[-500:]}" if self.stderr_bytes else ""),
                self)
        return self


Command = Union[str, Sequence[str]]
OutputCallback = Callable[[OutputChunk], Any]


def argv_of(cmd: Command, shell: bool = False) -> list:
    """A command line ("pip install numpy", split as a POSIX shell splits
    words, no expansion) or an argv list; with @shell, /bin/sh -c @cmd."""
    if shell:
        if not isinstance(cmd, str) or not cmd.strip():
            raise InvalidArgument("shell=True takes a command line (a string)")
        return ["/bin/sh", "-c", cmd]
    if isinstance(cmd, str):
        try:
            argv = shlex.split(cmd)
        except ValueError as e:
            raise InvalidArgument(f"cannot split the command line {cmd!r}: {e}")
    elif isinstance(cmd, (list, tuple)):
        argv = [str(a) if not isinstance(a, (str, bytes)) else a for a in cmd]
        if any(not isinstance(a, str) for a in argv):
            raise InvalidArgument("argv items must be strings")
    else:
        raise InvalidArgument("a command is a string or a list of strings")
    if not argv or not argv[0]:
        raise InvalidArgument("a command to run is required")
    return argv


def exec_opts(env, cwd, user, tty, timeout, want_stdin, keep) -> _lib.ExecOpts:
    o = _lib.ExecOpts()
    if env:
        items = [f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping) \
            else list(env)
        a = _lib.StrArray(items)
        keep.append(a)
        o.env = a.ptr
    for field, v in (("workdir", cwd), ("user", user)):
        if v is not None:
            b = str(v).encode()
            keep.append(b)
            setattr(o, field, b)
    if tty:
        o.tty = 1
        rows, cols = tty if isinstance(tty, tuple) else (24, 80)
        o.rows, o.cols = rows, cols
    if timeout is not None:
        if timeout <= 0:
            raise InvalidArgument(f"invalid timeout {timeout!r}: seconds, > 0")
        o.timeout_ms = max(1, int(timeout * 1000))
    o.stdin = 1 if want_stdin else 0
    return o


class Process:
    """A command running in a sandbox (``Sandbox.exec_stream``).

        async with await sb.exec_stream("python -u train.py") as p:
            async for chunk in p:
                print(chunk.stream, chunk.text, end="")
            result = await p.wait()

    ``write``/``close_stdin`` feed its stdin (with ``stdin=True``),
    ``send_signal``/``kill`` reach its process group in the guest,
    ``resize`` its terminal. Leaving the ``async with`` kills it if it still
    runs. ``wait()`` returns its ExecResult with whatever output was not
    iterated; it raises ExecTimeout if ``timeout`` killed it.

    ``paused`` is the supervisor's words while the sandbox is paused
    because its host disk is full ("sandbox NAME is paused: the host disk
    under DIR is full ..."), None while it runs and once the command has
    ended: the command waits then, and goes on by itself once there is
    room (docs/api-protocol.md §11.4). It follows the command's events as
    the event loop reads them.
    """

    def __init__(self, argv, handle: ctypes.c_void_p, keep, timeout):
        self.argv = argv
        self.pid: int | None = None
        self._h = handle
        self._keep = keep
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._fd = _lib.lib().msb_exec_fd(handle)
        self._queue: list[OutputChunk] = []
        self._held = 0
        self._wake = asyncio.Event()
        self._started = asyncio.Event()
        self._done = self._loop.create_future()
        self._sends = Sends()
        self._reading = False
        self._discard = False
        self._ev = _lib.ExecEvent()
        self._err = _lib.MsbError()
        self._paused: str | None = None
        self._resume()

    @property
    def paused(self) -> str | None:
        """Why the sandbox is paused (its host disk is full) while it is,
        None while it runs and once the command has ended."""
        return self._paused

    # -- the descriptor ------------------------------------------------------

    def _resume(self):
        if not self._reading and not self._done.done():
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause(self):
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self):
        lib = _lib.lib()
        while not self._done.done():
            rc = lib.msb_exec_next(self._h, ctypes.byref(self._ev), 0,
                                   ctypes.byref(self._err))
            if rc == 0:
                break
            if rc < 0:
                self._finish_error(rc)
                break
            ev = self._ev
            if ev.type == _lib.EXEC_STARTED:
                self.pid = ev.pid
                self._started.set()
            elif ev.type in (_lib.EXEC_STDOUT, _lib.EXEC_STDERR):
                if self._discard or not ev.len:
                    continue
                data = ctypes.string_at(ev.data, ev.len)
                self._queue.append(OutputChunk(
                    "stdout" if ev.type == _lib.EXEC_STDOUT else "stderr", data))
                self._held += len(data)
                self._wake.set()
                if self._held >= OUT_HIGH:
                    self._pause()
                    break
            elif ev.type == _lib.EXEC_PAUSED:
                self._paused = _lib.text(ctypes.string_at(ev.data, ev.len))
            elif ev.type == _lib.EXEC_RESUMED:
                self._paused = None
            elif ev.type == _lib.EXEC_EXIT:
                self._finish(ev.exit_code, ev.signal, bool(ev.timed_out))

    def _finish(self, code, sig, timed_out):
        self._paused = None
        self._pause()
        self._started.set()
        self._wake.set()
        self._done.set_result((code, sig, timed_out))
        self._close_later()

    def _finish_error(self, rc):
        self._paused = None
        self._pause()
        try:
            raise_for(rc, self._err)
        except MicrosandboxError as e:
            self._started.set()
            self._wake.set()
            self._done.set_exception(e)
            self._done.exception()  # retrieved: not "never retrieved"
        self._close_later()

    def _close_later(self):
        # After the last event nobody sends: close at once; with a send in
        # flight, the send's task closes it when it returns.
        if not self._sends._lock.locked():
            self._free()
        else:
            self._loop.create_task(self._free_after_sends())

    async def _free_after_sends(self):
        async with self._sends._lock:
            self._free()

    def _free(self):
        if self._h is not None:
            self._pause()
            _lib.lib().msb_exec_free(self._h)
            self._h = None

    # -- output --------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[OutputChunk]:
        return self._chunks()

    async def _chunks(self):
        while True:
            if self._queue:
                chunk = self._queue.pop(0)
                self._held -= len(chunk.data)
                if self._held < OUT_HIGH // 2:
                    self._resume()
                yield chunk
                continue
            if self._done.done():
                return
            self._wake.clear()
            await self._wake.wait()

    async def wait(self, *, on_output: OutputCallback | None = None) -> ExecResult:
        """Its end, with the output not yet iterated; ``on_output(chunk)``
        sees each chunk of it first (a coroutine function is awaited). If
        the callback raises, the process is killed and the error raised."""
        out, err = bytearray(), bytearray()
        try:
            while True:
                while self._queue:
                    c = self._queue.pop(0)
                    self._held -= len(c.data)
                    (out if c.stream == "stdout" else err).extend(c.data)
                    if on_output is not None:
                        r = on_output(c)
                        if inspect.isawaitable(r):
                            await r
                if self._done.done():
                    break
                self._resume()
                self._wake.clear()
                await self._wake.wait()
        except BaseException:
            self._cancelled()
            raise
        code, sig, timed_out = self._done.result()
        res = ExecResult(self.argv, code, bytes(out), bytes(err), sig,
                         timed_out, self.pid or 0)
        if timed_out:
            raise ExecTimeout(
                f"{shlex.join(self.argv)} ran past its timeout of "
                f"{self._timeout} s and was killed", res)
        return res

    @property
    def returncode(self) -> int | None:
        if self._done.done() and not self._done.exception():
            return self._done.result()[0]
        return None

    # -- input and signals ------------------------------------------------------

    def _live(self):
        if self._h is None or self._done.done():
            raise SandboxStopped("the command has already ended")

    async def write(self, data: Union[bytes, str]) -> None:
        """Bytes for its stdin (started with ``stdin=True``)."""
        self._live()
        if isinstance(data, str):
            data = data.encode()
        buf = bytes(data)
        await self._sends(_lib.lib().msb_exec_write, self._h, buf, len(buf))

    async def close_stdin(self) -> None:
        self._live()
        await self._sends(_lib.lib().msb_exec_close_stdin, self._h)

    async def send_signal(self, sig: int) -> None:
        """@sig to its process group in the guest (Linux numbering)."""
        self._live()
        await self._sends(_lib.lib().msb_exec_signal, self._h, int(sig))

    async def terminate(self) -> None:
        await self.send_signal(_signal.SIGTERM)

    async def kill(self) -> None:
        await self.send_signal(_signal.SIGKILL)

    async def resize(self, rows: int, cols: int) -> None:
        """Its terminal's size (with ``tty``)."""
        self._live()
        await self._sends(_lib.lib().msb_exec_resize, self._h, rows, cols)

    def _cancelled(self):
        """The caller gave up: kill it in the guest, drop its output, let it
        end in the background."""
        if self._done.done():
            return
        self._discard = True
        self._queue.clear()
        self._held = 0
        self._resume()

        async def kill():
            try:
                if self._h is not None and not self._done.done():
                    await self._sends(_lib.lib().msb_exec_signal, self._h,
                                      _signal.SIGKILL)
            except MicrosandboxError:
                pass

        task = self._loop.create_task(kill())
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def __aenter__(self) -> "Process":
        return self

    async def __aexit__(self, *exc) -> None:
        if not self._done.done():
            try:
                await self.kill()
            except MicrosandboxError:
                pass
            try:
                await self.wait()
            except MicrosandboxError:
                pass


_background: set = set()


def start(sb_handle, argv, *, env=None, cwd=None, user=None, tty=False,
          timeout=None, stdin=False) -> Process:
    """msb_exec_start on the loop's thread: a connect and one line to a
    local socket, nothing that waits on the guest."""
    keep: list = []
    o = exec_opts(env, cwd, user, tty, timeout, stdin, keep)
    av = _lib.StrArray(argv)
    keep.append(av)
    h = ctypes.c_void_p()
    call(_lib.lib().msb_exec_start, sb_handle, av.ptr, ctypes.byref(o),
         ctypes.byref(h))
    return Process(argv, h, keep, timeout)
