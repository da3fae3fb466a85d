"""Copying data and trees between backends through the protocol: the one tree copy.

Used by :mod:`wasifs.transfer` (``copy_in``/``copy_out``/``copy``), by the fsspec facade
(``cp_file``, ``rm``), and by the CLI (``--backend memory`` copies a host folder in,
``--write-back`` mirrors it back out).

Data moves in :data:`CHUNK` pieces through one reused buffer. Trees are walked iteratively
(:class:`~wasifs.backends._walk.TreeWalk`), so a tree of any depth copies in time linear in
its size, with a bounded number of open handles.

:func:`copy_tree` merges: symlinks are copied as symlinks (their target verbatim, never
followed), directories are merged into existing ones, files overwrite existing files (keeping
no old data), and a symlink in the way of a new entry is replaced; a file in the way of a
directory, or a directory in the way of a file or symlink, is an error and nothing is
deleted. Access and modification times of files, directories and symlinks are kept where the
destination can set them; new files get the source's permission bits. FIFOs, sockets and
devices are skipped. :func:`mirror_tree` makes the destination hold exactly what the source
holds (replacing and deleting what is in the way, leaving unchanged files alone).
"""

from __future__ import annotations

import errno
import functools
import stat as _stat
from collections.abc import Callable
from typing import Any

from ._errors import relabel
from ._protocol import Backend, Stat
from ._walk import DirChain, TreeWalk

__all__ = ("CHUNK", "copy_tree", "mirror_tree", "copy_file", "remove_entry", "clear_dir",
           "pump", "backend_reader", "backend_writer", "set_times_where_supported")

CHUNK = 1 << 20

_NO_TIMES = frozenset(e for e in (getattr(errno, "ENOTSUP", None),
                                  getattr(errno, "EOPNOTSUPP", None),
                                  getattr(errno, "ENOSYS", None)) if e is not None)


# ------------------------------------------------------------------------------ data
def pump(read_into: Callable[[memoryview], int], write: Callable[[memoryview, int], None],
         buf: bytearray | None = None) -> int:
    """Copy until ``read_into(view)`` returns 0, calling ``write(chunk, offset)`` for each
    chunk read; returns the number of bytes copied. ``buf`` is the reused buffer (a new
    :data:`CHUNK`-sized one by default)."""
    view = memoryview(buf if buf is not None else bytearray(CHUNK))
    offset = 0
    try:
        while True:
            n = read_into(view)
            if not n:
                break
            write(view[:n], offset)
            offset += n
    finally:
        view.release()
    return offset


def backend_reader(fs: Backend, handle: Any, label: str | None = None
                   ) -> Callable[[memoryview], int]:
    """``read_into(view)``: the next bytes of an open backend file, from offset 0 on (an
    error names ``label`` when given)."""
    offset = 0

    def read_into(view: memoryview) -> int:
        nonlocal offset
        try:
            n = int(fs.pread(handle, view, offset))
        except OSError as exc:
            if label is None:
                raise
            raise relabel(exc, label) from None
        offset += n
        return n

    return read_into


def backend_writer(fs: Backend, handle: Any, label: str | None = None
                   ) -> Callable[[memoryview, int], None]:
    """``write(chunk, offset)``: all of ``chunk`` written at ``offset`` of an open backend
    file (an error names ``label`` when given)."""
    def write(chunk: memoryview, offset: int) -> None:
        done = 0
        total = len(chunk)
        try:
            while done < total:
                n = int(fs.pwrite(handle, chunk[done:], offset + done))
                if n <= 0:
                    raise OSError(errno.EIO, "the backend wrote nothing")
                done += n
        except OSError as exc:
            if label is None:
                raise
            raise relabel(exc, label) from None
    return write


def set_times_where_supported(setter: Callable[[Any, int, int], None], target: Any,
                              st: Stat) -> None:
    """``setter(target, atime, mtime)`` with the times of ``st``, where the backend can set
    times (a backend without them is skipped quietly)."""
    try:
        setter(target, st.atime_ns, st.mtime_ns)
    except NotImplementedError:
        pass
    except OSError as exc:
        if exc.errno not in _NO_TIMES:
            raise


