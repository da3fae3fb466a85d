"""The command line: ``wasifs run [OPTIONS] MODULE.wasm [ARGS...]`` and ``wasifs demo``.

Options come before the module; everything after the module is the guest's. The guest's
``argv[0]`` is the module's file name and its environment is exactly the ``--env`` variables.
It sees only the directories given with ``--dir``/``--ro-dir``/``--mem-dir`` (none by
default, as under wasmtime). The exit status is the guest's (0-125) or one of wasifs's own
(:data:`EXIT_STATUSES`, documented in ``docs/cli.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from .config import (
    EXIT_CANNOT_RUN,
    EXIT_FUEL_EXHAUSTED,
    EXIT_INTERRUPTED,
    EXIT_MEMORY_LIMIT,
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_TRAP,
    EXIT_USAGE,
    EXIT_WRITE_BACK,
    GUEST_EXIT_LIMIT,
)

__all__ = ("EXIT_STATUSES", "build_parser", "main", "parse_quota", "parse_size")

#: wasifs's own exit statuses (a guest exits with 0-125): status -> meaning.
EXIT_STATUSES: dict[int, str] = {
    EXIT_CANNOT_RUN: "the module cannot run: not a valid module, an import nobody provides "
                     "or of the wrong type, or not a command",
    EXIT_NOT_FOUND: "the module file does not exist",
    EXIT_USAGE: "usage error: a bad option, a --dir that is not a directory",
    EXIT_WRITE_BACK: "--write-back could not apply everything (nothing is lost: the summary "
                     "says what was applied and where the guest's tree was saved), or "
                     "--export-changes could not write its folder",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); nothing is written back",
    EXIT_TRAP: "the guest trapped (including proc_exit with a status outside 0-125)",
    EXIT_MEMORY_LIMIT: "--max-memory is too small for the module (it needs more memory or "
                       "table elements from the start); nothing is written back",
    EXIT_TIMEOUT: "--timeout expired; nothing is written back",
    EXIT_FUEL_EXHAUSTED: "the guest used up its --fuel; nothing is written back",
}
assert all(code >= GUEST_EXIT_LIMIT for code in EXIT_STATUSES)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors exit with :data:`EXIT_USAGE` (a guest can exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _split_dir(spec: str) -> tuple[str, str]:
    host, sep, guest = spec.partition("::")
    if not host:
        raise argparse.ArgumentTypeError(f"--dir needs a host directory: {spec!r}")
    if sep and not guest:
        raise argparse.ArgumentTypeError(f"--dir needs a guest path after '::': {spec!r}")
    # Without ::GUEST the guest sees the directory under the name given, as wasmtime does;
    # wasi-libc matches "./d", "d" and "/d" alike for a preopen named "./d".
    return host, (guest if sep else host)


def _guest_path(spec: str) -> str:
    if not spec:
        raise argparse.ArgumentTypeError("--mem-dir needs a guest path")
    return spec


def _mount_spec(spec: str) -> tuple[str, str, bool]:
    from .vfs import parse_mount_option

    try:
        return parse_mount_option(spec)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"--mount: {exc}") from None


def _overlay_spec(spec: str) -> tuple[str, str]:
    from .vfs import normalize_mount_point

    guest, sep, lower = spec.partition("=")
    if not sep or not guest or not lower:
        raise argparse.ArgumentTypeError(
            f"--overlay takes GUEST=LOWER (for example /data=./dataset), got {spec!r}")
    try:
        normalize_mount_point(guest)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"--overlay: {exc}") from None
    return guest, lower


def parse_size(text: str) -> int:
    """``--max-memory`` and ``--quota bytes=``: a number of bytes with an optional binary
    suffix (``K``, ``M``, ``G``, ``T``: ``64M`` is 67,108,864). ``ValueError`` otherwise."""
    from .backends.sandbox import parse_size as size

    return size(text)


def parse_quota(text: str) -> Any:
    """``--quota``: a :class:`wasifs.backends.Quota` from ``bytes=SIZE,files=N,fds=N`` (and
    the quota's other fields: ``dirs``, ``file_size``, ``path_length``, ``depth``,
    ``full=EDQUOT``), any of them, in any order."""
    from .backends.sandbox import Quota

    quota = Quota.parse(text)
    if quota == Quota():
        raise ValueError(f"no limit given in {text!r} (bytes=SIZE,files=N,fds=N)")
    return quota


def _count(text: str) -> int:
    text = text.strip().replace("_", "")
    if not text.isdigit():
        raise ValueError(f"not a count: {text!r}")
    return int(text)


def _arg(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:  # argparse names the option ("argument --fuel: ...")
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"needs a positive number of seconds, got {text!r}")
    return value


def _env(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--env takes NAME=VALUE, got {spec!r}")
    return name, value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", action="append", default=[], type=_split_dir, metavar="HOST[::GUEST]",
                   help="give the guest a host directory (at GUEST, default the HOST name as "
                        "given)")
    p.add_argument("--ro-dir", action="append", default=[], type=_split_dir,
                   metavar="HOST[::GUEST]", help="the same, read-only")
    p.add_argument("--mem-dir", action="append", default=[], type=_guest_path, metavar="GUEST",
                   help="give the guest an empty in-memory directory at GUEST (discarded at "
                        "the end)")
    p.add_argument("--mount", action="append", default=[], type=_mount_spec,
                   metavar="GUEST=URL[:ro]",
                   help="mount any backend wasifs can name at GUEST, used as it is whatever "
                        "--backend says: a registered name or URL (memory://, native:///dir, "
                        "overlay:///dir, sandbox URLs), any fsspec URL (zip://a.zip, "
                        "tar://a.tar, s3://bucket/dir, zip::s3://bucket/a.zip) or a host "
                        "directory; ':ro' makes it read-only")
    p.add_argument("--overlay", action="append", default=[], type=_overlay_spec,
                   metavar="GUEST=LOWER",
                   help="a copy-on-write view at GUEST of LOWER (a URL or host directory, "
                        "never modified): the guest's changes stay in memory (see "
                        "--export-changes)")
    p.add_argument("--export-changes", metavar="DIR",
                   help="when the guest exits, write each --overlay's changes into "
                        "DIR/<guest path>: added and changed entries, and a whiteout file "
                        "(.wh.NAME) for each deletion")
    p.add_argument("--env", action="append", default=[], type=_env, metavar="NAME=VALUE",
                   help="set a guest environment variable (nothing is inherited)")
    p.add_argument("--backend", choices=("memory", "native"), default="memory",
                   help="memory (default): copy each --dir into a fresh in-memory filesystem "
                        "and leave the host directory untouched; native: work on the host "
                        "directory itself")
    p.add_argument("--write-back", dest="write_back", action="store_const", const="always",
                   default=None,
                   help="with --backend memory: write the final tree back to the --dir host "
                        "directories when the guest exits (deletions included; never after "
                        "an interruption); --write-back=success: only after exit status 0. "
                        "Nothing is lost: see docs/writeback.md")
    # "--write-back=success" as an option of its own: an optional value would take the module
    p.add_argument("--write-back=success", dest="write_back", action="store_const",
                   const="success", help=argparse.SUPPRESS)
    p.add_argument("--write-back=always", dest="write_back", action="store_const",
                   const="always", help=argparse.SUPPRESS)
    p.add_argument("--binding", choices=("auto", "raw", "checked"), default="auto",
                   help=argparse.SUPPRESS)
    limits = p.add_argument_group("limits and records")
    limits.add_argument("--timeout", type=_arg(_seconds), metavar="SECONDS",
                        help=f"stop the guest after SECONDS of wall-clock time (exit status "
                             f"{EXIT_TIMEOUT})")
    limits.add_argument("--fuel", type=_arg(_count), metavar="N",
                        help=f"stop the guest after about N WebAssembly instructions (exit "
                             f"status {EXIT_FUEL_EXHAUSTED})")
    limits.add_argument("--max-memory", type=_arg(parse_size), metavar="SIZE",
                        help="cap the guest's linear memory at SIZE bytes (K, M, G suffixes: "
                             "1M = 1,048,576): a memory.grow past it fails, as under "
                             f"wasmtime; a module that needs more from the start exits "
                             f"{EXIT_MEMORY_LIMIT}")
    limits.add_argument("--quota", type=_arg(parse_quota),
                        metavar="bytes=SIZE,files=N,fds=N",
                        help="limit what the guest may store in every mount (bytes stored, "
                             "files, open descriptors; also dirs=N, file_size=SIZE, "
                             "path_length=N, depth=N, full=EDQUOT): ENOSPC (or EDQUOT), "
                             "EMFILE, EFBIG, ENAMETOOLONG beyond; what a mount holds already "
                             "counts (the sandbox backend, one per backend)")
    limits.add_argument("--hide", action="append", default=[], metavar="GLOB",
                        help="make paths matching GLOB invisible in every mount (the sandbox "
                             "backend); may be given several times")
    limits.add_argument("--audit", metavar="FILE",
                        help="write every filesystem call of the guest to FILE as JSON lines "
                             "(time, syscall, fd, path, mount, result, bytes; never file "
                             "contents); '-' for stderr")
    limits.add_argument("--stats", action="store_true",
                        help="print a table of the guest's syscalls (calls, errors, bytes, "
                             "time) on stderr when it ends")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wasifs", description="Run WebAssembly (WASI preview1) programs on virtual filesystems.",
        epilog="Exit status: the guest's own (0-125), or "
               + "; ".join(f"{code}: {text}" for code, text in EXIT_STATUSES.items()) + ".")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"wasifs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run", help="run a WASI command module",
        description="Run MODULE.wasm. Options come before the module; the rest is the guest's "
                    "argv. The guest sees no directory unless one is given.")
    _add_run_options(run)
    run.add_argument("module", metavar="MODULE.wasm")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    demo = sub.add_parser(
        "demo", help="run the bundled example guest on an in-memory filesystem",
        description="Run the bundled example (a small C program). Without ARGS it builds a "
                    "notebook of files under /notes on an in-memory filesystem at /, edits "
                    "it (append, rename, symlink, delete) and prints the tree with sizes and "
                    "a word count; with a directory argument it only walks and counts that "
                    "directory, e.g. `wasifs demo --dir ./docs::/docs /docs`. Takes the "
                    "options of `run`.")
    _add_run_options(demo)
    demo.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    from .cuda import add_parsers  # wasifs checksum / wasifs scan

    add_parsers(sub)
    return parser


def _example_path() -> Path:
    return Path(str(resources.files("wasifs").joinpath("examples/notes.wasm")))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if getattr(ns, "bulk_main", None) is not None:
        return int(ns.bulk_main(ns))
    if ns.write_back and ns.backend != "memory":
        parser.error("--write-back only applies to --backend memory")
    demo = ns.command == "demo"
    module = str(_example_path()) if demo else ns.module
    try:
        return _run_module(module, ns, demo=demo)
    except KeyboardInterrupt:
        print("wasifs: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(status: int, message: str) -> int:
    print(f"wasifs: {message}", file=sys.stderr)
    return status


def _run_module(module: str, ns: argparse.Namespace, *, demo: bool) -> int:
    from . import api

    name = os.path.basename(module)
    dirs = [(d, False) for d in ns.dir] + [(d, True) for d in ns.ro_dir]
    seen: set[str] = set(ns.mem_dir)
    if len(seen) < len(ns.mem_dir):
        return _fail(EXIT_USAGE, "two directories mounted at the same guest path")
    for (host, guest), _ in dirs:
        if not os.path.isdir(host):
            return _fail(EXIT_USAGE, f"--dir {host}: not a directory")
        if guest in seen:
            return _fail(EXIT_USAGE, f"two directories mounted at {guest!r}")
        seen.add(guest)
    clash = _mount_point_clash([g for (_, g), _ in dirs] + list(ns.mem_dir)
                               + [g for g, _, _ in ns.mount] + [g for g, _ in ns.overlay])
    if clash:
        return _fail(EXIT_USAGE, clash)
    if ns.export_changes is not None and not ns.overlay:
        return _fail(EXIT_USAGE, "--export-changes needs an --overlay whose changes to export")
    if not demo and not os.path.exists(module):
        return _fail(EXIT_NOT_FOUND, f"{module}: no such module file")

    mounts: dict[str, api.Mount] = {}
    copies: list[_Copy] = []  # in-memory copies to write back
    if ns.write_back:
        overlap = _overlapping([host for (host, _), readonly in dirs if not readonly])
        if overlap is not None:
            return _fail(EXIT_USAGE, f"--write-back: --dir {overlap[1]} is {overlap[2]} "
                         f"--dir {overlap[0]}: the two copies would overwrite each other's "
                         "changes; give the folder once")
    if dirs:
        # With --backend memory every --dir lives in ONE in-memory filesystem, each in its
        # own folder, so that a rename between two of them works as on the host.
        mounts, copies = _mount_dirs(dirs, ns.backend, ns.write_back)
    if ns.mem_dir:
        from .backends.memory import MemoryFileSystem

        for guest in ns.mem_dir:
            mounts[guest] = api.Mount(MemoryFileSystem())
    try:
        mounts.update(_open_mounts(ns.mount, ns.overlay))
    except (ImportError, OSError, TypeError, ValueError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    if demo and not mounts:
        from .backends.memory import MemoryFileSystem

        mounts["/"] = api.Mount(MemoryFileSystem())  # the demo's own tree
    if ns.quota is not None or ns.hide:
        try:
            mounts = _sandboxed_mounts(mounts, ns.quota, ns.hide)
        except (OSError, TypeError, ValueError) as exc:
            return _fail(EXIT_USAGE, f"--quota/--hide: {exc}")
    from .observe import JsonLinesSink, Metrics

    audit: JsonLinesSink | None = None
    if ns.audit is not None:
        try:
            audit = JsonLinesSink(sys.stderr if ns.audit == "-" else ns.audit)
        except OSError as exc:
            return _fail(EXIT_USAGE, f"--audit {ns.audit}: {exc.strerror or exc}")
    metrics = Metrics() if ns.stats else None
    try:
        result = api.run(module, args=[name, *ns.args], env=dict(ns.env), mounts=mounts,
                         stdin="inherit", stdout="inherit", stderr="inherit",
                         binding=ns.binding, timeout=ns.timeout, fuel=ns.fuel,
                         max_memory=ns.max_memory, audit=audit, metrics=metrics)
    except api.LimitExceeded as exc:  # nothing is written back
        return _fail(exc.exit_status, f"{name}: {exc}")
    except api.LinkError as exc:
        return _fail(EXIT_CANNOT_RUN, _link_message(exc, name))
    except FileNotFoundError as exc:
        if exc.filename == module:
            return _fail(EXIT_NOT_FOUND, f"{module}: no such module file")
        return _fail(EXIT_CANNOT_RUN, f"{name}: {exc}")
    except ValueError as exc:  # not a module: truncated, corrupt, not wasm at all
        return _fail(EXIT_CANNOT_RUN, f"{name}: {_one_line(str(exc))}; check that the file "
                     "is a complete WebAssembly module (rebuild or download it again)")
    except OSError as exc:
        return _fail(EXIT_CANNOT_RUN, f"{name}: {exc}")
    except api.Interrupted as exc:  # a cancellation: nothing is written back
        return _fail(EXIT_INTERRUPTED, f"{name}: interrupted: {exc}")
    finally:
        if audit is not None:
            audit.close()
        if metrics is not None:
            print(metrics.summary(), file=sys.stderr)
    status = _write_back(copies, ns.write_back, result.exit_code, result.trap is None)
    if ns.export_changes is not None:
        exported = _export_changes(_unwrapped(result.mounts), ns.export_changes)
        status = status or exported
    if result.trap is not None:
        print(f"wasifs: {name}: the guest trapped: {_one_line(result.trap)}", file=sys.stderr)
    return status


def _sandboxed_mounts(mounts: dict[str, Any], quota: Any, hide: list[str]
                      ) -> dict[str, Any]:
    """Every mount's backend wrapped in the sandbox backend with ``quota`` and the ``hide``
    globs: each distinct backend once (the ``--dir`` folders of one ``--backend memory``
    filesystem share one wrapper, and so one quota, so that renames between them keep
    working); each ``Mount``'s ``readonly``, ``subdir`` and ``rights`` are kept."""
    from dataclasses import replace

    from .api import Mount
    from .backends import SandboxFileSystem

    wrapped: dict[int, SandboxFileSystem] = {}
    out: dict[str, Any] = {}
    for guest, mount in mounts.items():
        inner = mount.source
        box = wrapped.get(id(inner))
        if box is None:
            box = wrapped[id(inner)] = SandboxFileSystem(inner, quota=quota, hide=hide)
        out[guest] = replace(mount, source=box) if isinstance(mount, Mount) else box
    return out


