"""The CPU path: the fastest correct library for each job, on a thread pool.

- CRC-32: :func:`zlib.crc32` (it releases the GIL for buffers over a few KiB, so pieces run
  on all cores); CRC-32C: the ``crc32c`` package (hardware instruction, also releases the
  GIL). The per-piece CRCs are combined with :mod:`wasifs.cuda._crc`.
- Scans: ``hyperscan`` where installed (a database of escaped literals in block mode; it
  reports every end offset, so overlapping matches are all there); else a numba
  Aho-Corasick kernel (:func:`wasifs.cuda._kernels.ac_scan`, linear time, releases the
  GIL); else ``re`` with a lookahead per pattern (the reference itself, slow).

Work is cut into tasks of a few MiB; each task opens its files, reads its pieces into a
buffer of its thread and computes, so reads and computation overlap across threads.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from ._patterns import PatternSet
from ._plan import Piece, slot_size
from ._source import FileInfo, Reader, Source, read_exact

__all__ = ("crc_function", "make_scanner", "Scanner", "run_tasks", "SCANNERS",
           "MissingDependencyError")

#: CPU scanners by name, best first.
SCANNERS = ("hyperscan", "numba", "re")

#: A task's bytes (and pieces): big enough to amortise the per-task overhead, small enough
#: to spread a few big files over the cores.
TASK_BYTES = 8 << 20
TASK_PIECES = 256


class MissingDependencyError(ImportError):
    """An optional package that the requested path needs is not installed."""


def crc_function(algorithm: str) -> Callable[[Any], int]:
    if algorithm == "crc32":
        return zlib.crc32
    try:
        import crc32c
    except ImportError:
        raise MissingDependencyError(
            "algorithm='crc32c' on the CPU needs the 'crc32c' package: "
            "pip install 'wasifs[bulk]' (or crc32c)") from None
    fn: Callable[[Any], int] = crc32c.crc32c
    return fn


# ------------------------------------------------------------------------------ scanners
Hit = tuple[int, int, int]  # (piece index in the batch, start within the piece, pattern)


class Scanner(Protocol):
    """Finds the matches that start in each piece's own bytes of a laid-out batch."""

    name: str

    def scan(self, buf: memoryview, layout: Sequence[tuple[int, int, int]],
             count: bool) -> tuple[list[Hit], list[list[int]]]:
        """``layout``: (position in ``buf``, own bytes, read bytes) per piece. Returns the
        hits, or with ``count`` per-piece per-pattern counts (and no hits)."""


class _ReScanner:
    name = "re"

    def __init__(self, pset: PatternSet) -> None:
        self._rx = pset.regexes()

    def scan(self, buf: memoryview, layout: Sequence[tuple[int, int, int]],
             count: bool) -> tuple[list[Hit], list[list[int]]]:
        hits: list[Hit] = []
        counts: list[list[int]] = []
        for p, (pos, own, read) in enumerate(layout):
            if count:
                counts.append([sum(1 for m in rx.finditer(buf, pos, pos + read)
                                   if m.start() - pos < own) for rx in self._rx])
                continue
            for i, rx in enumerate(self._rx):
                for m in rx.finditer(buf, pos, pos + read):
                    start = m.start() - pos
                    if start >= own:
                        break
                    hits.append((p, start, i))
        return hits, counts


def _bytes_like(view: memoryview) -> Any:
    """A view where an API is annotated ``bytes`` but takes any buffer (zero copy)."""
    return view


