"""Reading many small files through the overlay backend, beside memory, native and wasmtime.

One C guest (``guests/overlayread.c``) stats, reads (open + read 1 KiB + close) and lists
``count`` files that exist before it starts, under each column:

| column | where the files are |
|---|---|
| ``wasmtime`` | a host directory preopened by wasmtime-py's built-in WASI (the baseline) |
| ``wasifs-memory`` | a ``MemoryFileSystem`` |
| ``wasifs-native`` | a ``NativeFileSystem`` over a host directory |
| ``overlay-lower`` | the read-only lower layer (a ``MemoryFileSystem``) of an overlay: nothing copied up |
| ``overlay-native-lower`` | the same over a host directory (``NativeFileSystem``, read-only) |
| ``overlay-copied-up`` | an overlay whose files were all copied up before the run (each opened for writing on the host side): the upper layer serves them |

The files are made before each run and the copy-up is done before it, outside the timing;
the guest's own clock times each phase. The runtimes are interleaved within each rep, and
each value is the median over the reps with the range in brackets, followed by the speed
ratios against wasmtime measured in the same run.

    python -m benchmarks.overlay [--count N] [--reps R] [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/overlay.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from .guests import build_guest, dist_version  # noqa: E402
from .report import cell, summarize  # noqa: E402
from .runners import parse_output, pick_tmp_root  # noqa: E402
from .workloads import Metric, Workload, fmt  # noqa: E402

WORKLOAD = Workload(
    name="overlay-read",
    guest="overlayread",
    description="count existing 1 KiB files: stat, open+read+close, readdir",
    full_args=("10000",),
    quick_args=("1000",),
    metrics=(
        Metric("stat", "files/s", "stat"),
        Metric("read", "files/s", "open+read+close"),
        Metric("readdir", "entries/s", "readdir"),
    ),
)
COLUMNS = ("wasmtime", "wasifs-memory", "wasifs-native", "overlay-lower",
           "overlay-native-lower", "overlay-copied-up")
DATA = bytes((i & 0xFF) ^ 0x5A for i in range(1024))


def _host_files(root: Path, count: int) -> None:
    files = root / "files"
    files.mkdir(parents=True)
    for i in range(count):
        (files / f"f{i:06d}").write_bytes(DATA)


def _backend_files(fs: Any, count: int) -> None:
    from wasifs.testing import create_file

    root = fs.root()
    try:
        fs.mkdir(root, "files")
        files = fs.opendir(root, "files")
        try:
            for i in range(count):
                create_file(fs, files, f"f{i:06d}", DATA)
        finally:
            fs.close(files)
    finally:
        fs.close(root)


def _copy_up_all(ov: Any, count: int) -> None:
    """Open every file of the overlay for writing: each is copied up (data included)."""
    root = ov.root()
    files = ov.opendir(root, "files")
    try:
        for i in range(count):
            ov.close(ov.open_file(files, f"f{i:06d}", read=True, write=True))
    finally:
        ov.close(files)
        ov.close(root)


def _mount(column: str, tmp: Path, count: int) -> Any:
    """The filesystem a wasifs column mounts at /bench, files made (and copied up)."""
    from wasifs.backends import MemoryFileSystem, NativeFileSystem, OverlayFileSystem

    if column == "wasifs-native":
        _host_files(tmp, count)
        return NativeFileSystem(tmp)
    if column == "overlay-native-lower":
        _host_files(tmp, count)
        return OverlayFileSystem(NativeFileSystem(tmp, readonly=True))
    mem = MemoryFileSystem()
    _backend_files(mem, count)
    if column == "wasifs-memory":
        return mem
    mem.readonly = True
    ov = OverlayFileSystem(mem)
    if column == "overlay-copied-up":
        _copy_up_all(ov, count)
    return ov


class _Wasmtime:
    def __init__(self, wasm: bytes) -> None:
        import wasmtime

        self.wasmtime = wasmtime
        self.engine = wasmtime.Engine()
        self.module = wasmtime.Module(self.engine, wasm)

    def run(self, tmp: Path, count: int) -> bytes:
        wt = self.wasmtime
        bench = tmp / "bench"
        _host_files(bench, count)
        config = wt.WasiConfig()
        config.argv = ["overlayread", "/bench", str(count)]
        config.preopen_dir(str(bench), "/bench")
        config.stdout_file = str(tmp / "stdout")
        store = wt.Store(self.engine)
        store.set_wasi(config)
        linker = wt.Linker(self.engine)
        linker.define_wasi()
        instance = linker.instantiate(store, self.module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wt.Func)
        start(store)
        del start, instance, store
        return (tmp / "stdout").read_bytes()


def _run_wasifs(wasm: bytes, column: str, tmp: Path, count: int) -> bytes:
    import wasifs

    fs = _mount(column, tmp / "bench", count)
    result = wasifs.run(wasm, args=["overlayread", "/bench", str(count)],
                        mounts={"/bench": fs})
    if result.exit_code != 0:
        raise RuntimeError(result.stderr.decode("utf-8", "replace")[-800:])
    if column.startswith("overlay") and fs.changes():
        raise RuntimeError("reading changed the overlay")
    return result.stdout


def measure(count: int, reps: int, tmp_root: Path, columns: Sequence[str] = COLUMNS,
            log: Callable[[str], None] = print) -> dict[str, dict[str, list[float]]]:
    """values[metric][column]: one value per rep."""
    wasm = build_guest(WORKLOAD.guest, want_native=False).wasm
    ref = _Wasmtime(wasm)
    values: dict[str, dict[str, list[float]]] = {}
    for rep in range(reps + 1):  # rep 0 warms up (compiles the module), not counted
        for column in columns:
            tmp = Path(tempfile.mkdtemp(prefix="wasifs-bench-", dir=tmp_root))
            try:
                t0 = time.perf_counter()
                out = ref.run(tmp, count) if column == "wasmtime" else \
                    _run_wasifs(wasm, column, tmp, count)
                wall = time.perf_counter() - t0
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if rep == 0:
                continue
            for key, value in parse_output(WORKLOAD, out).items():
                values.setdefault(key, {}).setdefault(column, []).append(value)
            log(f"  rep {rep}/{reps} {column}: {wall:.2f} s (with setup)")
    return values


def render(values: dict[str, dict[str, list[float]]], columns: Sequence[str],
           markdown: bool) -> str:
    lines = []
    head = ["metric", *columns]
    rows = [[f"{m.label} ({m.unit})", *(cell(summarize(values[m.key][c])) for c in columns)]
            for m in WORKLOAD.metrics]
    ratio_rows = [[f"{m.label}", *(
        fmt(summarize(values[m.key][c]).median / summarize(values[m.key]["wasmtime"]).median)
        + "×" for c in columns)] for m in WORKLOAD.metrics]
    for title, body in (("values (median [min–max])", rows),
                        ("speed against wasmtime (>1 = faster)", ratio_rows)):
        if markdown:
            lines += [f"**{title}**", "", "| " + " | ".join(head) + " |",
                      "|---|" + "---:|" * len(columns)]
            lines += ["| " + " | ".join(r) + " |" for r in body]
            lines.append("")
        else:
            widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
            lines.append(title)
            for r in [head, *body]:
                lines.append("  ".join(x.ljust(w) if i == 0 else x.rjust(w)
                                       for i, (x, w) in enumerate(zip(r, widths, strict=True))))
            lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overlay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, help="files (default 10000; --quick 1000)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--quick", action="store_true", help="1000 files")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    parser.add_argument("--tmp", help="where host directories go (default /dev/shm)")
    opts = parser.parse_args(argv)
    count = opts.count or int((WORKLOAD.quick_args if opts.quick else WORKLOAD.full_args)[0])
    if count < 1 or opts.reps < 1:
        parser.error("--count and --reps must be positive")
    tmp_root, where = pick_tmp_root(opts.tmp)
    print(f"# overlay read: {count} files of 1 KiB, {opts.reps} reps; host dirs in {where}; "
          f"wasmtime-py {dist_version('wasmtime')}")
    values = measure(count, opts.reps, tmp_root, log=lambda s: print(s, file=sys.stderr))
    print(render(values, COLUMNS, opts.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
