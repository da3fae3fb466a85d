"""The runtimes (the columns): wasmtime-py's built-in WASI, wasifs on each backend, wasmer-sdk
and the host binary, each behind the :class:`Runtime` protocol."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .guests import GCC_FLAGS, Guest, dist_version, gcc_id
from .interpreter import Launch

BASELINE = "wasmtime"
DEFAULT_RUNTIMES = ("wasmtime", "wasifs-memory", "wasifs-native", "wasmer-sdk", "node-wasi",
                    "native")

#: The sandbox columns' quotas: every limit set, none reached by a workload (what the
#: accounting costs, not what a refusal does).
GENEROUS_QUOTA = {"bytes": 1 << 40, "files": 10_000_000, "dirs": 1_000_000, "fds": 100_000,
                  "file_size": 1 << 40, "path_length": 4096, "depth": 1024}


@dataclass
class RunOutput:
    """What one guest run produced."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    wall_s: float


class Runtime(Protocol):
    """A way to run a guest. ``tmp`` is a fresh, empty host directory per run.

    Runtimes with ``launches = True`` also run a :class:`Launch` (any WASI command with a
    host folder mounted), which the interpreter workload needs.
    """

    name: str
    description: str
    launches: bool

    def unavailable(self) -> str | None:
        """Return why this runtime cannot run here, or None when it can."""

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        """Run ``guest`` with ``args`` after its directory argument."""

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        """Run ``launch``; only the run itself is timed (instantiation included)."""

    def close(self) -> None:
        """Release whatever the runtime holds."""


class WasmtimeRuntime:
    """wasmtime-py's own WASI implementation, a tmpfs directory preopened as /bench."""

    name = "wasmtime"
    launches = True

    def __init__(self) -> None:
        self.description = "wasmtime-py built-in WASI (define_wasi), host dir preopened"
        self._engine: Any = None
        self._modules: dict[str, Any] = {}

    def unavailable(self) -> str | None:
        try:
            wasmtime = importlib.import_module("wasmtime")
        except Exception as exc:  # a half-written package may raise anything
            return f"cannot import wasmtime: {exc}"
        self._engine = wasmtime.Engine()
        self.description += f" (wasmtime-py {dist_version('wasmtime')})"
        return None

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        import wasmtime

        bench = tmp / "bench"
        bench.mkdir()
        out, err = tmp / "stdout", tmp / "stderr"
        t0 = time.perf_counter()
        module = self._modules.get(guest.name)
        if module is None:  # compiled once per guest, as wasifs and wasmer-sdk do
            module = self._modules[guest.name] = wasmtime.Module(self._engine, guest.wasm)
        store = wasmtime.Store(self._engine)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        config = wasmtime.WasiConfig()
        config.argv = [guest.name, "/bench", *args]
        config.preopen_dir(str(bench), "/bench")
        config.stdout_file = str(out)
        config.stderr_file = str(err)
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        code = 0
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        wall = time.perf_counter() - t0
        del start, instance, store  # closes the stdout/stderr files
        return RunOutput(code, out.read_bytes(), err.read_bytes(), wall)

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        import wasmtime

        out, err = tmp / "stdout", tmp / "stderr"
        module = self._modules.get(launch.name)
        if module is None:  # compiled by the warm-up run, outside the timing
            module = self._modules[launch.name] = wasmtime.Module(self._engine, launch.wasm)
        t0 = time.perf_counter()
        store = wasmtime.Store(self._engine)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        config = wasmtime.WasiConfig()
        config.argv = list(launch.argv)
        config.env = [list(kv) for kv in launch.env]
        config.preopen_dir(str(launch.tree), launch.tree_at)
        config.stdout_file = str(out)
        config.stderr_file = str(err)
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        code = 0
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        wall = time.perf_counter() - t0
        del start, instance, store  # closes the stdout/stderr files
        return RunOutput(code, out.read_bytes(), err.read_bytes(), wall)

    def close(self) -> None:
        self._modules.clear()
        self._engine = None


