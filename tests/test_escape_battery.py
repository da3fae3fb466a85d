"""The escape battery: a real guest tries to leave the root of every backend (memory, native,
overlay over memory and over a host directory, the fsspec adapter over the local
filesystem, and the sandbox over each of them), by ``..`` chains, absolute and relative
symlinks pointing out, symlinks to symlinks, symlinked directories in the middle of a path,
hard links and renames to and from outside, writes through all of these, a directory swapped
for a symlink under an open descriptor; on native, a host thread swapping a directory for a
symlink to outside while the guest opens through it in a loop; and FIFOs, sockets and
devices in a host directory. Through a sandbox, the same ways lead to hidden paths too.

Every attempt is counted and must be refused: no read returns outside content, no change
lands outside (the host's outside tree and the other mount are hashed before and after).
``test_report_counts`` prints the totals for ``docs/security.md``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

import wasifs
from wasifs.backends import (
    Backend,
    FsspecBackend,
    MemoryFileSystem,
    NativeFileSystem,
    OverlayFileSystem,
    SandboxFileSystem,
)
from wasifs.toolchain import compile_c

FSOPS = Path(__file__).resolve().parent / "guests" / "fsops.c"
COUNTS: dict[str, int] = {}


def _count(what: str, n: int = 1) -> None:
    COUNTS[what] = COUNTS.get(what, 0) + n


@pytest.fixture(scope="module")
def fsops() -> bytes:
    return compile_c(FSOPS)


class World:
    """``outside/`` (host files the guest must never reach), ``root/`` (what is mounted at
    ``/d``, with the planted symlinks) and a second mount ``/o`` (a memory backend)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.outside = tmp / "outside"
        self.outside.mkdir()
        (self.outside / "secret").write_bytes(b"OUTSIDE host\n")
        (self.outside / "dir").mkdir()
        (self.outside / "dir" / "f").write_bytes(b"OUTSIDE host dir\n")
        self.root = tmp / "root"
        self.root.mkdir()
        r = self.root
        (r / "inside").write_bytes(b"inside\n")
        (r / "sub" / "deeper").mkdir(parents=True)
        (r / "sub" / "secret").write_bytes(b"inside sub\n")
        (r / "hidden").mkdir()
        (r / "hidden" / "secret").write_bytes(b"OUTSIDE hidden\n")
        links = {
            "abs-host": str(self.outside / "secret"),
            "abs-host-dir": str(self.outside),
            "abs-o": "/o/secret",
            "abs-root": "/",
            "abs-etc": "/etc/passwd",
            "rel-out": "../outside/secret",
            "rel-out-deep": "sub/deeper/../../../outside/secret",
            "rel-dir-out": "../outside",
            "dotdot": "..",
            "dotdot2": "sub/../..",
            "chain1": "chain2",
            "chain2": "chain3",
            "chain3": "../outside/secret",
            "chain-dir1": "chain-dir2",
            "chain-dir2": "..",
            "sub/up": "../..",
            "sub/up-abs": "/",
            "sub/up-o": "../../o",
            "to-hidden": "hidden/secret",
            "to-hidden-dir": "hidden",
            "sub/to-hidden": "../hidden/secret",
        }
        for name, target in links.items():
            os.symlink(target, r / name)
        self.other = MemoryFileSystem()
        self.other.pipe("/secret", b"OUTSIDE mount\n")
        self.before = self.state()

    def state(self) -> str:
        """A digest of everything outside ``/d``: the host's outside tree, the tree above
        the root (names only) and the other mount."""
        h = hashlib.sha256()
        for top, dirs, files in sorted(os.walk(self.outside)):
            for name in sorted(dirs + files):
                p = Path(top) / name
                st = p.lstat()
                h.update(f"{p}:{st.st_mode}:{st.st_size}:{st.st_mtime_ns}\n".encode())
                if stat.S_ISREG(st.st_mode):
                    h.update(p.read_bytes())
        h.update(repr(sorted(os.listdir(self.tmp))).encode())
        h.update(repr(wasifs.snapshot(wasifs.Path(self.other, "/"))).encode())
        return h.hexdigest()


def _memory_copy(w: World) -> MemoryFileSystem:
    fs = MemoryFileSystem()
    wasifs.copy_in(w.root, wasifs.Path(fs, "/"))
    return fs


#: name -> what makes that backend over the world's root (the sandboxes hide "hidden")
BACKENDS: dict[str, Callable[[World], Backend]] = {
    "memory": _memory_copy,
    "native": lambda w: NativeFileSystem(w.root),
    "overlay (memory lower)": lambda w: OverlayFileSystem(_memory_copy(w)),
    "overlay (native lower)": lambda w: OverlayFileSystem(
        NativeFileSystem(w.root, readonly=True)),
    "fsspec (local)": lambda w: FsspecBackend(LocalFileSystem(skip_instance_cache=True),
                                              str(w.root)),
}
for _name, _make in list(BACKENDS.items()):
    BACKENDS[f"sandbox over {_name}"] = (
        lambda w, make=_make: SandboxFileSystem(make(w), hide=["hidden"]))

