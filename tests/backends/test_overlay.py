"""The overlay backend: the contract suite over memory and native layers, a differential run
against the memory backend (random operations on a tree held in the lower layer, every
result compared), and what is particular to it: copy-up, whiteouts, opaque and renamed
directories, hard links, inode numbers, listing order, the changes and their export, a lower
layer left byte for byte as it was, and real guests through ``wasifs.run``."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wasifs
from wasifs.backends import (
    Backend,
    Change,
    ChangeKind,
    MemoryFileSystem,
    NativeFileSystem,
    OverlayFileSystem,
    clear_dir,
    copy_tree,
    open_backend,
    remove_entry,
)
from wasifs.backends.overlay import INDEX_DIR, OPAQUE_MARKER, REDIRECT_MARKER
from wasifs.testing import (
    BackendContract,
    HandleFileSystemContract,
    create_file,
    opened_dir,
    opened_file,
    raises_errno,
    read_file,
)
from wasifs.toolchain import compile_c
from wasifs.trees import DIR, Link, read_tree, write_tree

ROOT = Path(__file__).resolve().parents[2]
CLI_TOOL = ROOT / "tests" / "guests" / "cli_tool.c"
PAST = 1_000_000_000_123_456_789


# --- the contract ------------------------------------------------------------------------
class TestOverlayBackend(BackendContract):
    """Over memory: an empty read-only lower layer, a memory upper layer."""

    backend_name = "overlay"

    @pytest.fixture
    def backend(self) -> OverlayFileSystem:
        return OverlayFileSystem(MemoryFileSystem(readonly=True))


class TestOverlayNativeLower(BackendContract):
    """A read-only host directory under a memory upper layer."""

    backend_name = "overlay (native lower)"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> OverlayFileSystem:
        (tmp_path / "lower").mkdir()
        return OverlayFileSystem(NativeFileSystem(tmp_path / "lower", readonly=True))


class TestOverlayNativeUpper(BackendContract):
    """A host directory as the upper layer."""

    backend_name = "overlay (native upper)"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> OverlayFileSystem:
        (tmp_path / "upper").mkdir()
        return OverlayFileSystem(MemoryFileSystem(readonly=True),
                                 NativeFileSystem(tmp_path / "upper"))


class TestOverlayFsspecFacade(HandleFileSystemContract):
    backend_name = "overlay"

    @pytest.fixture
    def fs(self) -> OverlayFileSystem:
        return OverlayFileSystem(MemoryFileSystem(readonly=True))


# --- helpers -------------------------------------------------------------------------------
def fingerprint(fs: Backend) -> list[tuple[Any, ...]]:
    """Everything of a backend's tree but access times: paths, types, permission bits, link
    counts, sizes, modification times, inode numbers, data and symlink targets."""
    out: list[tuple[Any, ...]] = []
    stack = [("", fs.root())]
    while stack:
        path, d = stack.pop()
        try:
            for entry in sorted(fs.listdir(d), key=lambda e: e.name):
                st = fs.lstat(d, entry.name)
                p = f"{path}/{entry.name}"
                row: tuple[Any, ...] = (p, st.mode, st.nlink, st.size, st.mtime_ns, st.ino)
                if stat.S_ISDIR(st.mode):
                    out.append(row)
                    stack.append((p, fs.opendir(d, entry.name)))
                elif stat.S_ISLNK(st.mode):
                    out.append((*row, fs.readlink(d, entry.name)))
                else:
                    out.append((*row, hashlib.sha256(read_file(fs, d, entry.name)).hexdigest()))
        finally:
            fs.close(d)
    return out


def host_fingerprint(root: Path) -> list[tuple[Any, ...]]:
    """The same, of a host directory, with the host's own calls."""
    out: list[tuple[Any, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            row = (os.path.relpath(p, root), st.st_mode, st.st_nlink, st.st_size,
                   st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
            if stat.S_ISLNK(st.st_mode):
                out.append((*row, os.readlink(p)))
            elif stat.S_ISREG(st.st_mode):
                out.append((*row, hashlib.sha256(Path(p).read_bytes()).hexdigest()))
            else:
                out.append(row)
    return out


DATASET: dict[str, Any] = {
    "README": "a pristine dataset\n",
    "train/": DIR,
    "train/a.csv": "x,y\n1,2\n",
    "train/b.csv": "x,y\n3,4\n",
    "train/sub/deep.txt": "deep\n",
    "test/c.csv": "x,y\n5,6\n",
    "latest": Link("train"),
    "empty/": DIR,
}


def dataset(fs: Backend | None = None) -> Backend:
    fs = fs if fs is not None else MemoryFileSystem()
    write_tree(fs, DATASET)
    with _root(fs) as r, opened_dir(fs, r, "train") as train:
        fs.link(train, "a.csv", r, "a-link.csv")  # a hard link across directories
    fs.readonly = True
    return fs


@pytest.fixture(params=["memory", "native"])
def lower(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A read-only lower layer holding DATASET; checked unchanged after the test."""
    if request.param == "memory":
        fs = dataset()
        before = fingerprint(fs)
        yield fs
        assert fingerprint(fs) == before
    else:
        host = tmp_path / "lower"
        host.mkdir()
        dataset(NativeFileSystem(host))
        before_host = host_fingerprint(host)
        yield NativeFileSystem(host, readonly=True)
        assert host_fingerprint(host) == before_host


class _root:
    def __init__(self, fs: Backend) -> None:
        self.fs = fs

    def __enter__(self) -> Any:
        self.h = self.fs.root()
        return self.h

    def __exit__(self, *exc: object) -> None:
        self.fs.close(self.h)


def upper_files(ov: OverlayFileSystem) -> dict[str, bytes | str | None]:
    """The upper layer as stored (bookkeeping files included)."""
    return {p: v for p, v in read_tree(ov.upper, text=False).items()}


# --- copy-up -------------------------------------------------------------------------------
def test_a_write_copies_the_file_up_and_keeps_its_inode(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r, opened_dir(ov, r, "train") as train:
        ino = ov.lstat(train, "b.csv").ino
        mtime = ov.lstat(train, "b.csv").mtime_ns
        with opened_file(ov, train, "b.csv", write=False) as reader:
            with opened_file(ov, train, "b.csv") as writer:
                assert ov.append(writer, b"7,8\n") == (4, 12)
            # the handle opened before the copy-up reads the copy
            buf = bytearray(64)
            assert bytes(buf[:ov.pread(reader, memoryview(buf), 0)]) == b"x,y\n3,4\n7,8\n"
            assert ov.fstat(reader).ino == ino
        st = ov.lstat(train, "b.csv")
        assert st.ino == ino and st.mtime_ns > mtime
        assert read_file(ov, train, "b.csv") == b"x,y\n3,4\n7,8\n"
    assert upper_files(ov)["train/b.csv"] == b"x,y\n3,4\n7,8\n"
    assert "train/a.csv" not in upper_files(ov)  # only what changed is copied


def test_metadata_changes_copy_up_and_keep_the_parents_times(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        train_before = ov.lstat(r, "train")
        with opened_dir(ov, r, "train") as train:
            ov.set_times(train, "sub", PAST, PAST)
            assert ov.lstat(train, "sub").mtime_ns == PAST
            # a copy-up is not a change the guest made: train keeps its times
            assert ov.fstat(train).mtime_ns == train_before.mtime_ns
            with opened_dir(ov, train, "sub") as sub:
                assert read_file(ov, sub, "deep.txt") == b"deep\n"
        assert ov.lstat(r, "train").ino == train_before.ino
    assert upper_files(ov) == {"train": DIR, "train/sub": DIR}


def test_open_for_reading_copies_nothing(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        assert read_file(ov, r, "README") == b"a pristine dataset\n"
        with opened_dir(ov, r, "train") as train, opened_dir(ov, train, "sub") as sub:
            assert [e.name for e in ov.listdir(sub)] == ["deep.txt"]
    assert upper_files(ov) == {}
    assert ov.changes() == []


def test_truncating_open_copies_no_data(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r, opened_file(ov, r, "README", truncate=True) as f:
        assert ov.fstat(f).size == 0
        ov.pwrite(f, b"new", 0)
    assert upper_files(ov) == {"README": b"new"}


# --- whiteouts and opaque directories ------------------------------------------------------
def test_deletions_are_whiteouts_the_guest_never_sees(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        ov.unlink(r, "README")
        with opened_dir(ov, r, "test") as test:
            ov.unlink(test, "c.csv")
        ov.rmdir(r, "test")
        ov.rmdir(r, "empty")
        names = {e.name for e in ov.listdir(r)}
        assert names == {"train", "latest", "a-link.csv"}
        for name in ("README", "test", ".wh.README", ".wh.test", ".wh..wh..opq"):
            with raises_errno(errno.ENOENT):
                ov.lstat(r, name)
        with raises_errno(errno.EINVAL):
            create_file(ov, r, ".wh.mine")
        with raises_errno(errno.EINVAL):
            ov.mkdir(r, ".wh..wh..opq")
        with raises_errno(errno.EINVAL):
            ov.rename(r, "train", r, ".wh.train")
    assert upper_files(ov) == {".wh.README": b"", ".wh.test": b"", ".wh.empty": b""}


def test_a_directory_deleted_and_made_again_is_opaque(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        with opened_dir(ov, r, "train") as train:
            for name in ("a.csv", "b.csv"):
                ov.unlink(train, name)
            with opened_dir(ov, train, "sub") as sub:
                ov.unlink(sub, "deep.txt")
            ov.rmdir(train, "sub")
            assert ov.listdir(train) == []
        ov.rmdir(r, "train")
        ov.mkdir(r, "train")
        with opened_dir(ov, r, "train") as train:
            assert ov.listdir(train) == []
            create_file(ov, train, "a.csv", b"replaced")
            assert [e.name for e in ov.listdir(train)] == ["a.csv"]
        new_ino = ov.lstat(r, "train").ino
        assert new_ino != lower.fstat(lower.root()).ino
    stored = upper_files(ov)
    assert stored["train/" + OPAQUE_MARKER] == b""
    assert ".wh.train" not in stored
    # the old a.csv is gone; its other name (a hard link) is not
    assert read_file(ov, ov.root(), "a-link.csv") == b"x,y\n1,2\n"


def test_rmdir_of_a_merged_directory_checks_what_the_guest_sees(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        with raises_errno(errno.ENOTEMPTY):
            ov.rmdir(r, "test")
        with opened_dir(ov, r, "test") as test:
            create_file(ov, test, "new")
            ov.unlink(test, "new")
            ov.unlink(test, "c.csv")
            assert ov.listdir(test) == []
        ov.rmdir(r, "test")  # the whiteouts inside it do not count
        assert "test" not in {e.name for e in ov.listdir(r)}


# --- renames -------------------------------------------------------------------------------
def test_renaming_a_lower_directory_copies_no_data(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        before = {e.name: e.ino for e in ov.listdir(r)}
        ov.rename(r, "train", r, "moved")
        assert ov.lstat(r, "moved").ino == before["train"]
        with raises_errno(errno.ENOENT):
            ov.lstat(r, "train")
        with opened_dir(ov, r, "moved") as moved:
            assert sorted(e.name for e in ov.listdir(moved)) == ["a.csv", "b.csv", "sub"]
            with opened_dir(ov, moved, "sub") as sub:
                assert read_file(ov, sub, "deep.txt") == b"deep\n"
            create_file(ov, moved, "new.csv", b"n")
        # a directory moved into another moved directory keeps its lower part
        ov.rename(r, "test", r, "moved2")
        with opened_dir(ov, r, "moved2") as m2, opened_dir(ov, r, "moved") as moved:
            ov.rename(r, "moved2", moved, "inner")
            with opened_dir(ov, moved, "inner") as inner:
                assert read_file(ov, inner, "c.csv") == b"x,y\n5,6\n"
                assert ov.same(m2, inner)
            assert read_file(ov, m2, "c.csv") == b"x,y\n5,6\n"
    stored = upper_files(ov)
    assert stored["moved/" + REDIRECT_MARKER] == b"train"
    assert stored["moved/inner/" + REDIRECT_MARKER] == b"test"
    assert {p for p, v in stored.items() if isinstance(v, bytes) and v and
            not p.endswith(REDIRECT_MARKER)} == {"moved/new.csv"}


def test_renaming_back_drops_the_redirect(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        ov.rename(r, "train", r, "moved")
        ov.rename(r, "moved", r, "train")
        with opened_dir(ov, r, "train") as train:
            assert sorted(e.name for e in ov.listdir(train)) == ["a.csv", "b.csv", "sub"]
    stored = upper_files(ov)
    assert "train/" + REDIRECT_MARKER not in stored and ".wh.train" not in stored
    assert ov.changes() == []


def test_rename_over_a_lower_directory_hides_its_entries(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        with opened_dir(ov, r, "test") as test:
            ov.unlink(test, "c.csv")
        ov.mkdir(r, "fresh")
        ov.rename(r, "fresh", r, "test")  # over the (now empty) lower "test"
        with opened_dir(ov, r, "test") as test:
            assert ov.listdir(test) == []
        with raises_errno(errno.ENOTEMPTY):
            ov.rename(r, "empty", r, "train")


def test_renaming_a_lower_file_keeps_its_inode_and_open_handles(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r, opened_dir(ov, r, "test") as test:
        ino = ov.lstat(test, "c.csv").ino
        with opened_file(ov, test, "c.csv", write=False) as f:
            ov.rename(test, "c.csv", r, "c-moved.csv")
            assert ov.lstat(r, "c-moved.csv").ino == ino == ov.fstat(f).ino
            with opened_file(ov, r, "c-moved.csv") as w:
                ov.pwrite(w, b"X", 0)
            buf = bytearray(8)
            assert ov.pread(f, memoryview(buf), 0) == 8 and buf[:1] == b"X"
        assert ov.listdir(test) == []


# --- hard links ----------------------------------------------------------------------------
def test_lower_hard_links_stay_linked_after_copy_up(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r, opened_dir(ov, r, "train") as train:
        ino = ov.lstat(r, "a-link.csv").ino
        assert ov.lstat(train, "a.csv").ino == ino
        assert ov.lstat(train, "a.csv").nlink == 2
        with opened_file(ov, r, "a-link.csv") as f:
            ov.append(f, b"9,9\n")
        assert read_file(ov, train, "a.csv") == b"x,y\n1,2\n9,9\n"
        assert ov.lstat(train, "a.csv").ino == ino == ov.lstat(r, "a-link.csv").ino
        assert ov.lstat(train, "a.csv").nlink == 2
        ov.link(train, "a.csv", r, "third")
        assert ov.lstat(r, "a-link.csv").nlink == 3
        ov.unlink(r, "a-link.csv")
        assert ov.lstat(train, "a.csv").nlink == 2
    # in the upper layer the names are one file
    up = ov.upper
    with _root(up) as ur, opened_dir(up, ur, "train") as utrain:
        assert up.lstat(utrain, "a.csv").ino == up.lstat(ur, "third").ino


def test_link_to_a_lower_file_links_in_the_upper_layer(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        ov.link(r, "README", r, "again")
        assert ov.lstat(r, "again").ino == ov.lstat(r, "README").ino
        assert ov.lstat(r, "again").nlink == 2
        with opened_file(ov, r, "again") as f:
            ov.pwrite(f, b"A", 0)
        assert read_file(ov, r, "README")[:1] == b"A"
        with raises_errno(errno.EEXIST):
            ov.link(r, "README", r, "train")
        with raises_errno(errno.EPERM):
            ov.link(r, "train", r, "train2")


def test_an_upper_layer_without_hard_links_gives_each_name_its_copy() -> None:
    class NoLinks(MemoryFileSystem):
        def link(self, *args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EPERM, "no hard links here")

    ov = OverlayFileSystem(dataset(), NoLinks(umask=0))
    with _root(ov) as r, opened_dir(ov, r, "train") as train:
        with opened_file(ov, train, "a.csv") as f:
            ov.append(f, b"+")
        assert read_file(ov, train, "a.csv").endswith(b"+")
        assert read_file(ov, r, "a-link.csv") == b"x,y\n1,2\n"
        with raises_errno(errno.EPERM):
            ov.link(r, "README", r, "again")
    assert INDEX_DIR not in upper_files(ov)


# --- inode numbers and listings ----------------------------------------------------------
def test_inode_numbers_are_the_lower_ones_and_never_collide(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        lower_inos = {e.name: e.ino for e in lower.listdir(lower.root())}
        listed = {e.name: e.ino for e in ov.listdir(r)}
        assert listed == {n: i for n, i in lower_inos.items()}
        create_file(ov, r, "new")
        new = ov.lstat(r, "new").ino
        assert new >= 1 << 63 and new not in lower_inos.values()
        assert ov.fstat(r).dev == ov.lstat(r, "new").dev == ov.lstat(r, "README").dev
        assert ov.fstat(r).dev != lower.fstat(lower.root()).dev
        with opened_file(ov, r, "README") as f:
            ov.pwrite(f, b"changed", 0)
        assert ov.lstat(r, "README").ino == lower_inos["README"]


def test_listing_order_is_stable_and_a_copy_up_keeps_the_place(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        order = [e.name for e in lower.listdir(lower.root())]
        assert [e.name for e in ov.listdir(r)] == order
        with opened_file(ov, r, "README") as f:
            ov.pwrite(f, b"x", 0)
        ov.set_times(r, "latest", PAST, PAST)
        assert [e.name for e in ov.listdir(r)] == order
        create_file(ov, r, "zz")
        create_file(ov, r, "aa")
        ov.rmdir(r, "empty")
        expected = [n for n in order if n != "empty"] + ["zz", "aa"]
        assert [e.name for e in ov.listdir(r)] == expected
        assert [e.name for e in ov.listdir(r)] == expected


def test_merged_directories_report_one_link(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    with _root(ov) as r:
        assert ov.lstat(r, "train").nlink == lower.lstat(lower.root(), "train").nlink
        with opened_dir(ov, r, "train") as train:
            create_file(ov, train, "x")
            assert ov.fstat(train).nlink == 1 == ov.lstat(r, "train").nlink
        ov.mkdir(r, "own")
        with opened_dir(ov, r, "own") as own:
            ov.mkdir(own, "sub")
        assert ov.lstat(r, "own").nlink == 3


# --- changes and export ---------------------------------------------------------------------
def edit(ov: OverlayFileSystem) -> None:
    """A session's worth of changes."""
    with _root(ov) as r:
        with opened_dir(ov, r, "train") as train:
            with opened_file(ov, train, "b.csv") as f:
                ov.append(f, b"7,8\n")
            ov.set_times(train, "sub", PAST, PAST)  # a directory's times: not a change
            create_file(ov, train, "new.csv", b"new\n")
        ov.unlink(r, "README")
        ov.rename(r, "test", r, "testing")
        ov.mkdir(r, "out")
        with opened_dir(ov, r, "out") as out:
            create_file(ov, out, "result.txt", b"42\n")
            ov.link(out, "result.txt", r, "result-link")
            ov.symlink("../README", out, "dangling")
        ov.rmdir(r, "empty")
        ov.mkdir(r, "empty")  # made again: not a change of its own
        ov.set_times(r, "latest", PAST, PAST)  # a symlink's times: not a change


EXPECTED_CHANGES = [
    Change(ChangeKind.DELETED, "/README", "file"),
    Change(ChangeKind.DELETED, "/test", "dir"),
    Change(ChangeKind.ADDED, "/testing", "dir"),
    Change(ChangeKind.ADDED, "/out", "dir"),
    Change(ChangeKind.ADDED, "/result-link", "file"),
    Change(ChangeKind.CHANGED, "/train/b.csv", "file"),
    Change(ChangeKind.ADDED, "/train/new.csv", "file"),
    Change(ChangeKind.ADDED, "/testing/c.csv", "file"),
    Change(ChangeKind.ADDED, "/out/result.txt", "file"),
    Change(ChangeKind.ADDED, "/out/dangling", "symlink"),
]


def test_changes_list_what_differs_from_the_lower_layer(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    edit(ov)
    assert sorted(ov.changes()) == sorted(EXPECTED_CHANGES)
    assert ov.changes() == ov.changes()
    for change in ov.changes():
        assert isinstance(change.kind, ChangeKind) and change.path.startswith("/")


def apply_layer(layer: Backend, target: Backend) -> None:
    """Apply an exported layer (OCI layout: ``.wh.NAME`` deletes NAME) onto ``target``."""
    stack = [(layer.root(), target.root())]
    while stack:
        ld, td = stack.pop()
        try:
            entries = layer.listdir(ld)
            for entry in entries:
                if entry.name.startswith(".wh."):
                    name = entry.name[4:]
                    try:
                        st = target.lstat(td, name)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(st.mode):
                        sub = target.opendir(td, name)
                        clear_dir(target, sub)
                        target.close(sub)
                        target.rmdir(td, name)
                    else:
                        target.unlink(td, name)
            for entry in entries:
                if entry.name.startswith(".wh."):
                    continue
                st = layer.lstat(ld, entry.name)
                try:
                    old = target.lstat(td, entry.name)
                except FileNotFoundError:
                    old = None
                if old is not None and (not stat.S_ISDIR(st.mode) or
                                        not stat.S_ISDIR(old.mode)):
                    remove_entry(target, td, entry.name)
                    old = None
                if stat.S_ISDIR(st.mode):
                    if old is None:
                        target.mkdir(td, entry.name)
                    stack.append((layer.opendir(ld, entry.name), target.opendir(td, entry.name)))
                elif stat.S_ISLNK(st.mode):
                    target.symlink(layer.readlink(ld, entry.name), td, entry.name)
                else:
                    create_file(target, td, entry.name, read_file(layer, ld, entry.name))
        finally:
            layer.close(ld)
            target.close(td)


def test_export_writes_an_oci_layer_that_rebuilds_the_view(lower: Backend,
                                                           tmp_path: Path) -> None:
    ov = OverlayFileSystem(lower)
    edit(ov)
    dest = tmp_path / "layer"
    written = ov.export(dest)
    assert sorted(written) == sorted(EXPECTED_CHANGES)
    files = {str(p.relative_to(dest)) for p in dest.rglob("*")}
    assert files == {".wh.README", ".wh.test", "testing", "testing/c.csv", "out",
                     "out/result.txt", "out/dangling", "result-link", "train", "train/b.csv",
                     "train/new.csv"}
    assert (dest / "out" / "result.txt").stat().st_ino == (dest / "result-link").stat().st_ino
    assert os.readlink(dest / "out" / "dangling") == "../README"
    assert (dest / "train" / "b.csv").read_bytes() == b"x,y\n3,4\n7,8\n"
    # lower + layer == what the guest saw
    rebuilt = MemoryFileSystem()
    with _root(lower) as lr, _root(rebuilt) as rr:
        copy_tree(lower, lr, rebuilt, rr)
    apply_layer(NativeFileSystem(dest), rebuilt)
    assert read_tree(rebuilt, text=False) == read_tree(ov, text=False)


def test_export_to_a_backend_without_whiteouts(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    edit(ov)
    dest = MemoryFileSystem()
    ov.export(dest, whiteouts=False)
    tree = read_tree(dest, text=False)
    assert not any(p.rsplit("/", 1)[-1].startswith(".wh.") for p in tree)
    assert tree["train/b.csv"] == b"x,y\n3,4\n7,8\n"
    with _root(dest) as r, opened_dir(dest, r, "train") as train:
        # a directory written for an entry below it gets the overlay's times and mode
        with _root(ov) as orr:
            assert dest.fstat(train).mtime_ns == ov.lstat(orr, "train").mtime_ns


# --- the upper layer kept and taken up again ------------------------------------------------
def test_a_kept_upper_layer_is_taken_up_again(lower: Backend, tmp_path: Path) -> None:
    host = tmp_path / "upper"
    host.mkdir()
    first = OverlayFileSystem(lower, NativeFileSystem(host))
    edit(first)
    view = read_tree(first, text=False)
    second = OverlayFileSystem(lower, NativeFileSystem(host))
    assert read_tree(second, text=False) == view
    assert sorted(second.changes()) == sorted(EXPECTED_CHANGES)
    with _root(second) as r, opened_dir(second, r, "train") as train:
        # the index keeps the lower hard link's origin across the two overlays
        assert second.lstat(r, "a-link.csv").ino == second.lstat(train, "a.csv").ino


def test_readonly_overlay_and_options() -> None:
    ov = OverlayFileSystem(dataset(), readonly=True)
    with _root(ov) as r:
        with raises_errno(errno.EROFS):
            create_file(ov, r, "x")
        with raises_errno(errno.EROFS):
            ov.open_file(r, "README", read=True, write=True)
        assert read_file(ov, r, "README") == b"a pristine dataset\n"
    with pytest.raises(ValueError, match="must be writable"):
        OverlayFileSystem(MemoryFileSystem(), MemoryFileSystem(readonly=True))
    same = MemoryFileSystem()
    with pytest.raises(ValueError, match="cannot be its lower"):
        OverlayFileSystem(same, same)
    with pytest.raises(ValueError, match="umask"):
        OverlayFileSystem(MemoryFileSystem(), umask=0o1000)


def test_overlay_by_name(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("host file")
    for url in (f"overlay://{tmp_path}", f"overlay://native://{tmp_path}",
                f"wasifs-overlay://file://{tmp_path}"):
        ov = open_backend(url)
        assert isinstance(ov, OverlayFileSystem)
        assert ov.lower.readonly is True  # opened here, so opened read-only
        ov.pipe("/f", b"changed")
        assert ov.cat("/f") == b"changed"
        assert (tmp_path / "f").read_text() == "host file"
    assert open_backend("overlay://memory").ls("/") == []
    with pytest.raises(ValueError, match="needs its lower layer"):
        open_backend("overlay")
    custom = MemoryFileSystem()
    assert open_backend(f"overlay://{tmp_path}", upper=custom).upper is custom


# --- real guests -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_tool() -> bytes:
    return compile_c(CLI_TOOL.read_text())


def test_a_guest_edits_a_pristine_dataset(lower: Backend, cli_tool: bytes,
                                          tmp_path: Path) -> None:
    """wasifs.run with an overlay mount: the guest's edits show in the overlay and its
    changes; the dataset (hashed by the fixture) is untouched."""
    write = MemoryFileSystem()
    write_tree(write, {"keep.txt": "kept\n", "gone.txt": "bye\n"})
    write.readonly = True
    ov = OverlayFileSystem(write)
    result = wasifs.run(cli_tool, args=["tool", "edit", "/work"],
                        mounts={"/work": ov, "/data": OverlayFileSystem(lower)})
    assert result.exit_code == 0, result.stderr
    assert read_tree(ov) == {"keep.txt": "kept\nmore\n", "new.txt": "fresh\n", "sub": DIR,
                             "sub/deep.txt": "deep\n", "link": Link("new.txt")}
    assert sorted(ov.changes()) == sorted([
        Change(ChangeKind.CHANGED, "/keep.txt", "file"),
        Change(ChangeKind.DELETED, "/gone.txt", "file"),
        Change(ChangeKind.ADDED, "/new.txt", "file"),
        Change(ChangeKind.ADDED, "/sub", "dir"),
        Change(ChangeKind.ADDED, "/sub/deep.txt", "file"),
        Change(ChangeKind.ADDED, "/link", "symlink"),
    ])
    assert read_tree(write) == {"keep.txt": "kept\n", "gone.txt": "bye\n"}
    result = wasifs.run(cli_tool, args=["tool", "cat", "/data/train/a.csv"],
                        mounts={"/data": OverlayFileSystem(lower)})
    assert result.stdout == b"x,y\n1,2\n"


NESTED_GUEST = r"""
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* the dataset at "/" through an overlay, a scratch memory mount at "/scratch" inside it */
int main(void) {
    FILE *f = fopen("/train/a.csv", "a");
    if (!f) { perror("append"); return 1; }
    fputs("9,9\n", f);
    fclose(f);
    if (rename("/train", "/archived")) { perror("rename"); return 1; }
    if (rename("/archived/b.csv", "/scratch/b.csv")) { perror("across mounts"); }
    f = fopen("/scratch/note", "w");
    fputs("scratch\n", f);
    fclose(f);
    if (unlink("/README")) { perror("unlink"); return 1; }
    struct stat st;
    printf("train: %s\n", stat("/train", &st) ? "gone" : "still there");
    printf("archived/sub/deep.txt: %s\n", stat("/archived/sub/deep.txt", &st) ? "no" : "yes");
    return 0;
}
"""


def test_an_overlay_with_a_mount_nested_inside(lower: Backend) -> None:
    ov = OverlayFileSystem(lower)
    scratch = MemoryFileSystem()
    result = wasifs.run(compile_c(NESTED_GUEST), mounts={"/": ov, "/scratch": scratch})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"train: gone\narchived/sub/deep.txt: yes\n"
    assert b"across mounts: Cross-device link" in result.stderr  # two filesystems
    assert read_tree(scratch) == {"note": "scratch\n"}
    changes = {(c.kind, c.path) for c in ov.changes()}
    assert (ChangeKind.DELETED, "/train") in changes
    assert (ChangeKind.ADDED, "/archived/a.csv") in changes
    assert (ChangeKind.DELETED, "/README") in changes
    assert read_tree(ov, text=False)["archived/a.csv"] == b"x,y\n1,2\n9,9\n"
    assert read_tree(ov, text=False)["a-link.csv"] == b"x,y\n1,2\n9,9\n"


# --- the differential run -------------------------------------------------------------------
NAMES = ["a", "b", "c"]


def build(fs: Backend, seed: int) -> None:
    """A random tree: files with data and past times, directories 3 deep, symlinks, hard
    links in the same directory."""
    rnd = random.Random(seed)
    stack = [(fs.root(), 0)]
    while stack:
        d, depth = stack.pop()
        for name in NAMES:
            roll = rnd.random()
            if roll < 0.35:
                with opened_file(fs, d, name, create=True) as h:
                    fs.pwrite(h, rnd.randbytes(rnd.randrange(0, 40)), 0)
                    fs.fset_times(h, PAST + rnd.randrange(10**9), PAST + rnd.randrange(10**9))
            elif roll < 0.7 and depth < 3:
                fs.mkdir(d, name)
                stack.append((fs.opendir(d, name), depth + 1))
            elif roll < 0.8:
                fs.symlink(rnd.choice(["a", "../b", "c/a", "nowhere"]), d, name)
        files = sorted(e.name for e in fs.listdir(d) if stat.S_ISREG(e.mode))
        if files and rnd.random() < 0.5:
            fs.link(d, rnd.choice(files), d, "h" + rnd.choice(NAMES))
        fs.close(d)


def dump(fs: Backend) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    stack = [("", fs.root())]
    while stack:
        path, d = stack.pop()
        for e in sorted(fs.listdir(d), key=lambda e: e.name):
            st = fs.lstat(d, e.name)
            p = f"{path}/{e.name}"
            if stat.S_ISDIR(st.mode):
                out.append((p, "dir", st.mode & 0o7777))
                stack.append((p, fs.opendir(d, e.name)))
            elif stat.S_ISLNK(st.mode):
                out.append((p, "link", fs.readlink(d, e.name)))
            else:
                out.append((p, "file", st.nlink, read_file(fs, d, e.name), st.mode & 0o7777))
        fs.close(d)
    return out


class Pair:
    """A memory backend and an overlay holding the same tree, driven alike: every call's
    result (value or errno) must match, and each file keeps one inode number throughout."""

    def __init__(self, ref: Backend, sub: Backend, rnd: random.Random, unique: bool) -> None:
        self.ref, self.sub, self.rnd = ref, sub, rnd
        self.dirs: list[tuple[Any, Any]] = [(ref.root(), sub.root())]
        self.files: list[tuple[Any, Any]] = []
        self.inos: dict[int, int] = {}
        self.back: dict[int, int] = {}
        self.unique = unique  # False when the upper layer reuses inode numbers (a host's)
        self.log: list[str] = []

    def both(self, what: str, call: Callable[[Backend, int], Any]) -> tuple[Any, Any]:
        results = []
        for i, fs in enumerate((self.ref, self.sub)):
            try:
                results.append(("ok", call(fs, i)))
            except OSError as exc:
                results.append(("err", errno.errorcode.get(exc.errno or 0, exc.errno)))
        self.log.append(f"{what}: {results[0]} / {results[1]}")
        a, b = results
        assert a[0] == b[0] and (a[0] == "ok" or a[1] == b[1]), self.trail(what)
        return a, b

    def trail(self, what: str) -> str:
        return f"{what} differs; the last steps:\n" + "\n".join(self.log[-40:])

    def same_file(self, r: int, s: int, what: str) -> None:
        old = self.inos.setdefault(r, s)
        back = self.back.setdefault(s, r) if self.unique else r
        assert old == s and back == r, self.trail(what + " inode")

    def step(self) -> None:
        rnd = self.rnd
        op = rnd.choice(["open", "write", "append", "mkdir", "rmdir", "unlink", "rename",
                         "rename", "link", "symlink", "times", "ftimes", "list", "stat",
                         "opendir", "close", "truncate", "fstat", "read"])
        name = rnd.choice([*NAMES, "ha"])
        di = rnd.randrange(len(self.dirs))
        dd = self.dirs[di]
        where = f"[d{di}] {op} {name}"
        if op == "open":
            flags = {"read": True, "write": rnd.random() < 0.5, "create": rnd.random() < 0.5,
                     "exclusive": rnd.random() < 0.2, "truncate": rnd.random() < 0.2}
            a, b = self.both(f"{where} {flags}", lambda fs, i: fs.open_file(dd[i], name, **flags))
            if a[0] == "ok":
                self.files.append((a[1], b[1]))
                self.same_file(self.ref.fstat(a[1]).ino, self.sub.fstat(b[1]).ino, where)
        elif op in ("write", "append", "truncate", "read", "fstat", "ftimes") and self.files:
            fi = rnd.randrange(len(self.files))
            ff = self.files[fi]
            where = f"[f{fi}] {op}"
            if op == "write":
                data, off = rnd.randbytes(rnd.randrange(1, 20)), rnd.randrange(0, 50)
                self.both(where, lambda fs, i: fs.pwrite(ff[i], data, off))
            elif op == "append":
                data = rnd.randbytes(rnd.randrange(1, 9))
                self.both(where, lambda fs, i: fs.append(ff[i], data))
            elif op == "truncate":
                size = rnd.randrange(0, 30)
                self.both(where, lambda fs, i: fs.ftruncate(ff[i], size))
            elif op == "ftimes":
                self.both(where, lambda fs, i: fs.fset_times(ff[i], PAST + 7, PAST + 9))
            elif op == "read":
                def read(fs: Backend, i: int) -> bytes:
                    buf = bytearray(100)
                    return bytes(buf[:fs.pread(ff[i], memoryview(buf), 0)])
                a, b = self.both(where, read)
                assert a == b, self.trail(where)
            else:
                a, b = self.both(where, lambda fs, i: fs.fstat(ff[i]))
                x, y = a[1], b[1]
                assert (x.size, x.nlink, x.mode) == (y.size, y.nlink, y.mode), self.trail(where)
                self.same_file(x.ino, y.ino, where)
        elif op in ("mkdir", "rmdir", "unlink"):
            self.both(where, lambda fs, i: getattr(fs, op)(dd[i], name))
        elif op in ("rename", "link"):
            dj = rnd.randrange(len(self.dirs))
            d2, n2 = self.dirs[dj], rnd.choice(NAMES)
            self.both(f"{where} -> [d{dj}] {n2}",
                      lambda fs, i: getattr(fs, op)(dd[i], name, d2[i], n2))
        elif op == "symlink":
            self.both(where, lambda fs, i: fs.symlink("t", dd[i], name))
        elif op == "times":
            self.both(where, lambda fs, i: fs.set_times(dd[i], name, PAST, PAST + 5))
        elif op == "list":
            a, b = self.both(where, lambda fs, i: fs.listdir(dd[i]))
            assert sorted(e.name for e in a[1]) == sorted(e.name for e in b[1]), self.trail(where)
            mine = {e.name: e for e in b[1]}
            for e in a[1]:
                self.same_file(e.ino, mine[e.name].ino, where)
            assert [e.name for e in self.sub.listdir(dd[1])] == [e.name for e in b[1]]
        elif op == "stat":
            a, b = self.both(where, lambda fs, i: fs.lstat(dd[i], name))
            if a[0] == "ok":
                x, y = a[1], b[1]
                assert stat.S_IFMT(x.mode) == stat.S_IFMT(y.mode), self.trail(where)
                if not stat.S_ISDIR(x.mode):
                    assert (x.size, x.nlink) == (y.size, y.nlink), self.trail(where)
                self.same_file(x.ino, y.ino, where)
        elif op == "opendir":
            a, b = self.both(where, lambda fs, i: fs.opendir(dd[i], name))
            if a[0] == "ok":
                self.log.append(f"  = d{len(self.dirs)}")
                self.dirs.append((a[1], b[1]))
                self.same_file(self.ref.fstat(a[1]).ino, self.sub.fstat(b[1]).ino, where)
        elif op == "close":
            pool = self.files if self.files and rnd.random() < 0.6 else self.dirs
            if pool is self.dirs and len(pool) < 2:
                return
            k = rnd.randrange(0 if pool is self.files else 1, len(pool))
            pair = pool.pop(k)
            self.log.append(f"close {'f' if pool is self.files else 'd'}{k}")
            self.ref.close(pair[0])
            self.sub.close(pair[1])

    def close(self) -> None:
        for a, b in self.files + self.dirs:
            self.ref.close(a)
            self.sub.close(b)


def differential(seed: int, steps: int, lower: Backend, upper: Backend | None = None) -> None:
    ref = MemoryFileSystem()
    build(ref, seed)
    build(lower, seed)
    lower.readonly = True
    before = fingerprint(lower)
    assert dump(ref) == dump(lower)
    ov = OverlayFileSystem(lower, upper)
    pair = Pair(ref, ov, random.Random(seed), unique=upper is None)
    try:
        for _ in range(steps):
            pair.step()
        assert dump(ref) == dump(ov), pair.trail(f"seed {seed}: the final trees")
    finally:
        pair.close()
    assert fingerprint(lower) == before


@pytest.mark.parametrize("seeds", [range(0, 20), range(20, 40)], ids=["0-19", "20-39"])
def test_differential_against_memory(seeds: range) -> None:
    for seed in seeds:
        differential(seed, 400, MemoryFileSystem())


@pytest.mark.parametrize("layers", ["native lower", "native upper", "both native"])
def test_differential_on_host_layers(layers: str, tmp_path: Path) -> None:
    for seed in range(4):
        base = tmp_path / f"s{seed}"
        (base / "lower").mkdir(parents=True)
        (base / "upper").mkdir()
        lower: Backend = NativeFileSystem(base / "lower") if "lower" in layers or \
            "both" in layers else MemoryFileSystem()
        upper = NativeFileSystem(base / "upper") if "upper" in layers or "both" in layers \
            else None
        differential(100 + seed, 300, lower, upper)


# --- deep trees, few descriptors ------------------------------------------------------------
DEEP_SCRIPT = r"""
import os, resource, sys
# 320: the native backend keeps a quarter (80) for the host, so 240 are usable
resource.setrlimit(resource.RLIMIT_NOFILE, (320, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
sys.path.insert(0, sys.argv[2])
from test_deep_trees import build_deep, deep_path
from wasifs.backends import ChangeKind, NativeFileSystem, OverlayFileSystem
from wasifs.path import Path
from wasifs.transfer import snapshot

base, depth = sys.argv[1], int(sys.argv[3])
build_deep(NativeFileSystem(base + "/lower"), depth)
ov = OverlayFileSystem(NativeFileSystem(base + "/lower", readonly=True),
                       NativeFileSystem(base + "/upper"))
assert len(list(Path(ov).walk())) == depth + 1
bottom = deep_path(depth)
Path(ov, bottom + "/new").write_text("at the bottom")   # copies every level up
Path(ov, bottom + "/f").write_text("changed")
Path(ov, "/d/d/f").unlink()
assert Path(ov, bottom + "/new").read_text() == "at the bottom"
assert len(snapshot(Path(ov, "/d"))) == 2 * depth - 1
changes = {(c.kind, c.path) for c in ov.changes()}
assert changes == {(ChangeKind.ADDED, bottom + "/new"), (ChangeKind.CHANGED, bottom + "/f"),
                   (ChangeKind.DELETED, "/d/d/f")}, changes
assert len(ov.export(base + "/layer")) == 3
assert open(base + "/layer" + bottom + "/new").read() == "at the bottom"
assert os.path.exists(base + "/layer/d/d/.wh.f")
assert not os.path.exists(base + "/lower" + bottom + "/new")
assert open(base + "/lower" + bottom + "/f").read() == str(depth)
host = NativeFileSystem(base)  # leave no tree too deep for a recursive rmtree
for top in ("lower", "upper", "layer"):
    host.rm("/" + top, recursive=True)
print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_deep_trees_on_host_layers_with_few_descriptors(tmp_path: Path) -> None:
    """1,500 levels in a host-directory lower layer, a host-directory upper layer, at most
    240 descriptors (320, less the native backend's reserve for the host) (an open merged directory holds one in each layer): a walk, a copy-up of
    every level, the changes and their export keep a bounded number of descriptors open."""
    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    try:
        r = subprocess.run([sys.executable, "-c", DEEP_SCRIPT, str(tmp_path),
                            str(ROOT / "tests"), "1500"], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert r.stdout.strip() == "ok"
    finally:  # pytest's recursive rmtree of old temp folders cannot remove 1,500 levels
        from wasifs.backends import NativeFileSystem

        host = NativeFileSystem(tmp_path)
        for layer in ("/lower", "/upper"):
            if host.exists(layer):
                host.rm(layer, recursive=True)


def test_export_overlays_lays_them_out_as_the_guest_sees_them(cli_tool: bytes,
                                                              tmp_path: Path) -> None:
    """What a command line's --export-changes does after a run with two overlays and a
    memory mount."""
    from wasifs.backends.overlay import export_overlays

    work = MemoryFileSystem()
    write_tree(work, {"keep.txt": "kept\n", "gone.txt": "bye\n"})
    work.readonly = True
    result = wasifs.run(cli_tool, args=["tool", "edit", "/data/work"],
                        mounts={"/": OverlayFileSystem(dataset()),
                                "/data/work": OverlayFileSystem(work),
                                "/scratch": MemoryFileSystem()})
    assert result.exit_code == 0, result.stderr
    written = export_overlays(result.mounts, tmp_path / "changes")
    assert set(written) == {"/", "/data/work"}
    assert written["/"] == []
    assert sorted(p.name for p in (tmp_path / "changes" / "data" / "work").iterdir()) == [
        ".wh.gone.txt", "keep.txt", "link", "new.txt", "sub"]
    assert (tmp_path / "changes" / "data" / "work" / "keep.txt").read_text() == "kept\nmore\n"


def test_pickling_keeps_both_layers() -> None:
    import copy
    import pickle

    ov = OverlayFileSystem(dataset(), umask=0o077, readonly=False)
    edit(ov)
    for twin in (pickle.loads(pickle.dumps(ov)), copy.deepcopy(ov)):
        assert isinstance(twin, OverlayFileSystem) and twin.umask == 0o077
        assert read_tree(twin, text=False) == read_tree(ov, text=False)
        assert twin.changes() == ov.changes()
        twin.pipe("/README2", b"only in the twin")
        assert not ov.exists("/README2")


def test_cpython_walks_archives_and_renames_a_tree_over_an_overlay(tmp_path: Path) -> None:
    """The real-program run of ``tests/test_realprograms.py`` (CPython for WASI walking,
    archiving, extracting, renaming and copying a tree) with the tree in a read-only host
    directory under an overlay: the same outputs and final tree as under wasmtime-py's WASI
    on a host copy, and the host directory untouched."""
    import importlib

    from _wasi_compare import differences, run_wasifs, run_wasmtime

    realprograms = importlib.import_module("test_realprograms")
    _, module = realprograms._module(realprograms.PYTHON)  # skips outside its slice
    argv = ["python", "/work/script.py"]
    reference = tmp_path / "reference"
    lower = tmp_path / "lower"
    for d in (reference, lower):
        d.mkdir()
        realprograms._python_work(d)
    ref = run_wasmtime(module, argv, mounts={"/work": reference}, compare=["/work"])
    assert ref.exit_code == 0, ref.stderr.decode(errors="replace")
    before = host_fingerprint(lower)
    ov = OverlayFileSystem(NativeFileSystem(lower, readonly=True))
    got = run_wasifs(module, argv, mounts={"/work": ov}, compare=["/work"])
    assert not differences(ref, got), "\n".join(differences(ref, got))
    assert host_fingerprint(lower) == before
    changes = {(c.kind, c.path) for c in ov.changes()}
    assert {(ChangeKind.DELETED, "/tree"), (ChangeKind.ADDED, "/renamed"),
            (ChangeKind.ADDED, "/renamed/sub/deeper/d"), (ChangeKind.ADDED, "/out/tree.zip"),
            (ChangeKind.ADDED, "/copied/link")} <= changes
    assert all(not p.startswith("/script.py") for _, p in changes)
