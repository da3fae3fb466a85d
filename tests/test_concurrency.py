"""Several real guests on threads share one filesystem (a memory backend, a host directory,
a sandbox with quotas over memory) and run create / rename / append / rename-onto-one-name /
readdir loops at the same time, with fast thread switching. Each guest logs every step; the
final tree is checked against the logs: every file each guest made and renamed is there with
its content, no temporary name is left, the shared append-only file holds each logged record
exactly once, whole, and in each guest's order, the one name everybody renamed onto holds one
of their files, and no listing ever showed a name that should not exist. The sandbox's counts
match a walk of the tree afterwards.

``WASIFS_CONCURRENCY_ROUNDS`` (default 40) sets the rounds per guest.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wasifs
from wasifs.backends import Backend, MemoryFileSystem, NativeFileSystem, Quota, SandboxFileSystem
from wasifs.toolchain import compile_c

FSOPS = Path(__file__).resolve().parent / "guests" / "fsops.c"
GUESTS = 6
ROUNDS = int(os.environ.get("WASIFS_CONCURRENCY_ROUNDS", "40"))
RECORD = re.compile(rb"(\d+) (\d+) \.{24}\n")

FIGURES = {"concurrent runs": 0, "steps checked": 0}


@pytest.fixture(scope="module")
def fsops() -> bytes:
    return compile_c(FSOPS)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _backend(kind: str, tmp_path: Path) -> tuple[Backend, Any]:
    """The shared backend, and something to read the final tree through."""
    if kind == "memory":
        fs = MemoryFileSystem()
        return fs, fs
    if kind == "native":
        fs2 = NativeFileSystem(tmp_path)
        return fs2, fs2
    sb = SandboxFileSystem(MemoryFileSystem(), quota=Quota(bytes=1 << 24, files=10_000,
                                                           dirs=10, fds=1000))
    return sb, sb


@pytest.mark.parametrize("kind", ["memory", "native", "sandbox"])
def test_guests_share_a_tree(fsops: bytes, tmp_path: Path, kind: str,
                             fast_switching: None, caplog: pytest.LogCaptureFixture) -> None:
    fs, view = _backend(kind, tmp_path)
    wasifs.Path(view, "/w").mkdir()
    outputs: dict[int, str] = {}
    errors: list[BaseException] = []

    def guest(ident: int) -> None:
        try:
            result = wasifs.run(fsops, args=["fsops", "worker", str(ident), str(ROUNDS),
                                             "/d/w"], mounts={"/d": fs})
            assert result.exit_code == 0, result.stderr
            outputs[ident] = result.stdout.decode()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=guest, args=(i,)) for i in range(GUESTS)]
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
    assert not any(t.is_alive() for t in threads), "a guest hangs"
    assert not errors, errors
    assert not [r for r in caplog.records if "bug in syscall" in r.getMessage()]
    FIGURES["concurrent runs"] += GUESTS

    root = wasifs.Path(view, "/w")
    names = {p.name for p in root.iterdir()}
    appended: dict[int, list[int]] = {}
    latest_candidates: set[bytes] = set()
    for ident, out in outputs.items():
        steps = [line.split() for line in out.splitlines()]
        assert len(steps) == 5 * ROUNDS, out[-500:]
        FIGURES["steps checked"] += len(steps)
        for step in steps:
            assert step[0] == "W" and step[1] == str(ident), step
            what, i = step[2], int(step[3])
            if what == "ls":
                assert step[5] == "bad=0", step  # no foreign or torn name was listed
                continue
            assert step[4] == "OK", (ident, step)  # nothing may fail
            if what == "rename":
                assert f"tmp-{ident}-{i}" not in names
                assert (root / f"done-{ident}-{i}").read_bytes() == f"{ident} {i}\n".encode()
            elif what == "append":
                appended.setdefault(ident, []).append(i)
            elif what == "latest":
                assert f"latest-{ident}-{i}" not in names
                latest_candidates.add(f"{ident} {i}\n".encode())
    shared = (root / "shared").read_bytes()
    records = RECORD.findall(shared)
    assert b"".join(m.group(0) for m in RECORD.finditer(shared)) == shared, "a torn record"
    in_file: dict[int, list[int]] = {}
    for ident, i in records:
        in_file.setdefault(int(ident), []).append(int(i))
    assert in_file == appended  # each record once, in each guest's order
    assert (root / "latest").read_bytes() in latest_candidates
    assert names == ({f"done-{g}-{i}" for g in range(GUESTS) for i in range(ROUNDS)}
                     | {"shared", "latest"})
    if isinstance(fs, SandboxFileSystem):
        assert fs.usage == fs.recount()
        assert fs.usage.files == len(names) and fs.usage.fds == 0


def test_memory_listdir_races_with_creates(fsops: bytes, fast_switching: None,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Guests listing a directory while others create and remove files in it: every
    listing succeeds (before: 'dictionary changed size during iteration', EIO and a bug
    record)."""
    fs = MemoryFileSystem()
    wasifs.Path(fs, "/w").mkdir()
    for i in range(2000):  # a long listing: thread switches happen in the middle of it
        wasifs.Path(fs, f"/w/file-{i}").touch()
    outputs: list[str] = []

    def run(*argv: str) -> None:
        result = wasifs.run(fsops, args=["fsops", *argv], mounts={"/d": fs})
        outputs.append(result.stdout.decode())

    listing = ["ls", "/d/w"] * 300
    churn = ["churn", "/d/w", "20000"]
    threads = [threading.Thread(target=run, args=argv)
               for argv in (listing, listing, churn, churn)]
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
    assert not [r for r in caplog.records if "bug in syscall" in r.getMessage()]
    assert all("ls /d/w -> EIO" not in out for out in outputs)


def test_report_figures() -> None:
    print(f"\nconcurrency: {FIGURES}")
