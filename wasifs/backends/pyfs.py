"""PyFilesystem2 (the ``fs`` package) objects as wasifs backends: :class:`PyfsBackend`.

Install with the ``pyfs`` extra (``pip install 'wasifs[pyfs]'``). PyFilesystem2's last release
(2.4.16) still runs ``__import__("pkg_resources")`` when ``fs`` is imported, and setuptools 82
no longer ships ``pkg_resources``; the extra therefore pins ``setuptools<82`` beside ``fs``,
and this module imports ``fs`` with the deprecation warnings of ``pkg_resources`` silenced
(setuptools 80 and 81 warn on that import). This is the only module of wasifs that imports
``fs`` (an import-linter contract says so), and only when a PyFilesystem2 object is mounted.

A :class:`PyfsBackend` is the fsspec adapter (:class:`~wasifs.backends.fsspec.FsspecBackend`)
over a small fsspec view of the ``FS`` object, so everything the adapter emulates holds here
too (handles that follow renames, synthetic inode numbers, spooled random-access writes
written back on ``fsync``/``close``, ``EPERM`` for links, ``ENOTSUP`` for setting times). On
a filesystem with host paths (``OSFS``) a rename is the host's ``rename(2)``.

Errors: PyFilesystem2 turns the ``OSError`` of the host into its own exception classes, and
the class alone loses information (``ENOTDIR`` on the way becomes ``ResourceNotFound``). The
``errno`` of the original exception (``exc.exc.errno``) is used when it is there, the class
only when it is not.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

from .fsspec import FsspecBackend

with warnings.catch_warnings():
    # fs 2.4.16 imports pkg_resources, which setuptools 80/81 deprecate with a warning
    warnings.filterwarnings("ignore", message=".*pkg_resources", category=Warning)
    import fs.base
    import fs.errors

__all__ = ("PyfsBackend", "open_pyfs", "oserror")

_T = TypeVar("_T")

_E = fs.errors
#: PyFilesystem2's classes, most specific first, and the errno each stands for when the
#: exception carries no ``errno`` of its own.
_BY_CLASS: tuple[tuple[type[Exception], int], ...] = (
    (_E.DirectoryNotEmpty, errno.ENOTEMPTY),
    (_E.DirectoryExpected, errno.ENOTDIR),
    (_E.FileExpected, errno.EISDIR),
    (_E.DestinationExists, errno.EEXIST),
    (_E.DirectoryExists, errno.EEXIST),
    (_E.FileExists, errno.EEXIST),
    (_E.ResourceNotFound, errno.ENOENT),
    (_E.ResourceReadOnly, errno.EROFS),
    (_E.RemoveRootError, errno.EBUSY),
    (_E.ResourceLocked, errno.EBUSY),
    (_E.PermissionDenied, errno.EACCES),
    (_E.InsufficientStorage, errno.ENOSPC),
    (_E.IllegalBackReference, errno.EPERM),
    (_E.InvalidCharsInPath, errno.EINVAL),
    (_E.InvalidPath, errno.EINVAL),
    (_E.OperationTimeout, errno.ETIMEDOUT),
    (_E.Unsupported, errno.ENOTSUP),
    (_E.FilesystemClosed, errno.EBADF),
)


def oserror(exc: BaseException, path: str) -> OSError:
    """The ``OSError`` for a PyFilesystem2 exception: the errno of the exception it wraps
    (``exc.exc.errno``) first, else the errno of its class, else ``EIO``."""
    inner = getattr(exc, "exc", None)
    code = getattr(inner, "errno", None)
    if not isinstance(code, int):
        code = next((c for cls, c in _BY_CLASS if isinstance(exc, cls)), errno.EIO)
    error = OSError(code, os.strerror(code), path)
    error.__cause__ = exc
    return error


@contextmanager
def _mapped(path: str) -> Iterator[None]:
    try:
        yield
    except _E.FSError as exc:
        raise oserror(exc, path) from exc


def _abs(path: str) -> str:
    return "/" + path.strip("/")


class _PyfsView(AbstractFileSystem):  # type: ignore[misc]
    """The part of fsspec's API the adapter uses, on a PyFilesystem2 ``FS`` object."""

    protocol: ClassVar[str] = "wasifs-pyfs"
    root_marker = ""
    cachable = False

    _DETAILS: ClassVar[list[str]] = ["details", "link"]

    def __init__(self, pyfs: Any) -> None:
        super().__init__()
        self.pyfs = pyfs

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        return str(path).strip("/")

    def _call(self, path: str, fn: Callable[..., _T], *args: Any) -> _T:
        with _mapped(path):
            return fn(*args)

    def _entry(self, path: str, info: Any) -> dict[str, Any]:
        raw = info.raw
        details = raw.get("details") or {}
        target = (raw.get("link") or {}).get("target")
        out: dict[str, Any] = {
            "name": path,
            "type": "directory" if info.is_dir else "file",
            "size": details.get("size") or 0,
            "mtime": details.get("modified"),
        }
        if target is not None:
            out["islink"] = True
            out["destination"] = target
        return out

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        return self._entry(path, self._call(path, self.pyfs.getinfo, _abs(path), self._DETAILS))

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        with _mapped(path):
            entries = [self._entry(f"{path}/{info.name}" if path else info.name, info)
                       for info in self.pyfs.scandir(_abs(path), self._DETAILS)]
        return entries if detail else [e["name"] for e in entries]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        return self._call(path, self.pyfs.openbin, _abs(path), mode.replace("b", ""))

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        return self._open(path, mode)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        self._call(path, self.pyfs.writebytes, _abs(path), bytes(value))

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        self._call(path, self.pyfs.remove, _abs(path))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        if create_parents:
            self._call(path, self.pyfs.makedirs, _abs(path), None, True)
        else:
            self._call(path, self.pyfs.makedir, _abs(path))

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        self._call(path, self.pyfs.removedir, _abs(path))

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        self._call(src, self.pyfs.move, _abs(src), _abs(dst), True)

    def sys_path(self, path: str) -> str | None:
        """The host path of ``path`` (an ``OSFS``), else None."""
        try:
            return str(self.pyfs.getsyspath(_abs(self._strip_protocol(path))))
        except _E.NoSysPath:
            return None