def _unwrapped(mounts: Any) -> dict[str, Any]:
    """``mounts`` with each sandbox replaced by the backend it wraps."""
    from .backends import SandboxFileSystem

    return {guest: backend.inner if isinstance(backend, SandboxFileSystem) else backend
            for guest, backend in mounts.items()}


def _one_line(text: str) -> str:
    """A wasmtime error's message and causes on one line (its backtrace left out)."""
    parts: list[str] = []
    in_backtrace = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("error while executing at wasm backtrace") or \
                line.startswith("wasm backtrace:"):
            in_backtrace = True
            continue
        if line == "Caused by:":
            in_backtrace = False
            continue
        if in_backtrace:
            continue
        head, sep, rest = line.partition(": ")
        if sep and head.isdigit():
            line = rest
        if line not in parts:
            parts.append(line)
    return ": ".join(parts) if parts else text.strip()


def _link_message(exc: Any, name: str) -> str:
    if exc.reason == "missing":
        return (f"{name} imports {', '.join(exc.imports)}, which `wasifs run` does not provide "
                "(only wasi_snapshot_preview1.* is): the module was built for a host that "
                "defines these; rebuild it as a self-contained WASI command, or run it from "
                "Python with a wasmtime.Linker that defines them (wasifs.run(..., linker=...))")
    return str(exc)


