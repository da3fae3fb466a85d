"""Descriptors, open-file descriptions and path resolution over backends."""

from ._mounts import (
    find_preopen,
    libc_prefix,
    mount_preopens,
    normalize_mount_point,
    parse_mount_option,
)
from ._resolve import ESCAPE, MAX_SYMLINKS, Resolved, close_all, resolve, walk_plain
from ._rights import PREOPEN_RIGHTS_BASE, PREOPEN_RIGHTS_INHERITING, MountRights
from ._table import DirRef, FdTable, OpenDir, OpenFile, Preopen, StdioFile, shares_namespace

__all__ = (
    "ESCAPE",
    "MountRights",
    "PREOPEN_RIGHTS_BASE",
    "PREOPEN_RIGHTS_INHERITING",
    "MAX_SYMLINKS",
    "Resolved",
    "close_all",
    "resolve",
    "walk_plain",
    "DirRef",
    "FdTable",
    "OpenDir",
    "OpenFile",
    "Preopen",
    "StdioFile",
    "shares_namespace",
    "mount_preopens",
    "normalize_mount_point",
    "libc_prefix",
    "find_preopen",
    "parse_mount_option",
)
