"""``checksum``, ``scan`` and ``load``: planning, dispatch and scale-out.

One run goes: list the files (:mod:`._source`), cut them into spans (whole files, or with
an executor byte-balanced partitions), each span into pieces (:mod:`._plan`), compute the
pieces on the chosen device (:mod:`._cpu`, :mod:`._gpu`), then fold the pieces' CRCs into
the span's and the spans' into the file's (:mod:`._crc`), or turn piece-relative hits into
file offsets. A partition shipped to an executor is the same function on fewer spans.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import threading
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

from . import _cpu, _crc
from ._patterns import PatternSet
from ._plan import Piece, Span, crc_pieces, partition, scan_pieces, whole_files
from ._source import FileInfo, Selection, Source, make_source, read_exact

__all__ = ("checksum", "scan", "load", "available", "Match", "Resident", "Device",
           "ALGORITHMS")

ALGORITHMS = _crc.ALGORITHMS
Device = str  # "auto" | "cpu" | "cuda" | "cpu:hyperscan" | "cpu:numba" | "cpu:re"
Progress = Callable[[int], object]

#: Piece sizes (``chunk_size`` default) per device and job.
CPU_CHUNK = 8 << 20
GPU_CRC_CHUNK = 256 << 10
GPU_SCAN_CHUNK = 4 << 20
#: The GPU staging buffer (``batch_size`` default): two of them, pinned.
GPU_BATCH = 64 << 20


class Match(NamedTuple):
    """One occurrence: ``patterns[pattern]`` starts at byte ``offset`` of ``path``."""

    path: str
    offset: int
    pattern: int


# ------------------------------------------------------------------------------ devices
def _driver_present() -> bool:
    names = ("nvcuda.dll",) if os.name == "nt" else ("libcuda.so.1", "libcuda.so",
                                                      "libcuda.dylib")
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


@functools.cache
def available() -> bool:
    """Whether a real CUDA GPU is usable here (numba-cuda installed, a driver, a device).
    The simulator does not count. Imports numba only when a driver is present."""
    if importlib.util.find_spec("numba") is None or importlib.util.find_spec("numba_cuda") \
            is None:
        return False
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return False
    if not _driver_present():
        return False
    try:
        from . import _kernels

        return bool(_kernels.cuda_module().is_available())
    except Exception:  # a broken install is "not usable", never a crash of "auto"
        return False


def _resolve(device: str, *, scanning: bool) -> tuple[str, str | None]:
    """("cpu" | "cuda", the CPU scanner's name or None for the best)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a str, not {type(device).__name__}")
    if device == "auto":
        return ("cuda", None) if available() else ("cpu", None)
    if device in ("cpu", "cuda"):
        return device, None
    kind, _, name = device.partition(":")
    if kind == "cpu" and name in _cpu.SCANNERS and scanning:
        return "cpu", name
    choices = "'auto', 'cpu', 'cuda'" + (
        ", or 'cpu:NAME' with NAME one of " + ", ".join(_cpu.SCANNERS) if scanning else "")
    raise ValueError(f"unknown device {device!r}: expected {choices}")


def _gpu_engine(batch: int) -> Any:
    try:
        from ._gpu import GpuEngine
    except ImportError as exc:
        raise _cpu.MissingDependencyError(
            "device='cuda' needs numba-cuda and numpy: pip install 'wasifs[cuda]' "
            f"({exc})") from None
    try:
        return GpuEngine(batch)
    except Exception as exc:
        if type(exc).__name__ in ("CudaSupportError", "CudaDriverError") or \
                isinstance(exc, RuntimeError):
            raise RuntimeError(f"device='cuda' but no CUDA GPU is usable: {exc}") from None
        raise


# ------------------------------------------------------------------------------ jobs
@dataclass(frozen=True)
class _Job:
    """One unit of work, local or shipped to an executor (picklable)."""

    source: Source
    files: list[FileInfo]
    spans: list[Span]
    device: str
    chunk: int | None
    batch: int | None
    algorithm: str = "crc32"
    patterns: PatternSet | None = None
    count: bool = False


#: Hits as three columns (span, offset in the file, pattern): arrays pickle in one piece,
#: where a dask worker's list of 100,000 tuples takes seconds to come back.
Hits = tuple["array[int]", "array[int]", "array[int]"]
_Result = list[int] | Hits | list[list[int]]


def _run_job(job: _Job, progress: Progress | None = None) -> _Result:
    """Compute a job: CRCs per span, or hits (span, file offset, pattern), or counts per
    span. This is what an executor's worker runs."""
    kind, scanner = _resolve(job.device, scanning=job.patterns is not None)
    if job.patterns is None:
        chunk = job.chunk or (GPU_CRC_CHUNK if kind == "cuda" else CPU_CHUNK)
        pieces = crc_pieces(job.files, job.spans, chunk)
        if kind == "cuda":
            from ._gpu import crc_block_size

            engine = _gpu_engine(job.batch or GPU_BATCH)
            crcs = engine.crc(job.source, job.files, pieces, job.algorithm,
                              crc_block_size(chunk), progress)
        else:
            crcs = _cpu.crc_run(job.source, job.files, pieces, job.algorithm, progress)
        return _fold_spans(job.spans, pieces, crcs, job.algorithm)
    pset = job.patterns
    chunk = job.chunk or (GPU_SCAN_CHUNK if kind == "cuda" else CPU_CHUNK)
    pieces = scan_pieces(job.files, job.spans, chunk, pset.overlap)
    if kind == "cuda":
        engine = _gpu_engine(job.batch or GPU_BATCH)
        hits, counts = engine.scan(job.source, job.files, pieces, pset, job.count, progress)
    else:
        hits, counts = _cpu.scan_run(job.source, job.files, pieces,
                                     _cpu.make_scanner(pset, scanner), job.count, progress)
    return _piece_results(job.spans, pieces, hits, counts, job.count,
                          len(pset.patterns))


def _fold_spans(spans: Sequence[Span], pieces: Sequence[Piece], crcs: Sequence[int],
                algorithm: str) -> list[int]:
    poly = _crc.POLYS[algorithm]
    per: list[tuple[list[int], list[int]]] = [([], []) for _ in spans]
    for pc, c in zip(pieces, crcs, strict=True):
        lst = per[pc.span]
        lst[0].append(c)
        lst[1].append(pc.own)
    return [_crc.fold(c, n, poly) for c, n in per]


def _piece_results(spans: Sequence[Span], pieces: Sequence[Piece],
                   hits: list[tuple[int, int, int]],
                   counts: list[list[int]], count: bool, npat: int) -> _Result:
    if count:
        out = [[0] * npat for _ in spans]
        for pc, row in zip(pieces, counts, strict=True):
            if row:
                acc = out[pc.span]
                for k, v in enumerate(row):
                    acc[k] += int(v)
        return out
    return (array("q", [pieces[p].span for p, _, _ in hits]),
            array("q", [pieces[p].offset + start for p, start, _ in hits]),
            array("q", [pat for _, _, pat in hits]))


# ------------------------------------------------------------------------------ executors
def _as_executor(executor: Any) -> tuple[Any, int]:
    """(an object with ``submit``, its worker count): a ``concurrent.futures.Executor`` or
    a ``dask.distributed.Client`` (through its ``get_executor``)."""
    if hasattr(executor, "get_executor") and hasattr(executor, "nthreads"):
        workers = sum(executor.nthreads().values())
        return executor.get_executor(pure=False), max(1, workers)
    if not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor or a "
                        f"dask.distributed.Client, not {executor!r}")
    workers = getattr(executor, "_max_workers", None)
    return executor, workers if isinstance(workers, int) and workers > 0 else 8


