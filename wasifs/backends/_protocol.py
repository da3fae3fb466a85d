"""The storage protocol that the VFS speaks: POSIX ``*at`` calls on directory handles.

Backends know nothing of WASI. They raise ``OSError`` (with a host ``errno`` where one
applies, for example ``OSError(errno.ENOTEMPTY, ...)``) and the VFS maps it once, in
:mod:`wasifs.errors`.

Why handles and not paths: a directory handle pins the directory it was opened on, so a
backend over a host directory (``native``) can do every operation relative to an open
directory descriptor, with ``O_NOFOLLOW``, and no rename or symlink swap by another process
can make it leave its root. For the in-memory backend a handle is simply the inode object, so
a lookup is a dict access. The VFS resolves paths component by component (symlinks, ``..``,
loop limit) on top of :meth:`Backend.opendir`, :meth:`Backend.lstat` and
:meth:`Backend.readlink`; a backend is only ever asked about a single ``name`` inside a
directory handle: never a name with ``/``, never ``.`` or ``..``, never an empty name.

Handles are opaque to the VFS except for the identity checks it needs (``Backend.same``).
A handle obtained from ``root``/``opendir``/``open_file`` must be given back with ``close``
exactly once (cheap no-ops are fine for backends that hold no OS resources).
"""

from __future__ import annotations

import stat as _stat
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = ("Stat", "Backend", "DirEntry", "S_IFMT", "S_IFDIR", "S_IFREG", "S_IFLNK", "NAME_MAX",
           "PATH_MAX", "name_too_long")

S_IFMT = 0o170000
S_IFDIR = _stat.S_IFDIR
S_IFREG = _stat.S_IFREG
S_IFLNK = _stat.S_IFLNK

#: The longest name, in bytes (Linux's NAME_MAX): a longer one is ``ENAMETOOLONG``.
NAME_MAX = 255
#: A path or a symlink target of this many bytes or more is ``ENAMETOOLONG`` (Linux's
#: PATH_MAX counts the terminating NUL: 4095 bytes is the longest that works).
PATH_MAX = 4096


