"""Output a person reads: the verdict first, then each finding with its one best fix.

Concise (the default): a verdict line ("TP=2 will fail: /dev/dri/by-path/ does not exist in this
container"), then per finding its message, the evidence that names the reason, and the first fix
that has a snippet for the chosen runtime (rules put the fix for the observed reason first; see
`make_finding(prefer=...)`). Notices are one line each. `full=True` (`--verbose`,
`--runtime all`) prints every evidence line and every fix, as JSON and SARIF always do.
"""

from __future__ import annotations

import re
from typing import TextIO

from tpdoctor.model import Finding, Fix, Report, Severity
from tpdoctor.redact import clip
from tpdoctor.termsafe import printable as printable

_STYLE = {Severity.blocker: "bold red", Severity.degraded: "yellow", Severity.notice: "cyan"}
_RUNTIME_LABEL = {
    "compose": "compose",
    "docker": "docker run",
    "podman": "podman run",
    "kubernetes": "kubernetes",
    "env": "entrypoint/env",
    "host": "host",
}
GENERIC_RUNTIMES = ("env", "host")  # fixes that apply whatever started the container

# Control characters from logs and binary input must not reach the terminal (they can move the
# cursor, change colours or retitle the window); tabs stay. The one definition: tpdoctor.termsafe.


# rich's markup grammar (rich/markup.py 13.x: RE_TAGS and escape()), so text can be escaped and,
# when the output is not a terminal, printed without importing rich at all.
# A run of backslashes is taken from its first one only (the same matches: a start inside the run fails wherever its
# first fails): from each backslash of a run not followed by a tag, `(\\*)` went over the rest of the run again, and a
# compose service named with 16 KiB of them took 24 s to print (64 KiB: 2 minutes; gsafe47).
_ESCAPE = re.compile(r"(?<!\\)(\\*)(\[[a-z#/@][^[]*?])")
_TAGS = re.compile(r"(?<!\\)((\\*)\[([a-z#/@][^[]*?)])")


def escape(text: str) -> str:
    """Text that rich prints as is (rich.markup.escape)."""
    text = _ESCAPE.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def plain(markup: str) -> str:
    """Markup as a terminal without colours shows it: tags dropped, escapes undone (rich's _parse)."""

    def repl(m: re.Match[str]) -> str:
        full, escapes = m.group(1), m.group(2)
        backslashes, escaped = divmod(len(escapes), 2)
        return "\\" * backslashes + (full[len(escapes) :] if escaped else "")

    return _TAGS.sub(repl, markup)


def _linear_rich_tags() -> None:
    """rich parses markup with the quadratic form of _TAGS (rich/markup.py RE_TAGS, 13.x-15.x): on a terminal, a
    service named with 16 KiB of backslashes took 9 s to print (gsafe47). Where rich's pattern is that one, its parser
    gets _TAGS, which finds the same matches in linear time."""
    import rich.markup

    if rich.markup.RE_TAGS.pattern == _TAGS_QUADRATIC:
        rich.markup.RE_TAGS = _TAGS


_TAGS_QUADRATIC = r"((\\*)\[([a-z#/@][^[]*?)])"


def render_text(
    report: Report, out: TextIO, *, runtimes: list[str] | None = None, full: bool = False
) -> None:
    lines = render_lines(report, runtimes=runtimes, full=full)
    if not out.isatty():  # a pipe or a file: no colours, and no rich import on the way
        out.write("".join(plain(line) + "\n" for line in lines))
        return
    from rich.console import Console

    _linear_rich_tags()
    real = Console(file=out, highlight=False, soft_wrap=True)
    # one print per chunk of lines: same output as one print per line, without the per-call cost
    chunk = 500
    for i in range(0, len(lines), chunk):
        real.print("\n".join(lines[i : i + chunk]))


def verdict(report: Report) -> str:
    """The first line: what will happen (check), what happened (explain), what the files do (audit)."""
    findings = report.sorted_findings()
    tp = report.facts.get("tp") if report.command.startswith("check") else None
    # no --tp and no GPU found gives tp 0: say "the multi-GPU start", never "TP=0"
    what = f"TP={tp}" if isinstance(tp, int) and tp > 0 else "The multi-GPU start"
    top = findings[0] if findings else None
    if top is None or top.severity is Severity.notice:
        return "No known cause of multi-GPU failure found."
    reason = _first_clause(top.message or top.summary)
    if report.command == "explain":
        if top.confidence != "proves":  # no line proves it: a likely cause, never stated as fact
            what_failed = "why it failed" if top.severity is Severity.blocker else "a degraded start"
            return f"The log suggests {what_failed} (likely, not proven): {reason}"
        return (
            f"The log shows why it failed: {reason}"
            if top.severity is Severity.blocker
            else (f"The log shows a degraded start: {reason}")
        )
    if report.command == "audit":
        return (
            f"These files will not run TP: {reason}"
            if top.severity is Severity.blocker
            else (f"These files will run TP, degraded: {reason}")
        )
    if top.severity is Severity.blocker:
        return f"{what} will fail: {reason}"
    return f"{what} will start, degraded: {reason}"


