"""The fast paths of ``path_open`` and ``path_unlink_file`` (a plain path, see
``wasifs.vfs.walk_plain``) answer exactly as the general resolver does.

Every case runs twice on a fresh tree: once as the core runs it, once with the fast path
switched off (``walk_plain`` made to decline every path, so the general resolver decides),
and the two must agree on the errno, on the new descriptor's ``fdstat`` and on the tree
left behind: from a preopen and from a directory the guest opened itself, on the memory
and the native backend, on a plain mount, a read-only one and one without write rights.
"""

from __future__ import annotations

import itertools
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wasifs.wasi._core as core_module
from wasifs.abi import FDSTAT_STRUCT, RIGHTS_ALL, Fdflags, Oflags, Rights
from wasifs.backends import Backend
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.errors import WasiError
from wasifs.vfs import MountRights, Preopen
from wasifs.wasi import WasiCore

PATHS = ("f", "d/f", "d", "d/", "link", "d/link", "linkdir/f", "linkdir/new", "missing/f",
         "f/x", "dangling", "new", "d/new", "d/e/f", "./f", "d//f", "d/../f", "..", "x" * 256,
         "d/" + "y" * 256, "new\x00")
OFLAGS = (0, Oflags.CREAT, Oflags.CREAT | Oflags.EXCL, Oflags.TRUNC, Oflags.CREAT | Oflags.TRUNC,
          Oflags.DIRECTORY)
READ = int(Rights.FD_READ | Rights.FD_SEEK | Rights.FD_FILESTAT_GET)
WRITE = int(Rights.FD_WRITE | Rights.FD_READ | Rights.FD_SEEK)
MOUNTS = ("plain", "readonly", "no-write")

PATH_AT = 256
OUT_AT = 1024
STAT_AT = 1100


def _tree(fs: Backend) -> None:
    root = fs.root()
    fs.mkdir(root, "d")
    d = fs.opendir(root, "d")
    fs.mkdir(d, "e")
    for parent, name, data in ((root, "f", b"top"), (d, "f", b"inner")):
        h = fs.open_file(parent, name, read=False, write=True, create=True)
        fs.pwrite(h, data, 0)
        fs.close(h)
    fs.symlink("f", root, "link")
    fs.symlink("f", d, "link")
    fs.symlink("d", root, "linkdir")
    fs.symlink("nope", root, "dangling")
    fs.close(d)
    fs.close(root)


def _listing(fs: Backend) -> list[tuple[str, int, int, str]]:
    out: list[tuple[str, int, int, str]] = []

    def walk(handle: Any, prefix: str) -> None:
        for entry in sorted(fs.listdir(handle)):
            st = fs.lstat(handle, entry.name)
            kind = stat.S_IFMT(st.mode)
            target = fs.readlink(handle, entry.name) if kind == stat.S_IFLNK else ""
            size = st.size if kind == stat.S_IFREG else 0
            out.append((prefix + entry.name, kind, size, target))
            if kind == stat.S_IFDIR:
                child = fs.opendir(handle, entry.name)
                try:
                    walk(child, prefix + entry.name + "/")
                finally:
                    fs.close(child)

    root = fs.root()
    try:
        walk(root, "")
    finally:
        fs.close(root)
    return out


def _call(method: Callable[..., int], *args: int) -> int:
    try:
        return int(method(*args))
    except WasiError as exc:
        return exc.errno


@pytest.fixture(params=["memory", "native"])
def make_fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Backend]]:
    made: list[Backend] = []
    counter = itertools.count()

    def make() -> Backend:
        fs: Backend
        if request.param == "memory":
            fs = MemoryFileSystem()
        else:
            where = tmp_path / f"t{next(counter)}"
            where.mkdir()
            fs = NativeFileSystem(where)
        _tree(fs)
        made.append(fs)
        return fs

    yield make
    for fs in made:
        forget = getattr(fs, "forget_dirs", None)
        if forget is not None:
            forget()


