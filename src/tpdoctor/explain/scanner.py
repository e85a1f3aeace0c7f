"""One streaming pass over log blocks: literal hits -> candidate lines -> confirmed signatures.

Only lines that contain a prefilter literal are decoded and matched, so the Python cost is
proportional to the number of interesting lines, not to the size of the log. Everything kept
is bounded (a few evidence lines per signature, a small heap of error lines, capped fact sets),
so memory does not grow with the log.
"""

from __future__ import annotations

import functools
import heapq
import marshal
import mmap
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, BinaryIO

from tpdoctor.explain import hs_cache, scanpool
from tpdoctor.explain.context import CAPTURE_LITERALS, MAX_QUOTED, capture_span
from tpdoctor.explain.death import OOM, match_groups, signal_of
from tpdoctor.explain.downstream import is_generic
from tpdoctor.explain.engine import Buffer, Engine, covers, make_engine
from tpdoctor.explain.error_codes import NEAR_AFTER, NEAR_BEFORE, NUMBER_GROUPS, code_string_of, lookup_number
from tpdoctor.explain.normalize import (
    ANSI_BYTES,
    case_twin,
    decode_line,
    display,
    has_prefix,
    literal_forms,
    starts_message,
    strip_prefixes,
    typographed,
    unescape,
)
from tpdoctor.explain.reader import CHUNK, MAX_LINE, iter_buffers, size_hint
from tpdoctor.explain.scanpool import Prescanned
from tpdoctor.explain.signatures import KnowledgeBase, Signature

EVIDENCE_PER_SIGNATURE = 3
CODES_KEPT = 64  # distinct error codes (by number) remembered with their first line
ERROR_LINES_KEPT = 10
FACT_VALUES_KEPT = 32
SEEN_LINES_KEPT = 4096  # distinct repeated lines whose match is reused (text, literals hit)
TEXTS_KEPT = 4096  # distinct raw lines (of at most TEXT_KEPT_BYTES) whose decoded and stripped text is reused
TEXT_KEPT_BYTES = 512
# a signature's search over a line joined with its wrap, remembered by the joined text: every line of a log that
# repeats one wrapped-looking line ("CUDA error: CUDA error: ...") joins the same pieces, and each search of the
# error-code patterns costs ~300 steps per 'CUDA' in it (1 MiB of such lines took 13-20 s, gsafe40)
JOINED_SEARCHES_KEPT = 4096
JOINED_CHARS_KEPT = 1 << 24  # the joined texts held for it, in all
CODE_LINES_KEPT = 256  # lines known to carry an error code (first ones), for the fallback
NEAR_BYTES = 4096  # how far a `near` signature looks for its context around its line
# Wrapped lines: a piece shorter than WRAP_MIN was not cut by a wrap; at most WRAP_PIECES joined
# (a 300-column line wrapped at 80). A continuation never starts like a log record of its own:
# blank, indented, a timestamp, a level word, an exception name, an NCCL `host:pid:tid`, or any
# launcher/collector prefix that strip_prefixes knows (`[rank1]:`, `(pid=1)`, `vllm-1  | `).
WRAP_MIN = 40
WRAP_PIECES = 4
# ... each at most WRAP_PIECE_MAX bytes: no terminal or pasted paragraph wraps at 64 KiB, and joining seven 64 KiB
# lines cost every candidate signature a search over 450 KB per line (25 s for 1 MiB of "CUDA error: ", gsafe39)
WRAP_PIECE_MAX = 4096
# ... unless the first word of the piece after it would not have fitted behind it: a soft wrap moves a
# long token (a path, a URL) to the next line whole and leaves the line before it short
# ("rocBLAS error: Cannot read" / "/opt/rocm/.../TensileLibrary.dat: ..."). The narrowest wrap width
# taken for that is WRAP_WIDTH.
WRAP_WIDTH = 72
# A wrap can cut every literal of a signature ("opendir failed: could not open device directory"):
# the first and the last FRAGMENT bytes of each literal of FRAGMENT_FROM bytes or more are looked for
# too. A cut at a space leaves one of them whole (the head ends the first piece, the tail starts the
# next) unless the literal is shorter than 2 * FRAGMENT + 1. A fragment counts only where a wrap can
# have put it: a head within the literal's length of its line's end, a tail within it of its start
# (WRAP_SLACK for a markdown quote or an indent before the continuation).
# A fragment that is one identifier or path token (`ProcessGroup`, `nvidia-smi -q`) is everywhere
# in healthy logs (85 k per 64 MB of the bench log) and costs a Python check per hit: none is kept.
# A soft wrap never cuts inside a token, so such a literal's other fragment still covers it.
FRAGMENT = 12
FRAGMENT_FROM = 20
_ONE_TOKEN = re.compile(r"[\w./:-]+")
WRAP_SLACK = 8
_RECORD_START = re.compile(
    rb"[ \t]*(?:\r?\n|$)|[ \t][ \t]|\t|[|#]|\d{4}[-:/]|\d\d?[-:/]\d\d|[A-Z][a-z]{2} [ \d]\d |[\w.-]+:\d+:\d+ \["
    rb"|(?:TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)\b|Traceback| ?File \""
    rb"|[\w.]*(?:Error|Exception|Warning|Failure):|[\w.-]+ +\| |[IWEF]\d{4} "
)
# Capture groups that qualify a code number and are no fact of the log
_CODE_QUALIFIERS = frozenset({"code_string"})

