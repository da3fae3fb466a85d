"""The synchronous host API: run a guest (``run``), or embed one in your own linker (``WasiHost``)."""

from __future__ import annotations

import hashlib
import os
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
from .vfs import Preopen
from .wasi import WasiCore

__all__ = (
    "Mount",
    "RunResult",
    "WasiHost",
    "GuestExitError",
    "LinkError",
    "default_engine",
    "load_module",
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


# ---------------------------------------------------------------------------- modules
_engine_lock = threading.Lock()
_default_engine: wasmtime.Engine | None = None
_module_cache: OrderedDict[tuple[int, str], wasmtime.Module] = OrderedDict()
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


def load_module(source: ModuleSource, engine: wasmtime.Engine | None = None) -> wasmtime.Module:
    """Compile (or reuse) a module: wasm bytes, WAT text, a ``.wasm``/``.wat`` path, or a
    ``wasmtime.Module`` (returned as is). Compiled modules are kept per engine, by content."""
    if isinstance(source, wasmtime.Module):
        return source
    engine = engine or default_engine()
    data = _module_bytes(source)
    key = (id(engine), hashlib.sha256(data).hexdigest())
    with _engine_lock:
        cached = _module_cache.get(key)
        if cached is not None:
            _module_cache.move_to_end(key)
            return cached
    module = wasmtime.Module(engine, data)
    with _engine_lock:
        _module_cache[key] = module
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
    out = []
    for guest_path, spec in mounts.items():
        if not isinstance(guest_path, str) or not guest_path:
            raise ValueError(f"mount points must be non-empty strings: {guest_path!r}")
        readonly = False
        if isinstance(spec, Mount):
            readonly = spec.readonly
            spec = spec.source
        out.append(Preopen(guest_path, open_backend(spec), readonly=readonly))
    return out


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
    fd_limit: int = 4096,
) -> RunResult:
    """Run a WASI command module to completion and return its :class:`RunResult`.

    ``mounts`` maps guest paths to filesystems (a backend such as ``MemoryFileSystem()``, a
    host directory path, or :class:`Mount` for read-only); the default is a fresh in-memory
    filesystem at ``/``. ``args`` is the whole argv (default: the module's file name). The
    guest sees exactly ``env`` as its environment. ``stdin`` is bytes, a binary file, an
    iterable of byte chunks or ``"inherit"``; ``stdout``/``stderr`` are ``"capture"``
    (default), ``"inherit"``, ``None`` (discard), a binary file, or a callable.
    ``check=True`` raises :class:`GuestExitError` on a non-zero exit or a trap.
    """
    if args is None:
        name = os.path.basename(os.fspath(module)) if isinstance(module, (str, os.PathLike)) \
            and not str(module).lstrip().startswith("(") else "main.wasm"
        args = (name,)
    engine = engine or default_engine()
    compiled = load_module(module, engine)
    wasi, other = wasi_imports(compiled)
    if other:
        raise LinkError(
            "the module imports " + ", ".join(other) + ", which wasifs does not provide "
            f"(it provides {MODULE}.*); define them in your own wasmtime.Linker and use "
            "wasifs.WasiHost to add WASI to it"
        )
    store = wasmtime.Store(engine)
    host = WasiHost(store, args=args, env=env, mounts=mounts, stdin=stdin, stdout=stdout,
                    stderr=stderr, binding=binding, strict=strict, fd_limit=fd_limit)
    linker = wasmtime.Linker(engine)
    host.define(linker, compiled)
    trap: str | None = None
    try:
        host.instantiate(linker, compiled)
        code = host.start()
    except ProcExit as exc:  # proc_exit in a start function
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
