"""Advisory subtree locks between host-side users of backends (the sync core of
:func:`wasifs.lock`).

A lock is taken on a *subtree*: a path inside a backend and everything below it. Two locks
conflict when one subtree contains the other and at least one of them is exclusive; shared
locks on overlapping subtrees go together. Paths are compared by their text after lexical
normalisation (``a/./b/../c`` is ``a/c``); symlinks are not followed, and the locks do not
stop anything that does not take them: they are advisory, like ``flock``.

Where the locks live
--------------------
One table per process, keyed by *space*: each backend instance is its own space, except
that every :class:`~wasifs.backends.NativeFileSystem` and every host path share the space of
the host's file tree (a native backend's paths are taken from its root's real path, so a lock
on ``/srv/data`` by host path and one on ``sub`` of ``NativeFileSystem("/srv/data")``
conflict), and that a wrapper which shows its inner backend's namespace unchanged
(:class:`~wasifs.backends.SandboxFileSystem`, :class:`~wasifs.backends.FaultyFileSystem`)
locks in its inner backend's space. One table lets a caller take several locks at once,
all or none (a copy between two backends locks both ends), so two copies in opposite
directions never deadlock.

Who holds a lock
----------------
The context that took it: a thread, or an asyncio/trio task (a :mod:`contextvars` context),
and the tasks it starts while holding it. A holder's own locks never block it (taking a lock
inside ``with lock(...)`` on the same subtree, as :func:`wasifs.copy_out` does, goes on at
once), so locks are re-entrant per holder; a new thread starts with none.

Fairness: requests are served in arrival order among those that conflict, so readers
arriving one after the other cannot keep a writer waiting for ever; a holder's further
requests go first (it may hold what an earlier request waits for).

Guests do not take these locks: WASI preview1 has no ``flock``, and a guest's calls go
straight to its backend. They coordinate host code with host code: a copy, a snapshot or a
write-back against another host thread writing into the tree a guest runs on.
"""

from __future__ import annotations

import contextvars
import functools
import os
import posixpath
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, ParamSpec, TypeVar

__all__ = ("HOST", "LockRequest", "SubtreeLock", "request", "host_request", "locking",
           "held")

#: The space of the host's file tree.
HOST: Any = type("HostTree", (), {"__repr__": lambda self: "<host>"})()


class LockRequest(NamedTuple):
    """One lock to take: a subtree (``parts`` from the space's root) of a ``space``."""

    space: Any
    parts: tuple[str, ...]
    shared: bool


def _parts(path: str) -> tuple[str, ...]:
    if "\x00" in path:
        raise ValueError(f"a lock path cannot hold a NUL byte: {path!r}")
    norm = posixpath.normpath("/" + path)
    return tuple(p for p in norm.split("/") if p)


def host_request(path: str | os.PathLike[str], *, shared: bool) -> LockRequest:
    """The request for the host path ``path`` (made absolute, symlinks resolved as
    :func:`os.path.realpath` does)."""
    real = os.path.realpath(os.fspath(path))
    return LockRequest(HOST, _parts(real.replace(os.sep, "/")), shared)


def request(backend: Any, path: str, *, shared: bool) -> LockRequest:
    """The request for ``path`` (from the backend's root) of ``backend``."""
    while getattr(type(backend), "locks_pass_through", False):
        backend = backend.inner
    root = _native_root(backend)
    if root is not None:
        return LockRequest(HOST, host_request(root, shared=shared).parts + _parts(path),
                           shared)
    return LockRequest(backend, _parts(path), shared)


def _native_root(backend: Any) -> str | None:
    # A backend can only be a NativeFileSystem once its module is loaded: look it up rather
    # than import it, so locking a memory tree never imports the native backend (and fsspec).
    native = sys.modules.get(__package__ + ".native")
    if native is not None and isinstance(backend, native.NativeFileSystem):
        return str(backend.root_path)
    return None


class _Entry:
    __slots__ = ("space", "parts", "shared")

    def __init__(self, r: LockRequest) -> None:
        self.space = r.space
        self.parts = r.parts
        self.shared = r.shared

    def blocks(self, r: LockRequest) -> bool:
        if self.space is not r.space or (self.shared and r.shared):
            return False
        n = min(len(self.parts), len(r.parts))
        return self.parts[:n] == r.parts[:n]

    def __repr__(self) -> str:
        kind = "shared" if self.shared else "exclusive"
        return f"<{kind} lock {self.space!r}:/{'/'.join(self.parts)}>"


#: The entries the current thread or task holds.
_MINE: contextvars.ContextVar[tuple[_Entry, ...]] = contextvars.ContextVar(
    "wasifs_locks", default=())


