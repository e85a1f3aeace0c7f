"""The command line: `main` turns a TpdoctorError into one line and exit 2, never a traceback.

`--version` answers before typer is imported; otherwise cli/app.py builds the app with only the
command asked for.
"""

from __future__ import annotations

import os
import sys

from tpdoctor import __version__

INTERNAL_EXIT = 1  # model.ExitCode.internal, without importing the model for it


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        print(f"tpdoctor {__version__}")
        return
    import typer  # its click (typer._click) raises typer.TyperException subclasses

    from tpdoctor.errors import TpdoctorError

    try:
        from tpdoctor.cli.app import build_app

        # standalone_mode=False: click's usage errors come here, to be one line like ours
        code = build_app(args)(args=args, prog_name="tpdoctor", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
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
        sys.exit(INTERNAL_EXIT)
