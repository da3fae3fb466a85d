"""Persistent mounts (wasifs.backends.browser) with a FileStore: what the browser's IndexedDB
and OPFS stores do, on a host file. The stores themselves run in tests/browser (Chromium)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

import wasifs
from wasifs.backends.browser import BrowserFileSystem, FileStore, WriteBackError, snapshot
from wasifs.backends.memory import MemoryFileSystem
from wasifs.toolchain import compile_c
from wasifs.trees import DIR, Link, read_tree, write_tree

GUEST = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    /* append argv[1] to /data/log.txt, fsync it, print the whole log */
    int fd = open("/data/log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) { perror("open"); return 1; }
    if (write(fd, argv[1], strlen(argv[1])) < 0 || write(fd, "\n", 1) < 0) { perror("write"); return 1; }
    if (fsync(fd) != 0) { perror("fsync"); return 3; }
    close(fd);
    FILE *f = fopen("/data/log.txt", "r");
    char line[256];
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    fclose(f);
    return 0;
}
"""


def _open(path: Path) -> BrowserFileSystem:
    return asyncio.run(BrowserFileSystem.open("t", store=FileStore(path)))


def test_snapshot_round_trip_keeps_tree_links_and_times(tmp_path: Path) -> None:
    src = MemoryFileSystem()
    write_tree(src, {"a/b.txt": b"\x00bin\xff", "a/empty/": DIR, "s": Link("a/b.txt"),
                     "t.txt": "text"})
    root = src.root()
    a = src.opendir(root, "a")
    src.link(a, "b.txt", root, "hard.txt")
    src.set_times(root, "t.txt", 1_000_000_000, 2_000_000_000)
    store = FileStore(tmp_path / "snap")
    store.save_sync(snapshot(src))
    back = _open(tmp_path / "snap")
    assert read_tree(back, text=False) == read_tree(src, text=False)
    r = back.root()
    assert back.lstat(r, "hard.txt").nlink == 2
    assert back.lstat(r, "t.txt").mtime_ns == 2_000_000_000


def test_a_guests_files_survive_into_the_next_mount(tmp_path: Path) -> None:
    wasm = compile_c(GUEST)
    first = _open(tmp_path / "data.snapshot")
    r = wasifs.run(wasm, args=["g", "one"], mounts={"/data": first})
    assert r.exit_code == 0 and r.stdout == b"one\n"
    assert not first.dirty  # written back at fsync and close
    second = _open(tmp_path / "data.snapshot")  # a new page, say
    r = wasifs.run(wasm, args=["g", "two"], mounts={"/data": second})
    assert r.stdout == b"one\ntwo\n"
    assert read_tree(_open(tmp_path / "data.snapshot")) == {"log.txt": "one\ntwo\n"}


def test_a_failed_write_back_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                         ) -> None:
    wasm = compile_c(GUEST)
    where = tmp_path / "gone"
    where.mkdir()
    fs = _open(where / "data.snapshot")
    os.rmdir(where)  # the store's directory disappears: every save fails
    with caplog.at_level(logging.ERROR, logger="wasifs"):
        r = wasifs.run(wasm, args=["g", "lost?"], mounts={"/data": fs})
    assert r.exit_code == 3  # fsync answered EIO
    assert b"fsync" in r.stderr
    assert fs.dirty and fs.write_back_errors
    assert "writing FileStore" in caplog.text
    with pytest.raises(WriteBackError, match="back failed"):
        asyncio.run(fs.flush())
    where.mkdir()  # the store is back: the next flush writes what the guest left
    asyncio.run(fs.flush())
    assert read_tree(_open(where / "data.snapshot")) == {"log.txt": "lost?\n"}
