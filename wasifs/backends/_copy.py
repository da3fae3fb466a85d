"""Copying trees between backends through the protocol (used for ``--backend memory`` copies
and ``--write-back``): files in chunks, directories, symlinks, modification times."""

from __future__ import annotations

import errno
import stat as _stat
from typing import Any

from ._protocol import Backend

__all__ = ("copy_tree", "mirror_tree", "CHUNK")

CHUNK = 1 << 20


def _copy_file(src: Backend, sdir: Any, dst: Backend, ddir: Any, name: str) -> None:
    fin = src.open_file(sdir, name, read=True, write=False)
    try:
        fout = dst.open_file(ddir, name, read=False, write=True, create=True, truncate=True)
        try:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            offset = 0
            while True:
                n = src.pread(fin, view, offset)
                if n <= 0:
                    break
                dst.pwrite(fout, view[:n], offset)
                offset += n
            st = src.fstat(fin)
            dst.fset_times(fout, st.atime_ns, st.mtime_ns)
        finally:
            dst.close(fout)
    finally:
        src.close(fin)


def copy_tree(src: Backend, sdir: Any, dst: Backend, ddir: Any) -> int:
    """Copy everything inside directory ``sdir`` of ``src`` into ``ddir`` of ``dst``
    (existing entries are replaced). Returns the number of entries copied."""
    count = 0
    for entry in src.listdir(sdir):
        name = entry.name
        st = src.lstat(sdir, name)
        mode = st.mode
        count += 1
        if _stat.S_ISDIR(mode):
            try:
                dst.mkdir(ddir, name)
            except FileExistsError:
                if not _stat.S_ISDIR(dst.lstat(ddir, name).mode):
                    dst.unlink(ddir, name)
                    dst.mkdir(ddir, name)
            s2 = src.opendir(sdir, name)
            try:
                d2 = dst.opendir(ddir, name)
                try:
                    count += copy_tree(src, s2, dst, d2)
                finally:
                    dst.close(d2)
            finally:
                src.close(s2)
            dst.set_times(ddir, name, st.atime_ns, st.mtime_ns)
        elif _stat.S_ISLNK(mode):
            _remove_any(dst, ddir, name)
            dst.symlink(src.readlink(sdir, name), ddir, name)
        elif _stat.S_ISREG(mode):
            try:
                if not _stat.S_ISREG(dst.lstat(ddir, name).mode):
                    _remove_any(dst, ddir, name)
            except FileNotFoundError:
                pass
            _copy_file(src, sdir, dst, ddir, name)
        else:
            count -= 1  # devices, fifos, sockets: not copied
    return count


def _remove_any(b: Backend, d: Any, name: str) -> None:
    try:
        st = b.lstat(d, name)
    except FileNotFoundError:
        return
    if _stat.S_ISDIR(st.mode):
        sub = b.opendir(d, name)
        try:
            for e in b.listdir(sub):
                _remove_any(b, sub, e.name)
        finally:
            b.close(sub)
        b.rmdir(d, name)
    else:
        b.unlink(d, name)


def mirror_tree(src: Backend, sdir: Any, dst: Backend, ddir: Any) -> None:
    """Make ``ddir`` hold exactly what ``sdir`` holds: copy what is new or changed and
    delete what ``sdir`` no longer has (the ``--write-back`` step)."""
    wanted = {e.name for e in src.listdir(sdir)}
    for e in dst.listdir(ddir):
        if e.name not in wanted:
            _remove_any(dst, ddir, e.name)
    for name in sorted(wanted):
        st = src.lstat(sdir, name)
        try:
            dt = dst.lstat(ddir, name)
        except FileNotFoundError:
            dt = None
        if _stat.S_ISDIR(st.mode):
            if dt is not None and not _stat.S_ISDIR(dt.mode):
                _remove_any(dst, ddir, name)
                dt = None
            if dt is None:
                dst.mkdir(ddir, name)
            s2, d2 = src.opendir(sdir, name), dst.opendir(ddir, name)
            try:
                mirror_tree(src, s2, dst, d2)
            finally:
                src.close(s2)
                dst.close(d2)
        elif _stat.S_ISLNK(st.mode):
            target = src.readlink(sdir, name)
            if dt is not None and _stat.S_ISLNK(dt.mode) and dst.readlink(ddir, name) == target:
                continue
            _remove_any(dst, ddir, name)
            dst.symlink(target, ddir, name)
        elif _stat.S_ISREG(st.mode):
            if dt is not None and not _stat.S_ISREG(dt.mode):
                _remove_any(dst, ddir, name)
                dt = None
            if dt is not None and dt.size == st.size and dt.mtime_ns == st.mtime_ns:
                continue
            _copy_file(src, sdir, dst, ddir, name)
        else:
            raise OSError(errno.EINVAL, f"cannot write back a special file: {name}")
