"""``wasifs.Path``: :mod:`pathlib` for a guest's filesystem, on any backend.

A :class:`Path` names a file inside a wasifs backend (anything implementing the
:class:`~wasifs.backends.Backend` protocol: ``MemoryFileSystem``,
``NativeFileSystem``...) and offers the API of :class:`pathlib.Path` on it::

    fs = wasifs.MemoryFileSystem()
    root = wasifs.Path(fs)                   # "/"
    (root / "data").mkdir()
    (root / "data" / "in.txt").write_text("hello\\n")
    with wasifs.Path(fs, "/data/in.txt").open() as f:   # a real io.TextIOWrapper
        print(f.read())
    sorted(root.rglob("*.txt"))

The rules, where they differ from a host's:

- **Paths are resolved inside the backend, never on the host.** wasifs walks them one
  component at a time through the backend's directory handles: ``..`` at the root stays at
  the root (as ``/..`` does on POSIX), a symlink's target is read and spliced in, and an
  *absolute* symlink target (``/etc/x``) is taken from the backend's root, as it would be if
  the backend were mounted at ``/``. The host caller is trusted, but nothing it can spell
  (``..``, absolute symlinks) leads outside the backend. (A guest's own lookups follow
  stricter rules, see :mod:`wasifs.vfs`: there an absolute target is an escape and refused.)
  More than ``MAX_SYMLINKS`` (40) symlink expansions give ``ELOOP``. These are the rules of
  the host-side walker that the fsspec facade uses too (:func:`wasifs.backends.resolve`);
  walks of a whole tree (``walk``, ``rglob``) are iterative, in time linear in the tree.
- **The working directory is the root**: a relative path such as ``Path(fs, "a/b")`` stays
  relative as a value (``parts``, ``relative_to`` work as in pathlib) and is taken from the
  root when it touches the filesystem; ``Path.cwd(fs)`` is the root. ``Path(fs)`` with no
  segment is the root itself.
- **Not a host path**: ``os.fspath(p)``, ``open(p)`` and every other host API raise
  ``TypeError``, on purpose. A wasifs path that silently turned into the host path
  ``"/data/in.txt"`` would read or overwrite a *host* file of that name. Use the methods
  (``p.open()``, ``p.read_bytes()``...) or :mod:`wasifs.transfer` to move files between
  the host and a backend. ``str(p)`` still gives the path text.
- **Text files are UTF-8 by default** (pathlib uses the host locale): a guest's files do
  not depend on the host's locale, and WASI guests use UTF-8. Pass ``encoding=`` to choose.
- Owners, groups and permission changes do not exist in the backend protocol: ``owner``,
  ``group``, ``chmod``, ``lchmod`` raise ``NotImplementedError`` saying so (see
  :data:`UNSUPPORTED`); ``stat()`` reports ``st_uid == st_gid == 0``.

Errors are the exceptions pathlib raises (``FileNotFoundError``, ``FileExistsError``,
``NotADirectoryError``, ``IsADirectoryError``, ``OSError`` with ``errno.ENOTEMPTY``...), with
the path in the message and in ``filename`` (and ``filename2`` for two-path calls).

Every call opens the directory handles it needs and closes them before it returns; a file
from :meth:`Path.open` holds one backend file handle until it is closed (an unclosed file
warns with ``ResourceWarning``, as the built-in ``open`` does).
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import functools
import io
import os
import re
import stat as _stat
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, Any, NoReturn

from .backends import (
    MAX_SYMLINKS,
    Backend,
    BackendFileIO,
    DirChain,
    DirEntry,
    Location,
    Stat,
    makedirs,
    relabel,
    resolve,
    walk_dirs,
)

__all__ = ("Path", "BackendFileIO", "UNSUPPORTED", "MAX_SYMLINKS")

#: The :class:`pathlib.Path` names that :class:`Path` has only to explain why they cannot
#: work on a backend (each raises ``NotImplementedError`` with this reason).
UNSUPPORTED: dict[str, str] = {
    "chmod": "the Backend protocol has no call to change permission bits (modes are only "
             "set when a file or directory is created: open/touch/mkdir take mode=)",
    "lchmod": "the Backend protocol has no call to change permission bits",
    "owner": "wasifs backends do not record file owners (there is one user)",
    "group": "wasifs backends do not record file groups (there is one user)",
    "home": "a backend has no users and no home directory",
    "as_uri": "a file:// URI names a host file; a path inside a backend has no URI "
              "that another program could open",
    "link_to": "deprecated since Python 3.10 and removed in 3.12: use hardlink_to()",
}

_ROOT = PurePosixPath("/")
_IGNORED_ERRNOS = frozenset((errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP))
_DEFAULT_ENCODING = "utf-8"
_NEWLINES = (None, "", "\n", "\r", "\r\n")

# ------------------------------------------------------------------------------ errors
def _ignore_error(exc: OSError) -> bool:
    return exc.errno in _IGNORED_ERRNOS


def _entries(fs: Backend, handle: Any) -> list[tuple[str, int]]:
    """(name, type bits) of the open directory's entries, in the backend's order."""
    entries: list[DirEntry] = fs.listdir(handle)
    out = []
    for entry in entries:
        kind = _stat.S_IFMT(entry.mode)
        if not kind:
            try:
                kind = _stat.S_IFMT(fs.lstat(handle, entry.name).mode)
            except FileNotFoundError:
                continue
        out.append((entry.name, kind))
    return out


def _unless_permission(exc: OSError) -> None:
    """``on_error`` of glob's walks: a directory it may not read is skipped."""
    if not isinstance(exc, PermissionError):
        raise exc


