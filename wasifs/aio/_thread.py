"""Sync work on a thread of its own, awaited from an event loop, cancellable between steps.

:func:`call_in_thread` runs ``fn(step)`` on a new thread; ``fn`` calls ``step(n)`` as it
makes progress (a copy calls it after each chunk). Cancelling the awaiting task makes the
next ``step`` raise, then waits (shielded) for the thread to end before the cancellation
propagates, so no thread is left behind. ``step`` also forwards progress to a user callback
on the event loop's thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from ..interrupt import CancelToken, Interrupted
from ._pipe import Waker

__all__ = ("Step", "call_in_thread", "join_thread")

T = TypeVar("T")


class Step:
    """The ``progress`` callback given to sync bulk work: raises once the awaiting task is
    cancelled, and calls the user's ``progress(n)`` on the loop's thread (where the user's
    object also gets the ``total`` the work announces)."""

    __slots__ = ("_token", "_user", "_waker")

    def __init__(self, token: CancelToken, user: Callable[[int], object] | None,
                 waker: Waker) -> None:
        self._token = token
        self._user = user
        self._waker = waker

    def __call__(self, n: int) -> None:
        self._token.raise_if_cancelled()
        if self._user is not None:
            self._waker(functools.partial(self._user, n))

    @property
    def total(self) -> Any:
        return getattr(self._user, "total", None)

    @total.setter
    def total(self, value: int) -> None:
        if self._user is not None and hasattr(self._user, "total"):
            self._waker(functools.partial(setattr, self._user, "total", value))


async def join_thread(thread: threading.Thread, done: anyio.Event) -> None:
    """Wait for ``done`` (set by the thread's last act) and for the thread to be gone."""
    await done.wait()
    while thread.is_alive():  # it has only to return: microseconds
        await anyio.sleep(0.0005)


async def call_in_thread(fn: Callable[[Step], T],
                         progress: Callable[[int], object] | None = None) -> T:
    """``fn(step)`` on a thread of its own (see the module docstring)."""
    waker = Waker()
    token = CancelToken()
    done = anyio.Event()
    step = Step(token, progress, waker)
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append((True, fn(step)))
        except BaseException as exc:  # noqa: BLE001 - raised in the awaiting task
            outcome.append((False, exc))
        finally:
            waker(done.set)

    thread = threading.Thread(target=work, name="wasifs-aio-work", daemon=True)
    thread.start()
    try:
        await join_thread(thread, done)
    except BaseException:
        token.cancel(Interrupted("the async caller was cancelled"))
        with anyio.CancelScope(shield=True):
            await join_thread(thread, done)
        raise
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
