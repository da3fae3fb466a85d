"""A backend's ``OSError`` reaches the guest as its errno, on every call (issue 9, item 3).

A real backend (memory, native) behind a wrapper that fails one protocol method with
``OSError(code)`` while it is armed, under a real guest (the forwarding module of
``tests/_forward.py``) in strict mode (a Python exception escaping a syscall traps and is
re-raised here) and in the default mode with the ``wasifs`` logger captured (no "bug in
syscall" record). Every syscall that calls the backend is exercised with every method it
calls, and each errno the guest sees is the one the backend raised, mapped by name
(``EIO`` is WASI ``IO``, ``ENOSPC`` is ``NOSPC``, and so on).

Before: ``fd_read``, ``fd_pread``, reads of stdin, ``poll_oneoff`` and ``fd_renumber`` let
the backend's ``OSError`` escape: a bug record and ``EIO`` (whatever the errno), or a trap in
strict mode.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path as HostPath
from typing import Any

import pytest

from tests._forward import Guest, wasifs_guest
from wasifs.abi import RIGHTS_ALL, Errno, Fdflags, Fstflags, Oflags
from wasifs.backends import MemoryFileSystem, NativeFileSystem
from wasifs.path import Path

#: The host errnos a backend raises and the WASI errno each must reach the guest as.
CODES = {
    errno.EIO: Errno.IO,
    errno.ENOSPC: Errno.NOSPC,
    errno.EACCES: Errno.ACCES,
    errno.EROFS: Errno.ROFS,
    errno.EDQUOT: Errno.DQUOT,
}

#: The methods of the backend protocol.
METHODS = ("root", "opendir", "open_file", "close", "same", "fstat", "lstat", "readlink",
           "listdir", "set_times", "fset_times", "pread", "pwrite", "append", "ftruncate",
           "fsync", "allocate", "mkdir", "rmdir", "unlink", "rename", "link", "symlink")


class FailingBackend:
    """A real backend whose method ``name`` raises ``OSError(code)`` while
    :meth:`failing` is in effect; every other call goes to the backend it wraps."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.readonly = inner.readonly
        self.armed: dict[str, int] = {}
        self.failed = 0

    @contextmanager
    def failing(self, name: str, code: int) -> Iterator[None]:
        assert name in METHODS or name in ("read", "ready", "write"), name
        self.armed[name] = code
        self.failed = 0
        try:
            yield
        finally:
            del self.armed[name]

    def check(self, name: str) -> None:
        code = self.armed.get(name)
        if code is not None:
            self.failed += 1
            raise OSError(code, f"injected: {os.strerror(code)}")


