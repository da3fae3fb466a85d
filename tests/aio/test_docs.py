"""The examples of ``docs/async.md`` run as they stand: the service (a TCP server running a
guest per connection) on loopback, and the two async-test examples under pytest-asyncio
(strict mode) and anyio's pytest plugin (through pytester, in a folder of their own)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "async.md"


def example(name: str) -> str:
    """The python block after ``<!-- example: NAME -->`` in docs/async.md."""
    match = re.search(rf"<!-- example: {re.escape(name)} -->\n```python\n(.*?)```",
                      DOCS.read_text(), re.S)
    assert match, f"docs/async.md has no example {name!r}"
    return match.group(1)


@pytest.mark.anyio
async def test_the_service_example_serves_on_loopback(streams: bytes) -> None:
    namespace: dict[str, Any] = {"__name__": "service_example"}
    exec(compile(example("service"), str(DOCS), "exec"), namespace)  # noqa: S102
    serve, request = namespace["serve"], namespace["request"]
    big = bytes(range(97, 123)) * 200_000  # 5.2 MB of lower-case letters
    async with anyio.create_task_group() as tg:
        port = await tg.start(lambda task_status: serve(
            streams, args=("upper", "upper"), port=0, task_status=task_status))
        responses: dict[int, bytes] = {}

        async def one(i: int, body: bytes) -> None:
            responses[i] = await request(port, body)

        async with anyio.create_task_group() as clients:
            clients.start_soon(one, 0, big)
            for i in range(1, 12):  # more than the 8 guests allowed at once
                clients.start_soon(one, i, b"request number %d\n" % i)
        tg.cancel_scope.cancel()
    assert responses[0] == big.upper()
    for i in range(1, 12):
        assert responses[i] == b"REQUEST NUMBER %d\n" % i


@pytest.fixture
def _warm_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester points HOME at a temporary folder; keep the guest and zig caches warm."""
    from wasifs.toolchain import default_cache_dir

    home = Path(os.path.expanduser("~"))
    monkeypatch.setenv("WASIFS_CACHE_DIR", str(default_cache_dir()))
    monkeypatch.setenv("ZIG_GLOBAL_CACHE_DIR",
                       os.environ.get("ZIG_GLOBAL_CACHE_DIR", str(home / ".cache" / "zig")))


@pytest.mark.usefixtures("_warm_caches")
def test_the_pytest_asyncio_example_passes_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=example("pytest-asyncio"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "asyncio",
                                           "-o", "asyncio_mode=strict", "-p", "no:anyio")
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("_warm_caches")
def test_the_anyio_example_passes_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=example("anyio"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_guest_writes_a_file?asyncio?*",
                                 "*test_guest_writes_a_file?trio?*"])
