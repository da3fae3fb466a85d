"""A host directory as a backend, confined with descriptor-relative system calls.

:class:`NativeFileSystem` serves a directory of the host. Confinement does not rest on path
strings: every directory handle owns an open host directory descriptor, and every operation is
a ``*at`` call (``dir_fd=``) on one single name inside such a descriptor, never following a
symlink (``O_NOFOLLOW``, ``follow_symlinks=False``, ``AT_SYMLINK_NOFOLLOW``). The VFS above
resolves paths one component at a time through :meth:`NativeFileSystem.opendir`, which refuses
to step through a symlink (``ELOOP``), so neither a symlink planted in the tree nor a directory
swapped for a symlink by another process between two calls can lead outside the root: a handle
keeps pointing at the directory it was opened on, wherever that directory moves.

Names are checked defensively even though the VFS never passes ``/``, ``.``, ``..`` or an
empty name: this class is a security boundary.

The semantics are the host kernel's (Linux first, any POSIX system with ``dir_fd`` support
works): where POSIX lets kernels differ, a few results are normalised to what the
:class:`~wasifs.backends._protocol.Backend` protocol documents (see the method docstrings).

This module knows nothing of WASI: it raises ``OSError`` with host errnos.
"""

from __future__ import annotations

import errno
import os
import stat as _stat
import threading
import weakref
from typing import Any, ClassVar, Final

try:
    import fcntl
    import resource
except ImportError:  # pragma: no cover - not POSIX (Windows): refused at construction
    fcntl = None  # type: ignore[assignment]
    resource = None  # type: ignore[assignment]

from ._facade import HandleFileSystem
from ._protocol import DirEntry, Stat

__all__ = ("NativeFileSystem", "NativeDir", "NativeFile", "NativeUnsupportedError")

_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_O_PATH: Final = getattr(os, "O_PATH", 0)  # Linux: a descriptor usable only as a dir_fd
_O_NOCTTY: Final = getattr(os, "O_NOCTTY", 0)

_DIR_FLAGS: Final = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
_FILE_BASE_FLAGS: Final = _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK | _O_NOCTTY

#: Only Linux documents O_NONBLOCK as having no effect on a regular file; elsewhere it is
#: cleared after the open (one fcntl).
_CLEAR_NONBLOCK: Final = not os.uname().sysname.startswith("Linux") if hasattr(os, "uname") \
    else True
_HAVE_PREADV: Final = hasattr(os, "preadv")
if _HAVE_PREADV:
    _preadv = os.preadv  # bound once: pread is the hot path
_HAVE_FDATASYNC: Final = hasattr(os, "fdatasync")
_HAVE_FALLOCATE: Final = hasattr(os, "posix_fallocate")
# posix_fallocate is not supported by some filesystems: grow with ftruncate instead.
_FALLOCATE_UNSUPPORTED: Final = frozenset(
    e for e in (getattr(errno, "EOPNOTSUPP", None), getattr(errno, "ENOTSUP", None),
                getattr(errno, "ENOSYS", None)) if e is not None
)
# O_NOFOLLOW on a symlink: ELOOP on Linux and macOS, EMLINK on FreeBSD; with O_DIRECTORY,
# Linux checks "is a directory" first and says ENOTDIR.
_MAYBE_SYMLINK_ERRNOS: Final = frozenset(
    e for e in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR, getattr(errno, "EFTYPE", None))
    if e is not None
)
_BAD_NAMES: Final = frozenset(("", ".", ".."))
_O_RDONLY: Final = os.O_RDONLY
_O_WRONLY: Final = os.O_WRONLY
_O_RDWR: Final = os.O_RDWR
#: an O_CREAT|O_EXCL open's flags, less the access mode
_EXCL_FLAGS: Final = _O_NOFOLLOW | _O_CLOEXEC | _O_NOCTTY | os.O_CREAT | os.O_EXCL
#: Directories a backend keeps open between calls, at most (see ``NativeFileSystem.opendir``).
_DIR_CACHE_MAX: Final = 16
_CACHE_LOCK: Final = threading.Lock()  # loans and membership of every backend's cache
_S_IFDIR: Final = _stat.S_IFDIR
_S_IFMT: Final = 0o170000


