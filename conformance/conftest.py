"""pytest options of the conformance suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wasifs conformance")
    group.addoption(
        "--conformance-runtimes",
        default=None,
        metavar="LIST",
        help="wasifs runtimes to compare with wasmtime, comma separated, from memory-raw, "
        "memory-checked, native-raw, native-checked, overlay-raw, overlay-checked (default: "
        "memory and native through both bindings, overlay through the raw one; env "
        "WASIFS_CONFORMANCE_RUNTIMES)",
    )


_RESULTS: list[tuple[str, str]] = []  # (test id inside test_conformance, outcome)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "test_conformance.py::test_conformance[" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RESULTS.append((report.nodeid.split("::test_conformance[", 1)[1][:-1],
                         "xfailed" if hasattr(report, "wasxfail") else report.outcome))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per conformance case and runtime, then a summary (as the runner prints)."""
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("wasifs conformance against wasmtime's built-in WASI")
    for case_id, outcome in _RESULTS:
        tr.write_line(f"{outcome.upper():8s} {case_id}")
    counts: dict[str, int] = {}
    for _, outcome in _RESULTS:
        counts[outcome] = counts.get(outcome, 0) + 1
    cases = len({c.split("[", 1)[0] for c, _ in _RESULTS})
    tr.write_line(f"conformance: {cases} cases, {len(_RESULTS)} case runs: "
                  + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Free the runner's compiled modules and engine while wasmtime can still run their
    finalizers (at interpreter shutdown its own module may already be torn down)."""
    import gc
    import sys

    runner = sys.modules.get("conformance.runner")
    if runner is not None:
        runner._modules.clear()
        runner._engine = None
    gc.collect()
