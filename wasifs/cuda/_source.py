"""Where the bytes come from: a wasifs backend (through the handle protocol: ``opendir``,
``open_file``, ``pread``) or any other fsspec filesystem (through fsspec's own API).

A :class:`Source` lists the files a selection names (with their sizes) and reads byte
ranges of them into caller-supplied buffers. Sources are small picklable values, so a
partition of the work can be shipped to another process or a dask worker, which then reads
the files where it runs.

Selections (``paths_or_glob``):

- ``None``: every file under the source's base (the backend's root, a ``wasifs.Path``'s
  directory, or the fsspec filesystem's root);
- a string with a wildcard (``*``, ``?``, ``[``): a glob (``**`` spans any number of
  directories, zero included), taken from the base when relative;
- any other string: a file, or a directory whose files are all taken (recursively);
- a list/tuple of such strings: their union.

Walks never follow symbolic links (a tree may come from an untrusted archive; a link to a
directory could also loop): name a link explicitly to include what it points at. Only
regular files are listed. Results are keyed by the path the filesystem gives the file
(absolute inside a wasifs backend, ``/data/a.bin``; what ``fs.find`` returns for fsspec).
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat as _stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from ..backends import Backend
from ..path import Path

__all__ = ("FileInfo", "Source", "BackendSource", "FsspecSource", "make_source",
           "FileChangedError", "Selection")

Selection = str | Sequence[str] | None

_MAGIC = re.compile(r"[*?\[]")


class FileChangedError(OSError):
    """A file's size changed between the listing and the read: its checksum or matches
    would describe neither version. Run again on a quiet tree."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A listed file: the ``key`` results use, the ``path`` to read (the same unless a
    symlink was named) and its ``size`` when listed."""

    key: str
    path: str
    size: int


class Reader(Protocol):
    """An open file of a :class:`Source`."""

    def readinto(self, buf: memoryview, offset: int) -> int:
        """Fill ``buf`` from ``offset``; returns the count (short only at the end)."""

    def close(self) -> None: ...


class Source(Protocol):
    """What a checksum or scan reads from (picklable)."""

    def list(self, selection: Selection) -> list[FileInfo]: ...

    def opener(self) -> Opener: ...


class Opener(Protocol):
    """Opens files of one source; may cache directory handles between calls. One thread."""

    def open(self, path: str) -> Reader: ...

    def close(self) -> None: ...


def read_exact(reader: Reader, buf: memoryview, offset: int, key: str, *,
               check_eof: bool, listed: int) -> None:
    """Fill ``buf`` (all of it, except one spare byte at the end when ``check_eof``) from
    ``offset``. With ``check_eof``, ``buf`` holds one byte more than the file should have
    left: reading it means the file grew. A short read means it shrank."""
    want = len(buf) - 1 if check_eof else len(buf)
    got = reader.readinto(buf, offset)
    if got != want:
        now = offset + got
        raise FileChangedError(
            errno.EAGAIN, f"file changed size while being read (listed {listed} bytes, "
            f"{'at least ' if got > want else ''}{now} now)", key)


# ------------------------------------------------------------------------------ globs
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a ``/``-separated glob: ``*`` and ``?`` stay inside one component,
    ``[...]`` is a character class (``[!...]`` negated), ``**`` as a whole component spans
    any number of components (zero included)."""
    out = []
    comps = pattern.split("/")
    for i, comp in enumerate(comps):
        last = i == len(comps) - 1
        if comp == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        j = 0
        while j < len(comp):
            ch = comp[j]
            if ch == "*":
                out.append("[^/]*")
            elif ch == "?":
                out.append("[^/]")
            elif ch == "[":
                end = comp.find("]", j + 2 if comp[j + 1:j + 2] in ("!", "]") else j + 1)
                if end < 0:
                    out.append(re.escape(ch))
                else:
                    body = comp[j + 1:end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out.append("[" + body.replace("\\", "\\\\") + "]")
                    j = end
            else:
                out.append(re.escape(ch))
            j += 1
        if not last:
            out.append("/")
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _split_glob(pattern: str) -> tuple[str, str]:
    """(the literal directory prefix, the rest) of a glob."""
    comps = pattern.split("/")
    for i, comp in enumerate(comps):
        if _MAGIC.search(comp):
            return "/".join(comps[:i]), "/".join(comps[i:])
    return pattern, ""


def _items(selection: Selection) -> list[str]:
    if selection is None:
        return [""]
    if isinstance(selection, str | os.PathLike):
        return [os.fspath(selection)]
    items = list(selection)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"paths must be str, got {item!r} ({type(item).__name__})")
    return items


