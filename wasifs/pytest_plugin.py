"""The wasifs pytest plugin, registered through the ``pytest11`` entry point.

Fixtures (public pytest API only; wasifs is imported inside them, so having the plugin
installed costs nothing):

``wasi_fs``
    a fresh filesystem for the test: in-memory by default; the ``wasi_backends`` marker or the
    ``--wasi-backend`` option runs the test once per backend (``memory``, ``native``).
``wasi_run``
    ``wasi_run(module, *args, files=..., stdin=..., env=..., **run_kwargs)``: writes ``files``
    (a tree, see :mod:`wasifs.trees`) into ``wasi_fs``, mounts it at ``/`` and runs the
    module; returns a :class:`WasiTestResult` (exit code, stdout, stderr, ``tree``).
``wasi_build``
    ``wasi_build.c(source_or_path, flags=...)`` and ``wasi_build.wat(text)``: build a guest
    inside the test, cached by content across tests and sessions.
``wasi_arun``
    the async form of ``wasi_run``: ``await wasi_arun(module, *args, files=..., **kwargs)``
    (:func:`wasifs.aio.arun`; needs the ``async`` extra).
``wasi_apath``
    async file access to ``wasi_fs``: a :class:`wasifs.aio.AsyncPath` at its root
    (``await (wasi_apath / "a.txt").read_bytes()``, ``async with p.open("rb") as f``).

The async fixtures are plain fixtures that return async objects, so they work in async
tests run by pytest-asyncio (strict or auto mode) and by anyio's pytest plugin alike, on
asyncio or trio.

``assert_tree`` (a plain function, ``from wasifs.trees import assert_tree``) compares trees
with a readable diff.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .aio import AsyncPath
    from .api import RunResult
    from .backends import Backend

BACKENDS = ("memory", "native")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wasifs")
    group.addoption(
        "--wasi-backend", action="store", default=None, metavar="NAMES",
        help="comma-separated backends for the wasi_fs fixture (memory,native); "
             "default: memory, or what a test's wasi_backends marker names")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wasi_backends(*names): run the test once per wasifs backend (memory, native) "
        "through the wasi_fs fixture")


def _backend_names(metafunc: pytest.Metafunc) -> list[str]:
    marker = metafunc.definition.get_closest_marker("wasi_backends")
    option = metafunc.config.getoption("--wasi-backend")
    if option:
        names = [n.strip() for n in option.split(",") if n.strip()]
    elif marker is not None:
        names = list(marker.args) or list(BACKENDS)
    else:
        names = ["memory"]
    for n in names:
        if n not in BACKENDS:
            raise pytest.UsageError(f"unknown wasifs backend {n!r}; choose from {BACKENDS}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wasi_fs" in metafunc.fixturenames:
        names = _backend_names(metafunc)
        metafunc.parametrize("wasi_backend_name", names, ids=names, scope="function")


@pytest.fixture
def wasi_backend_name() -> str:
    """The backend ``wasi_fs`` uses (parametrized by the marker or ``--wasi-backend``)."""
    return "memory"


@pytest.fixture
def wasi_fs(wasi_backend_name: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty filesystem for this test (isolated from every other test)."""
    if wasi_backend_name == "native":
        from .backends.native import NativeFileSystem

        root = tmp_path / "wasi-root"
        root.mkdir()
        yield NativeFileSystem(root)
    else:
        from .backends.memory import MemoryFileSystem

        yield MemoryFileSystem()


