"""Async access to the virtual filesystem: files, paths, and copies in and out.

Every backend call runs in a worker thread (``anyio.to_thread``), so the event loop never
waits on a disk, a network store or a large copy in memory. Data moves in chunks: reading a
file by ``async for chunk in f``, or copying with :func:`copy_in`/:func:`copy_out`, takes
memory for a chunk or two, whatever the file's size.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Generator
from types import TracebackType
from typing import IO, Any, TypeVar

import anyio
import anyio.to_thread

from .. import transfer
from ..backends import CHUNK, Backend
from ..path import Path
from ._adapt import async_reader, async_sender
from ._thread import Step, call_in_thread

__all__ = ("AsyncFile", "AsyncPath", "copy", "copy_in", "copy_out", "open_file")

T = TypeVar("T")
Progress = Callable[[int], object]
#: how much ``async for chunk in file`` reads at a time
ITER_CHUNK = 1 << 16


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


class AsyncFile:
    """A binary file of the virtual filesystem with async methods (from :func:`open_file`
    or :meth:`AsyncPath.open`); use it with ``async with``. ``async for chunk in f`` reads
    it in 64 KiB chunks (:meth:`chunks` for another size). :attr:`wrapped` is the sync
    file object."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    @property
    def wrapped(self) -> IO[bytes]:
        return self._file

    @property
    def name(self) -> str:
        return str(getattr(self._file, "name", ""))

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __repr__(self) -> str:
        return f"<wasifs.aio.AsyncFile {self.name!r}{' closed' if self.closed else ''}>"

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative); ``b""`` at the end."""
        return await _run(self._file.read, size)

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data``; returns its length."""
        return await _run(self._file.write, data)

    async def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return await _run(self._file.seek, offset, whence)

    async def tell(self) -> int:
        return await _run(self._file.tell)

    async def truncate(self, size: int | None = None) -> int:
        return await _run(self._file.truncate, size)

    async def flush(self) -> None:
        await _run(self._file.flush)

    async def aclose(self) -> None:
        """Close the file (shielded from cancellation: the handle is always given back)."""
        with anyio.CancelScope(shield=True):
            await _run(self._file.close)

    def chunks(self, size: int = ITER_CHUNK) -> _Chunks:
        """An async iterator over the rest of the file, ``size`` bytes at a time."""
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"chunk size must be a positive int, got {size!r}")
        return _Chunks(self, size)

    def __aiter__(self) -> _Chunks:
        return self.chunks()

    async def __aenter__(self) -> AsyncFile:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class _Chunks:
    def __init__(self, file: AsyncFile, size: int) -> None:
        self._file = file
        self._size = size

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        data = await self._file.read(self._size)
        if not data:
            raise StopAsyncIteration
        return data


class _Opening:
    """What :func:`open_file` returns: ``await`` it for the file, or use it directly in
    ``async with`` (the file is closed at the end)."""

    def __init__(self, path: Path, mode: str) -> None:
        if not isinstance(mode, str) or "b" not in mode:
            raise ValueError(f"async files are binary: the mode needs 'b' (got {mode!r}); "
                             "decode what you read")
        self._path = path
        self._mode = mode
        self._file: AsyncFile | None = None

    async def _open(self) -> AsyncFile:
        return AsyncFile(await _run(self._path.open, self._mode, buffering=0))

    def __await__(self) -> Generator[Any, None, AsyncFile]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncFile:
        self._file = await self._open()
        return self._file

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._file is not None:
            await self._file.aclose()


def _sync_path(path: Path | AsyncPath, what: str) -> Path:
    if isinstance(path, AsyncPath):
        return path.path
    if isinstance(path, Path):
        return path
    raise TypeError(f"{what} must be a wasifs.Path or wasifs.aio.AsyncPath, not "
                    f"{type(path).__name__}")


def open_file(path: Path | AsyncPath, mode: str = "rb") -> _Opening:
    """Open a file of the virtual filesystem for async I/O: ``async with open_file(p, "rb")
    as f`` or ``f = await open_file(p, "wb")``. Binary modes only (``rb wb ab xb r+b``
    ...), as :meth:`wasifs.Path.open` takes them."""
    return _Opening(_sync_path(path, "open_file: path"), mode)


