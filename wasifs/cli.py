"""The command line: ``wasifs run [OPTIONS] MODULE.wasm [ARGS...]`` and ``wasifs demo``.

Options come before the module; everything after the module is the guest's. The guest's
``argv[0]`` is the module's file name and its environment is exactly the ``--env`` variables.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

__all__ = ("main", "build_parser")


def _split_dir(spec: str) -> tuple[str, str]:
    host, sep, guest = spec.partition("::")
    if not host:
        raise argparse.ArgumentTypeError(f"--dir needs a host directory: {spec!r}")
    return host, (guest if sep else host)


def _env(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--env takes NAME=VALUE, got {spec!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wasifs", description="Run WebAssembly (WASI preview1) programs on virtual filesystems.")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"wasifs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run a WASI command module",
        description="Run MODULE.wasm. Options come before the module; the rest is the guest's argv.")
    run.add_argument("--dir", action="append", default=[], type=_split_dir, metavar="HOST[::GUEST]",
                     help="give the guest a host directory (at GUEST, default the HOST path)")
    run.add_argument("--ro-dir", action="append", default=[], type=_split_dir,
                     metavar="HOST[::GUEST]", help="the same, read-only")
    run.add_argument("--env", action="append", default=[], type=_env, metavar="NAME=VALUE",
                     help="set a guest environment variable (nothing is inherited)")
    run.add_argument("--backend", choices=("memory", "native"), default="memory",
                     help="memory (default): copy each --dir into a fresh in-memory filesystem "
                          "and leave the host directory untouched; native: work on the host "
                          "directory itself")
    run.add_argument("--write-back", action="store_true",
                     help="with --backend memory: write the final tree back to the host "
                          "directories when the guest exits (deletions included)")
    run.add_argument("--binding", choices=("auto", "raw", "checked"), default="auto",
                     help=argparse.SUPPRESS)
    run.add_argument("module", metavar="MODULE.wasm")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    demo = sub.add_parser("demo", help="run the bundled example guest on an in-memory filesystem")
    demo.add_argument("args", nargs=argparse.REMAINDER)
    from .cuda._cli import add_parsers  # wasifs checksum / wasifs scan

    add_parsers(sub)
    return parser


def _example_path() -> Path:
    return Path(str(resources.files("wasifs").joinpath("examples/notes.wasm")))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if getattr(ns, "bulk_main", None) is not None:
        return int(ns.bulk_main(ns))
    if ns.command == "demo":
        return _run_module(str(_example_path()), ns.args, dirs=[], ro_dirs=[], env=[],
                           backend="memory", write_back=False, binding="auto")
    if ns.write_back and ns.backend != "memory":
        parser.error("--write-back only applies to --backend memory")
    return _run_module(ns.module, ns.args, dirs=ns.dir, ro_dirs=ns.ro_dir, env=ns.env,
                       backend=ns.backend, write_back=ns.write_back, binding=ns.binding)


def _run_module(module: str, args: list[str], *, dirs: list[tuple[str, str]],
                ro_dirs: list[tuple[str, str]], env: list[tuple[str, str]], backend: str,
                write_back: bool, binding: str) -> int:
    from . import api
    from .backends._copy import copy_tree, mirror_tree
    from .backends.memory import MemoryFileSystem
    from .backends.native import NativeFileSystem

    mounts: dict[str, api.Mount] = {}
    copies: list[tuple[MemoryFileSystem, str]] = []  # in-memory copies to write back
    for (host, guest), readonly in [(d, False) for d in dirs] + [(d, True) for d in ro_dirs]:
        if not os.path.isdir(host):
            print(f"wasifs: --dir {host}: not a directory", file=sys.stderr)
            return 2
        if guest in mounts:
            print(f"wasifs: two directories mounted at {guest!r}", file=sys.stderr)
            return 2
        if backend == "native":
            mounts[guest] = api.Mount(NativeFileSystem(host, readonly=readonly), readonly)
            continue
        mem = MemoryFileSystem()
        src = NativeFileSystem(host, readonly=True)
        s, d = src.root(), mem.root()
        try:
            copy_tree(src, s, mem, d)
        finally:
            src.close(s)
            mem.close(d)
        mounts[guest] = api.Mount(mem, readonly)
        if write_back and not readonly:
            copies.append((mem, host))
    if not mounts:
        mounts["/"] = api.Mount(MemoryFileSystem())
    try:
        result = api.run(module, args=[os.path.basename(module), *args], env=dict(env),
                         mounts=mounts, stdin="inherit", stdout="inherit", stderr="inherit",
                         binding=binding)  # type: ignore[arg-type]
    except api.LinkError as exc:
        print(f"wasifs: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"wasifs: {exc}", file=sys.stderr)
        return 1
    for mem, host in copies:
        dst = NativeFileSystem(host)
        mroot, droot = mem.root(), dst.root()
        try:
            mirror_tree(mem, mroot, dst, droot)
        finally:
            mem.close(mroot)
            dst.close(droot)
    if result.trap is not None:
        print(f"wasifs: the guest trapped: {result.trap}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
