"""Audit rules: GPU device nodes, /dev/dri/by-path and the groups that open them."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tpdoctor.deploy.analysis import (
    backend,
    device_plugin,
    facts_host_paths,
    facts_render_gid,
    facts_render_nodes,
    one_rank,
    probe_only,
    requests_gpu,
    runs_as,
    runs_as_root,
    wants_multi_gpu,
)
from tpdoctor.deploy.model import Service
from tpdoctor.model import Confidence, Facts, Finding, SeverityName, make_finding
from tpdoctor.model.edits import AddCapability, AddItem, Edit, Manual, RemoveItem, ReplaceItem, SetEnv
from tpdoctor.rules.deploy_common import (
    BYPATH_MOUNT,
    ev,
    fctx,
    fix_notice,
    fixes_service,
    group_when_empty,
    k8s_device_hostpaths,
    k8s_gpu_limit,
    kfd_gid,
    render_gid,
    render_nodes_for,
)
from tpdoctor.rules.registry import DeployContext, deploy_rule

BYPATH = "/dev/dri/by-path"
# what oneCCL's IPC exchange needs (the by-path mount and the render nodes it lists, or
# SYS_PTRACE for pidfd) also removes these causes that `explain` diagnoses from a log
BYPATH_CAUSES = (
    "oneccl.bypath-missing",
    "oneccl.bypath-no-render-entries",
    "oneccl.bypath-dangling",
    "oneccl.pidfd-unsupported",
    "oneccl.sockets-overridden",
    "oneccl.drmfd-invalid-fd",
)
PTRACE_CAUSES = ("oneccl.pidfd-ptrace-denied", "cuda.ipc-pidfd-denied", "rocm.ipc-ptrace-missing")
DEVICE_CAUSES = ("device.render-node-missing", "device.kfd-missing", "device.cgroup-denied", "device.no-gpu")
GROUP_CAUSES = ("device.group-denied", "device.group-name-unresolved", "userns.gid-unmapped")


def _pidfd_route(svc: Service) -> bool:
    return "SYS_PTRACE" in svc.caps_added and svc.env.get("CCL_ZE_IPC_EXCHANGE", "pidfd") == "pidfd"


def _ipc_route(svc: Service, ctx: DeployContext) -> list[Edit]:
    """oneCCL's IPC exchange, chosen here once for `audit --fix`, `explain --config` and
    `generate`: drmfd (by-path read-only, no capability; on Kubernetes the GPU plugin mounts
    by-path, and Pod Security baseline allows nothing else) or, asked for with --ipc-exchange
    pidfd or already on SYS_PTRACE outside Kubernetes, pidfd (SYS_PTRACE, default seccomp). The
    route is pinned in CCL_ZE_IPC_EXCHANGE when unset: oneCCL's default differs by version
    (drmfd <= 2021.13, pidfd >= 2021.14; research/failures.md §1.6)."""
    if not fixes_service(svc):
        return []
    has_ptrace = "SYS_PTRACE" in svc.caps_added
    k8s = svc.format == "kubernetes"
    if k8s:
        drmfd = ctx.pss == "baseline" or ctx.ipc_exchange == "drmfd"
    else:
        drmfd = ctx.ipc_exchange != "pidfd" and not has_ptrace
    edits = k8s_gpu_limit(svc) if k8s else []
    if k8s and ctx.pss == "baseline" and ctx.ipc_exchange == "pidfd":
        edits.append(
            Manual(why="--ipc-exchange pidfd: Pod Security baseline forbids SYS_PTRACE; drmfd instead")
        )
    if drmfd and not k8s:
        edits.append(
            AddItem("volumes", BYPATH_MOUNT, why="drmfd route: host by-path read-only, no capability")
        )
    if not drmfd and not has_ptrace:
        why = (
            "pidfd route: SYS_PTRACE (needs a privileged PSA namespace or an exception)"
            if k8s
            else "pidfd route: SYS_PTRACE with the default seccomp"
        )
        edits.append(AddCapability("SYS_PTRACE", why=why))
    if "CCL_ZE_IPC_EXCHANGE" not in svc.env:
        route, needs = ("drmfd", "no capability") if drmfd else ("pidfd", "SYS_PTRACE")
        why = f"CCL_ZE_IPC_EXCHANGE={route}: the route the fix prepares ({needs})"
        edits.append(SetEnv("CCL_ZE_IPC_EXCHANGE", route, why=why))
    return edits


@deploy_rule("oneccl.bypath-missing", remedies=(*BYPATH_CAUSES, *PTRACE_CAUSES))
def bypath_missing(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: an Intel GPU (XPU) container without /dev/dri/by-path (no bind mount, no
    CCL_DRMFD_DEV_RENDER_DIR_PATH, no device-plugin resource) and without the pidfd route.

    Why it matters: oneCCL >= 2021.14 tries pidfd first; under the default seccomp without CAP_SYS_PTRACE the
    self-test fails and it falls back to drmfd, which opendir()s /dev/dri/by-path. Docker
    `--device` and `--privileged` never create that directory (symlinks are skipped).
    Privileged hides the problem (pidfd works there) until privileged is removed.

    How to fix: `volumes: ["/dev/dri/by-path:/dev/dri/by-path:ro"]` plus every render node it lists
    (drmfd, no capability), or `cap_add: [SYS_PTRACE]` with the default seccomp (pidfd).
    """
    if backend(svc) != "xpu":
        return
    if svc.has_mount_target(BYPATH) or "CCL_DRMFD_DEV_RENDER_DIR_PATH" in svc.env:
        return
    if any(g.via in ("k8s-resource", "cdi", "dra") and g.vendor == "intel" for g in svc.gpus):
        # the device plugin / CDI spec mounts the by-path entries; so does the Intel GPU resource
        # driver (intel-resource-drivers-for-kubernetes pkg/gpu/cdihelpers/cdihelpers.go addBypathMounts)
        fixing = svc.format == "kubernetes" and ctx.extra.get("fixing")
        # gwild52: a clinfo probe or a one-process server gets no oneCCL route pinned
        route = _ipc_route(svc, ctx) if fixing and not probe_only(svc) and not one_rank(svc) else []
        if route:  # nothing is missing; `--fix` still pins oneCCL's route to what the plugin gives
            msg = "by-path comes from the GPU plugin; the fix sets oneCCL's IPC exchange to match."
            yield fix_notice(svc, ctx, "oneccl.bypath-missing", msg, "GPU plugin resource", route)
        return
    if _pidfd_route(svc) and not svc.privileged:
        return
    if device_plugin(svc) or (not requests_gpu(svc) and wants_multi_gpu(svc) is not True):
        # gwild52: an Intel image given no GPU and no parallel size (ai-containers' build-only compose services), or the
        # Intel GPU device plugin (it lists /dev/dri for the kubelet): no oneCCL exchange runs; nothing to add. With a
        # TP size the job does run oneCCL (its GPUs come some other way): the finding below stands
        what = "is a GPU device plugin" if device_plugin(svc) else "is given no GPU (only its image's name or environment says Intel)"
        yield make_finding(
            "oneccl.bypath-missing",
            f"{svc.name} {what}: no oneCCL exchange runs in it, so the missing /dev/dri/by-path breaks nothing here.",
            [ev(svc, ctx, "no GPU device, request or resource; no /dev/dri/by-path")],
            context=fctx(svc, ctx),
            severity="notice",
            confidence="suggests",
        )
        return
    multi = wants_multi_gpu(svc)
    if svc.privileged and multi is False:
        # gwild50: llm-scaler's load-balancer compose runs one privileged vLLM per GPU (-tp=1, ZE_AFFINITY_MASK=2):
        # no oneCCL exchange happens, with or without privileged, so nothing fails once privileged goes
        msg = (
            f"{svc.name} uses one GPU and has no /dev/dri/by-path: oneCCL's exchange is not used, so removing "
            "privileged breaks nothing; multi-GPU TP would need by-path (drmfd) or SYS_PTRACE (pidfd)."
        )
        sev: SeverityName | None = "notice"
        conf: Confidence = "suggests"
    elif svc.privileged:
        msg = (
            f"{svc.name} has no /dev/dri/by-path. Privileged hides this (pidfd works with all capabilities); "
            "once privileged goes, oneCCL falls back to drmfd and fails with 'opendir failed'. "
            "TP needs by-path (drmfd) or SYS_PTRACE (pidfd)."
        )
        sev, conf = None, "proves"
    elif multi is False and one_rank(svc):
        # gwild52: OpenVINO Model Server containers, one render node each, were given by-path and CCL_ZE_IPC_EXCHANGE
        msg = f"{svc.name} runs one process ({one_rank(svc)}): oneCCL's exchange is never used, by-path is not needed."
        sev, conf = "notice", "suggests"
    elif multi is False:
        msg = f"{svc.name} uses one GPU, so oneCCL exchange is not used yet; multi-GPU would need by-path or SYS_PTRACE."
        sev, conf = "notice", "suggests"
    else:
        msg = (
            f"{svc.name} maps Intel GPUs but not /dev/dri/by-path and has no SYS_PTRACE: with oneCCL >= 2021.14 "
            "multi-GPU TP falls back to drmfd and fails with 'opendir failed: could not open device directory'."
        )
        sev, conf = None, "proves" if multi else "suggests"
    yield make_finding(
        "oneccl.bypath-missing",
        msg,
        [ev(svc, ctx, "no /dev/dri/by-path mount, no SYS_PTRACE")],
        context=fctx(svc, ctx),
        severity=sev,
        confidence=conf,
        edits=[] if multi is False and one_rank(svc) else _ipc_route(svc, ctx),
    )


