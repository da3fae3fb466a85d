#!/usr/bin/env python3
"""What the audit log, the metrics and the sandbox wrapper cost, beside wasmtime-py.

::

    python benchmarks/observe.py                 # latency and smallfiles, 5 reps
    python benchmarks/observe.py --quick --reps 3
    python benchmarks/observe.py --json observe.json

The columns, run interleaved within each rep (the order rotates from rep to rep) after one
untimed warm-up run each, on the C guests of ``run.py`` (``latency``, ``smallfiles``):

* ``wasmtime``: wasmtime-py's built-in WASI, a tmpfs directory preopened (the reference);
* ``off``: ``wasifs.run`` on a ``MemoryFileSystem``, no audit, no metrics (the default);
* ``metrics``: the same with ``metrics=wasifs.observe.Metrics()``;
* ``audit``: the same with ``audit=JsonLinesSink(<file on tmpfs>)``, every filesystem call
  written as a JSON line;
* ``audit+metrics``: both;
* ``sandbox``: ``SandboxFileSystem(MemoryFileSystem(), quota=<generous>)`` (every quota set,
  none reached: the accounting's cost), no audit, no metrics.

"off" is the cost of audit and metrics when they are off: the core's own methods, not
wrapped (``tests/test_observe.py`` checks that); ``benchmarks/compare.py --before <a revision
without them>`` measures it against the code before they existed. The table shows, per
metric, the median of each column and each column's speed relative to ``off`` and to
``wasmtime`` (median/median; >1 is faster). Exit status 0, 1 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: benchmarks/ is importable from its parent
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from .guests import Guest, build_guest
from .runners import parse_output, pick_tmp_root
from .runtimes import GENEROUS_QUOTA, RunOutput, WasmtimeRuntime
from .workloads import WORKLOADS, Metric, Workload, fmt

COLUMNS = ("wasmtime", "off", "metrics", "audit", "audit+metrics", "sandbox")


class _Wasifs:
    """``wasifs.run`` on a fresh in-memory filesystem at /bench, with ``options(tmp)``."""

    def __init__(self, name: str, options: Callable[[Path], dict[str, Any]],
                 sandbox: bool = False) -> None:
        import wasifs
        from wasifs.backends import Quota, SandboxFileSystem

        self.name = name
        self._options = options
        self._run = wasifs.run
        quota = Quota(**GENEROUS_QUOTA)
        self._fs: Callable[[], Any] = (
            (lambda: SandboxFileSystem(wasifs.MemoryFileSystem(), quota=quota)) if sandbox
            else wasifs.MemoryFileSystem)

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        options = self._options(tmp)
        t0 = time.perf_counter()
        try:
            result = self._run(guest.wasm, args=(guest.name, "/bench", *args),
                               mounts={"/bench": self._fs()}, **options)
        finally:
            sink = options.get("audit")
            if sink is not None:
                sink.close()
        return RunOutput(int(result.exit_code), bytes(result.stdout), bytes(result.stderr),
                         time.perf_counter() - t0)


def _audit(tmp: Path) -> dict[str, Any]:
    from wasifs.observe import JsonLinesSink

    return {"audit": JsonLinesSink(tmp / "audit.jsonl")}


def _metrics(_tmp: Path) -> dict[str, Any]:
    from wasifs.observe import Metrics

    return {"metrics": Metrics()}


def make_columns() -> dict[str, Any]:
    wasmtime = WasmtimeRuntime()
    problem = wasmtime.unavailable()
    if problem:
        raise SystemExit(f"wasmtime: {problem}")
    return {
        "wasmtime": wasmtime,
        "off": _Wasifs("off", lambda _tmp: {}),
        "metrics": _Wasifs("metrics", _metrics),
        "audit": _Wasifs("audit", _audit),
        "audit+metrics": _Wasifs("audit+metrics", lambda tmp: {**_audit(tmp), **_metrics(tmp)}),
        "sandbox": _Wasifs("sandbox", lambda _tmp: {}, sandbox=True),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="the workloads' small sizes")
    p.add_argument("--only", default="latency,smallfiles")
    p.add_argument("--tmp", default=None, help="per-run host folders (default /dev/shm)")
    p.add_argument("--json", default=None, help="write the samples to this file")
    ns = p.parse_args(argv)
    workloads = [WORKLOADS[name] for name in ns.only.split(",")]
    columns = make_columns()
    tmp_root, where = pick_tmp_root(ns.tmp)
    print(f"# audit, metrics and sandbox overhead; {ns.reps} reps, tmp {where}", flush=True)
    samples: dict[str, dict[str, dict[str, list[float]]]] = {}
    failed = False
    for workload in workloads:
        guest = build_guest(workload.guest, want_native=False)
        args = workload.quick_args if ns.quick else workload.full_args
        order = list(COLUMNS)
        for rep in range(-1, ns.reps):  # rep -1: the untimed warm-up (compiles the module)
            for name in order:
                with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
                    out = columns[name].run(guest, args, Path(tmp))
                if out.exit_code != 0:
                    print(f"{workload.name} {name}: exit {out.exit_code}: "
                          f"{out.stderr.decode(errors='replace')[-400:]}", file=sys.stderr)
                    failed = True
                    continue
                if rep < 0:
                    continue
                for key, value in parse_output(workload, out.stdout).items():
                    samples.setdefault(workload.name, {}).setdefault(key, {}) \
                        .setdefault(name, []).append(value)
            order = order[1:] + order[:1]  # no column always runs right after another
        print(render(workload, samples.get(workload.name, {})), flush=True)
    if ns.json:
        Path(ns.json).write_text(json.dumps(samples, indent=1))
    return 1 if failed else 0


def render(workload: Workload, values: dict[str, dict[str, list[float]]]) -> str:
    head = ["metric", "unit", *COLUMNS, *(f"{c}/off" for c in COLUMNS[2:]), "off/wasmtime",
            *(f"{c}/wasmtime" for c in COLUMNS[2:])]
    lines = [f"\n## {workload.name}", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for metric in workload.metrics:
        per = values.get(metric.key, {})
        med = {c: statistics.median(per[c]) for c in COLUMNS if per.get(c)}
        row = [metric.label, metric.unit, *(fmt(med[c]) if c in med else "—" for c in COLUMNS)]

        row += [_speed(metric, med, c, "off") for c in COLUMNS[2:]]
        row += [_speed(metric, med, c, "wasmtime") for c in COLUMNS[1:]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _speed(metric: Metric, med: dict[str, float], a: str, b: str) -> str:
    """How fast column ``a`` is relative to ``b`` (>1: faster)."""
    if a not in med or b not in med:
        return "—"
    ratio = med[a] / med[b] if metric.higher_is_better else med[b] / med[a]
    return f"{ratio:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
