"""Process resource limits that GPU start-up runs into: RLIMIT_AS (issue 13, gnew33a); the pids cgroup limit and
RLIMIT_NPROC, and clone3 refused with EPERM by an old engine's seccomp profile (gnew36b).

CUDA and ROCm reserve virtual address ranges at initialisation far larger than the memory they use (the unified
address space spans every GPU's memory and the host's); RLIMIT_AS counts reservations, so under a finite limit
cuInit / cudaGetDeviceCount / hipInit fail with out of memory on free GPUs (explain: limits.address-space-too-low)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from tpdoctor.facts.container import container_runtime
from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.rules.gpus import in_container, infer_backend, rank_count, visible_gpus
from tpdoctor.rules.registry import fact_rule
from tpdoctor.units import parse_small_int

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


# Measured on one NVIDIA H100 80GB HBM3 (driver 580.159.04, torch 2.11.0+cu130, NCCL 2.28.9, 16 CPUs) by
# bench/gpu/threads_h200x1.sh, results in bench/gpu/results/threads-h100x1/: a one-rank job's threads after a CUDA
# tensor, a CPU matmul and an NCCL all-reduce were 39 (the OpenMP/OpenBLAS pool and torch's intra-op pool each add one
# thread per CPU beyond the first), 9 with OMP_NUM_THREADS=1; the smallest `ulimit -u` that let the all-reduce finish
# was exactly that (39 and 9; 38 and 8 failed with NCCL's 'Call to pthread_create failed: Resource temporarily
# unavailable', lower limits with libgomp's and OpenBLAS's). So a rank needs RANK_BASE_TASKS + 2 * (threads - 1).
RANK_BASE_TASKS = 9  # the main thread, CUDA's 2, NCCL's 6 (one communicator)
POOLS_PER_RANK = 2  # OpenMP / OpenBLAS and torch's intra-op pool, each sized by the CPUs (or OMP_NUM_THREADS)


def usable_cpus(facts: Facts) -> int | None:
    return len(facts.cpu.allowed) if facts.cpu.allowed else facts.cpu.online


def tasks_per_rank(omp: str, cpus: int | None, cpus_word: str, assumed: tuple[int, str]) -> tuple[int, str]:
    """The tasks (threads) one GPU rank needs, 9 + 2 * (pool size - 1), measured on an H100 (see above), and why that
    pool: OMP_NUM_THREADS, else the CPUs, else `assumed` (a pool size and its words). check and audit both ask."""
    omp = omp.strip()
    n = parse_small_int(omp)
    pool, why = (n, f"OMP_NUM_THREADS={omp}") if n else (cpus, f"{cpus} {cpus_word}") if cpus else assumed
    return RANK_BASE_TASKS + POOLS_PER_RANK * (pool - 1), why


def rank_tasks(facts: Facts) -> tuple[int, str]:
    """tasks_per_rank for this process's environment and CPUs (16 assumed when they are unknown)."""
    return tasks_per_rank(
        facts.env.get("OMP_NUM_THREADS", ""), usable_cpus(facts), "CPUs", (16, "the CPUs unknown: 16 assumed")
    )


def _limit_text(n: int | None) -> str:
    return "unlimited" if n is not None and n < 0 else str(n)


