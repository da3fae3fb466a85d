"""Path resolution relative to a directory handle, one component at a time.

The rules (see ``conformance/DIFFERENCES.md`` for the reasoning):
- absolute paths are refused, and so is ``..`` above the directory the walk starts from
  (``Errno.PERM``, as wasmtime answers): a descriptor never reaches outside itself, however
  the path is spelled, as in wasmtime (cap-std); a missing right stays ``Errno.NOTCAPABLE``;
- symlinks are resolved by the VFS, never by a backend: their targets are read and spliced
  into the remaining path; an absolute target is an escape; more than ``MAX_SYMLINKS``
  expansions give ``ELOOP``;
- a trailing slash requires a directory and follows a final symlink;
- backends only ever see one plain name inside a directory handle;
- bounded work: a path or a symlink target of ``PATH_MAX`` (4096) bytes or more, or a name
  of more than ``NAME_MAX`` (255) bytes, is ``ENAMETOOLONG``, as on Linux; the walk is linear
  in what it expands and holds a bounded number of directory handles at any depth.
"""

from __future__ import annotations

import errno as _errno
import stat as _stat
from typing import Any

from ..abi import Errno
from ..backends import MAX_SYMLINKS, NAME_MAX, PATH_MAX, Backend, DirChain, Stat, name_too_long
from ..errors import WasiError, errno_from_exception

__all__ = ("MAX_SYMLINKS", "ESCAPE", "NAME_MAX", "PATH_MAX", "Resolved", "resolve", "close_all",
           "name_too_long", "walk_plain")

#: errno for a path that would leave its directory descriptor (wasmtime's answer; wasi-common
#: and uvwasi said NOTCAPABLE, which wasifs keeps for a missing right)
ESCAPE = Errno.PERM
#: A name of at most this many characters is at most NAME_MAX bytes (4 per character).
_NAME_MAX_CHARS = NAME_MAX // 4
#: The plain fast path takes paths of at most this many components (it holds a handle for
#: each); longer ones go through the general walk, whose DirChain holds a bounded number:
#: the deepest _WINDOW levels and every _STRIDE-th one (and, on the way back up, every
#: _FINE-th of the levels reopened): about 140 at the deepest a walk can reach (some 84,000
#: levels: 41 strings of at most 2,048 components).
_WINDOW = 16
_STRIDE = 1024
_FINE = 64
_PLAIN_MAX = PATH_MAX - 1

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
    """Close the handles a walk opened, every one of them. The guest never saw them, so a
    backend that fails to close one has nothing to report to it: as wasmtime drops its
    directory handles, the failure is not looked at (the call's own answer stands)."""
    for h in handles:
        try:
            backend.close(h)
        except OSError:  # noqa: PERF203 - each handle is closed whatever the others do
            pass


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

    The work is linear in the length of the path and of the symlink targets it expands
    (each at most ``PATH_MAX`` bytes, at most ``MAX_SYMLINKS`` of them), and the walk holds
    a bounded number of directory handles however deep it goes (a :class:`DirChain`).
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
    if len(path) >= PATH_MAX:
        raise WasiError(Errno.NAMETOOLONG)
    trailing = path[-1] == "/"
    pending = path.split("/")
    pending.reverse()
    # How many of the pending components are names (not empty), and how many of those are
    # not "." either: kept up to date so that "is anything left?" costs nothing (scanning
    # the pending list instead made a path of many slashes quadratic).
    named = len(pending) - pending.count("")
    moving = named - pending.count(".")
    chain = DirChain(backend, base, owned=False, window=_WINDOW, stride=_STRIDE,
                     fine=_FINE)
    links = 0
    try:
        while pending:
            comp = pending.pop()
            if not comp or comp == ".":
                if comp:
                    named -= 1
                if not moving:
                    return _here(chain, None, _NOT_LOOKED_UP, trailing)
                continue
            named -= 1
            moving -= 1
            if comp == "..":
                if not chain.depth:
                    raise WasiError(ESCAPE)
                chain.pop()
                if not moving:
                    return _here(chain, None, _NOT_LOOKED_UP, trailing)
                continue
            if len(comp) > _NAME_MAX_CHARS and name_too_long(comp):
                raise WasiError(Errno.NAMETOOLONG)
            cur = chain.top
            if named:
                try:
                    chain.push(backend.opendir(cur, comp), comp)
                    continue
                except OSError as exc:
                    if exc.errno != _errno.ELOOP:
                        raise _oserr(exc) from exc
                    target = _readlink(backend, cur, comp)
            else:
                if not (follow or trailing):
                    return _here(chain, comp, _NOT_LOOKED_UP, trailing)
                try:
                    st = backend.lstat(cur, comp)
                except FileNotFoundError:
                    return _here(chain, comp, None, trailing)
                except OSError as exc:
                    raise _oserr(exc) from exc
                if entry and not follow:
                    return _here(chain, comp, st, trailing)
                if not _stat.S_ISLNK(st.mode):
                    if trailing and not _stat.S_ISDIR(st.mode):
                        raise WasiError(Errno.NOTDIR)
                    return _here(chain, comp, st, trailing)
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
            if len(target) >= PATH_MAX:  # a backend that let one through (Linux cannot)
                raise WasiError(Errno.NAMETOOLONG)
            parts = target.split("/")
            parts.reverse()
            pending.extend(parts)
            more = len(parts) - parts.count("")
            named += more
            moving += more - parts.count(".")
        # only reachable when every component was empty or "." (handled above)
        return _here(chain, None, _NOT_LOOKED_UP, trailing)  # pragma: no cover
    except OSError as exc:  # a level reopened on the way back up was moved (ESTALE)
        chain.close()
        raise _oserr(exc) from exc
    except BaseException:
        chain.close()
        raise


