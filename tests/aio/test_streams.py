"""Streams into and out of a running guest (``wasifs.aio.open_guest``): send and receive,
lines, backpressure both ways with the memory it bounds, ``poll_oneoff`` on a piped stdin,
two guests piped together, and the ends of streams (EOF, EPIPE, closed)."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import anyio
import pytest

import wasifs
import wasifs.aio

pytestmark = pytest.mark.anyio

MiB = 1 << 20


def _pattern_sum(n: int) -> int:
    """The byte sum (mod 2^32) of the streams guest's ``produce n`` output."""
    full, rest = divmod(n, 251)
    return (full * (250 * 251 // 2) + rest * (rest - 1) // 2) & 0xFFFFFFFF


async def test_send_receive_and_lines(streams: bytes) -> None:
    async with wasifs.aio.open_guest(streams, args=["s", "upper"]) as guest:
        assert guest.stdin is not None and guest.stdout is not None
        assert guest.stderr is None  # captured, as by run()
        await guest.stdin.send(b"first line\nsecond")
        await guest.stdin.send(bytearray(b" line\nno newline"))
        await guest.stdin.send_eof()
        lines = [line async for line in guest.stdout.lines()]
        result = await guest.wait()
    assert lines == [b"FIRST LINE", b"SECOND LINE", b"NO NEWLINE"]
    assert result.ok and result.stdout == b""  # it went through the pipe
    assert guest.returncode == 0


async def test_lines_keepends_and_a_bound_on_a_line(streams: bytes) -> None:
    async with wasifs.aio.open_guest(streams, args=["s", "lines", "3"], stdin=None) as guest:
        assert guest.stdout is not None
        assert [x async for x in guest.stdout.lines(keepends=True)] == [
            b"line 0\n", b"line 1\n", b"line 2\n"]
    async with wasifs.aio.open_guest(streams, args=["s", "cat"]) as guest:
        assert guest.stdin is not None and guest.stdout is not None
        await guest.stdin.send(b"x" * 3000)
        await guest.stdin.send(b"y" * 3000)
        with pytest.raises(anyio.DelimiterNotFound):  # a guest cannot make the host buffer
            async for _ in guest.stdout.lines(max_length=4096):
                pass
        await guest.stdout.aclose()
        await guest.stdin.send(b"z" * 3000)
    assert guest.result is not None and guest.result.exit_code == 1  # EPIPE once closed
    assert b"write" in guest.result.stderr


async def test_a_slow_consumer_pauses_the_producing_guest(streams: bytes) -> None:
    """The guest writes 64 MiB; the host reads slowly at first. The pipe never holds more
    than its capacity and the process's Python allocations stay within a few chunks."""
    total = 64 * MiB
    capacity = 256 * 1024
    tracemalloc.start()
    try:
        async with wasifs.aio.open_guest(streams, args=["s", "produce", str(total)],
                                         stdin=None, capacity=capacity) as guest:
            assert guest.stdout is not None
            await anyio.sleep(0.3)  # nobody reads: the guest must be waiting by now
            assert guest.stdout.buffered <= capacity
            assert guest.returncode is None
            got = 0
            tracemalloc.reset_peak()
            async for chunk in guest.stdout:
                got += len(chunk)
                if got < 4 * MiB:
                    await anyio.sleep(0.002)  # slow at first
            result = await guest.wait()
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and got == total
    assert guest.stdout._pipe.high_water <= capacity
    # without backpressure the 64 MiB would pile up; with it, a few chunks are in flight
    assert peak < 8 * capacity, f"peak {peak} bytes of Python allocations"


async def test_sending_waits_while_the_guest_does_not_read(streams: bytes) -> None:
    """The host sends 32 MiB into a guest that counts it; the pipe holds at most its
    capacity, so the host's memory stays bounded (the host's own chunk aside)."""
    capacity = 128 * 1024
    chunk = bytes(range(256)) * 256  # 64 KiB
    rounds = 512
    tracemalloc.start()
    try:
        async with wasifs.aio.open_guest(streams, args=["s", "count"],
                                         capacity=capacity) as guest:
            assert guest.stdin is not None and guest.stdout is not None
            tracemalloc.reset_peak()
            for _ in range(rounds):
                await guest.stdin.send(chunk)
                assert guest.stdin.buffered <= capacity
            await guest.stdin.aclose()
            out = b"".join([c async for c in guest.stdout])
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == b"bytes %d sum %d\n" % (rounds * len(chunk), (rounds * sum(chunk)) & 0xFFFFFFFF)
    assert peak < 8 * capacity, f"peak {peak} bytes of Python allocations"


async def test_poll_oneoff_on_stdin_waits_for_the_host(streams: bytes) -> None:
    async with wasifs.aio.open_guest(streams, args=["s", "poll"]) as guest:
        assert guest.stdin is not None and guest.stdout is not None
        await anyio.sleep(0.3)
        assert guest.returncode is None  # still waiting in poll_oneoff
        started = time.monotonic()
        await guest.stdin.send(b"hello")
        lines = [line async for line in guest.stdout.lines()]
    assert lines == [b"event: stdin", b"got: hello"]
    assert time.monotonic() - started < 30  # liveness: it woke up on the data


async def test_two_guests_piped_together(streams: bytes) -> None:
    total = 8 * MiB + 12345
    async with wasifs.aio.open_guest(streams, args=["s", "produce", str(total)],
                                     stdin=None) as producer:
        async with wasifs.aio.open_guest(streams, args=["s", "cat"],
                                         stdin=producer.stdout) as middle:
            async with wasifs.aio.open_guest(streams, args=["s", "count"],
                                             stdin=middle.stdout) as counter:
                assert counter.stdout is not None
                out = b"".join([c async for c in counter.stdout])
    assert out == b"bytes %d sum %d\n" % (total, _pattern_sum(total))
    for guest in (producer, middle, counter):
        assert guest.result is not None and guest.result.ok


async def test_the_ends_of_streams(streams: bytes) -> None:
    # the guest finished: sending fails; receiving gives what is left, then the end
    async with wasifs.aio.open_guest(streams, args=["s", "lines", "2"]) as guest:
        assert guest.stdin is not None and guest.stdout is not None
        await guest.wait()
        with pytest.raises(anyio.BrokenResourceError):
            await guest.stdin.send(b"too late")
        assert await guest.stdout.receive() == b"line 0\nline 1\n"
        with pytest.raises(anyio.EndOfStream):
            await guest.stdout.receive()
    # sending after send_eof; receiving after aclose
    async with wasifs.aio.open_guest(streams, args=["s", "cat"]) as guest:
        assert guest.stdin is not None and guest.stdout is not None
        await guest.stdin.send_eof()
        with pytest.raises(anyio.ClosedResourceError):
            await guest.stdin.send(b"x")
        await guest.stdout.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await guest.stdout.receive()
    with pytest.raises(TypeError, match="bytes"):
        async with wasifs.aio.open_guest(streams, args=["s", "cat"]) as guest:
            assert guest.stdin is not None
            await guest.stdin.send("text")  # type: ignore[arg-type]


async def test_leaving_the_block_closes_the_streams(streams: bytes) -> None:
    """Output nobody reads: leaving the block makes the guest's writes fail (EPIPE), so the
    exit does not wait for a guest blocked on a full pipe."""
    async with wasifs.aio.open_guest(streams, args=["s", "produce", str(1 << 30)],
                                     stdin=None, capacity=4096) as guest:
        await anyio.sleep(0.1)
    assert guest.result is not None and guest.result.exit_code == 1
    assert b"write" in guest.result.stderr


async def test_an_error_in_the_block_stops_the_guest(streams: bytes) -> None:
    with pytest.raises(RuntimeError, match="host failed"):
        async with wasifs.aio.open_guest(streams, args=["s", "spin"]) as guest:
            await anyio.sleep(0.1)
            raise RuntimeError("host failed")
    assert guest.result is None  # stopped, not finished
    assert repr(guest) == "<wasifs.aio.Guest finished>"


async def test_cancel_and_wait(streams: bytes) -> None:
    async with wasifs.aio.open_guest(streams, args=["s", "spin"]) as guest:
        assert guest.stdout is not None
        assert await guest.stdout.receive() == b"ready\n"
        guest.cancel()
        with pytest.raises(wasifs.Interrupted):
            await guest.wait()
        with pytest.raises(wasifs.Interrupted):  # the same answer again
            await guest.wait()
    with pytest.raises(RuntimeError, match="not started"):
        await wasifs.aio.open_guest(streams).wait()


async def test_a_stalled_consumer_of_a_pumped_stream_pauses_the_guest(streams: bytes) -> None:
    send, receive = anyio.create_memory_object_stream[bytes](0)  # no buffer at all

    async with send, receive:
        with anyio.move_on_after(0.5):
            await wasifs.aio.arun(streams, args=["s", "produce", str(1 << 30)], stdout=send,
                                  capacity=4096)
        # nothing was received: the guest could write only what the pipe holds
        assert receive.statistics().tasks_waiting_send == 0


async def test_an_async_file_object_as_stdin(streams: bytes, tmp_path: Any) -> None:
    host = tmp_path / "in.bin"
    host.write_bytes(b"abc" * 100_000)
    async with await anyio.open_file(host, "rb") as f:
        result = await wasifs.aio.arun(streams, args=["s", "count"], stdin=f)
    assert result.stdout == b"bytes 300000 sum %d\n" % (100_000 * (97 + 98 + 99))
