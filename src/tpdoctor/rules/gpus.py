"""The GPU inventory every rule needs: backend, GPU nodes, visible GPUs, capabilities.

Pure functions of Facts. A /dev listing that was not collected (facts.dev empty) means
"unknown", never "missing": rules that need nodes say nothing then.

- `infer_backend`: the backend to check (cuda | rocm | xpu | None).
- `render_nodes`, `nvidia_nodes`, `kfd_present`, `any_gpu_node`: the nodes in /dev.
- `visible_gpu_paths(facts, backend)`: the device paths of the GPUs a rank of `backend` can
  open; `visible_gpus(facts, backend)`: their count after the *_VISIBLE_DEVICES mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tpdoctor.facts.caps import has_cap
from tpdoctor.facts.container import container_runtime
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import DeviceNode, DrmGpu

NVIDIA_GPU_NODE = re.compile(r"^/dev/nvidia(\d+)$")
RENDER_NODE = re.compile(r"^/dev/dri/renderD(\d+)$")
HOST_RUNTIMES = ("none",)
# PCI vendor ids of each backend's GPUs (/sys/class/drm/renderD*/device/vendor).
VENDOR = {"cuda": "0x10de", "rocm": "0x1002", "xpu": "0x8086"}


# --- process: capabilities, environment, container --------------------------------------------


def numa_syscalls_refused(facts: Facts) -> bool | None:
    """Does the seccomp filter refuse get_mempolicy/mbind/set_mempolicy?

    True for seccomp filtering without CAP_SYS_NICE in a Docker or containerd (Kubernetes)
    container: their default profile allows those syscalls only with CAP_SYS_NICE (moby
    `profiles/seccomp/default.json`; measured on Docker 20.10.24, where migrate_pages stays
    refused even with CAP_SYS_NICE). None when another runtime's profile decides, False when
    there is no filter or the capability is held.
    """
    if facts.process.seccomp != 2 or has_cap(facts, "SYS_NICE") is not False:
        return False
    return True if container_runtime(facts) in ("docker", "kubernetes") else None


def env_flag(facts: Facts, name: str) -> bool:
    return facts.env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def in_container(facts: Facts) -> bool | None:
    """True in a known container, False on a known host, None when runtime detection was unsure."""
    runtime = container_runtime(facts)
    if runtime in HOST_RUNTIMES:
        return False
    if runtime == "unknown":
        return True if facts.container.device_rules is not None else None
    return True


# --- device nodes -------------------------------------------------------------------------------


def dev_listed(facts: Facts) -> bool:
    return bool(facts.dev)


def present(facts: Facts, path: str) -> bool:
    return facts.node(path) is not None


def node_number(pattern: re.Pattern[str], path: str) -> int:
    """The number in a node path that `pattern` (one numeric group) matches; -1 when it does not."""
    m = pattern.match(path)
    return int(m.group(1)) if m else -1


def char_nodes(facts: Facts, pattern: re.Pattern[str]) -> list[DeviceNode]:
    """Nodes whose path matches `pattern` (one numeric group), char or symlink, in numeric order."""
    nodes = [n for n in facts.dev if pattern.match(n.path) and n.kind in ("char", "symlink")]
    return sorted(nodes, key=lambda n: node_number(pattern, n.path))


def render_nodes(facts: Facts) -> list[DeviceNode]:
    """/dev/dri/renderD* nodes of every vendor."""
    return char_nodes(facts, RENDER_NODE)


def nvidia_nodes(facts: Facts) -> list[DeviceNode]:
    """/dev/nvidia<N> GPU nodes (not nvidiactl, nvidia-uvm, nvidia-caps)."""
    return char_nodes(facts, NVIDIA_GPU_NODE)


def kfd_present(facts: Facts) -> bool:
    node = facts.node("/dev/kfd")
    return node is not None and node.kind == "char"


def any_gpu_node(facts: Facts) -> bool:
    return bool(render_nodes(facts) or nvidia_nodes(facts) or kfd_present(facts))


def sysfs_gpu(facts: Facts, render: str) -> DrmGpu | None:
    """What /sys/class/drm says about a render node ('/dev/dri/renderD128' or 'renderD128')."""
    name = render.rsplit("/", 1)[-1]
    return next((g for g in facts.drm if g.render == name), None)


def _vendor_ok(facts: Facts, node: DeviceNode, backend: str) -> bool:
    """The render node belongs to `backend`'s vendor, or sysfs does not say (then it may)."""
    gpu = sysfs_gpu(facts, node.path)
    return gpu is None or gpu.vendor is None or gpu.vendor == VENDOR[backend]


