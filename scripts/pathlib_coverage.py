#!/usr/bin/env python3
"""How much of :class:`pathlib.Path` does :class:`wasifs.Path` cover?

Compares the public names (methods and properties, not starting with ``_``) of the running
interpreter's ``pathlib.Path`` with ``wasifs.path.Path``, prints the covered fraction, the
names left out with the reason for each, the names that work with a documented difference,
and what ``wasifs.Path`` adds. A name counts as covered when ``wasifs.Path`` has it and does
not merely raise ``NotImplementedError`` for it (those are listed in
``wasifs.path.UNSUPPORTED`` with their reasons).

Usage: ``python scripts/pathlib_coverage.py [--fail-under PERCENT]`` (default 80); the exit
status is 1 when the coverage is below that.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from wasifs.path import UNSUPPORTED, Path

#: Covered names that behave differently from pathlib on purpose (see docs/pathlib.md).
DIFFERENCES: dict[str, str] = {
    "cwd": "a classmethod taking the backend, Path.cwd(fs): the root (relative paths are "
           "taken from it)",
    "open": "text defaults to UTF-8, not the host locale; returns the same io classes as "
            "open() over wasifs.path.BackendFileIO (fileno() raises io.UnsupportedOperation)",
    "read_text": "UTF-8 by default; also takes newline= (as Python 3.13)",
    "write_text": "UTF-8 by default",
    "stat": "a real os.stat_result; st_uid/st_gid are 0, st_blksize/st_blocks/st_rdev None "
            "(the backend protocol has no owners or block counts)",
    "resolve": "symlinks are resolved inside the backend; an absolute target is taken from "
               "the backend's root",
    "symlink_to": "target_is_directory is ignored (as on POSIX)",
    "exists": "also takes follow_symlinks= (as Python 3.12)",
    "is_dir": "also takes follow_symlinks= (as Python 3.13)",
    "is_file": "also takes follow_symlinks= (as Python 3.13)",
    "relative_to": "also takes walk_up= (as Python 3.12)",
    "parents": "a tuple (indexable and sliceable, as pathlib's sequence)",
    "is_mount": "True for the backend's root and where st_dev changes (a host mount inside "
                "a NativeFileSystem)",
}


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def report() -> tuple[float, str]:
    """(covered percentage, the printable report)."""
    reference = public_names(pathlib.Path)
    ours = public_names(Path)
    covered = sorted(n for n in reference if n in ours and n not in UNSUPPORTED)
    uncovered = sorted(reference - set(covered))
    percent = 100.0 * len(covered) / len(reference)
    version = ".".join(map(str, sys.version_info[:3]))
    lines = [
        f"wasifs.Path covers {len(covered)} of the {len(reference)} public names of "
        f"pathlib.Path (Python {version}): {percent:.1f}%",
        "",
        f"Not covered ({len(uncovered)}):",
    ]
    for name in uncovered:
        reason = UNSUPPORTED.get(name, "missing from wasifs.Path")
        lines.append(f"  {name:<16} {reason}")
    different = [n for n in covered if n in DIFFERENCES]
    lines += ["", f"Covered, with a documented difference ({len(different)}):"]
    lines += [f"  {name:<16} {DIFFERENCES[name]}" for name in different]
    extra = sorted(ours - reference)
    lines += ["", f"Added by wasifs.Path ({len(extra)}): " + ", ".join(extra)]
    return percent, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-under", type=float, default=80.0, metavar="PERCENT",
                        help="exit with status 1 below this coverage (default: 80)")
    args = parser.parse_args(argv)
    percent, text = report()
    print(text)
    if percent < args.fail_under:
        print(f"\ncoverage {percent:.1f}% is below {args.fail_under:.1f}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
