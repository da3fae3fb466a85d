"""The report: the value tables, the speed ratios against the baseline, the header and the
JSON document."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .guests import dist_version, gcc_id
from .runners import Results
from .runtimes import BASELINE, Runtime
from .workloads import WALL, Metric, Workload, fmt


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
        "wasmtime-py": dist_version("wasmtime"),
        "wasmer-sdk": dist_version("wasmer-sdk"),
        "wasifs": dist_version("wasifs"),
        "ziglang": dist_version("ziglang"),
        "gcc": gcc_id() or "none",
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
