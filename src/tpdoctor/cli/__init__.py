"""The typer app. Thin: each command lives in its own module and registers itself here."""

from __future__ import annotations

import contextlib
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
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """tpdoctor: predict, explain, fix and prove multi-GPU serving in containers."""
    _redact_output(ctx)


def _redact_output(ctx: typer.Context) -> None:
    """Every line tpdoctor prints (text, JSON, SARIF, diffs, quoted log lines, run's messages)
    passes the one redactor (tpdoctor.redact). The workload's output under `run` is written to
    the file descriptors directly and stays untouched."""
    from tpdoctor.redact import RedactingStream

    saved = (sys.stdout, sys.stderr)
    wrapped = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            wrapped.append(name)
            setattr(sys, name, RedactingStream(stream))

    def restore() -> None:
        # a full disk or closed pipe at the last flush must still be an error (main: exit 2)
        try:
            for name in wrapped:
                stream = getattr(sys, name)
                if isinstance(stream, RedactingStream):
                    with contextlib.suppress(ValueError):  # already closed
                        stream.flush()
        finally:
            sys.stdout, sys.stderr = saved

    ctx.call_on_close(restore)


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
    stdout_id = _fd_identity(1)
    try:
        app()
    except SystemExit as exc:
        # typer (PacifyFlushWrapper) and rich (dup2 of /dev/null onto fd 1) both turn EPIPE
        # (`| head`) into exit 1, which here means a bug of ours: tell them apart.
        if exc.code == 1 and (
            type(sys.stdout).__name__ == "PacifyFlushWrapper"
            or (stdout_id != _fd_identity(1) and _fd_identity(1) == _devnull_identity())
        ):
            _say("output closed early (broken pipe)")
            sys.exit(int(ExitCode.usage))
        raise
    except TpdoctorError as exc:
        _say(f"error: {exc}")
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        print("tpdoctor: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # `tpdoctor ... | head`: the reader left. Point stdout at /dev/null so the interpreter's
        # final flush does not raise again, say it in one line, exit as a usage problem.
        _quiet_stdout()
        _say("output closed early (broken pipe)")
        sys.exit(int(ExitCode.usage))
    except OSError as exc:  # ENOSPC, EROFS, EACCES on an output file: the environment, not a bug
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        _say(f"error:{where}: {exc.strerror or exc}" if where else f"error: {exc.strerror or exc}")
        sys.exit(int(ExitCode.usage))
    except RecursionError:
        _say("error: input nested too deeply: refusing")
        sys.exit(int(ExitCode.usage))
    except MemoryError:
        _say("error: out of memory reading the input: refusing")
        sys.exit(int(ExitCode.usage))
    except Exception as exc:  # a bug of ours: one line, traceback only on request
        if os.environ.get("TPDOCTOR_DEBUG"):
            raise
        _say(f"internal error: {type(exc).__name__}: {exc} (set TPDOCTOR_DEBUG=1 for a traceback)")
        sys.exit(int(ExitCode.internal))
    finally:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            sys.stdout.flush()


def _fd_identity(fd: int) -> tuple[int, int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_rdev)


def _devnull_identity() -> tuple[int, int, int] | None:
    try:
        st = os.stat(os.devnull)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_rdev)


def _say(msg: str) -> None:
    from tpdoctor.redact import redact_text

    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(redact_text(f"tpdoctor: {msg}") + "\n")
        sys.stderr.flush()


def _quiet_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
