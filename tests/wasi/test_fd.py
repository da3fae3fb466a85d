"""fd_* calls on the sans-I/O core over the memory backend."""

from __future__ import annotations

import struct

from wasifs.abi import (
    FDSTAT_STRUCT,
    PRESTAT_STRUCT,
    RIGHTS_ALL,
    Errno,
    Fdflags,
    Filetype,
    Fstflags,
    Oflags,
    Rights,
    Whence,
)
from wasifs.wasi import PREOPEN_RIGHTS_BASE, WasiCore

from .conftest import MEM_SIZE, Guest


def test_fd_write_to_stdout_gathers_iovecs(guest: Guest, core: WasiCore) -> None:
    assert guest.write(1, b"hello ", b"", b"world\n") == (0, 12)
    assert core.stdout.getvalue() == b"hello world\n"  # type: ignore[attr-defined]


def test_fd_read_stdin(guest: Guest) -> None:
    assert guest.read(0, 5) == (0, b"hello")
    assert guest.read(0, 100) == (0, b" stdin")
    assert guest.read(0, 100) == (0, b"")


def test_fd_read_on_stdout_is_ebadf(guest: Guest) -> None:
    assert guest.read(1, 4)[0] == Errno.BADF
    assert guest.write(0, b"x")[0] == Errno.BADF


def test_fd_read_write_unknown_fd(guest: Guest) -> None:
    assert guest.read(77, 4)[0] == Errno.BADF
    assert guest.write(77, b"x")[0] == Errno.BADF
    assert guest.write(0xFFFFFFFF, b"x")[0] == Errno.BADF


def test_write_then_read_back_with_offsets(guest: Guest) -> None:
    guest.create("f", b"")
    err, fd = guest.open("f")
    assert guest.write(fd, b"abc", b"def") == (0, 6)
    out = guest.alloc(8)
    assert guest.sys.fd_tell(fd, out) == 0 and guest.u64(out) == 6
    assert guest.sys.fd_seek(fd, 1, Whence.SET, out) == 0 and guest.u64(out) == 1
    assert guest.read(fd, 3) == (0, b"bcd")
    assert guest.sys.fd_seek(fd, (-2) & (2**64 - 1), Whence.END, out) == 0
    assert guest.u64(out) == 4
    assert guest.read(fd, 10) == (0, b"ef")
    assert guest.read(fd, 10) == (0, b"")


def test_fd_read_into_several_iovecs(guest: Guest) -> None:
    guest.create("f", b"0123456789")
    _, fd = guest.open("f")
    arr, cnt, bufs = guest.iovecs(3, 4, 10)
    out = guest.alloc(4)
    assert guest.sys.fd_read(fd, arr, cnt, out) == 0
    assert guest.u32(out) == 10
    assert [guest.bytes_at(p, n) for p, n in bufs] == [b"012", b"3456", b"789" + bytes(7)]


def test_fd_seek_negative_result_is_einval(guest: Guest) -> None:
    guest.create("f", b"abc")
    _, fd = guest.open("f")
    out = guest.alloc(8)
    assert guest.sys.fd_seek(fd, (-1) & (2**64 - 1), Whence.SET, out) == Errno.INVAL
    assert guest.sys.fd_seek(fd, 0, 3, out) == Errno.INVAL


def test_fd_seek_on_stdio_is_espipe_and_on_dir_ebadf(guest: Guest) -> None:
    out = guest.alloc(8)
    assert guest.sys.fd_seek(1, 0, Whence.CUR, out) == Errno.SPIPE
    assert guest.sys.fd_seek(3, 0, Whence.CUR, out) == Errno.BADF


def test_fd_pread_pwrite_leave_offset(guest: Guest) -> None:
    guest.create("f", b"abcdef")
    _, fd = guest.open("f")
    arr, cnt, bufs = guest.iovecs(3)
    out = guest.alloc(4)
    assert guest.sys.fd_pread(fd, arr, cnt, 2, out) == 0
    assert guest.bytes_at(bufs[0][0], 3) == b"cde"
    arr, cnt, _ = guest.iovecs(b"XY")
    assert guest.sys.fd_pwrite(fd, arr, cnt, 10, out) == 0 and guest.u32(out) == 2
    assert guest.read(fd, 100) == (0, b"abcdef\0\0\0\0XY")


def test_fd_pread_on_stdin_is_espipe(guest: Guest) -> None:
    arr, cnt, _ = guest.iovecs(3)
    assert guest.sys.fd_pread(0, arr, cnt, 0, guest.alloc(4)) == Errno.SPIPE


def test_append_mode_writes_at_end(guest: Guest) -> None:
    guest.create("log", b"one\n")
    err, fd = guest.open("log", fdflags=Fdflags.APPEND)
    assert err == 0
    out = guest.alloc(8)
    guest.sys.fd_seek(fd, 0, Whence.SET, out)
    assert guest.write(fd, b"two\n") == (0, 4)
    guest.sys.fd_seek(fd, 0, Whence.SET, out)
    assert guest.read(fd, 100) == (0, b"one\ntwo\n")