class _Copy(NamedTuple):
    """A --dir copied into memory, to write back: the memory filesystem, its folder there,
    the host directory, what the copy-in put where, and the guest's path."""

    mem: Any
    folder: str
    host: str
    baseline: Any
    guest: str


def _mount_dirs(dirs: list[tuple[tuple[str, str], bool]], backend: str, write_back: bool
                ) -> tuple[dict[str, Any], list[_Copy]]:
    """The mounts for ``--dir``/``--ro-dir``, and the copies to write back. With the memory
    backend all directories are copied into one ``MemoryFileSystem``, folder ``dir<N>``
    each, and mounted on their folder."""
    from .api import Mount
    from .backends import Baseline, copy_tree
    from .backends.memory import MemoryFileSystem
    from .backends.native import NativeFileSystem

    mounts: dict[str, Any] = {}
    copies: list[_Copy] = []
    mem: MemoryFileSystem | None = None
    for index, ((host, guest), readonly) in enumerate(dirs):
        if backend == "native":
            mounts[guest] = Mount(NativeFileSystem(host, readonly=readonly), readonly)
            continue
        if mem is None:
            mem = MemoryFileSystem()
        folder = f"dir{index}"
        src = NativeFileSystem(host, readonly=True)
        root = mem.root()
        s = src.root()
        d = None
        baseline = Baseline()
        try:
            mem.mkdir(root, folder)
            d = mem.opendir(root, folder)
            with _copy_progress(f"copying {host} in") as progress:
                copy_tree(src, s, mem, d, baseline=baseline, progress=progress)
        finally:
            src.close(s)
            if d is not None:
                mem.close(d)
            mem.close(root)
        mounts[guest] = Mount(mem, readonly, subdir=folder)
        if write_back and not readonly:
            copies.append(_Copy(mem, folder, host, baseline, guest))
    return mounts, copies


