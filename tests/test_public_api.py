"""The public surface: exact ``__all__``, lazy imports, the layering contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wasifs

ROOT = Path(__file__).resolve().parent.parent


def test_all_names_resolve_and_are_exact() -> None:
    assert len(set(wasifs.__all__)) == len(wasifs.__all__)
    for name in wasifs.__all__:
        assert getattr(wasifs, name) is not None, name
    assert set(wasifs.__all__) <= set(dir(wasifs))


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wasifs.nope  # noqa: B018


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("wasifs", ("wasmtime", "anyio", "numba", "fs", "fsspec")),
        ("wasifs.wasi", ("wasmtime", "anyio", "numba", "fs", "fsspec")),
        ("wasifs.vfs", ("wasmtime", "anyio", "numba", "fs", "fsspec")),
        ("wasifs.abi", ("wasmtime", "anyio", "numba", "fs", "fsspec")),
        # the engine-neutral configuration of a run, for the async face and other engines
        ("wasifs.config", ("wasmtime", "anyio", "numba", "fs", "fsspec")),
        ("wasifs.interrupt", ("wasmtime", "anyio", "numba", "fs", "fsspec")),
        # anyio only with wasifs.aio: the sync API and the plugin (until an async fixture runs)
        ("wasifs.api", ("anyio", "trio")),
        ("wasifs.pytest_plugin", ("anyio", "trio")),
        ("wasifs.backends.memory", ("wasmtime", "anyio", "numba", "fs")),
        # the binding for Pyodide, where there is no wasmtime, and its persistent mounts
        ("wasifs.bind.pyodide", ("wasmtime", "anyio", "numba", "fs")),
        ("wasifs.backends.browser", ("wasmtime", "anyio", "numba", "fs")),
    ],
)
def test_core_imports_stay_engine_free(module: str, absent: tuple[str, ...]) -> None:
    code = (f"import sys, {module}; "
            f"bad = [m for m in {absent!r} if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_layering_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
