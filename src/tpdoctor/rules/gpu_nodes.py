"""Which GPUs a rank can see, per backend. Shared by the device and oneCCL rules."""

from __future__ import annotations

import re

from tpdoctor.model.facts import DeviceNode, DrmGpu, Facts
from tpdoctor.rules.registry import CheckOptions

VENDOR = {"xpu": "0x8086", "rocm": "0x1002", "cuda": "0x10de"}
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


def has_cap(facts: Facts, bit: int) -> bool | None:
    cap = facts.process.cap_eff
    return None if cap is None else bool(cap >> bit & 1)


CAP_DAC_OVERRIDE = 1
CAP_SYS_PTRACE = 19


def host_missing_render_nodes(facts: Facts, backend: str | None, visible: list[str]) -> list[str]:
    """Render nodes sysfs shows on the host that were not passed into the container."""
    if backend not in ("xpu", "rocm"):
        return []
    present = {p.rsplit("/", 1)[-1] for p in visible}
    return [
        f"/dev/dri/{g.render}"
        for g in facts.drm
        if g.render not in present and (g.vendor is None or g.vendor == VENDOR[backend])
    ]
