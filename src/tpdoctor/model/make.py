"""make_finding: a Finding built from the cause catalog (severity, summary) and the remedy catalog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tpdoctor.model.catalog import get_cause
from tpdoctor.model.finding import Evidence, Finding
from tpdoctor.model.fixes import fixes_for


def make_finding(
    cause: str,
    message: str,
    evidence: Iterable[Evidence | tuple[str, str] | str] = (),
    *,
    context: Mapping[str, str] | None = None,
    related: Iterable[str] = (),
    confidence: str = "proves",
    severity: str | None = None,
) -> Finding:
    """Build a Finding with the catalog's severity and summary and the catalog's fixes."""
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
        severity=severity or spec.severity,  # type: ignore[arg-type]
        summary=spec.summary,
        message=message,
        confidence=confidence,
        evidence=evs,
        fixes=fixes_for(cause, context),
        related=list(related),
    )
