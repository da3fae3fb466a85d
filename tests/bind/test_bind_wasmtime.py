"""The wasmtime binding, in both trampoline modes, against a recording core."""

from __future__ import annotations

import gc
import logging
import threading

import pytest
import wasmtime

from wasifs.abi import SYSCALL_PARAMS, SYSCALLS, Errno
from wasifs.bind import GuestTrap, WasmtimeBinding, _raw, raw_mode_available
from wasifs.bind._codegen import NO_MEMORY
from wasifs.errors import ProcExit, WasiError, WasifsError

from .conftest import GuestFactory, RecordingCore, forwarding_wat, wasi_import

PAGE = 65536


def signed(value: int, bits: int) -> int:
    """The two's-complement reading of an unsigned value (how wasm ints reach wasmtime-py)."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def high_bit_args(name: str) -> list[int]:
    """Distinct unsigned values with the top bit set, one per parameter of ``name``."""
    values = []
    for i, ty in enumerate(SYSCALLS[name][0]):
        if ty == "i64":
            values.append(0xF000_0000_0000_0000 + 0x1_0000_0001 * (i + 1))
        else:
            values.append(0xF000_0000 + 0x101 * (i + 1))
    return values


# --- modes ------------------------------------------------------------------------------------


def test_raw_mode_is_available_with_this_wasmtime() -> None:
    ok, why = raw_mode_available()
    assert ok, why


def test_auto_resolves_to_raw(engine: wasmtime.Engine) -> None:
    binding = WasmtimeBinding(wasmtime.Store(engine), RecordingCore())
    assert binding.mode == "raw"
    assert not binding.strict


def test_auto_falls_back_to_checked_when_raw_is_unavailable(
    engine: wasmtime.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_raw, "_RESULT", (None, "pretend the layout changed"))
    store = wasmtime.Store(engine)
    core = RecordingCore()
    assert WasmtimeBinding(store, core).mode == "checked"
    with pytest.raises(RuntimeError, match="pretend the layout changed"):
        WasmtimeBinding(store, core, "raw")


def test_bad_arguments(engine: wasmtime.Engine) -> None:
    store = wasmtime.Store(engine)
    with pytest.raises(ValueError, match="mode must be"):
        WasmtimeBinding(store, RecordingCore(), "fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wasmtime.Store"):
        WasmtimeBinding(object(), RecordingCore())  # type: ignore[arg-type]


# --- arguments, results ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in SYSCALLS if n != "proc_exit"])
def test_every_syscall_gets_unsigned_args_in_order_and_returns_errno(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module, name: str
) -> None:
    core = RecordingCore()
    errno = 1 + list(SYSCALLS).index(name)
    core.answers[name] = errno
    guest = make_guest(all_syscalls_module, core)
    expected = high_bit_args(name)
    wasm_args = [
        signed(v, 64 if ty == "i64" else 32)
        for v, ty in zip(expected, SYSCALLS[name][0], strict=True)
    ]
    assert guest.call(f"call_{name}", *wasm_args) == errno
    assert len(core.calls) == 1
    called, args, mem_len = core.calls[0]
    assert called == name
    assert args == tuple(expected)
    assert len(args) == len(SYSCALL_PARAMS[name])
    # Memory syscalls see the guest memory; the others skip the refresh.
    assert mem_len == (0 if name in NO_MEMORY else PAGE)


def test_small_values_pass_unchanged(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    guest = make_guest(all_syscalls_module, core)
    assert guest.call("call_fd_seek", 3, 0, 2, 64) == 0
    assert guest.call("call_fd_seek", 3, -1, 1, 64) == 0
    assert guest.call("call_clock_time_get", 1, 1000, 8) == 0
    assert [c[1] for c in core.calls] == [
        (3, 0, 2, 64),
        (3, 0xFFFF_FFFF_FFFF_FFFF, 1, 64),
        (1, 1000, 8),
    ]


def test_errno_enum_and_wasi_error(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    core.answers["fd_close"] = Errno.BADF
    core.answers["fd_read"] = WasiError(Errno.NOENT)
    core.answers["path_open"] = WasiError(Errno.NOTCAPABLE)
    guest = make_guest(all_syscalls_module, core)
    assert guest.call("call_fd_close", 9) == Errno.BADF
    assert guest.call("call_fd_read", 0, 16, 1, 32) == Errno.NOENT
    assert guest.call("call_path_open", 3, 0, 16, 4, 0, 0, 0, 0, 32) == Errno.NOTCAPABLE


def test_guest_sees_the_errno_it_branches_on(make_guest: GuestFactory) -> None:
    """The result reaches wasm code as an i32, not only the Python caller."""
    wat = f"""(module {wasi_import("fd_sync")}
      (func (export "twice") (param i32) (result i32)
        (i32.mul (call $fd_sync (local.get 0)) (i32.const 2))))"""
    core = RecordingCore()
    core.answers["fd_sync"] = lambda _core, fd: fd + 1
    guest = make_guest(wat, core)
    assert guest.call("twice", 20) == 42


# --- bugs, strict mode ------------------------------------------------------------------------


def test_bug_becomes_eio_and_is_logged(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module, caplog: pytest.LogCaptureFixture
) -> None:
    core = RecordingCore()
    core.answers["fd_write"] = lambda _core, *args: 1 // 0
    guest = make_guest(all_syscalls_module, core)
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        assert guest.call("call_fd_write", 1, -16, 2, 64) == Errno.IO
    [record] = [r for r in caplog.records if r.name == "wasifs"]
    message = record.getMessage()
    assert "fd_write(fd=1, iovs_ptr=4294967280, iovs_len=2, nwritten_ptr=64)" in message
    assert "ZeroDivisionError" in message
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    # The guest goes on: the next call works.
    core.answers["fd_write"] = 0
    assert guest.call("call_fd_write", 1, 16, 2, 64) == 0


def test_core_returning_a_non_int_is_a_bug(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module, caplog: pytest.LogCaptureFixture
) -> None:
    core = RecordingCore()
    core.answers["fd_sync"] = lambda _core, fd: None
    guest = make_guest(all_syscalls_module, core)
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        assert guest.call("call_fd_sync", 4) == Errno.IO
    assert any("fd_sync(fd=4)" in r.getMessage() for r in caplog.records)


def test_strict_mode_reraises_the_bug(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module, caplog: pytest.LogCaptureFixture
) -> None:
    core = RecordingCore()

    def lookup_bug(_core: RecordingCore, *args: int) -> int:
        return {"present": 0}["missing"]

    core.answers["path_unlink_file"] = lookup_bug
    guest = make_guest(all_syscalls_module, core, strict=True)
    assert guest.binding.strict
    with pytest.raises(KeyError, match="missing") as info:
        guest.call("call_path_unlink_file", 3, 100, 5)
    assert any("path_unlink_file" in note for note in info.value.__notes__)
    assert not [r for r in caplog.records if r.name == "wasifs"]
    # A WasiError is not a bug, even in strict mode.
    core.answers["path_unlink_file"] = WasiError(Errno.ISDIR)
    assert guest.call("call_path_unlink_file", 3, 100, 5) == Errno.ISDIR


def test_keyboard_interrupt_ends_the_guest_call(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    core.answers["sched_yield"] = KeyboardInterrupt()
    guest = make_guest(all_syscalls_module, core)
    with pytest.raises(KeyboardInterrupt):
        guest.call("call_sched_yield")


# --- proc_exit, traps -------------------------------------------------------------------------

EXIT_WAT = f"""(module {wasi_import("proc_exit")} {wasi_import("fd_sync")}
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 7)) unreachable)
  (func (export "exit_with") (param i32) (call $proc_exit (local.get 0)) unreachable)
  (func (export "boom") unreachable)
  (func (export "oob") (result i32) (i32.load (i32.const -4)))
  (func (export "sync") (result i32) (call $fd_sync (i32.const 1))))"""


def test_proc_exit_raises_procexit_from_invoke(make_guest: GuestFactory) -> None:
    core = RecordingCore()
    guest = make_guest(EXIT_WAT, core)
    with pytest.raises(ProcExit) as info:
        guest.call("_start")
    assert info.value.code == 7
    assert core.calls == [("proc_exit", (7,), 0)]
    with pytest.raises(ProcExit) as info:
        guest.binding.invoke("exit_with", -1)  # by export name
    assert info.value.code == 0xFFFFFFFF
    # The parked exit is consumed: the store keeps working.
    assert guest.call("sync") == 0


def test_proc_exit_that_returns_still_exits(make_guest: GuestFactory) -> None:
    core = RecordingCore()
    core.answers["proc_exit"] = lambda _core, code: None
    guest = make_guest(EXIT_WAT, core)
    with pytest.raises(ProcExit) as info:
        guest.call("exit_with", 3)
    assert info.value.code == 3


def test_buggy_proc_exit_is_logged_and_still_exits(
    make_guest: GuestFactory, caplog: pytest.LogCaptureFixture
) -> None:
    core = RecordingCore()
    core.answers["proc_exit"] = RuntimeError("flush failed")
    guest = make_guest(EXIT_WAT, core)
    with caplog.at_level(logging.ERROR, logger="wasifs"), pytest.raises(ProcExit) as info:
        guest.call("exit_with", 5)
    assert info.value.code == 5
    assert any("proc_exit(rval=5)" in r.getMessage() for r in caplog.records)


def test_guest_traps_become_guest_trap(make_guest: GuestFactory) -> None:
    guest = make_guest(EXIT_WAT, RecordingCore())
    with pytest.raises(GuestTrap) as info:
        guest.call("boom")
    assert info.value.trap_code == "UNREACHABLE"
    assert isinstance(info.value, WasifsError)
    assert isinstance(info.value.__cause__, (wasmtime.Trap, wasmtime.WasmtimeError))
    with pytest.raises(GuestTrap) as info:
        guest.call("oob")
    assert info.value.trap_code == "MEMORY_OUT_OF_BOUNDS"
    assert guest.call("sync") == 0


def test_invoke_by_name_needs_attach(make_guest: GuestFactory) -> None:
    guest = make_guest(EXIT_WAT, RecordingCore(), attach=False)
    with pytest.raises(ValueError, match="attach"):
        guest.binding.invoke("sync")
    guest.binding.attach(guest.instance)
    assert guest.binding.invoke("sync") == 0
    with pytest.raises(ValueError, match="no function 'memory'"):
        guest.binding.invoke("memory")


# --- memory -----------------------------------------------------------------------------------


def _read_at(core: RecordingCore, ptr: int) -> int:
    return core.mem[ptr]


def test_memory_grow_between_calls_revalidates_the_view(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    seen: list[tuple[int, int]] = []

    def look(c: RecordingCore, ptr: int, n: int) -> int:
        seen.append((len(c.mem), c.mem[ptr]))
        return 0

    core.answers["random_get"] = look
    guest = make_guest(all_syscalls_module, core)
    guest.call("store8", 100, 11)
    guest.call("call_random_get", 100, 1)
    first_view = core.mem
    assert guest.call("grow", 3) == 1
    far = 3 * PAGE + 100
    guest.call("store8", far, 22)
    guest.call("call_random_get", far, 1)
    assert seen == [(PAGE, 11), (4 * PAGE, 22)]
    assert core.mem is not first_view
    # Unchanged memory keeps the same view object.
    view = core.mem
    guest.call("call_random_get", 100, 1)
    assert core.mem is view
    # Writes through the view reach the guest.
    core.mem[far + 1] = 99
    assert guest.call("load8", far + 1) == 99


def test_memory_grow_inside_one_guest_call(make_guest: GuestFactory) -> None:
    wat = f"""(module {wasi_import("random_get")}
      (memory (export "memory") 1)
      (func (export "run") (result i32)
        (drop (call $random_get (i32.const 8) (i32.const 1)))
        (drop (memory.grow (i32.const 2)))
        (i32.store8 (i32.const {2 * PAGE + 5}) (i32.const 66))
        (call $random_get (i32.const {2 * PAGE + 5}) (i32.const 1))))"""
    core = RecordingCore()
    seen: list[tuple[int, int]] = []

    def look(c: RecordingCore, ptr: int, n: int) -> int:
        seen.append((len(c.mem), c.mem[ptr]))
        return 0

    core.answers["random_get"] = look
    guest = make_guest(wat, core)
    assert guest.call("run") == 0
    assert seen == [(PAGE, 0), (3 * PAGE, 66)]


def test_memory_found_through_the_caller_without_attach(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    core.answers["random_get"] = lambda c, ptr, n: c.mem[ptr]
    guest = make_guest(all_syscalls_module, core, attach=False)
    guest.call("store8", 7, 42)
    assert guest.call("call_random_get", 7, 1) == 42
    assert len(core.mem) == PAGE


def test_attach_a_memory_directly(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    core.answers["random_get"] = lambda c, ptr, n: c.mem[ptr]
    guest = make_guest(all_syscalls_module, core, attach=False)
    memory = guest.instance.exports(guest.store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    guest.binding.attach(memory)
    guest.call("store8", 9, 24)
    assert guest.call("call_random_get", 9, 1) == 24
    with pytest.raises(TypeError, match="Instance or wasmtime.Memory"):
        guest.binding.attach("memory")  # type: ignore[arg-type]


def test_guest_without_memory(make_guest: GuestFactory) -> None:
    wat = f"""(module {wasi_import("fd_close")} {wasi_import("fd_write")}
      (func (export "close") (result i32) (call $fd_close (i32.const 5)))
      (func (export "write") (result i32)
        (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))))"""
    core = RecordingCore()
    guest = make_guest(wat, core)
    assert guest.call("close") == 0  # needs no memory
    with pytest.raises(GuestTrap, match='exports no "memory"'):
        guest.call("write")
    assert [c[0] for c in core.calls] == ["fd_close"]


def test_guest_pointer_above_2gib(make_guest: GuestFactory, engine: wasmtime.Engine) -> None:
    """A 2 GiB + 64 KiB memory (address space only): the pointer arrives masked and readable."""
    module = wasmtime.Module(engine, forwarding_wat(("random_get",), pages=32769))
    core = RecordingCore()
    core.answers["random_get"] = lambda c, ptr, n: (
        c.mem[ptr] + (0 if len(c.mem) == (32769 * PAGE) else 100)
    )
    guest = make_guest(module, core)
    ptr = 0x8000_0010
    guest.call("store8", signed(ptr, 32), 57)
    assert guest.call("call_random_get", signed(ptr, 32), 1) == 57
    assert core.calls[-1][1] == (ptr, 1)
    core.mem[ptr + 1] = 58
    assert guest.call("load8", signed(ptr + 1, 32)) == 58


# --- stores, lifetime -------------------------------------------------------------------------


def test_two_stores_on_one_engine_keep_separate_cores(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    cores = [RecordingCore(), RecordingCore()]
    for i, core in enumerate(cores):
        core.answers["random_get"] = lambda c, ptr, n, i=i: c.mem[ptr] + 10 * i
    guests = [make_guest(all_syscalls_module, core) for core in cores]
    guests[0].call("store8", 50, 1)
    guests[1].call("store8", 50, 2)
    guests[1].call("grow", 1)
    for _ in range(2):
        assert guests[0].call("call_random_get", 50, 1) == 1
        assert guests[1].call("call_random_get", 50, 1) == 12
    assert len(cores[0].mem) == PAGE and len(cores[1].mem) == 2 * PAGE
    assert [len(c.calls) for c in cores] == [2, 2]


def test_linker_is_tied_to_its_store(
    engine: wasmtime.Engine, mode: str, all_syscalls_module: wasmtime.Module
) -> None:
    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, RecordingCore(), mode)  # type: ignore[arg-type]
    linker = wasmtime.Linker(engine)
    binding.define(linker)
    with pytest.raises(wasmtime.WasmtimeError, match="cross-`Store`"):
        linker.instantiate(wasmtime.Store(engine), all_syscalls_module)


def test_store_deletion_releases_everything(
    engine: wasmtime.Engine, mode: str, all_syscalls_module: wasmtime.Module
) -> None:
    core = RecordingCore()
    gc.collect()  # stores of earlier tests must not be released while this one counts
    before = _raw.live_slots()
    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, core, mode)  # type: ignore[arg-type]
    linker = wasmtime.Linker(engine)
    binding.define(linker)
    instance = linker.instantiate(store, all_syscalls_module)
    binding.attach(instance)
    binding.invoke("call_random_get", 0, 4)
    assert len(core.mem) == PAGE
    assert _raw.live_slots() == before + (1 if mode == "raw" else 0)
    del binding, linker, instance, store
    gc.collect()
    assert len(core.mem) == 0  # no dangling view over freed guest memory
    assert _raw.live_slots() == before


def test_binding_object_may_be_dropped_while_the_store_runs(
    engine: wasmtime.Engine, mode: str, all_syscalls_module: wasmtime.Module
) -> None:
    """The callbacks live as long as the store, not as long as the binding object."""
    core = RecordingCore()
    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, core, mode)  # type: ignore[arg-type]
    linker = wasmtime.Linker(engine)
    binding.define(linker)
    del binding
    gc.collect()
    instance = linker.instantiate(store, all_syscalls_module)
    func = instance.exports(store)["call_fd_close"]
    assert isinstance(func, wasmtime.Func)
    assert func(store, 3) == 0
    assert core.calls == [("fd_close", (3,), 0)]


def test_define_only(make_guest: GuestFactory, engine: wasmtime.Engine, mode: str) -> None:
    wat = f"""(module {wasi_import("fd_sync")} (func (export "sync") (result i32) (call $fd_sync (i32.const 2))))"""

    class SyncOnly:
        mem = memoryview(bytearray(0))

        def fd_sync(self, fd: int) -> int:
            return fd + 40

    guest = make_guest(wat, SyncOnly(), only=("fd_sync",))
    assert guest.call("sync") == 42
    binding = WasmtimeBinding(wasmtime.Store(engine), SyncOnly(), mode)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fd_teleport"):
        binding.define(wasmtime.Linker(engine), only=["fd_sync", "fd_teleport"])
    with pytest.raises(TypeError, match="no method 'args_get'"):
        binding.define(wasmtime.Linker(engine))


def test_guest_on_a_worker_thread(
    make_guest: GuestFactory, all_syscalls_module: wasmtime.Module
) -> None:
    """Callbacks re-acquire the GIL: the guest may run on another thread."""
    core = RecordingCore()
    threads: list[int] = []

    def sync(_core: RecordingCore, fd: int) -> int:
        threads.append(threading.get_ident())
        return fd

    core.answers["fd_sync"] = sync
    guest = make_guest(all_syscalls_module, core)
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(guest.call("call_fd_sync", 17)))
    worker.start()
    worker.join(timeout=30)
    assert results == [17]
    assert threads == [worker.ident] and worker.ident != threading.get_ident()


def test_one_linker_redefined_for_a_second_store(
    engine: wasmtime.Engine, mode: str, all_syscalls_module: wasmtime.Module
) -> None:
    """With shadowing allowed, a linker can be re-pointed at the next store's functions."""
    linker = wasmtime.Linker(engine)
    linker.allow_shadowing = True
    cores = []
    for i in range(2):
        core = RecordingCore()
        core.answers["fd_sync"] = lambda _core, fd, i=i: fd + i
        store = wasmtime.Store(engine)
        binding = WasmtimeBinding(store, core, mode)  # type: ignore[arg-type]
        binding.define(linker)
        binding.attach(linker.instantiate(store, all_syscalls_module))
        assert binding.invoke("call_fd_sync", 10) == 10 + i
        cores.append(core)
    assert [len(c.calls) for c in cores] == [1, 1]


