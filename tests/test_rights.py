"""Preopens with fewer rights (issue 12, item 3): ``Mount(fs, rights=...)`` gives a mount
reduced preview1 rights (read-only, no-write, no-create, no-delete, no-symlink), enforced on
every call, inherited on ``path_open``; ``fd_fdstat_set_rights`` only drops rights. wasmtime
has no such preopens (it ignores rights): DIFFERENCES.md section ``"mount-rights"``. Without
``rights=`` a run behaves as before, as under wasmtime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import wasmtime

import wasifs
from wasifs.abi import Rights
from wasifs.toolchain import compile_c

GUEST = Path(__file__).parent / "guests" / "rights.c"
NOTCAPABLE = 76
ALL_OPS = ["stat", "read", "readdir", "readlink", "read-below", "write", "append",
           "truncate-open", "ftruncate", "create", "mkdir", "symlink", "link", "utimens",
           "rename", "unlink", "write-below", "truncate-below", "create-below", "mkdir-below", "symlink-below",
           "unlink-below", "rmdir", "drop", "write-after-drop", "regain"]
_WRITES = {"write", "append", "truncate-open", "ftruncate", "write-below", "truncate-below",
           "create", "create-below"}
_CREATES = {"create", "mkdir", "symlink", "link", "rename", "create-below", "mkdir-below",
            "symlink-below"}
_DELETES = {"rename", "unlink", "unlink-below", "rmdir"}
#: the operations each preset refuses (ENOTCAPABLE); the others succeed. "create" under
#: no-write: the file is created, its first write is refused. "regain" asks again for the
#: rights the descriptor had before "drop": refused when "drop" took one away.
REFUSED = {
    None: {"write-after-drop", "regain"},
    "read-only": _WRITES | _CREATES | _DELETES | {"utimens", "write-after-drop"},
    "no-write": _WRITES | {"write-after-drop"},
    "no-create": _CREATES | {"write-after-drop", "regain"},
    "no-delete": _DELETES | {"write-after-drop", "regain"},
    "no-symlink": {"symlink", "symlink-below", "write-after-drop", "regain"},
}


@pytest.fixture(scope="module")
def rights_guest() -> bytes:
    return compile_c(GUEST)


def make_tree(root: Path) -> None:
    (root / "d").mkdir()
    (root / "f").write_bytes(b"0123456789")
    (root / "d" / "e").write_text("e")
    (root / "g").write_text("g")
    os.symlink("f", root / "l")


def tree_of(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = ("-> " + os.readlink(p) if p.is_symlink() else "/" if p.is_dir()
                    else p.read_text())
    return out


def outcomes(stdout: bytes) -> dict[str, int]:
    return {name: int(code) for name, code in
            (line.split(": ") for line in stdout.decode().splitlines())}


@pytest.mark.parametrize("backend", ["memory", "native"])
@pytest.mark.parametrize("preset", list(REFUSED))
def test_each_preset_refuses_what_it_takes_away(rights_guest: bytes, tmp_path: Path,
                                                backend: str, preset: str | None) -> None:
    host = tmp_path / "host"
    host.mkdir()
    make_tree(host)
    before = tree_of(host)
    fs = wasifs.NativeFileSystem(host) if backend == "native" else _memory_copy(host)
    result = wasifs.run(rights_guest, args=["rights", "/m"],
                        mounts={"/m": wasifs.Mount(fs, rights=preset)})
    assert result.exit_code == 0, result.stderr
    got = outcomes(result.stdout)
    assert list(got) == ALL_OPS
    refused = {op for op, code in got.items() if code == NOTCAPABLE}
    assert refused == REFUSED[preset]
    assert all(code in (0, NOTCAPABLE) for code in got.values()), got
    if backend == "native" and preset == "read-only":
        assert tree_of(host) == before  # nothing changed on the host


def _memory_copy(host: Path) -> wasifs.MemoryFileSystem:
    fs = wasifs.MemoryFileSystem()
    wasifs.copy_in(host, wasifs.Path(fs, "/"))
    return fs


def test_no_rights_given_is_what_wasmtime_does(rights_guest: bytes, tmp_path: Path) -> None:
    """The default rights change nothing: the same answers and the same tree as wasmtime's
    own WASI, but where the ``"rights"`` difference already says wasmtime differs:
    fd_fdstat_set_rights (not implemented there), and files opened below a directory that
    was itself opened read-only (``top``, ``sub``), which wasmtime will not write to
    (``badf``/``inval``; wasifs passes the directory's inheriting rights on)."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for root in (ours, theirs):
        root.mkdir()
        make_tree(root)
    result = wasifs.run(rights_guest, args=["rights", "/m"], mounts={"/m": str(ours)})
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    make_tree(explicit)
    same = wasifs.run(rights_guest, args=["rights", "/m"],
                      mounts={"/m": wasifs.Mount(str(explicit), rights=wasifs.MountRights.ALL)})
    assert same.stdout == result.stdout
    assert tree_of(explicit) == tree_of(ours)
    wasmtime_out = _under_wasmtime(rights_guest, theirs, tmp_path / "stdout")
    ignore = {"drop", "write-after-drop", "regain", "write", "append", "ftruncate",
              "write-below", "truncate-below"}
    mine = {k: v for k, v in outcomes(result.stdout).items() if k not in ignore}
    assert mine == {k: v for k, v in outcomes(wasmtime_out).items() if k not in ignore}
    # the same names, types and symlinks (contents differ by the writes wasmtime refuses)
    assert _shape(tree_of(ours)) == _shape(tree_of(theirs))


def _shape(tree: dict[str, str]) -> dict[str, str]:
    return {k: v if v == "/" or v.startswith("-> ") else "file" for k, v in tree.items()}


def _under_wasmtime(wasm: bytes, root: Path, out: Path) -> bytes:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    config = wasmtime.WasiConfig()
    config.argv = ["rights", "/m"]
    config.preopen_dir(str(root), "/m")
    config.stdout_file = str(out)
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module(engine, wasm))
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    try:
        start(store)
    except wasmtime.ExitTrap as exc:
        assert exc.code == 0
    del store
    return out.read_bytes()