# a `--mount` value: comma-separated key=value fields (a -v value's first field is a path or a volume name)
_MOUNT_SPEC = re.compile(r"(?:[a-z-]+=[^,]*,)*(?:type|src|source|dst|destination|target)=")


def _read_only_volume(raw: str) -> str:
    """A -v / short-syntax volume made read-only: `ro` added to its options, in place of an `rw` (`rw,ro` is a mode the
    engine refuses: "invalid mode"; it was written so, gsafe52)."""
    if raw.startswith("{"):  # compose's long syntax (a mapping's text): the frontend sets its read_only
        return raw + ",ro"
    src_dst, sep, opts = raw.rpartition(":") if raw.count(":") >= 2 else (raw, "", "")
    if not sep:
        return raw + ":ro"
    words = opts.split(",")
    return f"{src_dst}:{','.join(['ro' if w == 'rw' else w for w in words] if 'rw' in words else [*words, 'ro'])}"


@deploy_rule("audit.bypath-writable", remedies=(*BYPATH_CAUSES, *PTRACE_CAUSES))
def bypath_writable(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: /dev/dri/by-path bind-mounted without `:ro`.

    Why it matters: oneCCL only lists and opens its entries; a writable mount lets the container change the
    host's udev links.

    How to fix: `/dev/dri/by-path:/dev/dri/by-path:ro`.
    """
    m = svc.has_mount_target(BYPATH)
    if m is not None and m.kind in ("bind", "hostPath") and not m.read_only:
        yield make_finding(
            "audit.bypath-writable",
            f"{svc.name} mounts /dev/dri/by-path read-write. TP needs it only readable: add :ro.",
            [ev(svc, ctx, m.raw or m.target)],
            edits=[
                # `--mount type=bind,src=…,dst=…` (docker/podman run, a dev container's mounts) takes `readonly`; it
                # was given `:ro` as a -v item, which matched no -v flag: nothing changed, and the fix said it had
                # (gsafe52)
                ReplaceItem("mounts", m.raw, m.raw + ",readonly", why="by-path mounted read-only")
                if _MOUNT_SPEC.match(m.raw)
                else ReplaceItem("volumes", m.raw, _read_only_volume(m.raw), why="by-path mounted read-only")
            ]
            if m.kind == "bind" and backend(svc) == "xpu"
            else [],
        )


@deploy_rule("audit.devices-all-gpus", remedies=(*DEVICE_CAUSES, *BYPATH_CAUSES))
def devices_all(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `--device /dev/dri` (the whole directory) or `/dev` mapped.

    Why it matters: every render node of the host enters the container, an iGPU included, and selectors such
    as ONEAPI_DEVICE_SELECTOR or ZE_AFFINITY_MASK then count devices the user did not mean.
    (With the by-path mount, oneCCL opens every listed GPU, so pass all GPUs by-path lists.)

    How to fix: list the render nodes used: `/dev/dri/renderD128`, `/dev/dri/renderD129`, ...
    """
    for d in svc.devices:
        if d.host.rstrip("/") in ("/dev/dri", "/dev"):
            sel = svc.env.get("ONEAPI_DEVICE_SELECTOR") or svc.env.get("ZE_AFFINITY_MASK")
            extra = f" while {sel!r} selects fewer" if sel else ""
            yield make_finding(
                "audit.devices-all-gpus",
                f"{svc.name} maps all of {d.host}{extra}: every GPU, an iGPU included. Map only the render "
                "nodes in use.",
                [ev(svc, ctx, f"device {d.raw or d.host}")],
                context=fctx(svc, ctx),
                edits=_exact_nodes(svc, ctx, d.raw, d.host),
            )


def _exact_nodes(svc: Service, ctx: DeployContext, raw: str, host: str) -> list[Edit]:
    if not fixes_service(svc):
        return []
    nodes = facts_render_nodes(ctx.facts)
    if not nodes:
        return [Manual(why=f"{host} kept: pass --host-facts to list the exact render nodes")]
    why = f"{host} replaced by the render nodes the host's by-path lists"
    return [RemoveItem("devices", raw, why=why), *[AddItem("devices", n, why=why) for n in nodes]]


def _by_name(g: str) -> bool:
    return not (g.isdigit() or g.startswith("$") or g == "keep-groups")


def _group_names(svc: Service, facts: Facts | None) -> dict[str, list[Edit]]:
    """Each group name replaced by its numeric GID (removed when that GID is there already);
    after the last name, the render (and /dev/kfd) GID added if no name became it."""
    if not fixes_service(svc) or backend(svc) not in ("xpu", "rocm"):
        return {}
    want, kfd = render_gid(facts), kfd_gid(svc, facts)
    numeric = [g for g in svc.group_add if not _by_name(g)]
    planned = list(numeric)
    out: dict[str, list[Edit]] = {}
    for g in (g for g in svc.group_add if _by_name(g)):
        target, which = (kfd, "/dev/kfd (video)") if g == "video" and kfd else (want, "render")
        if target in planned:
            out[g] = [
                RemoveItem("group_add", g, why=f"group {g!r} removed: the numeric GID is already added")
            ]
        else:
            out[g] = [
                ReplaceItem("group_add", g, target, why=f"group {g!r} replaced by the numeric {which} GID")
            ]
            planned.append(target)
    if out and not numeric:
        last = list(out)[-1]
        for extra, why in ((want, "render"), (kfd, "/dev/kfd (video)")):
            if extra is not None and extra not in planned:
                out[last].append(AddItem("group_add", extra, why=f"numeric {why} GID added"))
                planned.append(extra)
    return out


@deploy_rule("device.group-name-unresolved", remedies=GROUP_CAUSES)
def group_by_name(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: group_add / --group-add with a group *name* (render, video).

    Why it matters: Docker resolves names against the image's /etc/group ("Unable to find group render"),
    and the image's GID for a name need not equal the host's. On current distros render nodes
    belong to group render, not video.

    How to fix: the numeric host GID: `group_add: ["${RENDER_GID}"]` with
    `RENDER_GID=$(getent group render | cut -d: -f3)`; Podman rootless: `--group-add keep-groups`.
    """
    edits = _group_names(svc, ctx.facts)
    for g in svc.group_add:
        if not _by_name(g):
            continue
        gid = facts_render_gid(ctx.facts)
        hint = f" (host render GID is {gid})" if gid is not None else ""
        if runs_as_root(svc):
            user, why = runs_as(svc)
            yield make_finding(
                "device.group-name-unresolved",
                f"{svc.name} adds group {g!r} by name but runs as {user} ({why}): root opens the GPU nodes "
                "as their owner and needs no render group. Drop it, or use the numeric host render GID "
                f"before switching to a non-root user{hint}.",
                [ev(svc, ctx, f"group_add: {g}; user {user}")],
                context=fctx(svc, ctx),
                severity="notice",
                confidence="suggests",
                edits=edits.pop(g, []),
            )
            continue
        if g == "render":
            sev: SeverityName | None
            sev, msg = None, f"{svc.name} adds group 'render' by name: the image may lack it{hint}."
        else:
            sev = "degraded"
            msg = (
                f"{svc.name} adds group {g!r} by name: render nodes are owned by group render on current "
                f"distros and the image's GID may differ from the host's{hint}."
            )
        yield make_finding(
            "device.group-name-unresolved",
            msg + " Use the numeric host render GID.",
            [ev(svc, ctx, f"group_add: {g}")],
            context=fctx(svc, ctx),
            severity=sev,
            confidence="suggests",
            edits=edits.pop(g, []),
        )


def _root(svc: Service) -> bool:
    return runs_as_root(svc)


@deploy_rule(
    "audit.group-add-missing", "device.group-denied", "audit.group-gid-unverified", remedies=GROUP_CAUSES
)
def group_numeric(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: XPU/ROCm device nodes without a group for them; numeric groups that differ
    from the host's render GID (with --host-facts) or cannot be checked (without).

    Why it matters: device nodes keep the host GID inside the container; a non-root process without that
    group gets EACCES. Root passes DAC checks only while it keeps CAP_DAC_OVERRIDE (cap_drop ALL
    removes it).

    How to fix: `group_add: ["<host render GID>"]` (numeric).
    """
    if backend(svc) not in ("xpu", "rocm"):
        return
    has_nodes = bool(svc.render_devices) or any(d.host == "/dev/kfd" for d in svc.devices)
    if not svc.group_add and svc.privileged:
        return  # (replacing privileged adds the group)
    empty = group_when_empty(svc, ctx.facts) if fixes_service(svc) else []
    if not has_nodes:
        if empty and ctx.extra.get("fixing"):
            # GPUs from a runtime (CDI, a reservation): `--fix` drops every capability, and
            # root then opens the nodes it gets only through the group
            msg = "the fix drops every capability; the numeric render GID keeps GPU access."
            yield fix_notice(svc, ctx, "audit.group-add-missing", msg, "no group_add", empty)
        return
    if not svc.group_add:
        user, why = runs_as(svc)
        cause, seen = "audit.group-add-missing", "no group_add"
        if not _root(svc):
            cause, seen = "device.group-denied", f"user {user}, no group_add"
            msg = f"{svc.name} runs as {user} ({why}) without the render group: opening the GPU nodes gives EACCES."
        elif "ALL" not in svc.caps_dropped:
            msg = (
                f"{svc.name} has no group_add: GPU access works only while the process runs as root. "
                "Add the numeric render GID before switching to a non-root user or cap_drop ALL."
            )
        else:  # cap_drop ALL: root still owns root:render 0660 nodes; only a later non-root user needs the group
            msg = (
                f"{svc.name} runs as root ({why}) with cap_drop ALL and no group_add: root opens "
                "the GPU nodes as their owner; add the numeric render GID before switching to a non-root user."
            )
        yield make_finding(cause, msg, [ev(svc, ctx, seen)], context=fctx(svc, ctx), edits=empty)
        return
    numeric = [g for g in svc.group_add if g.isdigit()]
    gid = facts_render_gid(ctx.facts)
    if gid is None:
        for g in numeric:
            yield make_finding(
                "audit.group-gid-unverified",
                f"{svc.name} adds GID {g}; it must equal the host's render GID "
                "(`getent group render`). Pass --host-facts to check.",
                [ev(svc, ctx, f"group_add: {g}")],
            )
    elif numeric and str(gid) not in numeric and "keep-groups" not in svc.group_add:
        yield make_finding(
            "device.group-denied",
            f"{svc.name} adds GID(s) {', '.join(numeric)} but the host's render nodes belong to GID {gid}.",
            [ev(svc, ctx, f"group_add: {', '.join(numeric)}; host render GID {gid}")],
            context=fctx(svc, ctx),
            confidence="proves" if not _root(svc) else "suggests",
            severity=None if not _root(svc) else "notice",
            edits=[
                ReplaceItem("group_add", g, str(gid), why=f"GID {g} replaced by the host render GID {gid}")
                for g in numeric
            ]
            if fixes_service(svc) and not any(g.startswith("$") for g in svc.group_add)
            else [],
        )


@deploy_rule("device.host-node-absent")
def host_node_absent(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks (needs --host-facts): every `devices:` host path exists on the host.

    Why it matters: Docker refuses to start: "error gathering device information while adding custom
    device ...: no such file or directory".

    How to fix: map the nodes the host has (see `ls -l /dev/dri`).
    """
    paths = facts_host_paths(ctx.facts)
    if paths is None:
        return
    for d in svc.devices:
        if d.is_cdi or not d.host.startswith("/dev/") or d.host.rstrip("/") in ("/dev", "/dev/dri"):
            continue
        if d.host not in paths and any(p.startswith(d.host.rsplit("/", 1)[0]) for p in paths):
            yield make_finding(
                "device.host-node-absent",
                f"{svc.name} maps {d.host}, which the host does not have.",
                [ev(svc, ctx, f"device {d.host}")],
                context=fctx(svc, ctx),
            )


@deploy_rule("device.cgroup-denied", "device.kfd-missing", remedies=DEVICE_CAUSES)
def nodes_as_volumes(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: GPU nodes bind-mounted as volumes (-v /dev/dri:/dev/dri) instead of mapped
    as devices; ROCm containers without /dev/kfd.

    Why it matters: a bind mount makes the node visible but the device cgroup still denies it (EPERM). ROCm
    needs /dev/kfd in addition to the render nodes.

    How to fix: `devices:` entries for the nodes; add /dev/kfd for ROCm.
    """
    for m in svc.mounts:
        if (
            m.kind in ("bind", "hostPath")
            and re.match(r"^/dev/(dri|nvidia|kfd)", m.source or "")
            and not (m.target.startswith(BYPATH))
        ):
            if svc.privileged or any(d.container.startswith(m.target) for d in svc.devices) or device_plugin(svc):
                # a device plugin only lists the nodes (readdir, sysfs), never opens them (gwild52)
                continue
            yield make_finding(
                "device.cgroup-denied",
                f"{svc.name} bind-mounts {m.source} as a volume: the device cgroup denies open() (EPERM). "
                "Map the nodes with devices: instead.",
                [ev(svc, ctx, m.raw or m.source)],
                context=fctx(svc, ctx),
                edits=k8s_device_hostpaths(svc) if fixes_service(svc) and svc.format == "kubernetes" else [],
            )
    if (
        backend(svc) == "rocm"
        and svc.format != "kubernetes"
        and not svc.privileged
        and not any(d.host == "/dev/kfd" for d in svc.devices)
        and not svc.gpus
    ):
        yield make_finding(
            "device.kfd-missing",
            f"{svc.name} looks like ROCm but does not map /dev/kfd.",
            [ev(svc, ctx, "no /dev/kfd device")],
        )


@deploy_rule("device.render-node-missing", remedies=DEVICE_CAUSES)
def kfd_without_render_nodes(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a ROCm container that maps /dev/kfd but no render node (no /dev/dri, no
    /dev/dri/renderD*, no /dev, as a device or a bind mount), outside Kubernetes, not privileged, with no AMD GPU request (CDI, the AMD
    container toolkit) that would bring the nodes.

    Why it matters: the ROCm runtime opens each GPU through its DRM render node as well as /dev/kfd: libhsakmt
    counts a GPU node as supported only when /dev/dri/renderD<drm_render_minor> opens (ROCm/ROCR-Runtime
    libhsakmt/src/topology.c, hsakmt_open_drm_render_device); with /dev/kfd alone rocminfo lists no GPU agent and
    HIP finds no device. AMD's container docs pass both: `--device=/dev/kfd --device=/dev/dri`. Old compose
    files written for ROCm 1.x map /dev/kfd only (ROCm/ROCm-docker docker-compose.yml, gwild52).

    How to fix: add the render nodes (`/dev/dri/renderD128`, ... or all of `/dev/dri`) to `devices:`.
    """
    if backend(svc) != "rocm" or svc.format == "kubernetes" or svc.privileged or svc.gpus:
        return
    hosts = [d.host.rstrip("/") for d in svc.devices]
    if "/dev/kfd" not in hosts or any(h == "/dev" or h.startswith("/dev/dri") for h in hosts):
        return
    if any((m.source or "").rstrip("/") == "/dev" or (m.source or "").startswith("/dev/dri") for m in svc.mounts):
        # review53: /dev/dri bind-mounted (-v /dev/dri:/dev/dri, often with --device-cgroup-rule 'c 226:* rmw'): the
        # render nodes are there; whether the device cgroup lets them open is device.cgroup-denied's to say
        return
    edits: list[Edit] = []
    if fixes_service(svc):
        nodes, real = render_nodes_for(svc, ctx.facts)
        src = "from host facts" if real else "placeholders: check `ls /dev/dri` or pass --host-facts"
        edits = [AddItem("devices", n, why=f"render nodes mapped beside /dev/kfd ({src})") for n in nodes]
    yield make_finding(
        "device.render-node-missing",
        f"{svc.name} maps /dev/kfd but no render node: the ROCm runtime opens each GPU through /dev/dri/renderD* "
        "too, so it finds no GPU. Map the render nodes (or /dev/dri) beside /dev/kfd.",
        [ev(svc, ctx, "devices: " + ", ".join(d.host for d in svc.devices))],
        context=fctx(svc, ctx),
        edits=edits,
    )
