"""The backend contract (:mod:`wasifs.testing`) run against every wasifs backend, and against
two real partial backends (a read-only view, a front-to-back store without links or settable
times) that run only the parts they declare and report the rest as not supported."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from wasifs.backends import Backend, DirEntry, HandleFileSystem, MemoryFileSystem, Stat
from wasifs.testing import (
    ALL_CAPABILITIES,
    BackendContract,
    Capability,
    HandleFileSystemContract,
    raises_errno,
    support_matrix,
)

ROOT = Path(__file__).resolve().parents[2]


class TestMemoryBackend(BackendContract):
    backend_name = "memory"

    @pytest.fixture
    def backend(self) -> MemoryFileSystem:
        return MemoryFileSystem()


class TestMemoryFsspecFacade(HandleFileSystemContract):
    backend_name = "memory"

    @pytest.fixture
    def fs(self) -> MemoryFileSystem:
        return MemoryFileSystem()


def _native_class() -> Any:
    return pytest.importorskip("wasifs.backends.native").NativeFileSystem


class TestNativeBackend(BackendContract):
    backend_name = "native"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return _native_class()(tmp_path)  # type: ignore[no-any-return]

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[Backend], Backend]:
        native = _native_class()
        return lambda backend: native(tmp_path, readonly=True)


class TestNativeFsspecFacade(HandleFileSystemContract):
    backend_name = "native"

    @pytest.fixture
    def fs(self, tmp_path: Path) -> HandleFileSystem:
        return _native_class()(tmp_path)  # type: ignore[no-any-return]

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[HandleFileSystem], HandleFileSystem]:
        native = _native_class()
        return lambda fs: native(tmp_path, readonly=True)


# --- partial backends ----------------------------------------------------------------------
def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class _Over:
    """The read side of a backend wrapped around ``inner``, passed through."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    def root(self) -> Any:
        return self._inner.root()

    def opendir(self, dir: Any, name: str) -> Any:
        return self._inner.opendir(dir, name)

    def close(self, handle: Any) -> None:
        self._inner.close(handle)

    def same(self, a: Any, b: Any) -> bool:
        return self._inner.same(a, b)

    def fstat(self, handle: Any) -> Stat:
        return self._inner.fstat(handle)

    def lstat(self, dir: Any, name: str) -> Stat:
        return self._inner.lstat(dir, name)

    def readlink(self, dir: Any, name: str) -> str:
        return self._inner.readlink(dir, name)

    def listdir(self, dir: Any) -> list[DirEntry]:
        return self._inner.listdir(dir)

    def pread(self, file: Any, buf: memoryview, offset: int) -> int:
        return self._inner.pread(file, buf, offset)

    def fsync(self, file: Any, dataonly: bool = False) -> None:
        self._inner.fsync(file, dataonly)


class ReadOnlyView(_Over):
    """A read-only view of another backend (what a read-only archive looks like to wasifs):
    every read goes through to it, every change answers ``EROFS``."""

    readonly = True

    def open_file(self, dir: Any, name: str, *, read: bool, write: bool, create: bool = False,
                  exclusive: bool = False, truncate: bool = False, mode: int = 0o666) -> Any:
        if write or truncate:
            raise _error(errno.EROFS)
        try:
            handle = self._inner.open_file(dir, name, read=read, write=False)
        except FileNotFoundError:
            raise _error(errno.EROFS if create else errno.ENOENT) from None
        if create and exclusive:
            self._inner.close(handle)
            raise _error(errno.EEXIST)
        return handle

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _error(errno.EROFS)

    set_times = fset_times = pwrite = append = ftruncate = allocate = _refuse
    mkdir = rmdir = unlink = rename = link = symlink = _refuse