def name_too_long(name: str) -> bool:
    """Whether ``name`` has more than ``NAME_MAX`` bytes in UTF-8 (undecodable bytes of a
    host name, kept as surrogate escapes, count one each)."""
    return len(name) > NAME_MAX or (
        len(name) > NAME_MAX // 4 and len(name.encode("utf-8", "surrogateescape")) > NAME_MAX)


class Stat(NamedTuple):
    """What the VFS needs to know of a file. ``mode`` carries the POSIX type bits
    (``stat.S_IFREG`` ...) and permission bits; times are integer nanoseconds."""

    dev: int
    ino: int
    mode: int
    nlink: int
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int


class DirEntry(NamedTuple):
    """One entry of :meth:`Backend.listdir` (never ``.`` or ``..``)."""

    name: str
    ino: int
    mode: int  # type bits at least (``stat.S_IFDIR`` ...); 0 when unknown


@runtime_checkable
class Backend(Protocol):
    """The operations wasifs needs from a filesystem.

    ``Dir`` and ``File`` below are whatever handle type the backend chooses.
    """

    #: True when every mutating call raises ``OSError(errno.EROFS)``.
    readonly: bool

    # --- handles ---------------------------------------------------------------------
    def root(self) -> Any:
        """A new directory handle on the backend's root."""

    def opendir(self, dir: Any, name: str) -> Any:
        """A new directory handle on ``name`` inside ``dir``; never follows a symlink.

        Raises ``FileNotFoundError``; ``NotADirectoryError`` when ``name`` is neither a
        directory nor a symlink; ``OSError(errno.ELOOP)`` when ``name`` is a symlink (the VFS
        then reads the link and resolves it itself).
        """

    def open_file(
        self, dir: Any, name: str, *, read: bool, write: bool, create: bool = False,
        exclusive: bool = False, truncate: bool = False, mode: int = 0o666,
    ) -> Any:
        """A new handle on the regular file ``name`` in ``dir``; never follows a symlink
        (a symlink gives ``OSError(errno.ELOOP)``), a directory gives ``IsADirectoryError``.
        ``create`` makes the file if missing, ``exclusive`` with ``create`` fails with
        ``FileExistsError`` if it exists, ``truncate`` empties it."""

    def close(self, handle: Any) -> None:
        """Give back a handle from root/opendir/open_file. Never raises."""

    def same(self, a: Any, b: Any) -> bool:
        """Whether two handles refer to the same file (same inode)."""

    # --- metadata --------------------------------------------------------------------
    def fstat(self, handle: Any) -> Stat: ...

    def lstat(self, dir: Any, name: str) -> Stat:
        """Stat ``name`` in ``dir`` without following a symlink."""

    def readlink(self, dir: Any, name: str) -> str:
        """The target of the symlink ``name``; ``OSError(errno.EINVAL)`` if not a symlink."""

    def listdir(self, dir: Any) -> list[DirEntry]:
        """The entries of the directory, without ``.`` and ``..``, in the storage's own
        order (a host directory's ``readdir`` order, creation order in memory): not sorted,
        and the same from one call to the next while the directory is not changed. The VFS
        keeps one listing per open directory, so ``fd_readdir`` cookies stay valid."""

    def set_times(self, dir: Any, name: str, atime_ns: int | None, mtime_ns: int | None) -> None:
        """Set times of ``name`` (not following a symlink); None leaves that time as is."""

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None: ...

    # --- file data -------------------------------------------------------------------
    def pread(self, file: Any, buf: memoryview, offset: int) -> int:
        """Read up to ``len(buf)`` bytes at ``offset`` into ``buf``; returns the count
        (0 at or past the end). ``buf`` is only valid during the call."""

    def pwrite(self, file: Any, data: memoryview | bytes, offset: int) -> int:
        """Write ``data`` at ``offset`` (extending with zeros past the end); returns the count.
        ``data`` is only valid during the call: copy it if it must be kept."""

    def append(self, file: Any, data: memoryview | bytes) -> tuple[int, int]:
        """Atomically write ``data`` at the end; returns (count, new size)."""

    def ftruncate(self, file: Any, size: int) -> None: ...

    def fsync(self, file: Any, dataonly: bool = False) -> None: ...

    def allocate(self, file: Any, offset: int, length: int) -> None:
        """Make sure ``offset + length`` bytes are allocated (extends the size, never shrinks)."""

    # --- namespace -------------------------------------------------------------------
    def mkdir(self, dir: Any, name: str, mode: int = 0o777) -> None: ...

    def rmdir(self, dir: Any, name: str) -> None:
        """Remove the empty directory ``name``: ``OSError(ENOTEMPTY)`` if not empty,
        ``NotADirectoryError`` if not a directory (a symlink to one included)."""

    def unlink(self, dir: Any, name: str) -> None:
        """Remove a non-directory entry: ``IsADirectoryError`` on a directory (Linux says
        EISDIR, WASI hosts follow it)."""

    def rename(self, src_dir: Any, src: str, dst_dir: Any, dst: str) -> None:
        """rename(2) semantics, atomic replace included: file over file replaces; dir over
        empty dir replaces; dir over non-empty dir ENOTEMPTY; file over dir EISDIR; dir over
        file ENOTDIR; same file no-op; a directory into its own subtree EINVAL."""

    def link(self, src_dir: Any, src: str, dst_dir: Any, dst: str) -> None:
        """A hard link to the file ``src`` (never following a symlink). EPERM on directories,
        EEXIST when ``dst`` exists."""

    def symlink(self, target: str, dir: Any, name: str) -> None:
        """Create ``name`` as a symlink holding ``target`` verbatim. EEXIST when it exists."""