@fact_rule("limits.pids-exhausted")
def pids_limit(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The tasks this container or job may create cover what its GPU ranks start.

    **What it checks.** The pids cgroup limit (of the process's cgroup and its ancestors, cgroup
    v2 or v1's pids hierarchy, the finite `pids.max` with the least room left by `pids.current`) and, for
    a non-root user, RLIMIT_NPROC (`Max processes` in /proc/self/limits; it counts the UID's tasks
    on the whole host, root is exempt). The need is ranks x (9 + 2 x (pool - 1)), the pool being
    OMP_NUM_THREADS or the usable CPUs: one rank was measured at 39 threads with 16 CPUs and 9 with
    OMP_NUM_THREADS=1 (torch 2.11, NCCL 2.28.9 on an H100; `bench/gpu/results/threads-h100x1/`), and
    the smallest `ulimit -u` that let its all-reduce finish was exactly that. A blocker below the
    need; degraded below twice it (DataLoader workers, Ray, tokenizer and gRPC pools add more).

    **Why it matters.** Every thread counts against both limits. Docker/Podman `--pids-limit`,
    compose `pids_limit`, the kubelet's `podPidsLimit`, systemd's `TasksMax=` on the engine or a
    Slurm/user slice, Podman's default 2048 and `ulimit -u` make `pthread_create` fail with EAGAIN:
    NCCL's `Call to pthread_create failed: Resource temporarily unavailable`, libgomp's `Thread
    creation failed`, OpenBLAS's `blas_thread_init: pthread_create failed for thread N of M`,
    Python's `can't start new thread`.

    **How to fix.** Raise the limit for the GPU job (`--pids-limit -1` or a number above the need,
    compose `pids_limit`, the kubelet's `podPidsLimit`, `TasksMax=infinity`, `ulimit -u`), or size
    the pools down (`OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`).
    """
    lim = facts.limits
    backend = infer_backend(facts, options)
    gpus = visible_gpus(facts, backend).count if backend else None
    ranks = rank_count(options, gpus or 1)
    per_rank, why = rank_tasks(facts)
    need = ranks * per_rank
    candidates: list[tuple[int, str, list[tuple[str, str]]]] = []
    if lim.pids_max is not None and lim.pids_max >= 0:
        used = lim.pids_current if lim.pids_current is not None and lim.pids_current >= 0 else 0
        ev = [(lim.pids_source or "pids.max", str(lim.pids_max))]
        if lim.pids_current is not None:
            ev.append(("pids.current", str(lim.pids_current)))
        candidates.append((lim.pids_max - used, f"the pids cgroup limit ({lim.pids_max}, {used} in use)", ev))
    uid = facts.process.uid
    if lim.nproc_soft is not None and lim.nproc_soft >= 0 and uid is not None and uid != 0:
        candidates.append(
            (
                lim.nproc_soft,
                f"RLIMIT_NPROC (ulimit -u {lim.nproc_soft}; uid {uid}, counted over all its tasks on the host)",
                [("RLIMIT_NPROC (Max processes)", f"soft={lim.nproc_soft} hard={_limit_text(lim.nproc_hard)}")],
            )
        )
    if not candidates:
        return
    room, what, evidence = min(candidates, key=lambda c: c[0])
    if room >= 2 * need:
        return
    where = f" in a {container_runtime(facts)} container" if in_container(facts) else ""
    measured = (
        f"{ranks} rank(s) x {per_rank} tasks ({why}; one rank measured at 39 threads with 16 CPUs, 9 with "
        "OMP_NUM_THREADS=1, torch 2.11 + NCCL 2.28 on an H100)"
    )
    evidence = [*evidence, ("need", f"{need} = {measured}")]
    if room < need:
        text = (
            f"Thread and process creation is capped by {what}{where}: room for {room} more tasks, below the {need} "
            f"the GPU ranks start ({measured}); pthread_create will fail with EAGAIN 'Resource temporarily "
            "unavailable' (NCCL's 'Call to pthread_create failed', libgomp's 'Thread creation failed', OpenBLAS's "
            "blas_thread_init)."
        )
        severity: Literal["blocker", "degraded"] = "blocker"
    else:
        text = (
            f"Thread and process creation is capped by {what}{where}: room for {room} more tasks, above the {need} "
            f"the GPU ranks need at start ({measured}) but below twice that: DataLoader workers, Ray workers, "
            "tokenizer and gRPC pools add more, and the job fails with EAGAIN once the limit is reached."
        )
        severity = "degraded"
    yield make_finding("limits.pids-exhausted", text, evidence, severity=severity)


def _glibc(version: str | None) -> tuple[int, int] | None:
    parts = (version or "").replace("glibc", "").strip().split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


@fact_rule("seccomp.clone3-eperm")
def clone3_eperm(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The seccomp profile lets glibc create threads (clone3 is allowed or refused with ENOSYS).

    **What it checks.** Live only: the errno of `clone3(NULL, 0)` (the kernel refuses the size with
    EINVAL before it creates anything, so only a filter can answer otherwise) and this process's
    glibc (`confstr(CS_GNU_LIBC_VERSION)`). EPERM with glibc 2.34 or newer is a blocker; EPERM
    with an older glibc a notice (an image on glibc 2.34+, Ubuntu 22.04 and every recent CUDA
    image, will fail on this engine).

    **Why it matters.** glibc 2.34+ creates threads and spawns processes with clone3 and falls
    back to clone only on ENOSYS. Docker before 20.10.10 (moby#42681, backported as 567c01f6),
    containerd before 1.5.7/1.4.11 (containerd#5982) and their profiles' copies in old Podman and
    CRI-O return EPERM for clone3, so every `pthread_create` fails with "Operation not permitted":
    OpenBLAS's `pthread_create failed for thread 1 of 16: Operation not permitted`, TF/XLA's
    `Check failed: ret == 0 (1 vs. 0)Thread tf_XLAEigen creation via pthread_create() failed`
    (google-deepmind/alphafold3#83, #137 on Docker 19.03.9).

    **How to fix.** Upgrade the engine (Docker >= 20.10.10, containerd >= 1.5.7, runc >= 1.0.2),
    or run with a seccomp profile whose clone3 rule returns ENOSYS; an image on glibc < 2.34 as
    a stop-gap. `seccomp=unconfined` only as a last resort.
    """
    if facts.probes is None or facts.probes.clone3 != "EPERM":
        return
    version = _glibc(facts.probes.glibc)
    evidence = [("clone3(NULL, 0)", "EPERM (a seccomp filter; the kernel itself answers EINVAL)")]
    if facts.probes.glibc:
        evidence.append(("glibc", facts.probes.glibc))
    if version is None or version >= (2, 34):
        yield make_finding(
            "seccomp.clone3-eperm",
            "The seccomp profile refuses clone3 with EPERM and this glibc "
            f"({facts.probes.glibc or 'version unknown'}) creates threads with clone3, falling back to clone only on "
            "ENOSYS: every pthread_create fails with 'Operation not permitted' (an engine's profile from before "
            "Docker 20.10.10 / containerd 1.5.7).",
            evidence,
        )
    else:
        yield make_finding(
            "seccomp.clone3-eperm",
            f"The seccomp profile refuses clone3 with EPERM; this glibc ({facts.probes.glibc}) still uses clone, but "
            "an image on glibc 2.34+ (Ubuntu 22.04, recent CUDA images) will fail every thread creation here with "
            "'Operation not permitted': upgrade the engine before the image.",
            evidence,
            severity="notice",
        )
