"""make_finding: a Finding built from the cause catalog (severity, summary) and the remedy catalog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tpdoctor.model.catalog import get_cause
from tpdoctor.model.finding import Confidence, Evidence, Finding, Fix, Severity, SeverityName
from tpdoctor.model.fixes import fixes_for

if TYPE_CHECKING:
    from tpdoctor.model.edits import Edit  # audit's edits; check never imports them (model/finding.py)


def make_finding(
    cause: str,
    message: str,
    evidence: Iterable[Evidence | tuple[str, str] | str] = (),
    *,
    context: Mapping[str, str] | None = None,
    related: Iterable[str] = (),
    confidence: Confidence = "proves",
    severity: Severity | SeverityName | None = None,
    prefer: str | None = None,
    edits: Iterable[Edit] = (),
) -> Finding:
    """Build a Finding with the catalog's severity and summary and the catalog's fixes.

    `prefer`: the id of the remedy that addresses the reason this rule observed (CAP_SYS_PTRACE
    when seccomp refuses pidfd_getfd, not a writable /tmp); it goes first, the rest keep the
    catalog's least-privilege order. The text output shows the first fix only.
    `edits`: what `audit --fix` changes in the config to remove the cause (model/edits.py)."""
    spec = get_cause(cause)
    evs: list[Evidence] = []
    for e in evidence:
        if isinstance(e, Evidence):
            evs.append(e)
        elif isinstance(e, tuple):
            evs.append(Evidence(source=e[0], text=e[1]))
        else:
            evs.append(Evidence(text=e))
    return Finding(
        cause=cause,
        severity=Severity(severity) if severity else spec.severity,
        summary=spec.summary,
        message=message,
        confidence=confidence,
        evidence=evs,
        fixes=_preferred_first(fixes_for(cause, context), prefer),
        related=list(related),
        edits=tuple(edits),
    )


def _preferred_first(fixes: list[Fix], prefer: str | None) -> list[Fix]:
    if prefer is None:
        return fixes
    return sorted(fixes, key=lambda f: f.id != prefer)  # stable: the others keep their order
