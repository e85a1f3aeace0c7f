"""explain on what NCCL 2.28.9 really printed on an H200 with a wrong network variable (bench/gpu/nccl_env_h200x1.sh,
torch 2.11.0+cu130, one rank; recorded in bench/gpu/results/nccl-env-h200x1/), and the fixes it may show."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.model.fixes import fixes_for

RECORDED = Path(__file__).resolve().parents[1] / "bench" / "gpu" / "results" / "nccl-env-h200x1"


def _above_notice(name: str) -> list[tuple[str, str]]:
    report = explain([str(RECORDED / name)])
    return [(f.cause, f.confidence) for f in report.findings if f.severity.value != "notice"]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        # NCCL_SOCKET_IFNAME naming no interface: "Bootstrap : no socket interface found", ncclInvalidUsage
        ("socket-ifname-absent.log", ("network.wrong-interface", "proves")),
        # NCCL_NET naming no net: "Failed to initialize any NET plugin" (src/plugin/net.cc ncclNetInit)
        ("net-bogus.log", ("env.invalid-value", "proves")),
        # a GPU UUID the host does not have: torch's "No CUDA GPUs are available"
        ("cvd-uuid-absent.log", ("cuda.visible-devices-mismatch", "suggests")),
    ],
)
def test_a_real_nccl_variable_failure_is_named_first(name: str, first: tuple[str, str]) -> None:
    found = _above_notice(name)
    assert found and found[0] == first, found


@pytest.mark.parametrize(
    "name", ["healthy.log", "algo-bogus.log", "proto-bogus.log", "p2p-level-bogus.log", "ib-hca-absent.log"]
)
def test_runs_that_completed_are_clean(name: str) -> None:
    # NCCL 2.28.9 with one rank ignores these values without a warning; the all-reduce completed
    assert '"ok": true' in (RECORDED / name).read_text()
    assert _above_notice(name) == []


def test_an_nccl_net_plugin_line_with_net_ib_stays_the_rdma_reading(tmp_path: Path) -> None:
    log = tmp_path / "ib.log"
    log.write_text("$ NCCL_NET=IB torchrun train.py\nplugin/net.cc:379 NCCL WARN Failed to initialize any NET plugin\n")
    found = [f.cause for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert found[:1] == ["rdma.ib-device-missing"], found


def test_a_fix_that_needs_the_variable_name_is_left_out_without_it() -> None:
    # data/fixes/env.yaml: "export $env_name=<valid value>" is only a command with the name filled in
    unnamed = [f.snippet for f in fixes_for("env.invalid-value")]
    assert all("$env_name" not in s for s in unnamed), unnamed
    named = [f.snippet for f in fixes_for("env.invalid-value", {"env_name": "NCCL_NET", "env_value": "bogus"})]
    assert any("export NCCL_NET=" in s for s in named), named
