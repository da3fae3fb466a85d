"""The host-side walker: path resolution and tree walks over any :class:`Backend`.

One implementation of the host-side path rules, shared by :class:`wasifs.path.Path`, the
fsspec facade (:class:`~wasifs.backends.HandleFileSystem`) and :mod:`wasifs.transfer`, so
that every backend gets all three by implementing the handle protocol alone.

Path rules (:func:`resolve`): a path is walked one component at a time from the backend's
root through directory handles, as a POSIX kernel walks it: a relative path is taken from the
root, ``..`` goes to the parent of the directory actually reached (and stays at the root), a
symlink's target is read and spliced in (an *absolute* target is taken from the backend's
root, never from the host's), a component followed by more (or by a trailing ``/``) must be a
directory, and more than :data:`MAX_SYMLINKS` expansions give ``ELOOP``. The host caller is
trusted, but nothing it can spell leads outside the backend. (A guest's lookups follow the
stricter rules of :mod:`wasifs.vfs`.)

Tree walks (:class:`TreeWalk`, :func:`walk_dirs`) are iterative: no recursion limit, and the
work is linear in the size of the tree, however deep. A :class:`DirChain` holds the
directories from the walk's start down to where it is; on a deep tree only a bounded number
of their handles stay open (a native backend's handle is a host file descriptor), and a
closed one is reopened by name when the walk comes back up to it, after checking that it is
still the same directory.
"""

from __future__ import annotations

import errno
import stat as _stat
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ._errors import relabel
from ._protocol import PATH_MAX, Backend, DirEntry, Stat

__all__ = ("MAX_SYMLINKS", "DirChain", "Location", "TreeWalk", "makedirs", "resolve",
           "walk_dirs")

#: How many symlinks one host-side lookup may expand before it fails with ``ELOOP``
#: (Linux's limit). The guest-side resolver of :mod:`wasifs.vfs` uses the same limit.
MAX_SYMLINKS = 40

#: A :class:`DirChain` keeps (by default) the handles of its deepest ``WINDOW`` levels open,
#: and of every ``STRIDE``-th level: at most ``depth / STRIDE + WINDOW + STRIDE`` open
#: handles, and at most ``STRIDE`` reopens each time the walk comes back up ``STRIDE``
#: levels (linear work).
WINDOW = 64
STRIDE = 64


