"""The typer command of `tpdoctor run`: options, help and their errors; the work is cli/run.py's
run_workload, which `run [OPTIONS] -- COMMAND` reaches without typer (cli/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from tpdoctor.cli.options import BackendOpt, OneCclVersion, Pp, Tp
from tpdoctor.cli.run import STRICT_EXIT, run_workload


def run_command(
    command: list[str] = typer.Argument(
        None, help="The command and its arguments (after --).", show_default=False
    ),
    tp: Tp = None,
    pp: Pp = None,
    backend: BackendOpt = None,
    oneccl_version: OneCclVersion = None,
    no_fix: bool = typer.Option(False, "--no-fix", help="Apply no fix; only check, run and explain."),
    no_check: bool = typer.Option(
        False, "--no-check", help="Skip the check and the fixes; only run and explain."
    ),
    strict: bool = typer.Option(
        False, "--strict", help=f"Refuse to start the command (exit {STRICT_EXIT}) while a blocker is left."
    ),
    explain_log: Path = typer.Option(
        None, "--explain-log", help="Also write the full diagnosis of a crash here (.json: JSON, else text)."
    ),
) -> None:
    """Run COMMAND after checking and safely fixing this container; explain it if it fails.

    --tp, --pp and --backend default to what the command says (--tensor-parallel-size, -tp, --tp-size ...), else all visible GPUs, 1 and auto.

    Exit code: the command's own (128 + N when signal N ended it); 3 with --strict and a blocker left (the command never ran); 127/126 when it cannot be started; 2 usage error.
    """
    run_workload(
        command,
        tp=tp,
        pp=pp,
        backend=backend,
        oneccl_version=oneccl_version,
        no_fix=no_fix,
        no_check=no_check,
        strict=strict,
        explain_log=explain_log,
    )
