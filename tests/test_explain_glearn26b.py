"""Issue 13, heldout26 lessons (glearn26b): graphics and driver-injection families of simulation/robotics containers.

Lines are written from the code that prints them (not copied from the heldout26 logs): Unreal Engine's VulkanRHI
("Cannot find a compatible Vulkan driver (ICD)." in UE4, "Vulkan failed to select physical device after passing
profile checks." in UE5) and vulkaninfo's THROW_VK_ERR ("<file>:<line>:vkCreateInstance failed with
ERROR_INCOMPATIBLE_DRIVER") read with the capability setting or a bare `--gpus`; isaac_ros_common's build check
("Default docker runtime is not nvidia!"); libnvidia-container's requirement check failing on the forward-compatibility
term (`driver < N`, C and Go forms, and wrapped); NVIDIA EGL/GL libraries of another version than the host driver.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings

_UE4 = "Cannot find a compatible Vulkan driver (ICD).\n\nPlease look at the Getting Started guide for additional information.\n"
_UE5 = "LogVulkanRHI: Error: Vulkan failed to select physical device after passing profile checks.\n"
_VKINFO = (
    "Cannot create Vulkan instance.\n"
    "This problem is often caused by a faulty installation of the Vulkan driver or attempting to use a GPU that does "
    "not support Vulkan.\n"
    "ERROR at /build/vulkan-tools/vulkaninfo/vulkaninfo.h:627:vkCreateInstance failed with ERROR_INCOMPATIBLE_DRIVER\n"
)
_RUN = "$ docker run --rm --gpus all -e DISPLAY=$DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix sim:latest ./Sim.sh\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # an application's Vulkan failure in a container started with a bare --gpus (UE4, UE5, vulkaninfo)
        (_RUN + _UE4, "nvidia.driver-capabilities-missing", "suggests"),
        (_RUN + _UE5, "nvidia.driver-capabilities-missing", "suggests"),
        (_RUN + _VKINFO, "nvidia.driver-capabilities-missing", "suggests"),
        ("podman run --gpus=all carla:0.9.15 ./CarlaUE4.sh -RenderOffScreen\n" + _UE4,
         "nvidia.driver-capabilities-missing", "suggests"),
        # the same failure next to a capability value without graphics, and with graphics (the host lacks it)
        ("NVIDIA_DRIVER_CAPABILITIES=compute,utility\n" + _UE5, "nvidia.driver-capabilities-missing", "suggests"),
        ("NVIDIA_DRIVER_CAPABILITIES=all\n" + _VKINFO, "nvidia.host-driver-library-missing", "suggests"),
        # the Vulkan loader's own line under a bare --gpus
        (_RUN + "Warning: vkCreateInstance: Found no drivers!\n", "nvidia.driver-capabilities-missing", "suggests"),
        # isaac_ros_common's build check on aarch64 (build_base_image.sh / build_image_layers.sh)
        ("Default docker runtime is not nvidia!, please make sure the following line is\n"
         "present in /etc/docker/daemon.json\n\"default-runtime\": \"nvidia\",\n",
         "runtime.build-without-gpu", "suggests"),
        # libnvidia-container's requirement check ending on the compat branch: C form, Go form, wrapped
        ("nvidia-container-cli: requirement error: unsatisfied condition: driver < 419\n",
         "cuda.driver-too-old", "suggests"),
        ("error running hook: requirements not met: unsatisfied condition: driver<470 (driver=460.91.03)\n",
         "cuda.driver-too-old", "suggests"),
        ("stderr: nvidia-container-cli: requirement error: unsatisfied\ncondition: driver < 411\\n\"\": unknown\n",
         "cuda.driver-too-old", "suggests"),
        # NVIDIA GL/EGL libraries of another version than the host driver, in words
        ("LD_DEBUG=libs shows NVIDIA EGL libraries 550.127.05 loaded alongside the host driver 550.90.07.\n",
         "nvidia.driver-library-mismatch", "suggests"),
        ("The image ships libEGL_nvidia 535.183.01 but the host driver is 535.104.05.\n",
         "nvidia.driver-library-mismatch", "suggests"),
    ],
)
def test_a_heldout26b_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # a Vulkan failure with no container shown (a host without a GPU prints the same)
        (_UE5, "nvidia.driver-capabilities-missing"),
        (_VKINFO, "nvidia.driver-capabilities-missing"),
        # --gpus with graphics asked for: not the capability
        ("docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all sim:latest\n" + _UE4,
         "nvidia.driver-capabilities-missing"),
        # a bare --gpus on a healthy run, and a healthy vulkaninfo
        ("docker run --rm --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\nDriver Version: 550.54.15\n",
         "nvidia.driver-capabilities-missing"),
        (_RUN + "GPU0:\n\tdeviceName = NVIDIA GeForce RTX 4090\n", "nvidia.driver-capabilities-missing"),
        # docker info with nvidia as the default runtime
        (" Runtimes: io.containerd.runc.v2 nvidia runc\n Default Runtime: nvidia\n", "runtime.build-without-gpu"),
        # the image's requirement string echoed, and a failed brand term
        ("NVIDIA_REQUIRE_CUDA=cuda>=10.0 brand=tesla,driver>=384,driver<385 brand=tesla,driver>=410,driver<411\n",
         "cuda.driver-too-old"),
        ("nvidia-container-cli: requirement error: unsatisfied condition: brand = tesla\n", "cuda.driver-too-old"),
        # the same version on both sides, and no host driver named
        ("LD_DEBUG=libs shows NVIDIA EGL libraries 570.158.01 loaded alongside the host driver 570.158.01.\n",
         "nvidia.driver-library-mismatch"),
        ("EGL 1.5 initialised on NVIDIA 550.90.07.\n", "nvidia.driver-library-mismatch"),
    ],
)
def test_a_heldout26b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)
