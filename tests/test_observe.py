"""Audit events and metrics of a guest's syscalls (issue 12, items 4 and 5): through
``wasifs.run``/``WasiHost`` options (``audit=``, ``metrics=``), with real guests; off by
default, and then the core's own methods run unwrapped. The CLI's ``--audit``/``--stats`` are
in ``tests/test_cli_limits.py``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import wasmtime

import wasifs
from wasifs.abi import SYSCALLS
from wasifs.observe import AuditEvent, JsonLinesSink, Metrics
from wasifs.toolchain import compile_c
from wasifs.wasi import WasiCore

GUESTS = Path(__file__).parent / "guests"
CONTENT = "fresh\n"  # what cli_tool's "edit" writes into new.txt


@pytest.fixture(scope="module")
def tool() -> bytes:
    return compile_c(GUESTS / "cli_tool.c")


def edited_tree() -> wasifs.MemoryFileSystem:
    fs = wasifs.MemoryFileSystem()
    wasifs.Path(fs, "/keep.txt").write_text("kept\n")
    wasifs.Path(fs, "/gone.txt").write_text("bye\n")
    return fs


def test_audit_records_every_filesystem_call(tool: bytes) -> None:
    events: list[AuditEvent] = []
    result = wasifs.run(tool, args=["tool", "edit", "/d"], mounts={"/d": edited_tree()},
                        audit=events.append)
    assert result.exit_code == 0, result.stderr
    assert all(e.syscall.startswith(("fd_", "path_")) for e in events)
    by_call = {(e.syscall, e.path): e for e in events}
    opened = by_call["path_open", "/d/new.txt"]
    assert (opened.fd, opened.mount, opened.errno, opened.errno_name) == (3, "/d", 0, "success")
    wrote = [e for e in events if e.syscall == "fd_write" and e.path == "/d/new.txt"]
    assert sum(e.bytes or 0 for e in wrote) == len(CONTENT)  # the descriptor's own path
    assert by_call["path_unlink_file", "/d/gone.txt"].errno == 0
    assert by_call["path_create_directory", "/d/sub"].errno == 0
    link = by_call["path_symlink", "/d/link"]
    assert link.target == "new.txt" and link.errno == 0
    assert all(e.duration_ns > 0 and e.time > 0 for e in events)
    for e in events:  # paths and sizes, never contents
        assert CONTENT.strip() not in json.dumps(e.as_dict())
        assert "kept" not in str(e)


def test_audit_records_errors_and_renames(tool: bytes) -> None:
    events: list[AuditEvent] = []
    fs = edited_tree()
    wasifs.run(tool, args=["tool", "mv", "/d/keep.txt", "/d/moved.txt"], mounts={"/d": fs},
               audit=events.append)
    moved = next(e for e in events if e.syscall == "path_rename")
    assert (moved.path, moved.new_path, moved.errno) == ("/d/keep.txt", "/d/moved.txt", 0)
    events.clear()
    result = wasifs.run(tool, args=["tool", "cat", "/d/missing"], mounts={"/d": fs},
                        audit=events.append)
    assert result.exit_code == 1
    failed = [e for e in events if e.syscall == "path_open"][-1]
    assert (failed.path, failed.errno_name) == ("/d/missing", "noent")
    events.clear()  # a way out of the mount: refused, recorded with the path folded
    wasifs.run(tool, args=["tool", "cat", "/d/../etc/passwd"], mounts={"/d": fs},
               audit=events.append)
    escape = [e for e in events if e.syscall == "path_open"][-1]
    assert (escape.path, escape.errno_name) == ("/etc/passwd", "perm")


def test_audit_true_logs_on_the_wasifs_audit_logger(tool: bytes,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wasifs.audit"):
        wasifs.run(tool, args=["tool", "cat", "/d/keep.txt"], mounts={"/d": edited_tree()},
                   audit=True)
    records = [r for r in caplog.records if r.name == "wasifs.audit"]
    opened = [r for r in records if r.audit["syscall"] == "path_open"]  # type: ignore[attr-defined]
    assert opened and opened[0].audit["path"] == "/d/keep.txt"  # type: ignore[attr-defined]
    assert "path_open fd=3 path='/d/keep.txt' mount=/d result=success" in caplog.text
    assert "kept" not in caplog.text


def test_json_lines_sink_into_a_file(tool: bytes, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with JsonLinesSink(log) as sink:
        wasifs.run(tool, args=["tool", "edit", "/d"], mounts={"/d": edited_tree()}, audit=sink)
        wasifs.run(tool, args=["tool", "cat", "/d/x"], mounts={"/d": edited_tree()}, audit=sink)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == sink.count > 10
    assert CONTENT.strip() not in log.read_text()


def test_a_failing_audit_sink_stops_the_run(tool: bytes) -> None:
    def broken(event: AuditEvent) -> None:
        raise RuntimeError("the audit disk is full")

    with pytest.raises(RuntimeError, match="the audit disk is full"):
        wasifs.run(tool, args=["tool", "edit", "/d"], mounts={"/d": edited_tree()},
                   audit=broken)


def test_metrics_count_calls_errors_bytes_and_latencies(tool: bytes) -> None:
    metrics = Metrics()
    wasifs.run(tool, args=["tool", "edit", "/d"], mounts={"/d": edited_tree()}, metrics=metrics)
    first = metrics.as_dict()
    assert first["path_open"]["calls"] >= 3 and first["path_open"]["errors"] == 0
    assert first["fd_write"]["bytes"] >= len(CONTENT)
    assert first["fd_prestat_get"]["errors"] == 1  # the end of the preopen list: badf
    for row in first.values():  # cumulative buckets ending with every call
        counts = list(row["buckets"].values())
        assert counts == sorted(counts) and counts[-1] == row["calls"]
        assert row["seconds"] > 0
    wasifs.run(tool, args=["tool", "cat", "/d/none"], mounts={"/d": edited_tree()},
               metrics=metrics)
    second = metrics.as_dict()  # one object sums many runs
    assert second["path_open"]["calls"] == first["path_open"]["calls"] + 1
    assert second["path_open"]["errors"] == 1
    assert metrics.total_calls() == sum(r["calls"] for r in second.values())
    table = metrics.summary().splitlines()
    assert table[0].split()[:3] == ["syscall", "calls", "errors"] and table[-1].startswith("total")


def test_metrics_through_a_prometheus_registry(tool: bytes) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    metrics = Metrics(registry)
    wasifs.run(tool, args=["tool", "cat", "/d/keep.txt"], mounts={"/d": edited_tree()},
               metrics=metrics)
    text = prometheus_client.generate_latest(registry).decode()
    calls = metrics.as_dict()["path_open"]["calls"]
    assert f'wasifs_syscalls_total{{syscall="path_open"}} {float(calls)}' in text
    assert 'wasifs_syscall_duration_seconds_bucket{le="+Inf",syscall="path_open"}' in text
    assert registry.get_sample_value("wasifs_syscall_bytes_total",
                                     {"syscall": "fd_read"}) == len("kept\n")


def _host(**options: object) -> wasifs.WasiHost:
    engine = wasmtime.Engine()
    return wasifs.WasiHost(wasmtime.Store(engine), **options)  # type: ignore[arg-type]


def test_off_by_default_the_core_methods_are_not_wrapped() -> None:
    host = _host(mounts={"/d": wasifs.MemoryFileSystem()})
    wrapped = [name for name in SYSCALLS if name in vars(host.core)]
    assert wrapped == []
    assert host.core.fd_write.__func__ is WasiCore.fd_write  # type: ignore[attr-defined]
    host.close()


def test_on_every_syscall_is_wrapped_until_the_run_ends() -> None:
    host = _host(mounts={"/d": wasifs.MemoryFileSystem()}, metrics=Metrics())
    assert all(name in vars(host.core) for name in SYSCALLS)
    assert host.core.fd_write.__wrapped__.__func__ is WasiCore.fd_write  # type: ignore[attr-defined]
    host.close()
    assert [name for name in SYSCALLS if name in vars(host.core)] == []


@pytest.mark.parametrize(("options", "match"), [
    ({"audit": "yes"}, "audit must be True, a callable"),
    ({"metrics": {}}, "metrics must be a wasifs.observe.Metrics"),
])
def test_bad_audit_or_metrics_are_refused(tool: bytes, options: dict[str, object],
                                          match: str) -> None:
    with pytest.raises(TypeError, match=match):
        wasifs.run(tool, args=["tool", "args"], **options)  # type: ignore[arg-type]


def test_an_event_as_a_json_line_is_its_dict() -> None:
    event = AuditEvent(time=1764495417.1234567, syscall="path_rename", fd=3,
                       path='/d/"odd"\n\\é\x01', mount="/d", errno=0, bytes=None,
                       new_path="/d/ü", target=None, duration_ns=12345, error=None)
    assert json.loads(event.to_json()) == event.as_dict()
    failed = AuditEvent(time=1.0, syscall="fd_read", fd=0, path=None, mount=None, errno=None,
                        error="KeyboardInterrupt")
    assert json.loads(failed.to_json()) == failed.as_dict()


def test_an_audit_alone_wraps_only_filesystem_calls() -> None:
    host = _host(mounts={"/d": wasifs.MemoryFileSystem()}, audit=lambda event: None)
    wrapped = {name for name in SYSCALLS if name in vars(host.core)}
    assert wrapped == {name for name in SYSCALLS if name.startswith(("fd_", "path_"))}
    host.close()
