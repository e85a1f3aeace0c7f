"""Small readers for files inside the inspected root, shared by the family collectors.

A file that does not exist is simply unknown (None); any other read error is recorded in
facts.errors, one line, so the report can say what it could not see.
"""

from __future__ import annotations

import os

from tpdoctor.facts.collect import CollectContext
from tpdoctor.model import Facts


def read_text(ctx: CollectContext, path: str, facts: Facts | None = None) -> str | None:
    try:
        return ctx.path(path).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if facts is not None:
            facts.errors.append(f"{path}: {exc.strerror or exc}")
        return None


def read_link(ctx: CollectContext, path: str) -> str | None:
    try:
        return os.readlink(ctx.path(path))
    except OSError:
        return None


def first_line(text: str | None) -> str | None:
    if text is None:
        return None
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line or None
