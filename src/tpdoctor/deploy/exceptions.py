"""Per-object justified exceptions: `# tpdoctor: allow <cause-id> reason=<why>`.

In compose files and shell scripts the comment sits anywhere inside the service's block (or
the command's lines); in Kubernetes it may also be the annotation
`tpdoctor.io/allow: "<cause-id> reason=<why>; <cause-id> reason=<why>"` on the object or its
pod template. An allow without a reason is not honoured: the point is a written justification,
not a switch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from tpdoctor import rxcompat

ALLOW_COMMENT = re.compile(r"#\s*tpdoctor:\s*allow\s+(?P<body>.+)$")
# A cause id starts a run of its characters only (leading dots aside), and neither it nor a reason goes back: from every
# character of a 64 KiB run of `_` (or of `a.a.a…`, or of blanks in a reason) the pattern went over the rest of the
# run again, and `# tpdoctor: allow ____…` took 31 s (gsafe47). The same matches: a later start in a run only finds a
# suffix of what its first start finds, and a reason runs to the next `;` (stripped after).
_ONE = rxcompat.compile(
    r"(?<![a-z0-9_.-])\.*+(?P<cause>[a-z0-9_-]++\.[a-z0-9_.-]++)(?:\s+reason=(?P<reason>[^;]*+)|\s*+)(?:;|$)"
)
ANNOTATION = "tpdoctor.io/allow"


def parse_allow_body(body: str) -> tuple[dict[str, str], list[str]]:
    """'security.privileged reason=lab box; shm.too-small reason=x' -> allows, problems."""
    allows: dict[str, str] = {}
    problems: list[str] = []
    for m in _ONE.finditer(body.strip()):
        if not m.group(0).strip():
            continue
        reason = (m.group("reason") or "").strip().strip("\"'")
        if not reason:
            problems.append(f"allow {m.group('cause')} ignored: it needs reason=<why>")
            continue
        allows[m.group("cause")] = reason
    return allows, problems


def allows_in_lines(lines: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    allows: dict[str, str] = {}
    problems: list[str] = []
    for line in lines:
        a, p = _line_allows(line)
        allows.update(a)
        problems.extend(p)
    return allows, problems


@functools.lru_cache(maxsize=256)
def _line_allows(line: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """One line's allows, searched once: every `docker run` of a script searched its lines, so 20,000 commands on one
    line searched that line 20,000 times (37 s; gsafe48). The dict is shared: callers copy it."""
    m = ALLOW_COMMENT.search(line)
    if not m:
        return {}, ()
    a, p = parse_allow_body(m.group("body"))
    return a, tuple(p)
