"""The conformance suite as pytest tests: one test per (case, wasifs runtime).

Each test runs the case's guest under wasmtime's built-in WASI (once per case, cached) and
under wasifs, and asserts that exit code, stdout, stderr and the resulting file trees are
equal, except for the differences the case documents (each backed by a section of
``conformance/DIFFERENCES.md``). The runtimes default to both bindings on the memory backend
and the raw binding on the native backend; ``--conformance-runtimes`` or the environment
variable ``WASIFS_CONFORMANCE_RUNTIMES`` choose others.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest

from conformance.cases import CASES, Case
from conformance.runner import (
    DEFAULT_RUNTIMES,
    DIFFERENCES_MD,
    RUNTIMES,
    Outcome,
    build_guest,
    compare,
    differences_sections,
    expected_outcome,
    run_case,
    run_reference,
)
from wasifs.abi import MODULE, SYSCALLS


def _runtimes(config: pytest.Config | None = None) -> list[str]:
    opt = config.getoption("--conformance-runtimes", None) if config is not None else None
    value = opt or os.environ.get("WASIFS_CONFORMANCE_RUNTIMES")
    if not value:
        return list(DEFAULT_RUNTIMES)
    runtimes = [r.strip() for r in value.split(",") if r.strip()]
    unknown = [r for r in runtimes if r not in RUNTIMES or r == "wasmtime"]
    if unknown:
        raise pytest.UsageError(
            f"unknown conformance runtime(s) {', '.join(unknown)}; choose from "
            + ", ".join(r for r in RUNTIMES if r != "wasmtime")
        )
    return runtimes


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames and "runtime" in metafunc.fixturenames:
        params = []
        for case in CASES:
            for rt in _runtimes(metafunc.config):
                marks = []
                if rt in case.skip:
                    marks.append(pytest.mark.skip(reason=case.skip[rt]))
                bug = case.bug_for(rt)
                if bug is not None:
                    marks.append(pytest.mark.xfail(strict=True, reason=bug))
                params.append(pytest.param(case, rt, id=f"{case.name}[{rt}]", marks=marks))
        metafunc.parametrize(("case", "runtime"), params)


@cache
def _reference(name: str) -> Outcome:
    case = next(c for c in CASES if c.name == name)
    return run_reference(case)


def test_conformance(case: Case, runtime: str) -> None:
    """wasifs on ``runtime`` behaves like wasmtime, up to the documented differences."""
    reference = _reference(case.name)
    expected = expected_outcome(case, reference, runtime)
    got = run_case(case, runtime)
    problems = compare(case, expected, got)
    if got.detail and got.exit_code != expected.exit_code:
        problems.append(f"wasifs ended with: {got.detail}")
    assert not problems, f"{case.name} on {runtime}:\n" + "\n".join(problems)


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_documented_differences_exist() -> None:
    """Every difference a case claims has its section (with the spec quote) in
    DIFFERENCES.md, and every section is used by some case."""
    sections = differences_sections()
    assert sections, f"{DIFFERENCES_MD} has no sections"
    used = {d.section for c in CASES for d in c.differences}
    missing = sorted(used - sections)
    assert not missing, f"cases refer to sections missing from DIFFERENCES.md: {missing}"
    # the differential test (tests/_script.py) tolerates some differences by section name,
    # and other tests check some (naming the section as a quoted string)
    for script in (Path(__file__).resolve().parent.parent / "tests").glob("*.py"):
        text_of_script = script.read_text(encoding="utf-8")
        used |= {s for s in sections if f'"{s}"' in text_of_script}
    unused = sorted(sections - used)
    assert not unused, f"DIFFERENCES.md sections no case refers to: {unused}"
    text = DIFFERENCES_MD.read_text(encoding="utf-8")
    for section in sections:
        body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
        assert re.search(r"Spec:", body), f"section {section!r} quotes no spec text"


def test_every_syscall_has_a_guest() -> None:
    """Together the guests import every wasi_snapshot_preview1 function."""
    import wasmtime

    engine = wasmtime.Engine()
    imported: set[str] = set()
    seen: set[str] = set()
    for case in CASES:
        key = case.guest if case.wat is None else f"inline:{case.name}"
        if key in seen:
            continue
        seen.add(key)
        module = wasmtime.Module(engine, build_guest(case))
        imported.update(
            imp.name for imp in module.imports if imp.module == MODULE and imp.name is not None
        )
    missing = sorted(set(SYSCALLS) - imported)
    assert not missing, f"no conformance guest imports {missing}"
