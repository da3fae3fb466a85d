#!/usr/bin/env python3
"""Run the wasifs filesystem benchmarks under several WASI runtimes at once.

The same C guests (``benchmarks/guests/*.c``) run under every runtime in one
invocation. Within each repetition the runtimes take turns in a fixed order
(rep 1: A B C D, rep 2: A B C D, ...), so slow drifts of the machine hit every
runtime alike. Each guest times its own measured loop with
``clock_gettime(CLOCK_MONOTONIC)`` and prints ``@bench <metric> <count> <ns>``
lines; module compilation, instantiation and the guest's setup are outside
those numbers. The harness adds the whole-run wall time of each run.

Runtimes (``--runtimes``, comma separated, in this order by default):

* ``wasmtime``      wasmtime-py's built-in WASI (``Linker.define_wasi``), a host
                    directory on tmpfs preopened as ``/bench``: the baseline.
* ``wasifs-memory`` ``wasifs.run`` with ``{"/bench": MemoryFileSystem()}``.
* ``wasifs-native`` ``wasifs.run`` with ``{"/bench": NativeFileSystem(tmp)}``.
* ``wasmer-sdk``    the ``wasmer-sdk`` package: a sandbox whose in-memory
                    workspace is ``/workspace``.
* ``native``        the same C sources built with the host ``gcc -O2``.

A wasifs runtime may carry a binding suffix, e.g. ``wasifs-memory@checked``.
Runtimes that cannot run here are skipped with the reason printed.

Usage::

    python benchmarks/run.py                      # full sizes, 3 reps
    python benchmarks/run.py --quick --reps 1     # smoke run, well under a minute
    python benchmarks/run.py --only latency --runtimes wasmtime,native
    python benchmarks/run.py --json out.json --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
GUEST_DIR = HERE / "guests"
CACHE_DIR = HERE / ".cache"
HEADER = GUEST_DIR / "bench.h"
BASELINE = "wasmtime"
DEFAULT_RUNTIMES = ("wasmtime", "wasifs-memory", "wasifs-native", "wasmer-sdk", "native")
ZIG_FLAGS = ("-target", "wasm32-wasi", "-O2", "-s")
GCC_FLAGS = ("-O2",)

MIB = 1 << 20


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Metric:
    """One number a guest reports: ``@bench <key> <count> <ns>``."""

    key: str
    unit: str  # "MiB/s", "µs/call", "files/s", "entries/s" or "s"
    label: str

    @property
    def higher_is_better(self) -> bool:
        return self.unit not in ("µs/call", "s")

    def value(self, count: int, ns: int) -> float:
        """Turn a (count, nanoseconds) pair into this metric's unit."""
        seconds = max(ns, 1) / 1e9
        if self.unit == "MiB/s":
            return count / MIB / seconds
        if self.unit == "µs/call":
            return max(ns, 1) / 1e3 / max(count, 1)
        return count / seconds


@dataclass(frozen=True)
class Workload:
    """A guest program, its arguments at full and quick size, and its metrics."""

    name: str
    guest: str
    description: str
    full_args: tuple[str, ...]
    quick_args: tuple[str, ...]
    metrics: tuple[Metric, ...]