# Lines worth showing when no known cause matches. Case-sensitive on purpose: grep -c
# 'Error|error' in the benchmark is the yardstick, and ALLCAPS/Capitalised forms are listed.
SALIENT_LITERALS = (
    "Error",
    "error",
    "ERROR",
    "EXCEPTION",
    "Exception",
    "Traceback",
    "FATAL",
    "Fatal",
    "failed",
    "Failed",
    "NCCL WARN",
    "Killed",
    "Segmentation fault",
    "out of memory",
    "Unauthorized",
)
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception|Failure)\b")
# An exception line anywhere after a launcher or logger prefix ("ComfyUI error: RuntimeError: ...",
# "(EngineCore pid=1) torch.OutOfMemoryError: ..."): `Name(Error|Exception):` then the message, or Python's bare
# `Exception: ...` (a bare `Error:` is a CLI's message, not a raised exception).
_RAISED = re.compile(r"(?:^|[\s:|>\]])(?:[\w.]+\.)?(?:[A-Z]\w*(?:Error|Exception)|Exception)(?::\s|:?$)")
# A line that reports a failure in words: what a loose twin (signatures.loose_twins) needs besides its literal
# Searched in the line's lower-cased text: a case-sensitive alternation is ~8x faster than `(?i:...)`
# in Python's re (1.6 against 13.5 us on an 80-character NCCL line), and every loose twin asks it.
_FAILED = re.compile(
    r"error|fail|cannot|can't|could not|couldn't|unable|denied|refused|invalid|not found|not supported"
    r"|unsupported|unsatisfied|unavailable|no such|missing|exceed|too (?:old|small|low|many)|abort|fatal|panic"
)
_STRONG = re.compile(r"\b(?:ERROR|EXCEPTION|FATAL|Fatal|CCL_ERROR|NCCL WARN|out of memory)\b")
# A message's fixed words quoted as a name inside advice ("If 'docker compose up' fails with 'unknown runtime' or
# 'could not select device driver', install: ..." in a preflight script's WARN): the words are cited, not printed by
# the failing program. Checked (lower-cased) only for a loose twin whose literal is quoted exactly on its line.
_QUOTES = "'\"`\u2018\u2019\u201c\u201d"
_ADVICE = re.compile(r"\bfails? with\b|\bfailing with\b|\binstall:|\bsuch as\b|\be\.g\.|\bfor example\b|\bif you see\b")
# Byte-level supersets of the two tests above (a line can only score 3 if it holds one of the first
# words, 2 if one of the second): an error line that cannot enter the full heap is never decoded.
_MAYBE_EXCEPTION = re.compile(rb"Error|Exception|Failure|\x00")
_MAYBE_STRONG = re.compile(rb"ERROR|EXCEPTION|FATAL|Fatal|NCCL WARN|out of memory|\x00")

# Blocks at least this large find their newlines with numpy when it is installed (imported only
# then, so short logs do not pay the 60 ms import); smaller ones, or no numpy, use bytes.count.
VECTOR_MIN = 1 << 20
# ... and only in a regular file of at least VECTOR_FILE_MIN bytes (or a stream of unknown size): numpy's import
# (~0.09 s CPU) costs more than bytes.count over all of a smaller file (0.46 against ~0.1 s/GiB with numpy on the
# 2-CPU machine, so the two meet near 280 MiB; bench/README.md, gperf47). The counts are the same either way.
VECTOR_FILE_MIN = 256 << 20
_numpy: Any = None  # the module once imported, False when it is not installed
# Regular files at least this large are scanned with forked workers (explain/scanpool.py); a
# smaller log is over before the forks would pay for themselves.
POOL_FROM = 3 * CHUNK
SHORT_GAP = 4096  # prescan: between two hits this close, find() says whether any newline needs counting
_scratch: Any = None  # a reused bool buffer


def _newline_counter(block: Buffer, end: int, vector: bool = True) -> Callable[[int, int], int]:
    """count(a, b): the number of b"\\n" in block[a:b] (a <= b <= end).

    bytes.count is a byte-at-a-time loop (0.7 s/GiB); numpy compares the block once with SIMD
    (~0.1 s/GiB) and counts slices of the mask. The counts between hits cover the block once.
    `vector`: numpy may be used (VECTOR_FILE_MIN).
    """
    global _numpy, _scratch
    if vector and end >= VECTOR_MIN and _numpy is None:
        try:
            import numpy

            _numpy = numpy
        except ImportError:
            _numpy = False
    if not vector or end < VECTOR_MIN or _numpy is False or _numpy is None:
        if isinstance(block, mmap.mmap):  # no count(): count a copy of the span
            return lambda a, b: block[a:b].count(b"\n")
        return lambda a, b: block.count(b"\n", a, b)
    np = _numpy
    if _scratch is None or len(_scratch) < end:
        _scratch = np.empty(max(end, MAX_LINE + (4 << 20) + 1), dtype=bool)
    mask = np.equal(np.frombuffer(block, dtype=np.uint8, count=end), 10, out=_scratch[:end])
    count_nonzero = np.count_nonzero
    return lambda a, b: int(count_nonzero(mask[a:b]))


def prescan(engine: Engine, block: Buffer, end: int, vector: bool = True) -> Prescanned:
    """What a scan worker does for a block (explain/scanpool.py): the engine's hits, in order,
    and the line arithmetic, so that the parent neither builds a newline mask nor counts.
    `vector`: numpy may count the newlines (_newline_counter)."""
    hits = engine.scan(block, end)
    hits.sort(key=itemgetter(1))
    count = _newline_counter(block, end, vector)
    find = block.find
    before: list[int] = []
    k = pos = 0
    for _lit, hit_end in hits:
        # hits come a few to a line (a line's literals, a rank's repeated line): a short gap without a newline
        # is told by one find, cheaper than counting a slice of the mask
        if hit_end - pos > SHORT_GAP or find(b"\n", pos, hit_end) >= 0:
            k += count(pos, hit_end)
        pos = hit_end
        before.append(k)
    return hits, before, k + count(pos, end)


# Fact group names may carry a suffix to allow alternatives in one regex (vllm_version2).
_GROUP_ALIAS = {
    "vllm_version2": "vllm_version",
    "transport2": "transport",
    "runtime_crun": "runtime",
    "device2": "device",
    "ipc_mode2": "ipc_mode",
    "shm_stated2": "shm_stated",  # glearn21c
    "nccl_ib_requested2": "nccl_ib_requested",
    "nccl_ib_requested3": "nccl_ib_requested",
    "nnodes2": "nnodes",
    # glearn28b: the host's L4T release in each place a log shows it (signatures.yaml facts l4t-host-release)
    "l4t_host_release2": "l4t_host_release",
    "l4t_host_release3": "l4t_host_release",
    "l4t_host_release4": "l4t_host_release",
    "l4t_host_release5": "l4t_host_release",
}
_VALUE_ALIAS = {
    ("runtime", "crun"): "podman",
    ("runtime", "kubectl"): "kubernetes",
    ("runtime", "kubelet"): "kubernetes",
    ("ipc_mode", "true"): "host",  # Kubernetes hostIPC: true
}


