"""Real guests on fsspec and PyFilesystem2 mounts: reading, writing, renaming and listing
through WASI; a failed write-back reported as the errno of fd_sync/fd_close; and on read-only
mounts (zip, tar, ``Mount(..., readonly=True)``, ``readonly=True``) every write syscall answers
EROFS while the source stays byte for byte the same (hashed before and after)."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

import wasifs
from conformance.cases import case_by_name
from conformance.runner import build_guest, expected_outcome, run_reference
from wasifs.backends import FsspecBackend, MemoryFileSystem, NativeFileSystem
from wasifs.toolchain import compile_c

from ._archives import pack_tar, pack_zip
from .test_fsspec_backend import fsspec_memory

GUEST = Path(__file__).resolve().parents[1] / "guests" / "objects.c"


@pytest.fixture(scope="module")
def objects_wasm() -> bytes:
    return compile_c(GUEST)


def run_objects(wasm: bytes, mounts: dict[str, Any], *commands: str) -> list[str]:
    result = wasifs.run(wasm, args=["objects", *commands], mounts=mounts, strict=True)
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode().splitlines()


SESSION = ("ls /d", "cat /d/in.txt", "write /d/new.txt fresh", "append /d/new.txt +more",
           "pwrite /d/in.txt 2 XY", "mkdir /d/sub", "mv /d/new.txt /d/sub/moved.txt",
           "ls /d/sub", "cat /d/sub/moved.txt", "cat /d/in.txt", "rm /d/gone.txt",
           "mv /d/sub /d/sub2", "ls /d/sub2", "size /d/sub2/moved.txt")
#: (the listing is in the storage's order: here the order the files were made in)
EXPECTED = ["/d: in.txt gone.txt", "/d/in.txt: input", "write /d/new.txt: ok",
            "append /d/new.txt: ok", "pwrite /d/in.txt: ok", "mkdir /d/sub: ok",
            "mv /d/new.txt: ok", "/d/sub: moved.txt", "/d/sub/moved.txt: fresh+more",
            "/d/in.txt: inXYt", "rm /d/gone.txt: ok", "mv /d/sub: ok", "/d/sub2: moved.txt",
            "/d/sub2/moved.txt: 10"]


def _argv(session: tuple[str, ...]) -> list[str]:
    return [word for command in session for word in command.split(" ")]


def test_guest_session_on_fsspec_memory(objects_wasm: bytes) -> None:
    fs = fsspec_memory()
    fs.pipe("/in.txt", b"input")
    fs.pipe("/gone.txt", b"x")
    out = run_objects(objects_wasm, {"/d": FsspecBackend(fs)}, *_argv(SESSION))
    assert out == EXPECTED
    assert fs.cat("/sub2/moved.txt") == b"fresh+more"
    assert fs.cat("/in.txt") == b"inXYt"
    assert sorted(fs.find("/", withdirs=True)) == ["/in.txt", "/sub2", "/sub2/moved.txt"]


def test_guest_session_on_pyfs(objects_wasm: bytes) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources", category=Warning)
        import fs.memoryfs
    mem = fs.memoryfs.MemoryFS()
    mem.writebytes("in.txt", b"input")
    mem.writebytes("gone.txt", b"x")
    out = run_objects(objects_wasm, {"/d": mem}, *_argv(SESSION))
    assert out == EXPECTED
    assert mem.readbytes("sub2/moved.txt") == b"fresh+more"


def test_write_back_failure_is_the_errno_of_fd_sync_and_fd_close(
        objects_wasm: bytes, tmp_path: Path) -> None:
    """The guest writes a file on the fsspec mount, removes its directory through a native
    mount of the same host directory, and syncs and closes: the write-back fails, and the
    guest sees ENOENT from fsync and from close (before: close was a wasifs bug, EIO)."""
    out = run_objects(
        objects_wasm,
        {"/fs": FsspecBackend(LocalFileSystem(), str(tmp_path)),
         "/host": NativeFileSystem(tmp_path)},
        "mkdir", "/fs/d", "keep", "/fs/d/f", "data", "rm", "/host/d/f", "rmdir", "/host/d",
        "sync", "close")
    assert out == ["mkdir /fs/d: ok", "keep /fs/d/f: ok", "rm /host/d/f: ok",
                   "rmdir /host/d: ok", "sync : No such file or directory",
                   "close : No such file or directory"]


def test_written_back_on_close_and_sync(objects_wasm: bytes, tmp_path: Path) -> None:
    out = run_objects(objects_wasm, {"/fs": FsspecBackend(LocalFileSystem(), str(tmp_path))},
                      "keep", "/fs/f", "data", "sync", "cat", "/fs/f", "close")
    assert out == ["keep /fs/f: ok", "sync : ok", "/fs/f: data", "close : ok"]
    assert (tmp_path / "f").read_bytes() == b"data"


# --- read-only mounts ------------------------------------------------------------------------
def _hash_tree(root: Path) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames + dirnames):
            path = Path(dirpath, name)
            st = os.lstat(path)
            digest.update(f"{path.relative_to(root)} {st.st_mode} {st.st_size} "
                          f"{st.st_mtime_ns}\n".encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _staging() -> MemoryFileSystem:
    """The read-only conformance case's tree (without its symlink: archives hold none)."""
    staging = MemoryFileSystem(auto_mkdir=True)
    staging.pipe("/f.txt", b"data")
    staging.pipe("/d/x", b"x")
    return staging


