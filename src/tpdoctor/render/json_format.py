"""Stable JSON: {tool, version, command, exit_code, findings: [...], facts: {...}, notes: [...]}.

Field names are documented in docs/json.md; add fields, never rename them.
"""

from __future__ import annotations

import json
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
    return json.dumps(report_dict(report), indent=2, sort_keys=False, default=str)
