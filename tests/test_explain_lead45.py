"""heldout45's two text-shows misses no learner reached (34th session, the lead): the NVIDIA device nodes reported
missing in a user's words (Singularity < 2.5's --contain with --nv, apptainer/singularity#1306 and PR #1358), and the
CUDA driver's and runtime's versions reported incompatible (cms-sw/cmssw#42997)."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

NODES_MISSING = [
    "Just try it with `singularity exec -c --nv`: the /dev/nvidia* files are missing",
    "inside the pod /dev/nvidiactl is not present, only the libraries",
    "after the upgrade /dev/nvidia-uvm was not created in the container",
    "docker run --device /dev/nvidia0 works, but /dev/nvidia1 is not mounted",
]


@pytest.mark.parametrize("line", NODES_MISSING)
def test_nvidia_nodes_reported_missing_are_named(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("device.nvidia-node-missing", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "the /dev/nvidia-caps directory is missing, so MIG devices are not listed",  # MIG caps: another cause
        "/dev/nvidia0 is not missing, the driver is just too old",
        "crw-rw-rw- 1 root root 195,   0 Jan  1 00:00 /dev/nvidia0",  # a listing of a node that is there
        "--device /dev/nvidia0:/dev/nvidia0 --device /dev/nvidiactl:/dev/nvidiactl",
    ],
)
def test_other_uses_of_the_node_names_stay_clean(tmp_path: Path, line: str) -> None:
    assert "device.nvidia-node-missing" not in causes(tmp_path, line + "\n")


VERSIONS_INCOMPATIBLE = [
    "Looks like CUDA driver version 11.4 and our runtime cuda 11.8 are not compatible.",
    "it seems the driver 12.0 and the runtime version 12.3 are incompatible",
    "The runtime (CUDA 12.4) and the node driver (12.2) are not compatible here",
]


@pytest.mark.parametrize("line", VERSIONS_INCOMPATIBLE)
def test_driver_and_runtime_versions_incompatible_is_driver_too_old(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [("cuda.driver-too-old", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "| NVIDIA-SMI 530.30.02    Driver Version: 530.30.02    CUDA Version: 12.1     |",
        "the driver 12.2 and the runtime 12.1 are compatible, so this is something else",
        "cuda runtime version 12.1, driver version 12.2",
    ],
)
def test_version_reports_that_are_not_a_mismatch_stay_clean(tmp_path: Path, line: str) -> None:
    assert "cuda.driver-too-old" not in causes(tmp_path, line + "\n")