class NativeUnsupportedError(NotImplementedError):
    """This platform lacks the descriptor-relative calls the native backend relies on."""


def _missing_features() -> list[str]:
    """What this platform lacks for confined descriptor-relative access (empty on Linux)."""
    missing = [f"os.{name}" for name in ("O_NOFOLLOW", "O_DIRECTORY") if not hasattr(os, name)]
    if fcntl is None:
        missing.append("the fcntl module")
    missing.extend(f"os.{func}(dir_fd=...)" for func in (
        "open", "stat", "readlink", "mkdir", "rmdir", "unlink", "rename", "link", "symlink",
        "utime") if getattr(os, func, None) not in os.supports_dir_fd)
    missing.extend(f"os.{func}(follow_symlinks=False)" for func in ("stat", "link", "utime")
                   if getattr(os, func, None) not in os.supports_follow_symlinks)
    missing.extend(f"os.{func}(<file descriptor>)" for func in ("scandir", "utime", "stat")
                   if getattr(os, func, None) not in os.supports_fd)
    return missing


#: Host descriptors kept for the host application itself: a backend call that would leave
#: fewer free than this (of the process's RLIMIT_NOFILE) fails with EMFILE instead, so that
#: a guest opening files until it hits its own EMFILE never takes the host's last ones.
FD_RESERVE_MAX = 256
_fd_ceiling = -1  # the soft limit less the reserve, as last read (-1: not read yet)


def _descriptor_ceiling() -> int:
    """The lowest descriptor number a guest's open may not reach: the soft RLIMIT_NOFILE
    less a reserve (a quarter of it, at most :data:`FD_RESERVE_MAX`)."""
    global _fd_ceiling
    if resource is None:  # pragma: no cover - not POSIX
        return 1 << 62
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft < 0:
        soft = 1 << 20
    _fd_ceiling = soft - min(FD_RESERVE_MAX, soft // 4)
    return _fd_ceiling


def _open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int) -> int:
    """``os.open`` that leaves the host its reserve of descriptors: the kernel hands out
    the lowest free number, so a number at the ceiling means that at most the reserve is
    left (then ``EMFILE``, as if the process limit were reached)."""
    try:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno != errno.EMFILE or not _forget_all_dirs():
            raise
        fd = os.open(path, flags, mode, dir_fd=dir_fd)  # the kept directories made room
    if fd >= _fd_ceiling and fd >= _descriptor_ceiling():  # re-read: the limit may change
        os.close(fd)
        if _forget_all_dirs():
            return _open(path, flags, mode, dir_fd=dir_fd)
        raise OSError(errno.EMFILE, "too many open files (the host keeps a reserve of "
                      "descriptors for itself)")
    return fd


#: Every backend that keeps directories open between calls: when descriptors run short,
#: they give them back before anything fails with EMFILE.
_KEEPERS: Final[weakref.WeakValueDictionary[int, NativeFileSystem]] = \
    weakref.WeakValueDictionary()


def _forget_all_dirs() -> bool:
    """Close every kept directory (of every backend); whether any was kept."""
    kept = [fs for fs in list(_KEEPERS.values()) if fs._dirs]
    for fs in kept:
        fs.forget_dirs()
    return bool(kept)


def _check_name(name: str) -> None:
    """Refuse a name that is not a single path component (a security boundary)."""
    if name in _BAD_NAMES or "/" in name or "\x00" in name:
        raise OSError(errno.EINVAL, f"not a single path component: {name!r}")


_new_stat = tuple.__new__


def _to_stat(st: os.stat_result) -> Stat:
    # tuple.__new__ directly: the NamedTuple's own __new__ is a Python-level frame
    return _new_stat(Stat, (st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_size,
                            st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns))


def _erofs(op: str) -> OSError:
    return OSError(errno.EROFS, f"{op}: the native file system is mounted read-only")


