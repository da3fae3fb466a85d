"""Build WebAssembly guests for tests: C through zig's ``cc``, WAT through wasmtime.

``compile_c`` runs ``python -m ziglang cc -target wasm32-wasi -O2 -s`` (the ``ziglang``
wheel ships a complete clang + wasi-libc toolchain) and caches the resulting module by
content, so that a test suite pays for each guest once per machine. ``wat_to_wasm`` turns
WebAssembly text into a binary module.

The cache lives in ``$WASIFS_CACHE_DIR`` when set, else in ``~/.cache/wasifs/guests``. Its
key is the SHA-256 of the source, the flags and the zig version; entries are written to a
temporary file and renamed into place, so concurrent builders never see half a module.

Only the standard library is imported at module level (``wasmtime`` is imported lazily by
``wat_to_wasm``), so this module can be used by test plugins before anything else loads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ("ToolchainError", "compile_c", "wat_to_wasm", "zig_version", "default_cache_dir")

#: Flags every C guest is compiled with (before the caller's own flags).
BASE_FLAGS: tuple[str, ...] = ("-target", "wasm32-wasi", "-O2", "-s")

_COMPILE_TIMEOUT_S = 600
_zig_version: str | None = None


class ToolchainError(RuntimeError):
    """A guest could not be built: the compiler is missing or rejected the source.

    ``stderr`` holds the compiler's diagnostics (empty when the compiler never ran).
    """

    def __init__(self, message: str, stderr: str = "") -> None:
        self.stderr = stderr
        super().__init__(f"{message}\n{stderr}".rstrip() if stderr else message)


def default_cache_dir() -> Path:
    """``$WASIFS_CACHE_DIR`` if set (and not empty), else ``~/.cache/wasifs/guests``."""
    env = os.environ.get("WASIFS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wasifs" / "guests"


def _require_ziglang() -> None:
    if importlib.util.find_spec("ziglang") is None:
        raise ToolchainError(
            f"cannot compile C guests: the 'ziglang' package is not installed for "
            f"{sys.executable} (pip install ziglang, or pip install 'wasifs[test]')"
        )


def zig_version() -> str:
    """The version of the ``ziglang`` toolchain (part of every cache key)."""
    global _zig_version
    if _zig_version is None:
        _require_ziglang()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "ziglang", "version"],
                capture_output=True, text=True, timeout=120, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError(f"cannot run 'python -m ziglang version': {exc}") from exc
        if proc.returncode != 0:
            raise ToolchainError("'python -m ziglang version' failed", proc.stderr)
        _zig_version = proc.stdout.strip()
    return _zig_version


def _source_bytes(source: str | bytes | Path) -> tuple[bytes, Path | None]:
    """The source text (for the cache key) and, for a path, the file to compile."""
    if isinstance(source, Path):
        try:
            return source.read_bytes(), source
        except OSError as exc:
            raise ToolchainError(f"cannot read C source {source}: {exc}") from exc
    if isinstance(source, str):
        return source.encode("utf-8"), None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    raise TypeError(f"compile_c() expects str, bytes or pathlib.Path, not {type(source).__name__}")


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def compile_c(
    source: str | bytes | Path,
    *,
    flags: Sequence[str] = (),
    cache_dir: Path | None = None,
) -> bytes:
    """Compile one C translation unit to a ``wasm32-wasi`` command module; return its bytes.

    ``source`` is C text (``str``/``bytes``) or a :class:`~pathlib.Path` to a ``.c`` file (then
    ``#include "..."`` resolves next to it; note that only the file's own bytes are part of
    the cache key, not the headers it includes). ``flags`` are extra compiler flags
    (``-DNAME=1``, ``-Wall`` ...). The module is cached under ``cache_dir`` (default
    :func:`default_cache_dir`).

    Raises :class:`ToolchainError` with the compiler's stderr when compilation fails, and
    when ``ziglang`` is not installed.
    """
    if isinstance(flags, str):
        raise TypeError("flags must be a sequence of strings, not a single string")
    flag_list = [str(f) for f in flags]
    text, path = _source_bytes(source)
    version = zig_version()
    key = hashlib.sha256()
    for part in (version.encode(), b"\0", "\0".join(BASE_FLAGS).encode(), b"\0",
                 "\0".join(flag_list).encode(), b"\0", text):
        key.update(part)
    digest = key.hexdigest()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = cache / f"{digest}.wasm"
    try:
        return cached.read_bytes()
    except OSError:
        pass

    with tempfile.TemporaryDirectory(prefix="wasifs-cc-") as tmp:
        out = Path(tmp) / "guest.wasm"
        if path is None:
            src = Path(tmp) / "guest.c"
            src.write_bytes(text)
        else:
            src = path
        cmd = [sys.executable, "-m", "ziglang", "cc", *BASE_FLAGS, *flag_list,
               str(src), "-o", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=_COMPILE_TIMEOUT_S, check=False)
        except OSError as exc:
            raise ToolchainError(f"cannot run the C compiler ({' '.join(cmd)}): {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise ToolchainError(
                f"the C compiler did not finish within {_COMPILE_TIMEOUT_S} s: {' '.join(cmd)}"
            ) from exc
        name = str(path) if path is not None else "<string>"
        if proc.returncode != 0:
            raise ToolchainError(
                f"compiling {name} failed (exit status {proc.returncode})", proc.stderr
            )
        try:
            wasm = out.read_bytes()
        except OSError as exc:
            raise ToolchainError(
                f"the compiler reported success but wrote no module for {name}", proc.stderr
            ) from exc
    try:
        _write_atomic(cached, wasm)
    except OSError:
        pass  # an unwritable cache only costs speed
    return wasm


def wat_to_wasm(text: str | bytes) -> bytes:
    """Assemble WebAssembly text to a binary module (``wasmtime.wat2wasm``).

    Raises :class:`ToolchainError` with the parser's message when the text is invalid.
    """
    try:
        import wasmtime
    except ImportError as exc:  # pragma: no cover - wasmtime is a hard dependency
        raise ToolchainError("wat_to_wasm() needs the 'wasmtime' package") from exc
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raise ToolchainError("invalid WebAssembly text", str(exc)) from exc
