"""The native backend's directory cache: a directory handle kept between calls is lent again
only while its name still leads to it, so a host rename, removal or swap never lets a kept
handle reach anything a fresh ``openat`` of the name would not (see
``NativeFileSystem.opendir``)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import wasifs
from wasifs.backends.native import NativeDir, NativeFileSystem
from wasifs.toolchain import compile_c

SENTINEL = b"outside: must not be read\n"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, Path, NativeFileSystem, NativeDir]]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(SENTINEL)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "inside").write_bytes(b"in\n")
    fs = NativeFileSystem(root)
    r = fs.root()
    yield root, outside, fs, r
    fs.close(r)


def _kept(fs: NativeFileSystem, r: NativeDir, name: str) -> NativeDir:
    """Open ``name`` and give it back: the backend keeps it for the next lookup."""
    d = fs.opendir(r, name)
    fs.close(d)
    again = fs.opendir(r, name)
    assert again is d and not d.closed  # lent again, not reopened
    fs.close(again)
    return d


def test_a_kept_directory_swapped_for_a_symlink_is_never_lent(world: tuple[
        Path, Path, NativeFileSystem, NativeDir]) -> None:
    root, outside, fs, r = world
    kept = _kept(fs, r, "sub")
    os.rename(root / "sub", outside / "moved")           # the host moves it outside
    os.symlink(str(outside / "moved"), root / "sub")     # and plants a symlink there
    with pytest.raises(OSError) as ei:
        fs.opendir(r, "sub")
    assert ei.value.errno == errno.ELOOP
    assert kept.closed  # dropped from the cache and closed (nobody had it on loan)
    assert (outside / "secret").read_bytes() == SENTINEL


def test_a_kept_directory_moved_out_is_not_found(world: tuple[
        Path, Path, NativeFileSystem, NativeDir]) -> None:
    root, outside, fs, r = world
    kept = _kept(fs, r, "sub")
    os.rename(root / "sub", outside / "moved")
    with pytest.raises(FileNotFoundError):
        fs.opendir(r, "sub")
    assert kept.closed


def test_a_directory_replaced_under_its_name_is_opened_anew(world: tuple[
        Path, Path, NativeFileSystem, NativeDir]) -> None:
    root, outside, fs, r = world
    kept = _kept(fs, r, "sub")
    os.rename(root / "sub", root / "old")
    (root / "sub").mkdir()
    (root / "sub" / "fresh").write_bytes(b"")
    d = fs.opendir(r, "sub")
    try:
        assert d is not kept and kept.closed
        assert [e.name for e in fs.listdir(d)] == ["fresh"]
    finally:
        fs.close(d)
    # an outside directory moved in under the name is a new directory too: a fresh open
    os.rename(root / "sub", root / "other")
    os.rename(outside, root / "sub")
    d = fs.opendir(r, "sub")
    try:
        assert {e.name for e in fs.listdir(d)} == {"secret"}  # what openat would give now
    finally:
        fs.close(d)


def test_a_lent_directory_outlives_its_drop(world: tuple[
        Path, Path, NativeFileSystem, NativeDir]) -> None:
    """A handle dropped from the cache while lent stays usable until given back."""
    root, _outside, fs, r = world
    d = fs.opendir(r, "sub")
    os.rename(root / "sub", root / "moved")
    os.mkdir(root / "sub")
    other = fs.opendir(r, "sub")  # a new directory: the old entry is dropped
    try:
        assert not d.closed
        assert [e.name for e in fs.listdir(d)] == ["inside"]
    finally:
        fs.close(other)
        fs.close(d)
    assert d.closed


def test_mode_change_reopens(world: tuple[Path, Path, NativeFileSystem, NativeDir]) -> None:
    root, _outside, fs, r = world
    kept = _kept(fs, r, "sub")
    os.chmod(root / "sub", 0o711)
    d = fs.opendir(r, "sub")
    try:
        assert d is not kept and kept.closed
    finally:
        fs.close(d)
        os.chmod(root / "sub", 0o755)


def test_forget_dirs_and_the_root_handle_release_the_cache(world: tuple[
        Path, Path, NativeFileSystem, NativeDir]) -> None:
    _root, _outside, fs, r = world
    kept = _kept(fs, r, "sub")
    fs.forget_dirs()
    assert kept.closed
    kept = _kept(fs, r, "sub")
    other_root = fs.root()
    fs.close(other_root)  # a root handle given back (a run ended): nothing is kept
    assert kept.closed


GUEST = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    struct stat st;
    char c, buf[64];
    /* twice, so that the backend keeps "sub" and lends it again */
    if (stat("/bench/sub/inside", &st) != 0 || stat("/bench/sub/inside", &st) != 0) {
        printf("setup %s\n", strerror(errno));
        return 2;
    }
    if (read(0, &c, 1) != 1) return 3;   /* the host swaps sub for a symlink meanwhile */
    int fd = open("/bench/sub/secret", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        printf("ESCAPED %s\n", buf);
        return 1;
    }
    printf("open refused\n");
    if (stat("/bench/sub/secret", &st) == 0) { printf("ESCAPED stat\n"); return 1; }
    printf("stat refused\n");
    fd = open("/bench/sub/planted", O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0) { printf("ESCAPED create\n"); return 1; }
    printf("create refused\n");
    if (unlink("/bench/sub/secret") == 0) { printf("ESCAPED unlink\n"); return 1; }
    printf("unlink refused\n");
    return 0;
}
"""


def test_a_guest_never_reaches_through_a_kept_directory_the_host_swapped(
        tmp_path: Path) -> None:
    """Through ``wasifs.run``: the guest's lookups keep ``sub`` open in the backend; the host
    moves it outside the root and plants a symlink to it; the guest's next calls through
    ``sub`` are all refused and nothing outside changes."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "inside").write_bytes(b"in\n")
    (root / "sub" / "secret").write_bytes(SENTINEL)

    def stdin() -> Iterator[bytes]:
        os.rename(root / "sub", outside / "moved")
        os.symlink(str(outside / "moved"), root / "sub")
        yield b"x"

    result = wasifs.run(compile_c(GUEST), mounts={"/bench": NativeFileSystem(root)},
                        stdin=stdin())
    out = bytes(result.stdout).decode()
    assert result.exit_code == 0, out + bytes(result.stderr).decode()
    assert out.splitlines() == ["open refused", "stat refused", "create refused",
                                "unlink refused"]
    assert sorted(p.name for p in (outside / "moved").iterdir()) == ["inside", "secret"]
    assert (outside / "moved" / "secret").read_bytes() == SENTINEL