def _cited_in_advice(text: str, start: int, end: int) -> bool:
    """The match is a message's words quoted exactly (a quote right before and after it) on a line of advice."""
    return (
        0 < start
        and end < len(text)
        and text[start - 1] in _QUOTES
        and text[end] in _QUOTES
        and _ADVICE.search(text.lower()) is not None
    )


def _raised(text: str) -> bool:
    """The line reads as a raised exception that is not a generic wrapper (Scanner._exception_seen)."""
    return _RAISED.search(text) is not None and not is_generic(text)


def _failed(text: str) -> bool:
    return _FAILED.search(text.lower()) is not None


def _joins_wraps(sig: Signature) -> bool:
    """Hand-written signatures, and the error-code strings distinctive enough to have a `near` form.
    Not the generic ones (strerror texts, `code.*-number`): a bare "Operation not permitted" on the
    line after a CUDA path is no CUDA error (tests/test_explain_code_forms.py)."""
    return sig.code is None or sig.near is not None


# A counted record: a word and a number at the head of the line ("step 3188 CUDA failed ...", "epoch 2: ...",
# "iter=40 ..."). Two lines that both start with the same word and a number are two records a loop printed, not one
# line and its wrap (a terminal cuts anywhere, so its next piece starting with the line's own head is chance).
_COUNTED = re.compile(rb"[ \t]*([A-Za-z][\w-]{0,31})[ \t]*[:=#]?[ \t]*\d")


def _same_counted_record(line: bytes, following: bytes) -> bool:
    a = _COUNTED.match(line)
    return a is not None and (b := _COUNTED.match(following)) is not None and a.group(1) == b.group(1)


def _cut_by_wrap(line: bytes, following: bytes) -> bool:
    """Can `line` end where a wrap cut it, given the line that follows it?"""
    if _same_counted_record(line, following):
        return False
    kept = len(line.rstrip())
    if kept >= WRAP_MIN:
        return True
    word = following.split(None, 1)[0] if following.strip() else b""
    return kept > 0 and kept + 1 + len(word) > WRAP_WIDTH


def _starts_record(line: bytes) -> bool:
    return bool(_RECORD_START.match(line)) or has_prefix(decode_line(line[:200]))


def _looks_binary(line: str) -> bool:
    """More than 1 in 10 characters undecodable or control (tabs aside): not a log line."""
    if line.isprintable():  # the common case, at C speed
        return False
    bad = sum(1 for c in line if c == "\ufffd" or (c < " " and c != "\t"))
    return bad * 10 > len(line)


@dataclass
class SigHit:
    line: int
    text: str
    source: str
    groups: dict[str, str]


@dataclass
class SigRecord:
    first_line: int
    count: int = 0
    last: tuple[str, int] = ("", 0)  # (source, line) of the latest hit: evidence keeps only the first ones
    evidence: list[SigHit] = field(default_factory=list)


@dataclass
class _LineMatch:
    """What matched on one line: (signature, its named groups, the wrapped text shown instead of the
    line or None), (fact, groups), whether a signature explains the line, the error-code table seen.
    context_free: found without the lines around it or the line's printed prefix, so the same text
    hit by the same literals matches the same way wherever it recurs."""

    sigs: list[tuple[int, dict[str, str], str | None]] = field(default_factory=list)
    facts: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    matched: bool = False
    code_table: str = ""
    context_free: bool = True
    # the line reads as a raised exception (_raised(text)); asked once per remembered line: every rank repeats it
    raised: bool | None = None


@dataclass(frozen=True)
class Terminal:
    """The last exception line of the log (log order over all inputs), generic wrappers left out:
    the error the process finally died of. `sigs`: the signatures that matched that line."""

    order: int
    source: str
    line: int
    text: str
    sigs: tuple[str, ...] = ()


# a run of digits no real value has: a fact holding one is garbage (a hostile or corrupt log), not kept
_HUGE_NUMBER = re.compile(r"\d{65}")


@dataclass
class LogFacts:
    """Values the log reveals; the first occurrence (with its line) and a capped set of all."""

    first: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # key -> (value, line, source)
    values: dict[str, list[str]] = field(default_factory=dict)
    last: dict[tuple[str, str], int] = field(default_factory=dict)  # (key, source) -> last line seen
    where: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (key, kept value) -> its first line

    def add(self, key: str, value: str, line: int, source: str) -> None:
        if _HUGE_NUMBER.search(value):  # no count, size or id has that many digits; int() refuses past 4300
            return
        key = _GROUP_ALIAS.get(key, key)
        value = _VALUE_ALIAS.get((key, value), value)
        if key not in self.first:
            self.first[key] = (value, line, source)
        self.last[(key, source)] = line
        seen = self.values.setdefault(key, [])
        if value not in seen and len(seen) < FACT_VALUES_KEPT:
            seen.append(value)
            self.where[(key, value)] = (line, source)

    def get(self, key: str) -> str | None:
        hit = self.first.get(key)
        return hit[0] if hit else None

    def discard(self, key: str, value: str) -> None:
        """Take a value back (a correlation found the line means something else): `first` moves to the earliest value
        kept, and a key left with none is gone."""
        seen = self.values.get(key, [])
        if value not in seen:
            return
        seen.remove(value)
        self.where.pop((key, value), None)
        if not seen:
            self.values.pop(key, None)
            self.first.pop(key, None)
            for k in [k for k in self.last if k[0] == key]:
                del self.last[k]
        elif self.first[key][0] == value:
            line, source = min((self.where[(key, v)] for v in seen), key=lambda w: w[0])
            kept = next(v for v in seen if self.where[(key, v)] == (line, source))
            self.first[key] = (kept, line, source)


