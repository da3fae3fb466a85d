"""Test kits for backends: the contract every wasifs backend must pass.

Like ``fsspec.tests.abstract`` and PyFilesystem2's ``FSTestCases``, the suites are classes of
pytest test methods that a subclass activates by providing fixtures::

    import pytest
    from wasifs.testing import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self, tmp_path):
            return MyBackend(tmp_path)          # a new, empty, writable backend

:class:`BackendContract` drives the :class:`~wasifs.backends._protocol.Backend` protocol
(handles, metadata, data, namespace, error numbers, the ``rename(2)`` matrix, hard links,
symlinks, times, read-only mode). :class:`HandleFileSystemContract` drives the fsspec facade
of a :class:`~wasifs.backends.HandleFileSystem` subclass (fixture ``fs``).

Optional fixture: ``make_readonly`` returns a function that turns a populated backend into a
read-only one over the same storage. The default sets ``backend.readonly = True``; a backend
whose read-only mode is a constructor argument overrides it (for example
``lambda b: NativeFileSystem(tmp_path, readonly=True)``).

Errors are checked by host ``errno`` *and* by the ``OSError`` subclass Python maps that errno
to (``FileNotFoundError`` ...), see :func:`raises_errno`.
"""

from __future__ import annotations

import errno
import io
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .backends import HandleFileSystem
from .backends._protocol import Backend, Stat

__all__ = (
    "BackendContract",
    "HandleFileSystemContract",
    "raises_errno",
    "create_file",
    "read_file",
    "opened_file",
    "opened_dir",
)

#: A time in the past (2001-09-09), in nanoseconds, with a non-zero sub-second part.
PAST_NS = 1_000_000_000_123_456_789


@contextmanager
def raises_errno(*codes: int) -> Iterator[pytest.ExceptionInfo[OSError]]:
    """Like ``pytest.raises(OSError)``, and the error's ``errno`` must be one of ``codes``
    and the exception of the subclass Python picks for it (``FileNotFoundError`` for
    ``ENOENT`` ...)."""
    names = "/".join(errno.errorcode.get(c, str(c)) for c in codes)
    with pytest.raises(OSError) as info:
        yield info
    got = info.value.errno
    assert got in codes, (
        f"expected {names}, got {errno.errorcode.get(got, got) if got is not None else None}:"
        f" {info.value!r}")
    expected_class = type(OSError(got, "probe"))
    assert isinstance(info.value, expected_class), (
        f"errno {errno.errorcode[got]} should come as {expected_class.__name__}, "
        f"got {type(info.value).__name__}: {info.value!r}")


def create_file(backend: Backend, dir: Any, name: str, data: bytes = b"") -> None:
    """Create (or truncate) the file ``name`` in ``dir`` holding ``data``."""
    handle = backend.open_file(dir, name, read=False, write=True, create=True, truncate=True)
    try:
        done = 0
        while done < len(data):
            done += backend.pwrite(handle, memoryview(data)[done:], done)
    finally:
        backend.close(handle)


def _read_handle(backend: Backend, handle: Any) -> bytes:
    size = backend.fstat(handle).size
    buf = bytearray(size + 1)
    got = 0
    with memoryview(buf) as view:
        while True:
            n = backend.pread(handle, view[got:], got)
            if n == 0:
                break
            got += n
            if got == len(buf):
                buf.extend(bytes(len(buf)))
                break  # the file grew; a contract test never races with itself
    return bytes(buf[:got])


def read_file(backend: Backend, dir: Any, name: str) -> bytes:
    """The whole content of the file ``name`` in ``dir``."""
    handle = backend.open_file(dir, name, read=True, write=False)
    try:
        return _read_handle(backend, handle)
    finally:
        backend.close(handle)


@contextmanager
def opened_file(backend: Backend, dir: Any, name: str, **flags: Any) -> Iterator[Any]:
    """``open_file`` as a context manager (``read=True, write=True`` unless given)."""
    flags.setdefault("read", True)
    flags.setdefault("write", True)
    handle = backend.open_file(dir, name, **flags)
    try:
        yield handle
    finally:
        backend.close(handle)


@contextmanager
def opened_dir(backend: Backend, dir: Any, name: str) -> Iterator[Any]:
    """``opendir`` as a context manager."""
    handle = backend.opendir(dir, name)
    try:
        yield handle
    finally:
        backend.close(handle)


def _names(backend: Backend, dir: Any) -> set[str]:
    return {entry.name for entry in backend.listdir(dir)}


