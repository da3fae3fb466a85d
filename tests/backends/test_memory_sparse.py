"""The memory backend stores sparse files sparsely: a size a guest asks for costs no memory
it did not write (issue 10, item 8). Host memory is measured with tracemalloc while a real
guest (the forwarding module of ``tests/_forward.py``, 64 KiB of memory) makes the calls."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path as HostPath
from typing import Any

import pytest

from tests._forward import Guest, wasifs_guest
from wasifs.abi import RIGHTS_ALL, Errno, Oflags
from wasifs.backends import MemoryFileSystem, NativeFileSystem, copy_tree
from wasifs.backends.memory import BLOCK
from wasifs.path import Path

MiB = 1 << 20
GiB = 1 << 30
OUT = 64
IOV = 128
BUF = 256


@pytest.fixture
def fs() -> MemoryFileSystem:
    return MemoryFileSystem()


@pytest.fixture
def guest(fs: MemoryFileSystem) -> Iterator[Guest]:
    g = wasifs_guest({"/sandbox": fs}, pages=1)
    yield g
    g.close()


def open_file(g: Guest, name: str = "f") -> int:
    g.write(1024, name.encode())
    err = g.call("path_open", 3, 0, 1024, len(name), Oflags.CREAT, RIGHTS_ALL, RIGHTS_ALL, 0,
                 OUT)
    assert err == 0, Errno(err)
    return g.u32(OUT)


def pwrite(g: Guest, fd: int, data: bytes, offset: int) -> int:
    g.write(BUF, data)
    g.write(IOV, struct.pack("<II", BUF, len(data)))
    return g.call("fd_pwrite", fd, IOV, 1, offset, OUT)


def pread(g: Guest, fd: int, n: int, offset: int) -> bytes:
    g.write(IOV, struct.pack("<II", BUF, n))
    assert g.call("fd_pread", fd, IOV, 1, offset, OUT) == 0
    return g.read(BUF, g.u32(OUT))


def size_of(g: Guest, fd: int) -> int:
    assert g.call("fd_filestat_get", fd, 512) == 0
    return g.u64(512 + 32)


def peak_bytes(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()`` and the most host memory (bytes) Python allocated during it."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("offset", [256 * MiB, 2 * GiB, 1 << 40], ids=["256M", "2G", "1T"])
def test_a_write_far_past_the_end_costs_what_it_writes(guest: Guest, offset: int) -> None:
    fd = open_file(guest)
    err, peak = peak_bytes(lambda: pwrite(guest, fd, b"x", offset))
    assert err == 0
    assert peak < MiB, peak
    assert size_of(guest, fd) == offset + 1
    assert pread(guest, fd, 4, offset - 3) == b"\0\0\0x"
    assert pread(guest, fd, 100, offset // 2) == bytes(100)


@pytest.mark.parametrize("call", ["fd_filestat_set_size", "fd_allocate"])
def test_growing_a_file_costs_nothing(guest: Guest, call: str) -> None:
    fd = open_file(guest)
    assert pwrite(guest, fd, b"head", 0) == 0
    args = (fd, 2 * GiB) if call == "fd_filestat_set_size" else (fd, 0, 2 * GiB)
    err, peak = peak_bytes(lambda: guest.call(call, *args))
    assert err == 0
    assert peak < MiB, peak
    assert size_of(guest, fd) == 2 * GiB
    assert pread(guest, fd, 8, 0) == b"head\0\0\0\0"
    assert pread(guest, fd, 8, 2 * GiB - 8) == bytes(8)
    # writes into the hole land where they should, and shrinking drops what is past the end
    assert pwrite(guest, fd, b"mid", GiB) == 0
    assert pread(guest, fd, 5, GiB - 1) == b"\0mid\0"
    assert guest.call("fd_filestat_set_size", fd, GiB + 2) == 0
    assert guest.call("fd_filestat_set_size", fd, GiB + 10) == 0
    assert pread(guest, fd, 20, GiB - 1) == b"\0mi" + bytes(8)


def test_the_largest_file_is_ext4s(guest: Guest) -> None:
    fd = open_file(guest)
    largest = MemoryFileSystem.max_file_size
    assert largest == (1 << 44) - 4096
    assert guest.call("fd_filestat_set_size", fd, largest) == 0
    assert Errno(guest.call("fd_filestat_set_size", fd, largest + 1)) == Errno.FBIG
    assert Errno(pwrite(guest, fd, b"xy", largest - 1)) == Errno.FBIG
    assert pwrite(guest, fd, b"x", largest - 1) == 0
    assert pread(guest, fd, 4, largest - 2) == b"\0x"


def test_sparse_content_matches_a_plain_model(fs: MemoryFileSystem) -> None:
    # writes, holes, truncates and reads across block edges, against a bytearray model
    model = bytearray()

    def write(f: Any, data: bytes, offset: int) -> None:
        fs.pwrite(f, data, offset)
        if offset > len(model):
            model.extend(bytes(offset - len(model)))
        model[offset:offset + len(data)] = data

    def truncate(f: Any, size: int) -> None:
        fs.ftruncate(f, size)
        del model[size:]
        model.extend(bytes(size - len(model)))

    f = fs.open_file(fs.root(), "f", read=True, write=True, create=True)
    write(f, b"a" * 10, 0)
    write(f, b"b" * (2 * BLOCK), 3 * BLOCK + 5)  # a hole of 3 blocks: sparse from here
    assert len(fs.extents(f)) == 2
    write(f, b"cdef", BLOCK - 2)
    write(f, b"tail", 10 * BLOCK)
    write(f, b"over", 7)
    truncate(f, 5 * BLOCK + 1)
    truncate(f, 9 * BLOCK)
    write(f, b"z" * 3, 4 * BLOCK - 1)
    fs.append(f, b"appended")
    model.extend(b"appended")
    assert fs.fstat(f).size == len(model)
    for offset in (0, 5, BLOCK - 3, 3 * BLOCK, 5 * BLOCK - 2, len(model) - 9):
        for n in (1, 7, BLOCK + 3, 3 * BLOCK):
            buf = bytearray(n)
            got = fs.pread(f, memoryview(buf), offset)
            assert buf[:got] == model[offset:offset + n], (offset, n)
    assert Path(fs, "/f").read_bytes() == model
    truncate(f, 0)
    assert fs.extents(f) == [] and Path(fs, "/f").read_bytes() == b""


def test_write_back_keeps_holes(tmp_path: HostPath, fs: MemoryFileSystem) -> None:
    # a guest's 1 TiB sparse file goes back to a host folder as a sparse file: its data and
    # its size, not a terabyte of zeros
    g = wasifs_guest({"/sandbox": fs}, pages=1)
    fd = open_file(g, "big")
    assert pwrite(g, fd, b"start", 0) == 0
    assert pwrite(g, fd, b"end", (1 << 40) - 3) == 0
    g.close()
    host = NativeFileSystem(tmp_path)
    s, d = fs.root(), host.root()
    try:
        copy_tree(fs, s, host, d)
    finally:
        host.close(d)
    st = os.stat(tmp_path / "big")
    assert st.st_size == 1 << 40
    assert st.st_blocks * 512 < 64 * MiB
    with open(tmp_path / "big", "rb") as f:
        assert f.read(5) == b"start"
        f.seek((1 << 40) - 3)
        assert f.read() == b"end"
    assert fs.extents(fs.open_file(fs.root(), "big", read=True, write=False)) == \
        [(0, 5), ((1 << 40) - BLOCK, BLOCK)]


def test_a_sparse_tree_pickles(fs: MemoryFileSystem) -> None:
    import pickle
    Path(fs, "/f").write_bytes(b"x")
    root = fs.root()
    f = fs.open_file(root, "f", read=True, write=True)
    fs.pwrite(f, b"y", 5 * GiB)
    clone = pickle.loads(pickle.dumps(fs))
    buf = bytearray(2)
    g = clone.open_file(clone.root(), "f", read=True, write=False)
    assert clone.fstat(g).size == 5 * GiB + 1
    assert clone.pread(g, memoryview(buf), 5 * GiB - 1) == 2 and buf == b"\0y"


ENOSPC_SCRIPT = textwrap.dedent("""
    import resource, struct, sys
    sys.path.insert(0, sys.argv[1])
    from tests._forward import wasifs_guest
    from wasifs.abi import RIGHTS_ALL, Errno, Oflags
    from wasifs.backends import MemoryFileSystem

    fs = MemoryFileSystem()
    g = wasifs_guest({"/s": fs}, pages=1024, strict=False)  # 64 MiB of guest memory
    g.write(0, b"f")
    assert g.call("path_open", 3, 0, 0, 1, Oflags.CREAT, RIGHTS_ALL, RIGHTS_ALL, 0, 64) == 0
    fd = g.u32(64)
    g.write(128, struct.pack("<II", 4096, 63 << 20))
    used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    limit = used + (400 << 20)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    errors = []
    for _ in range(40):  # 2.5 GiB of writes: more than the limit lets Python hold
        err = g.call("fd_write", fd, 128, 1, 192)
        if err:
            errors.append(Errno(err).name)
            break
    print(errors)
""")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_DATA counts mmap'ed memory on Linux")
def test_running_out_of_memory_is_enospc() -> None:
    root = HostPath(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", ENOSPC_SCRIPT, str(root)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['NOSPC']", r.stdout + r.stderr
    assert "bug in syscall" not in r.stderr
