"""A hint belongs to the cause whose signature gave it: when a later rule drops that cause (a guess behind a
known root, a blame the context contradicts) or shows it only as a notice, its hint goes too. Real dev logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain

DEV = Path(__file__).parent / "data" / "explain-real" / "dev"


def _hints(name: str) -> list[str]:
    report = explain([str(DEV / name)])
    return [n for n in report.notes if n.startswith("hint:")]


@pytest.mark.parametrize(
    ("name", "dropped_hint"),
    [
        # a MIG UUID parse bug in vLLM, no TP over MIG: mig-multi-instance is dropped, so is its advice
        ("negative__vllm-41848-mig-uuid-cuda-visible-devices-int-parse-bug.log", "one replica per MIG instance"),
        # the render-node finding outranks the HSA code's /dev/kfd guess, which a rule drops once kfd opened
        ("device.render-node-missing__pytorch-91031-rocminfo-subset-render-nodes.log", "--group-add video"),
        # device plugin without devices after a reboot: not the capabilities guess
        ("k8s.gpu-resource-unavailable__k8s-device-plugin-414-reboot-no-devices-found.log", "NVIDIA_DRIVER_CAPABILITIES"),
    ],
)
def test_a_dropped_cause_gives_no_hint(name: str, dropped_hint: str) -> None:
    assert (DEV / name).is_file()
    assert not [h for h in _hints(name) if dropped_hint in h]


def test_a_live_cause_keeps_its_hint() -> None:
    # the same rule must not drop a hint whose cause is the finding: a DataLoader bus error in a 64 MiB /dev/shm
    name = "shm.too-small__mdtvsfa-10-docker-shm-64m.log"
    assert explain([str(DEV / name)]).findings[0].cause == "shm.too-small"
    assert [h for h in _hints(name) if "--shm-size" in h]
