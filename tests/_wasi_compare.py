"""Run one module under wasmtime-py's built-in WASI and under wasifs, and compare the runs.

Both sides get the same compiled ``wasmtime.Module`` (compiled once, on wasifs's default
engine, through wasifs's module cache), the same argv, environment and stdin, and their own
copies of the same starting trees: host directories for wasmtime (``WasiConfig.preopen_dir``),
any wasifs backends for wasifs (``wasifs.run``). A :class:`Run` holds the exit code, stdout,
stderr and the final trees (``wasifs.trees`` values) of the mounts that are compared.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

import wasifs
from wasifs.api import default_engine
from wasifs.backends.native import NativeFileSystem
from wasifs.trees import Tree, diff_trees, read_tree

__all__ = ("Run", "run_wasmtime", "run_wasifs", "differences")


@dataclass
class Run:
    """What a finished guest left behind."""

    exit_code: int | str
    stdout: bytes
    stderr: bytes
    trees: dict[str, Tree] = field(default_factory=dict)


def run_wasmtime(module: wasmtime.Module, argv: Sequence[str], *,
                 mounts: Mapping[str, Path], env: Mapping[str, str] | None = None,
                 stdin: bytes = b"", compare: Sequence[str] | None = None,
                 readonly: Sequence[str] = ()) -> Run:
    """Run ``module`` under wasmtime-py's WASI with the host directories ``mounts``
    (guest path -> host directory, preopened in order); read back the trees of ``compare``
    (default: every mount)."""
    with tempfile.TemporaryDirectory(prefix="wasifs-ref-") as tmp:
        t = Path(tmp)
        (t / "stdin").write_bytes(stdin)
        cfg = wasmtime.WasiConfig()
        cfg.argv = list(argv)
        cfg.env = list((env or {}).items())
        cfg.stdin_file = str(t / "stdin")
        cfg.stdout_file = str(t / "stdout")
        cfg.stderr_file = str(t / "stderr")
        for guest_path, host_dir in mounts.items():
            cfg.preopen_dir(str(host_dir), guest_path, guest_path not in readonly)
        engine = default_engine()
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1 << 62)  # wasifs's engines interrupt by epoch
        store.set_wasi(cfg)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        code: int | str
        try:
            start = linker.instantiate(store, module).exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            start(store)
            code = 0
        except wasmtime.ExitTrap as exc:
            code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            code = f"trap: {str(exc).splitlines()[0]}"
        del store, linker
        out = (t / "stdout").read_bytes()
        err = (t / "stderr").read_bytes()
    wanted = list(mounts) if compare is None else list(compare)
    return Run(code, out, err, {gp: read_tree(NativeFileSystem(mounts[gp])) for gp in wanted})


def run_wasifs(module: wasmtime.Module, argv: Sequence[str], *, mounts: Mapping[str, Any],
               env: Mapping[str, str] | None = None, stdin: bytes = b"",
               compare: Sequence[str] | None = None) -> Run:
    """Run ``module`` with ``wasifs.run`` and the backends (or ``wasifs.Mount``) ``mounts``."""
    result = wasifs.run(module, args=list(argv), env=dict(env or {}), mounts=dict(mounts),
                        stdin=stdin)
    code: int | str = result.exit_code
    if result.trap is not None:
        code = f"trap: {result.trap.splitlines()[0]}"
    wanted = list(mounts) if compare is None else list(compare)
    trees = {}
    for gp in wanted:
        spec = mounts[gp]
        backend = spec.source if isinstance(spec, wasifs.Mount) else spec
        trees[gp] = read_tree(backend)
    return Run(code, result.stdout, result.stderr, trees)


def differences(reference: Run, got: Run) -> list[str]:
    """What differs between two runs (empty when they match), readable in an assertion."""
    out = []
    if reference.exit_code != got.exit_code:
        out.append(f"exit code: wasmtime {reference.exit_code!r}, wasifs {got.exit_code!r}")
    for name in ("stdout", "stderr"):
        a, b = getattr(reference, name), getattr(got, name)
        if a != b:
            out.append(f"{name}: wasmtime {a[-1500:]!r}\n  wasifs   {b[-1500:]!r}")
    for gp, tree in reference.trees.items():
        other = got.trees.get(gp)
        if other != tree:
            out.append(f"tree {gp}:\n{diff_trees(other or {}, tree)}")
    return out
