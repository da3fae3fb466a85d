"""The command line, run as a subprocess (``python -m wasifs``) against a real C guest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasifs.toolchain import compile_c

GUEST_SRC = Path(__file__).parent / "guests" / "cli_tool.c"


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "tool.wasm"
    path.write_bytes(compile_c(GUEST_SRC))
    return path


def wasifs_cli(*args: str | os.PathLike[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "wasifs", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "keep.txt").write_text("kept\n")
    (d / "gone.txt").write_text("bye\n")
    return d


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "/"
        else:
            out[rel] = p.read_text()
    return out


def test_cli_argv0_is_module_name_and_args_pass_through(tool: Path) -> None:
    r = wasifs_cli("run", tool, "args", "--dir", "x y")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["tool.wasm", "args", "--dir", "x y"]


def test_cli_env_is_exactly_the_given_variables(tool: Path) -> None:
    r = wasifs_cli("run", "--env", "A=1", "--env", "B=two=2", tool, "env")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["A=1", "B=two=2"]


def test_cli_exit_code_and_trap(tool: Path) -> None:
    assert wasifs_cli("run", tool, "exit", "7").returncode == 7
    r = wasifs_cli("run", tool, "trap")
    assert r.returncode != 0
    assert b"trap" in r.stderr.lower()


def test_cli_memory_backend_leaves_host_untouched(tool: Path, tree: Path) -> None:
    before = snapshot(tree)
    r = wasifs_cli("run", "--dir", f"{tree}::/data", tool, "edit", "/data")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"edited\n"
    assert snapshot(tree) == before


def test_cli_write_back_applies_the_final_tree(tool: Path, tree: Path) -> None:
    r = wasifs_cli("run", "--write-back", "--dir", f"{tree}::/data", tool, "edit", "/data")
    assert r.returncode == 0, r.stderr
    assert snapshot(tree) == {
        "keep.txt": "kept\nmore\n",
        "link": "-> new.txt",
        "new.txt": "fresh\n",
        "sub": "/",
        "sub/deep.txt": "deep\n",
    }


def test_cli_native_backend_works_on_the_host_dir(tool: Path, tree: Path) -> None:
    r = wasifs_cli("run", "--backend", "native", "--dir", f"{tree}::/data", tool, "edit", "/data")
    assert r.returncode == 0, r.stderr
    assert (tree / "new.txt").read_text() == "fresh\n"
    assert not (tree / "gone.txt").exists()


def test_cli_ro_dir_refuses_writes(tool: Path, tree: Path) -> None:
    r = wasifs_cli("run", "--backend", "native", "--ro-dir", f"{tree}::/data", tool, "edit", "/data")
    assert r.returncode == 1
    assert b"Read-only file system" in r.stderr
    assert (tree / "keep.txt").read_text() == "kept\n"
    r = wasifs_cli("run", "--ro-dir", f"{tree}::/data", tool, "cat", "/data/keep.txt")
    assert (r.returncode, r.stdout) == (0, b"kept\n")


def test_cli_unknown_import_names_it(tmp_path: Path) -> None:
    wat = tmp_path / "m.wat"
    wat.write_text('(module (import "env" "host_log" (func)) (memory (export "memory") 1)'
                   ' (func (export "_start")))')
    r = wasifs_cli("run", wat)
    assert r.returncode == 1
    assert b"env.host_log" in r.stderr


def test_cli_demo_runs_the_bundled_example() -> None:
    r = wasifs_cli("demo")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "latest -> ideas/wasi.txt" in out
    assert "3 files, 123 bytes, 23 words" in out


def test_cli_options_come_before_the_module(tool: Path) -> None:
    r = wasifs_cli("run", "--dir")
    assert r.returncode == 2
    r = wasifs_cli("run", "--write-back", "--backend", "native", tool, "args")
    assert r.returncode == 2 and b"--write-back" in r.stderr
