"""The Kubernetes workloads LLM serving uses: LeaderWorkerSet, KubeRay RayService/RayCluster,
KServe InferenceService/ServingRuntime, JobSet. Their pod templates are audited (and fixed in
place) instead of the file being refused. Real examples in tests/data/k8s-crd with their source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import run_cli
from deploy_helpers import DATA
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded

CRD = DATA / "k8s-crd"


def _causes(p: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, fs in audit_model(load(p).model).per_service.items():
        out[name] = {f.cause for f in fs}
    return out


@pytest.mark.parametrize(
    ("file", "names"),
    [
        (
            "lws-vllm-gpu",
            ["LeaderWorkerSet/vllm:leader/vllm-leader", "LeaderWorkerSet/vllm:worker/vllm-worker"],
        ),
        (
            "kuberay-rayservice-vllm",
            ["RayService/llama-3-8b:head/ray-head", "RayService/llama-3-8b:gpu-group/llm"],
        ),
        ("jobset-pytorch-resnet", ["JobSet/pytorch:workers/pytorch"]),
        ("kserve-isvc-huggingface-vllm", ["InferenceService/huggingface:predictor/kserve-container"]),
        (
            "kserve-clusterservingruntime-multinode",
            [
                "ClusterServingRuntime/kserve-huggingfaceserver-multinode/kserve-container",
                "ClusterServingRuntime/kserve-huggingfaceserver-multinode:worker/worker-container",
            ],
        ),
    ],
)
def test_every_pod_template_is_audited(file: str, names: list[str]) -> None:
    p = CRD / f"{file}.yaml"
    assert p.read_text().startswith("# source: https://github.com/")
    assert [s.name for s in load(p).model.services] == names
    r = run_cli("audit", str(p), "--format", "json")
    assert r.returncode in (0, 3), r.stderr
    assert json.loads(r.stdout)["command"] == "audit"


def test_lws_multi_node_is_clean_until_it_really_breaks(tmp_path: Path) -> None:
    p = CRD / "lws-vllm-gpu.yaml"
    causes = _causes(p)
    flat = set().union(*causes.values())
    # TP 8 x PP 2 over a group of 2 pods = 8 GPUs per pod, and each pod has 8
    assert not flat & {
        "vllm.tp-exceeds-visible-gpus",
        "topology.ranks-split-across-containers",
        "audit.gpu-count-fixed",
    }
    q = tmp_path / "lws.yaml"
    q.write_text(p.read_text().replace('nvidia.com/gpu: "8"', 'nvidia.com/gpu: "4"', 1))
    assert "vllm.tp-exceeds-visible-gpus" in _causes(q)["LeaderWorkerSet/vllm:leader/vllm-leader"]


def test_rayservice_worker_group_template_gets_its_findings() -> None:
    causes = _causes(CRD / "kuberay-rayservice-vllm.yaml")
    # the worker group's template is read: its container gets findings of its own (gwild50: shm.too-small was the one
    # pinned here, but the KubeRay operator mounts a Memory emptyDir at /dev/shm in every Ray container without one,
    # ray-operator/controllers/ray/common/pod.go addEmptyDir; tests/test_audit_wild.py has the case)
    assert "audit.hardening-missing" in causes["RayService/llama-3-8b:gpu-group/llm"]
    assert "shm.too-small" not in causes["RayService/llama-3-8b:gpu-group/llm"]
    assert "topology.ranks-split-across-containers" not in set().union(*causes.values())


def test_fix_edits_the_template_inside_the_crd(tmp_path: Path) -> None:
    p = tmp_path / "lws.yaml"
    p.write_text((CRD / "lws-vllm-gpu.yaml").read_text())
    res = fix_loaded(load(p), None)
    docs = list(YAML(typ="safe").load_all(res.text))
    lwt = docs[0]["spec"]["leaderWorkerTemplate"]
    for tpl in ("leaderTemplate", "workerTemplate"):
        c = lwt[tpl]["spec"]["containers"][0]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, tpl
    assert docs[1]["kind"] == "Service"
    p.write_text(res.text)
    assert fix_loaded(load(p), None).text == res.text  # idempotent


# kserve/website docs/modelserving/v1beta1/llm/huggingface/README.md (the `model:` form)
ISVC_MODEL = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: huggingface-llama3
spec:
  predictor:
    model:
      modelFormat:
        name: huggingface
      args:
      - --model_name=llama3
      - --model_id=meta-llama/meta-llama-3-8b-instruct
      - --tensor-parallel-size=2
      resources:
        limits:
          cpu: "6"
          memory: 24Gi
          nvidia.com/gpu: "1"
"""


def test_inferenceservice_model_container(tmp_path: Path) -> None:
    p = tmp_path / "isvc.yaml"
    p.write_text(ISVC_MODEL)
    (svc,) = load(p).model.services
    assert svc.name == "InferenceService/huggingface-llama3:predictor/kserve-container"
    assert "vllm.tp-exceeds-visible-gpus" in {f.cause for f in audit_model(load(p).model).findings}


def test_unknown_kind_still_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n")
    r = run_cli("audit", str(p))
    assert r.returncode == 2 and "LeaderWorkerSet" in r.stderr and "Traceback" not in r.stderr