def _lat(key: str, call: str) -> Metric:
    return Metric(key, "µs/call", call)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "seqread",
            "seqread",
            "sequential read(2) of a {0} MiB file (written first, untimed)",
            ("64",),
            ("8",),
            (
                Metric("read_4k", "MiB/s", "read, 4 KiB blocks"),
                Metric("read_64k", "MiB/s", "read, 64 KiB blocks"),
                Metric("read_1m", "MiB/s", "read, 1 MiB blocks"),
            ),
        ),
        Workload(
            "seqwrite",
            "seqwrite",
            "sequential write(2) of {0} MiB into a new file",
            ("64",),
            ("8",),
            (
                Metric("write_4k", "MiB/s", "write, 4 KiB blocks"),
                Metric("write_1m", "MiB/s", "write, 1 MiB blocks"),
            ),
        ),
        Workload(
            "latency",
            "latency",
            "per-call latency, {0} calls per loop",
            ("100000",),
            ("5000",),
            (
                _lat("sched_yield", "sched_yield (bare crossing)"),
                _lat("clock", "clock_time_get"),
                _lat("fdstat", "fd_fdstat_get (fcntl F_GETFL)"),
                _lat("fstat", "fd_filestat_get (fstat)"),
                _lat("stat", "path_filestat_get (stat)"),
                _lat("lseek", "fd_seek (lseek)"),
                _lat("pread16", "fd_pread, 16 B"),
                _lat("read16", "fd_read, 16 B"),
                _lat("write16", "fd_write, 16 B"),
            ),
        ),
        Workload(
            "smallfiles",
            "smallfiles",
            "{0} files of 1 KiB in one directory",
            ("10000",),
            ("1000",),
            (
                Metric("create", "files/s", "create: open+write+close"),
                Metric("stat", "files/s", "stat"),
                Metric("read", "files/s", "open+read+close"),
                Metric("readdir", "entries/s", "readdir of all entries"),
                Metric("unlink", "files/s", "unlink"),
            ),
        ),
        Workload(
            "treewalk",
            "treewalk",
            "recursive walk (openat+readdir+fstatat) of a {0}x{1} directory tree"
            " with {2} files per leaf directory",
            ("20", "20", "50"),
            ("10", "10", "10"),
            (Metric("walk", "entries/s", "walk: entries visited"),),
        ),
    )
}

WALL = Metric("wall", "s", "whole run, wall time")


# --------------------------------------------------------------------------- guests


@dataclass(frozen=True)
class Guest:
    """A benchmark program built for wasm32-wasi and, where possible, for the host."""

    name: str
    wasm: bytes
    native: Path | None
    native_error: str | None


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:20]


def _compile_cached(
    source: Path, suffix: str, tool_id: str, command: Callable[[Path], list[str]]
) -> Path:
    """Compile ``source`` once per content + toolchain; return the cached output."""
    key = _digest(
        source.read_bytes(),
        HEADER.read_bytes(),
        tool_id.encode(),
        " ".join(command(Path("OUT"))).encode(),
    )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    out = CACHE_DIR / f"{source.stem}-{key}{suffix}"
    if out.exists():
        return out
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    cmd = command(tmp)
    proc = subprocess.run(cmd, cwd=GUEST_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            f"compiling {source.name} failed ({' '.join(cmd)}):\n{proc.stderr.strip()}"
        )
    os.replace(tmp, out)
    return out


def _zig_id() -> str:
    try:
        return "ziglang " + importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            "the ziglang package is needed to build the guests: pip install ziglang"
        ) from exc


def _gcc_id() -> str | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    proc = subprocess.run([gcc, "-dumpfullversion"], capture_output=True, text=True)
    return f"gcc {proc.stdout.strip()}" if proc.returncode == 0 else None


def build_guest(name: str, want_native: bool) -> Guest:
    """Build (or fetch from the cache) the wasm and, if asked, the host binary."""
    source = GUEST_DIR / f"{name}.c"
    zig_id = _zig_id()
    wasm_path = _compile_cached(
        source,
        ".wasm",
        zig_id,
        lambda out: [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            *ZIG_FLAGS,
            source.name,
            "-o",
            str(out),
        ],
    )
    native: Path | None = None
    native_error: str | None = None
    if want_native:
        gcc_id = _gcc_id()
        if gcc_id is None:
            native_error = "no working gcc on PATH"
        else:
            try:
                native = _compile_cached(
                    source,
                    "",
                    gcc_id,
                    lambda out: ["gcc", *GCC_FLAGS, source.name, "-o", str(out)],
                )
            except RuntimeError as exc:
                native_error = str(exc)
    return Guest(name, wasm_path.read_bytes(), native, native_error)


# --------------------------------------------------------------------------- runtimes


