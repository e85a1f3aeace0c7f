"""Audit rules: how many GPUs a container sees versus the parallel size it asks for, how GPUs
are selected, Pod Security baseline, and ranks split across containers."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.deploy.analysis import (
    backend,
    env_selects_nvidia_gpus,
    is_gpu,
    multi_node,
    node_count,
    ranks_per_container,
    ranks_span_pods,
    tp_size,
    visible_gpus,
)
from tpdoctor.deploy.model import Service, normalize_cap
from tpdoctor.model import Finding, SeverityName, make_finding
from tpdoctor.model.edits import Edit, Manual, RemoveCapability, SetEnv
from tpdoctor.model.fixes import fix_context
from tpdoctor.redact import clip
from tpdoctor.rules.deploy_common import ev, fctx, fixes_service, k8s_device_hostpaths
from tpdoctor.rules.registry import DeployContext, deploy_rule

PSS_BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


@deploy_rule("vllm.tp-exceeds-visible-gpus")
def tp_exceeds(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: --tensor-parallel-size x --pipeline-parallel-size against the GPUs the config
    gives the container (device_ids, count, --gpus, render nodes, k8s limits).

    Why it matters: vLLM stops with "tensor parallel size N is not allowed" / too few GPUs.

    How to fix: give the container as many GPUs as TP x PP, or lower TP.

    A Kubernetes Deployment/StatefulSet with several replicas whose TP x PP exceeds one pod's
    GPUs but fits all replicas' GPUs is reported as topology.ranks-split-across-containers
    instead: its ranks are meant to span pods.
    """
    tp = tp_size(svc)
    if tp is None or ranks_span_pods(svc) is not None:
        return
    need = ranks_per_container(svc) or tp
    if multi_node(svc) and node_count(svc) is None:
        return  # a Ray cluster places ranks on its nodes: how many per container is not in this file
    have = visible_gpus(svc)
    if have is not None and need > have:
        yield make_finding(
            "vllm.tp-exceeds-visible-gpus",
            f"{svc.name} asks for {need} GPU(s) per container (TP x PP / nodes) but the config exposes {have}.",
            [ev(svc, ctx, f"tensor-parallel-size {tp}, visible GPUs {have}")],
            context=fctx(svc, ctx),
        )
    elif (
        have is None
        and need > 1
        and _k8s_requests_no_gpu(svc)
        and env_selects_nvidia_gpus(svc)
        and _env_gpu_count(svc) >= need
    ):
        # the pod names the GPUs itself (NVIDIA_VISIBLE_DEVICES): that works on a node whose default runtime is
        # nvidia (the toolkit's hook reads the variable, nvidia-container-toolkit internal/config/image), which this
        # file cannot show; either way the scheduler does not count those GPUs, so two such pods share them.
        nvd = clip(svc.env.get("NVIDIA_VISIBLE_DEVICES", ""), 40)  # redacted before the cut
        yield make_finding(
            "vllm.tp-exceeds-visible-gpus",
            f"{svc.name} asks for {need} GPU(s) per container (TP x PP / nodes), requests no GPU and sets "
            f"NVIDIA_VISIBLE_DEVICES={nvd} itself: that injects GPUs only where nvidia is the node's default "
            "runtime (without it the pod sees none), and the scheduler does not count them, so other pods get the "
            f"same GPUs. Request {need} GPU(s) in resources.limits and drop the variable.",
            [ev(svc, ctx, f"tensor-parallel-size {tp}, resources: no GPU request, NVIDIA_VISIBLE_DEVICES={nvd}")],
            context=fctx(svc, ctx),
            severity="degraded",
            confidence="suggests",
        )
    elif have is None and need > 1 and _k8s_requests_no_gpu(svc):
        # gnew38: a pod gets GPUs only through a resource request or claim (the device plugin allocates, and
        # only then injects); one that requests none (milvus-io/milvus-helm#150: the chart's resources under the
        # wrong key) gets no GPU, or, where nvidia is the node's default runtime and the image sets
        # NVIDIA_VISIBLE_DEVICES=all (CUDA images do), every GPU of the node outside the scheduler's accounting.
        listed = _env_gpu_count(svc) if env_selects_nvidia_gpus(svc) else 0
        under_default = (
            f"its own NVIDIA_VISIBLE_DEVICES={clip(svc.env.get('NVIDIA_VISIBLE_DEVICES', ''), 40)}: {listed} GPU(s)"
            if listed
            else "the image's NVIDIA_VISIBLE_DEVICES=all: every GPU of the node, shared with other pods"
        )
        yield make_finding(
            "vllm.tp-exceeds-visible-gpus",
            f"{svc.name} asks for {need} GPU(s) per container (TP x PP / nodes) but requests no GPU "
            "(no nvidia.com/gpu, amd.com/gpu or gpu.intel.com/* in resources, no resource claim): the device plugin "
            "allocates none and injects nothing, so the pod sees no GPU (or, under a default nvidia runtime, "
            f"{under_default}). Request {need} GPU(s) in resources.limits.",
            [ev(svc, ctx, f"tensor-parallel-size {tp}, resources: no GPU request")],
            context=fctx(svc, ctx),
            confidence="suggests",
        )


