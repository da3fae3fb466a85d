"""The wasifs.cuda benchmark runs end to end at tiny sizes (speed is never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cuda_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "res"
    r = subprocess.run([sys.executable, "benchmarks/cuda_bench.py", "--quick", "--cpu-only",
                        "--files", "200", "--mib", "4", "--tmp", str(tmp_path),
                        "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(out.with_suffix(".json").read_text())
    names = {row["name"] for row in doc["rows"]}
    assert "zlib.crc32, 1 thread" in names
    assert any(n.startswith("checksum crc32 ") for n in names)
    assert not any(n.startswith("MISMATCH") for n in doc["notes"])
    assert "| reference (in memory) | zlib.crc32, 1 thread |" in out.with_suffix(".md").read_text()
