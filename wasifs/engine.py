"""Engines and compiled modules: the engines wasifs makes, :func:`load_module` and its caches.

Compiling a large module is the slowest thing a run does (seconds to minutes), so every path
that compiles goes through :func:`load_module`, which keeps compiled modules

- in this process, per engine and module content (the last :data:`MODULE_CACHE_ENTRIES`), and
- on disk under :func:`module_cache_dir`, for engines whose configuration is known (the ones
  made by :func:`get_engine`, :func:`default_engine` among them), so that the next process
  loads the machine code instead of compiling again. The disk cache is bounded
  (:func:`module_cache_limit`, least recently used entries go first), written atomically
  (temporary file, then rename) and safe to share between concurrent processes. A small
  index keyed by a file's path, size, times and inode remembers its content digest, so a
  module file is not read and hashed again by every process that runs it.

wasifs's engines are made with ``epoch_interruption`` on, which is what lets a run stop a
guest that computes (Ctrl-C, :class:`wasifs.CancelToken`). A store you make yourself on such
an engine traps at once unless it has an epoch deadline (``store.set_epoch_deadline``); a
:class:`wasifs.WasiHost` on the store sets one.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wasmtime

from .abi import MODULE, SYSCALLS
from .bind import remember_epochs

__all__ = (
    "DEFAULT_ENGINE_SETTINGS",
    "MODULE_CACHE_ENTRIES",
    "ModuleSource",
    "default_engine",
    "engine_settings",
    "get_engine",
    "load_module",
    "module_cache_dir",
    "module_cache_limit",
    "parse_size",
    "wasi_imports",
)

ModuleSource = bytes | bytearray | str | os.PathLike[str] | wasmtime.Module

#: The ``wasmtime.Config`` settings of the engines wasifs makes unless told otherwise.
DEFAULT_ENGINE_SETTINGS: Mapping[str, bool | int | str] = {
    "epoch_interruption": True,
    # A linear memory never moves (on a 64-bit host a 32-bit memory has its whole 4 GiB
    # reserved anyway): the binding can then trust its view of memory between calls.
    **({"memory_may_move": False}
       if sys.maxsize > 2**32 and isinstance(getattr(wasmtime.Config, "memory_may_move", None),
                                             property) else {}),
}
#: How many compiled modules this process keeps (per engine and content).
MODULE_CACHE_ENTRIES = 32
#: The default bound of the on-disk cache (``$WASIFS_MODULE_CACHE_SIZE`` overrides it).
DEFAULT_MODULE_CACHE_LIMIT = 2 << 30
_CACHE_FORMAT = "w1"

_lock = threading.Lock()
_engines: dict[tuple[tuple[str, Any], ...], wasmtime.Engine] = {}
_settings_of: dict[int, tuple[wasmtime.Engine, tuple[tuple[str, Any], ...]]] = {}
# (id(engine), sha256) -> (engine, module): the engine is kept so that its id stays unique
_modules: OrderedDict[tuple[int, str], tuple[wasmtime.Engine, wasmtime.Module]] = OrderedDict()


# ---------------------------------------------------------------------------- engines
def _settings_key(settings: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    merged = {**DEFAULT_ENGINE_SETTINGS, **settings}
    for name, value in merged.items():
        if not isinstance(value, (bool, int, str)):
            raise TypeError(f"engine setting {name}={value!r}: expected bool, int or str")
        attr = getattr(wasmtime.Config, name, None)
        if not isinstance(attr, property) or name.startswith("_"):
            raise ValueError(f"{name!r} is not a wasmtime.Config setting")
    return tuple(sorted(merged.items()))


def get_engine(**settings: bool | int | str) -> wasmtime.Engine:
    """The engine shared by everything that asks for these ``wasmtime.Config`` settings
    (on top of :data:`DEFAULT_ENGINE_SETTINGS`), made on first use. Modules compiled for
    it are cached on disk, since its configuration is known.

    >>> get_engine(consume_fuel=True)      # an engine that can meter fuel
    """
    key = _settings_key(settings)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            config = wasmtime.Config()
            for name, value in key:
                setattr(config, name, value)
            engine = wasmtime.Engine(config)
            _engines[key] = engine
            _settings_of[id(engine)] = (engine, key)
    remember_epochs(engine, bool(dict(key).get("epoch_interruption")))
    return engine


def default_engine() -> wasmtime.Engine:
    """The engine runs use when given none: :func:`get_engine` with the default settings
    (epoch interruption on)."""
    return get_engine()


def engine_settings(engine: wasmtime.Engine) -> dict[str, Any] | None:
    """The settings a wasifs-made engine was made with; ``None`` for any other engine."""
    with _lock:
        known = _settings_of.get(id(engine))
    if known is None or known[0] is not engine:
        return None
    return dict(known[1])


# ---------------------------------------------------------------------------- sources
def _wat_or_wasm(data: bytes, where: str) -> bytes:
    if data[:4] == b"\x00asm":
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text.lstrip().startswith("("):
        raise ValueError(f"{where}neither WebAssembly nor WAT text "
                         f"(it starts with {data[:8]!r})")
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raise ValueError(f"{where}invalid WAT text: {_first_line(exc)}") from exc


def _module_bytes(source: bytes | bytearray | str | os.PathLike[str]) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return _wat_or_wasm(bytes(source), "module bytes are ")
    if isinstance(source, str) and source.lstrip().startswith("("):
        return _wat_or_wasm(source.encode("utf-8"), "module text: ")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(2, "module file not found", str(path)) from None
        except IsADirectoryError:
            raise IsADirectoryError(21, "the module is a directory", str(path)) from None
        return _wat_or_wasm(data, f"{path}: ")
    raise TypeError(
        f"module must be bytes, WAT text, a path or a wasmtime.Module, not {type(source).__name__}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# Digests of recently loaded sources, so that running the same module again in this process
# neither hashes nor reads it: bytes by identity (the object is kept, so its id stays its
# own), files by (path, size, times, inode).
_digest_memo: OrderedDict[Any, tuple[Any, str]] = OrderedDict()


def _release_at_exit() -> None:
    """Drop the cached modules and engines while wasmtime can still free them: at
    interpreter shutdown its finalizers would run after its own module was torn down."""
    import gc

    with _lock:
        _modules.clear()
        _digest_memo.clear()
        _settings_of.clear()
        _engines.clear()
    gc.collect()


atexit.register(_release_at_exit)
#: Only large bytes objects are remembered (small ones hash in microseconds), and only a few:
#: remembering one keeps it alive.
_MEMO_MIN_BYTES = 1 << 20
_MEMO_MAX_BYTES_OBJECTS = 4


def _file_key(source: str | os.PathLike[str]) -> tuple[Any, ...] | None:
    try:
        st = os.stat(source)
    except OSError:
        return None
    return ("file", os.path.abspath(source), st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            st.st_ino, st.st_dev)


def _remember(key: tuple[Any, ...], source: object, digest: str) -> None:
    with _lock:
        _digest_memo[key] = (source if key[0] == "bytes" else None, digest)
        _digest_memo.move_to_end(key)
        kept = [k for k in _digest_memo if k[0] == "bytes"]
        for k in kept[:-_MEMO_MAX_BYTES_OBJECTS]:  # the oldest bytes objects go first
            del _digest_memo[k]
        while len(_digest_memo) > MODULE_CACHE_ENTRIES:
            _digest_memo.popitem(last=False)


def _bytes_and_digest(source: bytes | bytearray | str | os.PathLike[str], cache: Path | None
                      ) -> tuple[bytes | None, str]:
    """(the module bytes, or None when only the digest was needed; its sha256 hex)."""
    key: tuple[Any, ...] | None = None
    if isinstance(source, bytes) and len(source) >= _MEMO_MIN_BYTES:
        key = ("bytes", id(source))
    elif isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("("):
        key = _file_key(source)
    if key is not None:
        with _lock:
            hit = _digest_memo.get(key)
        if hit is not None and (key[0] != "bytes" or hit[0] is source):
            return None, hit[1]
    index_key = repr(key[1:]) if key is not None and key[0] == "file" else None
    if index_key is not None and cache is not None:
        digest = _read_index(cache, index_key)
        if digest is not None:
            _remember(key, source, digest)  # type: ignore[arg-type]
            return None, digest
    data = _module_bytes(source)
    digest = _sha256(data)
    if key is not None:
        _remember(key, source, digest)
    if index_key is not None and cache is not None:
        _write_atomic(cache / "index", _short_hash(index_key),
                      f"{digest}\n{index_key}".encode("utf-8", "surrogateescape"))
    return data, digest


# ---------------------------------------------------------------------------- disk cache
def module_cache_dir() -> Path | None:
    """Where compiled modules are kept between processes: ``$WASIFS_MODULE_CACHE`` (a
    directory, or ``0``/``off`` to disable), else ``~/.cache/wasifs/modules``."""
    env = os.environ.get("WASIFS_MODULE_CACHE")
    if env is not None and env.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "wasifs" / "modules"


def parse_size(text: str) -> int:
    """A byte count with an optional binary suffix: ``"512M"`` is 536,870,912."""
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    for suffix, factor in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)):
        if s.endswith(suffix):
            s, scale = s[:-1], factor
            break
    try:
        value = float(s) * scale
    except ValueError:
        raise ValueError(f"not a size: {text!r} (a number of bytes, optionally with K, M, G "
                         "or T)") from None
    if value < 0:
        raise ValueError(f"a size cannot be negative: {text!r}")
    return int(value)


def module_cache_limit() -> int:
    """The most bytes the on-disk module cache keeps: ``$WASIFS_MODULE_CACHE_SIZE`` (bytes,
    or with a ``K``/``M``/``G`` suffix), else 2 GiB. Least recently used entries are removed
    when a new one would go over it."""
    env = os.environ.get("WASIFS_MODULE_CACHE_SIZE")
    return parse_size(env) if env else DEFAULT_MODULE_CACHE_LIMIT


_build_id: str | None = None


def _engine_build() -> str:
    """Identifies the installed wasmtime library (its size and time), without importing
    ``importlib.metadata``; a compiled module is only valid for the library that made it."""
    global _build_id
    if _build_id is None:
        import platform

        from wasmtime import _ffi

        try:
            st = os.stat(_ffi.filename)
            lib = f"{st.st_size}:{st.st_mtime_ns}"
        except (AttributeError, OSError):  # pragma: no cover - a vendored wasmtime
            lib = "unknown"
        _build_id = f"{lib}:{platform.machine()}"
    return _build_id


def _short_hash(text: str) -> str:
    """A file name for ``text`` (not collision-proof: what it names is checked on use)."""
    import zlib

    data = text.encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def _entry_name(digest: str, settings: tuple[tuple[str, Any], ...]) -> str:
    # wasmtime refuses to load an entry made with another configuration, so a name clash
    # costs a compile, never a wrong module
    config = _short_hash(f"{_CACHE_FORMAT}|{settings!r}|{_engine_build()}")
    return f"{digest[:40]}-{config}.cwasm"


def _read_index(cache: Path, index_key: str) -> str | None:
    """The content digest an index entry remembers for a file, when it is about that file."""
    path = cache / "index" / _short_hash(index_key)
    try:
        with open(path, "rb") as f:
            text = f.read(64 << 10).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    digest, _, key = text.partition("\n")
    if key != index_key or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    _touch(path)
    return digest


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _write_atomic(directory: Path, name: str, data: bytes) -> bool:
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, directory / name)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        return False  # a cache that cannot be written only costs the next run some time
    return True


def _load_from_disk(engine: wasmtime.Engine, cache: Path, name: str) -> wasmtime.Module | None:
    path = cache / name
    try:
        module = wasmtime.Module.deserialize_file(engine, str(path))
    except (OSError, wasmtime.WasmtimeError):
        return None  # missing, or compiled by an incompatible engine: compile again
    _touch(path)
    return module


def _save_to_disk(module: wasmtime.Module, cache: Path, name: str) -> None:
    if _write_atomic(cache, name, bytes(module.serialize())):
        _evict(cache, module_cache_limit())


def _evict(cache: Path, limit: int) -> None:
    """Remove the least recently used entries until the cache holds at most ``limit`` bytes."""
    entries: list[tuple[int, int, Path]] = []
    for directory in (cache, cache / "index"):
        try:
            with os.scandir(directory) as it:
                for e in it:
                    if not e.is_file(follow_symlinks=False):
                        continue
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    # a file takes at least a block; temporary files of live writers stay
                    if not e.name.startswith(".tmp-"):
                        entries.append((st.st_mtime_ns, max(st.st_size, 4096), Path(e.path)))
        except OSError:
            continue
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        try:
            path.unlink()
        except OSError:
            pass
        total -= size


# ---------------------------------------------------------------------------- loading
def _compile(engine: wasmtime.Engine, data: bytes) -> wasmtime.Module:
    """Compile; on the main thread the compile runs on a worker so that Ctrl-C (raised in
    the main thread while it waits) is not held up by a compile of minutes."""
    if threading.current_thread() is not threading.main_thread() or len(data) < (1 << 20):
        return wasmtime.Module(engine, data)
    out: list[wasmtime.Module | BaseException] = []

    def work() -> None:
        try:
            out.append(wasmtime.Module(engine, data))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            out.append(exc)

    worker = threading.Thread(target=work, name="wasifs-compile", daemon=True)
    worker.start()
    worker.join()
    result = out[0]
    if isinstance(result, BaseException):
        raise result
    return result


def load_module(source: ModuleSource, engine: wasmtime.Engine | None = None) -> wasmtime.Module:
    """Compile (or reuse) a module: wasm bytes, WAT text, a ``.wasm``/``.wat`` path, or a
    ``wasmtime.Module`` (returned as is).

    Compiled modules are kept per engine and content in this process, and for engines made
    by wasifs (:func:`default_engine`, :func:`get_engine`) also on disk under
    :func:`module_cache_dir`, so that another process running the same module does not
    compile it again. An entry made by another wasmtime build is never used.

    :raises ValueError: the bytes are neither a valid module nor WAT text.
    """
    if isinstance(source, wasmtime.Module):
        return source
    engine = engine if engine is not None else default_engine()
    settings = _settings_of.get(id(engine))
    cache = module_cache_dir() if settings is not None and settings[0] is engine else None
    data, digest = _bytes_and_digest(source, cache)
    key = (id(engine), digest)
    with _lock:
        cached = _modules.get(key)
        if cached is not None:
            _modules.move_to_end(key)
            return cached[1]
    name = _entry_name(digest, settings[1]) if cache is not None and settings else ""
    module = _load_from_disk(engine, cache, name) if cache is not None else None
    if module is None:
        if data is None:
            data = _module_bytes(source)
        try:
            module = _compile(engine, data)
        except wasmtime.WasmtimeError as exc:
            raise ValueError(f"not a valid WebAssembly module: {_first_line(exc)}") from exc
        if cache is not None:
            _save_to_disk(module, cache, name)
    with _lock:
        _modules[key] = (engine, module)
        while len(_modules) > MODULE_CACHE_ENTRIES:
            _modules.popitem(last=False)
    return module


def wasi_imports(module: wasmtime.Module) -> tuple[list[str], list[str]]:
    """(the preview1 functions the module imports, its other imports as ``module.name``)."""
    wasi, other = [], []
    for imp in module.imports:
        if imp.module == MODULE and imp.name in SYSCALLS:
            wasi.append(imp.name)
        else:
            other.append(f"{imp.module}.{imp.name}")
    return wasi, other
