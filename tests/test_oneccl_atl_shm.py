"""oneccl.shm-provider-not-enabled: FI_PROVIDER=shm without CCL_ATL_SHM=1, as the real oneCCL
2021.14-2021.15 refuses it (tests/oneccl_real scenario article-no-atl-shm, docs/oneccl-real.md)."""

from __future__ import annotations

import pytest

from tpdoctor.facts.snapshot import load_example
from tpdoctor.model import CheckOptions
from tpdoctor.rules import run_fact_rules

CAUSE = "oneccl.shm-provider-not-enabled"


def _causes(env: dict[str, str], tp: int = 2) -> set[str]:
    facts = load_example("article")
    facts.env = dict(env)
    return {f.cause for f in run_fact_rules(facts, CheckOptions(tp=tp))}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FI_PROVIDER": "shm", "CCL_ATL_TRANSPORT": "ofi"}, True),
        ({"FI_PROVIDER": "shm"}, True),  # unset transport: ofi without an MPI launcher
        ({"FI_PROVIDER": "shm", "CCL_ATL_TRANSPORT": "ofi", "CCL_ATL_SHM": "1"}, False),
        ({"FI_PROVIDER": "shm", "CCL_ATL_TRANSPORT": "ofi", "CCL_ATL_SHM": "0"}, True),
        ({"FI_PROVIDER": "shm", "CCL_ATL_TRANSPORT": "mpi"}, False),
        ({"FI_PROVIDER": "tcp", "CCL_ATL_TRANSPORT": "ofi"}, False),
        ({"FI_PROVIDER": "shm,tcp", "CCL_ATL_TRANSPORT": "ofi"}, False),  # only exactly "shm"
    ],
)
def test_shm_provider_needs_ccl_atl_shm(env: dict[str, str], expected: bool) -> None:
    assert (CAUSE in _causes(env)) is expected


def test_one_rank_exchanges_nothing() -> None:
    assert CAUSE not in _causes({"FI_PROVIDER": "shm"}, tp=1)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "oneCCL will use pidfd: its self-test passes only because privileged"),
        ({"CCL_ZE_IPC_EXCHANGE": "sockets"}, "oneCCL will use sockets (CCL_ZE_IPC_EXCHANGE): honoured only"),
        (
            {"CCL_ZE_IPC_EXCHANGE": "drmfd"},
            "oneCCL will use drmfd (CCL_ZE_IPC_EXCHANGE): privileged does not help that route: drmfd",
        ),
    ],
)
def test_privileged_names_the_oneccl_route_it_opened(env: dict[str, str], says: str) -> None:
    """privileged passes by pidfd and not with drmfd (real oneCCL: scenarios privileged, privileged-drmfd)."""
    facts = load_example("article")
    facts.env = dict(env)
    facts.process.cap_eff = 0x3FFEFFFFFF  # what privileged gave in the real containers
    facts.process.seccomp = 0
    facts.probes = None
    found = [f for f in run_fact_rules(facts, CheckOptions(tp=2)) if f.cause == "security.privileged"]
    assert found and any(says in e.text for e in found[0].evidence), found
