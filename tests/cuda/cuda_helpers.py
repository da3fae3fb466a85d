"""Trees and the ``re`` reference for the wasifs.cuda tests."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping

import pytest

from wasifs.backends.memory import MemoryFileSystem
from wasifs.path import Path


def make_tree(files: Mapping[str, bytes], fs: MemoryFileSystem | None = None
              ) -> MemoryFileSystem:
    """A memory backend holding ``files`` ({"/a/b": data})."""
    fs = fs or MemoryFileSystem()
    for name, data in files.items():
        p = Path(fs, name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return fs


def reference(files: Mapping[str, bytes], patterns: list[bytes], ignore_case: bool = False
              ) -> list[tuple[str, int, int]]:
    """Every (path, start, pattern index): ``re`` with a lookahead, one pattern at a time."""
    flags = re.IGNORECASE if ignore_case else 0
    out = [(path, m.start(), i)
           for path, data in files.items()
           for i, p in enumerate(patterns)
           for m in re.finditer(b"(?=" + re.escape(p) + b")", data, flags)]
    out.sort()
    return out


def reference_counts(files: Mapping[str, bytes], patterns: list[bytes],
                     ignore_case: bool = False) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for path, _, i in reference(files, patterns, ignore_case):
        out.setdefault(path, [0] * len(patterns))[i] += 1
    return out


def needs(module: str) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Skip when an optional package is missing (the test extra installs them all)."""
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is not installed")
