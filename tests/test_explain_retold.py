"""Sibling signatures of one cause that read the very same line are one reading: the headline says it once
(explain/correlate.py, the signature loop). Signatures of one cause on different lines each add what they read."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.explain import explain
from tpdoctor.explain.signatures import knowledge_base

# kubectl describe node: read by the node, capacity and any-vendor forms of the zero-GPU count
ZERO = "Capacity:\n  cpu:             8\n  nvidia.com/gpu:  0\nAllocatable:\n  nvidia.com/gpu:  0\n"
INSUFFICIENT = "Warning  FailedScheduling  12s  default-scheduler  0/3 nodes are available: 3 Insufficient nvidia.com/gpu.\n"


def _message(tmp_path: Path, text: str) -> str:
    log = tmp_path / "n.log"
    log.write_text(text, encoding="utf-8")
    (finding,) = [f for f in explain([str(log)]).findings if f.cause == "k8s.gpu-resource-unavailable"]
    return finding.message


def _readers_of_zero() -> list[str]:
    kb = knowledge_base()
    return [
        s.explain
        for s in kb.signatures
        if "k8s.gpu-resource-unavailable" in s.causes and s.regex.search("nvidia.com/gpu:  0") and not s.loose_of
    ]


def test_one_line_read_by_sibling_signatures_is_explained_once(tmp_path: Path) -> None:
    readers = _readers_of_zero()
    assert len(readers) >= 2, "the case needs two signatures reading the same line"
    message = _message(tmp_path, ZERO)
    assert sum(1 for e in readers if " ".join(e.split()) in message) == 1, message


def test_signatures_on_different_lines_each_explain(tmp_path: Path) -> None:
    message = _message(tmp_path, ZERO + INSUFFICIENT)
    insufficient = " ".join(knowledge_base().signature("k8s.insufficient-gpu").explain.split())
    assert insufficient in message
    assert any(" ".join(e.split()) in message for e in _readers_of_zero())
