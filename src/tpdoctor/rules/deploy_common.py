"""Helpers shared by the deploy_* rule modules: evidence and fix context for one service, and
the edits more than one rule attaches (the render nodes, the numeric group, the hardening).

The least-privilege policy is here and in the rules, once: `audit --fix` applies the edits
the findings carry (model/edits.py) and knows nothing about why.
"""

from __future__ import annotations

from tpdoctor.deploy.analysis import (
    backend,
    device_plugin,
    facts_kfd_gid,
    facts_render_gid,
    facts_render_nodes,
    image_repo,
    is_gpu,
    ranks_per_container,
    tp_size,
    visible_gpus,
)
from tpdoctor.deploy.model import Service
from tpdoctor.model import Evidence, Facts, Finding, make_finding
from tpdoctor.model.edits import (
    K8S_GPU_RESOURCE,
    AddItem,
    DefaultSeccomp,
    DropAllCapabilities,
    Edit,
    FixNotice,
    NoNewPrivileges,
    RemoveHostPath,
    ReserveGpus,
)
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.registry import DeployContext

SHM_MIN = 1024**3  # below this NCCL/vLLM/Ray fail at TP>1 (Docker's default is 64 MiB)
SHM_DEFAULT = "16g"  # what a fix gives /dev/shm
BYPATH_MOUNT = "/dev/dri/by-path:/dev/dri/by-path:ro"
RENDER_GID_PLACEHOLDER = "${RENDER_GID:?set RENDER_GID to the host render GID, getent group render}"
VIDEO_GID_PLACEHOLDER = (
    "${VIDEO_GID:?set VIDEO_GID to the GID that owns /dev/kfd on the host, stat -c %g /dev/kfd}"
)
_VENDOR = {"xpu": "intel", "cuda": "nvidia", "rocm": "amd"}


def ev(svc: Service, ctx: DeployContext, text: str, line: int | None = None) -> Evidence:
    if line is None and svc.lines:  # the setting's own line, where the format knows it
        # the longest word the evidence names wins: `/dev/dri/by-path` before `/dev/dri`
        hits = [word for word in svc.lines if word in text]
        line = svc.lines[max(hits, key=len)] if hits else None
    return Evidence(source=ctx.model.source, line=line or svc.line, text=f"{svc.name}: {text}")


def fix_notice(
    svc: Service, ctx: DeployContext, cause: str, message: str, evidence: str, edits: list[Edit]
) -> Finding:
    """A notice only `--fix` reports, for edits it makes where nothing is wrong as written (the
    fix's own hardening, oneCCL's route pinned): shown with the fix's output (FixResult.notices)."""
    return make_finding(
        cause,
        f"{svc.name}: {message}",
        [ev(svc, ctx, evidence)],
        severity="notice",
        confidence="suggests",
        edits=[*edits, FixNotice(why=message)],
    )


def fctx(svc: Service, ctx: DeployContext) -> dict[str, str]:
    nodes = facts_render_nodes(ctx.facts) or None
    return fix_context(
        render_nodes=nodes,
        render_gid=facts_render_gid(ctx.facts),
        gpu_count=visible_gpus(svc) or (len(nodes) if nodes else None),
    )


def fixes_service(svc: Service) -> bool:
    """The least-privilege fix rewrites GPU containers only, and not a GPU device plugin (it lists the GPUs for the
    kubelet: gwild52)."""
    return is_gpu(svc) and not device_plugin(svc)


def render_nodes_for(svc: Service, facts: Facts | None) -> tuple[list[str], bool]:
    """Render nodes to map, and whether they came from host facts (else placeholders, one per
    rank of the container, or per visible GPU, at least 2)."""
    nodes = facts_render_nodes(facts)
    if nodes:
        return nodes, True
    n = ranks_per_container(svc) or 1
    n = n if tp_size(svc) is not None else max(n, visible_gpus(svc) or 2)
    return [f"/dev/dri/renderD{128 + i}" for i in range(n)], False


def render_gid(facts: Facts | None) -> str:
    gid = facts_render_gid(facts)
    return str(gid) if gid is not None else RENDER_GID_PLACEHOLDER


