"""Bounded byte pipes between a guest's thread and an event loop, with backpressure.

A guest runs on a thread of its own; its stdin and stdout/stderr can be pipes to the event
loop that started it:

- :class:`InputPipe` (host → guest stdin): the host ``await stream.send(data)``, which waits
  while the pipe holds ``capacity`` bytes; the guest reads through the
  :class:`~wasifs.stdio.Source` face (its read waits, cancellably, while the pipe is empty).
- :class:`OutputPipe` (guest stdout/stderr → host): the guest writes through the
  :class:`~wasifs.stdio.Sink` face, and a write waits while the pipe is full, so a slow
  consumer pauses a producing guest instead of letting output pile up; the host
  ``await stream.receive()``.

The thread side waits on a :class:`threading.Condition`; the loop side on an
:class:`anyio.Event` that the thread side sets through the loop's thread-safe "call soon"
(``loop.call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio), so the
guest's thread never blocks on the loop. Each pipe holds at most ``capacity`` bytes (a write
larger than that is taken in pieces as the reader makes room).
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import ByteReceiveStream, ByteSendStream

__all__ = ("DEFAULT_CAPACITY", "GuestInput", "GuestOutput", "InputPipe", "Lines",
           "OutputPipe", "Waker")

#: how many bytes a pipe holds before its writer waits
DEFAULT_CAPACITY = 1 << 18


class Waker:
    """Calls a function on the current event loop's thread from any thread, without
    waiting for it (made on the loop's thread)."""

    __slots__ = ("_soon",)

    def __init__(self) -> None:
        native: Any = anyio.lowlevel.current_token().native_token
        soon = getattr(native, "call_soon_threadsafe", None)  # asyncio's loop
        if soon is None:
            soon = native.run_sync_soon  # trio's TrioToken
        self._soon: Callable[[Callable[[], object]], object] = soon

    def __call__(self, fn: Callable[[], object]) -> None:
        try:
            self._soon(fn)
        except Exception:  # noqa: BLE001 - the loop is gone: nobody waits any more
            pass


class _Pipe:
    """The shared state of a pipe: chunks of bytes, at most ``capacity`` of them."""

    def __init__(self, capacity: int, waker: Waker) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"a pipe's capacity must be a positive int, got {capacity!r}")
        self.capacity = capacity
        self._cond = threading.Condition()
        self._chunks: deque[bytes | memoryview] = deque()
        self._size = 0
        self._waker = waker
        self._event: anyio.Event | None = None  # what the loop side waits on
        self._eof = False  # the writer is done: the reader sees the end after the data
        self._broken = False  # the reader is gone: writes fail, data is dropped
        self._cancelled = False  # the run is being cancelled: the guest's waits end
        #: the most bytes the pipe ever held (for tests and benchmarks)
        self.high_water = 0

    @property
    def buffered(self) -> int:
        """How many bytes the pipe holds now."""
        return self._size

    # -- both sides ------------------------------------------------------------------------
    def _wake_loop(self) -> None:
        """Under the lock: let the loop side's waiter run (it re-checks the state)."""
        event = self._event
        if event is not None:
            self._event = None
            self._waker(event.set)

    def _loop_wait(self) -> anyio.Event:
        """Under the lock: the event the loop side waits on until the state changes."""
        event = self._event
        if event is None:
            event = self._event = anyio.Event()
        return event

    def _put(self, view: memoryview) -> int:
        """Under the lock: keep as much of ``view`` as fits; returns how much."""
        room = self.capacity - self._size
        if room <= 0:
            return 0
        piece: bytes | memoryview = view if len(view) <= room else view[:room]
        self._chunks.append(piece)
        self._size += len(piece)
        if self._size > self.high_water:
            self.high_water = self._size
        return len(piece)

    def _take(self, n: int) -> bytes:
        """Under the lock: up to ``n`` bytes from the front (joined across chunks)."""
        chunks = self._chunks
        first = chunks[0]
        if len(first) >= n or len(chunks) == 1:
            if len(first) > n:
                chunks[0] = first[n:]
                first = first[:n]
            else:
                chunks.popleft()
            self._size -= len(first)
            return first if type(first) is bytes else bytes(first)
        parts: list[bytes | memoryview] = []
        got = 0
        while chunks and got < n:
            piece = chunks[0]
            if got + len(piece) > n:
                piece = piece[: n - got]
                chunks[0] = chunks[0][len(piece):]
            else:
                chunks.popleft()
            parts.append(piece)
            got += len(piece)
        self._size -= got
        return b"".join(parts)

    def _drop(self) -> None:
        self._chunks.clear()
        self._size = 0

    def cancel(self) -> None:
        """The run is being cancelled: end the guest's waits (thread-safe)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()


class InputPipe(_Pipe):
    """Host → guest: the guest's stdin (a :class:`~wasifs.stdio.Source`)."""

    # -- the guest's side (its thread) -----------------------------------------------------
    def ready(self) -> bool:
        return bool(self._chunks) or self._eof

    def wait_readable(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for data or the end of input (the run's cancel
        token is checked by the caller, :meth:`wasifs.CancelToken.wait_ready`)."""
        with self._cond:
            if not self._cancelled and not self.ready():
                self._cond.wait(timeout)
            cancelled = self._cancelled
        if cancelled:  # the token will say so in a moment: do not spin meanwhile
            time.sleep(0.001)

    def read(self, n: int) -> bytes:
        with self._cond:
            while not self._chunks and not self._eof and not self._cancelled:
                self._cond.wait()
            if not self._chunks or n <= 0:
                return b""
            data = self._take(n)
            self._wake_loop()
        return data

    def isatty(self) -> bool:
        return False

    def close_reader(self) -> None:
        """The guest is done: the host's sends fail from now on."""
        with self._cond:
            self._broken = True
            self._drop()
            self._wake_loop()

    # -- the host's side (the loop) --------------------------------------------------------
    async def send(self, data: bytes | bytearray | memoryview) -> None:
        await anyio.lowlevel.checkpoint()
        # a bytes object is kept as it is; anything else is copied (the caller may change
        # its buffer once we return)
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        while view:
            with self._cond:
                if self._eof:
                    raise anyio.ClosedResourceError
                if self._broken:
                    raise anyio.BrokenResourceError("the guest no longer reads its stdin")
                taken = self._put(view)
                if taken:
                    view = view[taken:]
                    self._cond.notify_all()
                    continue
                event = self._loop_wait()
            await event.wait()

    def send_eof(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    close = send_eof


class OutputPipe(_Pipe):
    """Guest → host: the guest's stdout or stderr (a :class:`~wasifs.stdio.Sink`)."""

    # -- the guest's side (its thread) -----------------------------------------------------
    def write(self, data: bytes) -> int:
        view = memoryview(data)
        total = len(view)
        with self._cond:
            while view:
                if self._broken or self._cancelled:
                    if len(view) < total:
                        return total - len(view)  # a short write: the next one fails
                    raise BrokenPipeError(errno.EPIPE, "the host closed this stream")
                taken = self._put(view)
                if taken:
                    view = view[taken:]
                    self._wake_loop()
                else:
                    self._cond.wait()
        return total

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def close_writer(self) -> None:
        """The guest is done: the host reads what is left, then the end of the stream."""
        with self._cond:
            self._eof = True
            self._wake_loop()

    # -- the host's side (the loop) --------------------------------------------------------
    async def receive(self, max_bytes: int) -> bytes:
        await anyio.lowlevel.checkpoint()
        while True:
            with self._cond:
                if self._broken:
                    raise anyio.ClosedResourceError
                if self._chunks:
                    data = self._take(max_bytes)
                    self._cond.notify_all()
                    return data
                if self._eof:
                    raise anyio.EndOfStream
                event = self._loop_wait()
            await event.wait()

    def close_reader(self) -> None:
        """The host stops reading: the guest's writes fail with ``EPIPE``."""
        with self._cond:
            self._broken = True
            self._drop()
            self._cond.notify_all()
            self._wake_loop()

    close = close_reader


class GuestInput(ByteSendStream):
    """A running guest's stdin, as an anyio byte stream: ``await send(data)`` waits while
    the guest has ``capacity`` bytes unread; :meth:`send_eof` (or :meth:`aclose`) ends its
    input. Sending after the guest has finished raises ``anyio.BrokenResourceError``."""

    def __init__(self, pipe: InputPipe) -> None:
        self._pipe = pipe

    @property
    def buffered(self) -> int:
        """Bytes sent that the guest has not read yet."""
        return self._pipe.buffered

    async def send(self, item: bytes | bytearray | memoryview) -> None:
        if not isinstance(item, (bytes, bytearray, memoryview)):
            raise TypeError(f"a guest's stdin takes bytes, not {type(item).__name__}")
        await self._pipe.send(item)

    async def send_eof(self) -> None:
        """End the guest's input: its reads return end of file once it has read the rest."""
        self._pipe.send_eof()
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        self._pipe.send_eof()
        await anyio.lowlevel.checkpoint()


class GuestOutput(ByteReceiveStream):
    """A running guest's stdout or stderr, as an anyio byte stream: ``await receive()``
    returns what the guest wrote (``anyio.EndOfStream`` once it has finished and everything
    was read); ``async for chunk in stream`` iterates chunks and :meth:`lines` lines. While
    nobody reads, the guest's writes wait once ``capacity`` bytes are unread. After
    :meth:`aclose`, the guest's writes fail with ``EPIPE``."""

    def __init__(self, pipe: OutputPipe) -> None:
        self._pipe = pipe

    @property
    def buffered(self) -> int:
        """Bytes the guest wrote that were not received yet."""
        return self._pipe.buffered

    async def receive(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` (default: the pipe's capacity) of what the guest wrote."""
        if max_bytes is None:
            max_bytes = self._pipe.capacity
        elif not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        return await self._pipe.receive(max_bytes)

    async def aclose(self) -> None:
        self._pipe.close_reader()
        await anyio.lowlevel.checkpoint()

    def lines(self, *, max_length: int = 1 << 20, keepends: bool = False) -> Lines:
        """An async iterator over the stream's lines (``bytes``, without the ``\\n`` unless
        ``keepends``); the last line may lack a newline. A line longer than ``max_length``
        bytes raises ``anyio.DelimiterNotFound`` (so a guest cannot make the host buffer
        without bound)."""
        return Lines(self, max_length, keepends)


class Lines:
    """``async for line in stream.lines()`` (see :meth:`GuestOutput.lines`); works over any
    anyio byte receive stream."""

    def __init__(self, stream: ByteReceiveStream, max_length: int, keepends: bool) -> None:
        if not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        self._stream = stream
        self._max = max_length
        self._keep = keepends
        self._buf = bytearray()
        self._start = 0  # where the next line starts in _buf
        self._done = False

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> bytes:
        buf = self._buf
        while True:
            end = buf.find(b"\n", self._start)
            if end >= 0:
                line = bytes(buf[self._start : end + 1 if self._keep else end])
                self._start = end + 1
                return line
            if self._start:
                del buf[: self._start]
                self._start = 0
            if len(buf) > self._max:
                raise anyio.DelimiterNotFound(self._max)
            if self._done:
                if buf:
                    line = bytes(buf)
                    buf.clear()
                    return line
                raise StopAsyncIteration
            try:
                buf += await self._stream.receive()
            except anyio.EndOfStream:
                self._done = True
