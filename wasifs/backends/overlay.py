"""The overlay backend: a read-only lower layer under a writable upper layer.

:class:`OverlayFileSystem` shows the union of two backends, as Linux's overlayfs does: what
the upper layer holds wins, the rest comes from the lower layer, and every change lands in
the upper layer, so the lower layer is never written (not a byte, not a time). Both layers
are any :class:`~wasifs.backends.Backend` (memory, a host directory, a third-party backend);
the default upper layer is a new :class:`~wasifs.backends.MemoryFileSystem`.

How the upper layer records the changes
---------------------------------------
The upper layer is a tree in the layout of an OCI image layer (what ``docker`` and
overlay-based container runtimes exchange), written with plain protocol calls, so any
backend can be the upper layer and the layer can be kept (a host directory) and reopened:

- an entry of the upper layer replaces the lower entry of the same name;
- ``.wh.NAME`` (an empty file) is a *whiteout*: ``NAME`` of the lower layer is deleted;
- ``.wh..wh..opq`` inside a directory makes it *opaque*: the lower directory of the same name
  (deleted and then made again by the guest) shows none of its entries;
- ``.wh..wh..redirect`` inside a directory (wasifs's own addition, the role of overlayfs's
  ``redirect_dir`` attribute) holds the lower path whose entries the directory shows: a lower
  directory that was renamed;
- ``.wh..wh..index/`` at the top holds one hard link per copied-up lower file that had
  several names (overlayfs's ``index``), so its other names keep sharing the copy.

Names starting with ``.wh.`` belong to this bookkeeping: they are never shown to the guest
(in either layer), looking one up answers ``ENOENT``, and creating one ``EINVAL``.

Copy-up
-------
The first change to a lower entry copies it up: a file with its data (through a temporary
name, then renamed into place), a directory as an empty directory (its entries stay below
until they change), a symlink with its target; permission bits and times are kept, and the
parent directory's times are put back (a copy-up is not a change the guest made). Every
directory above it is copied up first. Changing only metadata (times) or renaming copies up
too. Open handles follow: a file opened for reading before another handle wrote to it reads
the new data, as on one filesystem.

Deletion writes a whiteout; making a directory where a lower one was deleted makes it opaque.

Renaming a lower directory does not answer ``EXDEV`` (as overlayfs does without
``redirect_dir``): it costs one ``mkdir`` and a redirect marker, not a copy of the tree.
Renaming a lower file copies its data up once. A hard link (``link``) to a lower file copies
it up and links in the upper layer; a lower file with several names is copied up once, its
other names find the copy through the index (with an upper layer that cannot make hard links
the names part ways, each with its own copy).

Inode numbers
-------------
One ``st_dev`` for the whole overlay. An entry of the lower layer has the lower inode
number; an entry that exists only in the upper layer has the upper inode number with the top
bit (``1 << 63``) set, so the two never collide. A copy-up keeps the lower number (the
overlay remembers each copied-up entry's origin), and so does a rename. What is not kept:
the origins live in memory, so a new overlay over an upper layer kept from an earlier one
numbers entries copied up earlier by their upper inode (hard links through the index
excepted). A merged directory (one with a lower part) reports ``nlink`` 1 ("unknown"), as
overlayfs does.

Listing order
-------------
``listdir`` of a merged directory gives the lower entries in the lower layer's order (an
entry copied up keeps its place), then the entries only the upper layer has, in its order:
stable while the directory does not change.

Threads
-------
Every call that looks up or changes the namespace (and every copy-up) holds the overlay's
lock, so several guests may share one overlay; data calls on an open file (``pread``,
``pwrite``) go straight to the layer that holds the file.

Changes
-------
:meth:`OverlayFileSystem.changes` lists what the overlay's view differs in from the lower
layer, as :class:`Change` records (``added``/``changed``/``deleted`` paths), and
:meth:`OverlayFileSystem.export` writes them as a tree: to a host directory or any backend,
with whiteout files for the deletions (an OCI layer), hard links kept where the destination
has them.
"""

from __future__ import annotations

import enum
import errno
import itertools
import os
import stat as _stat
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from ._copy import CHUNK, backend_reader, backend_writer, pump, set_times_where_supported
from ._facade import HandleFileSystem
from ._protocol import Backend, DirEntry, Stat

__all__ = ("OverlayFileSystem", "Change", "ChangeKind", "export_overlays", "WHITEOUT_PREFIX",
           "OPAQUE_MARKER", "REDIRECT_MARKER", "INDEX_DIR")

#: Names starting with this are the overlay's own bookkeeping, never the guest's.
WHITEOUT_PREFIX = ".wh."
#: A file inside an upper directory: the lower directory of its name shows nothing.
OPAQUE_MARKER = ".wh..wh..opq"
#: A file inside an upper directory holding the lower path it shows (a renamed directory).
REDIRECT_MARKER = ".wh..wh..redirect"
#: The directory at the top of the upper layer holding the copied-up hard links.
INDEX_DIR = ".wh..wh..index"
_TMP = ".wh..wh..tmp."

_UPPER_BIT = 1 << 63
_MASK = _UPPER_BIT - 1

_UP, _LO, _IX = 0, 1, 2  # where an entry lives: upper, lower, upper through the index

#: Directories kept with their layer handles after their last handle is closed (a guest
#: resolves every path from a preopen, so the same few directories are opened again and
#: again): at most this many, the least recently used given back first.
_IDLE = 16

#: st_dev numbers of overlays: "ovly" in the high half, a serial in the low one.
_DEVICES = itertools.count((0x6F766C79 << 32) + 1)

_new_stat = tuple.__new__
_new_entry = tuple.__new__
_S_IFMT = 0o170000
_S_IFDIR = _stat.S_IFDIR
_S_IFREG = _stat.S_IFREG
_S_IFLNK = _stat.S_IFLNK

_NO_LINKS = frozenset(e for e in (errno.EPERM, getattr(errno, "ENOTSUP", None),
                                  getattr(errno, "EOPNOTSUPP", None), errno.EXDEV,
                                  errno.EMLINK, getattr(errno, "ENOSYS", None))
                      if e is not None)


def _error(code: int, name: str | None = None) -> OSError:
    if name is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), name)


def _reserved(name: str) -> bool:
    return name.startswith(WHITEOUT_PREFIX)


class ChangeKind(enum.StrEnum):
    """What happened to a path, compared with the lower layer."""

    ADDED = "added"
    CHANGED = "changed"
    DELETED = "deleted"


class Change(NamedTuple):
    """One path the overlay's view differs in from its lower layer.

    ``path`` is absolute from the overlay's root (``"/data/x"``); ``type`` is ``"file"``,
    ``"dir"``, ``"symlink"`` or ``"other"``: the entry's type now (for a deleted path, the
    lower entry's). A path whose type changed is ``changed``. A deleted directory is one
    ``deleted`` record (its entries go with it); the entries of an added directory are each
    ``added``. A directory whose entries changed is not itself ``changed`` unless its
    permission bits did; a file is ``changed`` when its data, permission bits or
    modification time differ, a symlink when its target does.
    """

    kind: ChangeKind
    path: str
    type: str


def _type_name(mode: int) -> str:
    kind = mode & _S_IFMT
    if kind == _S_IFREG:
        return "file"
    if kind == _S_IFDIR:
        return "dir"
    if kind == _S_IFLNK:
        return "symlink"
    return "other"


class _Entry(NamedTuple):
    layer: int  # _UP, _LO or _IX
    st: Stat  # the layer's stat (of the index entry for _IX)
    ino: int  # the overlay's inode number


