"""Escape attempts against the native backend: none may reach outside its root.

Layout of every test: ``tmp_path/outside`` holds sentinel files that must stay untouched,
``tmp_path/root`` is the backend's root. Symlinks planted inside the root by the host point
outside, by absolute and by relative (``../..``) targets.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasifs.backends.native import NativeDir, NativeFileSystem

SENTINEL = b"outside: must not change\n"


class Env:
    """A root with a planted outside world and a backend over it."""

    def __init__(self, tmp: Path) -> None:
        self.outside = tmp / "outside"
        self.outside.mkdir()
        (self.outside / "secret").write_bytes(SENTINEL)
        (self.outside / "dir").mkdir()
        (self.outside / "dir" / "inner").write_bytes(SENTINEL)
        self.root = tmp / "root"
        self.root.mkdir()
        (self.root / "sub").mkdir()
        (self.root / "sub" / "deeper").mkdir()
        (self.root / "file").write_bytes(b"inside\n")
        self.fs = NativeFileSystem(self.root)
        self.handles: list[Any] = []
        self.snapshot = self.outside_state()

    def outside_state(self) -> dict[str, tuple[int, int, bytes | None]]:
        """Every path under ``outside`` with its mode, mtime and content."""
        state: dict[str, tuple[int, int, bytes | None]] = {}
        for dirpath, dirnames, filenames in os.walk(self.outside):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
                state[str(p.relative_to(self.outside))] = (st.st_mode, st.st_mtime_ns, data)
        return state

    def keep(self, handle: Any) -> Any:
        self.handles.append(handle)
        return handle

    def rootdir(self) -> NativeDir:
        return self.keep(self.fs.root())  # type: ignore[no-any-return]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    for h in e.handles:
        e.fs.close(h)
    assert e.outside_state() == e.snapshot, "something outside the root changed"


def _plant_links(env: Env, base: Path) -> dict[str, str]:
    """Symlinks in ``base`` (inside the root) that lead outside; name -> target."""
    depth = len(base.relative_to(env.outside.parent).parts)
    up = "/".join([".."] * depth)
    links = {
        "abs_dir": str(env.outside / "dir"),
        "abs_file": str(env.outside / "secret"),
        "rel_dir": f"{up}/outside/dir",
        "rel_file": f"{up}/outside/secret",
        "abs_missing": str(env.outside / "created-through-link"),
        "rel_missing": f"{up}/outside/created-through-link",
        "dotdot": "..",
    }
    for name, target in links.items():
        os.symlink(target, base / name)
    # sanity: from the host's point of view they do lead outside
    assert (base / "abs_file").read_bytes() == SENTINEL
    assert (base / "rel_file").read_bytes() == SENTINEL
    return links


LINK_NAMES = ["abs_dir", "abs_file", "rel_dir", "rel_file", "abs_missing", "rel_missing", "dotdot"]


@pytest.mark.parametrize("where", ["root", "sub"])
@pytest.mark.parametrize("name", LINK_NAMES)
def test_symlink_never_followed(env: Env, where: str, name: str) -> None:
    base = env.root if where == "root" else env.root / "sub" / "deeper"
    links = _plant_links(env, base)
    d = env.rootdir()
    if where == "sub":
        d = env.keep(env.fs.opendir(d, "sub"))
        d = env.keep(env.fs.opendir(d, "deeper"))
    fs = env.fs

    with pytest.raises(OSError) as ei:
        env.keep(fs.opendir(d, name))
    assert ei.value.errno == errno.ELOOP

    for kwargs in (
        {"read": True, "write": False},
        {"read": False, "write": True},
        {"read": True, "write": True},
        {"read": False, "write": True, "create": True},
        {"read": False, "write": True, "truncate": True},
        {"read": True, "write": True, "create": True, "truncate": True},
    ):
        with pytest.raises(OSError) as ei:
            env.keep(fs.open_file(d, name, **kwargs))
        assert ei.value.errno == errno.ELOOP, kwargs
    with pytest.raises(FileExistsError):
        env.keep(fs.open_file(d, name, read=False, write=True, create=True, exclusive=True))

    st = fs.lstat(d, name)
    assert stat.S_ISLNK(st.mode)
    assert st.size == len(os.fsencode(links[name]))
    assert fs.readlink(d, name) == links[name]
    entry = {e.name: e for e in fs.listdir(d)}[name]
    assert entry.mode == stat.S_IFLNK

    # metadata and namespace operations act on the link itself
    with pytest.raises(FileExistsError):
        fs.mkdir(d, name)
    with pytest.raises(FileExistsError):
        fs.symlink("x", d, name)
    with pytest.raises(NotADirectoryError):
        fs.rmdir(d, name)
    fs.set_times(d, name, 1_000_000_001, 2_000_000_002)
    assert os.lstat(base / name).st_mtime_ns == 2_000_000_002
    fs.link(d, name, d, name + ".hard")
    assert stat.S_ISLNK(os.lstat(base / (name + ".hard")).st_mode)
    fs.rename(d, name + ".hard", d, name + ".moved")
    assert os.readlink(base / (name + ".moved")) == links[name]
    fs.unlink(d, name + ".moved")
    fs.unlink(d, name)
    assert not os.path.lexists(base / name)
    assert not (env.outside / "created-through-link").exists()


def test_rename_over_symlink_replaces_the_link(env: Env) -> None:
    _plant_links(env, env.root)
    d = env.rootdir()
    fs = env.fs
    fs.rename(d, "file", d, "abs_file")  # replaces the link, not its target
    assert (env.root / "abs_file").read_bytes() == b"inside\n"
    fs.mkdir(d, "empty")
    with pytest.raises(NotADirectoryError):  # a directory never replaces a symlink to one
        fs.rename(d, "empty", d, "abs_dir")


def test_directory_swapped_for_symlink(env: Env) -> None:
    """The race a path-based check loses: a handle outlives a swap of its directory."""
    fs = env.fs
    (env.root / "a").mkdir()
    (env.root / "a" / "original").write_bytes(b"orig")
    d = env.rootdir()
    a = env.keep(fs.opendir(d, "a"))

    # another process swaps a for a symlink to the outside, between two calls
    os.rename(env.root / "a", env.root / "a.moved")
    os.symlink(str(env.outside / "dir"), env.root / "a")

    # the old handle still points at the original directory
    assert [e.name for e in fs.listdir(a)] == ["original"]
    f = env.keep(fs.open_file(a, "new", read=False, write=True, create=True))
    fs.pwrite(f, b"data", 0)
    assert (env.root / "a.moved" / "new").read_bytes() == b"data"
    fs.mkdir(a, "made")
    assert (env.root / "a.moved" / "made").is_dir()
    fs.unlink(a, "original")
    assert not (env.root / "a.moved" / "original").exists()
    with pytest.raises(FileNotFoundError):
        fs.lstat(a, "inner")

    # a new lookup of "a" meets the symlink and refuses it
    with pytest.raises(OSError) as ei:
        env.keep(fs.opendir(d, "a"))
    assert ei.value.errno == errno.ELOOP
    assert stat.S_ISLNK(fs.lstat(d, "a").mode)


def test_file_swapped_for_symlink(env: Env) -> None:
    fs = env.fs
    d = env.rootdir()
    f = env.keep(fs.open_file(d, "file", read=True, write=True))
    os.rename(env.root / "file", env.root / "file.moved")
    os.symlink(str(env.outside / "secret"), env.root / "file")
    fs.pwrite(f, b"INSIDE", 0)
    assert (env.root / "file.moved").read_bytes() == b"INSIDE\n"
    with pytest.raises(OSError) as ei:
        env.keep(fs.open_file(d, "file", read=True, write=True))
    assert ei.value.errno == errno.ELOOP


def test_hard_link_attempts(env: Env) -> None:
    fs = env.fs
    _plant_links(env, env.root)
    d = env.rootdir()
    nlink_before = os.stat(env.outside / "secret").st_nlink
    # linking a symlink to an outside file links the symlink, never the outside inode
    fs.link(d, "abs_file", d, "h1")
    fs.link(d, "rel_file", d, "h2")
    assert stat.S_ISLNK(os.lstat(env.root / "h1").st_mode)
    assert stat.S_ISLNK(os.lstat(env.root / "h2").st_mode)
    assert os.stat(env.outside / "secret").st_nlink == nlink_before
    with pytest.raises(OSError) as ei:
        env.keep(fs.open_file(d, "h1", read=True, write=False))
    assert ei.value.errno == errno.ELOOP
    # directories cannot be hard-linked (a directory link would make a second parent)
    with pytest.raises(PermissionError) as ei2:
        fs.link(d, "sub", d, "sub2")
    assert ei2.value.errno == errno.EPERM
    with pytest.raises(OSError) as ei:
        fs.link(d, "file", d, "..")
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        fs.link(d, "file", d, "../escaped")
    assert ei.value.errno == errno.EINVAL
    assert not (env.root.parent / "escaped").exists()


BAD_NAMES = ["..", ".", "", "a/b", "../outside/secret", "/etc/passwd", "sub/..", "x\x00y"]


def _name_ops(fs: NativeFileSystem, d: NativeDir) -> dict[str, Callable[[str], object]]:
    return {
        "opendir": lambda n: fs.opendir(d, n),
        "open_file": lambda n: fs.open_file(d, n, read=True, write=False),
        "open_file_create": lambda n: fs.open_file(d, n, read=False, write=True, create=True),
        "lstat": lambda n: fs.lstat(d, n),
        "readlink": lambda n: fs.readlink(d, n),
        "set_times": lambda n: fs.set_times(d, n, 1, 2),
        "mkdir": lambda n: fs.mkdir(d, n),
        "rmdir": lambda n: fs.rmdir(d, n),
        "unlink": lambda n: fs.unlink(d, n),
        "rename_src": lambda n: fs.rename(d, n, d, "target"),
        "rename_dst": lambda n: fs.rename(d, "file", d, n),
        "link_src": lambda n: fs.link(d, n, d, "target"),
        "link_dst": lambda n: fs.link(d, "file", d, n),
        "symlink": lambda n: fs.symlink("file", d, n),
    }


NAME_OPS = ["opendir", "open_file", "open_file_create", "lstat", "readlink", "set_times",
            "mkdir", "rmdir", "unlink", "rename_src", "rename_dst", "link_src", "link_dst",
            "symlink"]


@pytest.mark.parametrize("op", NAME_OPS)
def test_bad_names_rejected(env: Env, op: str) -> None:
    fs = env.fs
    sub = env.keep(fs.opendir(env.rootdir(), "sub"))
    ops = _name_ops(fs, sub)
    assert sorted(ops) == sorted(NAME_OPS)
    (env.root / "sub" / "file").write_bytes(b"x")
    before = sorted(os.listdir(env.root)), sorted(os.listdir(env.root / "sub"))
    for name in BAD_NAMES:
        with pytest.raises(OSError) as ei:
            result = ops[op](name)
            env.keep(result)
        assert ei.value.errno == errno.EINVAL, (op, name)
    assert (sorted(os.listdir(env.root)), sorted(os.listdir(env.root / "sub"))) == before
    assert (env.root / "file").read_bytes() == b"inside\n"


def test_rename_across_handles_stays_inside(env: Env) -> None:
    fs = env.fs
    d = env.rootdir()
    sub = env.keep(fs.opendir(d, "sub"))
    deeper = env.keep(fs.opendir(sub, "deeper"))
    fs.rename(d, "file", deeper, "moved")
    assert (env.root / "sub" / "deeper" / "moved").read_bytes() == b"inside\n"
    fs.rename(deeper, "moved", d, "back")
    assert (env.root / "back").read_bytes() == b"inside\n"
    # a directory cannot move into its own subtree, whichever handles name it
    with pytest.raises(OSError) as ei:
        fs.rename(d, "sub", deeper, "loop")
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        fs.rename(d, "sub", sub, "loop")
    assert ei.value.errno == errno.EINVAL
    # moving a directory keeps handles inside it valid and inside the root
    fs.rename(d, "sub", d, "renamed")
    fs.mkdir(deeper, "still-here")
    assert (env.root / "renamed" / "deeper" / "still-here").is_dir()


def test_root_handle_cannot_go_up(env: Env) -> None:
    fs = env.fs
    d = env.rootdir()
    for name in ("..", "../outside"):
        with pytest.raises(OSError) as ei:
            env.keep(fs.opendir(d, name))
        assert ei.value.errno == errno.EINVAL
    names = {e.name for e in fs.listdir(d)}
    assert names == {"sub", "file"}


def test_root_path_swapped_after_construction(env: Env, tmp_path: Path) -> None:
    """The root is pinned at construction: replacing the root path later changes nothing."""
    fs = env.fs
    os.rename(env.root, tmp_path / "root.moved")
    os.symlink(str(env.outside), env.root)
    d = env.rootdir()
    assert {e.name for e in fs.listdir(d)} == {"sub", "file"}
    with pytest.raises(FileNotFoundError):
        fs.lstat(d, "secret")
    os.unlink(env.root)
    os.rename(tmp_path / "root.moved", env.root)


def test_fsspec_facade_stays_inside(env: Env) -> None:
    """The path-based fsspec API resolves through the same handles: an absolute symlink
    target is taken from the backend root and ``..`` stops at the root."""
    fs = env.fs
    _plant_links(env, env.root)
    for path in ("abs_file", "rel_file", "/../outside/secret", "../../outside/secret",
                 "sub/../../outside/secret", "dotdot/dotdot/outside/secret"):
        with pytest.raises(FileNotFoundError):
            fs.cat_file(path)
    for path in ("abs_dir", "rel_dir", "/../outside/dir"):
        with pytest.raises(FileNotFoundError):
            fs.ls(path)
    with pytest.raises(FileNotFoundError):
        fs.pipe_file("abs_missing", b"escaped?")  # a dangling link is not created through
    # a tree inside the root that mirrors the link targets is what they lead to
    mirror = env.root / env.outside.relative_to("/")
    mirror.mkdir(parents=True)
    (mirror / "secret").write_bytes(b"the inside copy")
    assert fs.cat_file("abs_file") == b"the inside copy"
    (env.root / "outside").mkdir(exist_ok=True)
    (env.root / "outside" / "secret").write_bytes(b"rebased")
    assert fs.cat_file("rel_file") == b"rebased"  # ../.. stopped at the root
    assert fs.cat_file("/../../outside/secret") == b"rebased"
    fs.rm("abs_dir")  # removes the link, never what it points to
    assert not os.path.lexists(env.root / "abs_dir")
