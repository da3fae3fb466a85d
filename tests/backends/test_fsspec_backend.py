"""The fsspec adapter (:class:`wasifs.backends.FsspecBackend`): the contract suite over fsspec's
local and memory filesystems and over zip and tar archives (read-only), each declaring what it
supports; and what the adapter emulates (spooled writes, write-back errors, inode numbers,
directories, fsspec's traps kept away from the guest)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem as FsspecMemory
from fsspec.implementations.tar import TarFileSystem

from wasifs.backends import Backend, FsspecBackend, MemoryFileSystem, open_backend
from wasifs.testing import BackendContract, Capability, create_file, raises_errno, read_file

from ._archives import pack_tar, pack_zip

#: What the adapter gives over a writable fsspec filesystem with a rename (local) or whose
#: moves happen inside this process (memory): no links, no settable times.
WRITABLE = frozenset({Capability.WRITE, Capability.RANDOM_WRITE, Capability.ATOMIC_RENAME,
                      Capability.READONLY})
#: fsspec's local filesystem: the host's own, with its symlinks, hard links and times.
LOCAL = WRITABLE | {Capability.HARD_LINKS, Capability.SYMLINKS, Capability.TIMES}
#: An archive: read-only, nothing else.
ARCHIVE = frozenset({Capability.READONLY})


def fsspec_memory() -> FsspecMemory:
    """fsspec's memory filesystem with a store of its own (not the class-level one)."""
    return FsspecMemory(global_store=False, skip_instance_cache=True)


class TestFsspecLocal(BackendContract):
    backend_name = "fsspec-local"
    capabilities = LOCAL

    @pytest.fixture
    def backend(self, tmp_path: Path) -> FsspecBackend:
        return FsspecBackend(LocalFileSystem(skip_instance_cache=True), str(tmp_path))

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[Backend], Backend]:
        return lambda backend: FsspecBackend(LocalFileSystem(), str(tmp_path), readonly=True)


class TestFsspecMemory(BackendContract):
    backend_name = "fsspec-memory"
    capabilities = WRITABLE

    @pytest.fixture
    def backend(self) -> FsspecBackend:
        return FsspecBackend(fsspec_memory())


class TestZip(BackendContract):
    """Cannot be written: ``backend`` is a staging memory tree that ``make_readonly`` packs
    into a zip, which the adapter opens."""

    backend_name = "zip"
    capabilities = ARCHIVE

    @pytest.fixture
    def backend(self) -> MemoryFileSystem:
        return MemoryFileSystem()

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[Backend], Backend]:
        def make(staging: Backend) -> Backend:
            archive = pack_zip(staging, tmp_path / "a.zip")
            return open_backend(f"zip://::{archive}")

        return make


class TestTar(BackendContract):
    backend_name = "tar"
    capabilities = ARCHIVE

    @pytest.fixture
    def backend(self) -> MemoryFileSystem:
        return MemoryFileSystem()

    @pytest.fixture
    def make_readonly(self, tmp_path: Path) -> Callable[[Backend], Backend]:
        def make(staging: Backend) -> Backend:
            archive = pack_tar(staging, tmp_path / "a.tar")
            return FsspecBackend(TarFileSystem(str(archive), skip_instance_cache=True))

        return make


CONTRACTS: list[type[BackendContract]] = [TestFsspecLocal, TestFsspecMemory, TestZip, TestTar]


# --- what the adapter emulates -------------------------------------------------------------
@pytest.fixture
def mem() -> Iterator[tuple[FsspecMemory, FsspecBackend]]:
    fs = fsspec_memory()
    yield fs, FsspecBackend(fs)


def test_registry_opens_urls_and_instances(tmp_path: Path) -> None:
    staging = MemoryFileSystem(auto_mkdir=True)
    staging.pipe("/d/f", b"zipped")
    archive = pack_zip(staging, tmp_path / "a.zip")
    for url in (f"zip://::{archive}", f"zip::file://{archive}", f"fsspec://zip://::{archive}"):
        backend = open_backend(url)
        assert isinstance(backend, FsspecBackend) and backend.readonly, url
        root = backend.root()
        d = backend.opendir(root, "d")
        assert read_file(backend, d, "f") == b"zipped"
    fs = fsspec_memory()
    fs.pipe("/x/y", b"1")
    backend = open_backend(fs, root="/x")
    assert isinstance(backend, FsspecBackend)
    assert read_file(backend, backend.root(), "y") == b"1"
    assert isinstance(open_backend(LocalFileSystem(), root=str(tmp_path)), FsspecBackend)
    with pytest.raises(ValueError, match="'nosuch::zip' and fsspec knows no such protocol"):
        open_backend("nosuch::zip://x")  # not a protocol fsspec knows: a host path
    assert type(open_backend("memory://")) is MemoryFileSystem  # wasifs's own


