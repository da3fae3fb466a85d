"""The engine-neutral configuration of a run: options, mounts, streams, results, exit statuses.

Everything a run needs that does not depend on the engine lives here: :class:`RunOptions`
(the one options object behind ``wasifs.run``, ``wasifs.instantiate`` and ``WasiHost``),
mounts turned into preopens, stdio specifications turned into sources and sinks, the
:class:`~wasifs.wasi.WasiCore` built from them (:func:`build_core`), :class:`RunResult`,
the errors a run raises, and the exit-status rules. Nothing here imports an engine, so an
async face or another engine binding (Pyodide) builds on it as the wasmtime one does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .backends import Backend, open_backend
from .errors import WasifsError
from .interrupt import (
    CancelToken,
    FuelExhausted,
    Interrupted,
    MemoryLimitExceeded,
    TimeoutExceeded,
)
from .stdio import CaptureSink, HostCallbackError, Sink, as_sink, as_source
from .vfs import MountRights, Preopen, mount_preopens
from .wasi import WasiCore

if TYPE_CHECKING:  # wasifs.observe is imported by the runs that record something
    from .observe import AuditSink, Metrics

__all__ = (
    "BackendFileSink",
    "BindingMode",
    "EXIT_CANNOT_RUN",
    "EXIT_FUEL_EXHAUSTED",
    "EXIT_INTERRUPTED",
    "EXIT_MEMORY_LIMIT",
    "EXIT_NOT_FOUND",
    "EXIT_TIMEOUT",
    "EXIT_TRAP",
    "EXIT_USAGE",
    "EXIT_WRITE_BACK",
    "GUEST_EXIT_LIMIT",
    "GuestExitError",
    "Interrupted",
    "LinkError",
    "Mount",
    "MountRights",
    "MountSource",
    "RunOptions",
    "RunOptionsArgs",
    "RunResult",
    "TRAP_EXIT_CODE",
    "build_core",
    "captured",
    "exit_status_trap",
    "preopens",
    "program_name",
)

# ---------------------------------------------------------------------------- exit statuses
#: A guest's own exit status is below this: ``proc_exit`` with a larger value is a trap, as
#: in wasmtime, so the statuses from here on are free for wasifs's own outcomes.
GUEST_EXIT_LIMIT = 126
#: The module cannot run: not a valid module, an import nobody provides or of the wrong
#: type, a reactor given to ``run`` (the shell's "found but cannot execute").
EXIT_CANNOT_RUN = 126
#: The module file does not exist (the shell's "command not found").
EXIT_NOT_FOUND = 127
#: The command line is wrong (an unknown option, a ``--dir`` that is not a directory).
EXIT_USAGE = 128
#: ``--write-back`` could not apply everything (what was applied, and where the guest's tree
#: was saved, is printed); the guest's own status is in the message.
EXIT_WRITE_BACK = 129
#: The run was interrupted: Ctrl-C, or cancelled by the host (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: The guest trapped (128 + SIGABRT, as wasmtime's CLI reports a trap).
EXIT_TRAP = 134
#: The run's memory or table cap was too small for the module (128 + SIGKILL, what a
#: process stopped by the OOM killer shows).
EXIT_MEMORY_LIMIT = MemoryLimitExceeded.exit_status
#: The run exceeded its ``timeout`` (128 + SIGALRM).
EXIT_TIMEOUT = TimeoutExceeded.exit_status
#: The guest used up its ``fuel`` (128 + SIGXCPU).
EXIT_FUEL_EXHAUSTED = FuelExhausted.exit_status
#: The exit code a :class:`RunResult` reports when the guest trapped.
TRAP_EXIT_CODE = EXIT_TRAP


def exit_status_trap(code: int) -> str | None:
    """The trap message for a ``proc_exit`` status a guest may not return (outside
    ``[0, 126)``, where wasmtime traps too), else ``None``."""
    if 0 <= code < GUEST_EXIT_LIMIT:
        return None
    return f"proc_exit({code}): exit status outside of [0, {GUEST_EXIT_LIMIT})"


# ---------------------------------------------------------------------------- errors
class LinkError(WasifsError):
    """The module cannot be linked: it imports something nobody provides, imports a preview1
    function with the wrong type, or is not what the call needs (a reactor given to ``run``).

    ``module_name`` names the module, ``imports`` the offending imports (``module.name``) and
    ``reason`` is one of ``"missing"``, ``"unknown-wasi"``, ``"signature"``, ``"kind"``.
    """

    def __init__(self, message: str, *, module_name: str = "", imports: Sequence[str] = (),
                 reason: str = "") -> None:
        super().__init__(message)
        self.module_name = module_name
        self.imports = tuple(imports)
        self.reason = reason


class GuestExitError(WasifsError):
    """A run with ``check=True`` ended with a non-zero exit code or a trap."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        what = (f"trapped: {result.trap}" if result.trap is not None
                else f"exited with code {result.exit_code}")
        tail = result.stderr[-2000:].decode("utf-8", "replace").strip()
        super().__init__(f"the guest {what}" + (f"\n--- stderr ---\n{tail}" if tail else ""))