def _stat_result(st: Stat) -> os.stat_result:
    """A real :class:`os.stat_result` for a backend's :class:`Stat` (uid/gid 0;
    ``st_blksize``, ``st_blocks`` and ``st_rdev`` are None: the protocol has none)."""
    a_s, a_ns = divmod(st.atime_ns, 1_000_000_000)
    m_s, m_ns = divmod(st.mtime_ns, 1_000_000_000)
    c_s, c_ns = divmod(st.ctime_ns, 1_000_000_000)
    return os.stat_result((
        st.mode, st.ino, st.dev, st.nlink, 0, 0, st.size, a_s, m_s, c_s,
        a_s + a_ns * 1e-9, m_s + m_ns * 1e-9, c_s + c_ns * 1e-9,
        st.atime_ns, st.mtime_ns, st.ctime_ns,
    ))


# ------------------------------------------------------------------------------ files
def _parse_mode(mode: str, buffering: int, encoding: str | None, errors: str | None,
                newline: str | None) -> tuple[bool, bool, bool, bool, bool, bool]:
    """(creating, reading, writing, appending, updating, binary), checked as ``open`` does."""
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    if not isinstance(buffering, int):
        raise TypeError(f"'{type(buffering).__name__}' object cannot be interpreted as an "
                        "integer")
    if encoding is not None and not isinstance(encoding, str):
        raise TypeError(f"open() argument 'encoding' must be str or None, not "
                        f"{type(encoding).__name__}")
    if errors is not None and not isinstance(errors, str):
        raise TypeError(f"open() argument 'errors' must be str or None, not "
                        f"{type(errors).__name__}")
    modes = set(mode)
    if modes - set("axrwb+t") or len(mode) > len(modes):
        raise ValueError(f"invalid mode: {mode!r}")
    creating, reading, writing, appending = "x" in modes, "r" in modes, "w" in modes, \
        "a" in modes
    updating, text, binary = "+" in modes, "t" in modes, "b" in modes
    if text and binary:
        raise ValueError("can't have text and binary mode at once")
    if creating + reading + writing + appending > 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    if not (creating or reading or writing or appending):
        raise ValueError("Must have exactly one of create/read/write/append mode and at "
                         "most one plus")
    if binary:
        for arg, value in (("an encoding", encoding), ("an errors", errors),
                           ("a newline", newline)):
            if value is not None:
                raise ValueError(f"binary mode doesn't take {arg} argument")
    else:
        if newline not in _NEWLINES:
            raise ValueError(f"illegal newline value: {newline!r}")
        if encoding is not None and encoding != "locale":
            codecs.lookup(encoding)  # LookupError before touching the file
        if errors is not None:
            codecs.lookup_error(errors)
        if buffering == 0:
            raise ValueError("can't have unbuffered text I/O")
    return creating, reading, writing, appending, updating, binary


# ------------------------------------------------------------------------------ glob
@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> Callable[[str], re.Match[str] | None]:
    return re.compile(fnmatch.translate(pattern)).fullmatch


def _is_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern or "[" in pattern


def _pattern_parts(pattern: str) -> tuple[str, ...]:
    pure = PurePosixPath(pattern)
    if pure.root:
        raise NotImplementedError("Non-relative patterns are unsupported")
    parts = pure.parts
    if pattern and pattern[-1] == "/":
        parts += ("",)
    for part in parts:
        if part != "**" and "**" in part:
            raise ValueError("Invalid pattern: '**' can only be an entire path component")
    return parts


# ------------------------------------------------------------------------------ Path
Segment = str | PurePosixPath


