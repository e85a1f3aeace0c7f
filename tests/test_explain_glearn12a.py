"""Issue 13, heldout12 lessons (glearn12a): the NVIDIA / Kubernetes / container-runtime families behind its misses.

Every positive line is written from the upstream format string its signature cites (not copied from the heldout12
logs): libnvidia-container's modeset node and ldconfig child, KAI Scheduler's and SkyPilot's GPU capacity errors,
the GPU Operator's CUDA validator pod, the 18.xx/19.xx NGC entrypoint's branch-only driver line, NVML refused under
WSL2, and a multi-vendor GPU probe that goes on with another vendor's GPU (healthy).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# libnvidia-container src/xfuncs.h xstat: error_set(err, "stat failed: %s", path) (+ ": " strerror); the CLI
# prefixes "mount error: " (src/cli/configure.c) and the OCI runtime appends ": unknown"
MODESET = "nvidia-container-cli: mount error: stat failed: {node}: no such file or directory{tail}\n"
# libnvidia-container src/nvc_ldcache.c nvc_ldcache_update: log_errf("could not start %s: %s", argv[0], msg)
LDCONFIG_EXEC = "E0101 00:00:00.000000 1 nvc_ldcache.c:411] could not start {path}: process execution failed: {err}\n"
# NVIDIA/KAI-scheduler common_info ResourcesWereNotFoundMsg + "%d node(s) didn't have enough resources: %s"
KAI_FIT = "no nodes with enough resources were found: {n} node(s) didn't have enough resources: {res}.\n"
# skypilot sky/provision/kubernetes/instance.py _lack_resource_msg
SKY = ("Insufficient {res} capacity on the cluster. Required resources (cpu=8, memory=32, nvidia.com/gpu=8) were "
       "not found in a single node. Other SkyPilot tasks or pods may be using resources. Check resource usage by "
       "running `kubectl describe nodes`.\n")


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        (MODESET.format(node="/dev/nvidia-modeset", tail=""), "device.host-node-absent", "proves"),
        ("stderr: " + MODESET.format(node="/dev/nvidia-modeset", tail=": unknown").lstrip(),
         "device.host-node-absent", "proves"),
        (LDCONFIG_EXEC.format(path="/sbin/ldconfig", err="no such file or directory"),
         "nvidia.toolkit-ldconfig-wrong", "proves"),
        (LDCONFIG_EXEC.format(path="/usr/sbin/ldconfig.real", err="exec format error"),
         "nvidia.toolkit-ldconfig-wrong", "proves"),
        (KAI_FIT.format(n=3, res="GPUs"), "k8s.gpu-resource-unavailable", "suggests"),
        (KAI_FIT.format(n=1, res="GPU memory"), "k8s.gpu-resource-unavailable", "suggests"),
        # KAI k8s_internal NewInsufficientResourceError / NewInsufficientGpuMemoryCapacity
        ("Node didn't have enough resources: GPUs, requested: 2, used: 7, capacity: 8\n",
         "k8s.gpu-resource-unavailable", "suggests"),
        ("Node didn't have enough resources: Each gpu on the node has a gpu memory capacity of 0 Mib. 4096 Mib of "
         "gpu memory has been requested.\n", "k8s.gpu-resource-unavailable", "suggests"),
        (SKY.format(res="GPU"), "k8s.gpu-resource-unavailable", "suggests"),
        # NVIDIA/gpu-operator validator/manifests/cuda-workload-validation.yaml (kubectl get pods row, kubelet BackOff)
        ("nvidia-cuda-validator-x7k2p   0/1   Init:CrashLoopBackOff   5   4m\n",
         "cuda.forward-compat-unsupported", "suggests"),
        ("Warning  BackOff  2m  kubelet  Back-off restarting failed container cuda-validation in pod "
         "nvidia-cuda-validator-x7k2p_gpu-operator(0f1e)\n", "cuda.forward-compat-unsupported", "suggests"),
    ],
)
def test_a_heldout12_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # the other nodes stay the host lacking a driver node, not the display capability
        MODESET.format(node="/dev/nvidia-uvm", tail=""),
        # the ldconfig child failing before the exec is another cause (a refused mount, NVIDIA/enroot#128)
        "E0101 00:00:00.000000 1 nvc_ldcache.c:411] could not start /sbin/ldconfig: mount operation failed: /proc: "
        "operation not permitted\n",
        # KAI's other resources and SkyPilot's CPU shortage are no GPU cause
        KAI_FIT.format(n=2, res="CPU cores"),
        SKY.format(res="CPU"),
        # a validator pod that completed
        "nvidia-cuda-validator-x7k2p   0/1   Completed   0   4m\n",
    ],
)
def test_a_sibling_form_is_not_read_as_the_family(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert ("device.host-node-absent", "proves") not in found
    assert all(c not in ("nvidia.toolkit-ldconfig-wrong", "k8s.gpu-resource-unavailable",
                         "cuda.forward-compat-unsupported") for c, _ in found), found


# NGC entrypoint (18.xx/19.xx): "ERROR: This container was built for NVIDIA Driver Release ${CUDA_DRIVER_VERSION%.*}
# or later, but" / "version ${DRIVER_VERSION} was detected and compatibility mode is UNAVAILABLE."; a two-field
# CUDA_DRIVER_VERSION (410.48) prints the branch alone
NGC = ("ERROR: This container was built for NVIDIA Driver Release {built} or later, but\n"
       "       version {seen} was detected and compatibility mode is UNAVAILABLE.\n")


def test_a_branch_only_built_for_release_below_the_host_driver_is_the_driver(tmp_path: Path) -> None:
    found = _findings(tmp_path, NGC.format(built="410", seen="396.26"))
    assert found and found[0][0] in ("cuda.driver-too-old", "cuda.forward-compat-unsupported"), found


def test_a_branch_only_built_for_release_the_host_meets_stays_benign(tmp_path: Path) -> None:
    assert _findings(tmp_path, NGC.format(built="410", seen="418.67")) == []


# media_preview_generator detect_gpu(): logger.warning(f"Error initializing NVIDIA GPU detection {e}. NVIDIA GPUs
# will not be detected."), then logger.info(f'Found INTEL GPU {gpu_device_path}'); pynvml's
# NVMLError_LibraryNotFound str() is "NVML Shared Library Not Found"
PROBE = "Error initializing NVIDIA GPU detection NVML Shared Library Not Found. NVIDIA GPUs will not be detected.\n"


def test_an_nvml_probe_before_another_vendors_gpu_is_benign(tmp_path: Path) -> None:
    text = PROBE + "Found INTEL GPU /dev/dri/renderD128\n"
    assert _findings(tmp_path, text) == []
    assert any("non-NVIDIA GPU" in n for n in _notes(tmp_path, text))


def test_an_nvml_probe_with_no_other_gpu_still_reads_as_no_toolkit(tmp_path: Path) -> None:
    found = _findings(tmp_path, PROBE + "No GPUs detected. Defaulting to CPU ONLY.\n")
    assert found and found[0][0] == "runtime.nvidia-toolkit-missing", found


# NVML_ERROR_OPERATING_SYSTEM's string (pynvml nvmlErrorString / nvidia-smi "Failed to initialize NVML: %s")
BLOCKED = "Failed to initialize NVML: GPU access blocked by the operating system\n"


def test_nvml_blocked_under_wsl_is_the_dxg_path(tmp_path: Path) -> None:
    found = _findings(tmp_path, "$ /usr/lib/wsl/lib/nvidia-smi\n" + BLOCKED)
    assert found and found[0] == ("device.dxg-missing", "suggests"), found
    assert "device.cgroup-denied" not in [c for c, _ in found]


def test_nvml_blocked_off_wsl_stays_the_cgroup(tmp_path: Path) -> None:
    found = _findings(tmp_path, BLOCKED)
    assert found and found[0][0] == "device.cgroup-denied", found
