"""``wasifs run`` with limits and records (issue 12): ``--timeout``, ``--fuel``,
``--max-memory``, ``--quota``, ``--hide``, ``--audit``, ``--stats``; each limit ends the run
with its exit status from ``EXIT_STATUSES`` (docs/cli.md), bad values exit 2 naming the
option. Run as a subprocess (``python -m wasifs``) against real C guests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasifs.cli import EXIT_STATUSES
from wasifs.config import EXIT_FUEL_EXHAUSTED, EXIT_MEMORY_LIMIT, EXIT_TIMEOUT, EXIT_USAGE
from wasifs.toolchain import compile_c

GUESTS = Path(__file__).parent / "guests"


@pytest.fixture(scope="module")
def limits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "limits.wasm"
    path.write_bytes(compile_c(GUESTS / "limits.c", flags=[
        "-Wl,--initial-memory=262144", "-Wl,-z,stack-size=65536"]))
    return path


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "tool.wasm"
    path.write_bytes(compile_c(GUESTS / "cli_tool.c"))
    return path


@pytest.fixture(scope="module")
def waits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "waits.wasm"
    path.write_bytes(compile_c(GUESTS / "waits.c"))
    return path


def cli(*args: str | os.PathLike[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "wasifs", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120)


# ---------------------------------------------------------------------------- limits
def test_the_limits_exit_statuses_are_in_the_table() -> None:
    assert (EXIT_TIMEOUT, EXIT_FUEL_EXHAUSTED, EXIT_MEMORY_LIMIT) == (142, 152, 137)
    for code in (EXIT_TIMEOUT, EXIT_FUEL_EXHAUSTED, EXIT_MEMORY_LIMIT):
        assert code in EXIT_STATUSES
    table = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    for code in EXIT_STATUSES:
        assert f"| {code} " in table, f"docs/cli.md's table lacks exit status {code}"


@pytest.mark.parametrize("command", ["spin", "sleep"])
def test_timeout_stops_a_guest_computing_or_sleeping(limits: Path, command: str) -> None:
    r = cli("run", "--timeout", "0.5", limits, command)
    assert r.returncode == EXIT_TIMEOUT, r.stderr
    assert r.stdout == b"ready\n"
    assert b"timeout of 0.5 s" in r.stderr


def test_timeout_stops_a_guest_blocked_on_stdin(waits: Path) -> None:
    # stdin is a pipe this test keeps open: the guest's fd_read would wait forever
    proc = subprocess.Popen([sys.executable, "-m", "wasifs", "run", "--timeout", "0.5",
                             str(waits), "read"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.wait(timeout=120)  # stdin still open: only the timeout ends the guest
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
        proc.kill()
        proc.wait(timeout=120)
    assert proc.returncode == EXIT_TIMEOUT, err
    assert out == b"ready\n"


def test_fuel_stops_a_guest_that_computes(limits: Path) -> None:
    r = cli("run", "--fuel", "10_000_000", limits, "spin")
    assert r.returncode == EXIT_FUEL_EXHAUSTED, r.stderr
    assert b"fuel budget of 10,000,000" in r.stderr
    ok = cli("run", "--fuel", "100000000", limits, "count", "1000")
    assert (ok.returncode, ok.stdout) == (0, b"counted 1000\n")


def test_max_memory_makes_malloc_fail_or_refuses_the_module(limits: Path) -> None:
    r = cli("run", "--max-memory", "4M", limits, "alloc", "64")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(b"malloc failed\n")
    r = cli("run", "--max-memory", "64K", limits, "count", "1")
    assert r.returncode == EXIT_MEMORY_LIMIT, r.stderr
    assert b"max_memory=65536" in r.stderr


@pytest.mark.parametrize(("args", "option"), [
    (["--timeout", "0"], "--timeout"),
    (["--timeout", "soon"], "--timeout"),
    (["--timeout", "inf"], "--timeout"),
    (["--fuel", "-1"], "--fuel"),
    (["--fuel", "lots"], "--fuel"),
    (["--max-memory", "12Q"], "--max-memory"),
    (["--max-memory", "-1M"], "--max-memory"),
    (["--quota", "bytes=1Q"], "--quota"),
    (["--quota", "inodes=3"], "--quota"),
    (["--quota", "files=many"], "--quota"),
    (["--quota", ""], "--quota"),
])
def test_bad_values_exit_2_naming_the_option(limits: Path, args: list[str],
                                              option: str) -> None:
    r = cli("run", *args, limits, "count", "1")
    assert r.returncode == EXIT_USAGE
    assert option.encode() in r.stderr
    assert r.stdout == b""


# ---------------------------------------------------------------------------- quota
def test_quota_bytes_gives_enospc_in_a_memory_dir(limits: Path) -> None:
    r = cli("run", "--mem-dir", "/m", "--quota", "bytes=8K", limits, "fill", "/m/big", "64")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"wrote 8192\nerror No space left on device\n"
    r = cli("run", "--mem-dir", "/m", "--quota", "bytes=1M", limits, "fill", "/m/big", "64")
    assert r.stdout == b"wrote 65536\n"


def test_quota_files_and_edquot_on_a_host_dir(limits: Path, tmp_path: Path) -> None:
    (tmp_path / "old").write_text("already here")  # what is there counts
    r = cli("run", "--backend", "native", "--dir", f"{tmp_path}::/d", "--quota",
            "files=4,full=EDQUOT", limits, "create", "/d", "10")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [b"created 3", b"error Quota exceeded"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0", "c1", "c2", "old"]


def test_quota_fds_gives_emfile(limits: Path) -> None:
    # the guest keeps every file open; the sandbox's root handle counts as one
    r = cli("run", "--timeout", "60", "--mem-dir", "/m", "--quota", "fds=8", limits,
            "open", "/m", "40")
    assert r.returncode == 1, r.stderr
    assert r.stderr == b"/m/f7: No file descriptors available\n"


def test_quota_applies_to_every_mount(limits: Path) -> None:
    r = cli("run", "--mem-dir", "/a", "--mem-dir", "/b", "--quota", "files=2", limits,
            "create", "/b", "5")
    assert r.stdout.splitlines() == [b"created 2", b"error No space left on device"]


def test_quota_keeps_write_back_and_export_working(tool: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("kept\n")
    (data / "gone.txt").write_text("bye\n")
    r = cli("run", "--dir", f"{data}::/d", "--write-back", "--quota", "bytes=1M,files=100",
            tool, "edit", "/d")
    assert r.returncode == 0, r.stderr
    assert (data / "keep.txt").read_text() == "kept\nmore\n"
    assert (data / "sub" / "deep.txt").read_text() == "deep\n"
    assert not (data / "gone.txt").exists()
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "keep.txt").write_text("kept\n")
    (lower / "gone.txt").write_text("bye\n")
    out = tmp_path / "changes"
    r = cli("run", "--overlay", f"/o={lower}", "--export-changes", out, "--quota", "bytes=1M",
            tool, "edit", "/o")
    assert r.returncode == 0, r.stderr
    assert (out / "o" / "new.txt").read_text() == "fresh\n"


# ---------------------------------------------------------------------------- hide
def test_hide_makes_paths_invisible(limits: Path, tool: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("TOP SECRET")
    (tmp_path / "notes.txt").write_text("hello")
    for backend in ("memory", "native"):
        r = cli("run", "--backend", backend, "--dir", f"{tmp_path}::/d", "--hide", "*.key",
                limits, "ls", "/d")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"notes.txt\n"
        r = cli("run", "--backend", backend, "--dir", f"{tmp_path}::/d", "--hide", "*.key",
                tool, "cat", "/d/secret.key")
        assert r.returncode == 1 and b"No such file or directory" in r.stderr
        assert b"TOP SECRET" not in r.stdout


# ---------------------------------------------------------------------------- audit, stats
def test_audit_writes_json_lines_without_contents(tool: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.txt").write_text("the-content-never-logged\n")
    log = tmp_path / "audit.jsonl"
    r = cli("run", "--dir", f"{data}::/d", "--audit", log, tool, "cat", "/d/secret.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"the-content-never-logged\n"
    text = log.read_text()
    assert "the-content-never-logged" not in text
    events = [json.loads(line) for line in text.splitlines()]
    opened = [e for e in events if e["syscall"] == "path_open"]
    assert opened and opened[0]["path"] == "/d/secret.txt" and opened[0]["mount"] == "/d"
    assert opened[0]["errno"] == 0 and opened[0]["result"] == "success"
    reads = [e for e in events if e["syscall"] == "fd_read" and e.get("path") == "/d/secret.txt"]
    assert sum(e["bytes"] for e in reads) == len("the-content-never-logged\n")
    for e in events:
        assert {"time", "syscall", "duration_us"} <= set(e)
        assert isinstance(e["time"], float)
    assert not any(e["syscall"].startswith(("args_", "environ_", "clock_")) for e in events)


def test_audit_records_failures_with_their_errno(tool: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    r = cli("run", "--mem-dir", "/m", "--audit", log, tool, "cat", "/m/missing")
    assert r.returncode == 1
    events = [json.loads(line) for line in log.read_text().splitlines()]
    failed = [e for e in events if e["syscall"] == "path_open"]
    assert failed[-1]["path"] == "/m/missing" and failed[-1]["result"] == "noent"
    assert failed[-1]["errno"] == 44


def test_audit_to_stderr_and_a_bad_audit_file(tool: Path, tmp_path: Path) -> None:
    r = cli("run", "--mem-dir", "/m", "--audit", "-", tool, "cat", "/m/missing")
    assert b'"syscall": "path_open"' in r.stderr
    r = cli("run", "--audit", tmp_path / "no" / "such" / "dir.jsonl", tool, "args")
    assert r.returncode == EXIT_USAGE and b"--audit" in r.stderr


def test_stats_prints_a_table_of_syscalls(limits: Path) -> None:
    r = cli("run", "--mem-dir", "/m", "--stats", limits, "create", "/m", "5")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.decode().splitlines()
    assert lines[0].split()[:4] == ["syscall", "calls", "errors", "bytes"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["path_open"][1] == "5" and rows["fd_close"][1] == "5"
    assert rows["fd_write"][3] == str(len("created 5\n"))
    assert "total" in rows
