"""The sandbox backend: limits, hidden paths and rate limits over any other backend.

:class:`SandboxFileSystem` wraps a backend (memory, a host directory, an overlay, a
third-party backend) and passes every call through after checking it against what the host
allows the guest:

- ``readonly=True``: every change answers ``EROFS`` (the inner backend stays writable for the
  host);
- ``hide=[globs]``: matching paths are invisible, as if absent: lookups answer ``ENOENT`` and
  listings leave them out; creating (or renaming onto, or linking to) a hidden name answers
  ``EACCES``, whether or not it exists below, so the refusal tells nothing;
- ``quota=Quota(...)``: bytes stored, files, directories, open handles, the size of one file,
  path length and directory depth; an exceeded quota answers what a real filesystem answers
  (see :class:`Quota`) and never leaves a partial state;
- ``rate=Rate(...)``: operations and bytes per second; a call over the rate sleeps (through
  the run's :class:`~wasifs.interrupt.CancelToken` when given one, so a cancelled run stops
  at once).

Hidden paths
------------
Patterns are matched against the path from the sandbox's root, one component at a time
(``fnmatch`` rules, case-sensitive, no special meaning of a leading ``.``):

- a pattern without ``/`` (``*.key``, ``.env``; a trailing ``/`` does not count) matches a
  name at any depth;
- a pattern with ``/`` (``secrets/*.pem``, ``/etc/shadow``) is anchored at the root (a
  leading ``/`` changes nothing); a component ``**`` matches any number of components
  (``data/**/tmp``); ``**/NAME`` is the same as ``NAME``.

A hidden directory hides everything below it. The guest's path resolution goes through the
sandbox one name at a time, so no spelling (``..``, symlinks, a symlinked directory in the
middle) reaches a hidden entry. The inner backend still holds what is hidden: a directory
whose only entries are hidden lists as empty but cannot be removed (``ENOTEMPTY``). Renaming a
directory below which an anchored pattern could match (at its old or new place) answers
``EXDEV``, so that a rename never uncovers what a pattern hides (``mv`` then copies the
visible entries and removes the source, which fails on hidden leftovers).

Accounting
----------
With a ``bytes``, ``files`` or ``dirs`` quota, the sandbox walks the inner backend once when
it is made (everything in it, hidden entries included) and then keeps the counts exact
through every change made through it:

- ``bytes`` is the sum of the sizes (``st_size``: the apparent size, holes included) of the
  regular files and symlinks (a symlink's size is its target's length), each inode counted
  once however many hard links it has;
- ``files`` is the number of non-directory inodes (regular files, symlinks, and whatever else
  the inner backend holds), hard links counted once;
- ``dirs`` is the number of directories below the root (the root is not counted).

A write that grows a file is charged the growth, a truncate, an ``unlink`` of the last link,
a rename onto an existing entry and an overwrite credit what they free. As on a real
filesystem, a file removed while it is open keeps its bytes and its inode until its last
handle is closed. Changes made to the inner backend by anything but this sandbox (another
process, the host through the inner backend) are not seen; :meth:`SandboxFileSystem.recount`
walks the inner backend again. A file that also has hard links outside the sandbox's view
(a host directory) stays counted after its last visible name goes.

Errors, in the order they are checked: a hidden name (``ENOENT``, or ``EACCES`` to create),
``EROFS``, then the quotas.

Threads: every call that changes the namespace or the counts holds the sandbox's lock, so
several guests may share one sandbox; reads pass through without it.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from fnmatch import translate
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import Any, NamedTuple, Protocol

from ._facade import HandleFileSystem
from ._protocol import Backend, DirEntry, Stat
from ._walk import DirChain, TreeWalk


class CancelToken(Protocol):
    """What the sandbox needs of a :class:`wasifs.CancelToken`: a sleep that raises once
    the run is cancelled."""

    def sleep(self, seconds: float) -> None: ...

__all__ = ("SandboxFileSystem", "Quota", "Rate", "Usage", "parse_size")

_S_IFMT = 0o170000
_S_IFDIR = 0o040000


def _error(code: int, name: str | None = None) -> OSError:
    if name is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), name)


def _blen(name: str) -> int:
    """The length of a name in bytes, as the host would store it."""
    return len(name.encode("utf-8", "surrogateescape"))


_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*\Z", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """A size in bytes from ``"123"``, ``"64K"``, ``"1M"``, ``"2G"`` (binary suffixes:
    ``1M`` = 1,048,576; ``KiB``/``MB`` spellings are accepted) or an ``int``."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"a size cannot be negative: {text}")
        return text
    if not isinstance(text, str):
        raise TypeError(f"a size must be an int or a str such as '1M', not {type(text).__name__}")
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"not a size: {text!r} (expected a number of bytes with an optional "
                         "K, M, G or T suffix, for example '64K' or '1M')")
    return int(m.group(1)) * _SUFFIXES[m.group(2).upper()]


def _parse_spec(cls: str, spec: str, names: Iterable[str]) -> dict[str, str]:
    known = set(names)
    out: dict[str, str] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise ValueError(f"bad {cls} item {item!r} in {spec!r}: expected NAME=VALUE with "
                             f"NAME one of {', '.join(sorted(known))}")
        if key in out:
            raise ValueError(f"{cls} item {key!r} given twice in {spec!r}")
        out[key] = value.strip()
    return out


