"""wasmtime's "unchecked" host-function C API, reached through ctypes.

wasmtime-py exposes the C library as ``wasmtime._ffi.dll`` and the struct layouts in the private
``wasmtime._bindings``. This module declares its *own* function pointers (``dll[name]`` returns
a fresh ``_FuncPtr`` each time, so the shared ``_bindings`` objects are never mutated), checks
that the layouts are what the generated trampolines assume, and keeps every ctypes callback
alive for as long as the store that can call it.

Nothing here is imported unless a binding resolves to raw mode; :func:`probe` says whether it
can be, and why not.
"""

from __future__ import annotations

import ctypes
import itertools
import sys
from collections.abc import Callable, Mapping
from ctypes import CFUNCTYPE, POINTER, c_bool, c_char_p, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass, field
from typing import Any, Final

from ._codegen import build_raw_factories

__all__ = ("CALLBACK", "FINALIZER", "Keep", "RawApi", "live_slots", "probe", "register")

#: ``size_t (*)(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args, size_t n)``,
#: with the slots seen as a ``uint64_t`` array (no union object is built per argument).
CALLBACK: Final = CFUNCTYPE(c_size_t, c_void_p, c_void_p, POINTER(c_uint64), c_size_t)
#: ``void (*)(void *env)``
FINALIZER: Final = CFUNCTYPE(None, c_void_p)


@dataclass
class Keep:
    """What must stay alive while a store can still call its raw functions."""

    release: Callable[[], None]
    callbacks: list[Any] = field(default_factory=list)
    remaining: int = 0


#: slot (the ``env`` of every raw func of one ``define`` call) -> what it keeps alive.
_LIVE: dict[int, Keep] = {}
_SLOTS = itertools.count(1)  # never 0: a NULL env arrives as None


def _finalize(env: int | None) -> None:
    # Runs inside wasmtime_store_delete, once per func; it must never raise (and may run at
    # interpreter shutdown, when module globals can already be gone).
    try:
        keep = _LIVE.get(env or 0)
        if keep is None:
            return
        keep.remaining -= 1
        if keep.remaining <= 0:
            del _LIVE[env or 0]
            keep.release()
    except BaseException:  # noqa: S110 - nothing can be reported from here
        pass


_FINALIZE: Final = FINALIZER(_finalize)


def register(keep: Keep) -> int:
    """Park ``keep`` in the process-wide table; the returned slot is the funcs' ``env``."""
    slot = next(_SLOTS)
    _LIVE[slot] = keep
    return slot


def live_slots() -> int:
    """How many ``define`` calls still have live raw functions (for tests)."""
    return len(_LIVE)


@dataclass(frozen=True)
class RawApi:
    """Everything raw mode needs, resolved once."""

    stride: int
    factories: Mapping[str, Callable[..., Any]]
    func_new_unchecked: Any
    memory_data: Any
    memory_data_size: Any
    caller_export_get: Any
    trap_new: Any
    func_t: Any
    memory_t: Any
    extern_t: Any
    extern_memory_kind: int
    finalize: Any = _FINALIZE

    def trap_pointer(self, message: str) -> int:
        """A new ``wasm_trap_t*`` (as an int) that ends the current guest call."""
        msg = message.encode("utf-8", "replace")
        ptr = self.trap_new(msg, len(msg))
        return int(ptr or 0)


def _fn(dll: Any, name: str, restype: Any, argtypes: list[Any] | None) -> Any:
    fn = dll[name]  # a fresh function pointer, not the one _bindings configured
    fn.restype = restype
    if argtypes is not None:
        fn.argtypes = argtypes
    return fn


def _probe() -> tuple[RawApi | None, str]:
    if sys.byteorder != "little":
        return None, "raw slots are read as little-endian words"
    try:
        import wasmtime
        from wasmtime import _bindings, _ffi
    except ImportError as exc:  # pragma: no cover - wasmtime is a hard dependency
        return None, f"wasmtime is not importable: {exc}"
    raw_t = getattr(_bindings, "wasmtime_val_raw_t", None)
    if raw_t is None:
        return None, "wasmtime._bindings has no wasmtime_val_raw_t"
    fields = dict(getattr(raw_t, "_fields_", ()))
    for fname, ctype in (("i32", ctypes.c_int32), ("i64", ctypes.c_int64)):
        if fields.get(fname) is not ctype or getattr(raw_t, fname).offset != 0:
            return None, f"wasmtime_val_raw_t.{fname} is not a {ctype.__name__} at offset 0"
    size = ctypes.sizeof(raw_t)
    if size < 8 or size % 8:
        return None, f"unexpected sizeof(wasmtime_val_raw_t) = {size}"
    for attr in ("wasmtime_func_t", "wasmtime_memory_t", "wasmtime_extern_t"):
        if not hasattr(_bindings, attr):
            return None, f"wasmtime._bindings has no {attr}"
    if not hasattr(wasmtime.Func, "_from_raw") or not hasattr(wasmtime.Store, "_context"):
        return None, "wasmtime.Func._from_raw or wasmtime.Store._context is missing"
    if "_memory" not in getattr(wasmtime.Memory, "__annotations__", {}):
        return None, "wasmtime.Memory keeps no _memory handle"
    dll = _ffi.dll
    hold: ctypes.CDLL
    try:
        hold = ctypes.PyDLL(dll._name)  # the same library, already loaded: no new dlopen
    except (OSError, AttributeError):
        hold = dll
    try:
        api = RawApi(
            stride=size // 8,
            factories=build_raw_factories(size // 8),
            func_new_unchecked=_fn(
                dll,
                "wasmtime_func_new_unchecked",
                None,
                [c_void_p, c_void_p, CALLBACK, c_void_p, FINALIZER, c_void_p],
            ),
            # No argtypes on the two hot calls: they get prebuilt ctypes objects (a c_void_p
            # context and a byref() to the memory handle), the cheapest way through ctypes.
            # Through a PyDLL handle: these two O(1) getters keep the GIL (a CDLL call
            # releases and re-takes it around every call, ~0.1 µs of each syscall).
            memory_data=_fn(hold, "wasmtime_memory_data", c_void_p, None),
            memory_data_size=_fn(hold, "wasmtime_memory_data_size", c_size_t, None),
            caller_export_get=_fn(
                dll,
                "wasmtime_caller_export_get",
                c_bool,
                [c_void_p, c_char_p, c_size_t, POINTER(_bindings.wasmtime_extern_t)],
            ),
            trap_new=_fn(dll, "wasmtime_trap_new", c_void_p, [c_char_p, c_size_t]),
            func_t=_bindings.wasmtime_func_t,
            memory_t=_bindings.wasmtime_memory_t,
            extern_t=_bindings.wasmtime_extern_t,
            extern_memory_kind=int(_ffi.WASMTIME_EXTERN_MEMORY.value),
        )
    except AttributeError as exc:  # a symbol is missing from the shared library
        return None, f"missing C symbol: {exc}"
    return api, ""


_RESULT: tuple[RawApi | None, str] | None = None


def probe() -> tuple[RawApi | None, str]:
    """``(api, "")`` when raw mode can be used with the installed wasmtime, else ``(None, why)``."""
    global _RESULT
    if _RESULT is None:
        _RESULT = _probe()
    return _RESULT
