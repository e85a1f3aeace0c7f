"""Session fixtures for the container tests: a reachable engine (or a clear skip; in CI a failure),
the tool's site-packages, the whole scenario matrix run once in parallel, and its table in the
terminal summary (so it is in the CI log)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from session_summary import publish

from .container_harness import ScenarioResult, Toolbox, open_toolbox, run_scenario
from .container_matrix import matrix_table, verdict
from .container_scenarios import SCENARIOS

PARALLEL = 4  # containers mostly wait on the engine; 4 keeps 2 cores busy without thrashing


def _unavailable(reason: str) -> None:
    """Skip with the reason on a developer machine; in CI (CI=true) the engine must be there."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"container tests must run in CI: {reason}", pytrace=False)
    pytest.skip(f"no container engine: {reason} (CI runs them: bash .ci/container-engine)")


@pytest.fixture(scope="session")
def toolbox() -> Iterator[Toolbox]:
    with open_toolbox(_unavailable, "tpdoctor-matrix-") as box:
        yield box


@pytest.fixture(scope="session")
def matrix(toolbox: Toolbox, request: pytest.FixtureRequest) -> dict[str, ScenarioResult]:
    """Every scenario, run once per session in parallel."""
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(lambda sc: run_scenario(sc, toolbox), SCENARIOS))
    elapsed = time.monotonic() - t0
    pending = sum(verdict(r).startswith("pending") for r in results)
    bad = sum(not r.ok for r in results) - pending
    publish(
        request.config,
        "container fault matrix (tpdoctor check inside real Docker containers)",
        [
            matrix_table(results, timings=True),
            f"{len(results)} scenarios, {bad} not matching, {pending} pending, matrix wall time {elapsed:.1f} s "
            f"(parallel {PARALLEL}, {os.cpu_count()} CPUs)",
        ],
    )
    return {r.scenario.id: r for r in results}
