"""fsspec's own abstract test-suite (shipped in the fsspec wheel, ``fsspec.tests.abstract``)
against wasifs's filesystems: proof that they are valid fsspec filesystems.

The suite assumes that writing a file creates its missing parent directories (its local side
uses ``LocalFileSystem(auto_mkdir=True)``), so the filesystems under test are made with
``auto_mkdir=True``; without it those cases fail with ``FileNotFoundError``, as POSIX says.
No case needs an xfail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fsspec.tests import abstract  # type: ignore[import-untyped]

from wasifs.backends import HandleFileSystem, MemoryFileSystem


class MemoryFixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    """A fresh, isolated filesystem per test. Paths are "/"-joined from the root, as
    ``fs_path`` is the root itself ("" joined with "/" gives "/source")."""

    @pytest.fixture
    def fs(self) -> Iterator[MemoryFileSystem]:
        yield MemoryFileSystem(auto_mkdir=True)

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return lambda *parts: "/".join(parts)

    @pytest.fixture
    def fs_path(self) -> str:
        return ""


class TestMemoryCopy(abstract.AbstractCopyTests, MemoryFixtures):  # type: ignore[misc]
    pass


class TestMemoryGet(abstract.AbstractGetTests, MemoryFixtures):  # type: ignore[misc]
    pass


class TestMemoryPut(abstract.AbstractPutTests, MemoryFixtures):  # type: ignore[misc]
    pass


class TestMemoryOpen(abstract.AbstractOpenTests, MemoryFixtures):  # type: ignore[misc]
    pass


class TestMemoryPipe(abstract.AbstractPipeTests, MemoryFixtures):  # type: ignore[misc]
    pass


class NativeFixtures(MemoryFixtures):
    """The same, on a host directory of its own (``tmpdir``, the suite's local side, is
    another one)."""

    @pytest.fixture
    def fs(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
        native = pytest.importorskip("wasifs.backends.native").NativeFileSystem
        if not issubclass(native, HandleFileSystem):
            pytest.skip("NativeFileSystem is not a HandleFileSystem subclass yet")
        yield native(tmp_path_factory.mktemp("native"), auto_mkdir=True)


class TestNativeCopy(abstract.AbstractCopyTests, NativeFixtures):  # type: ignore[misc]
    pass


class TestNativeGet(abstract.AbstractGetTests, NativeFixtures):  # type: ignore[misc]
    pass


class TestNativePut(abstract.AbstractPutTests, NativeFixtures):  # type: ignore[misc]
    pass


class TestNativeOpen(abstract.AbstractOpenTests, NativeFixtures):  # type: ignore[misc]
    pass


class TestNativePipe(abstract.AbstractPipeTests, NativeFixtures):  # type: ignore[misc]
    pass