@dataclass
class RunOutput:
    """What one guest run produced."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    wall_s: float


class Runtime(Protocol):
    """A way to run a guest. ``tmp`` is a fresh, empty host directory per run."""

    name: str
    description: str

    def unavailable(self) -> str | None:
        """Return why this runtime cannot run here, or None when it can."""

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        """Run ``guest`` with ``args`` after its directory argument."""

    def close(self) -> None:
        """Release whatever the runtime holds."""


class WasmtimeRuntime:
    """wasmtime-py's own WASI implementation, a tmpfs directory preopened as /bench."""

    name = "wasmtime"

    def __init__(self) -> None:
        self.description = "wasmtime-py built-in WASI (define_wasi), host dir preopened"
        self._engine: Any = None
        self._modules: dict[str, Any] = {}

    def unavailable(self) -> str | None:
        try:
            wasmtime = importlib.import_module("wasmtime")
        except Exception as exc:  # a half-written package may raise anything
            return f"cannot import wasmtime: {exc}"
        self._engine = wasmtime.Engine()
        self.description += f" (wasmtime-py {_version('wasmtime')})"
        return None

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        import wasmtime

        bench = tmp / "bench"
        bench.mkdir()
        out, err = tmp / "stdout", tmp / "stderr"
        t0 = time.perf_counter()
        module = self._modules.get(guest.name)
        if module is None:  # compiled once per guest, as wasifs and wasmer-sdk do
            module = self._modules[guest.name] = wasmtime.Module(self._engine, guest.wasm)
        store = wasmtime.Store(self._engine)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        config = wasmtime.WasiConfig()
        config.argv = [guest.name, "/bench", *args]
        config.preopen_dir(str(bench), "/bench")
        config.stdout_file = str(out)
        config.stderr_file = str(err)
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        code = 0
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        wall = time.perf_counter() - t0
        del start, instance, store  # closes the stdout/stderr files
        return RunOutput(code, out.read_bytes(), err.read_bytes(), wall)

    def close(self) -> None:
        self._modules.clear()
        self._engine = None


class WasifsRuntime:
    """``wasifs.run`` with a MemoryFileSystem or NativeFileSystem mounted at /bench."""

    def __init__(self, backend: str, binding: str = "auto") -> None:
        if backend not in ("memory", "native"):
            raise ValueError(f"unknown wasifs backend {backend!r}")
        self.backend = backend
        self.binding = binding
        self.name = f"wasifs-{backend}" + ("" if binding == "auto" else f"@{binding}")
        self.description = ""
        self._run: Callable[..., Any] | None = None
        self._make_fs: Callable[[Path], Any] | None = None

    def unavailable(self) -> str | None:
        try:
            wasifs = importlib.import_module("wasifs")
        except Exception as exc:  # a half-written package may raise anything
            return f"cannot import wasifs: {exc}"
        run = getattr(wasifs, "run", None)
        if not callable(run):
            try:
                api = importlib.import_module("wasifs.api")
            except Exception as exc:  # a half-written package may raise anything
                return f"wasifs.run is not available yet (wasifs.api: {exc})"
            run = getattr(api, "run", None)
            if not callable(run):
                return "wasifs.run is not available yet"
        if self.backend == "memory":
            try:
                cls = importlib.import_module("wasifs.backends.memory").MemoryFileSystem
            except Exception as exc:  # not written yet, or broken
                return f"MemoryFileSystem is not available yet: {exc}"
            self._make_fs = lambda _tmp: cls()
            where = "MemoryFileSystem()"
        else:
            try:
                cls = importlib.import_module("wasifs.backends.native").NativeFileSystem
            except Exception as exc:  # not written yet, or broken
                return f"NativeFileSystem is not available yet: {exc}"
            self._make_fs = lambda tmp: cls(str(tmp))
            where = "NativeFileSystem(<tmp dir>)"
        self._run = run
        self.description = (
            f"wasifs.run, /bench = {where}, binding={self.binding} (wasifs {_version('wasifs')})"
        )
        return None

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        assert self._run is not None and self._make_fs is not None
        bench = tmp / "bench"
        bench.mkdir()
        t0 = time.perf_counter()
        fs = self._make_fs(bench)
        options: dict[str, Any] = {} if self.binding == "auto" else {"binding": self.binding}
        result = self._run(
            guest.wasm, args=(guest.name, "/bench", *args), mounts={"/bench": fs}, **options
        )
        wall = time.perf_counter() - t0
        return RunOutput(int(result.exit_code), bytes(result.stdout), bytes(result.stderr), wall)

    def close(self) -> None:
        self._run = None


