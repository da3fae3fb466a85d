"""The sans-I/O WASI preview1 core (no engine imports)."""

from ._core import PREOPEN_RIGHTS_BASE, PREOPEN_RIGHTS_INHERITING, WasiCore, filetype_of
from ._memory import BufferCopyMemory, CopyingMemory, GuestMemory, ViewMemory

__all__ = (
    "WasiCore",
    "PREOPEN_RIGHTS_BASE",
    "PREOPEN_RIGHTS_INHERITING",
    "filetype_of",
    "GuestMemory",
    "ViewMemory",
    "CopyingMemory",
    "BufferCopyMemory",
)
