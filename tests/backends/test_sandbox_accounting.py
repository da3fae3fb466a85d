"""The sandbox's counts stay exact: hypothesis drives thousands of random protocol calls
(writes past the end, appends, truncates, fallocate, unlink, mkdir/rmdir, renames onto
existing files and directories, hard links, symlinks, files kept open and written after
their last name went) through a :class:`SandboxFileSystem` with small quotas over a memory
and a native inner backend. After every step the sandbox's :attr:`~SandboxFileSystem.usage`
equals what a walk of the inner tree counts (its own walk: ``os.walk`` on the host for
native, a plain listing walk for memory), plus the files removed while open; no count ever
exceeds its quota, and a refused call changed nothing.

The default run is derandomized; ``WASIFS_SANDBOX_EXAMPLES=500`` explores further and
``WASIFS_SANDBOX_RANDOM=1`` takes new examples each run.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wasifs.backends import Backend, MemoryFileSystem, NativeFileSystem, Quota, SandboxFileSystem

EXAMPLES = int(os.environ.get("WASIFS_SANDBOX_EXAMPLES", "40"))
DERANDOMIZE = os.environ.get("WASIFS_SANDBOX_RANDOM", "") in ("", "0")
STEPS = 150

QUOTA = Quota(bytes=24_000, files=14, dirs=5, fds=12, file_size=9_000, path_length=12,
              depth=3)

#: errnos the operations may answer (anything else, or an exception that is not an
#: OSError, fails the test)
EXPECTED = {errno.ENOENT, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY,
            errno.EINVAL, errno.EPERM, errno.ENOSPC, errno.EFBIG, errno.EMFILE, errno.ELOOP,
            errno.ENAMETOOLONG}

DIRS = ["", "d", "e", "d/e", "e/d"]
NAMES = ["f", "g", "h", "d", "e", "l"]

#: sizes and offsets: anything, and often the ones near the limits
SIZES = st.integers(0, 4000) | st.sampled_from([3000, 4000, 4500, 8999, 9000, 12_000])
OFFSETS = st.integers(0, 6000) | st.sampled_from([0, 4500, 8000, 8999, 9000, 9001])

COUNTS = {"operations": 0, "refused by a quota": 0, "short writes": 0, "checks": 0}


def _walk_memory(fs: Backend) -> tuple[int, int, int]:
    """(bytes, files, dirs) by listing every directory of the inner backend."""
    nbytes = files = dirs = 0
    seen: set[int] = set()
    todo = [fs.root()]
    while todo:
        d = todo.pop()
        for entry in fs.listdir(d):
            s = fs.lstat(d, entry.name)
            if stat.S_ISDIR(s.mode):
                dirs += 1
                todo.append(fs.opendir(d, entry.name))
            elif s.ino not in seen:
                seen.add(s.ino)
                files += 1
                nbytes += s.size
        fs.close(d)
    return nbytes, files, dirs


def _walk_host(root: str) -> tuple[int, int, int]:
    nbytes = files = dirs = 0
    seen: set[int] = set()
    for top, dirnames, filenames in os.walk(root):
        dirs += len(dirnames)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(top, d))]:
            s = os.lstat(os.path.join(top, name))
            if s.st_ino not in seen:
                seen.add(s.st_ino)
                files += 1
                nbytes += s.st_size
        dirs -= sum(1 for d in dirnames if os.path.islink(os.path.join(top, d)))
    return nbytes, files, dirs


class Accounting(RuleBasedStateMachine):
    """Random calls on a sandbox; ``make_inner`` is set by the subclass."""

    native = False

    def __init__(self) -> None:
        super().__init__()
        if self.native:
            self._tmp = tempfile.TemporaryDirectory(prefix="wasifs-quota-")
            self.host = self._tmp.name
            self.inner: Backend = NativeFileSystem(self.host)
        else:
            self.inner = MemoryFileSystem()
        self.sb = SandboxFileSystem(self.inner, quota=QUOTA)
        self.root = self.sb.root()
        self.kept: list[Any] = []
        self._opened: list[Any] = []
        for name in ("d", "e"):
            self.sb.mkdir(self.root, name)

    def teardown(self) -> None:
        for h in self.kept:
            self.sb.close(h)
        self.kept.clear()
        self.check()
        assert self.sb.usage.fds == 1  # the root
        self.sb.close(self.root)
        assert self.sb.usage.fds == 0
        if self.native:
            self._tmp.cleanup()

    # --- helpers ------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["operations"] += 1
        before = self.sb.usage
        snapshot = self._walk()
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            assert exc.errno in EXPECTED, exc
            if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EMFILE, errno.ENAMETOOLONG):
                COUNTS["refused by a quota"] += 1
                # refused whole: nothing changed
                assert self.sb.usage == before
                assert self._walk() == snapshot
            return None

    def _dir(self, path: str) -> Any:
        """A handle on the directory ``path`` (None if it cannot be opened); the caller
        closes it with :meth:`_done`."""
        h = self.root
        opened: list[Any] = []
        for comp in filter(None, path.split("/")):
            try:
                h = self.sb.opendir(h, comp)
            except OSError as exc:
                assert exc.errno in EXPECTED, exc
                for o in opened:
                    self.sb.close(o)
                return None
            opened.append(h)
        self._opened = opened
        return h

    def _done(self) -> None:
        for o in self._opened:
            self.sb.close(o)
        self._opened = []

    def _walk(self) -> tuple[int, int, int]:
        return _walk_host(self.host) if self.native else _walk_memory(self.inner)

    def _write(self, h: Any, offset: int, size: int) -> None:
        data = bytes([65 + size % 26]) * size
        n = self._call(self.sb.pwrite, h, data, offset)
        if n is not None and n < size:
            COUNTS["short writes"] += 1
            u = self.sb.usage
            end = offset + n
            assert u.bytes == QUOTA.bytes or end == QUOTA.file_size, (u, offset, n, size)

    # --- rules ----------------------------------------------------------------------------
    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES),
          offset=OFFSETS, size=SIZES, truncate=st.booleans())
    def write(self, parent: str, name: str, offset: int, size: int, truncate: bool) -> None:
        d = self._dir(parent)
        if d is None:
            return
        f = self._call(self.sb.open_file, d, name, read=True, write=True, create=True,
                       truncate=truncate)
        if f is not None:
            self._write(f, offset, size)
            self.sb.close(f)
        self._done()

    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES),
          size=SIZES)
    def append(self, parent: str, name: str, size: int) -> None:
        d = self._dir(parent)
        if d is None:
            return
        f = self._call(self.sb.open_file, d, name, read=False, write=True, create=True)
        if f is not None:
            self._call(self.sb.append, f, b"a" * size)
            self.sb.close(f)
        self._done()

    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES),
          size=SIZES, allocate=st.booleans())
    def resize(self, parent: str, name: str, size: int, allocate: bool) -> None:
        d = self._dir(parent)
        if d is None:
            return
        f = self._call(self.sb.open_file, d, name, read=True, write=True)
        if f is not None:
            if allocate and size:
                self._call(self.sb.allocate, f, size // 2, size - size // 2)
            else:
                self._call(self.sb.ftruncate, f, size)
            self.sb.close(f)
        self._done()

    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES), rmdir=st.booleans())
    def remove(self, parent: str, name: str, rmdir: bool) -> None:
        d = self._dir(parent)
        if d is None:
            return
        self._call(self.sb.rmdir if rmdir else self.sb.unlink, d, name)
        self._done()

    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES))
    def mkdir(self, parent: str, name: str) -> None:
        d = self._dir(parent)
        if d is None:
            return
        self._call(self.sb.mkdir, d, name)
        self._done()

    @rule(p1=st.sampled_from(DIRS), n1=st.sampled_from(NAMES), p2=st.sampled_from(DIRS),
          n2=st.sampled_from(NAMES), hard_link=st.booleans())
    def rename_or_link(self, p1: str, n1: str, p2: str, n2: str, hard_link: bool) -> None:
        a = self._dir(p1)
        if a is None:
            return
        first = self._opened
        b = self._dir(p2)
        if b is not None:
            self._call(self.sb.link if hard_link else self.sb.rename, a, n1, b, n2)
            self._done()
        self._opened = first
        self._done()

    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES),
          link_target=st.text("ab/.", min_size=1, max_size=300))
    def symlink(self, parent: str, name: str, link_target: str) -> None:
        d = self._dir(parent)
        if d is None:
            return
        self._call(self.sb.symlink, link_target, d, name)
        self._done()

    @rule(parent=st.sampled_from(DIRS), name=st.sampled_from(NAMES))
    def keep_open(self, parent: str, name: str) -> None:
        d = self._dir(parent)
        if d is None:
            return
        f = self._call(self.sb.open_file, d, name, read=True, write=True)
        if f is not None:
            self.kept.append(f)
        self._done()

    @precondition(lambda self: bool(self.kept))
    @rule(i=st.integers(0, 100), offset=OFFSETS, size=SIZES)
    def write_kept(self, i: int, offset: int, size: int) -> None:
        self._write(self.kept[i % len(self.kept)], offset, size)

    @precondition(lambda self: bool(self.kept))
    @rule(i=st.integers(0, 100))
    def close_kept(self, i: int) -> None:
        self.sb.close(self.kept.pop(i % len(self.kept)))

    # --- the check ----------------------------------------------------------------------------
    def _orphans(self) -> tuple[int, int]:
        """(bytes, files) of the files kept open after their last name went."""
        seen: dict[tuple[int, int], int] = {}
        for h in self.kept:
            s = self.inner.fstat(h)
            if s.nlink == 0:
                seen[(s.dev, s.ino)] = s.size
        return sum(seen.values()), len(seen)

    @invariant()
    def check(self) -> None:
        COUNTS["checks"] += 1
        u = self.sb.usage
        nbytes, files, dirs = self._walk()
        obytes, ofiles = self._orphans()
        assert (u.bytes, u.files, u.dirs) == (nbytes + obytes, files + ofiles, dirs)
        assert u.bytes <= QUOTA.bytes and u.files <= QUOTA.files and u.dirs <= QUOTA.dirs
        assert u.fds == 1 + len(self.kept) <= QUOTA.fds


class NativeAccounting(Accounting):
    native = True


SETTINGS = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                    derandomize=DERANDOMIZE, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("machine", [Accounting, NativeAccounting], ids=["memory", "native"])
def test_accounting_is_exact(machine: type[Accounting]) -> None:
    before = COUNTS["operations"]
    machine.TestCase.settings = SETTINGS
    machine.TestCase().runTest()
    done = COUNTS["operations"] - before
    print(f"\n{machine.__name__}: {done} operations, counts: {COUNTS}")
    assert done >= 2000
    assert COUNTS["refused by a quota"] > 0 and COUNTS["short writes"] > 0
