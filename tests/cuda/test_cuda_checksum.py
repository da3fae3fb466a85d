"""``wasifs.cuda.checksum`` on the CPU path: every source kind, every selection, odd sizes,
pieces combined across chunk edges, 10,000 tiny files, and the errors."""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path as HostPath

import fsspec
import pytest
from cuda_helpers import make_tree, needs

import wasifs.cuda as wc
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.path import Path

SIZES = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 255, 1000, 4095, 4096, 4097, 65537]


def _files(seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"/d{i % 3}/sub{i % 2}/f{i}.bin": rng.randbytes(n) for i, n in enumerate(SIZES)}


@pytest.mark.parametrize("chunk", [None, 1, 7, 64, 1000])
def test_crc32_of_every_file_equals_zlib(chunk: int | None) -> None:
    files = _files()
    fs = make_tree(files)
    got = wc.checksum(fs, None, "crc32", "cpu", chunk_size=chunk)
    assert got == {k: zlib.crc32(v) for k, v in sorted(files.items())}
    assert list(got) == sorted(files)


@needs("crc32c")
def test_crc32c_equals_the_crc32c_package() -> None:
    import crc32c

    files = _files(1)
    got = wc.checksum(make_tree(files), algorithm="crc32c", device="cpu", chunk_size=100)
    assert got == {k: crc32c.crc32c(v) for k, v in sorted(files.items())}


def test_native_backend_fsspec_filesystems_and_wasifs_path(tmp_path: HostPath) -> None:
    files = _files(2)
    for name, data in files.items():
        host = tmp_path / name.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(data)
    expect = {k: zlib.crc32(v) for k, v in sorted(files.items())}
    assert wc.checksum(NativeFileSystem(tmp_path), device="cpu") == expect
    # A host directory by name, and a file:// URL read through fsspec.
    assert wc.checksum(str(tmp_path), device="cpu") == expect
    local = fsspec.filesystem("file")
    got = wc.checksum(local, str(tmp_path), device="cpu")
    assert got == {str(tmp_path) + k: v for k, v in expect.items()}
    assert wc.checksum(f"file://{tmp_path}", None, device="cpu") == expect  # wasifs native
    # fsspec's own in-memory filesystem (not a wasifs backend): fsspec's API.
    mem = fsspec.filesystem("memory", skip_instance_cache=True)
    root = f"/wasifs-cuda-test-{os.getpid()}"
    try:
        for name, data in files.items():
            mem.pipe_file(root + name, data)
        got = wc.checksum(mem, root, device="cpu", chunk_size=50)
        assert got == {root + k: v for k, v in expect.items()}
        # The same by URL: a backend rooted at the URL's folder (as a host directory is), so
        # the paths are relative to it.
        got = wc.checksum(f"memory://{root}", "**/*.bin", device="cpu")
        assert got == expect
    finally:
        mem.rm(root, recursive=True)
    # A wasifs.Path: its directory is the base of relative selections.
    fs = make_tree(files)
    got = wc.checksum(Path(fs, "/d1"), "**/*.bin", device="cpu")
    assert got == {k: v for k, v in expect.items() if k.startswith("/d1/")}


def test_selections_globs_lists_directories_and_symlinks() -> None:
    files = {"/a/x.txt": b"x", "/a/b/y.txt": b"yy", "/a/b/z.bin": b"z", "/c.txt": b"c",
             "/a/b/c/deep.txt": b"deep"}
    fs = make_tree(files)
    Path(fs, "/link.txt").symlink_to("/a/x.txt")
    Path(fs, "/a/loop").symlink_to("/a")  # never followed by a walk
    crc = {k: zlib.crc32(v) for k, v in files.items()}

    def keys(sel: object) -> list[str]:
        return list(wc.checksum(fs, sel, device="cpu"))  # type: ignore[arg-type]

    assert keys(None) == sorted(files)
    assert keys("**/*.txt") == ["/a/b/c/deep.txt", "/a/b/y.txt", "/a/x.txt", "/c.txt"]
    assert keys("/a/*.txt") == ["/a/x.txt"]
    assert keys("a/b/*.[bt]?[nt]") == ["/a/b/y.txt", "/a/b/z.bin"]
    assert keys("a/**") == ["/a/b/c/deep.txt", "/a/b/y.txt", "/a/b/z.bin", "/a/x.txt"]
    assert keys("/a/b") == ["/a/b/c/deep.txt", "/a/b/y.txt", "/a/b/z.bin"]
    assert keys(["/c.txt", "/a/x.txt", "/c.txt"]) == ["/a/x.txt", "/c.txt"]
    assert keys("nothing/**") == []
    # A symlink named explicitly is read through; its key is the name given.
    assert wc.checksum(fs, "/link.txt", device="cpu") == {"/link.txt": crc["/a/x.txt"]}
    with pytest.raises(FileNotFoundError, match="/missing"):
        wc.checksum(fs, "/missing", device="cpu")