class AsyncPath:
    """A :class:`wasifs.Path` with async methods: ``AsyncPath(fs, "data")``, ``p / "a.txt"``,
    ``await p.read_bytes()``, ``async with p.open("rb") as f`` ... Each call runs in a
    worker thread. :attr:`path` is the sync path."""

    __slots__ = ("path",)
    path: Path

    def __init__(self, fs: Backend | Path | AsyncPath, *segments: str) -> None:
        base: Backend | Path = fs.path if isinstance(fs, AsyncPath) else fs
        self.path = Path(base, *segments)

    def __truediv__(self, key: str) -> AsyncPath:
        return AsyncPath(self.path / key)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"AsyncPath({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncPath) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def parent(self) -> AsyncPath:
        return AsyncPath(self.path.parent)

    def open(self, mode: str = "rb") -> _Opening:
        """See :func:`open_file`."""
        return open_file(self.path, mode)

    async def read_bytes(self) -> bytes:
        return await _run(self.path.read_bytes)

    async def read_text(self, encoding: str | None = None) -> str:
        return await _run(self.path.read_text, encoding)

    async def write_bytes(self, data: bytes | bytearray | memoryview) -> int:
        return await _run(self.path.write_bytes, data)

    async def write_text(self, data: str, encoding: str | None = None) -> int:
        return await _run(self.path.write_text, data, encoding)

    async def exists(self) -> bool:
        return await _run(self.path.exists)

    async def is_file(self) -> bool:
        return await _run(self.path.is_file)

    async def is_dir(self) -> bool:
        return await _run(self.path.is_dir)

    async def stat(self) -> os.stat_result:
        return await _run(self.path.stat)

    async def mkdir(self, mode: int = 0o777, parents: bool = False,
                    exist_ok: bool = False) -> None:
        await _run(self.path.mkdir, mode, parents, exist_ok)

    async def unlink(self, missing_ok: bool = False) -> None:
        await _run(self.path.unlink, missing_ok)

    async def rmdir(self) -> None:
        await _run(self.path.rmdir)

    async def rename(self, target: str | AsyncPath) -> AsyncPath:
        dest = target.path if isinstance(target, AsyncPath) else target
        return AsyncPath(await _run(self.path.rename, dest))

    async def iterdir(self) -> list[AsyncPath]:
        """The directory's entries (listed at once, in a worker thread)."""
        def listing() -> list[Path]:
            return list(self.path.iterdir())
        return [AsyncPath(p) for p in await _run(listing)]


async def copy_in(source: Any, dest: Path | AsyncPath, *, progress: Progress | None = None,
                  chunk_size: int = CHUNK) -> Path:
    """Copy into the virtual filesystem; returns ``dest`` (a :class:`wasifs.Path`).

    ``source`` is a host path (a file or a whole directory, as :func:`wasifs.copy_in`
    copies it), a sync binary file object, or an async source of bytes: an anyio byte
    stream (a socket, a guest's stdout), an object with an async ``read(n)`` (an
    ``anyio.AsyncFile``, an :class:`AsyncFile`), or an async iterable of bytes. Data moves
    in chunks (``chunk_size`` bytes from an async source), so memory stays constant;
    ``progress(n)`` is called on the event loop's thread after each chunk (a tqdm bar's
    ``update`` fits). Cancellation stops the copy between two chunks."""
    target = _sync_path(dest, "copy_in: dest")
    read = None if isinstance(source, (str, os.PathLike)) else async_reader(source, chunk_size)
    if read is None:
        return await call_in_thread(
            lambda step: transfer.copy_in(source, target, progress=step), progress)
    async with await open_file(target, "wb") as f:
        while True:
            chunk = await read()
            if not chunk:
                break
            await f.write(chunk)
            if progress is not None:
                progress(len(chunk))
    return target


async def copy_out(source: Path | AsyncPath, dest: Any, *,
                   progress: Progress | None = None, chunk_size: int = CHUNK) -> str | None:
    """Copy out of the virtual filesystem: to a host path (a file or a whole directory, as
    :func:`wasifs.copy_out` copies it; returns the path), into a sync binary file object,
    or into an async sink of bytes (an object with an async ``send`` such as an anyio
    stream, or an async ``write``; or a coroutine function), ``chunk_size`` bytes at a time.
    ``progress`` and cancellation as for :func:`copy_in`."""
    src = _sync_path(source, "copy_out: source")
    send = None if isinstance(dest, (str, os.PathLike)) else async_sender(dest)
    if send is None:
        return await call_in_thread(
            lambda step: transfer.copy_out(src, dest, progress=step), progress)
    async with await open_file(src, "rb") as f:
        if progress is not None and hasattr(progress, "total"):
            setattr(progress, "total", (await _run(src.stat)).st_size)  # noqa: B010
        async for chunk in f.chunks(chunk_size):
            await send(chunk)
            if progress is not None:
                progress(len(chunk))
    return None


async def copy(source: Path | AsyncPath, dest: Path | AsyncPath, *,
               progress: Progress | None = None) -> Path:
    """:func:`wasifs.transfer.copy` (between two paths of any backends) in a worker thread,
    with ``progress`` and cancellation as for :func:`copy_in`."""
    src = _sync_path(source, "copy: source")
    target = _sync_path(dest, "copy: dest")

    def work(step: Step) -> Path:
        return transfer.copy(src, target, progress=step)
    return await call_in_thread(work, progress)