def _special_file(name: str) -> PermissionError:
    return PermissionError(errno.EACCES, "the native backend opens only regular files "
                           "(not FIFOs, sockets or devices)", name)


class _Handle:
    """An owned host descriptor, closed once: by ``close()`` or, as a safety net, on
    garbage collection."""

    __slots__ = ("_fd", "_ident")

    def __init__(self, fd: int, ident: tuple[int, int] | None = None) -> None:
        self._fd = fd
        self._ident = ident

    @property
    def closed(self) -> bool:
        """Whether the descriptor was given back."""
        return self._fd < 0

    def fileno(self) -> int:
        """The host descriptor (``ValueError`` once closed)."""
        if self._fd < 0:
            raise ValueError("I/O operation on a closed native handle")
        return self._fd

    def ident(self) -> tuple[int, int]:
        """``(st_dev, st_ino)`` of the open file (cached: it never changes)."""
        ident = self._ident
        if ident is None:
            st = os.fstat(self._fd)
            ident = self._ident = (st.st_dev, st.st_ino)
        return ident

    def close(self) -> None:
        """Close the descriptor; a second call does nothing."""
        fd = self._fd
        if fd >= 0:
            self._fd = -1
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            self._fd = -1
            try:
                os.close(fd)
            except Exception:  # noqa: BLE001 - interpreter shutdown or a bad fd: nothing to do
                pass

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<{type(self).__name__} {state}>"


class NativeDir(_Handle):
    """A directory handle: an open host directory descriptor (``O_DIRECTORY|O_NOFOLLOW``).

    ``listable`` is False for a directory opened search-only (Linux ``O_PATH``, used when the
    directory is not readable): it can be walked through but not listed.
    """

    __slots__ = ("_lock", "listable")

    def __init__(self, fd: int, listable: bool = True) -> None:
        super().__init__(fd)
        self.listable = listable
        self._lock = threading.Lock()  # guards the descriptor's directory offset (listdir)


class _RootDir(NativeDir):
    """A handle from ``root()``: giving it back also empties the directory cache."""

    __slots__ = ()


class _SharedDir(NativeDir):
    """A directory handle the backend keeps between calls (see ``NativeFileSystem.opendir``)
    and lends out: ``close`` gives back one loan; the descriptor is closed only once the
    backend dropped it from its cache and no loan is left."""

    __slots__ = ("_loans", "_dropped", "_key", "_st")

    def __init__(self, fd: int, ident: tuple[int, int], key: tuple[int, int, str],
                 st: tuple[int, int, int]) -> None:
        super().__init__(fd)
        self._ident = ident
        self._key = key
        self._st = st  # (st_mode, st_uid, st_gid) when it was opened
        self._loans = 0
        self._dropped = False

    def close(self) -> None:
        """Give back one loan (closes the descriptor after the cache dropped it)."""
        _CACHE_LOCK.acquire()  # not ``with``: its __enter__/__exit__ calls cost more
        try:
            if self._loans > 0:
                self._loans -= 1
            if not self._dropped or self._loans:
                return
        finally:
            _CACHE_LOCK.release()
        super().close()


class NativeFile(_Handle):
    """A regular-file handle: an open host descriptor (``O_NOFOLLOW``)."""

    __slots__ = ("_lock", "_append_mode", "writable", "readable")

    def __init__(self, fd: int, ident: tuple[int, int] | None, readable: bool,
                 writable: bool) -> None:
        self._fd = fd  # _Handle's fields, without a super() call: one per file opened
        self._ident = ident
        self.readable = readable
        self.writable = writable
        self._append_mode = False  # whether O_APPEND is currently set on the descriptor
        self._lock = threading.Lock()  # makes the O_APPEND toggle and the write one step


