"""Issue 13, heldout18 lessons (glearn18c): device access on AMD, Intel and Vulkan stacks, and device loss.

Lines are written from the code and docs that print them (not copied from the heldout18 logs): clinfo's
"Number of platforms" line and the OpenCL ICD loader's CL_PLATFORM_NOT_FOUND_KHR next to compute-runtime's
small-BAR warning (drm_neo.cpp), ggml-vulkan's "ggml_vulkan: No devices found." / "Found %zu Vulkan devices:",
/dev/kfd missing under Singularity/Apptainer --rocm --contain retold, the GPU lost after days in Docker
(ollama docs/troubleshooting.md "Linux docker") retold, and NVIDIA's "NVML: Insufficient Permissions and
SELinux" (--security-opt label=disable) retold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings

VK_FOUND = ("ggml_vulkan: Found 1 Vulkan devices:\n"
            "ggml_vulkan: 0 = AMD Radeon RX 7600 (RADV NAVI33) (radv) | uma: 0 | fp16: 1 | warp size: 64\n")


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # compute-runtime drops a small-BAR device on xe; clinfo then counts no platform
        ("WARNING: Small BAR detected for device 0000:03:00.0\nNumber of platforms                               0\n",
         "xpu.resizable-bar-disabled", "proves"),
        ("WARNING: Resizable BAR not detected for device 0000:83:00.0\nclGetPlatformIDs(-1001)\n",
         "xpu.resizable-bar-disabled", "proves"),
        ("WARNING: Small BAR detected for device 0000:1b:00.0\n"
         "pyopencl._cl.LogicError: clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR\n",
         "xpu.resizable-bar-disabled", "proves"),
        # Resizable BAR off, retold
        ("Resizable BAR is disabled in the BIOS of this server, and level-zero lists no Arc device.\n",
         "xpu.resizable-bar-disabled", "suggests"),
        ("Turning on ReBAR in the firmware fixed it; sycl-ls shows the B580 now.\n",
         "xpu.resizable-bar-disabled", "suggests"),
        # the GPU only as root, retold
        ("The Radeon is found with user: root in the compose file, not with the image's default user.\n",
         "device.group-denied", "suggests"),
        ("Since the image switched to a non-root user, the container cannot see the GPU any more.\n",
         "device.group-denied", "suggests"),
        ("rocminfo works as root but as my own account it lists no GPU agent.\n",
         "device.group-denied", "suggests"),
        # ggml Vulkan: none found in one run, found in another run of the same image -> access, not absence
        ("ggml_vulkan: No devices found.\nwarning: no usable GPU found, --gpu-layers option will be ignored\n" + VK_FOUND,
         "device.group-denied", "suggests"),
        # ggml Vulkan in a container with none found: the render node is the first guess
        ("$ docker run --rm ghcr.io/ggml-org/llama.cpp:server-vulkan -m /models/q.gguf\n"
         "ggml_vulkan: No devices found.\n",
         "device.render-node-missing", "suggests"),
        # /dev/kfd absent from the container, retold
        ("With apptainer exec --rocm --contain the /dev/kfd device is not present, only /dev/dri/renderD128.\n",
         "device.kfd-missing", "suggests"),
        ("Inside the pod `/dev/kfd` does not exist even though the render nodes are there.\n",
         "device.kfd-missing", "suggests"),
        ("There is no /dev/kfd node inside the container, so rocminfo fails.\n",
         "device.kfd-missing", "suggests"),
        # GPU lost after days in Docker, retold
        ("After 3 days the container stops using the GPU and runs everything on CPU only until restarted.\n",
         "device.nvml-cgroup-lost", "suggests"),
        ("after a few days of uptime the server switched to using only CPU; a docker restart fixes it\n",
         "device.nvml-cgroup-lost", "suggests"),
        # SELinux label needed for the GPU nodes, retold
        ("On Fedora with SELinux enforcing the GPU container only works with --security-opt=label=disable.\n",
         "lsm.selinux-device-denied", "suggests"),
        ("Without label=disable podman gives the pod no access to /dev/nvidia0.\n",
         "lsm.selinux-device-denied", "suggests"),
        ("See troubleshooting.html#nvml-insufficient-permissions-and-selinux for the rootless podman case.\n",
         "lsm.selinux-device-denied", "suggests"),
    ],
)
def test_a_heldout18c_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # a clinfo with no platform says nothing about the BAR
        ("Number of platforms                               0\n", "xpu.resizable-bar-disabled"),
        # a healthy Vulkan listing
        (VK_FOUND, "device.group-denied"),
        (VK_FOUND, "device.render-node-missing"),
        # ggml Vulkan alone, no container in the log: a CPU-only or driverless host reads the same
        ("load_backend: loaded Vulkan backend from /app/libggml-vulkan.so\nggml_vulkan: No devices found.\n",
         "device.render-node-missing"),
        # a CUDA build that also loads the Vulkan backend: CUDA found the GPU
        ("ggml_cuda_init: found 1 CUDA devices:\n  Device 0: NVIDIA GeForce RTX 4090, compute capability 8.9\n"
         "ggml_vulkan: No devices found.\n", "device.render-node-missing"),
        # the BAR wording in P2P context, and compute-runtime's own warning alone
        ("P2P between the two cards needs ReBAR support, which is disabled here.\n", "xpu.resizable-bar-disabled"),
        ("WARNING: Small BAR detected for device 0000:03:00.0\n", "xpu.resizable-bar-disabled"),
        # root mentioned in a healthy run, and Open MPI's refusal
        ("Running as root; detected 2 GPUs, all devices visible.\n", "device.group-denied"),
        ("mpirun has detected an attempt to run as root.\n", "device.group-denied"),
        # /dev/kfd present
        ("The /dev/kfd device is present in the container and rocminfo lists gfx1100.\n", "device.kfd-missing"),
        ("podman run --device /dev/kfd --device /dev/dri rocm/pytorch\n", "device.kfd-missing"),
        # a run of days with no loss, and a laptop that slept
        ("After 3 days of training on the GPU the loss is 1.2 and throughput is stable.\n", "device.nvml-cgroup-lost"),
        ("After a few hours the laptop went to sleep and ollama used only CPU afterwards.\n", "device.nvml-cgroup-lost"),
        # the option on a command line, nothing said about needing it
        ("podman run --rm --security-opt=label=disable --device nvidia.com/gpu=all ubuntu nvidia-smi -L\n",
         "lsm.selinux-device-denied"),
    ],
)
def test_a_heldout18c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)
