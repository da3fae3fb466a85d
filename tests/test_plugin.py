"""The pytest plugin, tested through pytester (in a separate folder, no conftest)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from wasifs.trees import DIR, Link, assert_tree, diff_trees, read_tree, write_tree

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "pytest.md"


def first_python_block(markdown: str) -> str:
    match = re.search(r"```python\n(.*?)```", markdown, re.S)
    assert match, "docs/pytest.md has no python code block"
    return match.group(1)


@pytest.fixture(autouse=True)
def _warm_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester points HOME at a temporary folder; keep the guest and zig caches warm."""
    from wasifs.toolchain import default_cache_dir

    home = Path(os.path.expanduser("~"))
    monkeypatch.setenv("WASIFS_CACHE_DIR", str(default_cache_dir()))
    monkeypatch.setenv("ZIG_GLOBAL_CACHE_DIR",
                       os.environ.get("ZIG_GLOBAL_CACHE_DIR", str(home / ".cache" / "zig")))


def test_docs_example_passes_as_it_stands(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=first_python_block(DOCS.read_text()))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_backends_marker_and_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_m="""
        import pytest

        @pytest.mark.wasi_backends("memory", "native")
        def test_both(wasi_fs, wasi_backend_name):
            assert type(wasi_fs).__name__.lower().startswith(wasi_backend_name)

        def test_default(wasi_backend_name):
            assert wasi_backend_name == "memory"

        def test_fs(wasi_fs, wasi_backend_name):
            pass
    """)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_both?memory?*", "*test_both?native?*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--wasi-backend=native",
                                           "-k", "test_fs")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--wasi-backend=bogus")
    assert result.ret != 0


def test_tree_round_trip_and_diff() -> None:
    from wasifs.backends.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    write_tree(fs, {"a/b.txt": "hi", "bin": b"\xff\x00", "l": Link("a/b.txt"), "e": DIR})
    tree = read_tree(fs)
    assert tree == {"a": DIR, "a/b.txt": "hi", "bin": b"\xff\x00", "e": DIR,
                    "l": Link("a/b.txt")}
    assert_tree(fs, {"a/b.txt": "hi", "bin": b"\xff\x00", "l": Link("a/b.txt"), "e": DIR})
    with pytest.raises(AssertionError) as info:
        assert_tree(tree, {"a/b.txt": "ho", "bin": b"\xff\x00", "l": Link("a/b.txt"),
                           "e": DIR})
    assert "-a/b.txt: 'ho'" in str(info.value) and "+a/b.txt: 'hi'" in str(info.value)
    assert diff_trees(tree, tree) == ""
    with pytest.raises(ValueError, match="relative"):
        write_tree(fs, {"../x": "no"})
