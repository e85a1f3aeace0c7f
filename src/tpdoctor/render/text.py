"""Human output with rich: one panel per finding, evidence, then fixes least privilege first."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.markup import escape

from tpdoctor.model import Report, Severity

_STYLE = {Severity.blocker: "bold red", Severity.degraded: "yellow", Severity.notice: "cyan"}
_RUNTIME_LABEL = {
    "compose": "compose",
    "docker": "docker run",
    "podman": "podman run",
    "kubernetes": "kubernetes",
    "env": "entrypoint/env",
    "host": "host",
}


# Control characters from logs and binary input must not reach the terminal (they can move the
# cursor, change colours or retitle the window); tabs stay.
_CONTROL = {c: "\ufffd" for c in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, *range(0x80, 0xA0)]}


def printable(text: str) -> str:
    """Text safe to print on a terminal: control characters replaced by U+FFFD."""
    return text.translate(_CONTROL)


class _Lines:
    """Collects markup lines; printed in one go (rich's per-print overhead dominated big reports)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, markup: str = "") -> None:
        self.lines.append(markup)


def render_text(report: Report, out: TextIO, *, runtimes: list[str] | None = None) -> None:
    real = Console(file=out, highlight=False, soft_wrap=True)
    console = _Lines()
    _render(report, console, runtimes)
    # one print per chunk of lines: same output as one print per line, without the per-call cost
    chunk = 500
    for i in range(0, len(console.lines), chunk):
        real.print("\n".join(console.lines[i : i + chunk]))


def _render(report: Report, console: _Lines, runtimes: list[str] | None) -> None:
    findings = report.sorted_findings()
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/dim]")
    if not findings:
        console.print("[green]No known cause of multi-GPU failure found.[/green]")
    for f in findings:
        style = _STYLE[f.severity]
        console.print()
        head = f"[{style}]{f.severity.value.upper()}[/{style}] [bold]{f.cause}[/bold]"
        if f.confidence != "proves":
            head += f" [dim]({f.confidence})[/dim]"
        console.print(head)
        console.print(f"  {escape(f.message or f.summary)}")
        if f.related:
            console.print(f"  [dim]related: {', '.join(f.related)}[/dim]")
        for ev in f.evidence[:8]:
            where = ev.source or ""
            if ev.line:
                where = f"{where}:{ev.line}" if where else f"line {ev.line}"
            prefix = f"{where}: " if where else ""
            console.print(f"  [dim]evidence[/dim] {escape(printable(prefix + ev.text[:300]))}")
        shown = [x for x in f.fixes if not runtimes or x.runtime in runtimes]
        last_id = None
        for fix in shown:
            if fix.id != last_id:
                tag = " [red](UNSAFE: last resort)[/red]" if fix.privilege == "privileged" else ""
                cost = "" if fix.privilege in ("none", "privileged") else f" [dim]({fix.privilege})[/dim]"
                console.print(f"  [green]fix[/green] {escape(fix.title)}{cost}{tag}")
                if fix.note:
                    console.print(f"      [dim]{escape(fix.note)}[/dim]")
                if fix.risk:
                    console.print(f"      [red]risk:[/red] {escape(fix.risk)}")
                last_id = fix.id
            label = _RUNTIME_LABEL.get(fix.runtime, fix.runtime)
            snippet = fix.snippet.replace("\n", "\n        ")
            console.print(f"      [bold]{label}:[/bold]\n        {escape(snippet)}")
    console.print()
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    console.print(
        f"[bold]{counts[Severity.blocker]} blocker(s), {counts[Severity.degraded]} degraded, "
        f"{counts[Severity.notice]} notice(s)[/bold]"
    )
