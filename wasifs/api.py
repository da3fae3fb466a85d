"""The synchronous host API: run a guest (``run``), or embed one in your own linker (``WasiHost``)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import wasmtime

from .abi import MODULE, SYSCALLS
from .backends import open_backend
from .backends._protocol import Backend
from .bind.wasmtime import BindingMode, WasmtimeBinding
from .errors import GuestTrap, ProcExit, WasifsError
from .stdio import CaptureSink, Sink, Source, as_sink, as_source
from .vfs import Preopen, mount_preopens
from .wasi import WasiCore

__all__ = (
    "FileSink",
    "Mount",
    "RunResult",
    "WasiHost",
    "GuestExitError",
    "LinkError",
    "default_engine",
    "load_module",
    "module_cache_dir",
    "instantiate",
    "GuestInstance",
    "run",
    "TRAP_EXIT_CODE",
)

#: The exit code a run reports when the guest trapped (as a shell reports SIGABRT).
TRAP_EXIT_CODE = 134

ModuleSource = bytes | bytearray | str | os.PathLike[str] | wasmtime.Module
MountSource = Backend | str | os.PathLike[str]


class LinkError(WasifsError):
    """The module imports something that nobody provides."""


class GuestExitError(WasifsError):
    """A run with ``check=True`` ended with a non-zero exit code or a trap."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        what = (f"trapped: {result.trap}" if result.trap is not None
                else f"exited with code {result.exit_code}")
        tail = result.stderr[-2000:].decode("utf-8", "replace").strip()
        super().__init__(f"the guest {what}" + (f"\n--- stderr ---\n{tail}" if tail else ""))


@dataclass(frozen=True)
class Mount:
    """A filesystem to mount: a backend or a host directory, optionally read-only."""

    source: MountSource
    readonly: bool = False