class WasifsRuntime:
    """``wasifs.run`` with a MemoryFileSystem or NativeFileSystem mounted at /bench (or
    either inside a SandboxFileSystem with generous quotas: ``sandbox``,
    ``sandbox-native``)."""

    def __init__(self, backend: str, binding: str = "auto") -> None:
        if backend not in ("memory", "native", "sandbox", "sandbox-native"):
            raise ValueError(f"unknown wasifs backend {backend!r}")
        self.backend = backend
        self.binding = binding
        self.name = f"wasifs-{backend}" + ("" if binding == "auto" else f"@{binding}")
        self.description = ""
        self.launches = True
        self._run: Callable[..., Any] | None = None
        self._make_fs: Callable[[Path], Any] | None = None
        self._tree_fs: Callable[[Path], Any] | None = None

    def unavailable(self) -> str | None:
        try:
            wasifs = importlib.import_module("wasifs")
        except Exception as exc:  # a half-written package may raise anything
            return f"cannot import wasifs: {exc}"
        run = getattr(wasifs, "run", None)
        if not callable(run):
            try:
                api = importlib.import_module("wasifs.api")
            except Exception as exc:  # a half-written package may raise anything
                return f"wasifs.run is not available yet (wasifs.api: {exc})"
            run = getattr(api, "run", None)
            if not callable(run):
                return "wasifs.run is not available yet"
        if self.backend.startswith("sandbox"):
            try:
                sandbox = importlib.import_module("wasifs.backends.sandbox")
                inner_cls = importlib.import_module(
                    "wasifs.backends." + ("native" if self.backend.endswith("native")
                                          else "memory"))
            except Exception as exc:  # not written yet, or broken
                return f"SandboxFileSystem is not available yet: {exc}"
            quota = sandbox.Quota(**GENEROUS_QUOTA)
            if self.backend == "sandbox":
                def make(_tmp: Path) -> Any:
                    return sandbox.SandboxFileSystem(inner_cls.MemoryFileSystem(), quota=quota)

                self._tree_fs = lambda tree: sandbox.SandboxFileSystem(
                    _memory_copy(inner_cls.MemoryFileSystem(), tree), quota=quota)
                where = "SandboxFileSystem(MemoryFileSystem(), quota=<generous>)"
            else:
                def make(tmp: Path) -> Any:
                    return sandbox.SandboxFileSystem(inner_cls.NativeFileSystem(str(tmp)),
                                                     quota=quota)

                self._tree_fs = lambda tree: sandbox.SandboxFileSystem(
                    inner_cls.NativeFileSystem(str(tree)), quota=quota)
                where = "SandboxFileSystem(NativeFileSystem(<tmp dir>), quota=<generous>)"
            self._make_fs = make
        elif self.backend == "memory":
            try:
                cls = importlib.import_module("wasifs.backends.memory").MemoryFileSystem
            except Exception as exc:  # not written yet, or broken
                return f"MemoryFileSystem is not available yet: {exc}"
            self._make_fs = lambda _tmp: cls()
            self._tree_fs = lambda tree: _memory_copy(cls(), tree)
            where = "MemoryFileSystem()"
        else:
            try:
                cls = importlib.import_module("wasifs.backends.native").NativeFileSystem
            except Exception as exc:  # not written yet, or broken
                return f"NativeFileSystem is not available yet: {exc}"
            self._make_fs = lambda tmp: cls(str(tmp))
            self._tree_fs = lambda tree: cls(str(tree))
            where = "NativeFileSystem(<tmp dir>)"
        self._run = run
        self.description = (
            f"wasifs.run, /bench = {where}, binding={self.binding} (wasifs {dist_version('wasifs')})"
        )
        return None

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        assert self._run is not None and self._make_fs is not None
        bench = tmp / "bench"
        bench.mkdir()
        t0 = time.perf_counter()
        fs = self._make_fs(bench)
        options: dict[str, Any] = {} if self.binding == "auto" else {"binding": self.binding}
        result = self._run(
            guest.wasm, args=(guest.name, "/bench", *args), mounts={"/bench": fs}, **options
        )
        wall = time.perf_counter() - t0
        return RunOutput(int(result.exit_code), bytes(result.stdout), bytes(result.stderr), wall)

    def tree_fs(self, tree: Path) -> Any:
        """The backend a launch mounts: ``tree`` copied into memory, or ``tree`` itself."""
        assert self._tree_fs is not None
        return self._tree_fs(tree)

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        assert self._run is not None
        fs = self.tree_fs(launch.tree)  # the copy into memory is outside the timing
        options: dict[str, Any] = {} if self.binding == "auto" else {"binding": self.binding}
        t0 = time.perf_counter()
        result = self._run(
            launch.wasm,
            args=launch.argv,
            env=dict(launch.env),
            mounts={launch.tree_at: fs},
            **options,
        )
        wall = time.perf_counter() - t0
        return RunOutput(int(result.exit_code), bytes(result.stdout), bytes(result.stderr), wall)

    def close(self) -> None:
        self._run = None