def test_fd_fdstat_set_flags_round_trips(guest: Guest) -> None:
    guest.create("f")
    _, fd = guest.open("f")
    st = guest.alloc(24)
    assert guest.sys.fd_fdstat_set_flags(fd, Fdflags.APPEND | Fdflags.NONBLOCK) == 0
    guest.sys.fd_fdstat_get(fd, st)
    assert guest.fdstat(st)[1] == Fdflags.APPEND | Fdflags.NONBLOCK
    assert guest.sys.fd_fdstat_set_flags(fd, Fdflags.SYNC) == Errno.INVAL
    assert guest.sys.fd_fdstat_set_flags(3, 0) == Errno.BADF


def test_fd_fdstat_get_types(guest: Guest) -> None:
    st = guest.alloc(24)
    assert guest.sys.fd_fdstat_get(3, st) == 0
    ft, flags, base, inh = guest.fdstat(st)
    assert ft == Filetype.DIRECTORY and base == PREOPEN_RIGHTS_BASE
    assert guest.sys.fd_fdstat_get(1, st) == 0
    assert guest.fdstat(st)[2] == Rights.FD_WRITE
    guest.create("f")
    _, fd = guest.open("f")
    guest.sys.fd_fdstat_get(fd, st)
    assert guest.fdstat(st)[0] == Filetype.REGULAR_FILE
    assert guest.sys.fd_fdstat_get(99, st) == Errno.BADF
    assert guest.sys.fd_fdstat_get(3, MEM_SIZE - 8) == Errno.FAULT


def test_rights_can_only_shrink_and_are_enforced(guest: Guest) -> None:
    guest.create("f", b"data")
    _, fd = guest.open("f")
    st = guest.alloc(24)
    guest.sys.fd_fdstat_get(fd, st)
    base = guest.fdstat(st)[2] & ~Rights.FD_WRITE
    assert guest.sys.fd_fdstat_set_rights(fd, base, 0) == 0
    assert guest.write(fd, b"x")[0] == Errno.NOTCAPABLE
    assert guest.sys.fd_fdstat_set_rights(fd, RIGHTS_ALL, 0) == Errno.NOTCAPABLE
    assert guest.read(fd, 4) == (0, b"data")


def test_open_without_read_right_cannot_read(guest: Guest) -> None:
    guest.create("f", b"data")
    err, fd = guest.open("f", rights=int(Rights.FD_WRITE))
    assert err == 0
    assert guest.read(fd, 4)[0] == Errno.NOTCAPABLE


def test_fd_filestat_get_and_set_size(guest: Guest) -> None:
    guest.create("f", b"hello")
    _, fd = guest.open("f")
    st = guest.alloc(64)
    assert guest.sys.fd_filestat_get(fd, st) == 0
    fs = guest.filestat(st)
    assert fs[2] == Filetype.REGULAR_FILE and fs[3] == 1 and fs[4] == 5
    assert guest.sys.fd_filestat_set_size(fd, 2) == 0
    guest.sys.fd_filestat_get(fd, st)
    assert guest.filestat(st)[4] == 2
    assert guest.sys.fd_filestat_set_size(3, 0) == Errno.BADF


def test_fd_filestat_set_times(guest: Guest) -> None:
    guest.create("f")
    _, fd = guest.open("f")
    assert guest.sys.fd_filestat_set_times(fd, 111, 222, Fstflags.ATIM | Fstflags.MTIM) == 0
    st = guest.alloc(64)
    guest.sys.fd_filestat_get(fd, st)
    assert guest.filestat(st)[5:7] == (111, 222)
    both = Fstflags.ATIM | Fstflags.ATIM_NOW
    assert guest.sys.fd_filestat_set_times(fd, 1, 1, both) == Errno.INVAL
    assert guest.sys.fd_filestat_set_times(fd, 0, 0, Fstflags.MTIM_NOW) == 0
    guest.sys.fd_filestat_get(fd, st)
    assert guest.filestat(st)[6] > 10**18


def test_fd_allocate_extends(guest: Guest) -> None:
    guest.create("f", b"ab")
    _, fd = guest.open("f")
    assert guest.sys.fd_allocate(fd, 0, 100) == 0
    st = guest.alloc(64)
    guest.sys.fd_filestat_get(fd, st)
    assert guest.filestat(st)[4] == 100
    assert guest.sys.fd_allocate(fd, 2**63 - 1, 10) == Errno.FBIG


def test_fd_advise_sync_datasync(guest: Guest) -> None:
    guest.create("f")
    _, fd = guest.open("f")
    assert guest.sys.fd_advise(fd, 0, 10, 1) == 0
    assert guest.sys.fd_advise(fd, 0, 10, 9) == Errno.INVAL
    assert guest.sys.fd_sync(fd) == 0
    assert guest.sys.fd_datasync(fd) == 0
    assert guest.sys.fd_sync(1) == Errno.BADF


