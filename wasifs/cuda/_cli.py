"""``wasifs checksum`` and ``wasifs scan``: the bulk operations on the command line.

TARGET is a host directory (or one host file), or a URL that wasifs or fsspec can open
(``native:///abs/dir``, ``file:///abs/dir``, ``zip://::file:///tmp/a.zip``, ``s3://bucket/p``
when s3fs is installed...). Paths are printed relative to TARGET.

- ``wasifs checksum TARGET`` prints ``CRC  PATH`` lines (8 hex digits); ``--json`` prints a
  manifest ``{"algorithm": ..., "files": {path: hex}}``; ``--verify MANIFEST`` (either
  format) reports files changed, missing and new, exiting 1 when there is any.
- ``wasifs scan -e TEXT [-e TEXT | --hex HEX | -f FILE]... TARGET`` prints
  ``PATH:OFFSET:INDEX`` per match (``--count``: ``PATH: N N ...`` per file); exits 0 when
  something matched, 1 when nothing did (as grep does).

A progress bar (tqdm) is drawn on stderr when stderr is a terminal. Errors exit 2.
"""

from __future__ import annotations

import argparse
import binascii
import contextlib
import json
import os
import posixpath
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ("add_parsers",)

_DEVICES = ("auto", "cpu", "cuda", "cpu:hyperscan", "cpu:numba", "cpu:re")


