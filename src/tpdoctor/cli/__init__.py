"""The command line: `main` turns a TpdoctorError into one line and exit 2, never a traceback.

Start-up pays only for what the command needs: `--version` answers before anything is imported,
the common `check` invocations skip typer, click and rich (cli/check_run.parse_fast), and every
other command gets an app with only its own module imported (cli/app.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from tpdoctor import __version__

INTERNAL_EXIT = 1  # model.ExitCode.internal, without importing the model for it
T = TypeVar("T")


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        print(f"tpdoctor {__version__}")
        return
    if args[:1] == ["check"] and not os.environ.get("TPDOCTOR_NO_FAST_PATH"):
        from tpdoctor.cli.check_run import parse_fast, run_check

        parsed = _guarded(lambda: parse_fast(args[1:]))
        if parsed is not None:
            _guarded(lambda: run_check(**parsed))
            sys.exit(0)
    _guarded(lambda: _run_typer(args))
    sys.exit(0)


def _run_typer(args: list[str]) -> None:
    import typer  # its click (typer._click) raises typer.TyperException subclasses

    from tpdoctor.cli.app import build_app

    try:
        # standalone_mode=False: click's usage errors come here, to be one line like ours
        code = build_app(args)(args=args, prog_name="tpdoctor", standalone_mode=False)
    except typer.Abort:
        print("tpdoctor: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())  # `tpdoctor` alone: the help, as before
            sys.exit(0)
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        print(f"tpdoctor: error: {message}", file=sys.stderr)  # a bad option or value: one line
        sys.exit(int(getattr(exc, "exit_code", 2)))
    sys.exit(code if isinstance(code, int) else 0)


def _guarded(step: Callable[[], T]) -> T:
    """Run one step of a command: our errors are one line, a closed pipe is quiet, a bug is one
    line too (traceback with TPDOCTOR_DEBUG=1)."""
    from tpdoctor.errors import TpdoctorError

    try:
        return step()
    except TpdoctorError as exc:
        print(f"tpdoctor: error: {exc}", file=sys.stderr)
        sys.exit(int(exc.exit_code))
    except BrokenPipeError:  # `tpdoctor ... | head`: the reader is gone, nothing left to say
        sys.stdout = open(os.devnull, "w")
        sys.exit(1)
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
        sys.exit(INTERNAL_EXIT)
