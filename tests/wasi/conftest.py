"""Drive the sans-I/O core directly: guest memory is a bytearray, no engine involved.

Every core test runs twice: with the memory as a zero-copy view (as under wasmtime) and as a
copying memory (as under a JavaScript engine), see the ``guest`` fixture.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest

from wasifs.abi import DIRENT_STRUCT, FDSTAT_STRUCT, FILESTAT_STRUCT, RIGHTS_ALL, Oflags
from wasifs.backends.memory import MemoryFileSystem
from wasifs.errors import WasiError
from wasifs.stdio import BytesSource, CaptureSink
from wasifs.vfs import Preopen
from wasifs.wasi import BufferCopyMemory, WasiCore

MEM_SIZE = 1 << 16
SCRATCH = 1024  # guest "heap" starts here; low addresses are result slots


class Syscalls:
    """Calls core methods the way the binding does: a raised ``WasiError`` becomes its errno."""

    def __init__(self, core: WasiCore) -> None:
        self._core = core

    def __getattr__(self, name: str) -> Callable[..., int]:
        method = getattr(self._core, name)

        def call(*args: int) -> int:
            try:
                return int(method(*args))
            except WasiError as exc:
                return exc.errno
            finally:  # as an engine binding does after every syscall
                self._core.memory.flush()

        return call


class Guest:
    """A tiny guest-side helper: allocates in a bytearray memory and decodes results."""

    def __init__(self, core: WasiCore, memory: str = "view") -> None:
        self.core = core
        self.sys = Syscalls(core)
        self.buf = bytearray(MEM_SIZE)
        if memory == "view":
            core.mem = memoryview(self.buf)
        else:
            core.memory = BufferCopyMemory(self.buf)
        self._next = SCRATCH

    def alloc(self, n: int) -> int:
        ptr = self._next
        self._next += (n + 7) & ~7
        assert self._next < MEM_SIZE
        return ptr

    def put(self, data: bytes) -> tuple[int, int]:
        ptr = self.alloc(len(data))
        self.buf[ptr : ptr + len(data)] = data
        return ptr, len(data)

    def path(self, text: str | bytes) -> tuple[int, int]:
        return self.put(text.encode() if isinstance(text, str) else text)

    def iovecs(self, *chunks: bytes | int) -> tuple[int, int, list[tuple[int, int]]]:
        """iovecs over new buffers: bytes to write, or an int size to read into."""
        bufs = []
        for c in chunks:
            if isinstance(c, int):
                bufs.append((self.alloc(c), c))
            else:
                bufs.append(self.put(c))
        arr = self.alloc(8 * len(bufs))
        for i, (p, n) in enumerate(bufs):
            struct.pack_into("<II", self.buf, arr + 8 * i, p, n)
        return arr, len(bufs), bufs

    def u32(self, ptr: int) -> int:
        return int(struct.unpack_from("<I", self.buf, ptr)[0])

    def u64(self, ptr: int) -> int:
        return int(struct.unpack_from("<Q", self.buf, ptr)[0])

    def bytes_at(self, ptr: int, n: int) -> bytes:
        return bytes(self.buf[ptr : ptr + n])

    def filestat(self, ptr: int) -> tuple[int, ...]:
        return tuple(FILESTAT_STRUCT.unpack_from(self.buf, ptr))

    def fdstat(self, ptr: int) -> tuple[int, ...]:
        return tuple(FDSTAT_STRUCT.unpack_from(self.buf, ptr))

    # conveniences -------------------------------------------------------------------
    def open(self, path: str, oflags: int = 0, rights: int = RIGHTS_ALL, fdflags: int = 0,
             dirfd: int = 3, follow: bool = True,
             inheriting: int = RIGHTS_ALL) -> tuple[int, int]:
        """(errno, fd)."""
        p, n = self.path(path)
        out = self.alloc(4)
        err = self.sys.path_open(dirfd, int(follow), p, n, oflags, rights, inheriting, fdflags,
                                 out)
        return err, self.u32(out) if err == 0 else -1

    def create(self, path: str, data: bytes = b"", dirfd: int = 3) -> None:
        err, fd = self.open(path, Oflags.CREAT | Oflags.TRUNC, dirfd=dirfd)
        assert err == 0, err
        if data:
            assert self.write(fd, data) == (0, len(data))
        assert self.sys.fd_close(fd) == 0

    def write(self, fd: int, *chunks: bytes) -> tuple[int, int]:
        arr, cnt, _ = self.iovecs(*chunks)
        out = self.alloc(4)
        err = self.sys.fd_write(fd, arr, cnt, out)
        return err, self.u32(out)

    def read(self, fd: int, n: int) -> tuple[int, bytes]:
        arr, cnt, bufs = self.iovecs(n)
        out = self.alloc(4)
        err = self.sys.fd_read(fd, arr, cnt, out)
        got = self.u32(out)
        return err, self.bytes_at(bufs[0][0], got) if err == 0 else b""

    def readdir_names(self, fd: int, buf_len: int = 4096) -> list[str]:
        names: list[str] = []
        cookie = 0
        while True:
            buf = self.alloc(buf_len)
            used = self.alloc(4)
            assert self.sys.fd_readdir(fd, buf, buf_len, cookie, used) == 0
            n = self.u32(used)
            pos = 0
            while pos + DIRENT_STRUCT.size <= n:
                d_next, _ino, namlen, _typ = DIRENT_STRUCT.unpack_from(self.buf, buf + pos)
                start = buf + pos + DIRENT_STRUCT.size
                if pos + DIRENT_STRUCT.size + namlen > n:
                    break
                names.append(self.bytes_at(start, namlen).decode())
                cookie = d_next
                pos += DIRENT_STRUCT.size + namlen
            if n < buf_len:
                return names


@pytest.fixture
def fs() -> MemoryFileSystem:
    return MemoryFileSystem()


@pytest.fixture
def core(fs: MemoryFileSystem) -> Iterator[WasiCore]:
    c = WasiCore(args=["prog", "arg1"], env={"A": "1", "LANG": "C"},
                 preopens=[Preopen("/sandbox", fs)], stdin=BytesSource(b"hello stdin"),
                 stdout=CaptureSink(), stderr=CaptureSink())
    yield c
    c.close()


@pytest.fixture(params=["view", "copying"])
def guest(core: WasiCore, request: pytest.FixtureRequest) -> Guest:
    """A guest whose memory the core sees as a zero-copy view, or reaches by copies only."""
    return Guest(core, request.param)