@dataclass
class ScanResult:
    signatures: dict[str, SigRecord] = field(default_factory=dict)
    facts: LogFacts = field(default_factory=LogFacts)
    error_lines: list[tuple[int, int, int, str, str]] = field(default_factory=list)  # heap
    lines: int = 0
    bytes: int = 0
    inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine: str = ""
    codes: dict[tuple[str, str], SigHit] = field(default_factory=dict)  # (group, number) -> first line
    # commands quoted in the log (`docker run ...` with its continuation lines): (line, source, text)
    quoted: list[tuple[int, str, str]] = field(default_factory=list)
    # (source, line) -> table of the error code the line carries (by name, printed string or number)
    code_lines: dict[tuple[str, int], str] = field(default_factory=dict)
    terminal: Terminal | None = None
    # how child processes died (explain/death.py): signal name (`SIGBUS`, or `OOM` for an OOM-killer
    # report) -> its first line; the fact `child_signal` holds the names in log order
    deaths: dict[str, SigHit] = field(default_factory=dict)
    # source -> its number of lines (newlines read): a fact on a file's last lines (explain/hang.py: a progress
    # bar the log ends on) is told by it
    ends: dict[str, int] = field(default_factory=dict)

    def top_error_lines(self) -> list[tuple[str, int, str]]:
        """(source, line, text), in log order."""
        kept = sorted(self.error_lines, key=lambda e: (e[2], e[1]))
        return [(src, line, text) for _score, line, _order, src, text in kept]


class _Target:
    __slots__ = ("capture", "facts", "frags", "salient", "sigs")

    def __init__(self) -> None:
        self.sigs: list[int] = []
        self.facts: list[int] = []
        self.salient = False
        # (signature, literal length in bytes, is head): this is the head or tail fragment of a
        # literal that a wrap may cut (FRAGMENT)
        self.frags: list[tuple[int, int, bool]] = []
        self.capture = False  # the line starts a quoted command (explain/context.py)


class _Tables:
    """The literal tables of a knowledge base (Scanner): every prefilter literal, whether it is single, what it
    backs (_Target), two per-literal flags derived from that, and the engine's covers (engine.covers, kept
    with the cached tables; None: the engine works them out)."""

    __slots__ = ("covered", "frag_only", "light", "literals", "single", "targets")

    def __init__(
        self, literals: list[bytes], single: list[bool], targets: list[_Target], with_covers: bool = False
    ) -> None:
        self.literals = literals
        self.single = single
        self.targets = targets
        self.covered = covers(literals, single) if with_covers else None
        # literals that only make a line an error-line candidate (no signature, no fact, no capture)
        self.light = [not t.sigs and not t.facts and not t.capture and not t.frags for t in targets]
        # literals that are only a fragment: kept when their place on the line fits a wrap
        self.frag_only = [
            bool(t.frags) and not t.sigs and not t.facts and not t.salient and not t.capture for t in targets
        ]

    def dumps(self) -> bytes:
        """The tables as marshal data (plain tuples, bytes, ints and bools: nothing that runs on load)."""
        ts = self.targets
        return marshal.dumps(
            (
                TABLES_FORMAT,
                tuple(self.literals),
                tuple(self.single),
                tuple(tuple(t.sigs) for t in ts),
                tuple(tuple(t.facts) for t in ts),
                tuple(tuple(t.frags) for t in ts),
                tuple(t.salient for t in ts),
                tuple(t.capture for t in ts),
                None if self.covered is None else {k: tuple(v) for k, v in self.covered.items()},
                tuple(self.light),
                tuple(self.frag_only),
            )
        )

    @classmethod
    def loads(cls, data: bytes) -> _Tables:
        """dumps() read back; ValueError when the data is not such tables."""
        fmt, literals, single, sigs, facts, frags, salient, capture, covered, light, frag_only = marshal.loads(data)
        n = len(literals)
        if fmt != TABLES_FORMAT or not all(
            len(col) == n for col in (single, sigs, facts, frags, salient, capture, light, frag_only)
        ):
            raise ValueError("not the scanner's literal tables")
        targets: list[_Target] = []
        new = _Target.__new__
        for t_sigs, t_facts, t_frags, t_salient, t_capture in zip(sigs, facts, frags, salient, capture, strict=True):
            t = new(_Target)
            t.sigs, t.facts, t.frags, t.salient, t.capture = t_sigs, t_facts, t_frags, t_salient, t_capture
            targets.append(t)
        tables = cls.__new__(cls)
        tables.literals, tables.single, tables.targets = list(literals), list(single), targets
        tables.covered, tables.light, tables.frag_only = covered, list(light), list(frag_only)
        return tables


# The tables are a pure function of the knowledge base's literals, examples and facts and of the code of this module,
# normalize.py (the literal forms) and engine.py (covers): ~80 ms of every start-up to build, a few ms to read back
# (bench/README.md, gperf47). They are kept beside the compiled databases (hs_cache, with its checks), keyed by those
# inputs and by those modules' source; with the cache off, or any of it unreadable, they are built as before.
TABLES_FORMAT = 1


def _tables_key(kb: KnowledgeBase) -> str | None:
    import sys

    from tpdoctor.explain import engine as engine_module
    from tpdoctor.explain import normalize as normalize_module

    files = [(m.__name__, getattr(m, "__file__", None)) for m in (sys.modules[__name__], normalize_module, engine_module)]
    inputs = (
        TABLES_FORMAT,
        sys.version_info[:2],
        marshal.version,
        tuple((sig.literals, sig.examples, _joins_wraps(sig)) for sig in kb.signatures),
        tuple((fact.literals, fact.single) for fact in kb.facts),
        SALIENT_LITERALS,
        CAPTURE_LITERALS,
    )
    return hs_cache.source_key(files, inputs)


