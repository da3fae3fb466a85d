"""Progress callbacks on the bulk copies (``copy_in``, ``copy_out``, ``copy``, the backends'
``copy_tree``/``mirror_tree``), and the CLI's progress bar for a copy-in and a write-back,
drawn only when stderr is a terminal (checked through a real pseudo-terminal)."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

import wasifs
from wasifs.backends import copy_tree, mirror_tree
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.toolchain import compile_c

MiB = 1 << 20
GUEST = Path(__file__).parent / "guests" / "streams.c"


class Bar:
    """A progress object with tqdm's conventions: called with increments, a ``total``."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.calls: list[int] = []

    def __call__(self, n: int) -> None:
        self.calls.append(n)


def _tree(root: Path) -> int:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "big.bin").write_bytes(os.urandom(3 * MiB + 5))
    (root / "small.txt").write_bytes(b"small")
    (root / "empty").write_bytes(b"")
    os.symlink("small.txt", root / "link")
    return 3 * MiB + 5 + 5


def test_copy_in_out_and_copy_report_progress(tmp_path: Path) -> None:
    total = _tree(tmp_path / "tree")
    root = wasifs.Path(MemoryFileSystem())
    bar = Bar()
    wasifs.copy_in(tmp_path / "tree", root / "tree", progress=bar)
    assert sum(bar.calls) == total and max(bar.calls) <= MiB
    assert bar.total is None  # a tree's size is not known in advance
    bar = Bar()
    wasifs.copy_in(tmp_path / "tree" / "sub" / "big.bin", root / "big.bin", progress=bar)
    assert bar.total == 3 * MiB + 5 and sum(bar.calls) == bar.total
    assert bar.calls == [MiB, MiB, MiB, 5]
    bar = Bar()
    wasifs.copy_in(io.BytesIO(b"x" * 10), root / "x.bin", progress=bar)
    assert bar.calls == [10]
    bar = Bar()
    wasifs.copy_out(root / "tree", tmp_path / "out", progress=bar)
    assert sum(bar.calls) == total
    bar = Bar()
    wasifs.copy_out(root / "big.bin", io.BytesIO(), progress=bar)
    assert bar.total == 3 * MiB + 5 and sum(bar.calls) == bar.total
    bar = Bar()
    wasifs.transfer.copy(root / "tree", root / "tree2", progress=bar)
    assert sum(bar.calls) == total
    calls: list[int] = []
    wasifs.copy_out(root / "x.bin", tmp_path / "x.bin", progress=calls.append)  # a plain callable
    assert calls == [10]


def test_a_progress_callback_that_raises_stops_the_copy(tmp_path: Path) -> None:
    _tree(tmp_path / "tree")
    root = wasifs.Path(MemoryFileSystem())

    def stop(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wasifs.copy_in(tmp_path / "tree" / "sub" / "big.bin", root / "big.bin", progress=stop)
    assert (root / "big.bin").stat().st_size == MiB  # one chunk, then it stopped


def test_tree_copies_in_the_backends_report_progress(tmp_path: Path) -> None:
    total = _tree(tmp_path / "tree")
    src = NativeFileSystem(tmp_path / "tree")
    mem = MemoryFileSystem()
    calls: list[int] = []
    s, d = src.root(), mem.root()
    try:
        copy_tree(src, s, mem, d, progress=calls.append)
        assert sum(calls) == total
        calls.clear()
        (tmp_path / "back").mkdir()
        dst = NativeFileSystem(tmp_path / "back")
        b = dst.root()
        try:
            mirror_tree(mem, d, dst, b, progress=calls.append)
        finally:
            dst.close(b)
        assert sum(calls) == total
    finally:
        src.close(s)
        mem.close(d)


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``python -m wasifs ARGS`` with stderr on a pseudo-terminal; returns the exit status
    and what the terminal showed."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "wasifs", *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        shown = bytearray()
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            shown += data
        proc.wait(120)
        assert proc.stdout is not None
        proc.stdout.close()
    finally:
        os.close(master)
    return proc.returncode, shown.decode("utf-8", "replace")


@pytest.mark.skipif(os.name != "posix", reason="a pseudo-terminal")
def test_the_cli_draws_a_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    module = tmp_path / "streams.wasm"
    module.write_bytes(compile_c(GUEST))
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.bin").write_bytes(os.urandom(4 * MiB))
    args = ["run", "--backend", "memory", "--write-back", "--dir", f"{data}::/d", str(module),
            "writefile", "/d/out.bin", str(2 * MiB)]
    env = {**os.environ, "WASIFS_PROGRESS_DELAY": "0", "COLUMNS": "100", "LINES": "30"}
    status, shown = _run_on_a_terminal(args, env)
    assert status == 0, shown
    assert "copying" in shown and "writing back" in shown, shown
    assert "4.00M" in shown or "4.0M" in shown, shown  # the bar counts bytes
    assert (data / "out.bin").stat().st_size == 2 * MiB
    # not a terminal: no bar
    r = subprocess.run([sys.executable, "-m", "wasifs", *args], env=env, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0 and b"copying" not in r.stderr and r.stderr == b""
