"""The wasmtime binding driving the real ``WasiCore``: bytes cross guest memory both ways."""

from __future__ import annotations

import struct

import pytest
import wasmtime

from wasifs.abi import Errno
from wasifs.errors import ProcExit
from wasifs.stdio import CaptureSink
from wasifs.wasi import WasiCore

from .conftest import GuestFactory, wasi_import

PAGE = 65536

HELLO_WAT = f"""(module
  {wasi_import("fd_write")} {wasi_import("args_sizes_get")} {wasi_import("args_get")}
  {wasi_import("environ_sizes_get")} {wasi_import("environ_get")} {wasi_import("proc_exit")}
  (memory (export "memory") 1)
  (data (i32.const 64) "hello, wasifs!\\n")
  (func (export "hello") (result i32)
    ;; iovec at 16: {{buf=64, len=15}}; nwritten at 32
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 15))
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
    (call $fd_write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "args_sizes_get") (param i32 i32) (result i32)
    (call $args_sizes_get (local.get 0) (local.get 1)))
  (func (export "args_get") (param i32 i32) (result i32)
    (call $args_get (local.get 0) (local.get 1)))
  (func (export "environ_sizes_get") (param i32 i32) (result i32)
    (call $environ_sizes_get (local.get 0) (local.get 1)))
  (func (export "environ_get") (param i32 i32) (result i32)
    (call $environ_get (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "_start") (call $proc_exit (i32.const 3)) unreachable))"""


def memory_of(guest: object) -> tuple[wasmtime.Memory, wasmtime.Store]:
    store = guest.store  # type: ignore[attr-defined]
    memory = guest.instance.exports(store)["memory"]  # type: ignore[attr-defined]
    assert isinstance(memory, wasmtime.Memory)
    return memory, store


def test_fd_write_to_stdout(make_guest: GuestFactory) -> None:
    stdout = CaptureSink()
    core = WasiCore(args=["prog"], stdout=stdout)
    guest = make_guest(HELLO_WAT, core, strict=True)
    assert guest.call("hello") == 0
    assert stdout.getvalue() == b"hello, wasifs!\n"
    memory, store = memory_of(guest)
    assert struct.unpack("<I", memory.read(store, 32, 36))[0] == 15


def test_fd_write_gathers_iovecs_after_memory_grow(make_guest: GuestFactory) -> None:
    stdout = CaptureSink()
    core = WasiCore(stdout=stdout)
    guest = make_guest(HELLO_WAT, core, strict=True)
    assert guest.call("hello") == 0
    assert guest.call("grow", 2) == 1
    memory, store = memory_of(guest)
    far = 2 * PAGE + 1000
    memory.write(store, b"abc", far)
    memory.write(store, b"DEF", far + 100)
    memory.write(store, struct.pack("<IIII", far, 3, far + 100, 3), far + 200)
    assert guest.call("fd_write", 1, far + 200, 2, far + 300) == 0
    assert stdout.getvalue() == b"hello, wasifs!\nabcDEF"
    assert struct.unpack("<I", memory.read(store, far + 300, far + 304))[0] == 6


def test_fd_write_errors(make_guest: GuestFactory) -> None:
    stdout = CaptureSink()
    core = WasiCore(stdout=stdout)
    guest = make_guest(HELLO_WAT, core, strict=True)
    assert guest.call("fd_write", 77, 16, 1, 32) == Errno.BADF
    # Pointers in the upper half of the 32-bit space arrive unsigned: EFAULT, no crash.
    assert guest.call("fd_write", 1, -8, 1, 32) == Errno.FAULT
    assert guest.call("fd_write", 1, 16, 1, -4) == Errno.FAULT


def test_args_and_environ(make_guest: GuestFactory) -> None:
    core = WasiCore(args=["prog", "ünï", ""], env={"K": "V", "EMPTY": ""})
    guest = make_guest(HELLO_WAT, core, strict=True)
    memory, store = memory_of(guest)
    assert guest.call("args_sizes_get", 0, 4) == 0
    argc, size = struct.unpack("<II", memory.read(store, 0, 8))
    assert (argc, size) == (3, len("prog\0ünï\0\0".encode()))
    assert guest.call("args_get", 100, 200) == 0
    ptrs = struct.unpack("<3I", memory.read(store, 100, 112))
    blob = bytes(memory.read(store, 200, 200 + size))
    assert blob == "prog\0ünï\0\0".encode()
    assert ptrs == (200, 205, 205 + len("ünï".encode()) + 1)
    assert guest.call("environ_sizes_get", 0, 4) == 0
    assert struct.unpack("<II", memory.read(store, 0, 8)) == (2, len(b"K=V\0EMPTY=\0"))
    assert guest.call("environ_get", 300, 400) == 0
    assert bytes(memory.read(store, 400, 400 + 11)) == b"K=V\0EMPTY=\0"
    # Out of bounds: FAULT, and nothing is written.
    assert guest.call("args_get", PAGE - 4, 200) == Errno.FAULT


def test_proc_exit_through_the_core(make_guest: GuestFactory) -> None:
    guest = make_guest(HELLO_WAT, WasiCore())
    with pytest.raises(ProcExit) as info:
        guest.call("_start")
    assert info.value.code == 3
