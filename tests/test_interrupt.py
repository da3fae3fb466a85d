"""Interrupting guests: a CancelToken from another thread, and Ctrl-C (a real SIGINT) sent to
``wasifs run`` and to a program calling ``wasifs.run``, with guests that compute, sleep in
``poll_oneoff``, make syscalls in a loop, and block reading stdin."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import wasifs
from wasifs.stdio import InheritSource
from wasifs.toolchain import compile_c

GUEST = Path(__file__).parent / "guests" / "waits.c"
ROOT = Path(__file__).resolve().parent.parent
#: liveness only: a stopped guest returns in milliseconds; this catches one that never does
LIVENESS_S = 60

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and pipes as on POSIX")


@pytest.fixture(scope="module")
def waits() -> bytes:
    return compile_c(GUEST)


@pytest.fixture(scope="module")
def waits_file(waits: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "waits.wasm"
    path.write_bytes(waits)
    return path


def _open_fds() -> set[str]:
    if not os.path.isdir("/proc/self/fd"):
        return set()
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return out


class Started:
    """A stdout sink that notes when the guest printed "ready"."""

    def __init__(self) -> None:
        self.data = b""
        self.event = threading.Event()

    def __call__(self, data: bytes) -> None:
        self.data += data
        if b"ready\n" in self.data:
            self.event.set()


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            out["error"] = exc
        out["done"] = time.monotonic()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


@pytest.fixture
def stdin_pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.mark.parametrize("command", ["spin", "syscalls", "sleep", "read"])
def test_cancel_token_stops_the_guest_from_another_thread(
        waits: bytes, command: str, stdin_pipe: tuple[int, int], tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("k")
    token = wasifs.CancelToken()
    started = Started()
    wasifs.run(waits, args=["waits", "fd3"], mounts={"/d": str(tmp_path)})  # process-wide setup
    before = _open_fds()
    thread, out = run_in_thread(lambda: wasifs.run(
        waits, args=["waits", command], cancel=token, stdout=started,
        stdin=InheritSource(stdin_pipe[0]), mounts={"/d": str(tmp_path)}))
    assert started.event.wait(LIVENESS_S), out
    time.sleep(0.05)  # inside the loop, the sleep or the read
    assert thread.is_alive()
    cancelled_at = time.monotonic()
    token.cancel()
    thread.join(LIVENESS_S)
    assert not thread.is_alive(), f"{command}: the guest was not stopped"
    error = out.get("error")
    assert isinstance(error, wasifs.Interrupted), out
    assert isinstance(error.result, wasifs.RunResult)
    assert error.result.exit_code == wasifs.api.EXIT_INTERRUPTED
    assert out["done"] - cancelled_at < LIVENESS_S
    # the guest's descriptors are closed; the mounted backend (which keeps its own root open)
    # goes when the result holding it does
    assert isinstance(error.result.mounts["/d"], wasifs.NativeFileSystem)
    del error, out
    gc.collect()
    assert _open_fds() <= before


def test_cancel_before_the_run_stops_it_before_the_guest_runs(waits: bytes) -> None:
    token = wasifs.CancelToken()
    token.cancel(TimeoutError("budget spent"))
    with pytest.raises(TimeoutError, match="budget spent"):
        wasifs.run(waits, args=["waits", "spin"], cancel=token)


def test_cancelling_one_run_leaves_the_others_on_the_engine_running(waits: bytes) -> None:
    a, b = wasifs.CancelToken(), wasifs.CancelToken()
    sa, sb = Started(), Started()
    ta, oa = run_in_thread(lambda: wasifs.run(waits, args=["w", "spin"], cancel=a, stdout=sa))
    tb, ob = run_in_thread(lambda: wasifs.run(waits, args=["w", "spin"], cancel=b, stdout=sb))
    assert sa.event.wait(LIVENESS_S) and sb.event.wait(LIVENESS_S)
    a.cancel()
    ta.join(LIVENESS_S)
    assert isinstance(oa.get("error"), wasifs.Interrupted)
    time.sleep(0.2)
    assert tb.is_alive(), ob  # the epoch bump reached b's store too; b went on
    b.cancel()
    tb.join(LIVENESS_S)
    assert isinstance(ob.get("error"), wasifs.Interrupted)


def test_a_reactor_export_is_interrupted_too(waits: bytes) -> None:
    wat = """(module (memory (export "memory") 1)
               (func (export "spin") (loop (br 0))))"""
    token = wasifs.CancelToken()
    with wasifs.instantiate(wat, cancel=token) as guest:
        thread, out = run_in_thread(lambda: guest.call("spin"))
        time.sleep(0.1)
        token.cancel()
        thread.join(LIVENESS_S)
        assert isinstance(out.get("error"), wasifs.Interrupted)


def test_cancel_needs_an_engine_with_epoch_interruption(waits: bytes) -> None:
    plain = wasmtime.Engine()
    with pytest.raises(ValueError, match=r"\(wasmtime\.Config\.epoch_interruption = True\)"):
        wasifs.run(waits, args=["w", "spin"], engine=plain, cancel=wasifs.CancelToken())
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)  # made by the caller, with epochs: accepted
    token = wasifs.CancelToken()
    token.cancel()
    with pytest.raises(wasifs.Interrupted):
        wasifs.run(waits, args=["w", "spin"], engine=engine, cancel=token)
    # a run on an engine without epochs, not asking for interruption, works as before
    assert wasifs.run(waits, args=["w", "fd3"], engine=plain).stdout == b"fd3: EBADF\n"


def test_cancel_token_api() -> None:
    token = wasifs.CancelToken()
    calls: list[str] = []
    remove = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    remove()
    assert not token.cancelled and token.reason is None
    token.cancel()
    token.cancel(RuntimeError("second"))  # the first reason wins
    assert calls == ["b"]
    assert isinstance(token.reason, wasifs.Interrupted)
    token.on_cancel(lambda: calls.append("late"))  # called at once
    assert calls == ["b", "late"]
    with pytest.raises(wasifs.Interrupted):
        token.sleep(10)
    with pytest.raises(TypeError, match="exception"):
        wasifs.CancelToken().cancel("why")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Ctrl-C
def _popen(args: list[str]) -> subprocess.Popen[bytes]:
    """Start ``args`` with SIGINT at its default disposition (whatever this process
    inherited) and a stdin pipe that stays open, with nothing in it, until the end."""
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            args, stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    finally:
        os.close(r)
    proc.stdin_writer = w  # type: ignore[attr-defined]
    return proc


def _interrupt_when_ready(proc: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes, float]:
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        if line != b"ready\n":
            proc.kill()
            pytest.fail(f"the guest did not start: {line!r} {proc.stderr.read()!r}")
        time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=LIVENESS_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"SIGINT did not stop the guest: {err.decode(errors='replace')}")
        return proc.returncode, out, err, time.monotonic() - sent
    finally:
        os.close(proc.stdin_writer)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["spin", "syscalls", "sleep", "read"])
def test_ctrl_c_stops_wasifs_run_with_status_130(waits_file: Path, command: str) -> None:
    proc = _popen([sys.executable, "-m", "wasifs", "run", str(waits_file), command])
    code, _out, err, elapsed = _interrupt_when_ready(proc)
    assert code == 130, err
    assert err.strip().endswith(b"wasifs: interrupted"), err
    assert b"Traceback" not in err and b"Exception ignored" not in err, err
    assert elapsed < LIVENESS_S


def test_ctrl_c_does_not_write_back(waits_file: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "gone.txt").write_text("still here\n")
    proc = _popen([sys.executable, "-m", "wasifs", "run", "--write-back", "--dir",
                   f"{tree}::/d", str(waits_file), "edit-spin", "/d"])
    code, _out, err, _ = _interrupt_when_ready(proc)
    assert code == 130, err
    assert sorted(p.name for p in tree.iterdir()) == ["gone.txt"]  # nothing applied


SCRIPT = r"""
import gc, os, sys, wasifs
def fds():
    return {f for f in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{f}")}
wasifs.run(sys.argv[1], args=["waits", "fd3"], mounts={"/d": sys.argv[3]})  # process-wide setup
gc.collect()
before = fds()
try:
    wasifs.run(sys.argv[1], args=["waits", sys.argv[2]], stdout="inherit", stdin="inherit",
               mounts={"/d": sys.argv[3]})
    interrupted = False
except KeyboardInterrupt:
    interrupted = True
gc.collect()
print("KeyboardInterrupt" if interrupted else "finished", "leaked fds:", len(fds() - before),
      file=sys.stderr)
sys.exit(0 if interrupted else 1)
"""


@pytest.mark.parametrize("command", ["spin", "syscalls", "sleep", "read"])
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_ctrl_c_raises_keyboard_interrupt_from_wasifs_run(
        waits_file: Path, command: str, tmp_path: Path) -> None:
    proc = _popen([sys.executable, "-c", SCRIPT, str(waits_file), command, str(tmp_path)])
    code, _out, err, _ = _interrupt_when_ready(proc)
    assert code == 0, err
    assert b"KeyboardInterrupt leaked fds: 0" in err, err
    assert b"Exception ignored" not in err, err


def test_sigint_handling_is_restored_after_a_run(waits: bytes) -> None:
    before = signal.getsignal(signal.SIGINT)
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    wasifs.run(waits, args=["w", "fd3"])
    assert signal.getsignal(signal.SIGINT) is before
    assert signal.set_wakeup_fd(wakeup) == wakeup


NO_EPOCHS = """
import sys, wasmtime, wasifs
engine = wasmtime.Engine()  # no epoch interruption: Python's own SIGINT handling stays
wasifs.run(sys.argv[1], args=["waits", sys.argv[2]], engine=engine, stdout="inherit")
"""


def test_ctrl_c_on_an_engine_without_epochs_still_ends_a_guest_making_syscalls(
        waits_file: Path) -> None:
    proc = _popen([sys.executable, "-c", NO_EPOCHS, str(waits_file), "sleep"])
    code, _out, err, _ = _interrupt_when_ready(proc)
    assert code != 0 and b"KeyboardInterrupt" in err, err
