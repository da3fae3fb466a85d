"""What one call may allocate on the host, for every one of the 46 preview1 functions,
whatever sizes the guest passes (issue 10, item 9; the bounds are listed in
``docs/security.md``).

Each syscall is called by a real guest (the forwarding module of ``tests/_forward.py``, 16 MiB
of memory) with its worst case: every length as long as guest memory allows, 1,024 iovecs
each covering 64 KiB, paths filling the memory, the most poll subscriptions that fit. The host
memory Python allocated during the call and gave back (tracemalloc's peak above what is still
held afterwards: the call's working memory, not the data a write stores) must stay under
:data:`BOUND`.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path as HostPath

import pytest

from tests._forward import Guest, wasifs_guest
from wasifs.abi import RIGHTS_ALL, SYSCALLS, Errno, Fdflags, Oflags
from wasifs.backends import MemoryFileSystem, NativeFileSystem
from wasifs.path import Path

MiB = 1 << 20
PAGES = 256  # 16 MiB of guest memory
SIZE = PAGES * 65536
BOUND = 6 * MiB

OUT = 64  # result slots: 64, 128, 192, ...
IOVS = 4096  # 1,024 iovecs
SUBS = 16384  # poll subscriptions, then their events
BIG = 1 * MiB  # from here to the end: the data region (15 MiB of "a")
STDIN = 32 * MiB


@dataclass
class World:
    guest: Guest
    backend: str
    file: int  # a regular file of 1 MiB, read-write
    appender: int  # a file opened with O_APPEND
    dir: int  # the preopen (3), holding "f", "d/" with 200 entries, "link" -> "f"


def iovecs(g: Guest, count: int, each: int, at: int = IOVS) -> None:
    g.write(at, struct.pack("<" + "II" * count, *[BIG, each] * count))


def open_path(g: Guest, name: str, fdflags: int = 0, oflags: int = 0) -> int:
    g.write(OUT * 8, name.encode())
    rights = RIGHTS_ALL if not oflags else RIGHTS_ALL & ~0x40  # a directory: no FD_WRITE
    err = g.call("path_open", 3, 0, OUT * 8, len(name), oflags, rights, RIGHTS_ALL, fdflags,
                 OUT)
    assert err == 0, Errno(err)
    return g.u32(OUT)


@pytest.fixture(params=["memory", "native"])
def world(request: pytest.FixtureRequest, tmp_path: HostPath) -> Iterator[World]:
    if request.param == "memory":
        backend = MemoryFileSystem()
    else:
        backend = NativeFileSystem(tmp_path)
    Path(backend, "/f").write_bytes(b"x" * MiB)
    Path(backend, "/d").mkdir()
    for i in range(200):
        Path(backend, f"/d/entry-{i:05}").write_bytes(b"")
    Path(backend, "/link").symlink_to("f")
    g = wasifs_guest({"/sandbox": backend}, pages=PAGES, stdin=b"i" * STDIN, stdout=None,
                     args=["prog", *[f"argument-{i}" for i in range(1000)]],
                     env={f"VAR{i}": "value" for i in range(1000)})
    g.write(BIG, b"a" * (SIZE - BIG))
    w = World(g, request.param, open_path(g, "f"), open_path(g, "f", Fdflags.APPEND), 3)
    yield w
    g.close()


def whole(at: int = BIG) -> tuple[int, int]:
    """A region from ``at`` to the end of guest memory."""
    return at, SIZE - at


def poll_subscriptions(g: Guest, count: int) -> None:
    # clock subscriptions with a zero timeout: all ready at once
    sub = struct.pack("<QB7xIIQQH6x", 7, 0, 1, 0, 0, 0, 0)
    g.write(SUBS, sub * count)


#: For each syscall, the worst case: ``setup(world) -> args``.
Case = Callable[[World], tuple[int, ...]]


def _readdir(w: World) -> tuple[int, ...]:
    fd = open_path(w.guest, "d", oflags=Oflags.DIRECTORY)
    return (fd, *whole(), 0, OUT)


def _poll(w: World) -> tuple[int, ...]:
    count = (SIZE - SUBS) // 80  # as many as fit (48 bytes in, 32 out): 209,510
    poll_subscriptions(w.guest, count)
    return SUBS, SUBS + 48 * count, count, OUT


def _rw(name: str, fd: str, offset: bool) -> Case:
    def case(w: World) -> tuple[int, ...]:
        iovecs(w.guest, 1024, 65536)
        args = (getattr(w, fd), IOVS, 1024)
        return (*args, 0, OUT) if offset else (*args, OUT)
    return case


def _stdin(w: World) -> tuple[int, ...]:
    w.guest.write(IOVS, struct.pack("<II", BIG, SIZE - BIG))
    return 0, IOVS, 1, OUT


def _path(*before: int, after: tuple[int, ...] = ()) -> Case:
    """A path filling guest memory after the fixed arguments ``before``."""
    return lambda w: (*before, *whole(), *after)


CASES: dict[str, Case] = {
    "args_get": lambda w: (OUT, BIG),
    "args_sizes_get": lambda w: (OUT, OUT + 8),
    "environ_get": lambda w: (OUT, BIG),
    "environ_sizes_get": lambda w: (OUT, OUT + 8),
    "clock_res_get": lambda w: (0, OUT),
    "clock_time_get": lambda w: (0, 0, OUT),
    "fd_advise": lambda w: (w.file, 0, (1 << 63) - 1, 0),
    "fd_allocate": lambda w: (w.file, 0, 1 << 40 if w.backend == "memory" else 1 << 20),
    "fd_close": lambda w: (w.file,),
    "fd_datasync": lambda w: (w.file,),
    "fd_fdstat_get": lambda w: (w.file, OUT),
    "fd_fdstat_set_flags": lambda w: (w.file, 0),
    "fd_fdstat_set_rights": lambda w: (w.file, 0, 0),
    "fd_filestat_get": lambda w: (w.file, OUT),
    "fd_filestat_set_size": lambda w: (w.file, 1 << 40),
    "fd_filestat_set_times": lambda w: (w.file, 0, 0, 0),
    "fd_pread": _rw("fd_pread", "file", True),
    "fd_prestat_get": lambda w: (3, OUT),
    "fd_prestat_dir_name": lambda w: (3, *whole()),
    "fd_pwrite": _rw("fd_pwrite", "appender", True),
    "fd_read": _stdin,
    "fd_readdir": _readdir,
    "fd_renumber": lambda w: (w.file, w.appender),
    "fd_seek": lambda w: (w.file, (1 << 63) - 1, 0, OUT),
    "fd_sync": lambda w: (w.file,),
    "fd_tell": lambda w: (w.file, OUT),
    "fd_write": _rw("fd_write", "appender", False),
    "path_create_directory": _path(3),
    "path_filestat_get": _path(3, 1, after=(OUT,)),
    "path_filestat_set_times": _path(3, 1, after=(0, 0, 0)),
    "path_link": lambda w: (3, 0, *whole(), 3, *whole()),
    "path_open": _path(3, 1, after=(Oflags.CREAT, RIGHTS_ALL, RIGHTS_ALL, 0, OUT)),
    "path_readlink": lambda w: (3, OUT * 8, 4, BIG, SIZE - BIG, OUT),
    "path_remove_directory": _path(3),
    "path_rename": lambda w: (3, *whole(), 3, *whole()),
    "path_symlink": lambda w: (*whole(), 3, *whole()),
    "path_unlink_file": _path(3),
    "poll_oneoff": _poll,
    "proc_raise": lambda w: (0,),
    "random_get": lambda w: whole(),
    "sched_yield": lambda w: (),
    "sock_accept": lambda w: (w.file, 0, OUT),
    "sock_recv": lambda w: (w.file, IOVS, 1024, 0, OUT, OUT + 8),
    "sock_send": lambda w: (w.file, IOVS, 1024, 0, OUT),
    "sock_shutdown": lambda w: (w.file, 0),
}


def transient(call: Callable[[], int]) -> tuple[int, int]:
    """``call()``'s result and the host memory it allocated and gave back again (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = call()
        current, peak = tracemalloc.get_traced_memory()
        return result, peak - current
    finally:
        tracemalloc.stop()


