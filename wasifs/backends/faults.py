"""Fault injection: a backend that fails chosen or random operations of another one.

:class:`FaultyFileSystem` wraps any backend and passes every call through, except the calls
that a :class:`Fault` picks: those fail with an ``OSError`` (``EIO``, ``ENOSPC``, any
errno), move only part of their data (a short read or write), or do their work and then
report an error (a lost acknowledgement). It is meant for tests, yours included: how does a
program running on wasifs behave when the disk fails? ::

    import errno, wasifs
    from wasifs.backends import Fault, FaultyFileSystem, MemoryFileSystem

    fs = FaultyFileSystem(MemoryFileSystem(), [
        Fault("pwrite", errno.ENOSPC, path="out/*.log", after=3),   # the 4th write fails
        Fault("close", errno.EIO, path="*.db"),                     # a failing close()
        Fault("data", short=True, probability=0.1, times=None),     # random short transfers
    ], seed=1)
    result = wasifs.run(wasm, mounts={"/data": fs})
    print(fs.injected)   # what was injected, in order

Operations are named by the :class:`~wasifs.backends.Backend` protocol's methods (``pwrite``,
``open_file``, ``rename`` ...) or by a group: ``"open"`` (``root``, ``opendir``,
``open_file``), ``"read"`` (``pread``), ``"write"`` (``pwrite``, ``append``,
``ftruncate``, ``allocate``), ``"data"`` (``read`` and ``write``), ``"sync"`` (``fsync``),
``"close"``, ``"meta"`` (``fstat``, ``lstat``, ``readlink``, ``listdir``, ``set_times``,
``fset_times``), ``"namespace"`` (``mkdir``, ``rmdir``, ``unlink``, ``rename``, ``link``,
``symlink``) and ``"*"`` (all of them).

What a fault does to each kind of call:

- ``when="before"`` (the default): the call fails and the inner backend never sees it;
- ``when="after"``: the call is made, then fails (a write that reached the disk but whose
  acknowledgement was lost; a handle opened and closed again, so nothing leaks);
- ``short=True`` (``pread``, ``pwrite``, ``append`` only): half the bytes (at least one) are
  moved and the call succeeds with the short count (a read reports half of what it found);
  a call of fewer than two bytes cannot be short and passes;
- ``close``: the handle is always closed, then the error is raised (as a network
  filesystem's close reports a failed write-back). Only file handles fail: the protocol's
  ``close`` of a directory never raises.

Faults are matched in order; the first one that applies to a call decides it. The random
choices (``probability``, an ``error`` tuple) come from one ``random.Random(seed)``, so a
run with the same seed and the same calls injects the same faults.
"""

from __future__ import annotations

import errno
import os
import random
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from ._facade import HandleFileSystem
from ._protocol import Backend, DirEntry, Stat

__all__ = ("FaultyFileSystem", "Fault", "Injected", "GROUPS", "OPERATIONS")

#: Every protocol call that can fail (``same`` never does).
OPERATIONS = frozenset({
    "root", "opendir", "open_file", "close", "fstat", "lstat", "readlink", "listdir",
    "set_times", "fset_times", "pread", "pwrite", "append", "ftruncate", "fsync",
    "allocate", "mkdir", "rmdir", "unlink", "rename", "link", "symlink"})

#: The names of groups of operations.
GROUPS: dict[str, frozenset[str]] = {
    "open": frozenset({"root", "opendir", "open_file"}),
    "read": frozenset({"pread"}),
    "write": frozenset({"pwrite", "append", "ftruncate", "allocate"}),
    "data": frozenset({"pread", "pwrite", "append", "ftruncate", "allocate"}),
    "sync": frozenset({"fsync"}),
    "close": frozenset({"close"}),
    "meta": frozenset({"fstat", "lstat", "readlink", "listdir", "set_times", "fset_times"}),
    "namespace": frozenset({"mkdir", "rmdir", "unlink", "rename", "link", "symlink"}),
    "*": OPERATIONS,
}

_SHORT = frozenset({"pread", "pwrite", "append"})


def _operations(op: str | Iterable[str]) -> frozenset[str]:
    names = [op] if isinstance(op, str) else list(op)
    out: set[str] = set()
    for name in names:
        if name in GROUPS:
            out |= GROUPS[name]
        elif name in OPERATIONS:
            out.add(name)
        else:
            raise ValueError(f"unknown operation {name!r} for a Fault: expected one of "
                             f"{sorted(OPERATIONS)} or a group {sorted(GROUPS)}")
    return frozenset(out)


