"""The synchronous host API: run a guest (``run``), instantiate one (``instantiate``), or embed
one in your own linker (``WasiHost``).

This module joins the engine-neutral configuration (:mod:`wasifs.config`: options, mounts,
streams, results, exit statuses) to wasmtime (:mod:`wasifs.engine` for engines and compiled
modules, :mod:`wasifs.bind` for the trampolines). Its names, and the ones it re-exports from
those two modules, are the public API.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal, Unpack

import wasmtime

from .abi import MODULE, SYSCALLS
from .backends import Backend
from .bind import epochs_enabled
from .bind.wasmtime import WasmtimeBinding
from .config import (
    EXIT_CANNOT_RUN,
    EXIT_FUEL_EXHAUSTED,
    EXIT_INTERRUPTED,
    EXIT_MEMORY_LIMIT,
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_TRAP,
    EXIT_USAGE,
    GUEST_EXIT_LIMIT,
    TRAP_EXIT_CODE,
    BackendFileSink,
    GuestExitError,
    LinkError,
    Mount,
    MountSource,
    RunOptions,
    RunOptionsArgs,
    RunResult,
    build_core,
    captured,
    check_limits,
    exit_status_trap,
    program_name,
)
from .engine import (
    ModuleSource,
    default_engine,
    engine_settings,
    get_engine,
    load_module,
    module_cache_dir,
    module_cache_limit,
    wasi_imports,
)
from .errors import GuestTrap, ProcExit
from .interrupt import (
    CancelToken,
    FuelExhausted,
    Interrupted,
    LimitExceeded,
    MemoryLimitExceeded,
    TableLimitExceeded,
    TimeoutExceeded,
    sigint_cancels,
)

__all__ = (
    "BackendFileSink",
    "CancelToken",
    "EXIT_CANNOT_RUN",
    "EXIT_FUEL_EXHAUSTED",
    "EXIT_INTERRUPTED",
    "EXIT_MEMORY_LIMIT",
    "EXIT_NOT_FOUND",
    "EXIT_TIMEOUT",
    "EXIT_TRAP",
    "EXIT_USAGE",
    "FuelExhausted",
    "GUEST_EXIT_LIMIT",
    "GuestExitError",
    "GuestInstance",
    "Interrupted",
    "LimitExceeded",
    "LinkError",
    "MemoryLimitExceeded",
    "ModuleSource",
    "Mount",
    "MountSource",
    "RunOptions",
    "RunResult",
    "TRAP_EXIT_CODE",
    "TableLimitExceeded",
    "TimeoutExceeded",
    "WasiHost",
    "default_engine",
    "get_engine",
    "instantiate",
    "load_module",
    "module_cache_dir",
    "module_cache_limit",
    "run",
    "wasi_imports",
)


def __getattr__(name: str) -> Any:
    if name == "FileSink":
        warnings.warn("wasifs.api.FileSink is deprecated: use wasifs.api.BackendFileSink "
                      "(a file on a backend; wasifs.stdio.FileSink writes to a host file "
                      "object)", DeprecationWarning, stacklevel=2)
        return BackendFileSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class WasiHost:
    """One guest's WASI state, bound to one ``wasmtime.Store``: the embedding API.

    Use it to add wasifs to a linker you own (so the guest can import your functions too)::

        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        host = wasifs.WasiHost(store, args=["app"], mounts={"/data": "./data"})
        linker = wasmtime.Linker(engine)
        host.define(linker)                    # wasi_snapshot_preview1.*
        linker.define_func("env", "log", ...)  # your own imports
        host.instantiate(linker, module)       # instantiate and attach
        code = host.start()                    # runs _start; returns the exit code
        print(host.output().decode())          # what it wrote to stdout (captured)

    The keyword arguments are the fields of :class:`~wasifs.config.RunOptions` (or pass one
    as ``options``). ``output()`` returns captured stdout (``output(2)``: stderr).
    :meth:`close` releases the guest's descriptors; the host cannot run the guest after it.

    With ``cancel=`` (a :class:`~wasifs.CancelToken`) the guest stops when the token is
    cancelled; that needs the store's engine to have been made with
    ``wasmtime.Config.epoch_interruption = True`` (``ValueError`` otherwise). On wasifs's
    own engines (:func:`default_engine`) the host always watches the store's epochs (such a
    store traps at once without a deadline), and Ctrl-C stops a guest that :meth:`start`
    or :meth:`call` runs in the main thread, raising ``KeyboardInterrupt``.
    """

    def __init__(self, store: wasmtime.Store, options: RunOptions | None = None, /,
                 **kwargs: Unpack[RunOptionsArgs]) -> None:
        if not isinstance(store, wasmtime.Store):
            raise TypeError(f"expected a wasmtime.Store, got {type(store).__name__}")
        opts = RunOptions.of(options, **kwargs)
        check_limits(opts)
        for what, asked in (("cancel=", opts.cancel is not None),
                            ("timeout=", opts.timeout is not None)):
            if asked and not epochs_enabled(store.engine):
                raise ValueError(
                    f"{what} needs an engine made with epoch interruption "
                    "(wasmtime.Config.epoch_interruption = True), and this store's engine was "
                    "made without it: make the engine from a Config with that setting, or use "
                    "wasifs.api.default_engine()")
        _store_limits(store, opts)
        self.options = opts
        self.core, self.preopens = build_core(opts)
        self.store = store
        known = engine_settings(store.engine)
        self.binding = WasmtimeBinding(
            store, self.core, opts.binding, strict=opts.strict,
            memory_fixed=known is not None and known.get("memory_may_move") is False)
        self._instance: wasmtime.Instance | None = None
        self._closed = False
        #: this host's own token: cancelled by ``cancel=``'s token, by Ctrl-C, or directly
        self.token = CancelToken()
        self._hooks: list[Callable[[], None]] = []
        self._epochs = False
        self._limit_depth = 0
        self.core.cancel = self.token
        self.binding.watch(self.token, epochs=False)
        if opts.cancel is not None:
            self._hooks.append(self.token.follow(opts.cancel))
            self._watch_epochs()
        elif opts.timeout is not None:
            self._watch_epochs()
        else:
            settings = engine_settings(store.engine)
            if settings is not None and settings.get("epoch_interruption"):
                self._watch_epochs()

    def _watch_epochs(self) -> None:
        """Stop guest code when the token is cancelled: a deadline callback on the store, and
        the engine's epoch bumped on cancellation."""
        if not self._epochs:
            self._epochs = True
            self.binding.watch(self.token, epochs=True)
            self._hooks.append(self.token.on_cancel(self.store.engine.increment_epoch))

    @property
    def mounts(self) -> dict[str, Backend]:
        return {p.guest_path: p.backend for p in self.preopens}

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise RuntimeError(f"cannot {what}: this guest's WASI host is closed (its "
                               "descriptors were released when it was closed or its with "
                               "block ended); instantiate the module again")

    def define(self, linker: wasmtime.Linker, module: wasmtime.Module | None = None) -> None:
        """Define the preview1 functions into ``linker``: all of them, or only those that
        ``module`` imports. They belong to this host's store, so the linker can then only
        instantiate in that store."""
        self._check_open("define its functions")
        only = wasi_imports(module)[0] if module is not None else None
        self.binding.define(linker, only)

    def attach(self, instance: wasmtime.Instance) -> None:
        """Bind the instance's exported memory (call once, after instantiation)."""
        self._instance = instance
        self.binding.attach(instance)

    def instantiate(self, linker: wasmtime.Linker, module: wasmtime.Module) -> wasmtime.Instance:
        """Instantiate ``module`` with ``linker`` and :meth:`attach` it; a ``proc_exit`` or
        trap in the module's start function surfaces as ``ProcExit`` / ``GuestTrap``."""
        self._check_open("instantiate")
        with self._limited(), self._interruptible():
            instance = self.binding.instantiate(linker, module)
        self._instance = instance
        return instance

    def call(self, name: str, *args: Any) -> Any:
        """Call an export of the attached instance; ``ProcExit`` and traps propagate."""
        self._check_open(f"call {name!r}")
        with self._limited(), self._interruptible():
            return self.binding.invoke(name, *args)

    def start(self) -> int:
        """Run the command's ``_start`` and return its exit code (0 when it returns).

        A ``proc_exit`` status outside ``[0, 126)`` is a trap (``GuestTrap``), as in
        wasmtime."""
        self._check_open("start the guest")
        if self._instance is None:
            raise RuntimeError("start() needs attach(instance) first")
        exports = self._instance.exports(self.store)
        if "_start" not in exports:
            raise LinkError("the module has no _start export: it is not a WASI command",
                            reason="kind")
        try:
            with self._limited(), self._interruptible():
                self.binding.invoke("_start")
        except ProcExit as exc:
            self.flush()
            trap = exit_status_trap(exc.code)
            if trap is not None:
                raise GuestTrap(trap) from None
            return exc.code
        except BaseException:
            self._flush_quietly()  # what stopped the guest is what the caller sees
            raise
        self.flush()
        return 0

    def _interruptible(self) -> _Interruptible:
        return _Interruptible(self.token, sigint=self._epochs)

    @contextlib.contextmanager
    def _limited(self) -> Iterator[None]:
        """A guest call under the run's limits: the outermost one arms the ``timeout``
        (``wasifs.run`` wraps instantiation and ``_start`` in one), and a trap that is a
        limit (fuel used up, a memory or table cap too small for the module) becomes its
        :class:`~wasifs.LimitExceeded`."""
        disarm = None
        timeout = self.options.timeout
        if timeout is not None and self._limit_depth == 0:
            disarm = self.token.cancel_after(timeout, TimeoutExceeded(timeout))
        self._limit_depth += 1
        try:
            yield
        except GuestTrap as exc:
            limit = self._limit_of(exc)
            if limit is None:
                raise
            raise limit from None
        finally:
            self._limit_depth -= 1
            if disarm is not None:
                disarm()

    def _limit_of(self, trap: GuestTrap) -> LimitExceeded | None:
        opts = self.options
        if trap.trap_code == "OUT_OF_FUEL":
            return FuelExhausted(opts.fuel)
        text = str(trap)
        first = text.strip().splitlines()[0] if text.strip() else text
        if "exceeds memory limits" in text:
            return MemoryLimitExceeded(opts.max_memory, f"the module needs more linear memory "
                                       f"than max_memory={opts.max_memory} allows ({first})")
        if "exceeds table limits" in text:
            return TableLimitExceeded(opts.max_table_elements, f"the module's tables need more "
                                      f"than max_table_elements={opts.max_table_elements} "
                                      f"allows ({first})")
        return None

    def flush(self) -> None:
        for sink in (self.core.stdout, self.core.stderr):
            sink.flush()

    def _flush_quietly(self) -> None:
        for sink in (self.core.stdout, self.core.stderr):
            try:
                sink.flush()
            except Exception:  # noqa: BLE001, PERF203 - another error is on its way up
                pass

    def close(self) -> None:
        """Close every descriptor the guest left open (flushes output). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for unhook in self._hooks:
            unhook()
        self._hooks.clear()
        self.binding.unwatch()
        self.core.close()

    def output(self, fd: Literal[1, 2] = 1) -> bytes:
        """What the guest wrote to stdout (1) or stderr (2), when captured."""
        return captured(self.core.stdout if fd == 1 else self.core.stderr)


#: The fuel a store of a fuel-metering engine gets when the run sets no budget.
UNLIMITED_FUEL = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1


def _store_limits(store: wasmtime.Store, opts: RunOptions) -> None:
    """Give ``store`` the run's fuel and memory/table caps (``ValueError`` naming the
    ``wasmtime.Config`` setting the store's engine lacks)."""
    if opts.fuel is not None:
        try:
            store.set_fuel(opts.fuel)
        except wasmtime.WasmtimeError:
            raise ValueError(
                "fuel= needs an engine made with fuel metering (wasmtime.Config.consume_fuel "
                "= True), and this store's engine was made without it: leave engine= out "
                "(wasifs then uses get_engine(consume_fuel=True)) or make the engine from a "
                "Config with that setting") from None
    if opts.max_memory is not None or opts.max_table_elements is not None:
        store.set_limits(
            memory_size=-1 if opts.max_memory is None else min(opts.max_memory, _I64_MAX),
            table_elements=-1 if opts.max_table_elements is None else opts.max_table_elements)


