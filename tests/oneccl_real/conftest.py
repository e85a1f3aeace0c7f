"""Session fixtures of the real-oneCCL family: the engine and tool (as the container tests have
them), the build (build.sh, once per session, cached outside the repo), and every scenario run
once, in parallel, with its table in the terminal summary (so it is in the CI log).

Without Docker (or root) the family skips with the reason; in CI (CI=true) it fails instead."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from containers.container_harness import Toolbox, open_toolbox
from session_summary import publish

from .harness import RealResult, build, listed_versions, run_real
from .record import record
from .report import table
from .scenarios import SCENARIOS

PARALLEL = 4  # containers wait on the engine and on oneCCL's start-up; 4 keeps 2 cores busy


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"the real-oneCCL tests must run in CI: {reason}", pytrace=False)
    pytest.skip(f"real oneCCL: {reason} (CI runs them: bash tests/oneccl_real/build.sh)")


@pytest.fixture(scope="session")
def oneccl_status() -> dict[str, str]:
    """{version: "ok" | "unbuildable: why"} for every version in versions.txt."""
    if os.geteuid() != 0:
        unavailable("needs root (apt-get, mknod of the fake GPU nodes)")
    if shutil.which("apt-get") is None:
        unavailable("needs a Debian machine (apt-get: libze1 and the level-zero source package)")
    try:
        return build(listed_versions())
    except Exception as exc:
        unavailable(f"build.sh failed: {exc}")
        raise


@pytest.fixture(scope="session")
def real_box() -> Iterator[Toolbox]:
    with open_toolbox(unavailable, "tpdoctor-oneccl-real-") as box:
        yield box


def runs(status: dict[str, str]) -> list[tuple[str, str]]:
    """(scenario id, version): every scenario on the first version, the rest on each other one."""
    ok = [v for v in listed_versions() if status.get(v) == "ok"]
    return [(sc.id, v) for i, v in enumerate(ok) for sc in SCENARIOS if i == 0 or sc.all_versions]


@pytest.fixture(scope="session")
def real_results(
    oneccl_status: dict[str, str], real_box: Toolbox, request: pytest.FixtureRequest
) -> dict[tuple[str, str], RealResult]:
    by_id = {sc.id: sc for sc in SCENARIOS}
    todo = runs(oneccl_status)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(lambda r: run_real(by_id[r[0]], r[1], real_box), todo))
    bad = sum(bool(r.problems()) for r in results)
    cpu = sum(r.cpu_s for r in results)
    publish(
        request.config,
        "real oneCCL in real containers: the library's result vs tpdoctor's prediction",
        [
            table(results),
            *(f"oneCCL {v}: {s}" for v, s in sorted(oneccl_status.items())),
            f"{len(results)} runs, {bad} disagreeing, wall time {time.monotonic() - t0:.1f} s (parallel {PARALLEL}), "
            f"CPU inside the containers {cpu:.1f} s",
        ],
    )
    if os.environ.get("TPDOCTOR_ONECCL_RECORD"):
        record(results)
    return {(r.scenario.id, r.version): r for r in results}