def _memory_copy(fs: Any, tree: Path) -> Any:
    """Copy the host folder ``tree`` into the (empty) in-memory backend ``fs``; return ``fs``."""
    copy_tree = importlib.import_module("wasifs.backends").copy_tree
    native = importlib.import_module("wasifs.backends.native").NativeFileSystem(str(tree))
    src, dst = native.root(), fs.root()
    try:
        copy_tree(native, src, fs, dst)
    finally:
        native.close(src)
        fs.close(dst)
    return fs


class WasmerRuntime:
    """The ``wasmer-sdk`` package: a fresh sandbox per run, workspace at /workspace."""

    name = "wasmer-sdk"
    launches = False
    guest_dir = "/workspace"

    def __init__(self) -> None:
        self.description = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wasmer: Any = None
        self._cache: str | None = None

    def unavailable(self) -> str | None:
        try:
            sdk = importlib.import_module("wasmer_sdk")
        except Exception as exc:  # a half-written package may raise anything
            return f"cannot import wasmer_sdk ({exc}); install it with: pip install wasmer-sdk"
        self._cache = tempfile.mkdtemp(prefix="wasifs-bench-wasmer-cache-")
        try:
            self._wasmer = sdk.Wasmer(cache_root=self._cache)
        except Exception as exc:  # the SDK's native library may not load here
            return f"wasmer_sdk.Wasmer() failed: {exc}"
        self._loop = asyncio.new_event_loop()
        self.description = (
            f"wasmer-sdk {dist_version('wasmer-sdk')} sandbox, in-memory /workspace"
            " (compiled modules cached across runs)"
        )
        return None

    async def _run(self, guest: Guest, args: Sequence[str]) -> RunOutput:
        t0 = time.perf_counter()
        package = await self._wasmer.packages.load(guest.wasm)
        sandbox = await self._wasmer.sandboxes.create(packages=[package])
        try:
            output = await sandbox.command(package, [self.guest_dir, *args]).run(check=False)
        finally:
            await sandbox.close()
        wall = time.perf_counter() - t0
        code = output.exit_code if output.reason.value == "exited" else 128
        return RunOutput(code, output.stdout.bytes, output.stderr.bytes, wall)

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        assert self._loop is not None
        return self._loop.run_until_complete(self._run(guest, args))

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        raise NotImplementedError("the wasmer-sdk column runs the C guests only")

    def close(self) -> None:
        if self._loop is not None:
            if self._wasmer is not None:
                self._loop.run_until_complete(self._wasmer.close())
            self._loop.close()
            self._loop = None
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None


#: Runs one guest under Node.js's ``node:wasi``: argv[2] the module, argv[3] the host dir
#: preopened as /bench, the rest the guest's arguments after its name and "/bench".
_NODE_SCRIPT = r"""
const { readFileSync } = require("node:fs");
const { WASI } = require("node:wasi");
const [wasmPath, hostDir, ...rest] = process.argv.slice(2);
const wasi = new WASI({ version: "preview1", args: ["guest", "/bench", ...rest], env: {},
                        preopens: { "/bench": hostDir }, returnOnExit: true });
const mod = new WebAssembly.Module(readFileSync(wasmPath));
const instance = new WebAssembly.Instance(mod, wasi.getImportObject());
process.exitCode = wasi.start(instance);
"""