def consumes_fuel(engine: wasmtime.Engine, store: wasmtime.Store | None = None) -> bool:
    """Whether ``engine`` meters fuel (``wasmtime.Config.consume_fuel``): from its settings
    when wasifs made it, else by asking a store for its fuel."""
    settings = engine_settings(engine)
    if settings is not None:
        return bool(settings.get("consume_fuel"))
    probe = store if store is not None else wasmtime.Store(engine)
    try:
        probe.get_fuel()
    except wasmtime.WasmtimeError:
        return False
    return True


class _Interruptible:
    """A guest call: it does not start when ``token`` is cancelled, and, with ``sigint``
    (the store's epochs are watched, so guest code can be stopped), Ctrl-C in the main thread
    cancels ``token`` instead of raising wherever Python happens to be; a SIGINT that arrived
    as the guest finished is still raised. Without ``sigint``, SIGINT keeps Python's own
    handling."""

    __slots__ = ("_token", "_cm")

    def __init__(self, token: CancelToken, *, sigint: bool) -> None:
        self._token = token
        self._cm = sigint_cancels(token) if sigint else None

    def __enter__(self) -> None:
        self._token.raise_if_cancelled()
        if self._cm is not None:
            self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)  # type: ignore[arg-type]
        if exc[0] is None and isinstance(self._token.reason, KeyboardInterrupt):
            raise self._token.error()


