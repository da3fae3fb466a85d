"""Run the conformance guests under wasmtime's built-in WASI and under wasifs; compare.

Each :class:`~conformance.cases.Case` names a guest (a C file or a WAT file under
``conformance/guests``, or inline WAT), its argv, environment, stdin, and one or more
preopened directories with their initial file trees. A case is run

* under wasmtime-py's own WASI (``Linker.define_wasi`` + ``WasiConfig``), the reference,
  on fresh host directories;
* under wasifs on ONE ``MemoryFileSystem`` holding every preopen as a folder, each preopened
  at its folder (``Preopen(subdir=...)`` through ``WasiHost``: files move between preopens
  as on one host filesystem), bindings "raw" and "checked";
* under ``wasifs.run`` on a ``NativeFileSystem`` per preopen over fresh host directories
  (bindings "raw" and "checked");
* under wasifs on ONE ``FsspecBackend`` over fsspec's ``LocalFileSystem`` (the fsspec
  adapter), every preopen a folder of it as on memory, over fresh host directories
  ("fsspec-raw"; the host trees are what is compared).
* under wasifs on ONE ``OverlayFileSystem`` whose read-only lower layer (a
  ``MemoryFileSystem``) holds every preopen's tree as a folder and whose upper layer starts
  empty, so every change the guest makes is a copy-up, a whiteout or a new upper entry; the
  lower layer must be unchanged afterwards ("overlay-raw", "overlay-checked").

and the exit code, stdout, stderr and the resulting file trees (paths, types, contents, link
counts of files, symlink targets; never times or inode numbers) are compared with the
reference. A case may document an expected deviation (``Case.differences``); then wasifs
must produce the reference output with exactly the documented substitutions, and the
section must exist in ``conformance/DIFFERENCES.md``.

Command line::

    python -m conformance.runner [-k SUBSTRING] [--runtime memory,native,overlay]
                                 [--binding raw,checked] [--show] [-v]

prints one line per case and runtime (PASS, DOC: matched its documented difference,
XFAIL: a known wasifs bug still there, FAIL, XPASS: a known bug no longer shows, ERROR) and a
summary; the exit status is 1 when any run failed or a known bug passed.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import hashlib
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):  # ``python conformance/runner.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.cases import CASES, Case, Link, Tree  # noqa: E402
from wasifs.toolchain import compile_c, wat_to_wasm  # noqa: E402

__all__ = (
    "Outcome",
    "RUNTIMES",
    "DEFAULT_RUNTIMES",
    "DIFFERENCES_MD",
    "build_guest",
    "run_case",
    "run_reference",
    "expected_outcome",
    "compare",
    "main",
)

HERE = Path(__file__).resolve().parent
GUESTS = HERE / "guests"
DIFFERENCES_MD = HERE / "DIFFERENCES.md"

#: Every runtime the runner knows: the reference and the wasifs (backend, binding) pairs.
RUNTIMES: tuple[str, ...] = (
    "wasmtime",
    "memory-raw",
    "memory-checked",
    "native-raw",
    "native-checked",
    "fsspec-raw",
    "overlay-raw",
    "overlay-checked",
)
#: What the suite runs by default (both bindings on memory and native, raw on fsspec and overlay).
DEFAULT_RUNTIMES: tuple[str, ...] = ("memory-raw", "memory-checked", "native-raw", "native-checked",
                                     "fsspec-raw", "overlay-raw")

#: Files larger than this are compared by digest in tree dumps.
_INLINE_CONTENT = 4096

Entry = tuple[Any, ...]
Dump = dict[str, list[Entry]]


@dataclass
class Outcome:
    """What one run produced."""

    exit_code: int | str
    stdout: bytes
    stderr: bytes
    trees: Dump = field(default_factory=dict)
    seconds: float = 0.0
    #: How an abnormal end looked (the trap or exception message), for humans only.
    detail: str = ""


# --- building guests -------------------------------------------------------------------

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[ \t]*$', re.M)
_built: dict[str, bytes] = {}


def _inline_includes(path: Path, seen: tuple[Path, ...] = ()) -> bytes:
    """The source of ``path`` with local ``#include "x.h"`` lines replaced by the header
    (recursively), so that the compile cache key covers the headers too."""
    if path in seen:
        raise ValueError(f"include cycle through {path}")
    text = path.read_bytes()

    def repl(m: re.Match[bytes]) -> bytes:
        inc = path.parent / m.group(1).decode()
        return (
            b"/* begin "
            + m.group(1)
            + b" */\n"
            + _inline_includes(inc, (*seen, path))
            + b"\n/* end "
            + m.group(1)
            + b" */"
        )

    return _INCLUDE.sub(repl, text)


def build_guest(case: Case) -> bytes:
    """The wasm bytes of a case's guest (compiled C, assembled WAT or inline WAT), memoized."""
    key = case.guest if case.wat is None else f"inline:{case.name}"
    wasm = _built.get(key)
    if wasm is None:
        if case.wat is not None:
            wasm = wat_to_wasm(case.wat)
        elif case.guest.endswith(".c"):
            wasm = compile_c(_inline_includes(GUESTS / case.guest), flags=case.cflags)
        elif case.guest.endswith(".wat"):
            wasm = wat_to_wasm((GUESTS / case.guest).read_text())
        else:
            raise ValueError(f"case {case.name}: unknown guest kind {case.guest!r}")
        _built[key] = wasm
    return wasm