def _run(source: Source, files: list[FileInfo], device: str, chunk: int | None,
         batch: int | None, executor: Executor | Any | None, partitions: int | None,
         progress: Progress | None, **op: Any) -> list[tuple[list[Span], list[int], _Result]]:
    """Run locally (one job on whole files) or as partitions on an executor. Returns
    (spans, the files' global indices, result) per job."""
    _announce(progress, sum(f.size for f in files))
    if executor is None:
        spans = whole_files(files)
        job = _Job(source, files, spans, device, chunk, batch, **op)
        return [(spans, list(range(len(files))), _run_job(job, progress))]
    ex, workers = _as_executor(executor)
    parts = partition(files, partitions or workers)
    jobs = []
    for part in parts:
        used = sorted({sp.file for sp in part})
        local = {g: k for k, g in enumerate(used)}
        spans = [Span(local[sp.file], sp.start, sp.length) for sp in part]
        jobs.append((spans, used, _Job(source, [files[g] for g in used], spans, device,
                                       chunk, batch, **op)))
    futures = [ex.submit(_run_job, job) for _, _, job in jobs]
    out = []
    for (spans, used, _), fut in zip(jobs, futures, strict=True):
        res = fut.result()
        if progress is not None:
            progress(sum(sp.length for sp in spans))
        out.append((spans, used, res))
    return out


def _announce(progress: Progress | None, total: int) -> None:
    """Tell a progress object with a ``total`` attribute (a tqdm bar's convention) the
    run's total bytes, before the work starts."""
    if progress is not None and hasattr(progress, "total"):
        progress.total = total


