"""A KServe InferenceService's `model:` predictor runs in a ServingRuntime: KServe builds the pod from the runtime's
spec and merges the model container into the runtime's kserve-container (kserve pkg/controller/v1beta1/
inferenceservice/components/predictor.go), so the runtime's /dev/shm mount is the pod's. KServe's own
kserve-huggingfaceserver mounts an unbounded Memory emptyDir at /dev/shm since v0.14 (kserve config/runtimes,
kserve#3910): an InferenceService alone is not proved short of /dev/shm."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.audit import audit_model, load

SHM = "shm.too-small"

ISVC = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: llama
spec:
  predictor:
    model:
      modelFormat: {{name: huggingface}}
{runtime}      args: ["--model_name=llama", "--tensor-parallel-size=2"]
      resources:
        limits: {{nvidia.com/gpu: "2"}}
"""

# kserve config/runtimes/kserve-huggingfaceserver.yaml (v0.14+), trimmed to what matters here
RUNTIME = """---
apiVersion: serving.kserve.io/v1alpha1
kind: {kind}
metadata:
  name: {name}
spec:
  supportedModelFormats:
    - {{name: huggingface, version: "1", autoSelect: true, priority: 1}}
  containers:
    - name: kserve-container
      image: kserve/huggingfaceserver:v0.15.0
      args: ["--model_name={{{{.Name}}}}"]
{mounts}"""
SHM_MOUNTS = """      volumeMounts:
        - {name: devshm, mountPath: /dev/shm}
  volumes:
    - name: devshm
      emptyDir: {medium: Memory}
"""


def _shm(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    p = tmp_path / "kserve.yaml"
    p.write_text(text)
    return [(f.severity.value, f.confidence) for f in audit_model(load(p).model).findings if f.cause == SHM]


def test_an_inference_service_alone_is_a_notice_naming_the_runtime(tmp_path: Path) -> None:
    p = tmp_path / "isvc.yaml"
    p.write_text(ISVC.format(runtime=""))
    (f,) = [f for f in audit_model(load(p).model).findings if f.cause == SHM]
    assert (f.severity.value, f.confidence) == ("notice", "suggests")
    assert "modelFormat huggingface" in f.message and "kserve-huggingfaceserver" in f.message


@pytest.mark.parametrize("kind", ["ServingRuntime", "ClusterServingRuntime"])
def test_the_runtime_in_the_same_file_gives_its_shm(tmp_path: Path, kind: str) -> None:
    # auto-selected by modelFormat, and named by model.runtime
    for runtime in ("", "      runtime: hf-runtime\n"):
        text = ISVC.format(runtime=runtime) + RUNTIME.format(kind=kind, name="hf-runtime", mounts=SHM_MOUNTS)
        assert _shm(tmp_path, text) == [], (kind, runtime)


def test_a_runtime_in_the_file_without_shm_is_the_blocker(tmp_path: Path) -> None:
    text = ISVC.format(runtime="      runtime: hf-runtime\n") + RUNTIME.format(
        kind="ServingRuntime", name="hf-runtime", mounts="")
    assert _shm(tmp_path, text) == [("blocker", "proves")]


def test_a_named_runtime_elsewhere_is_not_another_runtime_of_the_file(tmp_path: Path) -> None:
    # the predictor names a runtime the file does not hold; the file's auto-select runtime is not the one used
    text = ISVC.format(runtime="      runtime: custom-vllm\n") + RUNTIME.format(
        kind="ServingRuntime", name="hf-runtime", mounts=SHM_MOUNTS)
    p = tmp_path / "k.yaml"
    p.write_text(text)
    (f,) = [f for f in audit_model(load(p).model).findings if f.cause == SHM]
    assert f.severity.value == "notice" and "custom-vllm" in f.message


def test_custom_containers_are_not_merged(tmp_path: Path) -> None:
    # a predictor with its own containers: KServe uses no runtime, the 64 MiB default is the pod's
    text = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: llama}
spec:
  predictor:
    containers:
      - name: kserve-container
        image: vllm/vllm-openai:v0.8.5
        args: ["--tensor-parallel-size=2"]
        resources: {limits: {nvidia.com/gpu: "2"}}
""" + RUNTIME.format(kind="ServingRuntime", name="hf-runtime", mounts=SHM_MOUNTS)
    assert ("blocker", "proves") in _shm(tmp_path, text)


def test_hostile_runtime_shapes_do_not_break_the_audit(tmp_path: Path) -> None:
    # wrong types where KServe expects lists and maps: read as nothing, never an internal error
    text = ISVC.format(runtime="") + """---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: r}
spec:
  supportedModelFormats: [{name: huggingface, autoSelect: true}]
  containers: [{name: kserve-container, volumeMounts: "x"}, 5]
  volumes: [{name: devshm, emptyDir: 7}]
"""
    assert _shm(tmp_path, text) == [("blocker", "proves")]
