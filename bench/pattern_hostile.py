"""Sweep explain's regexes for super-linear time on hostile lines built from each pattern (gperf43).

Every `pattern`, `near` and `context` regex of src/tpdoctor/data/signatures.yaml (signatures and facts; the
correlations hold none) is parsed with `re._parser` (`sre_parse` before 3.11) to pull its literal pieces and the
characters its quantified single-character items accept. From those it builds hostile lines of SIZE characters,
the shapes that made review passes find quadratic patterns one by one:

- each literal repeated (`docker run docker run …`), and each literal followed by a space, repeated;
- the first literal followed by a long run of a character a quantified class accepts (`X[^\\n]*?Y` on `X` + `a…`);
- each literal followed by a short run of such characters, repeated (`docker run --cpus=2 -x docker run …`);
- two literals alternated (`A B A B …`: `A[^\\n]*?B[^\\n]*?C` chains).

The entry's own `literals` (what the prefilter looks for) come first, so each line passes the prefilter. Each
line is timed with `compiled.search(line)` (the best of REPEAT runs). A pattern is timed at 4 KiB, then 16 KiB,
then the asked size, and stops growing once one search takes more than --stop seconds: its time at the asked
size is then extrapolated from the growth it showed (the exponent between the last two sizes), marked `~`.

    PYTHONPATH=src python3 bench/pattern_hostile.py [--size 65536] [--top 40] [--only ID ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

try:  # Python >= 3.11
    import re._constants as _c  # type: ignore[import-not-found]
    import re._parser as _p  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

DATA = Path(__file__).resolve().parents[1] / "src/tpdoctor/data/signatures.yaml"
FIELDS = ("pattern", "near", "context")
# characters tried as the filler a quantified class accepts; the first accepted one that is not the start of the
# pattern's next literal is used
_FILL = "a x0-_./:=,;'\"()[]{}<>|\\\t@#%&*+?!~`$^"
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT} | ({_c.POSSESSIVE_REPEAT} if hasattr(_c, "POSSESSIVE_REPEAT") else set())
_SINGLE = {_c.LITERAL, _c.NOT_LITERAL, _c.IN, _c.ANY}


def entries(path: Path = DATA) -> Iterator[tuple[str, str, str, list[str]]]:
    """(id, field, regex, literals) for every regex of the knowledge base."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    for section in ("signatures", "facts", "correlations"):
        for e in data.get(section) or ():
            for field in FIELDS:
                if isinstance(e, dict) and isinstance(e.get(field), str):
                    yield str(e.get("id")), field, e[field], [str(x) for x in e.get("literals") or ()]


def _flags(parsed: Any) -> int:
    state = getattr(parsed, "state", None) or getattr(parsed, "pattern", None)
    return int(getattr(state, "flags", 0))


def _pieces(sub: Any, lits: list[str], classes: list[Any], run: list[str]) -> None:
    def flush() -> None:
        if run:
            lits.append("".join(run))
            run.clear()

    for op, av in sub:
        if op is _c.LITERAL:
            run.append(chr(av))
        elif op is _c.AT:  # zero-width: `\b(?:docker|podman) run\b` is one piece, "docker run"
            continue
        elif op is _c.SUBPATTERN:
            _pieces(av[-1], lits, classes, run)
        elif op is _c.BRANCH:  # the first alternative goes on with the run, the others are pieces of their own
            head = list(run)
            for i, alt in enumerate(av[1]):
                if i == 0:
                    _pieces(alt, lits, classes, run)
                else:
                    other = list(head)
                    _pieces(alt, lits, classes, other)
                    if other:
                        lits.append("".join(other))
        elif op in _REPEATS:
            lo, hi, item = av
            if hi == _c.MAXREPEAT or hi > 50:
                classes.append(item)
            if lo >= 1:  # what must occur once (`x+`, `(?:ab)+`, `\s+`) goes on with the run
                _pieces(item, lits, classes, run)
            else:
                flush()
                _fresh(item, lits, classes)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            _fresh(av[1], lits, classes)
        elif op is _c.GROUPREF_EXISTS:
            flush()
            for branch in av[1:]:
                if branch is not None:
                    _fresh(branch, lits, classes)
        elif op in _SINGLE and (ch := _sample([(op, av)])):  # `--gpus[= ]`, `docker\s+run`: one character it takes
            run.append(ch)
        elif hasattr(_c, "ATOMIC_GROUP") and op is _c.ATOMIC_GROUP:
            _pieces(av, lits, classes, run)
        else:
            flush()


def _fresh(sub: Any, lits: list[str], classes: list[Any]) -> None:
    run: list[str] = []
    _pieces(sub, lits, classes, run)
    if run:
        lits.append("".join(run))


def _sample(item: Any, flags: int = 0, prefer: str = " " + _FILL) -> str:
    """A character a single-character item accepts ("" if none of the usual ones)."""
    rx = _compile_item(item, flags)
    if rx is not None:
        for ch in prefer:
            if rx.fullmatch(ch):
                return ch
    return ""