def _sizes(chunk_size: int | None, batch_size: int | None) -> None:
    for name, v in (("chunk_size", chunk_size), ("batch_size", batch_size)):
        if v is not None and (not isinstance(v, int) or v <= 0):
            raise ValueError(f"{name} must be a positive int, got {v!r}")


# ------------------------------------------------------------------------------ checksum
def checksum(fs: Any, paths_or_glob: Selection = None, algorithm: str = "crc32",
             device: Device = "auto", *, executor: Executor | Any | None = None,
             partitions: int | None = None, chunk_size: int | None = None,
             batch_size: int | None = None, progress: Progress | None = None
             ) -> dict[str, int]:
    """The CRC of every selected file: ``{path: crc}``, in path order.

    ``fs``: a wasifs backend, a :class:`wasifs.Path` (its directory is the base of relative
    selections), any fsspec filesystem, a host directory or URL, or a :class:`Resident`
    tree from :func:`load` (then ``paths_or_glob`` must be None). ``paths_or_glob``: None
    (every file), a glob, a file or directory path, or a list of them (see
    :mod:`wasifs.cuda`). ``algorithm``: ``"crc32"`` (equal to :func:`zlib.crc32`) or
    ``"crc32c"`` (equal to ``crc32c.crc32c``). ``device``: ``"auto"`` (CUDA when a GPU is
    usable, else CPU), ``"cpu"`` or ``"cuda"``.

    ``executor``: a :class:`concurrent.futures.Executor` or a ``dask.distributed.Client``;
    the files are cut into ``partitions`` (default: the executor's worker count) runs of
    about equal bytes, big files split between them, each computed where it runs (with its
    own ``device``) and combined here. ``chunk_size``: the piece size big files are cut
    into; ``batch_size``: the GPU staging buffer. ``progress(nbytes)`` is called, on this
    thread, as work completes; if ``progress`` has a ``total`` attribute, it is first set
    to the total bytes of the run.
    """
    if algorithm not in _crc.POLYS:
        raise ValueError(f"unknown algorithm {algorithm!r}: expected one of {ALGORITHMS}")
    _sizes(chunk_size, batch_size)
    if isinstance(fs, Resident):
        if paths_or_glob is not None or executor is not None:
            raise ValueError("a Resident tree is checksummed whole: pass paths_or_glob=None "
                             "and no executor")
        return fs._checksum(algorithm, chunk_size, progress)
    _resolve(device, scanning=False)
    source = make_source(fs)
    files = source.list(paths_or_glob)
    poly = _crc.POLYS[algorithm]
    parts: dict[int, list[tuple[int, int, int]]] = {}
    for spans, used, res in _run(source, files, device, chunk_size, batch_size, executor,
                                 partitions, progress, algorithm=algorithm):
        for sp, crc in zip(spans, res, strict=True):
            parts.setdefault(used[sp.file], []).append((sp.start, sp.length, int(crc)))  # type: ignore[call-overload]
    out = {}
    for i, f in enumerate(files):
        runs = parts.get(i, [(0, 0, 0)])
        if len(runs) == 1:
            out[f.key] = runs[0][2]
            continue
        runs.sort()
        out[f.key] = _crc.fold([r[2] for r in runs], [r[1] for r in runs], poly)
    return out


# ------------------------------------------------------------------------------ scan
@overload
def scan(fs: Any, paths_or_glob: Selection, patterns: Sequence[bytes | str],
         device: Device = ..., *, ignore_case: bool = ..., count: Literal[False] = ...,
         executor: Executor | Any | None = ..., partitions: int | None = ...,
         chunk_size: int | None = ..., batch_size: int | None = ...,
         progress: Progress | None = ...) -> list[Match]: ...


@overload
def scan(fs: Any, paths_or_glob: Selection, patterns: Sequence[bytes | str],
         device: Device = ..., *, ignore_case: bool = ..., count: Literal[True],
         executor: Executor | Any | None = ..., partitions: int | None = ...,
         chunk_size: int | None = ..., batch_size: int | None = ...,
         progress: Progress | None = ...) -> dict[str, list[int]]: ...


