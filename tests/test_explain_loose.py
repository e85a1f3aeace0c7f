"""Loose twins (explain/signatures.py loose_twins): a known message's fixed words in a form its
pattern does not spell out still suggest its cause, never prove it, and never add to a line a
full pattern already explains. The drifted forms below are the upstream format strings with the
spacing, quoting or suffix of another release."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes
from tpdoctor.explain import explain
from tpdoctor.explain.signatures import distinctive, knowledge_base


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        # moby daemon/oci_linux.go: `could not select device driver %q with capabilities: %v`, the
        # empty quoted name left out as users paste it
        ("could not select device driver with capabilities: [[gpu]]", "runtime.nvidia-toolkit-missing"),
        # (libnvidia-container 1.0's bare `requirement error: unsatisfied condition: cuda>=10.0` was a drifted
        # form here; glearn13a's `nvidia-cli.requirement-driver-unsatisfied` reads it exactly from src/dsl.c now, so
        # it proves: tests/test_explain_glearn13a.py)
        # kubelet devicemanager 'Requested: %d, Available: %d' as older releases spaced it
        (
            "Message: Pod Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. "
            "Requested:1, Available: 0, which is unexpected",
            "k8s.gpu-resource-unavailable",
        ),
    ],
)
def test_a_drifted_form_suggests_the_cause(tmp_path: Path, line: str, cause: str) -> None:
    log = tmp_path / "d.log"
    log.write_text(line + "\n")
    report = explain([str(log)])
    first = next(f for f in report.findings if f.severity.value != "notice")
    assert first.cause == cause
    assert first.confidence == "suggests"
    assert "form the signature does not spell out" in first.message


def test_a_twin_never_proves_and_only_names_its_signatures_causes() -> None:
    kb = knowledge_base()
    by_id = {s.id: s for s in kb.signatures}
    twins = [s for s in kb.signatures if s.loose_of]
    assert twins, "no loose twin was built"
    for t in twins:
        assert t.strength == "suggests"
        assert t.causes == by_id[t.loose_of].causes
        assert all(distinctive(lit) for lit in t.literals)


def test_a_line_the_full_pattern_explains_carries_no_twin(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    log.write_text('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n')
    first = explain([str(log)]).findings[0]
    assert first.cause == "runtime.nvidia-toolkit-missing"
    assert first.confidence == "proves" and "does not spell out" not in first.message


def test_the_words_without_a_failure_are_no_cause(tmp_path: Path) -> None:
    # nccl-tests prints the same words for a passing run; the signature wants a non-zero count
    assert causes(tmp_path, "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 40.1\n") == []


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("No space left on device", False),  # a strerror text: every program prints it
        ("Permission denied", False),
        ("CUDA out of memory", False),  # too short to stand for one message
        ("could not select device driver", True),
        ("requested number of devices unavailable for", True),
    ],
)
def test_which_literals_stand_for_their_message(literal: str, expected: bool) -> None:
    assert distinctive(literal) is expected
