"""The GPU inventory (rules/gpus.py): backend inference, visible GPUs, capabilities by name.

The backend cases are the union of the two helpers merged into rules/gpus.py: the device/oneCCL
rules' (render nodes with no other vendor's sysfs entry are Intel) and the family rules' (the
NVIDIA driver without GPU nodes, AMD in sysfs, environment hints).
"""

from __future__ import annotations

import pytest

from fakeroot import DOCKER_DEFAULT_CAPS, char, nvidia_nodes
from tpdoctor.facts.caps import has_cap
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.model.facts import DrmGpu, NvidiaFacts, NvidiaGpu, ProcessFacts
from tpdoctor.rules.gpus import host_missing_render_nodes, infer_backend, visible_gpu_paths, visible_gpus

AUTO = CheckOptions()
RENDER = [char("/dev/dri/renderD128", 226, 128), char("/dev/dri/renderD129", 226, 129)]


def drm(vendor: str, *minors: int) -> list[DrmGpu]:
    return [DrmGpu(render=f"renderD{m}", vendor=vendor) for m in minors]


@pytest.mark.parametrize(
    ("facts", "backend"),
    [
        (Facts(dev=nvidia_nodes(2)), "cuda"),
        # NVIDIA GPU nodes win over render nodes (nvidia-drm also makes render nodes)
        (Facts(dev=[*nvidia_nodes(1), *RENDER]), "cuda"),
        (Facts(dev=[char("/dev/kfd", 235, 0), *RENDER], drm=drm("0x1002", 128, 129)), "rocm"),
        # render nodes without sysfs: an Intel container (the only vendor with nothing but renderD)
        (Facts(dev=RENDER), "xpu"),
        (Facts(dev=RENDER, drm=drm("0x8086", 128, 129)), "xpu"),
        # the NVIDIA driver without GPU nodes: a container started without --gpus
        (Facts(dev=[char("/dev/nvidiactl", 195, 255)]), "cuda"),
        (Facts(nvidia=NvidiaFacts(gpus=[NvidiaGpu(index=0)])), "cuda"),
        # AMD render nodes without /dev/kfd: ROCm, and device.kfd-missing says so
        (Facts(dev=RENDER, drm=drm("0x1002", 128, 129)), "rocm"),
        # the host has Intel GPUs, the container got none
        (Facts(dev=[char("/dev/null", 1, 3)], drm=drm("0x8086", 128)), "xpu"),
        (Facts(env={"NVIDIA_VISIBLE_DEVICES": "0,1"}), "cuda"),
        (Facts(env={"NVIDIA_VISIBLE_DEVICES": "void"}), None),
        (Facts(env={"ROCR_VISIBLE_DEVICES": "0"}), "rocm"),
        (Facts(env={"CCL_ZE_IPC_EXCHANGE": "drmfd"}), "xpu"),
        (Facts(dev=[char("/dev/null", 1, 3)]), None),
    ],
)
def test_infer_backend(facts: Facts, backend: str | None) -> None:
    assert infer_backend(facts, AUTO) == backend


def test_backend_option_wins() -> None:
    assert infer_backend(Facts(dev=nvidia_nodes(2)), CheckOptions(backend="xpu")) == "xpu"


def test_visible_gpu_paths_filter_render_nodes_by_vendor() -> None:
    facts = Facts(
        dev=[*RENDER, char("/dev/dri/renderD130", 226, 130)],
        drm=[*drm("0x8086", 128), *drm("0x10de", 129)],  # renderD130: sysfs says nothing
    )
    assert visible_gpu_paths(facts, "xpu") == ["/dev/dri/renderD128", "/dev/dri/renderD130"]
    assert visible_gpu_paths(facts, "rocm") == ["/dev/dri/renderD130"]
    assert visible_gpus(facts, "xpu").base == 2


def test_nvidia_nodes_in_numeric_order() -> None:
    facts = Facts(dev=sorted(nvidia_nodes(12), key=lambda n: n.path))
    paths = visible_gpu_paths(facts, "cuda")
    assert paths[:3] == ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2"] and paths[-1] == "/dev/nvidia11"
    assert visible_gpus(facts, "cuda").count == 12


def test_visible_gpus_mask() -> None:
    facts = Facts(dev=nvidia_nodes(2), env={"CUDA_VISIBLE_DEVICES": "1,3,0"})
    vis = visible_gpus(facts, "cuda")
    assert (vis.base, vis.count, vis.invalid) == (2, 1, ["3"])  # CUDA stops at the first bad entry


def test_host_missing_render_nodes() -> None:
    facts = Facts(dev=RENDER[:1], drm=drm("0x8086", 128, 129))
    assert host_missing_render_nodes(facts, "xpu", visible_gpu_paths(facts, "xpu")) == ["/dev/dri/renderD129"]
    assert host_missing_render_nodes(facts, "cuda", []) == []


def test_has_cap_by_name() -> None:
    docker = Facts(process=ProcessFacts(cap_eff=DOCKER_DEFAULT_CAPS))
    assert has_cap(docker, "DAC_OVERRIDE") is True
    assert has_cap(docker, "SYS_PTRACE") is False
    assert has_cap(Facts(), "SYS_PTRACE") is None
    with pytest.raises(KeyError):
        has_cap(docker, "NOT_A_CAP")
