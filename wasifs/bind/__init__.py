"""Engine bindings: the only part of wasifs that imports a WebAssembly engine.

``wasifs.bind.wasmtime`` connects the sans-I/O ``WasiCore`` to wasmtime; its epoch
interruption (``epochs_enabled(engine)``: was the engine made with epochs on?
``remember_epochs``: record it for an engine wasifs makes) is here too. The names below are
re-exported lazily, so that importing ``wasifs.bind`` alone does not import wasmtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = (
    "BindingMode",
    "GuestTrap",
    "WasmtimeBinding",
    "raw_mode_available",
    "epochs_enabled",
    "remember_epochs",
)

if TYPE_CHECKING:
    from ._interrupt import epochs_enabled, remember_epochs
    from .wasmtime import BindingMode, GuestTrap, WasmtimeBinding, raw_mode_available

_LAZY = {
    "BindingMode": ".wasmtime",
    "GuestTrap": ".wasmtime",
    "WasmtimeBinding": ".wasmtime",
    "raw_mode_available": ".wasmtime",
    "epochs_enabled": "._interrupt",
    "remember_epochs": "._interrupt",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
