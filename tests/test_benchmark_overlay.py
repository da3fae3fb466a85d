"""The overlay benchmark (``benchmarks/overlay.py``) runs end to end at a tiny size, from any
directory; speed is never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_overlay_benchmark_runs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "overlay.py"), "--count", "30",
                        "--reps", "1", "--markdown"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    header = ("| metric | wasmtime | wasifs-memory | wasifs-native | overlay-lower | "
              "overlay-native-lower | overlay-copied-up |")
    assert r.stdout.count(header) == 2
    for row in ("| stat (files/s) |", "| open+read+close (files/s) |", "| readdir (entries/s) |",
                "| open+read+close | 1.00× |"):
        assert row in r.stdout
