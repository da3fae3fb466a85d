#!/usr/bin/env python3
"""Before and after: two revisions of wasifs on the same workloads, beside wasmtime-py.

::

    python benchmarks/compare.py --before a052507                 # against HEAD, 5 reps
    python benchmarks/compare.py --before main --after . --quick  # the working tree as it is
    python benchmarks/compare.py --before v1 --after v2 --only latency --backends memory,native

Each revision is checked out on its own (``git worktree add --detach`` in a temporary folder,
removed at the end; ``--export`` uses ``git archive`` instead, which writes nothing into the
repository; ``.`` is this checkout's working tree, uncommitted changes included) and runs in
its own worker process whose ``PYTHONPATH`` is that checkout: the two revisions never share
an interpreter, and each worker checks that ``wasifs`` comes from its checkout. A third
worker runs wasmtime-py's built-in WASI. The guests are the C guests of this checkout's
harness (``benchmarks/guests``), the same module for every column, so only wasifs differs.

Every workload runs ``--reps`` times, the columns interleaved within each rep (wasmtime,
before, after; then wasmtime, after, before, and so on: neither revision always runs
right after the other), after one untimed warm-up run per column that compiles the module.
The table shows, per metric, the median [min–max] of each column, and the speed of *after*
relative to *before* computed rep by rep (the two ran seconds apart): the median of those
ratios and their range. ``>1`` is faster after. A ratio whose range holds 1.00 is marked
``~`` (within noise at this number of reps); otherwise ``+`` (faster) or ``-`` (slower).
The last two columns are each revision's speed relative to wasmtime-py (median / median).
Run it on a quiet machine with ``--reps 9`` or more before trusting a difference of a few
per cent.

Options: ``--reps N`` (default 5), ``--quick`` (the small sizes), ``--only W[,W]`` (default
``latency,smallfiles``; any C-guest workload of ``run.py``), ``--backends B[,B]`` (``memory``,
``native``; default ``memory``), ``--no-wasmtime``, ``--tmp DIR`` (per-run host folders; default
``/dev/shm`` when writable), ``--json FILE``, ``--markdown``. Exit status: 0, 1 when a run
failed, 2 on a usage or checkout error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------ the worker
# Runs inside a checkout's interpreter: only the standard library, wasmtime and that
# checkout's wasifs. One JSON request per line on stdin, one JSON answer per line on stdout.
def _worker(kind: str) -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the protocol stream
    os.environ["WASIFS_MODULE_CACHE"] = "off"
    modules: dict[str, Any] = {}

    def answer(data: dict[str, Any]) -> None:
        out.write(json.dumps(data) + "\n")
        out.flush()

    try:
        if kind == "wasmtime":
            import wasmtime

            engine = wasmtime.Engine()
            hello: dict[str, Any] = {"wasmtime": wasmtime.__file__}
        else:
            import wasifs
            from wasifs.backends.memory import MemoryFileSystem
            from wasifs.backends.native import NativeFileSystem

            hello = {"wasifs": wasifs.__file__, "version": getattr(wasifs, "__version__", "?")}
    except Exception as exc:  # reported to the harness, which stops with the reason
        answer({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    answer(hello)
    wasm_cache: dict[str, bytes] = {}
    for line in sys.stdin:
        req = json.loads(line)
        wasm = wasm_cache.get(req["wasm"])
        if wasm is None:
            wasm = wasm_cache[req["wasm"]] = Path(req["wasm"]).read_bytes()
        bench = Path(req["tmp"]) / "bench"
        bench.mkdir()
        argv = [req["name"], "/bench", *req["args"]]
        try:
            if kind == "wasmtime":
                t0 = time.perf_counter()
                module = modules.get(req["wasm"])
                if module is None:
                    module = modules[req["wasm"]] = wasmtime.Module(engine, wasm)
                store = wasmtime.Store(engine)
                linker = wasmtime.Linker(engine)
                linker.define_wasi()
                config = wasmtime.WasiConfig()
                config.argv = argv
                config.preopen_dir(str(bench), "/bench")
                stdout, stderr = Path(req["tmp"]) / "stdout", Path(req["tmp"]) / "stderr"
                config.stdout_file = str(stdout)
                config.stderr_file = str(stderr)
                store.set_wasi(config)
                start = linker.instantiate(store, module).exports(store)["_start"]
                code = 0
                try:
                    start(store)  # type: ignore[operator]
                except wasmtime.ExitTrap as exc:
                    code = exc.code
                wall = time.perf_counter() - t0
                del start, store  # closes the stdout/stderr files
                result = (code, stdout.read_bytes(), stderr.read_bytes())
            else:
                t0 = time.perf_counter()
                fs = MemoryFileSystem() if req["backend"] == "memory" else \
                    NativeFileSystem(str(bench))
                run = wasifs.run(wasm, args=argv, mounts={"/bench": fs})
                wall = time.perf_counter() - t0
                result = (run.exit_code, bytes(run.stdout), bytes(run.stderr))
        except Exception as exc:  # one failed run is reported, the worker goes on
            answer({"error": f"{type(exc).__name__}: {exc}"})
            continue
        answer({"exit": result[0], "stdout": result[1].decode("utf-8", "replace"),
                "stderr": result[2].decode("utf-8", "replace")[-800:], "wall": wall})
    return 0


if len(sys.argv) == 3 and sys.argv[1] == "--worker":
    sys.exit(_worker(sys.argv[2]))

# ------------------------------------------------------------------------------ the harness
if not __package__:
    # Run as ``python benchmarks/compare.py``: import this folder as the package
    # ``benchmarks`` without leaving the repository root on sys.path.
    _ROOT = str(HERE.parent)
    sys.path.insert(0, _ROOT)
    try:
        import benchmarks  # noqa: F401
    finally:
        sys.path.remove(_ROOT)

from benchmarks.guests import build_guest  # noqa: E402
from benchmarks.report import _table, machine_info, summarize  # noqa: E402
from benchmarks.runners import parse_output, pick_tmp_root  # noqa: E402
from benchmarks.workloads import WALL, WORKLOADS, Metric, Workload, fmt  # noqa: E402

DEFAULT_ONLY = ("latency", "smallfiles")


def _git(repo: Path, *args: str, **kwargs: Any) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


class Checkout:
    """One revision on disk: a worktree or an export in ``folder``, or the working tree."""

    def __init__(self, repo: Path, rev: str, folder: Path, export: bool) -> None:
        self.repo = repo
        self.rev = rev
        self.worktree = False
        if rev == ".":
            self.path = repo
            self.label = f"working tree ({_git(repo, 'rev-parse', '--short', 'HEAD')}+)"
            return
        commit = _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
        subject = _git(repo, "log", "-1", "--format=%s", commit)
        self.label = f"{rev} = {commit[:9]} {subject[:60]}"
        self.path = folder
        if export:
            folder.mkdir(parents=True)
            archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit],
                                     capture_output=True, check=True).stdout
            with tempfile.TemporaryFile() as f:
                f.write(archive)
                f.seek(0)
                with tarfile.open(fileobj=f) as tar:
                    tar.extractall(folder, filter="data")
        else:
            _git(repo, "worktree", "add", "--detach", str(folder), commit)
            self.worktree = True

    def remove(self) -> None:
        if self.worktree:
            try:
                _git(self.repo, "worktree", "remove", "--force", str(self.path))
            except RuntimeError:
                shutil.rmtree(self.path, ignore_errors=True)
                _git(self.repo, "worktree", "prune")


class Worker:
    """A worker process: ``wasmtime``, or ``wasifs`` imported from ``checkout``."""

    def __init__(self, name: str, kind: str, checkout: Checkout | None, backend: str) -> None:
        self.name = name
        self.kind = kind
        self.backend = backend
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if checkout is not None:
            env["PYTHONPATH"] = str(checkout.path)
        env["WASIFS_MODULE_CACHE"] = "off"
        self._cwd = tempfile.mkdtemp(prefix="wasifs-compare-cwd-")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=self._cwd)
        hello = self._receive()
        if "error" in hello:
            self.close()
            raise RuntimeError(f"{name}: the worker could not start: {hello['error']}")
        if checkout is not None:
            where = Path(hello["wasifs"]).resolve()
            if not where.is_relative_to(checkout.path.resolve()):
                self.close()
                raise RuntimeError(f"{name}: wasifs was imported from {where}, not from the "
                                   f"checkout {checkout.path} (an install that takes precedence "
                                   "over PYTHONPATH?)")
        self.hello = hello

    def _receive(self) -> dict[str, Any]:
        stream: TextIO | None = self.proc.stdout
        assert stream is not None
        line = stream.readline()
        if not line:
            raise RuntimeError(f"{self.name}: the worker ended (exit {self.proc.wait()})")
        data: dict[str, Any] = json.loads(line)
        return data

    def run(self, wasm: Path, name: str, args: Sequence[str], tmp: Path) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"wasm": str(wasm), "name": name, "args": list(args),
                                          "tmp": str(tmp), "backend": self.backend}) + "\n")
        self.proc.stdin.flush()
        return self._receive()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self._cwd, ignore_errors=True)


def speed(metric: Metric, after: float, before: float) -> float:
    """How many times faster ``after`` is than ``before`` (>1: faster), whatever the unit."""
    return after / before if metric.higher_is_better else before / after


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Before/after: two revisions of wasifs, interleaved rep by rep, beside "
                    "wasmtime-py.", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, metavar="REV",
                        help="the revision to compare against (any git revision)")
    parser.add_argument("--after", default="HEAD", metavar="REV",
                        help="the revision measured (default HEAD; '.' is the working tree)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", action="append", metavar="WORKLOAD",
                        help=f"workloads (default {','.join(DEFAULT_ONLY)})")
    parser.add_argument("--backends", default="memory", metavar="B[,B]",
                        help="wasifs backends: memory, native (default memory)")
    parser.add_argument("--no-wasmtime", action="store_true", help="leave wasmtime-py out")
    parser.add_argument("--export", action="store_true",
                        help="check out with git archive instead of git worktree")
    parser.add_argument("--tmp", metavar="DIR", help="where per-run host folders go")
    parser.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    only = [w.strip() for v in (args.only or [",".join(DEFAULT_ONLY)]) for w in v.split(",")
            if w.strip()]
    bad = [w for w in only if w not in WORKLOADS or WORKLOADS[w].kind != "guest"]
    if bad:
        guests = [n for n, w in WORKLOADS.items() if w.kind == "guest"]
        parser.error(f"unknown workload(s) {', '.join(bad)}; known: {', '.join(guests)}")
    args.only = only
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backends or any(b not in ("memory", "native") for b in args.backends):
        parser.error("--backends takes memory and/or native")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        repo = Path(_git(HERE, "rev-parse", "--show-toplevel"))
    except RuntimeError as exc:
        log(f"error: not in a git checkout: {exc}")
        return 2
    workloads = [WORKLOADS[w] for w in args.only]
    base = Path(tempfile.mkdtemp(prefix="wasifs-compare-"))
    checkouts: dict[str, Checkout] = {}
    workers: list[Worker] = []
    try:
        try:
            for side, rev in (("before", args.before), ("after", args.after)):
                checkouts[side] = Checkout(repo, rev, base / side, args.export)
                log(f"{side}: {checkouts[side].label} at {checkouts[side].path}")
            if not args.no_wasmtime:
                workers.append(Worker("wasmtime", "wasmtime", None, ""))
            workers += [Worker(f"{side}/{backend}", "wasifs", checkouts[side], backend)
                        for backend in args.backends for side in ("before", "after")]
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            log(f"error: {exc}")
            return 2
        guests = {w.guest: build_guest(w.guest, False) for w in workloads}
        wasm_files = {}
        for name, guest in guests.items():
            wasm_files[name] = base / f"{name}.wasm"
            wasm_files[name].write_bytes(guest.wasm)
        tmp_root, tmp_desc = pick_tmp_root(args.tmp)
        t0 = time.perf_counter()
        samples, errors = _measure(workloads, workers, wasm_files, args, tmp_root, log)
        elapsed = time.perf_counter() - t0
    finally:
        for worker in workers:
            worker.close()
        for checkout in checkouts.values():
            checkout.remove()
        shutil.rmtree(base, ignore_errors=True)

    names = [w.name for w in workers]
    m = machine_info()
    print(f"wasifs before/after: {m['cpu']}, {m['cpus']} CPUs, python {m['python']}, "
          f"wasmtime-py {m['wasmtime-py']}")
    print(f"  before = {checkouts['before'].label}")
    print(f"  after  = {checkouts['after'].label}")
    print(f"  {args.reps} rep(s), {'quick' if args.quick else 'full'} sizes, columns "
          f"interleaved rep by rep; host folders on {tmp_desc}; {elapsed:.0f} s")
    print()
    print(render(workloads, names, samples, args))
    for message in errors:
        print(f"  FAILED {message}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "before": checkouts["before"].label, "after": checkouts["after"].label,
            "reps": args.reps, "quick": args.quick, "machine": m, "columns": names,
            "imported": {w.name: w.hello.get("wasifs", w.hello.get("wasmtime")) for w in workers},
            "samples": samples, "errors": errors}, indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {args.json}")
    return 1 if errors else 0


Samples = dict[str, dict[str, dict[str, list[float]]]]


def _measure(workloads: Sequence[Workload], workers: Sequence[Worker],
             wasm_files: dict[str, Path], args: argparse.Namespace, tmp_root: Path,
             log: Any) -> tuple[Samples, list[str]]:
    """samples[workload][metric][column] (one value per rep), and the failures."""
    samples: Samples = {}
    errors: list[str] = []

    def once(worker: Worker, workload: Workload, wargs: Sequence[str]) -> dict[str, Any]:
        tmp = Path(tempfile.mkdtemp(prefix="wasifs-compare-", dir=tmp_root))
        try:
            return worker.run(wasm_files[workload.guest], workload.guest, wargs, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    for workload in workloads:
        wargs = workload.quick_args if args.quick else workload.full_args
        for worker in workers:  # compiles the module (the guest prints its usage)
            once(worker, workload, ())
        fixed = [w for w in workers if w.kind == "wasmtime"]
        pairs = [w for w in workers if w.kind != "wasmtime"]
        for rep in range(1, args.reps + 1):
            # before, after (each backend's pair) on odd reps; after, before on even ones
            order = fixed + (pairs if rep % 2 else _swap_pairs(pairs))
            for worker in order:
                out = once(worker, workload, wargs)
                try:
                    if "error" in out:
                        raise RuntimeError(out["error"])
                    if out["exit"] != 0:
                        raise RuntimeError(f"exit code {out['exit']}: {out['stderr'].strip()}")
                    values = parse_output(workload, out["stdout"].encode())
                except RuntimeError as exc:
                    errors.append(f"{workload.name} rep {rep} {worker.name}: {exc}")
                    log(f"  {workload.name} rep {rep} {worker.name}: FAILED {exc}")
                    continue
                values[WALL.key] = out["wall"]
                for key, value in values.items():
                    samples.setdefault(workload.name, {}).setdefault(key, {}).setdefault(
                        worker.name, []).append(value)
                log(f"  {workload.name} rep {rep}/{args.reps} {worker.name}: "
                    f"{out['wall']:.2f} s")
    return samples, errors


def _swap_pairs(pairs: Sequence[Worker]) -> list[Worker]:
    out = list(pairs)
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def render(workloads: Sequence[Workload], names: Sequence[str], samples: Samples,
           args: argparse.Namespace) -> str:
    """One table: each column's median [min–max], after/before rep by rep, and each
    revision against wasmtime-py."""
    header = ["metric", "unit"]
    if "wasmtime" in names:
        header.append("wasmtime")
    for backend in args.backends:
        header += [f"before/{backend}", f"after/{backend}", "after vs before", ""]
        if "wasmtime" in names:
            header += ["before vs wt", "after vs wt"]
    body = []
    for workload in workloads:
        per = samples.get(workload.name, {})
        for metric in (*workload.metrics, WALL):
            cols = per.get(metric.key, {})
            row = [f"{workload.name}: {metric.label}", metric.unit]
            if "wasmtime" in names:
                row.append(_cell(cols.get("wasmtime")))
            for backend in args.backends:
                before = cols.get(f"before/{backend}", [])
                after = cols.get(f"after/{backend}", [])
                row += [_cell(before), _cell(after)]
                ratios = [speed(metric, a, b) for a, b in zip(after, before, strict=False)
                          if a > 0 and b > 0]
                if ratios:
                    s = summarize(ratios)
                    spread = "" if s.n == 1 else f" [{s.low:.2f}–{s.high:.2f}]"
                    row.append(f"{s.median:.3f}{spread}")
                    row.append("~" if s.low <= 1 <= s.high else "+" if s.low > 1 else "-")
                else:
                    row += ["—", ""]
                if "wasmtime" in names:
                    wt = cols.get("wasmtime", [])
                    for side in (before, after):
                        row.append(_vs(metric, side, wt))
            body.append(row)
    return _table(header, body, args.markdown, 2)


def _vs(metric: Metric, mine: Sequence[float], baseline: Sequence[float]) -> str:
    if not mine or not baseline:
        return "—"
    return f"{speed(metric, statistics.median(mine), statistics.median(baseline)):.2f}×"


def _cell(values: Sequence[float] | None) -> str:
    if not values:
        return "—"
    s = summarize(values)
    return fmt(s.median) if s.n == 1 else f"{fmt(s.median)} [{fmt(s.low)}–{fmt(s.high)}]"


if __name__ == "__main__":
    sys.exit(main())
