"""Cutting the work: files into spans (what one worker owns), spans into pieces (what one
kernel thread block or CPU call handles), pieces into batches (what one buffer holds).

- A **span** is a byte range of one file: a whole file when one process does everything;
  with an executor, big files are cut so that every worker gets about the same bytes.
- A **piece** is a range of a span. For checksums the first piece of a span is the short
  one and every later piece has exactly ``chunk`` bytes: folding their CRCs then needs one
  shift table (see :mod:`wasifs.cuda._crc`). For scans each piece owns the matches that
  *start* in it and reads ``overlap`` (longest pattern - 1) bytes further, so a match across
  a piece edge is found once, by the piece it starts in.
- The piece that reads up to the end of its file reads one byte more than the listed size
  allows: getting it means the file grew since it was listed (a short read: it shrank).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ._source import FileInfo

__all__ = ("Span", "Piece", "whole_files", "crc_pieces", "scan_pieces", "partition",
           "batches", "FILE_COST")

#: What a file costs beyond its bytes when balancing partitions (open, stat, close), in
#: bytes of reading: 10,000 empty files are work too.
FILE_COST = 4096


class Span(NamedTuple):
    file: int  # index into the file list it comes with
    start: int
    length: int


class Piece(NamedTuple):
    span: int
    file: int
    offset: int  # in the file
    own: int  # bytes this piece is responsible for
    read: int  # bytes it reads (own + scan overlap, bounded by the file size)
    eof: bool  # the read reaches the listed end of the file: read one spare byte


def whole_files(files: Sequence[FileInfo]) -> list[Span]:
    return [Span(i, 0, f.size) for i, f in enumerate(files)]


def crc_pieces(files: Sequence[FileInfo], spans: Sequence[Span], chunk: int) -> list[Piece]:
    out = []
    for si, sp in enumerate(spans):
        size = files[sp.file].size
        n = sp.length
        if n == 0:
            out.append(Piece(si, sp.file, sp.start, 0, 0, sp.start == size))
            continue
        k = -(-n // chunk)
        length = n - (k - 1) * chunk
        off = sp.start
        for _ in range(k):
            out.append(Piece(si, sp.file, off, length, length, off + length == size))
            off += length
            length = chunk
    return out


def scan_pieces(files: Sequence[FileInfo], spans: Sequence[Span], chunk: int,
                overlap: int) -> list[Piece]:
    out = []
    for si, sp in enumerate(spans):
        size = files[sp.file].size
        off, stop = sp.start, sp.start + sp.length
        if off == stop:
            out.append(Piece(si, sp.file, off, 0, 0, off == size))
            continue
        while off < stop:
            own = min(chunk, stop - off)
            read = min(own + overlap, size - off)
            out.append(Piece(si, sp.file, off, own, read, off + read == size))
            off += own
    return out


def partition(files: Sequence[FileInfo], parts: int) -> list[list[Span]]:
    """Cut the files into ``parts`` runs of consecutive spans of about equal cost (bytes
    plus :data:`FILE_COST` per file); a big file is split between parts."""
    total = sum(f.size + FILE_COST for f in files)
    target = max(1, -(-total // max(1, parts)))
    out: list[list[Span]] = [[]]
    room = target
    for i, f in enumerate(files):
        start, left = 0, f.size
        room -= FILE_COST
        while True:
            take = left if room >= left or len(out) >= parts else max(0, room)
            if take or not left:
                out[-1].append(Span(i, start, take))
            start += take
            left -= take
            room -= take
            if room <= 0 and len(out) < parts:
                out.append([])
                room = target
            if not left:
                break
    return [p for p in out if p]


def batches(pieces: Sequence[Piece], idxs: Sequence[int], capacity: int,
            max_pieces: int = 1 << 30) -> list[list[int]]:
    """Group piece indices in order into batches whose slots (8-byte aligned, one spare
    byte for an end-of-file check) fit in ``capacity`` bytes."""
    out: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i in idxs:
        need = slot_size(pieces[i])
        if cur and (used + need > capacity or len(cur) >= max_pieces):
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += need
    if cur:
        out.append(cur)
    return out


def slot_size(piece: Piece) -> int:
    return (piece.read + piece.eof + 7) & ~7
