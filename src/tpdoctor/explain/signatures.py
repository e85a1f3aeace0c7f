"""Load and validate the signature knowledge base (data/signatures.yaml).

The knowledge is data so that adding a signature never means touching the scanner: an entry
gives the literal strings the multi-pattern engine looks for, the regex that confirms a hit,
the cause ids it supports and how strongly.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from tpdoctor import rxcompat
from tpdoctor.explain.error_codes import ErrorCode, signature_specs
from tpdoctor.model import catalog
from tpdoctor.model.pkgdata import read_data
from tpdoctor.model.yamldata import load_data_yaml

STRENGTHS = ("proves", "suggests")


class LazyRegex:
    """A pattern compiled on its first use.

    The scanner runs a signature's regex only on lines where one of its literals was found, so a
    run over a real log needs a handful of the ~350 patterns; compiling all of them costs 0.1-0.25 s
    of every start-up (`re` parses in Python). The packaged knowledge base is compiled eagerly by
    the tests (`parse_knowledge_base(raw, lazy=False)`), so a bad pattern never ships.
    """

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = rxcompat.compile(self.pattern)
        return self._compiled

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def match(self, text: str) -> re.Match[str] | None:
        return self.compiled.match(text)


@dataclass(frozen=True)
class Signature:
    id: str
    literals: tuple[str, ...]
    regex: LazyRegex | re.Pattern[str]
    causes: tuple[str, ...]
    strength: str
    explain: str
    source: str = ""
    refs: tuple[int, ...] = ()
    implies: dict[str, str] = field(default_factory=dict)
    hint: str | None = None
    examples: tuple[str, ...] = ()
    # Benign unless one of these is in the log too: signature ids (`prefix.*`: any id under it), or
    # `fact:key` (the fact is known) / `fact:key>N` (a numeric fact above N) / `fact:key=V` (V is the only value seen),
    # `after:<id or fact:key>` (that line follows this signature's last line in the same file), `A&!B` (all parts
    # hold, a part after `!` must not). The hit
    # then becomes a note with `benign`.
    unless: tuple[str, ...] = ()
    benign_with: tuple[str, ...] = ()  # ... and benign (not a container cause) when one of these is present
    benign: str = ""
    code: ErrorCode | None = None  # set on signatures generated from the error-code tables
    # A generic consequence (ncclSystemError, a watchdog timeout, a bare SIGBUS): its cause ranks after
    # any cause that a specific line supports, whatever the severities, so the root line leads.
    downstream: bool = False
    # "not-container": the line is itself a failure with no container cause (CUDA OOM, a kernel image
    # built for another GPU). A cause that only generic downstream lines back is then dropped.
    root: str = ""
    # A second form of the line that counts only when a line nearby matches `context` (a printed
    # error string alone on its line, its API named by the traceback around it; error_codes.py).
    near: LazyRegex | re.Pattern[str] | None = None
    context: LazyRegex | re.Pattern[str] | None = None
    # Set on a loose twin (see loose_twins): the id of the signature whose distinctive literal it
    # stands for when that signature's full pattern does not match the line.
    loose_of: str = ""
    loose: bool = True  # False: the pattern narrows its literal on purpose (signatures.yaml `loose: false`)
    # The error code printed on this line is read by this signature, not by the code tables: the call and the
    # version it names say what the code means (torch's hipGetDeviceCount warning: 101 is a failed HIP start-up
    # there, not an index). Codes and code strings found on its lines then back no cause of their own.
    explains_codes: bool = False


@dataclass(frozen=True)
class FactPattern:
    id: str
    literals: tuple[str, ...]
    regex: LazyRegex | re.Pattern[str]  # run only on a line where a literal of it was found
    single: bool = False  # may be on every line: the engine reports it once per block


@dataclass(frozen=True)
class Correlation:
    id: str
    when: tuple[str, ...]
    any: tuple[str, ...] = ()
    fact: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()  # fact keys that must not be in the log (glearn18a)
    emit: str | None = None
    relate: str | None = None
    drop: str | None = None
    strength: str = "suggests"
    message: str = ""
    # gnew24: the emitted cause rests on consequences (a closed store connection, a hang) that any dead peer also
    # prints: it ranks like a downstream line and is dropped behind a known non-container root (CUDA OOM).
    downstream: bool = False


@dataclass(frozen=True)
class KnowledgeBase:
    signatures: tuple[Signature, ...]
    facts: tuple[FactPattern, ...]
    correlations: tuple[Correlation, ...]
    not_in_logs: dict[int, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {s.id: s for s in self.signatures})

    def signature(self, sig_id: str) -> Signature:
        return self._index[sig_id]  # type: ignore[attr-defined,no-any-return]


class KnowledgeBaseError(ValueError):
    """The packaged data file is inconsistent: a bug of ours, caught by the tests."""


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def _compile(entry_id: str, pattern: str, lazy: bool = False) -> LazyRegex | re.Pattern[str]:
    return LazyRegex(pattern) if lazy else _compile_now(entry_id, pattern)


def _compile_now(entry_id: str, pattern: str) -> re.Pattern[str]:
    try:
        return rxcompat.compile(pattern)
    except re.error as exc:
        raise KnowledgeBaseError(f"signature {entry_id}: bad pattern: {exc}") from None


def parse_knowledge_base(raw: dict[str, Any], lazy: bool = False) -> KnowledgeBase:
    """Validate and build the knowledge base; `lazy` defers compiling the signature and fact regexes
    to their first use (the packaged data, whose patterns the tests compile)."""
    known = catalog()
    sigs: list[Signature] = []
    seen: set[str] = set()
    entries = list(raw.get("signatures") or [])
    if raw.get("include_error_codes", True):
        entries.extend(signature_specs())
    for e in entries:
        sid = e["id"]
        if sid in seen:
            raise KnowledgeBaseError(f"signature {sid} defined twice")
        seen.add(sid)
        causes = _tuple(e.get("causes"))
        for c in causes:
            if c not in known:
                raise KnowledgeBaseError(f"signature {sid}: unknown cause id {c}")
        strength = e.get("strength", "suggests")
        if strength not in STRENGTHS:
            raise KnowledgeBaseError(f"signature {sid}: strength must be one of {STRENGTHS}")
        literals = tuple(str(x) for x in _tuple(e.get("literals")))
        if not literals:
            raise KnowledgeBaseError(f"signature {sid}: needs at least one literal for the prefilter")
        sigs.append(
            Signature(
                id=sid,
                literals=literals,
                regex=_compile(sid, e["pattern"], lazy),
                causes=causes,
                strength=strength,
                explain=str(e.get("explain", "")).strip(),
                source=str(e.get("source", "")),
                refs=tuple(int(r) for r in _tuple(e.get("ref"))),
                implies={str(k): str(v) for k, v in (e.get("implies") or {}).items()},
                hint=e.get("hint"),
                examples=tuple(str(x) for x in _tuple(e.get("examples"))),
                unless=tuple(str(x) for x in _tuple(e.get("unless"))),
                benign_with=tuple(str(x) for x in _tuple(e.get("benign_with"))),
                benign=str(e.get("benign", "")).strip(),
                code=e.get("code"),
                downstream=bool(e.get("downstream", False)),
                root=str(e.get("root", "")),
                explains_codes=bool(e.get("explains_codes", False)),
                near=_compile(sid, str(e["near"]), lazy) if e.get("near") else None,
                context=_compile(sid, str(e["context"]), lazy) if e.get("context") else None,
                loose=bool(e.get("loose", True)),
            )
        )
    for sig in sigs:
        if (sig.near is None) != (sig.context is None):
            raise KnowledgeBaseError(f"signature {sig.id}: `near` and `context` go together")
        if sig.root not in ("", "not-container") or (sig.root and sig.causes):
            raise KnowledgeBaseError(
                f"signature {sig.id}: root is 'not-container' on a signature without causes"
            )
        for ref in (part.removeprefix("!") for r in (*sig.unless, *sig.benign_with) for part in r.split("&")):
            ref = ref.removeprefix("after:")
            ref_seen = any(i.startswith(ref[:-1]) for i in seen) if ref.endswith(".*") else ref in seen
            if not ref.startswith("fact:") and not ref_seen:
                raise KnowledgeBaseError(f"signature {sig.id}: unless names unknown signature {ref}")
        if (sig.unless or sig.benign_with) and not sig.benign:
            raise KnowledgeBaseError(f"signature {sig.id}: unless needs a benign text")
    facts = tuple(
        FactPattern(
            id=f["id"],
            literals=tuple(str(x) for x in _tuple(f.get("literals"))),
            regex=_compile(f["id"], f["pattern"], lazy),
            single=bool(f.get("single", False)),
        )
        for f in raw.get("facts") or []
    )
    corrs: list[Correlation] = []
    for c in raw.get("correlations") or []:
        for ref in (*_tuple(c.get("when")), *_tuple(c.get("any"))):
            if ref not in seen:
                raise KnowledgeBaseError(f"correlation {c['id']}: unknown signature {ref}")
        for cause in (c.get("emit"), c.get("relate"), c.get("drop")):
            if cause and cause not in known:
                raise KnowledgeBaseError(f"correlation {c['id']}: unknown cause id {cause}")
        corrs.append(
            Correlation(
                id=c["id"],
                when=_tuple(c.get("when")),
                any=_tuple(c.get("any")),
                fact={str(k): str(v) for k, v in (c.get("fact") or {}).items()},
                absent=tuple(str(x) for x in _tuple(c.get("absent"))),
                emit=c.get("emit"),
                relate=c.get("relate"),
                drop=c.get("drop"),
                strength=c.get("strength", "suggests"),
                message=str(c.get("message", "")).strip(),
                downstream=bool(c.get("downstream", False)),
            )
        )
    not_in_logs = {int(k): str(v) for k, v in (raw.get("not_in_logs") or {}).items()}
    sigs.extend(loose_twins(sigs, lazy))
    return KnowledgeBase(tuple(sigs), facts, tuple(corrs), not_in_logs)


# A literal stands for its message on its own when it is long and made of several words: the
# upstream format string's fixed part ("could not select device driver", "requested number of devices
# unavailable for"). Error strings of the C library are not: many programs print them.
LOOSE_MIN_CHARS = 20
LOOSE_MIN_WORDS = 3
_LOOKAROUND = re.compile(r"\(\?<?[!=]")


@lru_cache(maxsize=1)
def _strerror_texts() -> frozenset[str]:
    import os

    return frozenset(os.strerror(n).lower() for n in range(1, 134))


@lru_cache(maxsize=1)
def _strerror_search() -> Callable[[str], re.Match[str] | None]:
    """Finds any of _strerror_texts in a text: one pass instead of ~130 `in` tests per literal (start-up)."""
    return re.compile("|".join(re.escape(t) for t in sorted(_strerror_texts()))).search


def distinctive(literal: str) -> bool:
    """Can this literal name its signature's message without the rest of the pattern?"""
    words = re.findall(r"[A-Za-z]{2,}", literal)
    low = literal.lower()
    return (
        len(literal) >= LOOSE_MIN_CHARS
        and len(words) >= LOOSE_MIN_WORDS
        and _strerror_search()(low) is None
    )


