"""AMD ROCm (HIP + RCCL) rules. Sources: ROCm "Running ROCm Docker containers" and RCCL
"Running RCCL using Docker" docs; research/failures.md #41 for groups and user namespaces."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.facts.caps import has_cap
from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.gpus import dev_listed, infer_backend, present, visible_gpus
from tpdoctor.rules.registry import fact_rule


def _is_rocm(facts: Facts, options: CheckOptions) -> bool:
    return infer_backend(facts, options) == "rocm"


@fact_rule("device.kfd-missing")
def kfd_present(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """`/dev/kfd` is in the container for ROCm.

    **What it checks.** With the ROCm backend (chosen, or inferred from AMD render nodes),
    that `/dev/kfd` exists. Nothing is said when /dev was not listed.

    **Why it matters.** `/dev/kfd` is "the main compute interface, shared by all GPUs" (ROCm
    docker docs); without it HIP finds no device (`hipErrorNoDevice`) even though
    `/dev/dri/renderD*` is mapped.

    **How to fix.** `--device /dev/kfd` alongside the render nodes of the assigned GPUs
    (compose `devices:`), plus the `video`/`render` groups for a non-root user; on Kubernetes,
    the AMD GPU device plugin. Not said where the kernel has no amdkfd (`amd.kernel-hsa-disabled`).
    """
    if not _is_rocm(facts, options) or not dev_listed(facts) or present(facts, "/dev/kfd"):
        return
    if facts.kernel.amdgpu_loaded and facts.kernel.hsa_amd == "unset":
        return  # the host has no /dev/kfd at all: amd.kernel-hsa-disabled says so
    yield make_finding(
        "device.kfd-missing",
        "ROCm needs /dev/kfd, which is not present in this root.",
        [("/dev/kfd", "absent")],
    )


@fact_rule("amd.kernel-hsa-disabled")
def kernel_hsa_amd(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The kernel has amdkfd (`CONFIG_HSA_AMD`) where amdgpu is loaded and `/dev/kfd` is absent.

    **What it checks.** On a root where amdgpu is loaded (`/sys/module/amdgpu`, or a render node
    bound to amdgpu) and /dev was listed without `/dev/kfd`, the running kernel's config
    (`/boot/config-$(uname -r)`, else `/proc/config.gz`, read inside the root with a size cap):
    `CONFIG_HSA_AMD` unset. An unreadable or absent config says nothing.

    **Why it matters.** amdkfd is ROCm's compute driver; a kernel built without it loads amdgpu
    for the display, but `/dev/kfd` never exists, so no container can be given it and ROCm finds
    no GPU (siderolabs/pkgs#892).

    **How to fix.** Boot a kernel built with `CONFIG_HSA_AMD=y`; mapping `/dev/kfd` cannot help
    until the host has it.
    """
    k = facts.kernel
    if not k.amdgpu_loaded or k.hsa_amd != "unset" or not dev_listed(facts) or present(facts, "/dev/kfd"):
        return
    yield make_finding(
        "amd.kernel-hsa-disabled",
        "amdgpu is loaded but the kernel is built without CONFIG_HSA_AMD (amdkfd), so /dev/kfd does not exist.",
        [(k.config_source or "kernel config", "CONFIG_HSA_AMD is not set"), ("/dev/kfd", "absent")],
    )


