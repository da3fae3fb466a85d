"""The C guests in ``guests/``: built for wasm32-wasi with the ziglang wheel and for the host
with gcc, cached by content and toolchain in ``.cache/``; and the versions of what is installed."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUEST_DIR = HERE / "guests"
CACHE_DIR = HERE / ".cache"
HEADER = GUEST_DIR / "bench.h"
ZIG_FLAGS = ("-target", "wasm32-wasi", "-O2", "-s")
GCC_FLAGS = ("-O2",)


@dataclass(frozen=True)
class Guest:
    """A benchmark program built for wasm32-wasi and, where possible, for the host."""

    name: str
    wasm: bytes
    native: Path | None
    native_error: str | None


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:20]


def _compile_cached(
    source: Path, suffix: str, tool_id: str, command: Callable[[Path], list[str]]
) -> Path:
    """Compile ``source`` once per content + toolchain; return the cached output."""
    key = digest(
        source.read_bytes(),
        HEADER.read_bytes(),
        tool_id.encode(),
        " ".join(command(Path("OUT"))).encode(),
    )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    out = CACHE_DIR / f"{source.stem}-{key}{suffix}"
    if out.exists():
        return out
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    cmd = command(tmp)
    proc = subprocess.run(cmd, cwd=GUEST_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            f"compiling {source.name} failed ({' '.join(cmd)}):\n{proc.stderr.strip()}"
        )
    os.replace(tmp, out)
    return out


def _zig_id() -> str:
    try:
        return "ziglang " + importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            "the ziglang package is needed to build the guests: pip install ziglang"
        ) from exc


def gcc_id() -> str | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    proc = subprocess.run([gcc, "-dumpfullversion"], capture_output=True, text=True)
    return f"gcc {proc.stdout.strip()}" if proc.returncode == 0 else None


def build_guest(name: str, want_native: bool) -> Guest:
    """Build (or fetch from the cache) the wasm and, if asked, the host binary."""
    source = GUEST_DIR / f"{name}.c"
    zig_id = _zig_id()
    wasm_path = _compile_cached(
        source,
        ".wasm",
        zig_id,
        lambda out: [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            *ZIG_FLAGS,
            source.name,
            "-o",
            str(out),
        ],
    )
    native: Path | None = None
    native_error: str | None = None
    if want_native:
        gcc = gcc_id()
        if gcc is None:
            native_error = "no working gcc on PATH"
        else:
            try:
                native = _compile_cached(
                    source,
                    "",
                    gcc,
                    lambda out: ["gcc", *GCC_FLAGS, source.name, "-o", str(out)],
                )
            except RuntimeError as exc:
                native_error = str(exc)
    return Guest(name, wasm_path.read_bytes(), native, native_error)


def dist_version(dist: str) -> str:
    """The installed version of the distribution ``dist``, or "?"."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"