class Path:
    """A path inside a wasifs backend, with :class:`pathlib.Path`'s API.

    ``Path(fs)`` is the root of the backend ``fs``; ``Path(fs, "/a", "b")`` is ``/a/b``;
    ``Path(other_path, "c")`` joins onto another :class:`Path`. Segments are ``str``,
    :class:`pathlib.PurePosixPath` or :class:`Path` (of the same backend). See the module
    docstring for how paths are resolved and why ``os.fspath(path)`` is a ``TypeError``.

    Paths are immutable values: equal when they have the same text and the same backend;
    ordered like :class:`~pathlib.PurePosixPath` within one backend.
    """

    __slots__ = ("_fs", "_pure")

    _fs: Backend
    _pure: PurePosixPath

    def __init__(self, fs: Backend | Path, *segments: Segment | Path) -> None:
        if isinstance(fs, Path):
            backend = fs._fs
            parts: list[Segment] = [fs._pure]
        else:
            if not isinstance(fs, Backend):
                raise TypeError(
                    "wasifs.Path() needs a wasifs backend (MemoryFileSystem(), "
                    f"NativeFileSystem(dir), ...) or a wasifs.Path first, not {fs!r}")
            backend = fs
            parts = []
        for seg in segments:
            parts.append(_segment(backend, seg))
        self._fs = backend
        self._pure = PurePosixPath(*parts) if parts else _ROOT

    def _from(self, pure: PurePosixPath) -> Path:
        new = object.__new__(Path)
        new._fs = self._fs
        new._pure = pure
        return new

    def _other(self, target: Segment | Path) -> Path:
        """``target`` as a Path of this backend (a relative one is taken from the root)."""
        if isinstance(target, Path):
            if not _same_fs(target._fs, self._fs):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(self), None,
                              str(target))
            return target
        return self._from(PurePosixPath(_segment(self._fs, target)))

    # --- the backend ---------------------------------------------------------------------
    @property
    def fs(self) -> Backend:
        """The backend this path lives in."""
        return self._fs

    @classmethod
    def cwd(cls, fs: Backend) -> Path:
        """The working directory of ``fs``: its root (relative paths are taken from it)."""
        return cls(fs)

    # --- pure path operations ----------------------------------------------------------
    def __str__(self) -> str:
        return str(self._pure)

    def __repr__(self) -> str:
        return f"wasifs.Path({self._fs!r}, {str(self._pure)!r})"

    def __fspath__(self) -> NoReturn:
        raise TypeError(
            f"{self!r} names a file inside a wasifs backend, not on the host, so it has no "
            "host path (os.fspath and open() refuse it on purpose); use its methods "
            "(open, read_bytes, ...) or wasifs.copy_out to bring the file to the host")

    def as_posix(self) -> str:
        """The path text with forward slashes (the same as ``str(path)``)."""
        return str(self._pure)

    def __hash__(self) -> int:
        return hash(self._pure)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Path):
            return NotImplemented
        return self._pure == other._pure and _same_fs(self._fs, other._fs)

    def _cmp(self, other: object) -> PurePosixPath | None:
        if isinstance(other, Path) and _same_fs(self._fs, other._fs):
            return other._pure
        return None

    def __lt__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self._pure < o

    def __le__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self._pure <= o

    def __gt__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self._pure > o

    def __ge__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self._pure >= o

    def __truediv__(self, key: Segment | Path) -> Path:
        try:
            return self._from(self._pure / _segment(self._fs, key))
        except TypeError:
            return NotImplemented

    def __rtruediv__(self, key: Segment) -> Path:
        try:
            return self._from(_segment(self._fs, key) / self._pure)
        except TypeError:
            return NotImplemented

    def joinpath(self, *segments: Segment | Path) -> Path:
        """This path joined with ``segments`` (an absolute segment starts over)."""
        return self._from(self._pure.joinpath(*(_segment(self._fs, s) for s in segments)))

    @property
    def parts(self) -> tuple[str, ...]:
        return self._pure.parts

    @property
    def drive(self) -> str:
        """Always ``""`` (POSIX paths have no drive)."""
        return self._pure.drive

    @property
    def root(self) -> str:
        return self._pure.root

    @property
    def anchor(self) -> str:
        return self._pure.anchor

    @property
    def name(self) -> str:
        return self._pure.name

    @property
    def suffix(self) -> str:
        return self._pure.suffix

    @property
    def suffixes(self) -> list[str]:
        return self._pure.suffixes

    @property
    def stem(self) -> str:
        return self._pure.stem

    @property
    def parent(self) -> Path:
        return self._from(self._pure.parent)

    @property
    def parents(self) -> tuple[Path, ...]:
        """The ancestors, nearest first (a tuple: indexable, sliceable)."""
        return tuple(self._from(p) for p in self._pure.parents)

    def with_name(self, name: str) -> Path:
        return self._from(self._pure.with_name(name))

    def with_stem(self, stem: str) -> Path:
        return self._from(self._pure.with_stem(stem))

    def with_suffix(self, suffix: str) -> Path:
        return self._from(self._pure.with_suffix(suffix))

    def is_absolute(self) -> bool:
        return self._pure.is_absolute()

    def is_reserved(self) -> bool:
        """Always False (POSIX reserves no names)."""
        return self._pure.is_reserved()

    def match(self, pattern: str) -> bool:
        """Whether the path matches the glob ``pattern`` (from the right, as pathlib)."""
        return self._pure.match(pattern)

    def relative_to(self, *other: Segment | Path, walk_up: bool = False) -> Path:
        """This path relative to ``other`` (``ValueError`` when it is not below it, unless
        ``walk_up=True``, which adds ``..`` entries as Python 3.12 does)."""
        if not other:
            raise TypeError("need at least one argument")
        base = PurePosixPath(*(_segment(self._fs, o) for o in other))
        if not walk_up:
            return self._from(self._pure.relative_to(base))
        chain = (base, *base.parents)
        mine = {self._pure, *self._pure.parents}
        step = next((i for i, a in enumerate(chain) if a in mine), None)
        if step is None:
            raise ValueError(f"{str(self._pure)!r} and {str(base)!r} have different anchors")
        ancestor = chain[step]
        if any(walked.name == ".." for walked in chain[:step]):
            raise ValueError(f"'..' segment in {str(base)!r} cannot be walked")
        parts = ("..",) * step + self._pure.parts[len(ancestor.parts):]
        return self._from(PurePosixPath(*parts))

    def is_relative_to(self, *other: Segment | Path) -> bool:
        return self._pure.is_relative_to(*(_segment(self._fs, o) for o in other))

    def absolute(self) -> Path:
        """The path made absolute (taken from the root); no symlink is resolved."""
        if self._pure.root:
            return self
        return self._from(_ROOT / self._pure)

    def expanduser(self) -> Path:
        """The path itself; a leading ``~`` raises ``RuntimeError`` (no home directory)."""
        if not self._pure.root and self._pure.parts and self._pure.parts[0][:1] == "~":
            raise RuntimeError("Could not determine home directory.")
        return self

    # --- lookups -------------------------------------------------------------------------
    def _locate(self, follow: bool, lenient: bool = False) -> Location:
        """Where the path leads (:func:`wasifs.backends.resolve`); the caller closes it."""
        return resolve(self._fs, str(self._pure), follow=follow, label=str(self),
                       lenient=lenient)

    def _located_stat(self, loc: Location) -> Stat:
        if loc.name is None:
            return self._fs.fstat(loc.dir)
        if loc.st is None:
            raise relabel(errno.ENOENT, str(self))
        return loc.st

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        """The file's status as an :class:`os.stat_result` (see :func:`_stat_result`)."""
        with self._locate(follow_symlinks) as loc:
            try:
                return _stat_result(self._located_stat(loc))
            except OSError as exc:
                raise relabel(exc, str(self)) from None

    def lstat(self) -> os.stat_result:
        """Like :meth:`stat` but a symlink's own status."""
        return self.stat(follow_symlinks=False)

    def _test_mode(self, test: Callable[[int], bool], follow: bool) -> bool:
        try:
            return test(self.stat(follow_symlinks=follow).st_mode)
        except OSError as exc:
            if not _ignore_error(exc):
                raise
            return False
        except ValueError:
            return False

    def exists(self, *, follow_symlinks: bool = True) -> bool:
        """Whether the path exists (a dangling symlink does only with
        ``follow_symlinks=False``)."""
        return self._test_mode(lambda mode: True, follow_symlinks)

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._test_mode(_stat.S_ISDIR, follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._test_mode(_stat.S_ISREG, follow_symlinks)

    def is_symlink(self) -> bool:
        return self._test_mode(_stat.S_ISLNK, False)

    def is_block_device(self) -> bool:
        return self._test_mode(_stat.S_ISBLK, True)

    def is_char_device(self) -> bool:
        return self._test_mode(_stat.S_ISCHR, True)

    def is_fifo(self) -> bool:
        return self._test_mode(_stat.S_ISFIFO, True)

    def is_socket(self) -> bool:
        return self._test_mode(_stat.S_ISSOCK, True)

    def is_mount(self) -> bool:
        """Whether a different filesystem is mounted here (as pathlib decides it: another
        ``st_dev`` than the parent's, or the root). True for the backend's root."""
        if not self.is_dir():
            return False
        try:
            parent = self.parent.stat()
        except OSError:
            return False
        st = self.stat()
        return st.st_dev != parent.st_dev or st.st_ino == parent.st_ino

    def samefile(self, other_path: Segment | Path) -> bool:
        """Whether ``other_path`` (a Path, or a path text in this backend) is the same file."""
        st = self.stat()
        other = other_path if isinstance(other_path, Path) else self._other(other_path)
        ost = other.stat()
        return st.st_ino == ost.st_ino and st.st_dev == ost.st_dev

    def resolve(self, strict: bool = False) -> Path:
        """The absolute canonical path: symlinks resolved inside the backend, ``..`` and
        ``.`` removed. With ``strict`` a missing component raises ``FileNotFoundError``;
        otherwise the part that does not exist is appended as it is spelled. A symlink loop
        raises ``RuntimeError`` (as pathlib does in Python 3.11)."""
        label = str(self)
        try:
            with self._locate(True, lenient=not strict) as loc:
                names = list(loc.names)
                if loc.rest is not None:
                    for comp in loc.rest:
                        if comp == "..":
                            if names:
                                names.pop()
                        elif comp and comp != ".":
                            names.append(comp)
                elif loc.name is not None:
                    if strict and loc.st is None:
                        raise relabel(errno.ENOENT, label)
                    names.append(loc.name)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RuntimeError(f"Symlink loop from {exc.filename!r}") from None
            raise
        resolved = self._from(PurePosixPath("/", *names))
        if not strict:
            try:
                resolved.stat()
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise RuntimeError(f"Symlink loop from {exc.filename!r}") from None
        return resolved

    def readlink(self) -> Path:
        """The target of the symlink, verbatim, as a Path (``OSError(EINVAL)`` when the
        path is not a symlink)."""
        with self._locate(False) as loc:
            if loc.name is None:
                raise relabel(errno.EINVAL, str(self))
            if loc.st is None:
                raise relabel(errno.ENOENT, str(self))
            try:
                return self._from(PurePosixPath(self._fs.readlink(loc.dir, loc.name)))
            except OSError as exc:
                raise relabel(exc, str(self)) from None

    # --- directories ---------------------------------------------------------------------
    def _open_dir(self) -> Location:
        """The location of the directory itself (``name is None``), symlinks followed; the
        caller closes it."""
        loc = self._locate(True)
        try:
            if loc.name is not None:
                if loc.st is None:
                    raise relabel(errno.ENOENT, str(self))
                if not _stat.S_ISDIR(loc.st.mode):
                    raise relabel(errno.ENOTDIR, str(self))
                loc.descend()
        except OSError as exc:
            loc.close()
            raise relabel(exc, str(self)) from None
        except BaseException:
            loc.close()
            raise
        return loc

    def _scan(self) -> list[tuple[str, int]]:
        """(name, type bits) of the directory's entries, in the backend's order."""
        with self._open_dir() as loc:
            try:
                return _entries(self._fs, loc.dir)
            except OSError as exc:
                raise relabel(exc, str(self)) from None

    def iterdir(self) -> Iterator[Path]:
        """The directory's entries as paths (listed when the iteration starts, without
        ``.`` and ``..``)."""
        for name, _ in self._scan():
            yield self._from(self._pure / name)

    def _entry_is_dir(self, name: str, kind: int, follow: bool) -> bool:
        if kind == _stat.S_IFDIR:
            return True
        if kind == _stat.S_IFLNK and follow:
            return self._from(self._pure / name).is_dir()
        return False

    def _tree(self, top_down: bool, on_error: Callable[[OSError], object],
              follow_symlinks: bool
              ) -> Iterator[tuple[Path, list[str], tuple[list[str], list[tuple[str, int]]]]]:
        """The walk behind :meth:`walk` and ``**``: ``(dirpath, dirnames, (filenames,
        entries))`` for this directory and each one below it, iteratively (any depth), each
        directory listed once through handles held from the walk's start (linear in the
        tree). ``entries`` are ``(name, type bits)`` as listed."""
        fs = self._fs

        def scan(chain: DirChain, path: Path) -> tuple[list[str],
                                                       tuple[list[str], list[tuple[str, int]]]]:
            entries = _entries(fs, chain.top)
            dirnames: list[str] = []
            filenames: list[str] = []
            for name, kind in entries:
                try:
                    is_dir = path._entry_is_dir(name, kind, follow_symlinks)
                except OSError:
                    is_dir = False
                (dirnames if is_dir else filenames).append(name)
            return dirnames, (filenames, entries)

        try:
            loc = self._open_dir()
        except OSError as exc:
            on_error(exc)
            return
        with loc:
            yield from walk_dirs(loc.chain, self, scan, _child, top_down=top_down,
                                 on_error=on_error,
                                 follow=_dir_handle if follow_symlinks else None)

    def walk(self, top_down: bool = True, on_error: Callable[[OSError], object] | None = None,
             follow_symlinks: bool = False) -> Iterator[tuple[Path, list[str], list[str]]]:
        """Walk the tree as :meth:`pathlib.Path.walk` (Python 3.12) does: yields
        ``(dirpath, dirnames, filenames)``; with ``top_down`` the caller may prune
        ``dirnames`` in place; errors listing a directory go to ``on_error`` (else are
        ignored); symlinks to directories are walked into only with ``follow_symlinks``.
        Iterative, in time linear in the tree; between two steps the walk holds handles on
        the directories above the current one (closed when the walk ends or is dropped)."""
        def error(exc: OSError) -> None:
            if on_error is not None:
                on_error(exc)

        for dirpath, dirnames, (filenames, _) in self._tree(top_down, error, follow_symlinks):
            yield dirpath, dirnames, filenames

    def glob(self, pattern: str) -> Iterator[Path]:
        """The existing paths below this directory that match the relative ``pattern``
        (``*``, ``?``, ``[...]`` within a component, ``**`` for this directory and every
        directory below it, not following symlinks), as Python 3.11's pathlib."""
        if not pattern:
            raise ValueError(f"Unacceptable pattern: {pattern!r}")
        yield from self._glob(_pattern_parts(pattern))

    def rglob(self, pattern: str) -> Iterator[Path]:
        """:meth:`glob` with ``**/`` in front of ``pattern``: matches at any depth."""
        yield from self._glob(("**",) + _pattern_parts(pattern))

    def _glob(self, parts: tuple[str, ...]) -> Iterator[Path]:
        if not self.is_dir():
            return
        yield from self._select(parts, 0)

    def _select(self, parts: tuple[str, ...], i: int,
                entries: list[tuple[str, int]] | None = None) -> Iterator[Path]:
        """The matches of ``parts[i:]`` below this directory (``entries``: its listing, when
        the caller has it)."""
        if i == len(parts) or not parts[i]:
            yield self
            return
        pat = parts[i]
        dironly = i + 1 < len(parts)
        if pat == "**":
            yielded: set[Path] = set()
            for start, _, (_, listed) in self._tree(True, _unless_permission, False):
                for p in start._select(parts, i + 1, listed):
                    if p not in yielded:
                        yielded.add(p)
                        yield p
        elif _is_wildcard(pat):
            match = _compile(pat)
            if entries is None:
                try:
                    entries = self._scan()
                except PermissionError:
                    return
            for name, kind in entries:
                if dironly:
                    try:
                        if not self._entry_is_dir(name, kind, True):
                            continue
                    except OSError as exc:
                        if not _ignore_error(exc):
                            raise
                        continue
                if match(name):
                    yield from self._from(self._pure / name)._select(parts, i + 1)
        else:
            child = self._from(self._pure / pat)
            known = dict(entries).get(pat) if entries is not None else None
            if entries is None or known == _stat.S_IFLNK:
                found = child.is_dir() if dironly else child.exists()
            else:  # known from the listing: no lookup from the root
                found = known == _stat.S_IFDIR if dironly else known is not None
            if found:
                yield from child._select(parts, i + 1)

    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        """Create the directory (``FileExistsError`` if the path exists, unless
        ``exist_ok`` and it is a directory; ``parents`` creates missing ancestors)."""
        try:
            with self._locate(False) as loc:
                if loc.name is None:
                    raise relabel(errno.EEXIST, str(self))
                try:
                    self._fs.mkdir(loc.dir, loc.name, mode)
                except OSError as exc:
                    raise relabel(exc, str(self)) from None
        except FileNotFoundError:
            if not parents or self.parent == self:
                raise
            if makedirs(self._fs, str(self._pure), mode=mode, exist_ok=exist_ok,
                        label=str(self)):
                return  # one walk from the root, however many levels were missing
            # the missing part lies behind a symlink: level by level, as mkdir -p
            todo = [self.parent]  # the missing ancestors, made from the root down
            while todo:
                try:
                    todo[-1].mkdir(exist_ok=True)
                except FileNotFoundError:
                    if todo[-1].parent == todo[-1]:
                        raise
                    todo.append(todo[-1].parent)
                    continue
                todo.pop()
            self.mkdir(mode, parents=False, exist_ok=exist_ok)
        except OSError:
            if not exist_ok or not self.is_dir():
                raise

    def rmdir(self) -> None:
        """Remove the empty directory (``OSError(ENOTEMPTY)`` if it is not empty,
        ``NotADirectoryError`` on a file or a symlink)."""
        with self._locate(False) as loc:
            if loc.name is None:
                raise relabel(errno.EBUSY, str(self))
            if loc.st is None:
                raise relabel(errno.ENOENT, str(self))
            try:
                self._fs.rmdir(loc.dir, loc.name)
            except OSError as exc:
                raise relabel(exc, str(self)) from None

    # --- files ---------------------------------------------------------------------------
    def _open_handle(self, *, read: bool, write: bool, create: bool = False,
                     exclusive: bool = False, truncate: bool = False,
                     mode: int = 0o666) -> Any:
        """A backend file handle on the file (the caller closes it with ``fs.close``)."""
        label = str(self)
        with self._locate(not exclusive) as loc:
            if loc.name is None:
                raise relabel(errno.EISDIR, label)
            st = loc.st
            if st is None:
                if not create:
                    raise relabel(errno.ENOENT, label)
            elif exclusive:
                raise relabel(errno.EEXIST, label)
            elif _stat.S_ISDIR(st.mode):
                raise relabel(errno.EISDIR, label)
            try:
                return self._fs.open_file(loc.dir, loc.name, read=read, write=write,
                                          create=create, exclusive=exclusive,
                                          truncate=truncate, mode=mode)
            except OSError as exc:
                raise relabel(exc, label) from None

    def open(self, mode: str = "r", buffering: int = -1, encoding: str | None = None,
             errors: str | None = None, newline: str | None = None) -> IO[Any]:
        """Open the file and return a file object, exactly as the built-in ``open`` builds
        it: an ``io.TextIOWrapper`` over an ``io.BufferedReader``/``BufferedWriter``/
        ``BufferedRandom`` over a :class:`BackendFileIO` (modes ``r w a x + b t``;
        ``buffering=0`` gives the raw file in binary mode). Text is UTF-8 unless
        ``encoding`` says otherwise; ``newline`` translates as in ``open``."""
        creating, reading, writing, appending, updating, binary = _parse_mode(
            mode, buffering, encoding, errors, newline)
        if binary and buffering == 1:
            warnings.warn("line buffering (buffering=1) isn't supported in binary mode, the "
                          "default buffer size will be used", RuntimeWarning, stacklevel=2)
        readable = reading or updating
        writable = not reading or updating
        if creating:
            raw_mode = "xb+" if readable else "xb"
        elif appending:
            raw_mode = "ab+" if readable else "ab"
        else:
            raw_mode = "rb+" if readable and writable else ("rb" if readable else "wb")
        handle = self._open_handle(read=readable, write=writable,
                                   create=not reading, exclusive=creating, truncate=writing)
        try:
            raw = BackendFileIO(self._fs, handle, str(self), raw_mode, readable=readable,
                                writable=writable, append=appending)
        except BaseException:
            self._fs.close(handle)
            raise
        result: IO[Any] = raw  # type: ignore[assignment]
        try:
            line_buffering = False
            if buffering == 1 and not binary:
                buffering = -1
                line_buffering = True
            if buffering < 0 or buffering == 1:
                buffering = io.DEFAULT_BUFFER_SIZE
            if buffering == 0:
                return result
            buffer: io.BufferedIOBase
            if updating:
                buffer = io.BufferedRandom(raw, buffering)
            elif writable:
                buffer = io.BufferedWriter(raw, buffering)
            else:
                buffer = io.BufferedReader(raw, buffering)
            result = buffer
            if binary:
                return result
            text = io.TextIOWrapper(buffer, encoding or _DEFAULT_ENCODING, errors, newline,
                                    line_buffering)
            result = text
            text.mode = mode  # type: ignore[misc]
            return result
        except BaseException:
            result.close()
            raise

    def read_bytes(self) -> bytes:
        """The file's contents."""
        with self.open("rb", buffering=0) as f:
            return f.readall()  # type: ignore[no-any-return,attr-defined]

    def read_text(self, encoding: str | None = None, errors: str | None = None,
                  newline: str | None = None) -> str:
        """The file's contents decoded (UTF-8 by default; universal newlines unless
        ``newline`` says otherwise)."""
        with self.open("r", encoding=encoding, errors=errors, newline=newline) as f:
            return f.read()  # type: ignore[no-any-return]

    def write_bytes(self, data: Any) -> int:
        """Replace the file's contents with ``data`` (any bytes-like object); returns the
        number of bytes written."""
        view = memoryview(data)  # type-check before truncating the file
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        total = view.nbytes
        with self.open("wb", buffering=0) as f:
            done = 0
            while done < total:
                done += f.write(view[done:])
        return total

    def write_text(self, data: str, encoding: str | None = None, errors: str | None = None,
                   newline: str | None = None) -> int:
        """Replace the file's contents with ``data`` encoded (UTF-8 by default); returns the
        number of characters written."""
        if not isinstance(data, str):
            raise TypeError(f"data must be str, not {type(data).__name__}")
        with self.open("w", encoding=encoding, errors=errors, newline=newline) as f:
            return f.write(data)

    def touch(self, mode: int = 0o666, exist_ok: bool = True) -> None:
        """Create the file if it does not exist; if it does, set its times to now
        (``FileExistsError`` when it exists and not ``exist_ok``)."""
        if exist_ok:
            try:
                with self._locate(True) as loc:
                    now = time.time_ns()
                    if loc.name is None:
                        self._fs.fset_times(loc.dir, now, now)
                        return
                    if loc.st is not None:
                        self._fs.set_times(loc.dir, loc.name, now, now)
                        return
            except OSError:
                pass
        handle = self._open_handle(read=False, write=True, create=True,
                                   exclusive=not exist_ok, mode=mode)
        self._fs.close(handle)

    def unlink(self, missing_ok: bool = False) -> None:
        """Remove the file or symlink (``IsADirectoryError`` on a directory;
        ``FileNotFoundError`` unless ``missing_ok``)."""
        try:
            with self._locate(False) as loc:
                if loc.name is None:
                    raise relabel(errno.EISDIR, str(self))
                if loc.st is None:
                    raise relabel(errno.ENOENT, str(self))
                try:
                    self._fs.unlink(loc.dir, loc.name)
                except OSError as exc:
                    raise relabel(exc, str(self)) from None
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rename(self, target: Segment | Path) -> Path:
        """Move the file or directory to ``target`` (replacing a file there, or an empty
        directory, as POSIX ``rename``); returns the new Path. A relative ``target`` is
        taken from the root, not from this path's directory (as in pathlib)."""
        dst = self._other(target)
        src_label, dst_label = str(self), str(dst)
        with self._locate(False) as s, dst._locate(False) as d:
            if s.name is None or d.name is None:
                raise relabel(errno.EBUSY, src_label, dst_label)
            if s.st is None:
                raise relabel(errno.ENOENT, src_label, dst_label)
            try:
                self._fs.rename(s.dir, s.name, d.dir, d.name)
            except OSError as exc:
                raise relabel(exc, src_label, dst_label) from None
        return dst

    def replace(self, target: Segment | Path) -> Path:
        """The same as :meth:`rename` (POSIX ``rename`` always replaces)."""
        return self.rename(target)

    def symlink_to(self, target: Segment | Path, target_is_directory: bool = False) -> None:
        """Make this path a symlink holding ``target`` verbatim (``target_is_directory`` is
        ignored, as on POSIX)."""
        text = str(target) if isinstance(target, Path) else str(_segment(self._fs, target))
        with self._locate(False) as loc:
            if loc.name is None:
                raise relabel(errno.EEXIST, text, str(self))
            try:
                self._fs.symlink(text, loc.dir, loc.name)
            except OSError as exc:
                raise relabel(exc, text, str(self)) from None

    def hardlink_to(self, target: Segment | Path) -> None:
        """Make this path a hard link to the file ``target`` (followed if a symlink)."""
        src = self._other(target)
        src_label, label = str(src), str(self)
        with src._locate(True) as s, self._locate(False) as d:
            if s.name is None:
                raise relabel(errno.EPERM, src_label, label)
            if s.st is None:
                raise relabel(errno.ENOENT, src_label, label)
            if d.name is None:
                raise relabel(errno.EEXIST, src_label, label)
            try:
                self._fs.link(s.dir, s.name, d.dir, d.name)
            except OSError as exc:
                raise relabel(exc, src_label, label) from None

    # --- what a backend cannot do --------------------------------------------------------
    def _unsupported(self, name: str) -> NoReturn:
        raise NotImplementedError(
            f"Path.{name}() is not supported on {type(self._fs).__name__}: {UNSUPPORTED[name]}")

    def chmod(self, mode: int, *, follow_symlinks: bool = True) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        self._unsupported("chmod")

    def lchmod(self, mode: int) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        self._unsupported("lchmod")

    def owner(self) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        self._unsupported("owner")

    def group(self) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        self._unsupported("group")

    def as_uri(self) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        self._unsupported("as_uri")

    def link_to(self, target: Segment | Path) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        self._unsupported("link_to")

    @classmethod
    def home(cls, fs: Backend | None = None) -> NoReturn:
        """Not supported: see :data:`UNSUPPORTED`."""
        raise NotImplementedError(f"Path.home() is not supported: {UNSUPPORTED['home']}")


def _child(path: Path, name: str) -> Path:
    return path._from(path._pure / name)


def _dir_handle(path: Path) -> Any:
    """A handle on the directory ``path`` (symlinks followed), which the caller owns."""
    with path._open_dir() as loc:
        return loc.chain.release_top()


def _same_fs(a: Backend, b: Backend) -> bool:
    return a is b or bool(a == b)


def _segment(fs: Backend, seg: object) -> Segment:
    """A path segment as ``str``/``PurePosixPath`` (a Path must be of the same backend)."""
    if isinstance(seg, str):
        return seg
    if isinstance(seg, Path):
        if not _same_fs(seg._fs, fs):
            raise ValueError(f"cannot join {seg!r} to a path of another backend ({fs!r})")
        return seg._pure
    if isinstance(seg, PurePosixPath):
        return seg
    raise TypeError(
        f"a wasifs.Path segment must be str, PurePosixPath or wasifs.Path, not "
        f"{type(seg).__name__!r}")

