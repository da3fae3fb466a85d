"""The rights a preopened directory gives the guest: :class:`MountRights` and its presets.

Every descriptor carries preview1 rights: ``base`` (what the descriptor itself may do) and
``inheriting`` (what descriptors opened beneath it may get). A preopen starts with the rights
wasmtime reports (:data:`PREOPEN_RIGHTS_BASE`, :data:`PREOPEN_RIGHTS_INHERITING`); a mount can
give fewer (``Mount(fs, rights=MountRights.READ_ONLY)``), and the core enforces them on every
call and passes them on through ``path_open``: a missing right is ``ENOTCAPABLE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from ..abi import RIGHTS_ALL, RIGHTS_FILE, Rights

__all__ = ("MountRights", "PREOPEN_RIGHTS_BASE", "PREOPEN_RIGHTS_INHERITING")

#: What wasmtime reports for a preopened directory ("rights expected by many userlands").
PREOPEN_RIGHTS_BASE: Final = int(
    Rights.PATH_CREATE_DIRECTORY | Rights.PATH_CREATE_FILE | Rights.PATH_LINK_SOURCE
    | Rights.PATH_LINK_TARGET | Rights.PATH_OPEN | Rights.FD_READDIR | Rights.PATH_READLINK
    | Rights.PATH_RENAME_SOURCE | Rights.PATH_RENAME_TARGET | Rights.PATH_SYMLINK
    | Rights.PATH_REMOVE_DIRECTORY | Rights.PATH_UNLINK_FILE | Rights.PATH_FILESTAT_GET
    | Rights.PATH_FILESTAT_SET_TIMES | Rights.FD_FILESTAT_GET | Rights.FD_FILESTAT_SET_TIMES
)
#: What descriptors opened beneath a preopen may get: the directory rights and a file's.
PREOPEN_RIGHTS_INHERITING: Final = PREOPEN_RIGHTS_BASE | RIGHTS_FILE

#: Changing a file's data or size.
_WRITE: Final = int(Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE
                    | Rights.PATH_FILESTAT_SET_SIZE)
#: Making a new name: a file, a directory, a symlink, a hard link, a rename's target.
_CREATE: Final = int(Rights.PATH_CREATE_FILE | Rights.PATH_CREATE_DIRECTORY
                     | Rights.PATH_SYMLINK | Rights.PATH_LINK_TARGET
                     | Rights.PATH_RENAME_TARGET)
#: Taking a name away: unlink, rmdir, a rename's source.
_DELETE: Final = int(Rights.PATH_UNLINK_FILE | Rights.PATH_REMOVE_DIRECTORY
                     | Rights.PATH_RENAME_SOURCE)
_TIMES: Final = int(Rights.FD_FILESTAT_SET_TIMES | Rights.PATH_FILESTAT_SET_TIMES)


@dataclass(frozen=True)
class MountRights:
    """The preview1 rights of a mount's preopened directory: ``base`` for the directory
    descriptor itself, ``inheriting`` for every descriptor opened beneath it (each one gets
    at most these, and passes at most these on).

    Presets (combine them with ``&``; remove single rights with :meth:`without`):

    ========================  ==================================================================
    ``MountRights.ALL``        what wasmtime gives a preopen (the default)
    ``MountRights.READ_ONLY``  look, list, open and read; no write, create, delete, rename,
                              link, symlink or change of times
    ``MountRights.NO_WRITE``   no change to a file's data or size (``fd_write``,
                              ``fd_allocate``, ``fd_filestat_set_size``, ``O_TRUNC``)
    ``MountRights.NO_CREATE``  no new name: files, directories, symlinks, hard links, rename
                              targets
    ``MountRights.NO_DELETE``  no name taken away: unlink, rmdir, rename sources
    ``MountRights.NO_SYMLINK`` no new symlink (``path_symlink``)
    ========================  ==================================================================

    A call that needs a right the descriptor lacks fails with ``ENOTCAPABLE``. An open that
    asks for writing succeeds without the write right when the mount may not pass it on
    (wasi-libc asks for what the directory may pass on), and the first write fails; an
    ``O_CREAT`` without the create right, or an ``O_TRUNC`` without the write right, fails
    at the open. (``Mount(readonly=True)`` is another thing: the filesystem refuses
    changes with ``EROFS``, as a read-only mount on a host does.)
    """

    base: int = PREOPEN_RIGHTS_BASE
    inheriting: int = PREOPEN_RIGHTS_INHERITING

    ALL: ClassVar[MountRights]
    READ_ONLY: ClassVar[MountRights]
    NO_WRITE: ClassVar[MountRights]
    NO_CREATE: ClassVar[MountRights]
    NO_DELETE: ClassVar[MountRights]
    NO_SYMLINK: ClassVar[MountRights]

    def __post_init__(self) -> None:
        for name in ("base", "inheriting"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"MountRights.{name} must be an int of preview1 rights, not "
                                f"{type(value).__name__}")
            if value & ~RIGHTS_ALL or value < 0:
                raise ValueError(f"MountRights.{name}={value:#x} has bits that are not "
                                 "preview1 rights")

    def __and__(self, other: MountRights) -> MountRights:
        if not isinstance(other, MountRights):
            return NotImplemented
        return MountRights(self.base & other.base, self.inheriting & other.inheriting)

    def without(self, *rights: int) -> MountRights:
        """These rights with ``rights`` (``wasifs.abi.Rights`` flags) removed from both the
        directory and what it passes on."""
        drop = 0
        for right in rights:
            drop |= int(right)
        return MountRights(self.base & ~drop, self.inheriting & ~drop)

    @classmethod
    def named(cls, name: str) -> MountRights:
        """A preset by name: ``"all"``, ``"read-only"``, ``"no-write"``, ``"no-create"``,
        ``"no-delete"``, ``"no-symlink"``; several joined with ``,`` or ``+`` combine."""
        out = cls.ALL
        for part in name.replace("+", ",").split(","):
            key = part.strip().lower().replace("_", "-")
            preset = _PRESETS.get(key)
            if preset is None:
                raise ValueError(f"unknown rights preset {part.strip()!r}: one of "
                                 f"{', '.join(_PRESETS)}")
            out = out & preset
        return out

    @classmethod
    def of(cls, spec: MountRights | str | None) -> MountRights | None:
        """``spec`` as a :class:`MountRights` (a preset name is looked up; ``None`` stays
        ``None``: the default rights)."""
        if spec is None or isinstance(spec, MountRights):
            return spec
        if isinstance(spec, str):
            return cls.named(spec)
        raise TypeError(f"rights must be a wasifs.MountRights or a preset name, not "
                        f"{type(spec).__name__}")


MountRights.ALL = MountRights()
MountRights.READ_ONLY = MountRights().without(_WRITE, _CREATE, _DELETE, _TIMES)
MountRights.NO_WRITE = MountRights().without(_WRITE)
MountRights.NO_CREATE = MountRights().without(_CREATE)
MountRights.NO_DELETE = MountRights().without(_DELETE)
MountRights.NO_SYMLINK = MountRights().without(Rights.PATH_SYMLINK)
_PRESETS: Final = {
    "all": MountRights.ALL,
    "read-only": MountRights.READ_ONLY,
    "no-write": MountRights.NO_WRITE,
    "no-create": MountRights.NO_CREATE,
    "no-delete": MountRights.NO_DELETE,
    "no-symlink": MountRights.NO_SYMLINK,
}