class WasmerRuntime:
    """The ``wasmer-sdk`` package: a fresh sandbox per run, workspace at /workspace."""

    name = "wasmer-sdk"
    guest_dir = "/workspace"

    def __init__(self) -> None:
        self.description = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wasmer: Any = None
        self._cache: str | None = None

    def unavailable(self) -> str | None:
        try:
            sdk = importlib.import_module("wasmer_sdk")
        except Exception as exc:  # a half-written package may raise anything
            return f"cannot import wasmer_sdk ({exc}); install it with: pip install wasmer-sdk"
        self._cache = tempfile.mkdtemp(prefix="wasifs-bench-wasmer-cache-")
        try:
            self._wasmer = sdk.Wasmer(cache_root=self._cache)
        except Exception as exc:  # the SDK's native library may not load here
            return f"wasmer_sdk.Wasmer() failed: {exc}"
        self._loop = asyncio.new_event_loop()
        self.description = (
            f"wasmer-sdk {_version('wasmer-sdk')} sandbox, in-memory /workspace"
            " (compiled modules cached across runs)"
        )
        return None

    async def _run(self, guest: Guest, args: Sequence[str]) -> RunOutput:
        t0 = time.perf_counter()
        package = await self._wasmer.packages.load(guest.wasm)
        sandbox = await self._wasmer.sandboxes.create(packages=[package])
        try:
            output = await sandbox.command(package, [self.guest_dir, *args]).run(check=False)
        finally:
            await sandbox.close()
        wall = time.perf_counter() - t0
        code = output.exit_code if output.reason.value == "exited" else 128
        return RunOutput(code, output.stdout.bytes, output.stderr.bytes, wall)

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        assert self._loop is not None
        return self._loop.run_until_complete(self._run(guest, args))

    def close(self) -> None:
        if self._loop is not None:
            if self._wasmer is not None:
                self._loop.run_until_complete(self._wasmer.close())
            self._loop.close()
            self._loop = None
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None


class NativeRuntime:
    """The same C source built with the host gcc, run on a tmp directory."""

    name = "native"

    def __init__(self) -> None:
        gcc = _gcc_id()
        self.description = f"host binary, {gcc} {' '.join(GCC_FLAGS)}" if gcc else "host binary"

    def unavailable(self) -> str | None:
        return None if _gcc_id() is not None else "no working gcc on PATH"

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        if guest.native is None:
            raise RuntimeError(f"no native build: {guest.native_error}")
        bench = tmp / "bench"
        bench.mkdir()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(guest.native), str(bench), *args], capture_output=True, timeout=3600
        )
        wall = time.perf_counter() - t0
        return RunOutput(proc.returncode, proc.stdout, proc.stderr, wall)

    def close(self) -> None:
        pass


def make_runtime(name: str) -> Runtime:
    """Build the runtime named on the command line."""
    base, _, binding = name.partition("@")
    if base == "wasmtime" and not binding:
        return WasmtimeRuntime()
    if base in ("wasifs-memory", "wasifs-native"):
        if binding and binding not in ("auto", "raw", "checked"):
            raise ValueError(f"unknown wasifs binding {binding!r} (auto, raw, checked)")
        return WasifsRuntime(base.removeprefix("wasifs-"), binding or "auto")
    if base == "wasmer-sdk" and not binding:
        return WasmerRuntime()
    if base == "native" and not binding:
        return NativeRuntime()
    raise ValueError(
        f"unknown runtime {name!r}; known: {', '.join(DEFAULT_RUNTIMES)}"
        " (wasifs-* also take @auto, @raw or @checked)"
    )


# --------------------------------------------------------------------------- running


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def pick_tmp_root(requested: str | None) -> tuple[Path, str]:
    """Return the directory that per-run tmp dirs go under, and how to describe it."""
    if requested:
        root = Path(requested)
    elif os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        root = Path("/dev/shm")
    else:
        root = Path(tempfile.gettempdir())
    fstype = _fstype(root)
    return root, f"{root} ({fstype})"