def test_every_syscall_has_a_case() -> None:
    assert set(CASES) | {"proc_exit"} == set(SYSCALLS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_call_allocates_little_on_the_host(world: World, name: str) -> None:
    g = world.guest
    if name == "path_readlink":
        g.write(OUT * 8, b"link")
    args = CASES[name](world)
    err, used = transient(lambda: g.call(name, *args))
    assert used < BOUND, (name, Errno(err).name, used)


def test_reads_and_writes_move_at_most_max_rw_count() -> None:
    # 1,024 iovecs of 4 MiB each (the same 4 MiB): Linux moves at most MAX_RW_COUNT
    # (2 GiB - 4 KiB) per call, then returns a short count; so does wasifs
    g = wasifs_guest({"/sandbox": MemoryFileSystem()}, pages=128, stdout=None)
    try:
        g.write(IOVS, struct.pack("<" + "II" * 1024, *[BIG, 4 * MiB] * 1024))
        err, used = transient(lambda: g.call("fd_write", 1, IOVS, 1024, OUT))
        assert err == 0 and used < BOUND
        assert g.u32(OUT) == 0x7FFFF000
    finally:
        g.close()


def test_the_listings_of_open_directories_are_bounded() -> None:
    # a guest opens one directory of 100,000 entries 6 times and starts reading each: the
    # host keeps at most 2**18 entries of listings for it (all 600,000 before), the others
    # are listed again when read on
    fs = MemoryFileSystem()
    Path(fs, "/d").mkdir()
    d = fs.opendir(fs.root(), "d")
    for i in range(100_000):
        fs.open_file(d, f"entry-{i:06}", read=False, write=True, create=True)
    g = wasifs_guest({"/sandbox": fs}, pages=4)
    try:
        fds = [open_path(g, "d", oflags=Oflags.DIRECTORY) for _ in range(6)]
        held = []
        tracemalloc.start()
        try:
            for fd in fds:
                assert g.call("fd_readdir", fd, BIG // 8, 4096, 0, OUT) == 0
                held.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
        assert held[-1] < 2.5 * held[0], held  # one listing or two, never six
        # reading on from a cookie of a dropped listing still gives the right entries
        assert g.call("fd_readdir", fds[0], BIG // 8, 4096, 1000, OUT) == 0
        first = g.read(BIG // 8, 24 + 12)
        assert first[24:] == b"entry-000998"  # cookie 1000: after ".", "..", 998 entries
    finally:
        g.close()


def test_poll_oneoff_at_its_limit() -> None:
    # 16,384 subscriptions (or two per descriptor the guest may open, and a clock) are
    # taken, in bounded memory; one more is EINVAL (Linux: more pollfds than RLIMIT_NOFILE;
    # wasmtime takes any number: DIFFERENCES.md "poll-subscription-limit")
    g = wasifs_guest({"/sandbox": MemoryFileSystem()}, pages=PAGES)
    try:
        limit = 1 << 14
        poll_subscriptions(g, limit + 1)
        out = SUBS + 48 * (limit + 1)
        err, used = transient(lambda: g.call("poll_oneoff", SUBS, out, limit, OUT))
        assert err == 0 and g.u32(OUT) == limit
        assert used < BOUND, used
        assert Errno(g.call("poll_oneoff", SUBS, out, limit + 1, OUT)) == Errno.INVAL
    finally:
        g.close()
