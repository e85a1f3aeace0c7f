"""Byte sizes as users and engines write them ('16g', '10.24gb', '2Gi', 67108864): one reader for compose's shm_size,
`docker run --shm-size`, Kubernetes' emptyDir sizeLimit and dockerd's daemon.json default-shm-size."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
# docker/go-units size.go sizeRegex, which RAMInBytes (dockerd's opts.MemBytes) matches: no spaces around the value,
# at most one before the unit
_GO_UNITS = re.compile(r"^[0-9]+(?:\.[0-9]+)? ?[kmgtp]?i?b?$", re.IGNORECASE)
_MULT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}

MAX_SIZE = float(1 << 62)


SMALL_INT_DIGITS = 18  # below 2**63: every value fits the int64 that dockerd, runc and the kernel read


def parse_small_int(text: object) -> int | None:
    """A non-negative decimal integer of at most 18 digits ('²' is a digit to str.isdigit but not to int(), and
    int() refuses strings over 4300 digits): None for anything else."""
    s = str(text).strip()
    return int(s) if s.isascii() and s.isdecimal() and len(s) <= SMALL_INT_DIGITS else None


def parse_small_signed_int(value: object) -> int | None:
    """An integer with an optional leading '-' and at most 18 ASCII digits, as Compose's integer keys take it
    (`pids_limit: 0`, `pids_limit: -1`): None for anything else. A YAML integer passes through when it is that small;
    a bool is not a number. '٣' (a digit to int() and to the regex \\d), '²', '- 5', '+5' and 5000 digits (int() and
    str() refuse over 4300) are None. A command-line flag's value is read by parse_go_int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**SMALL_INT_DIGITS else None
    s = str(value).strip()
    digits = s[1:] if s.startswith("-") else s
    return int(s) if digits.isascii() and digits.isdecimal() and len(digits) <= SMALL_INT_DIGITS else None


_GO_BASES = {"b": 2, "o": 8, "x": 16}


def _go_underscores_ok(s: str) -> bool:
    """Go's strconv.underscoreOK (base 0): an underscore only between digits, or between a base prefix and a digit."""
    saw, i = "^", 0
    s = s[1:] if s[:1] in "+-" else s
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in _GO_BASES:
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for c in s[i:]:
        if c.isdigit() or (hexa and c.lower() in "abcdef"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def parse_go_int(text: str) -> int | None:
    """An int64 flag value as docker/podman run read it: pflag's Int64 is strconv.ParseInt(s, 0, 64), so a sign
    ('+64', '-1'), a base prefix ('0x40', '0o100', '0b1000000'; a bare leading 0 is octal: '0100') and underscores
    between digits ('1_000', '0x_40') are numbers. None for anything else or outside int64 ('٣', '²', ' 64', '64k',
    '08', 5000 digits)."""
    if not text or len(text) > 80 or not text.isascii() or not _go_underscores_ok(text):
        return None
    sign = -1 if text[0] == "-" else 1
    s = text[1:] if text[0] in "+-" else text
    if not s or not all(c.isalnum() or c == "_" for c in s):  # int() would forgive spaces and a second sign
        return None
    base = 10
    if s[:1] == "0":  # strconv.ParseUint, base 0
        if len(s) >= 3 and s[1].lower() in _GO_BASES:
            base, s = _GO_BASES[s[1].lower()], s[2:]
        else:
            base, s = 8, s[1:]
    s = s.replace("_", "")
    if base != 8 and not s:
        return None
    try:
        value = sign * int(s or "0", base)
    except ValueError:
        return None
    return value if -(2**63) <= value < 2**63 else None


def parse_size(value: object, *, go_units: bool = False) -> int | None:
    """Bytes (binary units, as docker/go-units RAMInBytes); None when it cannot be read, or is too large to be a
    real size (1e400, 99999999P). go_units: only the exact form dockerd accepts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < MAX_SIZE else None
    text = str(value)[:64]
    if go_units and not _GO_UNITS.fullmatch(text):  # fullmatch: "64m\n" is refused by dockerd too
        return None
    m = _SIZE.match(text)
    if not m:
        return None
    n = float(m.group(1)) * _MULT[m.group(2).lower()]
    return int(n) if n < MAX_SIZE else None
