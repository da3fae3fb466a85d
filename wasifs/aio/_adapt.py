"""Async sources and sinks of bytes, whatever their shape, as ``read()`` / ``send(data)``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream

__all__ = ("Read", "Send", "async_reader", "async_sender")

Read = Callable[[], Awaitable[bytes]]
Send = Callable[[bytes], Awaitable[Any]]


def async_reader(spec: Any, size: int) -> Read | None:
    """``read()`` for an async source of bytes (``b""`` at its end), or None when ``spec``
    is not one: an anyio byte stream, an object with an async ``receive()`` or
    ``read(n)``, or an async iterable of bytes."""
    if isinstance(spec, ByteReceiveStream):
        stream = spec

        async def receive_bytes() -> bytes:
            try:
                return await stream.receive(size)
            except anyio.EndOfStream:
                return b""
        return receive_bytes
    receive = getattr(spec, "receive", None)
    if inspect.iscoroutinefunction(receive):
        async def receive_item() -> bytes:
            try:
                return _check_chunk(await receive())
            except anyio.EndOfStream:
                return b""
        return receive_item
    read = getattr(spec, "read", None)
    if inspect.iscoroutinefunction(read):
        async def read_chunk() -> bytes:
            return _check_chunk(await read(size))
        return read_chunk
    if hasattr(spec, "__aiter__"):
        iterator = spec.__aiter__()

        async def next_chunk() -> bytes:
            while True:
                try:
                    chunk = _check_chunk(await iterator.__anext__())
                except StopAsyncIteration:
                    return b""
                if chunk:
                    return chunk
        return next_chunk
    return None


def _check_chunk(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"an async stdin source must give bytes, not {type(chunk).__name__}")


def async_sender(spec: Any) -> Send | None:
    """``send(data)`` for an async sink, or None when ``spec`` is not one: a coroutine
    function, or an object with an async ``send`` (anyio streams) or ``write``."""
    if inspect.iscoroutinefunction(spec):
        sender: Send = spec
        return sender
    for name in ("send", "write"):
        method = getattr(spec, name, None)
        if inspect.iscoroutinefunction(method):
            sender = method
            return sender
    return None


