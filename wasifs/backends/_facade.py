"""The fsspec facade: fsspec's API on top of the :class:`~wasifs.backends.Backend` protocol.

:class:`HandleFileSystem` is an :class:`fsspec.AbstractFileSystem` whose whole fsspec API
(``ls``, ``info``, ``open``, ``cp_file``, ``mv``, ``rm``, ...) is written once, generically,
on top of the handle-based protocol methods. A backend class that subclasses it implements
the :class:`Backend` protocol exactly as documented there and gets a working fsspec
filesystem for free; wasifs's own memory and native backends do so.

What a subclass must provide
----------------------------
- every method of the :class:`Backend` protocol, with the protocol's signatures, and the
  ``readonly`` attribute;
- a ``protocol`` class attribute (``"wasifs-memory"``, ``"wasifs-native"``, ...);
- an ``__init__`` that calls ``super().__init__(**storage_options)`` (``auto_mkdir`` is one
  of those options; fsspec's own ones such as ``skip_instance_cache`` are accepted too).

Seven protocol names are also fsspec (or ``LocalFileSystem``) method names with a different
signature: ``mkdir``, ``rmdir``, ``listdir``, ``rename``, ``link``, ``symlink`` and
``readlink``. A subclass writes them with the protocol's signature, as any backend would;
:meth:`HandleFileSystem.__init_subclass__` wraps them in a dispatcher that sends a call whose
path argument is a ``str``/``os.PathLike`` to the fsspec implementation
(``_fsspec_mkdir`` ...) and every other call (a directory handle) to the protocol method.
Handles are therefore never strings. The fsspec side of those names can be changed by
overriding ``_fsspec_<name>``; the private helpers of this class are named ``_path_*``.

Path semantics of the fsspec facade
-----------------------------------
Paths are absolute from the backend root (``"a/b"`` means ``"/a/b"``). They are resolved by
the host-side walker that :class:`wasifs.Path` uses too (:func:`wasifs.backends._walk.resolve`),
component by component with the protocol calls, like a POSIX kernel resolves them: symlinks
in intermediate components are followed (an absolute target is taken from the backend root,
never from the host's), ``..`` goes to the parent of the directory actually reached (and
stays at the root), at most :data:`~wasifs.backends.MAX_SYMLINKS` symlinks are followed (then
``ELOOP``). Tree operations (``walk``, ``find``, ``du``, ``rm``) are iterative: any depth,
in time linear in the tree.
``info``/``open``/``ls`` follow a final symlink, ``rm``/``mv``/``islink``/``readlink``/
``lexists`` do not. Listings report a symlink as ``type == "other"`` with ``islink`` True
(as :class:`fsspec.implementations.local.LocalFileSystem` does), so ``walk``/``find``/``rm``
never descend through a symlink.

Errors are ``OSError`` subclasses carrying the host ``errno`` and the full fsspec path.
Files from ``open`` are :class:`~wasifs.backends.BackendFileIO` objects.
"""

from __future__ import annotations

import datetime as _dt
import errno
import functools
import os
import posixpath
import stat as _stat
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from glob import has_magic
from typing import Any, ClassVar

from fsspec import AbstractFileSystem  # type: ignore[import-untyped]
from fsspec.utils import stringify_path  # type: ignore[import-untyped]

from ._copy import backend_reader, backend_writer, clear_dir, pump
from ._errors import relabel
from ._file import BackendFileIO
from ._protocol import Stat
from ._walk import DirChain, TreeWalk, resolve, walk_dirs
from ._walk import makedirs as _makedirs

__all__ = ("HandleFileSystem",)

_PATHLIKE = (str, os.PathLike)

#: Protocol method name -> (index of the argument that tells a path call from a handle call,
#: keyword name of that argument in the fsspec-style signature).
_DISPATCHED: dict[str, tuple[int, str]] = {
    "mkdir": (0, "path"),
    "rmdir": (0, "path"),
    "listdir": (0, "path"),
    "rename": (0, "path1"),
    "link": (0, "src"),
    "symlink": (1, "dst"),
    "readlink": (0, "path"),
}