def _mount_point_clash(points: list[str]) -> str | None:
    """A message when two mount points are one directory to the guest's libc."""
    from .vfs import libc_prefix, normalize_mount_point

    seen: dict[str, str] = {}
    for point in points:
        try:
            key = libc_prefix(normalize_mount_point(point))
        except (TypeError, ValueError) as exc:
            return str(exc)
        if key in seen:
            return f"two directories mounted at {seen[key]!r} and {point!r}"
        seen[key] = point
    return None


def _open_mounts(mount_specs: list[tuple[str, str, bool]], overlay_specs: list[tuple[str, str]]
                 ) -> dict[str, Any]:
    """The backends of ``--mount`` and ``--overlay`` (errors name the option)."""
    from .api import Mount
    from .backends import open_backend
    from .backends.overlay import OverlayFileSystem

    mounts: dict[str, Any] = {}
    for guest, source, readonly in mount_specs:
        try:
            backend = open_backend(source, readonly=True) if readonly else open_backend(source)
        except (ImportError, OSError, TypeError, ValueError) as exc:
            raise type(exc)(f"--mount {guest}={source}: {exc}") from None
        mounts[guest] = Mount(backend, readonly)
    for guest, lower in overlay_specs:
        try:
            mounts[guest] = Mount(OverlayFileSystem(lower))
        except (ImportError, OSError, TypeError, ValueError) as exc:
            raise type(exc)(f"--overlay {guest}={lower}: {exc}") from None
    return mounts


