"""Fuzzing the sans-I/O core (issue 12, item 8): hypothesis-driven sequences of raw preview1
calls, with random and often invalid pointers, lengths, flags, descriptors and paths
(``..``, absolute, symlinks out, long names, NULs, bad UTF-8: see ``tests/_fuzz.py``), run
on :class:`~wasifs.wasi.WasiCore` over every kind of backend: memory, native on a temporary
directory, the sandbox over native, the overlay over a read-only native lower layer, and
fsspec's memory filesystem through the adapter. After every sequence:

- no Python exception escaped a call: each answered an errno (0..76);
- nothing outside the root changed: the host directory beside the native root (and the
  overlay's lower layer, and the rest of fsspec's store) hashes as before;
- the tree is what a model says: a dict of directories, files and symlinks changed only by
  the calls that succeeded, as the rules say they change it (a success the model cannot
  explain is a failure too); the backend walked directly, and the same tree seen through the
  core (``fd_readdir`` and ``path_filestat_get``), both equal the model.

The default run is a slice for CI; ``WASIFS_FUZZ=long`` runs many more examples
(``WASIFS_FUZZ_EXAMPLES=N`` sets the number per backend), and ``WASIFS_FUZZ_RANDOM=1`` new
examples on each run (``--hypothesis-seed=N`` repeats one). ``test_report_counts`` prints
how many sequences and calls ran.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path as HostPath
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem as FsspecMemory
from hypothesis import HealthCheck, Phase, given, settings

from tests._fuzz import (
    INITIAL,
    CoreRun,
    Model,
    Op,
    backend_tree,
    core_tree,
    digest,
    make_native_tree,
    make_outside,
    ops,
    render,
)
from wasifs.backends import (
    FsspecBackend,
    MemoryFileSystem,
    NativeFileSystem,
    OverlayFileSystem,
    SandboxFileSystem,
)
from wasifs.stdio import BytesSource, CaptureSink
from wasifs.trees import DIR, Link, write_tree
from wasifs.vfs import Preopen
from wasifs.wasi import BufferCopyMemory, WasiCore

LONG = os.environ.get("WASIFS_FUZZ", "") == "long"
EXAMPLES = int(os.environ.get("WASIFS_FUZZ_EXAMPLES", "1200" if LONG else "100"))
DERANDOMIZE = os.environ.get("WASIFS_FUZZ_RANDOM", "") in ("", "0")
COUNTS: dict[str, int] = {}
#: The long mode outlasts the suite's per-test timeout.
LONG_TIMEOUT = pytest.mark.timeout(3600 if LONG else 300)
pytestmark = [LONG_TIMEOUT]
CHANGES = frozenset({"path_create_directory", "path_unlink_file", "path_remove_directory",
                     "path_rename", "path_symlink", "path_link"})

#: WASIFS_FUZZ_SHRINK=0: report the first failing example as found (no shrinking).
PHASES = tuple(p for p in Phase if p != Phase.shrink or
               os.environ.get("WASIFS_FUZZ_SHRINK", "1") != "0")
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE,
                    database=None, suppress_health_check=list(HealthCheck), phases=PHASES)


def _count(what: str, n: int) -> None:
    COUNTS[what] = COUNTS.get(what, 0) + n


def _memory(tmp: HostPath) -> tuple[Any, Callable[[], str], bool]:
    fs = MemoryFileSystem()
    write_tree(fs, {p: DIR if v is None else Link(v[1]) if isinstance(v, tuple) else v
                    for p, v in INITIAL.items()})
    return fs, lambda: "", True


def _native_root(tmp: HostPath) -> tuple[HostPath, Callable[[], str]]:
    root = tmp / "root"
    make_native_tree(root, INITIAL)
    outside = make_outside(tmp)
    return root, lambda: digest(outside) + repr(sorted(os.listdir(tmp)))


def _native(tmp: HostPath) -> tuple[Any, Callable[[], str], bool]:
    root, state = _native_root(tmp)
    return NativeFileSystem(root), state, True


def _sandbox(tmp: HostPath) -> tuple[Any, Callable[[], str], bool]:
    root, state = _native_root(tmp)
    return SandboxFileSystem(NativeFileSystem(root), quota={"bytes": 1 << 30}), state, True


def _overlay(tmp: HostPath) -> tuple[Any, Callable[[], str], bool]:
    root, state = _native_root(tmp)  # the lower layer must not change either
    return (OverlayFileSystem(NativeFileSystem(root, readonly=True)),
            lambda: state() + digest(root), True)


def _fsspec(tmp: HostPath) -> tuple[Any, Callable[[], str], bool]:
    fs = FsspecMemory(global_store=False, skip_instance_cache=True)
    fs.pipe("/outside/secret", b"OUTSIDE\n")
    fs.pipe("/root/f", INITIAL["f"])
    fs.pipe("/root/d/e", INITIAL["d/e"])

    def state() -> str:
        return repr(sorted((k, bytes(v.getvalue())) for k, v in fs.store.items()
                           if not k.startswith("/root")))

    return FsspecBackend(fs, "/root"), state, False


BACKENDS: dict[str, Callable[[HostPath], tuple[Any, Callable[[], str], bool]]] = {
    "memory": _memory, "native": _native, "sandbox": _sandbox, "overlay": _overlay,
    "fsspec-memory": _fsspec,
}


def run_sequence(kind: str, sequence: list[Op], count: bool = True
                 ) -> tuple[list[int], dict[str, str]]:
    """Run ``sequence`` on a core over a new backend of ``kind``, check it; return the
    errnos and the final tree (``backend_tree`` with data)."""
    with tempfile.TemporaryDirectory(prefix="wasifs-fuzz-") as tmp:
        backend, state, links = BACKENDS[kind](HostPath(tmp))
        before = state()
        core = WasiCore(args=["syscalls"], env={},  # as the guest runs
                        preopens=[Preopen("/sandbox", backend)],
                        stdin=BytesSource(b"input"), stdout=CaptureSink(),
                        stderr=CaptureSink())
        model = Model(INITIAL, links=links)
        run = CoreRun(core, model)
        if kind == "fsspec-memory":  # the copying memory's path too (flushed after a call)
            core.memory = BufferCopyMemory(run.buf)
        try:
            for item in sequence:
                run.call(item)
                core.memory.flush()
            listing = render(sequence)
            assert not run.bugs, f"{run.bugs}\n{listing}"
            assert not model.problems, f"{model.problems}\n{listing}"
            expected = model.tree()
            walked = backend_tree(backend)
            assert walked == expected, f"backend {walked}\nmodel {expected}\n{listing}"
            core.mem = memoryview(run.buf)
            seen = core_tree(core, run.buf, core.add_preopen(Preopen("/walk", backend)))
            assert seen == expected, f"core {seen}\nmodel {expected}\n{listing}"
            tree = backend_tree(backend, data=True)
        finally:
            core.close()
        assert state() == before, "something outside the root changed\n" + render(sequence)
    if count:
        _count(f"{kind} sequences", 1)
        _count(f"{kind} calls", run.calls)
        _count(f"{kind} calls that succeeded", run.errnos.count(0))
        _count(f"{kind} tree changes", sum(
            1 for (name, _, _), e in zip(sequence, run.errnos, strict=True)
            if e == 0 and name in CHANGES))
    return run.errnos, tree


@pytest.mark.parametrize("kind", list(BACKENDS))
@SETTINGS
@given(sequence=ops(wild=True))
def test_random_calls_keep_the_tree(kind: str, sequence: list[Op]) -> None:
    run_sequence(kind, sequence)


def test_report_counts() -> None:
    print(f"\ncore fuzz ({'long' if LONG else 'default'}, {EXAMPLES} examples per backend): "
          f"{COUNTS}")
    assert all(v >= 0 for v in COUNTS.values())