class _HyperscanScanner:
    name = "hyperscan"

    def __init__(self, pset: PatternSet) -> None:
        import hyperscan

        self._hs = hyperscan
        self._lens = [len(p) for p in pset.patterns]
        flags = hyperscan.HS_FLAG_CASELESS if pset.ignore_case else 0
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        # The literal compiler stops at NUL bytes: escape every byte of a regex instead.
        exprs = [b"".join(b"\\x%02x" % c for c in p) for p in pset.patterns]
        db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs),
                   flags=flags)
        self._db = db
        self._local = threading.local()

    def _scratch(self) -> Any:
        s = getattr(self._local, "scratch", None)
        if s is None:
            s = self._local.scratch = self._hs.Scratch(self._db)
        return s

    def scan(self, buf: memoryview, layout: Sequence[tuple[int, int, int]],
             count: bool) -> tuple[list[Hit], list[list[int]]]:
        hits: list[Hit] = []
        counts: list[list[int]] = []
        lens = self._lens
        scratch = self._scratch()
        for p, (pos, own, read) in enumerate(layout):
            if not read:
                if count:
                    counts.append([0] * len(lens))
                continue
            if count:
                row = [0] * len(lens)

                def on_count(pid: int, _f: int, to: int, _fl: int, _c: Any,
                             row: list[int] = row, own: int = own) -> None:
                    if to - lens[pid] < own:
                        row[pid] += 1
                self._db.scan(_bytes_like(buf[pos:pos + read]),
                              match_event_handler=on_count, scratch=scratch)
                counts.append(row)
                continue

            def on_match(pid: int, _f: int, to: int, _fl: int, _c: Any,
                         p: int = p, own: int = own) -> None:
                start = to - lens[pid]
                if start < own:
                    hits.append((p, start, pid))
            self._db.scan(_bytes_like(buf[pos:pos + read]), match_event_handler=on_match,
                          scratch=scratch)
        return hits, counts


class _NumbaScanner:
    name = "numba"

    def __init__(self, pset: PatternSet) -> None:
        import numpy as np

        from . import _kernels

        self._np = np
        self._kernel = _kernels.ac_scan
        self._npat = len(pset.patterns)
        self._tables = pset.ac_tables()
        self._fold = pset.fold_table()
        self._starts = (self._tables[0][0][self._fold] != 0).astype(np.uint8)

    def scan(self, buf: memoryview, layout: Sequence[tuple[int, int, int]],
             count: bool) -> tuple[list[Hit], list[list[int]]]:
        np = self._np
        arr = np.frombuffer(buf, dtype=np.uint8)
        lay = np.array(layout, dtype=np.int64).reshape(-1, 3)
        poff = np.ascontiguousarray(lay[:, 0])
        delta, out_start, out_ids, plen = self._tables
        mp, mpos, mpat, counts = self._kernel(
            arr, poff, np.ascontiguousarray(lay[:, 1]), poff + lay[:, 2], delta, self._fold,
            self._starts, out_start, out_ids, plen, self._npat, count)
        if count:
            return [], counts.reshape(-1, self._npat).tolist()
        return list(zip(mp.tolist(), mpos.tolist(), mpat.tolist(), strict=True)), []


def make_scanner(pset: PatternSet, name: str | None) -> Scanner:
    """The scanner called ``name``, or the best installed one."""
    if name == "re":
        return _ReScanner(pset)
    if name in (None, "hyperscan"):
        try:
            return _HyperscanScanner(pset)
        except ImportError:
            if name == "hyperscan":
                raise MissingDependencyError(
                    "device='cpu:hyperscan' needs the 'hyperscan' package: "
                    "pip install 'wasifs[bulk]'") from None
    if name in (None, "numba"):
        try:
            return _NumbaScanner(pset)
        except ImportError:
            if name == "numba":
                raise MissingDependencyError(
                    "device='cpu:numba' needs numba: pip install 'wasifs[bulk]'") from None
    if name is None:
        return _ReScanner(pset)
    raise ValueError(f"unknown CPU scanner {name!r}: expected one of {SCANNERS}")


# ------------------------------------------------------------------------------ tasks
def _tasks(pieces: Sequence[Piece]) -> list[list[int]]:
    out: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i, pc in enumerate(pieces):
        if cur and (used + pc.read > TASK_BYTES or len(cur) >= TASK_PIECES):
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += pc.read
    if cur:
        out.append(cur)
    return out


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.buf = bytearray()

    def get(self, n: int) -> memoryview:
        if len(self.buf) < n:
            self.buf = bytearray(max(n, 2 * len(self.buf)))
        return memoryview(self.buf)