class DirChain:
    """The directories from a base directory down to the current one (:attr:`top`).

    Level 0 is the base handle; level ``i + 1`` is the directory ``names[i]`` inside level
    ``i``. :meth:`push` goes one level down (with a handle the caller opened, which the chain
    then owns), :meth:`pop` one level up. The base is closed by :meth:`close` only when
    ``owned``.

    Handles of levels between the ``window`` deepest ones and the ``stride``-th ones are
    closed as the chain grows and reopened by name from the nearest open level when
    :meth:`pop` comes back to them; a reopened directory that is not the one that was closed
    (another ``(dev, ino)``: it was moved or replaced meanwhile) gives ``OSError(ESTALE)``.
    Of the levels one reopening walks through, the ``window`` deepest and every
    ``fine``-th stay open (default ``fine = stride``: all of them): with a ``fine`` stride
    well below ``stride``, the chain holds at most about ``depth / stride + stride / fine +
    2 * window`` handles and reopens at most ``fine / window`` levels per level it goes
    back up (amortized).
    A level pushed with ``pinned=True`` (one that cannot be reopened by name, such as a
    directory reached through a symlink) is never closed before it is popped.
    """

    __slots__ = ("fs", "names", "_handles", "_closed", "_pinned", "_owned", "_window",
                 "_stride", "_fine")

    def __init__(self, fs: Backend, base: Any, *, owned: bool, window: int = WINDOW,
                 stride: int = STRIDE, fine: int | None = None) -> None:
        self.fs = fs
        self.names: list[str] = []
        self._handles: list[Any] = [base]
        self._closed: dict[int, tuple[int, int]] = {}
        self._pinned: set[int] | None = None
        self._owned = owned
        self._window = window
        self._stride = stride
        self._fine = stride if fine is None else fine

    @property
    def base(self) -> Any:
        """The handle of level 0 (the walk's start)."""
        return self._handles[0]

    @property
    def top(self) -> Any:
        """The handle of the current directory (always open)."""
        return self._handles[-1]

    @property
    def depth(self) -> int:
        """How many levels below the base the chain is (0 at the base)."""
        return len(self.names)

    def push(self, handle: Any, name: str, *, pinned: bool = False) -> None:
        """Make ``handle`` (the directory ``name`` inside :attr:`top`) the new top."""
        handles = self._handles
        handles.append(handle)
        self.names.append(name)
        level = len(handles) - 1
        if pinned:
            if self._pinned is None:
                self._pinned = set()
            self._pinned.add(level)
        old = level - self._window
        if old > 0 and old % self._stride and handles[old] is not None and \
                (self._pinned is None or old not in self._pinned):
            st = self.fs.fstat(handles[old])
            self._closed[old] = (st.dev, st.ino)
            evicted, handles[old] = handles[old], None
            self._drop(evicted)

    def pop(self) -> None:
        """Close the top directory; its parent becomes the top (reopened if it was closed)."""
        self.truncate(len(self.names) - 1)

    def truncate(self, depth: int) -> None:
        """Close the levels below ``depth`` (0: back to the base)."""
        handles = self._handles
        if not 0 <= depth <= len(self.names):
            raise IndexError(f"cannot truncate a chain of depth {len(self.names)} to {depth}")
        while len(handles) - 1 > depth:
            handle = handles.pop()
            level = len(handles)
            self.names.pop()
            self._closed.pop(level, None)
            if self._pinned is not None:
                self._pinned.discard(level)
            if handle is not None:
                self._drop(handle)
        if handles[-1] is None:
            self._reopen()

    def _reopen(self) -> None:
        handles, fs = self._handles, self.fs
        top = len(handles) - 1
        start = top
        while handles[start] is None:
            start -= 1
        keep_from = top - self._window  # the deepest levels stay open, as after a push
        fine, stride, closed = self._fine, self._stride, self._closed
        for level in range(start + 1, top + 1):
            name = self.names[level - 1]
            handle = fs.opendir(handles[level - 1], name)
            try:
                st = fs.fstat(handle)
                if (st.dev, st.ino) != closed[level]:
                    raise OSError(errno.ESTALE, "a directory on the walk was moved or "
                                  "replaced while the walk was below it", name)
            except BaseException:
                self._drop(handle)
                raise
            del closed[level]
            handles[level] = handle
            parent = level - 1
            if parent > start and parent <= keep_from and parent % fine and parent % stride:
                # walked through: closed again (it stays recorded for the next reopen)
                closed[parent] = self._ident(handles[parent])
                evicted, handles[parent] = handles[parent], None
                self._drop(evicted)

    def _ident(self, handle: Any) -> tuple[int, int]:
        st = self.fs.fstat(handle)
        return st.dev, st.ino

    def release_top(self) -> Any:
        """The top handle, which the chain will no longer close (the caller now owns it);
        only before :meth:`close`."""
        handle, self._handles[-1] = self._handles[-1], None
        return handle

    def detach(self) -> list[Any]:
        """The open handles of levels 1 and below, top last (the caller now owns them and
        closes them); the chain is left empty. Levels closed meanwhile are not reopened:
        only the top is sure to be in the list (when the chain is not at its base)."""
        handles, self._handles = self._handles, [None]
        return [h for h in handles[1:] if h is not None]

    def close(self) -> None:
        """Close every handle the chain owns. Never raises."""
        handles, self._handles = self._handles, [None]
        for level in range(len(handles) - 1, -1, -1):
            handle = handles[level]
            if handle is not None and (level or self._owned):
                self._drop(handle)

    def _drop(self, handle: Any) -> None:
        """Close a handle of the walk's own. Nobody asked for it, so a backend that fails
        to close it has nothing to report: the failure is not looked at (as wasmtime
        drops its directory handles), and the walk goes on."""
        try:
            self.fs.close(handle)
        except OSError:
            pass