class GuestInstance:
    """A module instantiated with WASI attached: a *command* (``start()`` runs ``_start``) or a
    *reactor* (``_initialize`` has run; call its exports with :meth:`call` or ``exports``).

    Use it as a context manager (or call :meth:`close`): the guest's descriptors are released
    at the end, and any later use raises ``RuntimeError``."""

    def __init__(self, host: WasiHost, instance: wasmtime.Instance,
                 kind: Literal["command", "reactor"]) -> None:
        self.host = host
        self.instance = instance
        self.kind: Literal["command", "reactor"] = kind

    @property
    def store(self) -> wasmtime.Store:
        return self.host.store

    @property
    def mounts(self) -> dict[str, Backend]:
        return self.host.mounts

    @property
    def closed(self) -> bool:
        return self.host.closed

    @property
    def exports(self) -> dict[str, Any]:
        """Exported functions as Python callables (traps become ``GuestTrap``, ``proc_exit``
        ``ProcExit``); other exports (memories, globals, tables) as wasmtime objects."""
        self.host._check_open("read its exports")
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
            raise LinkError("this module is a reactor (no _start export): call its exports",
                            reason="kind")
        return self.host.start()

    def stdout(self) -> bytes:
        return self.host.output(1)

    def stderr(self) -> bytes:
        return self.host.output(2)

    def close(self) -> None:
        """Close the guest's descriptors (flushes output). Idempotent."""
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


