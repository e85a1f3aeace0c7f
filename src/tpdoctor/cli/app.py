"""The typer app, built for one command: only the module of the command asked for is imported.

Command modules define plain functions and import nothing of cli/ but `options` and `common`;
this table is the one place that names them, so there is no import cycle and `tpdoctor check`
does not pay for `audit`'s or `verify`'s imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import typer

from tpdoctor import __version__

# command name -> (module, function or Typer, extra arguments of app.command)
COMMANDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "check": ("tpdoctor.cli.check", "check_command", {}),
    "explain": ("tpdoctor.cli.explain_cmd", "explain_command", {}),
    "audit": ("tpdoctor.cli.audit_cmd", "audit_command", {}),
    "generate": ("tpdoctor.cli.generate", "generate_command", {}),
    "verify": ("tpdoctor.cli.verify", "verify_command", {}),
    "run": ("tpdoctor.cli.run_cmd", "run_command", {"context_settings": {"allow_interspersed_args": False}}),
    "cluster": ("tpdoctor.cli.cluster", "cluster_app", {}),
    "rules": ("tpdoctor.cli.rules", "rules_command", {}),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tpdoctor {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """tpdoctor: predict, explain, fix and prove multi-GPU serving in containers."""


def build_app(args: Sequence[str] = ()) -> typer.Typer:
    """The app with the command named first in `args`, or every command (for help and errors)."""
    app = typer.Typer(
        name="tpdoctor",
        help="Make multi-GPU tensor parallel work in containers without privileged: "
        "check, explain, audit, generate, verify.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    first = next((a for a in args if not a.startswith("-")), None)
    names = [first] if first in COMMANDS else list(COMMANDS)
    for name in names:
        module, attr, extra = COMMANDS[name]
        target = getattr(importlib.import_module(module), attr)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name, **extra)(target)
    return app