def _k8s_requests_no_gpu(svc: Service) -> bool:
    """A Kubernetes container of a GPU image that asks for no GPU in any way: no resource or claim (nor a GPU
    under another resource name: nvidia.com/gpu.shared, nvidia.com/mig-*), no device hostPath, not privileged
    (which sees the node's /dev). Not a KServe ServingRuntime: its containers are a template whose resources
    each InferenceService that uses it sets (kserve pkg/apis/serving/v1beta1 predictor: the runtime's container
    merged with the predictor's model), so the GPUs are requested there."""
    return (
        svc.format == "kubernetes"
        and svc.extra.get("pod", "").split("/")[0] not in ("ServingRuntime", "ClusterServingRuntime")
        and is_gpu(svc)
        and not svc.gpus
        and "other_gpu_resources" not in svc.extra
        and not svc.devices
        and not svc.privileged
        and not any(m.kind == "hostPath" and (m.source or "").startswith("/dev") for m in svc.mounts)
    )


def _env_gpu_count(svc: Service) -> int:
    """How many GPUs the container's own NVIDIA_VISIBLE_DEVICES names (a large number for `all`): a list of indices
    or UUIDs gives at most that many, even where nvidia is the node's default runtime (review39)."""
    value = svc.env.get("NVIDIA_VISIBLE_DEVICES", "").strip()
    if value.lower() == "all":
        return 1 << 30
    return len([p for p in value.split(",") if p.strip()])