FDSTAT_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "base") (param $fd i32) (result i64)
    (drop (call $get (local.get $fd) (i32.const 64))) (i64.load (i32.const 72)))
  (func (export "inheriting") (param $fd i32) (result i64)
    (drop (call $get (local.get $fd) (i32.const 64))) (i64.load (i32.const 80))))"""


@pytest.mark.parametrize("preset", ["read-only", "no-create,no-symlink", "all"])
def test_fd_fdstat_get_reports_the_mount_rights(preset: str) -> None:
    want = wasifs.MountRights.named(preset)
    mounts = {"/m": wasifs.Mount(wasifs.MemoryFileSystem(), rights=preset)}
    with wasifs.instantiate(FDSTAT_WAT, mounts=mounts) as guest:
        assert guest.call("base", 3) & 0xFFFFFFFFFFFFFFFF == want.base
        assert guest.call("inheriting", 3) & 0xFFFFFFFFFFFFFFFF == want.inheriting


def test_mount_rights_presets_combine_and_drop() -> None:
    R = wasifs.MountRights
    both = R.named("no-create + no-symlink")
    assert both == R.NO_CREATE & R.NO_SYMLINK == R.NO_CREATE  # no-create has no symlink
    assert not R.READ_ONLY.inheriting & int(Rights.FD_WRITE)
    assert R.READ_ONLY.inheriting & int(Rights.FD_READ)
    custom = R.ALL.without(Rights.PATH_UNLINK_FILE)
    assert custom.base == R.ALL.base & ~int(Rights.PATH_UNLINK_FILE)
    assert R.of(None) is None and R.of("read_only") == R.READ_ONLY


@pytest.mark.parametrize(("rights", "error", "match"), [
    ("read-mostly", ValueError, "unknown rights preset 'read-mostly'"),
    (7, TypeError, "rights must be a wasifs.MountRights"),
])
def test_bad_rights_are_refused_when_the_mount_is_made(rights: object, error: type[Exception],
                                                       match: str) -> None:
    with pytest.raises(error, match=match):
        wasifs.Mount(wasifs.MemoryFileSystem(), rights=rights)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not preview1 rights"):
        wasifs.MountRights(base=1 << 40)
