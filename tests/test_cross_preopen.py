"""rename and link between two preopens, and preopens rooted at a folder of a backend.

As under wasmtime, a guest moves a file from one preopened directory into another when both
are on one filesystem: two ``NativeFileSystem`` mounts on one host filesystem, one
``MemoryFileSystem`` mounted twice, or folders of one backend preopened with
``Preopen(..., subdir=...)`` (what ``--backend memory`` does with all ``--dir`` folders of a
run). Between two filesystems (two memory instances, memory and native, two host
filesystems) the answer is EXDEV.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from _wasi_compare import run_wasmtime

import wasifs
from wasifs.abi import Errno
from wasifs.api import default_engine, load_module
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.toolchain import compile_c
from wasifs.trees import DIR, Link, read_tree, write_tree
from wasifs.vfs import Preopen
from wasifs.wasi import WasiCore

#: argv: OP FROM TO ...; prints "OP FROM TO: <wasi errno>" per triple (wasi-libc's errno
#: values are WASI's), then the content of every path given after "--".
GUEST = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int i = 1;
    for (; i + 2 < argc + 0 && strcmp(argv[i], "--"); i += 3) {
        int r = !strcmp(argv[i], "rename") ? rename(argv[i + 1], argv[i + 2])
                                           : link(argv[i + 1], argv[i + 2]);
        printf("%s %s %s: %d\n", argv[i], argv[i + 1], argv[i + 2], r ? errno : 0);
    }
    for (i++; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        char buf[64] = {0};
        if (f) { fgets(buf, sizeof buf, f); fclose(f); }
        printf("%s: %s\n", argv[i], f ? buf : strerror(errno));
    }
    return 0;
}
"""

#: The section of conformance/DIFFERENCES.md for EXDEV between two host filesystems.
DIFFERENCE = "cross-device-xdev"


def conformance_differences() -> str:
    return (Path(__file__).resolve().parent.parent / "conformance" / "DIFFERENCES.md").read_text(
        encoding="utf-8")


OPS = ["rename", "/a/f", "/b/moved", "link", "/a/g", "/b/linked", "rename", "/a/d", "/b/d",
       "rename", "/b/o", "/a/o"]


@pytest.fixture(scope="module")
def guest() -> wasmtime.Module:
    return load_module(compile_c(GUEST))


def _tree_a() -> dict[str, Any]:
    return {"f": "F", "g": "G", "d/x": "x"}


def _lines(stdout: bytes) -> list[str]:
    return stdout.decode().splitlines()


def _expect_moved(lines: list[str]) -> None:
    assert lines == [f"{op} {a} {b}: 0" for op, a, b in zip(*[iter(OPS)] * 3, strict=True)]


def _run(guest: wasmtime.Module, mounts: Mapping[str, Any], *extra: str) -> list[str]:
    r = wasifs.run(guest, args=["mv", *OPS, *extra], mounts=dict(mounts))
    assert (r.exit_code, r.stderr) == (0, b"")
    return _lines(r.stdout)


def test_native_mounts_on_one_host_filesystem_move_as_under_wasmtime(
        guest: wasmtime.Module, tmp_path: Path) -> None:
    trees = {}
    for who in ("wasmtime", "wasifs"):
        a, b = tmp_path / who / "a", tmp_path / who / "b"
        a.mkdir(parents=True)
        b.mkdir()
        write_tree(NativeFileSystem(a), _tree_a())
        write_tree(NativeFileSystem(b), {"o": "O"})
        trees[who] = (a, b)
    a, b = trees["wasmtime"]
    ref = run_wasmtime(guest, ["mv", *OPS], mounts={"/a": a, "/b": b})
    a, b = trees["wasifs"]
    got = _run(guest, {"/a": NativeFileSystem(a), "/b": NativeFileSystem(b)})
    assert got == _lines(ref.stdout)
    _expect_moved(got)
    assert read_tree(NativeFileSystem(a)) == ref.trees["/a"] == {"g": "G", "o": "O"}
    assert read_tree(NativeFileSystem(b)) == ref.trees["/b"] == {
        "moved": "F", "linked": "G", "d": DIR, "d/x": "x"}
    assert os.stat(a / "g").st_ino == os.stat(b / "linked").st_ino


def test_one_memory_filesystem_mounted_twice(guest: wasmtime.Module) -> None:
    fs = MemoryFileSystem()
    write_tree(fs, {**_tree_a(), "o": "O"})
    # both preopens show the same tree: /a/f moved to /b/moved is one rename in one folder
    _expect_moved(_run(guest, {"/a": fs, "/b": fs}))
    assert read_tree(fs) == {"moved": "F", "g": "G", "linked": "G", "d": DIR, "d/x": "x",
                             "o": "O"}
    root = fs.root()
    assert fs.lstat(root, "g").ino == fs.lstat(root, "linked").ino