class BackendContract:
    """The :class:`Backend` protocol contract. Provide a ``backend`` fixture (a new, empty,
    writable backend per test); optionally override ``make_readonly``."""

    # --- fixtures --------------------------------------------------------------------
    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError("a BackendContract subclass must provide a 'backend' fixture")

    @pytest.fixture
    def make_readonly(self) -> Callable[[Backend], Backend]:
        def readonly(backend: Backend) -> Backend:
            backend.readonly = True
            return backend

        return readonly

    @pytest.fixture
    def root(self, backend: Backend) -> Iterator[Any]:
        handle = backend.root()
        yield handle
        backend.close(handle)

    # --- handles ---------------------------------------------------------------------
    def test_root_is_an_empty_directory(self, backend: Backend, root: Any) -> None:
        assert stat.S_ISDIR(backend.fstat(root).mode)
        assert backend.listdir(root) == []
        assert backend.readonly is False

    def test_root_handles_are_the_same_directory(self, backend: Backend, root: Any) -> None:
        other = backend.root()
        try:
            assert backend.same(root, other)
            assert backend.fstat(root).ino == backend.fstat(other).ino
        finally:
            backend.close(other)

    def test_opendir_returns_the_directory(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        with opened_dir(backend, root, "d") as d, opened_dir(backend, root, "d") as again:
            assert backend.same(d, again)
            assert not backend.same(d, root)
            assert backend.fstat(d).ino == backend.lstat(root, "d").ino
            assert stat.S_ISDIR(backend.fstat(d).mode)

    def test_opendir_missing_is_enoent(self, backend: Backend, root: Any) -> None:
        with raises_errno(errno.ENOENT):
            backend.opendir(root, "missing")

    def test_opendir_file_is_enotdir(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        with raises_errno(errno.ENOTDIR):
            backend.opendir(root, "f")

    def test_opendir_symlink_is_eloop(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        backend.symlink("d", root, "to_dir")
        backend.symlink("missing", root, "dangling")
        with raises_errno(errno.ELOOP):
            backend.opendir(root, "to_dir")
        with raises_errno(errno.ELOOP):
            backend.opendir(root, "dangling")

    def test_same_follows_inodes_not_names(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        create_file(backend, root, "g")
        backend.link(root, "f", root, "f2")
        with opened_file(backend, root, "f") as f, opened_file(backend, root, "f2") as f2, \
                opened_file(backend, root, "g") as g:
            assert backend.same(f, f2)
            assert not backend.same(f, g)

    # --- open_file -------------------------------------------------------------------
    def test_open_file_create_makes_an_empty_file(self, backend: Backend, root: Any) -> None:
        with opened_file(backend, root, "new", create=True) as f:
            st = backend.fstat(f)
            assert stat.S_ISREG(st.mode)
            assert st.size == 0
            assert st.nlink == 1
        assert _names(backend, root) == {"new"}
        assert stat.S_ISREG(backend.lstat(root, "new").mode)

    def test_open_file_missing_without_create_is_enoent(self, backend: Backend,
                                                        root: Any) -> None:
        with raises_errno(errno.ENOENT):
            backend.open_file(root, "missing", read=True, write=False)
        assert backend.listdir(root) == []

    def test_open_file_create_keeps_existing_content(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"data")
        with opened_file(backend, root, "f", create=True):
            pass
        assert read_file(backend, root, "f") == b"data"

    def test_open_file_exclusive_on_existing_is_eexist(self, backend: Backend,
                                                       root: Any) -> None:
        create_file(backend, root, "f", b"data")
        backend.mkdir(root, "d")
        backend.symlink("missing", root, "dangling")
        for name in ("f", "d", "dangling"):
            with raises_errno(errno.EEXIST):
                backend.open_file(root, name, read=False, write=True, create=True,
                                  exclusive=True)
        assert read_file(backend, root, "f") == b"data"
        assert not {"missing"} & _names(backend, root)

    def test_open_file_exclusive_creates(self, backend: Backend, root: Any) -> None:
        with opened_file(backend, root, "x", create=True, exclusive=True) as f:
            assert backend.fstat(f).size == 0
        assert "x" in _names(backend, root)

    def test_open_file_truncate_empties(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"some data")
        with opened_file(backend, root, "f", truncate=True) as f:
            assert backend.fstat(f).size == 0
        assert read_file(backend, root, "f") == b""

    def test_open_file_directory_is_eisdir(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        with raises_errno(errno.EISDIR):
            backend.open_file(root, "d", read=True, write=False)
        with raises_errno(errno.EISDIR):
            backend.open_file(root, "d", read=True, write=True, create=True)

    def test_open_file_symlink_is_eloop(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"target")
        backend.symlink("f", root, "link")
        backend.symlink("missing", root, "dangling")
        with raises_errno(errno.ELOOP):
            backend.open_file(root, "link", read=True, write=False)
        with raises_errno(errno.ELOOP):
            backend.open_file(root, "dangling", read=True, write=True, create=True)
        assert "missing" not in _names(backend, root)

    def test_open_file_in_removed_directory_is_enoent(self, backend: Backend,
                                                      root: Any) -> None:
        backend.mkdir(root, "d")
        with opened_dir(backend, root, "d") as d:
            backend.rmdir(root, "d")
            with raises_errno(errno.ENOENT):
                backend.open_file(d, "f", read=True, write=True, create=True)
            with raises_errno(errno.ENOENT):
                backend.mkdir(d, "sub")
            assert backend.listdir(d) == []

    # --- metadata --------------------------------------------------------------------
    def test_lstat_and_fstat_agree(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"12345")
        by_name = backend.lstat(root, "f")
        with opened_file(backend, root, "f") as f:
            by_handle = backend.fstat(f)
        assert isinstance(by_name, Stat)
        assert by_name.ino == by_handle.ino
        assert by_name.dev == by_handle.dev == backend.fstat(root).dev
        assert by_name.size == by_handle.size == 5
        assert stat.S_ISREG(by_name.mode) and by_name.mode == by_handle.mode
        assert by_name.nlink == 1

    def test_lstat_missing_is_enoent(self, backend: Backend, root: Any) -> None:
        with raises_errno(errno.ENOENT):
            backend.lstat(root, "missing")

    def test_lstat_does_not_follow_symlinks(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        backend.symlink("d", root, "link")
        st = backend.lstat(root, "link")
        assert stat.S_ISLNK(st.mode)
        assert st.size == len(b"d")
        assert st.ino != backend.lstat(root, "d").ino

    def test_inode_numbers_are_distinct_and_stable(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "a")
        create_file(backend, root, "b")
        backend.mkdir(root, "d")
        inos = {backend.lstat(root, n).ino for n in ("a", "b", "d")}
        inos.add(backend.fstat(root).ino)
        assert len(inos) == 4
        before = backend.lstat(root, "a").ino
        backend.rename(root, "a", root, "renamed")
        assert backend.lstat(root, "renamed").ino == before

    def test_stat_times_are_integer_nanoseconds(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        st = backend.lstat(root, "f")
        for value in (st.atime_ns, st.mtime_ns, st.ctime_ns):
            assert isinstance(value, int)
            assert value > PAST_NS  # "now", in nanoseconds since the epoch

    def test_readlink_returns_target(self, backend: Backend, root: Any) -> None:
        backend.symlink("some/target", root, "link")
        assert backend.readlink(root, "link") == "some/target"

    def test_readlink_not_a_symlink_is_einval(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.mkdir(root, "d")
        with raises_errno(errno.EINVAL):
            backend.readlink(root, "f")
        with raises_errno(errno.EINVAL):
            backend.readlink(root, "d")

    def test_readlink_missing_is_enoent(self, backend: Backend, root: Any) -> None:
        with raises_errno(errno.ENOENT):
            backend.readlink(root, "missing")

    def test_listdir_lists_entries_without_dot_entries(self, backend: Backend,
                                                       root: Any) -> None:
        create_file(backend, root, "f")
        backend.mkdir(root, "d")
        backend.symlink("nowhere", root, "l")
        entries = backend.listdir(root)
        assert sorted(e.name for e in entries) == ["d", "f", "l"]
        for entry in entries:
            st = backend.lstat(root, entry.name)
            assert entry.ino == st.ino
            if entry.mode:
                assert stat.S_IFMT(entry.mode) == stat.S_IFMT(st.mode)
        assert [e.name for e in backend.listdir(root)] == [e.name for e in entries]

    def test_listdir_of_subdirectory(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        with opened_dir(backend, root, "d") as d:
            assert backend.listdir(d) == []
            create_file(backend, d, "inner")
            assert [e.name for e in backend.listdir(d)] == ["inner"]
        assert _names(backend, root) == {"d"}

    def test_listdir_many_entries(self, backend: Backend, root: Any) -> None:
        names = {f"file{i:03d}" for i in range(200)}
        for name in names:
            create_file(backend, root, name)
        assert _names(backend, root) == names

    # --- times -----------------------------------------------------------------------
    def test_set_times_exact_nanoseconds(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.set_times(root, "f", PAST_NS, PAST_NS + 1_000)
        st = backend.lstat(root, "f")
        assert st.atime_ns == PAST_NS
        assert st.mtime_ns == PAST_NS + 1_000
        assert st.ctime_ns > PAST_NS + 1_000  # ctime is "now": utimens cannot set it

    def test_set_times_none_keeps_that_time(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.set_times(root, "f", PAST_NS, PAST_NS)
        backend.set_times(root, "f", None, PAST_NS + 5)
        st = backend.lstat(root, "f")
        assert (st.atime_ns, st.mtime_ns) == (PAST_NS, PAST_NS + 5)
        backend.set_times(root, "f", PAST_NS + 7, None)
        st = backend.lstat(root, "f")
        assert (st.atime_ns, st.mtime_ns) == (PAST_NS + 7, PAST_NS + 5)
        backend.set_times(root, "f", None, None)
        st = backend.lstat(root, "f")
        assert (st.atime_ns, st.mtime_ns) == (PAST_NS + 7, PAST_NS + 5)

    def test_set_times_does_not_follow_symlinks(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.set_times(root, "f", PAST_NS, PAST_NS)
        backend.symlink("f", root, "link")
        backend.set_times(root, "link", PAST_NS + 10, PAST_NS + 20)
        link = backend.lstat(root, "link")
        target = backend.lstat(root, "f")
        assert (link.atime_ns, link.mtime_ns) == (PAST_NS + 10, PAST_NS + 20)
        assert (target.atime_ns, target.mtime_ns) == (PAST_NS, PAST_NS)

    def test_set_times_missing_is_enoent(self, backend: Backend, root: Any) -> None:
        with raises_errno(errno.ENOENT):
            backend.set_times(root, "missing", PAST_NS, PAST_NS)

    def test_fset_times_on_file_and_directory(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.mkdir(root, "d")
        with opened_file(backend, root, "f") as f:
            backend.fset_times(f, PAST_NS, PAST_NS + 1)
            st = backend.fstat(f)
            assert (st.atime_ns, st.mtime_ns) == (PAST_NS, PAST_NS + 1)
        with opened_dir(backend, root, "d") as d:
            backend.fset_times(d, None, PAST_NS + 2)
            assert backend.fstat(d).mtime_ns == PAST_NS + 2
        assert backend.lstat(root, "d").mtime_ns == PAST_NS + 2

    def test_write_updates_mtime_and_ctime(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        backend.set_times(root, "f", PAST_NS, PAST_NS)
        with opened_file(backend, root, "f") as f:
            ctime_before = backend.fstat(f).ctime_ns
            backend.pwrite(f, b"x", 1)
            st = backend.fstat(f)
        assert st.mtime_ns > PAST_NS
        assert st.ctime_ns >= ctime_before
        assert st.atime_ns == PAST_NS

    def test_append_and_truncate_update_mtime(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        with opened_file(backend, root, "f") as f:
            backend.fset_times(f, PAST_NS, PAST_NS)
            backend.append(f, b"more")
            assert backend.fstat(f).mtime_ns > PAST_NS
            backend.fset_times(f, PAST_NS, PAST_NS)
            backend.ftruncate(f, 1)
            assert backend.fstat(f).mtime_ns > PAST_NS

    def test_read_does_not_change_mtime(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        backend.set_times(root, "f", PAST_NS, PAST_NS)
        with opened_file(backend, root, "f", write=False) as f:
            backend.pread(f, memoryview(bytearray(3)), 0)
            assert backend.fstat(f).mtime_ns == PAST_NS

    def test_namespace_changes_update_directory_mtime(self, backend: Backend,
                                                      root: Any) -> None:
        backend.mkdir(root, "a")
        backend.mkdir(root, "b")
        with opened_dir(backend, root, "a") as a, opened_dir(backend, root, "b") as b:
            steps: list[tuple[str, Callable[[], None], list[Any]]] = [
                ("create", lambda: create_file(backend, a, "f"), [a]),
                ("mkdir", lambda: backend.mkdir(a, "sub"), [a]),
                ("symlink", lambda: backend.symlink("x", a, "l"), [a]),
                ("link", lambda: backend.link(a, "f", b, "hard"), [b]),
                ("rename", lambda: backend.rename(a, "l", b, "moved"), [a, b]),
                ("unlink", lambda: backend.unlink(b, "hard"), [b]),
                ("rmdir", lambda: backend.rmdir(a, "sub"), [a]),
            ]
            for what, step, dirs in steps:
                for d in (a, b):
                    backend.fset_times(d, PAST_NS, PAST_NS)
                step()
                for d in dirs:
                    assert backend.fstat(d).mtime_ns > PAST_NS, f"{what} kept the dir mtime"

    # --- file data -------------------------------------------------------------------
    def test_pwrite_then_pread_roundtrip(self, backend: Backend, root: Any) -> None:
        with opened_file(backend, root, "f", create=True) as f:
            assert backend.pwrite(f, b"hello world", 0) == 11
            buf = bytearray(11)
            assert backend.pread(f, memoryview(buf), 0) == 11
            assert buf == b"hello world"
            assert backend.fstat(f).size == 11

    def test_pread_partial_at_end(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"0123456789")
        with opened_file(backend, root, "f", write=False) as f:
            buf = bytearray(b"\xff" * 8)
            assert backend.pread(f, memoryview(buf), 6) == 4
            assert buf == b"6789" + b"\xff" * 4

    def test_pread_at_or_past_end_is_zero(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        with opened_file(backend, root, "f", write=False) as f:
            buf = bytearray(4)
            assert backend.pread(f, memoryview(buf), 3) == 0
            assert backend.pread(f, memoryview(buf), 1000) == 0
            assert backend.pread(f, memoryview(buf)[:0], 0) == 0
            assert buf == bytes(4)

    def test_pread_into_a_slice(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abcdef")
        with opened_file(backend, root, "f", write=False) as f:
            buf = bytearray(b"." * 10)
            assert backend.pread(f, memoryview(buf)[2:5], 1) == 3
            assert buf == b"..bcd....."

    def test_pwrite_overwrites_in_place(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"0123456789")
        with opened_file(backend, root, "f") as f:
            assert backend.pwrite(f, memoryview(b"..ab..")[2:4], 4) == 2
            assert backend.fstat(f).size == 10
        assert read_file(backend, root, "f") == b"0123ab6789"

    def test_pwrite_past_end_fills_with_zeros(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"ab")
        with opened_file(backend, root, "f") as f:
            assert backend.pwrite(f, b"xy", 6) == 2
            assert backend.fstat(f).size == 8
        assert read_file(backend, root, "f") == b"ab\0\0\0\0xy"

    def test_pwrite_straddling_end_extends(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abcd")
        with opened_file(backend, root, "f") as f:
            assert backend.pwrite(f, b"XYZ", 2) == 3
        assert read_file(backend, root, "f") == b"abXYZ"

    def test_pwrite_empty_changes_nothing(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        with opened_file(backend, root, "f") as f:
            assert backend.pwrite(f, b"", 100) == 0
            assert backend.fstat(f).size == 3

    def test_large_data_roundtrip(self, backend: Backend, root: Any) -> None:
        data = bytes(range(256)) * 8192  # 2 MiB
        create_file(backend, root, "big", data)
        assert read_file(backend, root, "big") == data

    def test_append_writes_at_the_end(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        with opened_file(backend, root, "f") as f:
            assert backend.append(f, b"de") == (2, 5)
            backend.pwrite(f, b"XYZ", 4)  # the file is now 7 bytes
            assert backend.append(f, memoryview(b"!")) == (1, 8)
            assert backend.append(f, b"") == (0, 8)
        assert read_file(backend, root, "f") == b"abcdXYZ!"

    def test_append_is_seen_by_other_handles(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        with opened_file(backend, root, "f") as one, opened_file(backend, root, "f") as two:
            backend.append(one, b"11")
            backend.append(two, b"22")
            backend.append(one, b"33")
        assert read_file(backend, root, "f") == b"112233"

    def test_ftruncate_shrinks_and_grows_with_zeros(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abcdef")
        with opened_file(backend, root, "f") as f:
            backend.ftruncate(f, 2)
            assert backend.fstat(f).size == 2
            backend.ftruncate(f, 5)
            assert backend.fstat(f).size == 5
        assert read_file(backend, root, "f") == b"ab\0\0\0"

    def test_allocate_beyond_end_extends(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        with opened_file(backend, root, "f") as f:
            backend.allocate(f, 2, 8)
            assert backend.fstat(f).size == 10
            backend.allocate(f, 0, 4)  # inside: never shrinks
            assert backend.fstat(f).size == 10
        assert read_file(backend, root, "f") == b"abc" + bytes(7)

    def test_fsync(self, backend: Backend, root: Any) -> None:
        with opened_file(backend, root, "f", create=True) as f:
            backend.pwrite(f, b"data", 0)
            backend.fsync(f)
            backend.fsync(f, dataonly=True)
        assert read_file(backend, root, "f") == b"data"

    def test_handles_share_data(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"old")
        with opened_file(backend, root, "f") as w, \
                opened_file(backend, root, "f", write=False) as r:
            backend.pwrite(w, b"new!", 0)
            buf = bytearray(8)
            assert backend.pread(r, memoryview(buf), 0) == 4
            assert buf[:4] == b"new!"

    def test_unlinked_open_file_stays_usable(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"abc")
        with opened_file(backend, root, "f") as f:
            backend.unlink(root, "f")
            assert "f" not in _names(backend, root)
            assert backend.fstat(f).nlink == 0
            backend.pwrite(f, b"d", 3)
            assert _read_handle(backend, f) == b"abcd"

    # --- namespace: mkdir / rmdir / unlink --------------------------------------------
    def test_mkdir_creates_a_directory(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        st = backend.lstat(root, "d")
        assert stat.S_ISDIR(st.mode)
        with opened_dir(backend, root, "d") as d:
            assert backend.listdir(d) == []

    def test_mkdir_existing_is_eexist(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        create_file(backend, root, "f")
        backend.symlink("nowhere", root, "dangling")
        for name in ("d", "f", "dangling"):
            with raises_errno(errno.EEXIST):
                backend.mkdir(root, name)
        assert "nowhere" not in _names(backend, root)

    def test_rmdir_removes_an_empty_directory(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        backend.rmdir(root, "d")
        assert backend.listdir(root) == []

    def test_rmdir_errors(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "full")
        with opened_dir(backend, root, "full") as d:
            create_file(backend, d, "f")
        create_file(backend, root, "file")
        backend.mkdir(root, "empty")
        backend.symlink("empty", root, "link")
        with raises_errno(errno.ENOTEMPTY, errno.EEXIST):
            backend.rmdir(root, "full")
        with raises_errno(errno.ENOTDIR):
            backend.rmdir(root, "file")
        with raises_errno(errno.ENOTDIR):
            backend.rmdir(root, "link")
        with raises_errno(errno.ENOENT):
            backend.rmdir(root, "missing")
        assert _names(backend, root) == {"full", "file", "empty", "link"}

    def test_unlink_removes_files_and_symlinks(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.mkdir(root, "d")
        backend.symlink("d", root, "link")
        backend.unlink(root, "link")
        backend.unlink(root, "f")
        assert _names(backend, root) == {"d"}

    def test_unlink_errors(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        with raises_errno(errno.EISDIR):
            backend.unlink(root, "d")
        with raises_errno(errno.ENOENT):
            backend.unlink(root, "missing")
        assert _names(backend, root) == {"d"}

    # --- rename(2) ---------------------------------------------------------------------
    def test_rename_file_to_new_name(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "a", b"data")
        backend.mkdir(root, "d")
        ino = backend.lstat(root, "a").ino
        with opened_dir(backend, root, "d") as d:
            backend.rename(root, "a", d, "b")
            assert backend.lstat(d, "b").ino == ino
            assert read_file(backend, d, "b") == b"data"
        assert _names(backend, root) == {"d"}

    def test_rename_file_over_file_replaces_it(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "a", b"new")
        create_file(backend, root, "b", b"old")
        with opened_file(backend, root, "b") as old:
            backend.rename(root, "a", root, "b")
            assert backend.fstat(old).nlink == 0
            assert _read_handle(backend, old) == b"old"
        assert _names(backend, root) == {"b"}
        assert read_file(backend, root, "b") == b"new"

    def test_rename_dir_over_empty_dir_replaces_it(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "src")
        backend.mkdir(root, "dst")
        with opened_dir(backend, root, "src") as src:
            create_file(backend, src, "inside", b"x")
        ino = backend.lstat(root, "src").ino
        backend.rename(root, "src", root, "dst")
        assert _names(backend, root) == {"dst"}
        assert backend.lstat(root, "dst").ino == ino
        with opened_dir(backend, root, "dst") as dst:
            assert read_file(backend, dst, "inside") == b"x"

    def test_rename_dir_over_non_empty_dir_is_enotempty(self, backend: Backend,
                                                         root: Any) -> None:
        backend.mkdir(root, "src")
        backend.mkdir(root, "dst")
        with opened_dir(backend, root, "dst") as dst:
            create_file(backend, dst, "f")
        with raises_errno(errno.ENOTEMPTY, errno.EEXIST):
            backend.rename(root, "src", root, "dst")
        assert _names(backend, root) == {"src", "dst"}

    def test_rename_file_over_dir_is_eisdir(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.mkdir(root, "d")
        with raises_errno(errno.EISDIR):
            backend.rename(root, "f", root, "d")
        assert _names(backend, root) == {"f", "d"}

    def test_rename_dir_over_file_is_enotdir(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.mkdir(root, "d")
        with raises_errno(errno.ENOTDIR):
            backend.rename(root, "d", root, "f")
        assert _names(backend, root) == {"f", "d"}

    def test_rename_to_itself_is_a_no_op(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"data")
        backend.mkdir(root, "d")
        backend.rename(root, "f", root, "f")
        backend.rename(root, "d", root, "d")
        assert _names(backend, root) == {"f", "d"}
        assert read_file(backend, root, "f") == b"data"

    def test_rename_between_hard_links_is_a_no_op(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"data")
        backend.link(root, "f", root, "g")
        backend.rename(root, "f", root, "g")
        assert _names(backend, root) == {"f", "g"}
        assert backend.lstat(root, "g").nlink == 2

    def test_rename_dir_into_its_own_subtree_is_einval(self, backend: Backend,
                                                        root: Any) -> None:
        backend.mkdir(root, "a")
        with opened_dir(backend, root, "a") as a:
            backend.mkdir(a, "b")
            with opened_dir(backend, a, "b") as b:
                with raises_errno(errno.EINVAL):
                    backend.rename(root, "a", b, "c")
                with raises_errno(errno.EINVAL):
                    backend.rename(root, "a", a, "c")
                assert backend.listdir(b) == []
        assert _names(backend, root) == {"a"}

    def test_rename_dir_onto_its_ancestor_is_refused(self, backend: Backend,
                                                      root: Any) -> None:
        backend.mkdir(root, "a")
        with opened_dir(backend, root, "a") as a:
            backend.mkdir(a, "b")
            with raises_errno(errno.ENOTEMPTY, errno.EEXIST, errno.EINVAL, errno.EBUSY):
                backend.rename(a, "b", root, "a")
            assert _names(backend, a) == {"b"}

    def test_rename_missing_source_is_enoent(self, backend: Backend, root: Any) -> None:
        with raises_errno(errno.ENOENT):
            backend.rename(root, "missing", root, "other")

    def test_rename_moves_the_symlink_not_its_target(self, backend: Backend,
                                                      root: Any) -> None:
        create_file(backend, root, "f")
        backend.symlink("f", root, "link")
        backend.rename(root, "link", root, "moved")
        assert _names(backend, root) == {"f", "moved"}
        assert backend.readlink(root, "moved") == "f"

    def test_rename_keeps_open_directory_handles_working(self, backend: Backend,
                                                         root: Any) -> None:
        backend.mkdir(root, "a")
        backend.mkdir(root, "parent")
        with opened_dir(backend, root, "a") as a:
            create_file(backend, a, "f", b"x")
            with opened_dir(backend, root, "parent") as parent:
                backend.rename(root, "a", parent, "b")
                with opened_dir(backend, parent, "b") as b:
                    assert backend.same(a, b)
            assert _names(backend, a) == {"f"}
            create_file(backend, a, "g")
        with opened_dir(backend, root, "parent") as parent, \
                opened_dir(backend, parent, "b") as b:
            assert _names(backend, b) == {"f", "g"}

    # --- hard links --------------------------------------------------------------------
    def test_link_counts(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"shared")
        backend.mkdir(root, "d")
        with opened_dir(backend, root, "d") as d:
            backend.link(root, "f", d, "g")
            assert backend.lstat(root, "f").nlink == 2
            assert backend.lstat(d, "g").nlink == 2
            assert backend.lstat(root, "f").ino == backend.lstat(d, "g").ino
            with opened_file(backend, d, "g") as g:
                backend.pwrite(g, b"SH", 0)
            assert read_file(backend, root, "f") == b"SHared"
            backend.unlink(root, "f")
            assert backend.lstat(d, "g").nlink == 1
            assert read_file(backend, d, "g") == b"SHared"

    def test_link_directory_is_eperm(self, backend: Backend, root: Any) -> None:
        backend.mkdir(root, "d")
        with raises_errno(errno.EPERM):
            backend.link(root, "d", root, "d2")
        assert _names(backend, root) == {"d"}

    def test_link_errors(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        create_file(backend, root, "g")
        with raises_errno(errno.EEXIST):
            backend.link(root, "f", root, "g")
        with raises_errno(errno.ENOENT):
            backend.link(root, "missing", root, "h")
        assert backend.lstat(root, "f").nlink == 1

    def test_link_does_not_follow_symlinks(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f")
        backend.symlink("f", root, "link")
        backend.link(root, "link", root, "hard")
        st = backend.lstat(root, "hard")
        assert stat.S_ISLNK(st.mode)
        assert st.ino == backend.lstat(root, "link").ino
        assert backend.lstat(root, "f").nlink == 1

    # --- symlinks ----------------------------------------------------------------------
    @pytest.mark.parametrize("target", [
        "plain", "nowhere/at/all", "/etc/passwd", "../../escape", "a//b/./c/", "dir/",
        ".", "..", "spa ce", "ünïcödé",
    ])
    def test_symlink_stores_target_verbatim(self, backend: Backend, root: Any,
                                            target: str) -> None:
        backend.symlink(target, root, "link")
        assert backend.readlink(root, "link") == target
        st = backend.lstat(root, "link")
        assert stat.S_ISLNK(st.mode)
        assert st.size == len(target.encode())
        assert _names(backend, root) == {"link"}

    def test_symlink_existing_is_eexist(self, backend: Backend, root: Any) -> None:
        create_file(backend, root, "f", b"keep")
        backend.mkdir(root, "d")
        backend.symlink("x", root, "l")
        for name in ("f", "d", "l"):
            with raises_errno(errno.EEXIST):
                backend.symlink("other", root, name)
        assert read_file(backend, root, "f") == b"keep"
        assert backend.readlink(root, "l") == "x"

    # --- read-only ---------------------------------------------------------------------
    def test_readonly_refuses_every_mutation(
            self, backend: Backend, root: Any,
            make_readonly: Callable[[Backend], Backend]) -> None:
        backend.mkdir(root, "d")
        backend.mkdir(root, "empty")
        create_file(backend, root, "f", b"data")
        backend.symlink("f", root, "l")
        ro = make_readonly(backend)
        assert ro.readonly is True
        r = ro.root()
        try:
            mutations: list[tuple[str, Callable[[], object]]] = [
                ("mkdir", lambda: ro.mkdir(r, "new")),
                ("rmdir", lambda: ro.rmdir(r, "empty")),
                ("unlink", lambda: ro.unlink(r, "f")),
                ("unlink symlink", lambda: ro.unlink(r, "l")),
                ("rename", lambda: ro.rename(r, "f", r, "g")),
                ("link", lambda: ro.link(r, "f", r, "g")),
                ("symlink", lambda: ro.symlink("f", r, "new")),
                ("set_times", lambda: ro.set_times(r, "f", PAST_NS, PAST_NS)),
                ("open for writing", lambda: ro.open_file(r, "f", read=True, write=True)),
                ("open to create", lambda: ro.open_file(r, "new", read=True, write=True,
                                                        create=True)),
                ("open to truncate", lambda: ro.open_file(r, "f", read=True, write=False,
                                                          truncate=True)),
            ]
            for what, mutate in mutations:
                with raises_errno(errno.EROFS):
                    mutate()
                    pytest.fail(f"{what} succeeded on a read-only backend")
            with opened_file(ro, r, "f", write=False) as f:
                with raises_errno(errno.EROFS):
                    ro.fset_times(f, PAST_NS, PAST_NS)
            # Everything is as it was, and still readable.
            assert _names(ro, r) == {"d", "empty", "f", "l"}
            assert read_file(ro, r, "f") == b"data"
            assert ro.readlink(r, "l") == "f"
            assert stat.S_ISDIR(ro.lstat(r, "d").mode)
            with opened_dir(ro, r, "d") as d:
                assert ro.listdir(d) == []
        finally:
            ro.close(r)


class HandleFileSystemContract:
    """The fsspec facade of a :class:`~wasifs.backends.HandleFileSystem` subclass. Provide
    an ``fs`` fixture (a new, empty, writable instance with ``auto_mkdir=False``)."""

    @pytest.fixture
    def fs(self) -> HandleFileSystem:
        raise NotImplementedError(
            "a HandleFileSystemContract subclass must provide an 'fs' fixture")

    @pytest.fixture
    def make_readonly(self) -> Callable[[HandleFileSystem], HandleFileSystem]:
        def readonly(fs: HandleFileSystem) -> HandleFileSystem:
            fs.readonly = True
            return fs

        return readonly

    def test_pipe_and_cat(self, fs: HandleFileSystem) -> None:
        fs.pipe("/f", b"0123456789")
        assert fs.cat("/f") == b"0123456789"
        assert fs.cat_file("/f", 2, 5) == b"234"
        assert fs.cat_file("/f", -3) == b"789"
        assert fs.cat_file("/f", 1, -7) == b"12"
        assert fs.cat_file("/f", 8, 100) == b"89"
        assert fs.cat_file("/f", 5, 2) == b""

    def test_relative_and_protocol_paths_are_from_the_root(self, fs: HandleFileSystem) -> None:
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        fs.pipe("a", b"x")
        assert fs.cat("/a") == b"x"
        assert fs.cat(f"{protocol}://a") == b"x"
        assert fs.cat("/./a/") == b"x"
        assert fs.unstrip_protocol("/a") == f"{protocol}:///a"

    def test_ls_and_info(self, fs: HandleFileSystem) -> None:
        fs.mkdir("/d")
        fs.pipe("/d/f", b"abc")
        fs.mkdir("/d/sub")
        assert sorted(fs.ls("/d", detail=False)) == ["/d/f", "/d/sub"]
        details = {entry["name"]: entry for entry in fs.ls("/d")}
        assert details["/d/f"]["type"] == "file" and details["/d/f"]["size"] == 3
        assert details["/d/sub"]["type"] == "directory"
        assert fs.ls("/d/f", detail=False) == ["/d/f"]
        info = fs.info("/d/f")
        assert info["name"] == "/d/f" and info["size"] == 3 and info["islink"] is False
        assert info["ino"] != fs.info("/d")["ino"] and info["nlink"] == 1
        assert fs.info("/")["type"] == "directory"
        assert fs.isdir("/d") and fs.isfile("/d/f") and not fs.isfile("/d")
        assert fs.size("/d/f") == 3

    def test_missing_paths(self, fs: HandleFileSystem) -> None:
        with raises_errno(errno.ENOENT) as info:
            fs.info("/no/such/file")
        assert info.value.filename == "/no/such/file"
        with raises_errno(errno.ENOENT):
            fs.ls("/missing")
        with raises_errno(errno.ENOENT):
            fs.cat("/missing")
        assert not fs.exists("/missing")
        fs.pipe("/file", b"")
        with raises_errno(errno.ENOTDIR):
            fs.info("/file/below")

    def test_mkdir_and_makedirs(self, fs: HandleFileSystem) -> None:
        fs.mkdir("/a/b/c")
        assert fs.isdir("/a/b/c")
        with raises_errno(errno.EEXIST):
            fs.mkdir("/a/b/c")
        with raises_errno(errno.ENOENT):
            fs.mkdir("/x/y", create_parents=False)
        fs.mkdir("/a/b/c/d", create_parents=False)
        fs.makedirs("/a/b/c", exist_ok=True)
        with raises_errno(errno.EEXIST):
            fs.makedirs("/a/b/c")
        fs.pipe("/file", b"")
        with raises_errno(errno.EEXIST):
            fs.makedirs("/file", exist_ok=True)
        with raises_errno(errno.ENOTDIR, errno.EEXIST):
            fs.makedirs("/file/sub", exist_ok=True)

    def test_rmdir(self, fs: HandleFileSystem) -> None:
        fs.mkdir("/d/e")
        with raises_errno(errno.ENOTEMPTY, errno.EEXIST):
            fs.rmdir("/d")
        fs.rmdir("/d/e")
        fs.rmdir("/d")
        assert fs.ls("/") == []

    def test_symlinks_in_paths(self, fs: HandleFileSystem) -> None:
        fs.mkdir("/real/inner")
        fs.pipe("/real/inner/f", b"through")
        fs.symlink("real/inner", "/rel")
        fs.symlink("/real", "/abs")
        fs.symlink("../real/inner/f", "/real/up")
        assert fs.cat("/rel/f") == b"through"
        assert fs.cat("/abs/inner/f") == b"through"
        assert fs.cat("/real/up") == b"through"
        # ".." applies to the directory reached, not to the text of the path.
        assert fs.cat("/rel/../inner/f") == b"through"
        assert fs.readlink("/abs") == "/real"
        assert fs.islink("/abs") and not fs.islink("/real")
        info = fs.info("/rel")
        assert info["islink"] is True and info["type"] == "directory"
        assert info["destination"] == "real/inner"
        listed = {e["name"]: e for e in fs.ls("/")}
        assert listed["/rel"]["type"] == "other" and listed["/rel"]["islink"] is True

    def test_dangling_and_looping_symlinks(self, fs: HandleFileSystem) -> None:
        fs.symlink("missing", "/dangling")
        fs.symlink("loop2", "/loop1")
        fs.symlink("loop1", "/loop2")
        assert not fs.exists("/dangling")
        assert fs.lexists("/dangling")
        assert fs.islink("/dangling")
        with raises_errno(errno.ENOENT):
            fs.info("/dangling")
        with raises_errno(errno.ELOOP) as info:
            fs.cat("/loop1")
        assert info.value.filename == "/loop1"
        with raises_errno(errno.ELOOP):
            fs.ls("/loop1/x")
        names = {e["name"]: e for e in fs.ls("/")}
        assert names["/dangling"]["type"] == "other"

    def test_open_modes(self, fs: HandleFileSystem) -> None:
        with fs.open("/f", "wb") as f:
            assert f.write(b"hello") == 5
            assert f.tell() == 5
        with fs.open("/f", "ab") as f:
            f.write(b" world")
        with fs.open("/f", "rb") as f:
            assert f.read(5) == b"hello"
            assert f.seek(-5, io.SEEK_END) == 6
            assert f.read() == b"world"
            assert f.read() == b""
            assert f.size == 11
        with fs.open("/f", "r+b") as f:
            f.seek(6)
            f.write(b"W")
            f.seek(0)
            assert f.read() == b"hello World"
            f.truncate(5)
        assert fs.cat("/f") == b"hello"
        with fs.open("/f", "w+b") as f:
            assert f.read() == b""
            f.write(b"abc")
            f.seek(1)
            assert f.read(1) == b"b"
        with raises_errno(errno.EEXIST):
            fs.open("/f", "xb")
        with fs.open("/g", "xb") as f:
            f.write(b"new")
        assert fs.cat("/g") == b"new"
        with fs.open("/t", "w") as text:
            text.write("text ü\n")
        with fs.open("/t", "r", encoding="utf-8") as text:
            assert text.read() == "text ü\n"
        with raises_errno(errno.EISDIR):
            fs.open("/", "rb")
        with fs.open("/f", "rb") as f, pytest.raises(io.UnsupportedOperation):
            f.write(b"x")

    def test_open_through_symlinks(self, fs: HandleFileSystem) -> None:
        fs.symlink("target", "/link")
        with fs.open("/link", "wb") as f:  # creates the target, like O_CREAT does
            f.write(b"via link")
        assert fs.cat("/target") == b"via link"
        assert fs.islink("/link")
        fs.symlink("elsewhere", "/dangling")
        with raises_errno(errno.EEXIST):
            fs.open("/dangling", "xb")
        assert not fs.lexists("/elsewhere")

    def test_mv_is_a_rename(self, fs: HandleFileSystem) -> None:
        fs.pipe("/a", b"data")
        ino = fs.info("/a")["ino"]
        fs.mv("/a", "/b")
        assert not fs.exists("/a")
        assert fs.info("/b")["ino"] == ino
        fs.mkdir("/d")
        fs.mv("/b", "/d")  # into an existing directory, as fsspec's local mv does
        assert fs.info("/d/b")["ino"] == ino
        fs.pipe("/other", b"other")
        fs.replace("/other", "/d/b")  # rename(2): replaces the file
        assert fs.cat("/d/b") == b"other"
        fs.mkdir("/e/inner")
        fs.mv("/e", "/moved")
        assert fs.isdir("/moved/inner") and not fs.exists("/e")

    def test_rm(self, fs: HandleFileSystem) -> None:
        fs.mkdir("/tree/sub")
        fs.pipe("/tree/sub/f", b"1")
        fs.pipe("/tree/g", b"2")
        fs.mkdir("/kept")
        fs.pipe("/kept/precious", b"!")
        fs.symlink("/kept", "/tree/link_to_kept")
        fs.pipe("/single", b"")
        fs.rm("/single")
        assert not fs.exists("/single")
        with raises_errno(errno.EISDIR):
            fs.rm("/tree")
        fs.rm("/tree", recursive=True)
        assert not fs.lexists("/tree")
        assert fs.cat("/kept/precious") == b"!"  # a symlink is removed, never followed
        fs.symlink("/kept", "/link")
        fs.rm("/link", recursive=True)
        assert fs.cat("/kept/precious") == b"!"
        fs.rm_file("/kept/precious")
        fs._rm("/kept")
        assert fs.ls("/") == []

    def test_cp_file(self, fs: HandleFileSystem) -> None:
        data = bytes(range(256)) * 5000
        fs.pipe("/src", data)
        fs.cp_file("/src", "/dst")
        assert fs.cat("/dst") == data
        assert fs.info("/dst")["ino"] != fs.info("/src")["ino"]
        fs.pipe("/small", b"x")
        fs.cp_file("/small", "/dst")
        assert fs.cat("/dst") == b"x"

    def test_touch(self, fs: HandleFileSystem) -> None:
        fs.touch("/f")
        assert fs.cat("/f") == b""
        fs.pipe("/g", b"keep")
        fs.set_path_times("/g", 1_000_000_000_000_000_000, 1_000_000_000_000_000_000)
        fs.touch("/g", truncate=False)
        assert fs.cat("/g") == b"keep"
        assert fs.info("/g")["mtime_ns"] > 1_000_000_000_000_000_000
        fs.touch("/g")
        assert fs.cat("/g") == b""

    def test_times(self, fs: HandleFileSystem) -> None:
        fs.pipe("/f", b"")
        fs.set_path_times("/f", PAST_NS, PAST_NS)
        modified = fs.modified("/f")
        assert modified.tzinfo is not None
        assert modified.timestamp() == pytest.approx(PAST_NS / 1e9, abs=1e-5)
        assert fs.created("/f").timestamp() > PAST_NS / 1e9

    def test_hard_links(self, fs: HandleFileSystem) -> None:
        fs.pipe("/f", b"x")
        fs.link("/f", "/g")
        assert fs.info("/f")["ino"] == fs.info("/g")["ino"]
        assert fs.info("/g")["nlink"] == 2

    def test_auto_mkdir(self, fs: HandleFileSystem) -> None:
        with raises_errno(errno.ENOENT):
            fs.pipe("/new/dir/f", b"x")
        fs.auto_mkdir = True
        fs.pipe("/new/dir/f", b"x")
        fs.touch("/other/t")
        fs.symlink("x", "/third/l")
        assert fs.cat("/new/dir/f") == b"x"
        assert fs.isdir("/other") and fs.islink("/third/l")

    def test_walk_find_glob_do_not_follow_symlinked_dirs(self, fs: HandleFileSystem) -> None:
        fs.mkdir("/top/a")
        fs.pipe("/top/a/f", b"")
        fs.symlink("/top", "/top/a/cycle")
        assert sorted(fs.find("/top")) == ["/top/a/cycle", "/top/a/f"]
        assert sorted(fs.glob("/top/*/f")) == ["/top/a/f"]
        assert sorted(fs.find("/top", withdirs=True)) == [
            "/top", "/top/a", "/top/a/cycle", "/top/a/f"]

    def test_readonly(self, fs: HandleFileSystem,
                      make_readonly: Callable[[HandleFileSystem], HandleFileSystem]) -> None:
        fs.pipe("/f", b"data")
        ro = make_readonly(fs)
        assert ro.cat("/f") == b"data"
        with raises_errno(errno.EROFS):
            ro.pipe("/f", b"new")
        with raises_errno(errno.EROFS):
            ro.mkdir("/d")
        with raises_errno(errno.EROFS):
            ro.rm("/f")
        with raises_errno(errno.EROFS):
            ro.touch("/f", truncate=False)
        assert ro.cat("/f") == b"data"
