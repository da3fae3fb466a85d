"""The numba kernels: the only module of wasifs that imports numba.

Imported lazily, on the first call that runs a kernel. ``numba.cuda`` is imported only by
:func:`cuda_kernels` (the CPU scanner needs numba alone). Under ``NUMBA_ENABLE_CUDASIM=1``
the CUDA kernels run in numba's simulator (slowly, on small inputs: that is how CI tests
them without a GPU).

All arithmetic on CRC registers is done in int64 (values stay below 2**32): numba types
``uint64 op int64`` as float64, and int64 throughout sidesteps that trap.

Layout conventions shared with :mod:`wasifs.cuda._gpu`: a batch is one byte buffer holding
pieces at 8-byte aligned offsets ``poff``. A CRC piece of ``plen`` bytes is cut into
``pblk[p+1] - pblk[p]`` blocks of ``block`` bytes, the *first* one short (``plen`` modulo
``block``, or a full one), so that every later block has the same length and one shift
table folds them. A scan piece owns the matches that start in its first ``pown`` bytes and
may read up to ``pend`` (absolute) for a match that runs past them.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ("ac_scan", "cuda_kernels", "cuda_module", "simulator", "device_name")

_I64 = numba.int64


@numba.njit(nogil=True, cache=False)  # type: ignore[untyped-decorator,unused-ignore]
def ac_scan(buf: Any, poff: Any, pown: Any, pend: Any, delta: Any, fold: Any, starts: Any,
            out_start: Any, out_ids: Any, plen: Any, npat: int,
            count_only: bool) -> Any:  # pragma: no cover - compiled, checked by tests
    """Aho-Corasick over every piece of a batch (CPU, releases the GIL).

    ``delta`` is the full automaton (states x 256), ``starts[b]`` whether the byte ``b``
    leaves the root, ``out_start``/``out_ids`` the pattern ids recognised in each state
    (suffix outputs included), ``plen`` the pattern lengths.
    Returns (piece, start within piece, pattern) arrays, or per piece x pattern counts.
    """
    npieces = poff.shape[0]
    cap = 1024
    mpiece = np.empty(cap, np.int64)
    mpos = np.empty(cap, np.int64)
    mpat = np.empty(cap, np.int64)
    n = 0
    counts = np.zeros(npieces * npat if count_only else 0, np.int64)
    for p in range(npieces):
        base = poff[p]
        own = pown[p]
        end = pend[p]
        s = 0
        j = base
        while j < end:
            if s == 0:
                # At the root, skip the bytes no pattern starts with: independent loads,
                # where the automaton's transitions are a chain of dependent ones.
                while j < end and not starts[buf[j]]:
                    j += 1
                if j == end:
                    break
            s = delta[s, fold[buf[j]]]
            j += 1
            k0 = out_start[s]
            k1 = out_start[s + 1]
            if k0 == k1:  # the common case: nothing ends here
                continue
            for k in range(k0, k1):
                pat = out_ids[k]
                start = j - base - plen[pat]
                if start >= own:
                    continue
                if count_only:
                    counts[p * npat + pat] += 1
                    continue
                if n == cap:
                    cap *= 2
                    a = np.empty(cap, np.int64)
                    a[:n] = mpiece
                    mpiece = a
                    a = np.empty(cap, np.int64)
                    a[:n] = mpos
                    mpos = a
                    a = np.empty(cap, np.int64)
                    a[:n] = mpat
                    mpat = a
                mpiece[n] = p
                mpos[n] = start
                mpat[n] = pat
                n += 1
    return mpiece[:n], mpos[:n], mpat[:n], counts


_CUDA: dict[str, Any] = {}
#: ``numba.cuda``, set by :func:`cuda_kernels`. A module global on purpose: the simulator
#: runs kernels with the ``numba.cuda`` globals of their module swapped for its fake one.
cuda: Any = None


def cuda_module() -> Any:
    """``numba.cuda`` (imported on first use)."""
    from numba import cuda

    return cuda


def simulator() -> bool:
    """Whether numba runs CUDA kernels in its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba.core import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))


