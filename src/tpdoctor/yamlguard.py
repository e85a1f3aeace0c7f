"""The guards every YAML reader of untrusted text goes through, for any layer: deploy/io.py's
round-trip loader (compose, Kubernetes, quadlets) and facts/cdi.py's read of the host's CDI specs.

A size cap is the caller's (the bounded readers). Here: how deep flow collections nest (ruamel's
parser recurses per level: 20k levels is a RecursionError after seconds), how many aliases a text
holds, and how many nodes the loaded documents expand to (aliases are references, but whoever walks
them walks every copy, so a "billion laughs" file would explode there).
"""

from __future__ import annotations

import re
from typing import Any

from tpdoctor.errors import InputError

MAX_NODES = 500_000
MAX_ALIASES = 1_000
MAX_DEPTH = 100  # a real compose file, manifest or CDI spec nests < 15 levels


def count_aliases(text: str) -> int:
    # cheap upper bound: '*' starting a token; exact enough to refuse pathological files early
    return sum(1 for tok in text.split() if tok.startswith("*") and len(tok) > 1)


_QUOTED = re.compile(r"'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"")


def flow_depth(text: str) -> int:
    """Deepest nesting of YAML flow collections ([ and {) outside quoted scalars and comments."""
    deepest = depth = 0
    for line in text.splitlines():
        line = _QUOTED.sub("", line)
        hash_at = line.find(" #")
        if hash_at >= 0:
            line = line[:hash_at]
        for ch in line:
            if ch in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in "]}":
                depth = max(depth - 1, 0)
    return deepest


def refuse_bombs(text: str, source: str) -> None:
    """InputError before parsing: flow collections nested too deep, or too many aliases."""
    if ("[" in text or "{" in text) and flow_depth(text) > MAX_DEPTH:
        raise InputError(f"{source}: YAML nested more than {MAX_DEPTH} levels deep: refusing")
    if count_aliases(text) > MAX_ALIASES:
        raise InputError(f"{source}: more than {MAX_ALIASES} YAML aliases: refusing (alias bomb?)")


def walk_budget(node: Any, budget: list[int], source: str) -> None:
    """InputError when the loaded node expands to more than budget[0] nodes (decremented in place)."""
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise InputError(f"{source}: YAML expands to more than {MAX_NODES} nodes: refusing (alias bomb?)")
        if isinstance(n, dict):
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
