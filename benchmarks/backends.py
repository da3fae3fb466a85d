"""Backends side by side: the same guests on each storage wasifs can mount.

Two workloads, each run on every backend below and on wasmtime-py's built-in WASI (the
baseline, over the same host tree) in one invocation, repeated, medians printed with the
ratio to the baseline:

- ``readfiles``: a program reading its fixtures: ``readdir`` of a folder of N files of 1 KiB,
  ``stat`` of each, then ``open`` + ``read`` + ``close`` of each (``guests/readfiles.c``).
  The tree is made once on the host; each backend mounts it its own way (copied into
  ``memory``, the host folder for ``native`` and ``fsspec-local``, a zip of it for ``zip``).
- ``seqread``: a guest's sequential ``read(2)`` of a file in 4 KiB blocks (and 64 KiB, 1 MiB)
  (``guests/seqread.c``, which writes the file first, untimed): the cost of the fsspec
  adapter per guest call beside ``memory`` and ``native``.

A backend is a name and a function ``(tree, tmp) -> mount`` in :data:`BACKENDS` (``tree``: the
host folder holding the workload's files, or an empty one for ``seqread``, which writes its
own; ``tmp``: a scratch folder); the function returns what ``wasifs.run(mounts=...)`` takes,
or ``None`` for wasmtime's own WASI. Add a row by adding an entry (and, for a read-only
backend, putting its name in :data:`READ_ONLY`, which ``seqread`` skips)::

    python -m benchmarks.backends                 # full sizes, 3 repetitions
    python -m benchmarks.backends --quick --reps 1
    python -m benchmarks.backends --only readfiles --backends memory,zip --markdown
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/backends.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.guests import build_guest  # noqa: E402
from benchmarks.workloads import Metric, fmt  # noqa: E402

BASELINE = "wasmtime"

Maker = Callable[[Path, Path], Any]


def _wasmtime(tree: Path, tmp: Path) -> Any:
    return None


def _memory(tree: Path, tmp: Path) -> Any:
    from wasifs.backends import MemoryFileSystem, NativeFileSystem, copy_tree

    fs, src = MemoryFileSystem(), NativeFileSystem(str(tree))
    a, b = src.root(), fs.root()
    try:
        copy_tree(src, a, fs, b)
    finally:
        src.close(a)
        fs.close(b)
    return fs


def _native(tree: Path, tmp: Path) -> Any:
    from wasifs.backends import NativeFileSystem

    return NativeFileSystem(str(tree))


def _fsspec_local(tree: Path, tmp: Path) -> Any:
    from fsspec.implementations.local import LocalFileSystem

    from wasifs.backends import FsspecBackend

    return FsspecBackend(LocalFileSystem(skip_instance_cache=True), str(tree))


def _zip(tree: Path, tmp: Path) -> Any:
    archive = tmp / "tree.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(tree.rglob("*")):
            z.write(path, path.relative_to(tree).as_posix())
    return f"zip://::{archive}"


#: Row name -> how it mounts the tree (in run order; the baseline first).
BACKENDS: dict[str, Maker] = {
    "wasmtime": _wasmtime,
    "memory": _memory,
    "native": _native,
    "fsspec-local": _fsspec_local,
    "zip": _zip,
}
#: Rows that cannot be written (``seqread`` writes its file first): left out of ``seqread``.
READ_ONLY = {"zip"}

WORKLOADS: dict[str, tuple[str, tuple[Metric, ...]]] = {
    "readfiles": ("readfiles", (
        Metric("readdir", "entries/s", "readdir of the folder"),
        Metric("stat", "files/s", "stat of each file"),
        Metric("read", "files/s", "open + read + close of each 1 KiB file"),
    )),
    "seqread": ("seqread", (
        Metric("read_4k", "MiB/s", "sequential read, 4 KiB blocks"),
        Metric("read_64k", "MiB/s", "sequential read, 64 KiB blocks"),
        Metric("read_1m", "MiB/s", "sequential read, 1 MiB blocks"),
    )),
}


def make_tree(root: Path, count: int) -> Path:
    """``root/files/f000000`` ... ``f{count-1}``, 1 KiB each."""
    files = root / "files"
    files.mkdir(parents=True)
    data = bytes((i ^ 0x5A) & 0xFF for i in range(1024))
    for i in range(count):
        (files / f"f{i:06d}").write_bytes(data)
    return root


def _run(wasm: bytes, argv: list[str], mount: Any, tree: Path, tmp: Path) -> tuple[bytes, float]:
    """Run the guest with ``/bench`` on ``mount`` (None: wasmtime's WASI on ``tree``)."""
    if mount is None:
        import wasmtime

        engine = wasmtime.Engine()
        module = wasmtime.Module(engine, wasm)
        cfg = wasmtime.WasiConfig()
        cfg.argv = argv
        cfg.preopen_dir(str(tree), "/bench")
        out = tmp / "wasmtime.stdout"
        cfg.stdout_file = str(out)
        store = wasmtime.Store(engine)
        store.set_wasi(cfg)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        t0 = time.perf_counter()
        start = linker.instantiate(store, module).exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise RuntimeError(f"guest exited with {exc.code}") from exc
        return out.read_bytes(), time.perf_counter() - t0
    import wasifs

    t0 = time.perf_counter()
    result = wasifs.run(wasm, args=argv, mounts={"/bench": mount})
    wall = time.perf_counter() - t0
    if result.exit_code != 0:
        raise RuntimeError(f"guest exited with {result.exit_code}: {result.stderr[-500:]!r}")
    return result.stdout, wall


def _parse(stdout: bytes, metrics: Sequence[Metric]) -> dict[str, float]:
    seen = {}
    for line in stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "@bench":
            seen[parts[1]] = (int(parts[2]), int(parts[3]))
    return {m.key: m.value(*seen[m.key]) for m in metrics}


def run(workloads: Sequence[str], backends: Sequence[str], reps: int, files: int, mib: int,
        scratch: Path, log: Callable[[str], None]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{workload: {backend: {metric: [sample per repetition]}}}``; repetitions are
    interleaved (every backend once, then again) so drift hits all rows alike."""
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for workload in workloads:
        guest_name, metrics = WORKLOADS[workload]
        wasm = build_guest(guest_name, want_native=False).wasm
        rows = [b for b in backends if not (workload == "seqread" and b in READ_ONLY)]
        out = results.setdefault(workload, {b: {m.key: [] for m in metrics} for b in rows})
        size = str(files) if workload == "readfiles" else str(mib)
        for rep in range(reps + 1):  # the first round warms up (compiles), untimed
            for backend in rows:
                with tempfile.TemporaryDirectory(dir=scratch) as tmp_name:
                    tmp = Path(tmp_name)
                    tree = tmp / "tree"
                    if workload == "readfiles":
                        make_tree(tree, files)
                    else:
                        tree.mkdir()
                    mount = BACKENDS[backend](tree, tmp)
                    stdout, wall = _run(wasm, [guest_name, "/bench", size], mount, tree, tmp)
                    if rep == 0:
                        continue
                    for key, value in _parse(stdout, metrics).items():
                        out[backend][key].append(value)
                    log(f"  {workload} rep {rep} {backend}: {wall:.2f}s")
    return results


def report(results: dict[str, dict[str, dict[str, list[float]]]], markdown: bool) -> str:
    lines: list[str] = []
    for workload, rows in results.items():
        _, metrics = WORKLOADS[workload]
        names = list(rows)
        header = ["metric", *names]
        lines.append(f"\n{workload}: median (min-max); ratio to {BASELINE} (>1 = faster)")
        table = [header]
        for m in metrics:
            cells = [f"{m.label} [{m.unit}]"]
            base = statistics.median(rows[BASELINE][m.key]) if BASELINE in rows else None
            for name in names:
                samples = rows[name][m.key]
                med = statistics.median(samples)
                cell = f"{fmt(med)} ({fmt(min(samples))}-{fmt(max(samples))})"
                if base and name != BASELINE:
                    ratio = med / base if m.higher_is_better else base / med
                    cell += f" {ratio:.2f}x"
                cells.append(cell)
            table.append(cells)
        if markdown:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
        else:
            widths = [max(len(row[i]) for row in table) for i in range(len(header))]
            lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                      for row in table]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 files, 4 MiB")
    parser.add_argument("--files", type=int, help="readfiles: number of files (default 2000)")
    parser.add_argument("--mib", type=int, help="seqread: file size in MiB (default 32)")
    parser.add_argument("--only", help=f"workloads ({', '.join(WORKLOADS)})")
    parser.add_argument("--backends", help=f"rows, in order ({', '.join(BACKENDS)})")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--tmp", help="scratch folder (default /dev/shm when writable)")
    opts = parser.parse_args(argv)
    workloads = opts.only.split(",") if opts.only else list(WORKLOADS)
    backends = opts.backends.split(",") if opts.backends else list(BACKENDS)
    for name in workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}")
    for name in backends:
        if name not in BACKENDS:
            parser.error(f"unknown backend {name!r}")
    files = opts.files or (200 if opts.quick else 2000)
    mib = opts.mib or (4 if opts.quick else 32)
    shm = Path("/dev/shm")
    scratch = Path(opts.tmp) if opts.tmp else (shm if shm.is_dir() and shutil.disk_usage(shm)
                                               .free > 4 * mib << 20 else Path(
                                                   tempfile.gettempdir()))
    results = run(workloads, backends, opts.reps, files, mib, scratch,
                  lambda s: print(s, file=sys.stderr))
    print(f"{files} files of 1 KiB; {mib} MiB sequential read; {opts.reps} reps; "
          f"scratch {scratch}")
    print(report(results, opts.markdown), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
