"""RDMA (InfiniBand / RoCE, GPUDirect) rules. Sources: research/failures.md #27-#28, §5;
vLLM docs "Enabling GPUDirect RDMA"; NCCL docs (`--ulimit memlock=-1`)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.facts.caps import has_cap
from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.rules.gpus import dev_listed, env_flag
from tpdoctor.rules.registry import fact_rule

GiB = 1 << 30
# Docker's default memlock is 64 KiB (8 MiB on newer engines); ibv_reg_mr pins host buffers far larger.
MEMLOCK_MIN = GiB
_RDMA_PROVIDERS = ("verbs", "efa", "psm3", "cxi", "opx")


def ib_nodes(facts: Facts) -> list[str]:
    return [n.path for n in facts.nodes_under("/dev/infiniband/") if n.kind == "char"]


def rdma_requested(facts: Facts) -> list[tuple[str, str]]:
    """Environment that asks for RDMA, as evidence (empty when nothing does)."""
    env = facts.env
    ev = [(k, env[k]) for k in ("NCCL_IB_HCA", "UCX_NET_DEVICES", "NCCL_NET_GDR_LEVEL") if env.get(k)]
    if env.get("NCCL_NET", "").upper() == "IB":
        ev.append(("NCCL_NET", env["NCCL_NET"]))
    if any(p in env.get("FI_PROVIDER", "").lower() for p in _RDMA_PROVIDERS):
        ev.append(("FI_PROVIDER", env["FI_PROVIDER"]))
    return ev


def rdma_in_use(facts: Facts) -> bool:
    if env_flag(facts, "NCCL_IB_DISABLE"):
        return False
    return bool(ib_nodes(facts) or rdma_requested(facts))


def _memlock_low(facts: Facts) -> bool:
    soft = facts.limits.memlock_soft
    return soft is not None and soft != -1 and soft < MEMLOCK_MIN


@fact_rule("rdma.ib-device-missing")
def ib_devices(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """/dev/infiniband is mapped when RDMA is configured.

    **What it checks.** When the environment asks for RDMA (`NCCL_IB_HCA`, `NCCL_NET=IB`,
    `UCX_NET_DEVICES`, `FI_PROVIDER=verbs|efa|psm3|cxi`) and `NCCL_IB_DISABLE` is not 1, that
    `/dev/infiniband/uverbs*` nodes are present.

    **Why it matters.** Without them NCCL silently falls back to TCP sockets across nodes
    (failures.md #27): correct but much slower.

    **How to fix.** `--device /dev/infiniband` (compose `devices:`), or the RDMA device plugin
    on Kubernetes; or set `NCCL_IB_DISABLE=1` to say sockets are intended.
    """
    if not dev_listed(facts) or env_flag(facts, "NCCL_IB_DISABLE"):
        return
    asked = rdma_requested(facts)
    if not asked or ib_nodes(facts):
        return
    yield make_finding(
        "rdma.ib-device-missing",
        "RDMA is configured but no /dev/infiniband/uverbs* node is in the container.",
        [*asked, ("/dev/infiniband", "no uverbs node")],
    )


@fact_rule("rdma.memlock-too-low")
def memlock(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """RLIMIT_MEMLOCK allows RDMA memory registration.

    **What it checks.** With RDMA in use (`/dev/infiniband` nodes or RDMA environment, and
    `NCCL_IB_DISABLE` not 1): the soft memlock limit is unlimited or at least 1 GiB, unless the
    process has CAP_IPC_LOCK (which lifts the limit for registration).

    **Why it matters.** `NCCL WARN Call to ibv_reg_mr failed with error Cannot allocate memory`
    (failures.md #28; nccl-tests#206): Docker's default memlock is 64 KiB (8 MiB on newer
    engines).

    **How to fix.** `ulimits: {memlock: {soft: -1, hard: -1}}` (docker `--ulimit memlock=-1`);
    or CAP_IPC_LOCK.
    """
    if not rdma_in_use(facts) or not _memlock_low(facts) or has_cap(facts, "IPC_LOCK"):
        return
    yield make_finding(
        "rdma.memlock-too-low",
        f"RLIMIT_MEMLOCK is {facts.limits.memlock_soft} bytes; RDMA registration needs it unlimited.",
        [("RLIMIT_MEMLOCK", f"soft={facts.limits.memlock_soft} hard={facts.limits.memlock_hard}")],
        related=["rdma.ipc-lock-missing"],
    )


@fact_rule("rdma.ipc-lock-missing")
def ipc_lock(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """CAP_IPC_LOCK is present for GPUDirect RDMA.

    **What it checks.** With RDMA in use, CAP_IPC_LOCK in the effective set, unless memlock is
    already unlimited.

    **Why it matters.** vLLM: `NCCL error: unhandled system error` during `ncclCommInitRank`
    "possibly due to a missing IPC_LOCK linux capability" (failures.md #27).

    **How to fix.** `cap_add: [IPC_LOCK]` plus `ulimits: memlock: -1`; on Kubernetes
    `securityContext.capabilities.add: ["IPC_LOCK"]`.
    """
    if not rdma_in_use(facts) or has_cap(facts, "IPC_LOCK") is not False:
        return
    if facts.limits.memlock_soft == -1:
        return
    yield make_finding(
        "rdma.ipc-lock-missing",
        "RDMA is in use and the process lacks CAP_IPC_LOCK with a limited memlock.",
        [("/proc/self/status CapEff", f"{facts.process.cap_eff or 0:016x} (IPC_LOCK absent)")],
        related=["rdma.memlock-too-low"],
    )
