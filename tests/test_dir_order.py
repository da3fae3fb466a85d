"""Directory order: a guest lists entries in the order the storage keeps them, as under wasmtime.

The native backend passes the host directory's own ``readdir`` order through (wasmtime does
the same), the memory backend gives creation order; neither sorts. A program that archives a
tree with ``os.walk`` then produces the same archive under wasifs as under wasmtime. Cookies
(``telldir``/``seekdir``) index one listing taken when the guest starts reading, so they stay
valid while other entries come and go.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import wasmtime

import wasifs
import wasifs.api
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.toolchain import compile_c
from wasifs.trees import read_tree, write_tree

LIST_DIR = r"""
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static int skip(const char *n) { return !strcmp(n, ".") || !strcmp(n, ".."); }

int main(int argc, char **argv) {
    DIR *d = opendir(argv[1]);
    if (!d) { perror("opendir"); return 1; }
    struct dirent *e;
    long mark = -1;
    int i = 0;
    while ((e = readdir(d))) {
        if (skip(e->d_name)) continue;
        printf("%s\n", e->d_name);
        if (++i == 5) mark = telldir(d);
    }
    if (argc > 2) {  /* change the directory while it is open: cookies must still hold */
        char path[256];
        snprintf(path, sizeof path, "%s/%s", argv[1], argv[2]);
        close(open(path, O_WRONLY | O_CREAT, 0644));
    }
    printf("-- from the sixth\n");
    seekdir(d, mark);
    while ((e = readdir(d))) {
        if (!skip(e->d_name)) printf("%s\n", e->d_name);
    }
    closedir(d);
    return 0;
}
"""

#: Names created in this order: neither sorted nor reverse-sorted.
NAMES = [f"{w}{i}" for i, w in enumerate(
    "kilo alpha zulu echo mike bravo yankee delta oscar charlie x-ray golf lima".split())]


@pytest.fixture(scope="module")
def lister() -> wasmtime.Module:
    return wasifs.api.load_module(compile_c(LIST_DIR))


def _expected(order: list[str]) -> bytes:
    return ("\n".join(order) + "\n-- from the sixth\n" + "\n".join(order[5:]) + "\n").encode()


def _wasmtime_listing(module: wasmtime.Module, host_dir: Path) -> bytes:
    out = host_dir.parent / "wasmtime-stdout"
    cfg = wasmtime.WasiConfig()
    cfg.argv = ["ls", "/d"]
    cfg.preopen_dir(str(host_dir), "/d")
    cfg.stdout_file = str(out)
    engine = wasifs.api.default_engine()
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1 << 62)  # wasifs's engines interrupt by epoch
    store.set_wasi(cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    start = linker.instantiate(store, module).exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    start(store)
    return out.read_bytes()


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    d.mkdir()
    for name in NAMES:
        (d / name).write_text(name)
    if os.listdir(d) == sorted(NAMES):  # pragma: no cover - a host filesystem that sorts
        pytest.skip("this host filesystem lists entries sorted: the test cannot tell")
    return d


def test_native_passes_the_host_order_through_as_wasmtime_does(
        lister: wasmtime.Module, host_dir: Path) -> None:
    host_order = os.listdir(host_dir)
    reference = _wasmtime_listing(lister, host_dir)
    assert reference == _expected(host_order)
    got = wasifs.run(lister, args=["ls", "/d"], mounts={"/d": NativeFileSystem(host_dir)})
    assert (got.exit_code, got.stderr) == (0, b"")
    assert got.stdout == reference


def test_memory_lists_in_creation_order(lister: wasmtime.Module) -> None:
    fs = MemoryFileSystem()
    write_tree(fs, {name: name for name in NAMES})
    got = wasifs.run(lister, args=["ls", "/d"], mounts={"/d": fs})
    assert got.stdout == _expected(NAMES)
    # a name made again goes to the end; renaming onto an existing name keeps that place
    root = fs.root()
    fs.unlink(root, NAMES[0])
    fs.close(fs.open_file(root, NAMES[0], read=False, write=True, create=True))
    fs.rename(root, NAMES[1], root, NAMES[2])
    order = [*NAMES[2:], NAMES[0]]
    assert [e.name for e in fs.listdir(root)] == order


@pytest.mark.parametrize("backend", ["memory", "native"])
def test_cookies_stay_valid_while_the_directory_changes(
        lister: wasmtime.Module, tmp_path: Path, backend: str) -> None:
    fs: MemoryFileSystem | NativeFileSystem
    if backend == "memory":
        fs = MemoryFileSystem()
        write_tree(fs, {name: name for name in NAMES})
        order = NAMES
    else:
        d = tmp_path / "d"
        d.mkdir()
        for name in NAMES:
            (d / name).write_text(name)
        order = os.listdir(d)
        fs = NativeFileSystem(d)
    got = wasifs.run(lister, args=["ls", "/d", "new-entry"], mounts={"/d": fs})
    assert got.stdout == _expected(order)


def test_host_side_listings_follow_the_backend_order(host_dir: Path) -> None:
    fs = NativeFileSystem(host_dir)
    host_order = os.listdir(host_dir)
    assert [e.name for e in fs.listdir(fs.root())] == host_order
    assert [p.name for p in wasifs.Path(fs, "/").iterdir()] == host_order
    assert [p.rsplit("/", 1)[1] for p in fs.ls("/", detail=False)] == host_order
    # what documents a sorted result stays sorted
    assert list(read_tree(fs)) == sorted(NAMES)