@dataclass(frozen=True)
class Quota:
    """Limits on what a guest may store and hold through a :class:`SandboxFileSystem`; None
    (the default) is no limit.

    ========================  ==========================================  ==================
    field                     limits                                      exceeded: errno
    ========================  ==========================================  ==================
    ``bytes``                 bytes stored (file sizes, inode once)       ``full``
    ``files``                 non-directory inodes                        ``full``
    ``dirs``                  directories below the root                  ``full``
    ``fds``                   handles open at once                        ``EMFILE``
    ``file_size``             the size of one file                        ``EFBIG``
    ``path_length``           bytes of a new entry's path from the root   ``ENAMETOOLONG``
    ``depth``                 components of a new entry's path            ``ENAMETOOLONG``
    ========================  ==========================================  ==================

    ``full`` is ``errno.ENOSPC`` (the default: the filesystem is full, what every program
    expects) or ``errno.EDQUOT`` (the user's quota is exhausted). A write that does not fit
    writes what fits and returns the short count, as POSIX allows, or fails with the errno
    when nothing fits; ``ftruncate``/``fd_allocate`` beyond the room fail whole. ``fds``
    counts every handle the sandbox has open, the directories the guest's path lookups open
    for a moment included, so give it some room above the descriptors a guest keeps.
    ``path_length`` and ``depth`` apply to entries being created (and to a directory moved
    deeper, whose whole subtree is checked): ``a/b/c`` has depth 3 and length 5.

    :meth:`parse` reads ``"bytes=1M,files=100,fds=64"`` (sizes with binary suffixes).
    """

    bytes: int | None = None
    files: int | None = None
    dirs: int | None = None
    fds: int | None = None
    file_size: int | None = None
    path_length: int | None = None
    depth: int | None = None
    full: int = errno.ENOSPC

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "full":
                if value not in (errno.ENOSPC, errno.EDQUOT):
                    raise ValueError(f"Quota.full must be errno.ENOSPC or errno.EDQUOT, "
                                     f"got {value!r}")
                continue
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Quota.{f.name} must be a non-negative int or None, "
                                 f"got {value!r}")

    @classmethod
    def parse(cls, spec: str) -> Quota:
        """A quota from ``"bytes=1M,files=100,dirs=10,fds=64,file_size=64K,path_length=1024,
        depth=32"`` (any subset; ``full=EDQUOT`` picks that errno)."""
        items = _parse_spec("quota", spec, (f.name for f in fields(cls)))
        values: dict[str, Any] = {}
        for key, value in items.items():
            if key == "full":
                code = getattr(errno, value.upper(), None)
                if code not in (errno.ENOSPC, errno.EDQUOT):
                    raise ValueError(f"quota full= must be ENOSPC or EDQUOT, got {value!r}")
                values[key] = code
            elif key in ("bytes", "file_size"):
                values[key] = parse_size(value)
            else:
                if not value.isdigit():
                    raise ValueError(f"quota {key}= needs a whole number, got {value!r}")
                values[key] = int(value)
        return cls(**values)


