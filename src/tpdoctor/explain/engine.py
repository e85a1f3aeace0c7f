"""Multi-pattern literal search over whole blocks: the only part that touches every byte.

Per-line Python regexes cost ~10 s per GiB; grep does ~1.5 s. So the scan finds all literal
prefilters in one pass over a multi-megabyte block in C, and Python only looks at the few
lines that contain a hit. Hyperscan (SIMD, all literals at once) is used when installed; the
fallback is pyahocorasick, which is correct but several times slower (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Engine(Protocol):
    name: str

    def scan(self, block: bytes) -> list[tuple[int, int]]:
        """Return (literal index, end offset) for every occurrence (first only for single ones)."""
        ...


class HyperscanEngine:
    name = "hyperscan"

    def __init__(self, literals: Sequence[bytes], single: Sequence[bool]) -> None:
        import hyperscan

        self._hs = hyperscan
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        flags = [hyperscan.HS_FLAG_SINGLEMATCH if s else 0 for s in single]
        self._db.compile(
            expressions=list(literals),
            ids=list(range(len(literals))),
            elements=len(literals),
            flags=flags,
            literal=True,
        )
        self._scratch = hyperscan.Scratch(self._db)

    def scan(self, block: bytes) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        append = hits.append

        def on_match(lit: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            append((lit, end))

        self._db.scan(block, match_event_handler=on_match, scratch=self._scratch)
        return hits


class AhoCorasickEngine:
    """Pure-C-extension fallback (already a dependency). latin-1 maps bytes 1:1 to code points,
    so offsets in the decoded text are byte offsets."""

    name = "pyahocorasick"

    def __init__(self, literals: Sequence[bytes], single: Sequence[bool]) -> None:
        import ahocorasick

        self._single = list(single)
        self._auto = ahocorasick.Automaton()
        by_text: dict[str, list[int]] = {}
        for i, lit in enumerate(literals):
            by_text.setdefault(lit.decode("latin-1"), []).append(i)
        for text, ids in by_text.items():
            self._auto.add_word(text, tuple(ids))
        self._auto.make_automaton()

    def scan(self, block: bytes) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        seen_single: set[int] = set()
        for end, ids in self._auto.iter(block.decode("latin-1")):
            for lit in ids:
                if self._single[lit]:
                    if lit in seen_single:
                        continue
                    seen_single.add(lit)
                hits.append((lit, end + 1))
        return hits


def make_engine(literals: Sequence[bytes], single: Sequence[bool], prefer: str = "auto") -> Engine:
    """Hyperscan when available (or asked for), else Aho-Corasick."""
    if prefer in ("auto", "hyperscan"):
        try:
            return HyperscanEngine(literals, single)
        except ImportError:
            if prefer == "hyperscan":
                raise
    return AhoCorasickEngine(literals, single)
