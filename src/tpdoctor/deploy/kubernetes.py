"""Kubernetes front-end (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List,
LeaderWorkerSet, KubeRay RayCluster/RayService/RayJob, KServe InferenceService/ServingRuntime, JobSet)
and the patcher that writes the findings' edits back into the round-trip tree."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap

from tpdoctor.deploy.exceptions import ANNOTATION, allows_in_lines, parse_allow_body
from tpdoctor.deploy.frontend import unsupported
from tpdoctor.deploy.io import dump_yaml_docs, load_yaml_docs
from tpdoctor.deploy.model import DeploymentModel, GpuRequest, MountSpec, SecurityOpts, Service
from tpdoctor.deploy.yamledit import (
    append_item,
    ensure_map,
    ensure_seq,
    give_tail_comments,
    hold_tail_comments,
    merged_has,
    unshare,
)
from tpdoctor.errors import InputError, NotDeploymentError
from tpdoctor.limits import cap_services, parse_count
from tpdoctor.model.edits import (
    K8S_GPU_RESOURCE,
    AddCapability,
    DefaultSeccomp,
    DropAllCapabilities,
    Edit,
    EmptyDir,
    NoNewPrivileges,
    RemoveCapability,
    RemoveHostPath,
    ReserveGpus,
    SetEnv,
    Unset,
)
from tpdoctor.redact import clip
from tpdoctor.units import parse_size

GPU_RESOURCES = {
    "nvidia.com/gpu": "nvidia",
    "gpu.intel.com/i915": "intel",
    "gpu.intel.com/xe": "intel",
    # the Intel GPU plugin on WSL2 hands out /dev/dxg GPUs under this name (intel-device-plugins-for-kubernetes
    # cmd/gpu_plugin, demo/intelgpu-job-wsl.yaml): one GPU each, not a request of unknown size (gwild52)
    "gpu.intel.com/dxg": "intel",
    "amd.com/gpu": "amd",
}
# DRA DeviceClasses of the GPU resource drivers: intel/intel-resource-drivers-for-kubernetes
# deployments/gpu/base/device-class.yaml (gpu.intel.com) and NVIDIA/k8s-dra-driver-gpu
# deployments/helm/dra-driver-nvidia-gpu/templates/deviceclass-gpu.yaml (gpu.nvidia.com).
DRA_CLASSES = {"gpu.intel.com": "intel", "gpu.nvidia.com": "nvidia"}
UNBOUNDED = 1 << 40  # emptyDir{medium: Memory} without sizeLimit: bounded by the pod's memory only


@dataclass
class Workload:
    doc_index: int
    obj: CommentedMap
    pod_spec: CommentedMap
    pod_meta: CommentedMap | None
    name: str  # metadata.name, plus ":role" for a template inside a multi-template workload
    kind: str
    extra: dict[str, str] | None = None  # launcher, group size, replicas of this template

    @property
    def containers(self) -> list[Any]:
        """The pod's containers; a KServe predictor may give one container as `model:`."""
        cs = self.pod_spec.get("containers")
        if cs:
            return list(cs)
        model = self.pod_spec.get("model")
        return [model] if isinstance(model, dict) and self.kind == "InferenceService" else []


# Extended resources under the vendors' domains that are not GPUs: an IMEX channel, and the NVIDIA Network Operator's
# RDMA/SR-IOV NICs (nvidia.com/rdma_shared_device_a, nvidia.com/hostdev, nvidia.com/sriov_*): review53
_NOT_GPU_RESOURCES = ("imex", "rdma", "hostdev", "sriov")


def _other_gpu_resource(name: str) -> bool:
    """An extended resource that hands out GPUs under a name GPU_RESOURCES does not count: the GPU vendors' domains
    (the NVIDIA device plugin's time-slicing `nvidia.com/gpu.shared` with renameByDefault, MIG's mixed strategy
    `nvidia.com/mig-<profile>`, renamed resources) and vGPU/sharing plugins whose name says gpu."""
    if any(k in name.lower() for k in _NOT_GPU_RESOURCES):
        return False
    return name.startswith(("nvidia.com/", "amd.com/", "gpu.intel.com/")) or "gpu" in name.lower()


def container_name(c: Any) -> str:
    """A KServe predictor's `model:` container has no name; KServe calls it kserve-container
    (pkg/constants/constants.go InferenceServiceContainerName)."""
    return str(c.get("name") or "kserve-container")


Template = tuple[str, Any, Any, dict[str, str]]  # role, pod spec, pod metadata, extra


def _tpl(t: Any) -> tuple[Any, Any]:
    t = t if isinstance(t, dict) else {}
    return t.get("spec"), t.get("metadata")


def _n(v: Any, default: int = 1) -> str:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else str(default)  # `replicas: true` (gsafe40)


def _ray_groups(cluster: Any) -> list[Template]:
    """KubeRay RayCluster spec (ray-operator/apis/ray/v1/raycluster_types.go): headGroupSpec and
    workerGroupSpecs[], each with a PodTemplateSpec `template`."""
    cluster = cluster if isinstance(cluster, dict) else {}
    out: list[Template] = []
    head = cluster.get("headGroupSpec") or {}
    head = head if isinstance(head, dict) else {}
    spec, meta = _tpl(head.get("template"))
    out.append(("head", spec, meta, {"launcher": "ray", "replicas": "1", **_kuberay_shm(head)}))
    for g in cluster.get("workerGroupSpecs") or []:
        if isinstance(g, dict):
            spec, meta = _tpl(g.get("template"))
            out.append(
                (
                    str(g.get("groupName") or "worker"),
                    spec,
                    meta,
                    {"launcher": "ray", "replicas": _n(g.get("replicas")), **_kuberay_shm(g)},
                )
            )
    return out