def test_memory_url_with_a_location_is_fsspecs_store() -> None:
    """``memory://PATH`` is fsspec's URL (its shared store, where host code put the file);
    a bare ``memory`` stays wasifs's own isolated tree."""
    import fsspec

    with fsspec.open("memory://wasifs-test-url/greeting", "wb") as f:
        f.write(b"hi")
    try:
        backend = open_backend("memory://wasifs-test-url")
        assert isinstance(backend, FsspecBackend)
        assert read_file(backend, backend.root(), "greeting") == b"hi"
    finally:
        fsspec.filesystem("memory").rm("/wasifs-test-url", recursive=True)


def test_instances_made_from_urls_are_not_cached(tmp_path: Path) -> None:
    staging = MemoryFileSystem()
    staging.pipe("/f", b"x")
    archive = pack_zip(staging, tmp_path / "a.zip")
    a = open_backend(f"zip://::{archive}")
    b = open_backend(f"zip://::{archive}")
    assert isinstance(a, FsspecBackend) and isinstance(b, FsspecBackend)
    assert a.fs is not b.fs
    assert a.fs.fo is not b.fs.fo or a.fs.fo.fs is not b.fs.fo.fs


def test_reads_are_sequential_on_one_cached_file_object(mem: Any) -> None:
    fs, backend = mem
    fs.pipe("/f", bytes(range(256)) * 64)
    opened: list[str] = []
    real_open = fs.open

    def counting_open(path: str, mode: str = "rb", **kw: Any) -> Any:
        opened.append(mode)
        return real_open(path, mode, **kw)

    fs.open = counting_open
    root = backend.root()
    f = backend.open_file(root, "f", read=True, write=False)
    buf = bytearray(4096)
    for i in range(4):
        assert backend.pread(f, memoryview(buf), i * 4096) == 4096
        assert buf == (bytes(range(256)) * 16)
    assert opened == ["rb"]  # one file object for the four reads
    backend.close(f)


def test_random_writes_are_spooled_and_written_back_on_close(mem: Any) -> None:
    fs, backend = mem
    fs.pipe("/f", b"0123456789")
    root = backend.root()
    f = backend.open_file(root, "f", read=True, write=True)
    backend.pwrite(f, b"ab", 4)
    backend.pwrite(f, b"Z", 12)
    assert fs.cat("/f") == b"0123456789"  # not yet: spooled
    backend.fsync(f)
    assert fs.cat("/f") == b"0123ab6789\0\0Z"
    backend.ftruncate(f, 3)
    backend.close(f)
    assert fs.cat("/f") == b"012"


def test_spool_moves_to_a_temporary_file(mem: Any) -> None:
    fs, _ = mem
    backend = FsspecBackend(fs, spool_memory=1000)
    root = backend.root()
    f = backend.open_file(root, "big", read=True, write=True, create=True)
    data = os.urandom(5000)
    for i in range(0, 5000, 700):
        backend.pwrite(f, data[i:i + 700], i)
    spool = f.data.spool
    assert spool.data is None and spool.fd >= 0
    buf = bytearray(5000)
    assert backend.pread(f, memoryview(buf), 0) == 5000 and buf == data
    backend.close(f)
    assert fs.cat("/big") == data


def test_failed_write_back_is_raised(tmp_path: Path) -> None:
    """The storage refusing the write-back is the error of fsync/close, not dropped."""
    backend = FsspecBackend(LocalFileSystem(), str(tmp_path))
    root = backend.root()
    backend.mkdir(root, "d")
    d = backend.opendir(root, "d")
    f = backend.open_file(d, "f", read=True, write=True, create=True)
    backend.pwrite(f, b"data", 0)
    os.remove(tmp_path / "d" / "f")
    os.rmdir(tmp_path / "d")  # behind the adapter's back
    with raises_errno(errno.ENOENT):
        backend.fsync(f)
    with raises_errno(errno.ENOENT):
        backend.close(f)


