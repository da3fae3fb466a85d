"""The sandbox backend: the contract suite over memory and native inners with generous
quotas, and what is particular to it: read-only, hidden paths, each quota with its errno,
rate limits, and exact accounting after thousands of random operations."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import wasifs
from wasifs.backends import (
    MemoryFileSystem,
    NativeFileSystem,
    Quota,
    Rate,
    SandboxFileSystem,
    Usage,
    open_backend,
)
from wasifs.backends.sandbox import parse_size
from wasifs.testing import BackendContract, HandleFileSystemContract
from wasifs.toolchain import compile_c

GENEROUS = Quota(bytes=1 << 30, files=100_000, dirs=100_000, fds=10_000, file_size=1 << 30,
                 path_length=4096, depth=512)


# --- the contract ------------------------------------------------------------------------
class TestSandboxMemory(BackendContract):
    """Over memory, with every quota set (generously)."""

    backend_name = "sandbox (memory)"

    @pytest.fixture
    def backend(self) -> SandboxFileSystem:
        return SandboxFileSystem(MemoryFileSystem(), quota=GENEROUS, hide=["no-such-*"])


class TestSandboxNative(BackendContract):
    """Over a host directory, with every quota set (generously)."""

    backend_name = "sandbox (native)"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> SandboxFileSystem:
        return SandboxFileSystem(NativeFileSystem(tmp_path), quota=GENEROUS,
                                 hide=["/no/such/**"])


class TestSandboxFsspecFacade(HandleFileSystemContract):
    backend_name = "sandbox (memory)"

    @pytest.fixture
    def fs(self) -> SandboxFileSystem:
        return SandboxFileSystem(MemoryFileSystem(), quota=GENEROUS)


# --- guests ------------------------------------------------------------------------------
FSOPS = Path(__file__).resolve().parents[1] / "guests" / "fsops.c"


@pytest.fixture(scope="module")
def fsops() -> bytes:
    return compile_c(FSOPS)


def run_guest(wasm: bytes, mounts: dict[str, Any], *commands: str,
              **options: Any) -> list[str]:
    """Run fsops with ``commands`` (each a space-separated command); its output lines."""
    argv = [word for command in commands for word in command.split(" ")]
    result = wasifs.run(wasm, args=["fsops", *argv], mounts=mounts, strict=True, **options)
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode().splitlines()


def test_quota_errnos_in_a_guest(fsops: bytes) -> None:
    """Each quota answers the guest what a real filesystem answers, and what was refused
    left nothing behind."""
    sb = SandboxFileSystem(MemoryFileSystem(), quota=Quota(
        bytes=10_000, files=5, dirs=4, fds=8, file_size=6_000, path_length=20, depth=3))
    out = run_guest(fsops, {"/d": sb},
                    "fill /d/a 20000",        # file_size: a short write, then EFBIG
                    "fill /d/b 9000",         # bytes: 4000 left, then ENOSPC
                    "files /d 10",            # files: 2 taken, 3 more
                    "dirs /d 10",             # dirs
                    "rmdir /d/d2", "rmdir /d/d3",
                    "deep /d/d0 10",          # depth 3: d0/a/a
                    "fds /d/a 20",            # 8 handles: the preopen's root and 7 more
                    "write /d/" + "x" * 21 + " hi",  # path_length
                    "stat /d/b")
    assert out == [
        "fill /d/a -> EFBIG 6000",
        "fill /d/b -> ENOSPC 4000",
        "files /d -> ENOSPC 3",
        "dirs /d -> ENOSPC 4",
        "rmdir /d/d2 -> OK",
        "rmdir /d/d3 -> OK",
        "deep /d/d0 -> ENAMETOOLONG 2",
        "fds /d/a -> EMFILE 7",
        "write /d/" + "x" * 21 + " -> ENAMETOOLONG",
        "stat /d/b -> OK file 4000",
    ]
    assert sb.usage == Usage(bytes=10_000, files=5, dirs=4, fds=0)
    # unlink and truncate give the room back
    out = run_guest(fsops, {"/d": sb}, "rm /d/a", "truncate /d/b 1000", "fill /d/c 6000",
                    "fill /d/e 3000", "rm /d/f0", "fill /d/e 3000")
    assert out == ["rm /d/a -> OK", "truncate /d/b -> OK", "fill /d/c -> OK 6000",
                   "fill /d/e -> ENOSPC 0", "rm /d/f0 -> OK", "fill /d/e -> OK 3000"]
    assert sb.usage.bytes == 10_000
    assert sb.recount() == sb.usage


def test_edquot_and_whole_refusals(fsops: bytes) -> None:
    sb = SandboxFileSystem(MemoryFileSystem(), quota=Quota(bytes=5000, full=errno.EDQUOT))
    out = run_guest(fsops, {"/d": sb}, "fill /d/a 3000", "truncate /d/a 6000",
                    "allocate /d/a 5001", "allocate /d/a 5000", "pwrite /d/a 4999 10",
                    "pwrite /d/a 5000 1", "symlink x /d/l")
    assert out == ["fill /d/a -> OK 3000", "truncate /d/a -> EDQUOT", "allocate /d/a -> EDQUOT",
                   "allocate /d/a -> OK", "pwrite /d/a -> OK 1", "pwrite /d/a -> EDQUOT",
                   "symlink /d/l -> EDQUOT"]
    assert sb.usage.bytes == 5000


def test_hard_links_are_counted_once(fsops: bytes, tmp_path: Path) -> None:
    for inner in (MemoryFileSystem(), NativeFileSystem(tmp_path)):
        sb = SandboxFileSystem(inner, quota=Quota(bytes=4000, files=3))
        out = run_guest(fsops, {"/d": sb}, "fill /d/a 3000", "ln /d/a /d/b", "ln /d/a /d/c",
                        "rm /d/a", "rm /d/b", "fill /d/x 1000", "fill /d/y 1", "rm /d/c",
                        "fill /d/y 3000")
        assert out == ["fill /d/a -> OK 3000", "ln /d/a -> OK", "ln /d/a -> OK", "rm /d/a -> OK",
                       "rm /d/b -> OK", "fill /d/x -> OK 1000", "fill /d/y -> ENOSPC 0",
                       "rm /d/c -> OK", "fill /d/y -> OK 3000"], inner
        assert sb.usage == Usage(4000, 2, 0, 0) == sb.recount()


def test_a_quota_on_an_inner_that_holds_files(tmp_path: Path) -> None:
    """What is already there counts (each inode once), hidden entries included."""
    (tmp_path / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "a", tmp_path / "a2")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".secret").write_bytes(b"y" * 50)
    os.symlink("a", tmp_path / "l")
    sb = SandboxFileSystem(NativeFileSystem(tmp_path), quota=Quota(bytes=1000),
                           hide=[".secret"])
    assert sb.usage == Usage(bytes=151, files=3, dirs=1, fds=0)


def test_moving_a_directory_deeper_checks_its_subtree(fsops: bytes) -> None:
    sb = SandboxFileSystem(MemoryFileSystem(), quota=Quota(depth=4, path_length=40))
    out = run_guest(fsops, {"/d": sb}, "mkdir /d/x", "deep /d/x 2", "mkdir /d/p",
                    "mkdir /d/p/q", "mv /d/x /d/p/q/x", "mv /d/x /d/p/x", "deep /d/p/x/a/a 5",
                    "mv /d/p/x /d/x")
    assert out == ["mkdir /d/x -> OK", "deep /d/x -> OK 2", "mkdir /d/p -> OK",
                   "mkdir /d/p/q -> OK", "mv /d/x -> ENAMETOOLONG", "mv /d/x -> OK",
                   "deep /d/p/x/a/a -> ENAMETOOLONG 0", "mv /d/p/x -> OK"]


def test_readonly_sandbox_over_a_writable_host_directory(fsops: bytes, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"inside\n")
    (tmp_path / "sub").mkdir()
    native = NativeFileSystem(tmp_path)
    sb = SandboxFileSystem(native, readonly=True)
    assert sb.readonly and not native.readonly
    out = run_guest(fsops, {"/d": sb}, "read /d/f", "write /d/f x", "write /d/new x",
                    "append /d/f x", "mkdir /d/m", "rm /d/f", "rmdir /d/sub",
                    "mv /d/f /d/g", "ln /d/f /d/g", "symlink f /d/s", "truncate /d/f 0")
    assert out == ["read /d/f -> OK 7 inside|", "write /d/f -> EROFS", "write /d/new -> EROFS",
                   "append /d/f -> EROFS", "mkdir /d/m -> EROFS",
                   "rm /d/f -> EROFS", "rmdir /d/sub -> EROFS", "mv /d/f -> EROFS",
                   "ln /d/f -> EROFS", "symlink /d/s -> EROFS", "truncate /d/f -> EROFS"]
    assert sorted(os.listdir(tmp_path)) == ["f", "sub"]
    assert (tmp_path / "f").read_bytes() == b"inside\n"


# --- hidden paths ----------------------------------------------------------------------------
def _hidden_tree(fs: MemoryFileSystem) -> MemoryFileSystem:
    fs.makedirs("/pub/deep")
    fs.makedirs("/secret")
    fs.pipe("/pub/readme", b"inside\n")
    fs.pipe("/pub/.env", b"OUTSIDE: a name pattern\n")
    fs.pipe("/secret/key", b"OUTSIDE: an anchored directory\n")
    fs.pipe("/pub/deep/x.pem", b"OUTSIDE: anchored with **\n")
    fs.pipe("/pub/deep/ok.txt", b"inside\n")
    fs.symlink("../secret/key", "/pub/to-key")
    fs.symlink("/secret", "/pub/abs-secret")
    fs.symlink(".env", "/pub/to-env")
    fs.symlink("to-env", "/pub/to-to-env")
    return fs


HIDE = [".env", "/secret", "pub/**/*.pem"]


def test_hidden_paths_are_absent(fsops: bytes) -> None:
    inner = _hidden_tree(MemoryFileSystem())
    sb = SandboxFileSystem(inner, hide=HIDE)
    out = run_guest(fsops, {"/d": sb}, "ls /d", "ls /d/pub", "ls /d/pub/deep",
                    "read /d/secret/key", "read /d/pub/.env", "read /d/pub/deep/x.pem",
                    "read /d/pub/../secret/key", "read /d/pub/to-key", "read /d/pub/to-env",
                    "read /d/pub/to-to-env", "read /d/pub/abs-secret/key", "stat /d/secret",
                    "lstat /d/pub/.env", "read /d/pub/deep/ok.txt", "readlink /d/pub/to-key",
                    "rm /d/pub/.env", "rmdir /d/secret", "mv /d/pub/.env /d/pub/e",
                    "ln /d/pub/.env /d/pub/e", "write /d/pub/.env x", "mkdir /d/secret",
                    "symlink x /d/pub/.env", "mv /d/pub/readme /d/pub/.env",
                    "write /d/pub/deep/new.pem x", "write /d/pub/new.pem x",
                    "mv /d/pub/deep /d/pub/deep2", "mv /d/pub /d/pub2")
    assert out == [
        "ls /d -> OK pub", "ls /d/pub -> OK deep readme to-key abs-secret to-env to-to-env",
        "ls /d/pub/deep -> OK ok.txt",
        "read /d/secret/key -> ENOENT", "read /d/pub/.env -> ENOENT",
        "read /d/pub/deep/x.pem -> ENOENT", "read /d/pub/../secret/key -> ENOENT",
        "read /d/pub/to-key -> ENOENT", "read /d/pub/to-env -> ENOENT",
        "read /d/pub/to-to-env -> ENOENT", "read /d/pub/abs-secret/key -> EPERM",
        "stat /d/secret -> ENOENT", "lstat /d/pub/.env -> ENOENT",
        "read /d/pub/deep/ok.txt -> OK 7 inside|", "readlink /d/pub/to-key -> OK ../secret/key",
        "rm /d/pub/.env -> ENOENT", "rmdir /d/secret -> ENOENT", "mv /d/pub/.env -> ENOENT",
        "ln /d/pub/.env -> ENOENT", "write /d/pub/.env -> EACCES", "mkdir /d/secret -> EACCES",
        "symlink /d/pub/.env -> EACCES", "mv /d/pub/readme -> EACCES",
        "write /d/pub/deep/new.pem -> EACCES", "write /d/pub/new.pem -> EACCES",
        # renaming a directory below which an anchored pattern matches would uncover it
        "mv /d/pub/deep -> EXDEV", "mv /d/pub -> EXDEV",
    ]
    # nothing hidden was touched
    assert inner.cat("/pub/.env").startswith(b"OUTSIDE")
    assert inner.cat("/secret/key").startswith(b"OUTSIDE")


def test_hidden_paths_on_the_host_side(tmp_path: Path) -> None:
    inner = _hidden_tree(MemoryFileSystem())
    sb = SandboxFileSystem(inner, hide=HIDE)
    assert sorted(sb.find("/", withdirs=True)) == [
        "/", "/pub", "/pub/abs-secret", "/pub/deep", "/pub/deep/ok.txt", "/pub/readme",
        "/pub/to-env", "/pub/to-key", "/pub/to-to-env"]
    assert not wasifs.Path(sb, "/secret").exists()
    with pytest.raises(FileNotFoundError):
        wasifs.Path(sb, "/pub/to-key").read_bytes()
    wasifs.copy_out(wasifs.Path(sb, "/"), tmp_path / "out")
    assert b"OUTSIDE" not in b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*")
                                      if p.is_file() and not p.is_symlink())


def test_hide_patterns() -> None:
    from wasifs.backends.sandbox import _Hider

    h = _Hider(["*.key", "**/tmp", "/etc/shadow", "data/**/cache", "a/*/b/"])
    def hidden(path: str) -> bool:
        parts = path.split("/")
        return h.hides(h.states_of(tuple(parts[:-1])), parts[-1])

    for path in ("x.key", "a/b/x.key", "tmp", "q/tmp", "etc/shadow", "data/cache",
                 "data/x/y/cache", "a/z/b"):
        assert hidden(path), path
    for path in ("key", "x.keys", "tmpx", "etc", "x/etc/shadow", "data", "data/x",
                 "cache", "a/z", "a/z/b/c", "a/b"):
        assert not hidden(path), path
    assert h.below(h.states_of(("etc",))) and h.below(h.states_of(("data", "x")))
    assert not h.below(h.states_of(("x",)))
    for bad in ("", "/", "a/../b", "**"):
        with pytest.raises(ValueError):
            _Hider([bad])


# --- rate limits ----------------------------------------------------------------------------
def test_rate_limits_sleep_for_the_rate(fsops: bytes) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    sb = SandboxFileSystem(MemoryFileSystem(), rate=Rate(bytes_per_s=100_000, burst=0),
                           sleep=sleep)
    out = run_guest(fsops, {"/d": sb}, "fill /d/a 50000")
    assert out == ["fill /d/a -> OK 50000"]
    # 50,000 bytes at 100,000 bytes/s: the waits before the calls add up to about 0.5 s,
    # less the first write's share (not waited for) and the time the calls took
    assert 0.3 < sum(slept) <= 0.5
    slept.clear()
    # a burst of 0.2 s: the first 20,000 bytes go through at once
    sb = SandboxFileSystem(MemoryFileSystem(), rate=Rate(bytes_per_s=100_000, burst=0.2),
                           sleep=sleep)
    assert run_guest(fsops, {"/d": sb}, "fill /d/a 50000") == ["fill /d/a -> OK 50000"]
    assert 0.1 < sum(slept) <= 0.3
    slept.clear()
    sb = SandboxFileSystem(MemoryFileSystem(), rate=Rate(ops_per_s=200, burst=0),
                           sleep=sleep)
    run_guest(fsops, {"/d": sb}, "files /d 20")
    # the calls waited for their 5 ms share each, less the time the calls themselves took
    assert len(slept) >= 10 and 0.05 < sum(slept) and max(slept) <= 0.005


def test_a_rate_wait_ends_when_the_run_is_cancelled(fsops: bytes) -> None:
    token = wasifs.CancelToken()
    sb = SandboxFileSystem(MemoryFileSystem(), rate=Rate(bytes_per_s=1000), cancel=token)
    timer = threading.Timer(0.3, token.cancel)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(wasifs.Interrupted):
            # 1 MB at 1 KB/s would take 17 minutes
            wasifs.run(fsops, args=["fsops", "fill", "/d/a", "1000000"], mounts={"/d": sb},
                       cancel=token)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 30  # a liveness bound, not a measurement
    assert sb.usage.fds == 0


# --- by name -------------------------------------------------------------------------------
def test_by_name(tmp_path: Path) -> None:
    sb = open_backend("sandbox", quota="bytes=1K,files=2", hide=["*.key"])
    assert isinstance(sb, SandboxFileSystem) and isinstance(sb.inner, MemoryFileSystem)
    assert sb.quota == Quota(bytes=1024, files=2)
    (tmp_path / "f").write_bytes(b"abc")
    for url in (f"sandbox://{tmp_path}", f"sandbox://native://{tmp_path}",
                f"wasifs-sandbox://file://{tmp_path}"):
        sb = open_backend(url, readonly=True, quota={"bytes": "1M"})
        assert isinstance(sb, SandboxFileSystem) and isinstance(sb.inner, NativeFileSystem)
        assert sb.readonly and sb.usage.bytes == 3
    sb = open_backend("sandbox://overlay://memory", rate="ops_per_s=1e6,bytes_per_s=10M")
    assert sb.rate == Rate(ops_per_s=1e6, bytes_per_s=10 << 20)


def test_quota_and_rate_specs() -> None:
    assert Quota.parse("bytes=1M, files=10,dirs=2,fds=64,file_size=64K,path_length=1024,"
                       "depth=32,full=EDQUOT") == Quota(
        bytes=1 << 20, files=10, dirs=2, fds=64, file_size=64 << 10, path_length=1024,
        depth=32, full=errno.EDQUOT)
    assert parse_size("2G") == 2 << 30 and parse_size("7") == 7 and parse_size("3KiB") == 3072
    for bad in ("bytes", "bytes=x", "nope=1", "files=1M", "full=EIO", "bytes=1,bytes=2"):
        with pytest.raises(ValueError):
            Quota.parse(bad)
    with pytest.raises(ValueError, match="Quota.files"):
        Quota(files=-1)
    with pytest.raises(ValueError, match="Rate.ops_per_s"):
        Rate(ops_per_s=0)
    with pytest.raises(TypeError):
        SandboxFileSystem(MemoryFileSystem(), quota=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="either cancel= or sleep="):
        SandboxFileSystem(MemoryFileSystem(), cancel=wasifs.CancelToken(), sleep=time.sleep)


def test_pickles_with_its_settings() -> None:
    import pickle

    sb = SandboxFileSystem(MemoryFileSystem(), readonly=True, hide=["x"],
                           quota=Quota(bytes=10), rate=Rate(ops_per_s=5))
    again = pickle.loads(pickle.dumps(sb))
    assert (again.readonly, again.hide, again.quota, again.rate) == (
        True, ("x",), Quota(bytes=10), Rate(ops_per_s=5))