def pieces(pattern: str) -> tuple[list[str], list[str]]:
    """The literal pieces of a pattern (in order, deduplicated) and filler characters its quantified classes accept."""
    parsed = _p.parse(pattern)
    lits: list[str] = []
    classes: list[Any] = []
    _fresh(parsed.data if hasattr(parsed, "data") else parsed, lits, classes)
    seen: dict[str, None] = {}
    for lit in lits:
        if lit.strip():
            seen.setdefault(lit, None)
    flags = _flags(parsed) & (re.IGNORECASE | re.ASCII | re.DOTALL | re.UNICODE)
    fills: dict[str, None] = {}
    for item in classes:
        if len(item) != 1 or item[0][0] not in _SINGLE:
            continue
        ch = _sample(item, flags, _FILL)
        if ch:
            fills.setdefault(ch, None)
    return list(seen), list(fills) or [" "]


def _compile_item(item: Any, flags: int) -> re.Pattern[str] | None:
    op, av = item[0]
    try:
        if op is _c.ANY:
            return re.compile(".", flags)
        if op is _c.LITERAL:
            return re.compile(re.escape(chr(av)), flags)
        if op is _c.NOT_LITERAL:
            return re.compile("[^" + re.escape(chr(av)) + "]", flags)
        return re.compile(_unparse_in(av), flags)
    except (re.error, ValueError, TypeError):
        return None


def _unparse_in(av: list[tuple[Any, Any]]) -> str:
    """A character class back as text (only what `IN` holds)."""
    out, neg = [], False
    for op, arg in av:
        if op is _c.NEGATE:
            neg = True
        elif op is _c.LITERAL:
            out.append(re.escape(chr(arg)))
        elif op is _c.RANGE:
            out.append(re.escape(chr(arg[0])) + "-" + re.escape(chr(arg[1])))
        elif op is _c.CATEGORY:
            out.append({
                _c.CATEGORY_DIGIT: r"\d", _c.CATEGORY_NOT_DIGIT: r"\D", _c.CATEGORY_SPACE: r"\s",
                _c.CATEGORY_NOT_SPACE: r"\S", _c.CATEGORY_WORD: r"\w", _c.CATEGORY_NOT_WORD: r"\W",
            }.get(arg, ""))
    return "[" + ("^" if neg else "") + "".join(out) + "]"


def _fill_to(unit: str, size: int) -> str:
    return (unit * (size // max(1, len(unit)) + 1))[:size]


def hostile_lines(pattern: str, literals: list[str], size: int, limit: int = 12) -> list[str]:
    """Hostile lines of `size` characters for one pattern (the entry's literals first, so they pass the prefilter)."""
    lits, fills = pieces(pattern)
    order: dict[str, None] = {}
    for lit in [*literals, *lits]:
        if lit.strip():
            order.setdefault(lit, None)
    ordered = list(order)[:6]
    first = ordered[0] if ordered else "x"
    out: dict[str, None] = {}
    for lit in ordered[:4]:
        out.setdefault(_fill_to(lit, size), None)
        out.setdefault(_fill_to(lit + " ", size), None)
    for ch in fills[:3]:
        out.setdefault((first + ch * size)[:size], None)
        for lit in ordered[:2]:
            out.setdefault(_fill_to(lit + ch * 8, size), None)
    for a, b in pairwise(ordered):
        out.setdefault(_fill_to(a + " " + b + " ", size), None)
    return list(out)[:limit]


def time_search(rx: re.Pattern[str], line: str, repeat: int = 1) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        rx.search(line)
        best = min(best, time.perf_counter() - start)
    return best


def worst(pattern: str, literals: list[str], size: int, stop: float = 1.0) -> tuple[float, bool, str]:
    """The slowest search of a pattern over its hostile lines at `size`: (seconds, extrapolated, line's head)."""
    rx = re.compile(pattern)
    sizes = [s for s in (4096, 16384) if s < size] + [size]
    prev: tuple[int, float] | None = None
    slow_line = ""
    for s in sizes:
        t_max, head = 0.0, ""
        for line in hostile_lines(pattern, literals, s):
            t = time_search(rx, line)
            if t > t_max:
                t_max, head = t, line[:60]
        slow_line = head
        if t_max > stop and s != size:
            if prev is None or prev[1] <= 0:
                exp = 2.0
            else:
                exp = max(1.0, math.log(t_max / prev[1]) / math.log(s / prev[0]))
            return t_max * (size / s) ** exp, True, slow_line
        prev = (s, t_max)
    assert prev is not None
    return prev[1], False, slow_line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=65536, help="line length (default 64 KiB)")
    ap.add_argument("--top", type=int, default=40, help="print the N slowest")
    ap.add_argument("--stop", type=float, default=1.0, help="stop growing a line past this many seconds")
    ap.add_argument("--only", nargs="*", default=None, help="only these ids")
    ap.add_argument("--json", type=Path, default=None, help="write every pattern's time here")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    rows = []
    start = time.perf_counter()
    for eid, field, pattern, literals in entries(args.data):
        if args.only and eid not in args.only:
            continue
        t, est, head = worst(pattern, literals, args.size, args.stop)
        rows.append({"id": eid, "field": field, "seconds": t, "extrapolated": est, "line": head})
    rows.sort(key=lambda r: -r["seconds"])
    total = time.perf_counter() - start
    over = [r for r in rows if r["seconds"] > 0.1]
    print(f"{len(rows)} regexes, {args.size}-character hostile lines, sweep {total:.1f} s; "
          f"{len(over)} slower than 0.1 s")
    for r in rows[: args.top]:
        mark = "~" if r["extrapolated"] else " "
        name = r["id"] + ("" if r["field"] == "pattern" else f" ({r['field']})")
        print(f"{mark}{r['seconds']:9.3f} s  {name:60s}  {r['line']!r}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "total_s": total, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
