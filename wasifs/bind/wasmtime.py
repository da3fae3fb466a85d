"""The wasmtime binding: ``wasi_snapshot_preview1`` imports that call a sans-I/O ``WasiCore``.

One :class:`WasmtimeBinding` joins one ``wasmtime.Store`` to one core::

    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, core)          # mode="auto": raw when possible
    linker = wasmtime.Linker(engine)
    binding.define(linker)                          # wasi_snapshot_preview1.* for this store
    instance = linker.instantiate(store, module)
    binding.attach(instance)                        # bind its exported "memory" once
    binding.invoke(instance.exports(store)["_start"])   # or binding.invoke("_start")

Two trampoline modes run the same semantics:

``"raw"``
    wasmtime's unchecked C API (``wasmtime_func_new_unchecked``), reached through ctypes. One
    generated callback per syscall reads the argument slots directly and writes the errno back;
    about 30 times cheaper per crossing than wasmtime-py's generic path.
``"checked"``
    the public wasmtime-py API (``wasmtime.Func`` with ``access_caller=True``), the fallback
    when the private C-level layout is not what raw mode expects.

``"auto"`` picks raw when :func:`raw_mode_available` says so, else checked.

In both modes the functions are created **per store** and defined into the caller's
``wasmtime.Linker`` with ``Linker.define(store, ...)``. The linker is then tied to this store;
instantiating it in another store fails cleanly with wasmtime's "cross-`Store`
instantiation" error. Use one linker (or ``allow_shadowing``) per store.

Error model (see ``design/layout.md``): ``WasiError`` becomes its errno; ``ProcExit`` is parked
in the per-store slot and ends the guest call with a trap, and :meth:`WasmtimeBinding.invoke`
re-raises it; so is the exception of a host stream that failed (``HostCallbackError``: its
original exception is re-raised). Any other exception is a bug: it is logged on
``logging.getLogger("wasifs")`` with
the syscall and its arguments and the guest gets ``EIO``, or, with ``strict=True``, it is parked
and re-raised from ``invoke`` instead. ``BaseException``s that are not ``Exception``s
(``KeyboardInterrupt``, ``SystemExit``) always end the guest call and are re-raised. Traps that
do not come from wasifs surface as :class:`GuestTrap`.

Guest memory: before every syscall that touches memory the binding re-reads the memory's data
pointer and size and gives the core a new ``memoryview`` (``core.mem``) only when either changed,
so ``memory.grow`` between (or during) calls is always seen. ``core.mem`` is only valid while
the store lives; when the store is deleted it is replaced by an empty view.

Threads: raw mode keeps all state per store and never touches wasmtime-py's process-wide
``LAST_EXCEPTION``. Checked mode must raise through wasmtime-py's trampoline, which passes the
exception through that global, so concurrent checked-mode guests on several threads can see
each other's aborts; prefer raw mode for threaded use.
"""

from __future__ import annotations

import ctypes
import logging
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal, Protocol

import wasmtime

from ..abi import I64, MODULE, SYSCALL_PARAMS, SYSCALLS, Errno
from ..errors import GuestTrap, ProcExit
from ..interrupt import CancelToken
from ..stdio import HostCallbackError
from ..wasi import WasiCore
from ._codegen import CHECKED_FACTORIES, FAULT_RETRY
from ._interrupt import EpochWatch, watch_store
from ._raw import CALLBACK, Keep, RawApi, probe, register

__all__ = (
    "BindingMode",
    "GuestTrap",
    "SyscallCore",
    "WasmtimeBinding",
    "raw_mode_available",
    "syscall_functype",
)

BindingMode = Literal["auto", "raw", "checked"]

logger: Final = logging.getLogger("wasifs")

_M32: Final = 0xFFFFFFFF
_M64: Final = 0xFFFFFFFFFFFFFFFF


