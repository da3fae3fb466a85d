"""Moving files and trees between the host and a backend, and fingerprints of trees.

- :func:`copy_in` copies a host file or directory (or a binary file object) to a
  :class:`~wasifs.path.Path`;
- :func:`copy_out` copies a :class:`~wasifs.path.Path` to a host file or directory (or into
  a binary file object);
- :func:`copy` copies between two :class:`~wasifs.path.Path` objects, of any backends;
- :func:`snapshot` describes a tree (type, size, SHA-256, symlink target per relative path)
  so that tests can compare trees with ``==``.

Data is streamed in ``CHUNK`` (1 MiB) pieces through one reused buffer, so copying a
multi-gigabyte file takes constant memory. Trees are walked iteratively, so a tree of any
depth copies (and snapshots) in time linear in its size. Inside a tree (the tree copy is
:func:`wasifs.backends.copy_tree`, shared with the CLI), symlinks are copied as symlinks
(their target verbatim, never followed), directories are merged into existing ones, files
replace existing files (written under a temporary name and renamed over them, so an error
never leaves a half-written file or loses the old one), and a symlink in the way of a new
entry is replaced; a file in the way of a directory, or a directory in the way of a file or
symlink, is an error and nothing is deleted. Hard links stay hard links. Modification and access times of files, directories and
symlinks are preserved; new files get the source's permission bits (subject to the host's
umask on a host directory). FIFOs, sockets and devices are skipped.

The path given as the source or destination itself is followed if it is a symlink (as
``cp`` follows its operands); only the entries below it are copied as they are. The host
side of a tree copy is read and written through a :class:`~wasifs.backends.native.
NativeFileSystem` on that directory, so nothing in the copied tree (a symlink planted by a
guest, say) can make the copy touch a host file outside the destination.

Each function holds advisory locks (:func:`wasifs.lock`) while it runs: shared on the tree it
reads, exclusive on the tree it writes, taken together, so that host threads copying into and
snapshotting one tree do not interleave.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat as _stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

from .backends import (
    CHUNK,
    Backend,
    DirChain,
    LockRequest,
    Progress,
    Stat,
    TreeWalk,
    backend_reader,
    backend_writer,
    copy_tree,
    host_request,
    lock_request,
    locking,
    pump,
    relabel,
    set_times_where_supported,
    temp_name,
)
from .path import Path, _same_fs

__all__ = ("CHUNK", "Entry", "copy", "copy_in", "copy_out", "snapshot")


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _Writable(Protocol):
    def write(self, data: Any, /) -> int | None: ...


# ------------------------------------------------------------------------------ entries
@dataclass(frozen=True)
class Entry:
    """One entry of a :func:`snapshot`.

    ``type`` is ``"file"``, ``"dir"``, ``"symlink"`` or ``"other"`` (FIFO, socket, device);
    ``size`` the file's size in bytes (0 for directories, the target's length for symlinks);
    ``sha256`` the hex digest of a file's contents (None otherwise); ``target`` a symlink's
    target, verbatim (None otherwise). Times and permission bits are left out on purpose:
    they differ between backends (a host's umask) for identical trees.
    """

    type: Literal["file", "dir", "symlink", "other"]
    size: int = 0
    sha256: str | None = None
    target: str | None = None


def _digest(fs: Backend, handle: Any, buf: bytearray) -> tuple[int, str]:
    h = hashlib.sha256()
    offset = 0
    with memoryview(buf) as view:
        while True:
            n = fs.pread(handle, view, offset)
            if n <= 0:
                break
            h.update(view[:n])
            offset += n
    return offset, h.hexdigest()


def _entry(fs: Backend, d: Any, name: str, st: Stat, buf: bytearray) -> Entry:
    mode = st.mode
    if _stat.S_ISDIR(mode):
        return Entry("dir")
    if _stat.S_ISLNK(mode):
        target = fs.readlink(d, name)
        return Entry("symlink", len(os.fsencode(target)), None, target)
    if _stat.S_ISREG(mode):
        handle = fs.open_file(d, name, read=True, write=False)
        try:
            size, digest = _digest(fs, handle, buf)
        finally:
            fs.close(handle)
        return Entry("file", size, digest)
    return Entry("other")


def _locks(reads: object = None, writes: object = None) -> list[LockRequest]:
    """The advisory locks (:func:`wasifs.lock`) a transfer takes: shared on what it reads,
    exclusive on what it writes (a :class:`Path` or a host path; file objects take none)."""
    out = []
    for where, shared in ((reads, True), (writes, False)):
        if isinstance(where, Path):
            out.append(lock_request(where.fs, str(where), shared=shared))
        elif isinstance(where, (str, os.PathLike)):
            out.append(host_request(where, shared=shared))
    return out


@locking(lambda path: _locks(reads=path))
def snapshot(path: Path) -> dict[str, Entry]:
    """Describe the tree at ``path``: relative POSIX paths (``"a"``, ``"a/b.txt"``; the
    directory itself is not listed) mapped to :class:`Entry`, sorted by path. When ``path``
    is not a directory the result has the single key ``"."``. Symlinks below ``path`` are
    described, not followed; ``path`` itself is followed if it is a symlink. Iterative: a
    tree of any depth."""
    fs = path.fs
    buf = bytearray(CHUNK)
    out: dict[str, Entry] = {}
    label = str(path)
    with path._locate(True) as loc:
        try:
            if loc.name is not None:
                st = path._located_stat(loc)
                if not _stat.S_ISDIR(st.mode):
                    return {".": _entry(fs, loc.dir, loc.name, st, buf)}
                loc.descend()
        except OSError as exc:
            raise relabel(exc, label) from None
        chain = DirChain(fs, loc.dir, owned=False)
        walk = TreeWalk(chain)
        try:
            for name, entry_st in walk:
                assert entry_st is not None
                out[walk.where()] = _entry(fs, chain.top, name, entry_st, buf)
        except OSError as exc:
            raise relabel(exc, _join(label, walk.where())) from None
        finally:
            chain.close()
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------ copying
def _join(label: str, name: str) -> str:
    return label.rstrip("/") + "/" + name if name else label


def _copy_dir(sfs: Backend, sdir: Any, slabel: str, dest: Path, st: Stat,
              buf: bytearray, progress: Progress | None = None) -> None:
    """Copy the directory ``sdir`` (its ``st``) to ``dest``, creating or merging it."""
    dest.mkdir(parents=True, exist_ok=True)
    dfs = dest.fs
    with dest._locate(True) as loc:
        if loc.name is not None:
            loc.descend()
        copy_tree(sfs, sdir, dfs, loc.dir, slabel=slabel, dlabel=str(dest), buf=buf,
                  progress=progress)
        try:
            set_times_where_supported(dfs.fset_times, loc.dir, st)
        except OSError as exc:
            raise relabel(exc, str(dest)) from None


def _dest_file(dest: Path, mode: int) -> Any:
    """A handle on ``dest`` created or truncated (a symlink at ``dest`` is followed)."""
    return dest._open_handle(read=False, write=True, create=True, truncate=True, mode=mode)


def _stream_in(read_into: Callable[[memoryview], int], dest: Path, buf: bytearray,
               times: Stat | None, mode: int = 0o666, progress: Progress | None = None
               ) -> int:
    dfs = dest.fs
    handle = _dest_file(dest, mode)
    try:
        try:
            count = pump(read_into, backend_writer(dfs, handle), buf, progress)
            if times is not None:
                set_times_where_supported(dfs.fset_times, handle, times)
        except OSError as exc:
            raise relabel(exc, str(dest)) from None
    finally:
        dfs.close(handle)
    return count


def _reader(fileobj: Any) -> Callable[[memoryview], int]:
    readinto = getattr(fileobj, "readinto", None)
    if readinto is not None:
        def read_into(view: memoryview) -> int:
            n = readinto(view)
            return int(n or 0)
        return read_into
    read = fileobj.read

    def read_chunks(view: memoryview) -> int:
        data = read(len(view))
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"copy_in needs a binary file object; read() returned "
                            f"{type(data).__name__}")
        n = len(data)
        view[:n] = data
        return n
    return read_chunks


@locking(lambda source, dest, **_: _locks(reads=source, writes=dest))
def copy_in(source: str | os.PathLike[str] | _Readable, dest: Path, *,
            progress: Progress | None = None) -> Path:
    """Copy a host file or directory, or a binary file object, to ``dest``; returns ``dest``.

    A host directory is copied to the directory ``dest`` (created with its parents, or
    merged into); a host file (or a file object, read to its end) to the file ``dest``
    (created or overwritten; its directory must exist). See the module docstring for
    symlinks, times and conflicts. Data moves in 1 MiB chunks; ``progress(n)`` (say
    ``tqdm.update``) is called after each with its size, and a ``total`` attribute of
    ``progress``, when it has one, is set to a single file's size first.
    """
    if not isinstance(dest, Path):
        raise TypeError(f"copy_in: dest must be a wasifs.Path, not {type(dest).__name__}")
    buf = bytearray(CHUNK)
    if not isinstance(source, (str, os.PathLike)):
        if not hasattr(source, "read"):
            raise TypeError("copy_in: source must be a host path (str or os.PathLike) or a "
                            f"binary file object, not {type(source).__name__}")
        _stream_in(_reader(source), dest, buf, None, progress=progress)
        return dest
    src = os.fspath(source)
    st = os.stat(src)
    if _stat.S_ISDIR(st.st_mode):
        from .backends import NativeFileSystem

        host = NativeFileSystem(src, readonly=True)
        root = host.root()
        try:
            _copy_dir(host, root, src, dest, _host_stat(st), buf, progress)
        finally:
            host.close(root)
    elif _stat.S_ISREG(st.st_mode):
        _announce(progress, st.st_size)
        with open(src, "rb", buffering=0) as f:
            _stream_in(_reader(f), dest, buf, _host_stat(st), st.st_mode & 0o777, progress)
    else:
        raise OSError(errno.EINVAL, "not a regular file or a directory", src)
    return dest


def _announce(progress: Progress | None, total: int) -> None:
    """Give a progress object with a ``total`` attribute (a tqdm bar) the bytes to come."""
    if progress is not None and hasattr(progress, "total"):
        progress.total = total


def _host_stat(st: os.stat_result) -> Stat:
    return Stat(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_size, st.st_atime_ns,
                st.st_mtime_ns, st.st_ctime_ns)


@overload
def copy_out(source: Path, dest: str | os.PathLike[str], *,
             progress: Progress | None = None) -> str: ...
@overload
def copy_out(source: Path, dest: _Writable, *, progress: Progress | None = None) -> None: ...


@locking(lambda source, dest, **_: _locks(reads=source, writes=dest))
def copy_out(source: Path, dest: str | os.PathLike[str] | _Writable, *,
             progress: Progress | None = None) -> str | None:
    """Copy the file or directory ``source`` to the host path ``dest`` (or the file's
    contents into the binary file object ``dest``); returns the host path (None for a file
    object).

    A directory is copied to the host directory ``dest`` (created with its parents, or merged
    into); a file to the host file ``dest`` (created or overwritten; its directory must
    exist). See the module docstring for symlinks, times and conflicts. ``progress`` as
    for :func:`copy_in`.
    """
    if not isinstance(source, Path):
        raise TypeError(f"copy_out: source must be a wasifs.Path, not {type(source).__name__}")
    buf = bytearray(CHUNK)
    sfs = source.fs
    label = str(source)
    with source._locate(True) as loc:
        try:
            st = source._located_stat(loc)
            if _stat.S_ISDIR(st.mode):
                if loc.name is not None:
                    loc.descend()
                if not isinstance(dest, (str, os.PathLike)):
                    raise IsADirectoryError(errno.EISDIR, "cannot copy a directory into a "
                                            "file object", label)
            elif not _stat.S_ISREG(st.mode):
                raise OSError(errno.EINVAL, "not a regular file or a directory", label)
            else:
                assert loc.name is not None
                fin = sfs.open_file(loc.dir, loc.name, read=True, write=False)
        except OSError as exc:
            raise relabel(exc, label) from None
        if _stat.S_ISDIR(st.mode):
            assert isinstance(dest, (str, os.PathLike))
            return _copy_dir_out(sfs, loc.dir, label, st, os.fspath(dest), buf, progress)
        _announce(progress, st.size)
    try:
        read_into = backend_reader(sfs, fin)

        if not isinstance(dest, (str, os.PathLike)):
            write = dest.write

            def write_obj(chunk: memoryview, _offset: int) -> None:
                done = 0
                while done < len(chunk):
                    n = write(chunk[done:])
                    done += len(chunk) - done if n is None else n
            pump(read_into, write_obj, buf, progress)
            return None
        host = os.fspath(dest)
        _write_host_file(host, read_into, st, buf, progress)
        return host
    finally:
        sfs.close(fin)


def _write_host_file(host: str, read_into: Callable[[memoryview], int], st: Stat,
                     buf: bytearray, progress: Progress | None = None) -> None:
    """Write a host file whole or not at all: into a new file next to it, renamed over it
    at the end (an existing file keeps its permission bits, a new one gets the source's
    less the umask, as cp does; a symlink at ``host`` is written through, as cp does)."""
    target = os.path.realpath(host) if os.path.islink(host) else host
    try:
        keep: int | None = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        keep = None
    tmp = os.path.join(os.path.dirname(target) or ".", temp_name())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 st.mode & 0o777)
    try:
        with open(fd, "wb", buffering=0) as f:
            def write_file(chunk: memoryview, _offset: int) -> None:
                done = 0
                while done < len(chunk):
                    done += f.write(chunk[done:]) or 0
            pump(read_into, write_file, buf, progress)
            if keep is not None:
                os.chmod(fd, keep)
            os.utime(fd, ns=(st.atime_ns, st.mtime_ns))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _copy_dir_out(sfs: Backend, sdir: Any, label: str, st: Stat, host: str,
                  buf: bytearray, progress: Progress | None = None) -> str:
    from .backends import NativeFileSystem

    os.makedirs(host, exist_ok=True)
    target = NativeFileSystem(host)
    root = target.root()
    try:
        copy_tree(sfs, sdir, target, root, slabel=label, dlabel=host, buf=buf,
                  progress=progress)
        set_times_where_supported(target.fset_times, root, st)
    finally:
        target.close(root)
    return host


@locking(lambda source, dest, **_: _locks(reads=source, writes=dest))
def copy(source: Path, dest: Path, *, progress: Progress | None = None) -> Path:
    """Copy the file or directory ``source`` to ``dest``: two paths of the same or of
    different backends (a memory tree to a host-directory backend, say); returns ``dest``.
    The same rules (and ``progress``) as :func:`copy_in`."""
    if not isinstance(source, Path) or not isinstance(dest, Path):
        raise TypeError("copy: source and dest must be wasifs.Path objects")
    if _same_fs(source.fs, dest.fs):
        src_real, dst_real = source.resolve(), dest.resolve()
        if dst_real == src_real or src_real in dst_real.parents:
            raise ValueError(f"copy: cannot copy {str(source)!r} into itself ({str(dest)!r})")
    buf = bytearray(CHUNK)
    sfs = source.fs
    label = str(source)
    with source._locate(True) as loc:
        try:
            st = source._located_stat(loc)
            if _stat.S_ISDIR(st.mode):
                if loc.name is not None:
                    loc.descend()
            elif not _stat.S_ISREG(st.mode):
                raise OSError(errno.EINVAL, "not a regular file or a directory", label)
            else:
                assert loc.name is not None
                fin = sfs.open_file(loc.dir, loc.name, read=True, write=False)
        except OSError as exc:
            raise relabel(exc, label) from None
        if _stat.S_ISDIR(st.mode):
            _copy_dir(sfs, loc.dir, label, dest, st, buf, progress)
            return dest
    _announce(progress, st.size)
    try:
        _stream_in(backend_reader(sfs, fin), dest, buf, st, st.mode & 0o777, progress)
    finally:
        sfs.close(fin)
    return dest
