"""The sans-I/O WASI preview1 core (no engine imports)."""

from ._core import PREOPEN_RIGHTS_BASE, PREOPEN_RIGHTS_INHERITING, WasiCore, filetype_of

__all__ = ("WasiCore", "PREOPEN_RIGHTS_BASE", "PREOPEN_RIGHTS_INHERITING", "filetype_of")