class NodeWasiRuntime:
    """Node.js's ``node:wasi`` (uvwasi), a tmpfs directory preopened as /bench; one
    ``node`` process per run (its start-up counts in the whole-run wall time only)."""

    name = "node-wasi"
    launches = False

    def __init__(self) -> None:
        self.description = ""
        self._node: str | None = None
        self._script: str | None = None

    def unavailable(self) -> str | None:
        node = shutil.which("node")
        if node is None:
            return "no node on PATH"
        proc = subprocess.run([node, "--version"], capture_output=True, text=True)
        if proc.returncode != 0:
            return f"node --version failed: {proc.stderr.strip()}"
        self._node = node
        fd, self._script = tempfile.mkstemp(prefix="wasifs-bench-node-", suffix=".cjs")
        with open(fd, "w") as f:
            f.write(_NODE_SCRIPT)
        self.description = f"node {proc.stdout.strip()} node:wasi (uvwasi), host dir preopened"
        return None

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        assert self._node is not None and self._script is not None
        bench = tmp / "bench"
        bench.mkdir()
        wasm = tmp / f"{guest.name}.wasm"
        wasm.write_bytes(guest.wasm)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [self._node, "--no-warnings", self._script, str(wasm), str(bench), *args],
            capture_output=True, timeout=3600,
        )
        wall = time.perf_counter() - t0
        return RunOutput(proc.returncode, proc.stdout, proc.stderr, wall)

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        raise NotImplementedError("the node-wasi column runs the C guests only")

    def close(self) -> None:
        if self._script is not None:
            Path(self._script).unlink(missing_ok=True)
            self._script = None


class NativeRuntime:
    """The same C source built with the host gcc, run on a tmp directory."""

    name = "native"
    launches = False

    def __init__(self) -> None:
        gcc = gcc_id()
        self.description = f"host binary, {gcc} {' '.join(GCC_FLAGS)}" if gcc else "host binary"

    def unavailable(self) -> str | None:
        return None if gcc_id() is not None else "no working gcc on PATH"

    def run(self, guest: Guest, args: Sequence[str], tmp: Path) -> RunOutput:
        if guest.native is None:
            raise RuntimeError(f"no native build: {guest.native_error}")
        bench = tmp / "bench"
        bench.mkdir()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(guest.native), str(bench), *args], capture_output=True, timeout=3600
        )
        wall = time.perf_counter() - t0
        return RunOutput(proc.returncode, proc.stdout, proc.stderr, wall)

    def launch(self, launch: Launch, tmp: Path) -> RunOutput:
        raise NotImplementedError("the native column has no WASI interpreter")

    def close(self) -> None:
        pass


def make_runtime(name: str) -> Runtime:
    """Build the runtime named on the command line."""
    base, _, binding = name.partition("@")
    if base == "wasmtime" and not binding:
        return WasmtimeRuntime()
    if base in ("wasifs-memory", "wasifs-native", "wasifs-sandbox", "wasifs-sandbox-native"):
        if binding and binding not in ("auto", "raw", "checked"):
            raise ValueError(f"unknown wasifs binding {binding!r} (auto, raw, checked)")
        return WasifsRuntime(base.removeprefix("wasifs-"), binding or "auto")
    if base == "wasmer-sdk" and not binding:
        return WasmerRuntime()
    if base == "native" and not binding:
        return NativeRuntime()
    if base == "node-wasi" and not binding:
        return NodeWasiRuntime()
    raise ValueError(
        f"unknown runtime {name!r}; known: {', '.join(DEFAULT_RUNTIMES)}, wasifs-sandbox, "
        "wasifs-sandbox-native (wasifs-* also take @auto, @raw or @checked)"
    )
