"""Sync streaming of files much larger than the memory a test allows the host: a guest writes
and reads a 128 MiB file through ``fd_write``/``fd_read`` on ``native`` and on the fsspec
adapter (over a local filesystem, and over fsspec's ``DirFileSystem``, which reads through
the generic file-object path), and streams it through stdin and stdout; Python's
allocations (tracemalloc) stay under 4 MiB — 32 times less than the data — so no layer on
the way buffers the whole file."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

import wasifs
from wasifs.backends.fsspec import FsspecBackend
from wasifs.backends.native import NativeFileSystem
from wasifs.toolchain import compile_c

GUEST = Path(__file__).parent / "guests" / "streams.c"
MiB = 1 << 20
SIZE = 128 * MiB
#: what the host may allocate (Python objects) while the file streams through
CAP = 4 * MiB
#: the fsspec adapter keeps a changed file in memory up to this before spooling to disk
SPOOL = 1 * MiB

BACKENDS: dict[str, Callable[[Path], Any]] = {
    "native": lambda root: NativeFileSystem(root),
    "fsspec-local": lambda root: FsspecBackend(LocalFileSystem(), str(root),
                                               spool_memory=SPOOL),
    "fsspec-dirfs": lambda root: FsspecBackend(DirFileSystem(str(root), LocalFileSystem()),
                                               spool_memory=SPOOL),
}


@pytest.fixture(scope="module")
def streams() -> bytes:
    module = compile_c(GUEST)
    wasifs.run(module, args=["s", "lines", "1"], check=True)  # compiled and cached: not measured
    return module


def _pattern_sum(n: int) -> int:
    full, rest = divmod(n, 251)
    return (full * (250 * 251 // 2) + rest * (rest - 1) // 2) & 0xFFFFFFFF


class _Peak:
    """tracemalloc's peak over a block (tracing only inside it)."""

    def __enter__(self) -> _Peak:
        tracemalloc.start()
        tracemalloc.reset_peak()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_guest_writes_and_reads_a_file_far_larger_than_the_cap(
        streams: bytes, backend: str, tmp_path: Path) -> None:
    fs = BACKENDS[backend](tmp_path)
    with _Peak() as writing:
        result = wasifs.run(streams, args=["s", "writefile", "/d/big.bin", str(SIZE)],
                            mounts={"/d": fs}, check=True)
    assert (tmp_path / "big.bin").stat().st_size == SIZE
    with _Peak() as reading:
        result = wasifs.run(streams, args=["s", "readfile", "/d/big.bin"],
                            mounts={"/d": fs}, check=True)
    assert result.stdout == b"bytes %d sum %d\n" % (SIZE, _pattern_sum(SIZE))
    assert writing.peak < CAP, f"writing: peak {writing.peak} bytes"
    assert reading.peak < CAP, f"reading: peak {reading.peak} bytes"


def _chunks(total: int, size: int = MiB) -> Iterator[bytes]:
    block = bytes(i % 251 for i in range(size))
    for offset in range(0, total, size):
        yield block[: min(size, total - offset)]


@pytest.mark.parametrize("backend", ["native", "fsspec-local"])
def test_stdin_to_a_file_and_a_file_to_stdout_far_larger_than_the_cap(
        streams: bytes, backend: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    fs = BACKENDS[backend](root)
    with _Peak() as inbound:
        wasifs.run(streams, args=["s", "tofile", "/d/in.bin"], mounts={"/d": fs},
                   stdin=_chunks(SIZE), check=True)
    digest = hashlib.sha256()
    count = 0

    def consume(data: bytes) -> None:
        nonlocal count
        digest.update(data)
        count += len(data)

    with _Peak() as outbound:
        wasifs.run(streams, args=["s", "fromfile", "/d/in.bin"], mounts={"/d": fs},
                   stdout=consume, check=True)
    expected = hashlib.sha256()
    for chunk in _chunks(SIZE):
        expected.update(chunk)
    assert count == SIZE and digest.hexdigest() == expected.hexdigest()
    assert inbound.peak < CAP, f"stdin to file: peak {inbound.peak} bytes"
    assert outbound.peak < CAP, f"file to stdout: peak {outbound.peak} bytes"
