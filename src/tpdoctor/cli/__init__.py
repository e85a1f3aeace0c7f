"""The command line: `main` turns a TpdoctorError into one line and exit 2, never a traceback.

Start-up pays only for what the command needs: `--version` answers before anything is imported,
the common `check` invocations skip typer, click and rich (cli/check_run.parse_fast), and every
other command gets an app with only its own module imported (cli/app.py).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from tpdoctor import __version__

# commands whose common invocations skip typer, click and rich: the module's parse_fast gives the
# arguments of its `run`, or None to leave the command line to typer (its help and messages)
_FAST_PATHS = {
    "check": ("tpdoctor.cli.check_run", "run_check"),
    "audit": ("tpdoctor.cli.audit", "run_audit"),
    "explain": ("tpdoctor.cli.explain", "run_explain"),
    "run": ("tpdoctor.cli.run", "run_workload"),
}
INTERNAL_EXIT = 1  # model.ExitCode.internal, without importing the model for it
USAGE_EXIT = 2  # model.ExitCode.usage
T = TypeVar("T")


def main() -> None:
    stdout_id = _fd_identity(1)
    try:
        _main()
    except SystemExit as exc:
        # rich turns EPIPE (`| head`) into SystemExit(1) after a dup2 of /dev/null onto fd 1;
        # exit 1 means a bug of ours, so tell the two apart
        if exc.code == 1 and stdout_id != _fd_identity(1) and _fd_identity(1) == _devnull_identity():
            _say("output closed early (broken pipe)")
            sys.exit(USAGE_EXIT)
        # a write error at the last flush (a full disk) is still an error; `| head` is not
        _guarded(_flush_outputs)
        raise


def _main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:  # a constant: nothing to redact, nothing to import
        print(f"tpdoctor {__version__}")
        sys.exit(0)
    _redact_output()
    fast = _FAST_PATHS.get(args[0]) if args else None
    if fast is not None and not os.environ.get("TPDOCTOR_NO_FAST_PATH"):
        module = importlib.import_module(fast[0])
        parsed = _guarded(lambda: module.parse_fast(args[1:]))
        if parsed is not None:
            _guarded(lambda: getattr(module, fast[1])(**parsed))
            sys.exit(0)
    _guarded(lambda: _run_typer(args))
    sys.exit(0)


def _redact_output() -> None:
    """Every line tpdoctor prints (text, JSON, SARIF, diffs, quoted log lines, run's messages)
    passes the one redactor (tpdoctor.redact). The workload's output under `run` is written to
    the file descriptors directly and stays untouched."""
    from tpdoctor.redact import RedactingStream

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


def _flush_outputs() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(ValueError):  # already closed
                stream.flush()


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
        _say(f"error: {message}")  # a bad option or value: one line
        sys.exit(int(getattr(exc, "exit_code", 2)))
    sys.exit(code if isinstance(code, int) else 0)


def _guarded(step: Callable[[], T]) -> T:
    """Run one step of a command: our errors are one line, a closed pipe is quiet, a bug is one
    line too (traceback with TPDOCTOR_DEBUG=1)."""
    try:
        return step()
    except KeyboardInterrupt:
        print("tpdoctor: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        _exit_for(exc)


def _exit_for(exc: Exception) -> NoReturn:
    # tpdoctor.errors (and the model under it) is imported only when something failed: the last
    # flush of `--version` runs through _guarded too and must stay free of imports
    from tpdoctor.errors import TpdoctorError

    if isinstance(exc, TpdoctorError):
        _say(f"error: {exc}")
        sys.exit(int(exc.exit_code))
    if isinstance(exc, BrokenPipeError):  # `tpdoctor ... | head`: the reader is gone; one line, exit 2
        _quiet_stdout()
        _say("output closed early (broken pipe)")
        sys.exit(USAGE_EXIT)
    if isinstance(exc, OSError):  # ENOSPC, EROFS, EACCES on an output: the environment, not a bug
        where = f" {exc.filename}:" if getattr(exc, "filename", None) else ""
        _say(f"error:{where} {exc.strerror or exc}")
        sys.exit(USAGE_EXIT)
    if isinstance(exc, RecursionError):
        _say("error: input nested too deeply: refusing")
        sys.exit(USAGE_EXIT)
    if isinstance(exc, MemoryError):
        _say("error: out of memory reading the input: refusing")
        sys.exit(USAGE_EXIT)
    # a bug of ours: one line, traceback only on request
    if os.environ.get("TPDOCTOR_DEBUG"):
        raise exc
    _say(f"internal error: {type(exc).__name__}: {exc} (set TPDOCTOR_DEBUG=1 for a traceback)")
    sys.exit(INTERNAL_EXIT)


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
    from tpdoctor.termsafe import one_line

    with contextlib.suppress(OSError, ValueError, AttributeError):
        # one line, nothing a terminal runs: the message echoes file names and input (`audit *.yaml` in a directory
        # holding a file named `\e]0;title\a.yaml` or `x\ntpdoctor: wrote ...`; gsafe41)
        sys.stderr.write(one_line(redact_text(f"tpdoctor: {msg}")) + "\n")
        sys.stderr.flush()


def _quiet_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
