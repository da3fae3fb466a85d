"""The CUDA path: batches in pinned memory, two streams, device buffers reused.

How a streaming run goes (see ``docs/cuda.md``):

1. Pieces are grouped into batches that fit one staging buffer (``batch_size`` bytes):
   many small files share one buffer (an offsets table says where each piece lies) and one
   launch; a big file's chunks fill batches of their own.
2. Two pipeline slots, each with a pinned host buffer, a device buffer and a stream. While
   the GPU copies and computes batch *k* on one slot, reader threads fill the other slot's
   pinned buffer with batch *k+1*: the host-to-device copy is one asynchronous DMA per
   batch, from pinned memory, overlapping with the kernels of the other stream.
3. Per-batch metadata travels in one small pinned array too; results come back into pinned
   arrays on the batch's stream, and are collected just before the slot is reused.

Kernels (:mod:`wasifs.cuda._kernels`): ``crc_blocks`` (a thread per block of at most 1 KiB,
slicing-by-8 from shared memory) then ``crc_fold`` (a thread per piece, folding its blocks
with one shift table); ``pfac`` for scans (a thread per byte position).

A :class:`DeviceTree` keeps files on the device between calls (``wasifs.cuda.load``): each
file contiguous in a segment, so a checksum and a scan of it read device memory only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import _crc
from ._cpu import Hit, read_pieces
from ._patterns import PatternSet
from ._plan import Piece, batches, slot_size
from ._source import FileInfo, Source

__all__ = ("Gpu", "GpuEngine", "DeviceTree", "crc_block_size")

#: Bytes per CRC thread at most (longer pieces are cut into blocks of this size).
CRC_BLOCK_MAX = 1024
#: Pieces per launch at most on resident data (bounds the metadata arrays).
LAUNCH_PIECES = 1 << 20
#: Count-mode counters per batch at most (pieces x patterns).
MAX_COUNTERS = 1 << 23
#: Segment size of a resident tree (a bigger file gets a segment of its own).
SEGMENT_BYTES = 1 << 30

Collect = Callable[[], Any]


def crc_block_size(chunk: int) -> int:
    """The CRC block for pieces of ``chunk`` bytes: at most 1 KiB, at least 16, a multiple
    of 8, and small enough that a chunk has about 16 blocks or more."""
    return max(16, min(CRC_BLOCK_MAX, chunk // 16)) & ~7


class Gpu:
    """``numba.cuda``, the compiled kernels and the launch geometry."""

    def __init__(self) -> None:
        from . import _kernels

        cuda = _kernels.cuda_module()
        if not cuda.is_available():
            raise RuntimeError("no usable CUDA device (numba.cuda.is_available() is False)")
        self.cuda = cuda
        self.k = _kernels.cuda_kernels()
        self.simulator = _kernels.simulator()
        self.name = _kernels.device_name()
        # The simulator runs each thread of a block as a Python thread: keep blocks small.
        self.threads = 32 if self.simulator else 256

    def grid(self, n: int) -> int:
        return max(1, -(-n // self.threads))


class _Slot:
    """A pipeline stage: pinned staging buffer, device buffer, stream, reusable scratch."""

    def __init__(self, gpu: Gpu, capacity: int) -> None:
        cuda = gpu.cuda
        self.gpu = gpu
        self.capacity = capacity
        self.host = cuda.pinned_array(capacity, np.uint8)
        self.dev = cuda.device_array(capacity, np.uint8)
        self.stream = cuda.stream()
        self._scratch: dict[str, tuple[Any, Any]] = {}

    def scratch(self, name: str, n: int, dtype: Any, host: bool = False) -> tuple[Any, Any]:
        """A device array (and a pinned host twin) of at least ``n`` items, kept for the
        next batches: device memory is allocated once and grows only when it must."""
        cur = self._scratch.get(name)
        if cur is None or cur[0].shape[0] < n:
            size = max(n, 1024, int(cur[0].shape[0] * 1.5) if cur is not None else 0)
            cuda = self.gpu.cuda
            cur = (cuda.device_array(size, dtype),
                   cuda.pinned_array(size, dtype) if host else None)
            self._scratch[name] = cur
        return cur


class DeviceTree:
    """Files' bytes resident in device memory: ``segments`` (device arrays) and, per
    file, the (segment, position) where its bytes start."""

    def __init__(self, gpu: Gpu, files: list[FileInfo]) -> None:
        self.gpu = gpu
        self.files = files
        self.regions: list[tuple[int, int]] = []
        sizes: list[int] = []
        pos = 0
        for f in files:
            need = (f.size + 1 + 7) & ~7  # the spare byte for the end-of-file check
            if pos and pos + need > SEGMENT_BYTES:
                sizes.append(pos)
                pos = 0
            self.regions.append((len(sizes), pos))
            pos += need
        if pos or not sizes:
            sizes.append(pos)
        self.segments = [gpu.cuda.device_array(max(8, s), np.uint8) for s in sizes]

    @property
    def nbytes(self) -> int:
        return sum(int(s.shape[0]) for s in self.segments)

    def close(self) -> None:
        self.segments = []


class GpuEngine:
    """Runs checksum and scan pieces on the GPU; holds the device memory between batches."""

    def __init__(self, batch_size: int, readers: int | None = None) -> None:
        self.gpu = Gpu()
        cap = (max(batch_size, 1 << 12) + 7) & ~7
        self.batch_size = cap
        self.slots = [_Slot(self.gpu, cap) for _ in range(2)]
        self.readers = readers or min(8, os.cpu_count() or 1)
        self._tables: dict[Any, Any] = {}

    # --- uploads ------------------------------------------------------------------------
    def _table(self, key: Any, make: Callable[[], Any]) -> Any:
        dev = self._tables.get(key)
        if dev is None:
            dev = self._tables[key] = self.gpu.cuda.to_device(make())
        return dev

    def _crc_tables(self, algorithm: str, block: int) -> tuple[Any, Any]:
        poly = _crc.POLYS[algorithm]
        t8 = self._table(("slice8", poly),
                         lambda: np.array(_crc.slice8_tables(poly), dtype=np.uint32))
        sh = self._table(("shift", poly, block),
                         lambda: np.array(_crc.shift_table(poly, block), dtype=np.uint32))
        return t8, sh

    def _scan_tables(self, pset: PatternSet) -> tuple[Any, ...]:
        def make() -> tuple[Any, ...]:
            goto, tstart, tids = pset.pfac_tables()
            to = self.gpu.cuda.to_device
            return (to(goto), to(pset.fold_table()), to(tstart), to(tids))
        key = ("pfac", pset)
        tabs = self._tables.get(key)
        if tabs is None:
            tabs = self._tables[key] = make()
        return tabs

    # --- launches -----------------------------------------------------------------------
    def _launch_crc(self, slot: _Slot, dbuf: Any, poff: Any, plen: Any, algorithm: str,
                    block: int) -> Collect:
        gpu, k, s = self.gpu, self.gpu.k, slot.stream
        m = len(poff)
        nb = (plen + (block - 1)) // block
        dmeta, hmeta = slot.scratch("meta", 3 * m + 1, np.int64, host=True)
        hmeta[0:m] = poff
        hmeta[m:2 * m] = plen
        hmeta[2 * m] = 0
        np.cumsum(nb, out=hmeta[2 * m + 1:3 * m + 1])
        total = int(hmeta[3 * m])
        dmeta[:3 * m + 1].copy_to_device(hmeta[:3 * m + 1], stream=s)
        d_poff, d_plen, d_pblk = dmeta[0:m], dmeta[m:2 * m], dmeta[2 * m:3 * m + 1]
        dblk, _ = slot.scratch("blk", max(total, 1), np.uint32)
        dout, hout = slot.scratch("crc", m, np.uint32, host=True)
        t8, sh = self._crc_tables(algorithm, block)
        if total:
            k["crc_blocks"][gpu.grid(total), gpu.threads, s](
                dbuf, dbuf.view(np.uint32), d_poff, d_plen, d_pblk, t8, block, dblk)
        k["crc_fold"][gpu.grid(m), gpu.threads, s](dblk, d_pblk, sh, dout[:m])
        dout[:m].copy_to_host(hout[:m], stream=s)
        return lambda: hout[:m].tolist()

    def _launch_scan(self, slot: _Slot, dbuf: Any, nbytes: int, poff: Any, pown: Any,
                     pend: Any, pset: PatternSet, count: bool) -> Collect:
        gpu, k, s = self.gpu, self.gpu.k, slot.stream
        m = len(poff)
        npat = len(pset.patterns)
        trie, fold, tstart, tids = self._scan_tables(pset)
        dmeta, hmeta = slot.scratch("meta", 3 * m + 1, np.int64, host=True)
        hmeta[0:m] = poff
        hmeta[m:2 * m] = pown
        hmeta[2 * m:3 * m] = pend
        hmeta[3 * m] = 0
        dmeta[:3 * m + 1].copy_to_device(hmeta[:3 * m + 1], stream=s)
        d_poff, d_pown, d_pend = dmeta[0:m], dmeta[m:2 * m], dmeta[2 * m:3 * m]
        counter = dmeta[3 * m:3 * m + 1]

        if count:
            dcounts, hcounts = slot.scratch("counts", m * npat, np.int64, host=True)
            k["zero"][gpu.grid(m * npat), gpu.threads, s](dcounts[:m * npat])
            outs = [slot.scratch("o1", 1, np.int64)[0]] * 3
        else:
            dcounts = slot.scratch("c1", 1, np.int64)[0]
            outs = [slot.scratch(n, 1, np.int64)[0] for n in ("opiece", "opos", "opat")]

        def launch(outs: list[Any]) -> None:
            k["pfac"][gpu.grid(nbytes), gpu.threads, s](
                dbuf, nbytes, d_poff, d_pown, d_pend, trie, fold, tstart, tids, npat, count,
                counter, outs[0], outs[1], outs[2], dcounts)

        if nbytes:
            launch(outs)
        if count:
            dcounts[:m * npat].copy_to_host(hcounts[:m * npat], stream=s)
            return lambda: hcounts[:m * npat].reshape(m, npat).tolist()
        counter.copy_to_host(hmeta[3 * m:3 * m + 1], stream=s)

        def collect() -> tuple[Any, Any, Any]:
            found = int(hmeta[3 * m])
            if found > outs[0].shape[0]:  # outputs too small: grow them, run again
                grown = [slot.scratch(n, found, np.int64)[0] for n in ("opiece", "opos", "opat")]
                hmeta[3 * m] = 0
                counter.copy_to_device(hmeta[3 * m:3 * m + 1], stream=s)
                launch(grown)
                s.synchronize()
                outs[:] = grown
            return tuple(o[:found].copy_to_host(stream=s) if found else np.zeros(0, np.int64)
                         for o in outs)  # type: ignore[return-value]
        return collect

    # --- streaming ----------------------------------------------------------------------
    def _read(self, pool: ThreadPoolExecutor, source: Source, files: Sequence[FileInfo],
              pieces: Sequence[Piece], idxs: list[int], buf: memoryview,
              positions: list[int]) -> None:
        """Fill the staging buffer with the batch, split between the reader threads."""
        groups: list[tuple[list[int], list[int]]] = []
        total = sum(pieces[i].read for i in idxs)
        per = max(1 << 20, -(-total // self.readers))
        cur_i: list[int] = []
        cur_p: list[int] = []
        used = 0
        for i, pos in zip(idxs, positions, strict=True):
            cur_i.append(i)
            cur_p.append(pos)
            used += pieces[i].read + 4096
            if used >= per:
                groups.append((cur_i, cur_p))
                cur_i, cur_p, used = [], [], 0
        if cur_i:
            groups.append((cur_i, cur_p))
        if len(groups) == 1:
            read_pieces(source, files, pieces, groups[0][0], buf, groups[0][1])
            return
        for fut in [pool.submit(read_pieces, source, files, pieces, gi, buf, gp)
                    for gi, gp in groups]:
            fut.result()

    def _stream(self, source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
                launch: Callable[[_Slot, list[int], list[int], int], Collect],
                progress: Callable[[int], object] | None,
                max_pieces: int = 1 << 30) -> list[tuple[list[int], Any]]:
        """Read, copy and launch batch after batch on alternating slots."""
        results: list[tuple[list[int], Any]] = []
        pending: list[tuple[list[int], Collect] | None] = [None] * len(self.slots)

        def finish(j: int) -> None:
            item = pending[j]
            if item is None:
                return
            pending[j] = None
            self.slots[j].stream.synchronize()
            idxs, collect = item
            results.append((idxs, collect()))
            if progress is not None:
                progress(sum(pieces[i].own for i in idxs))

        plan = batches(pieces, range(len(pieces)), self.batch_size, max_pieces)
        with ThreadPoolExecutor(self.readers, thread_name_prefix="wasifs-cuda-read") as pool:
            try:
                for kb, idxs in enumerate(plan):
                    j = kb % len(self.slots)
                    finish(j)
                    slot = self.slots[j]
                    positions = []
                    n = 0
                    for i in idxs:
                        positions.append(n)
                        n += slot_size(pieces[i])
                    self._read(pool, source, files, pieces, idxs, memoryview(slot.host),
                               positions)
                    if n:
                        slot.dev[:n].copy_to_device(slot.host[:n], stream=slot.stream)
                    pending[j] = (idxs, launch(slot, idxs, positions, n))
                for kb in range(len(plan), len(plan) + len(self.slots)):
                    finish(kb % len(self.slots))
            finally:
                for slot in self.slots:
                    slot.stream.synchronize()
        return results

    def crc(self, source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
            algorithm: str, block: int, progress: Callable[[int], object] | None) -> list[int]:
        """The CRC of every piece, read from the files."""

        def launch(slot: _Slot, idxs: list[int], positions: list[int], n: int) -> Collect:
            plen = np.array([pieces[i].read for i in idxs], dtype=np.int64)
            return self._launch_crc(slot, slot.dev, np.array(positions, dtype=np.int64),
                                    plen, algorithm, block)

        out = [0] * len(pieces)
        for idxs, crcs in self._stream(source, files, pieces, launch, progress):
            for i, c in zip(idxs, crcs, strict=True):
                out[i] = c
        return out

    def scan(self, source: Source, files: Sequence[FileInfo], pieces: Sequence[Piece],
             pset: PatternSet, count: bool, progress: Callable[[int], object] | None
             ) -> tuple[list[Hit], list[list[int]]]:
        """Hits (piece index, start within the piece, pattern), or per-piece counts."""

        def launch(slot: _Slot, idxs: list[int], positions: list[int], n: int) -> Collect:
            poff = np.array(positions, dtype=np.int64)
            pown = np.array([pieces[i].own for i in idxs], dtype=np.int64)
            pend = poff + np.array([pieces[i].read for i in idxs], dtype=np.int64)
            return self._launch_scan(slot, slot.dev, n, poff, pown, pend, pset, count)

        npat = len(pset.patterns)
        results = self._stream(source, files, pieces, launch, progress,
                               max(1, MAX_COUNTERS // npat) if count else 1 << 30)
        return _gather(results, len(pieces), count)

    # --- resident data ------------------------------------------------------------------
    def load(self, source: Source, files: list[FileInfo],
             progress: Callable[[int], object] | None) -> DeviceTree:
        """Copy the files to the device, batch by batch through the pinned buffers."""
        tree = DeviceTree(self.gpu, files)
        stage = self.batch_size
        chunk = max(8, (stage // 4) & ~7)
        pieces: list[Piece] = []
        for i, f in enumerate(files):  # long pieces first: a file's pieces are contiguous
            off = 0
            while True:
                n = min(chunk, f.size - off)
                pieces.append(Piece(i, i, off, n, n, off + n == f.size))
                off += n
                if off >= f.size:
                    break
        # Batches never straddle two segments, and mirror the segment's layout.
        groups: list[list[int]] = []
        for i, pc in enumerate(pieces):
            seg, pos = tree.regions[pc.file]
            start = pos + pc.offset
            if groups:
                first = pieces[groups[-1][0]]
                fseg, fpos = tree.regions[first.file]
                base = fpos + first.offset
                if fseg == seg and start + slot_size(pc) - base <= stage:
                    groups[-1].append(i)
                    continue
            groups.append([i])
        with ThreadPoolExecutor(self.readers, thread_name_prefix="wasifs-cuda-read") as pool:
            for kb, idxs in enumerate(groups):
                slot = self.slots[kb % len(self.slots)]
                slot.stream.synchronize()
                first = pieces[idxs[0]]
                seg, fpos = tree.regions[first.file]
                base = fpos + first.offset
                positions = [tree.regions[pieces[i].file][1] + pieces[i].offset - base
                             for i in idxs]
                self._read(pool, source, files, pieces, idxs, memoryview(slot.host),
                           positions)
                n = positions[-1] + pieces[idxs[-1]].read
                if n:
                    tree.segments[seg][base:base + n].copy_to_device(slot.host[:n],
                                                                     stream=slot.stream)
                if progress is not None:
                    progress(sum(pieces[i].own for i in idxs))
        for slot in self.slots:
            slot.stream.synchronize()
        return tree

    def _resident_launches(self, tree: DeviceTree, pieces: Sequence[Piece],
                           launch: Callable[[Any, list[int], Any], Collect],
                           step: int = LAUNCH_PIECES) -> list[tuple[list[int], Any]]:
        by_seg: dict[int, list[int]] = {}
        for i, pc in enumerate(pieces):
            by_seg.setdefault(tree.regions[pc.file][0], []).append(i)
        slot = self.slots[0]
        results = []
        for seg, idxs in by_seg.items():
            for lo in range(0, len(idxs), step):
                part = idxs[lo:lo + step]
                poff = np.array([tree.regions[pieces[i].file][1] + pieces[i].offset
                                 for i in part], dtype=np.int64)
                collect = launch(tree.segments[seg], part, poff)
                slot.stream.synchronize()
                results.append((part, collect()))
        return results

    def crc_resident(self, tree: DeviceTree, pieces: Sequence[Piece], algorithm: str,
                     block: int) -> list[int]:
        slot = self.slots[0]

        def launch(dbuf: Any, part: list[int], poff: Any) -> Collect:
            plen = np.array([pieces[i].read for i in part], dtype=np.int64)
            return self._launch_crc(slot, dbuf, poff, plen, algorithm, block)

        out = [0] * len(pieces)
        for part, crcs in self._resident_launches(tree, pieces, launch):
            for i, c in zip(part, crcs, strict=True):
                out[i] = c
        return out

    def scan_resident(self, tree: DeviceTree, pieces: Sequence[Piece], pset: PatternSet,
                      count: bool) -> tuple[list[Hit], list[list[int]]]:
        slot = self.slots[0]
        npat = len(pset.patterns)

        def launch(dbuf: Any, part: list[int], poff: Any) -> Collect:
            pown = np.array([pieces[i].own for i in part], dtype=np.int64)
            pend = poff + np.array([pieces[i].read for i in part], dtype=np.int64)
            nbytes = int(pend.max()) if len(part) else 0
            return self._launch_scan(slot, dbuf, nbytes, poff, pown, pend, pset, count)

        step = max(1, MAX_COUNTERS // npat) if count else LAUNCH_PIECES
        return _gather(self._resident_launches(tree, pieces, launch, step), len(pieces), count)


def _gather(results: list[tuple[list[int], Any]], npieces: int,
            count: bool) -> tuple[list[Hit], list[list[int]]]:
    hits: list[Hit] = []
    counts: list[list[int]] = [[] for _ in range(npieces)]
    for idxs, res in results:
        if count:
            for i, row in zip(idxs, res, strict=True):
                counts[i] = row
            continue
        mpiece, mpos, mpat = res
        hits.extend((idxs[p], pos, pat) for p, pos, pat in
                    zip(mpiece.tolist(), mpos.tolist(), mpat.tolist(), strict=True))
    return hits, counts