#: Reads (and listings, stats) that would show something outside the root if they worked.
READS = [
    "read /d/../outside/secret", "read /d/sub/../../outside/secret",
    "read /d/" + "../" * 40 + "outside/secret", "read /d/sub/deeper/../../../o/secret",
    "read /d/abs-host", "read /d/abs-host-dir/secret", "read /d/abs-o",
    "read /d/abs-root/o/secret", "read /d/abs-etc", "read /d/rel-out", "read /d/rel-out-deep",
    "read /d/rel-dir-out/secret", "read /d/rel-dir-out/dir/f", "read /d/dotdot/outside/secret",
    "read /d/dotdot2/outside/secret", "read /d/chain1", "read /d/chain-dir1/outside/secret",
    "read /d/sub/up/outside/secret", "read /d/sub/up-abs/o/secret", "read /d/sub/up-o/secret",
    "read /d/sub/up/../outside/secret", "read /d/sub/up/root/../outside/secret",
    "ls /d/..", "ls /d/dotdot", "ls /d/abs-root", "ls /d/sub/up", "ls /d/rel-dir-out",
    "ls /d/abs-host-dir", "stat /d/rel-out", "stat /d/abs-host-dir", "stat /d/../outside",
    "stat /d/chain-dir1/outside", "stat /d/abs-o", "readlink /d/sub/up/outside/secret",
]
#: Changes that would land outside the root (or bring outside files in) if they worked.
WRITES = [
    "write /d/rel-out x", "write /d/rel-dir-out/new x", "write /d/dotdot/outside/new x",
    "write /d/abs-host x", "write /d/abs-o x", "append /d/chain1 x", "append /d/rel-out-deep x",
    "write /d/../outside/new x", "write /d/sub/up/outside/new x", "mkdir /d/dotdot/newdir",
    "mkdir /d/../newdir", "mkdir /d/rel-dir-out/newdir", "symlink x /d/dotdot/newlink",
    "symlink x /d/../newlink", "mv /d/inside /d/dotdot/stolen", "mv /d/inside /d/../stolen",
    "mv /d/../outside/secret /d/stolen", "mv /d/dotdot/outside/secret /d/stolen",
    "mv /o/secret /d/stolen", "mv /d/rel-dir-out/secret /d/stolen",
    "ln /d/../outside/secret /d/h1", "ln /d/dotdot/outside/secret /d/h2", "ln /o/secret /d/h3",
    "ln /d/inside /d/dotdot/h4", "ln /d/rel-dir-out/secret /d/h5", "rm /d/dotdot/outside/secret",
    "rm /d/../outside/secret", "rm /d/rel-dir-out/secret", "rmdir /d/dotdot/outside/dir",
    "rmdir /d/rel-dir-out/dir", "truncate /d/rel-out 0", "truncate /d/chain1 0",
    "truncate /d/abs-host 0", "pwrite /d/abs-o 0 5", "allocate /d/rel-out 100",
    "read /d/h1", "read /d/h2", "read /d/h3", "read /d/h5", "read /d/stolen",
]
#: Through a sandbox hiding "hidden": the ways to reach it.
HIDDEN = [
    "read /d/hidden/secret", "read /d/to-hidden", "read /d/to-hidden-dir/secret",
    "read /d/sub/to-hidden", "read /d/sub/../hidden/secret", "read /d/./hidden/secret",
    "read /d/sub/deeper/../../hidden/secret", "ls /d/hidden", "ls /d/to-hidden-dir",
    "stat /d/hidden", "stat /d/to-hidden", "write /d/hidden/x y", "write /d/to-hidden x",
    "append /d/to-hidden x", "mkdir /d/hidden/x", "mv /d/hidden /d/shown",
    "mv /d/to-hidden-dir/secret /d/shown", "ln /d/hidden/secret /d/shown",
    "ln /d/to-hidden /d/hl", "read /d/hl", "rm /d/hidden/secret", "rmdir /d/hidden",
    "truncate /d/to-hidden 0", "readlink /d/hidden/secret",
]


def _refused(line: str, command: str) -> bool:
    """Whether the guest's answer to ``command`` shows it did not get out."""
    if "OUTSIDE" in line:
        return False
    if command.startswith("ln /d/to-hidden "):
        return True  # a hard link to the symlink itself: what matters is reading it
    return " -> OK" not in line


