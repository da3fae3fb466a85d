"""Any fsspec filesystem as a wasifs backend: :class:`FsspecBackend`.

The other way round from the fsspec facade (:mod:`wasifs.backends._facade`, which gives
wasifs's own backends fsspec's API): this module adapts fsspec's *path* API
(``info``, ``ls``, ``open``, ``pipe_file``, ``rm_file``, ``mkdir`` ...) of any
:class:`fsspec.AbstractFileSystem` (local, memory, zip, tar, s3, chained URLs such as
``zip::s3://bucket/a.zip``) to the handle protocol the VFS speaks (:class:`~wasifs.backends.
Backend`). fsspec's semantics are not POSIX's, so the adapter emulates what a WASI guest
expects and the storage lacks, and never passes fsspec's traps on to the guest:

- **Handles and inode numbers.** The adapter keeps a tree of the entries it has met
  (:class:`_Node`): a directory handle is a node, so it follows its directory through a rename
  made through the adapter, and each entry keeps one synthetic inode number for the life of
  the adapter, across renames (numbers are not persisted: a new adapter numbers anew).
- **Random-access writes.** A file is read through a file object of the storage, cached per
  handle and read sequentially without a seek. The first change (``pwrite`` anywhere,
  ``append``, ``ftruncate``, ``allocate``) copies the file into a *spool* (memory up to
  ``spool_memory`` bytes, then a temporary host file) shared by every handle of the file;
  ``fsync`` and the last ``close`` write the spool back as a whole object. A failed write-back
  raises the ``OSError`` of that call (the guest's ``fd_sync``/``fd_close`` answers its
  errno); the file keeps its changes for the next try while a handle is open.
- **Directories of object stores.** A prefix that holds objects is a directory (as fsspec
  lists it). ``mkdir`` on a store where fsspec's ``mkdir`` leaves nothing (s3, gcs ...) writes
  the store's directory marker, an empty object named ``dir/`` (what the S3 console makes),
  and removing the last entry of a directory writes one so that the directory stays, as on a
  POSIX filesystem. Markers never appear in listings.
- **rename(2), not mv.** fsspec's ``mv`` moves a file *into* an existing directory
  (``shutil.move``) and copies then deletes elsewhere; the adapter checks the ``rename(2)``
  error matrix itself (EISDIR, ENOTDIR, ENOTEMPTY, EINVAL) before moving anything, replaces an
  empty directory, moves a directory entry by entry where the storage has no rename, and
  keeps open handles (a replaced or removed file that is still open keeps its data).
- **Links.** No symlinks or hard links are created (``EPERM``, as Linux answers on a
  filesystem without them; ``EROFS`` when read-only); a symlink the storage already has
  (``islink`` in fsspec's ``info``, as the local filesystem reports them) is shown as one and
  never followed by the adapter, so the VFS resolves it as on any backend.
- **Times** come from the storage where ``info`` has one (``mtime``, ``LastModified``,
  ``created``, a zip member's date), else the adapter's start; they cannot be set
  (``ENOTSUP``).
- **Read-only.** Archives (zip, tar: fsspec's ``AbstractArchiveFileSystem``) and adapters made
  with ``readonly=True`` answer every change with ``EROFS``; a filesystem that refuses a write
  with ``NotImplementedError`` (http ...) answers ``EROFS`` too.
- **Listings** keep the storage's order (fsspec's ``ls``: a local directory's ``scandir``
  order, an object store's key order, an archive's names sorted).

Filesystems that wasifs creates from a URL (:func:`open_fsspec`) are made with
``skip_instance_cache=True`` at every level of a chained URL, so no two mounts share an
instance (fsspec's ``memory://`` store stays the one class-level store fsspec gives every
``memory://`` user, by design: that is where a host puts files for ``memory://`` URLs).

One thread at a time: the adapter's tree and spools are not locked (a mount serves one
guest; host code sharing the adapter with a running guest must not call it concurrently).

Not a sandbox: fsspec resolves each path as a whole, so on a filesystem with symlinks (the
local one) another process, or another mount of the same directory, that swaps a directory
for a symlink under an open directory handle redirects it. Use the ``native`` backend
(``file://`` URLs open it) for host directories and untrusted guests.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import stat as _stat
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import fsspec  # type: ignore[import-untyped]
from fsspec.archive import AbstractArchiveFileSystem  # type: ignore[import-untyped]
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

from ._errors import errno_of
from ._protocol import S_IFDIR, S_IFLNK, S_IFREG, DirEntry, Stat

__all__ = ("FsspecBackend", "open_fsspec", "url_to_backend")

_T = TypeVar("_T")

#: st_dev numbers of fsspec adapters: "fssp" in the high half, a serial in the low one.
_DEVICES = itertools.count((0x66737370 << 32) + 1)
#: How much of a file is read or written back per storage call.
_CHUNK = 1 << 20
_new_stat = tuple.__new__


def _error(code: int, name: str | None = None) -> OSError:
    """``OSError`` of the subclass Python picks for ``code`` (``FileNotFoundError`` ...)."""
    if name is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), name)


#: What a storage that refuses to write raises (fsspec's read-only filesystems).
_REFUSED = (NotImplementedError, io.UnsupportedOperation)


def _storage_error(exc: BaseException, name: str) -> OSError:
    """The ``OSError`` (with an errno) for what the storage raised: its own errno when it has
    one, else the one of its class (fsspec raises ``FileNotFoundError(path)``: see
    :func:`~wasifs.backends.errno_of`); a refused write (``NotImplementedError``) is
    ``EROFS``; anything else ``EIO``."""
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        code = errno.EROFS if isinstance(exc, _REFUSED) else \
            errno_of(exc) if isinstance(exc, OSError) else errno.EIO
    error = _error(code, name)
    error.__cause__ = exc
    return error


class _Spool:
    """A file's data while it is being changed: a ``bytearray`` up to ``limit`` bytes, then
    an anonymous temporary host file (positional I/O on its descriptor)."""

    __slots__ = ("data", "fd", "size", "limit")

    def __init__(self, limit: int) -> None:
        self.data: bytearray | None = bytearray()
        self.fd = -1
        self.size = 0
        self.limit = limit

    def _spill(self, need: int) -> None:
        """Move to a temporary file when the data would outgrow ``limit``."""
        if self.data is None or need <= self.limit:
            return
        handle = tempfile.TemporaryFile()
        fd = os.dup(handle.fileno())
        handle.close()
        try:
            os.pwrite(fd, self.data, 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.data = None

    def pread(self, buf: memoryview, offset: int) -> int:
        n = min(len(buf), self.size - offset)
        if n <= 0:
            return 0
        data = self.data
        if data is not None:
            buf[:n] = memoryview(data)[offset:offset + n]
            return n
        return os.preadv(self.fd, [buf[:n]], offset)

    def pwrite(self, chunk: memoryview | bytes, offset: int) -> int:
        n = len(chunk)
        if not n:
            return 0
        end = offset + n
        self._spill(end)
        data = self.data
        if data is not None:
            if offset > len(data):
                data.extend(bytes(offset - len(data)))
            data[offset:end] = chunk
        else:
            done = 0
            while done < n:
                done += os.pwrite(self.fd, chunk[done:], offset + done)
        if end > self.size:
            self.size = end
        return n

    def truncate(self, size: int) -> None:
        self._spill(size)
        data = self.data
        if data is not None:
            if size < len(data):
                del data[size:]
            else:
                data.extend(bytes(size - len(data)))
        else:
            os.ftruncate(self.fd, size)
        self.size = size

    def chunks(self) -> Iterator[bytes | bytearray]:
        """The content, in pieces of at most ``_CHUNK`` bytes."""
        if self.data is not None:
            yield self.data
            return
        offset = 0
        while offset < self.size:
            piece = os.pread(self.fd, min(_CHUNK, self.size - offset), offset)
            if not piece:
                break
            offset += len(piece)
            yield piece

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.data = None


class _Data:
    """What the open handles of one file share: the spool once the file is changed."""

    __slots__ = ("count", "spool", "dirty", "generation", "mtime", "info", "times")

    def __init__(self) -> None:
        self.count = 0
        #: fsspec's info of the file as last seen (``fstat`` of an open file asks no more)
        self.info: dict[str, Any] | None = None
        self.spool: _Spool | None = None
        self.dirty = False
        #: bumped whenever the stored object changes through the adapter: a handle's cached
        #: reader of an older generation is reopened
        self.generation = 0
        self.mtime = 0
        #: (atime, mtime) set after the last change: written back with the data
        self.times: tuple[int, int] | None = None


class _Node:
    """An entry the adapter has met: its place in the tree and its inode number."""

    __slots__ = ("name", "parent", "children", "ino", "is_dir", "data", "gone")

    def __init__(self, name: str, parent: _Node | None, ino: int, is_dir: bool) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, _Node] = {}
        self.ino = ino
        self.is_dir = is_dir
        self.data: _Data | None = None
        #: removed (unlinked, or replaced by a rename) through the adapter
        self.gone = False

    def rel(self) -> str:
        """The path from the adapter's root (``""`` for the root)."""
        parts: list[str] = []
        node: _Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))

    def __repr__(self) -> str:
        kind = "dir" if self.is_dir else "file"
        return f"<fsspec {kind} {self.rel() or '/'!r} ino={self.ino}>"


