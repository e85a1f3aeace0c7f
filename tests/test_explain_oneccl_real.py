"""explain on the real oneCCL's own output (tests/data/oneccl-real/<version>/<scenario>.log, recorded
by tests/oneccl_real with TPDOCTOR_ONECCL_RECORD=1): the cause the header names comes first, and
a run where the communicator was created gives no cause above degraded.

Every oneCCL error or warning line these logs hold must be known to explain (a signature matches it)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tpdoctor.explain.correlate import diagnose
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base
from tpdoctor.model import get_cause

DATA = Path(__file__).resolve().parent / "data" / "oneccl-real"
LOGS = sorted(DATA.glob("*/*.log"))
ONECCL_ERROR = re.compile(r"\|CCL_(?:ERROR|WARN)\||EXCEPTION: ")


def _header(text: str, key: str) -> str:
    m = re.search(rf"^# {key}: (.*)$", text, re.M)
    assert m, f"no '# {key}:' header"
    return m.group(1).strip()


def _scan(text: str) -> tuple[list[str], set[str]]:
    """explain's causes (above notice, ranked) and the signature ids that matched."""
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(text.encode()), "log")
    result = scanner.result
    causes = [
        s.cause
        for s in diagnose(result, knowledge_base()).supports
        if get_cause(s.cause).severity.value != "notice"
    ]
    return causes, set(result.signatures)


def test_the_corpus_is_there() -> None:
    versions = {p.parent.name for p in LOGS}
    assert {"2021.14.0", "2021.14.1", "2021.15.1"} <= versions, versions
    assert len(LOGS) >= 20


@pytest.mark.parametrize("path", LOGS, ids=[f"{p.parent.name}/{p.stem}" for p in LOGS])
def test_explain_names_the_real_cause_first(path: Path) -> None:
    text = path.read_text()
    expected = _header(text, "expect-first")
    causes, _ = _scan(text)
    if expected == "none":
        assert "communicator created OK" in text
        blockers = [c for c in causes if get_cause(c).severity.value == "blocker"]
        assert not blockers, blockers
    else:
        assert causes and causes[0] == expected, causes


@pytest.mark.parametrize("path", LOGS, ids=[f"{p.parent.name}/{p.stem}" for p in LOGS])
def test_every_oneccl_error_line_is_known(path: Path) -> None:
    """Each oneCCL error line, alone, is recognised by some signature of explain's knowledge."""
    unknown = [
        (n, ln)
        for n, ln in enumerate(path.read_text().splitlines(), 1)
        if ONECCL_ERROR.search(ln) and not _scan(ln)[1]
    ]
    assert not unknown, unknown
