"""Audit rules: privilege that tensor parallel does not need (privileged, capabilities,
seccomp/AppArmor/SELinux switched off, host namespaces, raw memory devices, missing hardening)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tpdoctor.deploy.analysis import backend, is_gpu, names_gpu_work, ranks_per_container, tp_size
from tpdoctor.deploy.model import SECRET_NAME, Service
from tpdoctor.model import Finding, make_finding
from tpdoctor.model.edits import (
    AddItem,
    DefaultSeccomp,
    Edit,
    Manual,
    RemoveCapability,
    RemoveItem,
    ReserveGpus,
    Unset,
)
from tpdoctor.rules.deploy_common import (
    ev,
    fctx,
    fixes_service,
    group_when_empty,
    hardening_edits,
    k8s_device_hostpaths,
    k8s_gpu_limit,
    render_nodes_for,
)
from tpdoctor.rules.registry import ANY_CAUSE, DeployContext, deploy_rule
from tpdoctor.rules.security import privileged_for


def _workstation(ctx: DeployContext) -> bool:
    """A dev container (unless --strict asks for hardening anyway): a workstation, where sudo
    (refused under no-new-privileges) and apt-get (it drops to the _apt user: SETUID, SETGID,
    CHOWN) must keep working, so no hardening is written or asked for."""
    return ctx.model.format == "devcontainer" and not ctx.extra.get("strict")


def _hardening(svc: Service, ctx: DeployContext) -> list[Edit]:
    return [] if _workstation(ctx) else hardening_edits(svc)


def _unprivileged(svc: Service, ctx: DeployContext) -> list[Edit]:
    """privileged off, and what it stood in for: the GPU nodes (or the NVIDIA reservation),
    the group for them, the hardening."""
    if not fixes_service(svc):
        return []
    if svc.format == "kubernetes":
        edits: list[Edit] = [Unset("privileged", why="privileged removed")]
        return edits + k8s_device_hostpaths(svc) + k8s_gpu_limit(svc) + _hardening(svc, ctx)
    edits = [
        Unset("privileged", why="privileged removed: TP needs only the GPU nodes and (pidfd) SYS_PTRACE")
    ]
    be = backend(svc)
    if be in ("xpu", "rocm") and not svc.render_devices:
        nodes, real = render_nodes_for(svc, ctx.facts)
        if be == "rocm" and not any(d.host == "/dev/kfd" for d in svc.devices):
            edits.append(AddItem("devices", "/dev/kfd", why="ROCm needs /dev/kfd"))
        src = "from host facts" if real else "placeholders: check `ls /dev/dri` or pass --host-facts"
        edits += [AddItem("devices", n, why=f"render nodes mapped ({src})") for n in nodes]
    if be == "cuda" and not svc.gpus:
        n = str(ranks_per_container(svc)) if tp_size(svc) is not None else "all"
        what = f"{n} GPU(s) (TP x PP)" if n != "all" else "all GPUs (no TP size to count them by)"
        why = (
            f"NVIDIA GPU reservation for {what}: privileged mapped the nodes, the NVIDIA runtime "
            "injects them and the driver libraries"
        )
        edits.append(ReserveGpus("nvidia", n, why=why))
    return edits + group_when_empty(svc, ctx.facts) + _hardening(svc, ctx)


# replacing privileged is the point: whatever a log diagnosed, the whole least-privilege edit
@deploy_rule("security.privileged", remedies=(ANY_CAUSE,))
def privileged(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `privileged: true`, `--privileged`, `securityContext.privileged: true`.

    Why it matters: privileged "fixes" the oneCCL opendir error only because it grants CAP_SYS_PTRACE and an
    unconfined seccomp profile, so the pidfd route works; it does not create /dev/dri/by-path.
    It also hands over every host device and disables all confinement.

    How to fix: map exactly the GPUs' device nodes, add the read-only /dev/dri/by-path mount (drmfd
    route, no capability) or `cap_add: [SYS_PTRACE]` (pidfd route), a numeric group_add and a
    shm_size. `tpdoctor audit --fix` writes this.
    """
    if svc.privileged and _node_agent(svc):
        # gwild52: the GPU Operator's driver DaemonSet (image "FILLED BY THE OPERATOR", hostPID, privileged loads the
        # kernel modules): a node agent that names no GPU work; what it needs privileged for is not TP's to judge
        yield make_finding(
            "security.privileged",
            f"{svc.name} runs privileged in a DaemonSet that names no GPU work (no GPU image, device, request or "
            "parallel size): a node agent (a driver installer, a device plugin, a monitor), which tpdoctor cannot "
            "judge; if it runs GPU ranks, give it their GPUs instead and audit again.",
            [ev(svc, ctx, "privileged: true")],
            context=fctx(svc, ctx),
            severity="notice",
            confidence="suggests",
        )
        return
    if svc.privileged:
        extra = " (the explicit devices listed are already enough for GPU access)" if svc.devices else ""
        be = backend(svc)
        # a container that names no GPU work (moby's Docker-in-Docker dev container, gwild52) was told to take
        # Intel's by-path mount instead: say what ranks would need, and that other uses of privileged exist
        instead = (
            _INSTEAD_OF_PRIVILEGED.get(be, _INSTEAD_OF_PRIVILEGED["xpu"])
            if names_gpu_work(svc)
            else "the GPUs its ranks use (it names none: no GPU image, device, request or parallel size; "
            "Docker-in-Docker or a driver installer does need privileged, tensor parallel does not)"
        )
        finding = make_finding(
            "security.privileged",
            f"{svc.name} runs privileged{extra}. Tensor parallel does not need it: replace it with {instead}.",
            [ev(svc, ctx, "privileged: true")],
            context=fctx(svc, ctx),
            edits=_unprivileged(svc, ctx),
        )
        yield privileged_for(finding, be)


