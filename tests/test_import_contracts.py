"""The import-linter contracts still catch what they are for.

The package's own modules import each other through the packages' ``__init__``, and the
contracts leave out the imports that load nothing or load only on demand (``if
TYPE_CHECKING:`` re-exports, ``open_backend``'s openers). Each case here copies the package,
adds one import that breaks a rule, and checks that ``lint-imports`` reports that contract
broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    # the guest side reaching fsspec through a backend module, or directly, or through the
    # backends package's own __init__
    "vfs-imports-a-backend-module": ("wasifs/vfs/_table.py",
                                     "from ..backends.memory import MemoryFileSystem",
                                     "vfs and wasi speak only the backend protocol"),
    "wasi-imports-fsspec": ("wasifs/wasi/_core.py", "import fsspec",
                            "vfs and wasi speak only the backend protocol"),
    "backends-init-imports-a-backend-eagerly": (
        "wasifs/backends/__init__.py", "from .native import NativeFileSystem as _N",
        "vfs and wasi speak only the backend protocol"),
    "protocol-imports-fsspec": ("wasifs/backends/_protocol.py", "import fsspec",
                                "vfs and wasi speak only the backend protocol"),
    # upward imports and the fences
    "vfs-imports-path": ("wasifs/vfs/_resolve.py", "from ..path import Path",
                         "the guest side (vfs, wasi) does not use the host-side tools"),
    "backends-import-abi": ("wasifs/backends/_walk.py", "from ..abi import Errno",
                            "backends know nothing of WASI"),
    "wasi-imports-the-engine": ("wasifs/wasi/_memory.py", "import wasmtime",
                                "only bind imports the engine"),
}


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([exe, "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "wasifs", tree / "wasifs",
                    ignore=shutil.ignore_patterns("__pycache__", "*.wasm"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_an_injected_import_breaks_its_contract(case: str, pristine: Path) -> None:
    path, line, contract = CASES[case]
    target = pristine / path
    original = target.read_text()
    target.write_text(original + f"\n{line}  # injected by the test\n")
    try:
        r = _lint(pristine)
    finally:
        target.write_text(original)
    assert r.returncode != 0, r.stdout
    assert f"{contract} BROKEN" in r.stdout, r.stdout


def test_the_copy_keeps_every_contract(pristine: Path) -> None:
    r = _lint(pristine)
    assert r.returncode == 0, r.stdout + r.stderr
