"""Pack a backend's tree into a zip or tar archive (the read-only archive backends' staging)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from wasifs.backends import Backend
from wasifs.trees import DIR, Link, read_tree

#: A fixed member time (2020-01-02 03:04:05) so archives are reproducible.
STAMP = (2020, 1, 2, 3, 4, 5)


def _members(backend: Backend) -> list[tuple[str, object]]:
    return sorted(read_tree(backend, text=False).items())


def pack_zip(backend: Backend, dest: Path) -> Path:
    """``dest``: a zip of every entry of ``backend`` (directories as ``name/`` members)."""
    with zipfile.ZipFile(dest, "w") as z:
        for path, value in _members(backend):
            if value is DIR:
                z.writestr(zipfile.ZipInfo(path + "/", STAMP), b"")
            elif isinstance(value, Link):
                raise ValueError(f"no symlinks in these archives: {path}")
            else:
                assert isinstance(value, bytes)
                info = zipfile.ZipInfo(path, STAMP)
                info.external_attr = 0o100644 << 16
                z.writestr(info, value)
    return dest


def pack_tar(backend: Backend, dest: Path) -> Path:
    """``dest``: a tar of every entry of ``backend``."""
    with tarfile.open(dest, "w") as t:
        for path, value in _members(backend):
            info = tarfile.TarInfo(path)
            info.mtime = 1577934245
            if value is DIR:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            elif isinstance(value, Link):
                raise ValueError(f"no symlinks in these archives: {path}")
            else:
                assert isinstance(value, bytes)
                info.size = len(value)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(value))
    return dest
