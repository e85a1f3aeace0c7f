"""Regular expressions written for Python 3.11's `re`, compiled on Python 3.10 too.

Python 3.11 added possessive quantifiers (`x*+`, `x++`, `x?+`, `x{m,n}+`) and atomic groups (`(?>...)`). The project's
linear-time patterns use them (a run that is never given back), and Python 3.10's `re` rejects both ("multiple repeat",
"unknown extension ?>"): `import tpdoctor` failed on the Python of Ubuntu 22.04, which pyproject.toml admits. On 3.10
each is rewritten to the lookahead form `(?=(?P<_rxcN>...))(?P=_rxcN)`, which matches the same text: `re` never
backtracks into a lookahead that has matched, so the captured run is taken whole or not at all, as a possessive
quantifier's is (Python's sre: an ASSERT is matched as a sub-match and leaves no backtracking point).

Every pattern of the project that uses either form is compiled with `compile` below; tests/test_rxcompat.py finds one
that is not, and compares both forms' matches on 3.11.
"""

from __future__ import annotations

import re
import sys
from typing import AnyStr

NATIVE = sys.version_info >= (3, 11)
# the patterns compiled here with 3.11-only syntax (the test reads it: any other such pattern is an error on 3.10)
routed: set[str | bytes] = set()
_QUANT = re.compile(r"[*+?]|\{\d*(?:,\d*)?\}")
# a superset of the patterns that use either form (the record the test reads; it costs one search per pattern)
_MAY_NEED = re.compile(r"[*+?}]\+|\(\?>")
_ESCAPE_LEN = {"x": 2, "u": 4, "U": 8}


def _escape_end(p: str, i: int) -> int:
    """The end of the escape that starts at p[i] (a backslash)."""
    c = p[i + 1 : i + 2]
    if c in _ESCAPE_LEN:
        return i + 2 + _ESCAPE_LEN[c]
    if c == "N" and p[i + 2 : i + 3] == "{":
        return p.index("}", i) + 1
    if c.isdigit():
        j = i + 2
        while j < len(p) and j < i + 4 and p[j].isdigit():
            j += 1
        return j
    return i + 2


def _class_end(p: str, i: int) -> int:
    """The end of the character class that starts at p[i] (`[`); `]` first in it is a literal."""
    j = i + 1
    if p[j : j + 1] == "^":
        j += 1
    if p[j : j + 1] == "]":
        j += 1
    while j < len(p) and p[j] != "]":
        j = _escape_end(p, j) if p[j] == "\\" else j + 1
    return j + 1


def portable(pattern: str, verbose: bool = False) -> str:
    """`pattern` with every possessive quantifier and atomic group in the lookahead form (Python 3.10's `re`)."""
    out: list[str] = []
    groups: list[tuple[int, bool]] = []  # (where the group starts in out, whether it is atomic)
    atom = -1  # where in out the last atom starts (-1: none, a quantifier there is a literal or an error)
    names = 0
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if verbose and (c.isspace() or c == "#"):
            j = pattern.find("\n", i) if c == "#" else i + 1
            j = n if j < 0 else j
            out.append(pattern[i:j])
            i = j
            continue
        q = _QUANT.match(pattern, i) if atom >= 0 else None
        if q is not None:
            j = q.end()
            lazy_or_possessive = pattern[j : j + 1]
            if lazy_or_possessive == "+":
                body = "".join(out[atom:]) + q.group()
                del out[atom:]
                names += 1
                out.append(f"(?=(?P<_rxc{names}>{body}))(?P=_rxc{names})")
                j += 1
            else:
                out.append(q.group())
                if lazy_or_possessive == "?":
                    out.append("?")
                    j += 1
            atom = -1
            i = j
            continue
        start = len(out)
        if c == "\\":
            j = _escape_end(pattern, i)
            out.append(pattern[i:j])
            atom = start
            i = j
        elif c == "[":
            j = _class_end(pattern, i)
            out.append(pattern[i:j])
            atom = start
            i = j
        elif c == "(":
            if pattern.startswith("(?#", i):
                j = pattern.index(")", i) + 1
                out.append(pattern[i:j])
                i = j
                continue
            flags = re.match(r"\(\?[aiLmsux-]+\)", pattern[i:])
            if flags:  # a global inline flag: no group, no atom
                out.append(flags.group())
                i += flags.end()
                atom = -1
                continue
            if pattern.startswith("(?>", i):
                names += 1
                out.append(f"(?=(?P<_rxc{names}>")
                groups.append((start, True))
                i += 3
            else:
                out.append("(")
                groups.append((start, False))
                i += 1
            atom = -1
        elif c == ")":
            at, atomic = groups.pop()
            if atomic:
                name = out[at][len("(?=(?P<") : -1]
                out.append(f"))(?P={name})")
            else:
                out.append(")")
            atom = at
            i += 1
        elif c == "|":
            out.append(c)
            atom = -1
            i += 1
        elif c in "^$":
            out.append(c)
            atom = -1
            i += 1
        else:
            out.append(c)
            atom = start
            i += 1
    return "".join(out)


def compile(pattern: AnyStr, flags: int | re.RegexFlag = 0) -> re.Pattern[AnyStr]:
    """re.compile, with 3.11's possessive quantifiers and atomic groups also on Python 3.10."""
    if NATIVE:
        if _MAY_NEED.search(pattern if isinstance(pattern, str) else pattern.decode("latin-1")):
            routed.add(pattern)
        return re.compile(pattern, flags)
    if isinstance(pattern, bytes):
        text = portable(pattern.decode("latin-1"), bool(flags & re.VERBOSE)).encode("latin-1")
        return re.compile(text, flags)
    return re.compile(portable(pattern, bool(flags & re.VERBOSE)), flags)
