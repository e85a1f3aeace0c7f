"""docs/explain-forms.md is generated from the knowledge base and must match it."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.explain.forms import render
from tpdoctor.explain.signatures import knowledge_base

DOC = Path(__file__).resolve().parent.parent / "docs" / "explain-forms.md"


def test_forms_doc_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "regenerate: PYTHONPATH=src python3 -m tpdoctor.explain.forms > docs/explain-forms.md"
    )


def test_every_cause_a_signature_names_has_a_section_with_its_signatures() -> None:
    text = render()
    for sig in knowledge_base().signatures:
        if sig.code is None and not sig.loose_of:  # a loose twin is its original's row
            for cause in sig.causes:
                section = text.split(f"## `{cause}`\n", 1)[1].split("\n## ", 1)[0]
                assert f"| `{sig.id}` |" in section, (cause, sig.id)
