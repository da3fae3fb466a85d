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
        "memory-checked, native-raw, native-checked (default: memory-raw, "
        "memory-checked, native-raw; env WASIFS_CONFORMANCE_RUNTIMES)",
    )
