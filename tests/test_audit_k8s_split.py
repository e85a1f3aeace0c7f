"""Kubernetes: TP larger than one pod's GPUs. Ranks meant to span replicas are
topology.ranks-split-across-containers; TP larger than every replica's GPUs together (or one
replica) is vllm.tp-exceeds-visible-gpus. Never both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.audit import audit_model, load

SPLIT = "topology.ranks-split-across-containers"
EXCEEDS = "vllm.tp-exceeds-visible-gpus"


def _workload(kind: str, replicas: int | None, gpus: int, tp: int) -> str:
    reps = f"  replicas: {replicas}\n" if replicas is not None else ""
    return (
        f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: vllm\nspec:\n{reps}"
        "  selector: {matchLabels: {app: vllm}}\n"
        "  template:\n    metadata: {labels: {app: vllm}}\n    spec:\n      containers:\n"
        "        - name: vllm\n          image: vllm/vllm-openai:latest\n"
        f'          args: ["--model", "m", "--tensor-parallel-size", "{tp}"]\n'
        f"          resources:\n            limits:\n              nvidia.com/gpu: {gpus}\n"
    )


@pytest.mark.parametrize(
    ("kind", "replicas", "gpus", "tp", "expected"),
    [
        ("Deployment", 2, 1, 2, SPLIT),  # two 1-GPU pods, TP 2: ranks meant to span pods
        ("StatefulSet", 4, 1, 4, SPLIT),
        ("Deployment", 2, 2, 4, SPLIT),
        ("Deployment", None, 1, 2, EXCEEDS),  # one replica (API default): the pod lacks GPUs
        ("Deployment", 1, 1, 2, EXCEEDS),
        ("Deployment", 2, 1, 4, EXCEEDS),  # more than all replicas have together
        ("Deployment", 2, 2, 2, None),  # independent 2-GPU replicas: fine
    ],
)
def test_tp_against_pod_and_replica_gpus(
    tmp_path: Path, kind: str, replicas: int | None, gpus: int, tp: int, expected: str | None
) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(_workload(kind, replicas, gpus, tp))
    causes = {f.cause for f in audit_model(load(p).model).findings} & {SPLIT, EXCEEDS}
    assert causes == ({expected} if expected else set())


def test_split_finding_names_the_numbers_and_a_one_pod_fix(tmp_path: Path) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(_workload("Deployment", 2, 1, 2))
    (f,) = [f for f in audit_model(load(p).model).findings if f.cause == SPLIT]
    assert f.severity.value == "blocker"
    assert "replicas 2, GPUs per pod 1, tensor-parallel-size 2" in f.evidence[0].text
    k8s = [x.snippet for x in f.fixes if x.runtime == "kubernetes"]
    assert k8s and "replicas: 1" in k8s[0] and "nvidia.com/gpu: 2" in k8s[0]