def copy_file(sfs: Backend, sdir: Any, sname: str, st: Stat, dfs: Backend, ddir: Any,
              dname: str, buf: bytearray | None = None) -> int:
    """Copy the regular file ``sname`` (its ``lstat`` is ``st``) to ``dname``, created with
    the source's permission bits or truncated, with the source's times; returns its size."""
    fin = sfs.open_file(sdir, sname, read=True, write=False)
    try:
        fout = dfs.open_file(ddir, dname, read=False, write=True, create=True, truncate=True,
                             mode=st.mode & 0o777)
        try:
            size = _copy_sparse(sfs, fin, dfs, fout, buf)
            if size is None:
                size = pump(backend_reader(sfs, fin), backend_writer(dfs, fout), buf)
            set_times_where_supported(dfs.fset_times, fout, st)
        finally:
            dfs.close(fout)
    finally:
        sfs.close(fin)
    return size


def _copy_sparse(sfs: Backend, fin: Any, dfs: Backend, fout: Any,
                 buf: bytearray | None) -> int | None:
    """Copy a file with holes (a source that can say where its data is, an ``extents``
    method) as a sparse file: only the data, then the size; the holes are left to the
    destination, in time and space proportional to the data. None when the source cannot
    tell, or has no hole: the caller copies every byte."""
    extents = getattr(sfs, "extents", None)
    if extents is None:
        return None
    ranges: list[tuple[int, int]] = extents(fin)
    size = sfs.fstat(fin).size
    if sum(length for _, length in ranges) >= size:
        return None
    view = memoryview(buf if buf is not None else bytearray(CHUNK))
    write = backend_writer(dfs, fout)
    try:
        for start, length in ranges:
            done = 0
            while done < length:
                n = int(sfs.pread(fin, view[:min(len(view), length - done)], start + done))
                if n <= 0:
                    break
                write(view[:n], start + done)
                done += n
    finally:
        view.release()
    dfs.ftruncate(fout, size)
    return size


# ------------------------------------------------------------------------------ removing
def clear_dir(fs: Backend, handle: Any, *, max_depth: int | None = None) -> None:
    """Remove everything inside the directory ``handle``, ``max_depth`` levels deep (None:
    all; a directory deeper than that fails with ``ENOTEMPTY`` unless empty)."""
    chain = DirChain(fs, handle, owned=False)
    try:
        for name, st in TreeWalk(chain, max_depth=max_depth, leave=True):
            if st is None:
                fs.rmdir(chain.top, name)
            elif not _stat.S_ISDIR(st.mode):
                fs.unlink(chain.top, name)
    finally:
        chain.close()


def remove_entry(fs: Backend, dir: Any, name: str) -> None:
    """Remove ``name`` in ``dir`` whatever it is, a directory with everything inside it
    included (nothing when it does not exist)."""
    try:
        st = fs.lstat(dir, name)
    except FileNotFoundError:
        return
    if not _stat.S_ISDIR(st.mode):
        fs.unlink(dir, name)
        return
    sub = fs.opendir(dir, name)
    try:
        clear_dir(fs, sub)
    finally:
        fs.close(sub)
    fs.rmdir(dir, name)


# ------------------------------------------------------------------------------ trees
def _join(label: str, rel: str) -> str:
    if not label:
        return rel
    return label.rstrip("/") + "/" + rel if rel else label


def _merge_way(dfs: Backend, ddir: Any, name: str, kind: int) -> Stat | None:
    """Make room for an entry of type ``kind`` at ``name`` without deleting anything of
    value: returns what stays there (a directory to merge into, a file to overwrite) or
    None. Only a symlink (or a file, for a symlink) is removed."""
    try:
        old = dfs.lstat(ddir, name)
    except FileNotFoundError:
        return None
    if _stat.S_ISDIR(old.mode):
        if kind == _stat.S_IFDIR:
            return old
        raise OSError(errno.EISDIR, "a directory is in the way (not replaced)")
    if kind == _stat.S_IFDIR and not _stat.S_ISLNK(old.mode):
        raise OSError(errno.ENOTDIR, "a file is in the way of a directory (not replaced)")
    if kind == _stat.S_IFREG and _stat.S_ISREG(old.mode):
        return old  # overwritten in place (truncated)
    dfs.unlink(ddir, name)
    return None