def _zip(tmp: Path) -> tuple[Any, Path]:
    archive = pack_zip(_staging(), tmp / "ro.zip")
    return f"zip://::{archive}", archive


def _tar(tmp: Path) -> tuple[Any, Path]:
    archive = pack_tar(_staging(), tmp / "ro.tar")
    return f"tar://::{archive}", archive


def _local_tree(tmp: Path) -> Path:
    root = tmp / "tree"
    (root / "d").mkdir(parents=True)
    (root / "f.txt").write_bytes(b"data")
    (root / "d" / "x").write_bytes(b"x")
    os.symlink("f.txt", root / "l")
    return root


def _local_mount(tmp: Path) -> tuple[Any, Path]:
    root = _local_tree(tmp)
    return wasifs.Mount(FsspecBackend(LocalFileSystem(), str(root)), readonly=True), root


def _local_readonly(tmp: Path) -> tuple[Any, Path]:
    root = _local_tree(tmp)
    return FsspecBackend(LocalFileSystem(), str(root), readonly=True), root


def _zip_url_mount(tmp: Path) -> tuple[Any, Path]:
    url, archive = _zip(tmp)
    return wasifs.Mount(url, readonly=True), archive


READ_ONLY: dict[str, Callable[[Path], tuple[Any, Path]]] = {
    "zip": _zip,
    "tar": _tar,
    "zip-mount-readonly": _zip_url_mount,
    "fsspec-local-mount-readonly": _local_mount,
    "fsspec-local-readonly": _local_readonly,
}


@pytest.fixture(scope="module")
def readonly_expected() -> tuple[bytes, str]:
    case = case_by_name("readonly")
    reference = run_reference(case)
    return build_guest(case), expected_outcome(case, reference, "memory-raw").stdout.decode()


@pytest.mark.parametrize("kind", list(READ_ONLY))
def test_every_write_syscall_is_erofs_and_the_source_is_unchanged(
        kind: str, tmp_path: Path, readonly_expected: tuple[bytes, str]) -> None:
    """The conformance guest that tries every write syscall on a read-only preopen prints
    what it does on memory (EROFS for each change), and the archive or host tree under the
    mount hashes the same before and after."""
    wasm, expected = readonly_expected
    mount, source = READ_ONLY[kind](tmp_path)
    before = (hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file()
              else _hash_tree(source))
    result = wasifs.run(wasm, args=["guest.wasm"], mounts={"/ro": mount}, strict=True)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode() == expected
    assert "ROFS" in expected
    after = (hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file()
             else _hash_tree(source))
    assert after == before
