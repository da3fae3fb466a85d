"""Bulk checksums and content scans over a filesystem: on a GPU (numba-cuda) or the CPU.

::

    import wasifs.cuda as wc

    sums = wc.checksum(fs, "**/*.bin")                # {path: zlib.crc32 of the file}
    hits = wc.scan(fs, None, [b"BEGIN KEY", b"\\x7fELF"], ignore_case=False)
    # [Match(path='/a.bin', offset=1024, pattern=0), ...]

    with wc.load(fs, device="cuda") as tree:           # copy the bytes to the GPU once
        before = wc.checksum(tree)
        found = wc.scan(tree, None, [b"marker"], count=True)

``fs`` is a wasifs backend (``MemoryFileSystem``, ``NativeFileSystem``, ...; files are read
through the backend protocol), a :class:`wasifs.Path`, any fsspec filesystem, or a host
directory / URL. ``device="auto"`` uses the GPU when one is usable and the best CPU
library otherwise (``zlib``, ``crc32c``, ``hyperscan``); results are identical either way.
An ``executor`` (``concurrent.futures`` or a ``dask.distributed.Client``) spreads the files
over workers by bytes. See ``docs/cuda.md`` for the algorithms and when the GPU pays off.

``add_parsers(subparsers)`` adds the ``wasifs checksum`` and ``wasifs scan`` commands to an
argparse parser (the ``wasifs`` command line uses it).

Importing this module imports neither numba nor numpy (nor the rest of wasifs.cuda: the
names load on first use, PEP 562); numba and numpy load on the first call that needs them
(the CUDA path, the numba CPU scanner).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import ALGORITHMS, Match, Resident, available, checksum, load, scan
    from ._cli import add_parsers
    from ._cpu import MissingDependencyError
    from ._source import FileChangedError

__all__ = (
    "checksum",
    "scan",
    "load",
    "available",
    "Match",
    "Resident",
    "FileChangedError",
    "MissingDependencyError",
    "ALGORITHMS",
    "add_parsers",
)

_LAZY = {
    "checksum": "._api",
    "scan": "._api",
    "load": "._api",
    "available": "._api",
    "Match": "._api",
    "Resident": "._api",
    "ALGORITHMS": "._api",
    "FileChangedError": "._source",
    "MissingDependencyError": "._cpu",
    "add_parsers": "._cli",
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
