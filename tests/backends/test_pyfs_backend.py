"""PyFilesystem2 objects as backends (:class:`wasifs.backends.PyfsBackend`): the contract
suite over ``MemoryFS`` and ``OSFS``, errors mapped by the wrapped errno first, the ``pyfs``
extra importing cleanly, and ``fs`` imported only when a PyFilesystem2 object is used."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from wasifs.backends import Backend, open_backend
from wasifs.testing import BackendContract, create_file, raises_errno, read_file

from .test_fsspec_backend import WRITABLE

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*pkg_resources", category=Warning)
    import fs.errors
    import fs.memoryfs
    import fs.osfs

from wasifs.backends.pyfs import PyfsBackend, oserror  # noqa: E402


class TestPyfsMemory(BackendContract):
    backend_name = "pyfs-memory"
    capabilities = WRITABLE

    @pytest.fixture
    def backend(self) -> PyfsBackend:
        return PyfsBackend(fs.memoryfs.MemoryFS())


class TestPyfsOS(BackendContract):
    backend_name = "pyfs-osfs"
    capabilities = WRITABLE

    @pytest.fixture
    def backend(self, tmp_path: Path) -> PyfsBackend:
        return PyfsBackend(fs.osfs.OSFS(str(tmp_path)))

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> object:
        return lambda backend: PyfsBackend(fs.osfs.OSFS(str(tmp_path)), readonly=True)


CONTRACTS: list[type[BackendContract]] = [TestPyfsMemory, TestPyfsOS]


def test_errors_map_by_the_wrapped_errno_first(tmp_path: Path) -> None:
    """OSFS reports a file in the middle of a path as ResourceNotFound (the class says
    ENOENT); the errno it wraps says ENOTDIR, and that is what the backend answers."""
    (tmp_path / "file").write_bytes(b"")
    osfs = fs.osfs.OSFS(str(tmp_path))
    with pytest.raises(fs.errors.FSError) as info:
        osfs.listdir("file")
    assert oserror(info.value, "file").errno == errno.ENOTDIR
    assert oserror(fs.errors.ResourceNotFound("x"), "x").errno == errno.ENOENT
    assert oserror(fs.errors.DirectoryNotEmpty("x"), "x").errno == errno.ENOTEMPTY
    assert type(oserror(fs.errors.ResourceNotFound("x"), "x")) is FileNotFoundError
    backend = PyfsBackend(osfs)
    with raises_errno(errno.ENOTDIR):
        backend.opendir(backend.root(), "file")


def test_registry_opens_pyfs_objects_and_urls(tmp_path: Path) -> None:
    mem = fs.memoryfs.MemoryFS()
    mem.makedir("d")
    mem.writebytes("d/f", b"pyfs")
    backend = open_backend(mem, root="d")
    assert isinstance(backend, PyfsBackend)
    assert read_file(backend, backend.root(), "f") == b"pyfs"
    (tmp_path / "g").write_bytes(b"host")
    backend = open_backend(f"pyfs://osfs://{tmp_path}", readonly=True)
    assert isinstance(backend, PyfsBackend) and backend.readonly
    assert read_file(backend, backend.root(), "g") == b"host"
    with raises_errno(errno.EROFS):
        create_file(backend, backend.root(), "new")


def test_read_only_filesystems_are_read_only() -> None:
    mem = fs.memoryfs.MemoryFS()
    mem.writebytes("f", b"x")
    from fs.wrap import read_only

    backend: Backend = PyfsBackend(read_only(mem))
    assert backend.readonly
    with raises_errno(errno.EROFS):
        backend.open_file(backend.root(), "f", read=True, write=True)


def test_renames_on_osfs_are_the_hosts(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"1")
    ino = os.stat(tmp_path / "a").st_ino
    backend = PyfsBackend(fs.osfs.OSFS(str(tmp_path)))
    root = backend.root()
    backend.mkdir(root, "b")
    backend.rename(root, "a", root, "b")  # over an empty directory, in one rename(2)
    assert os.stat(tmp_path / "b").st_ino == ino
    assert (tmp_path / "b" / "f").read_bytes() == b"1"


def test_pyfs_imports_with_warnings_as_errors_and_only_when_used() -> None:
    """``wasifs.backends.pyfs`` imports ``fs`` with warnings as errors (setuptools 80/81
    deprecate the pkg_resources that fs imports), and importing ``wasifs.backends`` never
    imports ``fs``."""
    code = ("import sys, wasifs.backends; assert 'fs' not in sys.modules;"
            "import wasifs.backends.pyfs; assert 'fs' in sys.modules")
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
