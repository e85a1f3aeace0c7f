"""From diagnosed cause ids to the part of the least-privilege plan that fixes them.

`explain --config FILE` reuses audit's machinery: the front-end reads FILE into the
DeploymentModel, `least_privilege` plans the full least-privilege edit of each service, and this
module keeps only the plan steps whose operations touch what the causes need (the by-path mount
or SYS_PTRACE for oneCCL's IPC exchange, device entries, the numeric group, /dev/shm, /tmp).
Unrelated hardening stays out of the patch, except where a service is privileged: replacing
`privileged` is then the point, and that needs the whole plan (it is what `audit --fix` writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tpdoctor.deploy.audit import Loaded, load
from tpdoctor.deploy.fix import FixResult, PlanFilter, fix_loaded
from tpdoctor.deploy.least_privilege import BYPATH_MOUNT, Op, Plan
from tpdoctor.deploy.model import Service
from tpdoctor.model import Facts

# What each cause needs changed in the container's configuration. Causes not listed here (NCCL
# P2P on consumer GPUs, a wrong interface, an OFI provider…) are not fixed by editing the file.
TOPICS: dict[str, frozenset[str]] = {
    # oneCCL's IPC exchange: the drmfd route (by-path read-only + the render nodes) or, with
    # --ipc-exchange pidfd, SYS_PTRACE under the default seccomp profile.
    **dict.fromkeys(
        (
            "oneccl.bypath-missing",
            "oneccl.bypath-no-render-entries",
            "oneccl.bypath-dangling",
            "oneccl.pidfd-unsupported",
            "oneccl.sockets-overridden",
            "oneccl.drmfd-invalid-fd",
        ),
        frozenset({"ipc-exchange", "devices"}),
    ),
    **dict.fromkeys(
        ("oneccl.pidfd-ptrace-denied", "cuda.ipc-pidfd-denied", "rocm.ipc-ptrace-missing"),
        frozenset({"ipc-exchange"}),
    ),
    "oneccl.tmp-unwritable": frozenset({"tmp"}),
    **dict.fromkeys(
        ("device.render-node-missing", "device.kfd-missing", "device.cgroup-denied", "device.no-gpu"),
        frozenset({"devices"}),
    ),
    **dict.fromkeys(
        ("device.group-denied", "device.group-name-unresolved", "userns.gid-unmapped"),
        frozenset({"group"}),
    ),
    "shm.too-small": frozenset({"shm"}),
    "security.privileged": frozenset({"privileged"}),
}


def op_topic(op: Op) -> str:
    """The need one plan operation serves; `hardening` for everything else."""
    kind, fld = op[0], op[1] if len(op) > 1 else ""
    value = op[-1] if len(op) > 1 else ""
    if fld == "privileged":
        return "privileged"
    if fld == "devices" or kind in ("remove_hostpath", "limit"):
        return "devices"
    if (fld == "volumes" and "/dev/dri/by-path" in value) or value == BYPATH_MOUNT:
        return "ipc-exchange"
    if (kind in ("list_add", "cap_add") and value == "SYS_PTRACE") or (
        kind == "env" and fld == "CCL_ZE_IPC_EXCHANGE"
    ):
        return "ipc-exchange"
    if fld == "group_add":
        return "group"
    if fld in ("shm_size", "ipc", "hostIPC") or (kind == "volume" and op[2] == "/dev/shm"):
        return "shm"
    if (fld == "tmpfs" and value == "/tmp") or (kind == "volume" and op[2] == "/tmp"):
        return "tmp"
    return "hardening"


def topics_for(causes: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for c in causes:
        out |= TOPICS.get(c, frozenset())
    return frozenset(out)


def plan_filter(causes: Iterable[str]) -> PlanFilter:
    """A fix_loaded `select` that keeps the plan steps the causes need (all of it when privileged)."""
    wanted = topics_for(causes)

    def select(svc: Service, plan: Plan) -> Plan:
        if svc.privileged and any(op[1] == "privileged" for op in plan.ops):
            return plan  # replacing privileged is the point: the whole least-privilege plan
        kept = Plan(plan.service, cannot=list(plan.cannot))
        for why, ops in plan.steps:
            mine = tuple(op for op in ops if op_topic(op) in wanted)
            if mine:
                kept.add(why, *mine)
        return kept

    return select


@dataclass
class CausePatch:
    loaded: Loaded
    result: FixResult
    causes: list[str]  # the causes the file can fix

    @property
    def changed(self) -> bool:
        return self.result.text != self.loaded.text


def patch_for_causes(
    path: Path,
    causes: Iterable[str],
    facts: Facts | None = None,
    ipc_exchange: str = "drmfd",
    fmt: str | None = None,
) -> CausePatch:
    """Read `path` (compose, docker/podman run, Kubernetes) and patch it for `causes`.

    Bad input raises InputError (one line, exit 2), as in `audit`."""
    causes = list(dict.fromkeys(causes))
    loaded = load(path, fmt)
    fixable = [c for c in causes if c in TOPICS]
    if not fixable:
        return CausePatch(loaded, FixResult(loaded.text), [])
    result = fix_loaded(loaded, facts, ipc_exchange, select=plan_filter(fixable))
    return CausePatch(loaded, result, fixable)