class _Dir:
    """A directory of the overlay, shared by every handle on it (the handle is the node).

    A node exists while it has handles (``opens``), nodes below it (``kids``: directories
    and open files whose parent it is) or a place among the last :data:`_IDLE` directories
    used; it holds layer handles only while it has handles of its own or that place, so a
    deep chain of ancestors costs memory, never host descriptors.
    """

    __slots__ = ("parent", "name", "ino", "has_upper", "upper", "lower", "lower_kind",
                 "redirect", "opens", "kids", "removed", "live", "names", "wh")

    def __init__(self, parent: _Dir | None, name: str, ino: int) -> None:
        self.parent = parent
        self.name = name
        self.ino = ino
        self.has_upper = False
        self.upper: Any = None
        self.lower: Any = None
        #: where the lower part comes from: _NONE, _NATURAL (the parent's lower part, same
        #: name) or _REDIRECT (the lower path in ``redirect``)
        self.lower_kind = _NONE
        self.redirect: tuple[str, ...] | None = None
        self.opens = 0
        self.kids = 0
        self.removed = False
        #: whether it holds its layer handles (while open, and a while after: _IDLE)
        self.live = False
        #: the upper directory's entries (guest names) and whiteouts (the names they hide),
        #: read once while live and kept up to date by every change made through the node
        self.names: set[str] | None = None
        self.wh: set[str] | None = None

    def __repr__(self) -> str:
        return (f"<overlay dir {self.name!r} ino={self.ino:#x} upper={self.has_upper} "
                f"lower={('none', 'natural', 'redirect')[self.lower_kind]}>")


_NONE, _NATURAL, _REDIRECT = 0, 1, 2


class _File:
    """An open file of the overlay, shared by every handle on it (the handle is the node)."""

    __slots__ = ("ino", "fs", "h", "up", "writable", "opens", "where", "name")

    def __init__(self, ino: int, fs: Backend, h: Any, up: bool, writable: bool) -> None:
        self.ino = ino
        self.fs = fs  # the layer that holds the data now
        self.h = h
        self.up = up
        self.writable = writable
        self.opens = 0
        #: a directory holding a name of the file (to copy it up), or None once nameless
        self.where: _Dir | None = None
        self.name = ""

    def __repr__(self) -> str:
        return f"<overlay file ino={self.ino:#x} {'upper' if self.up else 'lower'}>"


def _restore(cls: type[OverlayFileSystem], lower: Backend, upper: Backend,
             options: dict[str, Any]) -> OverlayFileSystem:
    """Unpickle an :class:`OverlayFileSystem`: a new one over the unpickled layers."""
    return cls(lower, upper, **options)