def test_folders_of_one_memory_filesystem(guest: wasmtime.Module) -> None:
    """What ``--backend memory`` does with its --dir folders: one filesystem, a preopen per
    folder (``Preopen(subdir=...)``), files move between them; ``..`` never leaves one."""
    fs = MemoryFileSystem()
    write_tree(fs, {**{f"first/{k}": v for k, v in _tree_a().items()}, "second/o": "O",
                    "secret": "not for the guest"})
    store = wasmtime.Store(default_engine())
    host = wasifs.WasiHost(store, args=["mv", *OPS, "--", "/a/../secret", "/b/../first/g"],
                           mounts={})
    assert host.core.add_preopen(Preopen("/a", fs, subdir="first")) == 3
    assert host.core.add_preopen(Preopen("/b", fs, subdir="./second/")) == 4
    linker = wasmtime.Linker(default_engine())
    host.define(linker, guest)
    host.instantiate(linker, guest)
    assert host.start() == 0
    host.close()
    lines = _lines(host.output(1))
    _expect_moved(lines[:4])
    assert lines[4:] == ["/a/../secret: Operation not permitted",
                         "/b/../first/g: Operation not permitted"]
    assert read_tree(fs) == {
        "first": DIR, "first/g": "G", "first/o": "O", "secret": "not for the guest",
        "second": DIR, "second/moved": "F", "second/linked": "G", "second/d": DIR,
        "second/d/x": "x"}


@pytest.mark.parametrize("kind", ["two-memory", "memory-native", "native-memory"])
def test_two_filesystems_are_exdev(guest: wasmtime.Module, tmp_path: Path, kind: str) -> None:
    def make(which: str, tree: dict[str, Any]) -> Any:
        if which == "memory":
            fs: Any = MemoryFileSystem()
        else:
            (tmp_path / "n").mkdir()
            fs = NativeFileSystem(tmp_path / "n")
        write_tree(fs, tree)
        return fs

    first, second = {"two-memory": ("memory", "memory"), "memory-native": ("memory", "native"),
                     "native-memory": ("native", "memory")}[kind]
    a, b = make(first, _tree_a()), make(second, {"o": "O"})
    lines = _run(guest, {"/a": a, "/b": b})
    xdev = int(Errno.XDEV)
    assert lines == [f"{op} {x} {y}: {xdev}" for op, x, y in zip(*[iter(OPS)] * 3, strict=True)]
    assert read_tree(a) == {"f": "F", "g": "G", "d": DIR, "d/x": "x"}


def test_two_host_filesystems_are_exdev_from_the_kernel(guest: wasmtime.Module,
                                                        tmp_path: Path) -> None:
    other_root = "/dev/shm"
    if not os.path.isdir(other_root) or not os.access(other_root, os.W_OK) or \
            os.stat(other_root).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second writable host filesystem (/dev/shm) to move across")
    with tempfile.TemporaryDirectory(dir=other_root) as other:
        write_tree(NativeFileSystem(tmp_path), _tree_a())
        ref_dir = tmp_path.parent / (tmp_path.name + "-ref")
        ref_dir.mkdir()
        write_tree(NativeFileSystem(ref_dir), _tree_a())
        with tempfile.TemporaryDirectory(dir=other_root) as other_ref:
            ref = run_wasmtime(guest, ["mv", *OPS[:6]], mounts={"/a": ref_dir,
                                                                  "/b": Path(other_ref)})
        r = wasifs.run(guest, args=["mv", *OPS[:6]], mounts={
            "/a": NativeFileSystem(tmp_path), "/b": NativeFileSystem(other)})
    # wasmtime maps the kernel's EXDEV to EIO; wasifs passes EXDEV on, which a guest's `mv`
    # answers with a copy
    assert DIFFERENCE in conformance_differences()
    assert _lines(ref.stdout) == [f"rename /a/f /b/moved: {int(Errno.IO)}",
                                  f"link /a/g /b/linked: {int(Errno.IO)}"]
    assert _lines(r.stdout) == [f"rename /a/f /b/moved: {int(Errno.XDEV)}",
                                f"link /a/g /b/linked: {int(Errno.XDEV)}"]


def test_a_read_only_mount_of_the_same_filesystem(guest: wasmtime.Module) -> None:
    fs = MemoryFileSystem()
    write_tree(fs, {"ro/f": "F", "ro/g": "G", "rw/o": "O"})
    r = wasifs.run(guest, args=["mv", "rename", "/ro/f", "/rw/f", "link", "/ro/g", "/rw/g",
                                "rename", "/rw/o", "/ro/o"],
                   mounts={"/ro": wasifs.Mount(fs, readonly=True), "/rw": fs})
    # nothing leaves or enters the read-only mount, and no file of it gets a writable name
    assert _lines(r.stdout) == [f"rename /ro/f /rw/f: {int(Errno.ROFS)}",
                                f"link /ro/g /rw/g: {int(Errno.XDEV)}",
                                f"rename /rw/o /ro/o: {int(Errno.ROFS)}"]
    assert read_tree(fs) == {"ro": DIR, "ro/f": "F", "ro/g": "G", "rw": DIR, "rw/o": "O"}


def test_subdir_preopens_are_checked() -> None:
    fs = MemoryFileSystem()
    write_tree(fs, {"d/f": "x", "l": Link("d")})
    with pytest.raises(ValueError, match="'..'"):
        Preopen("/x", fs, subdir="d/../..")
    with pytest.raises(TypeError, match="subdir"):
        Preopen("/x", fs, subdir=None)  # type: ignore[arg-type]
    core = WasiCore()
    with pytest.raises(FileNotFoundError, match="'d/missing'.*'/x'"):
        core.add_preopen(Preopen("/x", fs, subdir="d/missing"))
    with pytest.raises(NotADirectoryError, match="'d/f'"):
        core.add_preopen(Preopen("/x", fs, subdir="d/f"))
    with pytest.raises(OSError, match="'l'"):  # a symlink on the way is not followed
        core.add_preopen(Preopen("/x", fs, subdir="l"))
    assert repr(Preopen("/x", fs, subdir="d")).endswith("subdir='d')")
