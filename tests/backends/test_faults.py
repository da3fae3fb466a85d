"""The fault-injection backend: transparent without faults (the contract suite), and with
faults a real guest sees each injected errno; data acknowledged by ``fd_sync`` before a
fault is intact after random failures; and no host descriptor leaks, whatever fails."""

from __future__ import annotations

import errno
import gc
import logging
import os
from pathlib import Path
from typing import Any

import pytest

import wasifs
from wasifs.backends import (
    Fault,
    FaultyFileSystem,
    MemoryFileSystem,
    NativeFileSystem,
    open_backend,
)
from wasifs.testing import BackendContract
from wasifs.toolchain import compile_c

FSOPS = Path(__file__).resolve().parents[1] / "guests" / "fsops.c"


class TestFaultsWithoutFaults(BackendContract):
    """Without faults the wrapper passes everything through."""

    backend_name = "faults (memory)"

    @pytest.fixture
    def backend(self) -> FaultyFileSystem:
        return FaultyFileSystem(MemoryFileSystem())


class TestFaultsNativeWithoutFaults(BackendContract):
    backend_name = "faults (native)"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> FaultyFileSystem:
        return FaultyFileSystem(NativeFileSystem(tmp_path))


@pytest.fixture(scope="module")
def fsops() -> bytes:
    return compile_c(FSOPS)


#: figures for docs/security.md, printed by the tests (pytest -s)
FIGURES = {"faults injected": 0, "runs": 0}


def run_guest(wasm: bytes, fs: Any, *commands: str) -> list[str]:
    argv = [word for command in commands for word in command.split(" ")]
    result = wasifs.run(wasm, args=["fsops", *argv], mounts={"/d": fs})
    assert result.exit_code == 0, result.stderr
    FIGURES["runs"] += 1
    if isinstance(fs, FaultyFileSystem):
        FIGURES["faults injected"] += len(fs.injected)
    return result.stdout.decode().splitlines()


#: fd_read and fd_pread do not map a backend's OSError yet: the guest gets EIO through the
#: "bug in syscall" path (logged, raised in strict mode) whatever the errno


def _no_bug_records(caplog: pytest.LogCaptureFixture) -> None:
    bugs = [r.getMessage() for r in caplog.records if "bug in syscall" in r.getMessage()]
    assert not bugs, bugs


GUEST_SEES = [
    (Fault("pwrite", errno.EIO), ["write /d/f hello"], ["write /d/f -> EIO"]),
    (Fault("pwrite", errno.ENOSPC), ["write /d/f hello"], ["write /d/f -> ENOSPC"]),
    (Fault("append", errno.EDQUOT), ["append /d/f hello"], ["append /d/f -> EDQUOT"]),
    (Fault("pread", errno.EIO), ["read /d/in"], ["read /d/in -> EIO"]),
    (Fault("pread", errno.ETIMEDOUT), ["read /d/in"], ["read /d/in -> E?"]),
    (Fault("close", errno.EIO), ["write /d/f hello", "read /d/f"],
     ["write /d/f -> EIO", "read /d/f -> OK 5 hello"]),
    (Fault("close", errno.EIO, path="f"), ["read /d/in"], ["read /d/in -> OK 3 abc"]),
    (Fault("open_file", errno.EACCES, path="in"), ["read /d/in", "write /d/f x"],
     ["read /d/in -> EACCES", "write /d/f -> OK"]),
    (Fault("fsync", errno.EIO), ["journal /d/j 2"], ["journal /d/j -> OK acked=26 failures=1"]),
    (Fault("ftruncate", errno.EIO), ["truncate /d/in 1"], ["truncate /d/in -> EIO"]),
    (Fault("allocate", errno.ENOSPC), ["allocate /d/in 100"], ["allocate /d/in -> ENOSPC"]),
    (Fault("mkdir", errno.EIO), ["mkdir /d/x", "mkdir /d/x"], ["mkdir /d/x -> EIO",
                                                                "mkdir /d/x -> OK"]),
    (Fault("rename", errno.EIO, when="after"), ["mv /d/in /d/out", "read /d/out"],
     ["mv /d/in -> EIO", "read /d/out -> OK 3 abc"]),
    (Fault("unlink", errno.EBUSY), ["rm /d/in"], ["rm /d/in -> E?"]),
    (Fault("listdir", errno.EIO), ["ls /d"], ["ls /d -> EIO"]),
    (Fault("lstat", errno.EIO, path="in"), ["stat /d/in"], ["stat /d/in -> EIO"]),
    (Fault("symlink", errno.EPERM), ["symlink in /d/l"], ["symlink /d/l -> EPERM"]),
    (Fault("link", errno.EMLINK), ["ln /d/in /d/h"], ["ln /d/in -> EMLINK"]),
    (Fault("pwrite", short=True, times=None), ["write /d/f 0123456789", "read /d/f"],
     ["write /d/f -> OK", "read /d/f -> OK 10 0123456789"]),
    (Fault("pread", short=True), ["read /d/in"], ["read /d/in -> OK 1 a"]),
    (Fault("write", errno.EIO, after=2), ["fill /d/f 20000"], ["fill /d/f -> EIO 8192"]),
]


