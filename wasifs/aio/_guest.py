"""Running guests from async code: :func:`arun` and :func:`open_guest`.

A guest runs :func:`wasifs.run` on a thread of its own (one per guest, joined before the call
returns), so the event loop never blocks and any number of guests run at once. Cancelling
the awaiting task (a cancel scope, ``fail_after``, task cancellation) cancels the run's
:class:`~wasifs.CancelToken`: the engine's epoch is bumped for a guest that computes, and
host-side waits (``poll_oneoff``, a read of a piped stdin, a write to a full stdout pipe)
end at once. The call then waits, shielded, for the guest's thread to finish, and the
cancellation propagates as anyio's does (``fail_after`` raises ``TimeoutError``); the
guest's descriptors are closed by then, as after any run.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Literal, Unpack

import anyio
import anyio.abc

from ..api import run
from ..config import RunOptions, RunOptionsArgs, RunResult
from ..engine import ModuleSource
from ..interrupt import CancelToken, Interrupted
from ._adapt import Read, Send, async_reader, async_sender
from ._pipe import DEFAULT_CAPACITY, GuestInput, GuestOutput, InputPipe, OutputPipe, Waker
from ._thread import join_thread

__all__ = ("PIPE", "Guest", "arun", "open_guest")

#: ``stdin=``/``stdout=``/``stderr=`` value for a stream to and from the host
PIPE: Literal["pipe"] = "pipe"

#: what the other end of a stream raises when it is gone (the guest then sees EPIPE)
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError,
         ConnectionResetError)


class Guest:
    """A guest started by :func:`open_guest`, running on a thread of its own.

    ``stdin`` is a :class:`~wasifs.aio.GuestInput` (an anyio byte send stream) when the
    guest's stdin is ``"pipe"``, ``stdout``/``stderr`` are :class:`~wasifs.aio.GuestOutput`
    (anyio byte receive streams with :meth:`~wasifs.aio.GuestOutput.lines`) when piped;
    otherwise None. :meth:`wait` returns the :class:`~wasifs.RunResult`; :meth:`cancel`
    stops the guest from any thread.
    """

    stdin: GuestInput | None
    stdout: GuestOutput | None
    stderr: GuestOutput | None

    def __init__(self, module: ModuleSource, options: RunOptions | None, *, check: bool,
                 engine: Any, linker: Any, capacity: int,
                 limiter: anyio.CapacityLimiter | None, kwargs: dict[str, Any],
                 pipes: bool = True) -> None:
        if options is None and pipes:
            kwargs.setdefault("stdin", PIPE)
            kwargs.setdefault("stdout", PIPE)
        self._opts = RunOptions.of(options, **kwargs)
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        if limiter is not None and not isinstance(limiter, anyio.CapacityLimiter):
            raise TypeError(f"limiter must be an anyio.CapacityLimiter, not "
                            f"{type(limiter).__name__}")
        self._module = module
        self._check = check
        self._engine = engine
        self._linker = linker
        self._capacity = capacity
        self._limiter = limiter
        self.stdin = self.stdout = self.stderr = None
        #: the run's own token: cancelled by :meth:`cancel`, by the awaiting task's
        #: cancellation, and by ``cancel=``'s token
        self.token = CancelToken()
        self.result: RunResult | None = None
        self._error: BaseException | None = None
        self._pump_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._done: anyio.Event | None = None
        self._in_scope = anyio.CancelScope()
        self._tg: anyio.abc.TaskGroup | None = None
        self._unhook: list[Callable[[], None]] = []
        self._pipes: list[InputPipe | OutputPipe] = []
        self._entered = False
        self._reported = False

    def __repr__(self) -> str:
        state = ("not started" if self._thread is None
                 else "running" if self._done is not None and not self._done.is_set()
                 else "finished")
        return f"<wasifs.aio.Guest {state}>"

    @property
    def returncode(self) -> int | None:
        """The exit code once the guest has finished normally (None before)."""
        return None if self.result is None else self.result.exit_code

    def cancel(self, reason: BaseException | None = None) -> None:
        """Stop the guest (thread-safe); :meth:`wait` then raises ``reason``
        (:class:`~wasifs.Interrupted` by default, with the output so far)."""
        self.token.cancel(reason)

    # -- starting ------------------------------------------------------------------------------
    async def __aenter__(self) -> Guest:
        if self._entered:
            raise RuntimeError("a Guest can be started only once")
        self._entered = True
        waker = Waker()
        opts = self._opts
        self._done = anyio.Event()
        if opts.cancel is not None:
            if not isinstance(opts.cancel, CancelToken):
                raise TypeError(f"cancel must be a wasifs.CancelToken, not "
                                f"{type(opts.cancel).__name__}")
            self._unhook.append(self.token.follow(opts.cancel))
        pumps: list[Callable[[], Coroutine[Any, Any, None]]] = []
        streams: dict[str, Any] = {"cancel": self.token}
        stdin_reader = None if isinstance(opts.stdin, (str, bytes, bytearray, memoryview)) \
            else async_reader(opts.stdin, self._capacity)
        if opts.stdin == PIPE or stdin_reader is not None:
            pipe = InputPipe(self._capacity, waker)
            streams["stdin"] = self._add(pipe)
            if stdin_reader is None:
                self.stdin = GuestInput(pipe)
            else:
                pumps.append(functools.partial(self._pump_in, stdin_reader, pipe))
        for name in ("stdout", "stderr"):
            spec = getattr(opts, name)
            sender = None if isinstance(spec, str) else async_sender(spec)
            if spec == PIPE or sender is not None:
                out = OutputPipe(self._capacity, waker)
                streams[name] = self._add(out)
                if sender is None:
                    setattr(self, name, GuestOutput(out))
                else:
                    pumps.append(functools.partial(self._pump_out, sender, out))
        opts = RunOptions.of(opts, **streams)
        if self._limiter is not None:
            await self._limiter.acquire_on_behalf_of(self)
        try:
            if pumps:
                self._tg = anyio.create_task_group()
                await self._tg.__aenter__()
            self._thread = threading.Thread(target=self._work, args=(opts, waker),
                                            name="wasifs-guest", daemon=True)
            self._thread.start()
        except BaseException:
            self._release_limiter()
            if self._tg is not None:
                await self._tg.__aexit__(None, None, None)
            raise
        for pump in pumps:
            assert self._tg is not None
            self._tg.start_soon(pump)
        return self

    def _add(self, pipe: InputPipe | OutputPipe) -> InputPipe | OutputPipe:
        self._pipes.append(pipe)
        self._unhook.append(self.token.on_cancel(pipe.cancel))
        return pipe

    def _work(self, opts: RunOptions, waker: Waker) -> None:
        """The guest's thread."""
        try:
            self.result = run(self._module, opts, check=self._check, engine=self._engine,
                              linker=self._linker)
        except BaseException as exc:  # noqa: BLE001 - raised by wait() in the caller's task
            self._error = exc
        finally:
            for pipe in self._pipes:
                if isinstance(pipe, OutputPipe):
                    pipe.close_writer()
                else:
                    pipe.close_reader()
            waker(self._finish)

    def _finish(self) -> None:
        """On the loop: the guest's thread is done."""
        for unhook in self._unhook:
            unhook()
        self._unhook.clear()
        self._in_scope.cancel()  # stop feeding stdin
        self._release_limiter()
        assert self._done is not None
        self._done.set()

    def _release_limiter(self) -> None:
        if self._limiter is not None:
            limiter, self._limiter = self._limiter, None
            limiter.release_on_behalf_of(self)

    # -- pumps ---------------------------------------------------------------------------------
    async def _pump_in(self, read: Read, pipe: InputPipe) -> None:
        with self._in_scope:
            try:
                while True:
                    chunk = await read()
                    if not chunk:
                        break
                    await pipe.send(chunk)
            except anyio.BrokenResourceError:  # the guest finished without reading it all
                pass
            except Exception as exc:  # noqa: BLE001 - raised by wait()
                self._fail(exc)
            finally:
                pipe.send_eof()

    async def _pump_out(self, send: Send, pipe: OutputPipe) -> None:
        try:
            while True:
                try:
                    chunk = await pipe.receive(self._capacity)
                except anyio.EndOfStream:
                    break
                await send(chunk)
        except _GONE:  # the consumer went away: the guest's writes fail (EPIPE)
            pass
        except Exception as exc:  # noqa: BLE001 - raised by wait()
            self._fail(exc)
        finally:
            pipe.close_reader()

    def _fail(self, exc: BaseException) -> None:
        if self._pump_error is None:
            self._pump_error = exc
        self.token.cancel()

    # -- waiting -------------------------------------------------------------------------------
    async def _finished(self) -> None:
        assert self._done is not None and self._thread is not None
        await join_thread(self._thread, self._done)

    async def _wait_stopping(self) -> None:
        """Wait for the guest's thread; a cancellation stops the guest first."""
        try:
            await self._finished()
        except BaseException:
            self.token.cancel(Interrupted("the guest's async caller was cancelled"))
            with anyio.CancelScope(shield=True):
                await self._finished()
            raise

    async def wait(self) -> RunResult:
        """Wait for the guest to finish and return its :class:`~wasifs.RunResult` (or
        raise what :func:`wasifs.run` raised). Cancelling the waiting task stops the guest:
        the cancellation propagates once its thread is done."""
        if self._done is None:
            raise RuntimeError("the guest was not started: use `async with open_guest(...)`")
        await self._wait_stopping()
        self._reported = True
        if self._pump_error is not None:
            raise self._pump_error
        if self._error is not None:
            raise self._error
        assert self.result is not None
        return self.result

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._done is None:
            return
        if exc is not None:
            self.token.cancel(Interrupted("the guest's async block raised"))
        # leaving the block ends the streams it could use, as anyio's Process does (no
        # checkpoint here: a cancelled block must still get this far)
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                stream._pipe.close()
        try:
            if exc is not None:
                with anyio.CancelScope(shield=True):
                    await self._finished()
            elif self._reported:  # wait() gave the outcome already
                await self._wait_stopping()
            else:  # nobody asked: an error of the run is raised here
                await self.wait()
        finally:
            if self._tg is not None:  # the pumps: stdin's is stopped, the others drain
                tg, self._tg = self._tg, None
                if exc is not None:  # nobody wants the rest of the output
                    tg.cancel_scope.cancel()
                try:
                    await tg.__aexit__(None, None, None)
                except BaseException:
                    if exc is None:
                        raise
        if exc is None and self._pump_error is not None:  # a sink that failed at the end
            raise self._pump_error