class SyscallCore(Protocol):
    """What the binding needs from a core: a writable ``mem`` slot.

    Besides it, a core has one method per name in ``wasifs.abi.SYSCALLS`` (only those being
    defined are looked up), taking unsigned ints in ``SYSCALL_PARAMS`` order and returning the
    int errno or raising ``WasiError``; ``proc_exit`` raises ``ProcExit``.
    """

    mem: memoryview


class _Unwind(BaseException):
    """Checked mode: ends the guest call; the real exception waits in the store's slot."""


def raw_mode_available() -> tuple[bool, str]:
    """``(True, "")`` when raw mode works with the installed wasmtime, else ``(False, why)``."""
    api, why = probe()
    return api is not None, why


def syscall_functype(name: str) -> wasmtime.FuncType:
    """A new ``wasmtime.FuncType`` for a preview1 import, from ``abi.SYSCALLS``.

    Not cached: wasmtime registers a function type with the first engine that uses it, and a
    type registered with one engine must not be used with another (a Rust assertion aborts the
    process), so each ``define`` builds its own.
    """
    params, results = SYSCALLS[name]
    vt = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
    return wasmtime.FuncType([vt[p] for p in params], [vt[r] for r in results])


def _describe(name: str, values: tuple[int, ...]) -> str:
    return f"{name}({', '.join(f'{p}={v}' for p, v in zip(SYSCALL_PARAMS[name], values, strict=True))})"