def _first_clause(text: str) -> str:
    head = text.split("; ", 1)[0].strip()
    return head[:-1] if head.endswith(".") else head


def render_lines(report: Report, *, runtimes: list[str] | None = None, full: bool = False) -> list[str]:
    findings = report.sorted_findings()
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    style = _STYLE[findings[0].severity] if findings else "green"
    out = [f"[{style}]{escape(printable(verdict(report)))}[/{style}]"]  # a finding's message quotes the user's values
    runtime = next((r for r in runtimes or () if r not in GENERIC_RUNTIMES), None)
    tally = (
        f"{counts[Severity.blocker]} blocker(s), {counts[Severity.degraded]} degraded, "
        f"{counts[Severity.notice]} notice(s)"
    )
    if findings and not full:
        where = f"fixes for {_RUNTIME_LABEL.get(runtime, runtime)}; " if runtime else ""
        out.append(f"[dim]{tally}; {where}--runtime all or --verbose for every fix and evidence[/dim]")
    for f in findings:
        if full:
            out += _finding_full(f, runtimes)
        elif f.severity is Severity.notice:
            if out[-1] and not out[-1].startswith("[cyan]NOTICE"):
                out.append("")
            out.append(
                f"[{_STYLE[f.severity]}]NOTICE[/] {f.cause}: {escape(printable(f.message or f.summary))}"
            )
        else:
            out += _finding_concise(f, runtime)
    if report.notes:
        out.append("")
        out += [f"[dim]{escape(printable(note))}[/dim]" for note in report.notes]
    if full:
        out += ["", f"[bold]{tally}[/bold]"]
    return out


def _head(f: Finding) -> str:
    style = _STYLE[f.severity]
    head = f"[{style}]{f.severity.value.upper()}[/{style}] [bold]{f.cause}[/bold]"
    if f.confidence != "proves":
        head += f" [dim]({f.confidence})[/dim]"
    return head


def _evidence_line(ev_source: str | None, line: int | None, text: str) -> str:
    where = ev_source or ""
    if line:
        where = f"{where}:{line}" if where else f"line {line}"
    prefix = f"{where}: " if where else ""
    return f"  [dim]evidence[/dim] {escape(printable(prefix + clip(text, 300)))}"


def _finding_concise(f: Finding, runtime: str | None) -> list[str]:
    out = ["", _head(f), f"  {escape(printable(f.message or f.summary))}"]
    # the evidence that names a place (a file, a node, a variable) says why; else the first one
    ev = next(
        (e for e in f.evidence if e.source and e.source[:1] in "/$"), f.evidence[0] if f.evidence else None
    )
    if ev is not None:
        out.append(_evidence_line(ev.source, ev.line, ev.text))
    fix = best_fix(f.fixes, runtime)
    if fix is None and f.fixes:
        out.append(f"  [dim]no {runtime} fix in the catalog; --runtime all shows the others[/dim]")
    if fix is not None:
        cost = "" if fix.privilege == "none" else f", {fix.privilege}"
        unsafe = " [red](UNSAFE: last resort)[/red]" if fix.privilege == "privileged" else ""
        label = _RUNTIME_LABEL.get(fix.runtime, fix.runtime)
        out.append(f"  [green]fix[/green] [dim]({label}{cost})[/dim] {escape(printable(fix.title))}{unsafe}")
        if fix.snippet.strip():  # a snippet can quote a file's or a device's name
            out += [f"      {escape(printable(line))}" for line in fix.snippet.rstrip("\n").split("\n")]
    return out


def best_fix(fixes: list[Fix], runtime: str | None) -> Fix | None:
    """The first remedy (in the order the rule gave) with a snippet for `runtime`, or a generic one."""
    for fix in fixes:
        if fix.runtime == runtime or fix.runtime in GENERIC_RUNTIMES or runtime is None:
            return fix
    return None


def _finding_full(f: Finding, runtimes: list[str] | None) -> list[str]:
    out = ["", _head(f), f"  {escape(printable(f.message or f.summary))}"]
    if f.related:
        out.append(f"  [dim]related: {', '.join(f.related)}[/dim]")
    out += [_evidence_line(ev.source, ev.line, ev.text) for ev in f.evidence[:8]]
    last_id = None
    for fix in (x for x in f.fixes if not runtimes or x.runtime in runtimes):
        if fix.id != last_id:
            tag = " [red](UNSAFE: last resort)[/red]" if fix.privilege == "privileged" else ""
            cost = "" if fix.privilege in ("none", "privileged") else f" [dim]({fix.privilege})[/dim]"
            out.append(f"  [green]fix[/green] {escape(printable(fix.title))}{cost}{tag}")
            if fix.note:
                out.append(f"      [dim]{escape(printable(fix.note))}[/dim]")
            if fix.risk:
                out.append(f"      [red]risk:[/red] {escape(printable(fix.risk))}")
            last_id = fix.id
        label = _RUNTIME_LABEL.get(fix.runtime, fix.runtime)
        snippet = "\n        ".join(printable(line) for line in fix.snippet.split("\n"))
        out.append(f"      [bold]{label}:[/bold]\n        {escape(snippet)}")
    return out