def scan(fs: Any, paths_or_glob: Selection, patterns: Sequence[bytes | str],
         device: Device = "auto", *, ignore_case: bool = False, count: bool = False,
         executor: Executor | Any | None = None, partitions: int | None = None,
         chunk_size: int | None = None, batch_size: int | None = None,
         progress: Progress | None = None) -> list[Match] | dict[str, list[int]]:
    """Every occurrence of each pattern in the selected files.

    Returns :class:`Match` (path, offset, pattern index) tuples sorted by path, offset and
    pattern, every occurrence included, overlapping ones too (what ``re.finditer`` finds
    with ``(?=pattern)``, one pattern at a time). With ``count=True``: ``{path: [count of
    each pattern]}`` for the files with at least one match. ``patterns``: bytes (str is
    encoded as UTF-8), none empty; ``ignore_case`` compares ASCII letters without case.
    ``device`` also takes ``"cpu:hyperscan"``, ``"cpu:numba"`` or ``"cpu:re"`` to choose
    the CPU scanner. The other arguments are :func:`checksum`'s.
    """
    pset = PatternSet.of(patterns, ignore_case)
    _sizes(chunk_size, batch_size)
    if isinstance(fs, Resident):
        if paths_or_glob is not None or executor is not None:
            raise ValueError("a Resident tree is scanned whole: pass paths_or_glob=None "
                             "and no executor")
        return fs._scan(pset, count, device, chunk_size, progress)
    _resolve(device, scanning=True)
    source = make_source(fs)
    files = source.list(paths_or_glob)
    results = _run(source, files, device, chunk_size, batch_size, executor, partitions,
                   progress, patterns=pset, count=count)
    return _scan_output(files, results, count, len(pset.patterns))


def _scan_output(files: list[FileInfo], results: list[tuple[list[Span], list[int], _Result]],
                 count: bool, npat: int) -> list[Match] | dict[str, list[int]]:
    if count:
        totals: dict[int, list[int]] = {}
        for spans, used, res in results:
            rows: list[list[int]] = res  # type: ignore[assignment]
            for sp, row in zip(spans, rows, strict=True):
                acc = totals.setdefault(used[sp.file], [0] * npat)
                for k, v in enumerate(row):
                    acc[k] += v
        return {files[i].key: row for i, row in sorted(totals.items()) if any(row)}
    found: list[tuple[int, int, int]] = []
    for spans, used, res in results:
        cols: Hits = res  # type: ignore[assignment]
        found.extend((used[spans[s].file], off, pat) for s, off, pat in zip(*cols, strict=True))
    found.sort()
    return [Match(files[i].key, off, pat) for i, off, pat in found]


# ------------------------------------------------------------------------------ resident
class Resident:
    """Files read once and kept in memory (device memory for ``device="cuda"``) for
    several :func:`checksum` / :func:`scan` calls: pass it as ``fs`` with no selection.
    Made by :func:`load`; free it with :meth:`close` (or use it as a context manager)."""

    def __init__(self, files: list[FileInfo], device: str, engine: Any, data: Any) -> None:
        self.files = files
        self.device = device
        self._engine = engine
        self._data = data
        self._lock = threading.Lock()

    @property
    def paths(self) -> list[str]:
        """The files' keys, in order."""
        return [f.key for f in self.files]

    @property
    def nbytes(self) -> int:
        """The files' total size."""
        return sum(f.size for f in self.files)

    def __repr__(self) -> str:
        state = "closed" if self._data is None else f"{self.nbytes} bytes"
        return f"<wasifs.cuda.Resident {len(self.files)} files, {state}, on {self.device}>"

    def close(self) -> None:
        """Free the memory (device memory for CUDA)."""
        with self._lock:
            if self._data is not None and self.device == "cuda":
                self._data.close()
            self._data = None
            self._engine = None

    def __enter__(self) -> Resident:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> Any:
        if self._data is None:
            raise ValueError("this Resident tree is closed")
        return self._data

    def _checksum(self, algorithm: str, chunk: int | None,
                  progress: Progress | None) -> dict[str, int]:
        with self._lock:
            data = self._live()
            spans = whole_files(self.files)
            if self.device == "cuda":
                from ._gpu import crc_block_size

                chunk = chunk or GPU_CRC_CHUNK
                pieces = crc_pieces(self.files, spans, chunk)
                crcs = self._engine.crc_resident(data, pieces, algorithm,
                                                 crc_block_size(chunk))
            else:
                pieces = crc_pieces(self.files, spans, chunk or CPU_CHUNK)
                fn = _cpu.crc_function(algorithm)
                crcs = _host_compute(
                    data, pieces, lambda mv, lay: [fn(mv[p:p + r]) if r else 0
                                                   for p, _, r in lay])
            if progress is not None:
                progress(self.nbytes)
            res = _fold_spans(spans, pieces, crcs, algorithm)
            return {f.key: c for f, c in zip(self.files, res, strict=True)}

    def _scan(self, pset: PatternSet, count: bool, device: str, chunk: int | None,
              progress: Progress | None) -> list[Match] | dict[str, list[int]]:
        _, scanner = _resolve(device, scanning=True)
        with self._lock:
            data = self._live()
            spans = whole_files(self.files)
            if self.device == "cuda":
                pieces = scan_pieces(self.files, spans, chunk or GPU_SCAN_CHUNK, pset.overlap)
                hits, counts = self._engine.scan_resident(data, pieces, pset, count)
            else:
                pieces = scan_pieces(self.files, spans, chunk or CPU_CHUNK, pset.overlap)
                sc = _cpu.make_scanner(pset, scanner)
                hits, counts = [], [[] for _ in pieces]
                for idxs, (h, c) in _host_compute(
                        data, pieces, lambda mv, lay: sc.scan(mv, lay, count), grouped=True):
                    hits.extend((idxs[p], s, pat) for p, s, pat in h)
                    for i, row in zip(idxs, c, strict=False):  # c is empty without count
                        counts[i] = row
            if progress is not None:
                progress(self.nbytes)
            res = _piece_results(spans, pieces, hits, counts, count, len(pset.patterns))
            return _scan_output(self.files, [(spans, list(range(len(self.files))), res)],
                                count, len(pset.patterns))


