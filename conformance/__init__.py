"""Conformance suite: guest programs run under wasifs and under wasmtime's own WASI.

See ``conformance/runner.py`` (the runner and its command line), ``conformance/cases.py``
(the cases) and ``conformance/DIFFERENCES.md`` (where wasifs deliberately differs).
"""