def _node_agent(svc: Service) -> bool:
    """A DaemonSet container that names no GPU work: a node agent (a driver installer, a device plugin, a monitor)."""
    return svc.extra.get("pod", "").startswith("DaemonSet/") and not names_gpu_work(svc)


# what each vendor's ranks need instead of privileged (the remedies in data/fixes/security.yaml)
_INSTEAD_OF_PRIVILEGED = {
    "cuda": "a GPU request (--gpus, a device reservation, nvidia.com/gpu: the NVIDIA Container Toolkit maps "
    "the nodes and the driver libraries) and a shm_size",
    "rocm": "/dev/kfd and the render nodes, a numeric render group_add, SYS_PTRACE for RCCL's peer IPC and a "
    "shm_size",
    "xpu": "the GPU device nodes, the read-only /dev/dri/by-path mount (drmfd) or SYS_PTRACE (pidfd), "
    "a numeric group_add and a shm_size",
}


def _no_gpu(svc: Service) -> dict[str, str]:
    """A service with no GPU (a vector database, a proxy beside the GPU services) is outside what tensor parallel
    needs: its weakened confinement is said as a notice (gwild54: the CPU Milvus of an NVIDIA example's compose file
    was told, degraded, that "Tensor parallel does not need" its seccomp=unconfined)."""
    return {} if is_gpu(svc) else {"severity": "notice", "confidence": "suggests"}


