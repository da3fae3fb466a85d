"""wasifs: a WASI preview1 host in Python with swappable virtual filesystems.

The public API is imported lazily (PEP 562), so ``import wasifs.wasi`` or ``import wasifs.abi``
never pulls in wasmtime or any optional dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import (
        GuestExitError,
        GuestInstance,
        LinkError,
        Mount,
        RunResult,
        WasiHost,
        instantiate,
        load_module,
        run,
    )
    from .backends.memory import MemoryFileSystem
    from .backends.native import NativeFileSystem
    from .backends.overlay import OverlayFileSystem
    from .errors import GuestTrap, ProcExit, WasiError, WasifsError
    from .path import Path
    from .transfer import copy_in, copy_out, snapshot

__all__ = (
    "__version__",
    "run",
    "instantiate",
    "load_module",
    "WasiHost",
    "GuestInstance",
    "Mount",
    "RunResult",
    "GuestExitError",
    "GuestTrap",
    "LinkError",
    "MemoryFileSystem",
    "NativeFileSystem",
    "OverlayFileSystem",
    "Path",
    "copy_in",
    "copy_out",
    "snapshot",
    "ProcExit",
    "WasiError",
    "WasifsError",
)

_LAZY = {
    "run": "api",
    "load_module": "api",
    "instantiate": "api",
    "GuestInstance": "api",
    "WasiHost": "api",
    "Mount": "api",
    "RunResult": "api",
    "GuestExitError": "api",
    "LinkError": "api",
    "GuestTrap": "errors",
    "MemoryFileSystem": "backends.memory",
    "NativeFileSystem": "backends.native",
    "OverlayFileSystem": "backends.overlay",
    "Path": "path",
    "copy_in": "transfer",
    "copy_out": "transfer",
    "snapshot": "transfer",
    "ProcExit": "errors",
    "WasiError": "errors",
    "WasifsError": "errors",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'wasifs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
