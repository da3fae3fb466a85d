"""Differential property test: random filesystem scripts, a real C guest, three runtimes.

Hypothesis generates scripts of filesystem operations over a small namespace (see
``tests/_script.py``: names, trailing slashes, "..", escapes, symlinks, hard links, directory
handles); the guest ``conformance/guests/script.c`` runs each under wasmtime-py's built-in
WASI (the reference, on a host directory), under wasifs on a ``MemoryFileSystem`` (raw
binding) and under wasifs on a ``NativeFileSystem`` (checked binding), on a writable and on a
read-only mount. Every output line must match the reference, except for
the deliberate differences of ``conformance/DIFFERENCES.md`` (normalized in
``_script.documented``) and the tolerated differences found by this test
(``_script.KNOWN_BUGS``, also documented there: tolerated by ``_script.known_bug``, each one
a strict xfail below on its minimal script, so that a change shows); the two wasifs backends must agree exactly; the final trees must be equal.

The default run is small and derandomized (reproducible in CI); set
``WASIFS_DIFF_EXAMPLES=300`` (or more) to explore further, and ``WASIFS_DIFF_RANDOM=1`` for
new examples on each run (``--hypothesis-seed=N`` repeats one).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from _script import KNOWN_BUGS, READONLY_PRELUDE, Differential, compare, scripts
from hypothesis import HealthCheck, given, settings

EXAMPLES = int(os.environ.get("WASIFS_DIFF_EXAMPLES", "50"))
#: WASIFS_DIFF_RANDOM=1: explore new examples (with ``--hypothesis-seed=N`` to repeat a run).
DERANDOMIZE = os.environ.get("WASIFS_DIFF_RANDOM", "") in ("", "0")


@pytest.fixture(scope="module")
def differential() -> Differential:
    """The guest, compiled once per session (cached on disk by content), on one engine."""
    return Differential()


def _report(script: list[str], title: str, problems: list[str]) -> str:
    return "\n".join([f"{title}:", *problems, "script:", *script])


def _check(differential: Differential, script: list[str], readonly: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="wasifs-diff-") as tmp:
        ref = differential.reference(script, Path(tmp), readonly=readonly)
        mem = differential.wasifs(script, readonly=readonly)
        nat = differential.wasifs(script, Path(tmp), readonly=readonly)
    assert ref.exit_code == 0, _report(script, f"wasmtime exited {ref.exit_code}", [])
    assert len(ref.lines) == len(script), _report(script, "wasmtime output", ref.lines)
    diverged = []
    known: set[int] = set()
    for name, got in (("memory", mem), ("native", nat)):
        assert got.exit_code == 0, _report(script, f"{name} exited {got.exit_code}", [])
        c = compare(script, ref.lines, got.lines, readonly=readonly)
        assert not c.problems, _report(script, f"wasifs {name} differs from wasmtime",
                                       c.problems)
        assert c.diverged is not None or got.tree == ref.tree, _report(
            script, f"wasifs {name} tree differs", [f"wasmtime: {ref.tree}", f"{name}: {got.tree}"])
        if c.diverged is not None:
            diverged.append(c.diverged)
        known |= c.known
    # The two backends agree with each other exactly, but where a known bug is backend-specific.
    end = min(diverged, default=len(script))
    differ = [f"op {i}: {script[i]!r}: memory {a!r}, native {b!r}"
              for i, (a, b) in enumerate(zip(mem.lines[:end], nat.lines[:end], strict=True))
              if a != b and i not in known]
    assert not differ, _report(script, "wasifs memory and native differ", differ)
    assert diverged or mem.tree == nat.tree, _report(
        script, "wasifs memory and native trees differ", [f"memory: {mem.tree}",
                                                          f"native: {nat.tree}"])


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=DERANDOMIZE,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_settings(EXAMPLES)
@given(script=scripts())
def test_scripts_match_wasmtime(differential: Differential, script: list[str]) -> None:
    _check(differential, script, readonly=False)


@_settings(max(1, EXAMPLES // 2))
@given(script=scripts(READONLY_PRELUDE))
def test_readonly_scripts_match_wasmtime(differential: Differential, script: list[str]) -> None:
    """The same on a read-only mount: every change refused, every read as on wasmtime."""
    _check(differential, script, readonly=True)


_KNOWN = [
    pytest.param(bug, marks=pytest.mark.xfail(
        strict=True, raises=AssertionError, reason=f"tolerated difference {bug} (DIFFERENCES.md)"))
    for bug in sorted(KNOWN_BUGS)
]


@pytest.mark.parametrize("bug", _KNOWN)
def test_known_bug(differential: Differential, bug: str) -> None:
    """Each tolerated difference on its minimal script (on the memory backend), a strict
    xfail: once wasifs answers as wasmtime this fails (XPASS), and its entry, with the
    tolerance in ``_script.known_bug``, must go."""
    reason, script = KNOWN_BUGS[bug]
    with tempfile.TemporaryDirectory(prefix="wasifs-diff-") as tmp:
        ref = differential.reference(list(script), Path(tmp))
        got = differential.wasifs(list(script))
    problems = [f"{line!r}: wasmtime {r!r}, wasifs {g!r}"
                for line, r, g in zip(script, ref.lines, got.lines, strict=True) if r != g]
    assert not problems, _report(list(script), f"{bug}: {reason}", problems)
