"""The benchmark harness runs end to end (quick sizes, one rep); speed is never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_harness_quick_run() -> None:
    r = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--reps", "1",
                        "--runtimes", "wasmtime,wasifs-memory,wasifs-native"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Speed relative to wasmtime" in r.stdout
    for workload in ("seqread", "seqwrite", "latency", "smallfiles", "treewalk"):
        assert workload in r.stdout


def test_benchmark_command_line_from_anywhere(tmp_path: Path) -> None:
    """``benchmarks/run.py`` imports its package from any working directory, and
    ``python -m benchmarks.run`` is the same command."""
    script = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    assert "workloads: seqread, seqwrite, latency" in script.stdout
    module = subprocess.run([sys.executable, "-m", "benchmarks.run", "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert module.returncode == 0, module.stderr
    assert module.stdout.replace("run.py", "") == script.stdout.replace("run.py", "")
