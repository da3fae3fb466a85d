"""The error model: ``WasiError`` inside the core, ordinary ``OSError`` outside.

The one place where host errors (``OSError`` with a host errno, or fsspec's errno-less
``FileNotFoundError``) become WASI errnos, and back.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .abi import Errno

__all__ = (
    "WasiError",
    "ProcExit",
    "WasifsError",
    "GuestTrap",
    "MissingExtraError",
    "errno_from_exception",
    "map_oserror",
    "to_oserror",
)


class WasifsError(Exception):
    """Base class of the exceptions wasifs raises on the host side."""


class MissingExtraError(WasifsError, ImportError):
    """An optional part of wasifs was used without its extra installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the optional dependency: pip install 'wasifs[{extra}]'")


class GuestTrap(WasifsError):
    """The guest call ended with a trap that wasifs did not cause on purpose.

    For example ``unreachable``, an out-of-bounds access, a stack overflow, an interrupt, or a
    guest that calls a memory syscall without exporting a memory. ``trap_code`` is the name of
    wasmtime's ``TrapCode`` when there is one (``"UNREACHABLE"``,
    ``"MEMORY_OUT_OF_BOUNDS"``...), else ``None``. The engine's exception is ``__cause__``.
    """

    def __init__(self, message: str, *, trap_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.trap_code = trap_code


class WasiError(Exception):
    """A syscall failed with a WASI errno. Raised inside the core, returned to the guest."""

    __slots__ = ("errno",)

    def __init__(self, errno: int) -> None:
        self.errno = int(errno)
        super().__init__(self.errno)

    def __str__(self) -> str:
        try:
            return f"WASI errno {Errno(self.errno).name} ({self.errno})"
        except ValueError:
            return f"WASI errno {self.errno}"


class ProcExit(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The guest called ``proc_exit``: ends the run with ``code``."""

    def __init__(self, code: int) -> None:
        self.code = int(code)
        super().__init__(f"guest exited with code {self.code}")


# THE table: host errno number -> WASI errno, by symbolic name (host numbers differ per
# platform, and WASI's from all of them: ENOENT is 2 on Linux, WASI NOENT is 44). Every
# OSError a backend or a host stream raises reaches the guest through it, in the core's
# inline ``except OSError`` clauses (no call on the success path) via errno_from_exception.
_BY_NAME: dict[int, int] = {}
for _num, _name in _errno.errorcode.items():
    _key = _name[1:]
    if _key == "2BIG":
        _key = "TOOBIG"
    if _key in Errno.__members__:
        _BY_NAME[_num] = Errno[_key].value
# Aliases that name the same condition differently on some hosts.
for _alias, _target in (("EWOULDBLOCK", Errno.AGAIN), ("EOPNOTSUPP", Errno.NOTSUP),
                        ("ENOTSUP", Errno.NOTSUP), ("EDEADLOCK", Errno.DEADLK)):
    if hasattr(_errno, _alias):
        _BY_NAME.setdefault(getattr(_errno, _alias), _target.value)

#: An exception without an errno (fsspec's ``FileNotFoundError(path)``, a callback's
#: ``NotImplementedError``): the host errno its class stands for, then the table above.
#: (The host-side twin for ``OSError`` is ``wasifs.backends.errno_of``: backends may not
#: import this WASI-speaking module.)
_BY_CLASS: tuple[tuple[type[BaseException], int], ...] = (
    (FileNotFoundError, _errno.ENOENT),
    (FileExistsError, _errno.EEXIST),
    (IsADirectoryError, _errno.EISDIR),
    (NotADirectoryError, _errno.ENOTDIR),
    (PermissionError, _errno.EACCES),
    (InterruptedError, _errno.EINTR),
    (BlockingIOError, _errno.EAGAIN),
    (BrokenPipeError, _errno.EPIPE),
    (TimeoutError, _errno.ETIMEDOUT),
    (NotImplementedError, _errno.ENOTSUP),
)
_IO = int(Errno.IO)


def errno_from_exception(exc: BaseException) -> int:
    """The WASI errno for a host exception: its errno by name first (PyFilesystem2's
    ``FSError`` keeps the ``OSError`` in ``exc.exc``), then its class, else ``EIO``."""
    if isinstance(exc, WasiError):
        return exc.errno
    num = getattr(exc, "errno", None)
    if isinstance(num, int) and num in _BY_NAME:
        return _BY_NAME[num]
    inner = getattr(exc, "exc", None)  # PyFilesystem2 FSError keeps the OSError here
    inner_num = getattr(inner, "errno", None)
    if isinstance(inner_num, int) and inner_num in _BY_NAME:
        return _BY_NAME[inner_num]
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return _BY_NAME.get(code, _IO)
    return _IO


@contextmanager
def map_oserror() -> Iterator[None]:
    """Turn ``OSError`` (and ``NotImplementedError``) raised inside into ``WasiError``."""
    try:
        yield
    except (OSError, NotImplementedError) as exc:
        raise WasiError(errno_from_exception(exc)) from exc


_WASI_TO_HOST: dict[int, int] = {}
for _num, _code in _BY_NAME.items():
    _WASI_TO_HOST.setdefault(_code, _num)


def to_oserror(err: WasiError | int, filename: str | None = None, op: str | None = None) -> OSError:
    """An ``OSError`` (the right subclass, a host errno) for a WASI errno, for host callers."""
    code = err.errno if isinstance(err, WasiError) else int(err)
    host = _WASI_TO_HOST.get(code, _errno.EIO)
    msg = os.strerror(host)
    if op:
        msg = f"{op}: {msg}"
    if filename is None:
        return OSError(host, msg)
    return OSError(host, msg, filename)
