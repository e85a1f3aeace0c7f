"""/dev/shm sizing. Sources: research/failures.md #23-#26, #38-#39; NCCL troubleshooting
"Shared memory"; vLLM `shm_broadcast.py`."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.gpus import infer_backend, tp_size
from tpdoctor.rules.registry import fact_rule

MiB = 1 << 20
GiB = 1 << 30
# Below this N-rank serving fails: vLLM's shm broadcast ring alone is about 100 MiB (10 chunks
# of 10 MiB in shm_broadcast.py's MessageQueue defaults), and NCCL's SHM transport / cuMem-host
# fallback and Ray's object store need more. Docker's 64 MiB and Podman's 62.5 MiB are below it.
BLOCKER_BELOW = 256 * MiB
# NCCL's docs recommend --shm-size=1g; allow 256 MiB per rank beyond four ranks.
PER_RANK = 256 * MiB


def recommended_shm(ranks: int) -> int:
    return max(GiB, ranks * PER_RANK)


def _human(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.1f} MiB"


def _suggest_size(ranks: int) -> str:
    gib = max(16, -(-recommended_shm(ranks) // GiB))
    return f"{gib}g"


@fact_rule("shm.too-small")
def shm_size(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """/dev/shm is large enough for N ranks.

    **What it checks.** The size of `/dev/shm` (live: `statvfs`; under `--root`: the tmpfs
    `size=` option of the last `/dev/shm` entry in `proc/self/mounts`) against the ranks about to
    start (`--tp × --pp`, default every visible GPU). Thresholds: below 256 MiB is a blocker
    (vLLM's shm broadcast ring is ~100 MiB by itself; Docker's default is 64 MiB, Podman's 62.5
    MiB); below max(1 GiB, 256 MiB × ranks) is degraded (NCCL's documentation asks for
    `--shm-size=1g`, and NCCL's SHM transport and cuMem host fallback grow with ranks). A missing
    `/dev/shm` is a blocker.

    **Why it matters.** `NCCL WARN Error: failed to extend /dev/shm/nccl-…` (NCCL
    `src/os/linux.cc:795`), `Error while creating shared memory segment`, `Bus error (core
    dumped)` from vLLM, Ray moving its object store to /tmp (failures.md #23-#26).
    `NCCL_SHM_DISABLE=1` does not remove the need (#39). Measured on 2×H200 (docs/gpu-h200.md):
    a bare 2-rank NCCL all-reduce, even over NCCL's SHM transport, fits in 64 MiB; vLLM's shm
    broadcast ring (10 × 10 MiB) then dies with SIGBUS. The blocker is for serving stacks.

    **How to fix.** `shm_size: 16g` (docker `--shm-size=16g`; Kubernetes: a memory `emptyDir`
    at /dev/shm), or `ipc: host` (wider).
    """
    backend = infer_backend(facts, options)
    ranks = (tp_size(facts, options, backend) or 0) * options.pp
    if ranks < 2:
        return
    shm = facts.shm
    need = recommended_shm(ranks)
    ctx = fix_context(shm_size=_suggest_size(ranks))
    if shm.present is False:
        yield make_finding(
            "shm.too-small",
            f"/dev/shm does not exist; {ranks} ranks need it.",
            [("/dev/shm", "absent")],
            context=ctx,
        )
        return
    if shm.size_bytes is None:
        return
    evidence = [(shm.source or "/dev/shm", f"{shm.size_bytes} bytes ({_human(shm.size_bytes)})")]
    if shm.size_bytes < BLOCKER_BELOW:
        yield make_finding(
            "shm.too-small",
            f"/dev/shm is {_human(shm.size_bytes)}; {ranks} ranks need at least {_human(BLOCKER_BELOW)} to start "
            f"and {_human(need)} to be safe.",
            evidence,
            context=ctx,
        )
    elif shm.size_bytes < need:
        yield make_finding(
            "shm.too-small",
            f"/dev/shm is {_human(shm.size_bytes)}; {_human(need)} is recommended for {ranks} ranks.",
            evidence,
            context=ctx,
            severity="degraded",
        )


@fact_rule("shm.not-writable")
def shm_not_writable(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The ranks can create files in /dev/shm.

    **What it checks.** Whether `/dev/shm` is mounted read-only (the `ro` option of its entry in
    `proc/self/mounts`, live or under `--root`) and, live, whether this process may create files
    in it (`access(W_OK|X_OK)`) and whether its mode lets other users do so (a tmpfs is `1777`).

    **Why it matters.** Every rank creates files there: NCCL `mkstemp("/dev/shm/nccl-XXXXXX")`
    (NCCL `src/os/linux.cc` ncclOsShmOpen: `Error: failed to create shared memory file …, error
    Permission denied (13)`; before 2.19 `Call to shm_open failed : Permission denied`), torch
    `shm_open` (ATen `MapAllocator.cpp`: `unable to open shared memory object </torch_…> in
    read-write mode: Permission denied (13)`), Python `multiprocessing` semaphores (`sem_open`,
    `PermissionError: [Errno 13]`). A larger size does not help: the directory's permissions do.

    **How to fix.** Give the container its own writable tmpfs at /dev/shm (`shm_size`, which
    Docker mounts with mode 1777), or restore the host's `/dev/shm` to `1777` when it is shared
    with `ipc: host`.
    """
    backend = infer_backend(facts, options)
    ranks = (tp_size(facts, options, backend) or 0) * options.pp
    shm = facts.shm
    if ranks < 2 or shm.present is False:
        return
    ctx = fix_context(shm_size=_suggest_size(ranks))
    if shm.readonly_mount:
        yield make_finding(
            "shm.not-writable",
            f"/dev/shm is mounted read-only; {ranks} ranks must create their shared-memory files in it.",
            [("/dev/shm mount", "ro")],
            context=ctx,
        )
    elif shm.writable is False:
        mode = "" if shm.mode is None else f"mode {shm.mode:04o}"
        yield make_finding(
            "shm.not-writable",
            f"this process cannot create files in /dev/shm{f' ({mode})' if mode else ''}; NCCL, torch and "
            "Python multiprocessing all need to.",
            [("/dev/shm", mode or "not writable")],
            context=ctx,
        )
    elif shm.mode is not None and shm.mode & 0o003 != 0o003:
        yield make_finding(
            "shm.not-writable",
            f"/dev/shm has mode {shm.mode:04o}: only its owner can create files there, so ranks that run "
            "as another user fail (a tmpfs is 1777).",
            [("/dev/shm", f"mode {shm.mode:04o}")],
            context=ctx,
            severity="degraded",
        )
