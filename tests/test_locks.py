"""Advisory subtree locks (``wasifs.lock``): which locks conflict, who holds them, the host
space shared by native backends and host paths, the locks ``copy_in``/``copy_out``/``copy``/
``snapshot`` take (a snapshot never sees half of a concurrent copy, while a real guest runs on
the same tree), no deadlock between copies in opposite directions, and the async form, which
waits without blocking the event loop."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import wasifs
from wasifs.backends import MemoryFileSystem, NativeFileSystem, SandboxFileSystem
from wasifs.toolchain import compile_c

FSOPS = Path(__file__).resolve().parent / "guests" / "fsops.c"


def _taken_elsewhere(lk: wasifs.Lock) -> bool:
    """Whether another thread could take ``lk`` now (and give it back at once)."""
    got: list[bool] = []

    def probe() -> None:
        ok = lk.acquire(blocking=False)
        if ok:
            lk.release()
        got.append(ok)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return got[0]


def test_which_locks_conflict() -> None:
    fs = MemoryFileSystem()
    other = MemoryFileSystem()
    with wasifs.lock(fs, "/a"):
        assert not _taken_elsewhere(wasifs.lock(fs, "/a/b/c", shared=True))
        assert not _taken_elsewhere(wasifs.lock(fs, "/"))
        assert not _taken_elsewhere(wasifs.lock(fs, "a/./x/.."))  # the same path
        assert _taken_elsewhere(wasifs.lock(fs, "/ab"))
        assert _taken_elsewhere(wasifs.lock(fs, "/b"))
        assert _taken_elsewhere(wasifs.lock(other, "/a"))
    with wasifs.lock(fs, "/a", shared=True):
        assert _taken_elsewhere(wasifs.lock(fs, "/a/b", shared=True))
        assert _taken_elsewhere(wasifs.lock(fs, "/", shared=True))
        assert not _taken_elsewhere(wasifs.lock(fs, "/a/b"))
    assert _taken_elsewhere(wasifs.lock(fs, "/"))


def test_a_holder_never_waits_for_its_own_locks() -> None:
    fs = MemoryFileSystem(auto_mkdir=True)
    fs.pipe("/d/f", b"x")
    with wasifs.lock(fs, "/d"), wasifs.lock(fs, "/d/f", shared=True), wasifs.lock(fs):
        assert wasifs.Path(fs, "/d/f").read_bytes() == b"x"
        assert wasifs.snapshot(wasifs.Path(fs, "/d"))  # takes a shared lock: goes on
    assert _taken_elsewhere(wasifs.lock(fs))


def test_host_paths_and_native_backends_share_one_space(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    native = NativeFileSystem(tmp_path)
    inner_native = NativeFileSystem(tmp_path / "sub")
    sandbox = SandboxFileSystem(native)
    with wasifs.lock(tmp_path / "sub"):
        assert not _taken_elsewhere(wasifs.lock(native, "/sub/x"))
        assert not _taken_elsewhere(wasifs.lock(inner_native))
        assert not _taken_elsewhere(wasifs.lock(sandbox, "sub", shared=True))
        assert not _taken_elsewhere(wasifs.lock(str(tmp_path)))
        assert not _taken_elsewhere(wasifs.lock(wasifs.Path(native, "/sub")))
        assert _taken_elsewhere(wasifs.lock(native, "/other"))
        assert _taken_elsewhere(wasifs.lock(tmp_path, "other"))


def test_lock_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="a backend, a wasifs.Path or a host path"):
        wasifs.lock(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        wasifs.lock(tmp_path, timeout=-1)
    lk = wasifs.lock(MemoryFileSystem(), "/a")
    with pytest.raises(RuntimeError, match="not held"):
        lk.release()
    with lk:
        assert lk.locked and "held" in repr(lk)
        with pytest.raises(RuntimeError, match="already held"):
            lk.acquire()
    assert not lk.locked


def test_a_timeout_ends_the_wait() -> None:
    fs = MemoryFileSystem()
    ready, done = threading.Event(), threading.Event()

    def holder() -> None:
        with wasifs.lock(fs, "/x"):
            ready.set()
            done.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    ready.wait(30)
    try:
        with pytest.raises(TimeoutError, match="within 0.1 s"), \
                wasifs.lock(fs, "/x/y", timeout=0.1):
            pass
    finally:
        done.set()
        t.join()


def test_copy_in_waits_for_a_shared_lock_on_its_destination(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"new")
    fs = MemoryFileSystem()
    dest = wasifs.Path(fs, "/data")
    finished = threading.Event()

    def copy() -> None:
        wasifs.copy_in(tmp_path / "src", dest)
        finished.set()

    with wasifs.lock(dest, shared=True):
        t = threading.Thread(target=copy)
        t.start()
        time.sleep(0.2)
        assert not finished.is_set() and not dest.exists()  # it waits for the lock
    t.join(30)
    assert finished.is_set() and (dest / "f").read_bytes() == b"new"
    # and copy_out waits for an exclusive lock on its source, and on its host destination
    finished.clear()

    def copy_out() -> None:
        wasifs.copy_out(dest, tmp_path / "out")
        finished.set()

    for holder in (wasifs.lock(fs, "/"), wasifs.lock(tmp_path / "out" / "f", shared=True)):
        with holder:
            t = threading.Thread(target=copy_out)
            t.start()
            time.sleep(0.2)
            assert not finished.is_set()
        t.join(30)
        assert finished.is_set()
        finished.clear()


GENERATIONS = 40
FILES = 12


def _tree(generation: int, root: Path) -> None:
    for i in range(FILES):
        (root / f"f{i:02d}").write_bytes(b"generation %d\n" % generation * 200)


def test_snapshots_never_see_half_a_copy_while_a_guest_runs(tmp_path: Path) -> None:
    """One host thread copies trees in, generation after generation (every file of a
    generation holds the same text); another takes snapshots; a real guest reads the same
    tree all along. Each snapshot shows one generation whole: the copies and snapshots take
    their locks."""
    sources = []
    for g in range(GENERATIONS):
        src = tmp_path / f"gen{g}"
        src.mkdir()
        _tree(g, src)
        sources.append(src)
    fs = MemoryFileSystem()
    data = wasifs.Path(fs, "/data")
    wasifs.copy_in(sources[0], data)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[set[str]] = []

    def writer() -> None:
        try:
            for src in sources[1:]:
                wasifs.copy_in(src, data)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                snap = wasifs.snapshot(data)
                seen.append({e.sha256 or "" for e in snap.values()})
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    wasm = compile_c(FSOPS)
    guest_out: list[str] = []

    def guest() -> None:
        result = wasifs.run(wasm, args=["fsops", "race", "/d/data/f00", "3000"],
                            mounts={"/d": fs})
        guest_out.append(result.stdout.decode())

    threads = [threading.Thread(target=f) for f in (writer, reader, reader, guest)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(seen) >= 5
    torn = [s for s in seen if len(s) != 1]
    assert not torn, f"{len(torn)} of {len(seen)} snapshots mixed generations"
    assert "errors=0" in guest_out[0] and "outside=0" in guest_out[0]
    assert wasifs.snapshot(data) == wasifs.snapshot(wasifs.Path(
        NativeFileSystem(sources[-1]), "/"))


def test_copies_in_opposite_directions_do_not_deadlock() -> None:
    a, b = MemoryFileSystem(), MemoryFileSystem()
    a.pipe("/x", b"a" * 1000)
    b.pipe("/y", b"b" * 1000)
    errors: list[BaseException] = []

    def loop(src: Any, dst: Any) -> None:
        try:
            for _ in range(200):
                wasifs.transfer.copy(src, dst)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(wasifs.Path(a, "/x"), wasifs.Path(b, "/y"))),
               threading.Thread(target=loop, args=(wasifs.Path(b, "/y"), wasifs.Path(a, "/x")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors


def test_async_lock_waits_without_blocking_the_event_loop() -> None:
    anyio = pytest.importorskip("anyio")
    fs = MemoryFileSystem()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with wasifs.lock(fs, "/x"):
            held.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(30)
    ticks = 0
    order: list[str] = []

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(20):
            ticks += 1
            await anyio.sleep(0.01)
        release.set()  # let the thread go after the loop showed it was free

    async def waiter() -> None:
        async with wasifs.lock(fs, "/x/y"):
            order.append(f"acquired after {ticks} ticks")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            tg.start_soon(waiter)

    for backend in ("asyncio", "trio"):
        if backend == "trio":
            pytest.importorskip("trio")
            ticks = 0
            t.join(30)
            t = threading.Thread(target=holder)
            held.clear()
            release.clear()
            t.start()
            held.wait(30)
        anyio.run(main, backend=backend)
        assert order[-1] == "acquired after 20 ticks", order
    t.join(30)


def test_async_locks_exclude_each_other_between_tasks() -> None:
    anyio = pytest.importorskip("anyio")
    fs = MemoryFileSystem()
    inside = 0
    most = 0

    async def worker() -> None:
        nonlocal inside, most
        for _ in range(5):
            async with wasifs.lock(fs, "/shared"):
                inside += 1
                most = max(most, inside)
                await anyio.sleep(0.002)
                inside -= 1

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(worker)

    anyio.run(main)
    assert most == 1


def test_async_timeout_and_cancellation_leave_nothing_held() -> None:
    anyio = pytest.importorskip("anyio")
    fs = MemoryFileSystem()
    ready, go = threading.Event(), threading.Event()

    def holder() -> None:
        with wasifs.lock(fs, "/x"):
            ready.set()
            go.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    ready.wait(30)

    async def waits() -> None:
        with pytest.raises(TimeoutError):
            async with wasifs.lock(fs, "/x", timeout=0.05):
                pass
        with anyio.move_on_after(0.05):
            async with wasifs.lock(fs, "/x"):
                pytest.fail("took a lock another thread holds")

    try:
        anyio.run(waits)
    finally:
        go.set()
        t.join(30)
    assert wasifs.backends._locks.held() == []
