"""Output formats for a Report: text (rich), json (stable schema), sarif 2.1.0."""

from __future__ import annotations

from typing import TextIO

from tpdoctor.model import Report


def render(
    report: Report, fmt: str, out: TextIO, *, runtimes: list[str] | None = None, full: bool = False
) -> None:
    """JSON and SARIF keep everything; text is concise unless `full` (see render/text.py)."""
    if fmt == "json":
        from tpdoctor.render.json_format import render_json

        out.write(render_json(report) + "\n")
    elif fmt == "sarif":
        from tpdoctor.render.sarif import render_sarif

        out.write(render_sarif(report) + "\n")
    else:
        from tpdoctor.render.text import render_text

        render_text(report, out, runtimes=runtimes, full=full)
