"""Copying data and trees between backends through the protocol: the one tree copy.

Used by :mod:`wasifs.transfer` (``copy_in``/``copy_out``/``copy``), by the fsspec facade
(``cp_file``, ``rm``), and by the CLI (``--backend memory`` copies a host folder in,
``--write-back`` writes it back out with :func:`~wasifs.backends.mirror_tree`).

Data moves in :data:`CHUNK` pieces through one reused buffer. Trees are walked iteratively
(:class:`~wasifs.backends._walk.TreeWalk`), so a tree of any depth copies in time linear in
its size, with a bounded number of open handles.

:func:`copy_tree` merges: symlinks are copied as symlinks (their target verbatim, never
followed), directories are merged into existing ones, files and symlinks replace existing
files and symlinks atomically (the new entry is written under a temporary name and renamed
over the old one, so an error never leaves a half-written file or loses the old one; a
replaced file keeps its permission bits), and a symlink in the way of a directory is
replaced; a file in the way of a directory, or a directory in the way of a file or symlink,
is an error and nothing is deleted. Names that are hard links of one source file become hard
links of one copy (where the destination can link). Access and modification times of files,
directories and symlinks are kept where the destination can set them; new files get the
source's permission bits. FIFOs, sockets and devices are skipped. A :class:`Baseline`
records what was copied where, for a write-back later.
"""

from __future__ import annotations

import errno
import functools
import os
import stat as _stat
from collections.abc import Callable
from typing import Any

from ._errors import relabel
from ._protocol import Backend, Stat
from ._walk import DirChain, TreeWalk

__all__ = ("CHUNK", "BaseEntry", "Baseline", "copy_tree", "copy_file", "remove_entry",
           "clear_dir", "pump", "backend_reader", "backend_writer",
           "set_times_where_supported", "temp_name")

CHUNK = 1 << 20
#: a progress callback: called with the number of bytes just copied (``tqdm.update`` fits)
Progress = Callable[[int], object]

_NO_TIMES = frozenset(e for e in (getattr(errno, "ENOTSUP", None),
                                  getattr(errno, "EOPNOTSUPP", None),
                                  getattr(errno, "ENOSYS", None)) if e is not None)


# ------------------------------------------------------------------------------ data
def pump(read_into: Callable[[memoryview], int], write: Callable[[memoryview, int], None],
         buf: bytearray | None = None, progress: Progress | None = None) -> int:
    """Copy until ``read_into(view)`` returns 0, calling ``write(chunk, offset)`` for each
    chunk read; returns the number of bytes copied. ``buf`` is the reused buffer (a new
    :data:`CHUNK`-sized one by default); ``progress(n)`` is called after each chunk with
    its size."""
    view = memoryview(buf if buf is not None else bytearray(CHUNK))
    offset = 0
    try:
        while True:
            n = read_into(view)
            if not n:
                break
            write(view[:n], offset)
            offset += n
            if progress is not None:
                progress(n)
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
              dname: str, buf: bytearray | None = None, progress: Progress | None = None
              ) -> int:
    """Copy the regular file ``sname`` (its ``lstat`` is ``st``) to ``dname``, created with
    the source's permission bits or truncated, with the source's times; returns its size."""
    fin = sfs.open_file(sdir, sname, read=True, write=False)
    try:
        fout = dfs.open_file(ddir, dname, read=False, write=True, create=True, truncate=True,
                             mode=st.mode & 0o777)
        try:
            size = _copy_sparse(sfs, fin, dfs, fout, buf, progress)
            if size is None:
                size = pump(backend_reader(sfs, fin), backend_writer(dfs, fout), buf, progress)
            set_times_where_supported(dfs.fset_times, fout, st)
        finally:
            dfs.close(fout)
    finally:
        sfs.close(fin)
    return size


def _copy_sparse(sfs: Backend, fin: Any, dfs: Backend, fout: Any,
                 buf: bytearray | None, progress: Progress | None = None) -> int | None:
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
                if progress is not None:
                    progress(n)
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
class BaseEntry:
    """One entry of a :class:`Baseline`: the source's ``lstat`` when it was copied
    (``origin``), the copy's right after (``copy``), and for a directory its entries."""

    __slots__ = ("origin", "copy", "children")

    def __init__(self, origin: Stat, copy: Stat, children: dict[str, BaseEntry] | None
                 ) -> None:
        self.origin = origin
        self.copy = copy
        self.children = children