def _case_id(case: Any) -> str:
    fault = case.values[0] if hasattr(case, "values") else case[0]
    what = "short" if fault.short else errno.errorcode.get(fault.error, str(fault.error))
    op = fault.op if isinstance(fault.op, str) else "+".join(fault.op)
    return f"{op}-{what}" + (f"-{fault.path}" if fault.path else "") + (
        f"-{fault.when}" if fault.when != "before" else "") + (
        f"-after{fault.after}" if fault.after else "")


@pytest.mark.parametrize(("fault", "commands", "expected"), GUEST_SEES,
                         ids=[_case_id(c) for c in GUEST_SEES])
def test_the_guest_sees_the_fault(fsops: bytes, fault: Fault, commands: list[str],
                                  expected: list[str], caplog: pytest.LogCaptureFixture
                                  ) -> None:
    inner = MemoryFileSystem()
    inner.pipe("/in", b"abc")
    fs = FaultyFileSystem(inner, [fault])
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        assert run_guest(fsops, fs, *commands) == expected
    assert fault.fired == len(fs.injected)
    assert fs.injected or fault.path == "f"  # the one case whose fault matches no call
    _no_bug_records(caplog)


def test_short_writes_are_retried_by_the_guest(fsops: bytes) -> None:
    fs = FaultyFileSystem(MemoryFileSystem(), [Fault("pwrite", short=True, times=None)])
    assert run_guest(fsops, fs, "write /d/f 0123456789") == ["write /d/f -> OK"]
    # 10 bytes in halves: 5, 2 (of 5), 1 (of 3), 1 (of 2) and the last byte (1 cannot be short)
    assert [i.what for i in fs.injected] == ["short 5/10", "short 2/5", "short 1/3",
                                             "short 1/2"]


JOURNAL = 150


def _journal(n: int) -> bytes:
    return b"".join(b"record %05d\n" % i for i in range(n))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["memory", "native"])
