"""What every family rule needs to know about the GPUs: backend, visible GPUs, capabilities.

Pure functions of Facts. A /dev listing that was not collected (facts.dev empty) means
"unknown", never "missing": rules that need nodes say nothing then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tpdoctor.model import Facts
from tpdoctor.model.facts import DeviceNode, DrmGpu
from tpdoctor.rules.registry import CheckOptions

# Linux capability bit numbers (include/uapi/linux/capability.h).
CAP_BITS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "IPC_LOCK": 14,
    "SYS_MODULE": 16,
    "SYS_RAWIO": 17,
    "SYS_PTRACE": 19,
    "SYS_ADMIN": 21,
    "SYS_NICE": 23,
    "SYS_RESOURCE": 24,
    "MKNOD": 27,
}
# CAP_CHOWN .. CAP_CHECKPOINT_RESTORE (40): the set a privileged container gets on kernels >= 5.9.
ALL_CAPS_MASK = (1 << 41) - 1

NVIDIA_GPU_NODE = re.compile(r"^/dev/nvidia(\d+)$")
RENDER_NODE = re.compile(r"^/dev/dri/renderD(\d+)$")
HOST_RUNTIMES = ("none",)
VENDOR = {"cuda": "0x10de", "rocm": "0x1002", "xpu": "0x8086"}


def has_cap(facts: Facts, cap: str | int) -> bool | None:
    """Is the capability in CapEff? `cap` is a name ("SYS_PTRACE") or a bit number (19)."""
    eff = facts.process.cap_eff
    bit = CAP_BITS[cap] if isinstance(cap, str) else cap
    return None if eff is None else bool(eff >> bit & 1)


def env_flag(facts: Facts, name: str) -> bool:
    return facts.env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def dev_listed(facts: Facts) -> bool:
    return bool(facts.dev)


def present(facts: Facts, path: str) -> bool:
    return facts.node(path) is not None


def char_nodes(facts: Facts, pattern: re.Pattern[str]) -> list[DeviceNode]:
    nodes = [n for n in facts.dev if pattern.match(n.path) and n.kind in ("char", "symlink")]
    return sorted(nodes, key=lambda n: int(pattern.match(n.path).group(1)))  # type: ignore[union-attr]


def in_container(facts: Facts) -> bool | None:
    """True in a known container, False on a known host, None when runtime detection was unsure."""
    runtime = facts.container.runtime
    if runtime in HOST_RUNTIMES:
        return False
    if runtime == "unknown":
        return True if facts.container.device_rules is not None else None
    return True


def infer_backend(facts: Facts, options: CheckOptions) -> str | None:
    """cuda | rocm | xpu from the options, else from nodes, drm vendors, then env hints."""
    if options.backend != "auto":
        return options.backend
    if char_nodes(facts, NVIDIA_GPU_NODE) or present(facts, "/dev/nvidiactl") or facts.nvidia.gpus:
        return "cuda"
    vendors = {g.vendor for g in facts.drm}
    if present(facts, "/dev/kfd") or VENDOR["rocm"] in vendors:
        return "rocm"
    if VENDOR["xpu"] in vendors:
        return "xpu"
    env = facts.env
    if env.get("NVIDIA_VISIBLE_DEVICES", "none").lower() not in ("", "none", "void"):
        return "cuda"
    if "HIP_VISIBLE_DEVICES" in env or "ROCR_VISIBLE_DEVICES" in env:
        return "rocm"
    if any(k.startswith(("CCL_", "ZE_", "ONEAPI_")) for k in env):
        return "xpu"
    return None


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


def _render_nodes_for(facts: Facts, backend: str) -> list[str]:
    renders = [n.path for n in char_nodes(facts, RENDER_NODE)]
    vendor_of = {f"/dev/dri/{g.render}": g.vendor for g in facts.drm}
    if vendor_of:
        known = [r for r in renders if vendor_of.get(r) == VENDOR[backend]]
        if known or any(vendor_of.get(r) for r in renders):
            return known
    return renders


def base_gpus(facts: Facts, backend: str) -> tuple[int | None, str]:
    if backend == "cuda":
        nodes = char_nodes(facts, NVIDIA_GPU_NODE)
        if dev_listed(facts):
            return len(nodes), "/dev/nvidia[0-9]* nodes"
        if facts.nvidia.gpus:
            return len(facts.nvidia.gpus), f"driver ({facts.nvidia.source})"
        return None, "unknown"
    if not dev_listed(facts):
        return None, "unknown"
    return len(_render_nodes_for(facts, backend)), "/dev/dri/renderD* nodes"


def _parse_mask(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()] if value.strip() else []


def visible_gpus(facts: Facts, backend: str) -> VisibleGpus:
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
    if backend == "cuda":
        nodes = char_nodes(facts, NVIDIA_GPU_NODE)
        for p in ("/dev/nvidiactl", "/dev/nvidia-uvm"):
            n = facts.node(p)
            if n is not None:
                nodes.append(n)
        return nodes
    if backend in ("rocm", "xpu"):
        nodes = [n for n in char_nodes(facts, RENDER_NODE) if n.path in _render_nodes_for(facts, backend)]
        kfd = facts.node("/dev/kfd")
        if backend == "rocm" and kfd is not None:
            nodes.append(kfd)
        return nodes
    return []


def tp_size(facts: Facts, options: CheckOptions, backend: str | None) -> int | None:
    """--tp, or (default) every visible GPU."""
    if options.tp is not None:
        return options.tp
    if backend is None:
        return None
    return visible_gpus(facts, backend).count


# ---- used by the device and oneCCL rules (issue 2, branch `check`) ----
_NVIDIA_GPU = re.compile(r"^/dev/nvidia\d+$")


def render_nodes(facts: Facts) -> list[DeviceNode]:
    return [n for n in facts.nodes_under("/dev/dri/renderD") if n.kind == "char"]


def nvidia_nodes(facts: Facts) -> list[DeviceNode]:
    return [n for n in facts.dev if _NVIDIA_GPU.match(n.path) and n.kind == "char"]


def kfd_present(facts: Facts) -> bool:
    node = facts.node("/dev/kfd")
    return node is not None and node.kind == "char"


def sysfs_gpu(facts: Facts, render: str) -> DrmGpu | None:
    name = render.rsplit("/", 1)[-1]
    return next((g for g in facts.drm if g.render == name), None)


def _vendor_ok(facts: Facts, node: DeviceNode, backend: str) -> bool:
    gpu = sysfs_gpu(facts, node.path)
    return gpu is None or gpu.vendor is None or gpu.vendor == VENDOR[backend]


def resolve_backend(facts: Facts, options: CheckOptions) -> str | None:
    """The backend to check: the one asked for, else the one whose GPUs are present."""
    if options.backend != "auto":
        return options.backend
    renders = render_nodes(facts)
    if any(_vendor_ok(facts, n, "xpu") for n in renders) and not (nvidia_nodes(facts) or kfd_present(facts)):
        return "xpu"
    if nvidia_nodes(facts):
        return "cuda"
    if kfd_present(facts):
        return "rocm"
    if any(g.vendor == VENDOR["xpu"] for g in facts.drm):
        return "xpu"  # the host has Intel GPUs, the container got none of them
    return None


def visible_gpu_paths(facts: Facts, backend: str | None) -> list[str]:
    """Device paths of the GPUs a rank of `backend` can use."""
    if backend == "cuda":
        return [n.path for n in nvidia_nodes(facts)]
    if backend in ("xpu", "rocm"):
        return [n.path for n in render_nodes(facts) if _vendor_ok(facts, n, backend)]
    return []


def any_gpu_node(facts: Facts) -> bool:
    return bool(render_nodes(facts) or nvidia_nodes(facts) or kfd_present(facts))


def rank_count(options: CheckOptions, visible: int) -> int:
    """Local ranks that exchange IPC handles: every TP rank of every pipeline stage."""
    return (options.tp or visible) * max(options.pp, 1)


CAP_DAC_OVERRIDE = CAP_BITS["DAC_OVERRIDE"]
CAP_SYS_PTRACE = CAP_BITS["SYS_PTRACE"]
