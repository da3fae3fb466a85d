"""Bounded work per call, with real guests: path resolution linear in what it expands,
PATH_MAX and NAME_MAX as on Linux (issue 10, item 7).

Every guest here is the forwarding module of ``tests/_forward.py``: a real WebAssembly
module that passes the test's exact integers to one preview1 import, run under wasifs on
the memory and the native backend, and under wasmtime-py's own WASI as the reference.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path as HostPath
from typing import Any

import pytest

from tests._forward import Guest, wasifs_guest, wasmtime_guest
from wasifs.abi import RIGHTS_ALL, Errno, Oflags
from wasifs.backends import MemoryFileSystem, NativeFileSystem
from wasifs.path import Path

RUNTIMES = ("wasmtime", "memory", "native")
DIRFD = 3
SCRATCH = 4096  # where the tests put their strings in guest memory
OUT = 64  # result slots (8-aligned: wasmtime traps on unaligned result pointers)


def make_guest(runtime: str, tmp_path: HostPath, pages: int = 4) -> Guest:
    root = tmp_path / runtime
    root.mkdir(parents=True)
    if runtime == "wasmtime":
        return wasmtime_guest({"/sandbox": root}, pages=pages)
    backend = MemoryFileSystem() if runtime == "memory" else NativeFileSystem(root)
    return wasifs_guest({"/sandbox": backend}, pages=pages)


@pytest.fixture(params=RUNTIMES)
def guest(request: pytest.FixtureRequest, tmp_path: HostPath) -> Iterator[Guest]:
    g = make_guest(request.param, tmp_path)
    yield g
    g.close()


def put(g: Guest, data: bytes | str, at: int = SCRATCH) -> tuple[int, int]:
    raw = data.encode() if isinstance(data, str) else data
    g.write(at, raw)
    return at, len(raw)


def path_open(g: Guest, path: str | bytes, oflags: int = 0, *, follow: bool = True,
              write: bool = False) -> int:
    p, n = put(g, path)
    rights = RIGHTS_ALL if write else int(RIGHTS_ALL) & ~0x40  # without FD_WRITE
    err = g.call("path_open", DIRFD, int(follow), p, n, oflags, rights, RIGHTS_ALL, 0, OUT)
    if err == 0:
        assert g.call("fd_close", g.u32(OUT)) == 0
    return err


def symlink(g: Guest, target: str | bytes, name: str | bytes) -> int:
    t, tn = put(g, target)
    p, n = put(g, name, SCRATCH + tn + 8)
    return g.call("path_symlink", t, tn, DIRFD, p, n)


def mkdir(g: Guest, path: str | bytes) -> int:
    p, n = put(g, path)
    return g.call("path_create_directory", DIRFD, p, n)


def rename(g: Guest, old: str, new: str) -> int:
    o, on = put(g, old)
    p, n = put(g, new, SCRATCH + on + 8)
    return g.call("path_rename", DIRFD, o, on, DIRFD, p, n)


def names(errnos: list[int]) -> list[str]:
    return [Errno(e).name for e in errnos]


# ---------------------------------------------------------------------- linear resolution
def link_chain(links: int, dotdots: int, slashes: int) -> list[tuple[str, str]]:
    """``l0 -> a/../a/../.../l1////...``, ..., the last one to the directory ``a``: every
    open of ``l0`` expands all of them (the issue's adversarial case is 40 links, 400
    ``a/..`` and 2,000 slashes each: just under PATH_MAX)."""
    out = []
    for i in range(links):
        nxt = f"l{i + 1}" if i + 1 < links else "a"
        out.append((f"l{i}", "a/../" * dotdots + nxt + "/" * slashes))
    return out


class Counter:
    """Counts the Python-level events (calls, returns, C calls) of a block: a measure of
    work that does not depend on the machine's speed."""

    def __init__(self) -> None:
        self.events = 0

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        self.events += 1

    def __enter__(self) -> Counter:
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)


def open_work(g: Guest, chain: list[tuple[str, str]]) -> int:
    """The events of one ``path_open("l0", O_DIRECTORY)`` after the guest made ``chain``."""
    assert mkdir(g, "a") == 0
    for name, target in chain:
        assert symlink(g, target, name) == 0, (name, len(target))
    assert path_open(g, "l0", Oflags.DIRECTORY) == 0  # warm up (caches, first-call paths)
    with Counter() as c:
        assert path_open(g, "l0", Oflags.DIRECTORY) == 0
    return c.events


@pytest.mark.parametrize("backend", ["memory", "native"])
def test_resolution_is_linear_in_what_it_expands(backend: str, tmp_path: HostPath) -> None:
    # twice the links, twice the work (it was four times: each component scanned every
    # component still pending, and the links' trailing slashes piled up there)
    work = []
    for links in (10, 20):
        g = make_guest(backend, tmp_path / str(links))
        work.append(open_work(g, link_chain(links, 20, 200)))
        g.close()
    assert work[1] < 2.5 * work[0], work