def add_parsers(sub: Any) -> None:
    """Add the ``checksum`` and ``scan`` subcommands to ``wasifs``'s subparsers; each sets
    ``bulk_main`` (its handler) in the parsed namespace."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("target", metavar="TARGET",
                        help="a host directory or file, or a URL (native:///dir, file:///dir, "
                             "any fsspec URL)")
    common.add_argument("--glob", metavar="PATTERN", default=None,
                        help="only the files matching PATTERN (relative to TARGET; ** spans "
                             "directories)")
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it is drawn only when stderr is a terminal)")
    common.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="spread the work over a dask.distributed scheduler's workers "
                             "(each reads TARGET itself, so it must be reachable there)")
    cs = sub.add_parser(
        "checksum", parents=[common], help="CRC of every file of a tree (GPU or CPU)",
        description="Print the CRC-32 (zlib's) or CRC-32C of every file under TARGET, or "
                    "check a tree against a manifest.")
    cs.add_argument("-a", "--algorithm", choices=("crc32", "crc32c"), default=None,
                    help="crc32 (default, zlib.crc32) or crc32c (Castagnoli)")
    cs.add_argument("--device", choices=_DEVICES[:3], default="auto",
                    help="auto (default: the GPU when usable), cpu or cuda")
    cs.add_argument("--verify", metavar="MANIFEST", default=None,
                    help="compare with MANIFEST (the output of checksum, text or --json): "
                         "report changed, missing and new files; exit 1 if any")
    cs.set_defaults(bulk_main=_checksum_main)
    sc = sub.add_parser(
        "scan", parents=[common], help="find byte patterns in every file of a tree",
        description="Print every occurrence (overlapping ones too) of the patterns in the "
                    "files under TARGET.")
    sc.add_argument("-e", "--pattern", dest="patterns", action="append", default=[],
                    type=_text_pattern, metavar="TEXT", help="a pattern (UTF-8 text)")
    sc.add_argument("--hex", dest="patterns", action="append", type=_hex_pattern,
                    metavar="HEX", help="a pattern given as hex digits (binary)")
    sc.add_argument("-f", "--patterns-file", metavar="FILE", default=None,
                    help="patterns, one per line (bytes; the line ends are not part of them)")
    sc.add_argument("-i", "--ignore-case", action="store_true",
                    help="ASCII letters match regardless of case")
    sc.add_argument("--count", action="store_true", help="print per-file counts only")
    sc.add_argument("--device", choices=_DEVICES, default="auto",
                    help="auto (default), cpu, cuda, or cpu:hyperscan / cpu:numba / cpu:re")
    sc.set_defaults(bulk_main=_scan_main)


def _text_pattern(text: str) -> bytes:
    if not text:
        raise argparse.ArgumentTypeError("a pattern cannot be empty")
    return os.fsencode(text) if os.name != "nt" else text.encode("utf-8")


def _hex_pattern(text: str) -> bytes:
    try:
        data = binascii.unhexlify(text.replace(" ", ""))
    except (binascii.Error, ValueError):
        raise argparse.ArgumentTypeError(f"not hex digits: {text!r}") from None
    if not data:
        raise argparse.ArgumentTypeError("a pattern cannot be empty")
    return data


# ------------------------------------------------------------------------------ target
def _target(target: str, glob: str | None) -> tuple[Any, Any, Callable[[str], str]]:
    """(the filesystem, the selection, key -> path printed relative to TARGET)."""
    from ..backends.native import NativeFileSystem
    from ._source import BackendSource, FsspecSource, make_source

    if "://" not in target and "::" not in target:
        if os.path.isfile(target):
            parent, name = os.path.split(os.path.abspath(target))
            if glob is not None:
                raise ValueError("--glob needs a directory TARGET, not a file")
            return NativeFileSystem(parent, readonly=True), name, lambda k: k.lstrip("/")
        if not os.path.isdir(target):
            raise FileNotFoundError(f"{target}: no such file or directory")
        return NativeFileSystem(target, readonly=True), glob, lambda k: k.lstrip("/")
    source = make_source(target)
    if isinstance(source, BackendSource):
        return source.fs, glob, lambda k: k.lstrip("/")
    assert isinstance(source, FsspecSource)
    base = source.base.rstrip("/")

    def rel(key: str) -> str:
        return posixpath.relpath(key, base) if base and key.startswith(base + "/") else key
    return source.fs, (posixpath.join(base, glob) if glob and base else glob), rel


class _Bar:
    """A tqdm bar in bytes, fed through the ``progress`` callback (and its ``total``)."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        # shutil falls back to 80x24 where a terminal reports 0x0 (serial consoles, fresh
        # ptys); tqdm then takes -1 rows and draws nothing at all.
        size = shutil.get_terminal_size()
        self._bar = tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=desc, file=sys.stderr, leave=False, ncols=size.columns,
                         nrows=size.lines)

    @property
    def total(self) -> int | None:
        return self._bar.total  # type: ignore[no-any-return]

    @total.setter
    def total(self, value: int) -> None:
        self._bar.total = value
        self._bar.refresh()

    def __call__(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def _progress(ns: argparse.Namespace, desc: str) -> _Bar | None:
    if ns.no_progress or not sys.stderr.isatty():
        return None
    try:
        return _Bar(desc)
    except ImportError:  # tqdm comes with the 'bulk' extra; no bar without it
        return None


@contextlib.contextmanager
def _executor(ns: argparse.Namespace) -> Iterator[Any]:
    if ns.dask is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--dask needs dask.distributed: pip install 'wasifs[dask]'") from None
    with Client(ns.dask, timeout=30) as client:  # type: ignore[no-untyped-call,unused-ignore]
        yield client


def _guard(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def main(ns: argparse.Namespace) -> int:
        try:
            return run(ns)
        except (OSError, ValueError, TypeError, ImportError, RuntimeError) as exc:
            msg = str(exc) or type(exc).__name__
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
                msg = f"{exc.filename}: {msg}"
            print(f"wasifs {ns.command}: {msg}", file=sys.stderr)
            return 2
    return main


# ------------------------------------------------------------------------------ checksum
def _read_manifest(path: str) -> tuple[str | None, dict[str, int]]:
    """(algorithm or None, {path: crc}) from a JSON manifest or ``HEX  PATH`` lines."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        files = doc.get("files")
        if not isinstance(files, dict):
            raise ValueError(f"{path}: a JSON manifest needs a 'files' object")
        return doc.get("algorithm"), {str(k): int(str(v), 16) for k, v in files.items()}
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        crc, sep, name = line.partition("  ")
        try:
            out[name] = int(crc, 16)
        except ValueError:
            raise ValueError(f"{path}:{n}: expected 'HEX  PATH', got {line!r}") from None
        if not sep:
            raise ValueError(f"{path}:{n}: expected 'HEX  PATH', got {line!r}")
    return None, out


@_guard
def _checksum_main(ns: argparse.Namespace) -> int:
    from ._api import checksum

    expected: dict[str, int] | None = None
    algorithm = ns.algorithm
    if ns.verify is not None:
        listed, expected = _read_manifest(ns.verify)
        if listed is not None:
            if algorithm is not None and algorithm != listed:
                raise ValueError(f"--algorithm {algorithm} but {ns.verify} holds {listed}")
            algorithm = listed
    algorithm = algorithm or "crc32"
    fs, selection, rel = _target(ns.target, ns.glob)
    bar = _progress(ns, "checksum")
    try:
        with _executor(ns) as ex:
            sums = checksum(fs, selection, algorithm, ns.device, executor=ex, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    got = {rel(k): v for k, v in sums.items()}
    if expected is None:
        if ns.json:
            json.dump({"algorithm": algorithm,
                       "files": {k: f"{v:08x}" for k, v in got.items()}}, sys.stdout,
                      indent=1)
            print()
        else:
            sys.stdout.writelines(f"{v:08x}  {k}\n" for k, v in got.items())
        return 0
    changed = sorted(k for k in got.keys() & expected.keys() if got[k] != expected[k])
    missing = sorted(expected.keys() - got.keys())
    new = sorted(got.keys() - expected.keys())
    same = len(got.keys() & expected.keys()) - len(changed)
    if ns.json:
        json.dump({"algorithm": algorithm, "changed": changed, "missing": missing, "new": new,
                   "unchanged": same}, sys.stdout, indent=1)
        print()
    else:
        for label, names in (("changed", changed), ("missing", missing), ("new", new)):
            sys.stdout.writelines(f"{label}: {k}\n" for k in names)
        print(f"{same} unchanged, {len(changed)} changed, {len(missing)} missing, "
              f"{len(new)} new", file=sys.stderr)
    return 1 if changed or missing or new else 0


# ------------------------------------------------------------------------------ scan
@_guard
def _scan_main(ns: argparse.Namespace) -> int:
    from ._api import scan

    patterns: list[bytes] = list(ns.patterns)
    if ns.patterns_file is not None:
        with open(ns.patterns_file, "rb") as f:
            patterns.extend(line.rstrip(b"\r\n") for line in f if line.rstrip(b"\r\n"))
    if not patterns:
        raise ValueError("no pattern: give -e TEXT, --hex HEX or -f FILE")
    fs, selection, rel = _target(ns.target, ns.glob)
    bar = _progress(ns, "scan")
    try:
        with _executor(ns) as ex:
            if ns.count:
                counts = scan(fs, selection, patterns, ns.device, ignore_case=ns.ignore_case,
                              count=True, executor=ex, progress=bar)
            else:
                matches = scan(fs, selection, patterns, ns.device, ignore_case=ns.ignore_case,
                               executor=ex, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    shown = [p.decode("utf-8", "backslashreplace") for p in patterns]
    if ns.count:
        rows = {rel(k): v for k, v in counts.items()}
        if ns.json:
            json.dump({"patterns": shown, "counts": rows}, sys.stdout, indent=1)
            print()
        else:
            sys.stdout.writelines(f"{k}: {' '.join(map(str, v))}\n" for k, v in rows.items())
        return 0 if rows else 1
    if ns.json:
        json.dump({"patterns": shown,
                   "matches": [{"path": rel(m.path), "offset": m.offset, "pattern": m.pattern}
                               for m in matches]}, sys.stdout, indent=1)
        print()
    else:
        sys.stdout.writelines(f"{rel(m.path)}:{m.offset}:{m.pattern}\n" for m in matches)
    return 0 if matches else 1