# --- file trees ------------------------------------------------------------------------


def make_native_tree(root: Path, tree: Tree) -> None:
    """Create ``tree`` (``{"dir/": None, "f": b"data", "l": Link("f")}``) under ``root``."""
    for rel, value in tree.items():
        path = root / rel.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            path.mkdir(exist_ok=True)
        elif isinstance(value, Link):
            os.symlink(value.target, path)
        else:
            data = value.encode() if isinstance(value, str) else bytes(value or b"")
            path.write_bytes(data)


def _open_subdir(fs: Any, subdir: str) -> Any:
    """A handle on ``subdir`` of ``fs`` (the root for ""), made if missing."""
    d = fs.root()
    for name in [p for p in subdir.split("/") if p]:
        try:
            fs.mkdir(d, name)
        except FileExistsError:
            pass
        sub = fs.opendir(d, name)
        fs.close(d)
        d = sub
    return d


def make_backend_tree(fs: Any, tree: Tree, subdir: str = "") -> None:
    """Create ``tree`` in a wasifs backend (under ``subdir``) through the Backend protocol."""
    root = _open_subdir(fs, subdir)
    try:
        for rel, value in tree.items():
            parts = [p for p in rel.split("/") if p]
            handles = []
            d = root
            try:
                for name in parts[:-1]:
                    try:
                        fs.mkdir(d, name)
                    except FileExistsError:
                        pass
                    d = fs.opendir(d, name)
                    handles.append(d)
                name = parts[-1]
                if rel.endswith("/"):
                    try:
                        fs.mkdir(d, name)
                    except FileExistsError:
                        pass
                elif isinstance(value, Link):
                    fs.symlink(value.target, d, name)
                else:
                    data = value.encode() if isinstance(value, str) else bytes(value or b"")
                    f = fs.open_file(d, name, read=False, write=True, create=True, truncate=True)
                    try:
                        if data:
                            fs.pwrite(f, data, 0)
                    finally:
                        fs.close(f)
            finally:
                for h in reversed(handles):
                    fs.close(h)
    finally:
        fs.close(root)


def _content(data: bytes) -> bytes | str:
    if len(data) <= _INLINE_CONTENT:
        return data
    return f"<{len(data)} bytes sha256={hashlib.sha256(data).hexdigest()[:16]}>"


