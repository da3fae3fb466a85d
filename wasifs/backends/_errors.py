"""Host-side ``OSError`` helpers: the errno of a backend's exception, and the one place where
an exception that names one path component (as backends raise them) is re-raised naming the
full path(s) the caller was given.

Used by the host-side walker, the fsspec facade, :class:`wasifs.path.Path` and
:mod:`wasifs.transfer`. (The WASI errno map is :mod:`wasifs.errors`; backends know nothing of
WASI.)
"""

from __future__ import annotations

import errno
import os

__all__ = ("errno_of", "relabel")

_BY_CLASS: tuple[tuple[type[OSError], int], ...] = (
    (FileNotFoundError, errno.ENOENT),
    (FileExistsError, errno.EEXIST),
    (IsADirectoryError, errno.EISDIR),
    (NotADirectoryError, errno.ENOTDIR),
    (PermissionError, errno.EACCES),
)


def errno_of(exc: OSError) -> int:
    """The host errno of a backend's exception: ``exc.errno``, or for an errno-less one (as
    fsspec raises ``FileNotFoundError(path)``) the errno of its class; else ``EIO``."""
    if isinstance(exc.errno, int):
        return exc.errno
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    return errno.EIO


def relabel(what: OSError | int, filename: str, filename2: str | None = None) -> OSError:
    """The ``OSError`` subclass for ``what`` (a backend's exception or an errno) naming the
    path(s), as ``os`` functions raise them: ``[Errno 2] No such file or directory: '/a'``.

    A backend's own explanation (a message that is not empty and not already a formatted
    ``[Errno ...]`` text) is kept; otherwise the message is ``os.strerror(errno)``.
    """
    if isinstance(what, int):
        code, msg = what, os.strerror(what)
    else:
        code = errno_of(what)
        msg = what.strerror if isinstance(what.strerror, str) and what.strerror else ""
        if not msg or msg.startswith("[Errno"):
            msg = os.strerror(code)
    if filename2 is None:
        return OSError(code, msg, filename)
    return OSError(code, msg, filename, None, filename2)