class Baseline:
    """What a :func:`copy_tree` copied where (``copy_tree(..., baseline=Baseline())``): for
    each entry copied, the source's ``lstat`` then and the copy's right after, as a tree of
    names (:attr:`root`). :func:`~wasifs.backends.mirror_tree` uses it to write a copy back
    without touching what was never copied (FIFOs, sockets, devices, files made on the
    source side since) and without overwriting what changed on the source side since."""

    def __init__(self) -> None:
        self.root: dict[str, BaseEntry] = {}

    def get(self, path: str) -> BaseEntry | None:
        """The entry at the relative path ``path`` (``"a/b"``), or None."""
        level: dict[str, BaseEntry] | None = self.root
        entry = None
        for name in path.split("/"):
            if level is None:
                return None
            entry = level.get(name)
            if entry is None:
                return None
            level = entry.children
        return entry

    def __len__(self) -> int:
        count = 0
        levels = [self.root]
        while levels:
            level = levels.pop()
            count += len(level)
            levels.extend(e.children for e in level.values() if e.children)
        return count


def _join(label: str, rel: str) -> str:
    if not label:
        return rel
    return label.rstrip("/") + "/" + rel if rel else label


#: Errors of ``link`` that mean "this filesystem cannot link here" (the data is copied).
NO_LINK = frozenset(e for e in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
                                getattr(errno, "ENOTSUP", None),
                                getattr(errno, "EOPNOTSUPP", None)) if e is not None)

_temp_serial = iter(range(1 << 62))


def temp_name() -> str:
    """A fresh name for an entry being written (``.wasifs-tmp-<random>-<n>``)."""
    return f".wasifs-tmp-{os.urandom(6).hex()}-{next(_temp_serial)}"


def _discard(fs: Backend, dir: Any, name: str) -> None:
    """Remove a half-made entry of ours, if it is there (best effort)."""
    try:
        remove_entry(fs, dir, name)
    except OSError:
        pass


def _merge_way(dfs: Backend, ddir: Any, name: str, kind: int) -> Stat | None:
    """What is at ``name`` when an entry of type ``kind`` is copied there, without deleting
    anything of value: a directory to merge into, a file or symlink to replace atomically
    (through a temporary name and a rename), or None. A directory in the way of a file or
    symlink, or a file in the way of a directory, is an error; a symlink in the way of a
    directory is removed."""
    try:
        old = dfs.lstat(ddir, name)
    except FileNotFoundError:
        return None
    if _stat.S_ISDIR(old.mode):
        if kind == _stat.S_IFDIR:
            return old
        raise OSError(errno.EISDIR, "a directory is in the way (not replaced)")
    if kind == _stat.S_IFDIR:
        if not _stat.S_ISLNK(old.mode):
            raise OSError(errno.ENOTDIR, "a file is in the way of a directory (not replaced)")
        dfs.unlink(ddir, name)
        return None
    if not (_stat.S_ISREG(old.mode) or _stat.S_ISLNK(old.mode)):
        raise OSError(errno.EEXIST, "a special file is in the way (not replaced)")
    return old


def _place(dfs: Backend, ddir: Any, name: str, old: Stat | None,
           make: Callable[[str], None]) -> None:
    """``make(n)`` creates the new entry under the name ``n``: at ``name`` itself when
    nothing is there, else under a temporary name renamed over ``old`` (atomically, so the
    old entry stays whole until the new one is). A half-made entry is removed on error."""
    target = name if old is None else temp_name()
    try:
        make(target)
        if old is not None:
            dfs.rename(ddir, target, ddir, name)
    except BaseException as exc:
        if not isinstance(exc, FileExistsError):  # not ours: something came in between
            _discard(dfs, ddir, target)
        raise


def _sync(src: Backend, sdir: Any, dst: Backend, ddir: Any, slabel: str, dlabel: str,
          buf: bytearray | None, baseline: Baseline | None,
          progress: Progress | None = None) -> int:
    if buf is None:
        buf = bytearray(CHUNK)
    schain = DirChain(src, sdir, owned=False)
    dchain = DirChain(dst, ddir, owned=False)
    walk = TreeWalk(schain, leave=True)
    times: list[Stat] = []  # of the source directories entered
    # the baseline's entries of each directory entered (None: no baseline)
    levels: list[dict[str, BaseEntry] | None] = [
        baseline.root if baseline is not None else None]
    # hard links: (dev, ino) of a source file -> where its first copy is in the destination
    firsts: dict[tuple[int, int], tuple[list[str], str]] = {}
    links = _LinkSource(dst)
    count = 0
    try:
        for name, st in walk:
            if st is None:  # the entries of the directory `name` are done
                set_times_where_supported(dst.fset_times, dchain.top, times.pop())
                dchain.pop()
                levels.pop()
                continue
            kind = _stat.S_IFMT(st.mode)
            if kind not in (_stat.S_IFDIR, _stat.S_IFREG, _stat.S_IFLNK):
                continue  # FIFOs, sockets, devices
            count += 1
            ddir_now = dchain.top
            old = _merge_way(dst, ddir_now, name, kind)
            if kind == _stat.S_IFDIR:
                if old is None:
                    dst.mkdir(ddir_now, name)
                _record(levels, dst, ddir_now, name, st, directory=True)
                dchain.push(dst.opendir(ddir_now, name), name)
                times.append(st)
                continue
            if kind == _stat.S_IFLNK:
                target = src.readlink(schain.top, name)
                if old is not None and _stat.S_ISLNK(old.mode) and \
                        dst.readlink(ddir_now, name) == target:
                    _record(levels, dst, ddir_now, name, st)
                    continue
                _place(dst, ddir_now, name, old,
                       functools.partial(_make_symlink, dst, target, ddir_now, st))
            else:
                key = (st.dev, st.ino)
                first = firsts.get(key) if st.nlink > 1 else None
                if first is None or not _link_copy(dst, ddir, dchain, links, first, name,
                                                     old):
                    mode = st if old is None or not _stat.S_ISREG(old.mode) else \
                        st._replace(mode=(st.mode & ~0o7777) | (old.mode & 0o7777))
                    _place(dst, ddir_now, name, old, functools.partial(
                        _make_copy, src, schain.top, name, mode, dst, ddir_now, buf, progress))
                    if st.nlink > 1:
                        firsts.setdefault(key, (list(dchain.names), name))
            _record(levels, dst, ddir_now, name, st)
    except OSError as exc:
        rel = walk.where()
        raise relabel(exc, _join(slabel, rel), _join(dlabel, rel)) from None
    finally:
        links.close()
        dchain.close()
        schain.close()
    return count