# ------------------------------------------------------------------------------ lookup
class Location:
    """Where a path leads (what :func:`resolve` returns): the open directory :attr:`dir`
    and the final :attr:`name` in it, or ``name is None`` when the path names :attr:`dir`
    itself (``/``, ``a/..``).

    :attr:`st` is the ``lstat`` of ``name`` (None: it does not exist). :attr:`names` are
    the canonical components of :attr:`dir` from the root. :attr:`rest` is set only by a
    lenient walk that stopped at a component it could not look up: the components still to
    go. A context manager; :meth:`close` gives back every handle the walk opened.
    """

    __slots__ = ("fs", "chain", "name", "st", "rest", "links")

    def __init__(self, fs: Backend) -> None:
        self.fs = fs
        self.chain = DirChain(fs, fs.root(), owned=True)
        self.name: str | None = None
        self.st: Stat | None = None
        self.rest: list[str] | None = None
        #: how many symlinks the walk expanded
        self.links = 0

    @property
    def dir(self) -> Any:
        return self.chain.top

    @property
    def names(self) -> list[str]:
        return self.chain.names

    def descend(self) -> Any:
        """Open ``name`` (a directory) and make it the location itself; returns its handle."""
        assert self.name is not None
        handle = self.fs.opendir(self.chain.top, self.name)
        self.chain.push(handle, self.name)
        self.name = None
        self.st = None
        return handle

    def close(self) -> None:
        self.chain.close()

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve(fs: Backend, path: str, *, follow: bool, label: str | None = None,
            lenient: bool = False) -> Location:
    """Resolve ``path`` from the root of ``fs`` (see the module docstring for the rules).

    ``follow``: a symlink in the final component is followed too. ``lenient``: a component
    that cannot be looked up (missing, not a directory...) ends the walk with
    :attr:`Location.rest` set instead of raising. ``label`` is the path that error messages
    name (default: ``path``). Errors are ``OSError`` naming ``label``; an embedded NUL is a
    ``ValueError``.
    """
    if label is None:
        label = path
    if "\x00" in path:
        raise ValueError(f"embedded null byte in path {path!r}")
    pending = path.split("/")
    pending.reverse()
    loc = Location(fs)
    chain = loc.chain
    links = 0
    try:
        while pending:
            comp = pending.pop()
            if not comp or comp == ".":
                continue
            if comp == "..":
                if chain.depth:
                    chain.pop()
                continue
            cur = chain.top
            if pending:  # more follows (a trailing "" included): a directory
                try:
                    handle = fs.opendir(cur, comp)
                except OSError as exc:
                    if exc.errno != errno.ELOOP:
                        if lenient:
                            loc.rest = [comp, *reversed(pending)]
                            return loc
                        raise
                    target = _readlink(fs, cur, comp)
                else:
                    chain.push(handle, comp)
                    continue
            else:
                try:
                    st = fs.lstat(cur, comp)
                except FileNotFoundError:
                    loc.name = comp
                    return loc
                except OSError:
                    if lenient:
                        loc.rest = [comp]
                        return loc
                    raise
                if not (follow and _stat.S_ISLNK(st.mode)):
                    loc.name = comp
                    loc.st = st
                    return loc
                target = _readlink(fs, cur, comp)
            links += 1
            loc.links = links
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "")
            if not target:
                raise OSError(errno.ENOENT, "")
            if len(target) >= PATH_MAX:  # a backend that let one through (Linux cannot)
                raise OSError(errno.ENAMETOOLONG, "")
            if target[0] == "/":  # absolute: from the backend's root
                chain.truncate(0)
            pending.extend(reversed(target.split("/")))
        return loc
    except OSError as exc:
        loc.close()
        raise relabel(exc, label) from None
    except BaseException:
        loc.close()
        raise


