"""Every labelled real log in ../shared/corpus/explain gives its labelled primary cause first.

Negatives (and cases whose only label is a proposed cause we did not adopt) give no cause above
notice; notices a case lists as benign are allowed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tpdoctor.explain.correlate import diagnose
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base
from tpdoctor.model import catalog, get_cause

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "explain"
CASES = sorted(CORPUS.glob("*.yaml"))


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _causes(log: str) -> list[tuple[str, str]]:
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(log.encode("utf-8")), "log")
    return [(s.cause, s.strength) for s in diagnose(scanner.result, knowledge_base()).supports]


def _expected(case: dict) -> str | None:
    if case.get("negative"):
        return None
    if case.get("causes"):
        return str(case["causes"][0])
    proposed = case.get("proposed_cause")
    return proposed if proposed in catalog() else None


def test_corpus_is_present() -> None:
    assert len(CASES) >= 30, f"corpus not found or shrunk at {CORPUS}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path: Path) -> None:
    case = _load(path)
    got = _causes(case["log"])
    blocking = [c for c, _ in got if get_cause(c).severity.value != "notice"]
    expected = _expected(case)
    if expected is None:
        assert not blocking, f"expected no cause, got {got}"
        allowed = set(case.get("notices") or [])
        assert {c for c, _ in got} <= allowed, got
    else:
        assert got, "expected a cause, got none"
        assert got[0][0] == expected, f"primary should be {expected}, got {got}"