@dataclass
class RunResult:
    """What a finished guest left behind."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    #: the trap message when the guest trapped (``exit_code`` is then ``TRAP_EXIT_CODE``)
    trap: str | None = None
    #: guest path -> the backend mounted there, to inspect the files the guest left
    mounts: dict[str, Backend] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.trap is None

    def check(self) -> RunResult:
        """Raise :class:`GuestExitError` unless the guest exited with 0; returns self."""
        if not self.ok:
            raise GuestExitError(self)
        return self


class FileSink:
    """A stdout/stderr sink that writes into a file on a backend (inside the virtual
    filesystem), e.g. ``stdout=FileSink(fs, "logs/out.txt")``. Parent directories must exist;
    the file is created (truncated unless ``append``) when the run starts, and symlinks on the
    way are not followed."""

    def __init__(self, backend: MountSource, path: str, *, append: bool = False) -> None:
        self.backend = open_backend(backend)
        parts = [p for p in path.strip("/").split("/") if p and p != "."]
        if not parts or ".." in parts:
            raise ValueError(f"FileSink needs a path inside the filesystem, got {path!r}")
        self.path = "/".join(parts)
        b = self.backend
        handles = [b.root()]
        try:
            for name in parts[:-1]:
                handles.append(b.opendir(handles[-1], name))
            self._file = b.open_file(handles[-1], parts[-1], read=False, write=True,
                                     create=True, truncate=not append)
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot open {path!r} for output: {exc.strerror}",
                            path) from exc
        finally:
            for h in handles:
                b.close(h)
        self._closed = False

    def write(self, data: bytes) -> int:
        n, _size = self.backend.append(self._file, data)
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.backend.close(self._file)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ---------------------------------------------------------------------------- modules
_engine_lock = threading.Lock()
_default_engine: wasmtime.Engine | None = None
# (id(engine), sha256) -> (engine, module): the engine is kept so that its id stays unique
_module_cache: OrderedDict[tuple[int, str], tuple[wasmtime.Engine, wasmtime.Module]] = \
    OrderedDict()
_MODULE_CACHE_SIZE = 32


def default_engine() -> wasmtime.Engine:
    """The engine shared by runs that do not pass their own (created on first use)."""
    global _default_engine
    with _engine_lock:
        if _default_engine is None:
            _default_engine = wasmtime.Engine()
        return _default_engine


def _module_bytes(source: bytes | bytearray | str | os.PathLike[str]) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        if data[:4] == b"\x00asm":
            return data
        try:
            return bytes(wasmtime.wat2wasm(data.decode("utf-8")))
        except (UnicodeDecodeError, wasmtime.WasmtimeError) as exc:
            raise ValueError(f"module bytes are neither WebAssembly nor WAT text: {exc}") from exc
    if isinstance(source, str) and source.lstrip().startswith("("):
        return bytes(wasmtime.wat2wasm(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(2, "module file not found", str(path)) from None
        if data[:4] == b"\x00asm":
            return data
        try:
            return bytes(wasmtime.wat2wasm(data.decode("utf-8")))
        except (UnicodeDecodeError, wasmtime.WasmtimeError) as exc:
            raise ValueError(f"{path}: neither a WebAssembly module nor WAT text: {exc}") from exc
    raise TypeError(
        f"module must be bytes, WAT text, a path or a wasmtime.Module, not {type(source).__name__}"
    )


def module_cache_dir() -> Path | None:
    """Where compiled modules are kept between processes: ``$WASIFS_MODULE_CACHE`` (a
    directory, or ``0``/``off`` to disable), else ``~/.cache/wasifs/modules``."""
    env = os.environ.get("WASIFS_MODULE_CACHE")
    if env is not None and env.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "wasifs" / "modules"


def _wasmtime_version() -> str:
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored copies
        return "unknown"


def _disk_key(digest: str) -> str:
    return f"{digest}-wasmtime{_wasmtime_version()}-{platform.machine()}.cwasm"


def _load_from_disk(engine: wasmtime.Engine, digest: str) -> wasmtime.Module | None:
    cache = module_cache_dir()
    if cache is None:
        return None
    path = cache / _disk_key(digest)
    try:
        return wasmtime.Module.deserialize_file(engine, str(path))
    except (OSError, wasmtime.WasmtimeError):
        return None  # missing, or compiled by an incompatible engine: compile again


def _save_to_disk(module: wasmtime.Module, digest: str) -> None:
    cache = module_cache_dir()
    if cache is None:
        return
    try:
        cache.mkdir(parents=True, exist_ok=True)
        data = module.serialize()
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, cache / _disk_key(digest))
    except OSError:
        pass  # a cache that cannot be written only costs the next run a compile


# Digests of recently loaded sources, so that running the same module again does not hash
# it again (sha256 of a 25 MiB interpreter costs ~15 ms): bytes by identity (the object is
# kept, so its id stays its own), files by (path, size, mtime, inode).
_digest_memo: OrderedDict[Any, tuple[Any, str]] = OrderedDict()
#: Only large bytes objects are remembered (small ones hash in microseconds), and only a few:
#: remembering one keeps it alive.
_MEMO_MIN_BYTES = 1 << 20
_MEMO_MAX_BYTES_OBJECTS = 4


def _bytes_and_digest(source: bytes | bytearray | str | os.PathLike[str]
                      ) -> tuple[bytes | None, str]:
    """(the module bytes, or None when the digest alone was remembered; sha256 hex)."""
    key: Any
    if isinstance(source, bytes) and len(source) >= _MEMO_MIN_BYTES:
        key = ("bytes", id(source))
    elif isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("("):
        try:
            st = os.stat(source)
        except OSError:
            key = None
        else:
            key = ("file", os.path.abspath(source), st.st_size, st.st_mtime_ns, st.st_ino)
    else:
        key = None
    if key is not None:
        with _engine_lock:
            hit = _digest_memo.get(key)
        if hit is not None and (key[0] != "bytes" or hit[0] is source):
            return None, hit[1]
    data = _module_bytes(source)
    digest = hashlib.sha256(data).hexdigest()
    if key is not None:
        with _engine_lock:
            _digest_memo[key] = (source if key[0] == "bytes" else None, digest)
            _digest_memo.move_to_end(key)
            kept = [k for k in _digest_memo if k[0] == "bytes"]
            for k in kept[:-_MEMO_MAX_BYTES_OBJECTS]:  # the oldest bytes objects go first
                del _digest_memo[k]
            while len(_digest_memo) > _MODULE_CACHE_SIZE:
                _digest_memo.popitem(last=False)
    return data, digest


def load_module(source: ModuleSource, engine: wasmtime.Engine | None = None) -> wasmtime.Module:
    """Compile (or reuse) a module: wasm bytes, WAT text, a ``.wasm``/``.wat`` path, or a
    ``wasmtime.Module`` (returned as is).

    Compiled modules are kept per engine by content in this process, and, for the default
    engine, serialized under :func:`module_cache_dir` so that another process running the same
    module does not compile it again (a cache entry from an incompatible wasmtime is ignored).
    """
    if isinstance(source, wasmtime.Module):
        return source
    use_disk = engine is None
    engine = engine or default_engine()
    data, digest = _bytes_and_digest(source)
    key = (id(engine), digest)
    with _engine_lock:
        cached = _module_cache.get(key)
        if cached is not None:
            _module_cache.move_to_end(key)
            return cached[1]
    module = _load_from_disk(engine, digest) if use_disk else None
    if module is None:
        if data is None:
            data = _module_bytes(source)
        module = wasmtime.Module(engine, data)
        if use_disk:
            _save_to_disk(module, digest)
    with _engine_lock:
        _module_cache[key] = (engine, module)
        while len(_module_cache) > _MODULE_CACHE_SIZE:
            _module_cache.popitem(last=False)
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


# ---------------------------------------------------------------------------- host
def _preopens(mounts: Mapping[str, MountSource | Mount] | None) -> list[Preopen]:
    if mounts is None:
        from .backends.memory import MemoryFileSystem

        return [Preopen("/", MemoryFileSystem())]
    if not isinstance(mounts, Mapping):
        raise TypeError(f"mounts must be a mapping of guest path -> filesystem, not {mounts!r}")
    # the mount table (order, normalised and nested mount points): wasifs.vfs._mounts
    return mount_preopens(
        (guest_path, open_backend(spec.source), spec.readonly) if isinstance(spec, Mount)
        else (guest_path, open_backend(spec), False)
        for guest_path, spec in mounts.items())


class WasiHost:
    """One guest's WASI state, bound to one ``wasmtime.Store``: the embedding API.

    Use it to add wasifs to a linker you own (so the guest can import your functions too)::

        store = wasmtime.Store(engine)
        host = wasifs.WasiHost(store, args=["app"], mounts={"/data": "./data"})
        linker = wasmtime.Linker(engine)
        host.define(linker)                    # wasi_snapshot_preview1.*
        linker.define_func("env", "log", ...)  # your own imports
        instance = linker.instantiate(store, module)
        host.attach(instance)
        code = host.start()                    # runs _start; returns the exit code
    """

    def __init__(
        self,
        store: wasmtime.Store,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        mounts: Mapping[str, MountSource | Mount] | None = None,
        stdin: bytes | Source | Iterable[bytes] | Any | None = None,
        stdout: Sink | str | Any = "capture",
        stderr: Sink | str | Any = "capture",
        binding: BindingMode = "auto",
        strict: bool = False,
        fd_limit: int = 4096,
    ) -> None:
        if isinstance(args, (str, bytes)):
            raise TypeError("args must be a sequence of strings (argv), not a single string")
        self.preopens = _preopens(mounts)
        self.core = WasiCore(
            args=list(args),
            env=dict(env or {}),
            preopens=self.preopens,
            stdin=as_source(stdin),
            stdout=as_sink(stdout, fd=1),
            stderr=as_sink(stderr, fd=2),
            fd_limit=fd_limit,
        )
        self.store = store
        self.binding = WasmtimeBinding(store, self.core, binding, strict=strict)
        self._instance: wasmtime.Instance | None = None

    @property
    def mounts(self) -> dict[str, Backend]:
        return {p.guest_path: p.backend for p in self.preopens}

    def define(self, linker: wasmtime.Linker, module: wasmtime.Module | None = None) -> None:
        """Define the preview1 functions into ``linker``: all of them, or only those that
        ``module`` imports."""
        only = wasi_imports(module)[0] if module is not None else None
        self.binding.define(linker, only)

    def attach(self, instance: wasmtime.Instance) -> None:
        """Bind the instance's exported memory (call once, after instantiation)."""
        self._instance = instance
        self.binding.attach(instance)

    def instantiate(self, linker: wasmtime.Linker, module: wasmtime.Module) -> wasmtime.Instance:
        """Instantiate ``module`` with ``linker`` and :meth:`attach` it; a ``proc_exit`` or
        trap in the module's start function surfaces as ``ProcExit`` / ``GuestTrap``."""
        instance = self.binding.instantiate(linker, module)
        self._instance = instance
        return instance

    def call(self, name: str, *args: Any) -> Any:
        """Call an export of the attached instance; ``ProcExit`` and traps propagate."""
        return self.binding.invoke(name, *args)

    def start(self) -> int:
        """Run the command's ``_start`` and return its exit code (0 when it returns)."""
        if self._instance is None:
            raise RuntimeError("start() needs attach(instance) first")
        exports = self._instance.exports(self.store)
        if "_start" not in exports:
            raise LinkError("the module has no _start export: it is not a WASI command")
        try:
            self.binding.invoke("_start")
        except ProcExit as exc:
            return exc.code
        finally:
            self.flush()
        return 0

    def flush(self) -> None:
        for sink in (self.core.stdout, self.core.stderr):
            sink.flush()

    def close(self) -> None:
        """Close every descriptor the guest left open (flushes output)."""
        self.core.close()

    def output(self, fd: Literal[1, 2] = 1) -> bytes:
        """What the guest wrote to stdout (1) or stderr (2), when captured."""
        sink = self.core.stdout if fd == 1 else self.core.stderr
        return sink.getvalue() if isinstance(sink, CaptureSink) else b""