def test_instantiate_converts_traps_of_the_start_function(
    engine: wasmtime.Engine, mode: str
) -> None:
    wat = f"""(module {wasi_import("proc_exit")} {wasi_import("fd_sync")}
      (memory (export "memory") 1)
      (func $start (drop (call $fd_sync (i32.const 1))))
      (start $start))"""
    module = wasmtime.Module(engine, wat)
    core = RecordingCore()
    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, core, mode)  # type: ignore[arg-type]
    linker = wasmtime.Linker(engine)
    binding.define(linker, only=["fd_sync", "proc_exit"])
    instance = binding.instantiate(linker, module)
    assert core.calls == [("fd_sync", (1,), 0)]
    assert isinstance(instance, wasmtime.Instance)
    with pytest.raises(ValueError, match="no function 'memory'"):  # attached: names resolve
        binding.invoke("memory")
    # A start function that exits: ProcExit from instantiate.
    exiting = wasmtime.Module(
        engine,
        f"""(module {wasi_import("proc_exit")}
        (func $start (call $proc_exit (i32.const 9))) (start $start))""",
    )
    with pytest.raises(ProcExit) as info:
        binding.instantiate(linker, exiting)
    assert info.value.code == 9
    trapping = wasmtime.Module(engine, "(module (func $start unreachable) (start $start))")
    with pytest.raises(GuestTrap) as trap:
        binding.instantiate(linker, trapping)
    assert trap.value.trap_code == "UNREACHABLE"