class FrontToBackStore(_Over):
    """An object-store-like backend over a :class:`MemoryFileSystem`: files are written front
    to back (``pwrite`` at the end, ``append``, or a truncating open), there are no hard links
    or symlinks (``EPERM``, as Linux answers on a filesystem without them) and times cannot
    be set (``ENOTSUP``)."""

    def __init__(self) -> None:
        super().__init__(MemoryFileSystem())

    @property
    def readonly(self) -> bool:
        return self._inner.readonly

    @readonly.setter
    def readonly(self, value: bool) -> None:
        self._inner.readonly = value

    def _refuse(self, code: int) -> OSError:
        return _error(errno.EROFS if self.readonly else code)

    def open_file(self, dir: Any, name: str, *, read: bool, write: bool, create: bool = False,
                  exclusive: bool = False, truncate: bool = False, mode: int = 0o666) -> Any:
        return self._inner.open_file(dir, name, read=read, write=write, create=create,
                                     exclusive=exclusive, truncate=truncate, mode=mode)

    def set_times(self, dir: Any, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        raise self._refuse(errno.ENOTSUP)

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None:
        raise self._refuse(errno.ENOTSUP)

    def pwrite(self, file: Any, data: memoryview | bytes, offset: int) -> int:
        if offset != self._inner.fstat(file).size:
            raise self._refuse(errno.ENOTSUP)
        return self._inner.pwrite(file, data, offset)

    def append(self, file: Any, data: memoryview | bytes) -> tuple[int, int]:
        return self._inner.append(file, data)

    def ftruncate(self, file: Any, size: int) -> None:
        raise self._refuse(errno.ENOTSUP)

    def allocate(self, file: Any, offset: int, length: int) -> None:
        raise self._refuse(errno.ENOTSUP)

    def mkdir(self, dir: Any, name: str, mode: int = 0o777) -> None:
        self._inner.mkdir(dir, name, mode)

    def rmdir(self, dir: Any, name: str) -> None:
        self._inner.rmdir(dir, name)

    def unlink(self, dir: Any, name: str) -> None:
        self._inner.unlink(dir, name)

    def rename(self, src_dir: Any, src: str, dst_dir: Any, dst: str) -> None:
        self._inner.rename(src_dir, src, dst_dir, dst)

    def link(self, src_dir: Any, src: str, dst_dir: Any, dst: str) -> None:
        raise self._refuse(errno.EPERM)

    def symlink(self, target: str, dir: Any, name: str) -> None:
        raise self._refuse(errno.EPERM)


READ_ONLY_VIEW = frozenset({Capability.READONLY, Capability.SYMLINKS, Capability.HARD_LINKS})
FRONT_TO_BACK = frozenset({Capability.WRITE, Capability.ATOMIC_RENAME, Capability.READONLY})


class TestReadOnlyView(BackendContract):
    """Cannot be written: ``backend`` is the staging memory backend that ``make_readonly``
    wraps."""

    backend_name = "read-only view"
    capabilities = READ_ONLY_VIEW

    @pytest.fixture
    def backend(self) -> MemoryFileSystem:
        return MemoryFileSystem()

    @pytest.fixture
    def make_readonly(self) -> Callable[[Backend], Backend]:
        return ReadOnlyView


class TestFrontToBackStore(BackendContract):
    backend_name = "front-to-back store"
    capabilities = FRONT_TO_BACK

    @pytest.fixture
    def backend(self) -> FrontToBackStore:
        return FrontToBackStore()


def test_partial_backends_implement_the_protocol() -> None:
    assert isinstance(ReadOnlyView(MemoryFileSystem()), Backend)
    assert isinstance(FrontToBackStore(), Backend)


def test_partial_backends_run_their_parts_and_report_the_rest() -> None:
    """What a pytest run of the partial backends shows: the parts they declare pass, each
    test of the rest is skipped as "not supported by <backend>: <capabilities>", and every
    test_declared_* (the refusals included) passes."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-p", "no:cacheprovider", "-v", "-rs",
         "-k", "TestReadOnlyView or TestFrontToBackStore", "-o", "addopts="],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr[-3000:]
    results = dict(re.findall(r"::(Test\w+::test_\w+(?:\[[^\]]*\])?) (PASSED|SKIPPED|FAILED)",
                              out))
    for cls in ("TestReadOnlyView", "TestFrontToBackStore"):
        mine = {test: outcome for test, outcome in results.items()
                if test.startswith(cls + "::")}
        for capability in Capability:
            assert mine[f"{cls}::test_declared_{capability}"] == "PASSED"
        assert "SKIPPED" in mine.values() and "PASSED" in mine.values()
        assert "FAILED" not in mine.values()
    reasons: dict[str, int] = {}
    for count, reason in re.findall(r"SKIPPED \[(\d+)\] \S+: (not supported by [^\n]*)", out):
        reasons[reason] = reasons.get(reason, 0) + int(count)
    # The read-only view runs only the read-only part: everything else needs "write".
    assert reasons["not supported by read-only view: write"] > 50
    # The store runs handles, metadata, data, namespace, rename and read-only; the rest is
    # reported with what is missing.
    store = {reason.removeprefix("not supported by front-to-back store: "): count
             for reason, count in reasons.items() if "front-to-back store" in reason}
    for missing in ("hard_links", "symlinks", "times", "random_write"):
        assert store[missing] > 0, store
    passed = [t for t, outcome in results.items()
              if t.startswith("TestFrontToBackStore::") and outcome == "PASSED"]
    for part_test in ("test_pwrite_then_pread_roundtrip", "test_rename_file_over_file_replaces_it",
                      "test_readonly_refuses_every_mutation", "test_listdir_many_entries"):
        assert f"TestFrontToBackStore::{part_test}" in passed


def test_declarations_are_checked_both_ways() -> None:
    """``test_declared_*`` fails a backend that declares what it cannot do, and one that can
    do what it does not declare."""

    class Overclaims(BackendContract):
        capabilities = ALL_CAPABILITIES

    class Underclaims(BackendContract):
        capabilities = ALL_CAPABILITIES - {Capability.SYMLINKS}

    with raises_errno(errno.EPERM):
        Overclaims().test_declared_symlinks(FrontToBackStore())
    with raises_errno(errno.ENOTSUP):
        Overclaims().test_declared_times(FrontToBackStore())
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        Underclaims().test_declared_symlinks(MemoryFileSystem())
    Overclaims().test_declared_symlinks(MemoryFileSystem())


def test_declarations_are_validated() -> None:
    with pytest.raises(TypeError, match="unknown capabilities.*'symlink'"):
        type("Typo", (BackendContract,), {"capabilities": frozenset({"write", "symlink"})})
    with pytest.raises(TypeError, match="must declare 'readonly'"):
        type("Nothing", (BackendContract,), {"capabilities": frozenset({"symlinks"})})
    with pytest.raises(TypeError, match="a set of names"):
        type("Str", (BackendContract,), {"capabilities": "write"})
    plain = cast("type[BackendContract]",
                 type("Plain", (BackendContract,), {"capabilities": {"write", "times"}}))
    assert plain.capabilities == {Capability.WRITE, Capability.TIMES}
    assert plain.declared_name() == "Plain"


def test_support_matrix_renders_the_declarations() -> None:
    table = support_matrix([TestMemoryBackend, TestReadOnlyView, TestFrontToBackStore])
    lines = table.splitlines()
    assert lines[0] == ("| backend | `write` | `random_write` | `atomic_rename` | `hard_links` |"
                        " `symlinks` | `times` | `readonly` |")
    assert lines[2] == "| memory | yes | yes | yes | yes | yes | yes | yes |"
    assert lines[3] == "| read-only view | no | no | no | yes | yes | no | yes |"
    assert lines[4] == "| front-to-back store | yes | no | yes | no | no | no | yes |"
    assert "- `symlinks`: " in table and "`symlink` answers `EPERM`" in table
    assert support_matrix({"front-to-back store": FRONT_TO_BACK}).splitlines()[2] == lines[4]


def test_docs_support_matrix_is_generated_from_the_declarations() -> None:
    """docs/backends.md carries the table that support_matrix makes of every backend's
    declarations."""
    docs = (ROOT / "docs" / "backends.md").read_text(encoding="utf-8")
    begin, end = "<!-- support-matrix: begin -->\n", "<!-- support-matrix: end -->"
    assert begin in docs and end in docs
    committed = docs.split(begin, 1)[1].split(end, 1)[0]
    from .test_faults import TestFaultsNativeWithoutFaults as FaultsNative
    from .test_faults import TestFaultsWithoutFaults as Faults
    from .test_overlay import TestOverlayBackend as Overlay
    from .test_overlay import TestOverlayNativeLower as OverlayNativeLower
    from .test_overlay import TestOverlayNativeUpper as OverlayNativeUpper
    from .test_sandbox import TestSandboxMemory as Sandbox
    from .test_sandbox import TestSandboxNative as SandboxNative

    generated = support_matrix([TestMemoryBackend, TestNativeBackend, *_adapter_contracts(),
                                Overlay, OverlayNativeLower, OverlayNativeUpper, Sandbox,
                                SandboxNative, Faults, FaultsNative])
    assert committed == generated, (
        "docs/backends.md is out of date; put this between the support-matrix markers:\n"
        + generated)


def _adapter_contracts() -> list[type[BackendContract]]:
    """The fsspec adapter's and PyFilesystem2's contract classes (modules imported, not
    their classes, so pytest does not collect them twice)."""
    from . import test_fsspec_backend, test_pyfs_backend, test_s3_backend

    return [*test_fsspec_backend.CONTRACTS, *test_pyfs_backend.CONTRACTS,
            *test_s3_backend.CONTRACTS]
