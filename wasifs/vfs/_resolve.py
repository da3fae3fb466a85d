"""Path resolution relative to a directory handle, one component at a time.

The rules (see ``conformance/DIFFERENCES.md`` for the reasoning):
- absolute paths are refused, and so is ``..`` above the directory the walk starts from
  (``Errno.PERM``, as wasmtime answers): a descriptor never reaches outside itself, however
  the path is spelled, as in wasmtime (cap-std); a missing right stays ``Errno.NOTCAPABLE``;
- symlinks are resolved by the VFS, never by a backend: their targets are read and spliced
  into the remaining path; an absolute target is an escape; more than ``MAX_SYMLINKS``
  expansions give ``ELOOP``;
- a trailing slash requires a directory and follows a final symlink;
- backends only ever see one plain name inside a directory handle.
"""

from __future__ import annotations

import errno as _errno
import stat as _stat
from typing import Any

from ..abi import Errno
from ..backends._protocol import Backend, Stat
from ..backends._walk import MAX_SYMLINKS
from ..errors import WasiError, errno_from_exception

__all__ = ("MAX_SYMLINKS", "ESCAPE", "Resolved", "resolve", "close_all")

#: errno for a path that would leave its directory descriptor (wasmtime's answer; wasi-common
#: and uvwasi said NOTCAPABLE, which wasifs keeps for a missing right)
ESCAPE = Errno.PERM
NAME_MAX = 255
PATH_MAX = 4096

_NOT_LOOKED_UP: Any = object()
_S_IFLNK = _stat.S_IFLNK


class Resolved:
    """Where a path leads: the directory handle ``dir`` and the final ``name`` in it.

    ``name`` is None when the path names ``dir`` itself (``.``, ``a/..``). ``stat`` is the
    final entry's ``lstat`` when the walk looked at it (None: it does not exist;
    ``NOT_LOOKED_UP``: not looked at). ``owned`` lists the handles the walk opened; the
    caller closes them with :func:`close_all` (``dir`` may be one of them).
    """

    __slots__ = ("dir", "name", "stat", "owned", "trailing_slash")

    NOT_LOOKED_UP: Any = _NOT_LOOKED_UP

    def __init__(self, dir: Any, name: str | None, stat: Stat | None, owned: list[Any],
                 trailing_slash: bool) -> None:
        self.dir = dir
        self.name = name
        self.stat = stat
        self.owned = owned
        self.trailing_slash = trailing_slash


def close_all(backend: Backend, handles: list[Any]) -> None:
    for h in handles:
        backend.close(h)


def _oserr(exc: OSError) -> WasiError:
    return WasiError(errno_from_exception(exc))


