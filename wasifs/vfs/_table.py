"""Open-file descriptions and the descriptor table."""

from __future__ import annotations

import heapq
from typing import Any

from ..abi import Errno
from ..backends import Backend, errno_of
from ..errors import WasiError
from ..stdio import Sink, Source
from ._rights import MountRights

__all__ = ("DirRef", "OpenDir", "OpenFile", "StdioFile", "Desc", "FdTable", "Preopen",
           "shares_namespace")


class Preopen:
    """A directory the guest sees from the start: ``guest_path`` on ``backend``'s root, or on
    the directory ``subdir`` inside it.

    ``subdir`` (a ``/``-separated path from the backend's root, no ``..``; symlinks on the
    way are not followed) makes the preopen's root that directory: the guest cannot reach
    above it (``..`` there is an escape, as at any preopen's root). Several preopens can so
    share one backend, each on its own folder, and a guest then moves files between them
    with ``path_rename``/``path_link`` as on one host filesystem (see
    :func:`shares_namespace`). The directory must exist when the preopen is opened.
    """

    __slots__ = ("guest_path", "backend", "readonly", "subdir", "rights")

    def __init__(self, guest_path: str, backend: Backend, readonly: bool = False, *,
                 subdir: str = "", rights: MountRights | None = None) -> None:
        if not isinstance(subdir, str):
            raise TypeError(f"subdir must be a str, not {type(subdir).__name__}")
        parts = [p for p in subdir.split("/") if p and p != "."]
        if ".." in parts or "\x00" in subdir:
            raise ValueError(f"subdir must be a path inside the backend, without '..': "
                             f"{subdir!r}")
        self.guest_path = guest_path
        self.backend = backend
        self.readonly = readonly or bool(getattr(backend, "readonly", False))
        #: the preopen's root, relative to the backend's root ("" for the root itself)
        self.subdir = "/".join(parts)
        if rights is not None and not isinstance(rights, MountRights):
            raise TypeError(f"rights must be a MountRights, not {type(rights).__name__}")
        #: the rights of the preopened directory (None: :data:`MountRights.ALL`)
        self.rights = rights

    def open_root(self) -> Any:
        """A new directory handle on the preopen's root (the backend's root or ``subdir``).
        Raises ``OSError`` naming the directory when it cannot be opened."""
        backend = self.backend
        try:
            handle = backend.root()
        except OSError as exc:
            raise OSError(errno_of(exc), f"cannot open the root of {backend!r}: {exc}") from exc
        walked = ""
        for name in self.subdir.split("/") if self.subdir else ():
            walked = f"{walked}/{name}" if walked else name
            try:
                child = backend.opendir(handle, name)
            except OSError as exc:
                backend.close(handle)
                raise OSError(errno_of(exc), f"cannot open the preopen directory {walked!r} of "
                                         f"{backend!r} for {self.guest_path!r}: "
                                         f"{exc.strerror or exc}", walked) from exc
            backend.close(handle)
            handle = child
        return handle

    def __repr__(self) -> str:
        sub = f", subdir={self.subdir!r}" if self.subdir else ""
        if self.rights is not None:
            sub += f", rights={self.rights!r}"
        return f"Preopen({self.guest_path!r}, {self.backend!r}, readonly={self.readonly}{sub})"


def shares_namespace(a: Backend, b: Backend) -> bool:
    """Whether ``path_rename``/``path_link`` may move an entry from backend ``a`` to ``b``.

    True for one backend (two preopens of one instance, or subdirectories of it), and for two
    backends that declare the same ``link_domain`` (every ``NativeFileSystem`` says "host":
    the host kernel then decides, and answers EXDEV between two host filesystems). Anything
    else is two filesystems: the caller answers EXDEV.
    """
    if a is b:
        return True
    domain = getattr(a, "link_domain", None)
    return domain is not None and domain == getattr(b, "link_domain", None)


