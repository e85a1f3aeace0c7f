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
