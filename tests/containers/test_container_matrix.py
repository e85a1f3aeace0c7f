"""The container fault matrix: every scenario started by a real engine, `tpdoctor check` inside,
predicted cause ids == expected cause ids (no miss, no false alarm), and the engine's own
behaviour (errno of open, pidfd self-test, /dev/shm size...) as the scenario says."""

from __future__ import annotations

import difflib
import os

import pytest

from .container_harness import EXPLAIN_MISSING, ScenarioResult
from .container_matrix import DOC, matrix_doc
from .container_scenarios import SCENARIOS

pytestmark = pytest.mark.container


@pytest.mark.parametrize("scenario_id", [s.id for s in SCENARIOS])
def test_scenario(matrix: dict[str, ScenarioResult], scenario_id: str) -> None:
    r = matrix[scenario_id]
    assert r.harness_error is None, r.harness_error
    if r.scenario.start_error is not None and r.predicted is None:
        pytest.skip(f"{EXPLAIN_MISSING}; engine said: {r.engine_error}")
    assert r.predicted is not None, "no prediction"
    assert not r.misses and not r.false_alarms and not r.live_failures, "; ".join(r.problems())


def test_matrix_doc_is_the_real_output(matrix: dict[str, ScenarioResult]) -> None:
    """docs/container-matrix.md is this run's table (TPDOCTOR_WRITE_MATRIX=1 rewrites it)."""
    fresh = matrix_doc(list(matrix.values()))
    if os.environ.get("TPDOCTOR_WRITE_MATRIX") == "1":
        DOC.write_text(fresh)
    committed = DOC.read_text() if DOC.exists() else ""
    diff = "\n".join(
        difflib.unified_diff(committed.splitlines(), fresh.splitlines(), "committed", "this run", lineterm="")
    )
    assert committed == fresh, f"{DOC} is stale; rerun with TPDOCTOR_WRITE_MATRIX=1:\n{diff}"


def test_every_scenario_declares_live_evidence_or_an_engine_error() -> None:
    for sc in SCENARIOS:
        assert sc.live or sc.start_error or sc.compare, f"{sc.id}: say what the engine must do inside"
