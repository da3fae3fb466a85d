"""One binary file object over a backend file handle, for every host-side API.

:meth:`wasifs.path.Path.open` wraps it in ``io.BufferedReader``/``BufferedWriter``/
``BufferedRandom`` and ``io.TextIOWrapper`` (as the built-in ``open`` wraps ``io.FileIO``);
the fsspec facade's ``fs.open`` returns it as it is.
"""

from __future__ import annotations

import errno
import io
import warnings
from typing import Any

from ._protocol import Backend

__all__ = ("BackendFileIO",)


def _bytes_view(data: Any) -> memoryview:
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


class BackendFileIO(io.RawIOBase):
    """An unbuffered binary file over a backend file handle.

    It keeps its own offset and reads and writes with the backend's ``pread``/``pwrite``
    (no buffering layer of its own: what is written is visible at once to every other handle
    and to a guest). ``read(n)`` and ``write(b)`` are complete, like a buffered file's: they
    loop over short transfers (``readinto`` is one backend call). In append mode the offset
    starts at the end and every write goes to the current end atomically
    (``Backend.append``). ``fileno()`` raises ``io.UnsupportedOperation``: there is no host
    descriptor. The file owns ``handle`` and gives it back on :meth:`close`; a file collected
    unclosed warns with ``ResourceWarning``, as the built-in ``open``'s files do.
    """

    def __init__(self, fs: Backend, handle: Any, name: str, mode: str, *, readable: bool,
                 writable: bool, append: bool) -> None:
        super().__init__()
        self._fs = fs
        self._handle: Any = handle
        self._readable = readable
        self._writable = writable
        self._append = append
        self._pos = fs.fstat(handle).size if append else 0
        self.name = name
        self.mode = mode

    # --- io plumbing ----------------------------------------------------------------
    @property
    def fs(self) -> Backend:
        """The backend the file lives in."""
        return self._fs

    @property
    def handle(self) -> Any:
        """The backend file handle (None once closed)."""
        return self._handle

    @property
    def path(self) -> str:
        """The path the file was opened by (the same as :attr:`name`)."""
        return self.name

    @property
    def size(self) -> int:
        """The current size of the file in bytes."""
        return int(self._fs.fstat(self._check_open()).size)

    def __repr__(self) -> str:
        kind = f"{type(self).__module__}.{type(self).__qualname__}"
        if self.closed:
            return f"<{kind} [closed]>"
        return f"<{kind} name={self.name!r} mode={self.mode!r}>"

    def _check_open(self) -> Any:
        if self._handle is None:
            raise ValueError("I/O operation on closed file")
        return self._handle

    def _check_readable(self) -> Any:
        handle = self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        return handle

    def _check_writable(self) -> Any:
        handle = self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        return handle

    def readable(self) -> bool:
        self._check_open()
        return self._readable

    def writable(self) -> bool:
        self._check_open()
        return self._writable

    def seekable(self) -> bool:
        self._check_open()
        return True

    def isatty(self) -> bool:
        self._check_open()
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation(
            f"{self.name!r} is a file inside a wasifs backend: it has no host file descriptor")

    def close(self) -> None:
        handle = self._handle
        if handle is None:
            return
        try:
            super().close()
        finally:
            self._handle = None
            self._fs.close(handle)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _dealloc_warn(self, source: object) -> None:
        # called by the buffered and text wrappers when they are collected unclosed
        if self._handle is not None:
            warnings.warn(f"unclosed file {source!r}", ResourceWarning, stacklevel=2,
                          source=source)

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._dealloc_warn(self)
            self.close()

    # --- positioning ----------------------------------------------------------------
    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        handle = self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._fs.fstat(handle).size + offset
        else:
            raise ValueError(f"invalid whence ({whence!r}, should be 0, 1 or 2)")
        if pos < 0:
            raise OSError(errno.EINVAL, f"negative seek position {pos}", self.name)
        self._pos = pos
        return pos

    # --- data -----------------------------------------------------------------------
    def readinto(self, buffer: Any) -> int:
        handle = self._check_readable()
        with _bytes_view(buffer) as view:
            n = int(self._fs.pread(handle, view, self._pos))
        self._pos += n
        return n

    def _fill(self, handle: Any, buf: bytearray, got: int) -> int:
        """Read at the offset into ``buf[got:]`` until it is full or the file ends; returns
        how much of ``buf`` is filled."""
        with memoryview(buf) as view:
            while got < len(buf):
                n = int(self._fs.pread(handle, view[got:], self._pos))
                if n <= 0:
                    break
                got += n
                self._pos += n
        return got

    def read(self, size: int | None = -1) -> bytes:
        handle = self._check_readable()
        if size is None or size < 0:
            return self.readall()
        buf = bytearray(size)
        del buf[self._fill(handle, buf, 0):]
        return bytes(buf)

    def readall(self) -> bytes:
        """The rest of the file, read straight into one buffer of the current size."""
        handle = self._check_readable()
        size = self._fs.fstat(handle).size - self._pos
        buf = bytearray(max(size, 0) + 1)  # one spare byte to see the end in one call
        got = self._fill(handle, buf, 0)
        while got == len(buf):  # the file grew while we read it
            buf.extend(bytes(max(len(buf) // 2, io.DEFAULT_BUFFER_SIZE)))
            got = self._fill(handle, buf, got)
        del buf[got:]
        return bytes(buf)

    def write(self, data: Any) -> int:
        handle = self._check_writable()
        fs = self._fs
        with _bytes_view(data) as src:
            total = len(src)
            done = 0
            while True:
                if self._append:
                    n, size = fs.append(handle, src[done:])
                    self._pos = int(size)
                else:
                    n = fs.pwrite(handle, src[done:], self._pos)
                    self._pos += int(n)
                done += int(n)
                if done >= total:
                    return total
                if not n:
                    raise OSError(errno.EIO, "the backend wrote nothing", self.name)

    def truncate(self, size: int | None = None) -> int:
        handle = self._check_writable()
        if size is None:
            size = self._pos
        self._fs.ftruncate(handle, size)
        return size

    def fsync(self) -> None:
        """Flush the file's data and metadata to stable storage (where there is any)."""
        self._fs.fsync(self._check_open())

