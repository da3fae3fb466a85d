"""Limits on a run (issue 12, item 1): a wall-clock timeout, a fuel budget, caps on linear
memory and tables, on ``wasifs.run``, ``wasifs.instantiate``, ``WasiHost`` and
``wasifs.aio.arun``, each ending the run with its typed error and the partial result, every
descriptor released. The CLI's side is in ``tests/test_cli_limits.py``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import wasifs
from wasifs.api import get_engine
from wasifs.toolchain import compile_c

GUEST = Path(__file__).parent / "guests" / "limits.c"
#: liveness only: a stopped guest returns at once; this catches one that never does
LIVENESS_S = 60


@pytest.fixture(scope="module")
def limits() -> bytes:
    # 256 KiB of memory at start (64 KiB of stack), so that caps of a few MiB bite
    return compile_c(GUEST, flags=["-Wl,--initial-memory=262144", "-Wl,-z,stack-size=65536"])


def open_fds() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:  # the listing's own descriptor
            pass
    return out


# ---------------------------------------------------------------------------- timeout
@pytest.mark.parametrize("command", ["spin", "sleep"])
def test_a_timeout_stops_a_guest_computing_or_waiting(limits: bytes, command: str) -> None:
    started = time.monotonic()
    with pytest.raises(wasifs.TimeoutExceeded) as info:
        wasifs.run(limits, args=["limits", command], timeout=0.5)
    took = time.monotonic() - started
    assert 0.5 <= took < LIVENESS_S
    exc = info.value
    assert isinstance(exc, wasifs.LimitExceeded) and isinstance(exc, wasifs.Interrupted)
    assert exc.limit == 0.5 and "0.5 s" in str(exc)
    assert exc.result is not None
    assert exc.result.exit_code == wasifs.api.EXIT_TIMEOUT == 142
    assert exc.result.stdout == b"ready\n"  # the partial output


def test_a_run_that_ends_in_time_is_not_touched_by_its_timeout(limits: bytes) -> None:
    result = wasifs.run(limits, args=["limits", "count", "1000"], timeout=30)
    assert result.exit_code == 0 and result.stdout == b"counted 1000\n"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
@pytest.mark.parametrize("limit", [{"timeout": 0.5}, {"fuel": 20_000_000}])
def test_every_descriptor_is_released_when_a_limit_stops_the_guest(
        limits: bytes, tmp_path: Path, limit: dict[str, Any]) -> None:
    wasifs.run(limits, args=["limits", "count", "1"], fuel=10**9)  # engines and caches warm
    fs = wasifs.NativeFileSystem(tmp_path)  # holds its root's descriptor, as before the run
    before = open_fds()
    with pytest.raises(wasifs.LimitExceeded) as info:
        wasifs.run(limits, args=["limits", "open", "/d", "40"], mounts={"/d": fs}, **limit)
    assert info.value.result is not None and info.value.result.stdout == b"opened 40\n"
    assert len(list(tmp_path.iterdir())) == 40
    assert open_fds() <= before


def test_a_timeout_on_a_reactor_counts_each_call(limits: bytes) -> None:
    wat = """(module (memory (export "memory") 1)
      (func (export "spin") (loop (br 0)))
      (func (export "one") (result i32) (i32.const 1)))"""
    with wasifs.instantiate(wat, timeout=0.3) as guest:
        time.sleep(0.4)  # time between calls does not count
        assert guest.call("one") == 1
        with pytest.raises(wasifs.TimeoutExceeded):
            guest.call("spin")
        with pytest.raises(wasifs.TimeoutExceeded):  # a guest stopped by a limit stays stopped
            guest.call("one")


def test_wasi_host_takes_the_limits_too(limits: bytes) -> None:
    engine = wasmtime.Engine(_config(epoch_interruption=True, consume_fuel=True))
    store = wasmtime.Store(engine)
    host = wasifs.WasiHost(store, args=["limits", "spin"], timeout=0.3, fuel=10**12)
    linker = wasmtime.Linker(engine)
    module = wasifs.load_module(limits, engine)
    host.define(linker, module)
    host.instantiate(linker, module)
    with pytest.raises(wasifs.TimeoutExceeded):
        host.start()
    host.close()
    engine = get_engine(consume_fuel=True)  # wasifs's: the host sets the epoch deadline
    store = wasmtime.Store(engine)
    host = wasifs.WasiHost(store, args=["limits", "spin"], fuel=5_000_000)
    linker = wasmtime.Linker(engine)
    module = wasifs.load_module(limits, engine)
    host.define(linker, module)
    host.instantiate(linker, module)
    with pytest.raises(wasifs.FuelExhausted):
        host.start()
    host.close()


def _config(**settings: Any) -> wasmtime.Config:
    config = wasmtime.Config()
    for name, value in settings.items():
        setattr(config, name, value)
    return config


def test_timeout_and_fuel_need_an_engine_configured_for_them(limits: bytes) -> None:
    plain = wasmtime.Engine()
    with pytest.raises(ValueError, match=r"epoch_interruption = True"):
        wasifs.run(limits, args=["limits", "count", "1"], timeout=1, engine=plain)
    with pytest.raises(ValueError, match=r"wasmtime.Config.consume_fuel = True"):
        wasifs.run(limits, args=["limits", "count", "1"], fuel=1000, engine=plain)
    with pytest.raises(ValueError, match=r"consume_fuel"):
        wasifs.WasiHost(wasmtime.Store(plain), fuel=1000)


@pytest.mark.parametrize(("name", "value", "error"), [
    ("timeout", 0, ValueError), ("timeout", -1, ValueError), ("timeout", float("nan"), ValueError),
    ("timeout", float("inf"), ValueError), ("timeout", "5", TypeError), ("timeout", True, TypeError),
    ("fuel", -1, ValueError), ("fuel", 1.5, TypeError), ("fuel", 1 << 64, ValueError),
    ("max_memory", -1, ValueError), ("max_memory", "1M", TypeError),
    ("max_table_elements", 1 << 32, ValueError),
])
def test_bad_limits_are_refused_naming_the_option(limits: bytes, name: str, value: Any,
                                                 error: type[Exception]) -> None:
    with pytest.raises(error, match=name):
        wasifs.run(limits, args=["limits", "count", "1"], **{name: value})


# ---------------------------------------------------------------------------- fuel
def test_fuel_stops_a_guest_that_computes(limits: bytes) -> None:
    with pytest.raises(wasifs.FuelExhausted) as info:
        wasifs.run(limits, args=["limits", "spin"], fuel=10_000_000)
    assert info.value.limit == 10_000_000
    assert info.value.result is not None
    assert info.value.result.exit_code == wasifs.api.EXIT_FUEL_EXHAUSTED == 152
    assert info.value.result.stdout == b"ready\n"


def test_fuel_is_a_budget_a_finite_computation_fits_in(limits: bytes) -> None:
    ok = wasifs.run(limits, args=["limits", "count", "100000"], fuel=100_000_000)
    assert ok.stdout == b"counted 100000\n"
    with pytest.raises(wasifs.FuelExhausted):
        wasifs.run(limits, args=["limits", "count", "100000"], fuel=100_000)


def test_an_engine_that_meters_fuel_runs_without_a_budget(limits: bytes) -> None:
    # wasifs's own fuel engine, and one the caller made: the store gets fuel (before, a run
    # on such an engine trapped at its first instruction)
    for engine in (get_engine(consume_fuel=True),
                   wasmtime.Engine(_config(consume_fuel=True, epoch_interruption=True)),
                   wasmtime.Engine(_config(consume_fuel=True))):
        result = wasifs.run(limits, args=["limits", "count", "1000"], engine=engine)
        assert (result.exit_code, result.trap, result.stdout) == (0, None, b"counted 1000\n")


# ---------------------------------------------------------------------------- memory
def test_a_memory_cap_makes_malloc_fail_as_under_wasmtime(limits: bytes, tmp_path: Path) -> None:
    cap = 4 << 20
    result = wasifs.run(limits, args=["limits", "alloc", "64"], max_memory=cap)
    lines = result.stdout.decode().splitlines()
    assert result.exit_code == 0 and lines[1] == "malloc failed"
    allocated = int(lines[0].split()[1]) * 1024
    assert (1 << 20) < allocated < cap
    # wasmtime's own store limits give the guest the same answers
    assert _under_wasmtime(limits, ["limits", "alloc", "64"], tmp_path, cap) == result.stdout


def test_memory_grow_past_the_cap_returns_minus_one(limits: bytes, tmp_path: Path) -> None:
    capped = wasifs.run(limits, args=["limits", "grow", "100"], max_memory=2 << 20)
    assert capped.stdout == b"-1\n"
    free = wasifs.run(limits, args=["limits", "grow", "100"])
    assert int(free.stdout) > 0
    assert _under_wasmtime(limits, ["limits", "grow", "100"], tmp_path, 2 << 20) == b"-1\n"


def test_a_guest_that_aborts_when_malloc_fails_traps(limits: bytes) -> None:
    # what the guest does with a refused grow is its own business: this one aborts
    result = wasifs.run(limits, args=["limits", "alloc-abort", "64"], max_memory=4 << 20)
    assert result.exit_code == wasifs.api.TRAP_EXIT_CODE and result.trap is not None
    assert b"malloc failed" in result.stdout


def test_a_module_needing_more_memory_than_the_cap_raises(limits: bytes) -> None:
    with pytest.raises(wasifs.MemoryLimitExceeded) as info:
        wasifs.run(limits, args=["limits", "count", "1"], max_memory=65536)
    assert info.value.limit == 65536 and "max_memory=65536" in str(info.value)
    assert info.value.result is not None
    assert info.value.result.exit_code == wasifs.api.EXIT_MEMORY_LIMIT == 137
    wat = '(module (memory (export "memory") 20) (func (export "_start")))'
    with pytest.raises(wasifs.MemoryLimitExceeded):
        wasifs.run(wat, max_memory=19 * 65536)
    assert wasifs.run(wat, max_memory=20 * 65536).exit_code == 0


def _under_wasmtime(wasm: bytes, args: list[str], tmp: Path, cap: int) -> bytes:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=cap)
    config = wasmtime.WasiConfig()
    config.argv = args
    out = tmp / "stdout"
    config.stdout_file = str(out)
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module(engine, wasm))
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    try:
        start(store)
    except wasmtime.ExitTrap as exc:
        assert exc.code == 0
    del store
    return out.read_bytes()


# ---------------------------------------------------------------------------- tables
TABLE_WAT = """(module (memory (export "memory") 1) (table 4 funcref)
  (func (export "tgrow") (param i32) (result i32) (table.grow (ref.null func) (local.get 0))))"""


def test_table_grow_past_the_cap_returns_minus_one() -> None:
    with wasifs.instantiate(TABLE_WAT, max_table_elements=10) as guest:
        assert guest.call("tgrow", 6) == 4
        assert guest.call("tgrow", 1) == -1
    with wasifs.instantiate(TABLE_WAT) as guest:
        assert guest.call("tgrow", 1000) == 4


def test_a_module_needing_a_larger_table_than_the_cap_raises() -> None:
    with pytest.raises(wasifs.TableLimitExceeded) as info:
        wasifs.instantiate(TABLE_WAT, max_table_elements=3)
    assert info.value.limit == 3 and "max_table_elements=3" in str(info.value)


# ---------------------------------------------------------------------------- async
def test_arun_takes_the_same_limits(limits: bytes) -> None:
    anyio = pytest.importorskip("anyio")
    from wasifs.aio import arun

    async def main() -> None:
        with pytest.raises(wasifs.TimeoutExceeded) as info:
            await arun(limits, args=["limits", "spin"], timeout=0.3)
        assert info.value.result is not None and info.value.result.stdout == b"ready\n"
        with pytest.raises(wasifs.FuelExhausted):
            await arun(limits, args=["limits", "spin"], fuel=5_000_000)
        with pytest.raises(TimeoutError):  # anyio's own deadline: the same token underneath
            with anyio.fail_after(0.3):
                await arun(limits, args=["limits", "spin"])

    anyio.run(main)


# ---------------------------------------------------------------------------- blocked on stdin
@pytest.fixture(scope="module")
def waits() -> bytes:
    return compile_c(GUEST.with_name("waits.c"))


def test_a_timeout_stops_a_guest_blocked_reading_stdin(waits: bytes) -> None:
    # fd_read on a pipe nobody writes to (the write end stays open: no end of input)
    r, w = os.pipe()
    try:
        with os.fdopen(r, "rb", buffering=0) as stdin:
            started = time.monotonic()
            with pytest.raises(wasifs.TimeoutExceeded) as info:
                wasifs.run(waits, args=["waits", "read"], stdin=stdin, timeout=0.5)
            assert 0.5 <= time.monotonic() - started < LIVENESS_S
            assert info.value.result is not None
            assert info.value.result.exit_code == wasifs.api.EXIT_TIMEOUT
            assert info.value.result.stdout == b"ready\n"
    finally:
        os.close(w)


def test_wasi_host_times_out_a_guest_blocked_reading_stdin(waits: bytes) -> None:
    # the same guest through WasiHost, on an engine the caller made
    engine = wasmtime.Engine(_config(epoch_interruption=True))
    store = wasmtime.Store(engine)
    r, w = os.pipe()
    try:
        with os.fdopen(r, "rb", buffering=0) as stdin:
            host = wasifs.WasiHost(store, args=["waits", "read"], stdin=stdin, timeout=0.5)
            linker = wasmtime.Linker(engine)
            module = wasifs.load_module(waits, engine)
            host.define(linker, module)
            host.instantiate(linker, module)
            with pytest.raises(wasifs.TimeoutExceeded):
                host.start()
            host.close()
    finally:
        os.close(w)