def read_pieces(source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
                idxs: Sequence[int], buf: memoryview,
                positions: Sequence[int]) -> None:
    """Read each piece ``idxs[k]`` into ``buf`` at ``positions[k]`` (its read bytes plus the
    spare end-of-file byte), reusing the open file between pieces of one file."""
    opener = source.opener()
    reader: Reader | None = None
    current = -1
    try:
        for i, pos in zip(idxs, positions, strict=True):
            pc = pieces[i]
            if reader is None or pc.file != current:
                if reader is not None:
                    reader.close()
                    reader = None
                reader = opener.open(files[pc.file].path)
                current = pc.file
            f = files[pc.file]
            read_exact(reader, buf[pos:pos + pc.read + pc.eof], pc.offset, f.key,
                       check_eof=pc.eof, listed=f.size)
    finally:
        if reader is not None:
            reader.close()
        opener.close()


def run_tasks(source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
              work: Callable[[memoryview, list[int], list[int]], Any],
              progress: Callable[[int], object] | None, threads: int | None = None
              ) -> list[tuple[list[int], Any]]:
    """Read the pieces task by task on a thread pool and call ``work(buf, idxs,
    positions)`` on each task's buffer; returns (idxs, result) per task."""
    tasks = _tasks(pieces)
    buffers = _Buffers()

    def one(idxs: list[int]) -> tuple[list[int], Any]:
        positions = []
        pos = 0
        for i in idxs:
            positions.append(pos)
            pos += slot_size(pieces[i])
        buf = buffers.get(pos)
        read_pieces(source, files, pieces, idxs, buf, positions)
        return idxs, work(buf, idxs, positions)

    def done(idxs: list[int]) -> None:
        if progress is not None:
            progress(sum(pieces[i].own for i in idxs))

    nthreads = min(threads or os.cpu_count() or 1, len(tasks))
    if nthreads <= 1:
        out = []
        for t in tasks:
            out.append(one(t))
            done(t)
        return out
    results: list[tuple[list[int], Any]] = []
    with ThreadPoolExecutor(nthreads, thread_name_prefix="wasifs-cuda-cpu") as pool:
        # A bounded window of tasks in flight: memory stays at threads x task size.
        todo = iter(tasks)
        running: set[Future[tuple[list[int], Any]]] = set()
        for t in todo:
            running.add(pool.submit(one, t))
            if len(running) >= 2 * nthreads:
                break
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                idxs, res = fut.result()
                results.append((idxs, res))
                done(idxs)
                nxt = next(todo, None)
                if nxt is not None:
                    running.add(pool.submit(one, nxt))
    return results


def crc_run(source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
            algorithm: str, progress: Callable[[int], object] | None,
            threads: int | None = None) -> list[int]:
    """The CRC of every piece."""
    fn = crc_function(algorithm)

    def work(buf: memoryview, idxs: list[int], positions: list[int]) -> list[int]:
        return [fn(buf[pos:pos + pieces[i].read]) if pieces[i].read else 0
                for i, pos in zip(idxs, positions, strict=True)]

    out = [0] * len(pieces)
    for idxs, crcs in run_tasks(source, files, pieces, work, progress, threads):
        for i, c in zip(idxs, crcs, strict=True):
            out[i] = c
    return out


def scan_run(source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
             scanner: Scanner, count: bool, progress: Callable[[int], object] | None,
             threads: int | None = None) -> tuple[list[Hit], list[list[int]]]:
    """Hits as (piece index, start within the piece, pattern), or per-piece counts."""

    def work(buf: memoryview, idxs: list[int], positions: list[int]
             ) -> tuple[list[Hit], list[list[int]]]:
        layout = [(pos, pieces[i].own, pieces[i].read)
                  for i, pos in zip(idxs, positions, strict=True)]
        return scanner.scan(buf, layout, count)

    hits: list[Hit] = []
    counts: list[list[int]] = [[] for _ in pieces]
    for idxs, (h, c) in run_tasks(source, files, pieces, work, progress, threads):
        if count:
            for i, row in zip(idxs, c, strict=True):
                counts[i] = row
        else:
            hits.extend((idxs[p], start, pat) for p, start, pat in h)
    return hits, counts
