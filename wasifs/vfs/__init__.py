"""Descriptors, open-file descriptions and path resolution over backends."""

from ._resolve import ESCAPE, MAX_SYMLINKS, Resolved, close_all, resolve
from ._table import DirRef, FdTable, OpenDir, OpenFile, Preopen, StdioFile, shares_namespace

__all__ = (
    "ESCAPE",
    "MAX_SYMLINKS",
    "Resolved",
    "close_all",
    "resolve",
    "DirRef",
    "FdTable",
    "OpenDir",
    "OpenFile",
    "Preopen",
    "StdioFile",
    "shares_namespace",
)
