"""The CUDA path (numba-cuda kernels) in numba's simulator on small inputs, and compiled to
PTX for a real GPU. ``WASIFS_CUDA_TESTS=gpu`` runs the same tests on a GPU."""

from __future__ import annotations

import random
import zlib

import pytest
from cuda_helpers import make_tree, needs, reference, reference_counts

import wasifs.cuda as wc

pytestmark = needs("numba_cuda")

PATTERNS = [b"ab", b"aba", b"b\x00", b"AB", b"aaaa", b"a"]


def _files(seed: int, sizes: list[int]) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"/k/{i % 2}/{i:02d}": bytes(rng.choice(b"abAB\x00") for _ in range(n))
            for i, n in enumerate(sizes)}


SIZES = [0, 1, 2, 3, 7, 8, 9, 13, 31, 64, 65, 150]


@pytest.mark.parametrize("algorithm", ["crc32", pytest.param("crc32c", marks=needs("crc32c"))])
def test_checksum_kernels_fold_blocks_and_pieces(algorithm: str) -> None:
    files = _files(0, SIZES)
    fs = make_tree(files)
    if algorithm == "crc32":
        expect = {k: zlib.crc32(v) for k, v in sorted(files.items())}
    else:
        import crc32c

        expect = {k: crc32c.crc32c(v) for k, v in sorted(files.items())}
    # chunk 40: 16-byte CRC blocks, pieces of 40 bytes; batch 64: a batch pipeline of
    # many launches on both slots.
    assert wc.checksum(fs, None, algorithm, "cuda", chunk_size=40, batch_size=64) == expect
    assert wc.checksum(fs, None, algorithm, "cuda") == expect


@pytest.mark.parametrize("ignore_case", [False, True], ids=["exact", "nocase"])
def test_scan_kernel_finds_every_match_across_chunk_and_batch_edges(ignore_case: bool) -> None:
    files = _files(1, SIZES)
    fs = make_tree(files)
    got = wc.scan(fs, None, PATTERNS, "cuda", ignore_case=ignore_case, chunk_size=5,
                  batch_size=96)
    assert [tuple(m) for m in got] == reference(files, PATTERNS, ignore_case)
    counts = wc.scan(fs, None, PATTERNS, "cuda", ignore_case=ignore_case, chunk_size=5,
                     batch_size=96, count=True)
    assert counts == reference_counts(files, PATTERNS, ignore_case)


def test_scan_output_grows_when_a_batch_has_many_matches() -> None:
    files = {"/many": b"a" * 1300 + b"b", "/few": b"xab"}
    fs = make_tree(files)
    got = wc.scan(fs, None, [b"a", b"ab"], "cuda")
    assert [tuple(m) for m in got] == reference(files, [b"a", b"ab"])
    assert len(got) == 1303


def test_resident_tree_is_read_once_for_checksum_and_scan() -> None:
    files = _files(2, [0, 1, 5, 17, 40, 99])
    fs = make_tree(files)
    with wc.load(fs, device="cuda", batch_size=32) as tree:
        assert tree.device == "cuda"
        assert tree.paths == sorted(files)
        assert tree.nbytes == sum(map(len, files.values()))
        for f in list(files):  # the backend's files may go: the bytes are on the device
            from wasifs.path import Path

            Path(fs, f).unlink()
        assert wc.checksum(tree, chunk_size=24) == \
            {k: zlib.crc32(v) for k, v in sorted(files.items())}
        got = wc.scan(tree, None, PATTERNS, chunk_size=7)
        assert [tuple(m) for m in got] == reference(files, PATTERNS)
        assert wc.scan(tree, None, PATTERNS, ignore_case=True, count=True) == \
            reference_counts(files, PATTERNS, True)
        with pytest.raises(ValueError, match="scanned whole"):
            wc.scan(tree, "/k", PATTERNS)
    with pytest.raises(ValueError, match="closed"):
        wc.checksum(tree)


def test_resident_tree_on_the_cpu_too() -> None:
    files = _files(3, [0, 1, 5, 17, 40, 99])
    with wc.load(make_tree(files), device="cpu") as tree:
        assert tree.device == "cpu"
        assert wc.checksum(tree, chunk_size=8) == \
            {k: zlib.crc32(v) for k, v in sorted(files.items())}
        got = wc.scan(tree, None, PATTERNS, "cpu:re", chunk_size=3)
        assert [tuple(m) for m in got] == reference(files, PATTERNS)
        assert "6 files" in repr(tree)


def test_ten_thousand_tiny_files_in_one_launch() -> None:
    rng = random.Random(4)
    files = {f"/t/{i // 100:03d}/{i:05d}": rng.randbytes(i % 4) for i in range(10_000)}
    fs = make_tree(files)
    assert wc.checksum(fs, None, "crc32", "cuda") == \
        {k: zlib.crc32(v) for k, v in sorted(files.items())}


_PTX = """
import sys
from numba import cuda
from numba import types as t
from wasifs.cuda import _kernels

kernels = _kernels.cuda_kernels()
a = lambda ty: ty[::1]
i64 = a(t.int64)
sigs = {
    "crc_blocks": (a(t.uint8), a(t.uint32), i64, i64, i64, a(t.uint32), t.int64, a(t.uint32)),
    "crc_fold": (a(t.uint32), i64, a(t.uint32), a(t.uint32)),
    "pfac": (a(t.uint8), t.int64, i64, i64, i64, a(t.int32), a(t.uint8), i64, i64, t.int64,
             t.boolean, i64, i64, i64, i64, i64),
    "zero": (i64,),
}
for name, sig in sigs.items():
    try:
        ptx, _ = cuda.compile_ptx(kernels[name].py_func, sig, cc=(9, 0))
    except Exception as exc:
        if "nvvm" in str(exc).lower():
            print("NO-NVVM", exc)
            sys.exit(0)
        raise
    # int64 register arithmetic throughout: a float op would mean a typing slip.
    assert ".entry" in ptx and ".f64" not in ptx, name
    print(name, "ok")
"""


def test_kernels_compile_to_ptx_for_a_real_gpu() -> None:
    """The simulator runs kernels as Python, so it cannot catch numba typing errors: compile
    them with NVVM for sm_90 (in a process without the simulator). Needs the CUDA compiler
    wheels (the test extra installs them on Linux), no GPU."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", _PTX], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    if out.stdout.startswith("NO-NVVM"):
        pytest.skip(out.stdout.strip())
    assert out.stdout.split() == ["crc_blocks", "ok", "crc_fold", "ok", "pfac", "ok",
                                  "zero", "ok"]


def test_device_cuda_without_a_gpu_says_so() -> None:
    """Outside the simulator, on a machine without a GPU, ``device="cuda"`` fails with a
    message saying why; ``"auto"`` quietly uses the CPU."""
    import os
    import subprocess
    import sys

    code = (
        "import wasifs.cuda as wc\n"
        "from wasifs.backends.memory import MemoryFileSystem\n"
        "fs = MemoryFileSystem()\n"
        "if wc.available():\n"
        "    print('GPU')\n"
        "else:\n"
        "    assert wc.checksum(fs) == {}\n"
        "    try:\n"
        "        wc.checksum(fs, device='cuda')\n"
        "    except RuntimeError as exc:\n"
        "        print(exc)\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    if out.stdout.strip() == "GPU":
        pytest.skip("a GPU is usable here")
    assert "device='cuda' but no CUDA GPU is usable" in out.stdout