class GuestInstance:
    """A module instantiated with WASI attached: a *command* (``start()`` runs ``_start``) or a
    *reactor* (``_initialize`` has run; call its exports with :meth:`call` or ``exports``)."""

    def __init__(self, host: WasiHost, instance: wasmtime.Instance,
                 kind: Literal["command", "reactor"]) -> None:
        self.host = host
        self.instance = instance
        self.kind: Literal["command", "reactor"] = kind
        self._closed = False

    @property
    def store(self) -> wasmtime.Store:
        return self.host.store

    @property
    def mounts(self) -> dict[str, Backend]:
        return self.host.mounts

    @property
    def exports(self) -> dict[str, Any]:
        """Exported functions as Python callables (traps become ``GuestTrap``, ``proc_exit``
        ``ProcExit``); other exports (memories, globals, tables) as wasmtime objects."""
        out: dict[str, Any] = {}
        for name, item in self.instance.exports(self.store).items():
            if isinstance(item, wasmtime.Func):
                out[name] = _ExportedFunc(self.host, name)
            else:
                out[name] = item
        return out

    def call(self, name: str, *args: Any) -> Any:
        """Call the exported function ``name``."""
        return self.host.call(name, *args)

    def start(self) -> int:
        """Run a command's ``_start``; returns the exit code."""
        if self.kind != "command":
            raise LinkError("this module is a reactor (no _start export): call its exports")
        return self.host.start()

    def stdout(self) -> bytes:
        return self.host.output(1)

    def stderr(self) -> bytes:
        return self.host.output(2)

    def close(self) -> None:
        """Close the guest's descriptors (flushes output). Idempotent."""
        if not self._closed:
            self._closed = True
            self.host.close()

    def __enter__(self) -> GuestInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ExportedFunc:
    __slots__ = ("_host", "_name")

    def __init__(self, host: WasiHost, name: str) -> None:
        self._host = host
        self._name = name

    def __call__(self, *args: Any) -> Any:
        return self._host.call(self._name, *args)

    def __repr__(self) -> str:
        return f"<guest export {self._name}>"


