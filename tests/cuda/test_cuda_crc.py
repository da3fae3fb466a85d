"""CRC combination arithmetic against zlib and crc32c (pure Python, no device)."""

from __future__ import annotations

import os
import random
import zlib

import pytest
from cuda_helpers import needs

from wasifs.cuda import _crc

CASES = [0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 4096, 4097]


def _ref(algorithm: str) -> object:
    if algorithm == "crc32":
        return zlib.crc32
    crc32c = pytest.importorskip("crc32c")
    return crc32c.crc32c


@pytest.mark.parametrize("algorithm", ["crc32", pytest.param("crc32c", marks=needs("crc32c"))])
def test_table_and_combine_match_the_libraries(algorithm: str) -> None:
    ref = _ref(algorithm)
    poly = _crc.POLYS[algorithm]
    table = _crc.byte_table(poly)
    rng = random.Random(1)
    for n in CASES:
        data = rng.randbytes(n)
        c = 0xFFFFFFFF
        for b in data:
            c = table[(c ^ b) & 0xFF] ^ (c >> 8)
        assert c ^ 0xFFFFFFFF == ref(data), n  # type: ignore[operator]
    for n1 in CASES:
        for n2 in CASES:
            a, b = rng.randbytes(n1), rng.randbytes(n2)
            assert _crc.combine(ref(a), ref(b), n2, poly) == ref(a + b)  # type: ignore[operator]
            if n2:
                table2 = _crc.shift_table(poly, n2)
                assert _crc.apply_shift(table2, ref(a)) ^ ref(b) == ref(a + b)  # type: ignore[operator]


def test_slicing_by_8_tables_are_the_byte_table_shifted() -> None:
    poly = _crc.POLYS["crc32"]
    t = _crc.slice8_tables(poly)
    t0 = _crc.byte_table(poly)
    assert t[:256] == t0
    for k in range(1, 8):
        for b in (0, 1, 0x80, 0xFF):
            c = t[256 * (k - 1) + b]
            assert t[256 * k + b] == (c >> 8) ^ t0[c & 0xFF]


def test_fold_short_first_then_equal_pieces_and_huge_lengths() -> None:
    poly = _crc.POLYS["crc32"]
    data = os.urandom(5 + 40 * 64)
    pieces = [data[:5]] + [data[5 + 64 * i:5 + 64 * (i + 1)] for i in range(40)]
    assert _crc.fold([zlib.crc32(p) for p in pieces], [len(p) for p in pieces], poly) \
        == zlib.crc32(data)
    # A shift across a terabyte of zeros equals doubling the zero run's shift.
    one = _crc.shift(0x12345678, 1 << 39, poly)
    assert one == _crc.shift(_crc.shift(0x12345678, 1 << 38, poly), 1 << 38, poly)
    assert _crc.fold([], [], poly) == 0
