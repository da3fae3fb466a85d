"""Storage backends: what a WASI guest's files live on. They know nothing of WASI.

Every backend implements the :class:`Backend` protocol (POSIX ``*at`` calls on directory
handles, see :mod:`wasifs.backends._protocol`). wasifs's own backends are also fsspec
filesystems, registered under the protocols ``"wasifs-memory"`` and ``"wasifs-native"``:

- :class:`MemoryFileSystem`: an isolated in-memory inode tree (the default mount);
- :class:`NativeFileSystem`: a host directory, confined to it;
- :class:`HandleFileSystem`: the base class that gives a protocol implementation the fsspec
  API.

The filesystem classes are imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ._protocol import Backend, DirEntry, Stat

if TYPE_CHECKING:
    from ._fsspec import HandleFileSystem
    from .memory import MemoryFileSystem
    from .native import NativeFileSystem

__all__ = (
    "Backend",
    "Stat",
    "DirEntry",
    "HandleFileSystem",
    "MemoryFileSystem",
    "NativeFileSystem",
    "open_backend",
)

_LAZY = {
    "HandleFileSystem": "._fsspec",
    "MemoryFileSystem": ".memory",
    "NativeFileSystem": ".native",
}

#: fsspec protocol names, registered through the ``fsspec.specs`` entry points in
#: pyproject.toml: fsspec imports the classes only when a protocol is used, and importing
#: wasifs never imports fsspec.
PROTOCOLS = {
    "wasifs-memory": "wasifs.backends.memory.MemoryFileSystem",
    "wasifs-native": "wasifs.backends.native.NativeFileSystem",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_MEMORY_URLS = ("memory", "memory://", "wasifs-memory", "wasifs-memory://")
_NATIVE_SCHEMES = ("native://", "wasifs-native://", "file://")


def open_backend(obj: Any, **options: Any) -> Backend:
    """The backend that ``obj`` names.

    - a :class:`Backend` instance is returned as it is (``options`` must then be empty);
    - ``"memory"`` / ``"wasifs-memory://"``: a new :class:`MemoryFileSystem`;
    - ``"native:///abs/dir"`` (also ``wasifs-native://``, ``file://``): that host directory;
    - any other ``str`` or ``os.PathLike``: a host directory, as a :class:`NativeFileSystem`
      (write ``"./memory"`` for a host directory called ``memory``).

    ``options`` go to the backend's constructor (for example ``readonly=True``). Raises
    ``TypeError`` for an object that is none of these (an fsspec filesystem that does not
    implement the protocol included) and ``ValueError`` for a URL of another scheme.
    """
    if isinstance(obj, Backend):
        if options:
            raise TypeError(
                f"open_backend() got options {sorted(options)} with a ready backend instance "
                f"{obj!r}: configure the instance itself instead")
        return obj
    if isinstance(obj, os.PathLike):
        obj = os.fspath(obj)
        if isinstance(obj, bytes):
            obj = os.fsdecode(obj)
        return _native(obj, options)
    if isinstance(obj, str):
        if not obj:
            raise ValueError("open_backend() needs a non-empty path or URL, got ''")
        if obj in _MEMORY_URLS:
            from .memory import MemoryFileSystem

            return MemoryFileSystem(**options)
        for scheme in _NATIVE_SCHEMES:
            if obj.startswith(scheme):
                path = obj[len(scheme):]
                if not path.startswith("/"):
                    raise ValueError(
                        f"a {scheme} URL needs an absolute path "
                        f"({scheme}/abs/dir), got {obj!r}")
                return _native(path, options)
        scheme, sep, _ = obj.partition("://")
        if sep and scheme and "/" not in scheme:
            raise ValueError(
                f"unsupported backend URL {obj!r}: wasifs opens 'memory', "
                f"'wasifs-memory://', 'native:///dir' or a host directory path")
        return _native(obj, options)
    kind = type(obj).__module__ + "." + type(obj).__qualname__
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

    if isinstance(obj, AbstractFileSystem):
        raise TypeError(
            f"{kind} is an fsspec filesystem that does not implement the wasifs Backend "
            "protocol; mount wasifs.backends.MemoryFileSystem or NativeFileSystem instead")
    raise TypeError(
        f"cannot make a backend from {obj!r} ({kind}): expected a Backend instance, a host "
        "directory (str or os.PathLike) or a URL such as 'memory' or 'native:///dir'")


def _native(path: str, options: dict[str, Any]) -> Backend:
    from .native import NativeFileSystem

    backend: Backend = NativeFileSystem(path, **options)
    return backend