def device_name() -> str:
    """The current CUDA device's name (``"CUDA simulator"`` in the simulator)."""
    if simulator():
        return "CUDA simulator"
    name = cuda_module().get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def cuda_kernels() -> dict[str, Any]:
    """The CUDA kernels, compiled on first use: ``crc_blocks``, ``crc_fold``, ``pfac``."""
    global cuda
    if _CUDA:
        return _CUDA
    cuda = cuda_module()
    uint32 = numba.uint32

    @cuda.jit  # type: ignore[untyped-decorator,unused-ignore]
    def crc_blocks(buf: Any, words: Any, poff: Any, plen: Any, pblk: Any, tables: Any,
                   block: int, out: Any) -> None:  # pragma: no cover - device code
        """One thread per block: the CRC (conditioned, as zlib's) of its bytes.
        Slicing-by-8 with the eight tables in shared memory; the bytes before the first
        4-byte aligned address and after the last whole 8-byte group go one at a time."""
        sh = cuda.shared.array(2048, uint32)
        k = cuda.threadIdx.x
        while k < 2048:
            sh[k] = tables[k]
            k += cuda.blockDim.x
        cuda.syncthreads()
        t = cuda.grid(1)
        last = pblk.shape[0] - 1
        if t >= pblk[last]:
            return
        lo = 0
        hi = last - 1
        while lo < hi:  # the piece p with pblk[p] <= t < pblk[p + 1]
            mid = (lo + hi + 1) // 2
            if pblk[mid] <= t:
                lo = mid
            else:
                hi = mid - 1
        p = lo
        nb = _I64(pblk[p + 1] - pblk[p])
        kb = _I64(t - pblk[p])
        first = _I64(plen[p]) - (nb - 1) * block
        if kb == 0:
            i = _I64(poff[p])
            end = i + first
        else:
            i = _I64(poff[p]) + first + (kb - 1) * block
            end = i + block
        c = _I64(0xFFFFFFFF)
        while i < end and (i & 3) != 0:
            c = _I64(sh[(c ^ _I64(buf[i])) & 0xFF]) ^ (c >> 8)
            i += 1
        while i + 8 <= end:
            w = i >> 2
            a = _I64(words[w]) ^ c
            b = _I64(words[w + 1])
            c = (_I64(sh[1792 + (a & 0xFF)]) ^ _I64(sh[1536 + ((a >> 8) & 0xFF)])
                 ^ _I64(sh[1280 + ((a >> 16) & 0xFF)]) ^ _I64(sh[1024 + ((a >> 24) & 0xFF)])
                 ^ _I64(sh[768 + (b & 0xFF)]) ^ _I64(sh[512 + ((b >> 8) & 0xFF)])
                 ^ _I64(sh[256 + ((b >> 16) & 0xFF)]) ^ _I64(sh[(b >> 24) & 0xFF]))
            i += 8
        while i < end:
            c = _I64(sh[(c ^ _I64(buf[i])) & 0xFF]) ^ (c >> 8)
            i += 1
        out[t] = c ^ 0xFFFFFFFF

    @cuda.jit  # type: ignore[untyped-decorator,unused-ignore]
    def crc_fold(blk: Any, pblk: Any, shift: Any, out: Any) -> None:  # pragma: no cover
        """One thread per piece: fold its blocks' CRCs (every block after the first has
        the same length, so ``shift`` is one table): c = shift(c) ^ crc(next block)."""
        p = cuda.grid(1)
        if p >= out.shape[0]:
            return
        b0 = pblk[p]
        b1 = pblk[p + 1]
        if b0 == b1:
            out[p] = 0
            return
        c = _I64(blk[b0])
        for b in range(b0 + 1, b1):
            c = (_I64(shift[c & 0xFF]) ^ _I64(shift[256 + ((c >> 8) & 0xFF)])
                 ^ _I64(shift[512 + ((c >> 16) & 0xFF)]) ^ _I64(shift[768 + ((c >> 24) & 0xFF)])
                 ^ _I64(blk[b]))
        out[p] = c

    @cuda.jit  # type: ignore[untyped-decorator,unused-ignore]
    def pfac(buf: Any, nbytes: int, poff: Any, pown: Any, pend: Any, trie: Any, fold: Any,
             tstart: Any, tids: Any, npat: int, count_only: bool, counter: Any,
             out_piece: Any, out_pos: Any, out_pat: Any,
             counts: Any) -> None:  # pragma: no cover - device code
        """Parallel failureless Aho-Corasick: one thread per byte position walks the
        patterns' trie from that position and reports the patterns that *start* there.
        Most threads stop at the first byte. Matches run into the piece's overlap
        (``pend``), so those across a chunk edge are found, each by one thread only."""
        i = cuda.grid(1)
        if i >= nbytes:
            return
        s = _I64(trie[fold[buf[i]]])
        if s <= 0:
            return
        lo = 0
        hi = poff.shape[0] - 1
        while lo < hi:  # the piece p with poff[p] <= i
            mid = (lo + hi + 1) // 2
            if poff[mid] <= i:
                lo = mid
            else:
                hi = mid - 1
        p = lo
        rel = i - _I64(poff[p])
        if rel < 0 or rel >= pown[p]:
            return
        end = _I64(pend[p])
        j = i + 1
        while True:
            for k in range(tstart[s], tstart[s + 1]):
                pat = _I64(tids[k])
                if count_only:
                    cuda.atomic.add(counts, p * npat + pat, 1)
                else:
                    slot = cuda.atomic.add(counter, 0, 1)
                    if slot < out_piece.shape[0]:
                        out_piece[slot] = p
                        out_pos[slot] = rel
                        out_pat[slot] = pat
            if j >= end:
                break
            s = _I64(trie[s * 256 + fold[buf[j]]])
            if s <= 0:
                break
            j += 1

    @cuda.jit  # type: ignore[untyped-decorator,unused-ignore]
    def zero(a: Any) -> None:  # pragma: no cover - device code
        i = cuda.grid(1)
        if i < a.shape[0]:
            a[i] = 0

    _CUDA.update(crc_blocks=crc_blocks, crc_fold=crc_fold, pfac=pfac, zero=zero)
    return _CUDA
