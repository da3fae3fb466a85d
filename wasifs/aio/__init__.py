"""wasifs for async code (asyncio and trio, through anyio): run guests, stream data through
them, and reach the virtual filesystem without blocking the event loop.

- :func:`arun`: ``await arun(module, ...)`` is :func:`wasifs.run` for async code;
  cancelling the awaiting task (a cancel scope, ``anyio.fail_after``, task cancellation)
  stops the guest, whether it computes or waits, and propagates as anyio's cancellation.
- :func:`open_guest`: ``async with open_guest(module) as guest`` starts a guest whose stdin
  is an anyio byte send stream (``guest.stdin``) and stdout/stderr byte receive streams
  (``guest.stdout``, with ``lines()``), with backpressure both ways; ``stdin=`` and
  ``stdout=`` also take async sources and sinks (another guest's stdout, a socket).
- :func:`open_file`, :class:`AsyncPath`: async files (``read``, ``write``, ``seek``,
  ``async for chunk in f``) over any backend.
- :func:`copy_in`, :func:`copy_out`, :func:`copy`: chunked copies from and to host paths,
  file objects and async byte streams, with progress callbacks, cancellable.

Needs the ``async`` extra: ``pip install 'wasifs[async]'``. Documented in ``docs/async.md``.
"""

from __future__ import annotations

try:
    import anyio as _anyio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("wasifs.aio needs anyio: pip install 'wasifs[async]'") from exc

from ._files import AsyncFile, AsyncPath, copy, copy_in, copy_out, open_file
from ._guest import PIPE, Guest, arun, open_guest
from ._pipe import DEFAULT_CAPACITY, GuestInput, GuestOutput, Lines

__all__ = (
    "DEFAULT_CAPACITY",
    "PIPE",
    "AsyncFile",
    "AsyncPath",
    "Guest",
    "GuestInput",
    "GuestOutput",
    "Lines",
    "arun",
    "copy",
    "copy_in",
    "copy_out",
    "open_file",
    "open_guest",
)
