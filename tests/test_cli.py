"""The command line, run as a subprocess (``python -m wasifs``) against a real C guest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wasifs.config import EXIT_USAGE
from wasifs.toolchain import compile_c

GUEST_SRC = Path(__file__).parent / "guests" / "cli_tool.c"


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "tool.wasm"
    path.write_bytes(compile_c(GUEST_SRC))
    return path


@pytest.fixture(scope="module")
def waits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "waits.wasm"
    path.write_bytes(compile_c(GUEST_SRC.with_name("waits.c")))
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


@pytest.mark.parametrize("backend", ["memory", "native"])
def test_cli_rename_between_two_dirs_moves_the_file(tool: Path, tmp_path: Path,
                                                    backend: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f.txt").write_text("payload\n")
    extra = ["--write-back"] if backend == "memory" else []
    r = wasifs_cli("run", "--backend", backend, *extra, "--dir", f"{a}::/a", "--dir",
                   f"{b}::/b", tool, "mv", "/a/f.txt", "/b/g.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"moved\n"
    assert snapshot(a) == {}
    assert snapshot(b) == {"g.txt": "payload\n"}


def test_cli_memory_dirs_cannot_reach_each_other_by_dotdot(tool: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (b / "secret.txt").write_text("hidden\n")
    r = wasifs_cli("run", "--dir", f"{a}::/a", "--dir", f"{b}::/b", tool, "cat",
                   "/a/../dir1/secret.txt")
    assert r.returncode != 0
    assert b"hidden" not in r.stdout


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


def one_line(r: subprocess.CompletedProcess[bytes]) -> str:
    """The one line wasifs printed on stderr (and nothing else: no traceback)."""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasifs: "), r.stderr
    return lines[0]


MODULES = {
    "missing-env": ('(module (import "env" "host_log" (func)) (memory (export "memory") 1)'
                    ' (func (export "_start")))',
                    r"m\.wat imports env\.host_log, which `wasifs run` does not provide.*"
                    r"rebuild it as a self-contained WASI command"),
    "signature": ('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32) '
                  '(result i32))) (memory (export "memory") 1) (func (export "_start")))',
                  r"m\.wat imports wasi_snapshot_preview1\.fd_write with type \(i32\) -> "
                  r"\(i32\), but WASI preview1 defines it as .*rebuild it for wasm32-wasip1"),
    "unknown-wasi": ('(module (import "wasi_snapshot_preview1" "sock_open" (func (param i32) '
                     '(result i32))) (memory (export "memory") 1) (func (export "_start")))',
                     r"m\.wat imports wasi_snapshot_preview1\.sock_open, which is not a WASI "
                     r"preview1 function.*rebuild"),
    "reactor": ('(module (memory (export "memory") 1) (func (export "f")))',
                r"m\.wat is a reactor"),
}


@pytest.mark.parametrize("case", list(MODULES), ids=list(MODULES))
def test_cli_link_errors_are_one_line_with_status_126(case: str, tmp_path: Path) -> None:
    text, pattern = MODULES[case]
    wat = tmp_path / "m.wat"
    wat.write_text(text)
    r = wasifs_cli("run", wat)
    assert r.returncode == 126, r.stderr
    assert re.search(pattern, one_line(r)), r.stderr


def test_cli_corrupt_and_missing_modules(tool: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.wasm"
    truncated.write_bytes(tool.read_bytes()[: len(tool.read_bytes()) // 2])
    r = wasifs_cli("run", truncated)
    assert r.returncode == 126
    line = one_line(r)  # before: a Python traceback
    assert line.startswith("wasifs: cut.wasm: not a valid WebAssembly module") and \
        "complete WebAssembly module" in line, line
    garbage = tmp_path / "junk.wasm"
    garbage.write_bytes(b"\x7fELF not wasm at all")
    r = wasifs_cli("run", garbage)
    assert r.returncode == 126 and "junk.wasm" in one_line(r)
    r = wasifs_cli("run", tmp_path / "nope.wasm")
    assert r.returncode == 127 and "no such module file" in one_line(r)


def test_cli_exit_statuses_outside_the_guest_range_are_traps(waits: Path) -> None:
    assert wasifs_cli("run", waits, "exit", "125").returncode == 125
    for status in ("126", "256"):
        r = wasifs_cli("run", waits, "exit", status)
        assert r.returncode == 134, (status, r.stderr)  # before: proc_exit(256) exited 0
        assert "outside of [0, 126)" in one_line(r)


def test_cli_demo_runs_the_bundled_example() -> None:
    r = wasifs_cli("demo")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "latest -> ideas/wasi.txt" in out
    assert "3 files, 123 bytes, 23 words" in out


def test_cli_options_come_before_the_module(tool: Path) -> None:
    r = wasifs_cli("run", "--dir")
    assert r.returncode == 128  # a usage error: a status no guest can exit with
    r = wasifs_cli("run", "--write-back", "--backend", "native", tool, "args")
    assert r.returncode == 128 and b"--write-back" in r.stderr
    r = wasifs_cli("run", "--dir", "/nonexistent/dir", tool, "args")
    assert r.returncode == 128 and "not a directory" in one_line(r)


def test_cli_preopens_nothing_unless_asked(waits: Path, tmp_path: Path) -> None:
    r = wasifs_cli("run", waits, "fd3")
    assert (r.returncode, r.stdout) == (0, b"fd3: EBADF\n")  # as wasmtime: no directory
    r = wasifs_cli("run", "--mem-dir", "/scratch", waits, "fd3")
    assert (r.returncode, r.stdout) == (0, b"fd3: ok\n")
    r = wasifs_cli("run", "--mem-dir", "/s", "--mem-dir", "/s", waits, "fd3")
    assert r.returncode == 128


def test_cli_dir_spelled_relative_works_as_written(waits: Path, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    for spec in ("./d", "d", "./d/"):
        r = subprocess.run([sys.executable, "-m", "wasifs", "run", "--dir", spec, str(waits),
                            "open", "./d/x", "d/x", "/d/x"], cwd=tmp_path,
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"./d/x: ok\nd/x: ok\n/d/x: ok\n", (spec, r.stdout)


def test_cli_demo_takes_arguments_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one two three\n")
    r = wasifs_cli("demo", "--dir", f"{tmp_path}::/docs", "/docs")
    assert r.returncode == 0, r.stderr
    assert "1 files, 14 bytes, 3 words" in r.stdout.decode()


def test_cli_help_lists_the_exit_statuses() -> None:
    r = wasifs_cli("--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.decode().split())
    for code in (126, 127, 128, 130, 134):
        assert f"{code}:" in text


def test_cli_mount_takes_an_fsspec_url_read_only(tool: Path, tmp_path: Path) -> None:
    archive = tmp_path / "fixtures.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("in/hello.txt", "hello from a zip\n")
    r = wasifs_cli("run", "--mount", f"/z=zip://{archive}", tool, "cat", "/z/in/hello.txt")
    assert (r.returncode, r.stdout) == (0, b"hello from a zip\n"), r.stderr
    r = wasifs_cli("run", "--mount", f"/z=zip://{archive}", tool, "edit", "/z/in")
    assert r.returncode == 1
    assert b"Read-only file system" in r.stderr


def test_cli_mount_ro_host_directory_is_not_changed(tool: Path, tree: Path) -> None:
    before = snapshot(tree)
    r = wasifs_cli("run", "--mount", f"/data={tree}:ro", tool, "edit", "/data")
    assert r.returncode == 1
    assert b"Read-only file system" in r.stderr
    assert snapshot(tree) == before
    r = wasifs_cli("run", "--mount", f"/data={tree}", tool, "edit", "/data")
    assert r.returncode == 0, r.stderr  # a --mount of a host directory is the host directory
    assert snapshot(tree)["new.txt"] == "fresh\n"


def test_cli_overlay_leaves_the_lower_layer_and_exports_the_changes(
        tool: Path, tree: Path, tmp_path: Path) -> None:
    before = snapshot(tree)
    out = tmp_path / "changes"
    r = wasifs_cli("run", "--overlay", f"/data={tree}", "--export-changes", out, tool,
                   "edit", "/data")
    assert (r.returncode, r.stdout) == (0, b"edited\n"), r.stderr
    assert snapshot(tree) == before
    assert b"/data: " in r.stderr and b"exported" in r.stderr
    assert snapshot(out / "data") == {
        ".wh.gone.txt": "",
        "keep.txt": "kept\nmore\n",
        "link": "-> new.txt",
        "new.txt": "fresh\n",
        "sub": "/",
        "sub/deep.txt": "deep\n",
    }


@pytest.mark.parametrize(("args", "message"), [
    (["--export-changes", "out"], b"--export-changes needs an --overlay"),
    (["--mount", "/z=nosuchscheme://x"], b"--mount /z=nosuchscheme://x"),
    (["--mount", "/z"], b"expected GUEST=SOURCE"),
    (["--mem-dir", "/a", "--mount", "/a/=memory://"], b"two directories mounted"),
])
def test_cli_mount_option_errors_are_usage_errors(tool: Path, tmp_path: Path, args: list[str],
                                                  message: bytes) -> None:
    r = wasifs_cli("run", *args, tool, "args")
    assert r.returncode == EXIT_USAGE, r.stderr
    assert message in r.stderr
    assert b"Traceback" not in r.stderr