def _dedup(found: Iterator[FileInfo]) -> list[FileInfo]:
    seen: dict[str, FileInfo] = {}
    for info in found:
        seen.setdefault(info.key, info)
    return [seen[k] for k in sorted(seen)]


# ------------------------------------------------------------------------ wasifs backend
class _BackendReader:
    __slots__ = ("_fs", "_handle")

    def __init__(self, fs: Backend, handle: Any) -> None:
        self._fs = fs
        self._handle = handle

    def readinto(self, buf: memoryview, offset: int) -> int:
        fs, handle = self._fs, self._handle
        total = 0
        n = len(buf)
        while total < n:
            got = fs.pread(handle, buf[total:], offset + total)
            if got <= 0:
                break
            total += got
        return total

    def close(self) -> None:
        self._fs.close(self._handle)


class _BackendOpener:
    """Opens canonical (symlink-free) absolute paths, keeping the last directory open:
    files are read in listing order, so neighbours share their directory."""

    __slots__ = ("_fs", "_dir", "_dir_handle")

    def __init__(self, fs: Backend) -> None:
        self._fs = fs
        self._dir: str | None = None
        self._dir_handle: Any = None

    def _opendir(self, dirname: str) -> Any:
        if dirname == self._dir:
            return self._dir_handle
        self.close()
        fs = self._fs
        handle = fs.root()
        try:
            for comp in dirname.split("/"):
                if comp:
                    nxt = fs.opendir(handle, comp)
                    fs.close(handle)
                    handle = nxt
        except BaseException:
            fs.close(handle)
            raise
        self._dir, self._dir_handle = dirname, handle
        return handle

    def open(self, path: str) -> Reader:
        dirname, _, name = path.rpartition("/")
        try:
            handle = self._fs.open_file(self._opendir(dirname), name, read=True, write=False)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = path
            raise
        return _BackendReader(self._fs, handle)

    def close(self) -> None:
        if self._dir is not None:
            self._fs.close(self._dir_handle)
            self._dir = self._dir_handle = None


@dataclass(frozen=True)
class BackendSource:
    """Files of a wasifs backend, under ``base`` (an absolute path in it)."""

    fs: Backend
    base: str = "/"

    def opener(self) -> Opener:
        return _BackendOpener(self.fs)

    def _abs(self, item: str) -> str:
        return posixpath.normpath(posixpath.join(self.base, item)) if item else self.base

    def list(self, selection: Selection) -> list[FileInfo]:
        return _dedup(info for item in _items(selection) for info in self._list_one(item))

    def _list_one(self, item: str) -> Iterator[FileInfo]:
        if _MAGIC.search(item):
            prefix, rest = _split_glob(item)
            start = self._abs(prefix)
            rx = glob_regex(posixpath.join(start, rest) if rest else start)
            try:
                top = Path(self.fs, start).resolve(strict=True)
            except FileNotFoundError:
                return
            if not top.is_dir():
                return
            for info in self._walk(str(top), start):
                if rx.match(info.key):
                    yield info
            return
        key = self._abs(item)
        target = Path(self.fs, key)
        st = target.stat()  # follows a named symlink; FileNotFoundError names the path
        real = str(target.resolve(strict=True))
        if _stat.S_ISDIR(st.st_mode):
            yield from self._walk(real, key)
        elif _stat.S_ISREG(st.st_mode):
            yield FileInfo(key, real, st.st_size)
        else:
            raise OSError(errno.EINVAL, "not a regular file or directory", key)

    def _walk(self, real: str, key: str) -> Iterator[FileInfo]:
        """Regular files under the canonical directory ``real``, keyed under ``key``."""
        fs = self.fs
        opener = _BackendOpener(fs)
        try:
            stack = [(real, key)]
            while stack:
                dreal, dkey = stack.pop()
                handle = opener._opendir(dreal)
                subdirs = []
                for entry in fs.listdir(handle):
                    kind = _stat.S_IFMT(entry.mode)
                    rpath = posixpath.join(dreal, entry.name)
                    kpath = posixpath.join(dkey, entry.name)
                    if kind == _stat.S_IFDIR:
                        subdirs.append((rpath, kpath))
                    elif kind in (_stat.S_IFREG, 0):
                        try:
                            st = fs.lstat(handle, entry.name)
                        except FileNotFoundError:
                            continue
                        if _stat.S_ISREG(st.mode):
                            yield FileInfo(kpath, rpath, st.size)
                        elif _stat.S_ISDIR(st.mode):
                            subdirs.append((rpath, kpath))
                stack.extend(reversed(subdirs))
        finally:
            opener.close()