def _literal_tables(kb: KnowledgeBase) -> _Tables:
    """kb's literal tables, from the cache when they are there (hs_cache), else built (and cached)."""
    # the cached tables carry the engine's covers; without the cache the engine works them out
    return hs_cache.cached(
        "tables",
        _Tables,
        lambda: _tables_key(kb),
        lambda: _Tables(*_build_tables(kb), with_covers=True),
        _Tables.dumps,
        _Tables.loads,
        uncached=lambda: _Tables(*_build_tables(kb)),
    )


def _build_tables(kb: KnowledgeBase) -> tuple[list[bytes], list[bool], list[_Target]]:
    """The prefilter literals of `kb` (each literal's byte forms, the wrap fragments, the facts' literals, the
    error words and the capture literals), whether each is single, and what each one backs."""
    literals: list[bytes] = []
    single: list[bool] = []
    targets: list[_Target] = []
    index: dict[tuple[bytes, bool], int] = {}

    def lit(text: str, is_single: bool) -> _Target:
        key = (text.encode("utf-8"), is_single)
        if key not in index:
            index[key] = len(literals)
            literals.append(key[0])
            single.append(is_single)
            targets.append(_Target())
        return targets[index[key]]

    for si, sig in enumerate(kb.signatures):
        stripped = len(sig.literals) > 1  # the examples stripped once for all the signature's literals
        examples = tuple(strip_prefixes(e) for e in sig.examples) if stripped else sig.examples
        for t in sig.literals:
            for form in literal_forms(t, starts_message(t, examples, stripped)):
                target = lit(form, False)
                if si not in target.sigs:
                    target.sigs.append(si)
        if _joins_wraps(sig):
            for t in sig.literals:
                raw = t.encode("utf-8")
                if len(raw) >= FRAGMENT_FROM:
                    head, tail = (
                        raw[:FRAGMENT].decode("utf-8", "ignore"),
                        raw[-FRAGMENT:].decode("utf-8", "ignore"),
                    )
                    for frag, is_head in ((head, True), (tail, False)):
                        if not _ONE_TOKEN.fullmatch(frag):
                            lit(frag, False).frags.append((si, len(raw), is_head))
    for fi, fact in enumerate(kb.facts):
        for t in fact.literals:
            # a fact's quote or `<` is escaped in a JSON or HTML paste too (`root = \"/\"` in a json-file record)
            for form in literal_forms(t, recased=False):
                lit(form, fact.single).facts.append(fi)
    for t in SALIENT_LITERALS:
        lit(t, False).salient = True
    for t in CAPTURE_LITERALS:
        lit(t, False).capture = True
    return literals, single, targets


