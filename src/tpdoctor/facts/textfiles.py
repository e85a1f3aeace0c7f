"""Small readers for files inside the inspected root, shared by the family collectors.

A file that does not exist is simply unknown (None); any other read error is recorded in
facts.errors, one line, so the report can say what it could not see.
"""

from __future__ import annotations

import os

from tpdoctor.facts import fsutil
from tpdoctor.facts.collect import CollectContext
from tpdoctor.model import Facts


def read_text(ctx: CollectContext, path: str, facts: Facts | None = None) -> str | None:
    """fsutil.read_text with the collector's context: None when absent, errors into facts.errors."""
    return fsutil.read_text(ctx.root, path, facts.errors if facts is not None else None)


def read_link(ctx: CollectContext, path: str) -> str | None:
    try:
        return os.readlink(ctx.entry(path))
    except OSError:
        return None


def first_line(text: str | None) -> str | None:
    if text is None:
        return None
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line or None