def _clash(a: LockRequest, b: LockRequest) -> bool:
    if a.space is not b.space or (a.shared and b.shared):
        return False
    n = min(len(a.parts), len(b.parts))
    return a.parts[:n] == b.parts[:n]


class _Table:
    """The held locks, and the requests waiting in arrival order: a request waits for
    every conflicting request that came before it (so a stream of shared locks cannot starve
    an exclusive one), unless its holder already holds locks (which may be what the earlier
    request waits for)."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.entries: list[_Entry] = []
        self.waiting: list[list[LockRequest]] = []

    def _free(self, requests: list[LockRequest], mine: tuple[_Entry, ...]) -> bool:
        if any(e.blocks(r) for e in self.entries if e not in mine for r in requests):
            return False
        if mine:
            return True
        for earlier in self.waiting:
            if earlier is requests:
                return True
            if any(_clash(w, r) for w in earlier for r in requests):
                return False
        return True

    def take(self, requests: list[LockRequest], timeout: float | None) -> list[_Entry] | None:
        """Take all of ``requests`` (None when ``timeout`` ran out first; 0: do not wait)."""
        mine = _MINE.get()
        deadline = None if timeout is None else time.monotonic() + timeout
        requests = list(requests)  # its own identity in the queue
        with self.cond:
            self.waiting.append(requests)
            try:
                while not self._free(requests, mine):
                    if deadline is None:
                        self.cond.wait()
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self.cond.wait(left)
                taken = [_Entry(r) for r in requests]
                self.entries.extend(taken)
            finally:
                for i, w in enumerate(self.waiting):
                    if w is requests:
                        del self.waiting[i]
                        break
                self.cond.notify_all()
        _MINE.set(mine + tuple(taken))
        return taken

    def give_back(self, taken: list[_Entry]) -> None:
        with self.cond:
            for e in taken:
                for i, held_entry in enumerate(self.entries):
                    if held_entry is e:
                        del self.entries[i]
                        break
            self.cond.notify_all()
        ids = {id(e) for e in taken}
        _MINE.set(tuple(e for e in _MINE.get() if id(e) not in ids))


_TABLE = _Table()


def held() -> list[str]:
    """The locks held now in this process, described (for debugging)."""
    with _TABLE.cond:
        return [repr(e) for e in _TABLE.entries]


class SubtreeLock:
    """Locks on subtrees, taken together (all or none) and given back together; a context
    manager (``with``). Not re-usable while held; :meth:`acquire` again after
    :meth:`release` is fine."""

    def __init__(self, requests: Iterable[LockRequest], *, timeout: float | None = None) -> None:
        self.requests = list(requests)
        self.timeout = timeout
        self._taken: list[_Entry] | None = None

    def __repr__(self) -> str:
        what = ", ".join(f"{'shared' if r.shared else 'exclusive'} {r.space!r}:/"
                         f"{'/'.join(r.parts)}" for r in self.requests)
        return f"<{type(self).__name__} {what}{' held' if self.locked else ''}>"

    @property
    def locked(self) -> bool:
        """Whether this object holds its locks now."""
        return self._taken is not None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the locks; waits while another holder's lock conflicts (up to ``timeout``
        seconds; not at all with ``blocking=False``). Returns whether they were taken."""
        if self._taken is not None:
            raise RuntimeError(f"{self!r} is already held")
        if timeout is None:
            timeout = self.timeout
        taken = _TABLE.take(self.requests, timeout if blocking else 0.0)
        if taken is None:
            return False
        self._taken = taken
        return True

    def release(self) -> None:
        """Give the locks back (``RuntimeError`` if not held)."""
        taken = self._taken
        if taken is None:
            raise RuntimeError(f"{self!r} is not held")
        self._taken = None
        _TABLE.give_back(taken)

    def __enter__(self) -> SubtreeLock:
        if not self.acquire():
            raise TimeoutError(f"could not take {self!r} within {self.timeout} s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


P = ParamSpec("P")
R = TypeVar("R")


def locking(plan: Callable[..., Iterable[LockRequest]]) -> Callable[[Callable[P, R]],
                                                                      Callable[P, R]]:
    """Decorate a function so that it runs holding the locks ``plan(*args, **kwargs)``
    names."""
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def locked(*args: P.args, **kwargs: P.kwargs) -> R:
            requests = list(plan(*args, **kwargs))
            if not requests:
                return fn(*args, **kwargs)
            with SubtreeLock(requests):
                return fn(*args, **kwargs)
        return locked
    return decorate
