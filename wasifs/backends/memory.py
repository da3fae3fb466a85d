"""The in-memory backend: a per-instance POSIX inode tree.

Not fsspec's ``MemoryFileSystem`` (whose store is one class-level dict shared by every
instance, with pseudo-directories): each :class:`MemoryFileSystem` owns its tree, with real
directories, hard links (``nlink``), symlinks stored verbatim, stable inode numbers and
nanosecond times updated as POSIX says (a write marks mtime and ctime, a read atime, a
namespace change the parent's mtime and ctime, ...).

A handle is the inode object itself: ``close`` does nothing, a lookup is a dict access, and
a file's data is one ``bytearray`` that :meth:`MemoryFileSystem.pread` copies straight into
the caller's buffer (one copy) and :meth:`MemoryFileSystem.pwrite` slice-assigns into
(appends are amortised O(n), as ``bytearray`` over-allocates). A file with a hole of
:data:`BLOCK` bytes or more is stored in blocks instead, holes left out (:class:`_Sparse`),
so that no size a guest asks for costs memory it did not write. Permission bits are stored and
reported but not enforced (there is one user). Threads: every namespace change (create,
mkdir, rmdir, unlink, rename, link, symlink) holds the filesystem's lock, so that it is atomic
with its checks against the others (two threads renaming ``A`` into ``B`` and ``B`` into ``A``
never make a cycle; two exclusive creates of one name never both succeed); lookups, reads and
writes do not take it (each is one ``dict`` or ``bytearray`` operation under the GIL, or, for
a sparse file, a sequence of them: concurrent writes to one region of one sparse file may
interleave, as unsynchronised writes may on a host).
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
import weakref
from stat import S_IFDIR, S_IFLNK, S_IFREG
from time import time_ns as _now
from typing import Any, cast

from ._facade import HandleFileSystem
from ._protocol import PATH_MAX, DirEntry, Stat, name_too_long

__all__ = ("MemoryFileSystem",)

_EROFS = errno.EROFS

#: Reads up to this size copy through a small ``bytes`` (cheaper than a memoryview).
_SMALL_READ = 256

#: A file is stored densely (one ``bytearray``) until a hole of this many bytes or more
#: would be made in it (a write past the end, a truncate or an allocate that grows it);
#: from then on in blocks of this size, where a hole costs nothing (:class:`_Sparse`).
BLOCK = 1 << 16
_ZEROS = memoryview(bytes(BLOCK))

#: st_dev numbers of memory filesystems: "wasi" in the high half, a serial in the low one, so
#: that they never collide with each other (and are unlikely to collide with a host device).
_DEVICES = itertools.count((0x77617369 << 32) + 1)


_new_stat = tuple.__new__

#: What one directory entry (a name, an inode, its bookkeeping) counts against
#: ``max_bytes``: a name of at most 255 bytes, a dict slot and an inode object.
ENTRY_BYTES = 512


def _footprint(node: _Inode) -> int:
    """The bytes a node counts against a byte cap: its entries (one per hard link of a file)
    and its data (a file's stored bytes, holes excluded; a symlink's target)."""
    t = type(node)
    if t is _File:
        data = node.data  # type: ignore[attr-defined]
        stored = len(data) if type(data) is bytearray else \
            sum([len(b) for b in data.blocks.values()])
        return ENTRY_BYTES * (node.nlink if node.nlink > 1 else 1) + stored
    if t is _Link:
        return ENTRY_BYTES + cast(int, node.size)  # type: ignore[attr-defined]
    return ENTRY_BYTES


def _credit(ref: weakref.ref[MemoryFileSystem], key: int, cell: list[int]) -> None:
    """A node of a capped filesystem is gone (no name, no handle): give its bytes back."""
    fs = ref()
    if fs is not None:
        with fs._acct_lock:
            fs._used -= cell[0]
            fs._cells.pop(key, None)


def _new_name(name: str) -> None:
    """Refuse a name a new entry may not have: more than NAME_MAX bytes (as a host would)."""
    if len(name) > 63 and name_too_long(name):
        raise _error(errno.ENAMETOOLONG, name)


def _error(code: int, name: str | None = None) -> OSError:
    """``OSError`` of the subclass Python picks for ``code`` (``FileNotFoundError`` ...)."""
    if name is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), name)


class _Inode:
    __slots__ = ("ino", "mode", "nlink", "atime", "mtime", "ctime", "__weakref__")

    ino: int
    mode: int
    nlink: int
    atime: int
    mtime: int
    ctime: int

    def __init__(self, ino: int, mode: int, now: int) -> None:
        self.ino = ino
        self.mode = mode
        self.nlink = 1
        self.atime = self.mtime = self.ctime = now


class _Sparse:
    """The data of a file with holes: blocks of :data:`BLOCK` bytes by index, and the size.

    Block ``k`` holds the bytes from ``k * BLOCK`` on; it may be shorter than ``BLOCK`` (the
    rest of it is a hole) and a missing block is all hole. A hole reads as zeros and costs
    no memory. ``len()`` is the file's size.
    """

    __slots__ = ("blocks", "size")

    def __init__(self, blocks: dict[int, bytearray], size: int) -> None:
        self.blocks = blocks
        self.size = size

    @classmethod
    def of(cls, data: bytearray) -> _Sparse:
        """The same content as the dense ``data`` (copied into blocks)."""
        view = memoryview(data)
        try:
            blocks = {k: bytearray(view[k * BLOCK:(k + 1) * BLOCK])
                      for k in range(-(-len(data) // BLOCK))}
        finally:
            view.release()
        return cls(blocks, len(data))

    def __len__(self) -> int:
        return self.size

    def read_into(self, buf: memoryview, offset: int, n: int) -> None:
        """Copy the ``n`` bytes at ``offset`` (inside the file) into ``buf``."""
        blocks, pos, done = self.blocks, offset, 0
        while done < n:
            k, r = divmod(pos, BLOCK)
            take = min(BLOCK - r, n - done)
            blk = blocks.get(k)
            have = 0
            if blk is not None and len(blk) > r:
                have = min(len(blk) - r, take)
                buf[done:done + have] = memoryview(blk)[r:r + have]
            if have < take:
                buf[done + have:done + take] = _ZEROS[:take - have]
            done += take
            pos += take

    def write(self, data: memoryview | bytes, offset: int) -> None:
        """Write ``data`` at ``offset`` (the size grows to cover it)."""
        blocks, n, done = self.blocks, len(data), 0
        src = memoryview(data)
        try:
            if src.ndim != 1 or src.itemsize != 1:
                src = src.cast("B")
            while done < n:
                k, r = divmod(offset + done, BLOCK)
                take = min(BLOCK - r, n - done)
                blk = blocks.get(k)
                if blk is None:
                    blk = blocks[k] = bytearray()
                if len(blk) < r:
                    blk += _ZEROS[:r - len(blk)]
                blk[r:r + take] = src[done:done + take]
                done += take
        finally:
            src.release()
        if offset + n > self.size:
            self.size = offset + n

    def truncate(self, size: int) -> None:
        """Set the size: cut the data past ``size``, or extend with a hole."""
        if size < self.size:
            k, r = divmod(size, BLOCK)
            for index in [i for i in self.blocks if i > k or (i == k and not r)]:
                del self.blocks[index]
            blk = self.blocks.get(k)
            if blk is not None and len(blk) > r:
                del blk[r:]
        self.size = size

    def extents(self) -> list[tuple[int, int]]:
        """``(offset, length)`` of the stored blocks, merged, in order: everything else is a
        hole."""
        out: list[tuple[int, int]] = []
        for k in sorted(self.blocks):
            blk = self.blocks[k]
            start = k * BLOCK
            length = min(len(blk), self.size - start)
            if length <= 0:
                continue
            if out and out[-1][0] + out[-1][1] == start:
                out[-1] = (out[-1][0], out[-1][1] + length)
            else:
                out.append((start, length))
        return out


class _File(_Inode):
    __slots__ = ("data",)

    #: the bytes (dense, the usual case), or a :class:`_Sparse` once the file has a hole of
    #: at least :data:`BLOCK` bytes
    data: bytearray | _Sparse

    def __init__(self, ino: int, mode: int, now: int) -> None:
        # _Inode's fields set here, without a super() call: one is made per file created
        self.ino = ino
        self.mode = mode
        self.nlink = 1
        self.atime = self.mtime = self.ctime = now
        self.data = bytearray()

    def __repr__(self) -> str:
        return f"<memory file ino={self.ino} size={len(self.data)} nlink={self.nlink}>"


class _Dir(_Inode):
    __slots__ = ("children", "parent")

    def __init__(self, ino: int, mode: int, now: int, parent: _Dir | None) -> None:
        super().__init__(ino, mode, now)
        self.nlink = 2
        self.children: dict[str, _Inode] = {}
        #: The containing directory (None for the root); used to refuse moving a directory
        #: into its own subtree.
        self.parent = parent

    def __repr__(self) -> str:
        return f"<memory dir ino={self.ino} entries={len(self.children)} nlink={self.nlink}>"


class _Link(_Inode):
    __slots__ = ("target", "size")

    def __init__(self, ino: int, now: int, target: str) -> None:
        super().__init__(ino, S_IFLNK | 0o777, now)
        self.target = target
        self.size = len(target.encode("utf-8", "surrogateescape"))

    def __repr__(self) -> str:
        return f"<memory symlink ino={self.ino} -> {self.target!r}>"


#: A tree laid flat for pickling: every inode once, as ``(kind, ino, mode, nlink, atime,
#: mtime, ctime, payload)`` (payload: a file's data, a symlink's target, None for a
#: directory), the root first; then every directory entry as ``(directory index, name,
#: inode index)``. Pickling the inode objects themselves would nest one level of the pickler's
#: recursion per directory level: a deep tree would not pickle.
_Flat = tuple[list[tuple[str, int, int, int, int, int, int, Any]], list[tuple[int, str, int]]]


def _flatten(root: _Dir) -> _Flat:
    index: dict[int, int] = {}
    nodes: list[tuple[str, int, int, int, int, int, int, Any]] = []
    entries: list[tuple[int, str, int]] = []

    def add(node: _Inode) -> int:
        found = index.get(id(node))
        if found is not None:
            return found  # another hard link to it
        kind: str = "d"
        payload: Any = None
        if isinstance(node, _Link):
            kind, payload = "l", node.target
        elif isinstance(node, _File):
            kind, payload = "f", node.data
        index[id(node)] = len(nodes)
        nodes.append((kind, node.ino, node.mode, node.nlink, node.atime, node.mtime,
                      node.ctime, payload))
        return len(nodes) - 1

    todo = [(add(root), root)]
    while todo:
        at, directory = todo.pop()
        for name, child in directory.children.items():
            seen = id(child) in index
            child_at = add(child)
            entries.append((at, name, child_at))
            if type(child) is _Dir and not seen:
                todo.append((child_at, child))
    return nodes, entries


def _unflatten(flat: _Flat) -> _Dir:
    records, entries = flat
    nodes: list[_Inode] = []
    for kind, ino, mode, nlink, atime, mtime, ctime, payload in records:
        node: _Inode
        if kind == "d":
            node = _Dir(ino, mode, ctime, None)
        elif kind == "l":
            node = _Link(ino, ctime, payload)
            node.mode = mode
        else:
            node = _File(ino, mode, ctime)
            node.data = payload
        node.nlink, node.atime, node.mtime, node.ctime = nlink, atime, mtime, ctime
        nodes.append(node)
    for at, name, child_at in entries:
        directory, child = nodes[at], nodes[child_at]
        directory.children[name] = child  # type: ignore[attr-defined]
        if type(child) is _Dir:
            child.parent = directory  # type: ignore[assignment]
    root = nodes[0]
    assert type(root) is _Dir
    return root


def _restore(cls: type[MemoryFileSystem], args: tuple[Any, ...], kwargs: dict[str, Any],
             state: dict[str, Any], root: _Dir | _Flat, last_ino: int) -> MemoryFileSystem:
    """Unpickle a :class:`MemoryFileSystem`: a new instance (new ``dev``) holding the tree
    (laid flat, or, from an older pickle, the inode objects themselves)."""
    fs = cls(*args, **kwargs)
    fs._root = root if isinstance(root, _Dir) else _unflatten(root)
    fs._last_ino = last_ino
    cap = state.pop("max_bytes", None)
    for name, value in state.items():
        setattr(fs, name, value)
    if cap is not None:
        fs._enable_cap(cap)  # counts the restored tree
    return fs


class MemoryFileSystem(HandleFileSystem):
    """An isolated in-memory filesystem with POSIX semantics; also an fsspec filesystem
    (protocol ``"wasifs-memory"``).

    ``readonly`` (also settable later, for example after populating the tree) makes every
    mutation raise ``OSError(errno.EROFS)``. ``umask`` clears permission bits of the files
    and directories created here, as a host's umask does (default ``0o022``: a guest's new
    file is ``0o644``, a new directory ``0o755``, what it would get from a host under
    wasmtime); symlinks are always ``0o777``. ``max_file_size`` caps a file's size (``EFBIG``
    beyond it; by default ext4's limit, 16 TiB less 4 KiB). Files are sparse: a hole (a
    write past the end, a truncate or an allocate that grows a file) costs no memory and
    reads as zeros. Running out of memory while storing data raises ``ENOSPC``.
    ``max_bytes`` caps what the tree may hold, so that no guest makes the host allocate
    without bound: stored file data (holes excluded), symlink targets and
    :data:`ENTRY_BYTES` per directory entry (hard links included); a change that would
    pass it fails with ``ENOSPC`` (a write that partly fits is short, as on a full disk),
    and removing, truncating or overwriting gives the room back once the last name and the
    last handle of a file are gone (:attr:`used_bytes` says how much is held).
    ``auto_mkdir`` is the fsspec option (see :class:`HandleFileSystem`).

    Pickling (and ``copy.deepcopy``) gives an independent snapshot of the tree.
    """

    protocol = "wasifs-memory"

    #: The largest size a file may reach (bytes): ext4's limit with 4 KiB blocks, which is
    #: what wasmtime answers on the commonest host (a sparse file costs only its data, but
    #: host tools that read it whole still read every byte of its holes).
    max_file_size: int = (1 << 44) - 4096

    #: the byte cap (None: none), see the class docstring
    max_bytes: int | None = None

    def __init__(self, readonly: bool = False, *, umask: int = 0o022, auto_mkdir: bool = False,
                 max_bytes: int | None = None, **storage_options: Any) -> None:
        super().__init__(auto_mkdir=auto_mkdir, **storage_options)
        if not isinstance(umask, int) or isinstance(umask, bool) or not 0 <= umask <= 0o777:
            raise ValueError(f"umask must be an int in 0..0o777, got {umask!r}")
        self.readonly = bool(readonly)
        #: permission bits cleared from the mode of every file and directory created here
        self.umask = umask
        self._dev = next(_DEVICES)
        self._token = os.urandom(16).hex()
        self._last_ino = 1
        self._root = _Dir(1, S_IFDIR | 0o755, _now(), None)
        #: held by every change of the namespace (create, mkdir, rename, link, unlink...),
        #: so that each is atomic with its checks (a rename's "not into its own subtree")
        #: against the same calls from other threads; reads and data transfers never take it
        self._lock = threading.Lock()
        if max_bytes is not None:
            self._enable_cap(max_bytes)

    # --- the byte cap ----------------------------------------------------------------
    def _enable_cap(self, max_bytes: int) -> None:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an int >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        #: bytes held by the tree and by open, unlinked files (see max_bytes)
        self._used = 0
        self._cells: dict[int, list[int]] = {}  # id(node) -> [its footprint as counted]
        self._acct_lock = threading.RLock()
        # The capped paths replace the plain ones on this instance only: a filesystem
        # without a cap pays nothing for it.
        for name in ("open_file", "pwrite", "append", "ftruncate", "allocate", "mkdir",
                     "symlink", "link", "unlink", "rename"):
            setattr(self, name, getattr(self, "_capped_" + name))
        todo: list[_Inode] = [self._root]
        while todo:  # what the tree holds already (an unpickled one)
            node = todo.pop()
            self._track(node)
            if type(node) is _Dir:
                todo.extend(n for n in node.children.values() if id(n) not in self._cells)

    @property
    def used_bytes(self) -> int:
        """What counts against ``max_bytes`` now (0 without a cap)."""
        return self._used if self.max_bytes is not None else 0

    def _track(self, node: _Inode) -> None:
        """Count ``node``'s footprint as it is now (first time: from nothing)."""
        with self._acct_lock:
            key = id(node)
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = [0]
                weakref.finalize(node, _credit, weakref.ref(self), key, cell)
            now = _footprint(node)
            self._used += now - cell[0]
            cell[0] = now

    def _room(self, need: int, name: str | None = None) -> None:
        """ENOSPC unless ``need`` more bytes fit under the cap."""
        if self._used + need > cast(int, self.max_bytes):
            raise _error(errno.ENOSPC, name)

    def _capped_open_file(self, dir: _Dir, name: str, *, read: bool, write: bool,
                          create: bool = False, exclusive: bool = False, truncate: bool = False,
                          mode: int = 0o666) -> _File:
        with self._acct_lock:
            if create and name not in dir.children:
                self._room(ENTRY_BYTES, name)
            node = MemoryFileSystem.open_file(self, dir, name, read=read, write=write,
                                              create=create, exclusive=exclusive,
                                              truncate=truncate, mode=mode)
            self._track(node)
            return node

    def _capped_pwrite(self, file: _File, data: memoryview | bytes, offset: int) -> int:
        with self._acct_lock:
            d = file.data
            n = len(data)
            if type(d) is bytearray:
                size = len(d)
                grow = offset + n - size
                if offset > size and grow >= BLOCK:  # becomes sparse: the data, not the hole
                    grow = n
            else:
                grow = n  # at most: new blocks for all of it
            room = cast(int, self.max_bytes) - self._used
            if grow > room:
                if type(d) is bytearray and offset <= len(d) and len(d) - offset + room > 0:
                    data = memoryview(data)[:len(d) - offset + room]  # a short write
                else:
                    raise _error(errno.ENOSPC)
            try:
                return MemoryFileSystem.pwrite(self, file, data, offset)
            finally:
                self._track(file)

    def _capped_append(self, file: _File, data: memoryview | bytes) -> tuple[int, int]:
        with self._acct_lock:
            room = cast(int, self.max_bytes) - self._used
            if len(data) > room:
                if room <= 0:
                    raise _error(errno.ENOSPC)
                data = memoryview(data)[:room]  # a short write
            try:
                return MemoryFileSystem.append(self, file, data)
            finally:
                self._track(file)

    def _grow_need(self, file: _File, size: int) -> int:
        d = file.data
        if type(d) is bytearray and 0 < size - len(d) < BLOCK:
            return size - len(d)  # zeros appended
        return 0  # a hole

    def _capped_ftruncate(self, file: _File, size: int) -> None:
        with self._acct_lock:
            if size > 0:
                self._room(self._grow_need(file, size))
            try:
                MemoryFileSystem.ftruncate(self, file, size)
            finally:
                self._track(file)

    def _capped_allocate(self, file: _File, offset: int, length: int) -> None:
        with self._acct_lock:
            if offset >= 0 and length > 0:
                self._room(self._grow_need(file, offset + length))
            try:
                MemoryFileSystem.allocate(self, file, offset, length)
            finally:
                self._track(file)

    def _capped_mkdir(self, dir: _Dir, name: str, mode: int = 0o777) -> None:
        with self._acct_lock:
            self._room(ENTRY_BYTES, name)
            MemoryFileSystem.mkdir(self, dir, name, mode)
            self._track(dir.children[name])

    def _capped_symlink(self, target: str, dir: _Dir, name: str) -> None:
        with self._acct_lock:
            self._room(ENTRY_BYTES + len(target.encode("utf-8", "surrogateescape")), name)
            MemoryFileSystem.symlink(self, target, dir, name)
            self._track(dir.children[name])

    def _capped_link(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str) -> None:
        with self._acct_lock:
            self._room(ENTRY_BYTES, dst)
            MemoryFileSystem.link(self, src_dir, src, dst_dir, dst)
            self._track(dst_dir.children[dst])

    def _capped_unlink(self, dir: _Dir, name: str) -> None:
        with self._acct_lock:
            node = dir.children.get(name)
            try:
                MemoryFileSystem.unlink(self, dir, name)
            finally:
                if node is not None:
                    self._track(node)  # one name fewer; the rest when the node goes

    def _capped_rename(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str) -> None:
        with self._acct_lock:
            old = dst_dir.children.get(dst)
            try:
                MemoryFileSystem.rename(self, src_dir, src, dst_dir, dst)
            finally:
                if old is not None:
                    self._track(old)

    @property
    def _fs_token(self) -> str:
        # Each instance is its own storage: never equal to (or hashed like) another one.
        return self._token

    @property
    def fsid(self) -> str:
        return f"wasifs-memory-{self._token}"

    def __repr__(self) -> str:
        ro = "readonly=True, " if self.readonly else ""
        return f"<MemoryFileSystem {ro}dev={self._dev:#x}>"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {name: self.__dict__[name]
                 for name in ("readonly", "umask", "auto_mkdir", "max_file_size", "max_bytes")
                 if name in self.__dict__}
        return (_restore, (type(self), self.storage_args, self.storage_options, state,
                           _flatten(self._root), self._last_ino))

    def _next_ino(self) -> int:
        self._last_ino += 1
        return self._last_ino

    def _grow(self, file: _File, size: int) -> None:
        """Extend ``file`` with zeros to ``size`` bytes: a hole when that is at least
        :data:`BLOCK` bytes (the file becomes sparse), else zeros appended."""
        if size > self.max_file_size:
            raise _error(errno.EFBIG)
        d = file.data
        try:
            if not isinstance(d, _Sparse):
                count = size - len(d)
                if count < BLOCK:
                    d += _ZEROS[:count]
                    return
                d = file.data = _Sparse.of(d)
            d.truncate(size)
        except MemoryError:
            raise _error(errno.ENOSPC) from None

    # --- handles ---------------------------------------------------------------------
    def root(self) -> _Dir:
        """The root directory (handles are the inodes themselves)."""
        return self._root

    def opendir(self, dir: _Dir, name: str) -> _Dir:
        node = dir.children.get(name)
        if type(node) is _Dir:
            return node
        if node is None:
            raise _error(errno.ENOENT, name)
        raise _error(errno.ELOOP if type(node) is _Link else errno.ENOTDIR, name)

    def open_file(self, dir: _Dir, name: str, *, read: bool, write: bool,
                  create: bool = False, exclusive: bool = False, truncate: bool = False,
                  mode: int = 0o666) -> _File:
        """The file inode. ``read``/``write`` are not enforced on the handle (the VFS checks
        rights); ``write``/``truncate`` on a read-only filesystem raise ``EROFS``."""
        node = dir.children.get(name)
        if node is None:
            if not create:
                raise _error(errno.ENOENT, name)
            if self.readonly:
                raise _error(_EROFS, name)
            lock = self._lock
            lock.acquire()
            try:
                node = dir.children.get(name)  # made meanwhile by another thread?
                if node is None:
                    if dir.nlink == 0:
                        raise _error(errno.ENOENT, name)  # the directory was removed
                    if len(name) > 63 and name_too_long(name):
                        raise _error(errno.ENAMETOOLONG, name)
                    now = _now()
                    ino = self._last_ino = self._last_ino + 1
                    new = _File(ino, S_IFREG | (mode & 0o7777 & ~self.umask), now)
                    dir.children[name] = new
                    dir.mtime = dir.ctime = now
                    return new
            finally:
                lock.release()
        if create and exclusive:
            raise _error(errno.EEXIST, name)
        t = type(node)
        if t is not _File:
            raise _error(errno.ELOOP if t is _Link else errno.EISDIR, name)
        if (write or truncate) and self.readonly:
            raise _error(_EROFS, name)
        if truncate:
            node.data = bytearray()  # type: ignore[attr-defined]
            node.mtime = node.ctime = _now()
        return node  # type: ignore[return-value]

    def close(self, handle: Any) -> None:
        """Nothing to give back."""

    def same(self, a: Any, b: Any) -> bool:
        return a is b

    # --- metadata --------------------------------------------------------------------
    def fstat(self, handle: Any) -> Stat:
        t = type(handle)
        size = len(handle.data) if t is _File else (handle.size if t is _Link else 0)
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python-level frame
        return _new_stat(Stat, (self._dev, handle.ino, handle.mode, handle.nlink, size,
                                handle.atime, handle.mtime, handle.ctime))

    def lstat(self, dir: _Dir, name: str) -> Stat:
        node = dir.children.get(name)
        if node is None:
            raise _error(errno.ENOENT, name)
        return self.fstat(node)

    def readlink(self, dir: _Dir, name: str) -> str:
        node = dir.children.get(name)
        if type(node) is _Link:
            node.atime = _now()
            return node.target
        raise _error(errno.ENOENT if node is None else errno.EINVAL, name)

    def listdir(self, dir: _Dir) -> list[DirEntry]:
        """Entries in creation order (a rename onto an existing name keeps its place)."""
        dir.atime = _now()
        lock = self._lock  # another thread may be changing the directory
        lock.acquire()
        try:
            return [DirEntry(name, node.ino, node.mode) for name, node in dir.children.items()]
        finally:
            lock.release()

    def set_times(self, dir: _Dir, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        node = dir.children.get(name)
        if node is None:
            raise _error(errno.ENOENT, name)
        self.fset_times(node, atime_ns, mtime_ns)

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None:
        if self.readonly:
            raise _error(_EROFS)
        if atime_ns is None and mtime_ns is None:
            return
        if atime_ns is not None:
            handle.atime = atime_ns
        if mtime_ns is not None:
            handle.mtime = mtime_ns
        handle.ctime = _now()

    # --- file data -------------------------------------------------------------------
    def pread(self, file: _File, buf: memoryview, offset: int) -> int:
        data = file.data
        if offset < 0:
            raise _error(errno.EINVAL)
        n = len(data) - offset
        if n > len(buf):
            n = len(buf)
        if n <= 0:
            return 0
        if type(data) is bytearray:
            if n <= _SMALL_READ:
                buf[:n] = data[offset:offset + n]  # a tiny bytes copy beats making a view
            else:
                # One copy, straight from the file into ``buf``. The temporary views die
                # with the statement, so no export is left to block resizing the bytearray.
                buf[:n] = memoryview(data)[offset:offset + n]
        else:
            cast(_Sparse, data).read_into(buf, offset, n)
        file.atime = _now()
        return n

    def pwrite(self, file: _File, data: memoryview | bytes, offset: int) -> int:
        if self.readonly:
            raise _error(_EROFS)
        if offset < 0:
            raise _error(errno.EINVAL)
        n = len(data)
        if not n:
            return 0
        d = file.data
        end = offset + n
        size = len(d)
        try:
            if type(d) is not bytearray:
                if end > self.max_file_size:
                    raise _error(errno.EFBIG)
                cast(_Sparse, d).write(data, offset)
            elif offset == size:  # sequential writes: an in-place append is the cheapest
                if end > self.max_file_size:
                    raise _error(errno.EFBIG)
                d += data
            else:
                if end > size and end > self.max_file_size:
                    raise _error(errno.EFBIG)
                if offset > size:
                    self._grow(file, offset)  # a hole of BLOCK bytes or more: sparse
                    grown = file.data
                    if isinstance(grown, _Sparse):
                        grown.write(data, offset)
                        file.mtime = file.ctime = _now()
                        return n
                d[offset:end] = data
        except MemoryError:
            raise _error(errno.ENOSPC) from None
        file.mtime = file.ctime = _now()
        return n

    def append(self, file: _File, data: memoryview | bytes) -> tuple[int, int]:
        if self.readonly:
            raise _error(_EROFS)
        d = file.data
        n = len(data)
        if n:
            size = len(d)
            if size + n > self.max_file_size:
                raise _error(errno.EFBIG)
            try:
                if isinstance(d, _Sparse):
                    d.write(data, size)
                else:
                    d += data
            except MemoryError:
                raise _error(errno.ENOSPC) from None
            file.mtime = file.ctime = _now()
        return n, len(d)

    def ftruncate(self, file: _File, size: int) -> None:
        if self.readonly:
            raise _error(_EROFS)
        if size < 0:
            raise _error(errno.EINVAL)
        d = file.data
        current = len(d)
        if size < current:
            if not size:
                file.data = bytearray()
            elif isinstance(d, _Sparse):
                d.truncate(size)
            else:
                del d[size:]
        elif size > current:
            self._grow(file, size)
        file.mtime = file.ctime = _now()

    def extents(self, file: _File) -> list[tuple[int, int]]:
        """``(offset, length)`` of the parts of the open file that hold data, in order;
        the rest of its size is holes (zeros that cost nothing). A copy that skips the holes
        (and sets the size at the end) keeps a sparse file sparse."""
        d = file.data
        if isinstance(d, _Sparse):
            return d.extents()
        return [(0, len(d))] if d else []

    def fsync(self, file: Any, dataonly: bool = False) -> None:
        """Nothing to flush."""

    def allocate(self, file: _File, offset: int, length: int) -> None:
        if self.readonly:
            raise _error(_EROFS)
        if offset < 0 or length <= 0:
            raise _error(errno.EINVAL)
        end = offset + length
        if end > len(file.data):
            self._grow(file, end)
            file.mtime = file.ctime = _now()

    # --- namespace -------------------------------------------------------------------
    def mkdir(self, dir: _Dir, name: str, mode: int = 0o777) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if name in dir.children:
                raise _error(errno.EEXIST, name)
            if self.readonly:
                raise _error(_EROFS, name)
            if dir.nlink == 0:
                raise _error(errno.ENOENT, name)
            if len(name) > 63 and name_too_long(name):
                raise _error(errno.ENAMETOOLONG, name)
            now = _now()
            dir.children[name] = _Dir(self._next_ino(), S_IFDIR | (mode & 0o7777 & ~self.umask),
                                      now, dir)
            dir.nlink += 1
            dir.mtime = dir.ctime = now
        finally:
            lock.release()

    def rmdir(self, dir: _Dir, name: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if self.readonly:
                raise _error(_EROFS, name)
            node = dir.children.get(name)
            if node is None:
                raise _error(errno.ENOENT, name)
            if type(node) is not _Dir:
                raise _error(errno.ENOTDIR, name)
            if node.children:
                raise _error(errno.ENOTEMPTY, name)
            del dir.children[name]
            node.nlink = 0
            dir.nlink -= 1
            dir.mtime = dir.ctime = node.ctime = _now()
        finally:
            lock.release()

    def unlink(self, dir: _Dir, name: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if self.readonly:
                raise _error(_EROFS, name)
            node = dir.children.get(name)
            if node is None:
                raise _error(errno.ENOENT, name)
            if type(node) is _Dir:
                raise _error(errno.EISDIR, name)
            del dir.children[name]
            node.nlink -= 1
            dir.mtime = dir.ctime = node.ctime = _now()
        finally:
            lock.release()

    def rename(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if self.readonly:
                raise _error(_EROFS, src)
            node = src_dir.children.get(src)
            if node is None:
                raise _error(errno.ENOENT, src)
            if dst_dir.nlink == 0:
                raise _error(errno.ENOENT, dst)
            old = dst_dir.children.get(dst)
            if old is None:
                _new_name(dst)
            if old is node:
                return  # the same file (same name, or two hard links): nothing to do
            if type(old) is _Dir:
                # the target is an ancestor of the source: never empty (Linux says ENOTEMPTY)
                up: _Dir | None = src_dir
                while up is not None:
                    if up is old:
                        raise _error(errno.ENOTEMPTY, dst)
                    up = up.parent
            if type(node) is _Dir:
                ancestor: _Dir | None = dst_dir
                while ancestor is not None:
                    if ancestor is node:
                        raise _error(errno.EINVAL, dst)  # into its own subtree
                    ancestor = ancestor.parent
                if old is not None:
                    if type(old) is not _Dir:
                        raise _error(errno.ENOTDIR, dst)
                    if old.children:
                        raise _error(errno.ENOTEMPTY, dst)
            elif type(old) is _Dir:
                raise _error(errno.EISDIR, dst)
            now = _now()
            if old is not None:
                if type(old) is _Dir:
                    old.nlink = 0
                    dst_dir.nlink -= 1
                else:
                    old.nlink -= 1
                old.ctime = now
            del src_dir.children[src]
            dst_dir.children[dst] = node
            if type(node) is _Dir and src_dir is not dst_dir:
                src_dir.nlink -= 1
                dst_dir.nlink += 1
                node.parent = dst_dir
            node.ctime = now
            src_dir.mtime = src_dir.ctime = dst_dir.mtime = dst_dir.ctime = now
        finally:
            lock.release()

    def link(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            node = src_dir.children.get(src)
            if node is None:
                raise _error(errno.ENOENT, src)
            if dst in dst_dir.children:
                raise _error(errno.EEXIST, dst)
            if type(node) is _Dir:
                raise _error(errno.EPERM, src)
            if self.readonly:
                raise _error(_EROFS, dst)
            if dst_dir.nlink == 0:
                raise _error(errno.ENOENT, dst)
            _new_name(dst)
            now = _now()
            dst_dir.children[dst] = node
            node.nlink += 1
            node.ctime = dst_dir.mtime = dst_dir.ctime = now
        finally:
            lock.release()

    def symlink(self, target: str, dir: _Dir, name: str) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if name in dir.children:
                raise _error(errno.EEXIST, name)
            if self.readonly:
                raise _error(_EROFS, name)
            if not target or dir.nlink == 0:
                raise _error(errno.ENOENT, name)
            if len(name) > 63 and name_too_long(name):
                raise _error(errno.ENAMETOOLONG, name)
            if len(target) >= PATH_MAX or len(target.encode("utf-8", "surrogateescape")) >= PATH_MAX:
                raise _error(errno.ENAMETOOLONG, name)  # as Linux: at most PATH_MAX - 1 bytes
            now = _now()
            dir.children[name] = _Link(self._next_ino(), now, target)
            dir.mtime = dir.ctime = now
        finally:
            lock.release()