def kfd_gid(svc: Service, facts: Facts | None) -> str | None:
    """ROCm: the GID of /dev/kfd when it differs from render's (video on older distributions)."""
    if backend(svc) != "rocm":
        return None
    if facts is None:
        return VIDEO_GID_PLACEHOLDER
    kg, gid = facts_kfd_gid(facts), facts_render_gid(facts)
    return str(kg) if kg is not None and kg != gid else None


def group_when_empty(svc: Service, facts: Facts | None) -> list[Edit]:
    """No group_add on an Intel/AMD GPU container: the numeric render GID (and /dev/kfd's)."""
    if svc.group_add or backend(svc) not in ("xpu", "rocm") or svc.format == "kubernetes":
        return []  # (Kubernetes: the device plugin's nodes need no supplementalGroups)
    if svc.format == "podman":
        # rootless Podman maps only the caller's own IDs: a host GID is not in the container's
        # user namespace, the caller's render (and video) group is kept with keep-groups (crun;
        # podman-run(1) --group-add). Rootful, root owns the root:render nodes anyway.
        why = "keep-groups: Podman keeps the caller's render group (rootless: a numeric GID is not mapped)"
        return [AddItem("group_add", "keep-groups", why=why)]
    want = render_gid(facts)
    out: list[Edit] = [
        AddItem("group_add", want, why="numeric render GID added (cap_drop ALL removes root's DAC_OVERRIDE)")
    ]
    kfd = kfd_gid(svc, facts)
    if kfd is not None and kfd != want:
        out.append(AddItem("group_add", kfd, why="numeric /dev/kfd (video) GID added"))
    return out


def hardening_edits(svc: Service) -> list[Edit]:
    """What none of the serving stacks needs, switched off: setuid (no-new-privileges /
    allowPrivilegeEscalation false), every capability, an unset seccomp profile (Kubernetes)."""
    out: list[Edit] = []
    k8s = svc.format == "kubernetes"
    if k8s and svc.security.seccomp == "k8s-unset":
        out.append(DefaultSeccomp(why="seccompProfile RuntimeDefault"))
    if k8s and svc.security.allow_privilege_escalation is not False:
        out.append(NoNewPrivileges(why="allowPrivilegeEscalation: false"))
    if not k8s and not svc.security.no_new_privileges:
        out.append(NoNewPrivileges(why="no-new-privileges"))
    if "ALL" not in svc.caps_dropped and not switches_user_itself(svc):
        why = "capabilities drop ALL" if k8s else "cap_drop ALL; only what TP needs is added back"
        out.append(DropAllCapabilities(why=why))
    return out


def switches_user_itself(svc: Service) -> bool:
    """The image starts as root and its init drops to an unprivileged user itself: linuxserver.io's images (s6-overlay
    runs the service as `abc`; linuxserver/ffmpeg's wrapper runs `groupmod`/`usermod` and `s6-setuidgid abc`), which
    need CHOWN, SETUID and SETGID: `cap_drop: [ALL]` stops them before the workload starts (gwild54)."""
    repo = image_repo(svc.image)
    return repo.startswith("linuxserver/") or "/linuxserver/" in repo


def k8s_gpu_limit(svc: Service) -> list[Edit]:
    """A Kubernetes container's GPUs from the device plugin, TP x PP / nodes of them."""
    vendor = _VENDOR.get(backend(svc))
    if vendor is None or any(g.via in ("k8s-resource", "dra") for g in svc.gpus):
        return []
    n = max(ranks_per_container(svc) or 1, 1)
    why = f"{K8S_GPU_RESOURCE[vendor]}: {n} from the device plugin (no hostPath, by-path mounted by the Intel plugin)"
    return [ReserveGpus(vendor, str(n), why=why)]  # type: ignore[arg-type]


def k8s_device_hostpaths(svc: Service) -> list[Edit]:
    """hostPath mounts of /dev paths: the device plugin provides the nodes (and by-path)."""
    return [
        RemoveHostPath(m.target, why=f"hostPath {m.source} removed: the device plugin provides the nodes")
        for m in svc.mounts
        if m.kind == "hostPath" and m.source.startswith("/dev")
    ]