# --- backend ------------------------------------------------------------------------------------


def _env_backend(env: dict[str, str]) -> str | None:
    if env.get("NVIDIA_VISIBLE_DEVICES", "none").lower() not in ("", "none", "void"):
        return "cuda"
    if "HIP_VISIBLE_DEVICES" in env or "ROCR_VISIBLE_DEVICES" in env:
        return "rocm"
    if any(k.startswith(("CCL_", "ZE_", "ONEAPI_")) for k in env):
        return "xpu"
    return None


def infer_backend(facts: Facts, options: CheckOptions) -> str | None:
    """cuda | rocm | xpu: the one asked for, else the one whose GPUs are here, else hints.

    In order: --backend; /dev/nvidia<N> (cuda); /dev/kfd (rocm); render nodes that sysfs does
    not show as another vendor's (xpu: an Intel container has only render nodes); the NVIDIA
    driver without GPU nodes (`/dev/nvidiactl`, NVML's list: cuda); AMD render nodes in sysfs
    (rocm); Intel GPUs in sysfs that the container did not get (xpu); then the environment
    (NVIDIA_VISIBLE_DEVICES, HIP_/ROCR_VISIBLE_DEVICES, CCL_/ZE_/ONEAPI_ variables).
    """
    if options.backend != "auto":
        return options.backend
    if nvidia_nodes(facts):
        return "cuda"
    if present(facts, "/dev/kfd"):
        return "rocm"
    if any(_vendor_ok(facts, n, "xpu") for n in render_nodes(facts)):
        return "xpu"
    if present(facts, "/dev/nvidiactl") or facts.nvidia.gpus:
        return "cuda"
    vendors = {g.vendor for g in facts.drm}
    if VENDOR["rocm"] in vendors:
        return "rocm"
    if VENDOR["xpu"] in vendors:
        return "xpu"  # the host has Intel GPUs, the container got none of them
    return _env_backend(facts.env)


# --- visible GPUs -------------------------------------------------------------------------------


def visible_gpu_nodes(facts: Facts, backend: str | None) -> list[DeviceNode]:
    """GPU nodes a rank of `backend` can use: /dev/nvidia<N>, or that vendor's render nodes."""
    if backend == "cuda":
        return nvidia_nodes(facts)
    if backend in ("xpu", "rocm"):
        return [n for n in render_nodes(facts) if _vendor_ok(facts, n, backend)]
    return []


def visible_gpu_paths(facts: Facts, backend: str | None) -> list[str]:
    """Device paths of the GPUs a rank of `backend` can use (before any *_VISIBLE_DEVICES mask)."""
    return [n.path for n in visible_gpu_nodes(facts, backend)]


def host_missing_render_nodes(facts: Facts, backend: str | None, visible: list[str]) -> list[str]:
    """Render nodes sysfs shows on the host that were not passed into the container."""
    if backend not in ("xpu", "rocm"):
        return []
    have = {p.rsplit("/", 1)[-1] for p in visible}
    return [
        f"/dev/dri/{g.render}"
        for g in facts.drm
        if g.render not in have and (g.vendor is None or g.vendor == VENDOR[backend])
    ]


def rank_count(options: CheckOptions, visible: int) -> int:
    """Local ranks that exchange IPC handles: every TP rank of every pipeline stage."""
    return (options.tp or visible) * max(options.pp, 1)