class WasiTestResult:
    """What :func:`wasi_run` returns: the :class:`wasifs.RunResult` fields plus ``tree``."""

    def __init__(self, result: RunResult, fs: Backend) -> None:
        self.result = result
        self.fs = fs

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    @property
    def stdout(self) -> bytes:
        return self.result.stdout

    @property
    def stderr(self) -> bytes:
        return self.result.stderr

    @property
    def trap(self) -> str | None:
        return self.result.trap

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8."""
        return self.result.stdout.decode("utf-8", "replace")

    @property
    def tree(self) -> dict[str, Any]:
        """The whole filesystem after the run (see :func:`wasifs.trees.read_tree`)."""
        from .trees import read_tree

        return read_tree(self.fs)

    async def atree(self) -> dict[str, Any]:
        """:attr:`tree` for async tests: read in a worker thread, off the event loop."""
        import anyio.to_thread

        from .trees import read_tree

        return await anyio.to_thread.run_sync(read_tree, self.fs)

    def check(self) -> WasiTestResult:
        self.result.check()
        return self

    def __repr__(self) -> str:
        return (f"<WasiTestResult exit_code={self.exit_code} stdout={self.stdout[:80]!r} "
                f"stderr={self.stderr[:80]!r}>")


@pytest.fixture
def wasi_run(wasi_fs: Backend) -> Callable[..., WasiTestResult]:
    """``wasi_run(module, *args, files=None, **run_kwargs)``: run a WASI command with
    ``wasi_fs`` at ``/`` (after writing ``files`` into it). ``args`` become argv[1:]."""
    from .api import run
    from .trees import write_tree

    def _run(module: Any, *args: str, files: Mapping[str, Any] | None = None,
             mounts: Mapping[str, Any] | None = None, **kwargs: Any) -> WasiTestResult:
        if files:
            write_tree(wasi_fs, files)
        if mounts is None:
            mounts = {"/": wasi_fs}
        kwargs.setdefault("args", (_program(module), *args))
        return WasiTestResult(run(module, mounts=mounts, **kwargs), wasi_fs)

    return _run


@pytest.fixture
def wasi_arun(wasi_fs: Backend) -> Callable[..., Awaitable[WasiTestResult]]:
    """``await wasi_arun(module, *args, files=None, **run_kwargs)``: :func:`wasi_run` for
    async tests (the guest runs through :func:`wasifs.aio.arun`; ``files`` are written
    before, off the event loop)."""
    from .aio import arun
    from .trees import write_tree

    async def _arun(module: Any, *args: str, files: Mapping[str, Any] | None = None,
                    mounts: Mapping[str, Any] | None = None, **kwargs: Any
                    ) -> WasiTestResult:
        if files:
            import anyio.to_thread

            await anyio.to_thread.run_sync(write_tree, wasi_fs, files)
        if mounts is None:
            mounts = {"/": wasi_fs}
        kwargs.setdefault("args", (_program(module), *args))
        return WasiTestResult(await arun(module, mounts=mounts, **kwargs), wasi_fs)

    return _arun


@pytest.fixture
def wasi_apath(wasi_fs: Backend) -> AsyncPath:
    """``wasi_fs``'s root as a :class:`wasifs.aio.AsyncPath` (async file access)."""
    from .aio import AsyncPath

    return AsyncPath(wasi_fs)


def _program(module: Any) -> str:
    if isinstance(module, (str, Path)) and not str(module).lstrip().startswith("("):
        return os.path.basename(os.fspath(module))
    return "main.wasm"


class GuestBuilder:
    """Builds guests inside tests: C with zig's clang (the ``ziglang`` wheel), WAT with
    wasmtime. Results are cached by content (``$WASIFS_CACHE_DIR`` or ~/.cache/wasifs)."""

    def c(self, source: str | bytes | Path, flags: Sequence[str] = ()) -> bytes:
        """Compile C source text (or a ``Path`` to a ``.c`` file) to a wasm32-wasi module."""
        from .toolchain import compile_c

        return compile_c(source, flags=flags)

    def wat(self, text: str | bytes) -> bytes:
        """Assemble WebAssembly text."""
        from .toolchain import wat_to_wasm

        return wat_to_wasm(text)


@pytest.fixture(scope="session")
def wasi_build() -> GuestBuilder:
    """Build guests from C source or WAT, cached by content."""
    return GuestBuilder()