# ---------------------------------------------------------------------------- results
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


# ---------------------------------------------------------------------------- mounts
MountSource = Backend | str | os.PathLike[str]


@dataclass(frozen=True)
class Mount:
    """A filesystem to mount: a backend or a host directory, optionally read-only or with
    fewer rights (``rights=MountRights.READ_ONLY``, ``rights="no-create"``).

    ``subdir`` mounts a folder of the backend instead of its root (a ``/``-separated path
    from the backend's root, without ``..``): the guest cannot reach above it. Several mounts
    of one backend, each on its own folder, share one namespace, so a guest moves files
    between them with ``rename`` as on one host filesystem."""

    source: MountSource
    readonly: bool = False
    subdir: str = ""
    #: the preview1 rights of the preopened directory: a :class:`~wasifs.MountRights`
    #: (``MountRights.READ_ONLY`` ...) or a preset's name (``"read-only"``,
    #: ``"no-create,no-symlink"``); ``None``: every right wasmtime gives
    rights: MountRights | str | None = None

    def __post_init__(self) -> None:
        MountRights.of(self.rights)  # a bad value is a TypeError/ValueError here


def preopens(mounts: Mapping[str, MountSource | Mount] | None) -> list[Preopen]:
    """The guest's preopened directories, in order (none without ``mounts``)."""
    if mounts is None:
        return []
    if not isinstance(mounts, Mapping):
        raise TypeError(f"mounts must be a mapping of guest path -> filesystem, not {mounts!r}")
    # the mount table (order, normalised and nested mount points): wasifs.vfs._mounts
    return mount_preopens(
        (guest_path, open_backend(spec.source), spec.readonly, spec.subdir,
         MountRights.of(spec.rights))
        if isinstance(spec, Mount) else (guest_path, open_backend(spec), False, "", None)
        for guest_path, spec in mounts.items())


class BackendFileSink:
    """A stdout/stderr sink that writes into a file on a backend (inside the virtual
    filesystem), e.g. ``stdout=BackendFileSink(fs, "logs/out.txt")``. Parent directories must
    exist; the file is created (truncated unless ``append``) when the sink is made, and
    symlinks on the way are not followed. (:class:`wasifs.stdio.FileSink` writes to a host
    file object instead.)"""

    def __init__(self, backend: MountSource, path: str, *, append: bool = False) -> None:
        self.backend = open_backend(backend)
        parts = [p for p in path.strip("/").split("/") if p and p != "."]
        if not parts or ".." in parts:
            raise ValueError(f"BackendFileSink needs a path inside the filesystem, got {path!r}")
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


# ---------------------------------------------------------------------------- options
BindingMode = Literal["auto", "raw", "checked"]