class PyfsBackend(FsspecBackend):
    """A wasifs backend over a PyFilesystem2 ``FS`` object (``fs.memoryfs.MemoryFS()``,
    ``fs.osfs.OSFS(dir)``, ``fs.open_fs(url)`` ...): the fsspec adapter over it (see the
    module documentation). ``root`` is a directory inside it; a filesystem whose meta says
    ``read_only`` is read-only, as is one made with ``readonly=True``."""

    def __init__(self, pyfs: Any, root: str = "", *, readonly: bool = False,
                 spool_memory: int = 8 << 20, max_file_size: int = 64 << 30) -> None:
        if not isinstance(pyfs, fs.base.FS):
            raise TypeError(f"PyfsBackend needs a PyFilesystem2 fs.base.FS, got {pyfs!r} "
                            f"({type(pyfs).__qualname__})")
        with _mapped("/"):
            meta_readonly = bool(pyfs.getmeta().get("read_only", False))
        self.pyfs = pyfs
        self._view = _PyfsView(pyfs)
        super().__init__(self._view, root, readonly=readonly or meta_readonly,
                         dir_markers=False, spool_memory=spool_memory,
                         max_file_size=max_file_size)

    def __repr__(self) -> str:
        ro = "readonly=True, " if self.readonly else ""
        return f"<PyfsBackend {ro}{self.pyfs!r}:{self._base!r}>"

    def _sys_path(self, path: str) -> str | None:
        return self._view.sys_path(path)


def open_pyfs(location: str, **options: Any) -> PyfsBackend:
    """The ``pyfs`` backend name: ``pyfs://FS_URL`` opens ``fs.open_fs(FS_URL)``
    (``pyfs://mem://``, ``pyfs://osfs:///abs/dir``)."""
    if not location:
        raise ValueError("a pyfs backend URL needs a PyFilesystem2 URL after 'pyfs://' "
                         "(pyfs://mem://, pyfs://osfs:///dir)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources", category=Warning)
        import fs.opener

        try:
            opened = fs.opener.open_fs(location)
        except _E.FSError as exc:
            raise oserror(exc, location) from exc
        except fs.opener.errors.OpenerError as exc:
            raise ValueError(f"PyFilesystem2 cannot open {location!r}: {exc}") from exc
    return PyfsBackend(opened, **options)
