"""The backend contract (:mod:`wasifs.testing`) run against every wasifs backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wasifs.backends import Backend, HandleFileSystem, MemoryFileSystem
from wasifs.testing import BackendContract, HandleFileSystemContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> MemoryFileSystem:
        return MemoryFileSystem()


class TestMemoryFsspecFacade(HandleFileSystemContract):
    @pytest.fixture
    def fs(self) -> MemoryFileSystem:
        return MemoryFileSystem()


def _native_class() -> Any:
    return pytest.importorskip("wasifs.backends.native").NativeFileSystem


class TestNativeBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return _native_class()(tmp_path)  # type: ignore[no-any-return]

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[Backend], Backend]:
        native = _native_class()
        return lambda backend: native(tmp_path, readonly=True)


class TestNativeFsspecFacade(HandleFileSystemContract):
    @pytest.fixture
    def fs(self, tmp_path: Path) -> HandleFileSystem:
        native = _native_class()
        if not issubclass(native, HandleFileSystem):
            pytest.skip("NativeFileSystem is not a HandleFileSystem subclass yet")
        return native(tmp_path)  # type: ignore[no-any-return]

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[HandleFileSystem], HandleFileSystem]:
        native = _native_class()
        return lambda fs: native(tmp_path, readonly=True)