@dataclass
class Fault:
    """Which calls fail, and how (see the module documentation).

    ``op``: an operation, a group or several of them. ``error``: the errno raised (a tuple:
    one picked at random each time). ``short``: a short transfer instead of an error.
    ``path``: only calls on a path matching this ``fnmatch`` pattern (the path from the
    backend's root without a leading ``/``, such as ``"out/run.log"``; a call on an open
    file or directory has the path it was opened at; a rename or link matches either of its
    paths). ``after``: let this many matching calls through first. ``times``: then fail
    this many (None: every one). ``probability``: each matching call fails with this
    probability (counted only when it fails). ``when``: ``"before"`` or ``"after"`` the call.
    """

    op: str | Iterable[str]
    error: int | tuple[int, ...] = errno.EIO
    short: bool = False
    path: str | None = None
    after: int = 0
    times: int | None = 1
    probability: float = 1.0
    when: str = "before"
    #: matching calls seen and faults injected so far
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)
    ops: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ops = _operations(self.op)
        codes = self.error if isinstance(self.error, tuple) else (self.error,)
        if not codes or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0
                                for c in codes):
            raise ValueError(f"Fault.error must be a positive errno or a tuple of them, "
                             f"got {self.error!r}")
        if self.short and not self.ops & _SHORT:
            raise ValueError(f"short=True needs a data transfer (pread, pwrite, append), "
                             f"not {sorted(self.ops)}")
        if self.when not in ("before", "after"):
            raise ValueError(f"Fault.when must be 'before' or 'after', got {self.when!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"Fault.probability must be in [0, 1], got {self.probability!r}")
        if self.after < 0 or (self.times is not None and self.times < 0):
            raise ValueError("Fault.after and Fault.times cannot be negative")


class Injected(NamedTuple):
    """One injected fault: the call, its path, and what happened (``"EIO"``,
    ``"EIO after"``, ``"short 4/8"`` ...)."""

    op: str
    path: str
    what: str


class _FDir:
    __slots__ = ("h", "path")

    def __init__(self, h: Any, path: str) -> None:
        self.h = h
        self.path = path


class _FFile:
    __slots__ = ("h", "path")

    def __init__(self, h: Any, path: str) -> None:
        self.h = h
        self.path = path


def _join(d: _FDir, name: str) -> str:
    return f"{d.path}/{name}" if d.path else name


def _unwrap(handle: Any) -> Any:
    return handle.h if type(handle) is _FDir or type(handle) is _FFile else handle


class _Decision(NamedTuple):
    fault: Fault
    error: int


def _restore(cls: type[FaultyFileSystem], inner: Backend, faults: list[Fault],
             seed: int | None) -> FaultyFileSystem:
    return cls(inner, faults, seed=seed)


class FaultyFileSystem(HandleFileSystem):
    """``inner`` with the failures ``faults`` describe (see the module documentation); also
    an fsspec filesystem (protocol ``"wasifs-faults"``).

    ``inner`` is a backend or anything :func:`~wasifs.backends.open_backend` takes.
    ``seed`` seeds the random choices. :attr:`injected` lists the faults injected, in
    order; :meth:`paused` suspends injection (to set up or check a tree); :attr:`faults`
    may be changed between runs.
    """

    protocol = "wasifs-faults"
    #: :func:`wasifs.lock` locks in the inner backend's space (the same namespace)
    locks_pass_through = True

    def __init__(self, inner: Any, faults: Iterable[Fault] = (), *, seed: int | None = 0,
                 auto_mkdir: bool = False, **storage_options: Any) -> None:
        super().__init__(auto_mkdir=auto_mkdir, **storage_options)
        from ._registry import open_backend

        self.inner: Backend = inner if isinstance(inner, Backend) else open_backend(inner)
        self.faults: list[Fault] = list(faults)
        for f in self.faults:
            if not isinstance(f, Fault):
                raise TypeError(f"faults must be Fault objects, got {f!r}")
        self.seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._paused = 0
        self._token = os.urandom(16).hex()
        #: every fault injected, in order
        self.injected: list[Injected] = []
        self._handles = 0

    @property
    def readonly(self) -> bool:
        return bool(getattr(self.inner, "readonly", False))

    @readonly.setter
    def readonly(self, value: bool) -> None:
        self.inner.readonly = value

    @property
    def _fs_token(self) -> str:
        return self._token

    @property
    def fsid(self) -> str:
        return f"wasifs-faults-{self._token}"

    def __repr__(self) -> str:
        return f"<FaultyFileSystem {self.inner!r} faults={len(self.faults)} seed={self.seed}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.inner, self.faults, self.seed))

    @property
    def open_handles(self) -> int:
        """Handles given out (``root``, ``opendir``, ``open_file``) and not closed yet: 0
        after a run means nothing leaked a handle of this backend. (A faultless
        ``FaultyFileSystem`` under another one counts that one's handles too.)"""
        return self._handles

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No fault is injected (nor counted) while the block runs."""
        with self._lock:
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1

    # --- deciding ------------------------------------------------------------------------
    def _decide(self, op: str, *paths: str, size: int = 0) -> _Decision | None:
        if not self.faults or self._paused:
            return None
        with self._lock:
            for f in self.faults:
                if op not in f.ops:
                    continue
                if f.path is not None and not any(fnmatchcase(p, f.path) for p in paths):
                    continue
                if f.short and (op not in _SHORT or size < 2):
                    continue
                if f.times is not None and f.fired >= f.times:
                    continue
                f.seen += 1
                if f.seen <= f.after:
                    continue
                if f.probability < 1.0 and self._random.random() >= f.probability:
                    continue
                f.fired += 1
                code = f.error if isinstance(f.error, int) else self._random.choice(f.error)
                return _Decision(f, code)
        return None

    def _record(self, op: str, path: str, what: str) -> None:
        with self._lock:
            self.injected.append(Injected(op, path, what))

    def _fail(self, op: str, path: str, d: _Decision, after: bool = False) -> OSError:
        name = errno.errorcode.get(d.error, str(d.error))
        self._record(op, path, name + (" after" if after else ""))
        return OSError(d.error, f"{os.strerror(d.error)} (injected by FaultyFileSystem)",
                       path)

    def _simple(self, op: str, path: str, call: Any, *args: Any) -> Any:
        d = self._decide(op, path)
        if d is None:
            return call(*args)
        if d.fault.when == "before":
            raise self._fail(op, path, d)
        call(*args)
        raise self._fail(op, path, d, after=True)

    def _opened(self, op: str, path: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        d = self._decide(op, path)
        if d is not None and d.fault.when == "before":
            raise self._fail(op, path, d)
        h = call(*args, **kwargs)
        if d is not None:
            self.inner.close(h)
            raise self._fail(op, path, d, after=True)
        with self._lock:
            self._handles += 1
        return h

    # --- handles -------------------------------------------------------------------------------
    def root(self) -> _FDir:
        return _FDir(self._opened("root", "", self.inner.root), "")

    def opendir(self, dir: _FDir, name: str) -> _FDir:
        path = _join(dir, name)
        return _FDir(self._opened("opendir", path, self.inner.opendir, dir.h, name), path)

    def open_file(self, dir: _FDir, name: str, *, read: bool, write: bool,
                  create: bool = False, exclusive: bool = False, truncate: bool = False,
                  mode: int = 0o666) -> _FFile:
        path = _join(dir, name)
        h = self._opened("open_file", path, self.inner.open_file, dir.h, name, read=read,
                         write=write, create=create, exclusive=exclusive, truncate=truncate,
                         mode=mode)
        return _FFile(h, path)

    def close(self, handle: Any) -> None:
        """Close the handle; a fault on ``close`` of a file raises after closing it."""
        self.inner.close(_unwrap(handle))
        with self._lock:
            self._handles -= 1
        if type(handle) is _FFile:
            d = self._decide("close", handle.path)
            if d is not None:
                raise self._fail("close", handle.path, d, after=True)

    def same(self, a: Any, b: Any) -> bool:
        return self.inner.same(_unwrap(a), _unwrap(b))

    # --- metadata ------------------------------------------------------------------------------
    def fstat(self, handle: Any) -> Stat:
        result: Stat = self._simple("fstat", handle.path, self.inner.fstat, handle.h)
        return result

    def lstat(self, dir: _FDir, name: str) -> Stat:
        result: Stat = self._simple("lstat", _join(dir, name), self.inner.lstat, dir.h, name)
        return result

    def readlink(self, dir: _FDir, name: str) -> str:
        result: str = self._simple("readlink", _join(dir, name), self.inner.readlink, dir.h,
                                   name)
        return result

    def listdir(self, dir: _FDir) -> list[DirEntry]:
        result: list[DirEntry] = self._simple("listdir", dir.path, self.inner.listdir, dir.h)
        return result

    def set_times(self, dir: _FDir, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        self._simple("set_times", _join(dir, name), self.inner.set_times, dir.h, name,
                     atime_ns, mtime_ns)

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None:
        self._simple("fset_times", handle.path, self.inner.fset_times, handle.h, atime_ns,
                     mtime_ns)

    # --- file data -------------------------------------------------------------------------------
    def pread(self, file: _FFile, buf: memoryview, offset: int) -> int:
        d = self._decide("pread", file.path, size=len(buf))
        if d is None:
            return self.inner.pread(file.h, buf, offset)
        if d.fault.short:  # read what there is, report half of it
            n = self.inner.pread(file.h, buf, offset)
            k = max(1, n // 2) if n else 0
            self._record("pread", file.path, f"short {k}/{n}")
            return k
        result: int = self._simple_decided("pread", file.path, d, self.inner.pread, file.h,
                                           buf, offset)
        return result

    def _simple_decided(self, op: str, path: str, d: _Decision, call: Any, *args: Any) -> Any:
        if d.fault.when == "before":
            raise self._fail(op, path, d)
        call(*args)
        raise self._fail(op, path, d, after=True)

    def pwrite(self, file: _FFile, data: memoryview | bytes, offset: int) -> int:
        d = self._decide("pwrite", file.path, size=len(data))
        if d is None:
            return self.inner.pwrite(file.h, data, offset)
        if d.fault.short:
            n = self.inner.pwrite(file.h, data[:len(data) // 2], offset)
            self._record("pwrite", file.path, f"short {n}/{len(data)}")
            return n
        result: int = self._simple_decided("pwrite", file.path, d, self.inner.pwrite, file.h,
                                           data, offset)
        return result

    def append(self, file: _FFile, data: memoryview | bytes) -> tuple[int, int]:
        d = self._decide("append", file.path, size=len(data))
        if d is None:
            return self.inner.append(file.h, data)
        if d.fault.short:
            n, size = self.inner.append(file.h, data[:len(data) // 2])
            self._record("append", file.path, f"short {n}/{len(data)}")
            return n, size
        result: tuple[int, int] = self._simple_decided("append", file.path, d,
                                                       self.inner.append, file.h, data)
        return result

    def ftruncate(self, file: _FFile, size: int) -> None:
        self._simple("ftruncate", file.path, self.inner.ftruncate, file.h, size)

    def fsync(self, file: _FFile, dataonly: bool = False) -> None:
        self._simple("fsync", file.path, self.inner.fsync, file.h, dataonly)

    def allocate(self, file: _FFile, offset: int, length: int) -> None:
        self._simple("allocate", file.path, self.inner.allocate, file.h, offset, length)

    # --- namespace -------------------------------------------------------------------------------
    def mkdir(self, dir: _FDir, name: str, mode: int = 0o777) -> None:
        self._simple("mkdir", _join(dir, name), self.inner.mkdir, dir.h, name, mode)

    def rmdir(self, dir: _FDir, name: str) -> None:
        self._simple("rmdir", _join(dir, name), self.inner.rmdir, dir.h, name)

    def unlink(self, dir: _FDir, name: str) -> None:
        self._simple("unlink", _join(dir, name), self.inner.unlink, dir.h, name)

    def _two(self, op: str, src_dir: _FDir, src: str, dst_dir: _FDir, dst: str,
             call: Any) -> None:
        a, b = _join(src_dir, src), _join(dst_dir, dst)
        d = self._decide(op, a, b)
        if d is None:
            call(src_dir.h, src, dst_dir.h, dst)
            return
        if d.fault.when == "before":
            raise self._fail(op, f"{a} -> {b}", d)
        call(src_dir.h, src, dst_dir.h, dst)
        raise self._fail(op, f"{a} -> {b}", d, after=True)

    def rename(self, src_dir: _FDir, src: str, dst_dir: _FDir, dst: str) -> None:
        self._two("rename", src_dir, src, dst_dir, dst, self.inner.rename)

    def link(self, src_dir: _FDir, src: str, dst_dir: _FDir, dst: str) -> None:
        self._two("link", src_dir, src, dst_dir, dst, self.inner.link)

    def symlink(self, target: str, dir: _FDir, name: str) -> None:
        self._simple("symlink", _join(dir, name), self.inner.symlink, target, dir.h, name)