class Scanner:
    """Feed it streams; it accumulates a ScanResult across all of them."""

    def __init__(self, kb: KnowledgeBase, engine: str = "auto") -> None:
        self.kb = kb
        tables = _literal_tables(kb)
        literals, single, targets = tables.literals, tables.single, tables.targets
        self._targets = targets
        # signatures whose pattern anchors on the line start: they also see the line with its prefixes
        self._anchored = frozenset(i for i, sig in enumerate(kb.signatures) if "^" in sig.regex.pattern)
        # literals that only make a line an error-line candidate (no signature, no fact, no capture)
        self._light = tables.light
        # literals that are only a fragment: kept when their place on the line fits a wrap
        self._frag_only = tables.frag_only
        self._in_heap: dict[str, tuple[int, int, int, str, str]] = {}  # shown text -> its heap entry
        self._seen_lines: dict[tuple[str, tuple[int, ...]], _LineMatch] = {}  # (text, literals) -> match
        self._texts: dict[bytes, tuple[str, str]] = {}  # raw line -> (decoded, stripped and unescaped)
        self._joined: dict[tuple[int, str], re.Match[str] | None] = {}  # (signature, joined text) -> its search
        self._joined_chars = 0
        self.literals: tuple[bytes, ...] = tuple(literals)  # every prefilter literal, whichever engine runs them
        self.engine: Engine = make_engine(literals, single, engine, tables.covered)
        self.result = ScanResult(engine=self.engine.name)
        self._order = 0
        self._block_end = 0
        self._tail = b""  # the end of the previous block: context for a `near` line at a block start
        self._vector = True  # numpy may count newlines in this stream (VECTOR_FILE_MIN)

    def scan_stream(self, stream: BinaryIO, source: str) -> None:
        self.result.inputs.append(source)
        self._tail = b""
        size = size_hint(stream)
        self._vector = not 0 < size < VECTOR_FILE_MIN
        workers = scanpool.worker_count() if size >= POOL_FROM else 0
        if workers and scanpool.can_fork():
            line_base = self._scan_pooled(stream, source, workers)
        else:
            line_base = 0  # lines before the current block
            for buf, end in iter_buffers(stream, notes=self.result.notes):
                line_base = self._scan_block(*self._block_of(buf, end), line_base, source)
        self.result.lines += line_base
        self.result.ends[source] = line_base

    def _block_of(self, buf: Buffer, end: int) -> tuple[Buffer, int]:
        """buf[:end] without ANSI escapes: in place when buf is writable (what the escapes took
        leaves room), else a copy."""
        self.result.bytes += end
        if buf.find(b"\x1b", 0, end) < 0:
            return buf, end
        block = ANSI_BYTES.sub(b"", memoryview(buf)[:end])
        if isinstance(buf, bytes):
            return block, len(block)
        buf[: len(block)] = block
        return buf, len(block)

    def _scan_pooled(self, stream: BinaryIO, source: str, workers: int) -> int:
        """scan_stream for a long regular file: forked workers scan the next blocks' literals while
        this process turns the earlier blocks' hits into lines, in log order (explain/scanpool.py).
        In flight: at most `workers` blocks, plus the one being read; the ring has one spare. The
        first block is scanned here, before the fork, so that the workers inherit the databases
        it compiled (engine.py: the subset without the single literals found in its head)."""
        buffers = scanpool.shared_buffers(workers + 2, CHUNK + MAX_LINE + 1)
        pool: scanpool.ScanPool | None = None
        inflight: deque[tuple[int, int]] = deque()  # (slot, end), oldest first
        line_base = 0

        def finish(pool: scanpool.ScanPool, keep: int) -> None:
            """Turn the oldest blocks in flight into lines, in order, until `keep` remain."""
            nonlocal line_base
            while len(inflight) > keep:
                slot, end = inflight.popleft()
                line_base = self._scan_block(buffers[slot], end, line_base, source, pool.result(slot))

        try:
            for n, (buf, raw_end) in enumerate(
                iter_buffers(stream, notes=self.result.notes, buffers=buffers)
            ):
                block, end = self._block_of(buf, raw_end)  # block is buffers[n % len(buffers)]
                if pool is None:
                    line_base = self._scan_block(block, end, line_base, source)
                    pool = scanpool.ScanPool(
                        functools.partial(prescan, self.engine, vector=self._vector), buffers, workers
                    )
                    continue
                slot = n % len(buffers)
                pool.submit(slot, end)
                inflight.append((slot, end))
                finish(pool, workers)
            if pool is not None:
                finish(pool, 0)
        finally:
            if pool is not None:
                pool.close()
            for b in buffers:
                b.close()
        return line_base

    def _scan_block(
        self, block: Buffer, end: int, line_base: int, source: str, scanned: Prescanned | None = None
    ) -> int:
        """Scan block[:end] in place; return the number of lines up to its end. `scanned`: the
        block's hits and newline counts (prescan) when a worker process already found them."""
        self._block_end = end  # the buffer may hold stale bytes past `end`
        hits, before, total = scanned or prescan(self.engine, block, end, self._vector)
        if not hits:
            self._tail = bytes(block[max(0, end - NEAR_BYTES) : end])
            return line_base + total
        line_no = line_base + 1  # 1-based number of the line starting at `cur_start`
        cur_start = -1
        cur: list[int] = []
        frag_only = self._frag_only
        order = self._order  # log order of the hit lines, for error lines of several inputs
        pending: list[tuple[int, int, int]] = []  # error-line candidates only: (start, line, order)
        for i, (lit, hit_end) in enumerate(hits):
            if frag_only[lit] and not self._fragment_fits(block, end, lit, hit_end):
                continue
            start = block.rfind(b"\n", 0, hit_end) + 1
            if start != cur_start:
                if cur:
                    order = self._flush_line(block, end, cur_start, line_no, cur, source, order, pending)
                line_no = line_base + 1 + before[i]
                cur_start = start
                cur = []
            cur.append(lit)
        if cur:
            order = self._flush_line(block, end, cur_start, line_no, cur, source, order, pending)
        self._order = order
        self._error_candidates(block, pending, source)
        self._tail = bytes(block[max(0, end - NEAR_BYTES) : end])
        return line_base + total

    def _fragment_fits(self, block: Buffer, end: int, lit: int, hit_end: int) -> bool:
        """Is this head fragment close enough to its line's end (the wrap cut the rest off), or this
        tail fragment close enough to its line's start (the line continues a wrap)?"""
        for _si, length, is_head in self._targets[lit].frags:
            reach = length - FRAGMENT + WRAP_SLACK
            if is_head:  # ... and the next line can continue it
                nl = block.find(b"\n", hit_end, end)
                if 0 <= nl - hit_end <= reach and not _RECORD_START.match(block, nl + 1):
                    return True
            else:  # ... and this line can be a continuation
                line_start = block.rfind(b"\n", 0, hit_end) + 1
                if hit_end - FRAGMENT - line_start <= reach and not _RECORD_START.match(block, line_start):
                    return True
        return False

    def _error_candidates(self, block: Buffer, pending: list[tuple[int, int, int]], source: str) -> None:
        """Lines that only hold an error word, latest first: once the heap is full, a line whose best
        possible score and position cannot beat its smallest entry is skipped without decoding it
        (most of the ~35 k such lines per GiB of NCCL_DEBUG=INFO output)."""
        heap = self.result.error_lines
        done: set[bytes] = set()
        for start, line_no, order in reversed(pending):
            stop = block.find(b"\n", start)
            raw = block[start : min(stop, start + MAX_LINE)]
            # The same line again, earlier in this block (every rank prints its `error_on_missing_weights` warning):
            # the later copy, read first, already decided everything this one could (the latest exception line, the
            # error-line heap keeps a text at its latest line and only ever raises its smallest entry)
            key = raw if isinstance(raw, bytes) else bytes(raw)
            if key in done:
                continue
            done.add(key)
            if len(heap) >= ERROR_LINES_KEPT:
                best = 3 if _MAYBE_EXCEPTION.search(raw) else 2 if _MAYBE_STRONG.search(raw) else 1
                if (best, line_no, order) < heap[0][:3]:
                    continue
            original = decode_line(raw)
            text = strip_prefixes(original)
            self._exception_seen(text, original, line_no, source, order)
            self._salient(text, original, line_no, source, order)

    def _near_text(self, block: Buffer, end: int, start: int, stop: int) -> str:
        """The NEAR_BEFORE lines above the line at block[start:stop] and the NEAR_AFTER below it
        (within NEAR_BYTES; lines above the block come from the previous block's tail)."""
        lo = max(0, start - NEAR_BYTES)
        before = bytes(block[lo:start])
        if lo == 0 and self._tail:
            before = self._tail + before
        after = bytes(block[stop + 1 : min(end, stop + 1 + NEAR_BYTES)]) if stop >= 0 else b""
        lines = before.split(b"\n")[-NEAR_BEFORE - 1 :] + after.split(b"\n")[:NEAR_AFTER]
        # a forum's typographer ends a sentence with … and curls n't: the context reads them as typed
        return typographed(decode_line(b"\n".join(lines)))

    def _wrapped(self, block: Buffer, end: int, start: int, stop: int) -> list[tuple[str, str]]:
        """The line at block[start:stop] joined with the lines it was wrapped from or into, as
        (original, normalised text) with a space (a wrap between words) and without (a terminal's
        hard wrap); [] when neither neighbour looks like a wrapped piece. Only lines a literal hit
        and no signature confirmed get here, so the cost stays off the bulk of a log."""
        stop = stop if stop >= 0 else end
        if stop - start > WRAP_PIECE_MAX:
            return []
        pieces = [bytes(block[start:stop])]
        head, tail = start, stop
        for _ in range(WRAP_PIECES - 1):  # backwards: this line continues the one above
            if head == 0 or _starts_record(pieces[0]):
                break
            prev_start = block.rfind(b"\n", 0, head - 1) + 1
            prev = bytes(block[prev_start : head - 1])
            if len(prev) > WRAP_PIECE_MAX or not _cut_by_wrap(prev, pieces[0]):
                break
            pieces.insert(0, prev)
            head = prev_start
        for _ in range(WRAP_PIECES - 1):  # forwards: the next line continues this one
            if tail >= end - 1:
                break
            nxt_stop = block.find(b"\n", tail + 1, end)
            nxt = bytes(block[tail + 1 : nxt_stop if nxt_stop >= 0 else end])
            if len(nxt) > WRAP_PIECE_MAX or _starts_record(nxt) or not _cut_by_wrap(pieces[-1], nxt):
                break
            pieces.append(nxt)
            tail = nxt_stop if nxt_stop >= 0 else end
        if len(pieces) == 1:
            return []
        texts = [decode_line(p).rstrip() for p in pieces]
        out = []
        for sep in (" ", ""):
            joined = sep.join(texts)
            out.append((joined, unescape(strip_prefixes(joined))))
        return out

    def _flush_line(
        self,
        block: Buffer,
        end: int,
        start: int,
        line_no: int,
        lits: list[int],
        source: str,
        order: int,
        pending: list[tuple[int, int, int]],
    ) -> int:
        """Hand one hit line on and return its order: a line hit only by literals that back no
        signature, fact or fragment waits as an error-line candidate; any other line is read now."""
        order += 1
        if all(self._light[c] for c in lits):
            pending.append((start, line_no, order))
        else:
            self._line(block, end, start, line_no, lits, source, order)
        return order

    def _line(
        self,
        block: Buffer,
        end: int,
        start: int,
        line_no: int,
        lits: list[int],
        source: str,
        order: int,
    ) -> None:
        stop = block.find(b"\n", start)
        raw = block[start : min(stop if stop >= 0 else end, start + MAX_LINE)]
        # a line every rank repeats word for word is decoded and stripped once (pure functions of its bytes)
        raw_key = raw if isinstance(raw, bytes) else bytes(raw)
        texts = self._texts.get(raw_key)
        if texts is None:
            original = decode_line(raw)
            texts = (original, unescape(strip_prefixes(original)))
            if len(raw_key) <= TEXT_KEPT_BYTES and len(self._texts) < TEXTS_KEPT:
                self._texts[raw_key] = texts
        original, text = texts
        salient = capture = False
        for lit in lits:
            t = self._targets[lit]
            salient = salient or t.salient
            capture = capture or t.capture
        res = self.result
        if capture and len(res.quoted) < MAX_QUOTED:
            # the command and its continuation lines, read from the block only here (bounded)
            span = capture_span(block, start, self._block_end)
            if span:
                res.quoted.append((line_no, source, span))
        # Every rank prints the same line (NCCL WARN/INFO per rank and communicator, a launcher's
        # banner): once its prefix is stripped, what matched on it is the same; only what matched
        # without looking at the lines around it is reused (_LineMatch.context_free).
        key = (text, tuple(lits))
        found = self._seen_lines.get(key)
        if found is None:
            found = self._match_line(block, end, start, stop, text, original, lits)
            if found.context_free and len(self._seen_lines) < SEEN_LINES_KEPT:
                self._seen_lines[key] = found
        self._record_line(found, text, original, line_no, source, order, salient)

    def _search_joined(self, si: int, sig: Signature, joined: str) -> re.Match[str] | None:
        key = (si, joined)
        if key in self._joined:
            return self._joined[key]
        m = sig.regex.search(joined)
        if len(self._joined) < JOINED_SEARCHES_KEPT and self._joined_chars + len(joined) <= JOINED_CHARS_KEPT:
            self._joined[key] = m
            self._joined_chars += len(joined)
        return m

    def _match_line(
        self, block: Buffer, end: int, start: int, stop: int, text: str, original: str, lits: list[int]
    ) -> _LineMatch:
        """Which signatures and facts match this line (and, for a wrapped one, the lines it joins)."""
        sigs: set[int] = set()
        facts: set[int] = set()
        for lit in lits:
            t = self._targets[lit]
            sigs.update(t.sigs)
            sigs.update(si for si, _length, _head in t.frags)
            facts.update(t.facts)
        out = _LineMatch()
        near_text: str | None = None
        twin = case_twin(text)
        as_printed: str | None = None
        wrapped: list[tuple[str, str]] | None = None  # (original, text) of the line joined with its wrap
        failed: bool | None = None  # the line holds a failure word (asked once, for the loose twins)
        for si in sorted(sigs):  # loose twins come last in kb.signatures
            sig = self.kb.signatures[si]
            if sig.loose_of:
                # explained by a full pattern (its original among them), or no failure on the line
                # ("Out of bounds values : 0 OK")
                if out.matched:
                    continue
                if failed is None:
                    failed = _failed(text)
                if not failed:
                    continue
            shown: str | None = None
            m = sig.regex.search(text)
            if not m and si in self._anchored:
                # a pattern anchored on a prefix that strip_prefixes removes (klog's `W0719 ...
                # warnings.go:70] unknown field`) sees the line as printed
                if as_printed is None:
                    as_printed = unescape(original.strip())
                    out.context_free = False
                if as_printed != text:
                    m = sig.regex.search(as_printed)
            if not m and twin is not None:
                m = sig.regex.search(twin)
            if not m and _joins_wraps(sig):
                # a line the user (or a terminal) wrapped: the message continues on the next line
                if wrapped is None:
                    wrapped = self._wrapped(block, end, start, stop)
                    out.context_free = False
                for joined_original, joined in wrapped:
                    m = self._search_joined(si, sig, joined)
                    if m:
                        shown = joined_original
                        break
            if not m and sig.near is not None and sig.context is not None:
                m = sig.near.search(text)
                if m:
                    if near_text is None:
                        near_text = self._near_text(block, end, start, stop)
                        out.context_free = False
                    if not sig.context.search(near_text):
                        m = None
            if not m:
                continue
            if sig.loose_of and _cited_in_advice(text, m.start(), m.end()):
                continue
            # a hand-written signature explains its line; a line whose only match is an error-code
            # table entry without a cause (out of memory, illegal address) stays among the error lines,
            # and so does a line a signature knows as a non-container root (`root: not-container`)
            out.matched = out.matched or bool(sig.causes) or not (sig.id.startswith("code.") or sig.root)
            groups = match_groups(m)
            out.sigs.append((si, groups, shown))
            if sig.code is not None:
                out.code_table = sig.code.table
            for k, v in groups.items():
                group = k.rstrip("0123456789")
                if group in NUMBER_GROUPS and group not in _CODE_QUALIFIERS:
                    code = lookup_number(group, v, code_string_of(groups))
                    if code is not None:
                        out.code_table = out.code_table or code.table
        for fi in sorted(facts):
            m = self.kb.facts[fi].regex.search(text)
            if m:
                out.facts.append((fi, match_groups(m)))
        return out

    def _record_line(
        self, found: _LineMatch, text: str, original: str, line_no: int, source: str, order: int, salient: bool
    ) -> None:
        """Record what matched on one line: signature hits and evidence, codes, facts, deaths, and the
        line as the latest exception or an error line."""
        res = self.result
        matched_ids: list[str] = []
        for si, groups, shown in found.sigs:
            if shown is not None:  # the line joined with its wrap is what the user sees from here on
                original = shown
            sig = self.kb.signatures[si]
            matched_ids.append(sig.id)
            rec = res.signatures.get(sig.id)
            if rec is None:
                rec = res.signatures[sig.id] = SigRecord(first_line=line_no)
            rec.count += 1
            rec.last = (source, line_no)
            if len(rec.evidence) < EVIDENCE_PER_SIGNATURE:
                rec.evidence.append(SigHit(line_no, display(original), source, groups))
            for k, v in groups.items():
                group = k.rstrip("0123456789")
                if group in _CODE_QUALIFIERS:
                    continue
                if group in NUMBER_GROUPS:
                    if (group, v) not in res.codes and len(res.codes) < CODES_KEPT:
                        res.codes[(group, v)] = SigHit(line_no, display(original), source, groups)
                    continue
                res.facts.add(k, v, line_no, source)
        for _fi, groups in found.facts:
            if any(k.startswith("death_") for k in groups):
                self._death(groups, original, line_no, source)
                continue
            for k, v in groups.items():
                res.facts.add(k, v, line_no, source)
        if found.code_table and len(res.code_lines) < CODE_LINES_KEPT:
            res.code_lines.setdefault((source, line_no), found.code_table)
        if salient:
            if found.raised is None:
                found.raised = _raised(text)
            self._exception_seen(text, original, line_no, source, order, tuple(matched_ids), found.raised)
        if (salient or found.code_table) and not found.matched:
            # a line that carries an error code is an error line even without an error word
            # ("Invalid device ordinal" pasted alone): it ranks with exception lines
            self._salient(text, original, line_no, source, order, 3 if found.code_table else 0)

    def _death(self, groups: dict[str, str], original: str, line_no: int, source: str) -> None:
        """A child's death in any launcher's words (explain/death.py): one `child_signal` fact, and the first
        line of each signal kept as evidence. An OOM-killer report is also a SIGKILL."""
        name = signal_of(groups)
        if name is None:  # an ordinary exit status ("Exit code: 1")
            return
        res = self.result
        hit = SigHit(line_no, display(original), source, {})
        res.deaths.setdefault(name, hit)
        if name == OOM:
            res.deaths.setdefault("SIGKILL", hit)
        res.facts.add("child_signal", "SIGKILL" if name == OOM else name, line_no, source)

    def _exception_seen(
        self,
        text: str,
        original: str,
        line_no: int,
        source: str,
        order: int,
        sigs: tuple[str, ...] = (),
        raised: bool | None = None,
    ) -> None:
        """Keep the latest exception line (only lines that hold an error word get here). `raised`: _raised(text)
        when the caller knows it."""
        last = self.result.terminal
        if last is not None and last.order > order:
            return
        if raised is None:
            raised = _raised(text)
        if raised:
            self.result.terminal = Terminal(order, source, line_no, display(original), sigs)

    def _salient(
        self, text: str, original: str, line_no: int, source: str, order: int, score: int = 0
    ) -> None:
        """Offer the line to the error-line heap; `score` when the caller knows it (a code line: 3)."""
        if not score:
            # the level word may sit in a prefix that strip_prefixes removed (vLLM's `ERROR 12-01 ...`)
            score = 3 if _EXCEPTION_LINE.match(text) else 2 if _STRONG.search(original) else 1
        heap = self.result.error_lines
        entry_key = (score, line_no, order)
        if len(heap) >= ERROR_LINES_KEPT and entry_key < heap[0][:3]:
            return  # cannot enter the full heap: skip the costly checks
        if _looks_binary(original):
            return  # bytes of a binary file that happen to contain "error": nothing to show a user
        shown = display(original)
        # Ties keep the later line: the last error before a crash is usually the informative one.
        entry = (score, line_no, order, source, shown)
        old = self._in_heap.get(shown)
        if old is not None:  # the same message from every rank: once, at its latest line
            if entry > old:
                heap[heap.index(old)] = entry
                heapq.heapify(heap)
                self._in_heap[shown] = entry
            return
        if len(heap) < ERROR_LINES_KEPT:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            del self._in_heap[heapq.heapreplace(heap, entry)[4]]
        else:
            return
        self._in_heap[shown] = entry
