"""The conformance guests through the Pyodide binding (in Node), compared with the wasmtime
binding on the memory backend: one Node process runs every case, then one test per case.

Outside CI the tests skip when Node or the npm packages under ``js/`` are missing (say why);
under ``CI=true`` (where ``.ci/run`` installs them) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.cases import CASES, Case
from conformance.pyodide import DIFFERENCES, expected, node_missing, run_in_pyodide
from conformance.runner import Outcome, compare


@pytest.fixture(scope="module")
def pyodide_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    missing = node_missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the Pyodide conformance run must happen in CI: {missing}")
        pytest.skip(f"Pyodide in Node is not available here: {missing}")
    return run_in_pyodide(CASES, Path(tmp_path_factory.mktemp("pyodide")))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pyodide_matches_the_wasmtime_binding(case: Case,
                                              pyodide_outcomes: dict[str, Outcome]) -> None:
    got = pyodide_outcomes[case.name]
    problems = compare(case, expected(case), got)
    if case.name in DIFFERENCES:
        assert problems, f"{case.name} no longer differs: remove it from DIFFERENCES"
        return
    assert not problems, "\n".join(problems) + (f"\n({got.detail})" if got.detail else "")
