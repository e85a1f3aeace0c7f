"""The real oneCCL in real containers: for every scenario and every version the recipe builds,
the library's result and tpdoctor's prediction (check inside the same container, explain on the
real output, run's own diagnosis) agree. Versions it cannot build are named with the reason."""

from __future__ import annotations

import re

import pytest

from .harness import RealResult, listed_versions
from .scenarios import SCENARIOS

pytestmark = [pytest.mark.oneccl_real, pytest.mark.container, pytest.mark.slow]

# Versions in versions.txt the recipe cannot build (or run) here, and the reason it must give.
UNBUILDABLE = {
    "2021.16.1": r"^unrunnable: SYCL device discovery crashes .*loader 1\.8\.12",
    "2022.2.0": r"libfabric>=2\.6",
}
BUILDABLE = [v for v in listed_versions() if v not in UNBUILDABLE]


@pytest.mark.parametrize("version", listed_versions())
def test_version_builds_or_says_why(version: str, oneccl_status: dict[str, str]) -> None:
    status = oneccl_status[version]
    if version in UNBUILDABLE:
        assert status.startswith(("unbuildable: ", "unrunnable: ")), status
        assert re.search(UNBUILDABLE[version], status), status
    else:
        assert status == "ok", status


CASES = [
    pytest.param(sc.id, v, id=f"{sc.id}@{v}")
    for i, v in enumerate(BUILDABLE)
    for sc in SCENARIOS
    if i == 0 or sc.all_versions
]


@pytest.mark.parametrize(("scenario", "version"), CASES)
def test_real_oneccl_agrees_with_tpdoctor(
    scenario: str, version: str, real_results: dict[tuple[str, str], RealResult]
) -> None:
    res = real_results.get((scenario, version))
    assert res is not None, f"{scenario} did not run on {version} (not buildable?)"
    assert not res.problems(), "\n".join([*res.problems(), "--- output:", res.output[-3000:]])
