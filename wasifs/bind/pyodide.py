"""The Pyodide binding: the preview1 core for guests run by the JavaScript WebAssembly API.

Where Python itself runs on WebAssembly (Pyodide, in a browser page or in Node), the guest is
compiled and instantiated by the JavaScript engine, every ``wasi_snapshot_preview1`` import is
a Python function handed to JavaScript with ``pyodide.ffi.create_proxy``, and the guest's
memory, a JavaScript ``ArrayBuffer`` that Python cannot view, is read and written by copies
(:class:`JsMemory`, a :class:`~wasifs.wasi.CopyingMemory`; its size is re-read before every
syscall that touches memory, so ``memory.grow`` is always seen). The semantics are the same
core as under wasmtime; nothing here imports wasmtime.

::

    from wasifs.bind.pyodide import run, arun
    result = run(wasm_bytes, args=["app", "x"], mounts={"/data": MemoryFileSystem()})
    result = await arun(wasm_bytes, ...)    # a browser's main thread compiles asynchronously

Errors as in the wasmtime binding: ``WasiError`` becomes its errno; ``proc_exit`` ends the run
with its code; any other exception inside a syscall is a bug, logged on
``logging.getLogger("wasifs")`` and answered with ``EIO`` (``strict=True`` re-raises it from
the run instead); a trap in the guest (``unreachable``, an out-of-bounds access) ends the run
with :data:`TRAP_EXIT_CODE` and the message in ``result.trap``.

The run assembly here (mounts to preopens, stdio coercion, the result) mirrors
``wasifs.run``'s; it stays small and engine-neutral so that it can move onto the shared run
configuration.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from ..abi import I64, MODULE, SYSCALL_PARAMS, SYSCALLS, Errno
from ..config import (
    TRAP_EXIT_CODE,
    GuestExitError,
    Mount,
    RunOptions,
    RunResult,
    build_core,
    captured,
    exit_status_trap,
    program_name,
)
from ..errors import GuestTrap, ProcExit, WasiError, WasifsError
from ..interrupt import CancelToken, Interrupted, LimitExceeded, TimeoutExceeded
from ..observe import AuditSink, Metrics
from ..stdio import HostCallbackError, Sink, Source
from ..vfs import Preopen
from ..wasi import CopyingMemory, WasiCore
from ._codegen import NO_MEMORY

__all__ = (
    "GuestExitError",
    "JsMemory",
    "PyodideBinding",
    "RunResult",
    "TRAP_EXIT_CODE",
    "arun",
    "in_pyodide",
    "run",
    "run_js",
)


logger: Final = logging.getLogger("wasifs")

_M32: Final = 0xFFFFFFFF
_M64: Final = 0xFFFFFFFFFFFFFFFF


def in_pyodide() -> bool:
    """Whether this Python runs in Pyodide (Emscripten), where this binding works."""
    return sys.platform == "emscripten"


def _ffi() -> tuple[Any, Any]:
    """``(js, pyodide.ffi)``, imported on first use (they exist only in Pyodide)."""
    if not in_pyodide():
        raise RuntimeError(
            "wasifs.bind.pyodide runs guests through Pyodide's JavaScript engine; this Python "
            f"runs on {sys.platform!r} (use wasifs.run, the wasmtime binding, here)")
    return importlib.import_module("js"), importlib.import_module("pyodide.ffi")


# The JavaScript half of the memory: one closure per guest memory that keeps a Uint8Array
# over the current buffer (a grown memory detaches the old buffer, whose views then have
# length 0, so a new one is made), so Python crosses into JavaScript once per copy.
_MEMORY_JS: Final = """
(memory) => {
  let u8 = new Uint8Array(memory.buffer);
  const view = () => (u8.byteLength === memory.buffer.byteLength
                      ? u8 : (u8 = new Uint8Array(memory.buffer)));
  return {
    size: () => view().byteLength,
    at: (ptr, n) => view().subarray(ptr, ptr + n),
  };
}
"""


class JsMemory(CopyingMemory):
    """A guest's ``WebAssembly.Memory`` (a JavaScript object), reached by copies."""

    def __init__(self, memory: Any) -> None:
        js, _ffi_mod = _ffi()
        code = importlib.import_module("pyodide.code")
        self._helper = code.run_js(_MEMORY_JS)(memory)
        self._size_js = self._helper.size
        self._at = self._helper.at
        super().__init__(0)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the memory's size (after ``memory.grow`` it is larger)."""
        self.size = int(self._size_js())

    def load(self, ptr: int, n: int) -> bytes:
        if n == 0:
            return b""
        data: bytes = self._at(ptr, n).to_bytes()
        return data

    def store(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        n = memoryview(data).nbytes
        if n:
            self._at(ptr, n).assign(data)


class _Unwind(Exception):  # noqa: N818 - a control-flow signal
    """Ends the guest call; the real exception waits in the binding's slot."""


class _State:
    __slots__ = ("strict", "parked", "parked_in")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.parked: BaseException | None = None
        self.parked_in = ""

    def fail(self, name: str, exc: BaseException, values: tuple[int, ...]) -> int:
        """Every trampoline ends here on an exception: ``EIO``, or park it and unwind."""
        if isinstance(exc, HostCallbackError):  # the host's own stream failed: stop the guest
            exc = exc.error
        elif not isinstance(exc, (ProcExit, GuestTrap, Interrupted)) and isinstance(exc, Exception) \
                and not self.strict:
            described = ", ".join(
                f"{p}={v}" for p, v in zip(SYSCALL_PARAMS[name], values, strict=False))
            logger.error("wasifs: bug in syscall %s(%s): %s: %s; the guest gets EIO", name,
                         described, type(exc).__name__, exc,
                         exc_info=(type(exc), exc, exc.__traceback__))
            if SYSCALLS[name][1]:
                return int(Errno.IO)
            exc = ProcExit(values[0] if values else 0)
        self.parked = exc
        self.parked_in = name
        raise _Unwind(f"wasifs: {type(exc).__name__} in {name}")


def _trampoline_source(name: str) -> str:
    params, results = SYSCALLS[name]
    args = [f"a{i}" for i in range(len(params))]
    lines = [f"def _factory_{name}(st, method, binding):", f"    def {name}({', '.join(args)}):"]
    lines.append("        try:")
    for i, ty in enumerate(params):  # JS hands i32 as signed numbers, i64 as signed BigInts
        lines.append(f"            a{i} = int(a{i}) & {_M64 if ty == I64 else _M32}")
    if name not in NO_MEMORY:
        lines += ["            mem = binding.memory", "            mem.refresh()"]
    call = f"method({', '.join(args)})"
    if results:
        lines += [f"            return int({call})",
                  "        except WasiError as exc:",
                  "            return exc.errno"]
    else:
        lines += [f"            {call}", f"            raise ProcExit({args[0] if args else '0'})"]
    lines += ["        except _Unwind:",
              "            raise",
              "        except BaseException as exc:",
              f"            return st.fail({name!r}, exc, ({''.join(a + ', ' for a in args)}))"]
    if name not in NO_MEMORY:  # an ``into`` window still pending lands before JS resumes
        lines += ["        finally:",
                  "            binding.memory.flush()"]
    lines.append(f"    return {name}")
    return "\n".join(lines) + "\n"


def _compile_factories() -> dict[str, Any]:
    namespace: dict[str, Any] = {"WasiError": WasiError, "ProcExit": ProcExit, "_Unwind": _Unwind}
    source = "".join(_trampoline_source(name) for name in SYSCALLS)
    exec(compile(source, "<wasifs.bind.pyodide trampolines>", "exec"), namespace)
    return {name: namespace[f"_factory_{name}"] for name in SYSCALLS}


_FACTORIES: dict[str, Any] | None = None


class _LateMemory(CopyingMemory):
    """Stands in until the instance exists (a start function calling WASI before it does
    gets ``EFAULT`` for every pointer, as a guest without memory would)."""

    def refresh(self) -> None:
        pass


class PyodideBinding:
    """Connects a :class:`~wasifs.wasi.WasiCore` to a guest run by the JavaScript engine.

    :param core: the sans-I/O core.
    :param strict: re-raise Python bugs from the guest call instead of answering ``EIO``.
    """

    def __init__(self, core: WasiCore, *, strict: bool = False) -> None:
        self.core = core
        self._state = _State(strict)
        self._proxies: list[Any] = []
        #: the guest's memory (a stand-in until :meth:`attach`)
        self.memory: CopyingMemory = _LateMemory(0)
        self.instance: Any = None

    def imports(self, names: Iterable[str]) -> Any:
        """A JavaScript imports object with ``wasi_snapshot_preview1.<name>`` for ``names``.

        Each function is a Python trampoline handed to JavaScript with ``create_proxy``;
        :meth:`close` destroys them.
        """
        global _FACTORIES
        js, ffi = _ffi()
        if _FACTORIES is None:
            _FACTORIES = _compile_factories()
        wasi = js.Object.new()
        for name in dict.fromkeys(names):
            if name not in SYSCALLS:
                raise ValueError(f"not a wasi_snapshot_preview1 function: {name!r}")
            method = getattr(self.core, name)
            proxy = ffi.create_proxy(_FACTORIES[name](self._state, method, self))
            self._proxies.append(proxy)
            js.Reflect.set(wasi, name, proxy)
        imports = js.Object.new()
        js.Reflect.set(imports, MODULE, wasi)
        return imports

    def attach(self, instance: Any) -> None:
        """Bind the instance's exported ``memory`` (after instantiation)."""
        self.instance = instance
        memory = getattr(instance.exports, "memory", None)
        if memory is None or type(memory).__name__ == "JsNull":
            raise GuestTrap('the guest exports no "memory"')
        self.memory = JsMemory(memory)
        self.core.memory = self.memory

    def call(self, name: str, *args: Any) -> Any:
        """Call the guest's export ``name``; ``ProcExit``, parked bugs and traps surface as in
        the wasmtime binding (a trap is :class:`~wasifs.errors.GuestTrap`)."""
        func = getattr(self.instance.exports, name, None)
        if func is None:
            raise GuestTrap(f"the guest exports no function {name!r}")
        return self.guest_call(func, *args)

    def guest_call(self, func: Any, *args: Any) -> Any:
        st = self._state
        st.parked = None
        try:
            return func(*args)
        except BaseException as exc:  # noqa: BLE001 - sorted below
            parked = st.parked
            if parked is not None:
                st.parked = None
                raise parked from None
            if isinstance(exc, (_Unwind, ProcExit)):
                raise
            if type(exc).__name__ == "JsException":  # a trap: WebAssembly.RuntimeError
                raise GuestTrap(str(exc)) from exc
            raise

    def close(self) -> None:
        """Destroy the proxies handed to JavaScript (the guest can no longer call WASI)."""
        proxies, self._proxies = self._proxies, []
        for p in proxies:
            p.destroy()


# ------------------------------------------------------------------------------ running
# The run's assembly (options, mounts -> preopens, stdio, exit-status rules, RunResult) is
# wasifs.config's, shared with the wasmtime face: only compiling and instantiating differ.


def _readonly(spec: Any) -> Mount:
    if isinstance(spec, Mount):
        return Mount(spec.source, True, spec.subdir)
    return Mount(spec, True)


def _options(mounts: Mapping[str, Any] | None, readonly: Iterable[str],
             **fields: Any) -> RunOptions:
    ro = set(readonly)
    if mounts is not None and ro:
        if not isinstance(mounts, Mapping):
            raise TypeError(f"mounts must be a mapping of guest path -> filesystem, not "
                            f"{mounts!r}")
        unknown = ro - set(mounts)
        if unknown:
            raise ValueError(f"readonly names mount points that are not mounted: "
                             f"{', '.join(sorted(unknown))}")
        mounts = {path: _readonly(spec) if path in ro else spec
                  for path, spec in mounts.items()}
    return RunOptions.of(mounts=mounts, **fields)


def _wasm_bytes(module: Any) -> Any:
    """A JavaScript buffer of the module's bytes (or a compiled ``WebAssembly.Module``)."""
    js, ffi = _ffi()
    if isinstance(module, (bytes, bytearray, memoryview)):
        if bytes(memoryview(module)[:4]) != b"\x00asm":
            raise ValueError("module bytes are not WebAssembly (no \\0asm header); WAT text "
                             "needs compiling first")
        return ffi.to_js(memoryview(module))
    if isinstance(module, str):
        with open(module, "rb") as f:
            return _wasm_bytes(f.read())
    return module  # a JavaScript ArrayBuffer, typed array or WebAssembly.Module


def _is_js_module(js: Any, obj: Any) -> bool:
    try:
        return bool(js.Object.prototype.toString.call(obj) == "[object WebAssembly.Module]")
    except Exception:  # noqa: BLE001 - not a JavaScript object
        return False


def _finish(binding: PyodideBinding, core: WasiCore, preopens: list[Preopen],
            run_start: Any) -> RunResult:
    trap: str | None = None
    mounts = {p.guest_path: p.backend for p in preopens}
    try:
        try:
            run_start()
            code = 0
        except ProcExit as exc:
            trap = exit_status_trap(exc.code)
            code = TRAP_EXIT_CODE if trap is not None else exc.code
        except GuestTrap as exc:
            trap = str(exc)
            code = TRAP_EXIT_CODE
    except Interrupted as exc:  # a timeout: the partial result, as wasifs.run attaches it
        status = exc.exit_status if isinstance(exc, LimitExceeded) else 130
        exc.result = RunResult(status, captured(core.stdout), captured(core.stderr), None,
                               mounts)
        raise
    finally:
        binding.close()
        core.close()
    return RunResult(code, captured(core.stdout), captured(core.stderr), trap, mounts)


def _engine_limits(fuel: int | None, max_memory: int | None,
                   max_table_elements: int | None) -> None:
    for name, value in (("fuel", fuel), ("max_memory", max_memory),
                        ("max_table_elements", max_table_elements)):
        if value is not None:
            raise ValueError(
                f"{name}= is not available under Pyodide: the JavaScript engine runs the guest "
                "and offers no fuel metering or store limits (timeout= works, checked at "
                "every syscall and in every wait); run the guest with wasifs.run (wasmtime) "
                "for this limit")


def _with_deadline(core: WasiCore, timeout: float) -> Callable[[], None]:
    """Make every syscall of ``core`` check a ``timeout`` deadline first, and its waits end
    there (no thread: Pyodide has none). A guest that computes without calling WASI cannot
    be stopped here. Returns the function that disarms it."""
    token = core.cancel if core.cancel is not None else CancelToken()
    core.cancel = token
    disarm = token.cancel_after(timeout, TimeoutExceeded(timeout), thread=False)
    check = token.check_deadline
    for name in SYSCALLS:
        method = getattr(core, name)

        def checked(*args: int, _method: Any = method) -> Any:
            check()
            return _method(*args)

        setattr(core, name, checked)
    return disarm


def _start(binding: PyodideBinding, instance: Any) -> None:
    binding.attach(instance)
    if getattr(instance.exports, "_start", None) is None:
        raise WasifsError("the module has no _start export: it is not a WASI command")
    binding.call("_start")


def run(
    module: Any,
    *,
    args: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    mounts: Mapping[str, Any] | None = None,
    readonly: Iterable[str] = (),
    stdin: bytes | Source | Iterable[bytes] | Any | None = None,
    stdout: Sink | str | Any = "capture",
    stderr: Sink | str | Any = "capture",
    strict: bool = False,
    check: bool = False,
    fd_limit: int = 4096,
    timeout: float | None = None,
    fuel: int | None = None,
    max_memory: int | None = None,
    max_table_elements: int | None = None,
    audit: AuditSink | bool | None = None,
    metrics: Metrics | None = None,
) -> RunResult:
    """Run a WASI command to completion through the JavaScript engine (``wasifs.run``'s
    arguments, assembled by :mod:`wasifs.config` as there: no mounts, no preopened
    directory; ``readonly`` names mount points to mount read-only).

    ``timeout`` is checked at every syscall and ends every wait (``poll_oneoff``, stdin):
    a guest that computes without calling WASI cannot be stopped in Pyodide (no thread can
    interrupt the JavaScript engine). ``fuel``, ``max_memory`` and ``max_table_elements``
    need wasmtime and raise ``ValueError`` here.

    ``module`` is wasm bytes, a path, or a JavaScript ``ArrayBuffer``/typed array/
    ``WebAssembly.Module``. Compiling here is synchronous, which Node and workers allow; a
    browser's main thread refuses modules over 4 KiB that way: ``await arun(...)`` there.
    """
    _engine_limits(fuel, max_memory, max_table_elements)
    js, _ = _ffi()
    options = _options(mounts, readonly, args=args, env=env, stdin=stdin, stdout=stdout,
                       stderr=stderr, strict=strict, fd_limit=fd_limit, timeout=timeout,
                       audit=audit, metrics=metrics)
    core, preopens = build_core(options, program_name(module))
    if timeout is not None:
        _with_deadline(core, timeout)  # the run's own token: nothing to disarm after it
    binding = PyodideBinding(core, strict=strict)
    source = _wasm_bytes(module)
    compiled = source if _is_js_module(js, source) else js.WebAssembly.Module.new(source)
    names = [imp.name for imp in js.WebAssembly.Module.imports(compiled)
             if imp.module == MODULE]

    def start() -> None:
        imports = binding.imports(n for n in names if n in SYSCALLS)
        instance = binding.guest_call(js.WebAssembly.Instance.new, compiled, imports)
        _start(binding, instance)

    result = _finish(binding, core, preopens, start)
    return result.check() if check else result


async def arun(
    module: Any,
    *,
    args: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    mounts: Mapping[str, Any] | None = None,
    readonly: Iterable[str] = (),
    stdin: bytes | Source | Iterable[bytes] | Any | None = None,
    stdout: Sink | str | Any = "capture",
    stderr: Sink | str | Any = "capture",
    strict: bool = False,
    check: bool = False,
    fd_limit: int = 4096,
    timeout: float | None = None,
    fuel: int | None = None,
    max_memory: int | None = None,
    max_table_elements: int | None = None,
    audit: AuditSink | bool | None = None,
    metrics: Metrics | None = None,
) -> RunResult:
    """:func:`run`, compiling the module asynchronously (as a browser's main thread must).

    Mounts that persist (``wasifs.backends.browser``) are flushed and awaited before this
    returns: a failed write-back raises here."""
    _engine_limits(fuel, max_memory, max_table_elements)
    js, _ = _ffi()
    source = _wasm_bytes(module)
    compiled = source if _is_js_module(js, source) else await js.WebAssembly.compile(source)
    result = run(compiled, args=args, env=env, mounts=mounts, readonly=readonly, stdin=stdin,
                 stdout=stdout, stderr=stderr, strict=strict, fd_limit=fd_limit,
                 timeout=timeout, audit=audit, metrics=metrics)
    for backend in result.mounts.values():
        flush = getattr(backend, "flush", None)
        if flush is not None and getattr(backend, "persistent", False):
            await flush()
    return result.check() if check else result


async def run_js(module: Any, options: Any = None) -> Any:
    """The entry for pages: ``await wasifs.run_js(wasmBytes, {args, env, stdin, mounts})``.

    ``options`` is a JavaScript object: ``args`` (array), ``env`` (object), ``stdin`` (string or
    ``Uint8Array``), ``mounts`` (guest path -> ``"memory"``, ``"idb:NAME"``, ``"opfs:NAME"`` or
    a backend). Returns ``{exitCode, stdout, stderr, trap}`` with text decoded as UTF-8.
    """
    js, ffi = _ffi()
    opts: dict[str, Any] = {}
    if options is not None:
        opts = options.to_py() if hasattr(options, "to_py") else dict(options)
    stdin = opts.get("stdin")
    if isinstance(stdin, str):
        stdin = stdin.encode()
    elif stdin is not None and not isinstance(stdin, bytes):
        stdin = bytes(stdin)
    mounts: dict[str, Any] = {}
    for path, spec in (opts.get("mounts") or {"/": "memory"}).items():
        mounts[path] = await _open_mount(spec)
    result = await arun(module, args=opts.get("args"), env=opts.get("env"), mounts=mounts,
                        readonly=opts.get("readonly") or (), stdin=stdin)
    return ffi.to_js({"exitCode": result.exit_code,
                      "stdout": result.stdout.decode("utf-8", "replace"),
                      "stderr": result.stderr.decode("utf-8", "replace"),
                      "trap": result.trap}, dict_converter=js.Object.fromEntries)


async def _open_mount(spec: Any) -> Any:
    if isinstance(spec, str):
        kind, _, name = spec.partition(":")
        if kind == "memory":
            from ..backends.memory import MemoryFileSystem

            return MemoryFileSystem()
        if kind in ("idb", "opfs"):
            from ..backends.browser import BrowserFileSystem

            return await BrowserFileSystem.open(name, store=kind)
    return spec