def makedirs(fs: Backend, path: str, *, mode: int = 0o777, exist_ok: bool,
             label: str | None = None) -> bool:
    """Create the directory ``path`` and its missing parents in one walk from the root (work
    linear in the path, however many levels are missing): ``mkdir -p``.

    ``FileExistsError`` when ``path`` exists and not ``exist_ok`` (or exists and is not a
    directory), ``NotADirectoryError`` when a parent is a file. Returns False, having
    created nothing, when the missing part lies behind a symlink (the caller then decides,
    level by level, as ``mkdir -p`` does: a dangling symlink is not a directory to create).
    """
    if label is None:
        label = path
    with resolve(fs, path, follow=False, label=label, lenient=True) as loc:
        if loc.rest is None:
            exists = loc.name is None or loc.st is not None
            if not exists:
                assert loc.name is not None
                try:
                    fs.mkdir(loc.dir, loc.name, mode)
                except OSError as exc:
                    raise relabel(exc, label) from None
                return True
            if not exist_ok or not (loc.name is None or _leads_to_dir(fs, loc)):
                raise relabel(errno.EEXIST, label)
            return True
        if loc.links:
            return False
        rest = loc.rest
        chain = loc.chain
        # the last component that names a directory to make ("a/b/" and "a/b/." end in b)
        last = max((i for i, c in enumerate(rest) if c not in ("", ".")), default=-1)
        try:
            for i, comp in enumerate(rest):
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if chain.depth:
                        chain.pop()
                    continue
                try:
                    fs.mkdir(chain.top, comp, mode)
                except FileExistsError:  # there already (a file in the way, or a race)
                    if not _stat.S_ISDIR(fs.lstat(chain.top, comp).mode):
                        raise OSError(errno.EEXIST if i == last else errno.ENOTDIR,
                                      "") from None
                    if i == last and not exist_ok:
                        raise
                if i != last:
                    chain.push(fs.opendir(chain.top, comp), comp)
        except OSError as exc:
            raise relabel(exc, label) from None
        return True


def _leads_to_dir(fs: Backend, loc: Location) -> bool:
    """Whether the final entry of ``loc`` is a directory, or a symlink that leads to one."""
    assert loc.st is not None and loc.name is not None
    if _stat.S_ISDIR(loc.st.mode):
        return True
    if not _stat.S_ISLNK(loc.st.mode):
        return False
    path = "/".join([*loc.names, loc.name])
    try:
        with resolve(fs, "/" + path, follow=True) as target:
            return target.name is None or (target.st is not None and
                                           _stat.S_ISDIR(target.st.mode))
    except OSError:
        return False


def _readlink(fs: Backend, dir: Any, name: str) -> str:
    try:
        return fs.readlink(dir, name)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # the backend said ELOOP, yet it is no symlink
            raise OSError(errno.ELOOP, "") from None
        raise


