"""The wasifs benchmark harness; its command line is ``benchmarks/run.py`` (see README.md)."""
