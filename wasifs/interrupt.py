"""Interrupting a running guest: one mechanism for Ctrl-C, host cancellation, timeouts and
async cancellation.

A run owns a :class:`CancelToken`. Whatever wants the run to stop calls
:meth:`CancelToken.cancel` with the exception the run should end with:

- a guest running its own code is stopped by the engine (the wasmtime binding registers an
  epoch-deadline callback on every store, and the token's :meth:`~CancelToken.on_cancel`
  hooks bump the engine's epoch, so the callback runs, sees the token and traps);
- a guest waiting inside a host call (``poll_oneoff`` sleeping, a blocking stdin read) is
  stopped by the wait itself: every host-side wait goes through :meth:`CancelToken.sleep` or
  :meth:`CancelToken.wait_ready`, which raise the token's reason once it is cancelled.

The run then ends with the token's :attr:`~CancelToken.reason` raised to its caller:
:class:`Interrupted` for :meth:`CancelToken.cancel` without a reason, ``KeyboardInterrupt``
for Ctrl-C. Descriptors are released as after any other ending.

:func:`sigint_cancels` turns SIGINT into a cancellation for the duration of a run in the main
thread, so that Ctrl-C stops a guest that never returns to Python.

A timeout is the same mechanism: :meth:`CancelToken.cancel_after` arms a timer (one shared
thread for the whole process) that cancels the token with a :class:`TimeoutExceeded`.
:class:`LimitExceeded` and its subclasses are the errors a run ends with when one of its
limits (``timeout``, ``fuel``, ``max_memory``, ``max_table_elements``) stops it.

Nothing here imports an engine: the binding supplies the epoch hook through ``on_cancel``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from .errors import WasifsError

__all__ = (
    "CancelToken",
    "FuelExhausted",
    "Interrupted",
    "LimitExceeded",
    "MemoryLimitExceeded",
    "Readiness",
    "TableLimitExceeded",
    "TimeoutExceeded",
    "sigint_cancels",
)

_KEYS = itertools.count()
#: How often a wait on a source that cannot be watched re-checks it (seconds).
_POLL_S = 0.05


class Interrupted(WasifsError):
    """A run was cancelled by the host (:meth:`CancelToken.cancel`) before the guest finished.

    ``result`` holds what the guest left behind when the run was made by ``wasifs.run``
    (exit code :data:`wasifs.config.EXIT_INTERRUPTED`, output captured so far, its mounts),
    else ``None``.
    """

    def __init__(self, message: str = "the run was cancelled") -> None:
        super().__init__(message)
        self.result: object | None = None


class LimitExceeded(Interrupted):
    """A run was stopped by one of its limits (a subclass says which).

    ``limit`` is the limit that was reached (seconds, fuel units, bytes or elements);
    ``exit_status`` is the status ``wasifs run`` exits with (and the ``exit_code`` of the
    partial :class:`~wasifs.RunResult` in ``result``, as for :class:`Interrupted`). Every
    descriptor of the guest is released, as after any other ending.
    """

    #: the CLI's exit status for this limit (``wasifs.cli.EXIT_STATUSES``)
    exit_status = 130

    def __init__(self, message: str, limit: float | int | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class TimeoutExceeded(LimitExceeded):
    """The run took longer than its ``timeout`` (wall-clock seconds)."""

    exit_status = 142  # 128 + SIGALRM

    def __init__(self, timeout: float | None = None, message: str | None = None) -> None:
        super().__init__(message or (f"the run exceeded its timeout of {timeout:g} s"
                                     if timeout is not None else "the run timed out"), timeout)


class FuelExhausted(LimitExceeded):
    """The guest used up its ``fuel`` budget (about one unit per WebAssembly instruction)."""

    exit_status = 152  # 128 + SIGXCPU: the CPU budget is spent

    def __init__(self, fuel: int | None = None, message: str | None = None) -> None:
        super().__init__(message or (f"the guest used up its fuel budget of {fuel:,}"
                                     if fuel is not None else "the guest ran out of fuel"), fuel)


class MemoryLimitExceeded(LimitExceeded):
    """The guest needs more linear memory than ``max_memory`` allows from the start (its
    module declares a larger minimum). A ``memory.grow`` beyond the cap while the guest runs
    is refused instead (it returns -1, as under wasmtime's store limits): the guest sees an
    allocation fail and carries on as it was written to."""

    exit_status = 137  # 128 + SIGKILL: what a process the OOM killer stopped shows

    def __init__(self, limit: int | None = None, message: str | None = None) -> None:
        super().__init__(message or f"the guest needs more memory than its cap of {limit} bytes",
                         limit)


class TableLimitExceeded(LimitExceeded):
    """The guest's tables need more elements than ``max_table_elements`` allows from the
    start; a ``table.grow`` beyond it is refused (-1), as for memory."""

    exit_status = 137

    def __init__(self, limit: int | None = None, message: str | None = None) -> None:
        super().__init__(message or f"the guest's tables need more than {limit} elements",
                         limit)


class Readiness(Protocol):
    """What :meth:`CancelToken.wait_ready` needs from a stdin source (which may also have a
    ``fileno()`` to watch, or a ``wait_readable(timeout)`` that blocks until it is ready)."""

    def ready(self) -> bool: ...


class CancelToken:
    """A handle that stops runs, from any thread (and from a signal handler).

    Pass it as ``cancel=`` to :func:`wasifs.run`, :func:`wasifs.instantiate` or
    :class:`wasifs.WasiHost`; calling :meth:`cancel` then stops the guest promptly, whether it
    is computing or waiting in a host call, and the run raises :attr:`reason`. A token stays
    cancelled: a run started with a cancelled token stops before the guest's first
    instruction. One token may serve several runs at once.

    Cancelling a guest that computes needs an engine with epoch interruption
    (``wasmtime.Config.epoch_interruption = True``; wasifs's own engines have it), and
    asking for it on an engine without is refused when the run starts.
    """

    __slots__ = ("_event", "_reason", "_lock", "_callbacks", "_deadline")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason: BaseException | None = None
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], object]] = {}
        #: (monotonic time, key, reason) of the earliest armed timeout, checked by waits
        self._deadline: tuple[float, int, BaseException | None] | None = None

    def __repr__(self) -> str:
        state = f"cancelled: {self._reason!r}" if self.cancelled else "active"
        return f"<CancelToken {state}>"

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` has been called."""
        return self._event.is_set()

    @property
    def reason(self) -> BaseException | None:
        """The exception runs end with (``None`` until cancelled)."""
        return self._reason

    def cancel(self, reason: BaseException | None = None) -> None:
        """Stop every run that uses this token; the first reason given wins (default:
        :class:`Interrupted`). Idempotent and thread-safe."""
        if reason is not None and not isinstance(reason, BaseException):
            raise TypeError(f"reason must be an exception, not {type(reason).__name__}")
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason if reason is not None else Interrupted()
            self._event.set()
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001, PERF203 - one hook must not stop the others
                pass

    def on_cancel(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call ``callback()`` when the token is cancelled (at once if it already is);
        returns a function that removes it. Callbacks run on the cancelling thread and must
        be quick and thread-safe (for example ``engine.increment_epoch``)."""
        with self._lock:
            if not self._event.is_set():
                key = next(_KEYS)
                self._callbacks[key] = callback

                def remove() -> None:
                    with self._lock:
                        self._callbacks.pop(key, None)

                return remove
        callback()
        return _nothing

    def cancel_after(self, seconds: float, reason: BaseException | None = None, *,
                     thread: bool = True) -> Callable[[], None]:
        """Cancel this token with ``reason`` once ``seconds`` have passed (a timeout); returns
        a function that disarms it.

        Every wait of the token (:meth:`sleep`, :meth:`wait_ready`,
        :meth:`raise_if_cancelled`) ends at the deadline by itself. With ``thread`` (the
        default), a timer also cancels the token at the deadline when nobody waits (a guest
        computing): the timers of the whole process share one thread
        (``wasifs-deadlines``, started on first use). Without threads (Pyodide), only the
        waits and :meth:`check_deadline` see the deadline."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
        when = time.monotonic() + max(0.0, float(seconds))
        key = next(_KEYS)
        with self._lock:
            if self._deadline is None or when < self._deadline[0]:
                self._deadline = (when, key, reason)
        disarm_timer = _deadlines.add(when, self, reason) if thread else _nothing

        def disarm() -> None:
            disarm_timer()
            with self._lock:
                if self._deadline is not None and self._deadline[1] == key:
                    self._deadline = None

        return disarm

    def check_deadline(self) -> None:
        """Cancel the token when its :meth:`cancel_after` deadline has passed, then raise
        (a copy of) :attr:`reason` when cancelled."""
        deadline = self._deadline
        if deadline is not None and time.monotonic() >= deadline[0]:
            self.cancel(deadline[2])
        if self._event.is_set():
            raise self.error()

    def follow(self, parent: CancelToken) -> Callable[[], None]:
        """Cancel this token (with the parent's reason) when ``parent`` is cancelled;
        returns a function that ends the link."""
        return parent.on_cancel(lambda: self.cancel(parent.reason))

    # -- waits ------------------------------------------------------------------------------

    def error(self) -> BaseException:
        """A new exception like :attr:`reason` to raise (the reason itself stays clean: an
        exception raised keeps the frames it passed through, and the token may live long).
        Raises ``RuntimeError`` when the token is not cancelled."""
        reason = self._reason
        if reason is None:
            raise RuntimeError("the token is not cancelled")
        # Not copy.copy: libraries such as tblib (installed by dask.distributed) replace
        # exceptions' __reduce_ex__, and a failed copy would hand out the reason itself,
        # which then carries the frames and results of the run that raised it.
        cls = type(reason)
        try:
            fresh = cls.__new__(cls, *reason.args)
            fresh.args = reason.args
            fresh.__dict__.update(reason.__dict__)
        except Exception:  # noqa: BLE001 - an exception that cannot be rebuilt
            fresh = Interrupted(str(reason) or type(reason).__name__)
            fresh.__cause__ = None
        fresh.__traceback__ = None
        return fresh

    def raise_if_cancelled(self) -> None:
        """Raise (a copy of) :attr:`reason` when cancelled (or past a deadline)."""
        deadline = self._deadline
        if deadline is not None and time.monotonic() >= deadline[0]:
            self.cancel(deadline[2])
        if self._event.is_set():
            raise self.error()

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise (a copy of) :attr:`reason` as soon as the token is
        cancelled (or its deadline passes)."""
        seconds = max(0.0, seconds)
        deadline = self._deadline
        if deadline is not None:
            left = deadline[0] - time.monotonic()
            if left <= seconds:
                if not self._event.wait(max(0.0, left)):
                    self.check_deadline()
                    if not self._event.is_set():  # disarmed meanwhile: sleep the rest
                        self._event.wait(max(0.0, seconds - max(0.0, left)))
                if self._event.is_set():
                    raise self.error()
                return
        if self._event.wait(seconds):
            raise self.error()

    def wait_ready(self, source: Readiness) -> None:
        """Return once ``source.ready()`` says a read will not block (at once for sources
        that are always ready); raise :attr:`reason` as soon as the token is cancelled.

        A source with a ``wait_readable(timeout)`` method is waited on through it (it returns
        when the source may be ready, or after ``timeout`` seconds); one with a ``fileno()``
        is watched with ``select``; others are polled."""
        self.raise_if_cancelled()
        if source.ready():
            return
        waiter = getattr(source, "wait_readable", None)
        if callable(waiter):
            while True:
                waiter(_POLL_S)
                self.raise_if_cancelled()
                if source.ready():
                    return
        fileno = getattr(source, "fileno", None)
        fd: int | None = None
        if callable(fileno):
            try:
                fd = int(fileno())
            except (OSError, ValueError, TypeError):
                fd = None
        while True:
            if fd is not None:
                try:
                    select.select([fd], [], [], _POLL_S)
                except (OSError, ValueError):
                    fd = None
            else:
                self.sleep(_POLL_S)
            self.raise_if_cancelled()
            if source.ready():
                return


def _nothing() -> None:
    pass


class _Deadlines:
    """The process's timers: a heap of (deadline, key) and one daemon thread that cancels
    each token when its deadline passes."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, tuple[CancelToken, BaseException | None]] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, when: float, token: CancelToken, reason: BaseException | None
            ) -> Callable[[], None]:
        key = next(_KEYS)
        with self._cond:
            self._armed[key] = (token, reason)
            heapq.heappush(self._heap, (when, key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wasifs-deadlines",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

        def disarm() -> None:
            with self._cond:
                self._armed.pop(key, None)

        return disarm

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][1] not in self._armed:
                        heapq.heappop(self._heap)  # disarmed
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        _, key = heapq.heappop(self._heap)
                        token, reason = self._armed.pop(key)
                        break
                    self._cond.wait(wait)
            token.cancel(reason)  # outside the lock: hooks may arm or disarm timers

    def after_fork(self) -> None:
        self._heap = []
        self._armed = {}
        self._cond = threading.Condition()
        self._thread = None


_deadlines = _Deadlines()


@contextlib.contextmanager
def sigint_cancels(token: CancelToken) -> Iterator[bool]:
    """While the block runs, SIGINT cancels ``token`` with ``KeyboardInterrupt`` instead of
    raising it wherever the main thread happens to be (inside a ctypes callback it would be
    lost). Yields whether it took over SIGINT: only in the main thread, and only while SIGINT
    has Python's default handler (a program's own handler is left alone). Blocks may nest:
    SIGINT then cancels every token taken.

    The signal also reaches a guest that never returns to Python: while a block runs, the
    signal wakeup descriptor (``signal.set_wakeup_fd``) is a pipe that a watcher thread
    reads, cancelling the tokens at once, and the tokens' hooks interrupt the engine. Other
    signals that arrive meanwhile are passed on to the previous wakeup descriptor, if there
    was one. Everything is restored when the outermost block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    if _sigint.tokens:  # nested: the outer block already owns SIGINT
        _sigint.tokens.append(token)
        try:
            yield True
        finally:
            _sigint.tokens.remove(token)
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield False
        return
    _sigint.tokens.append(token)
    previous_fd = _sigint.attach()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield True
    finally:
        signal.signal(signal.SIGINT, previous)
        _sigint.detach(previous_fd)
        _sigint.tokens.clear()


def _on_sigint(signum: int, frame: object) -> None:
    _sigint.cancel_all()


class _Sigint:
    """The process's SIGINT state: the tokens of the blocks running in the main thread and
    one watcher thread, started on first use and kept (a daemon named ``wasifs-sigint``,
    idle in a read), reading the wakeup pipe."""

    def __init__(self) -> None:
        self.tokens: list[CancelToken] = []
        self._pipe: tuple[int, int] | None = None
        self._forward = -1
        self._lock = threading.Lock()

    def cancel_all(self) -> None:
        for token in list(self.tokens):
            token.cancel(KeyboardInterrupt())

    def attach(self) -> int | None:
        """Make the wakeup descriptor ours; returns the previous one (None: not attached)."""
        if os.name != "posix":
            return None
        try:
            with self._lock:
                if self._pipe is None:
                    r, w = os.pipe()
                    os.set_blocking(w, False)
                    threading.Thread(target=self._watch, args=(r,), name="wasifs-sigint",
                                     daemon=True).start()
                    self._pipe = (r, w)
                w = self._pipe[1]
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except (OSError, ValueError):
            return None
        self._forward = previous
        return previous

    def detach(self, previous: int | None) -> None:
        if previous is None:
            return
        self._forward = -1
        try:
            signal.set_wakeup_fd(previous)
        except (OSError, ValueError):  # pragma: no cover - the previous fd was closed
            signal.set_wakeup_fd(-1)

    def _watch(self, r: int) -> None:
        while True:
            try:
                data = os.read(r, 512)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum == signal.SIGINT:
                    self.cancel_all()
                elif self._forward >= 0:
                    try:
                        os.write(self._forward, bytes([signum]))
                    except OSError:
                        pass

    def after_fork(self) -> None:
        # the watcher thread does not exist in a forked child: start a new one when needed
        if self._pipe is not None:
            for fd in self._pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._pipe = None
        self._lock = threading.Lock()
        self.tokens = []


_sigint = _Sigint()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_sigint.after_fork)
    os.register_at_fork(after_in_child=_deadlines.after_fork)
