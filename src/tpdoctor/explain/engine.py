"""Multi-pattern literal search over whole blocks: the only part that touches every byte.

Per-line Python regexes cost ~10 s per GiB; grep does ~1.5 s. So the scan finds all literal
prefilters in one pass over a multi-megabyte block in C, and Python only looks at the few
lines that contain a hit. Hyperscan (SIMD, all literals at once) is used when installed; the
fallback is pyahocorasick, which is correct but several times slower (see bench/README.md).
"""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Callable, Sequence
from typing import Protocol

from tpdoctor.explain import hs_cache

Buffer = bytes | bytearray | mmap.mmap  # mmap: a shared block of explain/scanpool.py

# `single` literals are looked for in the first PREFIX bytes of a block with the full database;
# the rest of the block is scanned with a database that leaves out those already found there.
# A literal on every line (`via P2P/` in NCCL_DEBUG=INFO output) costs Hyperscan a confirm per
# occurrence even with HS_FLAG_SINGLEMATCH: 1 s/GiB of the 1.7 s a full scan took.
PREFIX = 256 << 10
MAX_DATABASES = 32  # compiled subsets kept; beyond that the full database is used (still correct)
# A literal that starts or ends with another (non-single) literal of at least COVER_MIN bytes is left out of the
# database and confirmed in place on each hit of that one: every literal of FRAGMENT_FROM bytes or more has its
# 12-byte wrap fragments (scanner.py) as literals, so a third of the ~7000 are covered. Hyperscan's scan time grows
# with the number of literals (bench/README.md, "covered literals": 0.191 -> 0.168 s CPU per 128 MiB), and a
# confirm is a slice compare on the few lines a key hits. The hits reported are exactly those of the full set.
COVER_MIN = 10


class Engine(Protocol):
    name: str

    def scan(self, block: Buffer, end: int | None = None) -> list[tuple[int, int]]:
        """Return (literal index, end offset) for every occurrence in block[:end] (first only for
        single ones)."""
        ...


class HyperscanEngine:
    name = "hyperscan"

    def __init__(
        self,
        literals: Sequence[bytes],
        single: Sequence[bool],
        covered: dict[int, list[tuple[int, int]]] | None = None,
    ) -> None:
        """`covered`: covers(literals, single) when the caller has it (the scanner's cached tables)."""
        import hyperscan

        self._hs = hyperscan
        self._literals = list(literals)
        self._is_single = list(single)
        self._singles = frozenset(i for i, s in enumerate(single) if s)
        self._covered = covers(self._literals, self._is_single) if covered is None else covered
        self._covered_ids = frozenset(dep for deps in self._covered.values() for dep, _ in deps)
        self._dbs: dict[frozenset[int], object] = {}
        self._db = self._database(self._singles)
        self._scratch = hyperscan.Scratch(self._db)  # type: ignore[arg-type]

    def _database(self, singles: frozenset[int]) -> object:
        """A database of every literal except the single ones not in `singles`."""
        db = self._dbs.get(singles)
        if db is not None:
            return db
        hs = self._hs
        ids = [
            i
            for i in range(len(self._literals))
            if (not self._is_single[i] or i in singles) and i not in self._covered_ids
        ]
        expressions = [self._literals[i] for i in ids]
        flags = [hs.HS_FLAG_SINGLEMATCH if self._is_single[i] else 0 for i in ids]

        def compile_db() -> tuple[object, bytes]:
            db = hs.Database(mode=hs.HS_MODE_BLOCK)
            db.compile(expressions=expressions, ids=ids, elements=len(ids), flags=flags, literal=True)
            return db, hs.dumpb(db)

        key = hs_cache.database_key(hs.__version__, expressions, flags, ids)
        db = hs_cache.load_or_compile(key, lambda data: hs.loadb(data, hs.HS_MODE_BLOCK), compile_db)
        self._dbs[singles] = db
        return db

    def scan(self, block: Buffer, end: int | None = None) -> list[tuple[int, int]]:
        end = len(block) if end is None else end
        hits: list[tuple[int, int]] = []
        append = hits.append
        view = memoryview(block)
        try:
            if not self._singles or end <= 2 * PREFIX:
                self._run(self._db, view[:end], 0, append)
                return hits
            cut = block.rfind(b"\n", 0, PREFIX) + 1 or block.find(b"\n", PREFIX, end) + 1 or end
            self._run(self._db, view[:cut], 0, append)
            seen = frozenset(lit for lit, _ in hits if self._is_single[lit])
            if cut < end:
                rest = self._singles - seen
                if rest in self._dbs or len(self._dbs) < MAX_DATABASES:
                    self._run(self._database(rest), view[cut:end], cut, append)
                else:  # too many distinct subsets: the full database, dropping repeats
                    n = len(hits)
                    self._run(self._db, view[cut:end], cut, append)
                    if seen:
                        hits[n:] = [h for h in hits[n:] if h[0] not in seen]
            return hits
        finally:
            view.release()

    def _run(
        self, db: object, data: memoryview, offset: int, append: Callable[[tuple[int, int]], None]
    ) -> None:
        covered, literals, limit = self._covered, self._literals, len(data)

        def on_match(lit: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            append((lit, end + offset))
            for dep, shift in covered.get(lit, ()):
                # shift: where the covered literal ends, from the key's end (0 when the key is its suffix)
                stop = end + shift
                text = literals[dep]
                if len(text) <= stop <= limit and data[stop - len(text) : stop] == text:
                    append((dep, stop + offset))

        db.scan(data, match_event_handler=on_match, scratch=self._scratch)  # type: ignore[attr-defined]


def covers(literals: Sequence[bytes], single: Sequence[bool]) -> dict[int, list[tuple[int, int]]]:
    """key literal -> [(covered literal, end shift)]: each non-single literal whose prefix or suffix of COVER_MIN
    bytes or more is another non-single literal that is itself kept (the shortest such one)."""
    kept: dict[bytes, int] = {}
    lengths: list[int] = []  # the kept keys' lengths, ascending
    out: dict[int, list[tuple[int, int]]] = {}
    for i in sorted(range(len(literals)), key=lambda i: len(literals[i])):
        text = literals[i]
        if single[i]:
            continue
        key = None
        for n in lengths:
            if n >= len(text):
                break
            key = kept.get(text[:n])
            if key is not None:
                out.setdefault(key, []).append((i, len(text) - n))
                break
            key = kept.get(text[-n:])
            if key is not None:
                out.setdefault(key, []).append((i, 0))
                break
        if key is None and len(text) >= COVER_MIN:
            kept.setdefault(text, i)
            if len(text) not in lengths:
                bisect.insort(lengths, len(text))
    return out


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

    def scan(self, block: Buffer, end: int | None = None) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        seen_single: set[int] = set()
        data = block if end is None or end == len(block) else block[:end]
        for end_at, ids in self._auto.iter(bytes(data).decode("latin-1")):
            for lit in ids:
                if self._single[lit]:
                    if lit in seen_single:
                        continue
                    seen_single.add(lit)
                hits.append((lit, end_at + 1))
        return hits


def make_engine(
    literals: Sequence[bytes],
    single: Sequence[bool],
    prefer: str = "auto",
    covered: dict[int, list[tuple[int, int]]] | None = None,
) -> Engine:
    """Hyperscan when available (or asked for), else Aho-Corasick. `covered`: covers(literals, single), if known."""
    if prefer in ("auto", "hyperscan"):
        try:
            return HyperscanEngine(literals, single, covered)
        except ImportError:
            if prefer == "hyperscan":
                raise
    return AhoCorasickEngine(literals, single)
