"""Pattern sets: validation, the ``re`` reference, and the automata the kernels walk.

A match is a (start offset, pattern index) pair such that the pattern's bytes equal the
data's bytes from that offset (ASCII letters compared without case when ``ignore_case``).
Every occurrence counts, overlapping ones too: this is what ``re.finditer`` finds with a
lookahead, ``(?=pattern)``, run once per pattern; :func:`reference_matches` is exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ("PatternSet", "reference_matches", "MAX_STATES")

#: The largest automaton the numba scanner and the GPU kernel accept (states; each takes a
#: 1 KiB row of the transition table). Hyperscan has no such limit.
MAX_STATES = 1 << 16

_LOWER = bytes(range(256)).translate(bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"))


@dataclass(frozen=True)
class PatternSet:
    """Validated patterns (bytes) and the case rule."""

    patterns: tuple[bytes, ...]
    ignore_case: bool = False

    @classmethod
    def of(cls, patterns: Sequence[bytes | str] | bytes | str, ignore_case: bool) -> PatternSet:
        if isinstance(patterns, bytes | str):
            raise TypeError("patterns must be a sequence of bytes or str "
                            "(a single pattern goes in a list: [b'marker'])")
        out = []
        for i, p in enumerate(patterns):
            if isinstance(p, str):
                p = p.encode("utf-8")
            elif isinstance(p, bytearray | memoryview):
                p = bytes(p)
            if not isinstance(p, bytes):
                raise TypeError(f"pattern {i} must be bytes or str, not {type(p).__name__}")
            if not p:
                raise ValueError(f"pattern {i} is empty (it would match at every offset)")
            out.append(p)
        if not out:
            raise ValueError("scan() needs at least one pattern")
        return cls(tuple(out), bool(ignore_case))

    @property
    def max_len(self) -> int:
        return max(len(p) for p in self.patterns)

    @property
    def overlap(self) -> int:
        """How many bytes past its own range a piece must read (``max_len - 1``)."""
        return self.max_len - 1

    def folded(self) -> list[bytes]:
        return [p.translate(_LOWER) for p in self.patterns] if self.ignore_case \
            else list(self.patterns)

    def fold_table(self) -> Any:
        """Byte -> byte map applied to the data before the automaton (lower-cases ASCII
        letters when ``ignore_case``), as a numpy uint8 array."""
        import numpy as np

        return np.frombuffer(_LOWER if self.ignore_case else bytes(range(256)),
                             dtype=np.uint8).copy()

    def regexes(self) -> list[re.Pattern[bytes]]:
        flags = re.IGNORECASE if self.ignore_case else 0  # bytes patterns: ASCII only
        return [re.compile(b"(?=" + re.escape(p) + b")", flags) for p in self.patterns]

    # --- automata ---------------------------------------------------------------------
    def _trie(self) -> tuple[list[dict[int, int]], list[list[int]]]:
        children: list[dict[int, int]] = [{}]
        ends: list[list[int]] = [[]]
        for idx, p in enumerate(self.folded()):
            s = 0
            for b in p:
                nxt = children[s].get(b)
                if nxt is None:
                    nxt = len(children)
                    if nxt >= MAX_STATES:
                        raise ValueError(
                            f"the patterns need more than {MAX_STATES} automaton states; "
                            "scan them in several calls, or use device='cpu' with "
                            "hyperscan installed")
                    children[s][b] = nxt
                    children.append({})
                    ends.append([])
                s = nxt
            ends[s].append(idx)
        return children, ends

    def pfac_tables(self) -> tuple[Any, Any, Any]:
        """The trie for the GPU kernel: ``goto`` (states*256 int32, 0 = no child),
        ``tstart``/``tids``: the patterns that end in each state."""
        import numpy as np

        children, ends = self._trie()
        goto = np.zeros((len(children), 256), dtype=np.int32)
        for s, kids in enumerate(children):
            for b, t in kids.items():
                goto[s, b] = t
        tstart, tids = _flatten(ends)
        return goto.reshape(-1), tstart, tids

    def ac_tables(self) -> tuple[Any, Any, Any, Any]:
        """The full Aho-Corasick automaton for the CPU kernel: ``delta`` (states x 256),
        ``out_start``/``out_ids`` (patterns recognised in each state, those of its suffixes
        included) and the pattern lengths."""
        import numpy as np

        children, ends = self._trie()
        n = len(children)
        delta = np.zeros((n, 256), dtype=np.int32)
        fail = [0] * n
        outs: list[list[int]] = [list(e) for e in ends]
        order = []
        for b, t in children[0].items():
            delta[0, b] = t
            order.append(t)
        i = 0
        while i < len(order):
            s = order[i]
            i += 1
            outs[s].extend(outs[fail[s]])
            delta[s] = delta[fail[s]]
            for b, t in children[s].items():
                fail[t] = int(delta[fail[s], b])
                delta[s, b] = t
                order.append(t)
        out_start, out_ids = _flatten(outs)
        plen = np.array([len(p) for p in self.patterns], dtype=np.int64)
        return delta, out_start, out_ids, plen


def _flatten(lists: list[list[int]]) -> tuple[Any, Any]:
    import numpy as np

    start = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lists], out=start[1:])
    flat = np.array([v for x in lists for v in x], dtype=np.int64)
    return start, flat


def reference_matches(data: bytes, patterns: PatternSet) -> list[tuple[int, int]]:
    """Every (start, pattern index) in ``data``, sorted: ``re`` with a lookahead."""
    found = [(m.start(), i) for i, rx in enumerate(patterns.regexes())
             for m in rx.finditer(data)]
    found.sort()
    return found
