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
           "open_fsspec", "open_pyfs", "open_overlay", "open_sandbox", "open_faults")

#: The entry-point group that names backends.
GROUP = "wasifs.backends"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-_]*\Z")


def open_memory(location: str, **options: Any) -> Backend:
    """``memory``, ``memory://`` (also ``wasifs-memory``): a new, empty
    :class:`~wasifs.backends.MemoryFileSystem`. ``memory://PATH`` (a location) is fsspec's
    URL: the folder ``PATH`` of fsspec's own memory store, through the fsspec adapter."""
    if location:
        return open_fsspec("memory://" + location, **options)
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


def open_fsspec(location: str, **options: Any) -> Backend:
    """``fsspec://URL``: the fsspec URL ``URL`` (any protocol fsspec knows, chained URLs
    included) through :class:`~wasifs.backends.fsspec.FsspecBackend`. A URL whose scheme is
    not a wasifs name but one fsspec knows (``zip://``, ``s3://``, ``zip::s3://`` ...) opens
    the same way without the prefix."""
    from .fsspec import open_fsspec as opener

    return opener(location, **options)


def open_pyfs(location: str, **options: Any) -> Backend:
    """``pyfs://FS_URL``: PyFilesystem2's ``fs.open_fs(FS_URL)`` (``pyfs://mem://``,
    ``pyfs://osfs:///dir``) through :class:`~wasifs.backends.pyfs.PyfsBackend` (the
    ``pyfs`` extra)."""
    from .pyfs import open_pyfs as opener

    return opener(location, **options)
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


def open_sandbox(location: str, **options: Any) -> Backend:
    """``sandbox://INNER`` (also ``wasifs-sandbox://``): a
    :class:`~wasifs.backends.SandboxFileSystem` over ``INNER`` (any URL or host directory
    :func:`open_backend` takes; a bare ``sandbox`` is over a new memory backend), with the
    options ``readonly=``, ``hide=``, ``quota=``, ``rate=``, ``cancel=``, ``sleep=``."""
    from .sandbox import SandboxFileSystem

    return SandboxFileSystem(location or "memory", **options)


def open_faults(location: str, **options: Any) -> Backend:
    """``faults://INNER`` (also ``wasifs-faults://``): a
    :class:`~wasifs.backends.FaultyFileSystem` over ``INNER`` (a bare ``faults`` is over a
    new memory backend), with the options ``rules=``, ``seed=``, ``rate=``, ``errors=``."""
    from .faults import FaultyFileSystem

    return FaultyFileSystem(location or "memory", **options)


#: The built-in names, as pyproject.toml declares them (a test keeps the two equal).
BUILTIN: dict[str, str] = {
    "memory": "wasifs.backends._registry:open_memory",
    "wasifs-memory": "wasifs.backends._registry:open_memory",
    "native": "wasifs.backends._registry:open_native",
    "wasifs-native": "wasifs.backends._registry:open_native",
    "file": "wasifs.backends._registry:open_native",
    "fsspec": "wasifs.backends._registry:open_fsspec",
    "pyfs": "wasifs.backends._registry:open_pyfs",
    "overlay": "wasifs.backends._registry:open_overlay",
    "wasifs-overlay": "wasifs.backends._registry:open_overlay",
    "sandbox": "wasifs.backends._registry:open_sandbox",
    "wasifs-sandbox": "wasifs.backends._registry:open_sandbox",
    "faults": "wasifs.backends._registry:open_faults",
    "wasifs-faults": "wasifs.backends._registry:open_faults",
}
_BUILTIN_OPENERS: dict[str, Callable[..., Backend]] = {
    "wasifs.backends._registry:open_memory": open_memory,
    "wasifs.backends._registry:open_native": open_native,
    "wasifs.backends._registry:open_fsspec": open_fsspec,
    "wasifs.backends._registry:open_pyfs": open_pyfs,
    "wasifs.backends._registry:open_overlay": open_overlay,
    "wasifs.backends._registry:open_sandbox": open_sandbox,
    "wasifs.backends._registry:open_faults": open_faults,
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
    - a URL of a protocol fsspec knows that is not a wasifs name (``zip://``, ``tar://``,
      ``s3://``, ``memory://PATH``), or a chained fsspec URL (``zip::s3://bucket/a.zip``):
      that filesystem through :class:`~wasifs.backends.fsspec.FsspecBackend`, as
      :func:`fsspec.core.url_to_fs` understands the URL;
    - an :class:`fsspec.AbstractFileSystem` instance: an
      :class:`~wasifs.backends.fsspec.FsspecBackend` over it (``options``: ``root=``,
      ``readonly=`` ...); a PyFilesystem2 ``fs.base.FS`` object: a
      :class:`~wasifs.backends.pyfs.PyfsBackend` over it;
    - any other ``str`` or ``os.PathLike``: a host directory, as a
      :class:`NativeFileSystem` (write ``"./memory"`` for a host directory called
      ``memory``, as for any registered name).

    ``options`` go to the backend's constructor (for example ``readonly=True``). Raises
    ``TypeError`` for an object that is none of these and ``ValueError`` for a URL of a
    scheme neither wasifs nor fsspec knows (the message lists the known ones) or a location
    its backend refuses.
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
        if _chained(obj):
            return open_fsspec(obj, **options)
        scheme, sep, location = obj.partition("://")
        if sep and scheme and "/" not in scheme:
            made = _open(scheme, location, options) if _NAME.match(scheme) else None
            if made is None and _fsspec_knows(scheme):
                return open_fsspec(obj, **options)
            if made is None:
                raise ValueError(
                    f"unsupported backend URL {obj!r}: no backend is registered as "
                    f"{scheme!r} and fsspec knows no such protocol; the known ones are "
                    f"{', '.join(backend_names())} and fsspec's protocols (others register "
                    f"under the {GROUP!r} entry-point group), or give a host directory path")
            return made
        if _NAME.match(obj):
            made = _open(obj, "", options)
            if made is not None:
                return made
        return _native(obj, options)
    kind = type(obj).__module__ + "." + type(obj).__qualname__
    fsspec = sys.modules.get("fsspec")  # an fsspec filesystem exists only once it is imported
    if fsspec is not None and isinstance(obj, fsspec.AbstractFileSystem):
        from .fsspec import FsspecBackend

        return FsspecBackend(obj, **options)
    pyfs = sys.modules.get("fs.base")  # likewise a PyFilesystem2 object
    if pyfs is not None and isinstance(obj, pyfs.FS):
        from .pyfs import PyfsBackend

        return PyfsBackend(obj, **options)
    raise TypeError(
        f"cannot make a backend from {obj!r} ({kind}): expected a Backend instance, an "
        "fsspec or PyFilesystem2 filesystem, a host directory (str or os.PathLike) or a URL "
        "such as 'memory', 'native:///dir' or 'zip://::/data/a.zip'")


def _chained(url: str) -> bool:
    """Whether ``url`` is a chained fsspec URL (``zip::s3://...``, ``zip://a::file:///x``)
    whose first level is a protocol fsspec knows."""
    first, sep, _rest = url.partition("::")
    if not sep:
        return False
    scheme = first.partition("://")[0]
    return bool(_NAME.match(scheme)) and _fsspec_knows(scheme)


def _fsspec_knows(scheme: str) -> bool:
    from fsspec.registry import known_implementations, registry  # type: ignore[import-untyped]

    return scheme in registry or scheme in known_implementations