def _run(wasm: bytes, w: World, fs: Backend, commands: list[str]) -> list[str]:
    argv = [word for c in commands for word in c.split(" ")]
    result = wasifs.run(wasm, args=["fsops", *argv], mounts={"/d": fs, "/o": w.other})
    assert result.exit_code == 0, result.stderr
    out = result.stdout.decode().splitlines()
    assert len(out) == len(commands), out
    return out


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_every_way_out_is_refused(fsops: bytes, tmp_path: Path, kind: str) -> None:
    w = World(tmp_path)
    fs = BACKENDS[kind](w)
    sandboxed = isinstance(fs, SandboxFileSystem)
    attempts = READS + WRITES + (HIDDEN if sandboxed else []) + ["swapread /d sub ../outside"]
    out = _run(fsops, w, fs, attempts)
    escaped = [(c, line) for c, line in zip(attempts, out, strict=True)
               if not (_refused(line, c) or (c.startswith("swapread") and "inside sub" in line))]
    assert not escaped, escaped
    assert w.state() == w.before, "something outside the root changed"
    if isinstance(fs, SandboxFileSystem):
        assert wasifs.Path(fs.inner, "/hidden/secret").read_bytes() == b"OUTSIDE hidden\n"
    _count("attempts", len(attempts))
    _count("backends")


# --- a host thread swaps a directory for a symlink to outside --------------------------------
RACE_OPENS = 4000


@pytest.mark.parametrize("kind", ["native", "sandbox over native"])
def test_directory_swapped_for_a_symlink_while_the_guest_opens(
        fsops: bytes, tmp_path: Path, kind: str) -> None:
    """The guest opens ``sw/f`` in a loop while a host thread keeps replacing the directory
    ``sw`` by a symlink to a directory outside holding an ``f`` of its own, and back: the
    guest reads the inside file or fails, never the outside one."""
    w = World(tmp_path)
    sw = w.root / "sw"
    sw.mkdir()
    (sw / "f").write_bytes(b"inside sw\n")
    out_dir = w.outside / "sw"
    out_dir.mkdir()
    (out_dir / "f").write_bytes(b"OUTSIDE sw\n")
    w.before = w.state()
    fs = BACKENDS[kind](w)
    stop = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        parked, link = w.root / "sw.dir", w.root / "sw.link"
        while not stop.is_set():
            os.rename(sw, parked)
            os.symlink(out_dir, link)
            os.rename(link, sw)          # sw is now a symlink to outside
            os.rename(sw, link)
            os.unlink(link)
            os.rename(parked, sw)        # and the directory again
            swaps += 1
            # leave the directory in place a moment (and the GIL to the guest's thread), so
            # that on a loaded machine the guest still sees both states, not only the swaps
            time.sleep(0.0002)

    t = threading.Thread(target=swapper)
    t.start()
    try:
        out = _run(fsops, w, fs, [f"race /d/sw/f {RACE_OPENS}"])
    finally:
        stop.set()
        t.join(30)
    counts = dict(part.split("=") for part in out[0].split(" -> OK ")[1].split())
    assert counts["outside"] == "0" and counts["other"] == "0", out
    assert int(counts["inside"]) > 0 and int(counts["errors"]) > 0, out  # the race was on
    assert swaps > 10
    assert w.state() == w.before
    _count("attempts", RACE_OPENS)
    _count("race opens", RACE_OPENS)
    _count("race swaps", swaps)