class RunOptionsArgs(TypedDict, total=False):
    """The keyword arguments that ``run``, ``instantiate`` and ``WasiHost`` take for a
    :class:`RunOptions` (each field there is documented)."""

    args: Sequence[str] | None
    env: Mapping[str, str] | None
    mounts: Mapping[str, MountSource | Mount] | None
    stdin: Any
    stdout: Any
    stderr: Any
    binding: BindingMode
    strict: bool
    fd_limit: int
    cancel: CancelToken | None
    timeout: float | None
    fuel: int | None
    max_memory: int | None
    max_table_elements: int | None
    audit: AuditSink | bool | None
    metrics: Metrics | None


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything about a run that does not depend on the engine.

    ``run``, ``instantiate`` and ``WasiHost`` take these as keyword arguments, or a ready
    object as ``options=`` (keyword arguments then override its fields).
    """

    #: the whole argv (``args[0]`` is the program name; default: the module's file name)
    args: Sequence[str] | None = None
    #: exactly the guest's environment (nothing is inherited)
    env: Mapping[str, str] | None = None
    #: guest path -> a backend, a host directory, or :class:`Mount`; none: no preopens
    mounts: Mapping[str, MountSource | Mount] | None = None
    #: ``None`` (empty), bytes, a file (binary or text), an iterable of byte chunks,
    #: ``"inherit"``, or a :class:`~wasifs.stdio.Source`
    stdin: Any = None
    #: ``"capture"`` (in the result), ``"inherit"``, ``None`` (discard), a file (binary or
    #: text), a callable called with each write, or a :class:`~wasifs.stdio.Sink`
    stdout: Any = "capture"
    stderr: Any = "capture"
    #: the trampolines: ``"raw"`` (fast, wasmtime's unchecked C API), ``"checked"`` or
    #: ``"auto"`` (raw when available)
    binding: BindingMode = "auto"
    #: a Python exception inside a syscall fails the run instead of giving the guest EIO
    strict: bool = False
    #: the most descriptors open at once (then EMFILE)
    fd_limit: int = 4096
    #: stops the run when cancelled, from any thread (see :class:`~wasifs.CancelToken`)
    cancel: CancelToken | None = None
    #: wall-clock seconds the run may take (``wasifs.run``: instantiation and ``_start``
    #: together; each call of an instance's exports gets its own), then
    #: :class:`~wasifs.TimeoutExceeded`
    timeout: float | None = None
    #: how much fuel the guest may burn (about one unit per WebAssembly instruction), then
    #: :class:`~wasifs.FuelExhausted`; needs an engine with fuel metering (wasifs makes
    #: one when no engine is given)
    fuel: int | None = None
    #: the most bytes of linear memory the guest may have (each memory): a ``memory.grow``
    #: past it fails (returns -1); a module that needs more from the start raises
    #: :class:`~wasifs.MemoryLimitExceeded`
    max_memory: int | None = None
    #: the most elements a table may hold: ``table.grow`` past it fails; a module that
    #: needs more from the start raises :class:`~wasifs.TableLimitExceeded`
    max_table_elements: int | None = None
    #: record every filesystem call as a :class:`~wasifs.observe.AuditEvent`: ``True`` logs
    #: them on the ``wasifs.audit`` logger, a callable (such as
    #: :class:`~wasifs.observe.JsonLinesSink`) receives each event; off by default
    audit: AuditSink | bool | None = None
    #: per-syscall counts, errors, bytes and latencies added to this
    #: :class:`~wasifs.observe.Metrics` (one object may serve many runs)
    metrics: Metrics | None = None

    @classmethod
    def of(cls, options: RunOptions | None = None, /, **overrides: Any) -> RunOptions:
        """``options`` (or the defaults) with ``overrides`` applied; unknown names raise
        ``TypeError`` naming them."""
        unknown = set(overrides) - _OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        if options is None:
            return cls(**overrides)
        if not isinstance(options, RunOptions):
            raise TypeError(f"options must be a RunOptions, not {type(options).__name__}")
        return replace(options, **overrides) if overrides else options

    def argv(self, default_name: str) -> list[str]:
        if isinstance(self.args, (str, bytes)):
            raise TypeError("args must be a sequence of strings (argv), not a single string")
        if self.args is None:
            return [default_name]
        argv = list(self.args)
        for i, item in enumerate(argv):
            if not isinstance(item, (str, bytes, bytearray)):
                raise TypeError(f"args[{i}] must be a str or bytes, not "
                                f"{type(item).__name__}: {item!r}")
        return argv


_OPTION_NAMES = frozenset(f.name for f in fields(RunOptions))


def build_core(options: RunOptions, default_name: str = "main.wasm"
               ) -> tuple[WasiCore, list[Preopen]]:
    """The sans-I/O core for a run with ``options``, and its preopens (fds 3, 4, ...)."""
    args = options.argv(default_name)
    _check_fd_limit(options.fd_limit,
                    len(options.mounts) if isinstance(options.mounts, Mapping) else 0)
    opened = preopens(options.mounts)
    if options.binding not in ("auto", "raw", "checked"):
        raise ValueError(f"binding must be 'auto', 'raw' or 'checked', not {options.binding!r}")
    if options.cancel is not None and not isinstance(options.cancel, CancelToken):
        raise TypeError(f"cancel must be a wasifs.CancelToken, not {type(options.cancel).__name__}")
    check_limits(options)
    sink = None
    if options.audit is not None or options.metrics is not None:
        from .observe import Metrics, audit_sink

        sink = _guarded(audit_sink(options.audit))
        if options.metrics is not None and not isinstance(options.metrics, Metrics):
            raise TypeError(f"metrics must be a wasifs.observe.Metrics, not "
                            f"{type(options.metrics).__name__}")
    core = WasiCore(
        args=args,
        env=dict(options.env or {}),
        preopens=opened,
        stdin=as_source(options.stdin),
        stdout=as_sink(options.stdout, fd=1),
        stderr=as_sink(options.stderr, fd=2),
        fd_limit=options.fd_limit,
    )
    if sink is not None or options.metrics is not None:
        # wrapped syscalls only when asked for: a run without them calls the core directly
        from .observe import instrument

        instrument(core, audit=sink, metrics=options.metrics)
    return core, opened


def _guarded(sink: AuditSink | None) -> AuditSink | None:
    """An audit sink whose failure stops the guest and reaches the run's caller (a record
    that cannot be kept must not let the guest go on unrecorded)."""
    if sink is None:
        return None
    target = sink

    def guarded(event: Any) -> None:
        try:
            target(event)
        except Exception as exc:  # noqa: BLE001 - re-raised to the caller by the binding
            raise HostCallbackError(exc, "audit sink") from exc

    return guarded


def check_limits(options: RunOptions) -> None:
    """``timeout``, ``fuel``, ``max_memory`` and ``max_table_elements`` are numbers in range
    (``TypeError``/``ValueError`` naming the option)."""
    timeout = options.timeout
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not "
                            f"{type(timeout).__name__}: {timeout!r}")
        if not timeout > 0 or timeout != timeout or timeout == float("inf"):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    for name, top in (("fuel", (1 << 64) - 1), ("max_memory", (1 << 64) - 1),
                      ("max_table_elements", (1 << 32) - 1)):
        value = getattr(options, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}: {value!r}")
        if not 0 <= value <= top:
            raise ValueError(f"{name} must be between 0 and {top}, got {value}")


def _check_fd_limit(limit: object, mounts: int) -> None:
    """``fd_limit`` is an int with room for stdin, stdout, stderr and one descriptor per
    mount (``TypeError``/``ValueError`` naming what is wrong)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"fd_limit must be an int, not {type(limit).__name__}: {limit!r}")
    need = 3 + mounts
    if limit < need:
        raise ValueError(f"fd_limit={limit} is too small: stdin, stdout, stderr and the "
                         f"{mounts} mount(s) take {need} descriptors")


def captured(sink: Sink) -> bytes:
    """What a capture sink holds (``b""`` for any other sink)."""
    return sink.getvalue() if isinstance(sink, CaptureSink) else b""


def program_name(module: object) -> str:
    """The default ``argv[0]``: a module file's name, else ``main.wasm``."""
    if isinstance(module, (str, os.PathLike)) and not str(module).lstrip().startswith("("):
        return os.path.basename(os.fspath(module))
    return "main.wasm"