def test_fd_prestat(guest: Guest) -> None:
    out = guest.alloc(8)
    assert guest.sys.fd_prestat_get(3, out) == 0
    assert PRESTAT_STRUCT.unpack_from(guest.buf, out) == (0, len("/sandbox"))
    name = guest.alloc(16)
    assert guest.sys.fd_prestat_dir_name(3, name, 8) == 0
    assert guest.bytes_at(name, 8) == b"/sandbox"
    assert guest.sys.fd_prestat_dir_name(3, name, 3) == Errno.NAMETOOLONG
    assert guest.sys.fd_prestat_get(4, out) == Errno.BADF
    assert guest.sys.fd_prestat_get(1, out) == Errno.BADF


def test_fd_close_and_reuse(guest: Guest) -> None:
    guest.create("a")
    _, fa = guest.open("a")
    _, fb = guest.open("a")
    assert (fa, fb) == (4, 5)
    assert guest.sys.fd_close(fa) == 0
    assert guest.sys.fd_close(fa) == Errno.BADF
    assert guest.open("a")[1] == 4


def test_fd_numbers_are_reused_highest_first_as_in_wasmtime(guest: Guest) -> None:
    # wasmtime's preview1 keeps closed numbers in a set and takes the highest one first;
    # a closed stdout (1) is then not the next number given (yosys relies on that)
    guest.create("a")
    fds = [guest.open("a")[1] for _ in range(4)]
    assert fds == [4, 5, 6, 7]
    for fd in (4, 6, 7):
        assert guest.sys.fd_close(fd) == 0
    assert guest.sys.fd_close(1) == 0
    assert [guest.open("a")[1] for _ in range(5)] == [7, 6, 4, 1, 8]
    # a renumbered descriptor's old number is free again, and is taken first
    assert guest.sys.fd_renumber(8, 5) == 0
    assert guest.open("a")[1] == 8


def test_fd_renumber(guest: Guest) -> None:
    guest.create("a", b"A")
    guest.create("b", b"B")
    _, fa = guest.open("a")
    _, fb = guest.open("b")
    assert guest.sys.fd_renumber(fa, fb) == 0
    assert guest.read(fb, 1) == (0, b"A")
    assert guest.read(fa, 1)[0] == Errno.BADF
    assert guest.sys.fd_renumber(fb, 40) == Errno.BADF  # target must be open
    assert guest.sys.fd_renumber(fb, fb) == 0
    # onto stdin: what wasi-libc's freopen(stdin) relies on
    assert guest.sys.fd_renumber(fb, 0) == 0
    out = guest.alloc(8)
    assert guest.sys.fd_seek(0, 0, Whence.SET, out) == 0
    assert guest.read(0, 1) == (0, b"A")


def test_closing_a_preopen_is_allowed(guest: Guest) -> None:
    assert guest.sys.fd_close(3) == 0
    assert guest.open("x", Oflags.CREAT)[0] == Errno.BADF


def test_fd_limit_gives_emfile(fs: object) -> None:
    from wasifs.vfs import Preopen

    from .conftest import Guest

    core = WasiCore(preopens=[Preopen("/", fs)], fd_limit=6)  # type: ignore[arg-type]
    g = Guest(core)
    g.create("f")
    fds = [g.open("f") for _ in range(3)]
    assert [e for e, _ in fds] == [0, 0, Errno.MFILE]


def test_iovec_array_out_of_bounds(guest: Guest) -> None:
    out = guest.alloc(4)
    assert guest.sys.fd_write(1, MEM_SIZE - 4, 1, out) == Errno.FAULT
    p = guest.alloc(8)
    struct.pack_into("<II", guest.buf, p, MEM_SIZE - 2, 10)  # buffer runs off the end
    assert guest.sys.fd_write(1, p, 1, out) == Errno.FAULT
    assert guest.sys.fd_write(1, p, 0xFFFFFFFF, out) == Errno.INVAL


def test_readdir_lists_dot_entries_and_cookies(guest: Guest) -> None:
    for n in ("a", "b", "c"):
        guest.create(n)
    assert guest.readdir_names(3) == [".", "..", "a", "b", "c"]
    # tiny buffers: every entry is truncated at least once, cookies resume correctly
    assert guest.readdir_names(3, buf_len=30) == [".", "..", "a", "b", "c"]


def test_readdir_truncated_buffer_reports_full(guest: Guest) -> None:
    guest.create("a_long_file_name")
    buf, used = guest.alloc(64), guest.alloc(4)
    assert guest.sys.fd_readdir(3, buf, 40, 0, used) == 0
    assert guest.u32(used) == 40  # bufused == buf_len means "there is more"


def test_readdir_on_file_is_ebadf(guest: Guest) -> None:
    guest.create("f")
    _, fd = guest.open("f")
    assert guest.sys.fd_readdir(fd, guest.alloc(64), 64, 0, guest.alloc(4)) == Errno.BADF


def test_fdstat_struct_layout_matches_witx() -> None:
    assert FDSTAT_STRUCT.size == 24