# ---------------------------------------------------------------------------- linking
def _engine_for(engine: wasmtime.Engine | None, linker: wasmtime.Linker | None,
                fuel: bool = False) -> wasmtime.Engine:
    if linker is not None and not isinstance(linker, wasmtime.Linker):
        raise TypeError(f"linker must be a wasmtime.Linker, not {type(linker).__name__}")
    if engine is not None and not isinstance(engine, wasmtime.Engine):
        raise TypeError(f"engine must be a wasmtime.Engine, not {type(engine).__name__}")
    if linker is None:
        if engine is not None:
            return engine
        return get_engine(consume_fuel=True) if fuel else default_engine()
    linker_engine = getattr(linker, "engine", None)
    if not isinstance(linker_engine, wasmtime.Engine):
        raise ValueError("cannot tell which engine the linker was made with; pass engine= too")
    if engine is not None and engine is not linker_engine:
        raise ValueError("the linker was made with another engine than engine=: pass the "
                         "engine the linker was created with (or leave engine= out)")
    return linker_engine


def _signature(types: Any) -> str:
    return ", ".join(str(t) for t in types)


def check_imports(module: wasmtime.Module, name: str) -> list[str]:
    """The module's imports that are not preview1 functions (``module.name``), after
    checking the preview1 ones: an unknown ``wasi_snapshot_preview1`` name or a preview1
    function imported with another type raises :class:`LinkError` naming it."""
    other: list[str] = []
    unknown: list[str] = []
    for imp in module.imports:
        if imp.module != MODULE:
            other.append(f"{imp.module}.{imp.name}")
            continue
        expected = SYSCALLS.get(imp.name or "")
        if expected is None:
            unknown.append(f"{imp.module}.{imp.name}")
            continue
        ty = imp.type
        params, results = expected
        want = f"({', '.join(params)}) -> ({', '.join(results)})"
        if not isinstance(ty, wasmtime.FuncType):
            raise LinkError(
                f"{name} imports {MODULE}.{imp.name} as a {type(ty).__name__.removesuffix('Type').lower()}, "
                f"but WASI preview1 defines it as a function {want}: the module was not built "
                "for wasm32-wasip1; rebuild it for that target",
                module_name=name, imports=[f"{MODULE}.{imp.name}"], reason="signature")
        got = f"({_signature(ty.params)}) -> ({_signature(ty.results)})"
        if got != want:
            raise LinkError(
                f"{name} imports {MODULE}.{imp.name} with type {got}, but WASI preview1 "
                f"defines it as {want}: the module was built against another WASI interface; "
                "rebuild it for wasm32-wasip1",
                module_name=name, imports=[f"{MODULE}.{imp.name}"], reason="signature")
    if unknown:
        raise LinkError(
            f"{name} imports {', '.join(unknown)}, which "
            f"{'is not a WASI preview1 function' if len(unknown) == 1 else 'are not WASI preview1 functions'}"
            " (the module needs a newer or extended WASI host); rebuild it for wasm32-wasip1",
            module_name=name, imports=unknown, reason="unknown-wasi")
    return other


