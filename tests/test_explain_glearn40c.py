"""Issue 13, heldout40 lessons (glearn40c): OpenCL and Vulkan device discovery in NVIDIA containers.

Lines are written from the code that prints them (not copied from the heldout40 logs): clinfo's "Number of platforms"
row (Oblomov/clinfo src/clinfo.c, I0_STR "%-48s  "), the ICD loader's CL_PLATFORM_NOT_FOUND_KHR (-1001), an
application's "No OpenCL platform found" (xmrig OclLib::getPlatformIDs, Houdini's OpenCL exception), the HandsOnOpenCL
samples' "Found 0 platforms!", Boost.Compute's "No OpenCL device found"; the Vulkan loader's "vkCreateInstance: Found no
drivers!" (KhronosGroup/Vulkan-Loader loader.c), vulkaninfo's "vkCreateInstance failed with ERROR_INCOMPATIBLE_DRIVER",
ncnn's NCNN_LOGE("vkCreateInstance failed %d") and vkd3d's "Failed to create Vulkan instance, vr %d." with -9
(VK_ERROR_INCOMPATIBLE_DRIVER). Each is read beside the NVIDIA words that select the cause: a GPU container (--gpus,
NVIDIA_VISIBLE_DEVICES, --runtime=nvidia, a CUDA or NGC image, a pod's nvidia.com/gpu), NVIDIA's OpenCL library shown
present, or a Linux NVIDIA driver answering nvidia-smi.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

CLINFO_ZERO = "Number of platforms" + " " * 31 + "0\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # --- nvidia.opencl-icd-missing: zero OpenCL platforms in an NVIDIA GPU container ---
        # clinfo's row in a container given GPUs with --gpus (nvidia-container-toolkit#1893's test)
        ("$ docker run --rm --gpus all my-opencl-app clinfo\n" + CLINFO_ZERO,
         "nvidia.opencl-icd-missing", "suggests"),
        # clinfo's error form with NVIDIA's OpenCL library listed by ldconfig (no container word at all)
        ("clGetPlatformIDs(-1001)\n"
         "\tlibnvidia-opencl.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # xmrig's LOG_ERR in a compose service given GPUs by NVIDIA_VISIBLE_DEVICES
        ("    environment:\n      - NVIDIA_VISIBLE_DEVICES=all\n"
         "[2025-03-01 10:00:00.123]  opencl   No OpenCL platform found.\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # Houdini's OpenCL exception in a CUDA runtime image
        ("FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n"
         "OpenCL Exception: No OpenCL platform found. (-32)\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # Houdini's device-type line under the NVIDIA runtime
        ("docker run --runtime=nvidia -e HOUDINI_OCL_DEVICETYPE=GPU hou:20.5 hython render.py\n"
         "No OpenCL platform has the specified device type (HOUDINI_OCL_DEVICETYPE): GPU.\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # the HandsOnOpenCL samples' printf in a pod with a GPU limit
        ("        resources:\n          limits:\n            nvidia.com/gpu: 1\n"
         "Found 0 platforms!\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # Boost.Compute (LightGBM's GPU learner) in an NGC image
        ("docker run -it nvcr.io/nvidia/pytorch:24.05-py3 python train_lgbm.py\n"
         "[LightGBM] [Fatal] No OpenCL device found\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # pyopencl's form with the driver capabilities set (compute included)
        ("NVIDIA_DRIVER_CAPABILITIES=compute,utility\n"
         "pyopencl._cl.LogicError: clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR\n",
         "nvidia.opencl-icd-missing", "suggests"),
        # --- nvidia.driver-capabilities-missing: Vulkan finds no driver in a CUDA container without graphics ---
        # ncnn's NCNN_LOGE with -9 under the NVIDIA runtime and a CUDA base image
        ("docker run --runtime=nvidia -v $PWD:/w nvidia/cuda:12.2.0-base-ubuntu22.04 ./realesrgan-ncnn-vulkan -i a.png\n"
         "vkCreateInstance failed -9\n"
         "invalid gpu device\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        # the Vulkan loader's own line in a PyTorch CUDA image
        ("image: pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime\n"
         "ERROR: [Loader Message] Code 0 : vkCreateInstance: Found no drivers!\n"
         "Cannot create Vulkan instance.\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        # vkd3d's instance error with -9 where NVIDIA_VISIBLE_DEVICES gives the GPUs
        ("NVIDIA_VISIBLE_DEVICES=0\n"
         "0108:err:vkd3d_instance_init: Failed to create Vulkan instance, vr -9.\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        # vulkaninfo's THROW_VK_ERR form in a CUDA devel image tag
        ("Image: myorg/train:cuda12.8.0-devel-ubuntu24.04\n"
         "ERROR at ./vulkaninfo/./vulkaninfo.h:481:vkCreateInstance failed with ERROR_INCOMPATIBLE_DRIVER\n",
         "nvidia.driver-capabilities-missing", "suggests"),
        # --- nvidia.host-driver-library-missing: a Linux NVIDIA driver answers, Vulkan finds none ---
        ("| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |\n"
         "vkCreateInstance failed -9\n",
         "nvidia.host-driver-library-missing", "suggests"),
        ("Driver Version: 550.54.15\n"
         "ERROR: [Loader Message] Code 0 : vkCreateInstance: Found no drivers!\n",
         "nvidia.host-driver-library-missing", "suggests"),
    ],
)
def test_a_heldout40c_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # zero platforms with no NVIDIA word: a CPU box, a missing Intel/AMD ICD package
        (CLINFO_ZERO, "nvidia.opencl-icd-missing"),
        ("[2025-03-01 10:00:00.123]  opencl   No OpenCL platform found.\n", "nvidia.opencl-icd-missing"),
        # an Intel container given its render node, zero platforms
        ("docker run --device /dev/dri intel/oneapi-basekit clinfo\n" + CLINFO_ZERO, "nvidia.opencl-icd-missing"),
        # NVIDIA_VISIBLE_DEVICES=void gives no GPU: not the NVIDIA ICD
        ("NVIDIA_VISIBLE_DEVICES=void\n" + CLINFO_ZERO, "nvidia.opencl-icd-missing"),
        # a working platform count in an NVIDIA container
        ("docker run --gpus all img clinfo\nNumber of platforms" + " " * 31 + "1\n", "nvidia.opencl-icd-missing"),
        # the compute capability left out: the OpenCL library itself is missing, not only its ICD file
        ("NVIDIA_DRIVER_CAPABILITIES=utility\nNo OpenCL platform found.\n", "nvidia.opencl-icd-missing"),
        # NVIDIA's OpenCL library looked for, platforms found
        ("\tlibnvidia-opencl.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1\n"
         "Number of platforms" + " " * 31 + "1\n", "nvidia.opencl-icd-missing"),
        # WSL2: no NVIDIA OpenCL at all
        ("Linux version 5.15.153.1-microsoft-standard-WSL2\nNVIDIA_VISIBLE_DEVICES=all\nNo OpenCL platform found.\n",
         "nvidia.opencl-icd-missing"),
        # the Vulkan loader's warning on a WSL/Windows driver (two-part version): no Linux NVIDIA driver
        ("Driver Version: 546.12\nWarning: vkCreateInstance: Found no drivers!\n",
         "nvidia.host-driver-library-missing"),
        # another VkResult: -7 is an extension the driver lacks, not a missing driver
        ("nvidia/cuda:12.2.0-base-ubuntu22.04\nvkCreateInstance failed -7\n", "nvidia.driver-capabilities-missing"),
        ("Driver Version: 535.104.05\nvkCreateInstance failed -90\n", "nvidia.host-driver-library-missing"),
        # Vulkan's failure under WSL2 in a CUDA image: no capability would add an NVIDIA Vulkan driver
        ("Linux version 5.15.153.1-microsoft-standard-WSL2\nnvidia/cuda:12.2.0-base-ubuntu22.04\n"
         "vkCreateInstance: Found no drivers!\n", "nvidia.driver-capabilities-missing"),
        # a CUDA image and no Vulkan failure
        ("nvidia/cuda:12.2.0-base-ubuntu22.04\nvkCreateInstance succeeded\n", "nvidia.driver-capabilities-missing"),
    ],
)
def test_a_heldout40c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _causes(tmp_path, text)


def test_graphics_capability_shown_keeps_the_gcaps_reading(tmp_path: Path) -> None:
    """With the graphics capability asked for, the driver lacks its GL/Vulkan part (gcaps), not the capability."""
    text = "nvidia/cuda:12.2.0-base-ubuntu22.04\nNVIDIA_DRIVER_CAPABILITIES=all\nvkCreateInstance failed -9\n"
    found = _causes(tmp_path, text)
    assert found and found[0] == "nvidia.host-driver-library-missing", found


def test_a_bare_vulkan_or_opencl_failure_names_nothing(tmp_path: Path) -> None:
    """Alone each line says no driver was found, not why: no cause."""
    for text in ("vkCreateInstance failed -9\n", "Failed to create Vulkan instance, vr -9.\n", "Found 0 platforms!\n",
                 "OpenCL Exception: No OpenCL platform found. (-32)\n"):
        assert _causes(tmp_path, text) == [], text