def _fstype(path: Path) -> str:
    """The filesystem type of the mount holding ``path`` (from /proc/mounts)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown filesystem"
    real = os.path.realpath(path)
    best, kind = "", "unknown filesystem"
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1]
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, parts[2]
    return kind


def parse_output(workload: Workload, stdout: bytes) -> dict[str, float]:
    """Read the guest's ``@bench`` lines and convert them to the metrics' units."""
    seen: dict[str, tuple[int, int]] = {}
    for raw in stdout.decode("utf-8", "replace").splitlines():
        parts = raw.split()
        if len(parts) == 4 and parts[0] == "@bench":
            seen[parts[1]] = (int(parts[2]), int(parts[3]))
    values: dict[str, float] = {}
    missing = []
    for metric in workload.metrics:
        if metric.key in seen:
            values[metric.key] = metric.value(*seen[metric.key])
        else:
            missing.append(metric.key)
    if missing:
        raise RuntimeError(f"guest printed no result for {', '.join(missing)}")
    return values


@dataclass
class Results:
    """Everything measured: values[workload][metric][runtime] is one list entry per rep."""

    values: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    errors: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, workload: str, metric: str, runtime: str, value: float) -> None:
        self.values.setdefault(workload, {}).setdefault(metric, {}).setdefault(runtime, []).append(
            value
        )

    def error(self, workload: str, runtime: str, message: str) -> None:
        self.errors.setdefault(workload, {}).setdefault(runtime, []).append(message)


def warm_up(runtime: Runtime, guest: Guest, tmp_root: Path, log: Callable[[str], None]) -> None:
    """Run ``guest`` once without its size arguments: it prints its usage and exits.

    This compiles the module (every wasm runtime here keeps compiled modules for
    later runs) before the timed repetitions, so the reps' wall times are alike.
    """
    tmp = Path(tempfile.mkdtemp(prefix="wasifs-bench-", dir=tmp_root))
    try:
        runtime.run(guest, (), tmp)
    except Exception as exc:
        log(f"  warm-up of {guest.name} under {runtime.name} failed: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(
    workloads: Sequence[Workload],
    runtimes: Sequence[Runtime],
    guests: dict[str, Guest],
    reps: int,
    quick: bool,
    tmp_root: Path,
    log: Callable[[str], None],
) -> Results:
    """Run every workload ``reps`` times, the runtimes interleaved within each rep."""
    results = Results()
    for workload in workloads:
        args = workload.quick_args if quick else workload.full_args
        guest = guests[workload.guest]
        for runtime in runtimes:
            warm_up(runtime, guest, tmp_root, log)
        for rep in range(1, reps + 1):
            for runtime in runtimes:
                tmp = Path(tempfile.mkdtemp(prefix="wasifs-bench-", dir=tmp_root))
                try:
                    out = runtime.run(guest, args, tmp)
                    if out.exit_code != 0:
                        tail = out.stderr.decode("utf-8", "replace").strip()[-800:]
                        raise RuntimeError(f"exit code {out.exit_code}: {tail}")
                    values = parse_output(workload, out.stdout)
                except Exception as exc:
                    message = f"{type(exc).__name__}: {exc}"
                    results.error(workload.name, runtime.name, f"rep {rep}: {message}")
                    log(f"  {workload.name} rep {rep}/{reps} {runtime.name}: FAILED {message}")
                    continue
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                for key, value in values.items():
                    results.add(workload.name, key, runtime.name, value)
                results.add(workload.name, WALL.key, runtime.name, out.wall_s)
                log(f"  {workload.name} rep {rep}/{reps} {runtime.name}: {out.wall_s:.2f} s")
    return results


# --------------------------------------------------------------------------- reporting


def fmt(value: float) -> str:
    """Three or so significant digits, without exponent notation."""
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    if a >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}"


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int


def summarize(samples: Sequence[float]) -> Summary:
    return Summary(statistics.median(samples), min(samples), max(samples), len(samples))


def cell(s: Summary | None) -> str:
    if s is None:
        return "—"
    if s.n == 1:
        return fmt(s.median)
    return f"{fmt(s.median)} [{fmt(s.low)}–{fmt(s.high)}]"


def speed_ratio(metric: Metric, value: float, baseline: float) -> float:
    """How many times faster than the baseline (>1 = faster), whatever the unit."""
    if metric.higher_is_better:
        return value / baseline
    return baseline / value


@dataclass
class Row:
    workload: str
    metric: Metric
    cells: dict[str, Summary]


def collect_rows(workloads: Sequence[Workload], results: Results) -> list[Row]:
    rows = []
    for workload in workloads:
        per_metric = results.values.get(workload.name, {})
        for metric in (*workload.metrics, WALL):
            samples = per_metric.get(metric.key, {})
            rows.append(
                Row(workload.name, metric, {rt: summarize(v) for rt, v in samples.items() if v})
            )
    return rows


def ratio_cell(row: Row, runtime: str) -> str:
    base = row.cells.get(BASELINE)
    mine = row.cells.get(runtime)
    if base is None or mine is None or base.median <= 0 or mine.median <= 0:
        return "—"
    return f"{speed_ratio(row.metric, mine.median, base.median):.2f}×"


def _table(header: list[str], body: list[list[str]], markdown: bool, right_from: int) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |"]
        lines.append(
            "|" + "|".join("---:" if i >= right_from else "---" for i in range(len(header))) + "|"
        )
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i >= right_from else c.ljust(widths[i]) for i, c in enumerate(r)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def render(
    workloads: Sequence[Workload],
    runtime_names: Sequence[str],
    results: Results,
    quick: bool,
    markdown: bool,
) -> str:
    """The value tables (one per workload) and the speed-ratio table."""
    rows = collect_rows(workloads, results)
    out: list[str] = []
    for workload in workloads:
        args = workload.quick_args if quick else workload.full_args
        title = f"{workload.name}: {workload.description.format(*args)}"
        out.append(f"### {title}" if markdown else title)
        out.append("")
        body = [
            [r.metric.label, r.metric.unit, *(cell(r.cells.get(rt)) for rt in runtime_names)]
            for r in rows
            if r.workload == workload.name
        ]
        out.append(_table(["metric", "unit", *runtime_names], body, markdown, 2))
        out.extend(
            ("- " if markdown else "  ") + f"{runtime} failed, {message}"
            for runtime, messages in results.errors.get(workload.name, {}).items()
            for message in messages
        )
        out.append("")
    others = [rt for rt in runtime_names if rt != BASELINE]
    if BASELINE in runtime_names and others:
        title = f"Speed relative to {BASELINE} (median / median; >1 = faster than {BASELINE})"
        out.append(f"### {title}" if markdown else title)
        out.append("")
        body = [
            [f"{r.workload}: {r.metric.label}", *(ratio_cell(r, rt) for rt in others)] for r in rows
        ]
        out.append(_table(["metric", *others], body, markdown, 1))
        out.append("")
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wasmtime-py": _version("wasmtime"),
        "wasmer-sdk": _version("wasmer-sdk"),
        "wasifs": _version("wasifs"),
        "ziglang": _version("ziglang"),
        "gcc": _gcc_id() or "none",
    }


def render_header(
    meta: dict[str, Any],
    runtimes: Sequence[Runtime],
    skipped: dict[str, str],
    markdown: bool,
) -> str:
    bullet = "- " if markdown else "  "
    lines = ["wasifs benchmarks" if not markdown else "## wasifs benchmarks", ""]
    m = meta["machine"]
    lines.append(f"{bullet}machine: {m['cpu']}, {m['cpus']} CPUs, {m['platform']}")
    lines.append(
        f"{bullet}python {m['python']}, wasmtime-py {m['wasmtime-py']}, wasmer-sdk {m['wasmer-sdk']},"
        f" wasifs {m['wasifs']}, ziglang {m['ziglang']}, {m['gcc']}"
    )
    lines.append(
        f"{bullet}{meta['reps']} rep(s), {'quick' if meta['quick'] else 'full'} sizes,"
        f" runtimes interleaved within each rep; cells are median [min–max] over the reps"
    )
    lines.append(f"{bullet}host tmp dirs (wasmtime preopen, wasifs-native, native): {meta['tmp']}")
    lines.append(
        f"{bullet}guest timings exclude compilation, instantiation and setup;"
        " 'whole run' is the harness's wall time for one run (instantiation included;"
        " compilation done by an untimed warm-up run)"
    )
    lines.extend(f"{bullet}{rt.name}: {rt.description}" for rt in runtimes)
    lines.extend(f"{bullet}{name}: SKIPPED, {reason}" for name, reason in skipped.items())
    lines.append("")
    return "\n".join(lines)


def to_json(
    meta: dict[str, Any],
    workloads: Sequence[Workload],
    runtimes: Sequence[Runtime],
    skipped: dict[str, str],
    results: Results,
    quick: bool,
) -> dict[str, Any]:
    rows = collect_rows(workloads, results)
    data: dict[str, Any] = {
        "meta": meta,
        "baseline": BASELINE,
        "runtimes": {rt.name: {"status": "ran", "description": rt.description} for rt in runtimes},
        "workloads": {},
    }
    for name, reason in skipped.items():
        data["runtimes"][name] = {"status": "skipped", "reason": reason}
    for workload in workloads:
        entry: dict[str, Any] = {
            "guest": workload.guest,
            "args": list(workload.quick_args if quick else workload.full_args),
            "metrics": {},
            "errors": results.errors.get(workload.name, {}),
        }
        for row in rows:
            if row.workload != workload.name:
                continue
            samples = results.values.get(workload.name, {}).get(row.metric.key, {})
            base = row.cells.get(BASELINE)
            entry["metrics"][row.metric.key] = {
                "label": row.metric.label,
                "unit": row.metric.unit,
                "higher_is_better": row.metric.higher_is_better,
                "samples": samples,
                "median": {rt: s.median for rt, s in row.cells.items()},
                "min": {rt: s.low for rt, s in row.cells.items()},
                "max": {rt: s.high for rt, s in row.cells.items()},
                "speed_vs_baseline": {
                    rt: speed_ratio(row.metric, s.median, base.median)
                    for rt, s in row.cells.items()
                    if base is not None and base.median > 0 and s.median > 0
                },
            }
        data["workloads"][workload.name] = entry
    return data


# --------------------------------------------------------------------------- main


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the wasifs filesystem benchmarks under several WASI runtimes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads: " + ", ".join(WORKLOADS) + "\nruntimes: " + ", ".join(DEFAULT_RUNTIMES),
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="WORKLOAD",
        help="run only these workloads (repeatable, or comma separated)",
    )
    parser.add_argument(
        "--runtimes",
        action="append",
        metavar="A,B,...",
        help=f"runtimes in run order (default {','.join(DEFAULT_RUNTIMES)})",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write all samples and summaries as JSON"
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--tmp", metavar="DIR", help="where per-run host dirs go (default /dev/shm when writable)"
    )
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.tmp is not None and not (os.path.isdir(args.tmp) and os.access(args.tmp, os.W_OK)):
        parser.error(f"--tmp {args.tmp}: not a writable directory")
    only = _split(args.only)
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    args.only = only or list(WORKLOADS)
    args.runtimes = _split(args.runtimes) or list(DEFAULT_RUNTIMES)
    if len(set(args.runtimes)) != len(args.runtimes):
        parser.error("a runtime is named twice in --runtimes")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        candidates = [make_runtime(name) for name in args.runtimes]
    except ValueError as exc:
        log(f"error: {exc}")
        return 2
    runtimes: list[Runtime] = []
    skipped: dict[str, str] = {}
    for rt in candidates:
        reason = rt.unavailable()
        if reason is None:
            runtimes.append(rt)
        else:
            skipped[rt.name] = reason
            log(f"skipping {rt.name}: {reason}")
    if not runtimes:
        log("error: no runtime can run here")
        return 2

    workloads = [WORKLOADS[name] for name in args.only]
    want_native = any(rt.name == "native" for rt in runtimes)
    t0 = time.perf_counter()
    try:
        guests = {w.guest: build_guest(w.guest, want_native) for w in workloads}
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 2
    log(f"guests ready in {time.perf_counter() - t0:.1f} s (cache: {CACHE_DIR})")

    tmp_root, tmp_desc = pick_tmp_root(args.tmp)
    meta: dict[str, Any] = {
        "machine": machine_info(),
        "reps": args.reps,
        "quick": args.quick,
        "tmp": tmp_desc,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "runtime_order": [rt.name for rt in runtimes],
    }
    try:
        results = run_all(workloads, runtimes, guests, args.reps, args.quick, tmp_root, log)
    finally:
        for rt in runtimes:
            rt.close()
    meta["elapsed_s"] = round(time.perf_counter() - t0, 2)

    names = [rt.name for rt in runtimes]
    print(render_header(meta, runtimes, skipped, args.markdown))
    print(render(workloads, names, results, args.quick, args.markdown))
    print(f"total time {meta['elapsed_s']:.1f} s")
    if args.json:
        data = to_json(meta, workloads, runtimes, skipped, results, args.quick)
        Path(args.json).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {args.json}")
    failed = any(results.errors.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
