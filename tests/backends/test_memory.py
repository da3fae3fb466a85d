"""What is particular to the memory backend (the shared contract is in test_contract.py),
the package's ``open_backend``/registration, and the HandleFileSystem dispatch machinery."""

from __future__ import annotations

import copy
import errno
import pickle
import stat
import tracemalloc
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import pytest

import wasifs.backends
from wasifs.backends import Backend, DirEntry, HandleFileSystem, MemoryFileSystem, open_backend
from wasifs.testing import create_file, opened_dir, opened_file, raises_errno, read_file

MiB = 1 << 20


@pytest.fixture
def mem() -> MemoryFileSystem:
    return MemoryFileSystem()


# --- isolation ------------------------------------------------------------------------
def test_instances_are_isolated() -> None:
    one, two = MemoryFileSystem(), MemoryFileSystem()
    one.pipe("/only-in-one", b"1")
    assert two.ls("/") == []
    assert one != two and hash(one) != hash(two)
    assert one.fstat(one.root()).dev != two.fstat(two.root()).dev
    assert one == one


def test_fsspec_registry_gives_fresh_instances() -> None:
    assert fsspec.get_filesystem_class("wasifs-memory") is MemoryFileSystem
    a = fsspec.filesystem("wasifs-memory")
    b = fsspec.filesystem("wasifs-memory")
    assert isinstance(a, MemoryFileSystem) and a is not b and a != b
    a.pipe("/x", b"x")
    assert not b.exists("/x")


def test_fsspec_memory_is_not_a_backend() -> None:
    # fsspec's own memory filesystem shares one class-level store: not ours.
    theirs = fsspec.filesystem("memory")
    assert not isinstance(theirs, Backend)
    # mounted, it goes through the fsspec adapter
    assert type(open_backend(theirs)).__name__ == "FsspecBackend"


def test_pickle_and_deepcopy_are_independent_snapshots(mem: MemoryFileSystem) -> None:
    paths: HandleFileSystem = mem  # the fsspec (path) signatures of the clashing names
    paths.mkdir("/d")
    mem.pipe("/d/f", b"data")
    paths.symlink("d/f", "/link")
    paths.link("/d/f", "/hard")
    mem.max_file_size = 1 << 40
    mem.readonly = True
    for clone in (pickle.loads(pickle.dumps(mem)), copy.deepcopy(mem)):
        assert isinstance(clone, MemoryFileSystem) and clone != mem
        assert clone.cat("/link") == b"data"
        assert clone.info("/hard")["nlink"] == 2
        assert clone.info("/d/f")["ino"] == mem.info("/d/f")["ino"]
        assert clone.max_file_size == 1 << 40 and clone.readonly
        clone.readonly = False
        clone.pipe("/d/f", b"changed")
        assert mem.cat("/d/f") == b"data"
        clone.pipe("/new", b"")  # inode numbers continue after the snapshot's
        assert clone.info("/new")["ino"] not in {mem.info(p)["ino"] for p in ("/d", "/d/f")}


# --- POSIX details that the contract leaves open ----------------------------------------
def test_root_inode_and_directory_link_counts(mem: MemoryFileSystem) -> None:
    root = mem.root()
    assert mem.fstat(root).ino == 1
    assert mem.fstat(root).nlink == 2
    mem.mkdir(root, "a")
    mem.mkdir(root, "b")
    assert mem.fstat(root).nlink == 4
    with opened_dir(mem, root, "a") as a:
        mem.mkdir(a, "sub")
        assert mem.fstat(a).nlink == 3
        mem.rename(a, "sub", root, "moved")  # one subdirectory moves from a to the root
        assert mem.fstat(a).nlink == 2
        assert mem.fstat(root).nlink == 5
    mem.rename(root, "moved", root, "b")  # replaces the empty b
    assert mem.fstat(root).nlink == 4
    mem.rmdir(root, "b")
    assert mem.fstat(root).nlink == 3


def test_removed_directory_has_no_links(mem: MemoryFileSystem) -> None:
    root = mem.root()
    mem.mkdir(root, "d")
    d = mem.opendir(root, "d")
    mem.rmdir(root, "d")
    assert mem.fstat(d).nlink == 0
    with raises_errno(errno.ENOENT):
        mem.symlink("x", d, "l")
    with raises_errno(errno.ENOENT):
        mem.rename(root, "missing", d, "x")


def test_listdir_keeps_creation_order(mem: MemoryFileSystem) -> None:
    root = mem.root()
    for name in ("c", "a", "b"):
        create_file(mem, root, name)
    create_file(mem, root, "z")
    mem.rename(root, "z", root, "a")  # replacing keeps the replaced entry's place
    assert [e.name for e in mem.listdir(root)] == ["c", "a", "b"]
    assert all(isinstance(e, DirEntry) and stat.S_ISREG(e.mode) for e in mem.listdir(root))


