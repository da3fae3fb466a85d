"""What the benchmarks measure: the workloads (one C guest each, or the interpreter and
module-cache runs), the metrics they report, and how a value is printed."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20

#: What the ``interpreter`` workload imports (a dozen pure-Python stdlib modules and what they
#: pull in: re, enum, functools, typing, decimal's _pydecimal, ...).
INTERPRETER_IMPORTS = (
    "json",
    "re",
    "collections",
    "dataclasses",
    "pathlib",
    "datetime",
    "decimal",
    "fractions",
    "textwrap",
    "typing",
    "argparse",
    "csv",
)


@dataclass(frozen=True)
class Metric:
    """One number a guest reports: ``@bench <key> <count> <ns>``."""

    key: str
    unit: str  # "MiB/s", "µs/call", "files/s", "entries/s", "s", "MiB" or "×"
    label: str

    @property
    def higher_is_better(self) -> bool:
        return self.unit not in ("µs/call", "s", "MiB")

    def value(self, count: int, ns: int) -> float:
        """Turn a (count, nanoseconds) pair into this metric's unit."""
        seconds = max(ns, 1) / 1e9
        if self.unit == "MiB/s":
            return count / MIB / seconds
        if self.unit == "µs/call":
            return max(ns, 1) / 1e3 / max(count, 1)
        if self.unit == "s":
            return seconds
        return count / seconds


@dataclass(frozen=True)
class Workload:
    """A guest program, its arguments at full and quick size, and its metrics.

    ``kind`` is ``"guest"`` for the C guests in ``guests/``, ``"interpreter"`` for CPython
    importing stdlib modules from a mounted PYTHONHOME, and ``"module-cache"`` for wasifs's
    on-disk compiled-module cache. A ``heavy`` workload is left out of ``--quick`` runs unless
    ``--only`` names it.
    """

    name: str
    guest: str
    description: str
    full_args: tuple[str, ...]
    quick_args: tuple[str, ...]
    metrics: tuple[Metric, ...]
    kind: str = "guest"
    heavy: bool = False

    @property
    def has_wall(self) -> bool:
        """Whether the harness adds a whole-run wall-time row (not for module-cache)."""
        return self.kind != "module-cache"


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
        Workload(
            "hotpath",
            "hotpath",
            "the second hot-path pass: {0} small files (64 B) in a subdirectory, {1} calls"
            " per loop, a directory the guest opened itself",
            ("10000", "100000"),
            ("500", "5000"),
            (
                _lat("dirstat", "path_filestat_get, one name under an opened directory"),
                _lat("dirstat2", "path_filestat_get, sub/name under an opened directory"),
                _lat("prestat", "path_filestat_get, one name in the preopen (same guest)"),
                Metric("create", "files/s", "create: open(O_CREAT|O_EXCL)+write+close"),
                Metric("read", "files/s", "open+read+close"),
                Metric("unlink", "files/s", "unlink"),
                _lat("fdstat", "fd_fdstat_get"),
                _lat("clock", "clock_time_get"),
                _lat("seek", "fd_seek"),
            ),
        ),
        Workload(
            "interpreter",
            "",
            "CPython for WASI starts and imports {0} stdlib modules from a PYTHONHOME folder",
            (str(len(INTERPRETER_IMPORTS)),),
            (str(len(INTERPRETER_IMPORTS)),),
            (Metric("imports", "s", "the imports, timed in the guest"),),
            kind="interpreter",
            heavy=True,
        ),
        Workload(
            "module-cache",
            "",
            "wasifs.load_module of a large module in fresh processes, with an empty on-disk"
            " module cache, then with the filled one",
            (),
            (),
            (
                Metric("first_load", "s", "1st process: load_module (compile + serialize)"),
                Metric("second_load", "s", "2nd process: load_module (deserialize)"),
                Metric("speedup", "×", "load_module speed-up, 2nd vs 1st"),
                Metric("first_proc", "s", "1st process, whole wall time"),
                Metric("second_proc", "s", "2nd process, whole wall time"),
                Metric("engine", "s", "wasmtime.Engine() (default_engine), each process"),
                Metric("entry_mib", "MiB", "cache entry on disk"),
            ),
            kind="module-cache",
            heavy=True,
        ),
    )
}

WALL = Metric("wall", "s", "whole run, wall time")


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