class DirRef:
    """A backend directory handle shared by descriptors (``path_open(".")`` re-opens the same
    directory without asking the backend for a new handle); closed when the last one goes."""

    __slots__ = ("backend", "handle", "count")

    def __init__(self, backend: Backend, handle: Any) -> None:
        self.backend = backend
        self.handle = handle
        self.count = 1

    def release(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.backend.close(self.handle)


class OpenFile:
    """An open regular file: the descriptor owns its offset (never the backend)."""

    __slots__ = (
        "backend", "handle", "offset", "fdflags", "rights_base", "rights_inheriting",
        "readonly", "pread", "pwrite",
    )

    def __init__(
        self, backend: Backend, handle: Any, fdflags: int, rights_base: int,
        rights_inheriting: int, readonly: bool,
    ) -> None:
        # positional too: path_open makes one per file opened, and keywords cost more
        self.backend = backend
        self.handle = handle
        self.offset = 0
        self.fdflags = fdflags
        self.rights_base = rights_base
        self.rights_inheriting = rights_inheriting
        self.readonly = readonly
        # Bound once: the hot path calls these without attribute lookups on the backend.
        self.pread = backend.pread
        self.pwrite = backend.pwrite

    def close(self) -> None:
        self.backend.close(self.handle)


class OpenDir:
    """An open directory (a preopen or one opened by ``path_open``)."""

    __slots__ = (
        "ref", "backend", "fdflags", "rights_base", "rights_inheriting", "readonly",
        "preopen", "entries", "ceiling",
    )

    def __init__(
        self, ref: DirRef, *, rights_base: int, rights_inheriting: int, readonly: bool,
        preopen: str | None = None, ceiling: int | None = None,
    ) -> None:
        self.ref = ref
        self.backend = ref.backend
        self.fdflags = 0
        self.rights_base = rights_base
        self.rights_inheriting = rights_inheriting
        self.readonly = readonly
        self.preopen = preopen
        #: the inheriting rights the host gave the mount this directory is in
        #: (``Mount(rights=...)``), passed on to directories opened beneath it; None: the
        #: default rights, which the guest alone may reduce
        self.ceiling = ceiling
        #: snapshot of the listing taken at cookie 0; later cookies index into it
        self.entries: list[tuple[bytes, int, int]] | None = None

    @property
    def handle(self) -> Any:
        return self.ref.handle

    def close(self) -> None:
        self.ref.release()


class StdioFile:
    """One of the standard streams."""

    __slots__ = ("source", "sink", "fdflags", "rights_base", "rights_inheriting", "filetype")

    def __init__(self, *, source: Source | None = None, sink: Sink | None = None,
                 rights: int, filetype: int) -> None:
        self.source = source
        self.sink = sink
        self.fdflags = 0
        self.rights_base = rights
        self.rights_inheriting = rights
        self.filetype = filetype

    def close(self) -> None:
        if self.sink is not None:
            try:
                self.sink.flush()
            except Exception:  # noqa: BLE001 - a sink's flush failing must not break close
                pass


Desc = OpenFile | OpenDir | StdioFile


class FdTable:
    """Descriptors by number: a list indexed by fd (the hot path is ``table.fds[fd]``), at
    most ``limit`` open at once (then EMFILE).

    Numbers are handed out as wasmtime's preview1 does: the highest number closed earlier
    (and not taken again since) first, else one past the highest number ever used. So a
    number that was just closed is not necessarily the next one given; a program that
    closes its stdout by mistake (after a failed ``fd_renumber``, say) keeps writing into
    nothing rather than into the next file it opens, as under wasmtime.
    """

    __slots__ = ("fds", "_free", "limit", "count")

    def __init__(self, limit: int = 4096) -> None:
        if limit < 3:
            raise ValueError(f"fd limit must be at least 3, got {limit}")
        self.fds: list[Desc | None] = []
        #: closed numbers, negated (a heap: the highest number on top)
        self._free: list[int] = []
        self.limit = limit
        self.count = 0

    def get(self, fd: int) -> Desc:
        try:
            d = self.fds[fd]
        except IndexError:
            raise WasiError(Errno.BADF) from None
        if d is None:
            raise WasiError(Errno.BADF)
        return d

    def add(self, desc: Desc) -> int:
        if self.count >= self.limit:
            raise WasiError(Errno.MFILE)
        self.count += 1
        if self._free:
            fd = -heapq.heappop(self._free)
            self.fds[fd] = desc
            return fd
        # every number below len(fds) is open (closed ones are in _free)
        self.fds.append(desc)
        return len(self.fds) - 1

    def renumber(self, fd: int, to: int) -> None:
        """Move ``fd`` to ``to``, closing what ``to`` held (both must be open)."""
        self.get(to)
        if fd == to:
            self.get(fd)
            return
        d = self.remove(fd)
        old = self.fds[to]
        self.fds[to] = d
        if old is not None:
            old.close()

    def remove(self, fd: int) -> Desc:
        fds = self.fds
        try:
            d = fds[fd]  # self.get(fd), inline: fd_close calls this once per file
        except IndexError:
            raise WasiError(Errno.BADF) from None
        if d is None:
            raise WasiError(Errno.BADF)
        fds[fd] = None
        self.count -= 1
        heapq.heappush(self._free, -fd)
        return d

    def items(self) -> list[tuple[int, Desc]]:
        return [(fd, d) for fd, d in enumerate(self.fds) if d is not None]
