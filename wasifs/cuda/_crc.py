"""CRC-32 arithmetic: tables, and the combination of the CRCs of consecutive pieces.

Both algorithms are reflected 32-bit CRCs with initial value and final XOR ``0xFFFFFFFF``:
``"crc32"`` (polynomial 0xEDB88320 reflected, what :func:`zlib.crc32` computes) and
``"crc32c"`` (Castagnoli, 0x82F63B78 reflected, what ``crc32c.crc32c`` computes).

The combination rule (the one zlib's ``crc32_combine`` implements): for two byte strings
``A`` and ``B``, ``crc(A + B) == shift(crc(A), len(B)) ^ crc(B)`` where ``shift(c, n)``
multiplies ``c`` by ``x**(8*n)`` modulo the polynomial. The initial value and the final XOR
cancel out of that formula, so CRCs computed independently, on any number of threads, GPU
blocks or machines, combine into the CRC of the whole. ``shift`` by a fixed ``n`` is linear
over GF(2), so it is tabulated once as four 256-entry tables (one per byte of ``c``), and
applying it costs four lookups: that is how the GPU folds a piece's blocks and how the host
folds a file's pieces.

Pure Python on purpose: importing this module costs nothing, and the per-call work is
O(log n) multiplications for a generic shift and four lookups for a tabulated one.
"""

from __future__ import annotations

import functools

__all__ = ("ALGORITHMS", "POLYS", "byte_table", "slice8_tables", "shift", "combine",
           "shift_table", "apply_shift", "fold")

#: The reflected polynomial of each supported algorithm.
POLYS: dict[str, int] = {"crc32": 0xEDB88320, "crc32c": 0x82F63B78}
ALGORITHMS = tuple(POLYS)

_TOP = 1 << 31


@functools.cache
def byte_table(poly: int) -> tuple[int, ...]:
    """The classic 256-entry table: the CRC register after shifting one byte through."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


@functools.cache
def slice8_tables(poly: int) -> tuple[int, ...]:
    """Eight 256-entry tables, flattened (table ``k`` at ``[256*k : 256*(k+1)]``), for
    slicing-by-8: ``T[k][b]`` is byte ``b`` shifted through ``k`` further zero bytes."""
    t0 = byte_table(poly)
    tables = list(t0)
    prev = t0
    for _ in range(7):
        cur = tuple((c >> 8) ^ t0[c & 0xFF] for c in prev)
        tables.extend(cur)
        prev = cur
    return tuple(tables)


def _multmodp(a: int, b: int, poly: int) -> int:
    """``a * b`` modulo the polynomial, in the reflected bit order (bit 31 is x**0)."""
    m = _TOP
    p = 0
    while m:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return p


@functools.cache
def _x2n_table(poly: int) -> tuple[int, ...]:
    """``x**(2**k)`` modulo the polynomial, k = 0..31."""
    p = _TOP >> 1  # x**1
    out = [p]
    for _ in range(31):
        p = _multmodp(p, p, poly)
        out.append(p)
    return tuple(out)


def _x8nmodp(n: int, poly: int) -> int:
    """``x**(8*n)`` modulo the polynomial."""
    table = _x2n_table(poly)
    p = _TOP  # x**0
    k = 3  # 8 = 2**3
    while n:
        if n & 1:
            p = _multmodp(table[k & 31], p, poly)
        n >>= 1
        k += 1
    return p


def shift(crc: int, nbytes: int, poly: int) -> int:
    """``crc`` followed by ``nbytes`` zero bytes, without the conditioning: the factor that
    :func:`combine` needs."""
    if nbytes <= 0 or crc == 0:
        return crc
    return _multmodp(_x8nmodp(nbytes, poly), crc, poly)


def combine(crc1: int, crc2: int, len2: int, poly: int) -> int:
    """The CRC of ``A + B`` from ``crc1 = crc(A)``, ``crc2 = crc(B)`` and ``len2 = len(B)``."""
    return shift(crc1, len2, poly) ^ crc2


@functools.lru_cache(maxsize=64)
def shift_table(poly: int, nbytes: int) -> tuple[int, ...]:
    """:func:`shift` by ``nbytes`` as four 256-entry tables, flattened: ``shift(c) ==
    T[c & 255] ^ T[256 + (c >> 8 & 255)] ^ T[512 + (c >> 16 & 255)] ^ T[768 + (c >> 24)]``."""
    factor = _x8nmodp(nbytes, poly)
    out = []
    for k in range(4):
        # Linearity: tabulate the eight single-bit inputs, then XOR them together.
        bits = [_multmodp(factor, 1 << (8 * k + b), poly) for b in range(8)]
        for v in range(256):
            acc = 0
            for b in range(8):
                if v >> b & 1:
                    acc ^= bits[b]
            out.append(acc)
    return tuple(out)


def apply_shift(table: tuple[int, ...], crc: int) -> int:
    """Apply a :func:`shift_table`."""
    return (table[crc & 255] ^ table[256 + (crc >> 8 & 255)]
            ^ table[512 + (crc >> 16 & 255)] ^ table[768 + (crc >> 24)])


def fold(crcs: list[int], lengths: list[int], poly: int) -> int:
    """The CRC of consecutive pieces from their CRCs and lengths. Pieces after the first
    that share one length (the usual chunked layout) cost four lookups each."""
    if not crcs:
        return 0
    c = crcs[0]
    common = lengths[1] if len(lengths) > 8 else -1  # worth a table (about 1k multiplies)
    table = shift_table(poly, common) if common > 0 else ()
    for crc, n in zip(crcs[1:], lengths[1:], strict=True):
        c = (apply_shift(table, c) if n == common else shift(c, n, poly)) ^ crc
    return c
