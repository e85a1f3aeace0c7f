"""Issue 13, gnew42: check's runtime.nvidia-visible-devices-unset rule (rules/nvidia.py) on fake roots.

The NVIDIA runtime's hook injects the GPUs NVIDIA_VISIBLE_DEVICES names (nvidia-container-toolkit
internal/config/image/cuda_image.go devicesFromEnvvars): unset, it gives a legacy CUDA image (CUDA_VERSION without
NVIDIA_REQUIRE_CUDA) every GPU and any other image none. A container of a host with NVIDIA GPUs (its
/proc/driver/nvidia/gpus, which the container reads without having them) whose environment asks the runtime for driver
capabilities but names no GPU got nothing from --runtime=nvidia alone (NVIDIA/nvidia-docker#766)."""

from __future__ import annotations

from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.registry import run_fact_rules

_NVD = "runtime.nvidia-visible-devices-unset"
_INFO = "Model: \t\t NVIDIA L4\nIRQ: \t\t 0\nGPU UUID: \t GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\nDevice Minor: \t 0\n"


def _facts(tmp_path: Path, *, container: bool = True, host_gpu: bool = True, nodes: bool = False, **env: str) -> Facts:
    fr = FakeRoot(tmp_path)
    if container:
        fr.dockerenv()
    if nodes:
        fr.add_nvidia(1)
    elif host_gpu:
        fr.write("proc/driver/nvidia/gpus/0000:18:00.0/information", _INFO)
    fr.set_env(**env)
    return collect_facts(fr.root, dict(fr.env), live=False)


def _nvd(facts: Facts, options: CheckOptions | None = None) -> list[str]:
    return [f.message for f in run_fact_rules(facts, options or CheckOptions()) if f.cause == _NVD]


def test_capabilities_without_visible_devices_and_no_gpu_node_is_found(tmp_path: Path) -> None:
    facts = _facts(tmp_path, NVIDIA_DRIVER_CAPABILITIES="compute,video,utility")
    assert facts.nvidia.gpus and "NVIDIA_VISIBLE_DEVICES" not in facts.env  # the host's GPU read, the variable absent
    msgs = _nvd(facts)
    assert len(msgs) == 1 and "NVIDIA_VISIBLE_DEVICES=all" in msgs[0], msgs
    got = next(f for f in run_fact_rules(facts, CheckOptions()) if f.cause == _NVD)
    assert got.severity.value == "blocker" and got.confidence == "suggests"
    assert got.fixes and got.fixes[0].id == "set-nvidia-visible-devices"


def test_a_cuda_job_without_the_hosts_gpu_list_is_found(tmp_path: Path) -> None:
    facts = _facts(tmp_path, host_gpu=False, NVIDIA_DRIVER_CAPABILITIES="all")
    assert _nvd(facts) == []  # nothing says this host or job is NVIDIA's
    assert len(_nvd(facts, CheckOptions(backend="cuda"))) == 1


def test_the_runtime_that_did_its_job_is_clean(tmp_path: Path) -> None:
    assert _nvd(_facts(tmp_path / "z", NVIDIA_DRIVER_CAPABILITIES="all"))  # the reading these cases guard
    # --gpus (the variable and the nodes), CDI (nodes, no variable), an explicit void, a legacy CUDA image, a host
    given = _facts(tmp_path / "a", nodes=True, NVIDIA_VISIBLE_DEVICES="all", NVIDIA_DRIVER_CAPABILITIES="all")
    assert _nvd(given) == []
    cdi = _facts(tmp_path / "b", nodes=True, NVIDIA_DRIVER_CAPABILITIES="compute,utility")
    assert cdi.nvidia.gpus and _nvd(cdi) == []
    void = _facts(tmp_path / "c", NVIDIA_VISIBLE_DEVICES="void", NVIDIA_DRIVER_CAPABILITIES="all")
    assert _nvd(void) == []  # no GPU asked for on purpose: the device rules speak to it
    legacy = _facts(tmp_path / "d", CUDA_VERSION="9.0.176", NVIDIA_DRIVER_CAPABILITIES="compute,utility")
    assert _nvd(legacy) == []
    host = _facts(tmp_path / "e", container=False, NVIDIA_DRIVER_CAPABILITIES="all")
    assert _nvd(host) == []
    nothing_asked = _facts(tmp_path / "f")
    assert _nvd(nothing_asked) == []
