"""`tpdoctor rules`: the cause catalog with each rule's documentation."""

from __future__ import annotations

import json

import typer


def rules_command(
    cause: str = typer.Argument(None, help="Show one cause id in full."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable list."),
) -> None:
    """List every cause id with its severity, summary and the rule that checks it."""
    from tpdoctor.docs import rule_docs

    docs = rule_docs()
    if cause:
        match = [d for d in docs if d["id"] == cause]
        if not match:
            from tpdoctor.errors import UsageError

            raise UsageError(f"unknown cause id {cause!r} (see `tpdoctor rules`)")
        docs = match
    if as_json:
        typer.echo(json.dumps(docs, indent=2))
        return
    for d in docs:
        typer.echo(f"{d['id']:42} {d['severity']:9} {d['summary']}")
        if cause:
            typer.echo("")
            typer.echo(d["doc"] or "(documented in the catalog only)")
            typer.echo(f"\nchecked by: {', '.join(d['checked_by']) or d['kind']}")
