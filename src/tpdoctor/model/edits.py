"""Typed edits of one container's configuration, attached by the audit rules to their findings.

As ruff attaches a fix to its diagnostic, a deploy rule (rules/deploy_*.py) yields
`Finding(..., edits=(...))`: the edits that remove the cause it reports, in the format-neutral
vocabulary below. `audit --fix` folds the edits of the findings no `# tpdoctor: allow` covers
(deploy/fix.py) and each format's Frontend writes them into the user's own file; `explain
--config` keeps the findings whose rule remedies the diagnosed causes. The policy (what to
change) lives only in the rules; the frontends only know how a format spells it.

Every edit is idempotent: a frontend applies it only where the file does not already say so.
`why` is the line `--fix` prints for it; it takes no part in equality, so the same edit from two
findings is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Kubernetes device-plugin resource per GPU vendor (Intel's i915 plugin, NVIDIA's, AMD's).
K8S_GPU_RESOURCE = {"intel": "gpu.intel.com/i915", "nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}

# Lists of compose keys / docker-run flags (the Kubernetes frontend maps the few it needs).
# "mounts": docker/podman run's --mount values (a dev container's mounts); compose has no such list
ListKey = Literal["devices", "volumes", "mounts", "tmpfs", "group_add", "cap_drop", "security_opt"]
# Scalar settings that a fix switches off: privileged, the host IPC and PID namespaces.
SwitchKey = Literal["privileged", "ipc", "pid"]


@dataclass(frozen=True)
class Edit:
    why: str = field(default="", compare=False, kw_only=True)


@dataclass(frozen=True)
class Unset(Edit):
    """privileged / ipc: host / pid: host off (Kubernetes: securityContext.privileged, hostIPC, hostPID)."""

    key: SwitchKey


@dataclass(frozen=True)
class SetShmSize(Edit):
    """/dev/shm of this size (compose shm_size, --shm-size)."""

    size: str


@dataclass(frozen=True)
class AddItem(Edit):
    key: ListKey
    item: str


@dataclass(frozen=True)
class RemoveItem(Edit):
    """Remove `item` as written, or as Compose interpolates it."""

    key: ListKey
    item: str


@dataclass(frozen=True)
class ReplaceItem(Edit):
    key: ListKey
    old: str
    new: str


@dataclass(frozen=True)
class AddCapability(Edit):
    cap: str  # without CAP_


@dataclass(frozen=True)
class RemoveCapability(Edit):
    """Every spelling of it (sys_admin, CAP_SYS_ADMIN)."""

    cap: str


@dataclass(frozen=True)
class DropAllCapabilities(Edit):
    pass


@dataclass(frozen=True)
class NoNewPrivileges(Edit):
    """security_opt no-new-privileges:true; Kubernetes allowPrivilegeEscalation: false."""


@dataclass(frozen=True)
class DefaultSeccomp(Edit):
    """The runtime's default seccomp profile: seccomp=unconfined removed; Kubernetes
    seccompProfile RuntimeDefault."""


@dataclass(frozen=True)
class ReserveGpus(Edit):
    """GPUs through the runtime: compose deploy reservation, --gpus (docker), CDI devices
    (podman), a device-plugin resource limit (Kubernetes)."""

    vendor: Literal["nvidia", "intel", "amd"]
    count: str  # a number, or "all"


@dataclass(frozen=True)
class CountGpuReservation(Edit):
    """Compose: give an NVIDIA GPU reservation that has neither count nor device_ids `count: all`
    (compose.gpu-reservation-incomplete: Docker Engine >= 27.3 reads it as no GPU)."""


@dataclass(frozen=True)
class SetEnv(Edit):
    name: str
    value: str


@dataclass(frozen=True)
class EmptyDir(Edit):
    """Kubernetes: an emptyDir volume mounted at `target` (medium Memory for /dev/shm)."""

    name: str
    target: str
    medium: str = ""
    size: str = ""


@dataclass(frozen=True)
class RemoveHostPath(Edit):
    """Kubernetes: the hostPath volume mounted at `target`, and its mount."""

    target: str


@dataclass(frozen=True)
class SetEntrypoint(Edit):
    argv: tuple[str, ...]


@dataclass(frozen=True)
class SplitArgument(Edit):
    """An argument-list item that holds a flag and its value as one argument (`"--gpus all"` in
    devcontainer.json's runArgs) replaced by the items the CLI reads (`"--gpus=all"`)."""

    item: str
    replacement: tuple[str, ...]


@dataclass(frozen=True)
class RepairContinuation(Edit):
    """Shell: comments moved above the command, blanks after `\\` removed."""


@dataclass(frozen=True)
class Reindent(Edit):
    """YAML: write the document as re-indented for the analysis (compose.yaml-invalid)."""


@dataclass(frozen=True)
class Manual(Edit):
    """What the fix does not change: printed as `not changed: <why>`."""


@dataclass(frozen=True)
class FixNotice(Edit):
    """No change of its own: marks a finding that only `--fix` reports (what the edits next to
    it mean for the running container); `--fix` shows that finding with its output."""


# The order a fold applies edits in: the order a person would write them (privileged off, the
# devices, the IPC route, the group, /dev/shm, /tmp, confinement back on, drop the rest). Keys
# land in the format's own order anyway; this decides which of two edits of one list or mapping
# comes first (a removal that empties a key before an addition that re-creates it).
_PHASE: dict[type[Edit], float] = {
    Unset: 0,
    ReserveGpus: 1,
    CountGpuReservation: 1,
    RemoveHostPath: 1,
    Reindent: 0,
    RepairContinuation: 0,
    SplitArgument: 0,
    SetShmSize: 4,
    RemoveCapability: 6,
    SetEnv: 6.5,
    AddCapability: 2,
    DefaultSeccomp: 6.9,
    NoNewPrivileges: 7,
    SetEntrypoint: 8,
    DropAllCapabilities: 9,
    Manual: 10,
    FixNotice: 10,
}
_LIST_PHASE: dict[str, float] = {"devices": 1, "volumes": 2, "group_add": 3, "tmpfs": 5, "security_opt": 6}


def phase(e: Edit) -> float:
    if isinstance(e, Unset):
        return 4 if e.key == "ipc" else 0
    if isinstance(e, EmptyDir):
        return 4 if e.target == "/dev/shm" else 5
    if isinstance(e, (AddItem, RemoveItem, ReplaceItem)):
        return _LIST_PHASE.get(e.key, 6)
    return _PHASE[type(e)]


def fold(edits: list[Edit]) -> list[Edit]:
    """One service's edits from all its findings: duplicates once, in application order."""
    return sorted(dict.fromkeys(edits), key=phase)