def loose_twins(sigs: list[Signature], lazy: bool) -> list[Signature]:
    """One `suggests` twin per hand-written signature whose literals name its message.

    Users bring the messages in forms the patterns do not spell: another version's wording around
    the same format string (`Requested:1` for `Requested: 1`, a quoted driver name left out, a
    suffix an older release did not print). The scanner lets a twin count only on a line that no
    hand-written signature explains (scanner.Scanner._line), and a twin never proves. Signatures
    whose pattern excludes variants on purpose (a lookaround, or `loose: false` where the pattern
    narrows its literal to some devices or values), that are benign in some context
    (`unless`/`benign_with`), that need nearby lines (`near`) or name no cause get no twin."""
    twins: list[Signature] = []
    for sig in sigs:
        if (
            sig.code is not None
            or not sig.causes
            or sig.unless
            or sig.benign_with
            or sig.near is not None
            or sig.root
            or not sig.loose
            or _LOOKAROUND.search(sig.regex.pattern)
        ):
            continue
        lits = tuple(lit for lit in sig.literals if distinctive(lit))
        if not lits:
            continue
        pattern = "|".join(re.escape(lit) for lit in lits)
        twins.append(
            Signature(
                id=f"{sig.id}~loose",
                literals=lits,
                regex=_compile(f"{sig.id}~loose", pattern, lazy),
                causes=sig.causes,
                strength="suggests",
                explain=(
                    f"{sig.explain} (The line holds this message's fixed words in a form the signature "
                    "does not spell out, so this is a suggestion.)"
                ),
                source=sig.source,
                refs=sig.refs,
                hint=sig.hint,
                examples=(),  # the line forms are the original's; a twin counts only where they fail
                downstream=sig.downstream,
                loose_of=sig.id,
            )
        )
    return twins


