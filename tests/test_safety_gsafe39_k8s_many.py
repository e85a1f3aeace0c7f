"""gsafe39: `audit --fix` of a Kubernetes file of many documents walks its workloads once, not once per service.

find_container walked every document's workloads for each service it edited: quadratic in the documents (1000 pods
in one file: ~50 s, 10k: beyond ten minutes on top of ruamel's own linear cost). Wrong types everywhere in the new
runtimeClassName / GPU-resource logic, KServe objects and alias bombs held (one line, exit 2 or findings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import _check, invoke
from tpdoctor.deploy import kubernetes

DOC = (
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d}\nspec: {containers: [{name: c, image: vllm/vllm-openai, "
    'args: ["--tensor-parallel-size", "2"], resources: {limits: {nvidia.com/gpu: 1}}}]}\n'
)


def test_fix_of_many_documents_walks_the_workloads_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "many.yaml"
    f.write_text("".join(DOC % i for i in range(120)))
    calls = [0]
    real = kubernetes.workloads

    def counted(docs: list) -> object:  # type: ignore[type-arg]
        calls[0] += 1
        return real(docs)

    monkeypatch.setattr(kubernetes, "workloads", counted)
    code, out = invoke("audit", str(f), "--fix")
    _check(code, out, "many")
    assert out.count("+++") == 1 and "p119" in out
    assert calls[0] <= 10, calls[0]


WRONG = {
    "resources: 5": "    resources: 5\n",
    "limits list": "    resources: {limits: [1, 2]}\n",
    "numbers as keys": "    resources: {limits: {1: 2, 2.5: x, null: 3}}\n",
    "gpu null": "    resources: {limits: {nvidia.com/gpu: null}}\n",
    "gpu inf": "    resources: {limits: {nvidia.com/gpu: 1e400}}\n",
    "gpu 5000 digits": "    resources: {limits: {nvidia.com/gpu: " + "9" * 5000 + "}}\n",
    "gpu map": "    resources: {limits: {nvidia.com/gpu: {a: 1}}}\n",
    "shared map": "    resources: {limits: {nvidia.com/gpu.shared: {a: [1]}}}\n",
    "mig list": "    resources: {limits: {nvidia.com/mig-1g.5gb: [1]}}\n",
    "claims int": "    resources: {claims: 5}\n",
    "claims odd": "    resources: {claims: [1, {name: {a: 1}}]}\n",
    "env string": "    env: x\n",
    "env odd": "    env: [1, {name: 3, value: 4}, {name: NVIDIA_VISIBLE_DEVICES, value: {a: 1}}]\n",
    "nvd list": "    env: [{name: NVIDIA_VISIBLE_DEVICES, value: [0, 1]}]\n",
    "command map": "    command: {a: 1}\n",
}
RC = ["", "  runtimeClassName: {a: 1}\n", "  runtimeClassName: [nvidia]\n", "  runtimeClassName: 5\n"]


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_wrong_types_in_the_gpu_logic(tmp_path: Path, wrong: str) -> None:
    for i, rc in enumerate(RC):
        f = tmp_path / f"p{i}.yaml"
        f.write_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n" + rc + "  containers:\n  - name: v\n"
            '    image: vllm/vllm-openai:latest\n    args: ["--tensor-parallel-size", "2"]\n' + WRONG[wrong]
        )
        for args in (("--format", "json"), ("--format", "sarif"), ("--fix",)):
            code, out = invoke("audit", str(f), *args)
            _check(code, out, f"{wrong} {rc!r} {args}")


def test_kserve_objects_with_wrong_types(tmp_path: Path) -> None:
    sr = tmp_path / "sr.yaml"
    sr.write_text(
        "apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: v}\nspec:\n"
        "  supportedModelFormats: 5\n  containers:\n  - name: kserve-container\n    image: vllm/vllm-openai:latest\n"
        '    args: ["--tensor-parallel-size", "4"]\n    resources: {limits: [1]}\n    env: {a: 1}\n'
    )
    isvc = tmp_path / "isvc.yaml"
    isvc.write_text(
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: x}\nspec:\n  predictor:\n"
        "    runtimeClassName: {a: 1}\n    model:\n      modelFormat: 5\n      runtime: [1]\n"
        '      args: ["--tensor-parallel-size", {a: 1}]\n'
        '      resources: {limits: {nvidia.com/gpu: "2", nvidia.com/mig-1g.5gb: [1]}}\n      env: 5\n'
    )
    for f in (sr, isvc):
        for args in (("--format", "json"), ("--fix",)):
            code, out = invoke("audit", str(f), *args)
            _check(code, out, f"{f.name} {args}")
