"""Nested mounts through ``wasifs.run(mounts=...)``: the mount table (``wasifs.vfs._mounts``)
keeps the order given, normalises mount points and refuses two that a guest's libc would take
for one; a real guest finds each path in the mount wasi-libc picks, as under wasmtime.

The nested-mount behaviour itself (what a walk from an outer mount into an inner one finds,
``..`` at each preopen, moves between the mounts) is compared with wasmtime's by the
conformance cases ``nested-mounts``, ``nested-mounts-reversed`` and
``nested-mounts-readonly``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import wasifs
from wasifs.backends import MemoryFileSystem
from wasifs.toolchain import compile_c
from wasifs.trees import read_tree, write_tree
from wasifs.vfs import (
    find_preopen,
    libc_prefix,
    mount_preopens,
    normalize_mount_point,
    parse_mount_option,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the conformance package lives at the repository root
    sys.path.insert(0, str(ROOT))

from conformance.cases import NESTED_MOUNTS, Case, case_by_name  # noqa: E402
from conformance.runner import compare, run_case, run_reference  # noqa: E402

CLI_TOOL = ROOT / "tests" / "guests" / "cli_tool.c"

#: The section of conformance/DIFFERENCES.md for normalised mount points.
DIFFERENCE = "mount-points-normalized"


@pytest.mark.parametrize(("given", "canonical"), [
    ("/", "/"), ("//", "/"), ("/data", "/data"), ("/data/", "/data"), ("//data//x/", "/data/x"),
    ("/data/./x", "/data/x"), (".", "."), ("./", "."), ("./data", "data"), ("data/", "data"),
])
def test_mount_points_are_normalised(given: str, canonical: str) -> None:
    assert normalize_mount_point(given) == canonical


@pytest.mark.parametrize("bad", ["", "/data/../etc", "..", "a\x00b"])
def test_bad_mount_points_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="mount point"):
        normalize_mount_point(bad)
    with pytest.raises(ValueError, match="mount point"):
        wasifs.run(compile_c(CLI_TOOL.read_text()), args=["t", "args"], mounts={bad: "memory"})


def test_a_mount_point_must_be_a_string_and_a_backend() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        mount_preopens([(b"/data", MemoryFileSystem(), False)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="needs a Backend"):
        mount_preopens([("/data", "memory", False)])  # type: ignore[list-item]


@pytest.mark.parametrize("pair", [("/data", "data/"), ("/", "."), ("/x/y", "./x//y/")])
def test_mounts_the_guest_cannot_tell_apart_are_refused(pair: tuple[str, str]) -> None:
    first, second = pair
    with pytest.raises(ValueError, match=f"{first!r} and {second!r} are the same directory"):
        wasifs.run(compile_c(CLI_TOOL.read_text()), args=["t", "args"],
                   mounts={first: MemoryFileSystem(), second: MemoryFileSystem()})


def test_preopens_keep_the_order_given_and_their_flags() -> None:
    inner, outer, top = MemoryFileSystem(), MemoryFileSystem(), MemoryFileSystem()
    preopens = mount_preopens([("/data/cache/", inner, False), ("/data", outer, True),
                               ("/", top, False)])
    assert [(p.guest_path, p.backend, p.readonly) for p in preopens] == [
        ("/data/cache", inner, False), ("/data", outer, True), ("/", top, False)]
    assert [libc_prefix(p.guest_path) for p in preopens] == ["data/cache", "data", ""]


def test_find_preopen_applies_wasi_libc_rule() -> None:
    top, data, cache = mount_preopens([("/", MemoryFileSystem(), False),
                                       ("/data", MemoryFileSystem(), False),
                                       ("/data/cache", MemoryFileSystem(), False)])
    table = [top, data, cache]
    assert find_preopen(table, "/data/cache/x") == (cache, "x")
    assert find_preopen(table, "/data/cachex") == (data, "cachex")
    assert find_preopen(table, "/data") == (data, ".")
    assert find_preopen(table, "//data//x") == (data, "x")
    assert find_preopen(table, "/datax") == (top, "datax")
    assert find_preopen(table, "/data/../x") == (data, "../x")  # an escape: refused there
    assert find_preopen([data], "/other") is None
    # between two preopens of one prefix the later one wins (as wasi-libc reads them)
    again = mount_preopens([("/data", MemoryFileSystem(), False)])[0]
    assert find_preopen([data, again], "/data/x") == (again, "x")


def test_a_guest_reads_each_path_from_the_mount_find_preopen_names() -> None:
    """wasi-libc's choice, seen from a real guest, is the one find_preopen makes: each file
    holds the name of the mount it was written to."""
    trees = {"/": {"f": b"top", "data/f": b"top's data", "datax/f": b"top's datax"},
             "/data": {"f": b"data", "cache/f": b"data's cache", "cachex/f": b"data cachex"},
             "/data/cache": {"f": b"cache"}}
    mounts = {}
    for point, tree in trees.items():
        fs = MemoryFileSystem()
        write_tree(fs, tree)
        mounts[point] = fs
    preopens = mount_preopens((p, fs, False) for p, fs in mounts.items())
    wasm = compile_c(CLI_TOOL.read_text())
    for path in ["/f", "/data/f", "/datax/f", "/data/cache/f", "/data/cachex/f",
                 "//data//cache/f", "/data/./f"]:
        found = find_preopen(preopens, path)
        assert found is not None
        preopen, rel = found
        expected = read_tree(preopen.backend, text=False)[rel.removeprefix("./")]
        result = wasifs.run(wasm, args=["t", "cat", path], mounts=mounts)
        assert result.stdout == expected, (path, result.stderr)


def test_parse_mount_option() -> None:
    assert parse_mount_option("/data=native:///srv/data:ro") == (
        "/data", "native:///srv/data", True)
    assert parse_mount_option("/data=/srv/data:rw") == ("/data", "/srv/data", False)
    assert parse_mount_option("/m=memory") == ("/m", "memory", False)
    assert parse_mount_option("/x=overlay://native:///srv/x") == (
        "/x", "overlay://native:///srv/x", False)
    for bad in ("/data", "=memory", "/data=", "/a/../b=memory"):
        with pytest.raises(ValueError):
            parse_mount_option(bad)


def test_unnormalised_mount_points_serve_paths_as_their_canonical_form() -> None:
    """``mount-points-normalized``: under wasmtime a preopen named "/data/cache//" serves no
    path at all (wasi-libc matches the name byte by byte); wasifs mounts it at
    "/data/cache", so the guest behaves exactly as with canonical mount points."""
    canonical = case_by_name("nested-mounts")
    spelled = ("/", "/data/", "/data/cache//")
    odd = Case("nested-mounts-odd", "nested.c",
               mounts=tuple((point, tree) for point, (_, tree) in
                            zip(spelled, NESTED_MOUNTS, strict=True)))
    reference = run_reference(canonical)
    got = run_case(odd, "native-raw")  # wasifs.run(mounts={"/data/": ..., ...})
    got.trees = {normalize_mount_point(p): t for p, t in got.trees.items()}
    assert not compare(canonical, reference, got)
    # what wasmtime itself does with them (why wasifs differs)
    raw = run_reference(odd).stdout.decode()
    assert "preopen 5: /data/cache//" in raw
    assert "cat /data/cache/c: No such file or directory" in raw
    assert DIFFERENCE in (ROOT / "conformance" / "DIFFERENCES.md").read_text(encoding="utf-8")
