"""Standard streams for guests: byte sources (stdin) and sinks (stdout, stderr).

Synchronous only. A source hands out bytes; a sink takes bytes. The core asks a source for at
most ``n`` bytes at a time and gives a sink bytes it owns (a copy of guest memory).

Text streams are accepted too: a text stream with a binary ``buffer`` (``sys.stdout``) is used
through that buffer; one without (``io.StringIO``) gets the guest's bytes decoded as UTF-8
(:class:`TextSink`) or gives its text encoded as UTF-8 (:class:`TextSource`).

Errors of the host's own streams: an ``OSError`` (a closed pipe, a full disk) is an I/O error
the guest sees with its errno, as a guest under wasmtime sees its host's; any other exception
(a stdin iterator, a file or a stdout callback that raises) is the host's own failure: the
streams made by :func:`as_source` and :func:`as_sink` raise it as :class:`HostCallbackError`
inside the syscall, the binding stops the guest, and the run raises the original exception
to its caller.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Protocol, TextIO, runtime_checkable

__all__ = (
    "HostCallbackError",
    "Source",
    "Sink",
    "BytesSource",
    "FileSource",
    "TextSource",
    "IterSource",
    "InheritSource",
    "CaptureSink",
    "FileSink",
    "TextSink",
    "CallbackSink",
    "LineCallbackSink",
    "InheritSink",
    "NullSink",
    "as_source",
    "as_sink",
)


@runtime_checkable
class Source(Protocol):
    """Where a guest's stdin comes from."""

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` at end of input. May block."""

    def ready(self) -> bool:
        """Whether :meth:`read` would return without blocking (data or end of input)."""

    def isatty(self) -> bool: ...


@runtime_checkable
class Sink(Protocol):
    """Where a guest's stdout or stderr goes."""

    def write(self, data: bytes) -> int:
        """Take ``data`` (the sink may keep it); returns how many bytes were taken."""

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


class HostCallbackError(Exception):
    """A host stream failed inside a syscall with ``error``, an exception that is not an
    ``OSError`` (its ``stream``: ``"stdin"``, ``"stdout"`` or ``"stderr"``). The engine
    binding stops the guest and re-raises ``error`` itself to the caller of the run."""

    def __init__(self, error: Exception, stream: str) -> None:
        super().__init__(f"the guest's {stream} ({type(error).__name__}: {error})")
        self.error = error
        self.stream = stream


class BytesSource:
    """Stdin from a fixed byte string."""

    def __init__(self, data: bytes = b"") -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"stdin bytes must be bytes-like, not {type(data).__name__}")
        self._data = bytes(data)
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk

    def ready(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


class FileSource:
    """Stdin from a binary file object (anything with ``read(n)``)."""

    def __init__(self, file: BinaryIO) -> None:
        if not hasattr(file, "read"):
            raise TypeError(f"stdin file must have a read() method: {file!r}")
        if isinstance(file, io.TextIOBase):
            raise TypeError("FileSource needs a binary file; use TextSource for a text stream")
        self._file = file
        #: the descriptor to watch before a read: an unbuffered file (``buffering=0``) on a
        #: pipe, socket or terminal, whose read may block (None: reads never wait for long,
        #: or a buffer may hold data that ``select`` cannot see)
        self._watch = _watchable_fd(file)

    def read(self, n: int) -> bytes:
        reader = getattr(self._file, "read1", None) or self._file.read
        data = reader(n)
        if isinstance(data, str):
            raise TypeError("stdin file must be opened in binary mode")
        return bytes(data or b"")

    def fileno(self) -> int:
        return self._file.fileno()

    def ready(self) -> bool:
        if self._watch is None:
            return True
        import select

        try:
            r, _, _ = select.select([self._watch], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def isatty(self) -> bool:
        try:
            return bool(self._file.isatty())
        except (AttributeError, ValueError, OSError):
            return False


def _watchable_fd(file: object) -> int | None:
    """The descriptor of an unbuffered binary file (``io.RawIOBase``) on a pipe, socket or
    character device, where a read blocks until data comes: a run's cancellation and timeout
    wait on it with ``select`` instead of in the read."""
    if not isinstance(file, io.RawIOBase):
        return None
    try:
        fd = file.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) else None


class TextSource:
    """Stdin from a text stream without a binary buffer (``io.StringIO``): its text, encoded
    as UTF-8."""

    def __init__(self, stream: TextIO) -> None:
        if not hasattr(stream, "read"):
            raise TypeError(f"stdin stream must have a read() method: {stream!r}")
        self._stream = stream
        self._pending = b""

    def read(self, n: int) -> bytes:
        while not self._pending:
            text = self._stream.read(max(1, n // 4))
            if not text:
                return b""
            self._pending = text.encode("utf-8", "surrogateescape")
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def ready(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


class IterSource:
    """Stdin from an iterable of byte chunks (produced lazily)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._pos = 0  # what of _buf was read (slicing the rest off would copy it each time)
        self._eof = False

    def read(self, n: int) -> bytes:
        while self._pos >= len(self._buf) and not self._eof:
            try:
                chunk = next(self._it)
            except StopIteration:
                self._eof = True
                break
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(f"stdin chunks must be bytes, got {type(chunk).__name__}")
            self._buf = bytes(chunk)
            self._pos = 0
        pos = self._pos
        if pos == 0 and n >= len(self._buf):  # the whole chunk: no copy
            out = self._buf
        else:
            out = self._buf[pos : pos + n]
        self._pos = pos + len(out)
        return out

    def ready(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


class InheritSource:
    """The host process's own stdin (file descriptor 0)."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd

    def read(self, n: int) -> bytes:
        return os.read(self._fd, n)

    def fileno(self) -> int:
        return self._fd

    def ready(self) -> bool:
        import select

        try:
            r, _, _ = select.select([self._fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def isatty(self) -> bool:
        return os.isatty(self._fd)


class CaptureSink:
    """Collects everything written; :meth:`getvalue` returns it."""

    def __init__(self, limit: int | None = None) -> None:
        self._buf = bytearray()
        self._limit = limit

    def write(self, data: bytes) -> int:
        if self._limit is not None and len(self._buf) + len(data) > self._limit:
            raise OSError(errno.EFBIG, "captured output exceeds its limit")
        self._buf += data
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> bytes:
        return bytes(self._buf)


class FileSink:
    """Writes to a binary file object."""

    def __init__(self, file: BinaryIO) -> None:
        if not hasattr(file, "write"):
            raise TypeError(f"output file must have a write() method: {file!r}")
        if isinstance(file, io.TextIOBase):
            raise TypeError("FileSink needs a binary file; use TextSink for a text stream")
        self._file = file

    def write(self, data: bytes) -> int:
        n = self._file.write(data)
        return len(data) if n is None else int(n)

    def flush(self) -> None:
        self._file.flush()

    def isatty(self) -> bool:
        try:
            return bool(self._file.isatty())
        except (AttributeError, ValueError, OSError):
            return False


class BufferSink:
    """Writes to the binary ``buffer`` of a text stream (``sys.stdout``), flushing the text
    layer first so that text the host printed before stays before the guest's output."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._buffer: BinaryIO = stream.buffer

    def write(self, data: bytes) -> int:
        self._stream.flush()
        n = self._buffer.write(data)
        self._buffer.flush()
        return len(data) if n is None else int(n)

    def flush(self) -> None:
        self._buffer.flush()

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False


class TextSink:
    """Writes to a text stream without a binary buffer (``io.StringIO``): the guest's bytes
    are decoded as UTF-8 incrementally, so a character split across two writes survives;
    invalid bytes become U+FFFD."""

    def __init__(self, stream: TextIO) -> None:
        if not hasattr(stream, "write"):
            raise TypeError(f"output stream must have a write() method: {stream!r}")
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> int:
        text = self._decoder.decode(data)
        if text:
            self._stream.write(text)
        return len(data)

    def flush(self) -> None:
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._stream.write(tail)
        flush = getattr(self._stream, "flush", None)
        if callable(flush):
            flush()

    def isatty(self) -> bool:
        return False


class CallbackSink:
    """Calls ``callback(data)`` for every write."""

    def __init__(self, callback: Callable[[bytes], object]) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._cb = callback

    def write(self, data: bytes) -> int:
        self._cb(data)
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class LineCallbackSink:
    """Calls ``callback(line)`` once per complete line (without the newline);
    the unterminated rest is delivered at :meth:`flush` (the end of the run)."""

    def __init__(self, callback: Callable[[bytes], object]) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._cb = callback
        self._pending = b""

    def write(self, data: bytes) -> int:
        buf = self._pending + data
        *lines, self._pending = buf.split(b"\n")
        for line in lines:
            self._cb(line)
        return len(data)

    def flush(self) -> None:
        if self._pending:
            rest, self._pending = self._pending, b""
            self._cb(rest)

    def isatty(self) -> bool:
        return False


class InheritSink:
    """The host process's own stdout or stderr."""

    def __init__(self, stream: BinaryIO | None = None, *, fd: int = 1) -> None:
        self._stream = stream
        self._fd = fd

    def _target(self) -> BinaryIO:
        if self._stream is not None:
            return self._stream
        return (sys.stdout if self._fd == 1 else sys.stderr).buffer

    def write(self, data: bytes) -> int:
        target = self._target()
        target.write(data)
        target.flush()
        return len(data)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        try:
            return self._target().isatty()
        except (AttributeError, ValueError, OSError):
            return False


class NullSink:
    """Discards everything."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _GuardedSource:
    """A source whose failures other than ``OSError`` stop the guest
    (:class:`HostCallbackError`); every other attribute is the source's own."""

    __slots__ = ("_inner", "_stream")

    def __init__(self, inner: Source, stream: str = "stdin") -> None:
        self._inner = inner
        self._stream = stream

    def read(self, n: int) -> bytes:
        try:
            return self._inner.read(n)
        except OSError:
            raise
        except Exception as exc:
            raise HostCallbackError(exc, self._stream) from exc

    def ready(self) -> bool:
        try:
            return self._inner.ready()
        except OSError:
            raise
        except Exception as exc:
            raise HostCallbackError(exc, self._stream) from exc

    def isatty(self) -> bool:
        return self._inner.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _GuardedSink:
    """A sink whose write failures other than ``OSError`` stop the guest
    (:class:`HostCallbackError`); ``flush`` (called by the host, after the guest) raises
    as it is, and every other attribute is the sink's own."""

    __slots__ = ("_inner", "_stream")

    def __init__(self, inner: Sink, stream: str) -> None:
        self._inner = inner
        self._stream = stream

    def write(self, data: bytes) -> int:
        try:
            return self._inner.write(data)
        except OSError:
            raise
        except Exception as exc:
            raise HostCallbackError(exc, self._stream) from exc

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


#: Streams of wasifs's own that fail only with ``OSError`` (left unguarded).
_PLAIN = (BytesSource, InheritSource, CaptureSink, NullSink, _GuardedSource, _GuardedSink)


def _is_text(spec: object) -> bool:
    return isinstance(spec, io.TextIOBase) or (
        hasattr(spec, "encoding") and hasattr(spec, "buffer") and not isinstance(spec, io.RawIOBase)
    )


def _binary_buffer(spec: Any) -> BinaryIO | None:
    buffer = getattr(spec, "buffer", None)
    if buffer is None or isinstance(buffer, io.TextIOBase):
        return None
    return buffer  # type: ignore[no-any-return]


def as_source(spec: object) -> Source:
    """A :class:`Source` from ``None`` (empty), bytes, a binary file, a text stream (its
    binary ``buffer``, else its text as UTF-8), an iterable of bytes, the string
    ``"inherit"``, or a ready :class:`Source`; one that fails with an exception other than
    ``OSError`` raises :class:`HostCallbackError` (the module docstring tells why)."""
    source = _source(spec)
    return source if type(source) in _PLAIN else _GuardedSource(source)


def _source(spec: object) -> Source:
    if spec is None:
        return BytesSource(b"")
    if isinstance(spec, (bytes, bytearray, memoryview)):
        return BytesSource(bytes(spec))
    if isinstance(spec, str):
        if spec == "inherit":
            return InheritSource()
        raise ValueError(f"stdin: a string must be 'inherit' (pass text as bytes): {spec!r}")
    if isinstance(spec, Source) and hasattr(spec, "ready"):
        return spec
    if hasattr(spec, "read"):
        if _is_text(spec):
            buffer = _binary_buffer(spec)
            return FileSource(buffer) if buffer is not None else TextSource(spec)  # type: ignore[arg-type]
        return FileSource(spec)  # type: ignore[arg-type]
    if isinstance(spec, Iterable):
        return IterSource(spec)
    raise TypeError(f"stdin: cannot read from {type(spec).__name__}")


def as_sink(spec: object, *, fd: int) -> Sink:
    """A :class:`Sink` from ``"capture"`` (the default), ``"inherit"``, ``None``/``"null"``
    (discard), a binary file object, a text stream (through its binary ``buffer``, else
    decoded as UTF-8), a callable (called per write), or a ready :class:`Sink`; one whose
    writes fail with an exception other than ``OSError`` raises :class:`HostCallbackError`
    (the module docstring tells why)."""
    sink = _sink(spec, fd)
    return sink if type(sink) in _PLAIN else _GuardedSink(sink, "stdout" if fd == 1 else
                                                           "stderr" if fd == 2 else f"fd {fd}")


def _sink(spec: object, fd: int) -> Sink:
    if spec == "capture":
        return CaptureSink()
    if spec == "inherit":
        return InheritSink(fd=fd)
    if spec is None or spec == "null":
        return NullSink()
    if isinstance(spec, str):
        raise ValueError(f"output: expected 'capture', 'inherit' or 'null', got {spec!r}")
    if isinstance(spec, Sink) and hasattr(spec, "flush") and not _is_text(spec):
        return spec
    if hasattr(spec, "write"):
        if _is_text(spec):
            return BufferSink(spec) if _binary_buffer(spec) is not None else TextSink(spec)  # type: ignore[arg-type]
        return FileSink(spec)  # type: ignore[arg-type]
    if callable(spec):
        return CallbackSink(spec)
    raise TypeError(f"output: cannot write to {type(spec).__name__}")