# --- FIFOs, sockets and devices in a host directory -------------------------------------------
@pytest.fixture
def specials(tmp_path: Path) -> Iterator[dict[str, Path]]:
    root = tmp_path / "specials"
    root.mkdir()
    (root / "f").write_bytes(b"inside\n")
    made = {"fifo": root / "fifo"}
    os.mkfifo(made["fifo"])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(root / "sock"))
    made["sock"] = root / "sock"
    try:
        os.mknod(root / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # as /dev/zero
        made["zero"] = root / "zero"
    except (PermissionError, OSError):
        pass  # not allowed here (no CAP_MKNOD): the FIFO and the socket still count
    try:
        yield made
    finally:
        sock.close()


def _unblock_fifo(path: Path) -> None:
    """Release a guest stuck opening the FIFO for reading (if it is)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


@pytest.mark.parametrize("kind", ["native", "sandbox over native"])
def test_fifos_sockets_and_devices_are_not_opened(fsops: bytes, specials: dict[str, Path],
                                                  kind: str) -> None:
    """Opening them for reading or writing answers an error at once: the host does not hang
    on a FIFO without a writer, and no device is read."""
    root = specials["fifo"].parent
    fs = NativeFileSystem(root) if kind == "native" else SandboxFileSystem(NativeFileSystem(root))
    commands = []
    for name in specials:
        commands += [f"read /d/{name}", f"write /d/{name} x", f"append /d/{name} x",
                     f"truncate /d/{name} 0", f"fds /d/{name} 3"]
    done: list[list[str]] = []
    argv = [word for c in commands for word in c.split(" ")]
    t = threading.Thread(target=lambda: done.append(
        wasifs.run(fsops, args=["fsops", *argv], mounts={"/d": fs}).stdout.decode()
        .splitlines()))
    t.start()
    t.join(60)
    hung = t.is_alive()
    if hung:
        _unblock_fifo(specials["fifo"])
        t.join(30)
    assert not hung, "the guest hung opening a special file"
    out = done[0]
    assert len(out) == len(commands)
    opened = [line for line in out if " -> OK" in line]
    assert not opened, opened
    assert all(line.endswith("-> EACCES") or line.endswith("-> EACCES 0") for line in out), out
    _count("attempts", len(commands))
    _count("special-file attempts", len(commands))


def _wait_blocked_on_fifo(t: threading.Thread) -> None:
    """Wait until thread ``t`` sleeps in the kernel's FIFO open (Linux: its wchan), so the
    guest's attempt cannot come before the writer waits (then nothing would be let through
    whatever the backend does)."""
    wchan = f"/proc/self/task/{t.native_id}/wchan"
    for _ in range(300):
        try:
            with open(wchan) as f:
                if f.read() in ("wait_for_partner", "fifo_open", "pipe_wait"):
                    return
        except FileNotFoundError:  # pragma: no cover - no procfs: give the thread a moment
            time.sleep(0.2)
            return
        time.sleep(0.01)
    # a kernel that does not name the wait (wchan "0"): three seconds were enough to block


@pytest.mark.xfail(strict=True, reason="the native backend opens a special file (with "
                   "O_NONBLOCK) before it looks at its type: a writer blocked on the FIFO is "
                   "let through")
def test_a_fifo_is_not_even_opened(fsops: bytes, specials: dict[str, Path]) -> None:
    """A host writer waiting for a reader on the FIFO stays waiting while the guest tries
    it: the guest's attempt does not open the FIFO."""
    fifo = specials["fifo"]
    opened = threading.Event()

    def writer() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until someone opens it for reading
        opened.set()
        try:
            os.write(fd, b"host data\n")
        except OSError as exc:
            assert exc.errno == errno.EPIPE
        finally:
            os.close(fd)

    t = threading.Thread(target=writer)
    t.start()
    _wait_blocked_on_fifo(t)
    try:
        wasifs.run(fsops, args=["fsops", "read", "/d/fifo", "stat", "/d/fifo"],
                   mounts={"/d": NativeFileSystem(fifo.parent)})
        released = opened.wait(0.5)
    finally:
        if not opened.is_set():
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            opened.wait(10)
            os.close(fd)
        t.join(10)
    assert not released


WASMTIME_REFERENCE = """
import sys, wasmtime
engine = wasmtime.Engine()
module = wasmtime.Module.from_file(engine, sys.argv[1])
cfg = wasmtime.WasiConfig()
cfg.argv = ["fsops", "read", "/d/" + sys.argv[3]]
cfg.inherit_stdout()
cfg.preopen_dir(sys.argv[2], "/d")
store = wasmtime.Store(engine)
store.set_wasi(cfg)
linker = wasmtime.Linker(engine)
linker.define_wasi()
linker.instantiate(store, module).exports(store)["_start"](store)
"""


def test_wasmtime_hangs_on_a_fifo_and_reads_a_device(fsops: bytes, specials: dict[str, Path],
                                                     tmp_path: Path) -> None:
    """The difference recorded in conformance/DIFFERENCES.md (special-files): wasmtime-py's
    own WASI blocks for good opening the FIFO, and reads the device; wasifs answers EACCES
    at once (the test above)."""
    import subprocess
    import sys

    docs = (Path(__file__).resolve().parent.parent / "conformance" / "DIFFERENCES.md")
    section = "special-files"
    assert f"## {section}:" in docs.read_text(encoding="utf-8")
    wasm = tmp_path / "fsops.wasm"
    wasm.write_bytes(fsops)
    root = specials["fifo"].parent

    def reference(name: str, timeout: float) -> str | None:
        try:
            r = subprocess.run([sys.executable, "-c", WASMTIME_REFERENCE, str(wasm), str(root),
                                name], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout

    assert reference("fifo", 3) is None  # still blocked in the open after 3 s
    if "zero" in specials:
        # 64 bytes read (zeros: the guest prints them as an empty string)
        assert reference("zero", 60) == "read /d/zero -> OK 64 \n"


def test_report_counts() -> None:
    print(f"\nescape battery: {COUNTS}")
    assert all(v >= 0 for v in COUNTS.values())
