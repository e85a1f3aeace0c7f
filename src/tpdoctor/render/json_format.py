"""Stable JSON: {tool, version, command, exit_code, findings: [...], facts: {...}, notes: [...]}.

Field names are documented in docs/json.md; add fields, never rename them.
"""

from __future__ import annotations

from typing import Any

from tpdoctor import __version__
from tpdoctor.model import Report


def report_dict(report: Report) -> dict[str, Any]:
    findings = [f.model_dump(mode="json") for f in report.sorted_findings()]
    return {
        "tool": "tpdoctor",
        "version": __version__,
        "command": report.command,
        "exit_code": int(report.exit_code),
        "findings": findings,
        "facts": report.facts,
        "notes": report.notes,
    }


def render_json(report: Report) -> str:
    """report_dict(report) as json.dumps(..., indent=2, default=str) writes it (render/jsonenc.py)."""
    from tpdoctor.render.jsonenc import dumps_indent2

    data = {
        "tool": "tpdoctor",
        "version": __version__,
        "command": report.command,
        "exit_code": int(report.exit_code),
        "findings": report.sorted_findings(),  # the dataclasses, encoded as model_dump would give them
        "facts": report.facts,
        "notes": report.notes,
    }
    return dumps_indent2(data)