def multi_rank(facts: Facts, options: CheckOptions, backend: str | None = None) -> bool:
    """Two or more local ranks (rank_count): `--tp` x `--pp`, else the visible GPUs of `backend` (inferred when not
    given) x `--pp`; False where neither `--tp` nor a visible GPU says how many."""
    if backend is None:
        backend = infer_backend(facts, options)
    return rank_count(options, len(visible_gpu_paths(facts, backend))) >= 2


@dataclass
class VisibleGpus:
    """GPUs the process can use: `base` from the nodes/driver, `count` after the *_VISIBLE_DEVICES mask."""

    backend: str
    base: int | None
    count: int | None
    base_source: str
    mask_var: str | None = None
    mask: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    uuids: list[str] = field(default_factory=list)


def base_gpus(facts: Facts, backend: str) -> tuple[int | None, str]:
    """How many GPUs of `backend` are here before any mask, and where that number comes from."""
    if backend == "cuda":
        if dev_listed(facts):
            return len(nvidia_nodes(facts)), "/dev/nvidia[0-9]* nodes"
        if facts.nvidia.gpus:
            return len(facts.nvidia.gpus), f"driver ({facts.nvidia.source})"
        return None, "unknown"
    if not dev_listed(facts):
        return None, "unknown"
    return len(visible_gpu_nodes(facts, backend)), "/dev/dri/renderD* nodes"


def _parse_mask(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()] if value.strip() else []


def visible_gpus(facts: Facts, backend: str) -> VisibleGpus:
    """The GPUs of `backend` here, reduced by CUDA_/HIP_/ROCR_VISIBLE_DEVICES or ZE_AFFINITY_MASK."""
    base, source = base_gpus(facts, backend)
    vis = VisibleGpus(backend=backend, base=base, count=base, base_source=source)
    vis.uuids = [g.uuid for g in facts.nvidia.gpus if g.uuid] if backend == "cuda" else []
    order = {
        "cuda": ("CUDA_VISIBLE_DEVICES",),
        "rocm": ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),
        "xpu": ("ZE_AFFINITY_MASK",),
    }[backend]
    for var in order:
        if var in facts.env:
            vis.mask_var, vis.mask = var, _parse_mask(facts.env[var])
            break
    if vis.mask_var is None:
        return vis
    valid = 0
    for entry in vis.mask:
        top = entry.split(".", 1)[0]  # ZE_AFFINITY_MASK sub-devices: '0.1'
        if top.lstrip("-").isdigit():
            ok = base is None or 0 <= int(top) < base
        elif top.upper().startswith(("GPU-", "MIG-")):
            ok = not vis.uuids or any(u.startswith(top) for u in vis.uuids)
        else:
            ok = False
        if not ok:
            vis.invalid.append(entry)
            if backend != "xpu":
                break  # CUDA/HIP stop at the first invalid entry: later ones are ignored
        else:
            valid += 1
    distinct = len({e.split(".", 1)[0] for e in vis.mask if e not in vis.invalid})
    vis.count = distinct if backend == "xpu" else valid
    return vis


def required_nodes(facts: Facts, backend: str | None) -> list[DeviceNode]:
    """The device nodes a rank of this backend opens (for group, label and userns checks)."""
    nodes = visible_gpu_nodes(facts, backend)
    extra: tuple[str, ...] = ()
    if backend == "cuda":
        extra = ("/dev/nvidiactl", "/dev/nvidia-uvm")
    elif backend == "rocm":
        extra = ("/dev/kfd",)
    for p in extra:
        n = facts.node(p)
        if n is not None:
            nodes.append(n)
    return nodes


def tp_size(facts: Facts, options: CheckOptions, backend: str | None) -> int | None:
    """--tp, or (default) every visible GPU."""
    if options.tp is not None:
        return options.tp
    if backend is None:
        return None
    return visible_gpus(facts, backend).count
