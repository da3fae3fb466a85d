"""``benchmarks/compare.py`` runs end to end: two revisions, each in its own worker, beside
wasmtime-py (quick sizes, one rep; speed is never asserted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_compare_two_revisions_quick(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = tmp_path / "compare.json"
    # HEAD exported with git archive against the working tree as it is: nothing is written
    # into the repository
    r = subprocess.run([sys.executable, "benchmarks/compare.py", "--before", "HEAD",
                        "--after", ".", "--export", "--quick", "--reps", "2", "--only",
                        "latency", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "after vs before" in r.stdout and "fd_read, 16 B" in r.stdout
    data = json.loads(out.read_text())
    assert data["columns"] == ["wasmtime", "before/memory", "after/memory"]
    reads = data["samples"]["latency"]["read16"]
    assert all(len(reads[c]) == 2 for c in data["columns"])
    # each worker imported its own checkout's wasifs: the export, then this working tree
    before, after = data["imported"]["before/memory"], data["imported"]["after/memory"]
    assert "wasifs-compare-" in before and Path(before).name == "__init__.py"
    assert Path(after).resolve() == ROOT / "wasifs" / "__init__.py"


def test_compare_refuses_an_unknown_revision() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    r = subprocess.run([sys.executable, "benchmarks/compare.py", "--before", "no-such-rev",
                        "--export", "--quick", "--reps", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no-such-rev" in r.stderr
