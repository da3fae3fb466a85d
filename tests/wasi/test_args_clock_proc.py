"""args/environ, clocks, random, process and poll_oneoff on the sans-I/O core."""

from __future__ import annotations

import struct
import time

import pytest

from wasifs.abi import EVENT_STRUCT, Clockid, Errno, Eventtype
from wasifs.errors import ProcExit
from wasifs.wasi import WasiCore

from .conftest import MEM_SIZE, Guest


def test_args_sizes_get_counts_nul_terminators(guest: Guest) -> None:
    a, b = guest.alloc(4), guest.alloc(4)
    assert guest.sys.args_sizes_get(a, b) == 0
    assert (guest.u32(a), guest.u32(b)) == (2, len(b"prog\0arg1\0"))


def test_args_get_writes_pointers_and_strings(guest: Guest) -> None:
    ptrs, buf = guest.alloc(8), guest.alloc(64)
    assert guest.sys.args_get(ptrs, buf) == 0
    assert guest.u32(ptrs) == buf
    assert guest.u32(ptrs + 4) == buf + 5
    assert guest.bytes_at(buf, 10) == b"prog\0arg1\0"


def test_environ_get_is_exactly_the_given_env(guest: Guest) -> None:
    a, b = guest.alloc(4), guest.alloc(4)
    assert guest.sys.environ_sizes_get(a, b) == 0
    assert guest.u32(a) == 2
    ptrs, buf = guest.alloc(8), guest.alloc(64)
    assert guest.sys.environ_get(ptrs, buf) == 0
    assert guest.bytes_at(buf, guest.u32(b)) == b"A=1\0LANG=C\0"


@pytest.mark.parametrize("ptr", [MEM_SIZE - 2, MEM_SIZE, 0xFFFFFFFF], ids=["edge", "end", "max"])
def test_args_sizes_get_out_of_bounds_is_efault(guest: Guest, ptr: int) -> None:
    assert guest.sys.args_sizes_get(ptr, 0) == Errno.FAULT


def test_args_get_buffer_out_of_bounds_is_efault(guest: Guest) -> None:
    assert guest.sys.args_get(guest.alloc(8), MEM_SIZE - 3) == Errno.FAULT


def test_env_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        WasiCore(env={"A=B": "x"})
    with pytest.raises(ValueError, match="NUL"):
        WasiCore(args=["a\0b"])


@pytest.mark.parametrize("clock", list(Clockid), ids=[c.name for c in Clockid])
def test_clock_time_get_every_clock(guest: Guest, clock: Clockid) -> None:
    out = guest.alloc(8)
    assert guest.sys.clock_time_get(clock, 0, out) == 0
    assert guest.u64(out) > 0
    res = guest.alloc(8)
    assert guest.sys.clock_res_get(clock, res) == 0
    assert guest.u64(res) >= 1


def test_clock_realtime_is_wall_time(guest: Guest) -> None:
    out = guest.alloc(8)
    guest.sys.clock_time_get(Clockid.REALTIME, 0, out)
    assert abs(guest.u64(out) - time.time_ns()) < 10**9


def test_clock_unknown_id_is_einval(guest: Guest) -> None:
    assert guest.sys.clock_time_get(9, 0, guest.alloc(8)) == Errno.INVAL
    assert guest.sys.clock_res_get(9, guest.alloc(8)) == Errno.INVAL


def test_clock_time_get_out_of_bounds(guest: Guest) -> None:
    assert guest.sys.clock_time_get(0, 0, MEM_SIZE - 4) == Errno.FAULT


def test_random_get_fills_and_bounds(guest: Guest) -> None:
    p = guest.alloc(64)
    assert guest.sys.random_get(p, 64) == 0
    assert guest.bytes_at(p, 64) != bytes(64)
    assert guest.sys.random_get(MEM_SIZE - 10, 11) == Errno.FAULT
    assert guest.sys.random_get(0xFFFFFFFF, 0xFFFFFFFF) == Errno.FAULT


def test_proc_exit_raises(core: WasiCore) -> None:
    with pytest.raises(ProcExit) as info:
        core.proc_exit(42)
    assert info.value.code == 42


def test_proc_raise_and_sched_yield(core: WasiCore) -> None:
    assert core.proc_raise(15) == Errno.NOTSUP
    assert core.sched_yield() == 0


def _subscribe_clock(guest: Guest, ptr: int, userdata: int, timeout_ns: int,
                     absolute: bool = False, clock: int = Clockid.MONOTONIC) -> None:
    struct.pack_into("<QB7x", guest.buf, ptr, userdata, Eventtype.CLOCK)
    struct.pack_into("<I4xQQH", guest.buf, ptr + 16, clock, timeout_ns, 0, int(absolute))


def _subscribe_fd(guest: Guest, ptr: int, userdata: int, tag: int, fd: int) -> None:
    struct.pack_into("<QB7x", guest.buf, ptr, userdata, tag)
    struct.pack_into("<I", guest.buf, ptr + 16, fd)


def test_poll_oneoff_zero_subscriptions_is_einval(guest: Guest) -> None:
    assert guest.sys.poll_oneoff(guest.alloc(48), guest.alloc(32), 0, guest.alloc(4)) == Errno.INVAL


def test_poll_oneoff_relative_clock_sleeps(guest: Guest) -> None:
    subs, events, n = guest.alloc(48), guest.alloc(32), guest.alloc(4)
    _subscribe_clock(guest, subs, 77, 20_000_000)
    t0 = time.monotonic()
    assert guest.sys.poll_oneoff(subs, events, 1, n) == 0
    assert time.monotonic() - t0 >= 0.019
    assert guest.u32(n) == 1
    userdata, err, typ, _nbytes, _flags = EVENT_STRUCT.unpack_from(guest.buf, events)
    assert (userdata, err, typ) == (77, 0, Eventtype.CLOCK)


def test_poll_oneoff_ready_fd_suppresses_clock(guest: Guest) -> None:
    guest.create("f", b"12345")
    err, fd = guest.open("f")
    subs, events, n = guest.alloc(96), guest.alloc(64), guest.alloc(4)
    _subscribe_clock(guest, subs, 1, 5 * 10**9)
    _subscribe_fd(guest, subs + 48, 2, Eventtype.FD_READ, fd)
    t0 = time.monotonic()
    assert guest.sys.poll_oneoff(subs, events, 2, n) == 0
    assert time.monotonic() - t0 < 4
    assert guest.u32(n) == 1
    userdata, err, typ, nbytes, _ = EVENT_STRUCT.unpack_from(guest.buf, events)
    assert (userdata, err, typ, nbytes) == (2, 0, Eventtype.FD_READ, 5)


def test_poll_oneoff_stdin_bytes_is_ready(guest: Guest) -> None:
    subs, events, n = guest.alloc(48), guest.alloc(32), guest.alloc(4)
    _subscribe_fd(guest, subs, 9, Eventtype.FD_READ, 0)
    assert guest.sys.poll_oneoff(subs, events, 1, n) == 0
    assert guest.u32(n) == 1


def test_poll_oneoff_bad_fd_is_ebadf(guest: Guest) -> None:
    subs, events, n = guest.alloc(48), guest.alloc(32), guest.alloc(4)
    _subscribe_fd(guest, subs, 9, Eventtype.FD_READ, 99)
    assert guest.sys.poll_oneoff(subs, events, 1, n) == Errno.BADF


def test_poll_oneoff_out_of_bounds(guest: Guest) -> None:
    assert guest.sys.poll_oneoff(MEM_SIZE - 40, guest.alloc(32), 1, guest.alloc(4)) == Errno.FAULT
