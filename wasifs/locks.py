"""Advisory locks on subtrees, for host code that works on a tree while guests run on it.

``with wasifs.lock(fs, "/data"):`` holds an exclusive lock on ``/data`` and everything below
it in the backend ``fs``; ``shared=True`` takes a shared one. :func:`wasifs.copy_in`,
:func:`wasifs.copy_out`, :func:`wasifs.transfer.copy` and :func:`wasifs.snapshot` take them
too (exclusive on what they write, shared on what they read), so a host snapshot never sees
half of another host thread's copy, and a copy into a tree waits for a snapshot of it to
finish. ``async with wasifs.lock(...)`` waits without blocking the event loop (asyncio or
trio, through anyio: the ``async`` extra).

The rules (which subtrees conflict, where the locks live, who holds them, and that guests do
not take them) are those of :mod:`wasifs.backends._locks`, in short: locks are advisory and
per path text; each backend instance is its own space, host directories (native backends and
host paths) are one space; a thread or task never waits for its own locks.
"""

from __future__ import annotations

import os
import time

from .backends import Backend
from .backends._locks import LockRequest, SubtreeLock, host_request, request
from .path import Path

__all__ = ("lock", "Lock")


class Lock(SubtreeLock):
    """What :func:`lock` returns: a context manager, sync (``with``) and async
    (``async with``); also :meth:`acquire`/:meth:`release`."""

    async def __aenter__(self) -> Lock:
        import anyio

        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        delay = 0.001
        while not self.acquire(blocking=False):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"could not take {self!r} within {self.timeout} s")
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def __enter__(self) -> Lock:
        super().__enter__()
        return self


def lock(target: Backend | Path | str | os.PathLike[str], path: str | None = None, *,
         shared: bool = False, timeout: float | None = None) -> Lock:
    """An advisory lock on the subtree ``path`` of ``target``.

    ``target`` is a backend (``path`` is taken from its root, default ``"/"``), a
    :class:`wasifs.Path` (``path``, if given, is joined onto it) or a host directory or file
    (``str`` or ``os.PathLike``; ``path`` is joined onto it). ``shared=True`` takes a shared
    lock (several holders on overlapping subtrees), else an exclusive one. ``timeout``
    bounds the wait of ``with``/``async with`` (``TimeoutError``); None waits as long as it
    takes.
    """
    if timeout is not None and (isinstance(timeout, bool) or not timeout >= 0):
        raise ValueError(f"timeout must be a non-negative number of seconds or None, "
                         f"got {timeout!r}")
    req: LockRequest
    if isinstance(target, Path):
        where = target if path is None else Path(target, path)
        req = request(where.fs, str(where), shared=shared)
    elif isinstance(target, Backend):
        req = request(target, "/" if path is None else path, shared=shared)
    elif isinstance(target, (str, os.PathLike)):
        host = os.fspath(target)
        if isinstance(host, bytes):
            host = os.fsdecode(host)
        if path is not None:
            host = os.path.join(host, path.lstrip("/"))
        req = host_request(host, shared=shared)
    else:
        raise TypeError(f"wasifs.lock() needs a backend, a wasifs.Path or a host path, "
                        f"not {type(target).__name__}")
    return Lock([req], timeout=timeout)
