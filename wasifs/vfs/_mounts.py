"""The mount table: which guest paths a run mounts, checked, and in which order.

A guest finds its files through *preopens*, directory descriptors 3, 4, ... each with a
guest path (``fd_prestat_dir_name``). Its libc (wasi-libc) maps an absolute path to the
preopen whose path is the longest prefix of it, component-wise (``/data/cache/x`` goes to a
``/data/cache`` preopen over a ``/data`` one over ``/``), and opens the rest relative to that
descriptor; between two preopens of one prefix, the later one wins. So mounts may nest
(``/``, ``/data``, ``/data/cache``), each with its own backend and read-only flag, as under
wasmtime:

- the preopens keep the order the mounts were given in (descriptor 3 is the first);
- a mount point is normalised (``/data/`` and ``/data//`` are ``/data``, ``./x`` is ``x``):
  wasi-libc matches prefixes byte by byte, and under wasmtime a preopen named
  ``/data/cache//`` serves no path at all;
- two mount points that wasi-libc would read as one (``/data`` and ``data``; ``/`` and
  ``.``) are refused, as is ``..`` in a mount point: the guest could reach only one of them;
- a mount point inside another needs no directory of that name in the outer mount (it is
  not a host mount point); what the guest sees there is described in ``docs/backends.md``.

:func:`mount_preopens` builds the preopens of a run; :func:`find_preopen` applies wasi-libc's
rule on the host side; :func:`parse_mount_option` reads a command-line ``GUEST=URL[:ro]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ..backends import Backend
from ._rights import MountRights
from ._table import Preopen

__all__ = ("normalize_mount_point", "libc_prefix", "mount_preopens", "find_preopen",
           "parse_mount_option")


def normalize_mount_point(path: str) -> str:
    """The canonical form of a guest mount point: ``/a/b`` for an absolute one (``/`` for
    the root), ``a/b`` for a relative one (``.`` for the working directory).

    Raises ``TypeError`` for a non-string and ``ValueError`` for an empty path, an embedded
    NUL, or a ``..`` component.
    """
    if not isinstance(path, str):
        raise TypeError(f"a mount point must be a str, not {type(path).__name__}: {path!r}")
    if not path:
        raise ValueError("a mount point cannot be empty (write '/' for the root)")
    if "\x00" in path:
        raise ValueError(f"a mount point cannot contain NUL: {path!r}")
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"a mount point cannot contain '..': {path!r}")
    if path.startswith("/"):
        return "/" + "/".join(parts)
    return "/".join(parts) or "."


def libc_prefix(point: str) -> str:
    """The prefix wasi-libc matches paths against for the normalised mount point ``point``
    (leading ``/`` dropped; ``/`` and ``.`` are both ``""``, which matches every path)."""
    return "" if point in ("/", ".") else point.lstrip("/")


def mount_preopens(mounts: Iterable[tuple[str, Backend, bool] | tuple[str, Backend, bool, str]
                                    | tuple[str, Backend, bool, str, MountRights | None]]
                   ) -> list[Preopen]:
    """The preopens of a run, in the order given: one per ``(guest_path, backend,
    readonly)`` or ``(guest_path, backend, readonly, subdir)`` (open a URL or host directory
    with :func:`~wasifs.backends.open_backend` first: the VFS layer speaks only the backend
    protocol; ``subdir`` mounts that folder of the backend, see :class:`Preopen`).

    Mount points are normalised (:func:`normalize_mount_point`) and may nest; two that the
    guest's libc would take for the same directory are a ``ValueError`` naming both.
    """
    seen: dict[str, str] = {}
    out: list[Preopen] = []
    for mount in mounts:
        guest_path, backend, readonly = mount[0], mount[1], mount[2]
        subdir = mount[3] if len(mount) > 3 else ""
        rights = mount[4] if len(mount) > 4 else None
        point = normalize_mount_point(guest_path)
        if not isinstance(backend, Backend):
            raise TypeError(f"the mount at {guest_path!r} needs a Backend, got {backend!r}: "
                            "open it with wasifs.backends.open_backend()")
        key = libc_prefix(point)
        first = seen.get(key)
        if first is not None:
            raise ValueError(
                f"mount points {first!r} and {guest_path!r} are the same directory to the "
                "guest (its libc would only ever use the second): mount one filesystem there")
        seen[key] = guest_path
        out.append(Preopen(point, backend, readonly=bool(readonly), subdir=subdir,
                           rights=rights))
    return out


def find_preopen(preopens: Sequence[Preopen], path: str) -> tuple[Preopen, str] | None:
    """Which preopen a guest's wasi-libc uses for the absolute ``path``, and the path it then
    opens relative to it (``"."`` for the preopen itself); None when none matches. The
    longest matching prefix wins, the later preopen between equal ones."""
    rel = path.lstrip("/")
    best: tuple[Preopen, str] | None = None
    best_len = -1
    for preopen in preopens:
        prefix = libc_prefix(normalize_mount_point(preopen.guest_path))
        n = len(prefix)
        if n and not (rel.startswith(prefix) and rel[n:n + 1] in ("", "/")):
            continue
        if n >= best_len:
            best_len = n
            best = (preopen, rel[n:].lstrip("/") or ".")
    return best


def parse_mount_option(text: str) -> tuple[str, str, bool]:
    """``GUEST=SOURCE[:ro]`` (a command-line ``--mount``) as ``(guest path, source,
    readonly)``; ``:rw`` is accepted too. ``SOURCE`` is a backend URL or host directory.
    Raises ``ValueError`` naming what is wrong."""
    guest, sep, source = text.partition("=")
    if not sep or not guest or not source:
        raise ValueError(f"expected GUEST=SOURCE[:ro] (for example /data=native:///srv/data:ro"
                         f"), got {text!r}")
    readonly = False
    head, colon, flag = source.rpartition(":")
    if colon and flag in ("ro", "rw") and head:
        source, readonly = head, flag == "ro"
    normalize_mount_point(guest)
    return guest, os.fspath(source), readonly
