"""The typer app. Thin: each command lives in its own module and registers itself here."""

from __future__ import annotations

import os
import sys

import typer

from tpdoctor import __version__
from tpdoctor.errors import TpdoctorError
from tpdoctor.model.finding import ExitCode

app = typer.Typer(
    name="tpdoctor",
    help="Make multi-GPU tensor parallel work in containers without privileged: "
    "check, explain, audit, generate, verify.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tpdoctor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """tpdoctor: predict, explain, fix and prove multi-GPU serving in containers."""


# Each command module registers its commands on `app` at import time.
from tpdoctor.cli import audit as _audit  # noqa: E402,F401
from tpdoctor.cli import check as _check  # noqa: E402,F401
from tpdoctor.cli import cluster as _cluster  # noqa: E402,F401
from tpdoctor.cli import explain as _explain  # noqa: E402,F401
from tpdoctor.cli import generate as _generate  # noqa: E402,F401
from tpdoctor.cli import rules as _rules  # noqa: E402,F401
from tpdoctor.cli import run as _run  # noqa: E402,F401
from tpdoctor.cli import verify as _verify  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except TpdoctorError as exc:
        print(f"tpdoctor: error: {exc}", file=sys.stderr)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        print("tpdoctor: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug of ours: one line, traceback only on request
        if os.environ.get("TPDOCTOR_DEBUG"):
            raise
        print(
            f"tpdoctor: internal error: {type(exc).__name__}: {exc} (set TPDOCTOR_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        sys.exit(int(ExitCode.internal))
