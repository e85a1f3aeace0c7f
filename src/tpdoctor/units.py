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


def parse_small_int(text: object) -> int | None:
    """A non-negative decimal integer of at most 18 digits ('²' is a digit to str.isdigit but not to int(), and
    int() refuses strings over 4300 digits): None for anything else."""
    s = str(text).strip()
    return int(s) if s.isascii() and s.isdecimal() and len(s) <= 18 else None


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