@contextmanager
def _naming(path: str) -> Iterator[None]:
    """Re-raise a backend ``OSError`` (which names one path component) with the full path."""
    try:
        yield
    except OSError as exc:
        raise relabel(exc, path) from None


def _ns_to_datetime(ns: int) -> _dt.datetime:
    seconds, rest = divmod(ns, 1_000_000_000)
    base = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    return base + _dt.timedelta(microseconds=rest // 1000)


def _type_of(mode: int) -> str:
    if _stat.S_ISDIR(mode):
        return "directory"
    if _stat.S_ISREG(mode):
        return "file"
    return "other"


def _child_path(path: str, name: str) -> str:
    return path.rstrip("/") + "/" + name


def _make_dispatcher(name: str, impl: Callable[..., Any]) -> Callable[..., Any]:
    """One method that serves both the protocol (handle) and the fsspec (path) signature."""
    index, keyword = _DISPATCHED[name]
    fsspec_name = "_fsspec_" + name

    @functools.wraps(impl)
    def dispatch(self: HandleFileSystem, *args: Any, **kwargs: Any) -> Any:
        key = args[index] if len(args) > index else kwargs.get(keyword)
        if isinstance(key, _PATHLIKE):
            return getattr(self, fsspec_name)(*args, **kwargs)
        return impl(self, *args, **kwargs)

    dispatch._wasifs_dispatch = impl  # type: ignore[attr-defined]
    return dispatch


def _not_implemented(name: str) -> Callable[..., Any]:
    def missing(self: HandleFileSystem, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement the Backend protocol method {name}()")

    missing.__name__ = missing.__qualname__ = name
    return missing


def _parse_mode(mode: str) -> tuple[bool, bool, bool, bool, bool, bool]:
    """``(read, write, create, exclusive, truncate, append)`` for a binary open mode."""
    kind = mode.replace("b", "").replace("t", "")
    plus = "+" in kind
    kind = kind.replace("+", "")
    if len(kind) != 1 or kind not in "rwax" or mode.count("+") > 1:
        raise ValueError(f"invalid mode: {mode!r}")
    if kind == "r":
        return True, plus, False, False, False, False
    if kind == "w":
        return plus, True, True, False, True, False
    if kind == "a":
        return plus, True, True, False, False, True
    return plus, True, True, True, False, False


class HandleFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec's API implemented on top of the :class:`Backend` protocol methods.

    See the module documentation for what a subclass must provide. ``auto_mkdir=True`` makes
    ``open`` for writing, ``touch``, ``cp_file``, ``mv``, ``link`` and ``symlink`` create the
    missing parent directories (fsspec's ``LocalFileSystem`` option of the same name).
    Instances are never shared through fsspec's instance cache.
    """

    protocol: ClassVar[str | tuple[str, ...]] = "wasifs-handles"
    root_marker = "/"
    cachable = False

    #: True when every mutating call raises ``OSError(errno.EROFS)``.
    readonly: bool = False

    def __init__(self, *, auto_mkdir: bool = False, **storage_options: Any) -> None:
        super().__init__(**storage_options)
        self.auto_mkdir = bool(auto_mkdir)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _DISPATCHED:
            impl = cls.__dict__.get(name)
            if impl is not None and not hasattr(impl, "_wasifs_dispatch"):
                setattr(cls, name, _make_dispatcher(name, impl))

    # --- path handling --------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """The absolute, normalised form of ``path`` (``"/a/b"``); ``..`` is kept, because
        only resolution (which knows the symlinks) can tell where it leads."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        protos = (cls.protocol,) if isinstance(cls.protocol, str) else cls.protocol
        for proto in protos:
            for sep in ("://", "::"):
                if path.startswith(proto + sep):
                    path = path[len(proto) + len(sep):]
                    break
        parts = [part for part in path.split("/") if part and part != "."]
        return "/" + "/".join(parts)

    def unstrip_protocol(self, name: str) -> str:
        protos = (self.protocol,) if isinstance(self.protocol, str) else self.protocol
        for proto in protos:
            if name.startswith(f"{proto}://"):
                return name
        return f"{protos[0]}://{self._strip_protocol(name)}"

    @contextmanager
    def _path_at(self, path: str, *, follow: bool) -> Iterator[tuple[Any, str | None]]:
        """Where ``path`` leads: ``(directory handle, last name)``, or ``(handle of the
        directory itself, None)`` when the path names a directory reached without a final
        name (the root, or a path ending in ``..``). The last component is followed when it
        is a symlink and ``follow``. Errors inside name the path; the handles are closed on
        exit."""
        with _naming(path), resolve(self, path, follow=follow) as loc:
            yield loc.dir, loc.name

    @contextmanager
    def _path_named(self, path: str, *, follow: bool, what: str,
                    on_dir: int | None = None) -> Iterator[tuple[Any, str]]:
        """Like :meth:`_path_at` for operations that need a final name. A path without one
        (the root, or ending in ``..``) fails with ``on_dir`` (default: ``EBUSY`` for the
        root, ``EINVAL`` otherwise)."""
        with self._path_at(path, follow=follow) as (handle, name):
            if name is None:
                if on_dir is None:
                    on_dir = errno.EBUSY if path == "/" else errno.EINVAL
                raise OSError(on_dir, f"cannot {what} this directory by this path", path)
            yield handle, name

    def _path_stat(self, path: str, *, follow: bool) -> Stat:
        with _naming(path), resolve(self, path, follow=follow) as loc:
            if loc.name is None:
                st: Stat = self.fstat(loc.dir)
                return st
            if loc.st is None:
                raise OSError(errno.ENOENT, "")
            return loc.st

    @contextmanager
    def _path_opendir(self, path: str) -> Iterator[Any]:
        """A handle on the directory ``path`` (following symlinks)."""
        with self._path_at(path, follow=True) as (handle, name):
            if name is None:
                yield handle
                return
            sub = self.opendir(handle, name)
            try:
                yield sub
            finally:
                self.close(sub)

    def _path_mkparents(self, path: str) -> None:
        if self.auto_mkdir:
            self.makedirs(self._parent(path), exist_ok=True)

    # --- metadata -------------------------------------------------------------------
    def _path_details(self, path: str, st: Stat, *, target: Stat | None = None,
                 destination: str | None = None) -> dict[str, Any]:
        """An fsspec info dict. ``st`` is the entry itself (lstat), ``target`` what a
        symlink leads to (when known)."""
        shown = target if target is not None else st
        islink = _stat.S_ISLNK(st.mode)
        out: dict[str, Any] = {
            "name": path,
            "size": shown.size,
            "type": _type_of(shown.mode) if (target is not None or not islink) else "other",
            "created": shown.ctime_ns / 1e9,
            "islink": islink,
            "mode": shown.mode,
            "nlink": shown.nlink,
            "ino": shown.ino,
            "dev": shown.dev,
            "mtime": shown.mtime_ns / 1e9,
            "atime": shown.atime_ns / 1e9,
            "ctime": shown.ctime_ns / 1e9,
            "mtime_ns": shown.mtime_ns,
        }
        if destination is not None:
            out["destination"] = destination
        return out

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        """Details of ``path``; a symlink is followed (``FileNotFoundError`` when dangling)
        and reported with ``islink`` True, its ``destination`` and its target's type/size."""
        path = self._strip_protocol(path)
        with self._path_at(path, follow=False) as (handle, name):
            if name is None:
                return self._path_details(path, self.fstat(handle))
            st = self.lstat(handle, name)
            if not _stat.S_ISLNK(st.mode):
                return self._path_details(path, st)
            destination = self.readlink(handle, name)
        target = self._path_stat(path, follow=True)
        return self._path_details(path, st, target=target, destination=destination)

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Entries of the directory ``path`` (a file lists as itself). A symlink entry is
        reported with ``type`` ``"other"`` and the size of what it points to."""
        path = self._strip_protocol(path)
        if not _stat.S_ISDIR(self._path_stat(path, follow=True).mode):
            return [self.info(path)] if detail else [path]
        with self._path_opendir(path) as handle, _naming(path):
            if not detail:
                prefix = path.rstrip("/") + "/"
                return [prefix + e.name for e in self.listdir(handle)]
            return [info for _, info in self._path_scan(handle, path)]

    def _fsspec_listdir(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        return self.ls(path, detail=detail, **kwargs)

    def _path_scan(self, handle: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(name, ls details)`` of each entry of the open directory ``handle`` (at
        ``path``), in the backend's order. A symlink is reported with ``type`` ``"other"``
        and the size of what it points to."""
        prefix = path.rstrip("/") + "/"
        for entry in self.listdir(handle):
            name = entry.name
            full = prefix + name
            try:
                st = self.lstat(handle, name)
            except FileNotFoundError:
                continue  # removed since the listing
            if not _stat.S_ISLNK(st.mode):
                yield name, self._path_details(full, st)
                continue
            info = self._path_details(full, st, destination=self.readlink(handle, name))
            try:
                info["size"] = self._path_stat(full, follow=True).size
            except OSError:
                pass  # dangling: keeps the link's own size
            yield name, info

    def walk(self, path: Any, maxdepth: int | None = None, topdown: bool = True,
             on_error: Any = "omit", **kwargs: Any) -> Iterator[tuple[str, Any, Any]]:
        """fsspec's ``walk``, iteratively (any depth, linear in the tree): yields ``(path,
        dirs, files)`` for the directory ``path`` and every directory below it (``dirs`` and
        ``files`` map names to ``ls`` details with ``detail=True``, else are lists of names;
        symlinks are files, never walked into). With ``topdown`` the caller may prune
        ``dirs`` in place. A directory that cannot be listed is skipped
        (``on_error="omit"``), raises (``"raise"``) or goes to ``on_error(exc)``."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        path = self._strip_protocol(path)
        detail = bool(kwargs.pop("detail", False))

        def error(exc: OSError) -> None:
            if on_error == "raise":
                raise exc
            if callable(on_error):
                on_error(exc)

        def scan(chain: DirChain, where: str) -> tuple[Any, Any]:
            dirs: dict[str, Any] = {}
            files: dict[str, Any] = {}
            for name, info in self._path_scan(chain.top, where):
                (dirs if info["type"] == "directory" else files)[name] = info
            return (dirs, files) if detail else (list(dirs), list(files))

        with ExitStack() as stack:
            try:
                is_dir = _stat.S_ISDIR(self._path_stat(path, follow=True).mode)
                if is_dir:
                    handle = stack.enter_context(self._path_opendir(path))
                else:
                    info = self.info(path)
            except OSError as exc:
                error(exc)
                return
            if not is_dir:
                yield (path, {}, {"": info}) if detail else (path, [], [""])
                return
            chain = DirChain(self, handle, owned=False)
            stack.callback(chain.close)
            yield from walk_dirs(chain, path, scan, _child_path, top_down=topdown,
                                 max_depth=maxdepth, on_error=error)

    def du(self, path: Any, total: bool = True, maxdepth: int | None = None,
           withdirs: bool = False, **kwargs: Any) -> Any:
        """fsspec's ``du`` (sizes of what :meth:`find` finds, a symlink's being its
        target's), from one walk of the tree."""
        sizes: dict[str, int] = {}
        if withdirs and self.isdir(path):
            info = self.info(path)
            sizes[info["name"]] = info["size"]
        found = self.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True, **kwargs)
        for name, info in found.items():
            if not info or info.get("islink"):
                info = self.info(name)
            sizes[info["name"]] = info["size"]
        return sum(sizes.values()) if total else sizes

    def exists(self, path: Any, **kwargs: Any) -> bool:
        """Whether ``path`` exists (a dangling symlink does not)."""
        try:
            self._path_stat(self._strip_protocol(path), follow=True)
        except OSError:
            return False
        return True

    def lexists(self, path: Any, **kwargs: Any) -> bool:
        """Whether ``path`` exists, a dangling symlink included."""
        try:
            self._path_stat(self._strip_protocol(path), follow=False)
        except OSError:
            return False
        return True

    def isdir(self, path: Any) -> bool:
        try:
            return _stat.S_ISDIR(self._path_stat(self._strip_protocol(path), follow=True).mode)
        except OSError:
            return False

    def isfile(self, path: Any) -> bool:
        try:
            return _stat.S_ISREG(self._path_stat(self._strip_protocol(path), follow=True).mode)
        except OSError:
            return False

    def islink(self, path: Any) -> bool:
        """Whether ``path`` is a symlink (not followed)."""
        try:
            return _stat.S_ISLNK(self._path_stat(self._strip_protocol(path), follow=False).mode)
        except OSError:
            return False

    def size(self, path: Any) -> int:
        return int(self._path_stat(self._strip_protocol(path), follow=True).size)

    def modified(self, path: Any) -> _dt.datetime:
        """Last data modification time (UTC, microsecond precision)."""
        return _ns_to_datetime(self._path_stat(self._strip_protocol(path), follow=True).mtime_ns)

    def created(self, path: Any) -> _dt.datetime:
        """The status-change time (POSIX keeps no creation time), as fsspec's local
        filesystem reports on Linux."""
        return _ns_to_datetime(self._path_stat(self._strip_protocol(path), follow=True).ctime_ns)

    def _fsspec_readlink(self, path: Any) -> str:
        """The target of the symlink ``path``, verbatim."""
        path = self._strip_protocol(path)
        with self._path_named(path, follow=False, what="readlink") as (handle, name):
            target: str = self.readlink(handle, name)
            return target

    # --- directories ----------------------------------------------------------------
    def _fsspec_mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        """Create the directory ``path`` (``FileExistsError`` if anything is there); with
        ``create_parents`` the missing parents too."""
        path = self._strip_protocol(path)
        mode = int(kwargs.get("mode", 0o777))
        if create_parents:
            self.makedirs(path, exist_ok=False, mode=mode)
            return
        with self._path_named(path, follow=False, what="create") as (handle, name):
            self.mkdir(handle, name, mode)

    def makedirs(self, path: Any, exist_ok: bool = False, mode: int = 0o777) -> None:
        """Create ``path`` and its missing parents; ``FileExistsError`` when ``path`` exists
        and not ``exist_ok``, or when it (or a parent) is not a directory."""
        path = self._strip_protocol(path)
        if _makedirs(self, path or "/", mode=mode, exist_ok=exist_ok, label=path):
            return  # one walk from the root (not one per level)
        # the missing part lies behind a symlink: level by level, as mkdir -p
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:i])
            last = i == len(parts)
            with self._path_at(prefix, follow=False) as (handle, name):
                if name is None:
                    if last and not exist_ok:
                        raise relabel(errno.EEXIST, path)
                    continue
                try:
                    self.mkdir(handle, name, mode)
                    continue
                except FileExistsError:
                    pass
            # Something is there already: fine when it is (or leads to) a directory.
            if not self.isdir(prefix):
                raise relabel(errno.EEXIST if last else errno.ENOTDIR, prefix)
            if last and not exist_ok:
                raise relabel(errno.EEXIST, path)
        if not parts and not exist_ok:
            raise relabel(errno.EEXIST, path)

    def _fsspec_rmdir(self, path: Any) -> None:
        """Remove the empty directory ``path``."""
        path = self._strip_protocol(path)
        with self._path_named(path, follow=False, what="remove") as (handle, name):
            self.rmdir(handle, name)

    # --- files ----------------------------------------------------------------------
    def _open(self, path: Any, mode: str = "rb", block_size: Any = None,
              autocommit: bool = True, cache_options: Any = None,
              **kwargs: Any) -> BackendFileIO:
        """A :class:`~wasifs.backends.BackendFileIO`. Modes: ``rb``, ``wb``, ``ab``, ``xb`` and their ``+``
        forms. ``xb`` fails with ``FileExistsError`` when anything (even a dangling
        symlink) is at ``path``; the other modes follow a final symlink."""
        if not autocommit:
            raise NotImplementedError(f"{type(self).__name__} has no transactions")
        path = self._strip_protocol(path)
        read, write, create, exclusive, truncate, append = _parse_mode(mode)
        if create:
            self._path_mkparents(path)
        with self._path_named(path, follow=not exclusive, what="open",
                              on_dir=errno.EISDIR) as (handle, name):
            fh = self.open_file(handle, name, read=read, write=write, create=create,
                                exclusive=exclusive, truncate=truncate)
        try:
            return BackendFileIO(self, fh, path, mode, readable=read, writable=write,
                                 append=append)
        except BaseException:
            self.close(fh)
            raise

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        """The bytes of ``path`` from ``start`` to ``end`` (slice semantics, negative values
        count from the end)."""
        path = self._strip_protocol(path)
        with self._path_named(path, follow=True, what="read",
                              on_dir=errno.EISDIR) as (handle, name):
            fh = self.open_file(handle, name, read=True, write=False)
        try:
            with _naming(path):
                size = int(self.fstat(fh).size)
                first, stop, _ = slice(start, end).indices(size)
                if stop <= first:
                    return b""
                buf = bytearray(stop - first)
                got = 0
                with memoryview(buf) as view:
                    while got < len(buf):
                        n = int(self.pread(fh, view[got:], first + got))
                        if n == 0:
                            break
                        got += n
                del buf[got:]
                return bytes(buf)
        finally:
            self.close(fh)

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite",
                  **kwargs: Any) -> None:
        """Make ``path`` hold exactly ``value``; ``mode="create"`` fails with
        ``FileExistsError`` if it exists (atomically: an exclusive create)."""
        if mode not in ("overwrite", "create"):
            raise ValueError(f"invalid pipe_file mode: {mode!r}")
        with self.open(path, "xb" if mode == "create" else "wb") as f:
            f.write(value)

    def touch(self, path: Any, truncate: bool = True, **kwargs: Any) -> None:
        """Create ``path`` if missing; empty it when ``truncate``, else set its access and
        modification times to now."""
        path = self._strip_protocol(path)
        self._path_mkparents(path)
        with self._path_named(path, follow=True, what="touch",
                              on_dir=errno.EISDIR) as (handle, name):
            fh = self.open_file(handle, name, read=False, write=True, create=True,
                                truncate=truncate)
            try:
                if not truncate:
                    now = time.time_ns()
                    self.fset_times(fh, now, now)
            finally:
                self.close(fh)

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copy the file ``path1`` to ``path2`` (replacing its content); a directory
        ``path1`` makes the directory ``path2``."""
        path1 = self._strip_protocol(path1)
        path2 = self._strip_protocol(path2)
        self._path_mkparents(path2)
        st = self._path_stat(path1, follow=True)
        if _stat.S_ISDIR(st.mode):
            self.makedirs(path2, exist_ok=True)
            return
        with self._path_named(path1, follow=True, what="copy",
                              on_dir=errno.EISDIR) as (handle, name):
            src = self.open_file(handle, name, read=True, write=False)
        try:
            with self._path_named(path2, follow=True, what="copy to",
                              on_dir=errno.EISDIR) as (handle, name):
                dst = self.open_file(handle, name, read=False, write=True, create=True,
                                     truncate=True)
            try:
                pump(backend_reader(self, src, path1), backend_writer(self, dst, path2))
            finally:
                self.close(dst)
        finally:
            self.close(src)

    def copy(self, path1: Any, path2: Any, recursive: bool = False,
             maxdepth: int | None = None, on_error: str | None = None,
             **kwargs: Any) -> None:
        """fsspec's ``copy``. A recursive copy of one directory (no glob, no ``maxdepth``)
        walks the source once, with the destination in step: work linear in the tree
        (fsspec's generic copy resolves every entry's two paths from the root, quadratic in
        a deep tree), same result: files copied (a symlink's target's content), directories
        made, a symlink to a directory made an empty directory, a dangling one skipped; into
        ``path2/<name>`` when ``path2`` is a directory and ``path1`` has no trailing slash,
        else into ``path2``."""
        simple = (recursive and maxdepth is None and on_error in (None, "ignore")
                  and not kwargs and isinstance(path1, str) and isinstance(path2, str)
                  and not has_magic(path1))
        if simple:
            src = self._strip_protocol(path1)
            try:
                simple = self.isdir(src) and not _stat.S_ISLNK(
                    self._path_stat(src, follow=False).mode)
            except OSError:
                simple = False
        if not simple:
            super().copy(path1, path2, recursive=recursive, maxdepth=maxdepth,
                         on_error=on_error, **kwargs)
            return
        dst = self._strip_protocol(path2)
        if (path2.endswith("/") or self.isdir(dst)) and not path1.endswith("/"):
            dst = dst.rstrip("/") + "/" + src.rstrip("/").rsplit("/", 1)[-1]
        self._path_mkparents(dst)
        self.makedirs(dst, exist_ok=True)
        self._copy_tree_following(src, dst)

    def _copy_tree_following(self, src: str, dst: str) -> None:
        """Copy what is inside the directory ``src`` into the directory ``dst`` as fsspec's
        generic ``copy`` would, entry by entry, in one walk (see :meth:`copy`)."""
        with self._path_opendir(src) as shandle, self._path_opendir(dst) as dhandle:
            schain = DirChain(self, shandle, owned=False)
            dchain = DirChain(self, dhandle, owned=False)
            walk = TreeWalk(schain, leave=True)
            try:
                for name, st in walk:
                    if st is None:  # the entries of the directory `name` are done
                        dchain.pop()
                        continue
                    rel = walk.where()
                    kind = _stat.S_IFMT(st.mode)
                    if kind == _stat.S_IFLNK:  # what it leads to, as fsspec's copy sees it
                        try:
                            kind = _stat.S_IFMT(self._path_stat(f"{src}/{rel}", follow=True)
                                                .mode)
                        except FileNotFoundError:
                            continue  # dangling: fsspec's copy skips it
                        if kind == _stat.S_IFREG:
                            self.cp_file(f"{src}/{rel}", f"{dst}/{rel}")
                            continue
                    if kind == _stat.S_IFDIR:
                        try:
                            self.mkdir(dchain.top, name)
                        except FileExistsError:
                            if not _stat.S_ISDIR(self.lstat(dchain.top, name).mode):
                                raise
                        if _stat.S_ISDIR(st.mode):  # entered next (not a symlink's target)
                            dchain.push(self.opendir(dchain.top, name), name)
                    elif kind == _stat.S_IFREG:  # as cp_file: the data, nothing else
                        fin = self.open_file(schain.top, name, read=True, write=False)
                        try:
                            fout = self.open_file(dchain.top, name, read=False, write=True,
                                                  create=True, truncate=True)
                            try:
                                pump(backend_reader(self, fin), backend_writer(self, fout))
                            finally:
                                self.close(fout)
                        finally:
                            self.close(fin)
            except OSError as exc:
                raise relabel(exc, f"{src}/{walk.where()}", f"{dst}/{walk.where()}") from None
            finally:
                dchain.close()
                schain.close()

    def rm_file(self, path: Any) -> None:
        """Remove the file (or symlink) ``path``."""
        path = self._strip_protocol(path)
        with self._path_named(path, follow=False, what="remove",
                              on_dir=errno.EISDIR) as (handle, name):
            self.unlink(handle, name)

    def _rm(self, path: Any) -> None:
        """Remove ``path``: a file, symlink or empty directory."""
        path = self._strip_protocol(path)
        with self._path_named(path, follow=False, what="remove") as (handle, name):
            if _stat.S_ISDIR(self.lstat(handle, name).mode):
                self.rmdir(handle, name)
            else:
                self.unlink(handle, name)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Remove files, symlinks (never what they point to) and, with ``recursive``,
        directory trees (``maxdepth`` levels deep; a tree deeper than that fails with
        ``ENOTEMPTY``). Glob patterns are expanded."""
        paths = path if isinstance(path, (list, tuple, set)) else [path]
        targets: set[str] = set()
        for p in paths:
            p = self._strip_protocol(p)
            if has_magic(p):
                targets.update(self.glob(p))
            else:
                targets.add(p)
        for p in sorted(targets, reverse=True):
            with self._path_named(p, follow=False, what="remove") as (handle, name):
                if not _stat.S_ISDIR(self.lstat(handle, name).mode):
                    self.unlink(handle, name)
                    continue
                if not recursive:
                    raise OSError(errno.EISDIR, "is a directory (use recursive=True)", p)
                sub = self.opendir(handle, name)
                try:
                    clear_dir(self, sub, max_depth=maxdepth)
                finally:
                    self.close(sub)
                self.rmdir(handle, name)

    def replace(self, path1: Any, path2: Any) -> None:
        """rename(2): move ``path1`` to exactly ``path2``, atomically replacing a file or an
        empty directory there (``os.replace`` semantics). Neither path is followed."""
        path1 = self._strip_protocol(path1)
        path2 = self._strip_protocol(path2)
        with self._path_named(path1, follow=False, what="move") as (src_dir, src), \
                self._path_named(path2, follow=False, what="replace") as (dst_dir, dst):
            self.rename(src_dir, src, dst_dir, dst)

    def mv(self, path1: Any, path2: Any, recursive: bool = False,
           maxdepth: int | None = None, **kwargs: Any) -> None:
        """Move with a real rename (atomic, keeps inode numbers and open handles). As with
        fsspec's local filesystem (``shutil.move``), an existing directory ``path2``
        receives ``path1`` inside it; otherwise ``path2`` is replaced as by
        :meth:`replace`. A list or glob ``path1`` moves every match into ``path2``."""
        if isinstance(path1, (list, tuple)) or has_magic(self._strip_protocol(path1)):
            sources = self.expand_path(path1) if not isinstance(path1, (list, tuple)) \
                else [self._strip_protocol(p) for p in path1]
            dest = self._strip_protocol(path2)
            if not self.isdir(dest):
                raise relabel(errno.ENOTDIR, dest)
            for src in sources:
                self.replace(src, dest.rstrip("/") + "/" + posixpath.basename(src))
            return
        path1 = self._strip_protocol(path1)
        path2 = self._strip_protocol(path2)
        if path1 == path2:
            return
        self._path_mkparents(path2)
        if self.isdir(path2):
            same = False
            try:
                with self._path_opendir(path2) as d2:
                    st1 = self._path_stat(path1, follow=False)
                    st2 = self.fstat(d2)
                    same = (st1.dev, st1.ino) == (st2.dev, st2.ino)
            except FileNotFoundError:
                pass
            if not same:
                path2 = path2.rstrip("/") + "/" + posixpath.basename(path1)
        self.replace(path1, path2)

    def _fsspec_rename(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        self.mv(path1, path2, **kwargs)

    def _fsspec_link(self, src: Any, dst: Any, **kwargs: Any) -> None:
        """Make ``dst`` a hard link to the file ``src`` (``src`` is not followed)."""
        src = self._strip_protocol(src)
        dst = self._strip_protocol(dst)
        self._path_mkparents(dst)
        with self._path_named(src, follow=False, what="link") as (src_dir, src_name), \
                self._path_named(dst, follow=False, what="link to") as (dst_dir, dst_name):
            self.link(src_dir, src_name, dst_dir, dst_name)

    def _fsspec_symlink(self, src: str, dst: Any, **kwargs: Any) -> None:
        """Make ``dst`` a symlink holding ``src`` verbatim (the argument order of
        ``os.symlink`` and fsspec's local filesystem)."""
        dst = self._strip_protocol(dst)
        self._path_mkparents(dst)
        with self._path_named(dst, follow=False, what="create") as (handle, name):
            self.symlink(os.fspath(src), handle, name)

    def set_path_times(self, path: Any, atime_ns: int | None = None,
                       mtime_ns: int | None = None, *, follow: bool = True) -> None:
        """Set the access/modification times of ``path`` (integer nanoseconds; None keeps
        that time)."""
        path = self._strip_protocol(path)
        with self._path_at(path, follow=follow) as (handle, name):
            if name is None:
                self.fset_times(handle, atime_ns, mtime_ns)
            else:
                self.set_times(handle, name, atime_ns, mtime_ns)


for _name in _DISPATCHED:
    setattr(HandleFileSystem, _name, _make_dispatcher(_name, _not_implemented(_name)))
del _name
