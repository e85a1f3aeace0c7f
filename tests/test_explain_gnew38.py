"""gnew38 (issue 13): k8s.nvidia-runtime-class-missing, a GPU pod without runtimeClassName where nvidia is not
containerd's default runtime, seen by check (the node's containerd config as `nvidia-ctk runtime configure` writes it
without --set-as-default), audit (a pod spec) and explain (a no-driver line in a Kubernetes log); and audit's reading
of a Kubernetes vLLM pod at TP >= 2 that requests no GPU (vllm.tp-exceeds-visible-gpus).
"""

from __future__ import annotations

from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.explain import explain
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions
from tpdoctor.rules.registry import run_fact_rules

ID = "k8s.nvidia-runtime-class-missing"
CTRD = "etc/containerd/config.toml"
V2_NVIDIA = (
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
    'runtime_type = "io.containerd.runc.v2"\n'
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
    'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
)
DEFAULT_NVIDIA = '[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "nvidia"\n'


def _node(tmp_path: Path, config: str, *, kubelet: bool = True) -> list[str]:
    fr = FakeRoot(tmp_path)
    fr.mounts = [
        "/dev/sda1 / ext4 rw,relatime 0 0",
        "devtmpfs /dev devtmpfs rw,nosuid 0 0",
        "tmpfs /dev/shm tmpfs rw,nosuid,nodev,size=16777216k 0 0",
    ]
    fr.write("usr/bin/containerd", "")
    fr.write("usr/bin/nvidia-container-runtime", "")
    if kubelet:
        fr.write("usr/bin/kubelet", "")
    fr.write(CTRD, config)
    fr.flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    return [f.message for f in run_fact_rules(facts, CheckOptions()) if f.cause == ID]


def test_check_names_the_class_where_nvidia_is_registered_off_the_default(tmp_path: Path) -> None:
    msgs = _node(tmp_path, V2_NVIDIA)
    assert len(msgs) == 1 and "runtimeClassName: nvidia" in msgs[0] and "runc" in msgs[0]


def test_check_is_quiet_where_nvidia_is_the_default(tmp_path: Path) -> None:
    assert _node(tmp_path, V2_NVIDIA + DEFAULT_NVIDIA) == []


def test_check_is_quiet_without_a_kubelet(tmp_path: Path) -> None:
    assert _node(tmp_path, V2_NVIDIA, kubelet=False) == []


def _audit(tmp_path: Path, spec: str) -> dict[str, str]:
    p = tmp_path / "pod.yaml"
    p.write_text(spec)
    return {f.cause: f.confidence for f in audit_model(load(p).model).findings}


POD = """apiVersion: v1
kind: Pod
metadata: {{name: vllm}}
spec:
{rc}  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.8.5
      args: ["--tensor-parallel-size", "2"]
      resources:
        limits: {{{limits}}}
"""


def test_audit_notice_for_a_gpu_pod_without_a_runtime_class(tmp_path: Path) -> None:
    found = _audit(tmp_path, POD.format(rc="", limits="nvidia.com/gpu: 2"))
    assert found.get(ID) == "suggests" and "vllm.tp-exceeds-visible-gpus" not in found
    assert ID not in _audit(tmp_path, POD.format(rc="  runtimeClassName: nvidia\n", limits="nvidia.com/gpu: 2"))


def test_audit_notice_for_shared_and_mig_nvidia_resources_too(tmp_path: Path) -> None:
    # the device plugin's time-slicing (renameByDefault) and MIG mixed-strategy names need the runtime alike
    for limits in ("nvidia.com/gpu.shared: 2", "nvidia.com/mig-3g.40gb: 1"):
        assert _audit(tmp_path, POD.format(rc="", limits=limits)).get(ID) == "suggests", limits
        assert ID not in _audit(tmp_path, POD.format(rc="  runtimeClassName: nvidia\n", limits=limits))
    assert ID not in _audit(tmp_path, POD.format(rc="", limits="amd.com/gpu: 2"))


def test_audit_a_tp2_pod_that_requests_no_gpu(tmp_path: Path) -> None:
    found = _audit(tmp_path, POD.format(rc="", limits="cpu: 8"))
    assert found.get("vllm.tp-exceeds-visible-gpus") == "suggests" and ID not in found


def _tp_finding(tmp_path: Path, spec: str) -> tuple[str, str] | None:
    p = tmp_path / "pod.yaml"
    p.write_text(spec)
    for f in audit_model(load(p).model).findings:
        if f.cause == "vllm.tp-exceeds-visible-gpus":
            return f.severity.value, f.confidence
    return None


def test_audit_a_tp2_pod_that_sets_the_visible_devices_itself_is_degraded(tmp_path: Path) -> None:
    # NVIDIA_VISIBLE_DEVICES in the pod's env works where nvidia is the node's default runtime: not a sure blocker,
    # but the GPUs are outside the scheduler's accounting
    env = "      env: [{name: NVIDIA_VISIBLE_DEVICES, value: all}]\n"
    spec = POD.format(rc="", limits="cpu: 8").replace("      resources:\n", env + "      resources:\n")
    assert _tp_finding(tmp_path, spec) == ("degraded", "suggests")
    # void / none select no GPU: still the blocker
    for value in ("void", "none"):
        other = spec.replace("value: all", f"value: {value}")
        assert _tp_finding(tmp_path, other) == ("blocker", "suggests"), value
    assert _tp_finding(tmp_path, POD.format(rc="", limits="cpu: 8")) == ("blocker", "suggests")


def _causes(tmp_path: Path, text: str) -> list[str]:
    p = tmp_path / "log.txt"
    p.write_text(text)
    return [f.cause for f in explain([str(p)]).findings]


NO_DRIVER = (
    "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a "
    "driver from http://www.nvidia.com/Download/index.aspx\n"
)


def test_explain_no_driver_in_a_pod_is_the_runtime_class(tmp_path: Path) -> None:
    causes = _causes(tmp_path, "$ kubectl -n team exec -it nb-0 -- python train.py\n" + NO_DRIVER)
    assert causes[:1] == [ID] and "runtime.nvidia-toolkit-missing" not in causes


def test_explain_no_driver_outside_kubernetes_or_on_gke_is_not(tmp_path: Path) -> None:
    assert ID not in _causes(tmp_path, "$ docker run --rm pytorch/pytorch python train.py\n" + NO_DRIVER)
    assert ID not in _causes(tmp_path, "GKE autopilot, kubectl logs trainer-0\n" + NO_DRIVER)


def test_explain_a_missing_runtime_handler_stays_the_toolkit(tmp_path: Path) -> None:
    line = (
        "Warning  FailedCreatePodSandBox  0s  kubelet  Failed to create pod sandbox: rpc error: code = Unknown desc = "
        'failed to get sandbox runtime: no runtime for "nvidia" is configured\n'
    )
    causes = _causes(tmp_path, line + NO_DRIVER)
    assert causes[:1] == ["runtime.nvidia-toolkit-missing"]