def _forwarder(name: str) -> Callable[..., Any]:
    def method(self: FailingBackend, *args: Any, **kwargs: Any) -> Any:
        self.check(name)
        return getattr(self.inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in METHODS:
    setattr(FailingBackend, _name, _forwarder(_name))


class FailingStream:
    """stdin and stdout of the guest: a host stream that fails as its backend is armed
    (``read``/``ready`` for stdin, ``write`` for stdout)."""

    def __init__(self, owner: FailingBackend) -> None:
        self.owner = owner
        self.written = b""

    def read(self, n: int) -> bytes:
        self.owner.check("read")
        return b"input"[:n]

    def ready(self) -> bool:
        self.owner.check("ready")
        return True

    def write(self, data: bytes) -> int:
        self.owner.check("write")
        self.written += data
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


# ---------------------------------------------------------------------- guest memory layout
OUT = 64          # a u32/u64 result
IOV = 128         # two iovecs
NAME = 512        # a path
NAME2 = 768       # a second path
SUB = 1024        # one poll subscription
EVENTS = 2048     # its event
BUF = 4096        # data


class Case:
    """A syscall made while the backend's ``method`` fails: ``prepare`` (not failing) makes
    the state and returns the arguments, ``call`` makes the syscall."""

    def __init__(self, method: str, call: Callable[[Guest, Any], int],
                 prepare: Callable[[Guest], Any] = lambda g: None, *,
                 expect: Errno | None = None) -> None:
        self.method = method
        self.call = call
        self.prepare = prepare
        #: the errno the guest sees when not the injected one (a failure it does not see)
        self.expect = expect


def name(g: Guest, ptr: int, text: str) -> tuple[int, int]:
    data = text.encode()
    g.write(ptr, data)
    return ptr, len(data)


def open_fd(g: Guest, path: str = "f", *, oflags: int = 0, fdflags: int = 0,
            rights: int = int(RIGHTS_ALL)) -> int:
    p, n = name(g, NAME2, path)
    err = g.call("path_open", 3, 0, p, n, oflags, rights, RIGHTS_ALL, fdflags, OUT)
    assert err == 0, Errno(err)
    return g.u32(OUT)


DIR_RIGHTS = int(RIGHTS_ALL) & ~0x40  # a directory opened for writing is EISDIR


def iovs(g: Guest, *lengths: int) -> int:
    pos = BUF
    for i, n in enumerate(lengths):
        g.write(IOV + 8 * i, struct.pack("<II", pos, n))
        pos += n
    g.write(BUF, b"abcdefghijklmnopqrstuvwxyz"[:pos - BUF])
    return len(lengths)


def poll_read(g: Guest, fd: int) -> int:
    """``poll_oneoff`` for reading ``fd``: the error its one event reports (a failure
    while polling one descriptor is that descriptor's event, as ``POLLERR`` in C)."""
    g.write(SUB, struct.pack("<QB7x", 7, 1) + struct.pack("<I", fd) + bytes(28))
    err = g.call("poll_oneoff", SUB, EVENTS, 1, OUT)
    assert err == 0 and g.u32(OUT) == 1, (Errno(err), g.u32(OUT))
    userdata, error, tag = struct.unpack("<QHB", g.read(EVENTS, 11))
    assert (userdata, tag) == (7, 1)
    return int(error)


def path_call(syscall: str, *before: int, after: tuple[int, ...] = (),
              path: str = "f") -> Callable[[Guest, Any], int]:
    def call(g: Guest, _: Any) -> int:
        p, n = name(g, NAME, path)
        return g.call(syscall, *before, p, n, *after)
    return call


CASES: dict[str, Case] = {
    # data
    "fd_read/pread": Case("pread", lambda g, fd: g.call("fd_read", fd, IOV, iovs(g, 4), OUT),
                          open_fd),
    "fd_read/pread/iovecs": Case(
        "pread", lambda g, fd: g.call("fd_read", fd, IOV, iovs(g, 2, 3), OUT), open_fd),
    "fd_pread/pread": Case(
        "pread", lambda g, fd: g.call("fd_pread", fd, IOV, iovs(g, 4), 1, OUT), open_fd),
    "fd_pread/pread/iovecs": Case(
        "pread", lambda g, fd: g.call("fd_pread", fd, IOV, iovs(g, 1, 2), 1, OUT), open_fd),
    "fd_write/pwrite": Case(
        "pwrite", lambda g, fd: g.call("fd_write", fd, IOV, iovs(g, 4), OUT), open_fd),
    "fd_write/pwrite/iovecs": Case(
        "pwrite", lambda g, fd: g.call("fd_write", fd, IOV, iovs(g, 2, 3), OUT), open_fd),
    "fd_pwrite/pwrite": Case(
        "pwrite", lambda g, fd: g.call("fd_pwrite", fd, IOV, iovs(g, 4), 2, OUT), open_fd),
    "fd_write/append": Case(
        "append", lambda g, fd: g.call("fd_write", fd, IOV, iovs(g, 4), OUT),
        lambda g: open_fd(g, fdflags=Fdflags.APPEND)),
    "fd_pwrite/append": Case(
        "append", lambda g, fd: g.call("fd_pwrite", fd, IOV, iovs(g, 4), 0, OUT),
        lambda g: open_fd(g, fdflags=Fdflags.APPEND)),
    "fd_filestat_set_size/ftruncate": Case(
        "ftruncate", lambda g, fd: g.call("fd_filestat_set_size", fd, 3), open_fd),
    "fd_sync/fsync": Case("fsync", lambda g, fd: g.call("fd_sync", fd), open_fd),
    "fd_datasync/fsync": Case("fsync", lambda g, fd: g.call("fd_datasync", fd), open_fd),
    "fd_allocate/allocate": Case(
        "allocate", lambda g, fd: g.call("fd_allocate", fd, 0, 100), open_fd),
    # metadata
    "fd_filestat_get/fstat": Case(
        "fstat", lambda g, fd: g.call("fd_filestat_get", fd, BUF), open_fd),
    "fd_seek/fstat": Case("fstat", lambda g, fd: g.call("fd_seek", fd, 0, 2, OUT), open_fd),
    "fd_filestat_set_times/fset_times": Case(
        "fset_times", lambda g, fd: g.call("fd_filestat_set_times", fd, 0, 0,
                                           Fstflags.MTIM_NOW), open_fd),
    "poll_oneoff/fstat": Case("fstat", poll_read, open_fd),
    "fd_readdir/fstat": Case(
        "fstat", lambda g, fd: g.call("fd_readdir", fd, BUF, 1024, 0, OUT),
        lambda g: open_fd(g, "d", oflags=Oflags.DIRECTORY, rights=DIR_RIGHTS)),
    "fd_readdir/listdir": Case(
        "listdir", lambda g, fd: g.call("fd_readdir", fd, BUF, 1024, 0, OUT),
        lambda g: open_fd(g, "d", oflags=Oflags.DIRECTORY, rights=DIR_RIGHTS)),
    "path_filestat_get/lstat": Case("lstat", path_call("path_filestat_get", 3, 0,
                                                       after=(BUF,))),
    "path_filestat_get/lstat/walk": Case("lstat", path_call("path_filestat_get", 3, 0,
                                                            after=(BUF,), path="d/e")),
    "path_filestat_get/lstat/follow": Case("lstat", path_call("path_filestat_get", 3, 1,
                                                              after=(BUF,), path="l")),
    "path_filestat_get/opendir": Case("opendir", path_call("path_filestat_get", 3, 0,
                                                           after=(BUF,), path="d/e")),
    "path_filestat_set_times/set_times": Case(
        "set_times", path_call("path_filestat_set_times", 3, 0,
                               after=(0, 0, int(Fstflags.MTIM_NOW)))),
    "path_readlink/readlink": Case("readlink", path_call("path_readlink", 3,
                                                         after=(BUF, 64, OUT), path="l")),
    "path_open/readlink": Case("readlink", path_call(
        "path_open", 3, 1, after=(0, int(RIGHTS_ALL), int(RIGHTS_ALL), 0, OUT), path="l")),
    # handles
    "path_open/open_file": Case("open_file", path_call(
        "path_open", 3, 0, after=(0, int(RIGHTS_ALL), int(RIGHTS_ALL), 0, OUT))),
    "path_open/open_file/create": Case("open_file", path_call(
        "path_open", 3, 0, after=(int(Oflags.CREAT), int(RIGHTS_ALL), int(RIGHTS_ALL), 0, OUT),
        path="new")),
    "path_open/opendir": Case("opendir", path_call(
        "path_open", 3, 0, after=(int(Oflags.DIRECTORY), DIR_RIGHTS, int(RIGHTS_ALL), 0, OUT),
        path="d")),
    "path_open/lstat": Case("lstat", path_call(
        "path_open", 3, 0, after=(int(Oflags.DIRECTORY), DIR_RIGHTS, int(RIGHTS_ALL), 0, OUT),
        path="d")),
    "fd_close/close": Case("close", lambda g, fd: g.call("fd_close", fd), open_fd),
    "fd_close/close/dir": Case(
        "close", lambda g, fd: g.call("fd_close", fd),
        lambda g: open_fd(g, "d", oflags=Oflags.DIRECTORY, rights=DIR_RIGHTS)),
    # a close the guest did not ask for fails: not reported, the call itself succeeded (as
    # under wasmtime, which drops such handles, and as Linux's dup2): the descriptor that
    # fd_renumber replaced, a directory handle the walk opened
    "fd_renumber/close": Case(
        "close", lambda g, fds: g.call("fd_renumber", *fds), lambda g: (open_fd(g),
                                                                      open_fd(g)),
        expect=Errno.SUCCESS),
    "path_filestat_get/close/walk": Case("close", path_call("path_filestat_get", 3, 0,
                                                            after=(BUF,), path="d/e"),
                                         expect=Errno.SUCCESS),
    # namespace
    "path_create_directory/mkdir": Case("mkdir", path_call("path_create_directory", 3,
                                                           path="new")),
    "path_remove_directory/rmdir": Case("rmdir", path_call("path_remove_directory", 3,
                                                           path="empty")),
    "path_unlink_file/unlink": Case("unlink", path_call("path_unlink_file", 3)),
    "path_symlink/symlink": Case(
        "symlink", lambda g, _: g.call("path_symlink", *name(g, NAME2, "f"), 3,
                                       *name(g, NAME, "s"))),
    "path_rename/rename": Case(
        "rename", lambda g, _: g.call("path_rename", 3, *name(g, NAME, "f"), 3,
                                      *name(g, NAME2, "g"))),
    "path_link/link": Case(
        "link", lambda g, _: g.call("path_link", 3, 0, *name(g, NAME, "f"), 3,
                                    *name(g, NAME2, "h"))),
    # the host's streams
    "fd_read/stdin": Case("read", lambda g, _: g.call("fd_read", 0, IOV, iovs(g, 4), OUT)),
    "fd_write/stdout": Case("write", lambda g, _: g.call("fd_write", 1, IOV, iovs(g, 4),
                                                         OUT)),
    "poll_oneoff/stdin": Case("ready", lambda g, _: poll_read(g, 0)),
}


def populate(fs: Any) -> None:
    Path(fs, "/f").write_bytes(b"0123456789")
    Path(fs, "/d").mkdir()
    Path(fs, "/d/e").write_bytes(b"e")
    Path(fs, "/empty").mkdir()
    Path(fs, "/l").symlink_to("f")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("wasifs")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "default"])
