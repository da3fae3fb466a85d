"""The host-side pieces every backend shares: one path walker behind ``Path`` and the fsspec
facade, one file object, one relabelling of errors, and the directory chain that keeps deep
walks bounded and notices a directory moved away under a walk."""

from __future__ import annotations

import errno
import gc
import io
import warnings
from pathlib import Path as HostPath
from typing import Any

import pytest

from wasifs.backends import (
    MAX_SYMLINKS,
    BackendFileIO,
    HandleFileSystem,
    MemoryFileSystem,
    NativeFileSystem,
    relabel,
    resolve,
)
from wasifs.path import Path


@pytest.fixture(params=["memory", "native"])
def fs(request: pytest.FixtureRequest, tmp_path: HostPath) -> HandleFileSystem:
    if request.param == "memory":
        return MemoryFileSystem()
    root = tmp_path / "root"
    root.mkdir()
    return NativeFileSystem(root)


@pytest.fixture
def tricky(fs: HandleFileSystem) -> HandleFileSystem:
    fs.makedirs("/a/b")
    fs.pipe("/a/b/f", b"data")
    fs.pipe("/file", b"plain")
    fs.symlink("a", "/rel")
    fs.symlink("/a/b", "/abs")
    fs.symlink("file/", "/file_slash")  # a trailing slash requires a directory
    fs.symlink("a/./b/", "/dir_slash")
    fs.symlink("loop", "/loop")
    fs.symlink("nowhere", "/dangling")
    fs.symlink("../../../a", "/a/b/up")  # .. past the root stays at the root
    return fs


PATHS = [
    "/a/b/f", "/rel/b/f", "/abs/f", "/a/../a/b/f", "/../../a/b/f", "/file_slash",
    "/file_slash/x", "/dir_slash", "/dir_slash/f", "/loop", "/loop/x", "/dangling",
    "/dangling/x", "/a/b/up/b/f", "/a/b/..", "/rel/..", "/", "/file/x", "/missing",
]


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ino", call()
    except OSError as exc:
        return "errno", errno.errorcode.get(exc.errno or 0, exc.errno)


@pytest.mark.parametrize("path", PATHS)
def test_path_and_fsspec_facade_resolve_alike(tricky: HandleFileSystem, path: str) -> None:
    fs = tricky
    followed = _outcome(lambda: Path(fs, path).stat().st_ino)
    assert _outcome(lambda: fs.info(path)["ino"]) == followed
    if followed[0] == "ino":
        with resolve(fs, path, follow=True) as loc:
            st = fs.fstat(loc.dir) if loc.name is None else loc.st
            assert st is not None and st.ino == followed[1]
    not_followed = _outcome(lambda: Path(fs, path).lstat().st_ino)
    assert _outcome(lambda: fs.lexists(path) and fs.islink(path)) in (
        ("ino", Path(fs, path).is_symlink()), ("errno", not_followed[1]))


def test_symlink_limit(fs: HandleFileSystem) -> None:
    fs.mkdir("/d")
    for i in range(MAX_SYMLINKS + 1):
        fs.symlink(f"l{i + 1}" if i < MAX_SYMLINKS else "d", f"/l{i}")
    assert Path(fs, f"/l{MAX_SYMLINKS - 39}").is_dir()  # 40 expansions: fine
    for call in (lambda: Path(fs, "/l0").stat(), lambda: fs.info("/l0")):
        with pytest.raises(OSError) as exc:
            call()
        assert exc.value.errno == errno.ELOOP and exc.value.filename == "/l0"


def test_one_file_object_for_path_and_fsspec(fs: HandleFileSystem) -> None:
    fs.pipe("/f", b"hello")
    with fs.open("/f", "rb") as f, Path(fs, "/f").open("rb", buffering=0) as raw:
        assert type(f) is type(raw) is BackendFileIO
        assert f.read() == raw.read() == b"hello"
        assert f.name == f.path == "/f" and f.fs is fs and f.size == 5
    with fs.open("/f", "ab") as f:
        assert f.tell() == 5  # an append stream starts at the end, as open(..., "ab")
        assert f.write(b"!") == 1 and f.tell() == 6
    with fs.open("/f", "rb") as f, pytest.raises(io.UnsupportedOperation):
        f.fileno()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        leaked = fs.open("/f", "rb")
        del leaked
        gc.collect()
    assert [w.category for w in caught] == [ResourceWarning]
    assert fs.cat("/f") == b"hello!"


def test_relabel_names_full_paths() -> None:
    from_backend = OSError(errno.ENOTEMPTY, "a backend's own words", "b")
    again = relabel(from_backend, "/a/b", "/c")
    assert (again.errno, again.strerror, again.filename, again.filename2) == (
        errno.ENOTEMPTY, "a backend's own words", "/a/b", "/c")
    bare = relabel(FileNotFoundError("fsspec style, no errno"), "/x")
    assert isinstance(bare, FileNotFoundError) and bare.errno == errno.ENOENT
    assert str(relabel(errno.EISDIR, "/d")) == f"[Errno {errno.EISDIR}] Is a directory: '/d'"


def test_a_directory_moved_away_under_a_walk_is_noticed(fs: HandleFileSystem) -> None:
    """A deep walk reopens the directories it closed on the way down; one replaced meanwhile
    is an error (ESTALE), never a silent walk of another directory."""
    depth = 200
    fs.makedirs("/" + "/".join(["d"] * depth))
    walk = Path(fs).walk()
    for _ in range(150):
        next(walk)
    fs.mv("/d/d/d", "/elsewhere")  # a directory high above the walk...
    fs.makedirs("/d/d/d/d")  # ...and another one in its place
    with pytest.raises(OSError) as exc:
        list(walk)
    assert exc.value.errno == errno.ESTALE
    assert str(exc.value.filename).startswith("/d/d")
    fs.rm("/elsewhere", recursive=True)


def test_walk_follows_a_symlink_into_a_deep_tree(fs: HandleFileSystem) -> None:
    """Levels below a followed symlink are closed and reopened like any others (from the
    symlinked directory, which stays open), and the walk comes back out to the siblings."""
    depth = 300
    fs.makedirs("/real/" + "/".join(["d"] * depth))
    fs.makedirs("/top/zz")
    fs.symlink("/real", "/top/in")
    seen = [str(p) for p, _, _ in Path(fs, "/top").walk(follow_symlinks=True)]
    inside = ["/top/in" + "/d" * level for level in range(depth + 1)]
    assert seen[0] == "/top" and sorted(seen) == sorted(["/top", "/top/zz", *inside])
    start = seen.index("/top/in")
    assert seen[start:start + depth + 1] == inside  # depth first
    bottom_up = [str(p) for p, _, _ in Path(fs, "/top").walk(top_down=False,
                                                             follow_symlinks=True)]
    assert sorted(bottom_up) == sorted(seen) and bottom_up[-1] == "/top"
    assert [str(p) for p, _, _ in Path(fs, "/top").walk()] == ["/top", "/top/zz"]