@deploy_rule("audit.cap-sys-admin")
def sys_admin(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: CAP_SYS_ADMIN in cap_add / --cap-add / capabilities.add.

    Why it matters: no GPU serving path (Level Zero, CUDA, ROCm, oneCCL, NCCL, RCCL) needs SYS_ADMIN; it
    allows mounts, namespace escapes and most of what privileged allows.

    How to fix: remove it. Tensor parallel needs at most SYS_PTRACE (pidfd IPC route).
    """
    if "SYS_ADMIN" in svc.caps_added:
        yield make_finding(
            "audit.cap-sys-admin",
            f"{svc.name} adds SYS_ADMIN. Tensor parallel does not need it; remove it (at most SYS_PTRACE "
            "for the pidfd route).",
            [ev(svc, ctx, "cap_add: SYS_ADMIN")],
            edits=[RemoveCapability("SYS_ADMIN", why="SYS_ADMIN removed")] if fixes_service(svc) else [],
            **_no_gpu(svc),  # type: ignore[arg-type]
        )


@deploy_rule("audit.seccomp-unconfined")
def seccomp_unconfined(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `seccomp=unconfined` / `seccompProfile: Unconfined`.

    Why it matters: Docker's and containerd's default profiles already allow pidfd_getfd, ptrace and
    process_vm_* once CAP_SYS_PTRACE is added; unconfined removes every syscall filter.

    How to fix: drop the option (keep the default profile) and add SYS_PTRACE only if the pidfd route is used.
    """
    if (svc.security.seccomp or "").lower() == "unconfined":
        has_ptrace = "SYS_PTRACE" in svc.caps_added
        why = (
            "SYS_PTRACE is already added, and the default profile then allows pidfd_getfd/ptrace"
            if has_ptrace
            else "add SYS_PTRACE instead if the pidfd route is needed"
        )
        yield make_finding(
            "audit.seccomp-unconfined",
            f"{svc.name} disables seccomp. Tensor parallel does not need that: {why}; keep the default profile.",
            [ev(svc, ctx, "seccomp=unconfined")],
            edits=_default_seccomp(svc),
            **_no_gpu(svc),  # type: ignore[arg-type]
        )


def _default_seccomp(svc: Service) -> list[Edit]:
    if not fixes_service(svc):
        return []
    if svc.format == "kubernetes":
        return [DefaultSeccomp(why="seccompProfile RuntimeDefault")]
    if svc.security.seccomp != "unconfined":
        return []  # "Unconfined" as spelled by hand: left to the user
    return [DefaultSeccomp(why="seccomp=unconfined removed: the default profile is enough")]


def _security_opt_off(svc: Service, key: str, value: str, why: str) -> list[Edit]:
    """Both spellings of a security_opt (key=value, key:value) removed; not a Kubernetes field."""
    if not fixes_service(svc) or svc.format == "kubernetes":
        return []
    return [RemoveItem("security_opt", f"{key}{sep}{value}", why=why) for sep in ("=", ":")]


@deploy_rule("audit.selinux-label-disabled", "lsm.selinux-device-denied")
def selinux(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `label=disable` / `label:disable` / seLinuxOptions type spc_t; and, with host
    facts from an enforcing SELinux host, gives the container_use_devices advice.

    Why it matters: disabling labels removes SELinux separation for the whole container; GPU access needs
    only the container_use_devices (or container_use_dri_devices) boolean on the host.

    How to fix: `setsebool -P container_use_devices 1` on the host and drop the option.
    """
    if any(lbl in ("disable", "type:spc_t") for lbl in svc.security.label):
        yield make_finding(
            "audit.selinux-label-disabled",
            f"{svc.name} disables SELinux separation. Tensor parallel does not need it: enable the host "
            "boolean container_use_devices (setsebool -P container_use_devices 1) instead.",
            [ev(svc, ctx, "label=" + ",".join(svc.security.label))],
            edits=_security_opt_off(
                svc, "label", "disable", "label=disable removed (host: setsebool -P container_use_devices 1)"
            )
            if "disable" in svc.security.label
            else [],
            **_no_gpu(svc),  # type: ignore[arg-type]
        )
    elif ctx.facts is not None and ctx.facts.lsm.selinux_enforce == 1 and is_gpu(svc):
        yield make_finding(
            "lsm.selinux-device-denied",
            f"The host enforces SELinux: {svc.name} needs `setsebool -P container_use_devices 1` "
            "(or the container_use_dri_devices tunable) to open GPU nodes; no label=disable needed.",
            [ev(svc, ctx, "host SELinux enforcing")],
            severity="notice",
            confidence="suggests",
        )


@deploy_rule("audit.apparmor-unconfined", "lsm.apparmor-ptrace-denied")
def apparmor(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `apparmor=unconfined` / AppArmor Unconfined; on AppArmor hosts with the
    pidfd route (SYS_PTRACE), notes the peer ptrace rule that route needs.

    Why it matters: docker-default grants `file,` (mapped device nodes work) and, with parser >= 2.8.95,
    `ptrace peer=docker-default`, so ranks inside one container pass the AppArmor check.

    How to fix: keep docker-default; custom profiles need `ptrace (trace,read,tracedby,readby) peer=<self>`.
    """
    if (svc.security.apparmor or "").lower() == "unconfined":
        yield make_finding(
            "audit.apparmor-unconfined",
            f"{svc.name} runs AppArmor-unconfined. Tensor parallel does not need it: docker-default "
            "already allows mapped GPU nodes and ptrace between ranks of one container.",
            [ev(svc, ctx, "apparmor=unconfined")],
            edits=_security_opt_off(
                svc, "apparmor", "unconfined", "apparmor=unconfined removed: the default profile is enough"
            )
            if svc.security.apparmor == "unconfined"
            else [],
            **_no_gpu(svc),  # type: ignore[arg-type]
        )
    elif (
        ctx.facts is not None
        and ctx.facts.lsm.apparmor_profile
        and "SYS_PTRACE" in svc.caps_added
        and ctx.facts.lsm.apparmor_profile != "unconfined"
    ):
        yield make_finding(
            "lsm.apparmor-ptrace-denied",
            f"AppArmor host: the pidfd route of {svc.name} needs a profile with a ptrace rule between peers "
            "(docker-default has it with AppArmor parser >= 2.8.95; custom profiles must add it).",
            [ev(svc, ctx, f"host AppArmor profile {ctx.facts.lsm.apparmor_profile}")],
            severity="notice",
            confidence="suggests",
        )


_RAW_MEM = {"/dev/mem", "/dev/kmem", "/dev/port"}


@deploy_rule("audit.host-memory-device")
def host_memory(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: /dev/mem, /dev/kmem or /dev/port mapped into the container.

    Why it matters: they expose host physical memory and I/O ports; no GPU runtime opens them.

    How to fix: remove the device entry.
    """
    for d in svc.devices:
        if d.host in _RAW_MEM or d.container in _RAW_MEM:
            yield make_finding(
                "audit.host-memory-device",
                f"{svc.name} maps {d.host}. Tensor parallel does not need it: remove the entry.",
                [ev(svc, ctx, f"device {d.raw or d.host}")],
                edits=[RemoveItem("devices", d.raw, why=f"{d.host} removed: raw host memory")]
                if fixes_service(svc) and d.host in _RAW_MEM and svc.format != "kubernetes"
                else [],
            )


_CHMOD = re.compile(r"chmod\s+(-R\s+)?(0?666|0?777|a\+rw|o\+rw)\s+/dev/(dri|nvidia|kfd)")


@deploy_rule("audit.chmod-666-devices")
def chmod_666(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a command that chmods /dev/dri, /dev/nvidia* or /dev/kfd world-writable.

    Why it matters: it opens the GPU to every user of the host (or container) and hides the real problem,
    a missing render group; it also does not survive a reboot or udev event.

    How to fix: `group_add` with the numeric host render GID (Podman rootless: --group-add keep-groups).
    """
    text = " ".join([*svc.entrypoint, *svc.command, *svc.env.values()])
    m = _CHMOD.search(text)
    if m:
        yield make_finding(
            "audit.chmod-666-devices",
            f"{svc.name} runs `{m.group(0)}`. Tensor parallel does not need world-writable nodes: add the "
            "numeric render GID with group_add instead.",
            [ev(svc, ctx, m.group(0))],
            context=fctx(svc, ctx),
        )


@deploy_rule("audit.pid-host-with-ptrace")
def pid_host_ptrace(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: SYS_PTRACE together with `pid: host` / hostPID.

    Why it matters: SYS_PTRACE allows ptrace of any process in the container's PID namespace; with the
    host's namespace that is every host process. The pidfd route needs only the ranks' namespace.

    How to fix: remove `pid: host`; keep all ranks in one container.
    """
    if svc.pid == "host" and ("SYS_PTRACE" in svc.caps_added or svc.privileged):
        gpu = not _node_agent(svc)
        yield make_finding(
            "audit.pid-host-with-ptrace",
            f"{svc.name} combines SYS_PTRACE with the host PID namespace. Tensor parallel does not need "
            "pid: host: ranks of one container already share a PID namespace."
            + ("" if gpu else " It is a node agent (a DaemonSet naming no GPU work): what it needs that for is not TP's."),
            [ev(svc, ctx, "pid: host + SYS_PTRACE")],
            severity=None if gpu else "notice",
            edits=[Unset("pid", why="hostPID removed")]
            if gpu and fixes_service(svc) and svc.format == "kubernetes"
            else [],
        )


@deploy_rule("audit.network-host-unneeded")
def network_host(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `network_mode: host` / `--net=host` / hostNetwork on a GPU service.

    Why it matters: single-node tensor parallel talks over /dev/shm, UNIX sockets and loopback inside the
    container; publishing the API port is enough. Multi-node (Ray, NCCL over the network) is the
    case where host networking or explicit interfaces are needed.

    How to fix: publish the port (`ports: ["8000:8000"]`); for multi-node, keep host networking or set
    NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME / VLLM_HOST_IP.
    """
    if svc.network == "host" and is_gpu(svc):
        yield make_finding(
            "audit.network-host-unneeded",
            f"{svc.name} uses the host network. Single-node tensor parallel does not need it: publish the "
            "API port instead (keep it only for multi-node ranks).",
            [ev(svc, ctx, "network: host")],
            edits=[
                Manual(
                    why="hostNetwork kept: remove it yourself unless ranks span nodes (baseline forbids it)"
                )
            ]
            if svc.format == "kubernetes"
            else [],
        )


@deploy_rule("audit.memlock-unneeded")
def memlock(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `ulimits: memlock: -1` (or IPC_LOCK) without /dev/infiniband mapped.

    Why it matters: unlimited locked memory and IPC_LOCK matter only for RDMA registration (GPUDirect RDMA,
    NCCL over IB/RoCE); without an RDMA device they only widen what the container may pin.

    How to fix: remove them, or map /dev/infiniband if multi-node RDMA is really used.
    """
    rdma = any(d.host.startswith("/dev/infiniband") for d in svc.devices)
    ml = svc.ulimits.get("memlock")
    if not rdma and (ml in ("-1", "unlimited") or "IPC_LOCK" in svc.caps_added):
        what = "memlock -1" if ml in ("-1", "unlimited") else "IPC_LOCK"
        yield make_finding(
            "audit.memlock-unneeded",
            f"{svc.name} sets {what} but maps no RDMA device. Tensor parallel in one node does not need it.",
            [ev(svc, ctx, what)],
        )


@deploy_rule("audit.hardening-missing")
def hardening(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks (Kubernetes containers; compose/docker only when asked for with --strict):
    allowPrivilegeEscalation false, capabilities drop ALL, seccompProfile RuntimeDefault.

    Why it matters: none of vLLM, SGLang, ipex-llm, NCCL or oneCCL needs setuid, the default capability set or an
    unconfined seccomp profile (the kubelet's default is Unconfined unless seccompDefault is on).

    How to fix: set them in the container securityContext (see `tpdoctor audit --fix`). A devcontainer.json is
    left without them (only --strict reports them): a development container runs sudo and apt-get.
    """
    if svc.format != "kubernetes" and not (ctx.extra.get("strict") or ctx.extra.get("fixing")):
        return  # (`audit --fix` writes the hardening, so it audits for it)
    if _workstation(ctx):
        return
    if svc.privileged:
        return
    missing = []
    if svc.security.allow_privilege_escalation is not False and not svc.security.no_new_privileges:
        missing.append(
            "allowPrivilegeEscalation: false" if svc.format == "kubernetes" else "no-new-privileges"
        )
    if "ALL" not in svc.caps_dropped:
        missing.append("capabilities drop ALL")
    if svc.security.seccomp == "k8s-unset":
        missing.append("seccompProfile RuntimeDefault")
    if missing and is_gpu(svc):
        yield make_finding(
            "audit.hardening-missing",
            f"{svc.name} sets no {', '.join(missing)}. Tensor parallel needs none of what they remove.",
            [ev(svc, ctx, "securityContext: " + ", ".join(missing) + " missing")],
            edits=hardening_edits(svc) if fixes_service(svc) else [],
        )


@deploy_rule("audit.secret-inline")
def secret_inline(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: environment variables named like secrets (TOKEN, SECRET, PASSWORD, API_KEY...)
    with a literal value in the file (not `${VAR}`, an env file or a Kubernetes secretKeyRef).

    Why it matters: the file ends up in repositories, CI logs and `docker inspect` output.

    How to fix: `HF_TOKEN: ${HF_TOKEN}` (compose), `-e HF_TOKEN` (docker run), `valueFrom.secretKeyRef` (k8s).
    """
    for k, v in svc.env.items():
        if SECRET_NAME.search(k) and v and not re.fullmatch(r"\$\{?\w+(:?-[^}]*)?\}?", v):
            yield make_finding(
                "audit.secret-inline",
                f"{svc.name} writes {k} inline. Pass it from the environment or a secret (value not shown).",
                [ev(svc, ctx, f"{k}=<redacted>")],
            )


@deploy_rule("audit.allow-without-reason")
def allow_problems(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `# tpdoctor: allow <cause>` comments or tpdoctor.io/allow annotations
    without `reason=`.

    Why it matters: exceptions are per object and justified; an allow without a reason is ignored.

    How to fix: `# tpdoctor: allow security.privileged reason=<why this container needs it>`.
    """
    for p in svc.notes:
        if "needs reason=" in p:
            yield make_finding("audit.allow-without-reason", f"{svc.name}: {p}", [ev(svc, ctx, p)])
