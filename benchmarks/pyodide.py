#!/usr/bin/env python3
"""wasifs under Pyodide (in Node) beside @bjorn3/browser_wasi_shim, on the same guests.

Builds ``benchmarks/guests/latency.c`` and ``seqread.c`` (zig, cached), wasifs's wheel and
fsspec's (offline, ``wasifs.bind._pyodide_pack``), then runs ``benchmarks/pyodide.mjs``: one
Node process in which each guest runs ``--reps`` times under wasifs's Pyodide binding (memory
backend) and under browser_wasi_shim (its in-memory ``PreopenDirectory``), interleaved. Prints
median µs per call (and MiB/s for reads) and the ratio shim / wasifs (>1: wasifs is faster).

    python benchmarks/pyodide.py [--reps 5] [--calls 20000] [--mib 16] [--json out.json]

Needs ``node`` and ``npm ci --prefix js``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasifs.bind._pyodide_pack import wheels  # noqa: E402
from wasifs.toolchain import compile_c  # noqa: E402

GUESTS = ROOT / "benchmarks" / "guests"
LABELS = {
    "sched_yield": "sched_yield (bare crossing)", "clock": "clock_time_get",
    "fdstat": "fd_fdstat_get", "fstat": "fd_filestat_get", "stat": "path_filestat_get",
    "lseek": "fd_seek", "pread16": "fd_pread, 16 B", "read16": "fd_read, 16 B",
    "write16": "fd_write, 16 B", "read_4k": "read, 4 KiB blocks",
}


def build(name: str) -> bytes:
    src = (GUESTS / name).read_text().replace('#include "bench.h"',
                                              (GUESTS / "bench.h").read_text())
    return compile_c(src)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--calls", type=int, default=20000, help="latency: calls per loop")
    p.add_argument("--mib", type=int, default=16, help="seqread: file size in MiB")
    p.add_argument("--json", metavar="FILE")
    opts = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="wasifs-pyodide-bench-") as tmp:
        t = Path(tmp)
        (t / "latency.wasm").write_bytes(build("latency.c"))
        (t / "seqread.wasm").write_bytes(build("seqread.c"))
        job = {"wheels": [str(w) for w in wheels(t / "wheels")], "reps": opts.reps, "runs": [
            {"name": "latency", "wasm": str(t / "latency.wasm"),
             "args": ["/bench", str(opts.calls)]},
            {"name": "seqread", "wasm": str(t / "seqread.wasm"),
             "args": ["/bench", str(opts.mib)]},
        ]}
        (t / "job.json").write_text(json.dumps(job))
        r = subprocess.run(["node", str(ROOT / "benchmarks" / "pyodide.mjs"), str(t / "job.json")],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode:
        print(r.stdout + r.stderr, file=sys.stderr)
        return 1
    res = json.loads(r.stdout.strip().splitlines()[-1])
    v = res["versions"]
    print(f"Pyodide {v['pyodide']} in Node {v['node']}, @bjorn3/browser_wasi_shim {v['shim']}; "
          f"median of {opts.reps} interleaved runs; guests time themselves")
    print(f"\n{'metric':30s} {'wasifs (Pyodide)':>17s} {'browser_wasi_shim':>18s} "
          f"{'shim/wasifs':>12s}")
    rows = {}
    for key, label in LABELS.items():
        metric = key if key in res["pyodide"] else None
        if metric is None and key == "read_4k":  # seqread reports per block size
            metric = next((m for m in res["pyodide"] if "4k" in m.lower()), None)
        if metric is None or metric not in res["shim"]:
            continue
        a = statistics.median(res["pyodide"][metric]) / 1000
        b = statistics.median(res["shim"][metric]) / 1000
        if key == "read_4k":  # seqread counts bytes: µs per byte -> per 4 KiB read, MiB/s
            a, b = a * 4096, b * 4096
            label = f"{label} (MiB/s)"
            ma, mb = 4096 / a / 1.048576, 4096 / b / 1.048576
            rows[label] = {"wasifs_pyodide_us_per_read": a, "browser_wasi_shim_us_per_read": b,
                           "wasifs_pyodide_mib_s": ma, "browser_wasi_shim_mib_s": mb}
            print(f"{label:30s} {a:8.2f} µs {ma:6.0f} {b:8.2f} µs {mb:7.0f} {b / a:11.2f}×")
            continue
        rows[label] = {"wasifs_pyodide_us": a, "browser_wasi_shim_us": b}
        print(f"{label:30s} {a:12.3f} µs {b:15.3f} µs {b / a:11.2f}×")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"rows": rows, "raw": res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