def test_data_acknowledged_by_fd_sync_is_intact(fsops: bytes, tmp_path: Path, seed: int,
                                                kind: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Random failures (errors before and after the call, short writes, failing syncs and
    closes) on a journal that syncs each record: every record the guest saw acknowledged by
    ``fd_sync`` is in the file, byte for byte, in order."""
    inner = MemoryFileSystem() if kind == "memory" else NativeFileSystem(tmp_path)
    fs = FaultyFileSystem(inner, [
        Fault("pwrite", (errno.EIO, errno.ENOSPC), probability=0.1, times=None),
        Fault("pwrite", errno.EIO, probability=0.05, times=None, when="after"),
        Fault("pwrite", short=True, probability=0.2, times=None),
        Fault("fsync", errno.EIO, probability=0.1, times=None),
        Fault("fsync", errno.EIO, probability=0.05, times=None, when="after"),
        Fault("close", errno.EIO, probability=0.5, times=None),
    ], seed=seed)
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        out = run_guest(fsops, fs, f"journal /d/j {JOURNAL}")
    _no_bug_records(caplog)
    assert len(out) == 1 and out[0].startswith("journal /d/j -> OK acked="), out
    acked = int(out[0].split("acked=")[1].split()[0])
    failures = int(out[0].split("failures=")[1])
    expected = _journal(JOURNAL)
    assert acked == len(expected)
    with fs.paused():
        data = wasifs.Path(fs, "/j").read_bytes()
    assert data[:acked] == expected
    assert len(fs.injected) > 20 and failures > 0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
@pytest.mark.parametrize("seed", range(8))
def test_no_host_descriptor_leaks(fsops: bytes, tmp_path: Path, seed: int) -> None:
    """Every kind of call fails at random, before and after it ran, on a host directory: the
    process holds as many descriptors after the run as before, and every handle given out
    was closed (counted by a faultless FaultyFileSystem under the faulty one, since a native
    handle dropped without ``close`` would be closed by the garbage collector unseen)."""
    (tmp_path / "in").write_bytes(b"inside\n")
    (tmp_path / "sub").mkdir()
    script = ["fill /d/a 20000", "files /d/sub 20", "dirs /d/sub 5", "ls /d/sub", "read /d/in",
              "mv /d/a /d/sub/a", "ln /d/in /d/h", "symlink in /d/l", "read /d/l",
              "fds /d/in 30", "truncate /d/in 3", "allocate /d/h 100", "journal /d/j 20",
              "rm /d/h", "rmdir /d/sub/d0", "stat /d/sub", "lstat /d/l", "readlink /d/l",
              "deep /d/sub 10", "race /d/in 20"]
    native = NativeFileSystem(tmp_path)
    run_guest(fsops, native, *script[:1])  # warm up whatever a first run opens
    gc.collect()
    before = _open_fds()
    ledger = FaultyFileSystem(native)
    fs = FaultyFileSystem(ledger, [
        Fault("*", (errno.EIO, errno.ENOSPC, errno.EACCES), probability=0.08, times=None),
        Fault("*", errno.EIO, probability=0.04, times=None, when="after"),
        Fault("data", short=True, probability=0.1, times=None),
    ], seed=seed)
    out = run_guest(fsops, fs, *script)
    assert len(out) == len(script)
    assert len(fs.injected) > 10
    assert ledger.open_handles == 0 and fs.open_handles == 0, fs.injected
    gc.collect()
    assert _open_fds() == before, (fs.injected, out)


def test_fault_options() -> None:
    f = Fault(["write", "close"], (errno.EIO,))
    assert f.ops == {"pwrite", "append", "ftruncate", "allocate", "close"}
    for bad in ({"op": "nope"}, {"op": "mkdir", "short": True}, {"op": "*", "when": "never"},
                {"op": "*", "probability": 2.0}, {"op": "*", "error": 0},
                {"op": "*", "after": -1}):
        with pytest.raises(ValueError):
            Fault(**bad)  # type: ignore[arg-type]
    fs = open_backend("faults", faults=[Fault("mkdir", times=2, after=1)], seed=3)
    assert isinstance(fs, FaultyFileSystem) and isinstance(fs.inner, MemoryFileSystem)
    r = fs.root()
    fs.mkdir(r, "a")
    for name in ("b", "c"):
        with pytest.raises(OSError) as info:
            fs.mkdir(r, name)
        assert info.value.errno == errno.EIO and "injected" in str(info.value)
    fs.mkdir(r, "d")
    with fs.paused():
        fs.faults.append(Fault("*", times=None))
        assert fs.listdir(r)
    assert [i.op for i in fs.injected] == ["mkdir", "mkdir"]
    fs.close(r)


def test_the_same_seed_injects_the_same_faults(fsops: bytes) -> None:
    runs = []
    for _ in range(2):
        fs = FaultyFileSystem(MemoryFileSystem(), [
            Fault("*", (errno.EIO, errno.ENOSPC), probability=0.2, times=None)], seed=42)
        out = run_guest(fsops, fs, "files /d 30", "ls /d", "journal /d/j 30")
        runs.append((out, fs.injected))
    assert runs[0] == runs[1] and runs[0][1]


def test_report_figures() -> None:
    print(f"\nfault injection: {FIGURES}")
