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
    from tpdoctor.errors import TpdoctorError

    try:
        from tpdoctor.cli.app import build_app

        build_app(args)()
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
