"""The memory backend's byte cap (``MemoryFileSystem(max_bytes=...)``): no guest makes the
host allocate without bound, whatever it stores (data, empty files, directories, symlinks,
hard links), and what it removes gives the room back."""

from __future__ import annotations

import errno
import gc
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wasifs
from wasifs.backends.memory import ENTRY_BYTES, MemoryFileSystem
from wasifs.toolchain import compile_c

FSOPS = Path(__file__).resolve().parent.parent / "guests" / "fsops.c"
CAP = 256 * 1024


@pytest.fixture(scope="module")
def fsops() -> bytes:
    return compile_c(FSOPS)


def run(fsops: bytes, fs: MemoryFileSystem, *argv: str) -> list[str]:
    r = wasifs.run(fsops, args=["fsops", *argv], mounts={"/d": fs}, strict=True)
    assert r.exit_code == 0, r.stderr
    return r.stdout.decode().splitlines()


def recount(fs: MemoryFileSystem) -> int:
    """What the tree holds, walked: the figure ``used_bytes`` must equal."""
    total, seen = 0, set()
    todo = [fs.root()]
    while todo:
        d = todo.pop()
        for entry in fs.listdir(d):
            st_ = fs.lstat(d, entry.name)
            if (st_.mode & 0o170000) == 0o040000:
                total += ENTRY_BYTES
                todo.append(fs.opendir(d, entry.name))
            elif (st_.mode & 0o170000) == 0o120000:
                total += ENTRY_BYTES + st_.size
            elif st_.ino not in seen:
                seen.add(st_.ino)
                f = fs.open_file(d, entry.name, read=True, write=False)
                total += ENTRY_BYTES * max(st_.nlink, 1) + sum(n for _, n in fs.extents(f))
    return total + ENTRY_BYTES  # the root


def test_a_guest_filling_the_filesystem_gets_enospc_and_deleting_frees_it(
        fsops: bytes) -> None:
    fs = MemoryFileSystem(max_bytes=CAP)
    first = run(fsops, fs, "fill", "/d/big", str(10 * CAP))
    assert first[0].startswith("fill /d/big -> ENOSPC ")
    written = int(first[0].split()[-1])
    assert CAP - 2 * ENTRY_BYTES - 4096 < written <= CAP
    assert fs.used_bytes <= CAP
    # full: a new file does not fit, nor a directory, a symlink or a hard link
    out = run(fsops, fs, "write", "/d/x", "y", "mkdir", "/d/sub", "symlink", "big", "/d/l",
              "ln", "/d/big", "/d/big2")
    assert [line.split(" -> ")[1] for line in out] == ["ENOSPC"] * 4
    # removing gives the room back; overwriting too
    out = run(fsops, fs, "rm", "/d/big", "fill", "/d/again", str(CAP // 2))
    assert out == ["rm /d/big -> OK", f"fill /d/again -> OK {CAP // 2}"]
    gc.collect()
    assert fs.used_bytes == recount(fs)


@pytest.mark.parametrize("what", ["files", "dirs", "deep"])
def test_empty_entries_cannot_take_the_host_s_memory(fsops: bytes, what: str) -> None:
    fs = MemoryFileSystem(max_bytes=64 * ENTRY_BYTES)
    (line,) = run(fsops, fs, what, "/d", "100000")
    result, count = line.split(" -> ")[1].split()
    assert result == "ENOSPC" and int(count) < 64
    assert fs.used_bytes == recount(fs) <= 64 * ENTRY_BYTES


def test_holes_cost_nothing_but_data_does(fsops: bytes) -> None:
    fs = MemoryFileSystem(max_bytes=CAP)
    out = run(fsops, fs, "write", "/d/f", "x", "truncate", "/d/f", str(1 << 40),
              "pwrite", "/d/f", str(1 << 39), "1000", "pwrite", "/d/f", "0", str(2 * CAP))
    assert out[:3] == ["write /d/f -> OK", "truncate /d/f -> OK", "pwrite /d/f -> OK 1000"]
    assert out[3] == "pwrite /d/f -> ENOSPC"  # a block it could not store: refused whole
    assert fs.used_bytes == recount(fs) <= CAP


def test_an_open_unlinked_file_keeps_its_bytes_until_closed() -> None:
    fs = MemoryFileSystem(max_bytes=CAP)
    path = wasifs.Path(fs, "/f")
    with path.open("wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        path.unlink()
        assert fs.used_bytes >= 100_000  # still held through the open file
    del f
    gc.collect()
    assert fs.used_bytes == ENTRY_BYTES  # the root only


def test_cap_survives_pickling_and_counts_the_restored_tree() -> None:
    fs = MemoryFileSystem(max_bytes=CAP)
    wasifs.Path(fs, "/a").write_bytes(b"a" * 5000)
    wasifs.Path(fs, "/b").hardlink_to(wasifs.Path(fs, "/a"))
    copy = pickle.loads(pickle.dumps(fs))
    assert copy.max_bytes == CAP and copy.used_bytes == fs.used_bytes == recount(fs)
    with pytest.raises(OSError) as info:
        wasifs.Path(copy, "/c").write_bytes(b"c" * CAP)
    assert info.value.errno == errno.ENOSPC


def test_bad_caps_are_refused() -> None:
    for bad in (-1, 1.5, "1M", True):
        with pytest.raises(ValueError, match="max_bytes"):
            MemoryFileSystem(max_bytes=bad)  # type: ignore[arg-type]


_ops = st.lists(st.tuples(st.sampled_from(["write", "append", "truncate", "rm", "ln", "mv",
                                           "mkdir", "rmdir", "symlink"]),
                          st.integers(0, 5), st.integers(0, 5), st.integers(0, 40_000)),
                max_size=40)


@settings(max_examples=60, deadline=None)
@given(_ops)
def test_accounting_is_exact_after_any_operations(ops: list[tuple[str, int, int, int]]
                                                  ) -> None:
    """After any sequence of changes through the fsspec/Path API the count equals a walk of
    the tree, and never passes the cap."""
    fs = MemoryFileSystem(max_bytes=64 * 1024)
    for op, a, b, n in ops:
        pa, pb = wasifs.Path(fs, f"/n{a}"), wasifs.Path(fs, f"/n{b}")
        try:
            if op == "write":
                pa.write_bytes(b"w" * n)
            elif op == "append":
                with pa.open("ab") as f:
                    f.write(b"a" * n)
            elif op == "truncate":
                with pa.open("r+b") as f:
                    f.truncate(n)
            elif op == "rm":
                pa.unlink()
            elif op == "ln":
                pb.hardlink_to(pa)
            elif op == "mv":
                pa.rename(pb)
            elif op == "mkdir":
                pa.mkdir()
            elif op == "rmdir":
                pa.rmdir()
            else:
                pa.symlink_to("t" * (n % 300))
        except OSError:
            pass
        gc.collect()
        assert fs.used_bytes == recount(fs) <= 64 * 1024
