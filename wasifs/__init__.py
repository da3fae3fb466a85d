"""wasifs: a WASI preview1 host in Python with swappable virtual filesystems.

The public API is imported lazily (PEP 562), so ``import wasifs.wasi`` or ``import wasifs.abi``
never pulls in wasmtime or any optional dependency. Submodules are reachable as attributes
too (``wasifs.api.TRAP_EXIT_CODE`` after a plain ``import wasifs``), imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import abi as abi
    from . import aio as aio
    from . import api as api
    from . import backends as backends
    from . import bind as bind
    from . import config as config
    from . import engine as engine
    from . import errors as errors
    from . import interrupt as interrupt
    from . import locks as locks
    from . import observe as observe
    from . import path as path
    from . import stdio as stdio
    from . import toolchain as toolchain
    from . import transfer as transfer
    from . import trees as trees
    from . import vfs as vfs
    from . import wasi as wasi
    from .aio import arun
    from .api import GuestInstance, WasiHost, instantiate, run
    from .backends.memory import MemoryFileSystem
    from .backends.native import NativeFileSystem
    from .backends.overlay import OverlayFileSystem
    from .config import GuestExitError, LinkError, Mount, MountRights, RunOptions, RunResult
    from .engine import load_module
    from .errors import GuestTrap, ProcExit, WasiError, WasifsError
    from .interrupt import (
        CancelToken,
        FuelExhausted,
        Interrupted,
        LimitExceeded,
        MemoryLimitExceeded,
        TableLimitExceeded,
        TimeoutExceeded,
    )
    from .locks import Lock, lock
    from .path import Path
    from .transfer import copy_in, copy_out, snapshot

__all__ = (
    "__version__",
    "run",
    "arun",
    "instantiate",
    "load_module",
    "WasiHost",
    "GuestInstance",
    "Mount",
    "MountRights",
    "RunOptions",
    "RunResult",
    "CancelToken",
    "Interrupted",
    "LimitExceeded",
    "TimeoutExceeded",
    "FuelExhausted",
    "MemoryLimitExceeded",
    "TableLimitExceeded",
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
    "lock",
    "Lock",
    "ProcExit",
    "WasiError",
    "WasifsError",
)

_LAZY = {
    "run": "api",
    "arun": "aio",
    "load_module": "engine",
    "instantiate": "api",
    "GuestInstance": "api",
    "WasiHost": "api",
    "Mount": "config",
    "MountRights": "config",
    "RunOptions": "config",
    "RunResult": "config",
    "CancelToken": "interrupt",
    "Interrupted": "interrupt",
    "LimitExceeded": "interrupt",
    "TimeoutExceeded": "interrupt",
    "FuelExhausted": "interrupt",
    "MemoryLimitExceeded": "interrupt",
    "TableLimitExceeded": "interrupt",
    "GuestExitError": "config",
    "LinkError": "config",
    "GuestTrap": "errors",
    "MemoryFileSystem": "backends.memory",
    "NativeFileSystem": "backends.native",
    "OverlayFileSystem": "backends.overlay",
    "Path": "path",
    "copy_in": "transfer",
    "copy_out": "transfer",
    "snapshot": "transfer",
    "lock": "locks",
    "Lock": "locks",
    "ProcExit": "errors",
    "WasiError": "errors",
    "WasifsError": "errors",
}


#: Submodules reachable as attributes of the package (imported on first access).
_SUBMODULES = frozenset({
    "abi", "aio", "api", "backends", "bind", "cli", "config", "engine", "errors", "interrupt",
    "locks", "observe",
    "path", "pytest_plugin", "stdio", "testing", "toolchain", "transfer", "trees", "vfs",
    "wasi",
})


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'wasifs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