def _here(chain: DirChain, name: str | None, stat: Stat | None, trailing: bool) -> Resolved:
    """The result of a walk that ended in the chain's top directory."""
    top = chain.top
    return Resolved(top, name, stat, chain.detach(), trailing)


def _resolve_plain(backend: Backend, base: Any, path: str, follow: bool) -> Resolved | None:
    """The common case, quickly: ``a/b/c`` with no empty, ``.`` or ``..`` component and no
    symlink on the way (:func:`walk_plain`). None when the general walk must decide (nothing
    is left open)."""
    walked = walk_plain(backend, base, path)
    if walked is None:
        return None
    cur, name, owned = walked  # owned may be the shared empty list: Resolved never grows it
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


_PLAIN_BAD = frozenset(("", ".", ".."))
_NO_HANDLES: list[Any] = []  # never appended to: a walk of one name opens nothing


def walk_plain(backend: Backend, base: Any, path: str) -> tuple[Any, str, list[Any]] | None:
    """``(dir, name, owned)`` for a plain path (what :func:`_resolve_plain` takes: ``name``
    or ``a/b/name``, no empty, ``.`` or ``..`` component, no NUL, no over-long name), without
    looking at the final entry: the directory handle holding the last component, its name,
    and the handles opened on the way (the caller closes them with :func:`close_all`; the
    list is empty for one name and must not be changed). None when the general walk must
    decide (a path that is not plain, a symlink on the way; nothing is left open). Raises
    ``WasiError`` as :func:`resolve` does. This is ``resolve(backend, base, path, False)``
    of such a path without the :class:`Resolved` (the hot path of open, create and
    unlink)."""
    if len(path) > _PLAIN_MAX or "\x00" in path:
        return None
    parts = path.split("/")
    if len(parts) > _WINDOW or not _PLAIN_BAD.isdisjoint(parts):
        return None
    name = parts.pop()
    if len(name) > _NAME_MAX_CHARS and name_too_long(name):
        return None
    if not parts:
        return base, name, _NO_HANDLES
    owned: list[Any] = []
    cur = base
    try:
        for comp in parts:
            if len(comp) > _NAME_MAX_CHARS and name_too_long(comp):
                close_all(backend, owned)
                return None
            cur = backend.opendir(cur, comp)
            owned.append(cur)
    except OSError as exc:
        close_all(backend, owned)
        if exc.errno == _errno.ELOOP:
            return None  # a symlink on the way: the general walk resolves it
        raise _oserr(exc) from exc
    return cur, name, owned


def _readlink(backend: Backend, dir: Any, name: str) -> str:
    try:
        return backend.readlink(dir, name)
    except OSError as exc:
        if exc.errno == _errno.EINVAL:
            # not a symlink after all: a real ELOOP from the backend, or a race
            raise WasiError(Errno.LOOP) from exc
        raise _oserr(exc) from exc
