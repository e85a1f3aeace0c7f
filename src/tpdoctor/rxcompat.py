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
# a repeat; `{}` is none to sre (a literal `{` and `}`), `{,}` and `{,n}` are
_QUANT = re.compile(r"[*+?]|\{(?:\d+(?:,\d*)?|,\d*)\}")
# a superset of the patterns that use either form (the record the test reads; it costs one search per pattern)
_MAY_NEED = re.compile(r"[*+?}]\+|\(\?>")
_ESCAPE_LEN = {"x": 2, "u": 4, "U": 8}
_OCTAL = "01234567"
# the blanks verbose mode skips: sre's WHITESPACE, not str.isspace (a no-break space is a literal there)
_VERBOSE_BLANKS = " \t\n\r\v\f"
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")
# a group that sets flags for its body only: `(?x:...)`, `(?-x:...)`, `(?i-x:...)`
_SCOPED_FLAGS = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]*))?:")
_CONDITIONAL = re.compile(r"\(\?\((\d+)\)")
_NAMED = re.compile(r"\(\?P<(\w+)>")


def _escape_end(p: str, i: int) -> int:
    """The end of the escape that starts at p[i] (a backslash), as sre reads it."""
    c = p[i + 1 : i + 2]
    if c in _ESCAPE_LEN:
        return i + 2 + _ESCAPE_LEN[c]
    if c == "N" and p[i + 2 : i + 3] == "{":
        return p.index("}", i) + 1
    if c == "0":  # `\0` and up to two more octal digits
        j = i + 2
        while j < len(p) and j < i + 4 and p[j] in _OCTAL:
            j += 1
        return j
    if c.isdigit():  # outside a class: a group reference of one or two digits, or three octal digits
        if p[i + 2 : i + 3].isdigit():
            if c in _OCTAL and p[i + 2] in _OCTAL and p[i + 3 : i + 4] and p[i + 3] in _OCTAL:
                return i + 4
            return i + 3
        return i + 2
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


class _Open:
    """The opening of a capturing group in the output (the pattern's own, or one the lookahead form adds)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Ref:
    """A numeric group reference of the pattern (`\\N`, or the N of `(?(N)`), written with the group's number in the
    output once every group is known (the added groups move the numbers; a conditional may name a later group)."""

    __slots__ = ("form", "number")

    def __init__(self, number: int, form: str) -> None:
        self.number = number
        self.form = form  # "{}" filled with the number


def portable(pattern: str, verbose: bool = False) -> str:
    """`pattern` with every possessive quantifier and atomic group in the lookahead form (Python 3.10's `re`).

    Each becomes `(?:(?=(?P<_rxcN>...))(?P=_rxcN))`: the group keeps a quantifier that follows it whole (`(?>a)?` is
    optional, lookahead included). The added groups move the numbers of the pattern's own groups: its numeric
    references (`\\N`, `(?(N)...)`) are renumbered, and code must read a routed pattern's groups by name
    (tests/test_rxcompat.py checks the project's).
    """
    out: list[str | _Open | _Ref] = []
    # (where the group starts in out, the atomic group's name or "", verbose mode outside the group)
    groups: list[tuple[int, str, bool]] = []
    atom = -1  # where in out the last atom starts (-1: none, a quantifier there is a literal or an error)
    group_atom = False  # whether that atom is a group
    names = 0
    own: list[_Open] = []  # the pattern's capturing groups, in order
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if verbose and (c in _VERBOSE_BLANKS or c == "#"):
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
                if group_atom:  # 3.11 matches each repetition of a group as a whole too: `(a|ab){2}+` is
                    names += 1  # `(?>(?>a|ab){2})`, where `(?>(a|ab){2})` would match what it does not
                    out.insert(atom, _Open(f"(?:(?=(?P<_rxc{names}>"))
                    out.append(f"))(?P=_rxc{names}))")
                names += 1
                out.insert(atom, _Open(f"(?:(?=(?P<_rxc{names}>"))
                out.append(f"{q.group()}))(?P=_rxc{names}))")
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
        group_atom = False
        if c == "\\":
            j = _escape_end(pattern, i)
            escape = pattern[i:j]
            if escape[1:].isdigit() and escape[1] != "0" and len(escape) < 4:  # a group reference, not octal
                out.append(_Ref(int(escape[1:]), "(?:\\{})"))  # grouped: a digit after it is no part of it
            else:
                out.append(escape)
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
            flags = _GLOBAL_FLAGS.match(pattern, i)
            if flags:  # a global inline flag: no group, no atom; `x` is verbose mode for the whole pattern
                out.append(flags.group())
                verbose = verbose or "x" in flags.group()
                i = flags.end()
                atom = -1
                continue
            groups.append((start, "", verbose))
            if m := _SCOPED_FLAGS.match(pattern, i):
                out.append(m.group())
                verbose = (verbose or "x" in m.group(1)) and "x" not in (m.group(2) or "")
                i = m.end()
            elif m := _CONDITIONAL.match(pattern, i):
                out += ["(?(", _Ref(int(m.group(1)), "{}"), ")"]
                i = m.end()
            elif m := _NAMED.match(pattern, i):
                own.append(_Open(m.group()))
                out.append(own[-1])
                i = m.end()
            elif pattern.startswith("(?>", i):
                names += 1
                out.append(_Open(f"(?:(?=(?P<_rxc{names}>"))
                groups[-1] = (start, f"_rxc{names}", verbose)
                i += 3
            elif pattern.startswith("(?", i):  # (?: (?= (?! (?<= (?<! (?P=
                out.append("(")
                i += 1
            else:
                own.append(_Open("("))
                out.append(own[-1])
                i += 1
            atom = -1
        elif c == ")":
            at, atomic, verbose = groups.pop()
            out.append(f"))(?P={atomic}))" if atomic else ")")
            atom = at
            group_atom = True
            i += 1
            continue
        elif c in "|^$":
            out.append(c)
            atom = -1
            i += 1
        else:
            out.append(c)
            atom = start
            i += 1
    if not names:
        return pattern
    number = {id(piece): k for k, piece in enumerate((x for x in out if isinstance(x, _Open)), 1)}
    text: list[str] = []
    for piece in out:
        if isinstance(piece, _Ref):  # a group that does not exist stays an error, with its number
            target = own[piece.number - 1] if 0 < piece.number <= len(own) else None
            text.append(piece.form.format(number[id(target)] if target is not None else piece.number + names))
        else:
            text.append(piece.text if isinstance(piece, _Open) else piece)
    return "".join(text)


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
