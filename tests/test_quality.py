"""Static checks that keep the package typed and linted (mypy --strict, ruff)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    exe = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(exe).exists():
        pytest.skip(f"{name} is not installed")
    return exe


def test_mypy_strict_on_the_package() -> None:
    r = subprocess.run([_tool("mypy"), "wasifs"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_on_package_and_tests() -> None:
    r = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "wasifs", "tests",
                        "conformance", "benchmarks"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
