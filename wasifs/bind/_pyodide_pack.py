"""Wheels for Pyodide, made offline: wasifs's own and its pure-Python dependencies.

The ``pyodide`` npm package carries no micropip, so a page or a Node script installs wasifs by
unpacking wheels into ``site-packages`` (a wheel is a zip file). :func:`wheels` makes them
without the network: wasifs's wheel is built from this checkout (``pip wheel --no-deps
--no-build-isolation``), or, for an installed wasifs, packed from its installed files, as are
its pure-Python dependencies (fsspec). wasmtime is not among them: its requirement carries
the environment marker ``sys_platform != 'emscripten'``.

    python -m wasifs.bind._pyodide_pack DIR     # prints the wheel paths
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

__all__ = ("PURE_DEPENDENCIES", "pack_installed", "wheels")

#: The dependencies wasifs needs under Pyodide (all pure Python).
PURE_DEPENDENCIES = ("fsspec",)

_ROOT = Path(__file__).resolve().parent.parent.parent


def pack_installed(name: str, dest: Path) -> Path:
    """A wheel of the installed distribution ``name`` (its files as installed, no bytecode)."""
    dist = importlib.metadata.distribution(name)
    version = dist.version
    norm = dist.metadata["Name"].replace("-", "_")
    target = dest / f"{norm}-{version}-py3-none-any.whl"
    files = [f for f in dist.files or ()
             if "__pycache__" not in f.parts and f.suffix != ".pyc"
             and not str(f).startswith("..")]
    record: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            path = Path(str(dist.locate_file(f)))
            if not path.is_file() or f.name == "RECORD":
                continue
            data = path.read_bytes()
            z.writestr(str(f), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{f},sha256={digest.decode()},{len(data)}")
        info = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")),
                    f"{norm}-{version}.dist-info")
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return target


def _source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted((_ROOT / "wasifs").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes())
    h.update((_ROOT / "pyproject.toml").read_bytes())
    return h.hexdigest()[:16]


def _wasifs_wheel(dest: Path) -> Path:
    if not (_ROOT / "pyproject.toml").is_file():  # an installed wasifs: pack what is there
        return pack_installed("wasifs", dest)
    out = dest / f"wasifs-build-{_source_digest()}"
    built = sorted(out.glob("wasifs-*.whl"))
    if not built:
        out.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "--no-index", "-q", "-w", str(out), str(_ROOT)],
            capture_output=True, text=True, timeout=300)
        built = sorted(out.glob("wasifs-*.whl"))
        if r.returncode or not built:
            raise RuntimeError(f"building wasifs's wheel failed:\n{r.stdout}{r.stderr}")
    return built[-1]


def wheels(dest: Path) -> list[Path]:
    """wasifs's wheel and its pure-Python dependencies' wheels, written under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    return [_wasifs_wheel(dest), *(pack_installed(name, dest) for name in PURE_DEPENDENCIES)]


if __name__ == "__main__":
    for w in wheels(Path(sys.argv[1] if len(sys.argv) > 1 else "dist-pyodide")):
        print(w)
