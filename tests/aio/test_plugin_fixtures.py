"""The plugin's async fixtures (``wasi_arun``, ``wasi_apath``) in this project's own tests,
under anyio's pytest plugin (asyncio and trio) and under pytest-asyncio (strict mode), on
both of the plugin's backends."""

from __future__ import annotations

from typing import Any

import pytest

from wasifs.aio import AsyncPath
from wasifs.trees import DIR


async def _exercise(wasi_arun: Any, wasi_apath: AsyncPath, streams: bytes) -> None:
    await (wasi_apath / "in.txt").write_bytes(b"hello from the host\n")
    result = await wasi_arun(streams, "readfile", "/in.txt")
    assert result.exit_code == 0
    assert result.stdout.startswith(b"bytes 20 ")
    result = await wasi_arun(streams, "tofile", "/out/copy.txt", stdin=b"piped in",
                             files={"out": DIR})
    assert (await result.atree())["out/copy.txt"] == "piped in"
    assert await (wasi_apath / "out" / "copy.txt").read_bytes() == b"piped in"


@pytest.mark.anyio
@pytest.mark.wasi_backends("memory", "native")
async def test_async_fixtures_under_anyio(wasi_arun: Any, wasi_apath: AsyncPath,
                                          streams: bytes) -> None:
    await _exercise(wasi_arun, wasi_apath, streams)


@pytest.mark.asyncio
@pytest.mark.wasi_backends("memory", "native")
async def test_async_fixtures_under_pytest_asyncio(wasi_arun: Any, wasi_apath: AsyncPath,
                                                   streams: bytes) -> None:
    await _exercise(wasi_arun, wasi_apath, streams)