def test_reads_mark_atime_and_writes_do_not(mem: MemoryFileSystem) -> None:
    root = mem.root()
    create_file(mem, root, "f", b"abc")
    mem.set_times(root, "f", 1000, 1000)
    with opened_file(mem, root, "f") as f:
        mem.pwrite(f, b"x", 0)
        assert mem.fstat(f).atime_ns == 1000
        mem.pread(f, memoryview(bytearray(0)), 0)  # nothing read: nothing marked
        mem.pread(f, memoryview(bytearray(1)), 5)
        assert mem.fstat(f).atime_ns == 1000
        mem.pread(f, memoryview(bytearray(1)), 0)
        assert mem.fstat(f).atime_ns > 1000
    mem.set_times(root, "f", 1000, 1000)
    mem.listdir(root)
    assert mem.fstat(root).atime_ns > 1000


def test_set_times_none_none_keeps_ctime(mem: MemoryFileSystem) -> None:
    root = mem.root()
    create_file(mem, root, "f")
    before = mem.lstat(root, "f").ctime_ns
    mem.set_times(root, "f", None, None)
    assert mem.lstat(root, "f").ctime_ns == before


def test_mode_bits_are_kept(mem: MemoryFileSystem) -> None:
    root = mem.root()
    mem.open_file(root, "f", read=True, write=True, create=True, mode=0o640)
    mem.mkdir(root, "d", 0o700)
    assert mem.lstat(root, "f").mode == stat.S_IFREG | 0o640
    assert mem.lstat(root, "d").mode == stat.S_IFDIR | 0o700
    mem.symlink("t", root, "l")
    assert mem.lstat(root, "l").mode == stat.S_IFLNK | 0o777


#: A guest that creates the file "f" and the directory "d" in its first preopen (preview1
#: has no mode argument: the host decides, as a host's open(0666)/mkdir(0777) and umask do).
_CREATE_GUEST = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fd")
  (func (export "_start")
    (call $exit (i32.or
      (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 1)
                  (i64.const 0x1fffffff) (i64.const 0) (i32.const 0) (i32.const 64))
      (call $mkdir (i32.const 3) (i32.const 17) (i32.const 1))))))