# ------------------------------------------------------------------------------ fsspec
class _FsspecReader:
    __slots__ = ("_f",)

    def __init__(self, f: Any) -> None:
        self._f = f

    def readinto(self, buf: memoryview, offset: int) -> int:
        f = self._f
        f.seek(offset)
        total = 0
        n = len(buf)
        while total < n:
            got = f.readinto(buf[total:])
            if not got:
                break
            total += got
        return total

    def close(self) -> None:
        self._f.close()


class _FsspecOpener:
    __slots__ = ("_fs",)

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def open(self, path: str) -> Reader:
        return _FsspecReader(self._fs.open(path, "rb"))

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class FsspecSource:
    """Files of any fsspec filesystem, under ``base``."""

    fs: Any
    base: str = ""

    def opener(self) -> Opener:
        return _FsspecOpener(self.fs)

    def _abs(self, item: str) -> str:
        if not item:
            return self.base or self.fs.root_marker or "/"
        if self.base and not item.startswith("/"):
            return posixpath.join(self.base, item)
        return item

    def list(self, selection: Selection) -> list[FileInfo]:
        return _dedup(info for item in _items(selection) for info in self._list_one(item))

    def _list_one(self, item: str) -> Iterator[FileInfo]:
        fs = self.fs
        path = self._abs(item)
        if _MAGIC.search(item):
            found = fs.glob(path, detail=True)
        else:
            info = fs.info(path)
            if info.get("type") == "directory":
                found = fs.find(path, detail=True, withdirs=False)
            else:
                found = {info["name"]: info}
        for name, info in found.items():
            if info.get("type") == "file" and not info.get("islink"):
                size = info.get("size")
                if size is None:
                    size = fs.size(name)
                yield FileInfo(name, name, int(size))


# ------------------------------------------------------------------------------ factory
def make_source(fs: Any) -> Source:
    """The source for ``fs``: a wasifs backend, a :class:`wasifs.Path`, any fsspec
    filesystem, or a host directory / URL (``str`` or ``os.PathLike``)."""
    if isinstance(fs, Path):
        base = str(PurePosixPath("/") / fs.as_posix())
        return BackendSource(fs.fs, posixpath.normpath(base))
    if isinstance(fs, Backend):
        return BackendSource(fs)
    if isinstance(fs, str | os.PathLike):
        text = os.fspath(fs)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        from ..backends import open_backend

        try:
            return BackendSource(open_backend(text, readonly=True))
        except ValueError:
            if "://" not in text and "::" not in text:
                raise
        import fsspec  # type: ignore[import-untyped]

        ffs, root = fsspec.core.url_to_fs(text)
        return FsspecSource(ffs, root)
    try:
        from fsspec import AbstractFileSystem
    except ImportError:  # pragma: no cover - fsspec is a dependency
        AbstractFileSystem = ()  # noqa: N806
    if isinstance(fs, AbstractFileSystem):
        return FsspecSource(fs)
    raise TypeError(
        f"cannot read files from {fs!r} ({type(fs).__name__}): expected a wasifs backend, "
        "a wasifs.Path, an fsspec filesystem, or a host directory / URL")