@deploy_rule("cuda.visible-devices-mismatch")
def cuda_visible(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: CUDA_VISIBLE_DEVICES set in the environment on top of a runtime GPU selection.

    Why it matters: indices are renumbered from 0 inside the container; host indices or a shorter list than
    the TP size hide GPUs ("invalid device ordinal", fewer GPUs than TP).

    How to fix: select GPUs once, at the runtime layer (device_ids, --gpus, CDI), and leave
    CUDA_VISIBLE_DEVICES unset.
    """
    cvd = svc.env.get("CUDA_VISIBLE_DEVICES")
    if cvd is None or backend(svc) != "cuda" or not svc.gpus:
        return
    n = len([x for x in cvd.split(",") if x.strip()])
    tp = tp_size(svc) or 1
    sev: SeverityName | None = None if tp > n else "degraded"
    own = svc.env.get("NVIDIA_VISIBLE_DEVICES", "all").strip().lower() in ("", "all")
    if tp <= n and all(
        g.count is None and not g.ids and (g.via in ("gpus-flag", "compose-deploy") or (g.via == "runtime" and own))
        for g in svc.gpus
    ):
        # every host GPU enters (--gpus all, count: all, the nvidia runtime) and keeps the host's numbering, so the
        # variable picks real GPUs: production-stack's prefill/decode scripts pin GPU 0 and 1 this way (gwild50). Not
        # under the nvidia runtime with the container's own NVIDIA_VISIBLE_DEVICES=2,3: those two enter as 0 and 1,
        # and CUDA_VISIBLE_DEVICES=2,3 names none of them (review52)
        sev = "notice"
    yield make_finding(
        "cuda.visible-devices-mismatch",
        f"{svc.name} sets CUDA_VISIBLE_DEVICES={cvd} on top of the runtime's GPU selection"
        + (f"; TP {tp} needs {tp} visible GPUs" if tp > n else "")
        + ". Select GPUs once (device_ids / --gpus) and drop the variable.",
        [ev(svc, ctx, f"CUDA_VISIBLE_DEVICES={cvd}")],
        severity=sev,
        confidence="proves" if tp > n else "suggests",
    )


@deploy_rule("audit.gpu-injection-redundant")
def injection_redundant(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: `runtime: nvidia` together with a device reservation, --gpus or CDI devices.

    Why it matters: two selection paths that can disagree (the nvidia runtime's NVIDIA_VISIBLE_DEVICES default
    is all GPUs); the reservation alone is the supported compose way.

    How to fix: keep `deploy.resources.reservations.devices` (or --gpus) and drop `runtime: nvidia`.
    """
    rt = [g for g in svc.gpus if g.via == "runtime"]
    other = [g for g in svc.gpus if g.via != "runtime"]
    if rt and other:
        yield make_finding(
            "audit.gpu-injection-redundant",
            f"{svc.name} selects GPUs twice ({rt[0].raw} and {other[0].via}). Keep one; TP needs neither twice.",
            [ev(svc, ctx, f"{rt[0].raw} + {other[0].raw}")],
        )


@deploy_rule("audit.gpu-count-unused", "audit.gpu-count-fixed")
def gpu_count(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: all GPUs reserved (count: all, --gpus all) with no TP size that uses them; or
    a pinned GPU count with no TP size at all (they must be raised together).

    Why it matters: a serving process without --tensor-parallel-size uses one GPU; the rest are held idle,
    and raising TP later without the GPU count gives vllm.tp-exceeds-visible-gpus.

    How to fix: set --tensor-parallel-size to the GPU count, or reserve only the GPUs used.
    """
    sel = [g for g in svc.gpus if g.via != "runtime"]
    if not sel or not is_gpu(svc):
        return
    tp = tp_size(svc)
    # gnew22: a reservation with neither count nor device_ids reserves no GPU on Engine >= 27.3, not all of them
    # (compose.gpu-reservation-incomplete says so); "reserves all GPUs" would contradict it
    incomplete = "compose_gpu_reservation_incomplete" in svc.extra
    if any(g.count is None for g in sel) and (tp or 1) == 1 and not incomplete:
        yield make_finding(
            "audit.gpu-count-unused",
            f"{svc.name} reserves all GPUs but sets no tensor-parallel size above 1.",
            [ev(svc, ctx, sel[0].raw)],
        )
    elif tp is None and all(g.count is not None for g in sel) and not multi_node(svc):
        # (a Ray / LWS worker takes its TP size from the head that places ranks on it)
        n = sum(g.count or 0 for g in sel)
        yield make_finding(
            "audit.gpu-count-fixed",
            f"{svc.name} pins {n} GPU(s) without a --tensor-parallel-size: raise both together.",
            [ev(svc, ctx, sel[0].raw)],
        )


@deploy_rule("topology.ranks-split-across-containers")
def ranks_split(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: several GPU containers of one file that set distributed ranks
    (RANK/WORLD_SIZE/LOCAL_RANK/CCL_LOCAL_RANK) or --node-rank/--nnodes on one host.

    Why it matters: fd passing (oneCCL pidfd/drmfd), CUDA IPC and NCCL P2P/SHM need all ranks of a TP group in
    one PID/IPC/mount namespace; separate containers look like separate nodes.

    Kubernetes: a Deployment/StatefulSet/ReplicaSet (or a Job's parallelism) with more than one
    replica, whose TP x PP exceeds the GPUs of one pod (nvidia.com/gpu, amd.com/gpu,
    gpu.intel.com/i915 limits) but fits the GPUs of all replicas: the ranks are meant to span
    pods. Each pod has its own namespaces (and often its own node); replicas of a Deployment are
    independent copies, not ranks of one job. (TP x PP larger than all replicas' GPUs, or a single
    replica, is vllm.tp-exceeds-visible-gpus.)

    How to fix: one container with all GPUs and --tensor-parallel-size N; split only across nodes.
    In Kubernetes: replicas 1 and `nvidia.com/gpu: N` (TP x PP) in one pod; ranks across nodes
    need a multi-node launcher (Ray, LeaderWorkerSet), pipeline parallel between nodes.
    """
    span = ranks_span_pods(svc)
    if span is not None:
        need, have, reps = span
        yield make_finding(
            "topology.ranks-split-across-containers",
            f"{svc.name}: TP x PP = {need} but each of the {reps} replicas gets {have} GPU(s): the ranks would "
            f"span pods, which share no IPC/PID namespace (and may sit on different nodes). Give one pod "
            f"{need} GPUs and replicas: 1.",
            [ev(svc, ctx, f"replicas {reps}, GPUs per pod {have}, tensor-parallel-size {tp_size(svc)}")],
            context=fix_context(gpu_count=need),
        )
        return
    gpu_svcs: list[Service] = ctx.memo("ranked_gpu_services", lambda: _ranked_gpu_services(ctx))
    if len(gpu_svcs) > 1 and svc is gpu_svcs[0] and ctx.model.format != "kubernetes":
        yield make_finding(
            "topology.ranks-split-across-containers",
            f"{len(gpu_svcs)} containers ({', '.join(s.name for s in gpu_svcs)}) run ranks of one job on one "
            "host: fd passing and P2P break across containers. Use one container with all GPUs.",
            [ev(s, ctx, "distributed rank settings") for s in gpu_svcs],
        )


_RANK_KEYS = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "CCL_LOCAL_RANK", "NODE_RANK"}


def _ranked_gpu_services(ctx: DeployContext) -> list[Service]:
    return [
        s
        for s in ctx.model.services
        if is_gpu(s)
        and (_RANK_KEYS & set(s.env) or "--node-rank" in s.argv_text or "--nnodes" in s.argv_text)
    ]


@deploy_rule("audit.pss-baseline-violation")
def pss_baseline(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks (Kubernetes with --pss baseline): privileged, hostPath volumes,
    hostIPC/hostPID/hostNetwork, capabilities outside the baseline set, Unconfined seccomp/AppArmor.

    Why it matters: a namespace labelled pod-security.kubernetes.io/enforce=baseline rejects the pod. The
    Intel route that fits: device plugin resources (by-path mounted by the plugin), drmfd,
    emptyDir{medium: Memory} for /dev/shm and /tmp. pidfd + SYS_PTRACE does not fit.

    How to fix: `tpdoctor audit --fix --pss baseline`.
    """
    if svc.format != "kubernetes" or ctx.pss != "baseline":
        return
    bad = pss_violations(svc)
    if bad:
        yield make_finding(
            "audit.pss-baseline-violation",
            f"{svc.name} violates Pod Security baseline: {'; '.join(bad)}.",
            [ev(svc, ctx, b) for b in bad],
            context=fctx(svc, ctx),
            edits=_within_baseline(svc) if fixes_service(svc) else [],
        )


def _within_baseline(svc: Service) -> list[Edit]:
    """Intel within baseline: drmfd (no SYS_PTRACE), by-path from the device plugin (no hostPath)."""
    edits: list[Edit] = k8s_device_hostpaths(svc)
    if backend(svc) == "xpu":
        if "SYS_PTRACE" in svc.caps_added:
            edits.append(
                RemoveCapability("SYS_PTRACE", why="SYS_PTRACE removed (baseline forbids it): drmfd route")
            )
        if "CCL_ZE_IPC_EXCHANGE" not in svc.env:
            why = "CCL_ZE_IPC_EXCHANGE=drmfd: the route that needs no capability"
            edits.append(SetEnv("CCL_ZE_IPC_EXCHANGE", "drmfd", why=why))
    return edits + [
        Manual(why=w)
        for w in (
            "Pod Security baseline: no SYS_PTRACE, so oneCCL's pidfd route is out; drmfd with the device "
            "plugin's by-path entries is used",
            "no hostPath: by-path comes from the Intel GPU plugin (-bypath=single gives plain files, "
            "issue #2158; deploy the plugin with -bypath=all if Level Zero memory queries fail)",
            "no hostIPC: /dev/shm is a memory emptyDir, counted against the pod's memory limit",
        )
    ]


def pss_violations(svc: Service) -> list[str]:
    """Pod Security Standards 'baseline' checks that apply to one container and its pod."""
    bad: list[str] = []
    if svc.privileged:
        bad.append("privileged: true")
    for name, val in (("hostIPC", svc.ipc), ("hostPID", svc.pid), ("hostNetwork", svc.network)):
        if val == "host":
            bad.append(f"{name}: true")
    for m in svc.mounts:
        if m.kind == "hostPath":
            bad.append(f"hostPath volume {m.source}")
    extra = {normalize_cap(c) for c in svc.cap_add} - PSS_BASELINE_CAPS
    if extra:
        bad.append("capabilities.add " + ", ".join(sorted(extra)))
    if svc.security.seccomp == "unconfined":
        bad.append("seccompProfile Unconfined")
    if svc.security.apparmor == "unconfined":
        bad.append("AppArmor unconfined")
    return bad
