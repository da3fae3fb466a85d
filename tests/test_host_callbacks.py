"""The host's own failures reach the host (issue 10, items 13, 14 and 16).

A stdin iterator or file, a stdout callback or a text stream that raises stops the guest,
and ``wasifs.run`` / ``WasiHost.start`` / an instance's calls raise that exception, with the
guest's descriptors released; an ``OSError`` from a stream stays an I/O error the guest sees.
Bad host-API arguments are a clear ``TypeError``/``ValueError``, and ``proc_exit(256)`` is a
trap, not status 0.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import wasifs
from wasifs.stdio import LineCallbackSink
from wasifs.toolchain import compile_c

GUESTS = Path(__file__).parent / "guests"


class Boom(Exception):
    """The host callback's own error."""


@pytest.fixture(scope="module")
def waits() -> bytes:
    return compile_c(GUESTS / "waits.c")


@pytest.fixture(autouse=True)
def no_bug_records(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A host callback's failure is no "bug in syscall" (which would mean: the guest got
    EIO and the run went on)."""
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        yield
    assert not [r for r in caplog.records if "bug in syscall" in r.getMessage()]


def fails(*_: Any) -> None:
    raise Boom("the callback failed")


def test_a_stdout_callback_that_raises_stops_the_run(waits: bytes) -> None:
    """Before: the guest got EIO, the run returned exit code 0."""
    for binding in ("raw", "checked"):
        with pytest.raises(Boom, match="the callback failed") as info:
            wasifs.run(waits, args=["w", "fd3"], stdout=fails, binding=binding)  # type: ignore[arg-type]
        notes = " ".join(getattr(info.value, "__notes__", []))
        assert "stdout" in notes and "stopped" in notes


def test_a_stdin_iterator_that_raises_stops_the_run(waits: bytes) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"some input"
        raise Boom("the producer failed")

    with pytest.raises(Boom, match="the producer failed"):
        wasifs.run(waits, args=["w", "read"], stdin=chunks())
    with pytest.raises(TypeError, match="stdin chunks must be bytes"):  # a wrong chunk too
        wasifs.run(waits, args=["w", "read"], stdin=iter(["text"]))


def test_a_stdin_file_that_raises_stops_the_run(waits: bytes) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            raise Boom("the file failed")

    with pytest.raises(Boom, match="the file failed"):
        wasifs.run(waits, args=["w", "read"], stdin=Broken())
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(ValueError, match="closed file"):
        wasifs.run(waits, args=["w", "read"], stdin=closed)


def test_a_text_stream_that_raises_stops_the_run(waits: bytes) -> None:
    class Full(io.StringIO):
        def write(self, s: str) -> int:
            raise Boom("the text stream failed")

    with pytest.raises(Boom, match="the text stream failed"):
        wasifs.run(waits, args=["w", "utf8"], stdout=Full())


def test_a_line_callback_failing_at_the_end_is_raised(waits: bytes) -> None:
    # "é€" has no newline: the callback runs when the output is flushed at the end
    with pytest.raises(Boom):
        wasifs.run(waits, args=["w", "utf8"], stdout=LineCallbackSink(fails))


def test_an_oserror_from_a_stream_is_the_guests_io_error(waits: bytes) -> None:
    def pipe_closed(_: bytes) -> None:
        raise BrokenPipeError(32, "the reader went away")

    r = wasifs.run(waits, args=["w", "fd3"], stdout=pipe_closed)  # type: ignore[arg-type]
    assert r.exit_code == 0  # the guest saw EPIPE and went on, as under wasmtime


def test_start_and_instance_calls_raise_it_too(waits: bytes) -> None:
    store = wasmtime.Store(wasifs.api.default_engine())
    host = wasifs.WasiHost(store, args=["w", "fd3"], stdout=fails)  # type: ignore[arg-type]
    linker = wasmtime.Linker(store.engine)
    host.define(linker)
    host.instantiate(linker, wasifs.load_module(waits))
    with pytest.raises(Boom):
        host.start()
    host.close()
    with wasifs.instantiate(waits, args=["w", "fd3"], stdout=fails) as guest:  # type: ignore[arg-type]
        with pytest.raises(Boom):
            guest.start()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_the_guests_descriptors_are_released(waits: bytes, tmp_path: Path) -> None:
    import gc

    def run(**kwargs: Any) -> None:
        try:
            wasifs.run(waits, args=["w", "fd3"], mounts={"/d": str(tmp_path)}, **kwargs)
        except Boom:
            pass

    run()  # the engine, the module and the SIGINT watcher exist from here on
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        run(stdout=fails)
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


# ------------------------------------------------------------------------------ item 16
@pytest.mark.parametrize("bad", [0, None, 1.5, ["x"]], ids=repr)
def test_an_args_item_that_is_not_text_is_a_type_error(waits: bytes, bad: Any) -> None:
    """Before: 0 silently became an empty argument."""
    with pytest.raises(TypeError, match=r"args\[1\] must be a str or bytes"):
        wasifs.run(waits, args=["w", bad])
    with pytest.raises(TypeError, match=r"args\[1\]"):
        wasifs.instantiate(waits, args=["w", bad])
    r = wasifs.run(waits, args=[b"w", "fd3"])  # bytes are fine
    assert r.stdout == b"fd3: EBADF\n"


def test_a_bad_fd_limit_is_a_clear_error(waits: bytes, tmp_path: Path) -> None:
    """Before: a limit with no room for the mounts raised a raw WasiError (MFILE)."""
    fs = wasifs.MemoryFileSystem()
    with pytest.raises(ValueError, match=r"fd_limit=3 is too small.*1 mount\(s\) take 4"):
        wasifs.run(waits, args=["w", "fd3"], mounts={"/d": fs}, fd_limit=3)
    with pytest.raises(ValueError, match="fd_limit=2"):
        wasifs.run(waits, args=["w", "fd3"], fd_limit=2)
    for bad in (3.5, "8", True):
        with pytest.raises(TypeError, match="fd_limit must be an int"):
            wasifs.run(waits, args=["w", "fd3"], fd_limit=bad)  # type: ignore[arg-type]
    r = wasifs.run(waits, args=["w", "fd3"], mounts={"/d": fs}, fd_limit=4)
    assert r.stdout == b"fd3: ok\n"


# ------------------------------------------------------------------------------ item 13
def test_exit_status_256_is_a_trap_not_0(waits: bytes, tmp_path: Path) -> None:
    """proc_exit(256) wrapped to status 0 (8 bits) before the rule of [0, 126)."""
    r = wasifs.run(waits, args=["w", "exit", "256"])
    assert (r.exit_code, r.ok) == (134, False) and r.trap is not None
    with wasifs.instantiate(waits, args=["w", "exit", "256"]) as guest:
        with pytest.raises(wasifs.GuestTrap, match=r"outside of \[0, 126\)"):
            guest.start()
    module = tmp_path / "w.wasm"
    module.write_bytes(waits)
    import subprocess

    p = subprocess.run([sys.executable, "-m", "wasifs", "run", str(module), "exit", "256"],
                       capture_output=True, timeout=120)
    assert p.returncode == 134