def _run(make_fs: Callable[[], Backend], mount: str, fast: bool, opened_dir: bool,
         call: Callable[[WasiCore, bytearray, int], tuple[int, ...]],
         monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    fs = make_fs()
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(core_module, "walk_plain", lambda *args: None)
        core = WasiCore(preopens=[Preopen(
            "/sandbox", fs, readonly=mount == "readonly",
            rights=MountRights.NO_WRITE if mount == "no-write" else None)])
        mem = bytearray(1 << 16)
        core.mem = memoryview(mem)
        dirfd = 3
        if opened_dir:
            mem[PATH_AT:PATH_AT + 1] = b"d"
            assert core.path_open(3, 1, PATH_AT, 1, int(Oflags.DIRECTORY),
                                  RIGHTS_ALL & ~int(Rights.FD_WRITE), RIGHTS_ALL, 0, OUT_AT) == 0
            dirfd = struct.unpack_from("<I", mem, OUT_AT)[0]
        try:
            answer = call(core, mem, dirfd)
        finally:
            core.close()
    return answer, _listing(fs)


def _open_case(path: str, oflags: int, follow: int, rights: int, fdflags: int
               ) -> Callable[[WasiCore, bytearray, int], tuple[int, ...]]:
    raw = path.encode()

    def call(core: WasiCore, mem: bytearray, dirfd: int) -> tuple[int, ...]:
        mem[PATH_AT:PATH_AT + len(raw)] = raw
        err = _call(core.path_open, dirfd, follow, PATH_AT, len(raw), int(oflags), rights,
                    RIGHTS_ALL, fdflags, OUT_AT)
        if err:
            return (err,)
        fd = struct.unpack_from("<I", mem, OUT_AT)[0]
        assert core.fd_fdstat_get(fd, STAT_AT) == 0
        fdstat = tuple(FDSTAT_STRUCT.unpack_from(mem, STAT_AT))
        mem[2000:2002] = b"ok"
        struct.pack_into("<II", mem, 2100, 2000, 2)
        wrote = _call(core.fd_write, fd, 2100, 1, 2200)
        return (err, fd, *fdstat, wrote, _call(core.fd_close, fd))

    return call


@pytest.mark.parametrize("opened_dir", [False, True], ids=["preopen", "opened-dir"])
@pytest.mark.parametrize("mount", MOUNTS)
def test_path_open_fast_path_answers_as_the_general_path(
        make_fs: Callable[[], Backend], mount: str, opened_dir: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen_fast_success = False
    for path, oflags, follow, rights, fdflags in itertools.product(
            PATHS, OFLAGS, (0, 1), (READ, WRITE), (0, int(Fdflags.APPEND))):
        case = _open_case(path, oflags, follow, rights, fdflags)
        fast = _run(make_fs, mount, True, opened_dir, case, monkeypatch)
        general = _run(make_fs, mount, False, opened_dir, case, monkeypatch)
        assert fast == general, (path, oflags, follow, rights, fdflags)
        seen_fast_success = seen_fast_success or fast[0][0] == 0
    assert seen_fast_success


@pytest.mark.parametrize("opened_dir", [False, True], ids=["preopen", "opened-dir"])
@pytest.mark.parametrize("mount", MOUNTS)
def test_path_unlink_file_fast_path_answers_as_the_general_path(
        make_fs: Callable[[], Backend], mount: str, opened_dir: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (*PATHS, "d/link", "linkdir/link", "d/e", "e/"):
        raw = path.encode()

        def call(core: WasiCore, mem: bytearray, dirfd: int, raw: bytes = raw
                 ) -> tuple[int, ...]:
            mem[PATH_AT:PATH_AT + len(raw)] = raw
            return (_call(core.path_unlink_file, dirfd, PATH_AT, len(raw)),)

        fast = _run(make_fs, mount, True, opened_dir, call, monkeypatch)
        general = _run(make_fs, mount, False, opened_dir, call, monkeypatch)
        assert fast == general, path


def test_walk_plain_declines_what_the_general_walk_must_decide() -> None:
    from wasifs.vfs import walk_plain

    fs = MemoryFileSystem()
    _tree(fs)
    root = fs.root()
    for path in ("", ".", "..", "a/", "/a", "a//b", "./a", "a/./b", "a/../b", "a\x00b",
                 "x" * 256, "linkdir/f", "/".join(["d"] * 17)):
        assert walk_plain(fs, root, path) is None, path
    here, name, owned = walk_plain(fs, root, "f")  # type: ignore[misc]
    assert (here, name, owned) == (root, "f", [])
    there, name, owned = walk_plain(fs, root, "d/e/new")  # type: ignore[misc]
    assert name == "new" and owned[-1] is there and len(owned) == 2
    with pytest.raises(WasiError) as info:
        walk_plain(fs, root, "missing/f")
    assert info.value.errno == 44  # ENOENT
