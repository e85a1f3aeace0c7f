"""explain on what CUDA and torch really printed on an H200 (bench/gpu/visible_devices_h200x1.sh, torch
2.11.0+cu130, one GPU; recorded in bench/gpu/results/visible-devices-h200x1/): each log starts with the
command as a user pastes it, then the process's real output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain

RECORDED = Path(__file__).resolve().parents[1] / "bench" / "gpu" / "results" / "visible-devices-h200x1"


def _above_notice(name: str) -> list[str]:
    report = explain([str(RECORDED / name)])
    return [f.cause for f in report.findings if f.severity.value != "notice"]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        # CUDA_VISIBLE_DEVICES=all: device_count 0, "No CUDA GPUs are available"
        ("cvd-all.log", "cuda.visible-devices-mismatch"),
        # an index past the one GPU nvidia-smi -L lists
        ("cvd-7.log", "cuda.visible-devices-mismatch"),
        # set_device(1) with one GPU: torch 2.11's AcceleratorError "CUDA error: invalid device ordinal"
        ("set-device-1.log", "cuda.visible-devices-mismatch"),
    ],
)
def test_a_real_visibility_failure_is_named_first(name: str, first: str) -> None:
    found = _above_notice(name)
    assert found and found[0] == first, found


def test_the_same_probe_with_the_gpu_visible_is_clean() -> None:
    assert "device_count 1" in (RECORDED / "healthy.log").read_text()
    assert _above_notice("healthy.log") == []
