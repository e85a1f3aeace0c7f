"""`tpdoctor run -- COMMAND`: the container entrypoint. Check first, fix what is safe, run the
command as a child, explain a crash. The steps live in tpdoctor.runner.

It runs at every container start, so `run_workload` and `parse_fast` need no typer (typer, click,
rich and the pydantic typer imports cost ~0.2 s of CPU); `cli/run_cmd.py` is the typer command."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpdoctor.cli.choices import Backend
from tpdoctor.cli.choices import oneccl_version as parse_oneccl_version
from tpdoctor.cli.fastargs import split_options

if TYPE_CHECKING:
    from tpdoctor.runner.session import Prepared

CHECK_TIMEOUT_S = 60.0  # the check takes < 1 s; past this something is wrong: run unchecked
STRICT_EXIT = 3  # a blocker left and --strict: the command never starts
NOT_FOUND_EXIT, NOT_EXECUTABLE_EXIT = 127, 126  # as a shell reports them
QUIET_SIGNALS = (1, 2, 13, 15)  # SIGHUP, SIGINT, SIGPIPE, SIGTERM: a stop, not a crash


def run_workload(
    command: list[str] | None = None,
    tp: int | None = None,
    pp: int | None = None,
    backend: Backend | None = None,
    oneccl_version: str | None = None,
    no_fix: bool = False,
    no_check: bool = False,
    strict: bool = False,
    explain_log: Path | None = None,
) -> None:
    """Run COMMAND after checking and safely fixing this container; explain it if it fails.

    --tp, --pp and --backend default to what the command says (--tensor-parallel-size, -tp, --tp-size ...), else all visible GPUs, 1 and auto.

    Exit code: the command's own (128 + N when signal N ended it); 3 with --strict and a blocker left (the command never ran); 127/126 when it cannot be started; 2 usage error.
    """
    import os

    from tpdoctor.errors import UsageError
    from tpdoctor.model import CheckOptions
    from tpdoctor.runner.job import infer_job
    from tpdoctor.runner.session import Prepared, check_and_fix, stderr_say

    argv = list(command or [])
    if not argv:
        raise UsageError("no command given: tpdoctor run [OPTIONS] -- COMMAND [ARGS...]")
    say = stderr_say()
    job = infer_job(argv)
    prepared = Prepared(dict(os.environ))
    try:
        if not no_check:
            if job.framework:
                say(f"command: {job.describe()}")
            try:
                # inside the guard: a --tp over tpdoctor's limits, a hostile environment or a
                # check that runs too long never keeps the workload from starting (docs/run.md)
                from tpdoctor.limits import check_sizes

                check_sizes(tp if tp is not None else job.tp, pp if pp is not None else job.pp)
                options = CheckOptions(
                    tp=tp if tp is not None else job.tp,
                    pp=pp if pp is not None else (job.pp or 1),
                    backend=("xpu" if backend.value in ("xccl", "ccl") else backend.value)
                    if backend
                    else job.backend or "auto",
                    oneccl_version=oneccl_version,
                )
                with time_limit(CHECK_TIMEOUT_S):
                    prepared = check_and_fix(prepared.env, options, fix=not no_fix, say=say)
            except Exception as exc:  # a bug of ours must not keep the workload from starting
                if os.environ.get("TPDOCTOR_DEBUG"):
                    raise
                prepared.cleanup()
                prepared = Prepared(dict(os.environ))
                say(
                    f"internal error in the check ({type(exc).__name__}: {exc}); running the command unchecked"
                )
            blockers = prepared.blockers
            if blockers:
                names = ", ".join(dict.fromkeys(f.cause for f in blockers))
                if strict:
                    say(f"--strict: not starting the command, {len(blockers)} blocker(s) left: {names}")
                    raise SystemExit(STRICT_EXIT)
                say(
                    f"prediction: the command is likely to fail ({names}); starting it as asked (--strict refuses)"
                )
        code = _run(argv, prepared, explain_log, say)
    finally:
        prepared.cleanup()
    raise SystemExit(code)


class CheckTimeout(Exception):
    def __str__(self) -> str:
        return f"the check ran over {CHECK_TIMEOUT_S:.0f} s"


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise CheckTimeout in the main thread after `seconds` (SIGALRM; main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(_signum: int, _frame: object) -> None:
        raise CheckTimeout

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run(argv: list[str], prepared: Prepared, explain_log: Path | None, speak: Callable[[str], None]) -> int:
    from tpdoctor.runner.child import Capture, run_child
    from tpdoctor.runner.session import explain_capture

    capture = Capture()
    try:
        result = run_child(argv, prepared.env, capture)
    except FileNotFoundError:
        speak(f"cannot run {argv[0]}: command not found")
        return NOT_FOUND_EXIT
    except PermissionError:
        speak(f"cannot run {argv[0]}: permission denied")
        return NOT_EXECUTABLE_EXIT
    except OSError as exc:
        speak(f"cannot run {argv[0]}: {exc.strerror or exc}")
        return NOT_EXECUTABLE_EXIT
    if result.exit_code == 0:
        return 0  # nothing of ours follows the command's output
    _end_child_output(result.unterminated, result.last_fd)
    if result.forwarded or (result.signal in QUIET_SIGNALS):
        how = f"signal {result.signal}" if result.signal else f"exit code {result.exit_code}"
        say_why = "after a forwarded signal" if result.forwarded else "stopped"
        speak(f"the command ended with {how} ({say_why}); not explaining a requested stop")
        return result.exit_code
    try:
        explain_capture(
            capture,
            result.exit_code,
            speak,
            log_file=explain_log,
            applied=prepared.applied,
            predicted=[f.cause for f in prepared.findings],
        )
    except Exception as exc:  # the diagnosis must never change the command's exit code
        from tpdoctor.explain.reader import CompressedLogError

        if isinstance(exc, CompressedLogError):
            # explain's hint (`xz -dc FILE | tpdoctor explain -`) named run's temporary copy of the output, gone by
            # now; the command wrote compressed bytes where its log was expected
            speak(f"not explaining the output: it starts with {exc.kind}-compressed data, not a text log")
        else:
            speak(f"could not explain the output: {type(exc).__name__}: {exc}")
    return result.exit_code


def _end_child_output(unterminated: set[int], last_fd: int | None = None) -> None:
    """Before tpdoctor's own lines after the command: a line the command left open on our stderr (or on stdout when
    both are one file) is ended, so `tpdoctor: the command exited…` starts a line of its own; it was glued after
    the command's last bytes (`tpdoctor: check passed` printed without a newline took our verdict as its tail,
    gsafe44). On a terminal, a string control the command left open (an OSC title `ESC ] 0;` without its BEL, which
    swallows what follows) is ended (ST) and the attributes are reset (`ESC [ 8 m` conceals what follows): our lines
    are seen. Only on a terminal: a redirected stream gets the newline only, the command's bytes stay as they were."""
    err = sys.stderr
    try:
        same = os.path.samestat(os.fstat(1), os.fstat(2))
    except OSError:
        same = False
    prefix = ""
    try:
        if err.isatty():
            prefix = "\x1b\\\x1b[0m"
    except (AttributeError, ValueError, OSError):
        pass
    # one file: its end is where the child wrote last (`abc` on stdout, then `err\n` on stderr end a line: a newline
    # after them was a blank line, review44); two: stderr's own end
    if (last_fd in unterminated) if same else (2 in unterminated):
        prefix += "\n"
    if prefix:
        with contextlib.suppress(OSError, ValueError):
            err.write(prefix)
            err.flush()


