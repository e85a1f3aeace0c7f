"""Process resource limits that GPU start-up runs into (issue 13, gnew33a): RLIMIT_AS.

CUDA and ROCm reserve virtual address ranges at initialisation far larger than the memory they use (the unified
address space spans every GPU's memory and the host's); RLIMIT_AS counts reservations, so under a finite limit
cuInit / cudaGetDeviceCount / hipInit fail with out of memory on free GPUs (explain: limits.address-space-too-low)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.rules.registry import fact_rule

GiB = 1 << 30
KiB = 1 << 10

# Measured on one NVIDIA H100 80GB HBM3 (driver 580.159.04, torch 2.11.0+cu130, NCCL 2.28.9, 125 GiB of RAM) by
# bench/gpu/rlimit_as_h200x1.sh, results in bench/gpu/results/rlimit-as-h100x1/: the smallest `ulimit -v` under
# which each step still ran, bisected to 256 MiB. More or larger GPUs reserve more; these are floors, not targets.
CUINIT_AS = 12976128 * KiB  # cuInit(0)
TORCH_CUDA_AS = 17918976 * KiB  # torch's CUDA start and a first tensor
NCCL_ALLREDUCE_AS = 185565000 * KiB  # a one-rank NCCL all-reduce through torch.distributed ("Failed to CUDA calloc")


def _size(n: int) -> str:
    return f"{n / GiB:.1f} GiB ({n} bytes)"


def _what_fails(soft: int) -> str:
    if soft < CUINIT_AS:
        return "cuInit itself fails with out of memory (torch: 'Error 2: out of memory' from cudaGetDeviceCount)"
    if soft < TORCH_CUDA_AS:
        return "CUDA starts but torch's CUDA start fails with out of memory"
    return "torch starts but NCCL's first collective fails ('unhandled cuda error ... Failed to CUDA calloc')"


@fact_rule("limits.address-space-too-low")
def address_space(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The process's virtual-memory limit (RLIMIT_AS) is unlimited.

    **What it checks.** The soft "Max address space" limit (live: getrlimit(RLIMIT_AS); under
    `--root`: proc/self/limits). Any finite value is reported: a blocker below what a one-GPU
    NCCL all-reduce was measured to need (177 GiB on one H100 80GB; cuInit alone needed 12.4 GiB and
    torch's CUDA start 17.1 GiB) or below the host's RAM, whichever is larger; degraded above it,
    since more or larger GPUs reserve more and the GPUs' memory is not in the facts.

    **Why it matters.** A job script's `ulimit -v`, Slurm's VSizeFactor, SGE's h_vmem, PBS/Torque's
    vmem/pvmem, systemd's LimitAS= or docker's `--ulimit as=` set RLIMIT_AS, which counts reserved
    address space, not memory used: cuInit / cudaGetDeviceCount / hipInit then fail with "out of
    memory" (CUDA_ERROR_OUT_OF_MEMORY, torch's "Error 2: out of memory") on idle GPUs, and above that
    NCCL's buffers fail to map ("Failed to CUDA calloc 536870912 bytes", measured) although the GPU is
    empty.

    **How to fix.** `ulimit -v unlimited` in the job script before the GPU program starts (the hard
    limit must allow it), no h_vmem / vmem / VSizeFactor for GPU jobs, `LimitAS=infinity`,
    `--ulimit as=-1`; bound memory with cgroups (`--mem`, `--memory`) instead.
    """
    soft = facts.limits.address_space_soft
    if soft is None or soft < 0:
        return
    hard = facts.limits.address_space_hard
    ram = facts.limits.mem_total
    hard_text = "unlimited" if hard is not None and hard < 0 else (str(hard) if hard is not None else "unknown")
    evidence = [("RLIMIT_AS (Max address space)", f"soft={soft} hard={hard_text}")]
    if ram:
        evidence.append(("MemTotal", _size(ram)))
    floor = max(NCCL_ALLREDUCE_AS, ram or 0)
    measured = (
        f"measured on one H100 80GB: cuInit needed {CUINIT_AS / GiB:.1f} GiB, torch's CUDA start "
        f"{TORCH_CUDA_AS / GiB:.1f} GiB, a one-rank NCCL all-reduce {NCCL_ALLREDUCE_AS / GiB:.0f} GiB"
    )
    if soft < floor:
        text = (
            f"The process's virtual-memory limit (RLIMIT_AS) is {_size(soft)}: CUDA/ROCm reserve address space far "
            f"beyond the memory they use, and at this limit {_what_fails(soft)} on free GPUs ({measured})."
        )
        severity: Literal["blocker", "degraded"] = "blocker"
    else:
        text = (
            f"The process's virtual-memory limit (RLIMIT_AS) is finite, {_size(soft)}: above what one GPU was "
            f"measured to need ({measured}), but more or larger GPUs reserve more, and the reservation fails with "
            "out of memory on free GPUs once it is reached."
        )
        severity = "degraded"
    yield make_finding("limits.address-space-too-low", text, evidence, severity=severity)
