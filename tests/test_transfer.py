"""``wasifs.transfer``: trees in and out of backends, in constant memory; snapshots."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pathlib
import tracemalloc

import pytest

from wasifs.backends import Backend
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.path import Path
from wasifs.transfer import CHUNK, Entry, copy, copy_in, copy_out, snapshot

PAST = 1_000_000_000_123_456_789  # 2001-09-09, with a sub-second part
OLDER = 900_000_000_987_654_321


@pytest.fixture(params=["memory", "native"])
def fs(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Backend:
    if request.param == "memory":
        return MemoryFileSystem()
    root = tmp_path / "backend"
    root.mkdir()
    return NativeFileSystem(root)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def host_tree(tmp_path: pathlib.Path) -> pathlib.Path:
    """A host tree with files, an empty directory, symlinks of every kind and old times."""
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a.txt").write_bytes(b"alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 5000)  # more than one chunk
    (src / "sub" / "deeper" / "c").write_bytes(b"")
    (src / "rel").symlink_to("a.txt")
    (src / "abs").symlink_to("/etc/passwd")
    (src / "dangling").symlink_to("nowhere")
    (src / "sub" / "up").symlink_to("../sub")
    os.utime(src / "a.txt", ns=(OLDER, PAST))
    os.utime(src / "rel", ns=(OLDER, PAST), follow_symlinks=False)
    os.utime(src / "sub" / "deeper", ns=(OLDER, PAST))
    os.utime(src / "sub", ns=(OLDER, PAST + 1))
    return src


EXPECTED = {
    "a.txt": Entry("file", 6, sha(b"alpha\n")),
    "abs": Entry("symlink", 11, None, "/etc/passwd"),
    "dangling": Entry("symlink", 7, None, "nowhere"),
    "empty": Entry("dir"),
    "rel": Entry("symlink", 5, None, "a.txt"),
    "sub": Entry("dir"),
    "sub/b.bin": Entry("file", 256 * 5000, sha(bytes(range(256)) * 5000)),
    "sub/deeper": Entry("dir"),
    "sub/deeper/c": Entry("file", 0, sha(b"")),
    "sub/up": Entry("symlink", 6, None, "../sub"),
}


def test_snapshot(fs: Backend) -> None:
    root = Path(fs)
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"data")
    (root / "d" / "l").symlink_to("f")
    snap = snapshot(root / "d")
    assert snap == {
        "e": Entry("dir"),
        "f": Entry("file", 4, sha(b"data")),
        "l": Entry("symlink", 1, None, "f"),
    }
    assert list(snap) == ["e", "f", "l"]
    assert snapshot(root / "d" / "f") == {".": Entry("file", 4, sha(b"data"))}
    assert snapshot(root / "d" / "l") == {".": Entry("file", 4, sha(b"data"))}
    (root / "d" / "f").write_bytes(b"datA")
    assert snapshot(root / "d")["f"].sha256 == sha(b"datA")
    with pytest.raises(FileNotFoundError) as exc:
        snapshot(root / "missing")
    assert exc.value.filename == "/missing"


def test_copy_in_tree(fs: Backend, host_tree: pathlib.Path) -> None:
    dest = Path(fs, "/data/in")
    assert copy_in(host_tree, dest) is dest
    # times (before anything reads the copies): files, directories, symlinks themselves
    assert (dest / "a.txt").stat().st_atime_ns == OLDER
    assert (dest / "a.txt").stat().st_mtime_ns == PAST
    assert (dest / "rel").lstat().st_mtime_ns == PAST
    assert (dest / "sub" / "deeper").stat().st_mtime_ns == PAST
    assert (dest / "sub").stat().st_mtime_ns == PAST + 1
    assert dest.stat().st_mtime_ns == host_tree.stat().st_mtime_ns
    assert snapshot(dest) == EXPECTED
    assert snapshot(dest) == snapshot(Path(NativeFileSystem(host_tree)))
    # symlinks are copied, not followed: the absolute one still says /etc/passwd
    assert (dest / "abs").readlink() == Path(fs, "/etc/passwd")
    assert (dest / "rel").read_text() == "alpha\n"


def test_copy_in_merges_and_replaces(fs: Backend, host_tree: pathlib.Path) -> None:
    dest = Path(fs, "/d")
    dest.mkdir()
    (dest / "keep").write_text("mine")
    (dest / "a.txt").write_text("old and longer than the new contents")
    (dest / "sub").mkdir()
    (dest / "rel").symlink_to("keep")  # a symlink in the way is replaced
    copy_in(host_tree, dest)
    snap = snapshot(dest)
    assert snap.pop("keep") == Entry("file", 4, sha(b"mine"))
    assert snap == EXPECTED


def test_copy_in_conflicts_delete_nothing(fs: Backend, host_tree: pathlib.Path) -> None:
    dest = Path(fs, "/d")
    dest.mkdir()
    (dest / "sub").write_text("a file where the source has a directory")
    with pytest.raises(NotADirectoryError) as exc:
        copy_in(host_tree, dest)
    assert exc.value.filename == str(host_tree / "sub")
    assert exc.value.filename2 == "/d/sub"
    assert (dest / "sub").read_text() == "a file where the source has a directory"
    (dest / "sub").unlink()
    (dest / "a.txt").unlink(missing_ok=True)  # copied if listed before "sub" (host order)
    (dest / "a.txt").mkdir()
    (dest / "a.txt" / "inner").touch()
    with pytest.raises(IsADirectoryError):
        copy_in(host_tree, dest)
    assert (dest / "a.txt" / "inner").exists()


def test_copy_in_single_file_and_file_objects(fs: Backend, host_tree: pathlib.Path) -> None:
    root = Path(fs)
    copy_in(host_tree / "a.txt", root / "a")
    assert (root / "a").read_bytes() == b"alpha\n"
    assert (root / "a").stat().st_mtime_ns == PAST
    copy_in(str(host_tree / "rel"), root / "via-link")  # the operand itself is followed
    assert (root / "via-link").read_bytes() == b"alpha\n"
    copy_in(io.BytesIO(b"x" * (CHUNK * 2 + 7)), root / "a")  # overwrites, in chunks
    assert (root / "a").read_bytes() == b"x" * (CHUNK * 2 + 7)

    class ReadOnly:  # read() without readinto()
        def __init__(self, data: bytes) -> None:
            self.f = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.f.read(n)

    copy_in(ReadOnly(b"plain read"), root / "b")
    assert (root / "b").read_bytes() == b"plain read"
    with pytest.raises(TypeError, match="binary file object"):
        copy_in(io.StringIO("text"), root / "c")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        copy_in(42, root / "c")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        copy_in(host_tree, "/not/a/wasifs/path")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        copy_in(host_tree / "missing", root / "c")
    with pytest.raises(FileNotFoundError) as exc:
        copy_in(host_tree / "a.txt", root / "no" / "dir")
    assert exc.value.filename == "/no/dir"
    (root / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        copy_in(host_tree / "a.txt", root / "dir")


def test_copy_out_tree(fs: Backend, host_tree: pathlib.Path, tmp_path: pathlib.Path) -> None:
    staged = copy_in(host_tree, Path(fs, "/staged"))
    out = tmp_path / "out" / "deep"
    assert copy_out(staged, out) == str(out)
    assert snapshot(Path(NativeFileSystem(out))) == EXPECTED
    assert os.readlink(out / "abs") == "/etc/passwd"
    assert os.readlink(out / "sub" / "up") == "../sub"
    assert os.stat(out / "a.txt").st_mtime_ns == PAST
    assert os.lstat(out / "rel").st_mtime_ns == PAST
    assert os.stat(out / "sub").st_mtime_ns == PAST + 1
    # again, over the first copy: the same result
    copy_out(staged, out)
    assert snapshot(Path(NativeFileSystem(out))) == EXPECTED


def test_copy_out_never_writes_through_host_symlinks(fs: Backend,
                                                     tmp_path: pathlib.Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "d").symlink_to(outside)  # planted in the destination
    (out / "f").symlink_to(outside / "victim")
    root = Path(fs)
    (root / "src" / "d").mkdir(parents=True)
    (root / "src" / "d" / "x").write_text("guest data")
    (root / "src" / "f").write_text("guest data")
    copy_out(root / "src", out)
    assert list(outside.iterdir()) == []
    assert not (out / "d").is_symlink() and (out / "d" / "x").read_text() == "guest data"
    assert not (out / "f").is_symlink() and (out / "f").read_text() == "guest data"


def test_copy_out_file(fs: Backend, tmp_path: pathlib.Path) -> None:
    root = Path(fs)
    (root / "f").write_bytes(b"payload")
    fs.set_times(fs.root(), "f", OLDER, PAST)
    (root / "l").symlink_to("f")
    assert copy_out(root / "l", tmp_path / "f.out") == str(tmp_path / "f.out")
    assert (tmp_path / "f.out").read_bytes() == b"payload"
    assert os.stat(tmp_path / "f.out").st_mtime_ns == PAST
    buf = io.BytesIO()
    assert copy_out(root / "f", buf) is None
    assert buf.getvalue() == b"payload"
    with pytest.raises(FileNotFoundError) as exc:
        copy_out(root / "missing", tmp_path / "x")
    assert exc.value.filename == "/missing"
    with pytest.raises(IsADirectoryError):
        copy_out(root, io.BytesIO())
    with pytest.raises(FileNotFoundError):
        copy_out(root / "f", tmp_path / "no" / "such" / "dir")
    with pytest.raises(TypeError):
        copy_out(str(root / "f"), tmp_path / "x")  # type: ignore[call-overload]


def test_copy_between_backends(host_tree: pathlib.Path, tmp_path: pathlib.Path) -> None:
    mem = Path(MemoryFileSystem(), "/t")
    copy_in(host_tree, mem)
    native_root = tmp_path / "native"
    native_root.mkdir()
    nat = Path(NativeFileSystem(native_root), "/copy")
    assert copy(mem, nat) is nat
    assert snapshot(nat) == EXPECTED
    assert (nat / "a.txt").stat().st_mtime_ns == PAST
    back = copy(nat, Path(MemoryFileSystem(), "/x/y"))
    assert snapshot(back) == EXPECTED
    copy(mem / "a.txt", mem / "a-copy.txt")
    assert (mem / "a-copy.txt").read_bytes() == b"alpha\n"
    assert (mem / "a-copy.txt").stat().st_mtime_ns == PAST
    with pytest.raises(ValueError, match="into itself"):
        copy(mem, mem / "sub" / "inside")
    with pytest.raises(ValueError, match="into itself"):
        copy(mem, mem)


def test_special_files_are_skipped(tmp_path: pathlib.Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "fifo")
    (src / "f").write_text("x")
    dest = copy_in(src, Path(MemoryFileSystem(), "/d"))
    assert set(snapshot(dest)) == {"f"}
    with pytest.raises(OSError) as exc:
        copy_in(src / "fifo", Path(MemoryFileSystem(), "/f"))
    assert exc.value.errno == errno.EINVAL


SIZE = 64 << 20


def _big_host_file(path: pathlib.Path) -> str:
    """A 64 MiB file of varied contents, written in pieces; returns its SHA-256."""
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(SIZE >> 20):
            piece = bytes([i]) + block[1:]
            f.write(piece)
            h.update(piece)
    return h.hexdigest()


def _peak(call) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_large_file_in_constant_memory(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "big"
    digest = _big_host_file(src)
    os.utime(src, ns=(OLDER, PAST))
    native_root = tmp_path / "backend"
    native_root.mkdir()
    dest = Path(NativeFileSystem(native_root), "/big")
    limit = 8 << 20  # the 1 MiB chunk buffer and small change, far below 64 MiB

    assert _peak(lambda: copy_in(src, dest)) < limit
    assert snapshot(dest) == {".": Entry("file", SIZE, digest)}
    assert dest.stat().st_mtime_ns == PAST

    out = tmp_path / "big.out"
    assert _peak(lambda: copy_out(dest, out)) < limit
    assert out.stat().st_size == SIZE and os.stat(out).st_mtime_ns == PAST
    assert _peak(lambda: snapshot(dest)) < limit

    mem = Path(MemoryFileSystem(), "/big")
    copy(dest, mem)  # the memory backend holds the data itself: not measured
    assert snapshot(mem) == {".": Entry("file", SIZE, digest)}
    out2 = tmp_path / "big.out2"
    assert _peak(lambda: copy_out(mem, out2)) < limit
    h = hashlib.sha256()
    with open(out2, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == digest