def _missing_imports(linker: wasmtime.Linker, store: wasmtime.Store, names: list[str]) -> list[str]:
    missing = []
    for full in names:
        mod, _, name = full.partition(".")
        try:
            linker.get(store, mod, name)
        except wasmtime.WasmtimeError:
            missing.append(full)
    return missing


def _setup(
    module: ModuleSource, linker: wasmtime.Linker | None, engine: wasmtime.Engine | None,
    **host_options: Any,
) -> tuple[WasiHost, wasmtime.Linker, wasmtime.Module]:
    if host_options.get("args") is None:
        host_options["args"] = (_program_name(module),)
    engine = engine or default_engine()
    compiled = load_module(module, engine)
    _wasi, other = wasi_imports(compiled)
    store = wasmtime.Store(engine)
    host = WasiHost(store, **host_options)
    own_linker = linker is None
    if linker is None:
        linker = wasmtime.Linker(engine)
    missing = other if own_linker else _missing_imports(linker, store, other)
    if missing:
        where = "" if own_linker else " nor by the linker you passed"
        raise LinkError(
            f"{_program_name(module)} imports " + ", ".join(missing) + ", which wasifs does "
            f"not provide (it provides {MODULE}.*){where}; define them in a wasmtime.Linker "
            "and pass it as linker=..."
        )
    host.define(linker, compiled)
    return host, linker, compiled