def _make_symlink(dst: Backend, target: str, ddir: Any, st: Stat, name: str) -> None:
    dst.symlink(target, ddir, name)
    set_times_where_supported(functools.partial(dst.set_times, ddir), name, st)


def _make_copy(src: Backend, sdir: Any, sname: str, st: Stat, dst: Backend, ddir: Any,
               buf: bytearray, progress: Progress | None, name: str) -> None:
    copy_file(src, sdir, sname, st, dst, ddir, name, buf, progress)


def _record(levels: list[dict[str, BaseEntry] | None], dst: Backend, ddir: Any, name: str,
            st: Stat, *, directory: bool = False) -> None:
    """Note in the baseline (if any) that ``name`` was copied from an entry with ``st``; a
    directory's entries are noted in the level pushed for it."""
    level = levels[-1]
    if level is None:
        if directory:
            levels.append(None)
        return
    children: dict[str, BaseEntry] | None = {} if directory else None
    level[name] = BaseEntry(st, dst.lstat(ddir, name), children)
    if directory:
        levels.append(children)


class _LinkSource:
    """The directory of the first copy of a hard-linked file, kept open while the next
    names link to it (one walk from the destination's base per first copy)."""

    __slots__ = ("fs", "parts", "handles")

    def __init__(self, fs: Backend) -> None:
        self.fs = fs
        self.parts: list[str] | None = None
        self.handles: list[Any] = []

    def at(self, base: Any, parts: list[str]) -> Any:
        if parts != self.parts:
            self.close()
            for part in parts:
                self.handles.append(self.fs.opendir(self.handles[-1] if self.handles
                                                    else base, part))
            self.parts = parts
        return self.handles[-1] if self.handles else base

    def close(self) -> None:
        handles, self.handles, self.parts = self.handles, [], None
        for h in reversed(handles):
            self.fs.close(h)


def _link_copy(dst: Backend, ddir: Any, dchain: DirChain, links: _LinkSource,
               first: tuple[list[str], str], name: str, old: Stat | None) -> bool:
    """Make ``name`` in ``dchain.top`` a hard link of the first copy of the same source
    file (``first``: its directory below ``ddir`` and name); False when the destination
    cannot link there (the caller copies the data)."""
    parts, first_name = first
    try:
        src_dir = dchain.top if parts == dchain.names else links.at(ddir, parts)
        _place(dst, dchain.top, name, old,
               lambda n: dst.link(src_dir, first_name, dchain.top, n))
        return True
    except NotImplementedError:
        return False
    except OSError as exc:
        if exc.errno in NO_LINK:
            return False
        raise


def copy_tree(src: Backend, sdir: Any, dst: Backend, ddir: Any, *, slabel: str = "",
              dlabel: str = "", buf: bytearray | None = None,
              baseline: Baseline | None = None, progress: Progress | None = None) -> int:
    """Copy everything inside the directory ``sdir`` of ``src`` into the directory ``ddir``
    of ``dst``, merging (see the module docstring; the times of ``ddir`` itself are left
    alone). Returns the number of entries copied. An error names the entry in both trees,
    from ``slabel`` and ``dlabel``. ``baseline``: a :class:`Baseline` that records what
    was copied where (for a later :func:`~wasifs.backends.mirror_tree` back).
    ``progress(n)`` is called as file data is copied (``n`` bytes at a time)."""
    return _sync(src, sdir, dst, ddir, slabel, dlabel, buf, baseline, progress)
