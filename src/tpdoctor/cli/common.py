"""Emitting a report: which runtime's fixes to show, render on stdout, end with the exit code."""

from __future__ import annotations

import sys
from pathlib import Path

from tpdoctor.cli.choices import OutputFormat, RuntimeChoice
from tpdoctor.model import Report

# docker compose's default file names (compose-spec: compose.yaml first)
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def emit(report: Report, fmt: OutputFormat, runtimes: list[str] | None = None, *, full: bool = False) -> None:
    """Render the report on stdout and end the command with its exit code.

    `runtimes`: whose fixes to show (env and host fixes always), None for all; `full`: every fix
    and every evidence line in text (JSON and SARIF always have everything)."""
    from tpdoctor.render import render

    if runtimes:
        runtimes = [*runtimes, "env", "host"]
    render(report, fmt.value, sys.stdout, runtimes=runtimes, full=full)
    sys.stdout.flush()
    raise SystemExit(int(report.exit_code))  # not typer.Exit: the fast path of check has no typer


def shown_runtimes(
    runtime: RuntimeChoice | None, detected: str, verbose: bool
) -> tuple[list[str] | None, bool]:
    """(runtimes, full) for --runtime and --verbose: the detected runtime's one best fix by
    default; --runtime X that runtime's; --runtime all and --verbose everything."""
    if runtime is RuntimeChoice.all:
        return None, True
    if runtime is not None:
        return [runtime.value], verbose
    return (None if verbose else [detected]), verbose


def compose_project_here(cwd: Path | None = None) -> bool:
    """A compose file in the working directory: the user deploys with compose."""
    base = cwd or Path.cwd()
    return any((base / n).is_file() for n in COMPOSE_FILES)
