"""Audit rules for what the NVIDIA runtime injects into a container: the driver capabilities a
service asks for (model/driver_caps.py holds the toolkit's semantics)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.deploy.analysis import backend
from tpdoctor.deploy.model import Service
from tpdoctor.model import Finding, driver_caps, make_finding
from tpdoctor.model.edits import Edit, Manual, SetEnv
from tpdoctor.rules.deploy_common import ev
from tpdoctor.rules.registry import DeployContext, deploy_rule

# Images whose workload transcodes with NVENC/NVDEC (the 'video' capability): media servers, ffmpeg.
MEDIA_IMAGES = ("jellyfin", "plex", "emby", "ffmpeg")


def _requested(svc: Service) -> tuple[str, str] | None:
    """(value, where it comes from) of the capabilities the runtime hook will read, or None.

    The daemon writes a device request's NVIDIA capabilities into the variable after the
    container's own environment, so a request that names some wins over `environment:`/-e."""
    for g in svc.gpus:
        if g.driver_caps is not None:
            how = "--gpus" if g.via == "gpus-flag" else "the device reservation"
            return g.driver_caps, f"the NVIDIA capabilities of {how}"
    value = svc.env.get(driver_caps.VARIABLE)
    if value is None:
        return None
    return value, f"{driver_caps.VARIABLE}={value}"


@deploy_rule("nvidia.driver-capabilities-missing")
def driver_capabilities(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: an NVIDIA GPU service that sets NVIDIA_DRIVER_CAPABILITIES (environment:, -e,
    a Kubernetes env entry) or lists NVIDIA capabilities in its device request (compose
    `capabilities: [gpu, utility]`, `--gpus '"capabilities=utility"'`) without `compute` and
    `utility` (or `all`); a media-server image (Jellyfin, Plex, Emby, ffmpeg) also without `video`.

    Why it matters: the NVIDIA runtime hook injects only the driver libraries of the listed
    capabilities (libnvidia-container src/nvc_info.c): without compute there is no libcuda.so.1 and
    CUDA, torch and vLLM find "no NVIDIA driver"; without utility there is no nvidia-smi or NVML
    (vLLM's platform detection); without video no NVENC/NVDEC. The Docker daemon turns the NVIDIA
    capabilities of a device request into the variable (moby daemon/nvidia_linux.go), so
    `capabilities: [gpu, utility]` means utility only. CDI injection (`--device nvidia.com/gpu=...`)
    does not read the variable: the finding is then a suggestion.

    How to fix: set `NVIDIA_DRIVER_CAPABILITIES=compute,utility` (add video/graphics when the
    workload encodes or renders), or `all`; in a device request, list `[gpu]` alone or add
    compute and utility.
    """
    if backend(svc) != "cuda":
        return
    found = _requested(svc)
    if found is None:
        return
    value, where = found
    missing = driver_caps.missing_for_serving(value)
    image = (svc.image or "").lower()
    if any(m in image for m in MEDIA_IMAGES) and driver_caps.lacks(value, "video"):
        missing.append("video")
    if not missing:
        return
    cdi = any(g.via == "cdi" for g in svc.gpus) or any(d.is_cdi for d in svc.devices)
    fixed = ",".join(sorted(driver_caps.parse(value) | set(missing), key=_order))
    edits: list[Edit]
    if where.startswith(driver_caps.VARIABLE):
        edits = [
            SetEnv(driver_caps.VARIABLE, fixed, why=f"the runtime injects the {', '.join(missing)} libraries")
        ]
    else:
        edits = [Manual(why=f"add {', '.join(missing)} to the device request's capabilities ({where})")]
    what = driver_caps.libraries_of(missing)
    yield make_finding(
        "nvidia.driver-capabilities-missing",
        f"{svc.name}: the NVIDIA driver capabilities are '{value}' ({where}), without {', '.join(missing)}: the "
        f"runtime will not inject {what}."
        + (" (CDI devices are requested too; CDI injects every library the spec lists.)" if cdi else ""),
        [ev(svc, ctx, f"{driver_caps.VARIABLE}={value}")],
        severity=None if "compute" in missing or "utility" in missing else "degraded",
        confidence="suggests" if cdi or "compute" not in missing else "proves",
        edits=edits,
    )


def _order(cap: str) -> int:
    order = ("compute", "utility", "video", "graphics", "display", "compat32", "ngx")
    return order.index(cap) if cap in order else len(order)


@deploy_rule("k8s.nvidia-runtime-class-missing")
def runtime_class_missing(svc: Service, ctx: DeployContext) -> Iterator[Finding]:
    """What it checks: a Kubernetes container that requests nvidia.com/gpu (limits or requests) in a pod spec
    that names no runtimeClassName.

    Why it matters: the NVIDIA device plugin's default device-list strategy (envvar) answers an allocation with
    NVIDIA_VISIBLE_DEVICES only; the NVIDIA runtime is what turns it into /dev/nvidia*, libcuda and nvidia-smi in
    the container. Where nvidia is not containerd's default runtime (k3s and RKE2 register an `nvidia` runtime
    and keep runc the default unless --default-runtime nvidia, k3s-io/k3s pkg/agent/containerd/runtimes.go;
    `nvidia-ctk runtime configure` without --set-as-default; microk8s' nvidia addon), the pod runs under runc
    and sees no GPU: torch.cuda.is_available() is False, "Found no NVIDIA driver on your system", vLLM's
    "Failed to infer device type" (kubeflow/notebooks#68, #522, llm-d/llm-d-deployer#273). A notice: audit
    cannot see the cluster. Nothing is wrong where nvidia is the default runtime (the GPU Operator before CDI:
    the toolkit installer's set-as-default is true by default) or where the device plugin injects through
    CDI (DEVICE_LIST_STRATEGY cdi-cri, the GPU Operator >= 25.10 with cdi.enabled; containerd's enable_cdi).

    How to fix: check the node (`grep default_runtime_name` in containerd's config.toml, k3s/RKE2:
    /var/lib/rancher/<k3s|rke2>/agent/etc/containerd/config.toml) and the RuntimeClasses (`kubectl get
    runtimeclass`); where nvidia is not the default, set `runtimeClassName: nvidia` in the pod template, or make
    it the default (k3s/RKE2 `--default-runtime nvidia`). `tpdoctor check` on the node says which.
    """
    if svc.format != "kubernetes" or "runtime_class" in svc.extra:
        return
    req = next((g.raw for g in svc.gpus if g.via == "k8s-resource" and g.vendor == "nvidia"), None)
    other = str(svc.extra.get("other_gpu_resources", ""))
    if req is None and other.startswith("nvidia.com/"):
        # time-slicing's nvidia.com/gpu.shared and MIG's nvidia.com/mig-<profile> come from the same device plugin
        # and its envvar strategy: they need the NVIDIA runtime as much as nvidia.com/gpu
        req = other
    if req is None:
        return
    yield make_finding(
        "k8s.nvidia-runtime-class-missing",
        f"{svc.name} requests {req} and its pod names no runtimeClassName: it gets the GPU only where nvidia "
        "is containerd's default runtime on the node or the device plugin injects through CDI (cdi-cri). On "
        "k3s/RKE2/microk8s and clusters set up with `nvidia-ctk runtime configure` without --set-as-default, the pod "
        "runs under runc and sees no GPU; there set runtimeClassName: nvidia.",
        [ev(svc, ctx, f"{req}, runtimeClassName: not set")],
        severity="notice",
        confidence="suggests",
    )
