"""The streaming benchmark (``benchmarks/streaming.py``) runs end to end at a tiny size, from
any directory; speed is never asserted, the memory columns are filled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_streaming_benchmark_runs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "streaming.py"), "--size", "4M",
                        "--markdown", "--tmp", str(tmp_path)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "## stdin-to-file" in r.stdout and "## file-to-stdout" in r.stdout
    assert r.stdout.count("| column | MiB/s | vs wasmtime | peak RSS growth (MiB) | "
                          "peak Python heap (MiB) |") == 2
    for column in ("wasmtime", "sync", "asyncio", "trio"):
        assert r.stdout.count(f"| {column} | ") == 2
    assert "FAILED" not in r.stdout


def test_streaming_benchmark_refuses_a_bad_size() -> None:
    r = subprocess.run([sys.executable, "-m", "benchmarks.streaming", "--size", "3K"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "multiple of 1M" in r.stderr