"""


@pytest.mark.parametrize(("options", "file_mode", "dir_mode"), [
    ({}, 0o644, 0o755), ({"umask": 0o077}, 0o600, 0o700), ({"umask": 0}, 0o666, 0o777),
], ids=["default", "077", "none"])
def test_a_guest_creates_files_under_a_umask(options: dict[str, int], file_mode: int,
                                             dir_mode: int) -> None:
    import wasifs

    fs = MemoryFileSystem(**options)
    assert wasifs.run(_CREATE_GUEST, mounts={"/": fs}).exit_code == 0
    root = fs.root()
    assert fs.lstat(root, "f").mode == stat.S_IFREG | file_mode
    assert fs.lstat(root, "d").mode == stat.S_IFDIR | dir_mode
    # the host-side API goes through the same umask, and a snapshot keeps it
    assert pickle.loads(pickle.dumps(fs)).umask == fs.umask


@pytest.mark.parametrize("bad", [-1, 0o1000, "022", True])
def test_umask_is_checked(bad: Any) -> None:
    with pytest.raises(ValueError, match="umask"):
        MemoryFileSystem(umask=bad)


@pytest.mark.parametrize("call", [
    lambda m, f: m.pread(f, memoryview(bytearray(1)), -1),
    lambda m, f: m.pwrite(f, b"x", -1),
    lambda m, f: m.ftruncate(f, -1),
    lambda m, f: m.allocate(f, -1, 1),
    lambda m, f: m.allocate(f, 0, 0),
], ids=["pread", "pwrite", "ftruncate", "allocate-offset", "allocate-length"])
def test_invalid_offsets_are_einval(mem: MemoryFileSystem, call: Any) -> None:
    with opened_file(mem, mem.root(), "f", create=True) as f:
        with raises_errno(errno.EINVAL):
            call(mem, f)


def test_empty_symlink_target_is_enoent(mem: MemoryFileSystem) -> None:
    with raises_errno(errno.ENOENT):
        mem.symlink("", mem.root(), "l")


def test_max_file_size_is_efbig() -> None:
    mem = MemoryFileSystem()
    mem.max_file_size = 16
    root = mem.root()
    with opened_file(mem, root, "f", create=True) as f:
        mem.pwrite(f, b"x" * 16, 0)
        for call in (lambda: mem.pwrite(f, b"y", 16), lambda: mem.pwrite(f, b"y", 100),
                     lambda: mem.append(f, b"y"), lambda: mem.ftruncate(f, 17),
                     lambda: mem.allocate(f, 10, 7)):
            with raises_errno(errno.EFBIG):
                call()
        assert mem.fstat(f).size == 16


def test_readonly_can_be_switched_on_existing_handles(mem: MemoryFileSystem) -> None:
    root = mem.root()
    create_file(mem, root, "f", b"abc")
    f = mem.open_file(root, "f", read=True, write=True)
    mem.readonly = True
    for call in (lambda: mem.pwrite(f, b"x", 0), lambda: mem.append(f, b"x"),
                 lambda: mem.ftruncate(f, 0), lambda: mem.allocate(f, 0, 10)):
        with raises_errno(errno.EROFS):
            call()
    mem.fsync(f)
    assert read_file(mem, root, "f") == b"abc"
    with raises_errno(errno.EEXIST):  # as on Linux, EEXIST wins over EROFS for creations
        mem.mkdir(root, "f")
    mem.readonly = False
    mem.pwrite(f, b"x", 0)
    assert read_file(mem, root, "f") == b"xbc"
    assert MemoryFileSystem(readonly=True).readonly is True


# --- the hot path: one copy, amortised appends (checked by memory, never by time) -------
@pytest.fixture
def peak_allocated() -> Any:
    """Traces allocations for the whole test (so that blocks made before the measurement
    are known when they are resized) and gives a function that returns the bytes
    allocated at the peak of ``action()`` beyond what was allocated before it."""
    tracemalloc.start()

    def measure(action: Any) -> int:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        action()
        _, peak = tracemalloc.get_traced_memory()
        return peak - base

    yield measure
    tracemalloc.stop()


def test_pread_copies_once_into_the_callers_buffer(mem: MemoryFileSystem,
                                                   peak_allocated: Any) -> None:
    root = mem.root()
    create_file(mem, root, "big", bytes(range(256)) * (32 * MiB // 256))
    f = mem.open_file(root, "big", read=True, write=False)
    buf = bytearray(32 * MiB)
    view = memoryview(buf)
    n = 0

    def read() -> None:
        nonlocal n
        n = mem.pread(f, view, 0)

    assert peak_allocated(read) < MiB  # no intermediate bytes object of the data
    assert n == 32 * MiB and buf[:256] == bytes(range(256)) and buf[-1] == 255
    view.release()
    mem.append(f, b"!")  # and no buffer export was left behind: the data is still resizable


def test_append_to_a_large_file_does_not_copy_it(mem: MemoryFileSystem,
                                                 peak_allocated: Any) -> None:
    root = mem.root()
    f = mem.open_file(root, "log", read=True, write=True, create=True)
    mem.pwrite(f, bytes(64 * MiB), 0)
    chunk = b"x" * 4096

    def appends() -> None:
        for _ in range(2000):
            mem.append(f, chunk)

    # A copy of the file per append would need 64 MiB at once; bytearray's amortised growth
    # needs at most its 1/8 over-allocation plus the appended bytes.
    assert peak_allocated(appends) < 20 * MiB
    assert mem.fstat(f).size == 64 * MiB + 2000 * 4096


def test_many_small_appends_grow_linearly(mem: MemoryFileSystem) -> None:
    root = mem.root()
    f = mem.open_file(root, "log", read=True, write=True, create=True)
    size = 0
    for i in range(20000):
        count, size = mem.append(f, b"%05d\n" % i)
        assert count == 6
    assert size == 120000
    assert read_file(mem, root, "log").splitlines()[-1] == b"19999"


def test_pwrite_into_a_hole_allocates_the_file_once(mem: MemoryFileSystem,
                                                    peak_allocated: Any) -> None:
    root = mem.root()
    f = mem.open_file(root, "sparse", read=True, write=True, create=True)
    # The file itself, plus the calloc'ed zeros it is extended with (which tracemalloc
    # counts, though the kernel backs them with its shared zero page until written).
    assert peak_allocated(lambda: mem.pwrite(f, b"end", 32 * MiB)) < 2 * 32 * MiB + MiB
    assert mem.fstat(f).size == 32 * MiB + 3
    buf = bytearray(b"\xff" * 8)
    assert mem.pread(f, memoryview(buf), 32 * MiB - 5) == 8
    assert buf == bytes(5) + b"end"


# --- the HandleFileSystem dispatch of clashing method names ------------------------------
def test_clashing_names_serve_both_apis(mem: MemoryFileSystem) -> None:
    # Statically, MemoryFileSystem's methods have the protocol signatures; HandleFileSystem
    # (an untyped fsspec class) lets the path signatures through.
    paths: HandleFileSystem = mem
    root = mem.root()
    mem.mkdir(root, "by_handle")
    paths.mkdir("/by_path")
    paths.mkdir(path="/by_keyword")
    assert {e.name for e in mem.listdir(root)} == {"by_handle", "by_path", "by_keyword"}
    assert sorted(paths.listdir("/", detail=False)) == ["/by_handle", "/by_keyword", "/by_path"]
    mem.symlink("by_path", root, "l1")
    paths.symlink("by_path", "/l2")
    assert mem.readlink(root, "l2") == paths.readlink("/l1") == "by_path"
    mem.rename(root, "l1", root, "l3")
    paths.rename("/l3", "/l4")
    mem.rmdir(root, "by_handle")
    paths.rmdir("/by_keyword")
    assert sorted(mem.ls("/", detail=False)) == ["/by_path", "/l2", "/l4"]
    mem.pipe("/f", b"")
    mem.link(root, "f", root, "g")
    paths.link("/f", Path("/h"))
    assert mem.info("/h")["nlink"] == 3


def test_subclass_protocol_overrides_are_dispatched() -> None:
    calls: list[str] = []

    class Counting(MemoryFileSystem):
        def mkdir(self, dir: Any, name: str, mode: int = 0o777) -> None:
            calls.append(name)
            super().mkdir(dir, name, mode)

    fs: HandleFileSystem = Counting()
    fs.mkdir("/a/b")  # the fsspec API, which calls the protocol method once per component
    assert calls == ["a", "b"]
    assert fs.isdir("/a/b")


def test_handle_filesystem_without_protocol_methods() -> None:
    fs = HandleFileSystem()
    with pytest.raises(NotImplementedError, match="mkdir"):
        fs.mkdir(object(), "x")
    assert not isinstance(fs, MemoryFileSystem)


# --- the package: exports, registration, open_backend ------------------------------------
def test_package_exports() -> None:
    assert wasifs.backends.__all__ == (
        "Backend", "Stat", "DirEntry", "HandleFileSystem", "MemoryFileSystem",
        "NativeFileSystem", "open_backend", "backend_names", "GROUP", "BackendFileIO",
        "MAX_SYMLINKS", "Location", "resolve", "DirChain", "TreeWalk", "walk_dirs", "CHUNK",
        "copy_tree", "mirror_tree", "copy_file", "remove_entry", "clear_dir", "pump",
        "backend_reader", "backend_writer", "set_times_where_supported", "relabel",
        "errno_of", "FsspecBackend", "PyfsBackend",
        "OverlayFileSystem", "Change", "ChangeKind", "Baseline", "BaseEntry",
        "WriteBackReport", "WriteBackChange", "WriteBackConflict", "WriteBackError",
        "archive_tree", "save_tree",
        "SandboxFileSystem", "Quota", "Rate",
        "Usage", "FaultyFileSystem", "Fault", "SubtreeLock", "LockRequest", "lock_request",
        "host_request", "locking", "NAME_MAX", "PATH_MAX", "name_too_long", "BUILTIN",
        "makedirs", "Progress", "temp_name")
    assert set(wasifs.backends.__all__) <= set(dir(wasifs.backends))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wasifs.backends.nope  # noqa: B018


def test_open_backend_instances_and_memory_urls(mem: MemoryFileSystem) -> None:
    assert open_backend(mem) is mem
    for url in ("memory", "memory://", "wasifs-memory", "wasifs-memory://"):
        made = open_backend(url)
        assert isinstance(made, MemoryFileSystem) and made is not mem
    assert open_backend("memory", readonly=True).readonly is True
    with pytest.raises(TypeError, match="ready backend instance"):
        open_backend(mem, readonly=True)


@pytest.mark.parametrize("bad", [42, None, b"/bytes/path", object()], ids=repr)
def test_open_backend_rejects_other_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="cannot make a backend"):
        open_backend(bad)


@pytest.mark.parametrize("bad", ["nosuchfs://bucket/key", "", "native://relative"])
def test_open_backend_rejects_other_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        open_backend(bad)


def test_open_backend_host_directories(tmp_path: Path) -> None:
    native = pytest.importorskip("wasifs.backends.native").NativeFileSystem
    (tmp_path / "f").write_bytes(b"host")
    for spec in (tmp_path, str(tmp_path), f"native://{tmp_path}", f"file://{tmp_path}"):
        backend = open_backend(spec)
        assert isinstance(backend, native)
        root = backend.root()
        try:
            assert read_file(backend, root, "f") == b"host"
        finally:
            backend.close(root)
