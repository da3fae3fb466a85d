"""Fuzzing the binding (issue 12, item 8): the sequences of ``tests/test_fuzz_core.py`` run
by a real guest, ``tests/guests/syscalls.c``, which reads them as a script from stdin and
makes each raw preview1 call itself, so that every invalid pointer, length, flag and
descriptor really crosses wasmtime and the wasifs binding.

- Wild sequences (invalid pointers and lengths, unknown flag bits, extreme integers) run
  through ``wasifs.run`` on the memory backend (raw binding) and on a host directory
  (checked binding), strict (a Python exception in a syscall stops the run): every call
  answers exactly what the sans-I/O core answers to the same sequence, the trees are the
  same, and nothing beside the host directory changes.
- Tame sequences (what wasmtime answers without trapping: valid aligned pointers, defined
  flags, one iovec) also run under wasmtime-py's built-in WASI on a host directory: every
  errno matches, but for the documented differences of ``conformance/DIFFERENCES.md``
  (:func:`documented`), and the final trees (contents included) are equal.

``WASIFS_FUZZ=long`` runs many more examples (``WASIFS_FUZZ_GUEST_EXAMPLES=N`` per test).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path as HostPath

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings

import wasifs
from tests._fuzz import (
    GUEST_SKIP,
    P1,
    P2,
    PRELUDE,
    SCRATCH,
    TAME_SKIP,
    WEIGHTS,
    A,
    F,
    Op,
    backend_tree,
    ops,
    render,
    script,
)
from tests._wasi_compare import run_wasmtime
from tests.test_fuzz_core import (
    BACKENDS,
    COUNTS,
    DERANDOMIZE,
    LONG,
    LONG_TIMEOUT,
    PHASES,
    run_sequence,
)
from wasifs.abi import RIGHTS_ALL, SYSCALL_PARAMS, SYSCALLS, Errno
from wasifs.backends import NativeFileSystem
from wasifs.toolchain import compile_c

GUEST = HostPath(__file__).resolve().parent / "guests" / "syscalls.c"
EXAMPLES = int(os.environ.get("WASIFS_FUZZ_GUEST_EXAMPLES", "1000" if LONG else "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE,
                    database=None, suppress_health_check=list(HealthCheck), phases=PHASES)
pytestmark = [LONG_TIMEOUT]
WILD_NAMES = sorted(set(WEIGHTS) - GUEST_SKIP)
TAME_NAMES = sorted(set(WEIGHTS) - TAME_SKIP)


def _count(what: str, n: int) -> None:
    COUNTS[what] = COUNTS.get(what, 0) + n


@pytest.fixture(scope="module")
def guest() -> wasmtime.Module:
    return wasifs.load_module(compile_c(GUEST, flags=["-Wall", "-Werror"]))


def test_the_guest_imports_every_syscall_but_proc_exit(guest: wasmtime.Module) -> None:
    imported = {imp.name for imp in guest.imports if imp.module == "wasi_snapshot_preview1"}
    assert set(SYSCALLS) - {"proc_exit"} <= imported


def _errnos(stdout: bytes, sequence: list[Op]) -> list[int]:
    out = [int(x) for x in stdout.split()]
    assert len(out) == len(sequence), (stdout[-500:], render(sequence))
    return out


def run_guest(module: wasmtime.Module, kind: str, sequence: list[Op]
              ) -> tuple[list[int], dict[str, str]]:
    """Run the script under ``wasifs.run`` on a new backend of ``kind`` ("memory": raw
    binding; "native": checked binding); the errnos and the final tree."""
    with tempfile.TemporaryDirectory(prefix="wasifs-fuzz-guest-") as tmp:
        backend, state, _ = BACKENDS[kind](HostPath(tmp))
        before = state()
        r = wasifs.run(module, args=["syscalls"], env={}, mounts={"/sandbox": backend},
                       stdin=script(sequence), strict=True,
                       binding="raw" if kind == "memory" else "checked")
        assert (r.exit_code, r.trap, r.stderr) == (0, None, b""), render(sequence)
        tree = backend_tree(backend, data=True)
        assert state() == before, "something outside the root changed\n" + render(sequence)
    _count(f"guest {kind} scripts", 1)
    _count(f"guest {kind} calls", len(sequence))
    return _errnos(r.stdout, sequence), tree


@SETTINGS
@given(sequence=ops(wild=True, names=WILD_NAMES))
def test_the_binding_answers_as_the_core(guest: wasmtime.Module, sequence: list[Op]) -> None:
    core, core_tree = run_sequence("memory", sequence, count=False)
    memory, memory_tree = run_guest(guest, "memory", sequence)
    native, native_tree = run_guest(guest, "native", sequence)
    listing = render(sequence)
    assert memory == core, _diff("core", core, "guest on memory", memory, sequence)
    assert native == memory, _diff("guest on memory", memory, "guest on native", native,
                                   sequence)
    assert memory_tree == core_tree, f"{memory_tree}\n{core_tree}\n{listing}"
    assert native_tree == core_tree, f"{native_tree}\n{core_tree}\n{listing}"


def _diff(a_name: str, a: list[int], b_name: str, b: list[int], sequence: list[Op]) -> str:
    lines = [f"{i}: {sequence[i][0]}: {a_name} {Errno(x).name}, {b_name} {Errno(y).name}"
             for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return "\n".join([*lines, render(sequence)])


# ---------------------------------------------------------------------- against wasmtime
def documented(item: Op, ref: int, got: int) -> str | None:
    """The DIFFERENCES.md section that lets wasifs answer ``got`` where wasmtime answered
    ``ref`` to the call ``item`` of a tame sequence, or None."""
    name, args, _ = item
    a = dict(zip(SYSCALL_PARAMS[name], args, strict=True))
    r, g = Errno(ref).name, Errno(got).name
    if g == "NAMETOOLONG" and any(isinstance(v, int) and v >= 4096 for k, v in a.items()
                                  if k.endswith("path_len")):
        return "path-max-before-decoding"
    if g == "NOTCAPABLE" and r in ("BADF", "INVAL", "SUCCESS", "ISDIR", "NOTDIR"):
        return "rights"  # wasifs enforces rights wasmtime ignores
    if name == "path_remove_directory" and r == "INVAL":
        return "rmdir-trailing-slash"
    if name == "path_readlink" and r == "PERM" and g == "SUCCESS":
        return "readlink-absolute-target"
    if name == "path_rename" and r == "BUSY":
        return "rename-dot"
    if name == "path_open" and r == "LOOP" and g == "NOTDIR":
        return "nofollow-directory"
    if name == "path_open" and isinstance(a["oflags"], int) and a["oflags"] & 2 and \
            a["oflags"] & 13 and r == "INVAL":
        return "directory-oflags"
    if name in ("path_link", "path_rename") and r in ("NOENT", "PERM", "INVAL"):
        return "two-path-precedence"
    if name == "path_link" and a["old_flags"] == 1:
        return "link-follow"
    return None


@SETTINGS
@given(sequence=ops(wild=False, names=TAME_NAMES))
def test_the_binding_answers_as_wasmtime(guest: wasmtime.Module, sequence: list[Op]) -> None:
    with tempfile.TemporaryDirectory(prefix="wasifs-fuzz-ref-") as tmp:
        root = HostPath(tmp) / "root"
        BACKENDS["native"](HostPath(tmp))
        ref = run_wasmtime(guest, ["syscalls"], mounts={"/sandbox": root},
                           stdin=script(sequence), compare=[])
        ref_tree = backend_tree(NativeFileSystem(root), data=True)
    assert ref.exit_code == 0, (ref.exit_code, render(sequence))
    expected = _errnos(ref.stdout, sequence)
    got, tree = run_guest(guest, "native", sequence)
    problems = []
    diverged = False
    for i, (item, r, g) in enumerate(zip(sequence, expected, got, strict=True)):
        if r != g and documented(item, r, g) is None:
            problems.append(f"{i}: {item[0]}: wasmtime {Errno(r).name}, wasifs {Errno(g).name}")
        if r != g and 0 in (r, g):
            # a documented difference where one side did something (made a descriptor, a
            # file) and the other did not: from here on the two runs hold different
            # states, so what follows and the final trees are not comparable
            diverged = True
            _count("wasmtime scripts that diverged as documented", 1)
            break
    assert not problems, "\n".join([*problems, render(sequence)])
    if not diverged:
        assert tree == ref_tree, f"{tree}\n{ref_tree}\n{render(sequence)}"
    _count("wasmtime scripts", 1)
    _count("wasmtime calls", len(sequence))
    _count("wasmtime calls that succeeded", expected.count(0))
    _count("wasmtime calls that differ as documented", sum(
        1 for r, g in zip(expected, got, strict=True) if r != g))


def test_report_guest_counts() -> None:
    print(f"\nguest fuzz ({'long' if LONG else 'default'}, {EXAMPLES} examples per test): "
          f"{COUNTS}")
    assert all(v >= 0 for v in COUNTS.values())


# ---------------------------------------------------------------------- what the fuzzer found
def _symlink(target: bytes, path: bytes) -> Op:
    return ("path_symlink", (A(P1), len(target), F(0), A(P2), len(path)),
            ((A(P1), target), (A(P2), path)))


@pytest.mark.parametrize("kind", ["memory", "native", "wasmtime"])
def test_symlink_walks_the_new_path_before_checking_the_target(guest: wasmtime.Module,
                                                               kind: str) -> None:
    # Found by the fuzzer: symlink("", name) is ENOENT (Linux, wasmtime) whatever name is;
    # the memory backend answered EEXIST for an existing name. And wasmtime walks the new
    # path's directories before it looks at the target (an escape is EPERM, a missing
    # directory ENOENT, even for a target with a NUL or an empty one); wasifs checked the
    # target first (EINVAL, ENOENT).
    cases = [(b"", b"f", "NOENT"), (b"", b"new", "NOENT"), (b"", b"d/", "NOENT"),
             (b"", b".", "NOENT"), (b"", b"..", "PERM"), (b"", b"f/x", "NOTDIR"),
             (b"a\x00b", b"..", "PERM"), (b"a\x00b", b"x/y", "NOENT"),
             (b"a\x00b", b"f", "INVAL"), (b"/etc", b"x/y", "PERM")]
    sequence = [*PRELUDE, *[_symlink(t, p) for t, p, _ in cases]]
    if kind == "wasmtime":
        with tempfile.TemporaryDirectory(prefix="wasifs-fuzz-ref-") as tmp:
            BACKENDS["native"](HostPath(tmp))
            root = HostPath(tmp) / "root"
            ref = run_wasmtime(guest, ["syscalls"], mounts={"/sandbox": root},
                               stdin=script(sequence), compare=[])
            errnos, tree = _errnos(ref.stdout, sequence), backend_tree(NativeFileSystem(root))
    else:
        errnos, tree = run_guest(guest, kind, sequence)
    assert [Errno(e).name for e in errnos[len(PRELUDE):]] == [want for _, _, want in cases]
    assert "new" not in tree


def test_an_fsspec_directory_outlives_its_last_entry(guest: wasmtime.Module) -> None:
    # Found by the fuzzer: on fsspec's memory filesystem a directory that exists only
    # through the files under it ("d" of "d/e", as a host's pipe() makes it) vanished when
    # the guest removed its last file or renamed it away, once the adapter had seen that
    # mkdir makes real directories there. A directory stays until it is removed.
    unlink = ("path_unlink_file", (F(0), A(P1), 3), ((A(P1), b"d/e"),))
    mkdir = ("path_create_directory", (F(0), A(P1), 1), ((A(P1), b"y"),))
    stat = ("path_filestat_get", (F(0), 0, A(P1), 1, A(SCRATCH)), ((A(P1), b"d"),))
    for sequence in ([*PRELUDE, mkdir, unlink, stat], [*PRELUDE, unlink, stat]):
        errnos, tree = run_guest(guest, "fsspec-memory", sequence)
        assert [Errno(e).name for e in errnos[len(PRELUDE):]] == ["SUCCESS"] * (
            len(sequence) - len(PRELUDE))
        assert tree.get("d") == "dir", tree


@pytest.mark.parametrize("kind", ["memory", "native", "wasmtime"])
def test_setting_no_time_does_not_look_at_the_name(guest: wasmtime.Module, kind: str) -> None:
    # Found by the fuzzer's long mode: path_filestat_set_times with no flags set and no
    # symlink to follow succeeds for a missing name, as utimensat(2) with UTIME_OMIT twice
    # and wasmtime (the directories on the way are still walked); wasifs said ENOENT.
    cases = [(b"new", 0, 0, "SUCCESS"), (b"d/new", 0, 0, "SUCCESS"), (b"new", 1, 0, "NOENT"),
             (b"new/", 0, 0, "NOENT"), (b"x/y", 0, 0, "NOENT"), (b"f/", 0, 0, "NOTDIR"),
             (b"new", 0, 5, "NOENT"), (b"f", 0, 0, "SUCCESS"), (b"..", 0, 0, "PERM")]
    sequence = [*PRELUDE, *[("path_filestat_set_times", (F(0), follow, A(P1), len(p), 0, 0, fl),
                             ((A(P1), p),)) for p, follow, fl, _ in cases]]
    if kind == "wasmtime":
        with tempfile.TemporaryDirectory(prefix="wasifs-fuzz-ref-") as tmp:
            BACKENDS["native"](HostPath(tmp))
            ref = run_wasmtime(guest, ["syscalls"], mounts={"/sandbox": HostPath(tmp) / "root"},
                               stdin=script(sequence), compare=[])
        errnos = _errnos(ref.stdout, sequence)
    else:
        errnos = run_guest(guest, kind, sequence)[0]
    assert [Errno(e).name for e in errnos[len(PRELUDE):]] == [want for *_, want in cases]


@pytest.mark.parametrize("kind", ["memory", "native", "wasmtime"])
def test_a_bad_path_on_a_bad_descriptor_is_ilseq(guest: wasmtime.Module, kind: str) -> None:
    # Found by the fuzzer: path_open with a path that is not UTF-8 and a descriptor that
    # cannot serve it is ILSEQ under wasmtime, which decodes path_open's path before it looks
    # at the descriptor; wasifs answered NOTDIR (a file) or BADF (no descriptor). With a valid
    # path the descriptor's error stays, and wasmtime's other path calls look at the
    # descriptor first (BADF), as wasifs does.
    bad, good = (A(P1), b"\xff\xfe"), (A(P2), b"ok")
    rights = int(RIGHTS_ALL)
    calls: list[tuple[str, tuple[object, ...], str]] = [
        ("path_open", (F(2), 0, A(P1), 2, 0, rights, rights, 0, A(SCRATCH)), "ILSEQ"),
        ("path_open", (999, 0, A(P1), 2, 0, rights, rights, 0, A(SCRATCH)), "ILSEQ"),
        ("path_open", (999, 0, A(P2), 2, 0, rights, rights, 0, A(SCRATCH)), "BADF"),
        ("path_filestat_get", (999, 0, A(P1), 2, A(SCRATCH)), "BADF"),
        ("path_filestat_get", (999, 0, A(P2), 2, A(SCRATCH)), "BADF"),
        ("path_create_directory", (999, A(P1), 2), "BADF"),
        ("path_unlink_file", (999, A(P1), 2), "BADF"),
        ("path_remove_directory", (999, A(P1), 2), "BADF"),
        ("path_readlink", (999, A(P1), 2, A(SCRATCH), 64, A(SCRATCH + 64)), "BADF"),
        ("path_filestat_set_times", (999, 0, A(P1), 2, 0, 0, 0), "BADF"),
        ("path_rename", (999, A(P2), 2, F(0), A(P1), 2), "BADF"),
        ("path_rename", (999, A(P2), 2, F(0), A(P2), 2), "BADF"),
        ("path_link", (F(0), 0, A(P1), 2, 999, A(P2), 2), "BADF"),
        ("path_symlink", (A(P1), 2, 999, A(P2), 2), "BADF"),
        ("path_symlink", (A(P2), 2, 999, A(P1), 2), "BADF"),
    ]
    sequence = [*PRELUDE, *[(name, args, (bad, good)) for name, args, _ in calls]]
    if kind == "wasmtime":
        with tempfile.TemporaryDirectory(prefix="wasifs-fuzz-ref-") as tmp:
            BACKENDS["native"](HostPath(tmp))
            ref = run_wasmtime(guest, ["syscalls"], mounts={"/sandbox": HostPath(tmp) / "root"},
                               stdin=script(sequence), compare=[])
        errnos = _errnos(ref.stdout, sequence)
    else:
        errnos = run_guest(guest, kind, sequence)[0]
    got = [Errno(e).name for e in errnos[len(PRELUDE):]]
    assert got == [want for *_, want in calls], [
        (name, g, want) for (name, _, want), g in zip(calls, got, strict=True) if g != want]