@pytest.mark.parametrize("kind", ["memory", "native"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_backend_error_reaches_the_guest_as_its_errno(
        case: str, kind: str, strict: bool, tmp_path: HostPath, records: Records) -> None:
    c = CASES[case]
    inner = MemoryFileSystem() if kind == "memory" else NativeFileSystem(tmp_path)
    populate(inner)
    fs = FailingBackend(inner)
    stream = FailingStream(fs)
    g = wasifs_guest({"/sandbox": fs}, pages=1, strict=strict, stdin=stream, stdout=stream)
    try:
        for code, wasi in CODES.items():
            state = c.prepare(g)
            with fs.failing(c.method, code):
                got = c.call(g, state)
                assert fs.failed, f"{case}: the backend's {c.method} was never called"
            want = wasi if c.expect is None else c.expect
            assert got == want, (f"{case}: the backend raised {errno.errorcode[code]}, the "
                                 f"guest got {Errno(got).name}, not {Errno(want).name}")
    finally:
        g.close()
    assert not [m for m in records.messages if "bug" in m], records.messages


def test_a_preopen_that_cannot_be_opened_keeps_the_class_of_its_error() -> None:
    """Before: an errno-less ``FileNotFoundError`` from a backend's ``root`` (as fsspec
    raises them) reached the caller as a bare ``OSError`` with no errno."""
    class Gone(MemoryFileSystem):
        def root(self) -> Any:
            raise FileNotFoundError("the bucket is gone")

    with pytest.raises(FileNotFoundError, match="cannot open the root") as exc:
        wasifs_guest({"/sandbox": Gone()})
    assert exc.value.errno == errno.ENOENT