class _HostTree:
    """The CPU twin of a DeviceTree: files in bytearrays, at the same positions."""

    def __init__(self, files: list[FileInfo]) -> None:
        self.regions: list[tuple[int, int]] = []
        self.segments: list[bytearray] = []
        for f in files:
            self.regions.append((len(self.segments), 0))
            self.segments.append(bytearray(f.size + 1))


def _host_compute(tree: _HostTree, pieces: Sequence[Piece],
                  work: Callable[[memoryview, list[tuple[int, int, int]]], Any],
                  grouped: bool = False) -> Any:
    """Run ``work(segment view, [(position, own, read)...])`` over the pieces of each
    segment, segments grouped into tasks of a few MiB on a thread pool (a task per small
    file would cost more than its CRC); returns per-piece results (or (idxs, result) per
    segment)."""
    from concurrent.futures import ThreadPoolExecutor

    by_seg: dict[int, list[int]] = {}
    for i, pc in enumerate(pieces):
        by_seg.setdefault(tree.regions[pc.file][0], []).append(i)
    tasks: list[list[tuple[int, list[int]]]] = [[]]
    used = 0
    for seg, idxs in by_seg.items():
        if used >= _cpu.TASK_BYTES:
            tasks.append([])
            used = 0
        tasks[-1].append((seg, idxs))
        used += sum(pieces[i].read for i in idxs) + 4096

    def one(task: list[tuple[int, list[int]]]) -> list[tuple[list[int], Any]]:
        out = []
        for seg, idxs in task:
            mv = memoryview(tree.segments[seg])
            lay = [(tree.regions[pieces[i].file][1] + pieces[i].offset, pieces[i].own,
                    pieces[i].read) for i in idxs]
            out.append((idxs, work(mv, lay)))
        return out

    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="wasifs-cuda-cpu") as ex:
        done = [item for part in ex.map(one, tasks) for item in part]
    if grouped:
        return done
    out = [0] * len(pieces)
    for idxs, res in done:
        for i, v in zip(idxs, res, strict=True):
            out[i] = v
    return out


def load(fs: Any, paths_or_glob: Selection = None, device: Device = "auto", *,
         batch_size: int | None = None, progress: Progress | None = None) -> Resident:
    """Read the selected files once and keep them: on the GPU for ``device="cuda"`` (many
    small files go through one pinned buffer per batch, one copy each), in host memory
    for ``"cpu"``. Then ``checksum(tree)`` and ``scan(tree, None, patterns)`` read no file.
    The files' sizes must not change while they are read (:class:`FileChangedError`)."""
    _sizes(None, batch_size)
    kind, _ = _resolve(device, scanning=False)
    source = make_source(fs)
    files = source.list(paths_or_glob)
    _announce(progress, sum(f.size for f in files))
    if kind == "cuda":
        engine = _gpu_engine(batch_size or GPU_BATCH)
        return Resident(files, "cuda", engine, engine.load(source, files, progress))
    tree = _HostTree(files)
    opener = source.opener()
    try:
        for f, seg in zip(files, tree.segments, strict=True):
            reader = opener.open(f.path)
            try:
                read_exact(reader, memoryview(seg), 0, f.key, check_eof=True, listed=f.size)
            finally:
                reader.close()
            del seg[f.size:]
            if progress is not None:
                progress(f.size)
    finally:
        opener.close()
    return Resident(files, "cpu", None, tree)