def resolve(backend: Backend, base: Any, path: str, follow: bool, *,
            entry: bool = False) -> Resolved:
    """Walk ``path`` from the directory handle ``base`` (see the module docstring).

    ``follow``: resolve a symlink in the final component too. ``entry``: the caller acts on
    the directory entry itself (mkdir, rmdir, unlink, rename, the new name of link/symlink):
    a trailing slash then neither follows a final symlink nor fails on a non-directory; the
    entry's ``lstat`` is returned for the caller to judge (as Linux: ``rmdir link/`` is
    ENOTDIR, ``mkdir file/`` EEXIST). Raises ``WasiError``.
    """
    fast = _resolve_plain(backend, base, path, follow)  # never with a trailing slash
    if fast is not None:
        return fast
    if not path:
        raise WasiError(Errno.NOENT)
    if path[0] == "/":
        raise WasiError(ESCAPE)
    if "\x00" in path:
        raise WasiError(Errno.INVAL)
    if len(path) > PATH_MAX:
        raise WasiError(Errno.NAMETOOLONG)
    trailing = path[-1] == "/"
    pending = path.split("/")
    pending.reverse()
    stack = [base]
    links = 0
    try:
        while pending:
            comp = pending.pop()
            if not comp or comp == ".":
                if not any(p and p != "." for p in pending):
                    return Resolved(stack[-1], None, _NOT_LOOKED_UP, stack[1:], trailing)
                continue
            if comp == "..":
                if len(stack) == 1:
                    raise WasiError(ESCAPE)
                backend.close(stack.pop())
                if not any(p and p != "." for p in pending):
                    return Resolved(stack[-1], None, _NOT_LOOKED_UP, stack[1:], trailing)
                continue
            if len(comp) > NAME_MAX:
                raise WasiError(Errno.NAMETOOLONG)
            last = not any(p for p in pending)
            cur = stack[-1]
            if not last:
                try:
                    stack.append(backend.opendir(cur, comp))
                    continue
                except OSError as exc:
                    if exc.errno != _errno.ELOOP:
                        raise _oserr(exc) from exc
                    target = _readlink(backend, cur, comp)
            else:
                if not (follow or trailing):
                    return Resolved(cur, comp, _NOT_LOOKED_UP, stack[1:], trailing)
                try:
                    st = backend.lstat(cur, comp)
                except FileNotFoundError:
                    return Resolved(cur, comp, None, stack[1:], trailing)
                except OSError as exc:
                    raise _oserr(exc) from exc
                if entry and not follow:
                    return Resolved(cur, comp, st, stack[1:], trailing)
                if not _stat.S_ISLNK(st.mode):
                    if trailing and not _stat.S_ISDIR(st.mode):
                        raise WasiError(Errno.NOTDIR)
                    return Resolved(cur, comp, st, stack[1:], trailing)
                target = _readlink(backend, cur, comp)
                # the trailing-slash requirement carries over to the link's target, and a
                # target that ends in "/" makes one
                if target.endswith("/"):
                    trailing = True
            links += 1
            if links > MAX_SYMLINKS:
                raise WasiError(Errno.LOOP)
            if not target:
                raise WasiError(Errno.NOENT)
            if target[0] == "/":
                raise WasiError(ESCAPE)
            parts = target.split("/")
            parts.reverse()
            pending.extend(parts)
        # only reachable when every component was empty or "." (handled above)
        return Resolved(stack[-1], None, _NOT_LOOKED_UP, stack[1:], trailing)  # pragma: no cover
    except BaseException:
        close_all(backend, stack[1:])
        raise


def _resolve_plain(backend: Backend, base: Any, path: str, follow: bool) -> Resolved | None:
    """The common case, quickly: ``a/b/c`` with no empty, ``.`` or ``..`` component and no
    symlink on the way. None when the general walk must decide (nothing is left open)."""
    if "\x00" in path or len(path) > PATH_MAX:
        return None
    parts = path.split("/")
    if "" in parts or "." in parts or ".." in parts:
        return None
    name = parts.pop()
    if len(name) > NAME_MAX:
        return None
    owned: list[Any] = []
    cur = base
    try:
        for comp in parts:
            if len(comp) > NAME_MAX:
                close_all(backend, owned)
                return None
            cur = backend.opendir(cur, comp)
            owned.append(cur)
    except OSError as exc:
        close_all(backend, owned)
        if exc.errno == _errno.ELOOP:
            return None  # a symlink on the way: the general walk resolves it
        raise _oserr(exc) from exc
    if not follow:
        return Resolved(cur, name, _NOT_LOOKED_UP, owned, False)
    try:
        st = backend.lstat(cur, name)
    except FileNotFoundError:
        return Resolved(cur, name, None, owned, False)
    except OSError as exc:
        close_all(backend, owned)
        raise _oserr(exc) from exc
    if st[2] & 0o170000 != _S_IFLNK:
        return Resolved(cur, name, st, owned, False)
    close_all(backend, owned)
    return None  # a final symlink to follow


def _readlink(backend: Backend, dir: Any, name: str) -> str:
    try:
        return backend.readlink(dir, name)
    except OSError as exc:
        if exc.errno == _errno.EINVAL:
            # not a symlink after all: a real ELOOP from the backend, or a race
            raise WasiError(Errno.LOOP) from exc
        raise _oserr(exc) from exc
