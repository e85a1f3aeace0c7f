"""Emitting a report: render it on stdout and end the command with its exit code."""

from __future__ import annotations

import sys

import typer

from tpdoctor.cli.options import OutputFormat
from tpdoctor.model import Report


def emit(report: Report, fmt: OutputFormat, runtimes: list[str] | None = None) -> None:
    """Render the report on stdout and end the command with its exit code."""
    from tpdoctor.render import render

    if runtimes:
        runtimes = [*runtimes, "env", "host"]
    render(report, fmt.value, sys.stdout, runtimes=runtimes)
    raise typer.Exit(int(report.exit_code))