def _mirror_way(dfs: Backend, ddir: Any, name: str, kind: int) -> Stat | None:
    """Make room for an entry of type ``kind`` at ``name``: returns what stays there (an
    entry of the same type) or None; anything else there is removed."""
    try:
        old = dfs.lstat(ddir, name)
    except FileNotFoundError:
        return None
    if _stat.S_IFMT(old.mode) == kind:
        return old
    remove_entry(dfs, ddir, name)
    return None


def _sync(src: Backend, sdir: Any, dst: Backend, ddir: Any, slabel: str, dlabel: str,
          buf: bytearray | None, mirror: bool) -> int:
    if buf is None:
        buf = bytearray(CHUNK)
    schain = DirChain(src, sdir, owned=False)
    dchain = DirChain(dst, ddir, owned=False)
    walk = TreeWalk(schain, leave=True)
    make_way = _mirror_way if mirror else _merge_way
    times: list[Stat] = []  # of the source directories entered
    seen: list[set[str]] = [set()]  # names in each source directory entered (mirror)
    count = 0
    try:
        for name, st in walk:
            if st is None:  # the entries of the directory `name` are done
                if mirror:
                    _remove_others(dst, dchain.top, seen.pop())
                set_times_where_supported(dst.fset_times, dchain.top, times.pop())
                dchain.pop()
                continue
            if mirror:
                seen[-1].add(name)
            kind = _stat.S_IFMT(st.mode)
            if kind not in (_stat.S_IFDIR, _stat.S_IFREG, _stat.S_IFLNK):
                if mirror:
                    raise OSError(errno.EINVAL, "cannot write back a special file")
                continue  # FIFOs, sockets, devices
            count += 1
            ddir_now = dchain.top
            old = make_way(dst, ddir_now, name, kind)
            if kind == _stat.S_IFDIR:
                if old is None:
                    dst.mkdir(ddir_now, name)
                dchain.push(dst.opendir(ddir_now, name), name)
                times.append(st)
                if mirror:
                    seen.append(set())
            elif kind == _stat.S_IFLNK:
                target = src.readlink(schain.top, name)
                if old is not None:
                    if dst.readlink(ddir_now, name) == target:
                        continue
                    dst.unlink(ddir_now, name)
                dst.symlink(target, ddir_now, name)
                set_times_where_supported(functools.partial(dst.set_times, ddir_now), name, st)
            else:
                if mirror and old is not None and old.size == st.size and \
                        old.mtime_ns == st.mtime_ns:
                    continue
                copy_file(src, schain.top, name, st, dst, ddir_now, name, buf)
        if mirror:
            _remove_others(dst, ddir, seen.pop())
    except OSError as exc:
        rel = walk.where()
        raise relabel(exc, _join(slabel, rel), _join(dlabel, rel)) from None
    finally:
        dchain.close()
        schain.close()
    return count


def _remove_others(dst: Backend, ddir: Any, keep: set[str]) -> None:
    for entry in dst.listdir(ddir):
        if entry.name not in keep:
            remove_entry(dst, ddir, entry.name)


def copy_tree(src: Backend, sdir: Any, dst: Backend, ddir: Any, *, slabel: str = "",
              dlabel: str = "", buf: bytearray | None = None) -> int:
    """Copy everything inside the directory ``sdir`` of ``src`` into the directory ``ddir``
    of ``dst``, merging (see the module docstring; the times of ``ddir`` itself are left
    alone). Returns the number of entries copied. An error names the entry in both trees,
    from ``slabel`` and ``dlabel``."""
    return _sync(src, sdir, dst, ddir, slabel, dlabel, buf, mirror=False)


def mirror_tree(src: Backend, sdir: Any, dst: Backend, ddir: Any, *, slabel: str = "",
                dlabel: str = "", buf: bytearray | None = None) -> int:
    """Make ``ddir`` hold exactly what ``sdir`` holds (the ``--write-back`` step): copy what
    is new or changed (a file whose size and modification time match is left alone),
    replace what is of another type, delete what ``sdir`` no longer has. A special file in
    ``sdir`` is an error (``EINVAL``). Returns the number of entries in ``sdir``."""
    return _sync(src, sdir, dst, ddir, slabel, dlabel, buf, mirror=True)