class _StoreState:
    """Per-store state shared by the trampolines of one binding (never holds the store)."""

    __slots__ = (
        "__weakref__",
        "core",
        "strict",
        "api",
        "ctx",
        "memory",
        "mem_handle",
        "mem_ref",
        "base",
        "size",
        "fixed",
        "trusted",
        "view",
        "parked",
        "parked_in",
        "cancel",
    )

    def __init__(self, core: SyscallCore, strict: bool, api: RawApi | None, ctx: int) -> None:
        self.core = core
        self.strict = strict
        self.api = api
        self.ctx = ctypes.c_void_p(ctx)
        self.memory: wasmtime.Memory | None = None  # checked mode
        self.mem_handle: Any = None  # raw mode: a private copy of the wasmtime_memory_t
        self.mem_ref: Any = None  # raw mode: byref(mem_handle), passed straight to C
        self.base = -1
        self.size = -1
        #: the memory never moves (the engine was made with memory_may_move off)
        self.fixed = False
        #: bytes of the current view a call may use without a fresh look at the memory's size
        #: (its size when ``fixed``, else -1: every call looks)
        self.trusted = -1
        self.view: memoryview | None = None
        self.parked: BaseException | None = None
        self.parked_in = ""
        self.cancel: CancelToken | None = None

    # -- memory -----------------------------------------------------------------------------

    def bind_memory(self, memory: wasmtime.Memory) -> None:
        self.memory = memory
        if self.api is not None:
            handle = self.api.memory_t.from_buffer_copy(memory._memory)
            self.mem_handle = handle
            self.mem_ref = ctypes.c_void_p(ctypes.addressof(handle))  # cheaper to pass than byref
        self.base = self.size = self.trusted = -1  # remap on the next call

    def remap(self, base: int | None, size: int) -> None:
        base = base or 0
        if base == 0 or size == 0:
            view = memoryview(bytearray(0))
        else:
            view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
        self.base = base
        self.size = size
        self.trusted = size if self.fixed else -1
        self.view = view
        self.core.mem = view

    def memory_from_raw_caller(self, caller: int) -> Any:
        api = self.api
        assert api is not None
        item = api.extern_t()
        if (
            not api.caller_export_get(caller, b"memory", 6, ctypes.byref(item))
            or item.kind != api.extern_memory_kind
        ):
            raise GuestTrap(_NO_MEMORY)
        handle = api.memory_t.from_buffer_copy(item.of.memory)
        self.mem_handle = handle
        self.mem_ref = ctypes.c_void_p(ctypes.addressof(handle))  # cheaper to pass than byref
        self.base = self.size = self.trusted = -1  # remap on this call
        return self.mem_ref

    def refresh_checked(self, caller: wasmtime.Caller) -> None:
        memory = self.memory
        if memory is None:
            found = caller.get("memory")
            if not isinstance(found, wasmtime.Memory):
                raise GuestTrap(_NO_MEMORY)
            memory = self.memory = found
        size = memory.data_len(caller)
        base = ctypes.cast(memory.data_ptr(caller), ctypes.c_void_p).value if size else 0
        if base != self.base or size != self.size:
            self.remap(base, size)

    def release(self) -> None:
        """The store is gone: drop the view so that nothing reads freed memory through it."""
        view = self.view
        self.view = None
        self.mem_ref = self.mem_handle = self.memory = None
        self.base = self.size = self.trusted = -1
        if view is not None and getattr(self.core, "mem", None) is view:
            self.core.mem = memoryview(bytearray(0))

    # -- failures ---------------------------------------------------------------------------

    def _judge(
        self, name: str, exc: BaseException, values: tuple[int, ...]
    ) -> BaseException | None:
        """The exception to park (the guest call then traps), or None for ``EIO``."""
        if isinstance(exc, (ProcExit, GuestTrap)) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, HostCallbackError):  # the host's own stream failed: stop the guest
            exc.error.add_note(f"wasifs: raised by the guest's {exc.stream}; the guest was "
                               "stopped")
            return exc.error
        cancel = self.cancel
        if cancel is not None and cancel.cancelled and type(exc) is type(cancel.reason):
            return exc  # a host-side wait was cancelled (it raises a copy of the reason)
        if self.strict:
            return exc
        logger.error(
            "wasifs: bug in syscall %s: %s: %s; the guest gets EIO",
            _describe(name, values),
            type(exc).__name__,
            exc,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        if not SYSCALLS[name][1]:  # proc_exit has no errno to return: exit as asked
            return ProcExit(values[0] if values else 0)
        return None

    def _park(self, name: str, exc: BaseException) -> str:
        self.parked = exc
        self.parked_in = name
        if isinstance(exc, ProcExit):
            return f"wasifs: proc_exit({exc.code})"
        return f"wasifs: {type(exc).__name__} in {name}"

    def fail_raw(self, name: str, exc: BaseException, args: Any) -> int:
        """Raw trampolines end here on any exception; must never raise."""
        api = self.api
        assert api is not None
        try:
            stride = api.stride
            values = tuple(
                args[i * stride] & (_M64 if ty == I64 else _M32)
                for i, ty in enumerate(SYSCALLS[name][0])
            )
            outcome = self._judge(name, exc, values)
            if outcome is None:
                args[0] = Errno.IO
                return 0
            return api.trap_pointer(self._park(name, outcome))
        except BaseException as inner:  # last resort: still end the call, never unwind into C
            try:
                return api.trap_pointer(self._park(name, inner))
            except BaseException:
                return 0

    def fail_checked(self, name: str, exc: BaseException, values: tuple[int, ...]) -> int:
        """Checked trampolines end here on any exception: ``EIO``, or raise ``_Unwind``."""
        values = tuple(
            v & (_M64 if ty == I64 else _M32)
            for v, ty in zip(values, SYSCALLS[name][0], strict=True)
        )
        outcome = self._judge(name, exc, values)
        if outcome is None:
            return int(Errno.IO)
        raise _Unwind(self._park(name, outcome))


_NO_MEMORY: Final = 'the guest calls a WASI function that needs memory but exports no "memory"'

#: Calls whose answer never depends on anything (``WasiCore``'s own methods): served by a
#: tiny WebAssembly module instantiated in the guest's store, so calling them costs no
#: crossing into Python (wasmtime calls between two instances directly).
_CONSTANT_CALLS: Final = {"sched_yield": 0, "proc_raise": int(Errno.NOTSUP)}
_CONSTANT_WAT: Final = (
    "(module"
    f' (func (export "sched_yield") (result i32) i32.const {_CONSTANT_CALLS["sched_yield"]})'
    f' (func (export "proc_raise") (param i32) (result i32)'
    f' i32.const {_CONSTANT_CALLS["proc_raise"]}))'
)
# id(engine) -> (engine, module): the engine is kept so that its id stays unique
_constant_modules: dict[int, tuple[wasmtime.Engine, wasmtime.Module]] = {}


def _constant_module(engine: wasmtime.Engine) -> wasmtime.Module:
    found = _constant_modules.get(id(engine))
    if found is None or found[0] is not engine:
        found = _constant_modules[id(engine)] = (engine, wasmtime.Module(engine, _CONSTANT_WAT))
    return found[1]


def _is_constant(core: object, name: str, method: Any) -> bool:
    """Whether ``method`` is ``WasiCore``'s own constant ``name`` (not overridden by a
    subclass, not wrapped on the instance, e.g. by audit or metrics)."""
    return name in _CONSTANT_CALLS and _is_own(core, name, method)


def _is_own(core: object, name: str, method: Any) -> bool:
    """Whether ``method`` is ``WasiCore``'s own ``name``, bound to ``core`` (not overridden
    by a subclass, not wrapped on the instance, e.g. by audit or metrics)."""
    return (isinstance(core, WasiCore)
            and getattr(method, "__func__", None) is WasiCore.__dict__[name]
            and getattr(method, "__self__", None) is core)


class WasmtimeBinding:
    """Connects a ``WasiCore`` to one ``wasmtime.Store``.

    :param store: the store the guest runs in.
    :param core: the sans-I/O core (``mem`` slot plus one method per syscall).
    :param mode: ``"raw"``, ``"checked"`` or ``"auto"`` (raw when available).
    :param strict: re-raise Python bugs from :meth:`invoke` instead of returning ``EIO``.
    :param native_constants: answer ``sched_yield`` and ``proc_raise`` (whose results never
        vary) from a small WebAssembly module in the store instead of Python (only while the
        core's methods for them are ``WasiCore``'s own, unwrapped); False keeps every call
        in Python.
    :param memory_fixed: the store's engine never moves a linear memory (made with
        ``wasmtime.Config.memory_may_move = False``): a call whose memory regions lie inside
        the view it already has then skips the look at the memory's size (one FFI call).
        Only pass True for such an engine: a memory that moved would leave a stale view.
    :raises ValueError: for an unknown mode.
    :raises RuntimeError: when ``mode="raw"`` is asked for but unavailable.
    """

    def __init__(
        self,
        store: wasmtime.Store,
        core: SyscallCore,
        mode: BindingMode = "auto",
        *,
        strict: bool = False,
        native_constants: bool = True,
        memory_fixed: bool = False,
    ) -> None:
        if not isinstance(store, wasmtime.Store):
            raise TypeError(f"expected a wasmtime.Store, got {type(store).__name__}")
        if mode not in ("auto", "raw", "checked"):
            raise ValueError(f"mode must be 'auto', 'raw' or 'checked', not {mode!r}")
        api: RawApi | None = None
        if mode != "checked":
            api, why = probe()
            if api is None and mode == "raw":
                raise RuntimeError(f"raw binding mode is unavailable: {why}")
        self._mode: Literal["raw", "checked"] = "raw" if api is not None else "checked"
        self._store = store
        self._core = core
        ctx = ctypes.cast(store._context(), ctypes.c_void_p).value or 0
        self._state = _StoreState(core, strict, api, ctx)
        self._state.fixed = bool(memory_fixed)
        self._instance: wasmtime.Instance | None = None
        self._watch: EpochWatch | None = None
        #: serve sched_yield/proc_raise from WebAssembly (see _CONSTANT_CALLS); False: Python
        self._native_constants = native_constants
        # Drop core.mem when the store goes away (raw mode also releases from the C finalizer).
        weakref.finalize(store, self._state.release)

    # -- properties -------------------------------------------------------------------------

    @property
    def mode(self) -> Literal["raw", "checked"]:
        """The trampoline mode in use (what ``"auto"`` resolved to)."""
        return self._mode

    @property
    def store(self) -> wasmtime.Store:
        return self._store

    @property
    def core(self) -> SyscallCore:
        return self._core

    @property
    def strict(self) -> bool:
        return self._state.strict

    @property
    def cancel(self) -> CancelToken | None:
        """The token set by :meth:`watch` (``None`` before)."""
        return self._state.cancel

    # -- setup ------------------------------------------------------------------------------

    def unwatch(self) -> None:
        """Forget the token (the store's epoch callback then lets the guest continue)."""
        self._state.cancel = None
        if self._watch is not None:
            self._watch.token = None

    def watch(self, token: CancelToken, *, epochs: bool = True) -> None:
        """Let ``token`` end guest calls: an exception that is the token's reason, raised
        by a host-side wait inside a syscall, ends the call and is re-raised by
        :meth:`invoke`; with ``epochs``, an epoch-deadline callback on the store also stops
        guest code once the token is cancelled and the engine's epoch is bumped (the caller
        arranges that, e.g. ``token.on_cancel(engine.increment_epoch)``), and
        :meth:`invoke` raises the token's reason. The engine must have been made with
        ``epoch_interruption`` for that (the store gets a deadline one tick ahead and a
        callback that replaces any other). Calling it again swaps the token."""
        self._state.cancel = token
        if epochs:
            if self._watch is None:
                self._watch = watch_store(self._store, token)
            else:
                self._watch.token = token


    def define(self, linker: wasmtime.Linker, only: Iterable[str] | None = None) -> None:
        """Define ``wasi_snapshot_preview1.*`` (or just the names in ``only``) into ``linker``.

        The functions belong to this binding's store. Every name must be a preview1 function
        (``ValueError`` otherwise) and the core must have a method for it (``TypeError``).
        Defining a name the linker already has raises wasmtime's ``WasmtimeError`` unless the
        linker allows shadowing.
        """
        if only is None:
            names = list(SYSCALLS)
        else:
            names = list(dict.fromkeys(only))
            unknown = [n for n in names if n not in SYSCALLS]
            if unknown:
                raise ValueError(f"not wasi_snapshot_preview1 functions: {', '.join(unknown)}")
        methods: dict[str, Any] = {}
        for name in names:
            method = getattr(self._core, name, None)
            if not callable(method):
                raise TypeError(f"{type(self._core).__name__} has no method {name!r}")
            methods[name] = method
        constant = [name for name, method in methods.items()
                    if self._native_constants and _is_constant(self._core, name, method)]
        if constant:
            instance = wasmtime.Instance(self._store, _constant_module(self._store.engine), [])
            exports = instance.exports(self._store)
            for name in constant:
                del methods[name]
                linker.define(self._store, MODULE, name, exports[name])
        if self._state.api is not None:
            self._define_raw(linker, methods)
        else:
            self._define_checked(linker, methods)

    def _define_checked(self, linker: wasmtime.Linker, methods: dict[str, Any]) -> None:
        st = self._state
        for name, method in methods.items():
            fn = CHECKED_FACTORIES[name](st, method)
            func = wasmtime.Func(self._store, syscall_functype(name), fn, access_caller=True)
            linker.define(self._store, MODULE, name, func)

    def _define_raw(self, linker: wasmtime.Linker, methods: dict[str, Any]) -> None:
        st = self._state
        api = st.api
        assert api is not None
        # Everything the C side may call stays in a process-wide table until wasmtime runs the
        # finalizer of the last of these funcs (store deletion): a collected ctypes callback
        # would be a jump into freed memory.
        keep = Keep(release=st.release)
        slot = register(keep)
        ctx = st.ctx.value
        for name, method in methods.items():
            # the core's own read/write calls answer EFAULT before any effect: see FAULT_RETRY
            extra = {"retry": True} if name in FAULT_RETRY and _is_own(self._core, name,
                                                                          method) else {}
            callback = CALLBACK(
                api.factories[name](st, method, st.ctx, api.memory_data, api.memory_data_size,
                                    **extra)
            )
            keep.callbacks.append(callback)
            ty = syscall_functype(name)
            func = api.func_t()
            keep.remaining += 1  # counted before creation: each created func runs the finalizer
            api.func_new_unchecked(
                ctx,
                ctypes.cast(ty.ptr(), ctypes.c_void_p).value,
                callback,
                slot,
                api.finalize,
                ctypes.addressof(func),
            )
            linker.define(self._store, MODULE, name, wasmtime.Func._from_raw(func))

    def attach(self, target: wasmtime.Instance | wasmtime.Memory) -> None:
        """Bind the guest memory once: an instance's export ``"memory"``, or a ``Memory``.

        Without ``attach`` (or when the instance exports no memory) the first syscall that
        needs memory looks up the calling instance's export ``"memory"`` and keeps it. The
        instance or memory must belong to this binding's store. Attaching an instance also
        lets :meth:`invoke` take an export name.
        """
        if isinstance(target, wasmtime.Instance):
            self._instance = target
            found = target.exports(self._store).get("memory")
            if isinstance(found, wasmtime.Memory):
                self._state.bind_memory(found)
        elif isinstance(target, wasmtime.Memory):
            self._state.bind_memory(target)
        else:
            raise TypeError(
                f"expected a wasmtime.Instance or wasmtime.Memory, got {type(target).__name__}"
            )

    # -- running ----------------------------------------------------------------------------

    def instantiate(self, linker: wasmtime.Linker, module: wasmtime.Module) -> wasmtime.Instance:
        """``linker.instantiate`` plus :meth:`attach`, with :meth:`invoke`'s trap handling.

        A module's start function runs during instantiation; a ``proc_exit`` or a strict-mode
        bug inside it is re-raised here as itself, other traps as :class:`GuestTrap`.
        """
        with self._guest_call():
            instance = linker.instantiate(self._store, module)
        self.attach(instance)
        return instance

    def invoke(self, func: wasmtime.Func | str, *args: Any) -> Any:
        """Call a guest function and return its result (as ``wasmtime.Func`` does).

        ``func`` may be an export name of the attached instance. A ``ProcExit`` raised by the
        core (``proc_exit``), a parked strict-mode bug, ``KeyboardInterrupt`` and the like are
        re-raised as themselves; every other trap or wasmtime error becomes
        :class:`GuestTrap`.
        """
        if isinstance(func, str):
            if self._instance is None:
                raise ValueError("invoke by name needs attach(instance) first")
            export = self._instance.exports(self._store).get(func)
            if not isinstance(export, wasmtime.Func):
                raise ValueError(f"the instance exports no function {func!r}")
            func = export
        with self._guest_call():
            return func(self._store, *args)

    @contextmanager
    def _guest_call(self) -> Iterator[None]:
        st = self._state
        st.parked = None
        watch = self._watch
        interrupted: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            if watch is not None and watch.fired:
                watch.fired = False
                if watch.token is not None and watch.token.cancelled:
                    st.parked = None
                    interrupted = watch.token.error()
            if interrupted is None:
                self._reraise(exc)
        if interrupted is not None:  # raised here, so it does not chain the engine's error
            raise interrupted

    def _reraise(self, exc: BaseException) -> None:
        """Raise what ended a guest call: the parked exception, else ``exc`` as a
        :class:`GuestTrap` when it is a trap or an engine error, else ``exc`` itself."""
        st = self._state
        parked = st.parked
        if parked is not None:
            st.parked = None
            if not isinstance(parked, ProcExit) and parked is not exc:
                parked.add_note(
                    f"wasifs: raised inside syscall {st.parked_in}; the guest call was "
                    f"aborted ({_first_line(exc)})"
                )
            raise parked from None
        if isinstance(exc, _Unwind):  # another thread's abort, through wasmtime-py's global
            raise GuestTrap(f"aborted by a wasifs syscall on another store: {exc}") from None
        if isinstance(exc, wasmtime.Trap):
            code = exc.trap_code
            raise GuestTrap(exc.message, trap_code=code.name if code else None) from exc
        if isinstance(exc, wasmtime.WasmtimeError):
            raise GuestTrap(str(exc)) from exc
        raise exc


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
