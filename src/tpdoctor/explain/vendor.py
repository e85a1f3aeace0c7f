"""NVIDIA-named causes in a log whose GPU stack is AMD's: name the ROCm twin instead.

ROCm keeps CUDA's words in several places, so a line that names CUDA is not proof of an NVIDIA GPU:
- HIP reads CUDA_VISIBLE_DEVICES when HIP_VISIBLE_DEVICES is unset (ROCm/clr rocclr/device/rocm/rocdevice.cpp
  Device::init: `ordinals = HIP_VISIBLE_DEVICES[0] != '\\0' ? HIP_VISIBLE_DEVICES : CUDA_VISIBLE_DEVICES`,
  rocm-5.7.0 .. f9f995c), so a CUDA_VISIBLE_DEVICES mask that names absent GPUs is a ROCm mask mismatch;
- RCCL prints HIP's error strings under NCCL's format, "Cuda failure '%s'" with hipGetErrorString (ROCm/rccl
  src/include/checks.h CUDACHECK, rocm-5.7.0, rocm-6.2.0, 0cbce2a7);
- ROCm builds of PyTorch keep the torch.cuda namespace (torch.cuda.is_available(), "CUDA" in Python messages).

When the log shows the AMD stack (a ROCm/HIP/HSA/RCCL line, a ROCm mask, rocm-smi rows, an RCCL or +hip/+rocm
version) and nothing NVIDIA-only (an nvidia-smi table, an NVML/NVIDIA driver or toolkit line), the NVIDIA twin of a
cause is renamed to the AMD one. A cause that an NVIDIA-only line proves is never renamed: the text named that
stack itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tpdoctor.explain.correlate import Support
    from tpdoctor.explain.scanner import ScanResult

# NVIDIA cause -> its ROCm twin (data/causes.yaml). `always`: renamed whatever its strength (HIP honours the
# CUDA mask itself); otherwise only a guess is renamed.
TWINS: dict[str, tuple[str, bool]] = {
    "cuda.visible-devices-mismatch": ("rocm.visible-devices-mismatch", True),
    "device.nvidia-node-missing": ("device.kfd-missing", False),
    "runtime.nvidia-toolkit-missing": ("runtime.amd-toolkit-missing", False),
    # gnew11: an image newer than the host's kernel driver; ROCm's kernel driver is amdgpu/KFD (ROCm "User and
    # kernel-space support matrix"). Only a guess is renamed: a CUDA driver line that proves it named NVIDIA itself.
    "cuda.driver-too-old": ("rocm.driver-too-old", False),
}
# Signature families only the AMD GPU stack prints (ROCm runtime, HIP, HSA, libhsakmt, RCCL, rocminfo,
# amd-smi/rocm-smi, the AMD container toolkit and device plugin, torch's HIP build).
AMD_PREFIXES = (
    "rocm.",
    "rocm-smi.",
    "rocminfo.",
    "hip.",
    "hcc.",
    "hsa.",
    "hsakmt.",
    "rocclr.",
    "rccl.",
    "amdsmi.",
    "amd-toolkit.",
    "amd-ctk.",
    "amdgpu.",
    "kfd.",
    "code.hip.",
    "code.hsa.",
    "torch.no-hip-gpus",
    "jax.rocm-no-visible-gpu",
    "ollama.kfd-missing",
    "ollama.amdgpu-",
    "vllm.rocm-",
)
# amd_platform (grocm7): vLLM's "Automatically detected platform rocm.", AMD's rocm/* images, /opt/rocm paths,
# AMD Instinct names (signatures.yaml fact amd-platform)
AMD_FACTS = ("amd_stack", "rocm_visible_devices", "rocm_smi_gpu", "gpu_device_ordinal", "amd_platform")
# Lines only an NVIDIA stack prints: the driver, NVML, nvidia-smi, the NVIDIA container toolkit and hooks.
NVIDIA_PREFIXES = (
    "nvidia",
    "nvml.",
    "pynvml.",
    "nvc.",
    "hook.",
    "fabricmanager.",
    "torch.no-nvidia-driver",
    "code.cu_driver.",
)
NVIDIA_FACTS = ("smi_gpu",)


def stack(scan: ScanResult) -> str | None:
    """'amd' when the log shows the AMD GPU stack and nothing NVIDIA-only, 'nvidia' for the reverse, else None."""
    ids = scan.signatures.keys()
    amd = any(i.startswith(AMD_PREFIXES) for i in ids) or any(k in scan.facts.first for k in AMD_FACTS)
    nvidia = any(i.startswith(NVIDIA_PREFIXES) for i in ids) or any(
        k in scan.facts.first for k in NVIDIA_FACTS
    )
    if amd and not nvidia:
        return "amd"
    if nvidia and not amd:
        return "nvidia"
    return None


def twin_of(cause: str) -> str:
    """The ROCm twin rename_twins may rename a cause to, else the cause itself."""
    twin = TWINS.get(cause)
    return twin[0] if twin else cause


def rename_twins(scan: ScanResult, supports: dict[str, Support]) -> None:
    """Rename NVIDIA causes to their ROCm twins in a log of the AMD stack (merging into a twin already there)."""
    if stack(scan) != "amd":
        return
    for cause, (twin, always) in TWINS.items():
        s = supports.get(cause)
        if s is None or (s.strength == "proves" and not always):
            continue
        del supports[cause]
        why = (
            f"The log shows the AMD GPU stack (ROCm/HIP/RCCL), which keeps CUDA's names: read as {twin}, "
            f"the ROCm form of {cause}."
        )
        target = supports.get(twin)
        if target is None:
            s.cause = twin
            s.messages.insert(0, why)  # the ROCm reading first, the CUDA-worded line's own text after it
            supports[twin] = s
            continue
        for sig in s.signatures:
            target.add(sig, s.strength, s.evidence, s.first_line, "", not s.specific)
        if why not in target.messages:
            target.messages.append(why)
