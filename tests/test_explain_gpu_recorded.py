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
    ],
)
def test_a_real_visibility_failure_is_named_first(name: str, first: str) -> None:
    found = _above_notice(name)
    assert found and found[0] == first, found


def test_set_device_past_the_one_gpu_listed_is_the_programs_index() -> None:
    """set_device(1) with one GPU (torch 2.11's AcceleratorError "CUDA error: invalid device ordinal"), nvidia-smi -L
    listing GPU 0 only and nothing in the log selecting GPUs (no mask, container request or launcher count): the index
    is the program's own (glearn46c, AIGC-Audio/AudioGPT#63's hard-coded cuda:1, a negative of heldout46). This log was
    named cuda.visible-devices-mismatch before; it is now a note that says both readings, no cause."""
    report = explain([str(RECORDED / "set-device-1.log")])
    assert [f.cause for f in report.findings if f.severity.value != "notice"] == []
    assert any("program's own index" in n and "container given fewer" in n for n in report.notes), report.notes


def test_the_same_probe_with_the_gpu_visible_is_clean() -> None:
    assert "device_count 1" in (RECORDED / "healthy.log").read_text()
    assert _above_notice("healthy.log") == []


# bench/gpu/no_libcuda_h200x1.sh: the same H200 (driver 580.159.04, CUDA 13 runtime) with every libcuda.so*
# covered by /dev/null in a private mount namespace, as in a container the NVIDIA toolkit did not set up
NO_LIBCUDA = Path(__file__).resolve().parents[1] / "bench" / "gpu" / "results" / "no-libcuda-h200x1"


def _first(path: Path) -> tuple[str, list[str]]:
    report = explain([str(path)])
    found = [f for f in report.findings if f.severity.value != "notice"]
    assert found, path
    return found[0].cause, list(found[0].related)


def test_error_35_with_a_current_driver_is_the_missing_driver_library_not_an_old_driver() -> None:
    log = (NO_LIBCUDA / "runtime-no-libcuda.log").read_text()
    # measured: cudaGetDeviceCount returns 35 although the host driver (580) is newer than the runtime needs
    assert "returned 35 (cudaErrorInsufficientDriver)" in log
    assert "580." in (NO_LIBCUDA / "versions.txt").read_text()
    cause, related = _first(NO_LIBCUDA / "runtime-no-libcuda.log")
    assert cause == "device.nvidia-node-missing"
    assert "cuda.driver-too-old" in related  # still named beside it: an old driver prints the same string


def test_torch_without_libcuda_is_named_as_no_gpu_passed() -> None:
    assert "Found no NVIDIA driver on your system" in (NO_LIBCUDA / "torch-no-libcuda.log").read_text()
    assert _first(NO_LIBCUDA / "torch-no-libcuda.log")[0] == "device.nvidia-node-missing"


@pytest.mark.parametrize("name", ["runtime-healthy.log", "torch-healthy.log"])
def test_the_same_probes_with_libcuda_are_clean(name: str) -> None:
    report = explain([str(NO_LIBCUDA / name)])
    assert [f.cause for f in report.findings if f.severity.value != "notice"] == []
