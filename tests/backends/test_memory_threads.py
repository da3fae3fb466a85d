"""Namespace changes on one shared ``MemoryFileSystem`` are atomic with their checks (issue
10, item 15): two guests on two threads, one moving ``A`` into ``B`` and back, the other ``B``
into ``A`` and back, with the interpreter switching threads as often as it can, never make a
directory cycle (which made ``/A`` and ``/B`` vanish, and a later rename inside the cycle
loop forever)."""

from __future__ import annotations

import errno
import linecache
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests._forward import Guest, wasifs_guest
from wasifs.abi import Errno
from wasifs.backends import MemoryFileSystem
from wasifs.path import Path

ROUNDS = 1000


@pytest.fixture
def fast_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def rename(g: Guest, old: str, new: str) -> int:
    g.write(1024, old.encode())
    g.write(2048, new.encode())
    return g.call("path_rename", 3, 1024, len(old), 3, 2048, len(new))


def mover(fs: MemoryFileSystem, me: str, other: str, errors: list[Any]) -> None:
    """Move ``me`` into ``other`` and back, ROUNDS times, wherever ``other`` is now."""
    g = wasifs_guest({"/sandbox": fs}, pages=1)
    try:
        for _ in range(ROUNDS):
            # each name is either at the top or inside the other one
            for there in (me, f"{other}/{me}"):
                for dest in (f"{other}/{me}", f"{other}/{other}/{me}", me):
                    err = rename(g, there, dest)
                    if err not in (0, Errno.NOENT, Errno.INVAL, Errno.NOTEMPTY):
                        errors.append((there, dest, Errno(err)))
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
    finally:
        g.close()


def no_cycle(fs: MemoryFileSystem) -> list[str]:
    """Every directory reachable from the root, by path (a cycle would never end: the
    walk stops at 10,000 entries)."""
    seen = [str(p) for p, _, _ in Path(fs).walk()]
    assert len(seen) < 10_000
    return seen


def test_crossed_renames_never_make_a_cycle(fast_switching: None) -> None:
    fs = MemoryFileSystem()
    Path(fs, "/A").mkdir()
    Path(fs, "/B").mkdir()
    errors: list[Any] = []
    threads = [threading.Thread(target=mover, args=(fs, "A", "B", errors), daemon=True),
               threading.Thread(target=mover, args=(fs, "B", "A", errors), daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)  # a liveness check: a rename looping in a cycle never returns
    assert not any(t.is_alive() for t in threads), "a rename never returned"
    assert not errors, errors[:5]
    dirs = no_cycle(fs)
    # both directories are still there, one at the top, or one inside the other
    assert sorted(d.rsplit("/", 1)[-1] for d in dirs if d != "/") == ["A", "B"], dirs


class PauseAt:
    """A tracer that pauses its thread once, when a function named ``function`` is about to
    run the line whose source starts with ``line``, until :attr:`go` is set (or one second
    passes): it makes a thread switch happen at exactly that point of the real code."""

    def __init__(self, function: str, line: str) -> None:
        self.function = function
        self.line = line
        self.paused = threading.Event()
        self.go = threading.Event()

    def __call__(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "call":
            return self if frame.f_code.co_name == self.function else None
        if event == "line" and not self.paused.is_set():
            text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            if text.startswith(self.line):
                self.paused.set()
                self.go.wait(1.0)
        return self


def test_a_rename_is_atomic_with_its_subtree_check() -> None:
    # thread 1 has checked that A may move into B and is about to move it; thread 2 moves
    # B into A right then. Without a lock, both succeed: A in B and B in A, a cycle that
    # nothing reaches any more. With one, thread 2 waits, then finds A inside B (EINVAL).
    fs = MemoryFileSystem()
    root = fs.root()
    fs.mkdir(root, "A")
    fs.mkdir(root, "B")
    a, b = fs.opendir(root, "A"), fs.opendir(root, "B")
    pause = PauseAt("rename", "del src_dir.children[src]")
    results: dict[str, Any] = {}

    def first() -> None:
        sys.settrace(pause)
        try:
            fs.rename(root, "A", b, "A")
            results["first"] = "ok"
        except OSError as exc:
            results["first"] = exc.errno
        finally:
            sys.settrace(None)

    t = threading.Thread(target=first)
    t.start()
    assert pause.paused.wait(10)
    second = threading.Thread(
        target=lambda: results.setdefault("second", _rename(fs, root, "B", a, "B")))
    second.start()
    second.join(0.5)
    pause.go.set()
    t.join(10)
    second.join(10)
    assert results["first"] == "ok"
    assert results["second"] == errno.EINVAL  # B would go into its own subtree (B/A)
    assert [str(p) for p, _, _ in Path(fs).walk()] == ["/", "/B", "/B/A"]


def _rename(fs: MemoryFileSystem, src_dir: Any, src: str, dst_dir: Any, dst: str) -> Any:
    try:
        fs.rename(src_dir, src, dst_dir, dst)
    except OSError as exc:
        return exc.errno
    return "ok"


def test_concurrent_exclusive_creates_make_one_file(fast_switching: None) -> None:
    # O_CREAT|O_EXCL from several threads at once: exactly one wins each name
    fs = MemoryFileSystem()
    root = fs.root()
    won: list[int] = []

    def create(me: int) -> None:
        for i in range(2000):
            try:
                fs.open_file(root, f"f{i}", read=False, write=True, create=True,
                             exclusive=True)
            except FileExistsError:
                continue
            won.append(i)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == list(range(2000))
    inos = [e.ino for e in fs.listdir(root)]
    assert len(set(inos)) == len(inos) == 2000
