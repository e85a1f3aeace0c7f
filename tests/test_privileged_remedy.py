"""security.privileged names each vendor's own replacement first (data/fixes/security.yaml):
a CUDA container is told about its GPU request, not Intel render nodes and by-path."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeroot import FULL_CAPS, nvidia_root
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Finding
from tpdoctor.model.facts import ContainerFacts
from tpdoctor.rules import run_fact_rules


def _privileged(path: Path) -> Finding:
    found = [f for f in audit_model(load(path).model).findings if f.cause == "security.privileged"]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    ("line", "remedy", "said", "not_said"),
    [
        ("docker run --gpus all --privileged vllm/vllm-openai:v0.9.2 --tensor-parallel-size 2",
         "least-privilege-cuda", "GPU request", "by-path"),
        ("docker run --privileged --device /dev/kfd rocm/vllm:latest vllm serve m --tensor-parallel-size 2",
         "least-privilege-rocm", "/dev/kfd", "by-path"),
        ("docker run --privileged intelanalytics/ipex-llm-serving-xpu:latest",
         "least-privilege-xpu", "by-path", "GPU request"),
    ],
)
def test_deploy_finding_leads_with_the_vendors_remedy(
    tmp_path: Path, line: str, remedy: str, said: str, not_said: str
) -> None:
    p = tmp_path / "run.sh"
    p.write_text(line + "\n")
    f = _privileged(p)
    assert f.fixes[0].id == remedy
    assert said in f.message and not_said not in f.message


def test_cuda_remedy_requests_gpus_and_maps_no_render_node(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai:v0.9.2\n    privileged: true\n"
        "    command: --model m --tensor-parallel-size 2\n"
    )
    f = _privileged(p)
    first = {x.runtime: x.snippet for x in f.fixes if x.id == f.fixes[0].id}
    assert f.fixes[0].id == "least-privilege-cuda"
    assert "--gpus all" in first["docker"] and "renderD" not in first["docker"]
    assert "driver: nvidia" in first["compose"] and "renderD" not in first["compose"]


def test_check_in_a_privileged_nvidia_container_leads_with_the_cuda_remedy(tmp_path: Path) -> None:
    facts = collect_facts(nvidia_root(tmp_path, cap_eff=FULL_CAPS, seccomp=0, shm="size=16g"), {}, live=False)
    facts.container = ContainerFacts(runtime="docker")
    found = {f.cause: f for f in run_fact_rules(facts, CheckOptions(tp=2))}
    assert found["security.privileged"].fixes[0].id == "least-privilege-cuda"


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ("docker run --gpus all --privileged vllm/vllm-openai:v0.9.2 --tensor-parallel-size 2",
         {"least-privilege-cuda"}, {"drop-privileged", "least-privilege-xpu", "pidfd-route-xpu", "least-privilege-rocm"}),
        ("docker run --privileged --device /dev/kfd rocm/vllm:latest vllm serve m --tensor-parallel-size 2",
         {"least-privilege-rocm"}, {"drop-privileged", "least-privilege-xpu", "least-privilege-cuda"}),
        ("docker run --privileged intelanalytics/ipex-llm-serving-xpu:latest",
         {"least-privilege-xpu", "pidfd-route-xpu"}, {"least-privilege-cuda", "least-privilege-rocm"}),
    ],
)
def test_other_vendors_remedies_are_not_offered(tmp_path: Path, line: str, kept: set[str], gone: set[str]) -> None:
    p = tmp_path / "run.sh"
    p.write_text(line + "\n")
    ids = {f.id for f in _privileged(p).fixes}
    assert kept <= ids and not ids & gone
