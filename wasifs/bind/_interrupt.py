"""Epoch interruption: stop a guest that runs its own code when its run is cancelled.

Every store wasifs watches gets an epoch-deadline callback (wasmtime's
``wasmtime_store_epoch_deadline_callback``, reached through a private ctypes prototype) and a
deadline one tick ahead. Nothing ticks periodically: cancelling a run bumps its engine's epoch
(:meth:`wasmtime.Engine.increment_epoch`, safe from any thread), every store of that engine
that is running wasm reaches its deadline, and each callback looks at *its own* run's token:
cancelled, it ends the guest call with an error; otherwise the guest continues with a new
deadline one tick ahead. The callback never touches a store from outside its own thread.

Epochs must be enabled when the engine is made (``wasmtime.Config.epoch_interruption``);
:func:`epochs_enabled` tells, for an engine wasifs did not make, by running a one-function
module on it.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import weakref
from ctypes import CFUNCTYPE, POINTER, c_size_t, c_uint8, c_uint64, c_void_p
from typing import Any, Final

import wasmtime

from ..interrupt import CancelToken

__all__ = ("EpochWatch", "epochs_enabled", "watch_store")

#: ``wasmtime_error_t *(*)(wasmtime_context_t *, void *env, uint64_t *delta, kind *)``
_DEADLINE_CALLBACK: Final = CFUNCTYPE(c_size_t, c_void_p, c_void_p, POINTER(c_uint64),
                                      POINTER(c_uint8))
_FINALIZER: Final = CFUNCTYPE(None, c_void_p)
_CONTINUE: Final = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
_MESSAGE: Final = b"wasifs: the run was interrupted"


class EpochWatch:
    """One store's link to its run's cancel token."""

    __slots__ = ("token", "fired", "__weakref__")

    def __init__(self, token: CancelToken | None) -> None:
        #: the token the callback checks (swappable between guest calls)
        self.token = token
        #: set when the callback ended a guest call because the token was cancelled
        self.fired = False


_WATCHES: dict[int, EpochWatch] = {}
_SLOTS = itertools.count(1)


class _Api:
    def __init__(self) -> None:
        from wasmtime import _ffi

        dll = _ffi.dll
        register = dll["wasmtime_store_epoch_deadline_callback"]  # a fresh function pointer
        register.restype = None
        register.argtypes = [c_void_p, _DEADLINE_CALLBACK, c_void_p, _FINALIZER]
        error_new = dll["wasmtime_error_new"]
        error_new.restype = c_void_p
        error_new.argtypes = [ctypes.c_char_p]
        self.register = register
        self.error_new = error_new


_api: _Api | None = None
_api_lock = threading.Lock()


def _get_api() -> _Api:
    global _api
    with _api_lock:
        if _api is None:
            _api = _Api()
        return _api


def _on_deadline(ctx: Any, env: int | None, delta: Any, kind: Any) -> int:
    # Runs on the guest's thread whenever the engine's epoch passes this store's deadline.
    # It must never raise: an exception escaping a ctypes callback is lost (or worse).
    watch = None
    try:
        delta[0] = 1
        kind[0] = _CONTINUE
        watch = _WATCHES.get(env or 0)
        token = watch.token if watch is not None else None
        if token is not None and token.cancelled:
            watch.fired = True  # type: ignore[union-attr]
            return int(_get_api().error_new(_MESSAGE) or 0)
        return 0
    except BaseException as exc:  # a signal handler that raised while this ran
        try:
            if watch is not None and watch.token is not None:
                watch.token.cancel(exc)
                watch.fired = True
                return int(_get_api().error_new(_MESSAGE) or 0)
        except BaseException:  # noqa: S110 - nothing can be reported from here
            pass
        return 0


def _on_finalize(env: int | None) -> None:
    try:
        _WATCHES.pop(env or 0, None)
    except BaseException:  # noqa: S110 - may run at interpreter shutdown
        pass


_CALLBACK: Final = _DEADLINE_CALLBACK(_on_deadline)
_FINALIZE: Final = _FINALIZER(_on_finalize)


def watch_store(store: wasmtime.Store, token: CancelToken | None = None) -> EpochWatch:
    """Register the deadline callback on ``store`` (replacing any other) with a deadline one
    tick ahead; returns the watch whose ``token`` the callback checks."""
    api = _get_api()
    watch = EpochWatch(token)
    slot = next(_SLOTS)
    _WATCHES[slot] = watch
    api.register(ctypes.cast(store.ptr(), c_void_p), _CALLBACK, slot, _FINALIZE)
    store.set_epoch_deadline(1)
    return watch


_known: weakref.WeakKeyDictionary[wasmtime.Engine, bool] = weakref.WeakKeyDictionary()
_PROBE_WAT: Final = '(module (func (export "f")))'


def remember_epochs(engine: wasmtime.Engine, enabled: bool) -> None:
    """Record what an engine's configuration says (for engines wasifs makes)."""
    with _api_lock:
        _known[engine] = enabled


def epochs_enabled(engine: wasmtime.Engine) -> bool:
    """Whether ``engine`` was made with ``epoch_interruption`` (probed once per engine: a store
    with no deadline traps on a function's first instruction only when epochs are on)."""
    with _api_lock:
        known = _known.get(engine)
    if known is not None:
        return known
    module = wasmtime.Module(engine, _PROBE_WAT)
    store = wasmtime.Store(engine)
    func = wasmtime.Instance(store, module, []).exports(store)["f"]
    assert isinstance(func, wasmtime.Func)
    try:
        func(store)
        enabled = False
    except (wasmtime.Trap, wasmtime.WasmtimeError):
        enabled = True
    remember_epochs(engine, enabled)
    return enabled
