"""``wasifs.cuda.scan`` on the CPU scanners (hyperscan, numba Aho-Corasick, re), against
``re`` with a lookahead: overlapping matches, chunk edges, case, counts, many files."""

from __future__ import annotations

import random

import pytest
from cuda_helpers import make_tree, needs, reference, reference_counts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasifs.cuda as wc

SCANNERS = [
    pytest.param("cpu:hyperscan", marks=needs("hyperscan")),
    pytest.param("cpu:numba", marks=needs("numba")),
    "cpu:re",
    "cpu",
]

# A small alphabet makes many overlapping and edge-crossing matches.
PATTERNS = [b"ab", b"aba", b"b\x00", b"AB", b"aaaaa", b"a", b"ab"]


def _files(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    sizes = [0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 63, 64, 65, 100, 257, 1000, 4099]
    return {f"/s/{i:02d}": bytes(rng.choice(b"abAB\x00") for _ in range(n))
            for i, n in enumerate(sizes)}


@pytest.mark.parametrize("device", SCANNERS)
@pytest.mark.parametrize("ignore_case", [False, True], ids=["exact", "nocase"])
@pytest.mark.parametrize("chunk", [1, 3, 16, None], ids=lambda c: f"chunk{c}")
def test_every_overlapping_match_across_chunk_edges(device: str, ignore_case: bool,
                                                    chunk: int | None) -> None:
    files = _files(0)
    fs = make_tree(files)
    got = wc.scan(fs, None, PATTERNS, device, ignore_case=ignore_case, chunk_size=chunk)
    assert [tuple(m) for m in got] == reference(files, PATTERNS, ignore_case)
    assert all(isinstance(m, wc.Match) for m in got)
    counts = wc.scan(fs, None, PATTERNS, device, ignore_case=ignore_case, chunk_size=chunk,
                     count=True)
    assert counts == reference_counts(files, PATTERNS, ignore_case)


@pytest.mark.parametrize("device", SCANNERS)
def test_case_folding_is_ascii_only(device: str) -> None:
    files = {"/u": "Straße STRASSE straße ÄÖ äö".encode() + bytes(range(256))}
    pats = [b"strasse", "straße".encode(), "äö".encode(), b"\xc0", b"\xe0", b"[\\]", b"{|}"]
    fs = make_tree(files)
    got = wc.scan(fs, None, pats, device, ignore_case=True)
    assert [tuple(m) for m in got] == reference(files, pats, True)
    assert any(m.pattern == 0 for m in got)


@pytest.mark.parametrize("device", SCANNERS)
def test_patterns_longer_than_files_and_chunks(device: str) -> None:
    files = {"/a": b"x" * 10, "/b": b"x" * 40 + b"needle-long" + b"x" * 3, "/c": b""}
    pats = [b"x" * 11, b"needle-long", b"x" * 40]
    fs = make_tree(files)
    got = wc.scan(fs, None, pats, device, chunk_size=4)
    assert [tuple(m) for m in got] == reference(files, pats)


@pytest.mark.parametrize("device", SCANNERS)
def test_ten_thousand_tiny_files(device: str) -> None:
    rng = random.Random(5)
    files = {f"/t/{i // 100:03d}/{i:05d}": bytes(rng.choice(b"ab") for _ in range(i % 6))
             for i in range(10_000)}
    pats = [b"ab", b"bab", b"b"]
    fs = make_tree(files)
    got = wc.scan(fs, None, pats, device)
    assert [tuple(m) for m in got] == reference(files, pats)


@needs("hyperscan")
@needs("numba")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
       pats=st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=6),
       alphabet=st.sampled_from([b"aA\x00", b"abc", bytes(range(256))]),
       ignore_case=st.booleans(), chunk=st.integers(1, 64))
def test_scanners_agree_with_re_on_generated_inputs(data: list[bytes], pats: list[bytes],
                                                   alphabet: bytes, ignore_case: bool,
                                                   chunk: int) -> None:
    def squeeze(b: bytes) -> bytes:
        return bytes(alphabet[x % len(alphabet)] for x in b)

    files = {f"/g{i}": squeeze(d) for i, d in enumerate(data)}
    pats = [squeeze(p) for p in pats]
    fs = make_tree(files)
    expect = reference(files, pats, ignore_case)
    for device in ("cpu:hyperscan", "cpu:numba", "cpu:re"):
        got = wc.scan(fs, None, pats, device, ignore_case=ignore_case, chunk_size=chunk)
        assert [tuple(m) for m in got] == expect, device


def test_bad_patterns_and_devices() -> None:
    fs = make_tree({"/a": b"abc"})
    with pytest.raises(ValueError, match="pattern 1 is empty"):
        wc.scan(fs, None, [b"a", b""], "cpu")
    with pytest.raises(ValueError, match="at least one pattern"):
        wc.scan(fs, None, [], "cpu")
    with pytest.raises(TypeError, match="sequence of bytes or str"):
        wc.scan(fs, None, b"abc", "cpu")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pattern 0 must be bytes or str"):
        wc.scan(fs, None, [3], "cpu")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown device 'cpu:grep'"):
        wc.scan(fs, None, [b"a"], "cpu:grep")
    # str patterns are UTF-8.
    assert wc.scan(make_tree({"/u": "añb".encode()}), None, ["ñ"], "cpu") == \
        [wc.Match("/u", 1, 0)]