class _Handle:
    """An open file: its node, and a file object of the storage cached for reading."""

    __slots__ = ("node", "data", "reader", "position", "generation")

    def __init__(self, node: _Node, data: _Data) -> None:
        self.node = node
        self.data = data
        self.reader: Any = None
        self.position = 0
        self.generation = -1

    def __repr__(self) -> str:
        return f"<fsspec file handle {self.node!r}>"


def _ns(value: Any) -> int | None:
    """Nanoseconds since the epoch from what an fsspec ``info`` holds as a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value * 1_000_000_000) if value > 0 else None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000) * 1000
    if isinstance(value, tuple) and len(value) == 6:  # a zip member's date_time
        try:
            return int(datetime(*value).timestamp()) * 1_000_000_000
        except (TypeError, ValueError, OverflowError):
            return None
    return None


#: fsspec protocols of object stores: a directory is a prefix, and ``mkdir`` writes a marker.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss",
                            "r2", "cos", "obs", "tos"})


def _protocol_names(fs: Any) -> set[str]:
    proto = fs.protocol
    return {proto} if isinstance(proto, str) else set(proto)


_TIME_KEYS = ("mtime", "LastModified", "last_modified", "modified", "updated", "created",
              "date_time")


class FsspecBackend:
    """A wasifs backend over an fsspec filesystem (see the module documentation).

    ``fs`` is an :class:`fsspec.AbstractFileSystem`; ``root`` the directory inside it that is
    the backend's root (``"bucket/prefix"``, ``"/abs/dir"``, ``""`` for an archive's top;
    fsspec's own path form). ``readonly`` makes every change ``EROFS`` (archives are always
    read-only). ``dir_markers`` chooses how ``mkdir`` makes a directory: ``None`` (default)
    tries fsspec's ``mkdir`` once and uses ``dir/`` marker objects if it leaves nothing;
    ``True``/``False`` force one way. ``spool_memory`` is how many bytes of a file being
    changed stay in memory before its spool moves to a temporary host file;
    ``max_file_size`` bounds the size a file can reach through the adapter (``EFBIG``
    beyond it: a guest's one byte written far past the end would otherwise make the
    adapter upload the zeros in between).
    """

    #: True when every mutating call raises ``OSError(errno.EROFS)``.
    readonly: bool

    def __init__(self, fs: Any, root: str = "", *, readonly: bool = False,
                 dir_markers: bool | None = None, spool_memory: int = 8 << 20,
                 max_file_size: int = 64 << 30) -> None:
        if not isinstance(fs, fsspec.AbstractFileSystem):
            raise TypeError(f"FsspecBackend needs an fsspec.AbstractFileSystem, got "
                            f"{fs!r} ({type(fs).__qualname__})")
        if not isinstance(root, str):
            raise TypeError(f"root must be a str, not {type(root).__name__}")
        self.fs = fs
        self._archive = isinstance(fs, AbstractArchiveFileSystem)
        self._local = isinstance(fs, LocalFileSystem)
        self.readonly = bool(readonly) or self._archive
        if dir_markers is None and _protocol_names(fs) & _OBJECT_STORES:
            dir_markers = True
        self.dir_markers = dir_markers
        self.spool_memory = int(spool_memory)
        self.max_file_size = int(max_file_size)
        base = fs._strip_protocol(root) if root else ""
        if base and base != fs.root_marker:
            base = base.rstrip("/")
        self._base = base
        self._prefix = base if base.endswith("/") or not base else base + "/"
        self._dev = next(_DEVICES)
        self._inos = itertools.count(2)
        self._start = time.time_ns()
        self._root = _Node("", None, 1, True)
        info = self._info(base, "/") if base or self._archive else None
        if info is not None and self._kind(info) != S_IFDIR:
            raise _error(errno.ENOTDIR, root)

    def __repr__(self) -> str:
        ro = "readonly=True, " if self.readonly else ""
        proto = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"<FsspecBackend {ro}{proto}:{self._base!r}>"

    # --- paths and storage calls -------------------------------------------------------
    def _path(self, node: _Node, name: str | None = None) -> str:
        rel = node.rel()
        if name is not None:
            rel = f"{rel}/{name}" if rel else name
        return self._prefix + rel if rel else self._base

    def _call(self, name: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn(*args)`` with what the storage raises turned into an ``OSError`` naming
        ``name``."""
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            if isinstance(exc.errno, int):
                raise
            raise _storage_error(exc, name) from exc
        except (NotImplementedError, io.UnsupportedOperation, ValueError, KeyError) as exc:
            raise _storage_error(exc, name) from exc

    def _info(self, path: str, name: str) -> dict[str, Any] | None:
        """fsspec's ``info`` of ``path``, or None when there is nothing there."""
        if self._local:
            return self._local_info(path, name)
        try:
            info: dict[str, Any] = self.fs.info(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise _storage_error(exc, name) from exc
        except (NotImplementedError, ValueError, KeyError) as exc:
            raise _storage_error(exc, name) from exc
        return info

    # The host's own filesystem (fsspec's LocalFileSystem): its ``info`` follows a final
    # symlink, has no atime and gives times as float seconds; the host has more. The entry
    # is read with ``os.lstat`` (nanosecond times, the host's inode number, the link
    # itself), and symlinks, hard links and times are the host's.
    def _local_info(self, path: str, name: str) -> dict[str, Any] | None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                return None
            raise _storage_error(exc, name) from exc
        mode = st.st_mode
        info: dict[str, Any] = {
            "name": path, "size": st.st_size, "mode": mode, "ino": st.st_ino,
            "nlink": st.st_nlink, "atime_ns": st.st_atime_ns, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns,
            "type": "directory" if _stat.S_ISDIR(mode) else "file" if _stat.S_ISREG(mode)
            else "other",
        }
        if _stat.S_ISLNK(mode):
            info["islink"] = True
            try:
                info["destination"] = os.readlink(path)
            except OSError as exc:
                raise _storage_error(exc, name) from exc
        return info

    @staticmethod
    def _kind(info: dict[str, Any]) -> int:
        if info.get("islink"):
            return S_IFLNK
        kind = info.get("type")
        if kind == "directory":
            return S_IFDIR
        return S_IFREG

    def _mode(self, info: dict[str, Any], kind: int) -> int:
        mode = info.get("mode")
        if isinstance(mode, int) and not isinstance(mode, bool):
            return kind | (mode & 0o7777)
        attr = info.get("external_attr")
        if isinstance(attr, int) and attr >> 16:
            return kind | ((attr >> 16) & 0o7777)
        if kind == S_IFLNK:
            return S_IFLNK | 0o777
        return kind | (0o755 if kind == S_IFDIR else 0o644)

    def _time(self, info: dict[str, Any], key_ns: str = "mtime_ns") -> int:
        exact = info.get(key_ns)
        if isinstance(exact, int):
            return exact
        for key in _TIME_KEYS:
            value = _ns(info.get(key))
            if value is not None:
                return value
        return self._start

    def _child(self, dir: _Node, name: str, is_dir: bool) -> _Node:
        """The node of ``name`` in ``dir`` (made, with a new inode number, on first sight)."""
        node = dir.children.get(name)
        if node is None:
            node = dir.children[name] = _Node(name, dir, next(self._inos), is_dir)
        else:
            node.is_dir = is_dir
        return node

    def _alive(self, dir: _Node, name: str) -> None:
        if dir.gone:
            raise _error(errno.ENOENT, name)

    def _lookup(self, dir: _Node, name: str) -> tuple[dict[str, Any], int]:
        """``(info, type bits)`` of ``name`` in ``dir``; ENOENT when missing."""
        if dir.gone:
            raise _error(errno.ENOENT, name)
        info = self._info(self._path(dir, name), name)
        if info is None:
            raise _error(errno.ENOENT, name)
        return info, self._kind(info)

    def _stat(self, node: _Node, info: dict[str, Any] | None, kind: int) -> Stat:
        data = node.data
        if info is None:
            info = {}
        size = info.get("size") or 0
        if kind == S_IFLNK:
            size = len(str(info.get("destination", "")).encode("utf-8", "surrogateescape"))
        elif kind == S_IFDIR:
            size = 0
        mtime = self._time(info)
        atime = self._time(info, "atime_ns") if "atime_ns" in info else mtime
        ctime = self._time(info, "ctime_ns") if "ctime_ns" in info else mtime
        if data is not None:
            if data.spool is not None:
                size = data.spool.size
            if data.mtime:
                mtime = data.mtime
                ctime = max(ctime, data.mtime)
        nlink = info.get("nlink")
        if not isinstance(nlink, int) or isinstance(nlink, bool):
            nlink = 2 if kind == S_IFDIR else 1
        if node.gone:
            nlink = 0
        ino = info.get("ino") if self._local else None
        if isinstance(ino, int):
            node.ino = ino
        return _new_stat(Stat, (self._dev, ino if isinstance(ino, int) else node.ino,
                                self._mode(info, kind), nlink, int(size), atime, mtime, ctime))

    def _refuse_if_readonly(self, name: str) -> None:
        if self.readonly:
            raise _error(errno.EROFS, name)

    # --- handles -------------------------------------------------------------------------
    def root(self) -> _Node:
        return self._root

    def opendir(self, dir: _Node, name: str) -> _Node:
        info, kind = self._lookup(dir, name)
        if kind == S_IFDIR:
            return self._child(dir, name, True)
        raise _error(errno.ELOOP if kind == S_IFLNK else errno.ENOTDIR, name)

    def open_file(self, dir: _Node, name: str, *, read: bool, write: bool,
                  create: bool = False, exclusive: bool = False, truncate: bool = False,
                  mode: int = 0o666) -> _Handle:
        self._alive(dir, name)
        path = self._path(dir, name)
        info = self._info(path, name)
        if info is None:
            if not create:
                raise _error(errno.ENOENT, name)
            self._refuse_if_readonly(name)
            self._call(name, self.fs.pipe_file, path, b"")
            node = self._child(dir, name, False)
            node.gone = False
            if node.data is not None:  # a stale node: the file was removed behind our back
                self._reset(node.data)
        else:
            if create and exclusive:
                raise _error(errno.EEXIST, name)
            kind = self._kind(info)
            if kind != S_IFREG:
                raise _error(errno.ELOOP if kind == S_IFLNK else errno.EISDIR, name)
            if write or truncate:
                self._refuse_if_readonly(name)
            node = self._child(dir, name, False)
            if truncate:
                self._call(name, self.fs.pipe_file, path, b"")
                if node.data is not None:
                    self._reset(node.data)
        data = node.data
        if data is None:
            data = node.data = _Data()
        data.info = info if info is not None and not truncate else None
        data.count += 1
        return _Handle(node, data)

    def _reset(self, data: _Data) -> None:
        """The stored file was emptied (or made anew): open handles see it empty."""
        if data.spool is not None:
            data.spool.close()
            data.spool = None
        data.dirty = False
        data.generation += 1
        data.info = None
        data.mtime = time.time_ns()

    def close(self, handle: Any) -> None:
        """Give back a handle. The last handle of a changed file writes it back: a failure
        to do so raises that ``OSError`` (the handle is given back all the same)."""
        if type(handle) is not _Handle:
            return
        reader = handle.reader
        if reader is not None:
            handle.reader = None
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - a reader failing to close loses nothing
                pass
        data = handle.data
        if data.count <= 0:
            return
        data.count -= 1
        if data.count:
            return
        node = handle.node
        if node.data is data:
            node.data = None
        try:
            if data.dirty and not node.gone:
                self._write_back(node, data)
        finally:
            if data.spool is not None:
                data.spool.close()
                data.spool = None

    def same(self, a: Any, b: Any) -> bool:
        na = a.node if type(a) is _Handle else a
        nb = b.node if type(b) is _Handle else b
        if na is nb:
            return True
        # two names of one host file (hard links) are two nodes
        return self._local and self.fstat(a).ino == self.fstat(b).ino

    # --- metadata ------------------------------------------------------------------------
    def fstat(self, handle: Any) -> Stat:
        if type(handle) is _Handle:
            node = handle.node
            info = handle.data.info
            if info is not None or node.gone:
                return self._stat(node, info, S_IFREG)
        else:
            node = handle
        if node.gone:
            return self._stat(node, None, S_IFDIR if node.is_dir else S_IFREG)
        path = self._path(node)
        info = self._info(path, node.name or "/")
        if type(handle) is _Handle and info is not None:
            handle.data.info = info
        if info is None:
            if node is self._root:
                return self._stat(node, None, S_IFDIR)
            if node.data is not None and node.data.spool is not None:
                return self._stat(node, None, S_IFREG)
            raise _error(errno.ENOENT, node.name)
        return self._stat(node, info, self._kind(info))

    def lstat(self, dir: _Node, name: str) -> Stat:
        info, kind = self._lookup(dir, name)
        return self._stat(self._child(dir, name, kind == S_IFDIR), info, kind)

    def readlink(self, dir: _Node, name: str) -> str:
        info, kind = self._lookup(dir, name)
        if kind != S_IFLNK:
            raise _error(errno.EINVAL, name)
        return str(info.get("destination", ""))

    def _entries(self, node: _Node) -> list[dict[str, Any]]:
        """fsspec's listing of a directory, without the directory itself and its marker."""
        if node.gone:
            return []
        path = self._path(node)
        try:
            listing = self._call(node.name or "/", self.fs.ls, path, detail=True)
        except FileNotFoundError:
            if node is self._root:
                return []  # an object store's prefix with nothing in it yet
            raise
        own = path.rstrip("/")
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for entry in listing:
            full = str(entry.get("name", "")).rstrip("/")
            if full == own or not full:
                continue
            name = full.rsplit("/", 1)[-1]
            if name in seen or name in (".", ".."):
                continue
            seen.add(name)
            entry["_wasifs_name"] = name
            out.append(entry)
        return out

    def listdir(self, dir: _Node) -> list[DirEntry]:
        """The entries in the order fsspec's ``ls`` gives them."""
        out = []
        for entry in self._entries(dir):
            name = entry["_wasifs_name"]
            kind = self._kind(entry)
            node = self._child(dir, name, kind == S_IFDIR)
            ino = entry.get("ino") if self._local else None
            if isinstance(ino, int):
                node.ino = ino
            out.append(DirEntry(name, node.ino, kind))
        return out

    def set_times(self, dir: _Node, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        """The host's times on the local filesystem; elsewhere ``ENOTSUP`` (fsspec cannot
        set a time)."""
        self._refuse_if_readonly(name)
        info, kind = self._lookup(dir, name)
        if not self._local:
            raise _error(errno.ENOTSUP, name)
        node = dir.children.get(name)
        self._set_times(self._path(dir, name), info, atime_ns, mtime_ns, name,
                        node.data if node is not None and kind == S_IFREG else None)

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None:
        node: _Node = handle.node if type(handle) is _Handle else handle
        self._refuse_if_readonly(node.name)
        if not self._local:
            raise _error(errno.ENOTSUP)
        if node.gone:
            return
        path = self._path(node)
        info = self._info(path, node.name)
        if info is None:
            raise _error(errno.ENOENT, node.name)
        self._set_times(path, info, atime_ns, mtime_ns, node.name,
                        handle.data if type(handle) is _Handle else node.data)

    def _set_times(self, path: str, info: dict[str, Any], atime_ns: int | None,
                   mtime_ns: int | None, name: str, data: _Data | None) -> None:
        if atime_ns is None and mtime_ns is None:
            return
        times = (self._time(info, "atime_ns") if atime_ns is None else atime_ns,
                 self._time(info) if mtime_ns is None else mtime_ns)
        try:
            os.utime(path, ns=times, follow_symlinks=False)
        except OSError as exc:
            raise _storage_error(exc, name) from exc
        if data is not None:
            data.info = None
            data.mtime = 0  # the host's mtime is the file's now
            data.times = times  # and stays so when its spool is written back

    # --- file data -----------------------------------------------------------------------
    def pread(self, file: _Handle, buf: memoryview, offset: int) -> int:
        if offset < 0:
            raise _error(errno.EINVAL)
        data = file.data
        spool = data.spool
        if spool is not None:
            return spool.pread(buf, offset)
        if not len(buf):
            return 0
        reader = file.reader
        if reader is None or file.generation != data.generation:
            reader = self._reader(file)
        if file.position != offset:
            try:
                reader.seek(offset)
            except (OSError, ValueError) as exc:
                raise _storage_error(exc, file.node.name) from exc
        try:
            n = reader.readinto(buf)
        except (OSError, ValueError) as exc:
            file.position = -1
            raise _storage_error(exc, file.node.name) from exc
        n = n or 0
        file.position = offset + n
        return n

    def _reader(self, file: _Handle) -> Any:
        if file.reader is not None:
            try:
                file.reader.close()
            except Exception:  # noqa: BLE001
                pass
            file.reader = None
        node = file.node
        if self._local:  # the host's file, unbuffered: one read(2) per guest read
            try:
                reader = open(self._path(node), "rb", buffering=0)  # noqa: SIM115
            except OSError as exc:
                raise _storage_error(exc, node.name) from exc
        else:
            reader = self._call(node.name, self.fs.open, self._path(node), "rb")
        file.reader = reader
        file.position = 0
        file.generation = file.data.generation
        return reader

    def _spool(self, file: _Handle) -> _Spool:
        """The file's spool, made on the first change from what is stored."""
        data = file.data
        spool = data.spool
        if spool is not None:
            return spool
        self._refuse_if_readonly(file.node.name)
        spool = _Spool(self.spool_memory)
        try:
            self._load(file.node, spool)
        except BaseException:
            spool.close()
            raise
        data.spool = spool
        return spool

    def _load(self, node: _Node, spool: _Spool) -> None:
        path = self._path(node)
        name = node.name
        with self._call(name, self.fs.open, path, "rb") as src:
            offset = 0
            while True:
                try:
                    piece = src.read(_CHUNK)
                except (OSError, ValueError) as exc:
                    raise _storage_error(exc, name) from exc
                if not piece:
                    break
                spool.pwrite(piece, offset)
                offset += len(piece)

    def _changed(self, data: _Data) -> None:
        data.dirty = True
        data.mtime = time.time_ns()
        data.times = None

    def _check_size(self, end: int) -> None:
        if end > self.max_file_size:
            raise _error(errno.EFBIG)

    def pwrite(self, file: _Handle, data: memoryview | bytes, offset: int) -> int:
        if self.readonly:
            raise _error(errno.EROFS)
        if offset < 0:
            raise _error(errno.EINVAL)
        if not len(data):
            return 0
        self._check_size(offset + len(data))
        spool = self._spool(file)
        n = spool.pwrite(data, offset)
        self._changed(file.data)
        return n

    def append(self, file: _Handle, data: memoryview | bytes) -> tuple[int, int]:
        if self.readonly:
            raise _error(errno.EROFS)
        if not len(data):
            return 0, self.fstat(file).size
        spool = self._spool(file)
        self._check_size(spool.size + len(data))
        spool.pwrite(data, spool.size)
        self._changed(file.data)
        return len(data), spool.size

    def ftruncate(self, file: _Handle, size: int) -> None:
        if self.readonly:
            raise _error(errno.EROFS)
        if size < 0:
            raise _error(errno.EINVAL)
        self._check_size(size)
        self._spool(file).truncate(size)
        self._changed(file.data)

    def allocate(self, file: _Handle, offset: int, length: int) -> None:
        if self.readonly:
            raise _error(errno.EROFS)
        if offset < 0 or length <= 0:
            raise _error(errno.EINVAL)
        self._check_size(offset + length)
        spool = self._spool(file)
        if offset + length > spool.size:
            spool.truncate(offset + length)
            self._changed(file.data)

    def fsync(self, file: Any, dataonly: bool = False) -> None:
        """Write a changed file back to the storage (raises the storage's error)."""
        if type(file) is not _Handle:
            return
        data = file.data
        if data.dirty and not file.node.gone:
            self._write_back(file.node, data)

    def _write_back(self, node: _Node, data: _Data) -> None:
        spool = data.spool
        if spool is None:
            data.dirty = False
            return
        path = self._path(node)
        name = node.name
        if spool.data is not None:
            self._call(name, self.fs.pipe_file, path, bytes(spool.data))
        else:
            with self._call(name, self.fs.open, path, "wb") as out:
                for piece in spool.chunks():
                    self._call(name, out.write, piece)
        data.dirty = False
        data.generation += 1
        data.info = None
        if data.times is not None and self._local:
            try:
                os.utime(path, ns=data.times)
            except OSError as exc:
                raise _storage_error(exc, name) from exc

    # --- namespace -----------------------------------------------------------------------
    def _keep_data(self, node: _Node | None) -> None:
        """Before ``node`` is removed or replaced in the storage: if the file is open, its
        handles keep its data, in a spool of its own."""
        if node is None:
            return
        data = node.data
        if data is not None and data.spool is None and not node.is_dir:
            spool = _Spool(self.spool_memory)
            try:
                self._load(node, spool)
            except BaseException:
                spool.close()
                raise
            data.spool = spool

    def _detach(self, node: _Node) -> None:
        """``node`` (and all below it) left the tree: removed, or replaced by a rename."""
        parent = node.parent
        if parent is not None and parent.children.get(node.name) is node:
            del parent.children[node.name]
        node.gone = True
        stack = [node]
        while stack:
            for child in stack.pop().children.values():
                child.gone = True
                stack.append(child)

    def _make_dir(self, path: str, name: str) -> None:
        if self.dir_markers:
            self._call(name, self.fs.pipe_file, path + "/", b"")
            return
        self._call(name, self.fs.mkdir, path, create_parents=False)
        if self.dir_markers is None:
            info = self._info(path, name)
            self.dir_markers = info is None or self._kind(info) != S_IFDIR
            if self.dir_markers:
                self._call(name, self.fs.pipe_file, path + "/", b"")

    def _keep_dir(self, node: _Node) -> None:
        """A directory whose last entry went away would vanish where it was only a prefix
        (on an object store; on fsspec's memory store, one made by writing a file under
        it): give it a marker, or make it a real directory."""
        if self._local or node is self._root or node.gone:
            return
        path = self._path(node)
        if self._info(path, node.name) is None:
            if self.dir_markers:
                self._call(node.name, self.fs.pipe_file, path + "/", b"")
            else:
                self._make_dir(path, node.name)

    def mkdir(self, dir: _Node, name: str, mode: int = 0o777) -> None:
        self._alive(dir, name)
        path = self._path(dir, name)
        if self._info(path, name) is not None:
            raise _error(errno.EEXIST, name)
        self._refuse_if_readonly(name)
        self._make_dir(path, name)
        self._child(dir, name, True).gone = False

    def _remove_dir(self, path: str, name: str) -> None:
        """Remove the empty directory at ``path`` (its marker, on an object store). A
        directory that only existed through its entries is gone with them already."""
        try:
            if self.dir_markers:
                self.fs.rm_file(path + "/")
            else:
                self.fs.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (None, errno.ENOENT):
                raise
            if exc.errno is None:
                raise _storage_error(exc, name) from exc
        except (NotImplementedError, ValueError) as exc:
            raise _storage_error(exc, name) from exc
        self._invalidate(path)

    def _invalidate(self, path: str) -> None:
        invalidate = getattr(self.fs, "invalidate_cache", None)
        if callable(invalidate):
            invalidate(path)

    def rmdir(self, dir: _Node, name: str) -> None:
        self._refuse_if_readonly(name)
        info, kind = self._lookup(dir, name)
        if kind != S_IFDIR:
            raise _error(errno.ENOTDIR, name)
        node = self._child(dir, name, True)
        if self._entries(node):
            raise _error(errno.ENOTEMPTY, name)
        self._remove_dir(self._path(dir, name), name)
        self._detach(node)
        self._keep_dir(dir)

    def unlink(self, dir: _Node, name: str) -> None:
        self._refuse_if_readonly(name)
        info, kind = self._lookup(dir, name)
        if kind == S_IFDIR:
            raise _error(errno.EISDIR, name)
        node = self._child(dir, name, False)
        self._keep_data(node)
        self._call(name, self.fs.rm_file, self._path(dir, name))
        self._detach(node)
        self._keep_dir(dir)

    def rename(self, src_dir: _Node, src: str, dst_dir: _Node, dst: str) -> None:
        self._refuse_if_readonly(src)
        info, kind = self._lookup(src_dir, src)
        self._alive(dst_dir, dst)
        node = self._child(src_dir, src, kind == S_IFDIR)
        if src_dir is dst_dir and src == dst:
            return
        src_path, dst_path = self._path(src_dir, src), self._path(dst_dir, dst)
        target = self._info(dst_path, dst)
        target_kind = self._kind(target) if target is not None else 0
        if target_kind == S_IFDIR:
            old = self._child(dst_dir, dst, True)
            up: _Node | None = src_dir
            while up is not None:  # the target is an ancestor of the source
                if up is old:
                    raise _error(errno.ENOTEMPTY, dst)
                up = up.parent
        if kind == S_IFDIR:
            ancestor: _Node | None = dst_dir
            while ancestor is not None:
                if ancestor is node:
                    raise _error(errno.EINVAL, dst)
                ancestor = ancestor.parent
            if target is not None:
                if target_kind != S_IFDIR:
                    raise _error(errno.ENOTDIR, dst)
                if self._entries(self._child(dst_dir, dst, True)):
                    raise _error(errno.ENOTEMPTY, dst)
        elif target_kind == S_IFDIR:
            raise _error(errno.EISDIR, dst)
        replaced = dst_dir.children.get(dst) if target is not None else None
        self._keep_data(replaced)
        if node.data is not None and node.data.dirty:
            self._write_back(node, node.data)  # what is moved is what the guest wrote
        self._move(src_path, dst_path, kind == S_IFDIR, target is not None, src)
        if replaced is not None:
            self._detach(replaced)
        del src_dir.children[src]
        node.name = dst
        node.parent = dst_dir
        dst_dir.children[dst] = node
        if node.data is not None:
            node.data.generation += 1
        self._keep_dir(src_dir)

    def _sys_path(self, path: str) -> str | None:
        """The host path of ``path`` where the storage is the host's own filesystem (then a
        rename is the host's ``rename(2)``), else None."""
        return path if self._local else None

    def _move(self, src: str, dst: str, is_dir: bool, replace: bool, name: str) -> None:
        """Move the entry at ``src`` to ``dst`` once the ``rename(2)`` checks are done
        (``replace``: something is at ``dst``, an empty directory if ``is_dir``)."""
        src_sys, dst_sys = self._sys_path(src), self._sys_path(dst)
        if src_sys is not None and dst_sys is not None:
            try:
                os.replace(src_sys, dst_sys)
            except OSError as exc:
                raise _storage_error(exc, name) from exc
        elif is_dir:
            if replace:
                self._remove_dir(dst, name)
            self._move_tree(src, dst, name)
        else:
            self._call(name, self.fs.mv, src, dst)

    def _move_tree(self, src: str, dst: str, name: str) -> None:
        """Move a directory where the storage has no rename: make each directory at the
        destination, move each file, remove the source directories (deepest first)."""
        made: list[str] = []
        pending = [(src, dst)]
        while pending:
            s, d = pending.pop()
            self._make_dir(d, name)
            made.append(s)
            listing = self._call(name, self.fs.ls, s, detail=True)
            own = s.rstrip("/")
            for entry in listing:
                full = str(entry.get("name", "")).rstrip("/")
                if full == own or not full:
                    continue
                child = full.rsplit("/", 1)[-1]
                if self._kind(entry) == S_IFDIR:
                    pending.append((f"{own}/{child}", f"{d}/{child}"))
                else:
                    self._call(name, self.fs.mv, f"{own}/{child}", f"{d}/{child}")
        for path in reversed(made):
            self._remove_dir(path, name)

    def link(self, src_dir: _Node, src: str, dst_dir: _Node, dst: str) -> None:
        """The host's hard link on the local filesystem (never following a symlink);
        elsewhere ``EPERM``, as Linux answers on a filesystem without them (``EROFS`` when
        read-only)."""
        self._refuse_if_readonly(dst)
        if not self._local:
            raise _error(errno.EPERM, dst)
        info, kind = self._lookup(src_dir, src)
        self._alive(dst_dir, dst)
        node = src_dir.children.get(src)
        if node is not None and node.data is not None and node.data.dirty:
            self._write_back(node, node.data)  # the other name shows what was written
        try:
            os.link(self._path(src_dir, src), self._path(dst_dir, dst), follow_symlinks=False)
        except OSError as exc:
            raise _storage_error(exc, dst) from exc

    def symlink(self, target: str, dir: _Node, name: str) -> None:
        """The host's symlink holding ``target`` verbatim on the local filesystem;
        elsewhere no symlinks are made: ``EPERM`` (``EROFS`` when read-only)."""
        if self._local:
            self._alive(dir, name)
            if self._info(self._path(dir, name), name) is not None:
                raise _error(errno.EEXIST, name)
        self._refuse_if_readonly(name)
        if not self._local:
            raise _error(errno.EPERM, name)
        if not target:
            raise _error(errno.ENOENT, name)
        try:
            os.symlink(target, self._path(dir, name))
        except OSError as exc:
            raise _storage_error(exc, name) from exc


# --- opening from URLs --------------------------------------------------------------------
def _protocols(url: str) -> list[str]:
    """The protocol of each level of a (chained) fsspec URL, outermost first."""
    from fsspec.core import split_protocol  # type: ignore[import-untyped]

    out = []
    for bit in url.split("::"):
        proto = split_protocol(bit)[0] if "://" in bit else (bit if bit.isalnum() else None)
        out.append(proto or "file")
    return out


def url_to_backend(url: str, *, readonly: bool = False, dir_markers: bool | None = None,
                   **storage_options: Any) -> FsspecBackend:
    """An :class:`FsspecBackend` for a URL as :func:`fsspec.core.url_to_fs` understands it
    (``zip://sub::s3://bucket/a.zip``, ``s3://bucket/prefix``, ``memory://data`` ...).

    ``storage_options`` go to fsspec as to ``url_to_fs`` (options of an inner level under its
    protocol's name: ``s3={"endpoint_url": ...}``). Every level is made with
    ``skip_instance_cache=True``.
    """
    from fsspec.core import url_to_fs

    url = _archive_shorthand(url)
    options = dict(storage_options)
    options.setdefault("skip_instance_cache", True)
    for proto in _protocols(url)[1:]:
        inner = options.get(proto)
        inner = dict(inner) if isinstance(inner, dict) else {}
        inner.setdefault("skip_instance_cache", True)
        options[proto] = inner
    try:
        fs, path = url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"fsspec cannot open {url!r}: {exc}") from exc
    return FsspecBackend(fs, path, readonly=readonly, dir_markers=dir_markers)


#: fsspec's archive filesystems, whose URL is ``PROTO://INNER::ARCHIVE``
_ARCHIVE_PROTOCOLS = ("zip", "tar", "libarchive")


def _archive_shorthand(url: str) -> str:
    """``zip:///srv/a.zip`` (an archive file on the host, no ``::`` chain) as fsspec spells
    it, ``zip://::/srv/a.zip``: the whole archive at the mount's root."""
    proto, sep, rest = url.partition("://")
    if not sep or proto not in _ARCHIVE_PROTOCOLS or "::" in rest or not rest:
        return url
    return f"{proto}://::{rest}" if os.path.isfile(rest) else url


def open_fsspec(location: str, **options: Any) -> FsspecBackend:
    """The ``fsspec`` backend name: ``fsspec://URL`` opens the fsspec URL ``URL``."""
    if not location:
        raise ValueError("an fsspec backend URL needs an fsspec URL after 'fsspec://' "
                         "(fsspec://zip://::/data/a.zip)")
    return url_to_backend(location, **options)
