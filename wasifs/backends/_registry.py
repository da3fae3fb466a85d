"""Backends by name: :func:`open_backend` and the ``wasifs.backends`` entry-point group.

A backend is known by a name (``memory``, ``native``, ...) and opened from a URL
``NAME://LOCATION`` or from the bare ``NAME`` (the same as ``NAME://``). The name leads to an
*opener*: a callable ``opener(location: str, **options) -> Backend``, where ``location`` is
what follows ``NAME://`` (``""`` for a bare name) and ``options`` are the keyword arguments
given to :func:`open_backend`.

wasifs's own openers are declared in its ``pyproject.toml`` like any other package's::

    [project.entry-points."wasifs.backends"]
    memory = "wasifs.backends._registry:open_memory"

and are also known without the package's metadata (a source checkout on ``sys.path``);
a third-party distribution that declares an entry point in the group makes its backend
usable by name and URL everywhere wasifs takes a backend (``mounts=``, ``Mount(...)``).
The built-in names cannot be taken over by another distribution.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

from ._protocol import Backend

__all__ = ("GROUP", "open_backend", "backend_names", "open_memory", "open_native",
           "open_overlay")

#: The entry-point group that names backends.
GROUP = "wasifs.backends"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-_]*\Z")


def open_memory(location: str, **options: Any) -> Backend:
    """``memory``, ``memory://`` (also ``wasifs-memory``): a new, empty
    :class:`~wasifs.backends.MemoryFileSystem`."""
    if location:
        raise ValueError(f"a memory backend URL takes no location (write 'memory'), got "
                         f"{location!r} after '://'")
    from .memory import MemoryFileSystem

    return MemoryFileSystem(**options)


def open_native(location: str, **options: Any) -> Backend:
    """``native:///abs/dir`` (also ``wasifs-native://``, ``file://``): that host directory,
    as a :class:`~wasifs.backends.NativeFileSystem`."""
    if not location.startswith("/"):
        raise ValueError(f"a native backend URL needs an absolute path (native:///abs/dir), "
                         f"got {location!r} after '://'")
    return _native(location, options)


def _native(path: str, options: dict[str, Any]) -> Backend:
    from .native import NativeFileSystem

    backend: Backend = NativeFileSystem(path, **options)
    return backend


def open_overlay(location: str, **options: Any) -> Backend:
    """``overlay://LOWER`` (also ``wasifs-overlay://``): a copy-on-write
    :class:`~wasifs.backends.OverlayFileSystem` over ``LOWER`` (any URL or host directory
    :func:`open_backend` takes, opened read-only), with a new memory upper layer unless
    ``upper=`` says otherwise; ``overlay:///abs/dir`` is over a host directory."""
    if not location:
        raise ValueError("an overlay backend URL needs its lower layer: overlay://LOWER, "
                         "for example overlay:///abs/dir or overlay://native:///abs/dir")
    from .overlay import OverlayFileSystem

    return OverlayFileSystem(location, **options)


#: The built-in names, as pyproject.toml declares them (a test keeps the two equal).
BUILTIN: dict[str, str] = {
    "memory": "wasifs.backends._registry:open_memory",
    "wasifs-memory": "wasifs.backends._registry:open_memory",
    "native": "wasifs.backends._registry:open_native",
    "wasifs-native": "wasifs.backends._registry:open_native",
    "file": "wasifs.backends._registry:open_native",
    "overlay": "wasifs.backends._registry:open_overlay",
    "wasifs-overlay": "wasifs.backends._registry:open_overlay",
}
_BUILTIN_OPENERS: dict[str, Callable[..., Backend]] = {
    "wasifs.backends._registry:open_memory": open_memory,
    "wasifs.backends._registry:open_native": open_native,
    "wasifs.backends._registry:open_overlay": open_overlay,
}


def _entry_points() -> dict[str, Any]:
    """The group's entry points by name (the first one of a name wins; built-in names are
    not taken over)."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=GROUP):
        if ep.name not in BUILTIN:
            found.setdefault(ep.name, ep)
    return found


def backend_names() -> list[str]:
    """Every backend name :func:`open_backend` knows now: the built-in ones and those of the
    installed distributions' ``wasifs.backends`` entry points, sorted."""
    return sorted(set(BUILTIN) | set(_entry_points()))


def _opener(name: str) -> Callable[..., Backend] | None:
    ref = BUILTIN.get(name)
    if ref is not None:
        return _BUILTIN_OPENERS[ref]
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        opener = ep.load()
    except Exception as exc:
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed distribution"
        raise ImportError(f"the wasifs backend {name!r} (entry point {ep.value!r} of {dist}) "
                          f"could not be loaded: {exc}") from exc
    if not callable(opener):
        raise TypeError(f"the wasifs backend entry point {name!r} = {ep.value!r} is not "
                        f"callable (it must be opener(location, **options) -> Backend)")
    return opener  # type: ignore[no-any-return]


def _open(name: str, location: str, options: dict[str, Any]) -> Backend | None:
    opener = _opener(name)
    if opener is None:
        return None
    backend = opener(location, **options)
    if not isinstance(backend, Backend):
        raise TypeError(f"the wasifs backend {name!r} returned {backend!r} "
                        f"({type(backend).__qualname__}), which does not implement the "
                        f"wasifs Backend protocol")
    return backend


def open_backend(obj: Any, **options: Any) -> Backend:
    """The backend that ``obj`` names.

    - a :class:`Backend` instance is returned as it is (``options`` must then be empty);
    - a URL ``NAME://LOCATION``, or a bare ``NAME``, of a registered backend: what its opener
      makes of ``LOCATION`` (see :func:`backend_names`). Built in: ``"memory"`` (also
      ``"wasifs-memory"``), a new :class:`MemoryFileSystem`; ``"native:///abs/dir"`` (also
      ``wasifs-native://``, ``file://``), that host directory. Third-party backends are
      registered under the ``wasifs.backends`` entry-point group;
    - any other ``str`` or ``os.PathLike``: a host directory, as a
      :class:`NativeFileSystem` (write ``"./memory"`` for a host directory called
      ``memory``, as for any registered name).

    ``options`` go to the backend's constructor (for example ``readonly=True``). Raises
    ``TypeError`` for an object that is none of these (an fsspec filesystem that does not
    implement the protocol included) and ``ValueError`` for a URL of an unknown scheme (the
    message lists the known ones) or a location its backend refuses.
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
        scheme, sep, location = obj.partition("://")
        if sep and scheme and "/" not in scheme:
            made = _open(scheme, location, options) if _NAME.match(scheme) else None
            if made is None:
                raise ValueError(
                    f"unsupported backend URL {obj!r}: no backend is registered as "
                    f"{scheme!r}; the known ones are {', '.join(backend_names())} (others "
                    f"register under the {GROUP!r} entry-point group), or give a host "
                    f"directory path")
            return made
        if _NAME.match(obj):
            made = _open(obj, "", options)
            if made is not None:
                return made
        return _native(obj, options)
    kind = type(obj).__module__ + "." + type(obj).__qualname__
    fsspec = sys.modules.get("fsspec")  # an fsspec filesystem exists only once it is imported
    if fsspec is not None and isinstance(obj, fsspec.AbstractFileSystem):
        raise TypeError(
            f"{kind} is an fsspec filesystem that does not implement the wasifs Backend "
            "protocol; mount wasifs.backends.MemoryFileSystem or NativeFileSystem instead")
    raise TypeError(
        f"cannot make a backend from {obj!r} ({kind}): expected a Backend instance, a host "
        "directory (str or os.PathLike) or a URL such as 'memory' or 'native:///dir'")
