"""Trees deeper than Python's recursion limit, through every host-side API that walks a
tree: ``Path.walk``/``rglob``, ``snapshot``, ``copy``/``copy_in``/``copy_out``,
``trees.read_tree``, the fsspec facade's ``walk``/``find``/``du``/``rm``, and the CLI's
copy-in and write-back. Each walks iteratively, in work linear in the tree (counted in
backend calls, never timed), holding a bounded number of handles."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path as HostPath
from typing import Any

import pytest

from wasifs.backends import MemoryFileSystem, NativeFileSystem, copy_tree, mirror_tree
from wasifs.path import Path
from wasifs.transfer import copy, copy_in, copy_out, snapshot
from wasifs.trees import read_tree

DEPTH = 3000  # three times Python's default recursion limit


class CountingMemory(MemoryFileSystem):
    """A real memory backend that counts its directory lookups and open handles."""

    protocol = "wasifs-counting-memory"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.opendirs = 0
        self.open_now = 0
        self.open_max = 0

    def _opened(self, handle: Any) -> Any:
        self.open_now += 1
        self.open_max = max(self.open_max, self.open_now)
        return handle

    def root(self) -> Any:
        return self._opened(super().root())

    def opendir(self, dir: Any, name: str) -> Any:
        self.opendirs += 1
        return self._opened(super().opendir(dir, name))

    def open_file(self, dir: Any, name: str, **kwargs: Any) -> Any:
        return self._opened(super().open_file(dir, name, **kwargs))

    def close(self, handle: Any) -> None:
        self.open_now -= 1
        super().close(handle)

    def reset(self) -> None:
        self.opendirs = 0
        self.open_max = self.open_now


def build_deep(fs: Any, depth: int = DEPTH) -> None:
    """``/d/d/.../d`` (``depth`` directories), with a file ``f`` holding its level in each."""
    cur = fs.root()
    try:
        for level in range(1, depth + 1):
            fs.mkdir(cur, "d")
            nxt = fs.opendir(cur, "d")
            fs.close(cur)
            cur = nxt
            f = fs.open_file(cur, "f", read=False, write=True, create=True)
            try:
                fs.pwrite(f, str(level).encode(), 0)
            finally:
                fs.close(f)
    finally:
        fs.close(cur)


def deep_path(depth: int = DEPTH) -> str:
    return "/" + "/".join(["d"] * depth)


@pytest.fixture(scope="module")
def deep() -> CountingMemory:
    fs = CountingMemory()
    build_deep(fs)
    return fs


@pytest.fixture
def fs(deep: CountingMemory) -> CountingMemory:
    deep.reset()
    return deep


def assert_linear(fs: CountingMemory, dirs: int = DEPTH, handles: int = 400) -> None:
    # a walk from the root for every directory would be DEPTH**2 / 2 = 4.5 million lookups
    assert fs.opendirs <= 3 * dirs + 1000, fs.opendirs
    # a handle held for every level would be DEPTH handles
    assert fs.open_max - fs.open_now <= handles, fs.open_max


def test_path_walk(fs: CountingMemory) -> None:
    seen = list(Path(fs).walk())
    assert len(seen) == DEPTH + 1
    assert [str(p) for p, _, _ in seen[:3]] == ["/", "/d", "/d/d"]
    assert str(seen[-1][0]) == deep_path()
    assert all(files == ["f"] for _, _, files in seen[1:])
    assert_linear(fs)
    fs.reset()
    up = list(Path(fs).walk(top_down=False))
    assert [str(p) for p, _, _ in up] == [str(p) for p, _, _ in reversed(seen)]
    assert_linear(fs)


def test_path_rglob(fs: CountingMemory) -> None:
    found = list(Path(fs).rglob("f"))
    assert len(found) == DEPTH
    assert str(found[-1]) == deep_path() + "/f"
    assert found[-1].read_text() == str(DEPTH)
    assert_linear(fs, 2 * DEPTH)


def test_resolution_goes_back_up_a_deep_path(fs: CountingMemory) -> None:
    # down 3,000 levels and up again: the levels closed on the way down are reopened (and
    # checked to be the same directories) on the way up
    down_and_up = deep_path() + "/.." * (DEPTH - 1) + "/f"
    assert Path(fs, down_and_up).read_text() == "1"
    assert_linear(fs)
    fs.reset()
    resolved = Path(fs, deep_path(), *[".."] * (DEPTH - 2), "d", "f").resolve(strict=True)
    assert resolved == Path(fs, "/d/d/d/f")
    assert_linear(fs)


def test_snapshot_and_read_tree(fs: CountingMemory) -> None:
    snap = snapshot(Path(fs))
    assert len(snap) == 2 * DEPTH
    assert snap[deep_path()[1:] + "/f"].size == len(str(DEPTH))
    assert_linear(fs)
    fs.reset()
    tree = read_tree(fs)
    assert len(tree) == 2 * DEPTH and tree[deep_path()[1:] + "/f"] == str(DEPTH)
    assert_linear(fs)


def test_copy_between_backends_and_back(fs: CountingMemory) -> None:
    other = CountingMemory()
    copy(Path(fs, "/d"), Path(other, "/copy"))
    assert_linear(fs)
    assert snapshot(Path(other, "/copy")) == snapshot(Path(fs, "/d"))
    assert Path(other, "/copy" + deep_path(DEPTH - 1) + "/f").read_text() == str(DEPTH)


def test_copy_out_and_in_on_a_host_directory(fs: CountingMemory, tmp_path: HostPath) -> None:
    # 1,200 levels on the host, through the confined native backend (removed again by the
    # facade's rm: the recursive shutil.rmtree behind tmp_path could not remove them)
    depth = 1200
    src = Path(fs, deep_path(DEPTH - depth))
    out = tmp_path / "out"
    try:
        copy_out(src, out)
        back = copy_in(out, Path(MemoryFileSystem(), "/back"))
        assert len(snapshot(back)) == 2 * depth + 1  # its own f, then 1,200 levels
        assert snapshot(back) == snapshot(src)
    finally:
        if out.exists():
            NativeFileSystem(tmp_path).rm("/out", recursive=True)


def test_fsspec_facade_walk_find_du_rm(deep: CountingMemory) -> None:
    fs = CountingMemory()
    copy(Path(deep, "/d"), Path(fs, "/d"))
    fs.reset()
    walked = list(fs.walk("/"))
    assert len(walked) == DEPTH + 1 and walked[-1][0] == deep_path()
    assert_linear(fs)
    fs.reset()
    found = fs.find("/")
    assert len(found) == DEPTH and deep_path() + "/f" in found
    assert_linear(fs)
    fs.reset()
    assert fs.du("/") == sum(len(str(level)) for level in range(1, DEPTH + 1))
    assert_linear(fs)
    fs.reset()
    fs.rm("/d", recursive=True)
    assert fs.ls("/", detail=False) == []
    assert_linear(fs)


def test_cli_copy_in_and_write_back_functions(deep: CountingMemory) -> None:
    mem = CountingMemory()
    s, d = deep.root(), mem.root()
    try:
        assert copy_tree(deep, s, mem, d) == 2 * DEPTH
        assert read_tree(mem) == read_tree(deep)
        Path(mem, deep_path() + "/new").write_text("added at the bottom")
        Path(mem, "/d/d/f").unlink()
        target = MemoryFileSystem()
        t = target.root()
        try:
            copy_tree(deep, s, target, t)
            mirror_tree(mem, d, target, t)
        finally:
            target.close(t)
        assert read_tree(target) == read_tree(mem)
    finally:
        deep.close(s)
        mem.close(d)


NATIVE_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    sys.path.insert(0, sys.argv[2])
    from test_deep_trees import build_deep, deep_path
    from wasifs.backends import MemoryFileSystem, NativeFileSystem
    from wasifs.path import Path
    from wasifs.transfer import copy, snapshot

    depth = int(sys.argv[3])
    host = NativeFileSystem(sys.argv[1])
    other = NativeFileSystem(sys.argv[1])
    try:
        build_deep(host, depth)
        assert len(list(Path(host).walk())) == depth + 1
        snap = snapshot(Path(host, "/d"))
        assert len(snap) == 2 * depth - 1
        mem = Path(MemoryFileSystem(), "/m")
        copy(Path(host, "/d"), mem)
        copy(mem, Path(other, "/again"))
        assert snapshot(Path(other, "/again")) == snap
        assert len(host.find("/")) == 2 * depth
        assert Path(host, deep_path(depth) + "/.." * (depth - 1) + "/f").read_text() == "1"
    finally:
        host.rm("/d", recursive=True)
        host.rm("/again", recursive=True)
    assert host.ls("/") == []
    print("ok")
""")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_native_deep_tree_with_few_descriptors(tmp_path: HostPath) -> None:
    """1,500 levels on a host directory while the process may hold only 128 descriptors: a
    walk that kept one descriptor per level would fail with EMFILE."""
    root = tmp_path / "root"
    root.mkdir()
    r = subprocess.run(
        [sys.executable, "-c", NATIVE_SCRIPT, str(root), str(HostPath(__file__).parent),
         "1500"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "ok"


def test_path_mkdir_parents() -> None:
    fs = MemoryFileSystem()
    Path(fs, deep_path(1500)).mkdir(parents=True)
    assert Path(fs, deep_path(1500)).is_dir()


# ------------------------------------------------------------------ a guest-built deep tree
GUEST_DEPTH = 10_000

#: A C guest that builds (``build N``) or checks (``check N``) ``d/d/.../d`` N levels deep
#: below /data, a file ``f`` holding its level in each, going down with openat (never a
#: path longer than a name: it could go any depth).
DEEP_GUEST = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int build = strcmp(argv[1], "build") == 0, depth = atoi(argv[2]);
    int dir = open("/data", O_RDONLY | O_DIRECTORY);
    for (int level = 1; level <= depth; level++) {
        if (build && mkdirat(dir, "d", 0755) != 0) { perror("mkdirat"); return 1; }
        int next = openat(dir, "d", O_RDONLY | O_DIRECTORY);
        if (next < 0) { perror("openat"); return 1; }
        close(dir);
        dir = next;
        char text[16], got[16] = {0};
        int n = snprintf(text, sizeof text, "%d", level);
        int f = openat(dir, "f", build ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY, 0644);
        if (f < 0) { perror("openat f"); return 1; }
        if (build ? write(f, text, n) != n : read(f, got, sizeof got) != n || strcmp(got, text)) {
            printf("level %d: %s\n", level, got); return 1;
        }
        close(f);
    }
    printf("%s %d\n", build ? "built" : "checked", depth);
    return 0;
}
"""


@pytest.fixture(scope="module")
def deep_guest(tmp_path_factory: pytest.TempPathFactory) -> HostPath:
    from wasifs.toolchain import compile_c
    wasm = tmp_path_factory.mktemp("guest") / "deep.wasm"
    wasm.write_bytes(compile_c(DEEP_GUEST))
    return wasm


def test_a_guest_built_tree_ten_thousand_deep_round_trips(deep_guest: HostPath,
                                                          tmp_path: HostPath) -> None:
    """The guest builds 10,000 levels in memory; the CLI writes them back to a host folder,
    copies them in again for a second run that checks them; then snapshot, copy_out,
    read_tree, find/du/copy/rm, makedirs, mkdir(parents=True) and pickling on such a tree,
    each in work linear in it."""
    host = tmp_path / "data"
    host.mkdir()
    native = NativeFileSystem(tmp_path)
    try:
        for step in ("build", "check"):
            args = ["--write-back"] if step == "build" else []
            r = subprocess.run(
                [sys.executable, "-m", "wasifs", "run", "--backend", "memory",
                 "--dir", f"{host}::/data", *args, str(deep_guest), step, str(GUEST_DEPTH)],
                capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stdout + r.stderr[-2000:]
            assert r.stdout.split() == [f"{step}ed" if step == "check" else "built",
                                        str(GUEST_DEPTH)]
        fs = CountingMemory()
        assert copy_in(host, Path(fs, "/data")) is not None
        deep = "/data" + deep_path(GUEST_DEPTH)
        assert Path(fs, deep + "/f").read_text() == str(GUEST_DEPTH)
        dirs = GUEST_DEPTH + 1
        for check in (lambda: snapshot(Path(fs, "/data")), lambda: read_tree(fs),
                      lambda: fs.find("/"), lambda: fs.du("/")):
            fs.reset()
            check()
            assert_linear(fs, dirs)
        fs.reset()
        out = tmp_path / "out"
        copy_out(Path(fs, "/data"), out)
        assert_linear(fs, dirs)
        # pickling: a deep tree comes back whole (pickle recursed once per level)
        clone = pickle.loads(pickle.dumps(fs))
        assert Path(clone, deep + "/f").read_text() == str(GUEST_DEPTH)
        assert read_tree(clone) == read_tree(fs)
        # making a deep path: one walk, not one from the root per level
        fs.reset()
        fs.makedirs("/made" + deep_path(GUEST_DEPTH), exist_ok=False)
        assert_linear(fs, dirs)
        fs.reset()
        Path(fs, "/made2" + deep_path(GUEST_DEPTH)).mkdir(parents=True)
        assert_linear(fs, dirs)
        # fsspec's copy (its generic one resolved two paths from the root per entry)
        fs.reset()
        fs.copy("/data", "/copied", recursive=True)
        assert_linear(fs, 2 * dirs, handles=600)  # two walks in step: two chains
        assert Path(fs, "/copied" + deep_path(GUEST_DEPTH) + "/f").read_text() == \
            str(GUEST_DEPTH)
        fs.reset()
        fs.rm("/data", recursive=True)
        assert_linear(fs, dirs)
        assert sorted(fs.ls("/", detail=False)) == ["/copied", "/made", "/made2"]
    finally:
        for name in ("data", "out"):  # (pytest's own clean-up recurses)
            if (tmp_path / name).exists():
                native.rm("/" + name, recursive=True)
