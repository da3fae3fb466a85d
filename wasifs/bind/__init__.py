"""Engine bindings: the only part of wasifs that imports a WebAssembly engine.

``wasifs.bind.wasmtime`` connects the sans-I/O ``WasiCore`` to wasmtime. The names below are
re-exported lazily, so that importing ``wasifs.bind`` alone does not import wasmtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = (
    "BindingMode",
    "GuestTrap",
    "WasmtimeBinding",
    "raw_mode_available",
)

if TYPE_CHECKING:
    from .wasmtime import BindingMode, GuestTrap, WasmtimeBinding, raw_mode_available


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import wasmtime as _wasmtime

        return getattr(_wasmtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