# The options parse_fast understands before `--`: (name, takes a value). Anything else, or no
# `--`, goes to typer, which owns the messages; tests/test_cli_fast_path.py runs both paths.
_FAST_OPTIONS = {
    "--tp": True, "--pp": True, "--backend": True, "--oneccl-version": True, "--no-fix": False,
    "--no-check": False, "--strict": False, "--explain-log": True,
}  # fmt: skip


def parse_fast(args: list[str]) -> dict[str, Any] | None:
    """run_workload's arguments for `run [OPTIONS] -- COMMAND...`, or None to let typer parse."""
    if "--" not in args:
        return None
    cut = args.index("--")
    parsed = split_options(args[:cut], _FAST_OPTIONS)
    if parsed is None:
        return None
    raw = parsed[0]
    try:
        out: dict[str, Any] = {"command": args[cut + 1 :] or None}
        for key in ("tp", "pp"):
            if f"--{key}" in raw:
                out[key] = int(str(raw[f"--{key}"]))
                if out[key] < 1:
                    return None  # typer's message for min=1
        if "--backend" in raw:
            out["backend"] = Backend(raw["--backend"])
        if "--oneccl-version" in raw:
            out["oneccl_version"] = parse_oneccl_version(str(raw["--oneccl-version"]))
        if "--explain-log" in raw:
            out["explain_log"] = Path(str(raw["--explain-log"]))
        out["no_fix"] = bool(raw.get("--no-fix"))
        out["no_check"] = bool(raw.get("--no-check"))
        out["strict"] = bool(raw.get("--strict"))
    except ValueError:
        return None
    return out
