"""SARIF 2.1.0 output: one rule per cause id (ruleId = cause id), one result per finding."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from tpdoctor import __version__
from tpdoctor.model import Report, Severity, catalog
from tpdoctor.redact import clip

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.blocker: "error", Severity.degraded: "warning", Severity.notice: "note"}


def artifact_uri(source: str) -> str:
    """A log or config name as SARIF's artifactLocation.uri, which must be a URI reference (RFC 3986): a raw name with
    a space, `#`, `?`, `%` or bytes that are not UTF-8 was no valid URI and consumers misread it (gsafe44's leftover).
    Redacted first (a name holding `token=...` stays hidden once encoded); the name's own bytes (os.fsencode gives back a
    non-UTF-8 name's) are percent-encoded, `/` kept; `:` is encoded, so `a:b.log` reads as no scheme."""
    from tpdoctor.redact import redact_str

    name = redact_str(source)
    try:
        data = os.fsencode(name)
    except UnicodeEncodeError:
        data = name.encode("utf-8", "replace")
    return quote(data, safe="/")


def sarif_dict(report: Report) -> dict[str, Any]:
    findings = report.sorted_findings()
    used = sorted({f.cause for f in findings})
    cat = catalog()
    rules = [
        {
            "id": cid,
            "name": cid,
            "shortDescription": {"text": cat[cid].summary if cid in cat else cid},
            "defaultConfiguration": {"level": _LEVEL[cat[cid].severity] if cid in cat else "warning"},
            "helpUri": f"https://github.com/tpdoctor/tpdoctor/blob/main/docs/rules.md#{cid.replace('.', '')}",
        }
        for cid in used
    ]
    index = {cid: i for i, cid in enumerate(used)}
    results: list[dict[str, Any]] = []
    for f in findings:
        text = f.message or f.summary
        if f.fixes:
            text += f" Fix: {f.fixes[0].title}"
        result: dict[str, Any] = {
            "ruleId": f.cause,
            "ruleIndex": index[f.cause],
            "level": _LEVEL[f.severity],
            "message": {"text": text},
            "properties": {"severity": f.severity.value, "confidence": f.confidence},
        }
        locations = []
        for ev in f.evidence:
            if ev.source:
                loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(ev.source)}}}
                if ev.line:
                    loc["physicalLocation"]["region"] = {
                        "startLine": ev.line,
                        "snippet": {"text": clip(ev.text, 500)},
                    }
                locations.append(loc)
        if locations:
            result["locations"] = locations[:10]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tpdoctor",
                        "version": __version__,
                        "informationUri": "https://github.com/tpdoctor/tpdoctor",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


def render_sarif(report: Report) -> str:
    from tpdoctor.redact import redact_strings

    # strings redacted before JSON escapes their quotes, which the output stream's redactor does not read (gsafe42)
    return json.dumps(redact_strings(sarif_dict(report)), indent=2)