# ------------------------------------------------------------------------------ trees
class TreeWalk:
    """Every entry below the directory :attr:`chain` is at, depth first, iteratively.

    Iterating yields ``(name, st)`` for each entry (``st`` its ``lstat``) with
    ``chain.top`` the directory holding it, in the backend's listing order (by name with
    ``sort``); a directory is entered right after it was yielded (its entries come next), up
    to ``max_depth`` levels (None: all; 1: only the starting directory's entries). With
    ``leave``, every directory yielded is followed, after its entries, by ``(name, None)``
    with ``chain.top`` its parent again (where it can be removed, say).

    :meth:`where` is the path of the entry at hand from the start (``"a/b"``); after an
    error, of the entry the walk was at.
    """

    __slots__ = ("chain", "max_depth", "leave", "sort", "name", "_prefixes")

    def __init__(self, chain: DirChain, *, max_depth: int | None = None, leave: bool = False,
                 sort: bool = False) -> None:
        self.chain = chain
        self.max_depth = max_depth
        self.leave = leave
        self.sort = sort
        self.name: str | None = None
        self._prefixes = [""]  # of each directory entered: its path from the start + "/"

    def where(self) -> str:
        """The path of the current entry from where the walk started (``""`` for the start
        itself)."""
        if self.name is None:
            return self._prefixes[-1][:-1]
        return self._prefixes[-1] + self.name

    def _list(self, handle: Any) -> Iterator[DirEntry]:
        entries = self.chain.fs.listdir(handle)
        if self.sort:
            entries = sorted(entries, key=lambda e: e.name)
        return iter(entries)

    def __iter__(self) -> Iterator[tuple[str, Stat | None]]:
        chain, fs, max_depth = self.chain, self.chain.fs, self.max_depth
        prefixes = self._prefixes
        if max_depth is not None and max_depth < 1:
            return
        self.name = None
        frames: list[Iterator[DirEntry]] = [self._list(chain.top)]
        while frames:
            entry = next(frames[-1], None)
            if entry is None:
                frames.pop()
                if frames:
                    name = chain.names[-1]
                    self.name = None
                    chain.pop()
                    prefixes.pop()
                    self.name = name
                    if self.leave:
                        yield name, None
                continue
            name = self.name = entry.name
            st = fs.lstat(chain.top, name)
            yield name, st
            if not _stat.S_ISDIR(st.mode):
                continue
            self.name = name
            if max_depth is None or len(frames) < max_depth:
                chain.push(fs.opendir(chain.top, name), name)
                prefixes.append(prefixes[-1] + name + "/")
                self.name = None
                frames.append(self._list(chain.top))
            elif self.leave:
                yield name, None


P = TypeVar("P")
D = TypeVar("D", bound=Iterable[str])
X = TypeVar("X")


def walk_dirs(chain: DirChain, top: P, scan: Callable[[DirChain, P], tuple[D, X]],
              child: Callable[[P, str], P], *, top_down: bool = True,
              max_depth: int | None = None, on_error: Callable[[OSError], object],
              follow: Callable[[P], Any] | None = None) -> Iterator[tuple[P, D, X]]:
    """``os.walk`` over a backend, iteratively, from the directory :attr:`DirChain.top`.

    For each directory (``top`` first, then each one's subdirectories as ``child(path,
    name)`` names them), ``scan(chain, path)`` lists ``chain.top`` and returns ``(dirnames,
    rest)``; ``(path, dirnames, rest)`` is yielded before the subdirectories (``top_down``:
    the caller may prune ``dirnames`` in place) or after them. ``max_depth`` limits the
    levels listed (1: ``top`` only). A directory that cannot be opened or listed is passed to
    ``on_error`` (an ``OSError`` naming ``str(path)``; it may raise) and skipped. A name in
    ``dirnames`` that is a symlink is entered only with ``follow``, which returns an open
    handle on the directory at ``path`` (the chain then owns it).
    """
    fs = chain.fs

    def visit(path: P) -> tuple[D, X] | None:
        try:
            return scan(chain, path)
        except OSError as exc:
            on_error(relabel(exc, str(path)))
            return None

    first = visit(top)
    if first is None:
        return
    if top_down:
        yield top, first[0], first[1]
    stack: list[tuple[P, D, X, Iterator[str]]] = [
        (top, first[0], first[1], iter(first[0]))]
    while stack:
        path, dirnames, rest, todo = stack[-1]
        if max_depth is None or len(stack) < max_depth:
            name = next(todo, None)
        else:
            name = None
        if name is None:
            stack.pop()
            if not top_down:
                yield path, dirnames, rest
            if stack:
                try:
                    chain.pop()
                except OSError as exc:  # the way back up is gone (ESTALE)
                    raise relabel(exc, str(stack[-1][0])) from None
            continue
        sub = child(path, name)
        try:
            try:
                chain.push(fs.opendir(chain.top, name), name)
            except OSError as exc:
                if exc.errno != errno.ELOOP or follow is None:
                    raise
                chain.push(follow(sub), name, pinned=True)
        except OSError as exc:
            on_error(relabel(exc, str(sub)))
            continue
        found = visit(sub)
        if found is None:
            chain.pop()
            continue
        if top_down:
            yield sub, found[0], found[1]
        stack.append((sub, found[0], found[1], iter(found[0])))