class OverlayFileSystem(HandleFileSystem):
    """``upper`` over ``lower``: copy-on-write, whiteouts, opaque directories (see the module
    documentation); also an fsspec filesystem (protocol ``"wasifs-overlay"``).

    ``lower`` and ``upper`` are backends or anything :func:`~wasifs.backends.open_backend`
    takes (a URL, a host directory); a lower layer opened here from a URL or path is opened
    read-only. The overlay never writes to ``lower``. ``upper`` defaults to a new
    :class:`~wasifs.backends.MemoryFileSystem` with no umask (copied-up entries keep their
    permission bits exactly); an upper layer kept from an earlier overlay over the same lower
    layer is taken up where it was left. ``umask`` clears permission bits of what the guest
    creates (default ``0o022``, as a host's umask). ``readonly`` makes every change ``EROFS``.
    """

    protocol = "wasifs-overlay"

    def __init__(self, lower: Any, upper: Any = None, *, readonly: bool = False,
                 umask: int = 0o022, auto_mkdir: bool = False,
                 **storage_options: Any) -> None:
        super().__init__(auto_mkdir=auto_mkdir, **storage_options)
        from ._registry import open_backend
        from .memory import MemoryFileSystem

        if not isinstance(umask, int) or isinstance(umask, bool) or not 0 <= umask <= 0o777:
            raise ValueError(f"umask must be an int in 0..0o777, got {umask!r}")
        if isinstance(lower, Backend):
            self.lower: Backend = lower
        else:
            self.lower = open_backend(lower)
            try:
                self.lower.readonly = True
            except AttributeError:
                pass
        if upper is None:
            self.upper: Backend = MemoryFileSystem(umask=0)
        else:
            self.upper = open_backend(upper)
        if self.upper is self.lower:
            raise ValueError("the upper layer of an overlay cannot be its lower layer")
        if getattr(self.upper, "readonly", False):
            raise ValueError(f"the upper layer of an overlay must be writable: {self.upper!r}")
        self.readonly = bool(readonly)
        self.umask = umask
        self._dev = next(_DEVICES)
        self._token = os.urandom(16).hex()
        self._lock = threading.RLock()
        self._tmp = itertools.count(1)
        #: upper inode -> the overlay inode of the lower entry it was copied up from
        self._origin: dict[int, int] = {}
        #: upper inode -> lower inode, for files held in the index
        self._indexed: dict[int, int] = {}
        #: lower inode -> names of it not yet linked up (nor deleted), for indexed files
        self._pending: dict[int, int] = {}
        #: lower inode -> names of it the overlay hides (deleted, replaced)
        self._hidden: dict[int, int] = {}
        self._index: Any = None
        self._no_index = False  # the upper layer cannot make hard links
        self._dirs: dict[int, _Dir] = {}
        self._idle: OrderedDict[int, _Dir] = OrderedDict()
        self._files: dict[int, _File] = {}
        self._lower_root = self.lower.root()
        upper_root = self.upper.root()
        root = _Dir(None, "", self.lower.fstat(self._lower_root).ino & _MASK)
        root.has_upper = True
        root.upper = upper_root
        root.lower = self._lower_root
        root.lower_kind = _NATURAL
        root.opens = 1  # the overlay's own
        root.live = True
        self._root = root
        self._dirs[root.ino] = root
        self._resume()

    def _resume(self) -> None:
        """Take up an upper layer: the index's origins; a new one gets the lower root's
        times."""
        U = self.upper
        names = [e.name for e in U.listdir(self._root.upper)]
        if not names:
            set_times_where_supported(U.fset_times, self._root.upper,
                                      self.lower.fstat(self._lower_root))
            return
        if INDEX_DIR not in names:
            return
        self._index = U.opendir(self._root.upper, INDEX_DIR)
        for entry in U.listdir(self._index):
            try:
                lower_ino = int(entry.name)
            except ValueError:
                continue
            self._origin[entry.ino] = lower_ino & _MASK
            self._indexed[entry.ino] = lower_ino

    # --- identity -----------------------------------------------------------------------
    @property
    def _fs_token(self) -> str:
        return self._token

    @property
    def fsid(self) -> str:
        return f"wasifs-overlay-{self._token}"

    def __repr__(self) -> str:
        ro = "readonly=True, " if self.readonly else ""
        return f"<OverlayFileSystem {ro}lower={self.lower!r} upper={self.upper!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # the layers themselves (a memory upper layer pickles its tree): a new overlay over
        # them shows the same view (copy-up origins are not kept, see "Inode numbers")
        return (_restore, (type(self), self.lower, self.upper,
                           {"readonly": self.readonly, "umask": self.umask,
                            "auto_mkdir": self.auto_mkdir}))

    # --- inode numbers and stats ----------------------------------------------------------
    def _upper_ino(self, raw: int) -> int:
        origin = self._origin.get(raw)
        return origin if origin is not None else _UPPER_BIT | (raw & _MASK)

    def _stat(self, layer: int, st: Stat, ino: int) -> Stat:
        _dev, raw, mode, nlink, size, atime, mtime, ctime = st
        kind = mode & _S_IFMT
        if layer == _LO:
            if kind != _S_IFDIR and self._hidden:
                nlink -= self._hidden.get(raw, 0)
        elif kind == _S_IFDIR:
            if not ino & _UPPER_BIT:
                nlink = 1  # merged: the count of the lower part is unknown
        elif kind == _S_IFREG and self._indexed:
            lower_ino = self._indexed.get(raw)
            if lower_ino is not None:
                nlink = max(nlink - 1, 0) + self._pending.get(lower_ino, 0)
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python-level frame
        return _new_stat(Stat, (self._dev, ino, mode, nlink, size, atime, mtime, ctime))

    # --- looking up -----------------------------------------------------------------------
    def _lookup(self, d: _Dir, name: str) -> _Entry | None:
        """The merged entry ``name`` of the open directory ``d``, or None."""
        if d.removed or name.startswith(WHITEOUT_PREFIX):
            return None
        up = d.upper
        if up is not None:
            names = d.names
            if names is None:
                names = self._load_names(d)
            if name in names:
                st = self.upper.lstat(up, name)
                return _new_entry(_Entry, (_UP, st, self._upper_ino(st.ino)))
            if d.lower is None or name in d.wh:  # type: ignore[operator]
                return None
        lower = d.lower
        if lower is None:
            return None
        try:
            st = self.lower.lstat(lower, name)
        except FileNotFoundError:
            return None
        if st.nlink > 1 and self._index is not None and st.mode & _S_IFMT == _S_IFREG:
            try:
                ist = self.upper.lstat(self._index, str(st.ino))
            except FileNotFoundError:
                pass
            else:
                return _new_entry(_Entry, (_IX, ist, st.ino & _MASK))
        return _new_entry(_Entry, (_LO, st, st.ino & _MASK))

    def _load_names(self, d: _Dir) -> set[str]:
        names: set[str] = set()
        wh: set[str] = set()
        for entry in self.upper.listdir(d.upper):
            name = entry.name
            if not name.startswith(WHITEOUT_PREFIX):
                names.add(name)
            elif not name.startswith(".wh..wh."):
                wh.add(name[4:])
        d.names, d.wh = names, wh
        return names

    def _named(self, d: _Dir | None, name: str) -> None:
        """``name`` was made in the upper directory of ``d``."""
        if d is not None and d.names is not None:
            d.names.add(name)

    def _unnamed_upper(self, d: _Dir, name: str) -> None:
        """``name`` was removed from the upper directory of ``d``."""
        if d.names is not None:
            d.names.discard(name)

    def _lower_has(self, d: _Dir, name: str) -> Stat | None:
        """The lower entry ``name`` below ``d``'s lower part (hidden or not), or None."""
        if d.lower is None:
            return None
        try:
            return self.lower.lstat(d.lower, name)
        except FileNotFoundError:
            return None

    def _lower_path(self, d: _Dir) -> tuple[str, ...] | None:
        """The lower path of ``d``'s lower part (None when it has none)."""
        names: list[str] = []
        node: _Dir | None = d
        while node is not None:
            if node.lower_kind == _NONE:
                return None
            if node.lower_kind == _REDIRECT:
                assert node.redirect is not None
                return node.redirect + tuple(reversed(names))
            if node.parent is None:
                return tuple(reversed(names))
            names.append(node.name)
            node = node.parent
        return tuple(reversed(names))  # pragma: no cover - the root ends the loop

    def _open_lower_path(self, path: tuple[str, ...]) -> Any:
        """A new lower handle on ``path`` (None when it is not a directory there)."""
        L = self.lower
        handle = L.root()
        try:
            for name in path:
                nxt = L.opendir(handle, name)
                L.close(handle)
                handle = nxt
        except OSError:
            L.close(handle)
            return None
        return handle

    # --- directory nodes ------------------------------------------------------------------
    def _read_marker(self, up: Any) -> tuple[int, tuple[str, ...] | None] | None:
        """What the markers in the upper directory ``up`` say: (_NONE, None) for opaque,
        (_REDIRECT, path), or None for neither."""
        U = self.upper
        try:
            U.lstat(up, OPAQUE_MARKER)
        except FileNotFoundError:
            pass
        else:
            return _NONE, None
        try:
            handle = U.open_file(up, REDIRECT_MARKER, read=True, write=False)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            offset = 0
            buf = bytearray(4096)
            while True:
                n = U.pread(handle, memoryview(buf), offset)
                if not n:
                    break
                chunks.append(bytes(buf[:n]))
                offset += n
        finally:
            U.close(handle)
        text = b"".join(chunks).decode("utf-8", "surrogateescape")
        return _REDIRECT, tuple(p for p in text.split("/") if p)

    def _attach(self, node: _Dir, parent: _Dir, name: str, e: _Entry, fresh: bool) -> None:
        """Open the layer handles of ``node`` (a directory ``name`` of the open ``parent``)."""
        node.live = True
        if e.layer == _UP:
            node.has_upper = True
            node.upper = self.upper.opendir(parent.upper, name)
            if fresh:
                marker = self._read_marker(node.upper)
                if marker is not None:
                    node.lower_kind, node.redirect = marker
                else:
                    st = self._lower_has(parent, name)
                    node.lower_kind = _NATURAL if (
                        st is not None and st.mode & _S_IFMT == _S_IFDIR) else _NONE
        else:
            node.has_upper = False
            node.lower_kind = _NATURAL
        if node.lower_kind == _NATURAL:
            node.lower = self.lower.opendir(parent.lower, name) if parent.lower is not None \
                else None
            if node.lower is None:
                node.lower_kind = _NONE
        elif node.lower_kind == _REDIRECT:
            assert node.redirect is not None
            node.lower = self._open_lower_path(node.redirect)
            if node.lower is None:
                node.lower_kind = _NONE

    def _open_dir(self, parent: _Dir, name: str, e: _Entry) -> _Dir:
        """A handle (the shared node) on the directory ``name`` of ``parent``."""
        node = self._dirs.get(e.ino)
        fresh = node is None or node.parent is not parent or node.name != name
        if fresh:
            node = _Dir(parent, name, e.ino)
            parent.kids += 1
            self._dirs[e.ino] = node
        assert node is not None
        if not node.live:
            try:
                self._attach(node, parent, name, e, fresh)
            except BaseException:
                self._release_dir(node)
                if node.opens == 0:
                    self._forget_dir(node)
                raise
        elif node.opens == 0:
            self._idle.pop(id(node), None)
        node.opens += 1
        return node

    def _release_dir(self, node: _Dir) -> None:
        node.live = False
        node.names = node.wh = None
        self._idle.pop(id(node), None)
        if node.upper is not None:
            self.upper.close(node.upper)
            node.upper = None
        if node.lower is not None:
            self.lower.close(node.lower)
            node.lower = None

    def _idle_dir(self, node: _Dir) -> None:
        """The last handle on ``node`` was closed: keep it live a while (see _IDLE)."""
        if node.removed or node.parent is None:
            self._release_dir(node)
            self._forget_dir(node)
            return
        idle = self._idle
        idle[id(node)] = node
        while len(idle) > _IDLE:
            _, old = idle.popitem(last=False)
            self._release_dir(old)
            self._forget_dir(old)

    def _forget_dir(self, node: _Dir | None) -> None:
        """Drop nodes that nothing holds any more, from ``node`` up."""
        while node is not None and node.opens == 0 and node.kids == 0 and \
                not node.live and node.parent is not None:
            if self._dirs.get(node.ino) is node:
                del self._dirs[node.ino]
            parent = node.parent
            parent.kids -= 1
            node.parent = None
            node = parent

    def _move_node(self, node: _Dir, parent: _Dir, name: str) -> None:
        old = node.parent
        if old is not parent:
            parent.kids += 1
            node.parent = parent
            if old is not None:
                old.kids -= 1
                self._forget_dir(old)
        node.name = name

    @contextmanager
    def _opened(self, node: _Dir) -> Iterator[_Dir]:
        """``node`` with its layer handles for the block (a node that only holds nodes below
        it has none): reopened from its nearest open ancestor down, one level at a time."""
        chain: list[_Dir] = []
        n: _Dir | None = node
        while n is not None and not n.live:
            chain.append(n)
            n = n.parent
        held: _Dir | None = None
        try:
            for m in reversed(chain):
                parent = m.parent
                e = self._lookup(parent, m.name) if parent is not None and not m.removed \
                    else None
                if parent is None or e is None or e.ino != m.ino:
                    raise _error(errno.ENOENT, m.name)
                self._open_dir(parent, m.name, e)
                if held is not None:
                    self.close(held)
                held = m
            yield node
        finally:
            if held is not None:
                self.close(held)

    @contextmanager
    def _child_dir(self, parent: _Dir, name: str, e: _Entry) -> Iterator[_Dir]:
        node = self._open_dir(parent, name, e)
        try:
            yield node
        finally:
            self.close(node)

    # --- the upper side: copy-up ----------------------------------------------------------
    def _tmp_name(self) -> str:
        return f"{_TMP}{self._token[:8]}.{next(self._tmp)}"

    @contextmanager
    def _times_kept(self, up: Any) -> Iterator[None]:
        """Put the upper directory ``up``'s times back after the block (a copy-up or a
        marker is not a change the guest made)."""
        U = self.upper
        before = U.fstat(up)
        yield
        set_times_where_supported(U.fset_times, up, before)

    def _upper_dir(self, node: _Dir) -> Any:
        """The upper handle of the open directory ``node``, copying it (and every directory
        above it) up first."""
        if node.upper is not None:
            return node.upper
        if node.removed:
            raise _error(errno.ENOENT)
        chain: list[_Dir] = []
        top: _Dir | None = node
        while top is not None and top.upper is None:
            chain.append(top)
            top = top.parent
        if top is None:  # pragma: no cover - the root always has its upper handle
            raise _error(errno.ESTALE)
        U, L = self.upper, self.lower
        uh, lh = top.upper, top.lower
        u_owned = l_owned = False  # whether uh / lh are temporary (to close)
        try:
            for m in reversed(chain):
                if not m.has_upper:
                    if lh is None:  # pragma: no cover - a lower-only dir has a lower parent
                        raise _error(errno.ESTALE, m.name)
                    lst = L.lstat(lh, m.name)
                    with self._times_kept(uh):
                        U.mkdir(uh, m.name, lst.mode & 0o7777)
                        nuh = U.opendir(uh, m.name)
                        set_times_where_supported(U.fset_times, nuh, lst)
                    self._named(m.parent, m.name)
                    m.has_upper = True
                    self._origin[U.fstat(nuh).ino] = m.ino
                else:
                    nuh = U.opendir(uh, m.name)
                if m.lower is not None:
                    nlh, nl_owned = m.lower, False
                elif m.lower_kind == _NATURAL and lh is not None:
                    nlh, nl_owned = L.opendir(lh, m.name), True
                elif m.lower_kind == _REDIRECT and m.redirect is not None:
                    nlh = self._open_lower_path(m.redirect)
                    nl_owned = nlh is not None
                else:
                    nlh, nl_owned = None, False
                if u_owned:
                    U.close(uh)
                if l_owned:
                    L.close(lh)
                if m.live and m.upper is None:
                    m.upper = nuh
                    uh, u_owned = nuh, False
                else:
                    uh, u_owned = nuh, True
                lh, l_owned = nlh, nl_owned
        finally:
            if u_owned:
                U.close(uh)
            if l_owned:
                L.close(lh)
        return node.upper

    def _copy_up(self, d: _Dir, name: str, e: _Entry, *, data: bool = True) -> _Entry:
        """Copy the entry ``name`` of ``d`` up (when it is not there yet); returns it as an
        upper entry. ``data=False`` copies a file up empty (it is about to be truncated)."""
        if e.layer == _UP:
            return e
        up = self._upper_dir(d)
        U, L = self.upper, self.lower
        if e.layer == _IX:
            lower_ino = self._indexed.get(e.st.ino, e.st.ino)
            with self._times_kept(up):
                U.link(self._index, str(lower_ino), up, name)
            self._named(d, name)
            left = self._pending.get(lower_ino, 0)
            if left > 0:
                self._pending[lower_ino] = left - 1
            node = self._files.get(e.ino)
            if node is not None and not node.up:
                self._swap(node, *self._open_upper(up, name, need_write=False))
            return _new_entry(_Entry, (_UP, U.lstat(up, name), e.ino))
        lst = e.st
        kind = lst.mode & _S_IFMT
        if kind == _S_IFDIR:
            with self._child_dir(d, name, e) as child:
                self._upper_dir(child)
            return _new_entry(_Entry, (_UP, U.lstat(up, name), e.ino))
        with self._times_kept(up):
            if kind == _S_IFLNK:
                tmp = self._tmp_name()
                U.symlink(L.readlink(d.lower, name), up, tmp)
                try:
                    set_times_where_supported(
                        lambda n, a, m: U.set_times(up, n, a, m), tmp, lst)
                    U.rename(up, tmp, up, name)
                except BaseException:
                    self._discard(up, tmp)
                    raise
                self._named(d, name)
                st = U.lstat(up, name)
            elif kind == _S_IFREG:
                tmp = self._tmp_name()
                self._copy_file_to(d.lower, name, lst, up, tmp, data=data)
                try:
                    U.rename(up, tmp, up, name)
                except BaseException:
                    self._discard(up, tmp)
                    raise
                self._named(d, name)
                st = U.lstat(up, name)
                if lst.nlink > 1:
                    self._index_add(up, name, lst, st,
                                    lst.nlink - 1 - self._hidden.get(lst.ino, 0))
            else:
                raise _error(errno.EPERM, name)  # a FIFO, socket or device: not copied
        self._origin[st.ino] = e.ino
        node = self._files.get(e.ino)
        if node is not None and not node.up:
            self._swap(node, *self._open_upper(up, name, need_write=False))
        return _new_entry(_Entry, (_UP, st, e.ino))

    def _copy_file_to(self, ldir: Any, lname: str, lst: Stat, up: Any, tmp: str, *,
                      data: bool = True) -> None:
        U, L = self.upper, self.lower
        fout = U.open_file(up, tmp, read=False, write=True, create=True, exclusive=True,
                           mode=lst.mode & 0o7777)
        try:
            try:
                if data and lst.size:
                    fin = L.open_file(ldir, lname, read=True, write=False)
                    try:
                        pump(backend_reader(L, fin), backend_writer(U, fout),
                             bytearray(min(CHUNK, max(lst.size, 1))))
                    finally:
                        L.close(fin)
                set_times_where_supported(U.fset_times, fout, lst)
            finally:
                U.close(fout)
        except BaseException:
            self._discard(up, tmp)
            raise

    def _discard(self, up: Any, name: str) -> None:
        try:
            self.upper.unlink(up, name)
        except OSError:
            pass

    def _index_add(self, up: Any, name: str, lst: Stat, st: Stat, left: int) -> bool:
        """Keep a copied-up lower file with several names in the index (when the upper layer
        can make hard links), so its other names find the copy; ``left`` of its lower names
        are still to find it. Returns whether it is in the index."""
        U = self.upper
        if self._no_index:
            return False
        root = self._root.upper
        made = False
        try:
            if self._index is None:
                with self._times_kept(root):
                    try:
                        U.mkdir(root, INDEX_DIR, 0o700)
                        made = True
                    except FileExistsError:
                        pass
                self._index = U.opendir(root, INDEX_DIR)
            U.link(up, name, self._index, str(lst.ino))
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            # no hard links in the upper layer: the names part ways, each with its own copy
            self._no_index = True
            if made:
                U.close(self._index)
                self._index = None
                with self._times_kept(root):
                    U.rmdir(root, INDEX_DIR)
            return False
        self._indexed[st.ino] = lst.ino
        self._pending[lst.ino] = left
        return True

    def _whiteout(self, d: _Dir, name: str) -> None:
        """Hide the lower ``name`` of ``d`` (which has its upper part)."""
        U = self.upper
        if d.wh is not None:
            d.wh.add(name)
        try:
            handle = U.open_file(d.upper, WHITEOUT_PREFIX + name, read=False, write=True,
                                 create=True, exclusive=True, mode=0o600)
        except FileExistsError:
            return
        U.close(handle)

    def _unwhiteout(self, d: _Dir, name: str) -> bool:
        """Remove the whiteout of ``name`` in ``d`` (which has its upper part); returns
        whether there was one."""
        if d.wh is not None:
            if name not in d.wh:
                return False
            d.wh.discard(name)
        try:
            self.upper.unlink(d.upper, WHITEOUT_PREFIX + name)
        except FileNotFoundError:
            return False
        return True

    def _write_marker(self, up: Any, name: str, data: bytes) -> None:
        U = self.upper
        with self._times_kept(up):
            handle = U.open_file(up, name, read=False, write=True, create=True, truncate=True,
                                 mode=0o600)
            try:
                if data:
                    backend_writer(U, handle)(memoryview(data), 0)
            finally:
                U.close(handle)

    def _drop_marker(self, up: Any, name: str) -> None:
        U = self.upper
        try:
            U.lstat(up, name)
        except FileNotFoundError:
            return
        with self._times_kept(up):
            U.unlink(up, name)

    def _place_dir(self, node: _Dir, old_path: tuple[str, ...] | None) -> None:
        """After ``node`` (with its upper part) moved: make its markers say where its lower
        part is (``old_path``) from its new place."""
        parent = node.parent
        assert parent is not None and node.upper is not None
        natural: tuple[str, ...] | None = None
        st = self._lower_has(parent, node.name)
        if st is not None and st.mode & _S_IFMT == _S_IFDIR:
            natural = self._lower_path(parent)
            if natural is not None:
                natural += (node.name,)
        up = node.upper
        if old_path is not None and old_path == natural:
            self._drop_marker(up, REDIRECT_MARKER)
            self._drop_marker(up, OPAQUE_MARKER)
            node.lower_kind, node.redirect = _NATURAL, None
        elif old_path is None:
            self._drop_marker(up, REDIRECT_MARKER)
            if natural is not None:
                self._write_marker(up, OPAQUE_MARKER, b"")
            node.lower_kind, node.redirect = _NONE, None
        else:
            self._drop_marker(up, OPAQUE_MARKER)
            self._write_marker(up, REDIRECT_MARKER,
                               "/".join(old_path).encode("utf-8", "surrogateescape"))
            node.lower_kind, node.redirect = _REDIRECT, old_path

    def _clear_markers(self, d: _Dir) -> None:
        """Remove the bookkeeping files of ``d``'s upper directory (empty to the guest)."""
        U = self.upper
        up = d.upper
        d.names = d.wh = None
        for entry in U.listdir(up):
            if _reserved(entry.name):
                U.unlink(up, entry.name)

    def _forget_upper(self, st: Stat) -> None:
        """The upper entry of ``st`` loses a name: forget its origin with its last name."""
        if st.nlink > 1 and st.mode & _S_IFMT != _S_IFDIR:
            lower_ino = self._indexed.get(st.ino)
            if lower_ino is None or st.nlink > 2 or self._pending.get(lower_ino, 0):
                return
            # only the index is left: let the data go
            try:
                self.upper.unlink(self._index, str(lower_ino))
            except FileNotFoundError:
                pass
            del self._indexed[st.ino]
            self._pending.pop(lower_ino, None)
        self._origin.pop(st.ino, None)

    def _check_writable(self, name: str | None = None) -> None:
        if self.readonly:
            raise _error(errno.EROFS, name)

    def _check_name(self, name: str) -> None:
        if _reserved(name):
            raise OSError(errno.EINVAL, f"names starting with {WHITEOUT_PREFIX!r} are "
                                        "reserved by the overlay", name)

    # --- handles ----------------------------------------------------------------------
    def root(self) -> _Dir:
        """The root directory (a handle is the shared directory node)."""
        with self._lock:
            self._root.opens += 1
            return self._root

    def opendir(self, dir: _Dir, name: str) -> _Dir:
        with self._lock:
            e = self._lookup(dir, name)
            if e is None:
                raise _error(errno.ENOENT, name)
            kind = e.st.mode & _S_IFMT
            if kind != _S_IFDIR:
                raise _error(errno.ELOOP if kind == _S_IFLNK else errno.ENOTDIR, name)
            return self._open_dir(dir, name, e)

    def open_file(self, dir: _Dir, name: str, *, read: bool, write: bool,
                  create: bool = False, exclusive: bool = False, truncate: bool = False,
                  mode: int = 0o666) -> _File:
        with self._lock:
            e = self._lookup(dir, name)
            if e is None:
                if not create:
                    raise _error(errno.ENOENT, name)
                self._check_name(name)
                self._check_writable(name)
                if dir.removed:
                    raise _error(errno.ENOENT, name)
                up = self._upper_dir(dir)
                U = self.upper
                h = U.open_file(up, name, read=True, write=True, create=True,
                                exclusive=True, mode=mode & 0o7777 & ~self.umask)
                self._named(dir, name)
                self._unwhiteout(dir, name)
                return self._file_node(_UP, h, self._upper_ino(U.fstat(h).ino), True, dir,
                                       name)
            if create and exclusive:
                raise _error(errno.EEXIST, name)
            kind = e.st.mode & _S_IFMT
            if kind != _S_IFREG:
                raise _error(errno.ELOOP if kind == _S_IFLNK else errno.EISDIR, name)
            if write or truncate:
                self._check_writable(name)
                e = self._copy_up(dir, name, e, data=not truncate)
            node = self._files.get(e.ino)
            if e.layer == _LO:
                if node is None:
                    h = self.lower.open_file(dir.lower, name, read=True, write=False)
                    return self._file_node(_LO, h, e.ino, False, dir, name)
                node.opens += 1
                return node
            if node is not None and node.up and (node.writable or not write) \
                    and not truncate:
                node.opens += 1
                return node
            where, where_name = self._upper_place(dir, name, e)
            h, writable = self._open_upper(where, where_name, need_write=write,
                                           truncate=truncate)
            if node is None:
                return self._file_node(_UP, h, e.ino, writable, dir, name)
            self._swap(node, h, writable)
            node.opens += 1
            return node

    def _upper_place(self, dir: _Dir, name: str, e: _Entry) -> tuple[Any, str]:
        """Where the upper entry ``e`` (``name`` of ``dir``) can be opened."""
        if e.layer == _IX:
            return self._index, str(self._indexed.get(e.st.ino, e.st.ino))
        return dir.upper, name

    def _open_upper(self, where: Any, name: str, *, need_write: bool,
                    truncate: bool = False) -> tuple[Any, bool]:
        """An upper handle on a file, for writing too where it can be (a file without
        write permission is opened for reading when that is all that was asked)."""
        U = self.upper
        if self.readonly:
            return U.open_file(where, name, read=True, write=False), False
        try:
            return U.open_file(where, name, read=True, write=True, truncate=truncate), True
        except PermissionError:
            if need_write or truncate:
                raise
        return U.open_file(where, name, read=True, write=False), False

    def _swap(self, node: _File, h: Any, writable: bool) -> None:
        """Make every handle of ``node`` use the upper handle ``h`` from now on."""
        old_fs, old_h = node.fs, node.h
        node.fs, node.h, node.up, node.writable = self.upper, h, True, writable
        old_fs.close(old_h)

    def _file_node(self, layer: int, h: Any, ino: int, writable: bool, dir: _Dir,
                   name: str) -> _File:
        node = _File(ino, self.upper if layer != _LO else self.lower, h, layer != _LO,
                     writable)
        node.opens = 1
        node.where = dir
        node.name = name
        dir.kids += 1
        self._files[ino] = node
        return node

    def close(self, handle: Any) -> None:
        """Give back a handle; the layer handles go with the last one."""
        with self._lock:
            if type(handle) is _Dir:
                if handle.opens <= 0:
                    return
                handle.opens -= 1
                if handle.opens == 0:
                    self._idle_dir(handle)
                return
            if type(handle) is not _File or handle.opens <= 0:
                return
            handle.opens -= 1
            if handle.opens:
                return
            if self._files.get(handle.ino) is handle:
                del self._files[handle.ino]
            try:
                handle.fs.close(handle.h)
            except Exception:  # noqa: BLE001 - close never raises
                pass
            self._unpin(handle)

    def _unpin(self, node: _File) -> None:
        where = node.where
        node.where = None
        if where is not None:
            where.kids -= 1
            self._forget_dir(where)

    def same(self, a: Any, b: Any) -> bool:
        return a is b

    # --- metadata -----------------------------------------------------------------------
    def fstat(self, handle: Any) -> Stat:
        if type(handle) is _File:
            st = handle.fs.fstat(handle.h)
            return self._stat(_UP if handle.up else _LO, st, handle.ino)
        if handle.upper is not None:
            return self._stat(_UP, self.upper.fstat(handle.upper), handle.ino)
        if handle.lower is not None:
            return self._stat(_LO, self.lower.fstat(handle.lower), handle.ino)
        raise _error(errno.EBADF)

    def lstat(self, dir: _Dir, name: str) -> Stat:
        with self._lock:
            e = self._lookup(dir, name)
        if e is None:
            raise _error(errno.ENOENT, name)
        return self._stat(e.layer, e.st, e.ino)

    def readlink(self, dir: _Dir, name: str) -> str:
        with self._lock:
            e = self._lookup(dir, name)
            if e is None:
                raise _error(errno.ENOENT, name)
            if e.layer == _LO:
                return self.lower.readlink(dir.lower, name)
            return self.upper.readlink(dir.upper, name)

    def listdir(self, dir: _Dir) -> list[DirEntry]:
        """The lower entries in the lower layer's order (copied-up ones in their place),
        then the upper layer's own, in its order."""
        with self._lock:
            return self._listdir(dir)

    def _listdir(self, dir: _Dir) -> list[DirEntry]:
        if dir.removed:
            return []
        if dir.upper is None and dir.lower is not None:  # lower only: its listing as it is
            listed = self.lower.listdir(dir.lower)
            for entry in listed:
                if entry.ino > _MASK or entry.name.startswith(WHITEOUT_PREFIX):
                    break
            else:
                return listed
        upper: dict[str, DirEntry] = {}
        whiteouts: set[str] = set()
        if dir.upper is not None:
            for entry in self.upper.listdir(dir.upper):
                name = entry.name
                if name.startswith(WHITEOUT_PREFIX):
                    if not name.startswith(".wh..wh."):
                        whiteouts.add(name[4:])
                    continue
                upper[name] = entry
        out: list[DirEntry] = []
        if dir.lower is not None:
            for entry in self.lower.listdir(dir.lower):
                name = entry.name
                mine = upper.pop(name, None)
                if mine is not None:
                    out.append(DirEntry(name, self._upper_ino(mine.ino), mine.mode))
                elif name not in whiteouts and not _reserved(name):
                    out.append(DirEntry(name, entry.ino & _MASK, entry.mode))
        out.extend(DirEntry(name, self._upper_ino(entry.ino), entry.mode)
                   for name, entry in upper.items())
        return out

    def set_times(self, dir: _Dir, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        with self._lock:
            e = self._lookup(dir, name)
            if e is None:
                raise _error(errno.ENOENT, name)
            self._check_writable(name)
            if atime_ns is None and mtime_ns is None:
                return
            e = self._copy_up(dir, name, e)
            self.upper.set_times(dir.upper, name, atime_ns, mtime_ns)

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None:
        with self._lock:
            self._check_writable()
            if atime_ns is None and mtime_ns is None:
                return
            if type(handle) is _File:
                if not handle.up:
                    self._file_up(handle)
                self.upper.fset_times(handle.h, atime_ns, mtime_ns)
                return
            self.upper.fset_times(self._upper_dir(handle), atime_ns, mtime_ns)

    def _file_up(self, node: _File) -> None:
        """Copy the open lower file ``node`` up and make its handles use the copy: under
        the name it was opened by, else (a name since deleted) as a nameless upper file."""
        U = self.upper
        d = node.where
        if d is not None:
            try:
                with self._opened(d):
                    e = self._lookup(d, node.name)
                    if e is not None and e.ino == node.ino:
                        e = self._copy_up(d, node.name, e)  # swaps the node in
                        if not node.up:
                            where, name = self._upper_place(d, node.name, e)
                            self._swap(node, *self._open_upper(where, name, need_write=True))
                        return
            except FileNotFoundError:
                pass  # its directory is gone: nameless
        # Nameless (its name was deleted while it was open): a copy of its own, held by the
        # index when other lower names of it are still there (they then find the copy).
        root = self._root.upper
        tmp = self._tmp_name()
        lst = self.lower.fstat(node.h)
        left = lst.nlink - self._hidden.get(lst.ino, 0)
        fout = U.open_file(root, tmp, read=True, write=True, create=True, exclusive=True,
                           mode=lst.mode & 0o7777)
        try:
            with self._times_kept(root):
                pump(backend_reader(self.lower, node.h), backend_writer(U, fout))
                set_times_where_supported(U.fset_times, fout, lst)
                st = U.fstat(fout)
                if left > 0 and self._index_add(root, tmp, lst, st, left):
                    self._origin[st.ino] = node.ino
                U.unlink(root, tmp)
        except BaseException:
            U.close(fout)
            self._discard(root, tmp)
            raise
        self._swap(node, fout, True)

    # --- file data ----------------------------------------------------------------------
    def pread(self, file: _File, buf: memoryview, offset: int) -> int:
        return file.fs.pread(file.h, buf, offset)

    def _writable_file(self, file: _File) -> Any:
        if self.readonly:
            raise _error(errno.EROFS)
        if not file.writable:
            with self._lock:
                if not file.up:
                    self._file_up(file)
                else:
                    raise _error(errno.EBADF)  # an upper file opened read-only, nameless
        return file.h

    def pwrite(self, file: _File, data: memoryview | bytes, offset: int) -> int:
        h = file.h if file.writable and not self.readonly else self._writable_file(file)
        return self.upper.pwrite(h, data, offset)

    def append(self, file: _File, data: memoryview | bytes) -> tuple[int, int]:
        h = file.h if file.writable and not self.readonly else self._writable_file(file)
        return self.upper.append(h, data)

    def ftruncate(self, file: _File, size: int) -> None:
        self.upper.ftruncate(self._writable_file(file), size)

    def fsync(self, file: Any, dataonly: bool = False) -> None:
        if type(file) is _File:
            file.fs.fsync(file.h, dataonly)
        elif file.upper is not None:
            self.upper.fsync(file.upper, dataonly)

    def allocate(self, file: _File, offset: int, length: int) -> None:
        self.upper.allocate(self._writable_file(file), offset, length)

    # --- namespace ----------------------------------------------------------------------
    def mkdir(self, dir: _Dir, name: str, mode: int = 0o777) -> None:
        with self._lock:
            if self._lookup(dir, name) is not None:
                raise _error(errno.EEXIST, name)
            self._check_writable(name)
            self._check_name(name)
            if dir.removed:
                raise _error(errno.ENOENT, name)
            up = self._upper_dir(dir)
            U = self.upper
            U.mkdir(up, name, mode & 0o7777 & ~self.umask)
            self._named(dir, name)
            if self._unwhiteout(dir, name):
                st = self._lower_has(dir, name)
                if st is not None and st.mode & _S_IFMT == _S_IFDIR:
                    handle = U.opendir(up, name)
                    try:
                        self._write_marker(handle, OPAQUE_MARKER, b"")
                    finally:
                        U.close(handle)

    def rmdir(self, dir: _Dir, name: str) -> None:
        with self._lock:
            self._check_writable(name)
            e = self._lookup(dir, name)
            if e is None:
                raise _error(errno.ENOENT, name)
            if e.st.mode & _S_IFMT != _S_IFDIR:
                raise _error(errno.ENOTDIR, name)
            with self._child_dir(dir, name, e) as child:
                if self.listdir(child):
                    raise _error(errno.ENOTEMPTY, name)
                up = self._upper_dir(dir)
                if e.layer == _UP:
                    self._clear_markers(child)
                    self.upper.rmdir(up, name)
                    self._unnamed_upper(dir, name)
                    self._origin.pop(e.st.ino, None)
                if self._lower_has(dir, name) is not None:
                    self._whiteout(dir, name)
                self._remove_node(child)

    def _remove_node(self, node: _Dir) -> None:
        node.removed = True
        if self._dirs.get(node.ino) is node:
            del self._dirs[node.ino]
        if node.opens == 0:
            self._release_dir(node)
            self._forget_dir(node)

    def unlink(self, dir: _Dir, name: str) -> None:
        with self._lock:
            self._check_writable(name)
            e = self._lookup(dir, name)
            if e is None:
                raise _error(errno.ENOENT, name)
            if e.st.mode & _S_IFMT == _S_IFDIR:
                raise _error(errno.EISDIR, name)
            up = self._upper_dir(dir)
            if e.layer == _UP:
                self.upper.unlink(up, name)
                self._unnamed_upper(dir, name)
                self._forget_upper(e.st)
            else:
                self._hide(e)
            if self._lower_has(dir, name) is not None:
                self._whiteout(dir, name)
            self._unnamed(dir, name, e)

    def _hide(self, e: _Entry) -> None:
        """A lower name of a file (``e``, not copied up) is hidden from now on."""
        if e.layer == _IX:
            lower_ino = self._indexed.get(e.st.ino, e.st.ino)
            left = self._pending.get(lower_ino, 0)
            if left > 0:
                self._pending[lower_ino] = left - 1
        elif e.layer == _LO:
            self._hidden[e.st.ino] = self._hidden.get(e.st.ino, 0) + 1

    def _unnamed(self, dir: _Dir, name: str, e: _Entry) -> None:
        """``name`` of ``dir`` (the entry ``e``) is gone: an open file it named forgets it."""
        node = self._files.get(e.ino)
        if node is not None and node.where is dir and node.name == name:
            self._unpin(node)

    def rename(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str) -> None:
        with self._lock:
            self._check_writable(src)
            s = self._lookup(src_dir, src)
            if s is None:
                raise _error(errno.ENOENT, src)
            if dst_dir.removed:
                raise _error(errno.ENOENT, dst)
            self._check_name(dst)
            t = self._lookup(dst_dir, dst)
            if t is not None and t.ino == s.ino:
                return  # the same file (same name, or two hard links): nothing to do
            s_dir = s.st.mode & _S_IFMT == _S_IFDIR
            t_dir = t is not None and t.st.mode & _S_IFMT == _S_IFDIR
            if t_dir:
                up_node: _Dir | None = src_dir
                while up_node is not None:  # the target is an ancestor of the source
                    if up_node.ino == t.ino:  # type: ignore[union-attr]
                        raise _error(errno.ENOTEMPTY, dst)
                    up_node = up_node.parent
            if s_dir:
                anc: _Dir | None = dst_dir
                while anc is not None:
                    if anc.ino == s.ino:
                        raise _error(errno.EINVAL, dst)  # into its own subtree
                    anc = anc.parent
                if t is not None and not t_dir:
                    raise _error(errno.ENOTDIR, dst)
            elif t_dir:
                raise _error(errno.EISDIR, dst)
            if s_dir:
                with self._child_dir(src_dir, src, s) as node:
                    self._rename_dir(src_dir, src, s, dst_dir, dst, t, node)
            else:
                self._rename_entry(src_dir, src, s, dst_dir, dst, t)

    def _prepare_target(self, dst_dir: _Dir, dst: str, t: _Entry | None) -> None:
        """Make the target of a rename ready to be replaced (an empty directory loses its
        bookkeeping files; ``ENOTEMPTY`` when the guest sees entries in it)."""
        if t is None:
            return
        if t.st.mode & _S_IFMT == _S_IFDIR:
            with self._child_dir(dst_dir, dst, t) as child:
                if self.listdir(child):
                    raise _error(errno.ENOTEMPTY, dst)
                if child.upper is not None:
                    self._clear_markers(child)
                self._remove_node(child)
        else:
            self._hide(t)

    def _move_upper(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str,
                    t: _Entry | None) -> None:
        """The upper rename, with the whiteouts it needs on both sides."""
        U = self.upper
        sup, dup = src_dir.upper, dst_dir.upper
        U.rename(sup, src, dup, dst)
        self._unnamed_upper(src_dir, src)
        self._named(dst_dir, dst)
        if t is not None:
            if t.layer == _UP:
                self._forget_upper(t.st)
            self._unnamed(dst_dir, dst, t)
        self._unwhiteout(dst_dir, dst)
        if self._lower_has(src_dir, src) is not None:
            self._whiteout(src_dir, src)

    def _rename_entry(self, src_dir: _Dir, src: str, s: _Entry, dst_dir: _Dir, dst: str,
                      t: _Entry | None) -> None:
        self._upper_dir(dst_dir)
        s = self._copy_up(src_dir, src, s)
        self._prepare_target(dst_dir, dst, t)
        self._move_upper(src_dir, src, dst_dir, dst, t)
        node = self._files.get(s.ino)
        if node is not None and node.where is src_dir and node.name == src:
            if dst_dir is not src_dir:
                dst_dir.kids += 1
                node.where = dst_dir
                src_dir.kids -= 1
                self._forget_dir(src_dir)
            node.name = dst

    def _rename_dir(self, src_dir: _Dir, src: str, s: _Entry, dst_dir: _Dir, dst: str,
                    t: _Entry | None, node: _Dir) -> None:
        old_path = self._lower_path(node)
        self._upper_dir(dst_dir)
        self._upper_dir(node)  # copies it (and src_dir) up
        self._prepare_target(dst_dir, dst, t)
        self._move_upper(src_dir, src, dst_dir, dst, t)
        self._move_node(node, dst_dir, dst)
        self._place_dir(node, old_path)

    def link(self, src_dir: _Dir, src: str, dst_dir: _Dir, dst: str) -> None:
        with self._lock:
            s = self._lookup(src_dir, src)
            if s is None:
                raise _error(errno.ENOENT, src)
            if self._lookup(dst_dir, dst) is not None:
                raise _error(errno.EEXIST, dst)
            if s.st.mode & _S_IFMT == _S_IFDIR:
                raise _error(errno.EPERM, src)
            self._check_writable(dst)
            self._check_name(dst)
            if dst_dir.removed:
                raise _error(errno.ENOENT, dst)
            dup = self._upper_dir(dst_dir)
            s = self._copy_up(src_dir, src, s)
            self.upper.link(src_dir.upper, src, dup, dst)
            self._named(dst_dir, dst)
            self._unwhiteout(dst_dir, dst)

    def symlink(self, target: str, dir: _Dir, name: str) -> None:
        with self._lock:
            if self._lookup(dir, name) is not None:
                raise _error(errno.EEXIST, name)
            self._check_writable(name)
            self._check_name(name)
            if not target or dir.removed:
                raise _error(errno.ENOENT, name)
            up = self._upper_dir(dir)
            self.upper.symlink(target, up, name)
            self._named(dir, name)
            self._unwhiteout(dir, name)

    # --- changes ------------------------------------------------------------------------
    def changes(self) -> list[Change]:
        """What the overlay's view differs in from the lower layer, path by path (see
        :class:`Change`): a directory's deletions, then its other changes in listing order,
        then those inside its subdirectories, each before the next subdirectory."""
        return [change for change, _d, _name, _path in self._diff() if change is not None]

    def _diff(self) -> Iterator[tuple[Change | None, _Dir, str, str]]:
        """``(change, d, name, path)``: a change of the entry ``name`` of the open overlay
        directory ``d`` (at ``path``), or ``(None, d, "", path)`` on entering ``d``. The
        overlay and the lower layer are walked side by side; a subtree the upper layer has
        nothing of is not entered. Handles stay bounded whatever the depth."""
        L = self.lower
        # (overlay dir, lower dir at the same path or None, path)
        stack: list[tuple[_Dir, Any, str]] = [(self.root(), L.root(), "")]
        try:
            while stack:
                d, ld, path = stack.pop()
                try:
                    yield None, d, "", path
                    yield from self._diff_dir(d, ld, path, stack)
                finally:
                    self.close(d)
                    if ld is not None:
                        L.close(ld)
        finally:
            for d, ld, _path in stack:
                self.close(d)
                if ld is not None:
                    L.close(ld)

    def _diff_dir(self, d: _Dir, ld: Any, path: str, stack: list[tuple[_Dir, Any, str]]
                  ) -> Iterator[tuple[Change | None, _Dir, str, str]]:
        L = self.lower
        merged = self.listdir(d)
        names = {entry.name for entry in merged}
        lower: set[str] = set()
        if ld is not None:
            for entry in L.listdir(ld):
                if _reserved(entry.name):
                    continue
                lower.add(entry.name)
                if entry.name not in names:
                    st = L.lstat(ld, entry.name)
                    yield (Change(ChangeKind.DELETED, f"{path}/{entry.name}",
                                  _type_name(st.mode)), d, entry.name, path)
        # whether an entry from the lower layer is the lower entry of its path
        native = d.lower is not None and ld is not None and L.same(d.lower, ld)
        subdirs: list[tuple[_Dir, Any, str]] = []
        try:
            for entry in merged:
                name = entry.name
                full = f"{path}/{name}"
                e = self._lookup(d, name)
                if e is None:  # pragma: no cover - listed a moment ago
                    continue
                kind = e.st.mode & _S_IFMT
                lst = L.lstat(ld, name) if name in lower else None
                if lst is None or lst.mode & _S_IFMT != kind:
                    what = ChangeKind.ADDED if lst is None else ChangeKind.CHANGED
                    yield Change(what, full, _type_name(e.st.mode)), d, name, path
                    if kind == _S_IFDIR:
                        subdirs.append((self._open_dir(d, name, e), None, full))
                    continue
                if e.layer == _LO and native:
                    continue  # the lower entry itself: unchanged, and so is all below it
                if kind == _S_IFDIR:
                    if (lst.mode ^ e.st.mode) & 0o7777:
                        yield Change(ChangeKind.CHANGED, full, "dir"), d, name, path
                    child = self._open_dir(d, name, e)
                    try:
                        lchild = L.opendir(ld, name)
                    except BaseException:
                        self.close(child)
                        raise
                    subdirs.append((child, lchild, full))
                elif kind == _S_IFLNK:
                    if self.readlink(d, name) != L.readlink(ld, name):
                        yield Change(ChangeKind.CHANGED, full, "symlink"), d, name, path
                elif kind == _S_IFREG:
                    if self._file_differs(d, name, e.st, ld, lst):
                        yield Change(ChangeKind.CHANGED, full, "file"), d, name, path
                elif (lst.mode ^ e.st.mode) & 0o7777:
                    yield Change(ChangeKind.CHANGED, full, "other"), d, name, path
        finally:
            stack.extend(reversed(subdirs))

    def _file_differs(self, d: _Dir, name: str, st: Stat, ld: Any, lst: Stat) -> bool:
        """Whether the file ``name`` of ``d`` differs from the lower file ``name`` of
        ``ld``: size, modification time, permission bits or data."""
        if st.size != lst.size or st.mtime_ns != lst.mtime_ns or (st.mode ^ lst.mode) & 0o7777:
            return True
        if not st.size:
            return False
        L = self.lower
        mine = self.open_file(d, name, read=True, write=False)
        try:
            theirs = L.open_file(ld, name, read=True, write=False)
            try:
                a, b = bytearray(min(CHUNK, st.size)), bytearray(min(CHUNK, st.size))
                offset = 0
                while True:
                    n = self.pread(mine, memoryview(a), offset)
                    m = L.pread(theirs, memoryview(b), offset)
                    if n != m or a[:n] != b[:m]:
                        return True
                    if not n:
                        return False
                    offset += n
            finally:
                L.close(theirs)
        finally:
            self.close(mine)

    def export(self, dest: Any, *, whiteouts: bool = True) -> list[Change]:
        """Write the changes into ``dest`` (a host directory, made if missing; or a backend,
        or a URL :func:`~wasifs.backends.open_backend` takes) as a tree: each added or
        changed file, symlink and directory as the overlay shows it (times and permission
        bits kept; names of one file as hard links where ``dest`` can make them), the
        directories above them, and, with ``whiteouts``, an empty ``.wh.NAME`` file for each
        deleted ``NAME`` (the OCI image layer format). Returns the changes written.

        ``dest`` should be empty: what is there already is merged with (files overwritten).
        """
        from ._registry import open_backend

        if isinstance(dest, (str, os.PathLike)) and "://" not in os.fspath(dest):
            os.makedirs(dest, exist_ok=True)
        target = open_backend(dest)
        out = _Export(self, target)
        try:
            for change, d, name, path in self._diff():
                if change is None:
                    out.seen[path] = self.fstat(d)
                    continue
                out.changes.append(change)
                if change.kind == ChangeKind.DELETED:
                    if whiteouts:
                        th = out.goto(path)
                        target.close(target.open_file(th, WHITEOUT_PREFIX + name, read=False,
                                                      write=True, create=True, truncate=True))
                    continue
                out.entry(d, name, path)
            out.finish()
        finally:
            out.close()
        return out.changes


class _Export:
    """Writing changes into a backend: a walk of its directories that makes what is missing
    (bounded handles, linear in the changes' paths), then their times."""

    def __init__(self, ov: OverlayFileSystem, target: Backend) -> None:
        from ._walk import DirChain

        self.ov = ov
        self.target = target
        self.chain = DirChain(target, target.root(), owned=True)
        self.changes: list[Change] = []
        #: the overlay's directories the walk entered: path -> stat
        self.seen: dict[str, Stat] = {}
        #: directories written into the target (their times are set last)
        self.made: set[str] = set()
        #: overlay inode of a file with several names -> the path it was first written at
        self.linked: dict[int, str] = {}

    def goto(self, path: str) -> Any:
        """A handle on the directory ``path`` of the target (made where missing, with the
        overlay's permission bits)."""
        chain, target = self.chain, self.target
        parts = [p for p in path.split("/") if p]
        common = 0
        for mine, theirs in zip(chain.names, parts, strict=False):
            if mine != theirs:
                break
            common += 1
        chain.truncate(common)
        for name in parts[common:]:
            here = "/" + "/".join([*chain.names, name])
            try:
                handle = target.opendir(chain.top, name)
            except FileNotFoundError:
                st = self.seen.get(here)
                target.mkdir(chain.top, name, st.mode & 0o7777 if st is not None else 0o755)
                self.made.add(here)
                handle = target.opendir(chain.top, name)
            chain.push(handle, name)
        return chain.top

    def entry(self, d: _Dir, name: str, path: str) -> None:
        """Write the overlay's entry ``name`` of ``d`` (at ``path``)."""
        ov, target = self.ov, self.target
        st = ov.lstat(d, name)
        full = f"{path}/{name}"
        th = self.goto(path)
        try:
            old: Stat | None = target.lstat(th, name)
        except FileNotFoundError:
            old = None
        kind = st.mode & _S_IFMT
        if old is not None and (kind != _S_IFDIR or old.mode & _S_IFMT != _S_IFDIR) and \
                old.mode & _S_IFMT != _S_IFREG:
            from ._copy import remove_entry

            remove_entry(target, th, name)
            old = None
        if kind == _S_IFDIR:
            if old is not None and old.mode & _S_IFMT != _S_IFDIR:
                target.unlink(th, name)
                old = None
            if old is None:
                target.mkdir(th, name, st.mode & 0o7777)
            self.made.add(full)
            return
        if old is not None and kind != _S_IFREG:
            target.unlink(th, name)
        if kind == _S_IFLNK:
            target.symlink(ov.readlink(d, name), th, name)
            set_times_where_supported(lambda n, a, m: target.set_times(th, n, a, m), name, st)
            return
        if kind != _S_IFREG:
            return  # a FIFO, socket or device: listed, not written
        first = self.linked.get(st.ino) if st.nlink > 1 else None
        if first is not None and old is None and self._link(first, th, name):
            return
        self.linked.setdefault(st.ino, full)
        fin = ov.open_file(d, name, read=True, write=False)
        try:
            fout = target.open_file(th, name, read=False, write=True, create=True,
                                    truncate=True, mode=st.mode & 0o7777)
            try:
                pump(backend_reader(ov, fin), backend_writer(target, fout))
                set_times_where_supported(target.fset_times, fout, st)
            finally:
                target.close(fout)
        finally:
            ov.close(fin)

    def _link(self, first: str, th: Any, name: str) -> bool:
        """Make ``name`` in ``th`` a hard link to the file written at ``first``."""
        target = self.target
        *parents, leaf = [p for p in first.split("/") if p]
        handle = target.root()
        try:
            for part in parents:
                nxt = target.opendir(handle, part)
                target.close(handle)
                handle = nxt
            target.link(handle, leaf, th, name)
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            return False
        finally:
            target.close(handle)
        return True

    def finish(self) -> None:
        """Give the directories written their times, deepest first."""
        for path in sorted(self.made, key=lambda p: p.count("/"), reverse=True):
            st = self.seen.get(path)
            if st is not None:
                set_times_where_supported(self.target.fset_times, self.goto(path), st)

    def close(self) -> None:
        self.chain.close()


def export_overlays(mounts: Mapping[str, Any], dest: str | os.PathLike[str], *,
                    whiteouts: bool = True) -> dict[str, list[Change]]:
    """Export every :class:`OverlayFileSystem` among ``mounts`` (guest path -> backend, as
    :attr:`wasifs.RunResult.mounts` gives them) into the host directory ``dest``, laid out
    as the guest sees them: the overlay mounted at ``/data`` into ``dest/data``, one at
    ``/`` into ``dest`` itself. Other backends are left out. Returns the changes written,
    by guest path (what a command line's ``--export-changes DIR`` does after the run)."""
    out: dict[str, list[Change]] = {}
    for guest_path, backend in mounts.items():
        if not isinstance(backend, OverlayFileSystem):
            continue
        parts = [p for p in guest_path.split("/") if p and p != "."]
        if ".." in parts:
            raise ValueError(f"cannot export the overlay at {guest_path!r}: '..' in its path")
        out[guest_path] = backend.export(os.path.join(os.fspath(dest), *parts),
                                         whiteouts=whiteouts)
    return out
