"""Rule documentation: `tpdoctor rules` and docs/rules.md are generated from here."""

from __future__ import annotations

from typing import Any

from tpdoctor.model import catalog
from tpdoctor.rules.registry import all_rules


def rule_docs() -> list[dict[str, Any]]:
    by_cause: dict[str, list[str]] = {}
    docs: dict[str, list[str]] = {}
    for rule in all_rules():
        for c in rule.causes:
            by_cause.setdefault(c, []).append(rule.name)
            if rule.doc and rule.doc not in docs.setdefault(c, []):
                docs[c].append(rule.doc)
    out = []
    for cid, cause in catalog().items():
        out.append(
            {
                "id": cid,
                "severity": cause.severity.value,
                "summary": cause.summary,
                "checked_by": by_cause.get(cid, []),
                "doc": "\n\n".join(docs.get(cid, [])),
            }
        )
    return out
