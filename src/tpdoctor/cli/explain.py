"""`tpdoctor explain`: read error logs, name the root cause and the minimal fix.

The work without typer: `run_explain`, and `parse_fast` for the options it knows (typer, click,
rich and the pydantic typer imports cost ~0.2 s of CPU); `cli/explain_cmd.py` is the typer command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tpdoctor.cli.choices import OutputFormat, RuntimeChoice
from tpdoctor.cli.fastargs import split_options

_FREEZE_AT_EXIT: list[bool] = []


def _freeze_at_exit() -> None:
    """This process ends after the report. At exit the interpreter's last collection would walk every object the
    knowledge base made (~75 k) only to free memory the exit frees anyway: 10-25 ms of every run, 0.1-0.2 s on a
    loaded machine. gc.freeze() at exit (after the report is printed and flushed) leaves them out of it."""
    if not _FREEZE_AT_EXIT:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _FREEZE_AT_EXIT.append(True)


def run_explain(
    logs: list[str] | None = None,
    runtime: RuntimeChoice | None = None,
    verbose: bool = False,
    fmt: OutputFormat = OutputFormat.text,
    engine: str = "auto",
    config: Path | None = None,
    write: bool = False,
    ipc_exchange: str = "drmfd",
    host_facts: Path | None = None,
) -> None:
    """Explain a failed multi-GPU start from its log: root cause first, evidence lines, fixes least privilege first.

    Exit code: 0 nothing above notice, 3 a blocker, 4 only degraded, 2 usage error.
    """
    from tpdoctor.errors import UsageError
    from tpdoctor.explain import explain

    if engine not in ("auto", "hyperscan", "pyahocorasick"):
        raise UsageError(f"--engine must be auto, hyperscan or pyahocorasick, not {engine!r}")
    if ipc_exchange not in ("drmfd", "pidfd"):
        raise UsageError(f"--ipc-exchange must be drmfd or pidfd, not {ipc_exchange!r}")
    if (write or host_facts is not None) and config is None:
        raise UsageError("--write and --host-facts need --config FILE")
    inputs = list(logs or ["-"])
    if "-" in inputs and sys.stdin is None:
        raise UsageError("stdin is closed: pass log files or pipe one into `tpdoctor explain -`")
    if inputs == ["-"] and sys.stdin.isatty():
        raise UsageError("no log given: pass log files or pipe one into `tpdoctor explain -`")
    from tpdoctor.cli.common import compose_project_here, shown_runtimes

    # a log does not say what started the ranks: compose when a compose file is here, else docker
    shown, full = shown_runtimes(runtime, "compose" if compose_project_here() else "docker", verbose)
    runtimes = [*shown, "env", "host"] if shown else None
    patch = _load_config(config, host_facts, ipc_exchange) if config is not None else None
    # --runtime X keeps only X's fixes everywhere (as before); the default keeps them all in
    # JSON and SARIF and shows the detected runtime's in text
    only = [runtime.value, "env", "host"] if runtime not in (None, RuntimeChoice.all) else None
    _freeze_at_exit()
    report = explain(inputs, runtimes=only, engine=engine)
    config_out = _patch_config(patch, report, write) if patch is not None else None

    if fmt is OutputFormat.json:
        from tpdoctor.render.json_format import report_dict

        data = report_dict(report)
        # explain's documented shape is {causes: [...], facts: {...}}; `findings` stays for
        # consumers that read every command's JSON the same way.
        data["causes"] = data["findings"]
        if config_out is not None:
            data["config"] = config_out
        from tpdoctor.render.jsonenc import dumps_indent2

        # json.dumps' bytes, with every string redacted before its quotes are escaped (gsafe42)
        print(dumps_indent2(data))
        raise SystemExit(int(report.exit_code))
    from tpdoctor.render import render

    # the verdict and the causes first, then what the log showed, then the patch of the user's
    # file (its notes on stderr, as in audit --fix)
    render(report, fmt.value, sys.stdout, runtimes=runtimes, full=full)
    if fmt is OutputFormat.text:
        _print_facts(report.facts, full)
    if config_out is not None and fmt is not OutputFormat.sarif:
        _print_config(config_out)
    raise SystemExit(int(report.exit_code))


def _print_facts(facts: dict[str, object], full: bool) -> None:
    from tpdoctor.render.text import escape

    # error codes and the first error are shown as notes; the JSON keeps them structured
    skip = {"inputs", "engine", "error_lines", "implied", "lines", "bytes", "error_codes", "first_error"}
    shown = {k: v for k, v in facts.items() if k not in skip}
    inputs = facts.get("inputs")
    names = ", ".join(map(str, inputs)) if isinstance(inputs, list) else ""
    head = f"read {facts.get('lines', 0)} lines from {names}"
    out = [f"[dim]{escape(head)}[/dim]"]
    if shown:
        out.append("[dim]log facts: " + escape(", ".join(f"{k}={v}" for k, v in shown.items())) + "[/dim]")
    implied = facts.get("implied")
    if implied:
        out.append(f"[dim]implied: {escape(str(implied))}[/dim]")
    lines = facts.get("error_lines")
    if isinstance(lines, list) and lines:
        out.append("[bold]Most relevant error lines:[/bold]")
        for e in lines if full else lines[:3]:
            out.append(f"  {escape(str(e['source']))}:{e['line']}: {escape(str(e['text']))}")
    _print_markup(out)


def _print_markup(lines: list[str]) -> None:
    """As rich prints markup lines: plain text on a pipe or file (no rich import), colours on a tty."""
    from tpdoctor.render.text import plain
    from tpdoctor.termsafe import printable

    # the log's own lines and the inputs' names: `ESC c` in a quoted error line reset the terminal (review41)
    lines = [printable(line) for line in lines]
    if not sys.stdout.isatty():
        sys.stdout.write("".join(plain(line) + "\n" for line in lines))
        return
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    for line in lines:
        console.print(line)


def _load_config(config: Path, host_facts: Path | None, ipc_exchange: str) -> Any:
    """Parse the config (and facts) before reading the log: a bad file is a usage error, exit 2."""
    from tpdoctor.cli.audit import load_facts
    from tpdoctor.deploy.audit import load

    if config.is_dir():
        from tpdoctor.errors import InputError

        raise InputError(f"{config}: is a directory (give a compose file, a run script or a manifest)")
    return load(config), load_facts(host_facts), ipc_exchange


def _patch_config(prepared: Any, report: Any, write: bool) -> dict[str, Any]:
    """The diagnosed causes' fixes as a patch of the user's config (audit's planners and patchers)."""
    from tpdoctor.deploy.fix import hide_values, patch_for_causes, secret_values, unified_diff

    loaded, facts, ipc_exchange = prepared
    causes = [f.cause for f in report.findings if f.severity.value != "notice"]
    patch = patch_for_causes(loaded, causes, facts, ipc_exchange)  # the file as read once: what is shown is edited
    path = str(loaded.path)
    out: dict[str, Any] = {
        "path": path,
        "format": loaded.fmt,
        "fixes": patch.causes,
        "changes": [f"{p.service}: {why}" for p in patch.result.plans for why in p.why],
        "not_changed": [f"{p.service}: {c}" for p in patch.result.plans for c in p.cannot if patch.causes],
        "notices": [f.message for f in patch.result.notices],
        "diff": hide_values(unified_diff(path, loaded.text, patch.result.text), secret_values(loaded.model))
        if patch.changed
        else "",
        "written": None,
    }
    if not patch.causes:
        report.notes.append(f"{path}: none of the diagnosed causes is fixed by editing the config")
    elif not patch.changed:
        report.notes.append(f"{path}: already has what the diagnosed causes need; nothing to change")
    if write and patch.changed:
        from tpdoctor.deploy.audit import write_fix

        backup = write_fix(patch.loaded, patch.result.text)
        out["written"] = str(backup)
        from tpdoctor.termsafe import printable

        print(printable(f"tpdoctor: wrote {path} (backup {backup})"), file=sys.stderr)
    elif write:
        print("tpdoctor: nothing to change", file=sys.stderr)
    return out


def _print_config(out: dict[str, Any]) -> None:
    from tpdoctor.termsafe import printable, printable_lines  # the config's names and bytes (gsafe41)

    if out["diff"] and out["written"] is None:
        sys.stdout.write(printable_lines(out["diff"]))
        sys.stdout.flush()
    for c in out["changes"]:
        print(printable(f"tpdoctor: {out['path']}: {c}"), file=sys.stderr)
    for c in out["not_changed"]:
        print(printable(f"tpdoctor: {out['path']}: not changed: {c}"), file=sys.stderr)
    for c in out["notices"]:
        print(printable(f"tpdoctor: {out['path']}: notice: {c}"), file=sys.stderr)


# The options parse_fast understands: (name, takes a value). Anything else (--help, a typo, `--`)
# goes to typer, which owns the messages; tests/test_cli_fast_path.py runs both paths.
_FAST_OPTIONS = {
    "--runtime": True, "-r": True, "--verbose": False, "-v": False, "--format": True, "-f": True,
    "--engine": True, "--config": True, "-c": True, "--write": False, "--ipc-exchange": True,
    "--host-facts": True,
}  # fmt: skip
_ALIASES = {"-r": "--runtime", "-v": "--verbose", "-f": "--format", "-c": "--config"}


def parse_fast(args: list[str]) -> dict[str, Any] | None:
    """run_explain's arguments for `explain` with the options above, or None to let typer parse."""
    parsed = split_options(args, _FAST_OPTIONS, _ALIASES, positionals=True)
    if parsed is None:
        return None
    raw, logs = parsed
    try:
        return {
            "logs": logs or None,
            "runtime": RuntimeChoice(raw["--runtime"]) if "--runtime" in raw else None,
            "verbose": bool(raw.get("--verbose")),
            "fmt": OutputFormat(raw.get("--format", "text")),
            "engine": str(raw.get("--engine", "auto")),
            "config": Path(str(raw["--config"])) if "--config" in raw else None,
            "write": bool(raw.get("--write")),
            "ipc_exchange": str(raw.get("--ipc-exchange", "drmfd")),
            "host_facts": Path(str(raw["--host-facts"])) if "--host-facts" in raw else None,
        }
    except ValueError:
        return None