def _prepare(module: ModuleSource, options: RunOptions, engine: wasmtime.Engine | None,
             linker: wasmtime.Linker | None
             ) -> tuple[WasiHost, wasmtime.Linker, wasmtime.Module]:
    name = program_name(module)
    if options.args is None:
        options = RunOptions.of(options, args=(name,))
    check_limits(options)
    engine = _engine_for(engine, linker, fuel=options.fuel is not None)
    compiled = load_module(module, engine)
    other = check_imports(compiled, name)
    store = wasmtime.Store(engine)
    if options.fuel is None and consumes_fuel(engine, store):
        store.set_fuel(UNLIMITED_FUEL)  # a fuel-metering engine, no budget asked: no limit
    host = WasiHost(store, options)
    try:
        if epochs_enabled(engine):  # the store is ours: interruptible wherever epochs are on
            host._watch_epochs()
        run_linker = wasmtime.Linker(engine)
        missing = []
        for full in other:
            mod, _, item = full.partition(".")
            try:
                found = linker.get(store, mod, item) if linker is not None else None
            except wasmtime.WasmtimeError:
                found = None
            if found is None:
                missing.append(full)
            else:
                run_linker.define(store, mod, item, found)
        if missing:
            where = "" if linker is None else " nor by the linker you passed"
            raise LinkError(
                f"{name} imports " + ", ".join(missing) + ", which wasifs does not provide "
                f"(it provides {MODULE}.*){where}; define them in a wasmtime.Linker and pass "
                "it as linker=...",
                module_name=name, imports=missing, reason="missing")
        host.define(run_linker, compiled)
    except BaseException:
        host.close()
        raise
    return host, run_linker, compiled


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
    options: RunOptions | None = None,
    /,
    *,
    linker: wasmtime.Linker | None = None,
    engine: wasmtime.Engine | None = None,
    **kwargs: Unpack[RunOptionsArgs],
) -> GuestInstance:
    """Instantiate a module with exactly the preview1 functions it imports.

    Imports from other modules come from ``linker`` (your own ``wasmtime.Linker``; the run's
    engine is the linker's). wasifs looks them up for the new store and defines them, with
    its own functions, in a linker of its own: yours is left as it was and can serve any
    number of instances. A missing import raises :class:`LinkError` naming it. A reactor's
    ``_initialize`` is called before this returns. The other keyword arguments are the
    fields of :class:`~wasifs.config.RunOptions`.
    """
    opts = RunOptions.of(options, **kwargs)
    host, run_linker, compiled = _prepare(module, opts, engine, linker)
    try:
        with host._limited():
            return _instantiate(host, run_linker, compiled)
    except BaseException:
        host.close()
        raise