def test_ten_thousand_tiny_files() -> None:
    rng = random.Random(3)
    files = {f"/t/{i // 100:03d}/{i:05d}": rng.randbytes(i % 5) for i in range(10_000)}
    fs = make_tree(files)
    got = wc.checksum(fs, None, device="cpu")
    assert got == {k: zlib.crc32(v) for k, v in sorted(files.items())}


def test_large_file_in_many_pieces_on_threads() -> None:
    data = os.urandom(3 * (1 << 20) + 12345)
    fs = make_tree({"/big": data, "/small": b"s"})
    seen: list[int] = []
    got = wc.checksum(fs, None, device="cpu", chunk_size=1 << 16, progress=seen.append)
    assert got == {"/big": zlib.crc32(data), "/small": zlib.crc32(b"s")}
    assert sum(seen) == len(data) + 1


def test_a_file_that_changes_size_while_read_is_reported(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    from wasifs.cuda import _source

    fs = make_tree({"/grows": b"abc", "/shrinks": b"abcdef"})
    real_list = _source.BackendSource.list
    after = {"/grows": b"abcd", "/shrinks": b"ab"}

    def stale(self: _source.BackendSource, sel: str) -> list[_source.FileInfo]:
        out = real_list(self, sel)
        Path(fs, sel).write_bytes(after[sel])  # changed between listing and reading
        return out

    monkeypatch.setattr(_source.BackendSource, "list", stale)
    with pytest.raises(wc.FileChangedError, match="changed size") as info:
        wc.checksum(fs, "/grows", device="cpu")
    assert info.value.filename == "/grows"
    with pytest.raises(wc.FileChangedError, match="listed 6 bytes"):
        wc.checksum(fs, "/shrinks", device="cpu")


def test_bad_arguments_raise_clear_errors() -> None:
    fs = MemoryFileSystem()
    with pytest.raises(ValueError, match="unknown algorithm 'md5'"):
        wc.checksum(fs, algorithm="md5")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        wc.checksum(fs, device="tpu")
    with pytest.raises(ValueError, match="unknown device 'cpu:numba'"):
        wc.checksum(fs, device="cpu:numba")  # a scanner choice: only for scan()
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        wc.checksum(fs, device="cpu", chunk_size=0)
    with pytest.raises(TypeError, match="cannot read files from 42"):
        wc.checksum(42)
    with pytest.raises(TypeError, match="paths must be str"):
        wc.checksum(fs, [b"/a"], device="cpu")  # type: ignore[list-item]


def test_auto_is_the_cpu_without_a_gpu_and_imports_no_numba() -> None:
    """``auto`` never picks the simulator; on a machine without a CUDA driver it checks no
    further (numba stays unimported): run in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys, zlib\n"
        "import wasifs, wasifs.cuda as wc\n"
        "from wasifs.backends.memory import MemoryFileSystem\n"
        "from wasifs.path import Path\n"
        "fs = MemoryFileSystem(); Path(fs, '/a').write_bytes(b'abc')\n"
        "assert 'numba' not in sys.modules and 'numpy' not in sys.modules\n"
        "assert wc.checksum(fs) == {'/a': zlib.crc32(b'abc')}\n"
        "assert wc.scan(fs, None, [b'b'], 'cpu:re') == [wc.Match('/a', 1, 0)]\n"
        "print(wc.available(), 'numba' in sys.modules)\n")
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    available, numba_loaded = out.stdout.split()
    if available == "False" and not os.path.exists("/dev/nvidiactl"):
        assert numba_loaded == "False"