@pytest.mark.parametrize("backend", ["memory", "native"])
def test_resolution_of_the_issues_forty_links(backend: str, tmp_path: HostPath) -> None:
    # 40 links of 4,000 bytes each: 160,000 path bytes expanded by one open, in work
    # proportional to them (51.6 s of CPU per open before)
    chain = link_chain(40, 400, 2000)
    expanded = sum(len(target) for _, target in chain)
    g = make_guest(backend, tmp_path)
    events = open_work(g, chain)
    g.close()
    assert events < 10 * expanded, (events, expanded)


def test_resolution_holds_few_descriptors_at_any_depth(tmp_path: HostPath,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a path through 2,000 real directories and 1,300 back up, on the native backend: the
    # walk keeps a bounded number of host descriptors open, not one per level
    root = tmp_path / "native"
    root.mkdir()
    fs = NativeFileSystem(root)
    Path(fs, "/" + "/".join(["d"] * 2000)).mkdir(parents=True)
    g = wasifs_guest({"/sandbox": fs}, pages=4)
    held: set[int] = set()
    peak = opened = 0
    real_open, real_close = os.open, os.close

    def counting_open(*args: Any, **kwargs: Any) -> int:
        nonlocal peak, opened
        fd = real_open(*args, **kwargs)
        opened += 1
        held.add(fd)
        peak = max(peak, len(held))
        return fd

    def counting_close(fd: int) -> None:
        held.discard(fd)
        real_close(fd)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(os, "close", counting_close)
    try:
        # down through a link ("x" -> 2,000 levels), then 1,300 levels up
        assert symlink(g, "/".join(["d"] * 2000), "x") == 0
        assert path_open(g, "x/" + "../" * 1300 + "d", Oflags.DIRECTORY) == 0
    finally:
        monkeypatch.undo()
        g.close()
        fs.rm("/d", recursive=True)  # (pytest's own clean-up recurses)
    assert opened >= 2000
    assert peak < 100, peak


# ---------------------------------------------------------------------- PATH_MAX, NAME_MAX
def test_symlink_targets_of_path_max_bytes_are_refused(guest: Guest) -> None:
    # Linux: a target of PATH_MAX (4096) bytes or more is ENAMETOOLONG at creation
    assert names([symlink(guest, "x" * 4095, "ok"), symlink(guest, "x" * 4096, "long"),
                  symlink(guest, "é" * 2048, "long2"), symlink(guest, "é" * 2047 + "x", "ok2")]) \
        == ["SUCCESS", "NAMETOOLONG", "NAMETOOLONG", "SUCCESS"]


def test_paths_of_path_max_bytes_are_refused(guest: Guest) -> None:
    assert mkdir(guest, "a") == 0
    assert names([path_open(guest, "./" * 2047 + "a", Oflags.DIRECTORY),  # 4095 bytes
                  path_open(guest, "./" * 2047 + "/a", Oflags.DIRECTORY),  # 4096
                  path_open(guest, "./" * 2047 + "é", Oflags.DIRECTORY)]) \
        == ["SUCCESS", "NAMETOOLONG", "NAMETOOLONG"]


def test_names_are_counted_in_bytes(guest: Guest) -> None:
    long = "é" * 128  # 128 characters, 256 bytes
    fits = "é" * 127 + "x"  # 255 bytes
    creat = int(Oflags.CREAT)
    assert names([path_open(guest, long, creat, write=True), mkdir(guest, long),
                  symlink(guest, "t", long), mkdir(guest, "d"), rename(guest, "d", long),
                  path_open(guest, fits, creat, write=True), mkdir(guest, fits + "/")]) \
        == ["NAMETOOLONG", "NAMETOOLONG", "NAMETOOLONG", "SUCCESS", "NAMETOOLONG",
            "SUCCESS", "EXIST"]


def test_the_memory_backend_refuses_what_a_host_refuses() -> None:
    fs = MemoryFileSystem()
    long = "é" * 128
    with pytest.raises(OSError) as info:
        Path(fs, "/" + long).write_text("x")
    assert info.value.errno == errno.ENAMETOOLONG
    with pytest.raises(OSError) as info:
        Path(fs, "/link").symlink_to("t" * 4096)
    assert info.value.errno == errno.ENAMETOOLONG
    Path(fs, "/link").symlink_to("t" * 4095)
    assert len(Path(fs, "/link").readlink().name) == 4095
    Path(fs, "/" + "é" * 127 + "x").write_text("fits")


def test_long_paths_are_refused_before_they_are_decoded(guest: Guest,
                                                        request: pytest.FixtureRequest) -> None:
    # DIFFERENCES.md "path-max-before-decoding": a path of PATH_MAX bytes or more is
    # ENAMETOOLONG whatever its bytes are; wasmtime decodes it first (ILSEQ, EINVAL for NUL)
    paths = [b"\xff" * 5000, b"a/\x00" * 2000, b"a" * 5000]
    got = []
    for path in paths:
        p, n = put(guest, path)
        got.append(Errno(guest.call("path_create_directory", DIRFD, p, n)).name)
    if "wasmtime" in request.node.callspec.id:
        assert got == ["ILSEQ", "INVAL", "NAMETOOLONG"]
    else:
        assert got == ["NAMETOOLONG"] * 3