def test_file_size_is_bounded(mem: Any) -> None:
    fs, _ = mem
    backend = FsspecBackend(fs, max_file_size=1 << 20)
    root = backend.root()
    f = backend.open_file(root, "f", read=True, write=True, create=True)
    for grow in (lambda: backend.pwrite(f, b"x", 1 << 20),
                 lambda: backend.ftruncate(f, (1 << 20) + 1),
                 lambda: backend.allocate(f, 1 << 20, 1)):
        with raises_errno(errno.EFBIG):
            grow()
    backend.close(f)
    assert fs.cat("/f") == b""


def test_rename_is_not_mv_into_a_directory(tmp_path: Path) -> None:
    """fsspec's local ``mv`` (``shutil.move``) moves a file into an existing directory; the
    adapter answers rename(2)'s EISDIR and moves nothing."""
    backend = FsspecBackend(LocalFileSystem(), str(tmp_path))
    root = backend.root()
    create_file(backend, root, "f", b"x")
    backend.mkdir(root, "d")
    with raises_errno(errno.EISDIR):
        backend.rename(root, "f", root, "d")
    assert sorted(os.listdir(tmp_path)) == ["d", "f"] and os.listdir(tmp_path / "d") == []


def test_directory_rename_moves_the_tree_on_memory(mem: Any) -> None:
    fs, backend = mem
    root = backend.root()
    backend.mkdir(root, "a")
    a = backend.opendir(root, "a")
    backend.mkdir(a, "empty")
    create_file(backend, a, "f", b"1")
    ino = backend.lstat(a, "f").ino
    backend.rename(root, "a", root, "b")
    assert sorted(fs.find("/", withdirs=True)) == ["/b", "/b/empty", "/b/f"]
    b = backend.opendir(root, "b")
    assert backend.same(a, b)
    assert backend.lstat(b, "f").ino == ino


def test_symlinks_on_the_local_filesystem_are_shown_not_followed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "target").write_bytes(b"t")
    os.symlink("target", tmp_path / "link")
    os.symlink("/etc", tmp_path / "d" / "abs")
    os.symlink("missing", tmp_path / "dangling")
    backend = FsspecBackend(LocalFileSystem(), str(tmp_path))
    root = backend.root()
    d = backend.opendir(root, "d")
    assert backend.readlink(root, "link") == "target"
    assert backend.readlink(d, "abs") == "/etc"
    assert backend.readlink(root, "dangling") == "missing"
    for name in ("link", "dangling"):
        assert backend.lstat(root, name).mode & 0o170000 == 0o120000
        with raises_errno(errno.ELOOP):
            backend.open_file(root, name, read=True, write=False)
    with raises_errno(errno.ELOOP):
        backend.opendir(d, "abs")
    modes = {e.name: e.mode & 0o170000 for e in backend.listdir(root)}
    assert modes == {"d": 0o040000, "target": 0o100000, "link": 0o120000,
                     "dangling": 0o120000}


def test_listing_keeps_the_storage_order(tmp_path: Path) -> None:
    backend = FsspecBackend(LocalFileSystem(), str(tmp_path))
    root = backend.root()
    for name in ("zeta", "alpha", "mid"):
        create_file(backend, root, name)
    assert [e.name for e in backend.listdir(root)] == os.listdir(tmp_path)


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with raises_errno(errno.ENOTDIR):
        FsspecBackend(LocalFileSystem(), str(tmp_path / "file"))
    with pytest.raises(TypeError, match="fsspec.AbstractFileSystem"):
        FsspecBackend(object())


def test_path_and_copy_in_out_work_on_the_adapter(tmp_path: Path) -> None:
    """wasifs.Path, copy_in and copy_out take the adapter like any backend: a zip read with
    Path, copied out to the host, and copied into an fsspec memory store."""
    import wasifs

    staging = MemoryFileSystem(auto_mkdir=True)
    staging.pipe("/cases/a.txt", b"alpha")
    staging.pipe("/cases/deep/b.txt", b"beta")
    archive = wasifs.Path(open_backend(f"zip://::{pack_zip(staging, tmp_path / 'a.zip')}"))
    assert (archive / "cases" / "a.txt").read_bytes() == b"alpha"
    assert sorted(p.name for p in (archive / "cases").iterdir()) == ["a.txt", "deep"]
    wasifs.copy_out(archive / "cases", tmp_path / "out")
    assert (tmp_path / "out" / "deep" / "b.txt").read_bytes() == b"beta"
    fs = fsspec_memory()
    target = wasifs.Path(FsspecBackend(fs), "/in")
    wasifs.copy_in(tmp_path / "out", target)
    assert fs.cat("/in/deep/b.txt") == b"beta"
    with raises_errno(errno.EROFS):
        (archive / "new.txt").write_bytes(b"x")
