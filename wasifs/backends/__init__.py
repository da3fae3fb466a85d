"""Storage backends: what a WASI guest's files live on. They know nothing of WASI.

Every backend implements the :class:`Backend` protocol (POSIX ``*at`` calls on directory
handles, see :mod:`wasifs.backends._protocol`). wasifs's own backends are also fsspec
filesystems, registered under the protocols ``"wasifs-memory"`` and ``"wasifs-native"``:

- :class:`MemoryFileSystem`: an isolated in-memory inode tree (the default mount);
- :class:`NativeFileSystem`: a host directory, confined to it;
- :class:`OverlayFileSystem`: a writable upper layer over a read-only lower one
  (copy-on-write, whiteouts; :meth:`~OverlayFileSystem.changes` and
  :meth:`~OverlayFileSystem.export` give what the guest changed);
- :class:`HandleFileSystem`: the base class that gives a protocol implementation the fsspec
  API (the fsspec facade);
- :class:`FsspecBackend`: any fsspec filesystem (zip, tar, s3, local, memory, chained URLs)
  as a backend, the other way round (:mod:`wasifs.backends.fsspec`);
- :class:`PyfsBackend`: any PyFilesystem2 ``FS`` object as a backend (the ``pyfs`` extra,
  :mod:`wasifs.backends.pyfs`);
- :class:`SandboxFileSystem`: any backend with limits: read-only, hidden paths,
  :class:`Quota` (bytes, files, directories, descriptors, file size, path length, depth)
  and :class:`Rate` (:mod:`wasifs.backends.sandbox`);
- :class:`FaultyFileSystem`: any backend with injected failures (``EIO``, ``ENOSPC``, short
  writes, failing closes), chosen or random and seeded, for tests
  (:mod:`wasifs.backends.faults`).

Backends by name: :func:`open_backend` opens ``"memory"``, ``"native:///dir"`` and every
backend that a distribution registers under the ``wasifs.backends`` entry-point group
(:func:`backend_names` lists them; :data:`BUILTIN` maps the built-in names to their openers).
The protocol's bounds: :data:`NAME_MAX` and :data:`PATH_MAX` (Linux's), :func:`name_too_long`.

The host side, written once for every backend (what :class:`wasifs.Path`, the fsspec facade
and :mod:`wasifs.transfer` are made of):

- :func:`resolve` / :class:`Location`: the host-side path walker (:data:`MAX_SYMLINKS`);
  :class:`DirChain`, :class:`TreeWalk` and :func:`walk_dirs`: iterative tree walks;
- :class:`BackendFileIO`: a binary file object over a backend file handle;
- :func:`copy_tree` / :func:`copy_file` / :func:`remove_entry` / :func:`clear_dir`, and the
  data pump :func:`pump` with :func:`backend_reader` / :func:`backend_writer`: copying and
  removing through the protocol (a :class:`Baseline` records what a copy put where;
  :data:`Progress` is the type of progress callbacks, :func:`temp_name` the name of an
  entry being written); :func:`makedirs`: ``mkdir -p`` in one walk;
- :func:`mirror_tree`: writing a tree back without ever losing data, with a
  :class:`WriteBackReport` of exactly what it did (:class:`WriteBackError` when not
  everything was applied); :func:`archive_tree` / :func:`save_tree`: a tree as a tar archive;
- :func:`relabel` / :func:`errno_of`: an ``OSError`` naming full paths;
- :class:`SubtreeLock`, :func:`lock_request` / :func:`host_request` and :func:`locking`:
  advisory subtree locks between host users (:mod:`wasifs.backends._locks`, the core of
  :func:`wasifs.lock`).

The filesystem classes are imported on first use (PEP 562): importing this package never
imports fsspec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._copy import (
    CHUNK,
    BaseEntry,
    Baseline,
    Progress,
    backend_reader,
    backend_writer,
    clear_dir,
    copy_file,
    copy_tree,
    pump,
    remove_entry,
    set_times_where_supported,
    temp_name,
)
from ._errors import errno_of, relabel
from ._file import BackendFileIO
from ._locks import LockRequest, SubtreeLock, host_request, locking
from ._locks import request as lock_request
from ._protocol import NAME_MAX, PATH_MAX, Backend, DirEntry, Stat, name_too_long
from ._registry import BUILTIN, GROUP, backend_names, open_backend
from ._walk import MAX_SYMLINKS, DirChain, Location, TreeWalk, makedirs, resolve, walk_dirs

if TYPE_CHECKING:
    from ._facade import HandleFileSystem
    from ._mirror import (
        WriteBackChange,
        WriteBackConflict,
        WriteBackError,
        WriteBackReport,
        archive_tree,
        mirror_tree,
        save_tree,
    )
    from .faults import Fault, FaultyFileSystem
    from .fsspec import FsspecBackend
    from .memory import MemoryFileSystem
    from .native import NativeFileSystem
    from .overlay import Change, ChangeKind, OverlayFileSystem
    from .pyfs import PyfsBackend
    from .sandbox import Quota, Rate, SandboxFileSystem, Usage

__all__ = (
    "Backend",
    "Stat",
    "DirEntry",
    "HandleFileSystem",
    "MemoryFileSystem",
    "NativeFileSystem",
    "open_backend",
    "backend_names",
    "GROUP",
    "BackendFileIO",
    "MAX_SYMLINKS",
    "Location",
    "resolve",
    "DirChain",
    "TreeWalk",
    "walk_dirs",
    "CHUNK",
    "copy_tree",
    "mirror_tree",
    "copy_file",
    "remove_entry",
    "clear_dir",
    "pump",
    "backend_reader",
    "backend_writer",
    "set_times_where_supported",
    "relabel",
    "errno_of",
    "FsspecBackend",
    "PyfsBackend",
    "OverlayFileSystem",
    "Change",
    "ChangeKind",
    "Baseline",
    "BaseEntry",
    "WriteBackReport",
    "WriteBackChange",
    "WriteBackConflict",
    "WriteBackError",
    "archive_tree",
    "save_tree",
    "SandboxFileSystem",
    "Quota",
    "Rate",
    "Usage",
    "FaultyFileSystem",
    "Fault",
    "SubtreeLock",
    "LockRequest",
    "lock_request",
    "host_request",
    "locking",
    "NAME_MAX",
    "PATH_MAX",
    "name_too_long",
    "BUILTIN",
    "makedirs",
    "Progress",
    "temp_name",
)

_LAZY = {
    "HandleFileSystem": "._facade",
    "MemoryFileSystem": ".memory",
    "NativeFileSystem": ".native",
    "FsspecBackend": ".fsspec",
    "PyfsBackend": ".pyfs",
    "OverlayFileSystem": ".overlay",
    "Change": ".overlay",
    "ChangeKind": ".overlay",
    "SandboxFileSystem": ".sandbox",
    "Quota": ".sandbox",
    "Rate": ".sandbox",
    "Usage": ".sandbox",
    "FaultyFileSystem": ".faults",
    "Fault": ".faults",
    # the write-back mirror: only a write-back (the CLI's, or the caller's) needs it
    "WriteBackChange": "._mirror",
    "WriteBackConflict": "._mirror",
    "WriteBackError": "._mirror",
    "WriteBackReport": "._mirror",
    "archive_tree": "._mirror",
    "mirror_tree": "._mirror",
    "save_tree": "._mirror",
}

#: fsspec protocol names, registered through the ``fsspec.specs`` entry points in
#: pyproject.toml: fsspec imports the classes only when a protocol is used, and importing
#: wasifs never imports fsspec.
PROTOCOLS = {
    "wasifs-memory": "wasifs.backends.memory.MemoryFileSystem",
    "wasifs-native": "wasifs.backends.native.NativeFileSystem",
    "wasifs-overlay": "wasifs.backends.overlay.OverlayFileSystem",
    "wasifs-sandbox": "wasifs.backends.sandbox.SandboxFileSystem",
    "wasifs-faults": "wasifs.backends.faults.FaultyFileSystem",
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