def run(
    module: ModuleSource,
    options: RunOptions | None = None,
    /,
    *,
    check: bool = False,
    engine: wasmtime.Engine | None = None,
    linker: wasmtime.Linker | None = None,
    **kwargs: Unpack[RunOptionsArgs],
) -> RunResult:
    """Run a WASI command module to completion and return its :class:`RunResult`.

    The keyword arguments are the fields of :class:`~wasifs.config.RunOptions` (or pass one
    as ``options``): ``mounts`` maps guest paths to filesystems (a backend such as
    ``MemoryFileSystem()``, a host directory path, or :class:`Mount` for read-only); without
    it the guest has no preopened directory, as under wasmtime. ``args`` is the whole argv
    (default: the module's file name). The guest sees exactly ``env`` as its environment.
    ``stdin`` is bytes, a file, an iterable of byte chunks or ``"inherit"``;
    ``stdout``/``stderr`` are ``"capture"`` (default), ``"inherit"``, ``None`` (discard), a
    file (binary or text), or a callable. ``check=True`` raises :class:`GuestExitError` on
    a non-zero exit or a trap. Imports other than WASI must be defined in ``linker`` (see
    :func:`instantiate`); the engine is then the linker's.

    Ctrl-C while the guest runs in the main thread stops it and raises
    ``KeyboardInterrupt``; ``cancel=`` (a :class:`~wasifs.CancelToken`) stops it from any
    thread and raises the token's reason (:class:`~wasifs.Interrupted` by default, whose
    ``result`` holds the output so far). Descriptors are released either way.
    """
    opts = RunOptions.of(options, **kwargs)
    host, run_linker, compiled = _prepare(module, opts, engine, linker)
    trap: str | None = None
    interrupted: Interrupted | None = None
    try:
        with host._limited():  # one deadline for the whole run
            guest = _instantiate(host, run_linker, compiled)
            if guest.kind != "command":
                name = program_name(module)
                raise LinkError(f"{name} is a reactor (it exports no _start): "
                                "use wasifs.instantiate() and call its exports",
                                module_name=name, reason="kind")
            code = guest.start()
    except ProcExit as exc:  # proc_exit in a start section
        trap = exit_status_trap(exc.code)
        code = TRAP_EXIT_CODE if trap is not None else exc.code
    except GuestTrap as exc:
        trap = str(exc)
        code = TRAP_EXIT_CODE
    except Interrupted as exc:
        interrupted = exc
    finally:
        host.close()
    if interrupted is not None:  # raised out of the handler: no engine error chained to it
        status = (interrupted.exit_status if isinstance(interrupted, LimitExceeded)
                  else EXIT_INTERRUPTED)
        interrupted.result = RunResult(status, host.output(1), host.output(2), None,
                                       host.mounts)
        raise interrupted
    result = RunResult(code, host.output(1), host.output(2), trap, host.mounts)
    if check:
        result.check()
    return result

