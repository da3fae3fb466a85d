"""The async file API over every kind of backend (memory, native, the fsspec adapter), and
async ``copy_in``/``copy_out`` from and to host paths, file objects and async byte streams,
chunked (constant memory), with progress, cancellable."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path as HostPath
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

import wasifs
import wasifs.aio
from wasifs.aio import AsyncPath
from wasifs.backends.fsspec import FsspecBackend
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem

from .conftest import open_fds

pytestmark = pytest.mark.anyio

MiB = 1 << 20

BACKENDS: dict[str, Callable[[HostPath], Any]] = {
    "memory": lambda tmp: MemoryFileSystem(),
    "native": lambda tmp: NativeFileSystem(tmp),
    "fsspec-local": lambda tmp: FsspecBackend(LocalFileSystem(), str(tmp)),
    "fsspec-dirfs": lambda tmp: FsspecBackend(DirFileSystem(str(tmp), LocalFileSystem())),
}


@pytest.fixture(params=list(BACKENDS))
def fs(request: pytest.FixtureRequest, tmp_path: HostPath) -> Any:
    root = tmp_path / "root"
    root.mkdir()
    return BACKENDS[request.param](root)


async def test_async_file_read_write_seek_and_chunks(fs: Any) -> None:
    root = AsyncPath(fs)
    await (root / "dir").mkdir()
    path = root / "dir" / "data.bin"
    data = os.urandom(300_000)
    async with path.open("wb") as f:
        assert await f.write(data[:100_000]) == 100_000
        await f.write(memoryview(data)[100_000:])
        assert await f.tell() == len(data)
    assert await path.exists() and await path.is_file() and not await path.is_dir()
    assert (await path.stat()).st_size == len(data)
    f = await wasifs.aio.open_file(path.path, "r+b")
    async with f:
        assert await f.read(10) == data[:10]
        assert await f.seek(-5, io.SEEK_END) == len(data) - 5
        assert await f.read() == data[-5:]
        assert await f.read() == b""
        await f.seek(0)
        chunks = [c async for c in f]
        assert b"".join(chunks) == data
        assert max(map(len, chunks)) == 1 << 16
        await f.seek(0)
        assert [len(c) for c in [c async for c in f.chunks(100_000)]] == [100_000] * 3
        assert await f.truncate(1000) == 1000
    assert f.closed
    assert await path.read_bytes() == data[:1000]
    assert await (root / "t.txt").write_text("héllo") == 5
    assert await (root / "t.txt").read_text() == "héllo"
    assert sorted(p.name for p in await root.iterdir()) == ["dir", "t.txt"]
    moved = await (root / "t.txt").rename(root / "u.txt")
    assert moved == root / "u.txt" and str(moved) == "/u.txt"
    await moved.unlink()
    await path.unlink()
    await (root / "dir").rmdir()
    assert await root.iterdir() == []


async def test_async_file_errors(fs: Any) -> None:
    root = AsyncPath(fs)
    with pytest.raises(FileNotFoundError, match="missing"):
        await (root / "missing").read_bytes()
    with pytest.raises(ValueError, match="binary"):
        wasifs.aio.open_file(root / "x", "r")
    with pytest.raises(TypeError, match="wasifs.Path"):
        wasifs.aio.open_file("x", "rb")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        async with (root / "missing").open("rb"):
            pass  # pragma: no cover


async def test_copy_in_and_out_of_async_streams(fs: Any, tmp_path: HostPath) -> None:
    root = wasifs.Path(fs)
    data = os.urandom(3 * MiB + 17)
    send, receive = anyio.create_memory_object_stream[bytes](4)
    done: list[int] = []

    async with anyio.create_task_group() as tg:
        async def feed() -> None:
            async with send:
                for i in range(0, len(data), 100_000):
                    await send.send(data[i:i + 100_000])
        tg.start_soon(feed)
        async with receive:
            dest = await wasifs.aio.copy_in(receive, root / "in.bin", progress=done.append)
    assert dest == root / "in.bin" and await AsyncPath(dest).read_bytes() == data
    assert sum(done) == len(data)

    out = bytearray()

    class Sink:
        async def send(self, chunk: bytes) -> None:
            out.extend(chunk)

    class Bar:  # a progress object with tqdm's conventions
        total: int | None = None
        n = 0

        def __call__(self, k: int) -> None:
            self.n += k

    bar = Bar()
    assert await wasifs.aio.copy_out(root / "in.bin", Sink(), progress=bar,
                                     chunk_size=MiB) is None
    assert bytes(out) == data and bar.total == len(data) and bar.n == len(data)
    # host paths, a directory included, and sync file objects, through a worker thread
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "a.txt").write_bytes(b"a" * 5000)
    (tmp_path / "tree" / "b.txt").write_bytes(b"b")
    seen: list[tuple[int, bool]] = []

    def step(n: int) -> None:  # called on the event loop's thread
        seen.append((n, threading.current_thread() is threading.main_thread()))

    await wasifs.aio.copy_in(tmp_path / "tree", root / "tree", progress=step)
    assert sorted(seen) == [(1, True), (5000, True)]
    def snapshots() -> tuple[Any, Any]:  # sync code, off the loop
        return (wasifs.snapshot(root / "tree"),
                wasifs.snapshot(wasifs.Path(NativeFileSystem(tmp_path / "tree"))))
    mine, host = await anyio.to_thread.run_sync(snapshots)
    assert mine == host
    back = tmp_path / "back"
    assert await wasifs.aio.copy_out(AsyncPath(root / "tree"), str(back)) == str(back)
    assert await anyio.Path(back / "sub" / "a.txt").read_bytes() == b"a" * 5000
    buffer = io.BytesIO()
    await wasifs.aio.copy_out(root / "in.bin", buffer)
    assert buffer.getvalue() == data
    await wasifs.aio.copy_in(io.BytesIO(b"from a file object"), root / "f.txt")
    assert await AsyncPath(root / "f.txt").read_bytes() == b"from a file object"
    await wasifs.aio.copy(root / "tree", root / "tree2")
    assert await AsyncPath(root / "tree2" / "b.txt").read_bytes() == b"b"


async def test_async_copies_take_constant_memory(tmp_path: HostPath) -> None:
    """64 MiB streamed in and out of a native directory: Python allocations stay within a
    few chunks."""
    total, chunk = 64 * MiB, 256 * 1024

    async def source() -> Any:
        block = bytes(range(256)) * (chunk // 256)
        for _ in range(total // chunk):
            yield block

    digest = hashlib.sha256()
    count = 0

    async def sink(data: bytes) -> None:
        nonlocal count
        digest.update(data)
        count += len(data)

    root = wasifs.Path(await anyio.to_thread.run_sync(NativeFileSystem, tmp_path))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        await wasifs.aio.copy_in(source(), root / "big", chunk_size=chunk)
        await wasifs.aio.copy_out(root / "big", sink, chunk_size=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == total
    assert digest.hexdigest() == hashlib.sha256(
        (bytes(range(256)) * (chunk // 256)) * (total // chunk)).hexdigest()
    assert peak < 8 * chunk, f"peak {peak} bytes"


async def test_cancelling_a_copy_stops_it_between_chunks(tmp_path: HostPath) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(1024 * MiB)  # sparse: cheap to make, 1,024 chunks to copy
    root = wasifs.Path(MemoryFileSystem())
    fds, threads = open_fds(), set(threading.enumerate())
    copied = 0

    def step(n: int) -> None:
        nonlocal copied
        copied += n

    with anyio.move_on_after(0.1) as scope:
        await wasifs.aio.copy_in(big, root / "big.bin", progress=step)
    assert scope.cancelled_caught
    assert copied < 1024 * MiB
    assert set(threading.enumerate()) == threads  # the copy's thread is gone
    assert open_fds() <= fds  # and the host file it read is closed