class NativeFileSystem(HandleFileSystem):
    """A host directory, confined: nothing reachable through it lies outside ``root``.

    Also an fsspec filesystem (protocol ``"wasifs-native"``, paths taken from ``root``, see
    :class:`~wasifs.backends.HandleFileSystem`; ``auto_mkdir`` is its option).

    ``root`` itself is trusted (opened once at construction, symlinks in that path followed);
    everything below it is reached only through descriptor-relative calls that never follow
    a symlink. With ``readonly=True`` every mutation raises ``OSError(errno.EROFS)`` before
    touching the host and files are opened read-only.

    Raises :class:`NativeUnsupportedError` on a platform without ``dir_fd`` support,
    ``NotADirectoryError``/``FileNotFoundError`` when ``root`` is not a directory.
    """

    protocol: ClassVar[str | tuple[str, ...]] = "wasifs-native"

    #: Every native backend is a view of the one host namespace: a guest may rename or
    #: hard-link between two of them (two preopens), and the host kernel answers EXDEV when
    #: the two directories are on different host filesystems (as under wasmtime).
    link_domain: ClassVar[str] = "host"

    readonly: bool

    def __init__(self, root: str | os.PathLike[str], readonly: bool = False, *,
                 auto_mkdir: bool = False, **storage_options: Any) -> None:
        missing = _missing_features()
        if missing:
            raise NativeUnsupportedError(
                "the native backend needs POSIX descriptor-relative calls; this platform "
                "lacks: " + ", ".join(missing))
        super().__init__(auto_mkdir=auto_mkdir, **storage_options)
        self.root_path: str = os.path.abspath(os.fspath(root))
        self.readonly = bool(readonly)
        # (parent st_dev, parent st_ino, name) -> a directory handle kept open between calls,
        # revalidated by name on every use (see opendir)
        self._dirs: dict[tuple[int, int, str], _SharedDir] = {}
        _KEEPERS[id(self)] = self
        try:
            self._root = NativeDir(os.open(self.root_path,
                                           os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC))
        except PermissionError:
            if not _O_PATH:
                raise
            self._root = NativeDir(os.open(self.root_path, _O_PATH | _O_DIRECTORY | _O_CLOEXEC),
                                   listable=False)

    @property
    def fsid(self) -> str:
        """fsspec's filesystem identity: the host directory."""
        return f"wasifs-native:{self.root_path}"

    def __repr__(self) -> str:
        ro = ", readonly=True" if self.readonly else ""
        return f"NativeFileSystem({self.root_path!r}{ro})"

    # --- handles -------------------------------------------------------------------------
    def _reopen_dir(self, dir_fd: int, cls: type[NativeDir] = NativeDir) -> NativeDir:
        """A new handle (its own open file description) on the directory ``dir_fd``."""
        try:
            return cls(_open(".", _DIR_FLAGS, dir_fd=dir_fd))
        except PermissionError:
            if not _O_PATH:
                raise
            return cls(_open(".", _O_PATH | _O_DIRECTORY | _O_CLOEXEC, dir_fd=dir_fd),
                       listable=False)

    def root(self) -> NativeDir:
        """A new directory handle on the root."""
        return self._reopen_dir(self._root._fd, _RootDir)

    def _symlink_error(self, exc: OSError, dir: NativeDir, name: str) -> OSError:
        """``exc`` from an ``O_NOFOLLOW`` open, made ``ELOOP`` when ``name`` is a symlink
        (the errno differs per kernel; the check only picks the errno, it opens nothing)."""
        try:
            st = os.stat(name, dir_fd=dir._fd, follow_symlinks=False)
        except OSError:
            return exc
        if _stat.S_ISLNK(st.st_mode):
            return OSError(errno.ELOOP, f"{name!r} is a symbolic link (not followed)", name)
        return exc

    def opendir(self, dir: NativeDir, name: str) -> NativeDir:
        """A handle on the directory ``name`` in ``dir``. ``ELOOP`` on a symlink,
        ``NotADirectoryError`` on anything else that is not a directory.

        The backend keeps the last directories it opened this way (at most
        ``_DIR_CACHE_MAX``) and lends the same handle again while ``name`` in ``dir`` is
        still that directory: one ``fstatat(AT_SYMLINK_NOFOLLOW)`` of ``name`` instead of an
        ``openat`` and a ``close``. The check is by name, on every use: the entry must be a
        directory (not a symlink) with the device, inode, mode and owner the handle was
        opened on; a directory the host renamed, removed or replaced (by a symlink or by
        another directory) is never lent again, so a kept handle reaches only what a fresh
        ``openat`` of ``name`` would. Handles stay open while lent (closing one gives the
        loan back)."""
        if name in _BAD_NAMES or "/" in name or "\x00" in name:
            _check_name(name)  # raises
        fd = dir._fd
        pident = dir._ident
        if pident is None:
            pident = dir.ident()
        key = (pident[0], pident[1], name)
        shared = self._dirs.get(key)
        if shared is not None:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                st = None
            if (st is not None and (st.st_dev, st.st_ino) == shared._ident
                    and (st.st_mode, st.st_uid, st.st_gid) == shared._st):
                _CACHE_LOCK.acquire()  # not ``with``: its __enter__/__exit__ calls cost more
                try:
                    if not shared._dropped and shared._fd >= 0:
                        shared._loans += 1
                        return shared
                finally:
                    _CACHE_LOCK.release()
            self._drop_dir(key)
        try:
            new = _open(name, _DIR_FLAGS, dir_fd=fd)
        except PermissionError:
            if not _O_PATH:
                raise
            flags = _O_PATH | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
            try:
                return NativeDir(_open(name, flags, dir_fd=fd), listable=False)
            except OSError as exc:
                if exc.errno in _MAYBE_SYMLINK_ERRNOS:
                    raise self._symlink_error(exc, dir, name) from None
                raise
        except OSError as exc:
            if exc.errno in _MAYBE_SYMLINK_ERRNOS:
                raise self._symlink_error(exc, dir, name) from None
            raise
        try:
            st = os.fstat(new)
        except BaseException:
            os.close(new)
            raise
        shared = _SharedDir(new, (st.st_dev, st.st_ino), key,
                            (st.st_mode, st.st_uid, st.st_gid))
        with _CACHE_LOCK:
            dirs = self._dirs
            if len(dirs) >= _DIR_CACHE_MAX:
                oldest = next(iter(dirs))
                self._drop_locked(dirs.pop(oldest))
            old = dirs.pop(key, None)
            if old is not None:
                self._drop_locked(old)
            dirs[key] = shared
            shared._loans = 1
        return shared

    @staticmethod
    def _drop_locked(shared: _SharedDir) -> None:
        shared._dropped = True
        if not shared._loans:
            _Handle.close(shared)

    def _drop_dir(self, key: tuple[int, int, str]) -> None:
        with _CACHE_LOCK:
            shared = self._dirs.pop(key, None)
            if shared is not None:
                self._drop_locked(shared)

    def forget_dirs(self) -> None:
        """Close the directories kept between calls (those still lent close when given
        back). Nothing else changes: the next lookups open them again."""
        with _CACHE_LOCK:
            dirs = list(self._dirs.values())
            self._dirs.clear()
            for shared in dirs:
                self._drop_locked(shared)

    def open_file(self, dir: NativeDir, name: str, *, read: bool, write: bool,
                  create: bool = False, exclusive: bool = False, truncate: bool = False,
                  mode: int = 0o666) -> NativeFile:
        """A handle on the regular file ``name`` in ``dir`` (``ELOOP`` on a symlink,
        ``IsADirectoryError`` on a directory, ``PermissionError`` on a special file such as
        a FIFO or a device, which this backend does not open)."""
        if name in _BAD_NAMES or "/" in name or "\x00" in name:
            _check_name(name)  # raises
        if self.readonly and (write or create or truncate):
            raise _erofs(f"open {name!r} for writing")
        if create and exclusive:
            # O_CREAT|O_EXCL makes a new regular file or fails (EEXIST also for a symlink,
            # a FIFO or a device of that name): one openat, no check after it, no
            # O_NONBLOCK to clear
            flags = _EXCL_FLAGS | ((_O_RDWR if read else _O_WRONLY) if write else _O_RDONLY)
            if truncate:
                flags |= os.O_TRUNC
            try:
                return NativeFile(_open(name, flags, mode, dir_fd=dir._fd), None, read,
                                  write)
            except OSError as exc:
                if exc.errno in _MAYBE_SYMLINK_ERRNOS and exc.errno != errno.ENOTDIR:
                    raise self._symlink_error(exc, dir, name) from None
                raise
        flags = _FILE_BASE_FLAGS
        if write:
            flags |= os.O_RDWR if read else os.O_WRONLY
        else:
            flags |= os.O_RDONLY
        if create:
            flags |= os.O_CREAT
        if truncate:
            flags |= os.O_TRUNC
        try:
            # O_NONBLOCK: opening a FIFO must not block. It stays set on a regular file,
            # where Linux ignores it (open(2): "this flag has no effect for regular files
            # and block devices"), which saves an fcntl per open.
            fd = _open(name, flags, mode, dir_fd=dir._fd)
        except OSError as exc:
            if exc.errno in _MAYBE_SYMLINK_ERRNOS and exc.errno != errno.ENOTDIR:
                raise self._symlink_error(exc, dir, name) from None
            if exc.errno == errno.ENXIO:  # a FIFO without reader, a socket, a device
                raise _special_file(name) from exc
            raise
        try:
            st = os.fstat(fd)
            if not _stat.S_ISREG(st.st_mode):
                if _stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", name)
                raise _special_file(name)
            if _CLEAR_NONBLOCK:
                fcntl.fcntl(fd, fcntl.F_SETFL, 0)
        except BaseException:
            os.close(fd)
            raise
        return NativeFile(fd, (st.st_dev, st.st_ino), read, write)

    def close(self, handle: NativeDir | NativeFile) -> None:
        """Give back a handle (closes its descriptor). Never raises."""
        try:
            if handle.__class__ is _RootDir and self._dirs:
                self.forget_dirs()  # a run's preopen went away: keep nothing for it
            handle.close()
        except Exception:  # noqa: BLE001 - the protocol promises close never raises
            pass

    def same(self, a: NativeDir | NativeFile, b: NativeDir | NativeFile) -> bool:
        """Whether two handles are on the same inode."""
        return a is b or a.ident() == b.ident()

    # --- metadata ------------------------------------------------------------------------
    def fstat(self, handle: NativeDir | NativeFile) -> Stat:
        """Stat an open handle."""
        return _to_stat(os.fstat(handle._fd))

    def lstat(self, dir: NativeDir, name: str) -> Stat:
        """Stat ``name`` in ``dir``, never following a symlink."""
        _check_name(name)
        return _to_stat(os.stat(name, dir_fd=dir._fd, follow_symlinks=False))

    def readlink(self, dir: NativeDir, name: str) -> str:
        """The target of the symlink ``name`` (``EINVAL`` when it is not one)."""
        _check_name(name)
        return os.readlink(name, dir_fd=dir._fd)

    def listdir(self, dir: NativeDir) -> list[DirEntry]:
        """The entries of ``dir`` in the host directory's own order (what ``readdir(3)``
        gives, as under wasmtime), without ``.`` and ``..``."""
        if not dir.listable:
            raise PermissionError(errno.EACCES, "Permission denied: directory not readable")
        entries: list[DirEntry] = []
        append = entries.append
        with dir._lock, os.scandir(dir._fd) as it:  # scandir dups the fd, rewinds after
            for entry in it:
                try:
                    if entry.is_symlink():
                        kind = _stat.S_IFLNK
                    elif entry.is_dir(follow_symlinks=False):
                        kind = _stat.S_IFDIR
                    elif entry.is_file(follow_symlinks=False):
                        kind = _stat.S_IFREG
                    else:
                        kind = _stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)
                    ino = entry.inode()
                except FileNotFoundError:  # removed while listing
                    continue
                append(DirEntry(entry.name, ino, kind))
        return entries

    def set_times(self, dir: NativeDir, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        """Set the times of ``name`` itself (a symlink's own times, never its target's)."""
        _check_name(name)
        if self.readonly:
            raise _erofs(f"set times of {name!r}")
        fd = dir._fd
        if atime_ns is None or mtime_ns is None:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if atime_ns is None and mtime_ns is None:
                return
            if atime_ns is None:
                atime_ns = st.st_atime_ns
            if mtime_ns is None:
                mtime_ns = st.st_mtime_ns
        os.utime(name, ns=(atime_ns, mtime_ns), dir_fd=fd, follow_symlinks=False)

    def fset_times(self, handle: NativeDir | NativeFile, atime_ns: int | None,
                   mtime_ns: int | None) -> None:
        """Set the times of an open handle; None keeps that time."""
        if self.readonly:
            raise _erofs("set times")
        fd = handle._fd
        if atime_ns is None or mtime_ns is None:
            st = os.fstat(fd)
            if atime_ns is None and mtime_ns is None:
                return
            if atime_ns is None:
                atime_ns = st.st_atime_ns
            if mtime_ns is None:
                mtime_ns = st.st_mtime_ns
        os.utime(fd, ns=(atime_ns, mtime_ns))

    # --- file data -----------------------------------------------------------------------
    if _HAVE_PREADV:
        def pread(self, file: NativeFile, buf: memoryview, offset: int) -> int:
            """Read into ``buf`` at ``offset``: one ``preadv`` straight into the buffer."""
            return _preadv(file._fd, (buf,), offset)
    else:  # pragma: no cover - platforms without preadv (old macOS)
        def pread(self, file: NativeFile, buf: memoryview, offset: int) -> int:
            """Read into ``buf`` at ``offset`` (``pread`` and one copy: no ``preadv`` here)."""
            data = os.pread(file._fd, len(buf), offset)
            n = len(data)
            buf[:n] = data
            return n

    def _write_all(self, file: NativeFile, data: memoryview | bytes, offset: int | None) -> int:
        """Write every byte of ``data`` at ``offset`` (None: at the descriptor's position)."""
        fd = file._fd
        n = os.write(fd, data) if offset is None else os.pwrite(fd, data, offset)
        if n == len(data) and (isinstance(data, bytes) or (data.ndim == 1 and data.itemsize == 1)):
            return n  # the usual case: everything written, no view needed
        view = memoryview(data)
        total = view.nbytes
        if n < total:
            if view.format != "B" or view.ndim != 1:
                view = view.cast("B")
            while n < total:
                if offset is None:
                    k = os.write(fd, view[n:])
                else:
                    k = os.pwrite(fd, view[n:], offset + n)
                if k <= 0:
                    break
                n += k
        return n

    def pwrite(self, file: NativeFile, data: memoryview | bytes, offset: int) -> int:
        """Write ``data`` at ``offset`` (zero-filled past the end); returns the count."""
        if self.readonly:
            raise _erofs("write")
        lock = file._lock
        lock.acquire()  # not ``with``: its __enter__/__exit__ calls cost more
        try:
            if file._append_mode:  # Linux pwrite on an O_APPEND descriptor would append
                fcntl.fcntl(file._fd, fcntl.F_SETFL, 0)
                file._append_mode = False
            return self._write_all(file, data, offset)
        finally:
            lock.release()

    def append(self, file: NativeFile, data: memoryview | bytes) -> tuple[int, int]:
        """Write ``data`` at the end, atomically (an ``O_APPEND`` write: the kernel seeks
        and writes as one step, even against other processes); returns (count, new size)."""
        if self.readonly:
            raise _erofs("append")
        with file._lock:
            fd = file._fd
            if not file._append_mode:
                fcntl.fcntl(fd, fcntl.F_SETFL, os.O_APPEND)
                file._append_mode = True
            n = self._write_all(file, data, None)
            return n, os.lseek(fd, 0, os.SEEK_CUR)

    def ftruncate(self, file: NativeFile, size: int) -> None:
        """Set the size (zero-filled when growing)."""
        if self.readonly:
            raise _erofs("truncate")
        os.ftruncate(file._fd, size)

    def fsync(self, file: NativeFile | NativeDir, dataonly: bool = False) -> None:
        """Flush to stable storage (data only with ``dataonly`` where the host can)."""
        if dataonly and _HAVE_FDATASYNC:
            os.fdatasync(file._fd)
        else:
            os.fsync(file._fd)

    def allocate(self, file: NativeFile, offset: int, length: int) -> None:
        """Make sure ``offset + length`` bytes are allocated (``posix_fallocate``; growing
        with ``ftruncate`` where the filesystem cannot preallocate). Never shrinks."""
        if self.readonly:
            raise _erofs("allocate")
        if offset < 0 or length < 0:
            raise OSError(errno.EINVAL, "allocate: negative offset or length")
        fd = file._fd
        if length > 0 and _HAVE_FALLOCATE:
            try:
                os.posix_fallocate(fd, offset, length)
                return
            except OSError as exc:
                if exc.errno not in _FALLOCATE_UNSUPPORTED:
                    raise
        end = offset + length
        if os.fstat(fd).st_size < end:
            os.ftruncate(fd, end)

    # --- namespace -----------------------------------------------------------------------
    def mkdir(self, dir: NativeDir, name: str, mode: int = 0o777) -> None:
        """Create the directory ``name`` (``FileExistsError`` if anything has that name)."""
        _check_name(name)
        if self.readonly:
            raise _erofs(f"mkdir {name!r}")
        os.mkdir(name, mode, dir_fd=dir._fd)

    def rmdir(self, dir: NativeDir, name: str) -> None:
        """Remove the empty directory ``name`` (``ENOTDIR`` on a symlink, even to a dir)."""
        _check_name(name)
        if self.readonly:
            raise _erofs(f"rmdir {name!r}")
        os.rmdir(name, dir_fd=dir._fd)

    def unlink(self, dir: NativeDir, name: str) -> None:
        """Remove the non-directory ``name`` (``IsADirectoryError`` on a directory, also
        on hosts whose kernel says ``EPERM`` there)."""
        if name in _BAD_NAMES or "/" in name or "\x00" in name:
            _check_name(name)  # raises
        if self.readonly:
            raise _erofs(f"unlink {name!r}")
        fd = dir._fd
        try:
            os.unlink(name, dir_fd=fd)
        except PermissionError as exc:
            if exc.errno == errno.EPERM:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    raise exc from None
                if _stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", name) from None
            raise

    def rename(self, src_dir: NativeDir, src: str, dst_dir: NativeDir, dst: str) -> None:
        """``renameat(2)``: the kernel's semantics (atomic replace, ``EISDIR``, ``ENOTDIR``,
        ``EINVAL`` into its own subtree). ``EEXIST`` for a directory over a non-empty one
        (XFS and some others) is reported as ``ENOTEMPTY``, as on ext4 and tmpfs.
        ``dst_dir`` may come from another ``NativeFileSystem`` (``EXDEV`` from the kernel
        when it is on another host filesystem)."""
        _check_name(src)
        _check_name(dst)
        if self.readonly:
            raise _erofs(f"rename {src!r}")
        try:
            os.rename(src, dst, src_dir_fd=src_dir._fd, dst_dir_fd=dst_dir._fd)
        except FileExistsError as exc:
            raise OSError(errno.ENOTEMPTY, "Directory not empty", dst) from exc

    def link(self, src_dir: NativeDir, src: str, dst_dir: NativeDir, dst: str) -> None:
        """Hard-link ``src`` as ``dst`` (a symlink ``src`` is linked itself, never followed);
        ``dst_dir`` may come from another ``NativeFileSystem``, as for :meth:`rename`."""
        _check_name(src)
        _check_name(dst)
        if self.readonly:
            raise _erofs(f"link {src!r}")
        os.link(src, dst, src_dir_fd=src_dir._fd, dst_dir_fd=dst_dir._fd,
                follow_symlinks=False)

    def symlink(self, target: str, dir: NativeDir, name: str) -> None:
        """Create the symlink ``name`` holding ``target`` verbatim (never resolved here)."""
        _check_name(name)
        if self.readonly:
            raise _erofs(f"symlink {name!r}")
        if "\x00" in target:
            raise OSError(errno.EINVAL, "symlink target contains a NUL byte")
        os.symlink(target, name, dir_fd=dir._fd)
