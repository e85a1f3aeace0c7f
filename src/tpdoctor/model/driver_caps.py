"""NVIDIA_DRIVER_CAPABILITIES: which driver libraries the NVIDIA container toolkit injects.

The legacy runtime hook turns the value into `nvidia-container-cli configure --compute --utility ...`
(nvidia-container-toolkit cmd/nvidia-container-runtime-hook/capabilities.go capabilityToCLI, main.go
doPrestart, v1.17) and libnvidia-container mounts only the libraries of the listed capabilities
(src/nvc_info.c utility_libs, compute_libs, video_libs, graphics_libs, @00b4b47). The value comes
from the image (the CUDA base images set `compute,utility`), from `-e`/`environment:`, or from the
Docker daemon, which writes the NVIDIA capabilities of a device request (`--gpus
'"capabilities=..."'`, compose `capabilities: [gpu, utility]`) into it (moby daemon/nvidia_linux.go
setNvidiaGPUs; only when the request names one besides `gpu`).

Unset or empty: `utility,compute` since toolkit v1.4.0 (commit 20604621, 2020-12-07; `utility`
alone before), every capability for a legacy CUDA image (CUDA_VERSION without NVIDIA_REQUIRE_CUDA;
cuda_image.go IsLegacy). CDI injection (`--device nvidia.com/gpu=...`, `nvidia-ctk cdi generate`)
mounts every library the spec lists and does not read the variable. Used by check, audit and explain.
"""

from __future__ import annotations

import re

VARIABLE = "NVIDIA_DRIVER_CAPABILITIES"
# internal/config/image/capabilities.go SupportedDriverCapabilities (v1.17)
SUPPORTED = ("compute", "compat32", "graphics", "utility", "video", "display", "ngx")
# moby daemon/nvidia_linux.go allNvidiaCaps: the device-request capabilities copied into the variable
DOCKER_REQUEST_CAPS = ("compute", "compat32", "graphics", "utility", "video", "display")
# What each capability brings into the container and what fails without it (nvc_info.c lists).
LIBRARIES: dict[str, str] = {
    "compute": "libcuda.so.1, libnvidia-ptxjitcompiler, libnvidia-nvvm, libnvidia-opencl (CUDA, OpenCL)",
    "utility": "nvidia-smi, libnvidia-ml.so.1 (NVML), libnvidia-cfg",
    "video": "libnvidia-encode.so.1 (NVENC), libnvcuvid.so.1 (NVDEC), libvdpau_nvidia, libnvidia-opticalflow",
    "graphics": "libGLX_nvidia, libEGL_nvidia, libnvidia-glcore, libnvoptix.so.1 and libnvidia-rtcore (OptiX), Vulkan ICD",
    "display": "the X/Wayland display libraries",
    "ngx": "libnvidia-ngx (DLSS)",
    "compat32": "the 32-bit driver libraries",
}
# What a workload needs: CUDA serving needs compute; nvidia-smi / NVML-based GPU discovery need utility.
SERVING_NEEDS = ("compute", "utility")
_SPLIT = re.compile(r"[\s,]+")


def parse(value: str) -> set[str]:
    """The capability names in a value as the toolkit splits it (commas, spaces trimmed)."""
    return {c for c in _SPLIT.split(value.strip().strip("\"'").lower()) if c}


def lacks(value: str, capability: str) -> bool:
    """True when a set, non-empty value leaves `capability` out (and is not `all`).

    An empty value means the toolkit default (compute,utility), so it lacks neither of those;
    an unexpanded `${VAR}` is unknown, never a finding."""
    if "$" in value:
        return False
    caps = parse(value)
    if not caps:
        return capability not in ("compute", "utility")
    return "all" not in caps and capability not in caps


def missing_for_serving(value: str) -> list[str]:
    """The capabilities CUDA serving needs that `value` leaves out, compute first."""
    return [c for c in SERVING_NEEDS if lacks(value, c)]


def libraries_of(capabilities: list[str]) -> str:
    """What each capability would have brought in, for a finding's message ("compute: libcuda.so.1, ...")."""
    return "; ".join(f"{c}: {LIBRARIES[c]}" for c in capabilities)


def from_request(capabilities: list[str]) -> str | None:
    """The value the Docker daemon sets for a device request's capabilities (None: it sets none).

    moby daemon/nvidia_linux.go setNvidiaGPUs: the request's capabilities found in allNvidiaCaps
    (compute, compat32, graphics, utility, video, display), joined with commas; `gpu` alone selects
    the driver and sets nothing (`all` is not a device capability there). When nvidia-cdi-hook is
    installed the daemon injects through CDI first, which mounts every library anyway."""
    nvidia = [c.strip().lower() for c in capabilities if c.strip().lower() in DOCKER_REQUEST_CAPS]
    return ",".join(nvidia) if nvidia else None