def _packaged_knowledge() -> KnowledgeBase:
    text = read_data("signatures.yaml")
    # the precompiled JSON copy when it is fresh (tools/compile_data.py): libyaml takes ~0.1 s for this file
    return parse_knowledge_base(load_data_yaml(text, "signatures.yaml") or {}, lazy=True)


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The packaged knowledge base: read back from the cache beside the compiled databases (hs_cache) when it was
    built from the same data and code, else read, validated and built (~100 ms of every start-up, against ~20 ms)."""
    from tpdoctor.explain import hs_cache

    return hs_cache.cached("kb", KnowledgeBase, _kb_key, _packaged_knowledge, _kb_dumps, _kb_loads)


# The cached knowledge base (knowledge_base): marshal data of plain values (strings, tuples, dicts, ints, bools, None;
# nothing that runs on load), each dataclass as its fields in order, each lazy regex as its pattern. Its key is
# every input of _packaged_knowledge: the data files it reads (signatures, the causes it validates against, the
# error-code tables), the code that reads and builds it (this module, error_codes.py, model/yamldata.py,
# model/catalog.py), the C library's strerror texts (loose twins, the code strings' `near` forms) and the Python
# version (its `re`).
KB_FORMAT = 1
_SIG_FIELDS = tuple(f.name for f in fields(Signature))
_FACT_FIELDS = tuple(f.name for f in fields(FactPattern))
_CORR_FIELDS = tuple(f.name for f in fields(Correlation))
_REGEX_FIELDS = frozenset({"regex", "near", "context"})


def _kb_key() -> str | None:
    import os
    import sys

    from tpdoctor.explain import error_codes, hs_cache
    from tpdoctor.model import yamldata
    from tpdoctor.model.pkgdata import data_path, list_data

    catalog_module = sys.modules[catalog.__module__]  # tpdoctor.model re-exports the function under its name
    try:
        names = ["signatures.yaml", "causes.yaml", *(f"error_codes/{n}" for n in list_data("error_codes", ".yaml"))]
        files: list[tuple[str, str | None]] = [(name, data_path(name)) for name in names]
    except (OSError, TypeError):
        return None
    files += [("signatures.py", __file__), ("error_codes.py", error_codes.__file__)]
    files += [("yamldata.py", yamldata.__file__), ("catalog.py", catalog_module.__file__)]
    strerror = tuple(os.strerror(n) for n in range(1, 134))
    return hs_cache.source_key(files, (KB_FORMAT, sys.version_info[:2], marshal.version, strerror))


def _plain(value: Any) -> Any:
    if isinstance(value, LazyRegex):
        return value.pattern
    if isinstance(value, ErrorCode):
        return tuple(getattr(value, f.name) for f in fields(ErrorCode))
    return value


def _kb_dumps(kb: KnowledgeBase) -> bytes | None:
    """kb as marshal data, or None when it holds something the format does not (a compiled regex: lazy=False)."""
    sigs = []
    for sig in kb.signatures:
        if any(not isinstance(getattr(sig, n), (LazyRegex, type(None))) for n in _REGEX_FIELDS):
            return None
        sigs.append(tuple(_plain(getattr(sig, n)) for n in _SIG_FIELDS))
    facts = []
    for fact in kb.facts:
        if not isinstance(fact.regex, LazyRegex):
            return None
        facts.append(tuple(_plain(getattr(fact, n)) for n in _FACT_FIELDS))
    corrs = tuple(tuple(getattr(c, n) for n in _CORR_FIELDS) for c in kb.correlations)
    fmt = (_SIG_FIELDS, _FACT_FIELDS, _CORR_FIELDS)
    return marshal.dumps((KB_FORMAT, fmt, tuple(sigs), tuple(facts), corrs, kb.not_in_logs))


def _restore(cls: type[Any], names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    """A frozen dataclass instance with these field values (what its __init__ would set: none has __post_init__)."""
    if len(values) != len(names):
        raise ValueError(f"{cls.__name__}: {len(values)} values for {len(names)} fields")
    obj = object.__new__(cls)
    obj.__dict__.update(zip(names, values, strict=True))
    return obj


def _kb_loads(data: bytes) -> KnowledgeBase:
    """_kb_dumps() read back; ValueError (or TypeError) when the data is not such a knowledge base."""
    fmt, names, sigs, facts, corrs, not_in_logs = marshal.loads(data)
    if fmt != KB_FORMAT or names != (_SIG_FIELDS, _FACT_FIELDS, _CORR_FIELDS) or not isinstance(not_in_logs, dict):
        raise ValueError("not a cached knowledge base")
    regex_at = [i for i, n in enumerate(_SIG_FIELDS) if n in _REGEX_FIELDS]
    code_at = _SIG_FIELDS.index("code")
    signatures = []
    for values in sigs:
        values = list(values)
        for i in regex_at:
            if values[i] is not None:
                values[i] = LazyRegex(values[i])
        if values[code_at] is not None:
            values[code_at] = ErrorCode(*values[code_at])
        signatures.append(_restore(Signature, _SIG_FIELDS, tuple(values)))
    fact_regex = _FACT_FIELDS.index("regex")
    fact_list = []
    for values in facts:
        values = list(values)
        values[fact_regex] = LazyRegex(values[fact_regex])
        fact_list.append(_restore(FactPattern, _FACT_FIELDS, tuple(values)))
    correlations = tuple(_restore(Correlation, _CORR_FIELDS, values) for values in corrs)
    return KnowledgeBase(tuple(signatures), tuple(fact_list), correlations, not_in_logs)
