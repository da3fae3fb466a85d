"""Behaviours specific to the native backend: descriptors, read-only mode, host-visible
effects, nanosecond times, the one-copy read path, platform checks."""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import stat
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

import wasifs.backends.native as native_mod
from wasifs.backends import Backend
from wasifs.backends.native import (
    NativeDir,
    NativeFile,
    NativeFileSystem,
    NativeUnsupportedError,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")

PROC_FD = Path("/proc/self/fd")


def open_fds() -> int:
    return len(os.listdir(PROC_FD))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    (r / "d").mkdir()
    (r / "d" / "f").write_bytes(b"0123456789")
    (r / "file").write_bytes(b"hello world")
    os.symlink("file", r / "link")
    return r


@pytest.fixture
def fs(root: Path) -> NativeFileSystem:
    return NativeFileSystem(root)


@pytest.fixture
def rd(fs: NativeFileSystem) -> Iterator[NativeDir]:
    h = fs.root()
    yield h
    fs.close(h)


def test_is_a_backend(fs: NativeFileSystem) -> None:
    assert isinstance(fs, Backend)
    assert fs.protocol == "wasifs-native"
    assert not fs.readonly
    assert "root" in repr(fs)


# --- descriptors -----------------------------------------------------------------------

@pytest.mark.skipif(not PROC_FD.is_dir(), reason="needs /proc/self/fd")
def test_no_descriptor_leak(fs: NativeFileSystem, root: Path) -> None:
    def workload(run: int) -> None:
        for j in range(50):
            i = f"{run}-{j}"
            r = fs.root()
            d = fs.opendir(r, "d")
            f = fs.open_file(d, f"n{i}", read=True, write=True, create=True)
            fs.pwrite(f, b"abc", 0)
            fs.append(f, b"def")
            fs.pread(f, memoryview(bytearray(8)), 0)
            fs.fstat(f)
            fs.fsync(f)
            fs.allocate(f, 0, 64)
            fs.ftruncate(f, 3)
            fs.listdir(d)
            fs.lstat(d, "f")
            fs.same(r, d)
            fs.link(d, f"n{i}", d, f"h{i}")
            fs.rename(d, f"h{i}", r, f"h{i}")
            fs.unlink(r, f"h{i}")
            fs.symlink("x", d, f"s{i}")
            fs.readlink(d, f"s{i}")
            fs.set_times(d, f"s{i}", 1, 2)
            fs.fset_times(f, None, 5)
            # failures must not leak either
            failing: list[Callable[[], object]] = [
                partial(fs.opendir, d, f"s{i}"),
                partial(fs.opendir, d, "f"),
                partial(fs.opendir, d, "missing"),
                partial(fs.open_file, d, f"s{i}", read=True, write=False),
                partial(fs.open_file, r, "d", read=True, write=False),
                partial(fs.open_file, r, "d", read=True, write=True, create=True,
                        exclusive=True),
                partial(fs.open_file, r, "file", read=True, write=True, create=True,
                        exclusive=True),
            ]
            for call in failing:
                with pytest.raises(OSError):
                    call()
            fs.close(f)
            fs.close(d)
            fs.close(r)

    gc.collect()
    workload(0)  # warm up whatever lazily opens descriptors
    before = open_fds()
    workload(1)
    gc.collect()
    assert open_fds() == before


@pytest.mark.skipif(not PROC_FD.is_dir(), reason="needs /proc/self/fd")
def test_handles_closed_on_garbage_collection(fs: NativeFileSystem) -> None:
    gc.collect()
    before = open_fds()
    handles: list[object] = []
    r = fs.root()
    handles.append(r)
    for _ in range(20):
        handles.append(fs.opendir(r, "d"))
        handles.append(fs.open_file(r, "file", read=True, write=False))
    # the directory is opened once and lent 20 times (the backend's directory cache)
    assert open_fds() == before + 22
    del handles, r
    gc.collect()
    assert open_fds() == before + 1  # the cache still holds "d"
    fs.forget_dirs()
    assert open_fds() == before


def test_close_twice_never_closes_a_reused_descriptor(fs: NativeFileSystem, root: Path) -> None:
    r = fs.root()
    f = fs.open_file(r, "file", read=True, write=False)
    num = f.fileno()
    fs.close(f)
    assert f.closed
    with pytest.raises(ValueError):
        f.fileno()
    # the host reuses the number for something else; closing the handle again is a no-op
    other = os.open(root / "d" / "f", os.O_RDONLY)
    try:
        if other == num:
            fs.close(f)
            del f
            gc.collect()
            os.fstat(other)  # still open
        # an operation on a closed handle fails cleanly instead of using a stale number
        closed = fs.open_file(r, "file", read=True, write=False)
        fs.close(closed)
        with pytest.raises(OSError) as ei:
            fs.pread(closed, memoryview(bytearray(4)), 0)
        assert ei.value.errno == errno.EBADF
    finally:
        os.close(other)
        fs.close(r)


def test_descriptors_are_cloexec_and_nofollow_dirs(fs: NativeFileSystem, rd: NativeDir) -> None:
    d = fs.opendir(rd, "d")
    f = fs.open_file(rd, "file", read=True, write=True)
    try:
        for h in (rd, d, f):
            assert not os.get_inheritable(h.fileno())
        assert stat.S_ISDIR(os.fstat(d.fileno()).st_mode)
        flags = fcntl.fcntl(f.fileno(), fcntl.F_GETFL)
        assert flags & os.O_ACCMODE == os.O_RDWR
        # O_NONBLOCK (set so that opening a FIFO never blocks) is cleared after the open,
        # except on Linux, where open(2) documents it as without effect on a regular file
        assert bool(flags & os.O_NONBLOCK) == (sys.platform.startswith("linux"))
        assert not flags & os.O_APPEND
    finally:
        fs.close(f)
        fs.close(d)


def test_root_returns_independent_handles(fs: NativeFileSystem, root: Path) -> None:
    a, b = fs.root(), fs.root()
    try:
        assert a.fileno() != b.fileno()
        assert fs.same(a, b)
        d = fs.opendir(a, "d")
        assert not fs.same(a, d)
        fs.close(a)
        # b still works after a is closed
        assert {e.name for e in fs.listdir(b)} == {"d", "file", "link"}
        fs.close(d)
    finally:
        fs.close(b)


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        NativeFileSystem(tmp_path / "plain")
    with pytest.raises(FileNotFoundError):
        NativeFileSystem(tmp_path / "missing")


def test_root_path_may_be_a_symlink(tmp_path: Path, root: Path) -> None:
    os.symlink(root, tmp_path / "alias")
    fs = NativeFileSystem(tmp_path / "alias")
    r = fs.root()
    assert {e.name for e in fs.listdir(r)} == {"d", "file", "link"}
    fs.close(r)


def test_unsupported_platform_is_refused(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setattr(os, "supports_dir_fd", set())
    with pytest.raises(NativeUnsupportedError) as ei:
        NativeFileSystem(root)
    assert isinstance(ei.value, NotImplementedError)
    assert "os.open(dir_fd=...)" in str(ei.value)
    monkeypatch.undo()
    monkeypatch.delattr(os, "O_NOFOLLOW")
    with pytest.raises(NativeUnsupportedError, match="O_NOFOLLOW"):
        NativeFileSystem(root)


# --- errors that the kernel gives differently ----------------------------------------------

def test_opendir_errors(fs: NativeFileSystem, rd: NativeDir) -> None:
    with pytest.raises(OSError) as ei:
        fs.opendir(rd, "link")
    assert ei.value.errno == errno.ELOOP  # Linux itself says ENOTDIR here
    with pytest.raises(NotADirectoryError):
        fs.opendir(rd, "file")
    with pytest.raises(FileNotFoundError):
        fs.opendir(rd, "missing")


def test_open_file_errors(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    for read, write in ((True, False), (False, True), (True, True), (False, False)):
        with pytest.raises(IsADirectoryError):
            fs.open_file(rd, "d", read=read, write=write)
    with pytest.raises(OSError) as ei:
        fs.open_file(rd, "link", read=True, write=False)
    assert ei.value.errno == errno.ELOOP
    with pytest.raises(FileExistsError):
        fs.open_file(rd, "file", read=False, write=True, create=True, exclusive=True)
    with pytest.raises(FileNotFoundError):
        fs.open_file(rd, "missing", read=True, write=False)
    assert (root / "file").read_bytes() == b"hello world"


@pytest.mark.timeout(20)
def test_fifo_is_refused_without_blocking(fs: NativeFileSystem, rd: NativeDir,
                                          root: Path) -> None:
    os.mkfifo(root / "fifo")
    for read, write in ((True, False), (False, True)):
        with pytest.raises(PermissionError):
            fs.open_file(rd, "fifo", read=read, write=write)
    assert fs.listdir(rd)[1].mode == stat.S_IFIFO  # listed with its type


def test_unlink_and_rmdir_errors(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    with pytest.raises(IsADirectoryError):
        fs.unlink(rd, "d")
    with pytest.raises(OSError) as ei:
        fs.rmdir(rd, "d")
    assert ei.value.errno == errno.ENOTEMPTY
    with pytest.raises(NotADirectoryError):
        fs.rmdir(rd, "file")
    os.symlink("d", root / "dlink")
    with pytest.raises(NotADirectoryError):
        fs.rmdir(rd, "dlink")
    assert (root / "d" / "f").exists()


def test_rename_matrix(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    (root / "e1").mkdir()
    (root / "e2").mkdir()
    with pytest.raises(OSError) as ei:
        fs.rename(rd, "e1", rd, "d")
    assert ei.value.errno == errno.ENOTEMPTY
    with pytest.raises(IsADirectoryError):
        fs.rename(rd, "file", rd, "e1")
    with pytest.raises(NotADirectoryError):
        fs.rename(rd, "e1", rd, "file")
    fs.rename(rd, "d", rd, "d")  # same name: a no-op
    fs.rename(rd, "file", rd, "file")
    assert (root / "d" / "f").exists() and (root / "file").exists()
    os.link(root / "file", root / "alias")
    fs.rename(rd, "file", rd, "alias")  # two names of one inode: a no-op, both stay
    assert (root / "file").exists() and (root / "alias").exists()
    fs.rename(rd, "e1", rd, "e2")  # dir over empty dir
    assert not (root / "e1").exists() and (root / "e2").is_dir()
    fs.rename(rd, "alias", rd, "link")  # file over a symlink replaces the symlink
    assert not (root / "link").is_symlink()


def test_rename_into_own_subtree(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    d = fs.opendir(rd, "d")
    fs.mkdir(d, "sub")
    sub = fs.opendir(d, "sub")
    try:
        for target_dir in (d, sub):
            with pytest.raises(OSError) as ei:
                fs.rename(rd, "d", target_dir, "x")
            assert ei.value.errno == errno.EINVAL
    finally:
        fs.close(sub)
        fs.close(d)


def test_link_errors(fs: NativeFileSystem, rd: NativeDir) -> None:
    with pytest.raises(PermissionError):
        fs.link(rd, "d", rd, "d2")
    with pytest.raises(FileExistsError):
        fs.link(rd, "file", rd, "link")
    fs.link(rd, "file", rd, "file2")
    assert fs.lstat(rd, "file").nlink == 2
    with pytest.raises(FileExistsError):
        fs.symlink("anything", rd, "file2")


# --- read-only -------------------------------------------------------------------------

def _tree(root: Path) -> dict[str, tuple[int, int, bytes | str | None]]:
    out: dict[str, tuple[int, int, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            content: bytes | str | None = None
            if stat.S_ISREG(st.st_mode):
                content = p.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, content)
    return out


def test_readonly(root: Path) -> None:
    fs = NativeFileSystem(root, readonly=True)
    assert fs.readonly
    before = _tree(root)
    r = fs.root()
    d = fs.opendir(r, "d")
    f = fs.open_file(r, "file", read=True, write=False)
    assert fcntl.fcntl(f.fileno(), fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    buf = bytearray(5)
    assert fs.pread(f, memoryview(buf), 0) == 5 and buf == b"hello"
    assert sorted(e.name for e in fs.listdir(r)) == ["d", "file", "link"]
    assert fs.readlink(r, "link") == "file"
    fs.fsync(f)  # not a mutation

    mutations: dict[str, Callable[[], object]] = {
        "open write": lambda: fs.open_file(r, "file", read=False, write=True),
        "open rw": lambda: fs.open_file(r, "file", read=True, write=True),
        "open create": lambda: fs.open_file(r, "new", read=True, write=False, create=True),
        "open truncate": lambda: fs.open_file(r, "file", read=True, write=False,
                                              truncate=True),
        "pwrite": lambda: fs.pwrite(f, b"x", 0),
        "append": lambda: fs.append(f, b"x"),
        "ftruncate": lambda: fs.ftruncate(f, 0),
        "allocate": lambda: fs.allocate(f, 0, 100),
        "set_times": lambda: fs.set_times(r, "file", 1, 1),
        "fset_times": lambda: fs.fset_times(f, 1, 1),
        "mkdir": lambda: fs.mkdir(r, "new"),
        "rmdir": lambda: fs.rmdir(d, "nonexistent"),
        "unlink": lambda: fs.unlink(r, "file"),
        "rename": lambda: fs.rename(r, "file", d, "moved"),
        "link": lambda: fs.link(r, "file", r, "hard"),
        "symlink": lambda: fs.symlink("t", r, "newlink"),
    }
    for what, call in mutations.items():
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.EROFS, what
    for h in (f, d, r):
        fs.close(h)
    assert _tree(root) == before


# --- data path -------------------------------------------------------------------------

def test_pread_straight_into_a_memoryview_slice(fs: NativeFileSystem, rd: NativeDir) -> None:
    f = fs.open_file(rd, "file", read=True, write=False)
    try:
        mem = bytearray(b"\xee" * 32)  # stands in for guest linear memory
        view = memoryview(mem)
        assert fs.pread(f, view[4:9], 6) == 5
        assert mem[4:9] == b"world"
        assert mem[:4] == b"\xee" * 4 and mem[9:] == b"\xee" * 23
        assert fs.pread(f, view[20:32], 6) == 5  # short read at the end
        assert mem[20:25] == b"world" and mem[25:] == b"\xee" * 7
        assert fs.pread(f, view[0:4], 11) == 0  # at the end
        assert fs.pread(f, view[0:4], 1000) == 0  # past the end
        assert fs.pread(f, view[0:0], 0) == 0
        assert mem[:4] == b"\xee" * 4
        with pytest.raises(BufferError):  # never a silent copy into a temporary
            fs.pread(f, memoryview(b"read-only buffer"), 0)
    finally:
        fs.close(f)


def test_pwrite_and_append(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    f = fs.open_file(rd, "new", read=True, write=True, create=True, mode=0o640)
    g = fs.open_file(rd, "new", read=False, write=True)
    try:
        assert stat.S_IMODE(os.stat(root / "new").st_mode) & ~0o640 == 0
        assert fs.pwrite(f, memoryview(b"abcdef")[1:4], 2) == 3  # past the end: zero fill
        assert (root / "new").read_bytes() == b"\0\0bcd"
        assert fs.append(f, b"XY") == (2, 7)
        assert fs.append(g, memoryview(bytearray(b"Z"))) == (1, 8)  # another handle
        # pwrite after append writes where asked (O_APPEND is not left in the way)
        assert fs.pwrite(f, b"!", 0) == 1
        assert (root / "new").read_bytes() == b"!\0bcdXYZ"
        with open(root / "new", "ab") as host:  # another writer appends from outside
            host.write(b"host")
        assert fs.append(f, b"++") == (2, 14)
        assert (root / "new").read_bytes() == b"!\0bcdXYZhost++"
        big = bytes(range(256)) * 4096
        assert fs.pwrite(f, big, 3) == len(big)
        assert (root / "new").read_bytes()[3:3 + len(big)] == big
        # a multi-byte-format buffer counts bytes
        import array
        words = array.array("I", [1, 2, 3])
        assert fs.pwrite(f, memoryview(words), 0) == 12
    finally:
        fs.close(g)
        fs.close(f)


def test_ftruncate_allocate(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    f = fs.open_file(rd, "file", read=True, write=True)
    try:
        fs.allocate(f, 5, 10)
        assert fs.fstat(f).size == 15
        fs.allocate(f, 0, 4)  # never shrinks
        assert fs.fstat(f).size == 15
        assert (root / "file").read_bytes() == b"hello world\0\0\0\0"
        fs.ftruncate(f, 5)
        assert (root / "file").read_bytes() == b"hello"
        with pytest.raises(OSError) as ei:
            fs.allocate(f, -1, 4)
        assert ei.value.errno == errno.EINVAL
        fs.fsync(f, dataonly=True)
        fs.fsync(f)
    finally:
        fs.close(f)


def test_allocate_falls_back_to_ftruncate(fs: NativeFileSystem, rd: NativeDir,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    f = fs.open_file(rd, "file", read=True, write=True)
    try:
        fs.allocate(f, 0, 100)
        assert fs.fstat(f).size == 100
        fs.allocate(f, 0, 10)
        assert fs.fstat(f).size == 100
    finally:
        fs.close(f)


# --- metadata --------------------------------------------------------------------------

def test_times_in_nanoseconds(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    a, m = 1_234_567_890_123_456_789, 1_700_000_000_987_654_321
    fs.set_times(rd, "file", a, m)
    st = fs.lstat(rd, "file")
    assert (st.atime_ns, st.mtime_ns) == (a, m)
    host = os.stat(root / "file")
    assert (host.st_atime_ns, host.st_mtime_ns) == (a, m)
    fs.set_times(rd, "file", None, 5)  # None keeps that time
    assert (fs.lstat(rd, "file").atime_ns, fs.lstat(rd, "file").mtime_ns) == (a, 5)
    fs.set_times(rd, "file", 7, None)
    assert (fs.lstat(rd, "file").atime_ns, fs.lstat(rd, "file").mtime_ns) == (7, 5)
    ctime = fs.lstat(rd, "file").ctime_ns
    fs.set_times(rd, "file", None, None)
    assert fs.lstat(rd, "file").ctime_ns == ctime
    with pytest.raises(FileNotFoundError):
        fs.set_times(rd, "missing", None, None)
    # a symlink's own times, not its target's
    fs.set_times(rd, "link", 11, 22)
    assert os.lstat(root / "link").st_mtime_ns == 22
    assert os.stat(root / "file").st_mtime_ns == 5
    f = fs.open_file(rd, "file", read=True, write=False)
    try:
        fs.fset_times(f, 3_000_000_000_000_000_001, None)
        st = fs.fstat(f)
        assert (st.atime_ns, st.mtime_ns) == (3_000_000_000_000_000_001, 5)
        fs.fset_times(f, None, 999)
        assert fs.fstat(f).mtime_ns == 999
    finally:
        fs.close(f)


def test_stat_matches_host(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    for name in ("file", "d", "link"):
        mine = fs.lstat(rd, name)
        host = os.lstat(root / name)
        assert mine == (host.st_dev, host.st_ino, host.st_mode, host.st_nlink, host.st_size,
                        host.st_atime_ns, host.st_mtime_ns, host.st_ctime_ns)
    host = os.stat(root)
    assert fs.fstat(rd).ino == host.st_ino


def test_listdir(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    names = [f"n{i:03d}" for i in range(300)]
    for n in reversed(names):
        (root / "d" / n).write_bytes(b"")
    d = fs.opendir(rd, "d")
    try:
        for _ in range(3):  # the same handle lists completely every time
            entries = fs.listdir(d)
            # the host directory's own order (as readdir gives it), never sorted here
            assert [e.name for e in entries] == os.listdir(root / "d")
        assert {e.name: e.ino for e in entries}["f"] == os.stat(root / "d" / "f").st_ino
        top = {e.name: e.mode for e in fs.listdir(rd)}
        assert top == {"d": stat.S_IFDIR, "file": stat.S_IFREG, "link": stat.S_IFLNK}
    finally:
        fs.close(d)


def test_listdir_of_removed_directory(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    (root / "gone").mkdir()
    d = fs.opendir(rd, "gone")
    try:
        os.rmdir(root / "gone")
        assert fs.listdir(d) == []
        with pytest.raises(FileNotFoundError):
            fs.open_file(d, "x", read=False, write=True, create=True)
    finally:
        fs.close(d)


def test_non_utf8_names_round_trip(fs: NativeFileSystem, rd: NativeDir, root: Path) -> None:
    raw = b"caf\xe9"  # not UTF-8
    with open(os.path.join(os.fsencode(root), raw), "wb") as fh:
        fh.write(b"x")
    name = os.fsdecode(raw)
    assert name in [e.name for e in fs.listdir(rd)]
    assert fs.lstat(rd, name).size == 1
    f = fs.open_file(rd, name, read=True, write=False)
    fs.close(f)


# --- search-only directories -----------------------------------------------------------

def _as_unprivileged(func: Callable[[], None]) -> None:
    """Run ``func`` without root's permission bypass (in a forked child when root)."""
    if os.geteuid() != 0:
        func()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            func()
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged check failed (see stderr)"


@pytest.mark.skipif(not hasattr(os, "O_PATH"), reason="search-only handles need O_PATH")
def test_search_only_directory() -> None:
    # not under tmp_path: pytest's base temporary directory is private to its owner
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        _search_only(Path(top) / "root")


def _search_only(root: Path) -> None:
    (root / "x" / "y").mkdir(parents=True)
    (root / "x" / "y" / "f").write_bytes(b"data")
    os.chmod(root, 0o755)
    os.chmod(root / "x", 0o311)  # search (x) but no read: walkable, not listable
    os.chmod(root / "x" / "y", 0o755)
    os.chmod(root / "x" / "y" / "f", 0o644)
    fs = NativeFileSystem(root)

    def check() -> None:
        r = fs.root()
        x = fs.opendir(r, "x")
        assert not x.listable
        with pytest.raises(PermissionError):
            fs.listdir(x)
        assert stat.S_ISDIR(fs.fstat(x).mode)
        y = fs.opendir(x, "y")
        assert [e.name for e in fs.listdir(y)] == ["f"]
        f = fs.open_file(y, "f", read=True, write=False)
        buf = bytearray(4)
        assert fs.pread(f, memoryview(buf), 0) == 4 and buf == b"data"
        for h in (f, y, x, r):
            fs.close(h)
        # a search-only directory as the backend root
        inner = NativeFileSystem(root / "x")
        r2 = inner.root()
        assert not r2.listable
        y2 = inner.opendir(r2, "y")
        assert [e.name for e in inner.listdir(y2)] == ["f"]
        for h in (y2, r2):
            inner.close(h)

    try:
        _as_unprivileged(check)
    finally:
        os.chmod(root / "x", 0o755)


def test_handle_types(fs: NativeFileSystem, rd: NativeDir) -> None:
    f = fs.open_file(rd, "file", read=True, write=False)
    try:
        assert isinstance(rd, NativeDir) and isinstance(f, NativeFile)
        assert f.readable and not f.writable
        assert "fd=" in repr(f)
    finally:
        fs.close(f)
    assert "closed" in repr(f)
    assert native_mod.NativeFileSystem is NativeFileSystem


def test_fsspec_registration_and_pickle(root: Path) -> None:
    import pickle

    import fsspec  # type: ignore[import-untyped]

    fs = fsspec.filesystem("wasifs-native", root=str(root), readonly=True)
    assert isinstance(fs, NativeFileSystem) and fs.readonly
    assert fs.cat_file("/d/f") == b"0123456789"
    assert sorted(fs.ls("/", detail=False)) == ["/d", "/file", "/link"]
    with pytest.raises(OSError) as ei:
        fs.pipe_file("/new", b"x")
    assert ei.value.errno == errno.EROFS
    clone = pickle.loads(pickle.dumps(fs))
    assert clone is not fs and clone.readonly and clone.root_path == str(root)
    assert clone.cat_file("/file") == b"hello world"
    assert fs.fsid == clone.fsid