def _export_changes(mounts: Any, dest: str) -> int:
    """Write the overlays' changes into ``dest``; print a summary line per overlay."""
    from .backends.overlay import export_overlays

    try:
        exported = export_overlays(mounts, dest)
    except OSError as exc:
        return _fail(EXIT_WRITE_BACK, f"--export-changes {dest}: {exc}")
    for guest, changes in exported.items():
        print(f"wasifs: {guest}: {len(changes)} change(s) exported to "
              f"{os.path.join(dest, guest.strip('/'))}", file=sys.stderr)
    return 0


def _overlapping(hosts: list[str]) -> tuple[str, str, str] | None:
    """Two of the host folders that are the same folder or one inside the other (by
    device and inode, so symlinks and bind mounts count): ``(outer, inner, relation)``."""
    ids = []
    for host in hosts:
        st = os.stat(host)
        ids.append((st.st_dev, st.st_ino))
    for i, host in enumerate(hosts):
        path = os.path.realpath(host)
        first = True
        while True:
            st = os.stat(path)
            for j, key in enumerate(ids):
                if j != i and key == (st.st_dev, st.st_ino):
                    if first:
                        if j < i:
                            return hosts[j], host, "the same folder as"
                    else:
                        return hosts[j], host, "inside"
            parent = os.path.dirname(path)
            if parent == path:
                break
            path, first = parent, False
    return None


