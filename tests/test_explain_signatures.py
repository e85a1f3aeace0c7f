"""The knowledge base is consistent, and every signature recognises its own examples."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import KnowledgeBaseError, knowledge_base, parse_knowledge_base
from tpdoctor.model.fixes import causes_with_fixes

KB = knowledge_base()
# error-code signatures are generated from the tables and tested in test_explain_codes.py
EXAMPLES = [(s.id, ex) for s in KB.signatures if s.code is None for ex in s.examples]


def _scan(text: str) -> Scanner:
    scanner = Scanner(KB)
    scanner.scan_stream(io.BytesIO(text.encode("utf-8")), "t.log")
    return scanner


def test_every_signature_has_an_example_and_a_source() -> None:
    for s in KB.signatures:
        # a loose twin (signatures.loose_twins) has its original's examples, which the original matches
        assert s.examples or s.loose_of, f"{s.id} has no example"
        assert s.source, f"{s.id} has no source"
        assert s.explain, f"{s.id} has no explanation"


@pytest.mark.parametrize(("sig_id", "line"), EXAMPLES, ids=[f"{i}:{n}" for n, (i, _) in enumerate(EXAMPLES)])
def test_example_is_recognised_by_its_signature(sig_id: str, line: str) -> None:
    sig = KB.signature(sig_id)
    assert any(lit in line for lit in sig.literals), (
        "no prefilter literal in the example: the engine would miss it"
    )
    scanner = _scan(f"noise before\n{line}\nnoise after\n")
    rec = scanner.result.signatures.get(sig_id)
    assert rec is not None, f"{sig_id} not found by the scanner"
    assert rec.first_line == 2


def test_every_failures_md_row_is_covered_or_explained(shared_dir: Path) -> None:
    text = (shared_dir / "research" / "failures.md").read_text(encoding="utf-8")
    rows = {int(m) for m in re.findall(r"^\| (\d+) \| ", text, flags=re.M)}
    assert len(rows) >= 41
    covered = {r for s in KB.signatures for r in s.refs} | set(KB.not_in_logs)
    assert rows - covered == set()


def test_every_emitted_cause_has_fixes() -> None:
    emitted = {c for s in KB.signatures for c in s.causes} | {c.emit for c in KB.correlations if c.emit}
    assert emitted - causes_with_fixes() == set()


def test_generic_nccl_system_error_is_never_proof() -> None:
    assert KB.signature("nccl.unhandled-system-error").strength == "suggests"
    assert KB.signature("nccl.unhandled-system-error").hint


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"signatures": [{"id": "a", "literals": ["x"], "pattern": "x", "causes": ["no.such-cause"]}]},
            "unknown cause",
        ),
        ({"signatures": [{"id": "a", "literals": [], "pattern": "x", "causes": []}]}, "literal"),
        ({"signatures": [{"id": "a", "literals": ["x"], "pattern": "(", "causes": []}]}, "bad pattern"),
        ({"signatures": [{"id": "a", "literals": ["x"], "pattern": "x", "strength": "maybe"}]}, "strength"),
        ({"correlations": [{"id": "c", "when": ["nope"]}]}, "unknown signature"),
    ],
)
def test_loader_rejects_inconsistent_data(raw: dict, message: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=message):
        parse_knowledge_base(raw)


def test_xccl_init_line_names_the_loaded_oneccl() -> None:
    """torch-xpu-ops ProcessGroupXCCL.cpp:407 prints the oneCCL version torch's XCCL loaded."""
    scanner = _scan(
        "[I1201 10:00:05 ProcessGroupXCCL.cpp:407] [PG ID 0 PG GUID 0 Rank 1] ProcessGroupXCCL "
        "environments: XCCL version: 2021.15.1, TORCH_XCCL_ENABLE_TIMING: 0\n"
        "Not able to create/get the XCCL Communicator since the devices are empty \n"
    )
    assert scanner.result.facts.get("oneccl_version") == "2021.15.1"
    assert "xccl.devices-empty" in scanner.result.signatures


def test_packaged_patterns_compile_eagerly() -> None:
    """The packaged knowledge base compiles its regexes lazily at run time; every one must compile."""
    from importlib import resources

    from tpdoctor.model.yamldata import load_data_yaml

    text = resources.files("tpdoctor").joinpath("data/signatures.yaml").read_text(encoding="utf-8")
    eager = parse_knowledge_base(load_data_yaml(text), lazy=False)
    lazy = knowledge_base()
    assert [s.id for s in eager.signatures] == [s.id for s in lazy.signatures]
    assert all(isinstance(s.regex, re.Pattern) for s in eager.signatures)
    assert all(s.regex.pattern == t.regex.pattern for s, t in zip(eager.signatures, lazy.signatures, strict=True))
    # the facts too: compiled lazily at run time, every one compiles here
    assert [f.id for f in eager.facts] == [f.id for f in lazy.facts] and eager.facts
    assert all(isinstance(f.regex, re.Pattern) for f in eager.facts)
    assert all(f.regex.pattern == g.regex.pattern for f, g in zip(eager.facts, lazy.facts, strict=True))