def _instantiate(host: WasiHost, linker: wasmtime.Linker, compiled: wasmtime.Module
                 ) -> GuestInstance:
    instance = host.instantiate(linker, compiled)
    names = {e.name for e in compiled.exports}
    kind: Literal["command", "reactor"] = "command" if "_start" in names else "reactor"
    guest = GuestInstance(host, instance, kind)
    if kind == "reactor" and "_initialize" in names:
        host.call("_initialize")
    return guest


def instantiate(
    module: ModuleSource,
    *,
    linker: wasmtime.Linker | None = None,
    engine: wasmtime.Engine | None = None,
    args: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    mounts: Mapping[str, MountSource | Mount] | None = None,
    stdin: bytes | Source | Iterable[bytes] | Any | None = None,
    stdout: Sink | str | Any = "capture",
    stderr: Sink | str | Any = "capture",
    binding: BindingMode = "auto",
    strict: bool = False,
    fd_limit: int = 4096,
) -> GuestInstance:
    """Instantiate a module with exactly the preview1 functions it imports.

    Imports from other modules must already be defined in ``linker`` (your own
    ``wasmtime.Linker``, made from the same ``engine``; wasifs adds its functions to it, which
    ties it to this instance's store). A missing import raises :class:`LinkError` naming it.
    A reactor's ``_initialize`` is called before this returns.
    """
    host, linker, compiled = _setup(
        module, linker, engine, args=args, env=env, mounts=mounts, stdin=stdin, stdout=stdout,
        stderr=stderr, binding=binding, strict=strict, fd_limit=fd_limit)
    return _instantiate(host, linker, compiled)


def _program_name(module: ModuleSource) -> str:
    if isinstance(module, (str, os.PathLike)) and not str(module).lstrip().startswith("("):
        return os.path.basename(os.fspath(module))
    return "main.wasm"


def run(
    module: ModuleSource,
    *,
    args: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    mounts: Mapping[str, MountSource | Mount] | None = None,
    stdin: bytes | Source | Iterable[bytes] | Any | None = None,
    stdout: Sink | str | Any = "capture",
    stderr: Sink | str | Any = "capture",
    binding: BindingMode = "auto",
    strict: bool = False,
    check: bool = False,
    engine: wasmtime.Engine | None = None,
    linker: wasmtime.Linker | None = None,
    fd_limit: int = 4096,
) -> RunResult:
    """Run a WASI command module to completion and return its :class:`RunResult`.

    ``mounts`` maps guest paths to filesystems (a backend such as ``MemoryFileSystem()``, a
    host directory path, or :class:`Mount` for read-only); the default is a fresh in-memory
    filesystem at ``/``. ``args`` is the whole argv (default: the module's file name). The
    guest sees exactly ``env`` as its environment. ``stdin`` is bytes, a binary file, an
    iterable of byte chunks or ``"inherit"``; ``stdout``/``stderr`` are ``"capture"``
    (default), ``"inherit"``, ``None`` (discard), a binary file, or a callable.
    ``check=True`` raises :class:`GuestExitError` on a non-zero exit or a trap. Imports other
    than WASI must be defined in ``linker`` (see :func:`instantiate`).
    """
    host, linker, compiled = _setup(
        module, linker, engine, args=args, env=env, mounts=mounts, stdin=stdin, stdout=stdout,
        stderr=stderr, binding=binding, strict=strict, fd_limit=fd_limit)
    trap: str | None = None
    try:
        guest = _instantiate(host, linker, compiled)
        if guest.kind != "command":
            raise LinkError(f"{_program_name(module)} is a reactor (it exports no _start): "
                            "use wasifs.instantiate() and call its exports")
        code = guest.start()
    except ProcExit as exc:  # proc_exit in a start section
        code = exc.code
    except GuestTrap as exc:
        trap = str(exc)
        code = TRAP_EXIT_CODE
    finally:
        host.close()
    result = RunResult(code, host.output(1), host.output(2), trap, host.mounts)
    if check:
        result.check()
    return result