def _write_back(copies: list[_Copy], when: str, status: int, exited: bool) -> int:
    """Write the guest's copies back (``when``: always, or only after a zero ``status``);
    returns the exit status: the guest's, or :data:`EXIT_WRITE_BACK` when something was not
    applied (one summary line on stderr per directory, naming where the guest's tree was
    saved), or :data:`EXIT_INTERRUPTED` after Ctrl-C during the write-back."""
    if not copies:
        return status
    from .backends import WriteBackError, WriteBackReport, mirror_tree, save_tree
    from .backends.native import NativeFileSystem
    from .interrupt import CancelToken, sigint_cancels

    if when == "success" and not (exited and status == 0):
        what = f"exited with status {status}" if exited else "trapped"
        print(f"wasifs: not written back: the guest {what} (--write-back=success)",
              file=sys.stderr)
        return status
    token = CancelToken()
    failed = False
    interrupted = False
    for mem, folder, host, baseline, guest in copies:
        mroot = mem.root()
        src = None
        try:
            src = mem.opendir(mroot, folder)
            report = WriteBackReport(dest=host)
            if not failed:
                dst = NativeFileSystem(host)
                droot = dst.root()
                try:
                    with sigint_cancels(token), \
                            _copy_progress(f"writing back {host}") as progress:
                        mirror_tree(mem, src, dst, droot, slabel=guest, baseline=baseline,
                                    report=report, cancel=token, progress=progress)
                except (WriteBackError, KeyboardInterrupt):
                    pass
                finally:
                    dst.close(droot)
                if report.complete:
                    continue
            try:
                report.saved_to = save_tree(mem, src, host, label=host)
            except OSError as exc:
                print(f"wasifs: the guest's tree for {host} could not be saved: {exc}",
                      file=sys.stderr)
            if failed:  # the first failure stops the write-back: the rest is only saved
                print(f"wasifs: not written back to {host} (an earlier write-back failed)"
                      + (f"; the guest's tree is saved in {report.saved_to}"
                         if report.saved_to else ""), file=sys.stderr)
                continue
            failed = True
            interrupted = isinstance(report.error, KeyboardInterrupt)
            guest_status = "" if exited and status == 0 else \
                f" (the guest {f'exited with status {status}' if exited else 'trapped'})"
            print(f"wasifs: {report.summary()}{guest_status}", file=sys.stderr)
        finally:
            if src is not None:
                mem.close(src)
            mem.close(mroot)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_WRITE_BACK if failed else status


@contextlib.contextmanager
def _copy_progress(desc: str) -> Iterator[Callable[[int], object] | None]:
    """A progress bar in bytes (tqdm, from the ``bulk`` extra) on stderr for a copy-in or a
    write-back, when stderr is a terminal; it shows only once the copy has taken
    ``$WASIFS_PROGRESS_DELAY`` seconds (default 0.5). None otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        yield None
        return
    try:
        delay = float(os.environ.get("WASIFS_PROGRESS_DELAY", "0.5"))
    except ValueError:
        delay = 0.5
    size = shutil.get_terminal_size()
    with tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
              file=sys.stderr, leave=False, delay=delay, ncols=size.columns,
              nrows=size.lines) as bar:
        started = time.monotonic()
        yield bar.update
        if time.monotonic() - started >= delay:
            bar.refresh()  # the final count, however soon after the last drawing


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
