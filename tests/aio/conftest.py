"""Async tests: each runs on both anyio backends (asyncio and trio), and on asyncio with
blockbuster watching the event loop, so that wasifs code that blocks the loop (a file
read, a sleep, a contended lock) fails the test that reaches it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasifs.toolchain import compile_c

GUESTS = Path(__file__).resolve().parent.parent / "guests"
#: liveness only: a cancelled guest returns in milliseconds; this catches one that never does
LIVENESS_S = 60


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def no_blocking_calls_on_the_loop() -> Iterator[None]:
    """blockbuster (asyncio only: it looks for a running asyncio loop) on wasifs's modules;
    the plugin's own fixtures run outside the loop and are left out."""
    from blockbuster import BlockBuster

    import wasifs.pytest_plugin

    buster = BlockBuster(scanned_modules=["wasifs"], excluded_modules=[wasifs.pytest_plugin])
    buster.activate()
    # the native backend checks os.supports_dir_fd & co. for the functions it calls: list
    # blockbuster's wrappers there too while they stand in for the os functions
    added: list[tuple[set[Any], Any]] = []
    for wrapped in buster.functions.values():
        if wrapped.module is os and wrapped.activated:
            wrapper = getattr(os, wrapped.func_name)
            for supports in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks):
                if wrapped.original_func in supports and wrapper not in supports:
                    supports.add(wrapper)
                    added.append((supports, wrapper))
    try:
        yield
    finally:
        buster.deactivate()
        for supports, wrapper in added:
            supports.discard(wrapper)


@pytest.fixture(scope="session")
def streams() -> bytes:
    """The streaming guest (``tests/guests/streams.c``)."""
    return compile_c(GUESTS / "streams.c")


def open_fds() -> set[str]:
    """This process's open descriptors (with what they point to)."""
    if not os.path.isdir("/proc/self/fd"):
        return set()
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return out


def wasifs_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wasifs-")
            and t.name != "wasifs-sigint"]