@dataclass(frozen=True)
class Rate:
    """Rate limits of a :class:`SandboxFileSystem` (None: no limit).

    ``ops_per_s``: protocol calls per second (every call but ``close`` costs one);
    ``bytes_per_s``: bytes read and written per second. ``burst`` is how many seconds' worth
    of calls (or bytes) may go through at once after a quiet time (default 0.1 s). A call
    over the rate waits (before it runs) until it is within it.
    """

    ops_per_s: float | None = None
    bytes_per_s: float | None = None
    burst: float = 0.1

    def __post_init__(self) -> None:
        for name in ("ops_per_s", "bytes_per_s"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Rate.{name} must be a positive number or None, got {value!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, (int, float)) \
                or not self.burst >= 0:
            raise ValueError(f"Rate.burst must be a non-negative number, got {self.burst!r}")

    @classmethod
    def parse(cls, spec: str) -> Rate:
        """A rate from ``"ops_per_s=1000,bytes_per_s=10M,burst=0.5"``."""
        items = _parse_spec("rate", spec, (f.name for f in fields(cls)))
        values: dict[str, Any] = {}
        for key, value in items.items():
            if key == "bytes_per_s":
                values[key] = parse_size(value)
            else:
                try:
                    values[key] = float(value)
                except ValueError:
                    raise ValueError(f"rate {key}= needs a number, got {value!r}") from None
        return cls(**values)


class Usage(NamedTuple):
    """What a sandbox counts: ``bytes`` stored, ``files`` (non-directory inodes), ``dirs``
    (below the root) and ``fds`` (handles open now)."""

    bytes: int
    files: int
    dirs: int
    fds: int


# --- hidden paths ------------------------------------------------------------------------------
class _Hider:
    """The ``hide`` patterns, compiled: one regular expression for the name patterns, and
    the anchored ones as lists of components run as small automata (a state is the index of
    the next component to match)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        names: list[str] = []
        anchored: list[tuple[str, ...]] = []
        for pattern in patterns:
            if not isinstance(pattern, str):
                raise TypeError(f"hide patterns must be str, got {pattern!r}")
            parts = [p for p in pattern.split("/") if p]
            if not parts or any(p in (".", "..") for p in parts) or "\x00" in pattern:
                raise ValueError(f"bad hide pattern {pattern!r}: it needs at least one "
                                 "component and no '.', '..' or NUL")
            while len(parts) > 1 and parts[0] == "**" and parts[1] == "**":
                parts.pop(0)
            if len(parts) == 2 and parts[0] == "**" and parts[1] != "**":
                parts = parts[1:]  # **/NAME is NAME at any depth
                pattern = parts[0]
            if len(parts) == 1 and "/" not in pattern.rstrip("/"):
                if parts[0] == "**":
                    raise ValueError(f"hide pattern {pattern!r} would hide everything")
                names.append(parts[0])
            else:
                anchored.append(tuple(parts))
        self._names = re.compile("|".join(f"(?:{translate(n)})" for n in names)) \
            if names else None
        self.anchored = tuple(anchored)
        #: each anchored pattern's components as matchers (None for ``**``)
        self._matchers = tuple(
            tuple(None if part == "**" else re.compile(translate(part)).match for part in pat)
            for pat in self.anchored)
        self.start: tuple[frozenset[int], ...] | None = tuple(
            self._closure(pat, {0}) for pat in self.anchored) or None

    @staticmethod
    def _closure(pat: tuple[str, ...], states: Iterable[int]) -> frozenset[int]:
        out = set(states)
        todo = list(out)
        while todo:
            i = todo.pop()
            if i < len(pat) and pat[i] == "**" and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return frozenset(out)

    def advance(self, states: tuple[frozenset[int], ...] | None,
                name: str) -> tuple[frozenset[int], ...] | None:
        """The automata's states after one more component (None: no pattern can match at or
        below any more)."""
        if states is None:
            return None
        out: list[frozenset[int]] = []
        alive = False
        for pat, matchers, current in zip(self.anchored, self._matchers, states, strict=True):
            nxt: set[int] = set()
            for i in current:
                if i < len(pat):
                    match = matchers[i]
                    if match is None:
                        nxt.add(i)
                    elif match(name):
                        nxt.add(i + 1)
            closed = self._closure(pat, nxt) if nxt else frozenset()
            alive = alive or bool(closed)
            out.append(closed)
        return tuple(out) if alive else None

    def hides(self, states: tuple[frozenset[int], ...] | None, name: str) -> bool:
        """Whether ``name`` in a directory whose automata are in ``states`` is hidden."""
        names = self._names
        if names is not None and names.match(name):
            return True
        if states is None:
            return False
        return self.matched(self.advance(states, name))

    def matched(self, after: tuple[frozenset[int], ...] | None) -> bool:
        """Whether states reached after a name mean that the name is hidden by an anchored
        pattern."""
        if after is None:
            return False
        return any(len(pat) in s for pat, s in zip(self.anchored, after, strict=True))

    def below(self, states: tuple[frozenset[int], ...] | None) -> bool:
        """Whether an anchored pattern could match strictly below the directory in
        ``states``."""
        if states is None:
            return False
        return any(i < len(pat) for pat, s in zip(self.anchored, states, strict=True)
                   for i in s)

    def states_of(self, path: tuple[str, ...]) -> tuple[frozenset[int], ...] | None:
        states = self.start
        for name in path:
            states = self.advance(states, name)
        return states


class _SDir:
    """A directory handle of the sandbox: the inner handle and where it is."""

    __slots__ = ("h", "path", "plen", "states", "__weakref__")

    def __init__(self, h: Any, path: tuple[str, ...], plen: int,
                 states: tuple[frozenset[int], ...] | None) -> None:
        self.h = h
        self.path = path
        self.plen = plen  # bytes of "a/b/c"
        self.states = states

    def __repr__(self) -> str:
        return f"<sandbox dir /{'/'.join(self.path)}>"


class _Node:
    """An open inode's accounting: its size as the sandbox knows it, its open handles, and
    whether its last name went while it was open (credited at its last close)."""

    __slots__ = ("size", "opens", "orphan")

    size: int | None  # None: not asked yet (opened read-only); fstat on first need

    def __init__(self, size: int | None) -> None:
        self.size = size
        self.opens = 0
        self.orphan = False


class _Open:
    """One inner file handle (a backend may give the same object for several opens)."""

    __slots__ = ("node", "key", "count", "handle")

    def __init__(self, node: _Node, key: tuple[int, int], handle: Any) -> None:
        self.node = node
        self.key = key
        self.count = 1
        self.handle = handle


class _Bucket:
    """A rate: the time (``time.monotonic``) when the next unit is free, GCRA style."""

    __slots__ = ("interval", "burst", "next")

    def __init__(self, per_s: float, burst: float) -> None:
        self.interval = 1.0 / per_s
        self.burst = burst
        self.next = 0.0

    def take(self, units: float, now: float) -> float:
        """Charge ``units``; returns how long to wait before going on."""
        start = max(self.next, now - self.burst)
        self.next = start + units * self.interval
        return max(0.0, start - now)


def _restore(cls: type[SandboxFileSystem], inner: Backend,
             options: dict[str, Any]) -> SandboxFileSystem:
    return cls(inner, **options)


class SandboxFileSystem(HandleFileSystem):
    """``inner`` as the guest may use it: read-only, hidden paths, quotas and rate limits
    (see the module documentation); also an fsspec filesystem (protocol
    ``"wasifs-sandbox"``).

    ``inner`` is a backend or anything :func:`~wasifs.backends.open_backend` takes (a URL, a
    host directory). ``quota`` is a :class:`Quota`, a mapping of its fields or a spec string
    (``"bytes=1M,files=100"``); ``rate`` a :class:`Rate`, a mapping or a spec string.
    Waits for the rate go through ``cancel.sleep`` when a
    :class:`~wasifs.interrupt.CancelToken` is given (give the run's token, so that cancelling
    the run ends a wait at once), else through ``sleep`` (default :func:`time.sleep`).

    :attr:`usage` is what is counted now; :meth:`recount` walks the inner backend again.
    """

    protocol = "wasifs-sandbox"
    #: :func:`wasifs.lock` locks in the inner backend's space (the same namespace)
    locks_pass_through = True

    def __init__(self, inner: Any, *, readonly: bool = False, hide: Iterable[str] = (),
                 quota: Quota | Mapping[str, Any] | str | None = None,
                 rate: Rate | Mapping[str, Any] | str | None = None,
                 cancel: CancelToken | None = None,
                 sleep: Callable[[float], object] | None = None,
                 auto_mkdir: bool = False, **storage_options: Any) -> None:
        super().__init__(auto_mkdir=auto_mkdir, **storage_options)
        from ._registry import open_backend

        self.inner: Backend = inner if isinstance(inner, Backend) else open_backend(inner)
        self._readonly = bool(readonly)
        if isinstance(hide, str):
            hide = [hide]
        self.hide: tuple[str, ...] = tuple(hide)
        self._hider = _Hider(self.hide) if self.hide else None
        self.quota = _coerce(Quota, quota)
        self.rate = _coerce(Rate, rate)
        if cancel is not None and sleep is not None:
            raise ValueError("give either cancel= or sleep=, not both")
        self.cancel = cancel
        self._sleep: Callable[[float], object] = (
            cancel.sleep if cancel is not None else sleep if sleep is not None else time.sleep)
        self._lock = threading.Lock()
        self._token = os.urandom(16).hex()
        q = self.quota
        #: whether bytes, files and directories are counted (a storage quota is set)
        self.tracking = q.bytes is not None or q.files is not None or q.dirs is not None
        self._bytes = self._files = self._dirs = 0
        self._nfiles = 0  # open file handles (directory handles: len(self._dirs_open))
        #: open inodes by (st_dev, st_ino), and open inner file handles by id (tracking only)
        self._nodes: dict[tuple[int, int], _Node] = {}
        self._handles: dict[int, _Open] = {}
        #: open directory handles (their paths follow renames)
        self._dirs_open: set[_SDir] = set()
        self._paths = q.path_length is not None or q.depth is not None
        r = self.rate
        self._ops = _Bucket(r.ops_per_s, r.burst) if r.ops_per_s is not None else None
        self._bps = _Bucket(r.bytes_per_s, r.burst) if r.bytes_per_s is not None else None
        self._rate_lock = threading.Lock()
        self._limited = self._ops is not None or self._bps is not None
        if not self._limited:
            self.pread = self.inner.pread  # type: ignore[method-assign]
        if self.tracking:
            self._bytes, self._files, self._dirs = _count(self.inner)

    # --- identity -----------------------------------------------------------------------
    @property
    def readonly(self) -> bool:
        """True when every change answers ``EROFS`` (set here, or the inner backend is)."""
        return self._readonly or bool(getattr(self.inner, "readonly", False))

    @readonly.setter
    def readonly(self, value: bool) -> None:
        self._readonly = bool(value)

    @property
    def _fs_token(self) -> str:
        return self._token

    @property
    def fsid(self) -> str:
        return f"wasifs-sandbox-{self._token}"

    def __repr__(self) -> str:
        extra = []
        if self._readonly:
            extra.append("readonly=True")
        if self.hide:
            extra.append(f"hide={list(self.hide)!r}")
        if self.quota != Quota():
            extra.append(f"quota={self.quota!r}")
        if self.rate != Rate():
            extra.append(f"rate={self.rate!r}")
        return f"<SandboxFileSystem {self.inner!r}{''.join(', ' + e for e in extra)}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.inner,
                           {"readonly": self._readonly, "hide": self.hide, "quota": self.quota,
                            "rate": self.rate, "auto_mkdir": self.auto_mkdir}))

    @property
    def usage(self) -> Usage:
        """What is counted now (bytes, files and dirs stay 0 without a storage quota)."""
        with self._lock:
            return Usage(self._bytes, self._files, self._dirs, self._fds)

    @property
    def _fds(self) -> int:
        return len(self._dirs_open) + self._nfiles

    def recount(self) -> Usage:
        """Walk the inner backend and take what it holds as the counts (after changes made
        past the sandbox); returns the new :attr:`usage`. Files removed but still open stay
        counted."""
        with self._lock:
            counted = _count(self.inner)
            if self.tracking:
                self._bytes, self._files, self._dirs = counted
                for o in self._handles.values():  # sizes as the inner backend has them
                    o.node.size = self.inner.fstat(o.handle).size
                for node in self._nodes.values():
                    if node.orphan:
                        self._bytes += node.size or 0
                        self._files += 1
            return Usage(self._bytes, self._files, self._dirs, self._fds)

    # --- checks --------------------------------------------------------------------------
    def _wait(self, ops: int, nbytes: int) -> None:
        now = time.monotonic()
        wait = 0.0
        with self._rate_lock:
            if self._ops is not None and ops:
                wait = self._ops.take(ops, now)
            if self._bps is not None and nbytes:
                wait = max(wait, self._bps.take(nbytes, now))
        if wait > 0:
            self._sleep(wait)

    def _visible(self, d: _SDir, name: str) -> None:
        """ENOENT for a hidden name."""
        hider = self._hider
        if hider is not None and hider.hides(d.states, name):
            raise _error(errno.ENOENT, name)

    def _creatable(self, d: _SDir, name: str) -> None:
        """EACCES for a hidden name, EROFS on a read-only sandbox, ENAMETOOLONG past the path
        limits (for a new entry ``name`` in ``d``)."""
        hider = self._hider
        if hider is not None and hider.hides(d.states, name):
            raise _error(errno.EACCES, name)
        if self.readonly:
            raise _error(errno.EROFS, name)
        if self._paths:
            self._check_path(d, name, 0, 0)

    def _path_fits(self, d: _SDir, name: str) -> bool:
        """Whether a new entry ``name`` in ``d`` is within the path limits."""
        q = self.quota
        if q.depth is not None and len(d.path) + 1 > q.depth:
            return False
        limit = q.path_length
        return limit is None or d.plen + 1 + len(name) * 4 <= limit or \
            d.plen + (1 if d.path else 0) + _blen(name) <= limit

    def _check_path(self, d: _SDir, name: str, below_depth: int, below_len: int) -> None:
        q = self.quota
        if q.depth is not None and len(d.path) + 1 + below_depth > q.depth:
            raise _error(errno.ENAMETOOLONG, name)
        if q.path_length is not None:
            length = d.plen + (1 if d.path else 0) + _blen(name)
            if below_len:
                length += 1 + below_len
            if length > q.path_length:
                raise _error(errno.ENAMETOOLONG, name)

    def _full(self, name: str | None = None) -> OSError:
        return _error(self.quota.full, name)

    def _room(self) -> int | None:
        limit = self.quota.bytes
        return None if limit is None else max(0, limit - self._bytes)

    def _new_inode(self, name: str, nbytes: int = 0) -> None:
        """Refuse a new non-directory inode of ``nbytes`` when it does not fit."""
        q = self.quota
        if q.files is not None and self._files + 1 > q.files:
            raise self._full(name)
        if nbytes and q.bytes is not None and self._bytes + nbytes > q.bytes:
            raise self._full(name)

    def _fd(self) -> None:
        limit = self.quota.fds
        if limit is not None and len(self._dirs_open) + self._nfiles >= limit:
            raise _error(errno.EMFILE)

    def _dir_handle(self, h: Any, path: tuple[str, ...], plen: int,
                    states: tuple[frozenset[int], ...] | None) -> _SDir:
        """Count a new directory handle (``set.add`` is atomic, so this takes no lock: the
        handle is added first and given back if that went over the ``fds`` quota)."""
        d = _SDir(h, path, plen, states)
        opened = self._dirs_open
        opened.add(d)
        limit = self.quota.fds
        if limit is not None and len(opened) + self._nfiles > limit:
            opened.discard(d)
            self.inner.close(h)
            raise _error(errno.EMFILE)
        return d

    def _released(self, st: Stat) -> None:
        """An entry whose ``lstat`` was ``st`` lost a name (unlink, replaced by a rename):
        credit it when that was its last link and it is not open."""
        if S_ISDIR(st.mode):
            self._dirs -= 1
            return
        if st.nlink > 1:
            return
        node = self._nodes.get((st.dev, st.ino))
        if node is not None:
            node.orphan = True
            return
        self._files -= 1
        if S_ISREG(st.mode) or S_ISLNK(st.mode):
            self._bytes -= st.size

    # --- handles -----------------------------------------------------------------------------
    def root(self) -> _SDir:
        """A handle on the root (counted as an open handle)."""
        if self._limited:
            self._wait(1, 0)
        self._fd()
        return self._dir_handle(self.inner.root(), (), 0,
                                self._hider.start if self._hider is not None else None)

    def opendir(self, dir: _SDir, name: str) -> _SDir:
        if self._limited:
            self._wait(1, 0)
        hider = self._hider
        states = None
        if hider is not None:
            names = hider._names
            if names is not None and names.match(name):
                raise _error(errno.ENOENT, name)
            if dir.states is not None:
                states = hider.advance(dir.states, name)
                if hider.matched(states):
                    raise _error(errno.ENOENT, name)
        self._fd()
        h = self.inner.opendir(dir.h, name)
        path = dir.path
        plen = 0
        if self._paths:
            plen = dir.plen + 1 + _blen(name) if path else _blen(name)
        return self._dir_handle(h, path + (name,), plen, states)

    def open_file(self, dir: _SDir, name: str, *, read: bool, write: bool,
                  create: bool = False, exclusive: bool = False, truncate: bool = False,
                  mode: int = 0o666) -> Any:
        if self._limited:
            self._wait(1, 0)
        hider = self._hider
        if hider is not None and hider.hides(dir.states, name):
            raise _error(errno.EACCES if create else errno.ENOENT, name)
        inner = self.inner
        lock = self._lock
        lock.acquire()
        try:
            self._fd()
            if (write or truncate or create) and (self._readonly or inner.readonly):
                if write or truncate:
                    raise _error(errno.EROFS, name)
                try:  # O_CREAT of an existing file opens it; a new one cannot be made
                    inner.lstat(dir.h, name)
                except FileNotFoundError:
                    raise _error(errno.EROFS, name) from None
                if exclusive:
                    raise _error(errno.EEXIST, name)
                create = False
            if not self.tracking:
                if create and self._paths:
                    try:
                        inner.lstat(dir.h, name)
                    except FileNotFoundError:
                        self._check_path(dir, name, 0, 0)
                h = inner.open_file(dir.h, name, read=read, write=write, create=create,
                                    exclusive=exclusive, truncate=truncate, mode=mode)
                self._nfiles += 1
                return h
            h, created, before = self._open_counted(dir, name, read, write, create, exclusive,
                                                    truncate, mode)
            # A handle that knows its (st_dev, st_ino) (the native backend's) spares a stat
            # call when the size is known (0 after a create or truncate) or not needed yet.
            ident = getattr(h, "ident", None)
            size: int | None
            try:
                if ident is not None and (created or truncate or not write):
                    key = ident()
                    size = 0 if created or truncate else None
                else:
                    after = inner.fstat(h)
                    key = (after.dev, after.ino)
                    size = after.size
            except BaseException:
                inner.close(h)
                raise
            self._nfiles += 1
            if created:
                self._files += 1
                self._bytes += size or 0
            elif before is not None:
                self._bytes += (size or 0) - before
            o = self._handles.get(id(h))
            if o is None:
                node = self._nodes.get(key)
                if node is None:
                    node = self._nodes[key] = _Node(size)
                elif size is not None:
                    node.size = size
                self._handles[id(h)] = _Open(node, key, h)
            else:
                o.count += 1
                node = o.node
                if size is not None:
                    node.size = size
            node.opens += 1
            return h
        finally:
            lock.release()

    def _open_counted(self, dir: _SDir, name: str, read: bool, write: bool, create: bool,
                      exclusive: bool, truncate: bool, mode: int
                      ) -> tuple[Any, bool, int | None]:
        """Open for :meth:`open_file` when counting: ``(handle, whether the file was
        made, its size before a truncation or None)``. A new file is made with an exclusive
        create (no look-up first) unless a quota or path limit needs the look-up."""
        inner = self.inner
        if not (create or truncate):
            return inner.open_file(dir.h, name, read=read, write=write), False, None
        q = self.quota
        at_limit = (q.files is not None and self._files + 1 > q.files) or (
            self._paths and not self._path_fits(dir, name))
        if create and not at_limit:
            try:
                h = inner.open_file(dir.h, name, read=read, write=write, create=True,
                                    exclusive=True, truncate=truncate, mode=mode)
                return h, True, None
            except FileExistsError:
                if exclusive:
                    raise
        try:
            st = inner.lstat(dir.h, name)
        except FileNotFoundError:
            if not create:
                raise
            if self._paths:
                self._check_path(dir, name, 0, 0)
            self._new_inode(name)
            h = inner.open_file(dir.h, name, read=read, write=write, create=True,
                                exclusive=exclusive, truncate=truncate, mode=mode)
            return h, True, None
        h = inner.open_file(dir.h, name, read=read, write=write, create=create,
                            exclusive=exclusive, truncate=truncate, mode=mode)
        return h, False, st.size if S_ISREG(st.mode) else None

    def close(self, handle: Any) -> None:
        """Give back a handle (never raises)."""
        if type(handle) is _SDir:
            self._dirs_open.discard(handle)
            self.inner.close(handle.h)
            return
        lock = self._lock
        lock.acquire()
        try:
            self._nfiles -= 1
            o = self._handles.get(id(handle))
            if o is not None:
                o.count -= 1
                if o.count <= 0:
                    del self._handles[id(handle)]
                node = o.node
                node.opens -= 1
                if node.opens <= 0:
                    del self._nodes[o.key]
                    if node.orphan:
                        self._files -= 1
                        try:
                            self._bytes -= self._size(node, handle)
                        except OSError:
                            pass  # close never raises; recount() puts the count right
            self.inner.close(handle)
        finally:
            lock.release()

    def same(self, a: Any, b: Any) -> bool:
        if type(a) is _SDir:
            a = a.h
        if type(b) is _SDir:
            b = b.h
        return self.inner.same(a, b)

    # --- metadata ------------------------------------------------------------------------------
    def fstat(self, handle: Any) -> Stat:
        if self._limited:
            self._wait(1, 0)
        return self.inner.fstat(handle.h if type(handle) is _SDir else handle)

    def lstat(self, dir: _SDir, name: str) -> Stat:
        if self._limited:
            self._wait(1, 0)
        self._visible(dir, name)
        return self.inner.lstat(dir.h, name)

    def readlink(self, dir: _SDir, name: str) -> str:
        if self._limited:
            self._wait(1, 0)
        self._visible(dir, name)
        return self.inner.readlink(dir.h, name)

    def listdir(self, dir: _SDir) -> list[DirEntry]:
        if self._limited:
            self._wait(1, 0)
        entries = self.inner.listdir(dir.h)
        hider = self._hider
        if hider is None:
            return entries
        states = dir.states
        return [e for e in entries if not hider.hides(states, e.name)]

    def set_times(self, dir: _SDir, name: str, atime_ns: int | None,
                  mtime_ns: int | None) -> None:
        if self._limited:
            self._wait(1, 0)
        self._visible(dir, name)
        if self.readonly:
            raise _error(errno.EROFS, name)
        self.inner.set_times(dir.h, name, atime_ns, mtime_ns)

    def fset_times(self, handle: Any, atime_ns: int | None, mtime_ns: int | None) -> None:
        if self._limited:
            self._wait(1, 0)
        if self.readonly:
            raise _error(errno.EROFS)
        self.inner.fset_times(handle.h if type(handle) is _SDir else handle, atime_ns, mtime_ns)

    # --- file data -----------------------------------------------------------------------------
    def pread(self, file: Any, buf: memoryview, offset: int) -> int:
        # replaced by the inner backend's own pread when there is no rate limit
        self._wait(1, len(buf))
        return self.inner.pread(file, buf, offset)

    def _size(self, node: _Node, file: Any) -> int:
        """The size of an open file as the sandbox counts it (asked once, then kept)."""
        size = node.size
        if size is None:
            size = node.size = self.inner.fstat(file).size
        return size

    def _fit(self, end: int, size: int, offset: int, n: int) -> int:
        """How many of ``n`` bytes written at ``offset`` (ending at ``end``) into a file of
        ``size`` bytes fit the file-size and byte quotas (0: nothing fits)."""
        q = self.quota
        if q.file_size is not None and end > q.file_size:
            if offset >= q.file_size:
                raise _error(errno.EFBIG)
            n = q.file_size - offset
            end = offset + n
        if self.tracking and q.bytes is not None and end > size:
            room = q.bytes - self._bytes
            if end - size > room:
                n = size + room - offset
                if n <= 0:
                    raise self._full()
        return n

    def pwrite(self, file: Any, data: memoryview | bytes, offset: int) -> int:
        if self._limited:
            self._wait(1, len(data))
        inner = self.inner
        if self._readonly or inner.readonly:
            raise _error(errno.EROFS)
        n = len(data)
        if not n or offset < 0:
            return inner.pwrite(file, data, offset)
        if not self.tracking:
            if self.quota.file_size is not None:
                fit = self._fit(offset + n, 0, offset, n)
                if fit < n:
                    data = data[:fit]
            return inner.pwrite(file, data, offset)
        node = self._handles[id(file)].node
        end = offset + n
        lock = self._lock
        lock.acquire()
        try:
            size = node.size
            if size is None:
                size = self._size(node, file)
            if end > size:
                fit = self._fit(end, size, offset, n)
                if fit < n:
                    data = data[:fit]
                written = inner.pwrite(file, data, offset)
                if written > 0 and offset + written > size:
                    node.size = offset + written
                    self._bytes += offset + written - size
                return written
            return inner.pwrite(file, data, offset)
        finally:
            lock.release()

    def append(self, file: Any, data: memoryview | bytes) -> tuple[int, int]:
        if self._limited:
            self._wait(1, len(data))
        inner = self.inner
        if self._readonly or inner.readonly:
            raise _error(errno.EROFS)
        n = len(data)
        if not n or (not self.tracking and self.quota.file_size is None):
            return inner.append(file, data)
        node = self._handles[id(file)].node if self.tracking else None
        lock = self._lock
        lock.acquire()
        try:
            size = self._size(node, file) if node is not None else inner.fstat(file).size
            fit = self._fit(size + n, size, size, n)
            if fit < n:
                data = data[:fit]
            written, new_size = inner.append(file, data)
            if node is not None:
                self._bytes += new_size - size
                node.size = new_size
            return written, new_size
        finally:
            lock.release()

    def _resize(self, file: Any, end: int, call: Callable[[], None]) -> None:
        """Run ``call`` (which makes the file ``end`` bytes long, or at least that) after the
        checks; the whole change or none."""
        q = self.quota
        if q.file_size is not None and end > q.file_size:
            raise _error(errno.EFBIG)
        if not self.tracking:
            call()
            return
        node = self._handles[id(file)].node
        with self._lock:
            size = self._size(node, file)
            room = self._room()
            if room is not None and end - size > room:
                raise self._full()
            call()
            new_size = self.inner.fstat(file).size
            self._bytes += new_size - size
            node.size = new_size

    def ftruncate(self, file: Any, size: int) -> None:
        if self._limited:
            self._wait(1, 0)
        if self.readonly:
            raise _error(errno.EROFS)
        if size < 0:
            self.inner.ftruncate(file, size)
            return
        self._resize(file, size, lambda: self.inner.ftruncate(file, size))

    def fsync(self, file: Any, dataonly: bool = False) -> None:
        if self._limited:
            self._wait(1, 0)
        self.inner.fsync(file, dataonly)

    def allocate(self, file: Any, offset: int, length: int) -> None:
        if self._limited:
            self._wait(1, 0)
        if self.readonly:
            raise _error(errno.EROFS)
        if offset < 0 or length <= 0:
            self.inner.allocate(file, offset, length)
            return
        self._resize(file, offset + length, lambda: self.inner.allocate(file, offset, length))

    # --- namespace -----------------------------------------------------------------------------
    def _exists_or_rofs(self, dir: _SDir, name: str) -> None:
        """On a read-only sandbox: EEXIST for an existing name (as Linux checks first),
        else EROFS."""
        try:
            self.inner.lstat(dir.h, name)
        except FileNotFoundError:
            raise _error(errno.EROFS, name) from None
        raise _error(errno.EEXIST, name)

    def mkdir(self, dir: _SDir, name: str, mode: int = 0o777) -> None:
        if self._limited:
            self._wait(1, 0)
        hider = self._hider
        if hider is not None and hider.hides(dir.states, name):
            raise _error(errno.EACCES, name)
        if self.readonly:
            self._exists_or_rofs(dir, name)
        if self._paths:
            self._check_path(dir, name, 0, 0)
        if not self.tracking:
            self.inner.mkdir(dir.h, name, mode)
            return
        with self._lock:
            limit = self.quota.dirs
            if limit is not None and self._dirs + 1 > limit:
                try:
                    self.inner.lstat(dir.h, name)
                except FileNotFoundError:
                    raise self._full(name) from None
                raise _error(errno.EEXIST, name)
            self.inner.mkdir(dir.h, name, mode)
            self._dirs += 1

    def rmdir(self, dir: _SDir, name: str) -> None:
        if self._limited:
            self._wait(1, 0)
        self._visible(dir, name)
        if self.readonly:
            raise _error(errno.EROFS, name)
        if not self.tracking:
            self.inner.rmdir(dir.h, name)
            return
        with self._lock:
            self.inner.rmdir(dir.h, name)
            self._dirs -= 1

    def unlink(self, dir: _SDir, name: str) -> None:
        if self._limited:
            self._wait(1, 0)
        self._visible(dir, name)
        if self.readonly:
            raise _error(errno.EROFS, name)
        if not self.tracking:
            self.inner.unlink(dir.h, name)
            return
        with self._lock:
            st = self.inner.lstat(dir.h, name)
            self.inner.unlink(dir.h, name)
            self._released(st)

    def rename(self, src_dir: _SDir, src: str, dst_dir: _SDir, dst: str) -> None:
        if self._limited:
            self._wait(1, 0)
        self._visible(src_dir, src)
        hider = self._hider
        if hider is not None and hider.hides(dst_dir.states, dst):
            raise _error(errno.EACCES, dst)
        if self.readonly:
            raise _error(errno.EROFS, src)
        inner = self.inner
        with self._lock:
            st = inner.lstat(src_dir.h, src)
            moved_dir = S_ISDIR(st.mode)
            if moved_dir and (hider is not None or self._paths):
                self._check_dir_move(src_dir, src, dst_dir, dst)
            elif self._paths:
                self._check_path(dst_dir, dst, 0, 0)
            old: Stat | None = None
            if self.tracking:
                try:
                    old = inner.lstat(dst_dir.h, dst)
                except FileNotFoundError:
                    old = None
            inner.rename(src_dir.h, src, dst_dir.h, dst)
            if old is not None and (old.dev, old.ino) != (st.dev, st.ino):
                self._released(old)
            if moved_dir:
                self._moved(src_dir.path + (src,), dst_dir, dst)

    def _check_dir_move(self, src_dir: _SDir, src: str, dst_dir: _SDir, dst: str) -> None:
        hider = self._hider
        if hider is not None and hider.anchored:
            src_states = hider.advance(src_dir.states, src)
            dst_states = hider.advance(dst_dir.states, dst)
            if hider.below(src_states) or hider.below(dst_states):
                raise _error(errno.EXDEV, src)
        if not self._paths:
            return
        self._check_path(dst_dir, dst, 0, 0)
        deeper = len(dst_dir.path) > len(src_dir.path)
        longer = dst_dir.plen + _blen(dst) + (1 if dst_dir.path else 0) > \
            src_dir.plen + _blen(src) + (1 if src_dir.path else 0)
        if not (deeper or longer):
            return
        depth, length = _extent(self.inner, src_dir.h, src)
        if depth:
            self._check_path(dst_dir, dst, depth, length)

    def _moved(self, old: tuple[str, ...], dst_dir: _SDir, dst: str) -> None:
        """Open directory handles at or below ``old`` are now below ``dst`` in ``dst_dir``."""
        new = dst_dir.path + (dst,)
        if new == old:
            return
        cut = len(old)
        hider = self._hider
        for d in list(self._dirs_open):
            if d.path[:cut] == old:
                d.path = new + d.path[cut:]
                d.plen = len("/".join(d.path).encode("utf-8", "surrogateescape"))
                if hider is not None:
                    d.states = hider.states_of(d.path)

    def link(self, src_dir: _SDir, src: str, dst_dir: _SDir, dst: str) -> None:
        if self._limited:
            self._wait(1, 0)
        self._visible(src_dir, src)
        hider = self._hider
        if hider is not None and hider.hides(dst_dir.states, dst):
            raise _error(errno.EACCES, dst)
        if self.readonly:
            self._exists_or_rofs(dst_dir, dst)
        if self._paths:
            self._check_path(dst_dir, dst, 0, 0)
        self.inner.link(src_dir.h, src, dst_dir.h, dst)

    def symlink(self, target: str, dir: _SDir, name: str) -> None:
        if self._limited:
            self._wait(1, _blen(target))
        hider = self._hider
        if hider is not None and hider.hides(dir.states, name):
            raise _error(errno.EACCES, name)
        if self.readonly:
            self._exists_or_rofs(dir, name)
        if self._paths:
            self._check_path(dir, name, 0, 0)
        if not self.tracking:
            self.inner.symlink(target, dir.h, name)
            return
        with self._lock:
            try:
                self.inner.lstat(dir.h, name)
            except FileNotFoundError:
                self._new_inode(name, _blen(target))
            self.inner.symlink(target, dir.h, name)
            st = self.inner.lstat(dir.h, name)
            self._files += 1
            self._bytes += st.size


def _coerce(cls: Any, value: Any) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        return cls.parse(value)
    if isinstance(value, Mapping):
        values = dict(value)
        for key in ("bytes", "file_size", "bytes_per_s"):
            if isinstance(values.get(key), str):
                values[key] = parse_size(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"bad {cls.__name__} {value!r}: {exc}") from None
    raise TypeError(f"expected a {cls.__name__}, a mapping or a spec string, "
                    f"got {type(value).__name__}")


def _count(backend: Backend) -> tuple[int, int, int]:
    """(bytes, files, dirs) of everything in ``backend`` (see the module documentation)."""
    nbytes = files = dirs = 0
    seen: set[tuple[int, int]] = set()
    chain = DirChain(backend, backend.root(), owned=True)
    try:
        for _name, st in TreeWalk(chain):
            assert st is not None
            mode = st.mode
            if mode & _S_IFMT == _S_IFDIR:
                dirs += 1
                continue
            if st.nlink > 1:
                key = (st.dev, st.ino)
                if key in seen:
                    continue
                seen.add(key)
            files += 1
            if S_ISREG(mode) or S_ISLNK(mode):
                nbytes += st.size
    finally:
        chain.close()
    return nbytes, files, dirs


def _extent(backend: Backend, dir: Any, name: str) -> tuple[int, int]:
    """How far the tree of the directory ``name`` reaches below it: the most components
    and the longest path (bytes of ``a/b``) of an entry inside it."""
    chain = DirChain(backend, backend.opendir(dir, name), owned=True)
    depth = length = 0
    try:
        walk = TreeWalk(chain)
        for _name, _st in walk:
            where = walk.where()
            depth = max(depth, where.count("/") + 1)
            length = max(length, _blen(where))
    finally:
        chain.close()
    return depth, length