def _kuberay_shm(group: dict[str, Any]) -> dict[str, str]:
    """KubeRay's operator mounts a Memory emptyDir at /dev/shm in each group's Ray container (the pod's first)
    unless that container mounts /dev/shm itself or rayStartParams sets plasma-directory; its sizeLimit is the
    container's memory limit, else its request, else none (ray-project/kuberay@feeaf72
    ray-operator/controllers/ray/common/pod.go: BuildPod's addEmptyDir(SharedMemoryVolumeName "/dev/shm"),
    makeEmptyDirVolume, findMemoryReqOrLimit). gwild50: its own samples mount none and rely on it."""
    params = group.get("rayStartParams")
    if isinstance(params, dict) and "plasma-directory" in params:
        return {}
    return {"kuberay_shm": "1"}


def _kuberay_memory(c: dict[str, Any]) -> str | None:
    res: Any = c.get("resources")
    for key in ("limits", "requests"):
        block: Any = res.get(key) if isinstance(res, dict) else None
        if isinstance(block, dict) and block.get("memory") is not None:
            return str(block["memory"])
    return None


def _templates(obj: dict[str, Any]) -> list[Template]:
    """Every pod template of a workload, with the role it plays in a multi-node group."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        return []
    if kind == "Pod":
        return [("", spec, obj.get("metadata"), {})]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return [("", *_tpl(spec.get("template")), {"replicas": _n(spec.get("replicas"))})]
    if kind == "Job":
        return [("", *_tpl(spec.get("template")), {"replicas": _n(spec.get("parallelism"))})]
    if kind == "CronJob":
        return [("", *_tpl(((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")), {})]
    if kind == "LeaderWorkerSet":
        # lws api/leaderworkerset/v1/leaderworkerset_types.go: leaderWorkerTemplate.{leaderTemplate,
        # workerTemplate, size}; without a leaderTemplate the leader uses the worker template.
        lwt = spec.get("leaderWorkerTemplate") or {}
        ex = {"launcher": "lws", "lws_size": _n(lwt.get("size")), "replicas": "1"}
        out: list[Template] = []
        if lwt.get("leaderTemplate"):
            out.append(("leader", *_tpl(lwt.get("leaderTemplate")), ex))
        out.append(("worker", *_tpl(lwt.get("workerTemplate")), ex))
        return out
    if kind == "RayCluster":
        return _ray_groups(spec)
    if kind == "RayService":
        return _ray_groups(spec.get("rayClusterConfig"))
    if kind == "RayJob":
        return _ray_groups(spec.get("rayClusterSpec"))
    if kind == "JobSet":
        # jobset api/jobset/v1alpha2/jobset_types.go: replicatedJobs[].template is a JobTemplateSpec
        out = []
        for rj in spec.get("replicatedJobs") or []:
            if isinstance(rj, dict):
                job = (rj.get("template") or {}).get("spec") or {}
                ex = {"launcher": "jobset", "replicas": _n(rj.get("replicas"))}
                out.append((str(rj.get("name") or "job"), *_tpl(job.get("template")), ex))
        return out
    if kind == "InferenceService":
        # kserve pkg/apis/serving/v1beta1: predictor inlines a PodSpec (containers, or one `model`
        # container) and workerSpec (multi-node, Ray) adds worker pods.
        out = []
        pred = spec.get("predictor") or {}
        if isinstance(pred, dict):
            multi = {"launcher": "ray"} if pred.get("workerSpec") else {}
            out.append(("predictor", pred, obj.get("metadata"), dict(multi)))
            if isinstance(pred.get("workerSpec"), dict):
                out.append(("worker", pred["workerSpec"], obj.get("metadata"), dict(multi)))
        return out
    if kind in ("ServingRuntime", "ClusterServingRuntime"):
        # kserve pkg/apis/serving/v1alpha1/servingruntime_types.go: ServingRuntimePodSpec inline, workerSpec
        multi = {"launcher": "ray"} if spec.get("workerSpec") else {}
        out = [("", spec, obj.get("metadata"), dict(multi))]
        if isinstance(spec.get("workerSpec"), dict):
            out.append(("worker", spec["workerSpec"], obj.get("metadata"), dict(multi)))
        return out
    return []


_POD_TEMPLATE_DEPTH = 24  # a CRD nests its pod templates a few levels down (TrainingRuntime: 6); bounded walk


def _is_pod_spec(node: Any) -> bool:
    cs = node.get("containers") if isinstance(node, dict) else None
    return isinstance(cs, list) and bool(cs) and all(isinstance(c, dict) and "image" in c for c in cs)


def _crd_templates(obj: dict[str, Any]) -> list[Template]:
    """The pod templates of a workload kind tpdoctor has no reader for: every mapping under `spec` whose `containers`
    is a list of containers with an image (a PodSpec), named by the replica spec it belongs to (a list item's `name`,
    or a mapping key whose value holds a `template`), with that spec's `replicas`. gwild52: a Volcano Job
    (tasks[].template), Kubeflow's MPIJob (mpiReplicaSpecs.<role>.template) and ClusterTrainingRuntime
    (template.spec.replicatedJobs[].template.spec.template), a Dynamo DynamoGraphDeployment
    (components[].podTemplate) were refused as holding no workload. Their pods may be one job's ranks spread over
    nodes (launcher "crd"): each template is audited by itself."""
    out: list[Template] = []
    seen: dict[str, int] = {}

    def walk(node: Any, role: str, reps: Any, meta: Any, depth: int) -> None:
        if depth > _POD_TEMPLATE_DEPTH or len(out) >= 1000:
            return
        if isinstance(node, dict):
            if _is_pod_spec(node):
                n = seen[role] = seen.get(role, 0) + 1
                label = role if n == 1 else f"{role}-{n}"
                out.append((label, node, meta, {"launcher": "crd", "replicas": _n(reps)}))
                return
            for k, v in node.items():
                if k in ("metadata", "status") or not isinstance(v, (dict, list)):
                    continue
                sub_role, sub_reps, sub_meta = role, reps, meta
                if isinstance(v, dict) and any(t in v for t in ("template", "podTemplate")) and not k.startswith(
                    ("template", "podTemplate", "spec")
                ):
                    sub_role, sub_reps = str(k), v.get("replicas", reps)  # MPIJob mpiReplicaSpecs.Worker
                if k == "spec" and isinstance(node.get("metadata"), dict):
                    sub_meta = node["metadata"]  # a PodTemplateSpec: its metadata is the spec's sibling
                walk(v, sub_role, sub_reps, sub_meta, depth + 1)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    walk(item, item["name"], item.get("replicas", reps), meta, depth + 1)
                else:
                    walk(item, role, reps, meta, depth + 1)

    walk(obj.get("spec"), "", 1, None, 0)
    if not out:
        # KAITO's Workspace (kaito.sh) keeps its pod template at the top level, beside `resource`, with no `spec`:
        # `inference.template.spec` (kaito-project/kaito examples/, gwild54: refused as holding no workload)
        for k, v in obj.items():
            if k not in ("apiVersion", "kind", "metadata", "status", "spec") and isinstance(v, dict):
                walk(v, str(k) if any(t in v for t in ("template", "podTemplate")) else "", 1, None, 1)
    return out


# the API groups of the kinds _templates reads ("" is the core group; extensions: the old Deployment/DaemonSet)
_KIND_GROUPS = {
    "Pod": ("",), "Deployment": ("apps", "extensions"), "StatefulSet": ("apps",), "DaemonSet": ("apps", "extensions"),
    "ReplicaSet": ("apps", "extensions"), "Job": ("batch",), "CronJob": ("batch",),
    "LeaderWorkerSet": ("leaderworkerset.x-k8s.io",), "RayCluster": ("ray.io",), "RayService": ("ray.io",),
    "RayJob": ("ray.io",), "JobSet": ("jobset.x-k8s.io",), "InferenceService": ("serving.kserve.io",),
    "ServingRuntime": ("serving.kserve.io",), "ClusterServingRuntime": ("serving.kserve.io",),
}  # fmt: skip


def _pod_templates(obj: dict[str, Any]) -> list[Template]:
    """A kind tpdoctor reads, by its reader (a misspelled template stays unread: the schema names it); any other kind,
    or one of the same name from another API group (Volcano's batch.volcano.sh Job), by the generic CRD walk."""
    api = obj.get("apiVersion")
    group = api.rpartition("/")[0] if isinstance(api, str) else None
    groups = _KIND_GROUPS.get(str(obj.get("kind")))
    if groups is not None and (group is None or group in groups):
        return _templates(obj)
    return _crd_templates(obj)


def workloads(docs: list[Any]) -> Iterator[Workload]:
    for i, d in enumerate(docs):
        objs = (d.get("items") or []) if isinstance(d, dict) and d.get("kind") == "List" else [d]
        for obj in objs:
            if not isinstance(obj, dict):
                continue
            base = str((obj.get("metadata") or {}).get("name") or obj.get("kind"))
            for role, spec, meta, extra in _pod_templates(obj):
                if isinstance(spec, dict):
                    name = f"{base}:{role}" if role else base
                    yield Workload(i, obj, spec, meta, name, str(obj.get("kind")), extra)  # type: ignore[arg-type]


def _annotation_allows(*metas: Any) -> tuple[dict[str, str], list[str]]:
    allows: dict[str, str] = {}
    problems: list[str] = []
    for m in metas:
        ann = (m or {}).get("annotations") or {}
        if ANNOTATION in ann:
            a, p = parse_allow_body(str(ann[ANNOTATION]))
            allows.update(a)
            problems.extend(p)
    return allows, problems


def _line(node: Any) -> int | None:
    try:
        return int(node.lc.line) + 1
    except AttributeError:
        return None


# The fields the reader below takes as a mapping or a list: where one holds another type, the reader's own error
# (`'int' object is not iterable`) would be the message; _wrong_type names the field instead (gsafe40)
_MAP, _LIST = "a mapping", "a list"
_META_TYPES = (("annotations", _MAP),)
_POD_TYPES = (
    ("securityContext", _MAP),
    ("securityContext.supplementalGroups", _LIST),
    ("securityContext.seccompProfile", _MAP),
    ("securityContext.appArmorProfile", _MAP),
    ("securityContext.seLinuxOptions", _MAP),
    ("containers", _LIST),
    ("volumes", _LIST),
    ("resourceClaims", _LIST),
)
_CONTAINER_TYPES = (
    ("securityContext", _MAP),
    ("securityContext.capabilities", _MAP),
    ("securityContext.capabilities.add", _LIST),
    ("securityContext.capabilities.drop", _LIST),
    ("securityContext.seccompProfile", _MAP),
    ("securityContext.appArmorProfile", _MAP),
    ("securityContext.seLinuxOptions", _MAP),
    ("command", _LIST),
    ("args", _LIST),
    ("env", _LIST),
    ("volumeMounts", _LIST),
    ("resources", _MAP),
    ("resources.limits", _MAP),
    ("resources.requests", _MAP),
    ("resources.claims", _LIST),
)
_VOLUME_TYPES = (("hostPath", _MAP), ("emptyDir", _MAP))
_KIND_NAMES = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"), (list, "a list"), (dict, "a mapping"))


def _kind_of(v: Any) -> str:
    return next((name for t, name in _KIND_NAMES if isinstance(v, t)), "a value")


def _mismatch(field: str, v: Any, want: str) -> str:
    return f"{field}: {clip(str(v), 40, '...')} is {_kind_of(v)}, {want} expected"


def _first_wrong(node: Any, table: tuple[tuple[str, str], ...], where: str) -> str | None:
    for dotted, want in table:
        v = node
        for key in dotted.split("."):
            v = v.get(key) if isinstance(v, dict) else None
        if v is not None and not isinstance(v, dict if want == _MAP else list):
            return _mismatch(where + dotted, v, want)
    return None


def _wrong_type(docs: list[Any]) -> str | None:
    """The first field that the reader takes as a mapping or a list and that holds another type; None if none."""
    for i, d in enumerate(docs):
        objs = d.get("items") if isinstance(d, dict) and d.get("kind") == "List" else [d]
        if not isinstance(objs, list):
            return _mismatch(f"document {i + 1} (List): items", objs, _LIST)
        for obj in objs:
            if not isinstance(obj, dict):
                continue
            meta = obj.get("metadata")
            label = f"document {i + 1} ({obj.get('kind')})"
            if meta is not None and not isinstance(meta, dict):
                return _mismatch(f"{label}: metadata", meta, _MAP)
            label = f"document {i + 1} ({obj.get('kind')} {(meta or {}).get('name') or ''})".replace(" )", ")")
            problem = _first_wrong(meta, _META_TYPES, f"{label}: metadata.")
            if problem:
                return problem
            try:
                templates = _templates(obj)
            except (TypeError, AttributeError, ValueError):
                continue
            for role, spec, pod_meta, _extra in templates:
                if not isinstance(spec, dict):
                    continue
                where = f"{label}: {role + ' ' if role else ''}pod spec "
                problem = _first_wrong(pod_meta, _META_TYPES, f"{where}metadata.") or _first_wrong(
                    spec, _POD_TYPES, where
                )
                if problem:
                    return problem
                for j, v in enumerate(spec.get("volumes") or []):
                    problem = _first_wrong(v, _VOLUME_TYPES, f"{where}volumes[{j}].")
                    if problem:
                        return problem
                for j, c in enumerate(spec.get("containers") or []):
                    problem = _first_wrong(c, _CONTAINER_TYPES, f"{where}containers[{j}].")
                    if problem:
                        return problem
    return None


def secret_data(docs: list[Any]) -> list[str]:
    """Every string value under a Secret's `data:` and `stringData:` (a List's items too). Their keys are the file
    names the pod sees (`hf`, `config.json`, `.dockerconfigjson`), no secret names: a Secret written in flow style next
    to the fixed workload was printed whole in the diff's context lines (gsafe45)."""
    out: list[str] = []
    for d in docs:
        objs = (d.get("items") or []) if isinstance(d, dict) and d.get("kind") == "List" else [d]
        for obj in objs if isinstance(objs, list) else []:
            if not isinstance(obj, dict) or obj.get("kind") != "Secret":
                continue
            for section in ("data", "stringData"):
                values = obj.get(section)
                if isinstance(values, dict):
                    out.extend(v for v in values.values() if isinstance(v, str))
    return out


def parse_kubernetes(text: str, source: str, validate: bool = True) -> tuple[DeploymentModel, list[Any]]:
    """`validate=False`: skip the schema check (jsonschema); for a manifest quoted in a log, only its content matters."""
    docs = [d for d in load_yaml_docs(text, source)]
    try:
        return _parse_docs(docs, text, source, validate)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as exc:
        problem = _wrong_type(docs)
        if problem is None:
            raise exc from None  # audit's load names the file and the kind of value
        raise InputError(f"{source}: {problem}") from None


def _parse_docs(docs: list[Any], text: str, source: str, validate: bool) -> tuple[DeploymentModel, list[Any]]:
    model = DeploymentModel(source=source, format="kubernetes")
    model.secret_data = secret_data(docs)
    lines = text.splitlines()
    found = list(workloads(docs))
    claims = dra_claims(docs)
    runtimes = runtime_index(docs)  # once per file, not per InferenceService (4000 of each took 14 s; review39)
    if not found:
        from tpdoctor.deploy.k8s_schema import refuse_unreadable_workloads

        refuse_unreadable_workloads(docs, source)
        raise NotDeploymentError(
            f"{source}: no Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob, LeaderWorkerSet, "
            "RayCluster/RayService/RayJob, InferenceService/ServingRuntime or JobSet found"
        )
    if validate:
        from tpdoctor.deploy.k8s_schema import validate_docs  # jsonschema: only for Kubernetes files

        model.schema_problems, schema_notes = validate_docs(docs, source)
        model.notes.extend(schema_notes)
    cap_services(sum(len(w.containers) for w in found), "containers", source)
    starts = sorted({_line(w.obj) or 1 for w in found})
    for w in found:
        first = _line(w.obj) or 1
        nxt = bisect.bisect_right(starts, first)  # the next workload's first line (a scan of all of them: quadratic)
        last = starts[nxt] - 1 if nxt < len(starts) else len(lines)
        c_allows, c_problems = allows_in_lines(lines[first - 1 : last])
        a_allows, a_problems = _annotation_allows(w.obj.get("metadata"), w.pod_meta)
        spec = w.pod_spec
        psc = spec.get("securityContext") or {}
        vols = _volumes(spec)
        runtime, runtime_label = serving_runtime(w, runtimes)
        if runtime is not None:  # KServe MergePodSpec: the runtime's volumes, the predictor's by the same name win
            vols = {**_volumes(runtime), **vols}
        for ci, c in enumerate(w.containers):
            if not isinstance(c, dict):
                continue
            s = _container(w, c, psc, vols)
            if s.extra.pop("kuberay_shm", None) and ci == 0 and s.shm_size is None:
                mem = _kuberay_memory(c)
                s.shm_size = (parse_size(mem) if mem else None) or UNBOUNDED
                s.shm_size_raw = f"emptyDir Memory sizeLimit {mem or 'unset'} (added by the KubeRay operator)"
            _merge_runtime(s, runtime, runtime_label, vols)
            s.gpus.extend(_dra_requests(w, c, claims))
            s.allows = {**c_allows, **a_allows}
            s.notes = c_problems + a_problems
            model.services.append(s)
    return model, docs


@dataclass
class DraRequest:
    device_class: str
    count: int | None  # None: allocationMode All
    name: str


IMEX_CHANNEL_CLASS = "compute-domain-default-channel.nvidia.com"


def _requests(devices: Any) -> list[DraRequest]:
    """resource.k8s.io/v1 `requests[].exactly` (and v1beta1's flat request) of a claim spec."""
    out: list[DraRequest] = []
    for r in (devices or {}).get("requests") or []:
        if not isinstance(r, dict):
            continue
        exactly = r.get("exactly")
        ex: dict[str, Any] = exactly if isinstance(exactly, dict) else r
        cls = str(ex.get("deviceClassName") or "")
        mode = ex.get("allocationMode") or "ExactCount"
        count = None if mode == "All" else (ex.get("count") if isinstance(ex.get("count"), int) else 1)
        out.append(DraRequest(cls, count, str(r.get("name") or "")))
    return out


def dra_claims(docs: list[Any]) -> dict[tuple[str, str], list[DraRequest]]:
    """(kind, name) -> requests, for every ResourceClaim / ResourceClaimTemplate in the file."""
    out: dict[tuple[str, str], list[DraRequest]] = {}
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "ComputeDomain" and str(d.get("apiVersion", "")).startswith(
            "resource.nvidia.com/"
        ):
            # NVIDIA's DRA driver makes the ResourceClaimTemplate a ComputeDomain names: an IMEX channel of device
            # class compute-domain-default-channel.nvidia.com (k8s-dra-driver-gpu api/nvidia.com/resource/v1beta1
            # computedomain.go, ComputeDomainChannelSpec), no GPU; it was read as a GPU claim of unknown size (review53;
            # gwild54 found the same on a real file)
            channel = (d.get("spec") or {}).get("channel") if isinstance(d.get("spec"), dict) else None
            tmpl = channel.get("resourceClaimTemplate") if isinstance(channel, dict) else None
            if isinstance(tmpl, dict) and tmpl.get("name"):
                out[("ResourceClaimTemplate", str(tmpl["name"]))] = [
                    DraRequest(IMEX_CHANNEL_CLASS, 1, "channel")
                ]
            continue
        if not isinstance(d, dict) or d.get("kind") not in ("ResourceClaim", "ResourceClaimTemplate"):
            continue
        name = str((d.get("metadata") or {}).get("name") or "")
        spec = d.get("spec") or {}
        if d["kind"] == "ResourceClaimTemplate":
            spec = spec.get("spec") or {}
        out[(str(d["kind"]), name)] = _requests(spec.get("devices"))
    return out


def _dra_requests(
    w: Workload, c: dict[str, Any], claims: dict[tuple[str, str], list[DraRequest]]
) -> list[GpuRequest]:
    """GPUs a container gets through DRA: its resources.claims, resolved through the pod's
    resourceClaims to a claim or claim template of this file."""
    pod_claims = {
        str(rc.get("name")): rc for rc in w.pod_spec.get("resourceClaims") or [] if isinstance(rc, dict)
    }
    out: list[GpuRequest] = []
    for ref in (c.get("resources") or {}).get("claims") or []:
        if not isinstance(ref, dict):
            continue
        rc = pod_claims.get(str(ref.get("name")), {})
        key = (
            ("ResourceClaimTemplate", str(rc["resourceClaimTemplateName"]))
            if rc.get("resourceClaimTemplateName")
            else ("ResourceClaim", str(rc.get("resourceClaimName") or ""))
        )
        reqs = claims.get(key)
        if reqs is None:  # defined in another file: a GPU claim of unknown size
            out.append(
                GpuRequest(
                    via="dra", vendor="unknown", count=None, raw=f"{key[0]} {key[1]} (not in this file)"
                )
            )
            continue
        for r in reqs:
            if ref.get("request") and r.name != ref.get("request"):
                continue
            vendor = DRA_CLASSES.get(r.device_class)
            if vendor is None and "gpu" not in r.device_class:
                continue
            out.append(
                GpuRequest(
                    via="dra",
                    vendor=vendor or "unknown",  # type: ignore[arg-type]
                    count=r.count,
                    raw=f"{key[0]} {key[1]}: {r.device_class} x {'All' if r.count is None else r.count}",
                )
            )
    return out


def _add_mounts(s: Service, volume_mounts: Any, vols: dict[str, Any], origin: str = "") -> None:
    """A container's volumeMounts resolved through its pod's volumes; `origin` names where they come from when not
    the container itself (a KServe ServingRuntime)."""
    for vm in volume_mounts if isinstance(volume_mounts, list) else []:
        if not isinstance(vm, dict):
            continue
        target = str(vm.get("mountPath"))
        if any(m.target.rstrip("/") == target.rstrip("/") for m in s.mounts):
            continue  # the container's own mount at that path wins (KServe merges by mountPath)
        v = vols.get(str(vm.get("name"))) or {}
        v = v if isinstance(v, dict) else {}
        mount = MountSpec(target=target, read_only=vm.get("readOnly") is True, raw=str(vm.get("name")))
        if "hostPath" in v:
            mount.kind, mount.source = "hostPath", str((v["hostPath"] or {}).get("path"))
        elif "emptyDir" in v:
            ed = v["emptyDir"] if isinstance(v["emptyDir"], dict) else {}
            mount.kind, mount.medium = "emptyDir", ed.get("medium")
            mount.size = str(ed["sizeLimit"]) if ed.get("sizeLimit") is not None else None
        else:
            mount.kind, mount.source = "volume", str(vm.get("name"))
        s.mounts.append(mount)
        if mount.target.rstrip("/") == "/dev/shm" and mount.kind == "emptyDir" and mount.medium == "Memory":
            s.shm_size = parse_size(mount.size) if mount.size else UNBOUNDED
            s.shm_size_raw = f"emptyDir Memory sizeLimit {mount.size or 'unset'}{origin}"


_RUNTIME_KINDS = ("ServingRuntime", "ClusterServingRuntime")


_Found = tuple[dict[str, Any], str]
# KServe's first runtime per (format, a multi-node runtime, the model's version or None)
_Candidates = dict[tuple[str, bool, str | None], _Found]
RuntimeIndex = tuple[dict[str, _Found], _Candidates]


def runtime_index(docs: list[Any]) -> RuntimeIndex:
    """The file's ServingRuntimes by name and by auto-selected model format, in KServe's order."""
    by_name: dict[str, _Found] = {}
    entries: list[tuple[tuple[int, int, int, str, int], str, bool, set[str], _Found]] = []
    for order, d in enumerate(docs):
        if not isinstance(d, dict) or d.get("kind") not in _RUNTIME_KINDS or not isinstance(d.get("spec"), dict):
            continue
        meta = d.get("metadata")
        rname = str((meta if isinstance(meta, dict) else {}).get("name") or "")
        found = (d["spec"], f"{d['kind']} {rname[:80]}")
        # GetServingRuntime: the namespace's ServingRuntime of that name before a ClusterServingRuntime
        if rname not in by_name or (d["kind"] == "ServingRuntime" and by_name[rname][1].startswith("Cluster")):
            by_name[rname] = found
        # kserve GetSupportingRuntimes: a disabled or multi-model runtime is never auto-selected (review39)
        if d["spec"].get("disabled") is True or d["spec"].get("multiModel") is True:
            continue
        formats = d["spec"].get("supportedModelFormats")
        formats = [f for f in formats if isinstance(f, dict)] if isinstance(formats, list) else []
        first_priority: dict[str, Any] = {}  # GetPriority: the first entry of that name
        versions: dict[str, set[str]] = {}  # the auto-select entries' versions, by name
        for f in formats:
            fname = f.get("name")
            if isinstance(fname, str):
                first_priority.setdefault(fname, f.get("priority"))
                if f.get("autoSelect") is True:
                    versions.setdefault(fname, set()).add(str(f.get("version")))
        multi = d["spec"].get("workerSpec") is not None
        for fname, listed in versions.items():
            # namespaced before cluster runtimes; each by name, then stably by the format's priority (set before
            # unset, higher first); the file's order last
            prio = first_priority[fname]
            has = isinstance(prio, int) and not isinstance(prio, bool)
            key = (0 if d["kind"] == "ServingRuntime" else 1, 0 if has else 1, -prio if has else 0, rname, order)
            entries.append((key, fname, multi, listed, found))
    by_format: _Candidates = {}
    for _key, fname, multi, listed, found in sorted(entries, key=lambda e: e[0]):
        by_format.setdefault((fname, multi, None), found)
        for v in listed:
            by_format.setdefault((fname, multi, v), found)
    return by_name, by_format


def serving_runtime(w: Workload, runtimes: RuntimeIndex) -> tuple[dict[str, Any] | None, str]:
    """The KServe ServingRuntime an InferenceService predictor's `model:` runs in: named by `model.runtime`, else
    the runtime that auto-selects its `modelFormat` (kserve pkg/apis/serving/v1beta1/predictor_model.go
    GetSupportingRuntimes: supportedModelFormats with autoSelect). KServe builds the pod from the runtime's spec and
    merges the model container into the runtime's kserve-container (pkg/controller/v1beta1/inferenceservice/
    components/predictor.go, MergeRuntimeContainers / MergePodSpec), so the runtime's volumes and mounts are the
    pod's too. Returns (the runtime's spec if this file holds it, a label for it); (None, "") when not a `model:`."""
    if w.kind != "InferenceService" or w.pod_spec.get("containers"):
        return None, ""
    model = w.pod_spec.get("model")
    if not isinstance(model, dict):
        return None, ""
    name = model.get("runtime")
    raw_format = model.get("modelFormat")
    model_format: dict[str, Any] = raw_format if isinstance(raw_format, dict) else {}
    fmt = model_format.get("name")
    by_name, by_format = runtimes
    if isinstance(name, str) and name and name in by_name:
        return by_name[name]
    # IsMultiNodeRuntime() == multiNodeEnabled: a runtime with a workerSpec only for a predictor with one, and a
    # model's version only from a runtime that lists it (RuntimeSupportsModel's mt:<name>:<version>) (review39)
    version = model_format.get("version")
    auto = (fmt, w.pod_spec.get("workerSpec") is not None, None if version is None else str(version))
    if not name and isinstance(fmt, str) and fmt and auto in by_format:
        return by_format[auto]
    if isinstance(name, str) and name:
        return None, f"ServingRuntime {name[:80]}"
    return None, f"the runtime KServe auto-selects for modelFormat {str(fmt)[:80]}" if fmt else "a KServe runtime"


def _volumes(spec: dict[str, Any]) -> dict[str, Any]:
    volumes = spec.get("volumes")
    return {str(v.get("name")): v for v in volumes if isinstance(v, dict)} if isinstance(volumes, list) else {}


def _merge_runtime(s: Service, runtime: dict[str, Any] | None, label: str, vols: dict[str, Any]) -> None:
    """What the ServingRuntime adds to a predictor's model container (only its volumes and mounts are read); `vols`
    the pod's volumes as KServe merges them (the runtime's and the predictor's, review39)."""
    if not label:
        return
    s.extra["kserve_runtime"] = label
    if runtime is None:
        return
    s.extra["kserve_runtime_in_file"] = "1"
    containers = [c for c in runtime.get("containers") or [] if isinstance(c, dict)]
    main = next((c for c in containers if c.get("name") == "kserve-container"), containers[0] if containers else None)
    if main is not None:
        _add_mounts(s, main.get("volumeMounts"), vols, origin=f" (from {label})")


def _container(w: Workload, c: dict[str, Any], psc: dict[str, Any], vols: dict[str, Any]) -> Service:
    spec = w.pod_spec
    csc = c.get("securityContext") or {}
    caps = csc.get("capabilities") or {}
    sec = SecurityOpts()
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        sec.seccomp = "unconfined"
    elif seccomp == "Localhost":
        sec.seccomp = "localhost"
    elif seccomp is None:
        sec.seccomp = "k8s-unset"  # the kubelet default is Unconfined unless seccompDefault is on
    apparmor = (csc.get("appArmorProfile") or psc.get("appArmorProfile") or {}).get("type")
    meta: Any = w.pod_meta or {}
    pod_ann: dict[str, Any] = dict(meta.get("annotations") or {})
    ann = pod_ann.get(f"container.apparmor.security.beta.kubernetes.io/{c.get('name')}")
    if apparmor == "Unconfined" or ann == "unconfined":
        sec.apparmor = "unconfined"
    se = csc.get("seLinuxOptions") or psc.get("seLinuxOptions") or {}
    if se.get("type") == "spc_t":
        sec.label.append("type:spc_t")
    ape = csc.get("allowPrivilegeEscalation")
    sec.allow_privilege_escalation = ape if isinstance(ape, bool) else None
    sec.no_new_privileges = (ape is False) or None
    rnr = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    sec.run_as_non_root = rnr if isinstance(rnr, bool) else None
    s = Service(name=f"{w.kind}/{w.name}/{container_name(c)}", format="kubernetes", security=sec)
    s.image = str(c.get("image") or "") or None
    s.entrypoint = [str(x) for x in c.get("command") or []]
    s.command = [str(x) for x in c.get("args") or []]
    s.line = _line(c)
    s.privileged = csc.get("privileged") is True
    s.cap_add = [str(x) for x in caps.get("add") or []]
    s.cap_drop = [str(x) for x in caps.get("drop") or []]
    s.read_only = csc.get("readOnlyRootFilesystem") is True
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    s.user = str(uid) if uid is not None else None
    s.group_add = [str(g) for g in psc.get("supplementalGroups") or []]
    s.ipc = "host" if spec.get("hostIPC") else None
    s.pid = "host" if spec.get("hostPID") else None
    s.network = "host" if spec.get("hostNetwork") else None
    s.userns = "private" if spec.get("hostUsers") is False else None
    for e in c.get("env") or []:
        if not isinstance(e, dict):
            continue
        if "valueFrom" in e:
            s.env_from_secret.append(str(e.get("name")))
        else:
            s.env[str(e.get("name"))] = str(e.get("value", ""))
    _add_mounts(s, c.get("volumeMounts"), vols)
    res = c.get("resources") or {}
    for key in ("limits", "requests"):
        for rname, qty in (res.get(key) or {}).items():
            vendor = GPU_RESOURCES.get(str(rname))
            if vendor and not any(g.raw.startswith(str(rname)) for g in s.gpus):
                n: int | None = parse_count(qty, f"resources.{key}.{rname}") if str(qty).isdigit() else None
                if n is None and isinstance(qty, (int, float)) and not isinstance(qty, bool):
                    n = parse_count(qty, f"resources.{key}.{rname}")
                s.gpus.append(GpuRequest(via="k8s-resource", vendor=vendor, count=n, raw=f"{rname}: {qty}"))  # type: ignore[arg-type]
            elif not vendor and _other_gpu_resource(str(rname)) and "other_gpu_resources" not in s.extra:
                # a GPU under another resource name (time-slicing's nvidia.com/gpu.shared, MIG's nvidia.com/mig-*,
                # a renamed or vGPU resource): a GPU request of unknown size, not "no GPU"
                s.extra["other_gpu_resources"] = f"{clip(str(rname), 120)}: {clip(str(qty), 40)}"
    # replicas (the API default is 1), a Job's parallelism, and the multi-node launcher, if any
    s.extra.update({k: v for k, v in (w.extra or {}).items() if w.kind != "DaemonSet" or k != "replicas"})
    if w.kind == "DaemonSet":
        s.extra.pop("replicas", None)
    for key in ("tensorParallelSize", "pipelineParallelSize"):  # KServe workerSpec sizes
        v = w.pod_spec.get(key) if isinstance(w.pod_spec, dict) else None
        if isinstance(v, int):
            s.env.setdefault(
                "TENSOR_PARALLEL_SIZE" if key.startswith("tensor") else "PIPELINE_PARALLEL_SIZE", str(v)
            )
    s.extra["pod"] = f"{w.kind}/{w.name}"
    s.extra["container"] = container_name(c)
    rc = spec.get("runtimeClassName")  # gnew38: the pod's RuntimeClass (k8s.nvidia-runtime-class-missing)
    if isinstance(rc, str) and rc:
        s.extra["runtime_class"] = rc
    return s


# --- writing edits back ------------------------------------------------------------------------

Op = tuple[str, ...]
# where each switch lives: the container's securityContext, or the pod spec
_UNSET = {
    "privileged": ("sc_unset", "privileged"),
    "ipc": ("pod_unset", "hostIPC"),
    "pid": ("pod_unset", "hostPID"),
}


def spell(edit: Edit) -> Op | None:
    """A typed edit as an operation on a container and its pod (apply_k8s_ops); None: no
    Kubernetes spelling."""
    if isinstance(edit, Unset):
        return _UNSET[edit.key]
    if isinstance(edit, RemoveHostPath):
        return ("remove_hostpath", edit.target)
    if isinstance(edit, ReserveGpus):
        return ("limit", K8S_GPU_RESOURCE[edit.vendor], edit.count)
    if isinstance(edit, EmptyDir):
        return ("volume", edit.name, edit.target, edit.medium, edit.size)
    if isinstance(edit, AddCapability):
        return ("cap_add", edit.cap)
    if isinstance(edit, RemoveCapability):
        return ("cap_remove", edit.cap)
    if isinstance(edit, DropAllCapabilities):
        return ("cap_drop_all",)
    if isinstance(edit, NoNewPrivileges):
        return ("sc_set", "allowPrivilegeEscalation", "false")
    if isinstance(edit, DefaultSeccomp):
        return ("sc_set", "seccompProfile", "RuntimeDefault")
    if isinstance(edit, SetEnv):
        return ("env", edit.name, edit.value)
    return None


class KubernetesFrontend:
    """Kubernetes manifests (every document of the file) as ruamel round-trip trees."""

    def parse(self, text: str, source: str) -> tuple[DeploymentModel, K8sDocs]:
        model, docs = parse_kubernetes(text, source)
        return model, K8sDocs(docs, text.lstrip().startswith("---"), text)

    def apply(self, handle: K8sDocs, service: Service, edits: Sequence[Edit]) -> list[str]:
        ops = [(e, spell(e)) for e in edits]
        apply_k8s_ops(handle.docs, service, [op for _, op in ops if op is not None])
        return [unsupported(service, e) for e, op in ops if op is None]

    def dump(self, handle: K8sDocs) -> str:
        text = dump_yaml_docs(handle.docs, handle.text)
        return "---\n" + text if handle.leading_marker and not text.startswith("---") else text

    def notices(self, handle: K8sDocs) -> list[str]:
        return []


@dataclass
class K8sDocs:
    docs: list[Any]
    leading_marker: bool  # the file starts with `---`: so does the fixed one
    text: str | None = None  # as read: the fixed file indents its lists as this does


FRONTEND = KubernetesFrontend()


# the workloads of the last document list edited, by "kind/name": one walk per file, not one per service (a file of
# 10k documents walked them all for each of its services: quadratic, minutes for `audit --fix`, gsafe39)
_INDEX: list[tuple[list[Any], dict[str, list[Workload]]]] = []


def _workload_index(docs: list[Any]) -> dict[str, list[Workload]]:
    if not _INDEX or _INDEX[0][0] is not docs:
        index: dict[str, list[Workload]] = {}
        for w in workloads(docs):
            index.setdefault(f"{w.kind}/{w.name}", []).append(w)
        _INDEX[:] = [(docs, index)]
    return _INDEX[0][1]


def find_container(docs: list[Any], service: Service) -> tuple[Workload, CommentedMap]:
    for w in _workload_index(docs).get(str(service.extra.get("pod")), []):
        for c in w.containers:
            if container_name(c) == service.extra.get("container"):
                return w, c
    raise KeyError(service.name)


_SC_OPS = ("sc_set", "sc_unset", "cap_drop_all", "cap_add", "cap_remove")
_OP_KEYS = {
    **dict.fromkeys(_SC_OPS, ("securityContext",)),
    "env": ("env",),
    "limit": ("resources",),
    "volume": ("volumeMounts",),
    "remove_hostpath": ("volumeMounts",),
}


def apply_k8s_ops(docs: list[Any], service: Service, ops: list[tuple[str, ...]]) -> None:
    """Kubernetes plan operations: ('pod_unset', key) ('sc_set', key, value) ('sc_unset', key)
    ('cap_drop_all',) ('cap_add', CAP) ('cap_remove', CAP) ('env', K, V) ('limit', resource, n)
    ('volume', name, mountPath, medium, sizeLimit) ('remove_hostpath', mountPath)."""
    w, c = find_container(docs, service)
    spec = w.pod_spec
    held = [hold_tail_comments(c), hold_tail_comments(spec)]
    _apply_ops(c, spec, ops)
    for m, key, raw in held:
        give_tail_comments(m, key, raw)


def _apply_ops(c: Any, spec: Any, ops: list[tuple[str, ...]]) -> None:
    for op in ops:
        kind = op[0]
        # what the op edits, unshared first: a securityContext or env aliased by a sidecar (`*sc`) or merged from an
        # anchor (`<<: *c`) was edited for both, and the sidecar tpdoctor said nothing about lost its capabilities
        for key in _OP_KEYS.get(kind, ()):
            unshare(c, key)
        if kind in ("volume", "remove_hostpath"):
            unshare(spec, "volumes")
        if kind == "pod_unset":
            if merged_has(spec, op[1]):
                spec[op[1]] = False  # the pod's own false: a deleted merged key comes back on the next load
            else:
                spec.pop(op[1], None)
        elif kind == "sc_set":
            sc = ensure_map(c, "securityContext")
            if op[1] == "seccompProfile":
                sp = CommentedMap()
                sp["type"] = op[2]
                sc["seccompProfile"] = sp
            else:
                sc[op[1]] = op[2] == "true" if op[2] in ("true", "false") else op[2]
        elif kind == "sc_unset":
            sc_any: Any = c.get("securityContext") or {}
            if isinstance(sc_any, CommentedMap) and merged_has(sc_any, op[1]):
                sc_any[op[1]] = False
            else:
                sc_any.pop(op[1], None)
        elif kind == "cap_drop_all":
            caps = ensure_map(ensure_map(c, "securityContext"), "capabilities")
            drop = ensure_seq(caps, "drop")
            if "ALL" not in [str(x) for x in drop]:
                drop.append("ALL")
        elif kind == "cap_add":
            caps = ensure_map(ensure_map(c, "securityContext"), "capabilities")
            add = ensure_seq(caps, "add")
            if op[1] not in [str(x) for x in add]:
                add.append(op[1])
        elif kind == "cap_remove":
            caps_any: Any = (c.get("securityContext") or {}).get("capabilities") or {}
            add = caps_any.get("add")
            if isinstance(add, list):
                for i in reversed(range(len(add))):
                    if str(add[i]).upper().removeprefix("CAP_") == op[1]:
                        del add[i]
                if not add:
                    del caps_any["add"]
        elif kind == "env":
            env = ensure_seq(c, "env")
            if not any(isinstance(e, dict) and e.get("name") == op[1] for e in env):
                e = CommentedMap()
                e["name"] = op[1]
                e["value"] = op[2]
                append_item(env, e)
        elif kind == "limit":
            limits = ensure_map(ensure_map(c, "resources"), "limits")
            if op[1] not in limits:
                limits[op[1]] = int(op[2])
        elif kind == "volume":
            name, path, medium, size = op[1], op[2], op[3], op[4]
            vols = ensure_seq(spec, "volumes")
            if not any(isinstance(v, dict) and v.get("name") == name for v in vols):
                ed = CommentedMap()
                if medium:
                    ed["medium"] = medium
                if size:
                    ed["sizeLimit"] = size
                v = CommentedMap()
                v["name"] = name
                v["emptyDir"] = ed
                append_item(vols, v)
            mounts = ensure_seq(c, "volumeMounts")
            if not any(isinstance(m, dict) and m.get("mountPath") == path for m in mounts):
                m = CommentedMap()
                m["name"] = name
                m["mountPath"] = path
                append_item(mounts, m)
        elif kind == "remove_hostpath":
            path = op[1]
            mounts_any: Any = c.get("volumeMounts") or []
            vols_any: Any = spec.get("volumes") or []
            mounts, vols = mounts_any, vols_any
            hp = {str(v.get("name")) for v in vols if isinstance(v, dict) and "hostPath" in v}
            gone = {
                str(m.get("name"))
                for m in mounts
                if isinstance(m, dict) and m.get("mountPath") == path and str(m.get("name")) in hp
            }
            # an item of another type (`volumes: [5, …]`) is not one of them: left as it is (gsafe40)
            for i in reversed(range(len(mounts))):
                if isinstance(mounts[i], dict) and str(mounts[i].get("name")) in gone:
                    del mounts[i]
            for i in reversed(range(len(vols))):
                if isinstance(vols[i], dict) and str(vols[i].get("name")) in gone:
                    del vols[i]
