"""Helpers shared by the command modules: format options, emitting a report, exit codes."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from tpdoctor.model import Report


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


class RuntimeChoice(str, Enum):
    compose = "compose"
    docker = "docker"
    podman = "podman"
    kubernetes = "kubernetes"


FORMAT_OPTION = typer.Option(OutputFormat.text, "--format", "-f", help="text, json or sarif.")


def emit(report: Report, fmt: OutputFormat, runtimes: list[str] | None = None) -> None:
    """Render the report on stdout and end the command with its exit code."""
    from tpdoctor.render import render

    if runtimes:
        runtimes = [*runtimes, "env", "host"]
    render(report, fmt.value, sys.stdout, runtimes=runtimes)
    raise typer.Exit(int(report.exit_code))
