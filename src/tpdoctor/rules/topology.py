"""Comparing snapshots from several containers: are the ranks of one TP group together?

`tpdoctor check --compare A.json B.json` reads each snapshot (`check --snapshot`,
facts/snapshot.py) and these pure functions compare namespace identities. Sources: research/failures.md #10, #34, #35; NCCL `src/graph/paths.cc`
(hostHash = hostname + boot_id), `src/transport/shm.cc` (/dev/shm st_dev), vLLM troubleshooting.
"""

from __future__ import annotations

from collections.abc import Sequence

from tpdoctor.errors import UsageError
from tpdoctor.model import Facts, Finding, Report, make_finding
from tpdoctor.rules.registry import compare_rule, run_compare_rules

# What NCCL, oneCCL and PyTorch need to be equal for in-node fd passing, P2P and SHM.
IDENTITIES = ("pid", "ipc", "net", "uts", "hostname", "shm_dev")


def _differences(a: Facts, b: Facts) -> list[tuple[str, str, str]]:
    out = []
    for key in IDENTITIES:
        va, vb = getattr(a.namespaces, key), getattr(b.namespaces, key)
        if va is not None and vb is not None and va != vb:
            out.append((key, str(va), str(vb)))
    return out


@compare_rule("topology.ranks-split-across-containers", "nccl.cumem-mismatch")
def compare_facts(a: Facts, b: Facts, names: tuple[str, str] = ("A", "B")) -> list[Finding]:
    """Findings about two snapshots meant to be ranks of one tensor-parallel group.

    **What it checks.** Two snapshots taken on the same machine (same `boot_id`): their PID,
    IPC, network and UTS namespaces, hostname and the `st_dev` of /dev/shm must be equal, or the
    ranks are split across containers. Also `NCCL_CUMEM_ENABLE`, which must be the same in every
    process of one communicator (`nccl.cumem-mismatch`).

    **Why it matters.** NCCL treats separate containers as separate nodes (hostHash from hostname
    and boot_id, /dev/shm st_dev for SHM), cuMem fds travel over abstract sockets scoped to the
    network namespace (`cuMemImportFromShareableHandle … 101`, nvidia/nccl#1647), oneCCL's pidfd
    exchange fails with `pidfd_open … No such process` across PID namespaces (failures.md #10,
    #34). A differing `NCCL_CUMEM_ENABLE` hangs or crashes the group (#35).

    **How to fix.** Run all TP ranks of a replica in one container/pod. If they must be split,
    share `ipc`, `pid`, `network` and `uts` namespaces deliberately (`ipc: container:<name>`,
    `network_mode: service:<name>`) and accept network transport; set `NCCL_CUMEM_ENABLE`
    identically everywhere.
    """
    findings: list[Finding] = []
    boot_a, boot_b = a.namespaces.boot_id, b.namespaces.boot_id
    same_host = boot_a is not None and boot_a == boot_b
    diffs = _differences(a, b)
    if same_host and diffs:
        evidence = [(f"{key}", f"{names[0]}={va} {names[1]}={vb}") for key, va, vb in diffs]
        evidence.append(("boot_id", f"{boot_a} (same machine)"))
        findings.append(
            make_finding(
                "topology.ranks-split-across-containers",
                f"{names[0]} and {names[1]} run on one machine but in different "
                f"{', '.join(k for k, _, _ in diffs)} namespace(s)/identities.",
                evidence,
            )
        )
    cu_a, cu_b = a.env.get("NCCL_CUMEM_ENABLE"), b.env.get("NCCL_CUMEM_ENABLE")
    if cu_a != cu_b and (cu_a is not None or cu_b is not None):
        findings.append(
            make_finding(
                "nccl.cumem-mismatch",
                f"NCCL_CUMEM_ENABLE is {cu_a or 'unset'} in {names[0]} and {cu_b or 'unset'} in {names[1]}.",
                [(f"{names[0]} NCCL_CUMEM_ENABLE", str(cu_a)), (f"{names[1]} NCCL_CUMEM_ENABLE", str(cu_b))],
                confidence="suggests" if None in (cu_a, cu_b) else "proves",
            )
        )
    return findings


def compare_snapshots(snapshots: Sequence[tuple[str, Facts]]) -> Report:
    """Every compare rule on each snapshot against the first (`check --compare A.json B.json ...`)."""
    if len(snapshots) < 2:
        raise UsageError("--compare needs at least two snapshots")
    (first_name, first), rest = snapshots[0], snapshots[1:]
    findings: list[Finding] = []
    for name, snap in rest:
        findings.extend(run_compare_rules(first, snap, (first_name, name)))
    report = Report(command="check --compare", findings=findings)
    report.notes.append(f"compared {len(snapshots)} snapshots against {first_name}")
    boot = first.namespaces.boot_id
    if any(s.namespaces.boot_id and s.namespaces.boot_id != boot for _, s in rest):
        report.notes.append(
            "some snapshots come from other machines (boot_id differs): multi-node, not compared"
        )
    return report
