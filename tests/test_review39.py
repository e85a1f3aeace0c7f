"""review39: bugs found reviewing the session's new code (gnew39, gsafe39, the lead's audit commits)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.deploy.audit import audit_model, load

POD = """apiVersion: v1
kind: Pod
metadata: {name: vllm}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.8.5
      args: ["--tensor-parallel-size", "4"]
      env: [{name: NVIDIA_VISIBLE_DEVICES, value: "VALUE"}]
      resources:
        limits: {cpu: 8}
"""


def _tp(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    p = tmp_path / "pod.yaml"
    p.write_text(text)
    return [
        (f.severity.value, f.confidence)
        for f in audit_model(load(p).model).findings
        if f.cause == "vllm.tp-exceeds-visible-gpus"
    ]


def test_a_pod_that_names_fewer_gpus_than_tp_in_nvidia_visible_devices_is_the_blocker(tmp_path: Path) -> None:
    # NVIDIA_VISIBLE_DEVICES=0 gives the container one GPU even where nvidia is the node's default runtime: TP 4
    # cannot start there (it was read like `all`: degraded, "works where nvidia is the default runtime")
    for value in ("0", "0,1", "GPU-5a3c1f2e-0000-0000-0000-000000000000"):
        assert _tp(tmp_path, POD.replace("VALUE", value)) == [("blocker", "suggests")], value
    for value in ("all", "0,1,2,3"):
        assert _tp(tmp_path, POD.replace("VALUE", value)) == [("degraded", "suggests")], value
