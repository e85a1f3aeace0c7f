"""`tpdoctor explain`: read error logs, name the root cause and the minimal fix."""

from __future__ import annotations

import json
import sys

import typer

from tpdoctor.cli import app
from tpdoctor.cli.common import FORMAT_OPTION, OutputFormat, RuntimeChoice


@app.command("explain")
def explain_command(
    logs: list[str] = typer.Argument(
        None, help="Log files (plain or gzip), or '-' for stdin. Default: stdin.", show_default=False
    ),
    runtime: RuntimeChoice = typer.Option(
        None,
        "--runtime",
        "-r",
        help="Show fixes for this runtime only (compose, docker, podman, kubernetes).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    engine: str = typer.Option("auto", "--engine", hidden=True, help="auto, hyperscan or pyahocorasick."),
) -> None:
    """Explain a failed multi-GPU start from its log: root cause first, evidence lines, fixes least privilege first.

    Exit code: 0 nothing above notice, 3 a blocker, 4 only degraded, 2 usage error.
    """
    from tpdoctor.errors import UsageError
    from tpdoctor.explain import explain

    if engine not in ("auto", "hyperscan", "pyahocorasick"):
        raise UsageError(f"--engine must be auto, hyperscan or pyahocorasick, not {engine!r}")
    inputs = list(logs or ["-"])
    if inputs == ["-"] and sys.stdin.isatty():
        raise UsageError("no log given: pass log files or pipe one into `tpdoctor explain -`")
    runtimes = [runtime.value, "env", "host"] if runtime else None
    report = explain(inputs, runtimes=runtimes, engine=engine)

    if fmt is OutputFormat.json:
        from tpdoctor.render.json_format import report_dict

        data = report_dict(report)
        # explain's documented shape is {causes: [...], facts: {...}}; `findings` stays for
        # consumers that read every command's JSON the same way.
        data["causes"] = data["findings"]
        typer.echo(json.dumps(data, indent=2, default=str))
        raise typer.Exit(int(report.exit_code))
    if fmt is OutputFormat.text:
        _print_facts(report.facts)
    from tpdoctor.cli.common import emit

    emit(report, fmt, runtimes=[runtime.value] if runtime else None)


def _print_facts(facts: dict[str, object]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    skip = {"inputs", "engine", "error_lines", "implied", "lines", "bytes"}
    shown = {k: v for k, v in facts.items() if k not in skip}
    head = f"read {facts.get('lines', 0)} lines from {', '.join(map(str, facts.get('inputs') or []))}"  # type: ignore[call-overload]
    console.print(f"[dim]{escape(head)}[/dim]")
    if shown:
        console.print("[dim]log facts: " + escape(", ".join(f"{k}={v}" for k, v in shown.items())) + "[/dim]")
    implied = facts.get("implied")
    if implied:
        console.print(f"[dim]implied: {escape(str(implied))}[/dim]")
    lines = facts.get("error_lines") or []
    if lines:
        console.print("[bold]Most relevant error lines:[/bold]")
        for e in lines:  # type: ignore[attr-defined]
            console.print(f"  {escape(str(e['source']))}:{e['line']}: {escape(str(e['text']))}")
