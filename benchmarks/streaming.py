"""Streaming data through a guest: throughput and peak memory, async beside sync.

Two flows, each through one C guest (``guests/stream.c``, 256 KiB reads and writes) with a
``NativeFileSystem`` over a fresh host directory:

| flow | the data goes |
|---|---|
| ``stdin-to-file`` | host → guest's stdin → guest → a file (``tofile``) |
| ``file-to-stdout`` | a file → guest → guest's stdout → host (``fromfile``) |

and, for each, these columns:

| column | how the host feeds or drains the guest |
|---|---|
| ``wasmtime`` | wasmtime-py's built-in WASI (the baseline): stdin from a host file made beforehand, stdout to ``/dev/null`` |
| ``sync`` | ``wasifs.run``: stdin an iterator of 1 MiB chunks, stdout a callable counting bytes |
| ``asyncio`` / ``trio`` | ``wasifs.aio.open_guest``: ``await guest.stdin.send(chunk)`` per 1 MiB chunk, ``async for chunk in guest.stdout`` |

Each case runs in a fresh process (after an untimed warm-up run that compiles the module), so
its peak memory is its own: the peak resident set size above the level before the case
(sampled every 2 ms) and, in a second pass, Python's peak allocations (tracemalloc). Both stay
within a few chunks whatever the data size when nothing buffers the stream. Files made
beforehand (the input of ``file-to-stdout``, wasmtime's stdin) are outside the timing.

    python -m benchmarks.streaming [--size 64M] [--reps 3] [--markdown] [--tmp DIR]
    python -m benchmarks.streaming --size 1G      # the full gigabyte

The default size is a small slice (64 MiB); ``--size 1G`` streams the full gigabyte.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/streaming.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from .guests import build_guest, dist_version  # noqa: E402
from .runners import pick_tmp_root  # noqa: E402

MiB = 1 << 20
CHUNK = MiB
FLOWS = ("stdin-to-file", "file-to-stdout")
COLUMNS = ("wasmtime", "sync", "asyncio", "trio")
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _SUFFIXES and text[-1:] else ""
    number = text[: len(text) - len(unit)]
    try:
        value = int(float(number) * _SUFFIXES[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 64M or 1G)") from None
    if value <= 0 or value % CHUNK:
        raise argparse.ArgumentTypeError(f"the size must be a positive multiple of 1M: {text}")
    return value


# ------------------------------------------------------------------------------ memory
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """The peak resident set size above the level at the start, sampled on a thread."""

    def __enter__(self) -> RssPeak:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


# ------------------------------------------------------------------------------ cases
#: the data: bytes 0..250 repeated (made once, outside the timing)
BLOCK = (bytes(range(251)) * (CHUNK // 251 + 1))[:CHUNK]


def _block() -> bytes:
    return BLOCK


def _chunks(size: int) -> Iterator[bytes]:
    block = _block()
    for _ in range(size // CHUNK):
        yield block


def _make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for chunk in _chunks(size):
            f.write(chunk)


def _check_file(path: Path, size: int) -> None:
    got = path.stat().st_size
    if got != size:
        raise RuntimeError(f"{path.name}: {got} bytes, expected {size}")


def _case(column: str, flow: str, wasm: bytes, work: Path, size: int) -> Callable[[], None]:
    """The timed part of one case (the inputs it needs are made first, untimed)."""
    out, data = work / "out.bin", work / "in.bin"
    if flow == "file-to-stdout" or column == "wasmtime":
        _make_file(data, size)
    argv = ["stream", "tofile", "/d/out.bin"] if flow == "stdin-to-file" else \
        ["stream", "fromfile", "/d/in.bin"]

    if column == "wasmtime":
        import wasmtime

        engine = wasmtime.Engine()
        module = wasmtime.Module(engine, wasm)

        def run_wasmtime() -> None:
            config = wasmtime.WasiConfig()
            config.argv = argv
            config.preopen_dir(str(work), "/d")
            if flow == "stdin-to-file":
                config.stdin_file = str(data)
            else:
                config.stdout_file = os.devnull
            store = wasmtime.Store(engine)
            store.set_wasi(config)
            linker = wasmtime.Linker(engine)
            linker.define_wasi()
            instance = linker.instantiate(store, module)
            start = instance.exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            try:
                start(store)
            except wasmtime.ExitTrap as exc:
                if exc.code:
                    raise
            if flow == "stdin-to-file":
                _check_file(out, size)
        return run_wasmtime

    import wasifs
    from wasifs.backends.native import NativeFileSystem

    mounts = {"/d": NativeFileSystem(work)}
    if column == "sync":
        if flow == "stdin-to-file":
            def run_sync() -> None:
                wasifs.run(wasm, args=argv, mounts=mounts, stdin=_chunks(size), check=True)
                _check_file(out, size)
            return run_sync

        def drain_sync() -> None:
            count = 0

            def consume(chunk: bytes) -> None:
                nonlocal count
                count += len(chunk)
            wasifs.run(wasm, args=argv, mounts=mounts, stdout=consume, check=True)
            if count != size:
                raise RuntimeError(f"stdout gave {count} bytes, expected {size}")
        return drain_sync

    import anyio

    import wasifs.aio

    async def feed() -> None:
        block = _block()
        async with wasifs.aio.open_guest(wasm, args=argv, mounts=mounts,
                                         stdout=None) as guest:
            assert guest.stdin is not None
            for _ in range(size // CHUNK):
                await guest.stdin.send(block)
            await guest.stdin.aclose()
            (await guest.wait()).check()

    async def drain() -> None:
        count = 0
        async with wasifs.aio.open_guest(wasm, args=argv, mounts=mounts,
                                         stdin=None) as guest:
            assert guest.stdout is not None
            async for chunk in guest.stdout:
                count += len(chunk)
            (await guest.wait()).check()
        if count != size:
            raise RuntimeError(f"stdout gave {count} bytes, expected {size}")

    def run_async() -> None:
        anyio.run(feed if flow == "stdin-to-file" else drain, backend=column)
        if flow == "stdin-to-file":
            _check_file(out, size)
    return run_async


def child(column: str, flow: str, size: int, tmp: Path) -> dict[str, Any]:
    """One case in this (fresh) process: a warm-up, then a timed pass with the resident set
    sampled, then a pass under tracemalloc."""
    import tracemalloc

    wasm = build_guest("stream", want_native=False).wasm
    work = Path(tempfile.mkdtemp(prefix="wasifs-stream-", dir=tmp))
    try:
        _case(column, flow, wasm, work, CHUNK)()  # compiles the module, starts the threads
        case = _case(column, flow, wasm, work, size)
        with RssPeak() as rss:
            started = time.perf_counter()
            case()
            seconds = time.perf_counter() - started
        tracemalloc.start()
        try:
            case = _case(column, flow, wasm, work, size)
            tracemalloc.reset_peak()
            case()
            heap = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "rss": rss.growth, "heap": heap}


# ------------------------------------------------------------------------------ harness
def _run_child(column: str, flow: str, size: int, tmp: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.streaming", "--child", column, flow,
           "--size", str(size), "--tmp", str(tmp)]
    env = {**os.environ, "WASIFS_MODULE_CACHE": "off"}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env,
                          timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _mib(n: float) -> str:
    return f"{n / MiB:.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=parse_size, default=64 * MiB,
                   help="bytes to stream per case (default 64M; 1G for the full gigabyte)")
    p.add_argument("--reps", type=int, default=1, help="repetitions (median taken)")
    p.add_argument("--columns", default=",".join(COLUMNS),
                   help=f"columns, in order (default {','.join(COLUMNS)})")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument("--tmp", default=None, help="where the host directories go")
    p.add_argument("--child", nargs=2, metavar=("COLUMN", "FLOW"), help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    tmp, where = pick_tmp_root(ns.tmp)
    if ns.child:
        column, flow = ns.child
        print(json.dumps(child(column, flow, ns.size, tmp)))
        return 0
    columns = [c.strip() for c in ns.columns.split(",") if c.strip()]
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        p.error(f"unknown columns: {', '.join(sorted(unknown))} (choose from "
                f"{', '.join(COLUMNS)})")
    build_guest("stream", want_native=False)  # build errors show here, once
    print(f"# streaming {ns.size // MiB} MiB through a guest, {ns.reps} rep(s); host dirs "
          f"under {where}; wasmtime {dist_version('wasmtime')}, anyio "
          f"{dist_version('anyio')}, trio {dist_version('trio')}")
    failed = False
    for flow in FLOWS:
        rows: dict[str, dict[str, Any]] = {}
        for column in columns:
            samples = [_run_child(column, flow, ns.size, tmp) for _ in range(ns.reps)]
            errors = [s["error"] for s in samples if "error" in s]
            if errors:
                rows[column] = {"error": errors[0]}
                failed = True
                continue
            rows[column] = {k: statistics.median(s[k] for s in samples)
                            for k in ("seconds", "rss", "heap")}
        _print_table(flow, columns, rows, ns.size, ns.markdown)
    return 1 if failed else 0


def _print_table(flow: str, columns: list[str], rows: dict[str, dict[str, Any]], size: int,
                 markdown: bool) -> None:
    base = rows.get("wasmtime", {}).get("seconds")
    header = ["column", "MiB/s", "vs wasmtime", "peak RSS growth (MiB)",
              "peak Python heap (MiB)"]
    lines = []
    for column in columns:
        row = rows[column]
        if "error" in row:
            lines.append([column, "FAILED: " + row["error"], "", "", ""])
            continue
        speed = size / MiB / row["seconds"]
        ratio = f"{base / row['seconds']:.2f}×" if base else "-"
        lines.append([column, f"{speed:.0f}", ratio, _mib(row["rss"]), _mib(row["heap"])])
    print()
    print(f"## {flow}")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
        for line in [header, *lines]:
            print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
