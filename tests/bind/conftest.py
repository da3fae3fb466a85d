"""Shared fixtures for the engine-binding tests: WAT guests calling wasi imports directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import wasmtime

from wasifs.abi import MODULE, SYSCALLS
from wasifs.bind.wasmtime import WasmtimeBinding

MODES = ("raw", "checked")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Every binding test runs once per trampoline mode."""
    value: str = request.param
    return value


@pytest.fixture(scope="session")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def wasi_import(name: str) -> str:
    """The WAT import line of a preview1 function, typed from ``abi.SYSCALLS``."""
    params, results = SYSCALLS[name]
    sig = "".join(f" (param {p})" for p in params) + "".join(f" (result {r})" for r in results)
    return f'(import "{MODULE}" "{name}" (func ${name}{sig}))'


def forwarder(name: str) -> str:
    """An export ``call_<name>`` that forwards its parameters to the import unchanged."""
    params, results = SYSCALLS[name]
    sig = "".join(f" (param {p})" for p in params) + "".join(f" (result {r})" for r in results)
    body = " ".join(f"(local.get {i})" for i in range(len(params)))
    return f'(func (export "call_{name}"){sig} (call ${name} {body}))'


def forwarding_wat(names: tuple[str, ...] = tuple(SYSCALLS), pages: int = 1) -> str:
    """A module importing ``names`` and exporting a forwarder for each, plus helpers."""
    parts = ["(module"]
    parts += [f"  {wasi_import(n)}" for n in names]
    parts.append(f'  (memory (export "memory") {pages})')
    parts += [f"  {forwarder(n)}" for n in names]
    parts.append(
        '  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))'
        '  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))'
        '  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))'
    )
    parts.append(")")
    return "\n".join(parts)


@pytest.fixture(scope="session")
def all_syscalls_module(engine: wasmtime.Engine) -> wasmtime.Module:
    """Compiled once per session: imports all 46 preview1 functions and forwards each."""
    return wasmtime.Module(engine, forwarding_wat())


@dataclass
class Guest:
    """A store, its binding and the instance, ready to call."""

    store: wasmtime.Store
    binding: WasmtimeBinding
    instance: wasmtime.Instance

    def export(self, name: str) -> wasmtime.Func:
        func = self.instance.exports(self.store)[name]
        assert isinstance(func, wasmtime.Func)
        return func

    def call(self, name: str, *args: int) -> Any:
        return self.binding.invoke(self.export(name), *args)


GuestFactory = Callable[..., Guest]


@pytest.fixture
def make_guest(engine: wasmtime.Engine, mode: str) -> Iterator[GuestFactory]:
    """``make_guest(module_or_wat, core, strict=False, attach=True, only=None) -> Guest``.

    The binding runs in ``mode`` and defines ``only`` (default: what the module imports).
    """

    def make(
        module: wasmtime.Module | str,
        core: Any,
        *,
        strict: bool = False,
        attach: bool = True,
        only: tuple[str, ...] | None = None,
    ) -> Guest:
        if isinstance(module, str):
            module = wasmtime.Module(engine, module)
        if only is None:  # define what the module imports, as wasifs.api does
            only = tuple(i.name for i in module.imports if i.module == MODULE and i.name)
        store = wasmtime.Store(engine)
        binding = WasmtimeBinding(store, core, mode, strict=strict)  # type: ignore[arg-type]
        assert binding.mode == mode
        linker = wasmtime.Linker(engine)
        binding.define(linker, only=only)
        instance = linker.instantiate(store, module)
        if attach:
            binding.attach(instance)
        return Guest(store, binding, instance)

    yield make


Answer = int | BaseException | Callable[..., Any]


class RecordingCore:
    """A core for binding tests: one method per syscall that records its arguments.

    ``answers[name]`` says what a call returns: an int errno (default 0), an exception to
    raise, or a callable ``(core, *args)`` whose result is returned. ``proc_exit`` raises
    ``ProcExit(rval)`` unless told otherwise. ``calls`` lists ``(name, args, len(mem))``.
    """

    def __init__(self) -> None:
        self.mem = memoryview(bytearray(0))
        self.calls: list[tuple[str, tuple[int, ...], int]] = []
        self.answers: dict[str, Answer] = {}

    def _syscall(self, name: str, args: tuple[int, ...]) -> Any:
        self.calls.append((name, args, len(self.mem)))
        answer = self.answers.get(name)
        if answer is None:
            if name == "proc_exit":
                from wasifs.errors import ProcExit

                raise ProcExit(args[0])
            return 0
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(self, *args)
        return answer


def _recording_method(name: str) -> Callable[..., Any]:
    def method(self: RecordingCore, *args: int) -> Any:
        return self._syscall(name, args)

    method.__name__ = name
    return method


for _name in SYSCALLS:
    setattr(RecordingCore, _name, _recording_method(_name))
