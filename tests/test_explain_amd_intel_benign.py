"""Lines that healthy AMD / Intel / Ray / torchrun runs print must not name a cause (issue #13, precision).

Each line is real upstream text (source next to it); a log made of it alone must come out with nothing above
notice, and the generic launcher wrappers must never be reported as the first real error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain

BENIGN = [
    # libdrm, printed on every ROCm torch import when amdgpu.ids is not installed
    "/opt/amdgpu/share/libdrm/amdgpu.ids: No such file or directory",
    # pytorch torch/cuda/__init__.py _raw_device_count_amdsmi (WSL2, healthy runs)
    "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py:736: UserWarning: Can't initialize amdsmi - Error code: 34",
    # ROCm/rocminfo: the module check that passes
    "rocminfo: ROCk module version 6.8.5 is loaded",
    # oneCCL src/common/global/global.cpp (launcher detection) and topo_manager.cpp (informational)
    "2025:01:01-00:00:00:(  100) |CCL_WARN| did not find MPI-launcher specific variables, switch to ATL/OFI, to force enable ATL/MPI set CCL_ATL_TRANSPORT=mpi",
    "2025:01:01-00:00:00:(  100) |CCL_WARN| topology recognition shows PCIe connection between devices. If this is not correct, you can disable topology recognition, with CCL_TOPO_FABRIC_VERTEX_CONNECTION_CHECK=0. This will assume XeLinks across devices",
    "2025:01:01-00:00:00:(  100) |CCL_WARN| no membind support for NUMA node 0, skip thread membind",
    # pytorch torch/xpu/__init__.py: a warning, the error (if any) comes later
    "/usr/local/lib/python3.10/dist-packages/torch/xpu/__init__.py:60: UserWarning: XPU device count is zero! (Triggered internally at /build/c10/xpu/XPUFunctions.cpp:115.)",
    # gloo: a healthy connect report, and the single-node loopback fallback
    "[Gloo] Rank 0 is connected to 1 peer ranks. Expected number of connected peer ranks is : 1",
    "[W ProcessGroupGloo.cpp:694] Warning: Unable to resolve hostname to a (local) address. Using the loopback address as fallback. Manually set the network interface to bind to with GLOO_SOCKET_IFNAME. (function operator())",
    # torchrun tearing down the other ranks after one failed
    "torch.distributed.elastic.multiprocessing.api: [WARNING] Sending process 1234 closing signal SIGTERM",
]

WRAPPERS = [
    # python/ray/exceptions.py, gcs_actor_manager.cc, raylet; torch elastic
    "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.",
    "The actor died because its node has died. Node Id: 4a1b",
    "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR",
    "ray.exceptions.WorkerCrashedError: The worker died unexpectedly while executing this task.",
    "(raylet) A worker died or was killed while executing a task by an unexpected system error.",
    "(raylet) Raylet is terminated. Termination is unexpected. Possible reasons include: (1) SIGKILL by the user or system OOM killer",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
]


def _blockers(tmp_path: Path, text: str) -> list[str]:
    log = tmp_path / "x.log"
    log.write_text(text + "\n")
    report = explain([str(log)])
    return [f.cause for f in report.findings if f.severity.value != "notice"]


@pytest.mark.parametrize("line", BENIGN)
def test_healthy_run_lines_name_no_cause(tmp_path: Path, line: str) -> None:
    assert _blockers(tmp_path, line) == []


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_wrapper_alone_names_no_cause(tmp_path: Path, wrapper: str) -> None:
    assert _blockers(tmp_path, wrapper) == []


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_wrapper_after_the_real_error_keeps_the_real_cause(tmp_path: Path, wrapper: str) -> None:
    real = "|CCL_ERROR| base_thread.cpp:93 start: pthread_setaffinity_np failed, err 22"
    assert _blockers(tmp_path, f"{real}\n{wrapper}")[:1] == ["oneccl.worker-affinity"]
