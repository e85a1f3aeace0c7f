"""Issue 13, NVIDIA pass: how the families read from upstream rank, and when they stay quiet.

Every line is the upstream wording the signature cites in its `source` (NVML return strings,
libnvidia-container, the NGC entrypoint, c10, vLLM, triton, crun/runc); the healthy lines are what the
same programs print in runs that worked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as findings
from explain_helpers import notes

NVML_EACCES = "Failed to initialize NVML: Insufficient Permissions\n"
# the NGC entrypoint's driver check (nvidia_entrypoint.sh), printed on every start with an older driver
NGC_BANNER = (
    "ERROR: This container was built for NVIDIA Driver Release 595.58 or later, but\n"
    "       version 580.126.09 was detected and compatibility mode is UNAVAILABLE.\n"
)
SYSTEM_ERROR = (
    "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error "
    "(run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n"
)


# ------------------------------------------------------------------ NVML EACCES: who was refused decides


def test_nvml_eacces_under_docker_is_selinux_first(tmp_path: Path) -> None:
    # a container's root bypasses file modes: with Docker the refusal is a label
    text = "docker run --rm --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + NVML_EACCES
    assert findings(tmp_path, text)[0] == "lsm.selinux-device-denied"


def test_nvml_eacces_under_podman_is_the_unmapped_group_only_with_a_group_in_play(tmp_path: Path) -> None:
    # the NVIDIA nodes are 0666 by default, so a rootless user namespace's unmapped group refuses nothing unless
    # the run passes a group (--group-add, keep-groups): without one, Podman's refusal is SELinux (glearn29a,
    # containers/ramalama#619: label=disable fixed it)
    text = "podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L\n" + NVML_EACCES
    assert findings(tmp_path, text)[0] == "lsm.selinux-device-denied"
    grouped = "podman run --rm --group-add keep-groups --device nvidia.com/gpu=all ubuntu nvidia-smi -L\n" + NVML_EACCES
    assert findings(tmp_path, grouped)[0] == "userns.gid-unmapped"


def test_nvml_eacces_with_a_numeric_group_listing_is_the_group(tmp_path: Path) -> None:
    text = NVML_EACCES + "crw-rw---- 1 root 1005 195,   0 Nov 23 23:13 nvidia0\n"
    got = findings(tmp_path, text)
    assert got[0] == "device.group-denied"
    assert "lsm.selinux-device-denied" not in got


def test_hook_lowercase_nvml_strings(tmp_path: Path) -> None:
    # libnvidia-container prints NVML's string lower-case after "nvml error: "
    hook = "stderr: nvidia-container-cli: initialization error: nvml error: {}: unknown.\n"
    assert findings(tmp_path, hook.format("insufficient permissions"))[0] == "lsm.selinux-device-denied"
    assert findings(tmp_path, hook.format("driver/library version mismatch"))[0] == "nvidia.driver-library-mismatch"


# ------------------------------------------------------------------ image against host


def test_c10_error_number_form_names_forward_compat(tmp_path: Path) -> None:
    # c10 device_count_impl: "... Error 804: <cudaGetErrorString>", pasted alone
    assert findings(tmp_path, "Error 804: forward compatibility was attempted on non supported HW\n") == [
        "cuda.forward-compat-unsupported"
    ]


def test_ngc_banner_alone_is_a_note(tmp_path: Path) -> None:
    # minor-version compatibility usually runs the image: not a cause without a CUDA failure
    assert findings(tmp_path, NGC_BANNER) == []
    assert any("nothing in the log shows CUDA failing" in n for n in notes(tmp_path, NGC_BANNER))


def test_ngc_banner_with_a_cuda_failure_is_the_driver(tmp_path: Path) -> None:
    text = NGC_BANNER + "RuntimeError: CUDA error: the provided PTX was compiled with an unsupported toolchain.\n"
    assert findings(tmp_path, text)[0] == "cuda.driver-too-old"


def test_toolkit_go_requirement_form(tmp_path: Path) -> None:
    line = "error modifying OCI spec: requirements not met: unsatisfied condition: cuda>=12.4 (cuda=12.2)\n"
    assert findings(tmp_path, line) == ["cuda.driver-too-old"]


# ------------------------------------------------------------------ driver libraries and hooks


@pytest.mark.parametrize(
    "line",
    [
        "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n",
        # Triton's "libcuda.so cannot found!" is an ld-cache lookup: tests/test_explain_glearn43b.py (glearn43b)
        "pynvml.NVMLError_LibraryNotFound: NVML Shared Library Not Found\n",
    ],
)
def test_driver_library_not_injected(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line)[0] == "runtime.nvidia-toolkit-missing"


def test_monitoring_agent_nvml_warning_is_quiet(tmp_path: Path) -> None:
    # ClearML on a CPU-only host
    line = "clearml.resource_monitor - WARNING - Could not fetch GPU stats: NVML Shared Library Not Found\n"
    assert findings(tmp_path, line) == []


def test_rootless_hook_cannot_write_devices_allow(tmp_path: Path) -> None:
    line = "nvidia-container-cli: mount error: open failed: /sys/fs/cgroup/devices/user.slice/devices.allow: permission denied\n"
    assert findings(tmp_path, line) == ["nvidia.hook-cgroup-denied"]


def test_cuda_999_at_first_call_points_at_the_uvm_node(tmp_path: Path) -> None:
    assert findings(tmp_path, "cudaFree() -> cudaErrorUnknown (999)\n")[0] == "device.nvidia-node-missing"
    # 999 later in a run (a kernel fault) is not read as a missing node
    assert findings(tmp_path, "cudaMemcpy() -> cudaErrorUnknown (999)\n") == []


# ------------------------------------------------------------------ roots with no container cause


def test_forked_cuda_reinit_drops_the_downstream_guess(tmp_path: Path) -> None:
    text = (
        "RuntimeError: Cannot re-initialize CUDA in forked subprocess. To use CUDA with multiprocessing, "
        "you must use the 'spawn' start method\n" + SYSTEM_ERROR
    )
    assert findings(tmp_path, SYSTEM_ERROR) == ["shm.too-small"]  # the generic line alone still guesses
    assert findings(tmp_path, text) == []


def test_custom_allreduce_cuda_error_other_than_peer_access(tmp_path: Path) -> None:
    line = "Failed: Cuda error /workspace/csrc/custom_all_reduce.cuh:455 'invalid argument'\n"
    assert findings(tmp_path, line)[0] == "vllm.custom-allreduce-p2p"


def test_gpu_lost_is_a_host_fault_not_a_container_cause(tmp_path: Path) -> None:
    lost = "Unable to determine the device handle for GPU 0000:81:00.0: GPU is lost.  Reboot the system to recover this GPU\n"
    assert findings(tmp_path, lost) == []
    # and it silences the generic downstream guess that would follow it
    assert findings(tmp_path, lost + SYSTEM_ERROR) == []


def test_nodes_absent_in_the_container(tmp_path: Path) -> None:
    assert findings(tmp_path, "ls: cannot access '/dev/nvidia*': No such file or directory\n")[0] == (
        "device.nvidia-node-missing"
    )


NGC_SHM_NOTE = (
    "NOTE: The SHMEM allocation limit is set to the default of 64MB.  This may be\n"
    "   insufficient for PyTorch.  NVIDIA recommends the use of the following flags:\n"
)


def test_ngc_64mb_shm_note_counts_only_next_to_a_failure(tmp_path: Path) -> None:
    assert findings(tmp_path, NGC_SHM_NOTE) == []
    assert any("64 MB /dev/shm" in n for n in notes(tmp_path, NGC_SHM_NOTE))
    bus = "RuntimeError: DataLoader worker (pid 123) is killed by signal: Bus error.\n"
    got = findings(tmp_path, NGC_SHM_NOTE + bus)
    assert got[0] == "shm.too-small", got
