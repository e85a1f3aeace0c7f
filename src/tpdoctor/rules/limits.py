"""Process resource limits that GPU start-up runs into (issue 13, gnew33a): RLIMIT_AS.

CUDA and ROCm reserve virtual address ranges at initialisation far larger than the memory they use (the unified
address space spans every GPU's memory and the host's); RLIMIT_AS counts reservations, so under a finite limit
cuInit / cudaGetDeviceCount / hipInit fail with out of memory on free GPUs (explain: limits.address-space-too-low)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.rules.registry import fact_rule

GiB = 1 << 30


def _size(n: int) -> str:
    return f"{n / GiB:.1f} GiB ({n} bytes)"


@fact_rule("limits.address-space-too-low")
def address_space(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The process's virtual-memory limit (RLIMIT_AS) is unlimited.

    **What it checks.** The soft "Max address space" limit (live: getrlimit(RLIMIT_AS); under
    `--root`: proc/self/limits). Any finite value is reported: a blocker when it is below the host's
    RAM (MemTotal), whose size alone CUDA's unified address space exceeds once a GPU's memory is added;
    degraded when it is above RAM, since the GPUs' memory is not in the facts and the reservation CUDA
    makes for a given driver and GPU set has not been measured on a GPU yet (the threshold is a bound
    from the address-space layout, not a measurement).

    **Why it matters.** A job script's `ulimit -v`, Slurm's VSizeFactor, SGE's h_vmem, PBS/Torque's
    vmem/pvmem, systemd's LimitAS= or docker's `--ulimit as=` set RLIMIT_AS, which counts reserved
    address space, not memory used: cuInit / cudaGetDeviceCount / hipInit then fail with "out of
    memory" (CUDA_ERROR_OUT_OF_MEMORY, torch's "Error 2: out of memory") on idle GPUs, and NCCL's or
    torch's mmap of a small buffer fails with ENOMEM.

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
    below_ram = ram is not None and soft < ram
    where = "below the host's RAM" if below_ram else "finite"
    yield make_finding(
        "limits.address-space-too-low",
        f"The process's virtual-memory limit (RLIMIT_AS) is {_size(soft)}, {where}: CUDA/ROCm reserve more address "
        "space than that at start-up and fail with out of memory on free GPUs. (Threshold: host RAM, since the GPUs' "
        "memory is not in the facts; not yet measured on a GPU.)",
        evidence,
        severity="blocker" if below_ram or ram is None else "degraded",
    )
