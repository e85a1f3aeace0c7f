"""The least-privilege transformation: a plan of small edits per service.

Plans are format-neutral operations for compose/docker/podman (`("unset", field)`,
`("set", field, value)`, `("list_add"|"list_remove", field, item)`,
`("list_replace", field, old, new)`, `("gpu_reservation", driver, count|"all")`) and
Kubernetes-specific ones (see
kubernetes.apply_k8s_ops). Each front-end applies them to the user's own file, so only what
the plan touches changes. A plan computed on an already fixed file is empty (idempotence).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from tpdoctor.deploy.analysis import (
    backend,
    facts_kfd_gid,
    facts_render_gid,
    facts_render_nodes,
    is_gpu,
    ranks_per_container,
    tp_size,
    visible_gpus,
)
from tpdoctor.deploy.images import missing_oneapi, sourcing_entrypoint
from tpdoctor.deploy.model import Service
from tpdoctor.model import Facts

BYPATH_MOUNT = "/dev/dri/by-path:/dev/dri/by-path:ro"
SHM_DEFAULT = "16g"
SHM_MIN = 1024**3
RENDER_GID_PLACEHOLDER = "${RENDER_GID:?set RENDER_GID to the host render GID, getent group render}"
VIDEO_GID_PLACEHOLDER = (
    "${VIDEO_GID:?set VIDEO_GID to the GID that owns /dev/kfd on the host, stat -c %g /dev/kfd}"
)
RAW_MEM = ("/dev/mem", "/dev/kmem", "/dev/port")

Op = tuple[str, ...]


@dataclass
class Plan:
    service: str
    ops: list[Op] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)
    steps: list[tuple[str, tuple[Op, ...]]] = field(default_factory=list)  # (why, its ops), in order

    def add(self, why: str, *ops: Op) -> None:
        self.ops.extend(ops)
        self.why.append(why)
        self.steps.append((why, ops))


def gpu_count_for(svc: Service, facts: Facts | None) -> int:
    tp = tp_size(svc)
    n = ranks_per_container(svc) or 1
    return n if tp is not None else max(n, visible_gpus(svc) or 2)


def render_nodes_for(svc: Service, facts: Facts | None) -> tuple[list[str], bool]:
    """Render nodes to map, and whether they came from host facts (else placeholders)."""
    nodes = facts_render_nodes(facts)
    if nodes:
        return nodes, True
    n = gpu_count_for(svc, facts)
    return [f"/dev/dri/renderD{128 + i}" for i in range(n)], False


def plan_service(svc: Service, facts: Facts | None, ipc_exchange: str = "drmfd") -> Plan:
    """Plan for a compose service or a docker/podman run."""
    p = Plan(svc.name)
    if not is_gpu(svc):
        return p
    allowed = set(svc.allows)
    be = backend(svc)
    caps = svc.caps_added
    pidfd = ipc_exchange == "pidfd" or (
        "SYS_PTRACE" in caps and svc.has_mount_target("/dev/dri/by-path") is None
    )

    # 1. privileged -> exactly the GPU device nodes
    if svc.privileged and "security.privileged" not in allowed:
        p.add(
            "privileged removed: TP needs only the GPU nodes and (pidfd) SYS_PTRACE", ("unset", "privileged")
        )
        if be in ("xpu", "rocm") and not svc.render_devices:
            nodes, real = render_nodes_for(svc, facts)
            if be == "rocm" and not any(d.host == "/dev/kfd" for d in svc.devices):
                p.add("ROCm needs /dev/kfd", ("list_add", "devices", "/dev/kfd"))
            src = "from host facts" if real else "placeholders: check `ls /dev/dri` or pass --host-facts"
            p.add(f"render nodes mapped ({src})", *[("list_add", "devices", n) for n in nodes])
        if be == "cuda" and not svc.gpus:
            tp = tp_size(svc)
            n = str(ranks_per_container(svc)) if tp is not None else "all"
            what = f"{n} GPU(s) (TP x PP)" if n != "all" else "all GPUs (no TP size to count them by)"
            p.add(
                f"NVIDIA GPU reservation for {what}: privileged mapped the nodes, the NVIDIA runtime "
                "injects them and the driver libraries",
                ("gpu_reservation", "nvidia", n),
            )
    # 2. whole /dev/dri -> the render nodes (only when host facts say which)
    for d in svc.devices:
        if d.host.rstrip("/") in ("/dev/dri", "/dev") and "audit.devices-all-gpus" not in allowed:
            nodes = facts_render_nodes(facts)
            if nodes:
                p.add(
                    f"{d.host} replaced by the render nodes the host's by-path lists",
                    ("list_remove", "devices", d.raw),
                    *[("list_add", "devices", n) for n in nodes],
                )
            else:
                p.cannot.append(f"{d.host} kept: pass --host-facts to list the exact render nodes")
        if (d.host in RAW_MEM) and "audit.host-memory-device" not in allowed:
            p.add(f"{d.host} removed: raw host memory", ("list_remove", "devices", d.raw))
    # 3. by-path for the drmfd route, or SYS_PTRACE for pidfd
    if be == "xpu":
        m = svc.has_mount_target("/dev/dri/by-path")
        if m is None and "CCL_DRMFD_DEV_RENDER_DIR_PATH" not in svc.env:
            if pidfd:
                if "SYS_PTRACE" not in caps:
                    p.add(
                        "pidfd route: SYS_PTRACE with the default seccomp",
                        ("list_add", "cap_add", "SYS_PTRACE"),
                    )
            else:
                p.add(
                    "drmfd route: host by-path read-only, no capability",
                    ("list_add", "volumes", BYPATH_MOUNT),
                )
        elif (
            m is not None and not m.read_only and m.kind == "bind" and "audit.bypath-writable" not in allowed
        ):
            p.add(
                "by-path mounted read-only",
                ("list_replace", "volumes", m.raw, m.raw + (",ro" if m.raw.count(":") >= 2 else ":ro")),
            )
    # 4. numeric group for the render nodes
    if be in ("xpu", "rocm"):
        gid = facts_render_gid(facts)
        want = str(gid) if gid is not None else RENDER_GID_PLACEHOLDER
        # ROCm: /dev/kfd belongs to render on current distributions, to video on older ones
        kfd_want: str | None = None
        if be == "rocm":
            kg = facts_kfd_gid(facts)
            if facts is None:
                kfd_want = VIDEO_GID_PLACEHOLDER
            elif kg is not None and kg != gid:
                kfd_want = str(kg)
        names = [g for g in svc.group_add if not g.isdigit() and not g.startswith("$") and g != "keep-groups"]
        numeric = [g for g in svc.group_add if g.isdigit() or g.startswith("$") or g == "keep-groups"]
        planned = list(numeric)
        for g in names:
            if "device.group-name-unresolved" not in allowed:
                target, which = (
                    (kfd_want, "/dev/kfd (video)") if g == "video" and kfd_want else (want, "render")
                )
                if target in planned:
                    p.add(
                        f"group {g!r} removed: the numeric GID is already added",
                        ("list_remove", "group_add", g),
                    )
                else:
                    p.add(
                        f"group {g!r} replaced by the numeric {which} GID",
                        ("list_replace", "group_add", g, target),
                    )
                    planned.append(target)
        if not svc.group_add or (not numeric and not names):
            p.add(
                "numeric render GID added (cap_drop ALL removes root's DAC_OVERRIDE)",
                ("list_add", "group_add", want),
            )
            planned.append(want)
        if not numeric and "device.group-name-unresolved" not in allowed:
            for extra, why in ((want, "render"), (kfd_want, "/dev/kfd (video)")):
                if extra is not None and extra not in planned:
                    p.add(f"numeric {why} GID added", ("list_add", "group_add", extra))
                    planned.append(extra)
        elif (
            gid is not None
            and numeric
            and str(gid) not in numeric
            and not any(g.startswith("$") for g in numeric)
        ):
            for g in numeric:
                if g.isdigit():
                    p.add(
                        f"GID {g} replaced by the host render GID {gid}",
                        ("list_replace", "group_add", g, str(gid)),
                    )
    # 5. /dev/shm instead of the host IPC namespace
    if svc.ipc == "host" and "audit.ipc-host-unneeded" not in allowed:
        p.add("ipc: host removed; shm_size gives single-container TP its /dev/shm", ("unset", "ipc"))
    if (svc.ipc == "host" and "audit.ipc-host-unneeded" not in allowed) or svc.ipc is None:
        if (svc.shm_size or 0) < SHM_MIN and "shm.too-small" not in allowed:
            p.add(f"shm_size {SHM_DEFAULT}", ("set", "shm_size", SHM_DEFAULT))
    # 6. writable /tmp under a read-only root
    if svc.read_only and svc.has_mount_target("/tmp") is None:
        p.add("tmpfs /tmp: oneCCL sockets and the pidfd self-test", ("list_add", "tmpfs", "/tmp"))
    # 7. confinement back on
    for raw, cause in (
        (f"seccomp={svc.security.seccomp}", "audit.seccomp-unconfined"),
        (f"apparmor={svc.security.apparmor}", "audit.apparmor-unconfined"),
    ):
        if raw.endswith("=unconfined") and cause not in allowed:
            for spelled in (raw, raw.replace("=", ":")):
                p.add(
                    f"{raw} removed: the default profile is enough", ("list_remove", "security_opt", spelled)
                )
    if "disable" in svc.security.label and "audit.selinux-label-disabled" not in allowed:
        for spelled in ("label=disable", "label:disable"):
            p.add(
                "label=disable removed (host: setsebool -P container_use_devices 1)",
                ("list_remove", "security_opt", spelled),
            )
    if "SYS_ADMIN" in caps and "audit.cap-sys-admin" not in allowed:
        for c in svc.cap_add:
            if c.upper().removeprefix("CAP_") == "SYS_ADMIN":
                p.add("SYS_ADMIN removed", ("list_remove", "cap_add", c))
    if not svc.security.no_new_privileges:
        p.add("no-new-privileges", ("list_add", "security_opt", "no-new-privileges:true"))
    # 8. Intel's serving images load oneAPI only from /root/.bashrc (deploy/images.py)
    image = missing_oneapi(svc.image, svc.entrypoint, svc.command)
    if image and "oneccl.setvars-not-sourced" not in allowed:
        if svc.format == "compose":
            entry = [e.replace("$", "$$") for e in sourcing_entrypoint(image, svc.entrypoint)]
            p.add(
                f"{image}: entrypoint sources oneAPI first (setvars.sh, ccl env/vars.sh), then execs the original",
                ("set_json", "entrypoint", json.dumps(entry)),
            )
        else:
            p.cannot.append(
                f"{image}: run the server through bash after sourcing oneAPI: "
                + shlex.join(sourcing_entrypoint(image, svc.entrypoint))
            )
    if "ALL" not in svc.caps_dropped and not (svc.privileged and "security.privileged" in allowed):
        p.add("cap_drop ALL; only what TP needs is added back", ("list_add", "cap_drop", "ALL"))
    p.why = _dedupe(p.why)
    return p


def plan_k8s(svc: Service, facts: Facts | None, ipc_exchange: str = "drmfd", pss: str | None = None) -> Plan:
    """Plan for one Kubernetes container (and its pod): device plugin + emptyDir + securityContext."""
    p = Plan(svc.name)
    if not is_gpu(svc):
        return p
    allowed = set(svc.allows)
    be = backend(svc)
    if svc.privileged and "security.privileged" not in allowed:
        p.add("privileged removed", ("sc_unset", "privileged"))
    for pod_key, val, cause in (
        ("hostIPC", svc.ipc, "audit.ipc-host-unneeded"),
        ("hostPID", svc.pid, "audit.pid-host-with-ptrace"),
    ):
        if val == "host" and cause not in allowed:
            p.add(f"{pod_key} removed", ("pod_unset", pod_key))
    if svc.network == "host":
        p.cannot.append("hostNetwork kept: remove it yourself unless ranks span nodes (baseline forbids it)")
    for m in svc.mounts:
        if m.kind == "hostPath" and m.source.startswith("/dev"):
            p.add(
                f"hostPath {m.source} removed: the device plugin provides the nodes",
                ("remove_hostpath", m.target),
            )
    n = max(ranks_per_container(svc) or 1, 1)
    resource = {"xpu": "gpu.intel.com/i915", "cuda": "nvidia.com/gpu", "rocm": "amd.com/gpu"}.get(be)
    if resource and not any(g.via in ("k8s-resource", "dra") for g in svc.gpus):
        p.add(
            f"{resource}: {n} from the device plugin (no hostPath, by-path mounted by the Intel plugin)",
            ("limit", resource, str(n)),
        )
    if svc.has_mount_target("/dev/shm") is None:
        p.add("emptyDir{medium: Memory} at /dev/shm", ("volume", "dshm", "/dev/shm", "Memory", "16Gi"))
    if svc.read_only and svc.has_mount_target("/tmp") is None:
        p.add("emptyDir at /tmp (oneCCL sockets)", ("volume", "tmp", "/tmp", "", ""))
    caps = svc.caps_added
    if "SYS_ADMIN" in caps:
        p.add("SYS_ADMIN removed", ("cap_remove", "SYS_ADMIN"))
    if be == "xpu":
        if pss == "baseline" or ipc_exchange == "drmfd":
            if "SYS_PTRACE" in caps and pss == "baseline":
                p.add("SYS_PTRACE removed (baseline forbids it): drmfd route", ("cap_remove", "SYS_PTRACE"))
            if "CCL_ZE_IPC_EXCHANGE" not in svc.env:
                p.add(
                    "CCL_ZE_IPC_EXCHANGE=drmfd: the route that needs no capability",
                    ("env", "CCL_ZE_IPC_EXCHANGE", "drmfd"),
                )
        elif "SYS_PTRACE" not in caps:
            p.add(
                "pidfd route: SYS_PTRACE (needs a privileged PSA namespace or an exception)",
                ("cap_add", "SYS_PTRACE"),
            )
    if svc.security.seccomp in ("unconfined", "k8s-unset") and "audit.seccomp-unconfined" not in allowed:
        p.add("seccompProfile RuntimeDefault", ("sc_set", "seccompProfile", "RuntimeDefault"))
    if svc.security.allow_privilege_escalation is not False:
        p.add("allowPrivilegeEscalation: false", ("sc_set", "allowPrivilegeEscalation", "false"))
    if "ALL" not in svc.caps_dropped:
        p.add("capabilities drop ALL", ("cap_drop_all",))
    if pss == "baseline":
        p.cannot.extend(
            [
                "Pod Security baseline: no SYS_PTRACE, so oneCCL's pidfd route is out; drmfd with the device "
                "plugin's by-path entries is used",
                "no hostPath: by-path comes from the Intel GPU plugin (-bypath=single gives plain files, "
                "issue #2158; deploy the plugin with -bypath=all if Level Zero memory queries fail)",
                "no hostIPC: /dev/shm is a memory emptyDir, counted against the pod's memory limit",
            ]
        )
    p.why = _dedupe(p.why)
    return p


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