@fact_rule("host.nomodeset-gpu-driver-disabled")
def kernel_nomodeset(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The kernel was not booted with `nomodeset` while an AMD or Intel GPU waits for its driver (gnew41).

    **What it checks.** `/proc/cmdline` (in a container, the host's kernel command line) holding the word
    `nomodeset`, and then the display-class PCI functions (class 0x03xxxx) of AMD (0x1002) or Intel (0x8086) under
    `/sys/bus/pci/devices` with no driver bound. A host whose only GPUs are NVIDIA's, or whose AMD/Intel GPU has a
    driver, says nothing; nor does a CUDA job (`--backend cuda`, or NVIDIA GPUs here), which never uses the other GPU.

    **Why it matters.** Under `nomodeset` the DRM drivers that honour it refuse to load (`amdgpu_init` and
    `radeon_module_init` return -EINVAL on `drm_firmware_drivers_only()`; `i915_check_nomodeset`,
    `xe_check_nomodeset`; the kernel warns "You have booted with nomodeset. This means your GPU drivers are
    DISABLED"), so the GPU has no /dev/kfd and no render node on the host or in any container: ROCm prints "ROCk
    module is NOT loaded", llama.cpp "no ROCm-capable device is detected", torch.xpu finds no device
    (kyuz0/amd-strix-halo-toolboxes#75). NVIDIA's compute driver does not honour it.

    **How to fix.** Remove `nomodeset` from `GRUB_CMDLINE_LINUX(_DEFAULT)` in /etc/default/grub, run
    `sudo update-grub` (or `grub2-mkconfig -o /boot/grub2/grub.cfg`) and reboot; check `lsmod | grep -E
    'amdgpu|i915|xe'` and `ls /dev/kfd /dev/dri`.
    """
    k = facts.kernel
    if not k.cmdline_nomodeset or not k.gpus_without_driver:
        return
    if infer_backend(facts, options) == "cuda":
        return  # a CUDA job beside an idle AMD/Intel GPU (an iGPU): nvidia.ko ignores nomodeset (review41)
    gpus = ", ".join(k.gpus_without_driver[:4])
    yield make_finding(
        "host.nomodeset-gpu-driver-disabled",
        f"The kernel was booted with nomodeset and the AMD/Intel GPU {gpus} has no driver bound: amdgpu, i915 and xe "
        "refuse to load under nomodeset, so there is no /dev/kfd or render node for ROCm, Level Zero or any container.",
        [("/proc/cmdline", "nomodeset"), ("/sys/bus/pci/devices", f"{gpus}: no driver")],
    )


@fact_rule("rocm.visible-devices-mismatch")
def hip_visible_devices(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES name GPUs present in the container.

    **What it checks.** Each entry of the first of `HIP_VISIBLE_DEVICES`,
    `ROCR_VISIBLE_DEVICES`, `CUDA_VISIBLE_DEVICES` that is set, against the AMD render nodes in
    the container (renumbered from 0 inside it).

    **Why it matters.** As with CUDA (failures.md #36), host indices reused inside a container
    that exposes a subset leave HIP with fewer GPUs than expected, or none.

    **How to fix.** Select GPUs by passing only their render nodes (`--device
    /dev/dri/renderD<N>`) and leave the variables unset, or number them `0..n-1`.
    """
    if not _is_rocm(facts, options):
        return
    vis = visible_gpus(facts, "rocm")
    if not vis.invalid or vis.mask_var is None:
        return
    yield make_finding(
        "rocm.visible-devices-mismatch",
        f"{vis.mask_var}={facts.env[vis.mask_var]} but {vis.base} AMD GPU(s) are in the container: "
        f"{', '.join(vis.invalid)} does not exist here.",
        [(vis.mask_var, facts.env[vis.mask_var]), (vis.base_source, f"{vis.base} GPU(s)")],
        context=fix_context(gpu_count=vis.base or None),
    )


@fact_rule("rocm.ipc-ptrace-missing")
def rocm_ptrace(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """RCCL runs with CAP_SYS_PTRACE when seccomp filters syscalls.

    **What it checks.** ROCm backend, seccomp mode 2 (filter) and no CAP_SYS_PTRACE.

    **Why it matters.** AMD's RCCL container instructions run with `--cap-add=SYS_PTRACE`
    (and `--ipc=host`); Docker's default seccomp profile refuses `process_vm_readv/writev`,
    `kcmp`, `pidfd_getfd` and `ptrace` without that capability, which multi-process IPC and
    debugging paths use. ROCm's docs mark `seccomp=unconfined` as optional ("enables memory
    mapping", i.e. NUMA calls), which CAP_SYS_NICE covers with the default profile. This is a
    suggestion, not a proof: single-process-per-GPU RCCL often works without it.

    **How to fix.** `cap_add: [SYS_PTRACE]` (and `SYS_NICE` for NUMA binding) keeping the
    default seccomp profile, rather than `seccomp=unconfined`.
    """
    if (
        not _is_rocm(facts, options)
        or facts.process.seccomp != 2
        or has_cap(facts, "SYS_PTRACE") is not False
    ):
        return
    yield make_finding(
        "rocm.ipc-ptrace-missing",
        "Seccomp filtering without CAP_SYS_PTRACE: RCCL's documented container setup adds it.",
        [("/proc/self/status", "Seccomp: 2, CAP_SYS_PTRACE absent")],
        confidence="suggests",
    )
