"""sched_yield and proc_raise, whose answers never vary, are served by a small WebAssembly
module in the guest's store: no crossing into Python, the same results, and a core whose
method is wrapped or overridden still gets every call."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest
import wasmtime

from wasifs.abi import Errno
from wasifs.bind import WasmtimeBinding
from wasifs.config import RunOptions, build_core

WAT = """(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $r (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "yield_n") (param $n i32) (result i32)
    (local $sum i32)
    (loop $l
      (local.set $sum (i32.add (local.get $sum) (call $y)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (local.get $sum))
  (func (export "raise") (param i32) (result i32) (call $r (local.get 0))))"""


def _guest(core: Any, **kw: Any) -> tuple[wasmtime.Store, wasmtime.Instance]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, core, **kw)
    linker = wasmtime.Linker(engine)
    binding.define(linker, ["sched_yield", "proc_raise"])
    instance = binding.instantiate(linker, wasmtime.Module(engine, WAT))
    return store, instance


def _calls_into_python(store: wasmtime.Store, instance: wasmtime.Instance) -> tuple[
        list[int], list[str]]:
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_name in ("sched_yield", "proc_raise"):
            seen.append(frame.f_code.co_name)

    exports = instance.exports(store)
    sys.setprofile(profile)
    try:
        results = [exports["yield_n"](store, 100)]  # type: ignore[operator]
        results += [exports["raise"](store, sig) for sig in (0, 6, 65, 0xFFFFFFFF)]  # type: ignore[operator]
    finally:
        sys.setprofile(None)
    return results, seen


@pytest.mark.parametrize("mode", ["raw", "checked"])
def test_constant_calls_cost_no_python_and_answer_the_same(mode: str) -> None:
    fast, seen = _calls_into_python(*_guest(build_core(RunOptions())[0], mode=mode))
    assert seen == []
    slow, seen_slow = _calls_into_python(*_guest(build_core(RunOptions())[0], mode=mode,
                                                 native_constants=False))
    assert seen_slow.count("sched_yield") >= 100 and seen_slow.count("proc_raise") >= 4
    assert fast == slow == [0] + [int(Errno.NOTSUP)] * 4


def test_a_wrapped_or_overridden_method_still_gets_every_call() -> None:
    core = build_core(RunOptions())[0]
    calls: list[str] = []
    original = core.sched_yield

    def wrapped() -> int:  # what an audit or metrics wrapper does
        calls.append("sched_yield")
        return original()

    core.sched_yield = wrapped  # type: ignore[method-assign]
    store, instance = _guest(core)
    assert instance.exports(store)["yield_n"](store, 7) == 0  # type: ignore[operator]
    assert calls == ["sched_yield"] * 7

    class Yielding(type(core)):  # type: ignore[misc]
        def sched_yield(self) -> int:
            return 5

    sub = build_core(RunOptions())[0]
    sub.__class__ = Yielding
    store, instance = _guest(sub)
    assert instance.exports(store)["yield_n"](store, 3) == 15  # type: ignore[operator]