def open_guest(module: ModuleSource, options: RunOptions | None = None, /, *,
               check: bool = False, engine: Any = None, linker: Any = None,
               capacity: int = DEFAULT_CAPACITY, limiter: anyio.CapacityLimiter | None = None,
               **kwargs: Unpack[RunOptionsArgs]) -> Guest:
    """Start a guest with streams to and from it: ``async with open_guest(...) as guest``.

    The arguments are :func:`wasifs.run`'s. ``stdin``, ``stdout`` and ``stderr`` also take
    ``"pipe"`` (the defaults for stdin and stdout): the guest's stream is then
    ``guest.stdin`` (send bytes into it) or ``guest.stdout``/``guest.stderr`` (receive what
    it writes), with at most ``capacity`` bytes buffered in each direction, so that a slow
    side pauses the other. ``stdin`` may be an async source of bytes (an anyio byte stream
    such as another guest's ``stdout`` or a socket, an async iterable of bytes, an object
    with an async ``read(n)``) and ``stdout``/``stderr`` an async sink (an object with an
    async ``send`` or ``write``, or a coroutine function): the host pumps them in a task.
    ``limiter`` (an ``anyio.CapacityLimiter``) bounds how many guests run at once.

    Leaving the block closes the piped streams (the guest reads end of input; its writes
    fail with ``EPIPE``) and waits for the guest; an exception or a cancellation in the
    block stops the guest first.
    """
    return Guest(module, options, check=check, engine=engine, linker=linker,
                 capacity=capacity, limiter=limiter, kwargs=dict(kwargs))


async def arun(module: ModuleSource, options: RunOptions | None = None, /, *,
               check: bool = False, engine: Any = None, linker: Any = None,
               capacity: int = DEFAULT_CAPACITY, limiter: anyio.CapacityLimiter | None = None,
               **kwargs: Unpack[RunOptionsArgs]) -> RunResult:
    """``await arun(...)``: :func:`wasifs.run` for asyncio and trio (through anyio), with the
    same arguments and result; the guest runs on a thread of its own.

    Cancelling the calling task stops the guest (see :mod:`wasifs.aio`); ``stdin`` may also
    be an async source of bytes and ``stdout``/``stderr`` async sinks (see
    :func:`open_guest`), streamed with backpressure; ``limiter`` bounds how many guests run
    at once.
    """
    for name in ("stdin", "stdout", "stderr"):
        if kwargs.get(name) == PIPE:
            raise ValueError(f"arun: {name}='pipe' has nobody at the other end; use "
                             "`async with wasifs.aio.open_guest(...)` to talk to the guest")
    guest = Guest(module, options, check=check, engine=engine, linker=linker,
                  capacity=capacity, limiter=limiter, kwargs=dict(kwargs), pipes=False)
    async with guest:
        return await guest.wait()
