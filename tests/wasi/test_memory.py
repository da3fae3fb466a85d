"""The guest-memory seam: a zero-copy view, and a copying memory that keeps write order."""

from __future__ import annotations

import struct

import pytest

from wasifs.abi import IOVEC_STRUCT, U32_STRUCT, U64_STRUCT
from wasifs.backends.memory import MemoryFileSystem
from wasifs.vfs import Preopen
from wasifs.wasi import BufferCopyMemory, CopyingMemory, ViewMemory, WasiCore
from wasifs.wasi._memory import STRUCTS


def test_view_memory_is_the_view_itself() -> None:
    buf = bytearray(64)
    view = memoryview(buf)
    mem = ViewMemory(view)
    assert mem.view is view and mem.data is view and mem.into is view
    assert mem.size == 64
    mem.pack[U64_STRUCT](8, 0x0102030405060708)
    assert buf[8:16] == bytes.fromhex("0807060504030201")  # landed without a copy
    mem.into[0:4][:] = b"abcd"
    assert buf[:4] == b"abcd"
    assert mem.unpack[IOVEC_STRUCT](4) == (0, 0x05060708)
    with pytest.raises(struct.error):
        mem.pack[U32_STRUCT](62, 1)
    assert set(mem.pack) == set(STRUCTS) == set(mem.unpack)


def test_view_memory_refuses_read_only_buffers() -> None:
    with pytest.raises(ValueError, match="writable"):
        ViewMemory(memoryview(b"read only"))


def test_core_mem_assigns_a_view_and_reads_it_back() -> None:
    core = WasiCore()
    view = memoryview(bytearray(16))
    core.mem = view
    assert isinstance(core.memory, ViewMemory) and core.mem is view
    core.memory = BufferCopyMemory(bytearray(16))
    with pytest.raises(AttributeError, match="BufferCopyMemory, not a view"):
        core.mem  # noqa: B018


def test_copying_memory_copies_and_bounds_checks() -> None:
    buf = bytearray(32)
    mem = BufferCopyMemory(buf)
    data = mem.data[4:8]
    buf[4:8] = b"zzzz"
    assert bytes(data) == b"\x00" * 4  # a copy, not a view
    mem.data[0:3] = b"xyz"
    assert buf[:3] == b"xyz"
    with pytest.raises(ValueError, match="sizes differ"):
        mem.data[0:3] = b"toolong"
    with pytest.raises(struct.error):
        mem.unpack[U64_STRUCT](28)
    with pytest.raises(struct.error):
        mem.pack[U32_STRUCT](29, 7)
    assert bytes(mem.data[30:99]) == bytes(buf[30:32])  # clipped like a memoryview slice
    with pytest.raises(TypeError):
        mem.data[0:8:2]  # noqa: B018


def test_copying_memory_into_windows_land_in_order() -> None:
    """A window filled by a backend, then a result written over part of it: the result wins,
    as it does when the core writes straight into a view."""
    buf = bytearray(32)
    buf[8:16] = b"untouchd"
    mem = BufferCopyMemory(buf)
    window = mem.into[8:16]
    assert bytes(window) == b"untouchd"  # copied in: a short read leaves the rest as it was
    window[:3] = b"new"
    assert buf[8:16] == b"untouchd"  # not yet written back
    mem.pack[U32_STRUCT](12, 0xFFFFFFFF)  # any later access writes the window back first
    assert buf[8:16] == b"newo" + b"\xff" * 4
    window2 = mem.into[0:4]
    window2[:] = b"last"
    mem.flush()
    assert buf[:4] == b"last"
    mem.flush()  # nothing pending: no further copies
    assert buf[:4] == b"last"


def test_copying_memory_is_abstract() -> None:
    mem = CopyingMemory(16)
    with pytest.raises(NotImplementedError):
        mem.data[0:1]  # noqa: B018
    with pytest.raises(NotImplementedError):
        mem.data[0:1] = b"x"


def test_fd_read_through_a_copying_memory_copies_only_what_it_touches() -> None:
    """fd_read of 5 bytes into a 1 MiB memory: a few small copies, never the whole memory."""
    fs = MemoryFileSystem()
    with fs.open("f.txt", "wb") as f:
        f.write(b"hello")
    core = WasiCore(preopens=[Preopen("/d", fs)])
    buf = bytearray(1 << 20)
    mem = BufferCopyMemory(buf)
    core.memory = mem
    buf[100:105] = b"f.txt"
    assert core.path_open(3, 0, 100, 5, 0, (1 << 29) - 1, 0, 0, 200) == 0
    fd = struct.unpack_from("<I", buf, 200)[0]
    struct.pack_into("<II", buf, 300, 1000, 64)
    loaded: list[int] = []
    original = mem.load

    def counting_load(ptr: int, n: int) -> bytes:
        loaded.append(n)
        return original(ptr, n)

    mem.load = counting_load  # type: ignore[method-assign]
    assert core.fd_read(fd, 300, 1, 400) == 0
    mem.flush()
    assert buf[1000:1005] == b"hello" and struct.unpack_from("<I", buf, 400)[0] == 5
    assert sum(loaded) <= 8 + 64  # the iovec and the window
