"""``await wasifs.aio.arun(...)`` on asyncio and trio: the same results as ``wasifs.run``,
cancellation through the interruption mechanism (a guest computing, sleeping in
``poll_oneoff``, waiting for stdin, or paused by a full stdout pipe), nothing left behind,
many guests at once on one loop."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import anyio
import pytest

import wasifs
import wasifs.aio
from wasifs.backends.memory import MemoryFileSystem

from .conftest import LIVENESS_S, open_fds

pytestmark = pytest.mark.anyio


async def test_arun_gives_what_run_gives(streams: bytes) -> None:
    fs = MemoryFileSystem()
    result = await wasifs.aio.arun(streams, args=["s", "tofile", "/d/out.txt"],
                                   stdin=b"hello\n", mounts={"/d": fs})
    assert result.ok and result.exit_code == 0
    assert wasifs.Path(fs, "out.txt").read_bytes() == b"hello\n"
    same = wasifs.run(streams, args=["s", "upper"], stdin=b"abc")
    got = await wasifs.aio.arun(streams, args=["s", "upper"], stdin=b"abc")
    assert (got.exit_code, got.stdout, got.stderr) == (same.exit_code, same.stdout, same.stderr)
    assert got.stdout == b"ABC"
    # options object, check=, and the errors run raises
    opts = wasifs.RunOptions(args=["s", "upper"], stdin=b"x")
    assert (await wasifs.aio.arun(streams, opts)).stdout == b"X"
    with pytest.raises(wasifs.GuestExitError, match="exited with code 64"):
        await wasifs.aio.arun(streams, args=["s", "nonsense"], check=True)
    with pytest.raises(wasifs.LinkError):
        await wasifs.aio.arun('(module (import "env" "f" (func)))')
    with pytest.raises(TypeError, match="unknown run option"):
        await wasifs.aio.arun(streams, colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="open_guest"):
        await wasifs.aio.arun(streams, stdin="pipe")


async def test_the_loop_runs_while_a_guest_computes(streams: bytes) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        with anyio.move_on_after(0.5):
            await wasifs.aio.arun(streams, args=["s", "spin"])
        tg.cancel_scope.cancel()
    assert ticks >= 5  # the loop was never blocked by the guest (liveness, not speed)


async def _never() -> Any:
    await anyio.sleep_forever()
    yield b""  # pragma: no cover


class _Stalled:
    """An async sink that never takes anything (a peer that stopped reading)."""

    async def send(self, data: bytes) -> None:
        await anyio.sleep_forever()


# (argv, keyword arguments): a guest computing, sleeping in poll_oneoff on a clock and on
# stdin, blocked reading an async stdin that never comes, blocked writing to a full pipe
WAITS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "compute": (["s", "spin"], {}),
    "poll_oneoff": (["s", "poll"], {"stdin": _never}),
    "stdin": (["s", "count"], {"stdin": _never}),
    "stdout": (["s", "produce", str(1 << 30)], {"stdout": _Stalled}),
}


@pytest.mark.parametrize("wait", list(WAITS))
@pytest.mark.parametrize("how", ["fail_after", "move_on_after", "task"])
async def test_cancelling_stops_the_guest_and_leaves_nothing_behind(
        streams: bytes, wait: str, how: str) -> None:
    argv, kwargs = WAITS[wait]
    kwargs = {k: v() for k, v in kwargs.items()}
    fs = MemoryFileSystem()
    await wasifs.aio.arun(streams, args=["s", "lines", "1"])  # process-wide setup first
    gc.collect()
    fds, threads = open_fds(), set(threading.enumerate())
    started = time.monotonic()
    if how == "fail_after":
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.3):
                await wasifs.aio.arun(streams, args=argv, mounts={"/d": fs}, **kwargs)
    elif how == "move_on_after":
        with anyio.move_on_after(0.3) as scope:
            await wasifs.aio.arun(streams, args=argv, mounts={"/d": fs}, **kwargs)
        assert scope.cancelled_caught
    else:
        async with anyio.create_task_group() as tg:
            async def guest() -> None:
                await wasifs.aio.arun(streams, args=argv, mounts={"/d": fs}, **kwargs)
                raise AssertionError("the guest was not cancelled")  # pragma: no cover
            tg.start_soon(guest)
            await anyio.sleep(0.3)
            tg.cancel_scope.cancel()
    assert time.monotonic() - started < LIVENESS_S
    # the guest's thread is gone and its descriptors are closed once the call returned
    assert set(threading.enumerate()) == threads
    gc.collect()
    assert open_fds() <= fds


async def test_a_cancel_token_stops_arun_with_its_reason(streams: bytes) -> None:
    token = wasifs.CancelToken()
    async with anyio.create_task_group() as tg:
        async def later() -> None:
            await anyio.sleep(0.2)
            token.cancel()
        tg.start_soon(later)
        with pytest.raises(wasifs.Interrupted) as info:
            await wasifs.aio.arun(streams, args=["s", "spin"], cancel=token)
    assert isinstance(info.value.result, wasifs.RunResult)
    assert info.value.result.stdout == b"ready\n"  # what the guest wrote before it stopped
    token = wasifs.CancelToken()
    token.cancel(TimeoutError("budget spent"))
    with pytest.raises(TimeoutError, match="budget spent"):
        await wasifs.aio.arun(streams, args=["s", "spin"], cancel=token)


async def test_fifty_guests_at_once_on_one_loop(streams: bytes) -> None:
    results: dict[int, bytes] = {}
    most = 0
    running = 0

    async def one(i: int) -> None:
        nonlocal most, running
        running += 1
        most = max(most, running)
        try:
            result = await wasifs.aio.arun(streams, args=["s", "upper"], stdin=b"guest %d" % i)
        finally:
            running -= 1
        results[i] = result.stdout

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    assert results == {i: b"GUEST %d" % i for i in range(50)}
    assert most == 50


async def test_a_limiter_bounds_the_guests_running_at_once(streams: bytes) -> None:
    limiter = anyio.CapacityLimiter(3)
    most = 0

    async def one() -> None:
        nonlocal most
        result = await wasifs.aio.arun(streams, args=["s", "count"], stdin=b"x" * 1000,
                                       limiter=limiter)
        most = max(most, 3 - int(limiter.available_tokens))
        assert result.stdout.startswith(b"bytes 1000 ")

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert limiter.borrowed_tokens == 0
    assert 1 <= most <= 3


async def test_arun_streams_async_sources_and_sinks(streams: bytes) -> None:
    async def chunks() -> Any:
        for i in range(100):
            yield b"chunk %03d\n" % i

    got = bytearray()

    async def collect(data: bytes) -> None:
        got.extend(data)

    result = await wasifs.aio.arun(streams, args=["s", "upper"], stdin=chunks(),
                                   stdout=collect)
    assert result.ok and result.stdout == b""
    assert bytes(got) == b"".join(b"CHUNK %03d\n" % i for i in range(100))
    send, receive = anyio.create_memory_object_stream[bytes](10)
    async with send, receive:
        await wasifs.aio.arun(streams, args=["s", "lines", "3"], stdout=send)
        items = []
        while receive.statistics().current_buffer_used:
            items.append(receive.receive_nowait())
        assert b"".join(items) == b"line 0\nline 1\nline 2\n"


async def test_a_failing_async_source_stops_the_guest_and_raises(streams: bytes) -> None:
    async def broken() -> Any:
        yield b"some data\n"
        raise OSError("the upload was cut")

    with pytest.raises(OSError, match="the upload was cut"):
        await wasifs.aio.arun(streams, args=["s", "count"], stdin=broken())
