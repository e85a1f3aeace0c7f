"""What `tpdoctor explain` says about a log written from a test's text (shared by the explain tests)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.explain import explain


def causes(tmp_path: Path, text: str) -> list[str]:
    """The cause ids explain reports above notice, first cause first."""
    log = tmp_path / "t.log"
    log.write_text(text, encoding="utf-8")
    return [f.cause for f in explain([str(log)]).findings if f.severity.value != "notice"]


def notes(tmp_path: Path, text: str) -> list[str]:
    """explain's notes (benign lines, facts, hints) for the text."""
    log = tmp_path / "n.log"
    log.write_text(text, encoding="utf-8")
    return explain([str(log)]).notes


def findings(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    """(cause id, proves/suggests) of what explain reports above notice, first cause first."""
    log = tmp_path / "c.log"
    log.write_text(text, encoding="utf-8")
    return [(f.cause, f.confidence) for f in explain([str(log)]).findings if f.severity.value != "notice"]


def all_causes(tmp_path: Path, text: str) -> list[str]:
    """Every cause id explain reports, notices included."""
    log = tmp_path / "a.log"
    log.write_text(text, encoding="utf-8")
    return [f.cause for f in explain([str(log)]).findings]


def knowledge_ids() -> set[str]:
    """The ids of every signature, fact and correlation in the loaded knowledge base."""
    from tpdoctor.explain.signatures import knowledge_base

    kb = knowledge_base()
    return {s.id for s in kb.signatures} | {c.id for c in kb.correlations} | {f.id for f in kb.facts}
