"""--fix on privileged CUDA and ROCm configs writes the GPU grant instead of only naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from deploy_helpers import two_gpu_facts
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded
from tpdoctor.model.facts import DeviceNode, Facts
from tpdoctor.rules.deploy_common import RENDER_GID_PLACEHOLDER, VIDEO_GID_PLACEHOLDER


def _fix_twice(p: Path, facts: Facts | None = None) -> str:
    """The fixed text; a second fix of it changes nothing (idempotence)."""
    fixed = fix_loaded(load(p), facts).text
    p.write_text(fixed)
    assert fix_loaded(load(p), facts).text == fixed
    return fixed


def _causes(p: Path, facts: Facts | None = None) -> set[str]:
    return {f.cause for f in audit_model(load(p).model, facts).findings}


@pytest.mark.parametrize(("tp", "count"), [("2", 2), (None, "all")])
def test_privileged_cuda_compose_gets_a_device_reservation(
    tmp_path: Path, tp: str | None, count: object
) -> None:
    p = tmp_path / "c.yaml"
    cmd = f"    command: --model m --tensor-parallel-size {tp}\n" if tp else ""
    p.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai:latest\n    privileged: true\n"
        "    deploy:\n      restart_policy: {condition: on-failure}  # kept\n" + cmd
    )
    svc = YAML(typ="safe").load(_fix_twice(p))["services"]["vllm"]
    assert "privileged" not in svc
    assert svc["deploy"]["restart_policy"] == {"condition": "on-failure"}  # merged, not replaced
    assert svc["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": count, "capabilities": ["gpu"]}
    ]
    assert "# kept" in p.read_text()
    assert "security.privileged" not in _causes(p)


def test_privileged_cuda_docker_and_podman_runs(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("docker run --privileged vllm/vllm-openai --tensor-parallel-size 4\n")
    text = _fix_twice(p)
    assert "--gpus 4" in text and "--privileged" not in text
    p.write_text("podman run --privileged vllm/vllm-openai --tensor-parallel-size 2\n")
    text = _fix_twice(p)
    assert "--device nvidia.com/gpu=0" in text and "--device nvidia.com/gpu=1" in text
    assert "nvidia.com/gpu=2" not in text and "--gpus" not in text


def test_privileged_cuda_pod_gets_the_device_plugin_limit(tmp_path: Path) -> None:
    p = tmp_path / "pod.yaml"
    p.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: vllm\n"
        "      image: vllm/vllm-openai\n      args: [--tensor-parallel-size, '2']\n"
        "      securityContext: {privileged: true}\n"
    )
    c = YAML(typ="safe").load(_fix_twice(p))["spec"]["containers"][0]
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 2}
    assert "privileged" not in c["securityContext"]


ROCM = "services:\n  r:\n    image: rocm/vllm:latest\n    privileged: true\n    group_add: [video]\n    command: --tensor-parallel-size 2\n"


def _rocm_facts(kfd_gid: int, render_gid: int = 992) -> Facts:
    f = two_gpu_facts(render_gid=render_gid)
    f.dev.append(DeviceNode(path="/dev/kfd", kind="char", major=235, minor=0, mode=0o660, gid=kfd_gid))
    return f


def test_privileged_rocm_without_facts_gets_kfd_nodes_and_both_numeric_groups(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(ROCM)
    svc = YAML(typ="safe").load(_fix_twice(p))["services"]["r"]
    assert svc["devices"] == ["/dev/kfd", "/dev/dri/renderD128", "/dev/dri/renderD129"]
    # video (owner of /dev/kfd on older hosts) and render, both numeric placeholders
    assert svc["group_add"] == [VIDEO_GID_PLACEHOLDER, RENDER_GID_PLACEHOLDER]
    assert not {"device.kfd-missing", "security.privileged", "device.group-name-unresolved"} & _causes(p)


@pytest.mark.parametrize(("kfd_gid", "groups"), [(44, ["44", "992"]), (992, ["992"])])
def test_privileged_rocm_with_host_facts_uses_the_real_gids(
    tmp_path: Path, kfd_gid: int, groups: list[str]
) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(ROCM)
    facts = _rocm_facts(kfd_gid)
    svc = YAML(typ="safe").load(_fix_twice(p, facts))["services"]["r"]
    assert svc["devices"] == ["/dev/kfd", "/dev/dri/renderD128", "/dev/dri/renderD129"]
    assert svc["group_add"] == groups


def test_docker_run_keeps_tilde_bare(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(
        "docker run --privileged -v ~/.cache/hf:/root/.cache/hf intelanalytics/ipex-llm-serving-xpu\n"
    )
    text = fix_loaded(load(p), None).text
    assert "-v ~/.cache/hf:/root/.cache/hf" in text  # quoted, the shell would not expand ~


@pytest.mark.parametrize("driver", ["- driver: nvidia\n              capabilities: [gpu]", "- capabilities: [gpu]"])
def test_a_reservation_without_count_gets_count_all(tmp_path: Path, driver: str) -> None:
    # Docker Engine >= 27.3 reads a reservation with neither count nor device_ids as no GPU (moby#48483)
    p = tmp_path / "c.yaml"
    before = (
        "services:\n  vllm:\n    image: vllm/vllm-openai:latest   # the server\n"
        "    deploy:\n      resources:\n        reservations:\n          devices:\n"
        f"            {driver}   # any GPU\n"
    )
    p.write_text(before)
    assert "compose.gpu-reservation-incomplete" in _causes(p)
    fixed = _fix_twice(p)
    dev = YAML(typ="safe").load(fixed)["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["count"] == "all" and dev["capabilities"] == ["gpu"]
    assert "# the server" in fixed and "# any GPU" in fixed
    assert "compose.gpu-reservation-incomplete" not in _causes(p)


def test_a_counted_reservation_is_left_as_written(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai:latest\n    command: --tensor-parallel-size 2\n"
        "    shm_size: 16g\n    deploy:\n      resources:\n        reservations:\n          devices:\n"
        "            - driver: nvidia\n              device_ids: ['0', '1']\n              capabilities: [gpu]\n"
    )
    assert "count" not in _fix_twice(p)
