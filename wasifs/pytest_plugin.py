"""The wasifs pytest plugin (registered through the ``pytest11`` entry point).

Fixtures only, public pytest API only; wasifs itself is imported lazily inside the fixtures so
that merely having the plugin installed costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .api import RunResult
    from .backends.memory import MemoryFileSystem


@pytest.fixture
def wasi_memfs() -> MemoryFileSystem:
    """A fresh, empty in-memory filesystem (isolated per test)."""
    from .backends.memory import MemoryFileSystem

    return MemoryFileSystem()


@pytest.fixture
def wasi_run(wasi_memfs: MemoryFileSystem) -> Callable[..., RunResult]:
    """``wasi_run(module, *args, **kwargs)``: run a module with ``wasi_memfs`` mounted at ``/``
    (unless ``mounts=`` is given); returns the :class:`wasifs.RunResult`."""
    from .api import run

    def _run(module: Any, *args: str, **kwargs: Any) -> RunResult:
        kwargs.setdefault("mounts", {"/": wasi_memfs})
        if args:
            kwargs["args"] = ("main.wasm", *args)
        return run(module, **kwargs)

    return _run