def dump_native(root: Path) -> list[Entry]:
    """The tree under ``root``: sorted ``(path, "dir")``, ``(path, "file", nlink, content)``,
    ``(path, "symlink", target)`` and ``(path, "other")`` entries."""
    out: list[Entry] = []

    def walk(d: Path, prefix: str) -> None:
        for name in sorted(os.listdir(d)):
            p = d / name
            rel = prefix + name
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out.append((rel, "symlink", os.readlink(p)))
            elif stat.S_ISDIR(st.st_mode):
                out.append((rel, "dir"))
                walk(p, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                out.append((rel, "file", st.st_nlink, _content(p.read_bytes())))
            else:
                out.append((rel, "other"))

    walk(root, "")
    return out


def dump_backend(fs: Any, subdir: str = "") -> list[Entry]:
    """The same dump as :func:`dump_native` (of ``subdir``), through the Backend protocol."""
    out: list[Entry] = []

    def walk(d: Any, prefix: str) -> None:
        for entry in sorted(fs.listdir(d), key=lambda e: e.name):
            name = entry.name
            rel = prefix + name
            st = fs.lstat(d, name)
            if stat.S_ISLNK(st.mode):
                out.append((rel, "symlink", fs.readlink(d, name)))
            elif stat.S_ISDIR(st.mode):
                out.append((rel, "dir"))
                sub = fs.opendir(d, name)
                try:
                    walk(sub, rel + "/")
                finally:
                    fs.close(sub)
            elif stat.S_ISREG(st.mode):
                f = fs.open_file(d, name, read=True, write=False)
                try:
                    buf = bytearray(st.size)
                    n = fs.pread(f, memoryview(buf), 0) if st.size else 0
                finally:
                    fs.close(f)
                out.append((rel, "file", st.nlink, _content(bytes(buf[:n]))))
            else:
                out.append((rel, "other"))

    root = _open_subdir(fs, subdir)
    try:
        walk(root, "")
    finally:
        fs.close(root)
    return out


# --- running ----------------------------------------------------------------------------

_engine: Any = None
_modules: dict[str, Any] = {}


def _wasmtime_module(case: Case, wasm: bytes) -> Any:
    import wasmtime

    global _engine
    if _engine is None:
        _engine = wasmtime.Engine()
    key = hashlib.sha256(wasm).hexdigest()
    module = _modules.get(key)
    if module is None:
        module = _modules[key] = wasmtime.Module(_engine, wasm)
    return module


def _argv(case: Case) -> list[str]:
    return [case.argv0, *case.args]


def run_reference(case: Case) -> Outcome:
    """Run ``case`` under wasmtime-py's built-in WASI (the reference)."""
    import wasmtime

    wasm = build_guest(case)
    module = _wasmtime_module(case, wasm)
    with tempfile.TemporaryDirectory(prefix=f"wasifs-conf-{case.name}-") as tmp:
        t = Path(tmp)
        roots = []
        for i, (_, tree) in enumerate(case.mounts):
            root = t / f"mount{i}"
            root.mkdir()
            make_native_tree(root, tree)
            roots.append(root)
        (t / "stdin").write_bytes(case.stdin)
        cfg = wasmtime.WasiConfig()
        cfg.argv = _argv(case)
        cfg.env = list(case.env)
        cfg.stdin_file = str(t / "stdin")
        cfg.stdout_file = str(t / "stdout")
        cfg.stderr_file = str(t / "stderr")
        for (guest_path, _), root in zip(case.mounts, roots, strict=True):
            cfg.preopen_dir(str(root), guest_path, guest_path not in case.readonly)
        store = wasmtime.Store(_engine)
        store.set_wasi(cfg)
        linker = wasmtime.Linker(_engine)
        linker.define_wasi()
        t0 = time.perf_counter()
        code: int | str
        detail = ""
        try:
            instance = linker.instantiate(store, module)
            start = instance.exports(store)["_start"]
            if not isinstance(start, wasmtime.Func):
                raise TypeError(f"case {case.name}: the guest's _start is not a function")
            start(store)
            code = 0
        except wasmtime.ExitTrap as exc:
            code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            # wasmtime reports a host-side abort (an invalid enum value, for example) as a
            # WasmtimeError rather than a Trap; both end the guest abnormally.
            code = "trap"
            detail = str(exc)
        seconds = time.perf_counter() - t0
        del store, linker
        stdout = (t / "stdout").read_bytes() if (t / "stdout").exists() else b""
        stderr = (t / "stderr").read_bytes() if (t / "stderr").exists() else b""
        trees = {
            guest_path: dump_native(root)
            for (guest_path, _), root in zip(case.mounts, roots, strict=True)
        }
    return Outcome(code, stdout, stderr, trees, seconds, detail)


_BINDINGS: dict[str, Literal["raw", "checked"]] = {"raw": "raw", "checked": "checked"}


def run_wasifs(case: Case, backend: str, binding: str) -> Outcome:
    """Run ``case`` under wasifs with ``backend`` ("memory"/"native") and ``binding``
    ("raw"/"checked").

    native: ``wasifs.run`` with one ``NativeFileSystem`` per mount, on fresh host directories
    as for wasmtime. memory: the mounts are folders of ONE ``MemoryFileSystem`` (what
    ``wasifs run --backend memory`` does with its ``--dir`` folders), each preopened at its
    folder (``Preopen(..., subdir=...)``) through the embedding API (``WasiHost``), so that
    a guest moves files between mounts as on one host filesystem under wasmtime.
    """
    import wasmtime


    wasm = build_guest(case)
    with tempfile.TemporaryDirectory(prefix=f"wasifs-conf-{case.name}-") as tmp:
        t = Path(tmp)
        dumpers: dict[str, Callable[[], list[Entry]]] = {}
        t0 = time.perf_counter()
        code: int | str
        stdout = stderr = b""
        detail = ""
        try:
            if backend == "memory":
                code, stdout, stderr, detail = _run_shared_memory(case, wasm, binding, dumpers)
            elif backend == "native":
                code, stdout, stderr, detail = _run_native(case, wasm, binding, dumpers, t)
            elif backend == "fsspec":
                code, stdout, stderr, detail = _run_shared_fsspec(case, wasm, binding, dumpers, t)
            elif backend == "overlay":
                code, stdout, stderr, detail = _run_overlay(case, wasm, binding, dumpers)
            else:
                raise ValueError(f"unknown backend {backend!r}")
        except wasmtime.Trap as exc:
            code = "trap"
            detail = str(exc)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as the outcome
            code = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            detail = f"{type(exc).__name__}: {exc}"
            out = getattr(exc, "stdout", None)
            if isinstance(out, bytes):
                stdout = out
        seconds = time.perf_counter() - t0
        trees = {gp: dump() for gp, dump in dumpers.items()}
    return Outcome(code, stdout, stderr, trees, seconds, detail)


_Ran = tuple[int | str, bytes, bytes, str]


def _run_native(case: Case, wasm: bytes, binding: str,
                dumpers: dict[str, Callable[[], list[Entry]]], t: Path) -> _Ran:
    import wasifs
    from wasifs.backends.native import NativeFileSystem

    mounts: dict[str, Any] = {}
    for i, (guest_path, tree) in enumerate(case.mounts):
        root = t / f"mount{i}"
        root.mkdir()
        make_native_tree(root, tree)
        fs = NativeFileSystem(str(root))
        dumpers[guest_path] = functools.partial(dump_native, root)
        mounts[guest_path] = (
            wasifs.Mount(fs, readonly=True) if guest_path in case.readonly else fs
        )
    result = wasifs.run(
        wasm,
        args=_argv(case),
        env=dict(case.env),
        mounts=mounts,
        stdin=case.stdin,
        binding=_BINDINGS[binding],
        strict=True,
    )
    if result.trap is not None:
        return "trap", result.stdout, result.stderr, result.trap
    return result.exit_code, result.stdout, result.stderr, ""


def _run_shared_memory(case: Case, wasm: bytes, binding: str,
                       dumpers: dict[str, Callable[[], list[Entry]]]) -> _Ran:
    from wasifs.backends.memory import MemoryFileSystem
    from wasifs.vfs import Preopen

    fs = MemoryFileSystem()
    preopens = []
    for i, (guest_path, tree) in enumerate(case.mounts):
        folder = f"mount{i}"
        make_backend_tree(fs, tree, folder)
        dumpers[guest_path] = functools.partial(dump_backend, fs, folder)
        preopens.append(Preopen(guest_path, fs, readonly=guest_path in case.readonly,
                                subdir=folder))
    return _run_preopens(case, wasm, binding, preopens)


def _run_shared_fsspec(case: Case, wasm: bytes, binding: str,
                       dumpers: dict[str, Callable[[], list[Entry]]], t: Path) -> _Ran:
    from fsspec.implementations.local import LocalFileSystem

    from wasifs.backends.fsspec import FsspecBackend
    from wasifs.vfs import Preopen

    preopens = []
    for i, (guest_path, tree) in enumerate(case.mounts):
        root = t / f"mount{i}"
        root.mkdir()
        make_native_tree(root, tree)
        dumpers[guest_path] = functools.partial(dump_native, root)
    fs = FsspecBackend(LocalFileSystem(skip_instance_cache=True), str(t))
    for i, (guest_path, _) in enumerate(case.mounts):
        preopens.append(Preopen(guest_path, fs, readonly=guest_path in case.readonly,
                                subdir=f"mount{i}"))
    return _run_preopens(case, wasm, binding, preopens)


def _run_overlay(case: Case, wasm: bytes, binding: str,
                 dumpers: dict[str, Callable[[], list[Entry]]]) -> _Ran:
    from wasifs.backends import MemoryFileSystem, OverlayFileSystem
    from wasifs.vfs import Preopen

    lower = MemoryFileSystem()
    folders = [f"mount{i}" for i in range(len(case.mounts))]
    for (_, tree), folder in zip(case.mounts, folders, strict=True):
        make_backend_tree(lower, tree, folder)
    lower.readonly = True
    before = [dump_backend(lower, folder) for folder in folders]
    fs = OverlayFileSystem(lower)
    preopens = []
    for (guest_path, _), folder in zip(case.mounts, folders, strict=True):
        dumpers[guest_path] = functools.partial(dump_backend, fs, folder)
        preopens.append(Preopen(guest_path, fs, readonly=guest_path in case.readonly,
                                subdir=folder))
    ran = _run_preopens(case, wasm, binding, preopens)
    if [dump_backend(lower, folder) for folder in folders] != before:
        raise AssertionError(f"case {case.name}: the overlay's lower layer changed")
    return ran


def _run_preopens(case: Case, wasm: bytes, binding: str, preopens: list[Any]) -> _Ran:
    """Run ``case`` through the embedding API (``WasiHost``) with these preopens."""
    import wasmtime

    import wasifs
    from wasifs.api import default_engine, load_module
    from wasifs.errors import GuestTrap, ProcExit

    engine = default_engine()
    module = load_module(wasm, engine)
    store = wasmtime.Store(engine)
    host = wasifs.WasiHost(store, args=_argv(case), env=dict(case.env), mounts={},
                           stdin=case.stdin, binding=_BINDINGS[binding], strict=True)
    for p in preopens:
        host.core.add_preopen(p)
    linker = wasmtime.Linker(engine)
    host.define(linker, module)
    trap = ""
    try:
        host.instantiate(linker, module)
        code: int | str = host.start()
    except ProcExit as exc:
        code = exc.code
    except GuestTrap as exc:
        code, trap = "trap", str(exc)
    finally:
        host.close()
    return code, host.output(1), host.output(2), trap


def run_case(case: Case, runtime: str) -> Outcome:
    """Run ``case`` under ``runtime`` (one of :data:`RUNTIMES`)."""
    if runtime == "wasmtime":
        return run_reference(case)
    backend, _, binding = runtime.partition("-")
    return run_wasifs(case, backend, binding or "raw")


# --- comparing --------------------------------------------------------------------------


def expected_outcome(case: Case, reference: Outcome, runtime: str | None = None) -> Outcome:
    """What wasifs (``runtime``) must produce: the reference with the case's documented
    differences applied. Raises ``AssertionError`` when a difference no longer fits the
    reference (wasmtime changed, or the case did)."""
    diffs = [
        d
        for d in case.differences
        if runtime is None or d.runtimes is None or runtime in d.runtimes
    ]
    if not diffs:
        return reference
    exit_code = reference.exit_code
    stdout = reference.stdout
    trees = {gp: list(entries) for gp, entries in reference.trees.items()}
    for diff in diffs:
        where = f"case {case.name}, difference {diff.section!r}"
        if diff.reference_exit_code is not None and reference.exit_code != diff.reference_exit_code:
            raise AssertionError(
                f"{where}: expects wasmtime to exit with {diff.reference_exit_code!r}, but it "
                f"exited with {reference.exit_code!r} (update cases.py or DIFFERENCES.md)"
            )
        if diff.expect_stdout is not None:
            stdout = diff.expect_stdout.encode()
        if diff.stdout:
            lines: list[bytes | None] = list(stdout.split(b"\n"))
            pos = 0
            for old, new in diff.stdout:
                target = old.encode()
                try:
                    i = lines.index(target, pos)
                except ValueError:
                    raise AssertionError(
                        f"{where}: expects wasmtime to print the line {old!r} (after line "
                        f"{pos}), but it did not (update cases.py or DIFFERENCES.md)"
                    ) from None
                lines[i] = None if new is None else new.encode()
                pos = i + 1
            stdout = b"\n".join(ln for ln in lines if ln is not None)
        if diff.exit_code is not None:
            exit_code = diff.exit_code
        for mount, path, entry in diff.files:
            entries = [e for e in trees.get(mount, []) if e[0] != path]
            if entry is not None:
                entries.append(tuple(entry))
            trees[mount] = sorted(entries, key=lambda e: str(e[0]))
    return Outcome(exit_code, stdout, reference.stderr, trees)


def _text(data: bytes) -> list[str]:
    return data.decode("utf-8", "backslashreplace").splitlines()


def compare(case: Case, expected: Outcome, got: Outcome, *, context: int = 1) -> list[str]:
    """Human-readable differences between ``expected`` and ``got`` (empty when equal)."""
    problems: list[str] = []
    if expected.exit_code != got.exit_code:
        problems.append(f"exit code: expected {expected.exit_code!r}, got {got.exit_code!r}")
    streams = [("stdout", expected.stdout, got.stdout)]
    if case.compare_stderr:
        streams.append(("stderr", expected.stderr, got.stderr))
    for name, exp, act in streams:
        if exp != act:
            lines = list(
                difflib.unified_diff(
                    _text(exp),
                    _text(act),
                    f"{name} (expected)",
                    f"{name} (wasifs)",
                    n=context,
                    lineterm="",
                )
            )
            problems.append(f"{name} differs:\n" + "\n".join(lines[:400]))
    for gp in sorted(set(expected.trees) | set(got.trees)):
        exp_t = {e[0]: e for e in expected.trees.get(gp, [])}
        got_t = {e[0]: e for e in got.trees.get(gp, [])}
        rows = [
            f"  {p}: expected {exp_t.get(p)!r}, got {got_t.get(p)!r}"
            for p in sorted(set(exp_t) | set(got_t))
            if exp_t.get(p) != got_t.get(p)
        ]
        if rows:
            problems.append(f"file tree at {gp} differs:\n" + "\n".join(rows[:40]))
    return problems


def differences_sections() -> set[str]:
    """The section anchors of ``DIFFERENCES.md`` (``## <anchor>: title`` headings)."""
    try:
        text = DIFFERENCES_MD.read_text(encoding="utf-8")
    except OSError:
        return set()
    return {m.group(1) for m in re.finditer(r"^##\s+([A-Za-z0-9_.-]+)", text, re.M)}


# --- command line -------------------------------------------------------------------------


def _select(cases: Sequence[Case], patterns: Iterable[str]) -> list[Case]:
    pats = list(patterns)
    if not pats:
        return list(cases)
    return [c for c in cases if any(p in c.name for p in pats)]


def _runtimes(runtime_opt: str | None, binding_opt: str | None) -> list[str]:
    if runtime_opt is None and binding_opt is None:
        return list(DEFAULT_RUNTIMES)
    backends = (runtime_opt or "memory,native").split(",")
    bindings = (binding_opt or "raw").split(",")
    out = []
    for b in backends:
        b = b.strip()
        if b == "wasmtime":
            continue
        for bd in bindings:
            rt = f"{b}-{bd.strip()}"
            if rt not in RUNTIMES:
                raise SystemExit(f"unknown runtime {rt!r}; choose from {', '.join(RUNTIMES)}")
            out.append(rt)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.runner",
        description="Run the conformance guests under wasmtime and wasifs and compare.",
    )
    parser.add_argument(
        "-k",
        action="append",
        default=[],
        metavar="SUBSTRING",
        help="only cases whose name contains SUBSTRING (repeatable)",
    )
    parser.add_argument(
        "--runtime",
        metavar="LIST",
        help="wasifs backends to run: memory,native,overlay (default: memory,native)",
    )
    parser.add_argument(
        "--binding",
        metavar="LIST",
        help="bindings to run: raw,checked (default: both on memory, raw on native)",
    )
    parser.add_argument(
        "--reference-only",
        action="store_true",
        help="only run wasmtime (print its outputs with --show)",
    )
    parser.add_argument(
        "--show", action="store_true", help="print the reference stdout/stderr/tree of each case"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print full differences")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    opts = parser.parse_args(argv)

    cases = _select(CASES, opts.k)
    if opts.list:
        for c in cases:
            print(f"{c.name:32} {c.guest if c.wat is None else '(inline wat)'}")
        return 0
    runtimes = [] if opts.reference_only else _runtimes(opts.runtime, opts.binding)
    sections = differences_sections()
    counts = {"pass": 0, "fail": 0, "documented": 0, "xfail": 0, "xpass": 0, "error": 0}
    failures: list[str] = []
    t_start = time.perf_counter()
    for case in cases:
        try:
            ref = run_reference(case)
        except Exception as exc:  # noqa: BLE001 - reported
            print(f"ERROR {case.name} [wasmtime]: {type(exc).__name__}: {exc}")
            counts["error"] += 1
            failures.append(case.name)
            continue
        print(f"REF   {case.name:32} [wasmtime]       exit={ref.exit_code} ({ref.seconds:.2f}s)")
        if opts.show:
            _show(ref)
        for d in case.differences:
            if d.section not in sections:
                print(f"ERROR {case.name}: DIFFERENCES.md has no section {d.section!r}")
                counts["error"] += 1
                failures.append(case.name)
        for rt in runtimes:
            if rt in case.skip:
                print(f"SKIP  {case.name:32} [{rt:14}] {case.skip[rt]}")
                continue
            try:
                exp = expected_outcome(case, ref, rt)
            except AssertionError as exc:
                print(f"ERROR {case.name:32} [{rt:14}] {exc}")
                counts["error"] += 1
                failures.append(f"{case.name}[{rt}]")
                continue
            try:
                got = run_case(case, rt)
            except Exception as exc:  # noqa: BLE001 - reported
                print(f"ERROR {case.name:32} [{rt}]: {type(exc).__name__}: {exc}")
                counts["error"] += 1
                failures.append(f"{case.name}[{rt}]")
                continue
            problems = compare(case, exp, got)
            bug = case.bug_for(rt)
            if not problems and bug is not None:
                counts["xpass"] += 1
                failures.append(f"{case.name}[{rt}]")
                print(f"XPASS {case.name:32} [{rt:14}] known bug fixed? remove it: {bug}")
            elif not problems:
                documented = exp is not ref
                status = "DOC  " if documented else "PASS "
                counts["documented" if documented else "pass"] += 1
                print(f"{status} {case.name:32} [{rt:14}] ({got.seconds:.2f}s)")
            elif bug is not None:
                counts["xfail"] += 1
                print(f"XFAIL {case.name:32} [{rt:14}] known bug: {bug}")
                if opts.verbose:
                    for p in problems:
                        print("      " + p.replace("\n", "\n      "))
            else:
                counts["fail"] += 1
                failures.append(f"{case.name}[{rt}]")
                first = problems[0].splitlines()[0]
                print(f"FAIL  {case.name:32} [{rt:14}] {first}")
                if opts.verbose:
                    for p in problems:
                        print("      " + p.replace("\n", "\n      "))
    total = time.perf_counter() - t_start
    print(
        f"\n{len(cases)} cases x {len(runtimes)} wasifs runtimes: {counts['pass']} passed, "
        f"{counts['documented']} matched a documented difference, {counts['xfail']} known "
        f"bugs, {counts['fail']} failed, {counts['xpass']} known bugs passed, "
        f"{counts['error']} errors in {total:.1f}s"
    )
    if failures:
        print("failed: " + ", ".join(failures))
    return 1 if counts["fail"] or counts["error"] or counts["xpass"] else 0


def _show(out: Outcome) -> None:
    print("  --- stdout")
    for line in _text(out.stdout):
        print("  | " + line)
    if out.stderr:
        print("  --- stderr")
        for line in _text(out.stderr):
            print("  | " + line)
    for gp, entries in out.trees.items():
        print(f"  --- tree {gp}")
        for e in entries:
            print("  | " + " ".join(repr(x) if not isinstance(x, str) else x for x in e))


if __name__ == "__main__":
    sys.exit(main())
