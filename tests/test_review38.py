"""review38: bugs found reviewing gnew38 (k8s.nvidia-runtime-class-missing) and gfeat38 (launcher-aware remedies,
runtimes = [], k3s/RKE2 bundled runc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.explain import explain
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions
from tpdoctor.rules.registry import run_fact_rules

TP = "vllm.tp-exceeds-visible-gpus"
RC = "k8s.nvidia-runtime-class-missing"


# --- 1: NCCL's "localRanks N" is not torch elastic's local_ranks=[...] -------------------------------------------------


def test_vllm_log_with_nccl_init_line_keeps_vllm_words(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(
        "docker run --gpus 2 img\n"
        "INFO 05-01 10:00:00 api_server.py:1 vLLM API server version 0.8.5\n"
        "INFO args: tensor_parallel_size=4\n"
        "(VllmWorker rank=0 pid=1) host:1:1 [0] NCCL INFO comm 0x5581 rank 0 nRanks 4 nNodes 1 localRanks 4 "
        "localRank 0 MNNVL 0\n"
        "RuntimeError: CUDA error: invalid device ordinal\n"
    )
    f = next(x for x in explain([str(log)]).findings if x.cause == TP)
    env = [x for x in f.fixes if x.runtime == "env"]
    assert env and all("--tensor-parallel-size" in x.snippet for x in env), env
    assert not any("torchrun" in x.snippet or "nproc" in x.title for x in env)


# --- 2: a GPU under another resource name is a GPU request --------------------------------------------------------------

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: vllm}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: vllm}}}}
  template:
    metadata: {{labels: {{app: vllm}}}}
    spec:
      runtimeClassName: nvidia
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.8.5
          args: ["--model", "m", "--tensor-parallel-size", "2"]
          resources:
            limits: {{{limits}}}
"""


def _audit(tmp_path: Path, text: str) -> set[str]:
    p = tmp_path / "deploy.yaml"
    p.write_text(text)
    return {f.cause for f in audit_model(load(p).model).findings}


@pytest.mark.parametrize(
    "limits", ["nvidia.com/gpu.shared: 2", "nvidia.com/mig-3g.40gb: 2", "nvidia.com/a100: 2", "volcano.sh/vgpu-number: 2"]
)
def test_a_gpu_under_another_resource_name_is_not_no_gpu(tmp_path: Path, limits: str) -> None:
    assert TP not in _audit(tmp_path, DEPLOY.format(limits=limits))


def test_a_pod_with_no_gpu_resource_still_gets_the_finding(tmp_path: Path) -> None:
    assert TP in _audit(tmp_path, DEPLOY.format(limits="cpu: 4, rdma/hca_shared_devices_a: 1"))


# --- 3: containerd 1.x's deprecated [containerd.default_runtime] table is the default runtime ------------------------

NV_RUNTIME = (
    "[plugins.cri.containerd.runtimes.nvidia]\n"
    'runtime_type = "io.containerd.runc.v1"\n'
    "[plugins.cri.containerd.runtimes.nvidia.options]\n"
    'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
)
# nvidia-ctk runtime configure --set-as-default with a legacy (v1) config: pkg/config/engine/containerd/config_v1.go
LEGACY_DEFAULT = (
    "[plugins.cri.containerd.default_runtime]\n"
    'runtime_type = "io.containerd.runc.v1"\n'
    'runtime_root = ""\n'
    'runtime_engine = ""\n'
    "privileged_without_host_devices = false\n"
    "[plugins.cri.containerd.default_runtime.options]\n"
    'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
)


def _node_causes(tmp_path: Path, config: str) -> list[str]:
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    for b in ("usr/bin/containerd", "usr/bin/kubelet", "usr/bin/nvidia-container-runtime"):
        fr.write(b, "")
    fr.write("etc/containerd/config.toml", config)
    fr.flush()
    facts = collect_facts(fr.root, dict(fr.env), live=False)
    return [f.cause for f in run_fact_rules(facts, CheckOptions())]


def test_legacy_default_runtime_table_naming_nvidia_is_nvidia_as_default(tmp_path: Path) -> None:
    assert RC not in _node_causes(tmp_path, NV_RUNTIME + LEGACY_DEFAULT)


def test_an_empty_legacy_default_runtime_table_is_not_a_default(tmp_path: Path) -> None:
    # `containerd config default` (1.4-1.7) writes the table with runtime_type = "": the CRI plugin ignores it
    empty = '[plugins.cri.containerd.default_runtime]\nruntime_type = ""\n'
    assert RC in _node_causes(tmp_path, NV_RUNTIME + empty)


# --- 4: torch elastic's group_world_size=1 is not the GPUs a torchrun job needs -----------------------------------------

RENDEZVOUS = """GPU 0: NVIDIA L4 (UUID: GPU-00000000-aaaa-bbbb-cccc-dddddddddddd)
GPU 1: NVIDIA L4 (UUID: GPU-00000001-aaaa-bbbb-cccc-dddddddddddd)
INFO:torch.distributed.elastic.agent.server.api:[default] Rendezvous complete for workers. Result:
  restart_count=0
  master_addr=127.0.0.1
  master_port=29500
  group_rank=0
  group_world_size=1
  local_ranks=[0, 1, 2, 3]
  role_ranks=[0, 1, 2, 3]
  global_ranks=[0, 1, 2, 3]
  role_world_size=[4, 4, 4, 4]
  global_world_size=[4, 4, 4, 4]
RuntimeError: CUDA error: invalid device ordinal
"""


def test_torchrun_rendezvous_block_asks_for_its_local_ranks_not_group_world_size(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(RENDEZVOUS)
    f = next(x for x in explain([str(log)]).findings if x.cause == TP)
    docker = [x for x in f.fixes if x.runtime == "docker"]
    assert docker and all("4 GPU(s)" in x.title for x in docker), [x.title for x in docker]
    assert any("--gpus 4" in x.snippet for x in docker) and not any("--gpus 1" in x.snippet for x in docker)


# --- 5: a count of thousands of digits is no count (int() refuses past 4300 digits) --------------------------------------


@pytest.mark.parametrize(
    "line", ["mpirun -np {n} python train.py", "torchrun --nproc_per_node={n} train.py", "INFO args: tensor_parallel_size={n}"]
)
def test_a_huge_count_in_a_log_is_not_an_internal_error(tmp_path: Path, line: str) -> None:
    log = tmp_path / "run.log"
    log.write_text(line.format(n="9" * 5000) + "\nRuntimeError: CUDA error: invalid device ordinal\n")
    report = explain([str(log)])  # raised ValueError (Exceeds the limit (4300 digits) for integer string conversion)
    assert report.findings


# --- 6: a KServe ServingRuntime's container is a template: its InferenceService requests the GPUs -----------------------

SERVING_RUNTIME = """apiVersion: serving.kserve.io/v1alpha1
kind: {kind}
metadata:
  name: vllm-runtime
spec:
  supportedModelFormats:
    - {{name: vLLM, autoSelect: true}}
  containers:
    - name: kserve-container
      image: vllm/vllm-openai:v0.8.5
      command: ["python", "-m", "vllm.entrypoints.openai.api_server"]
      args: ["--port=8080", "--model=/mnt/models", "--tensor-parallel-size=2"]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: llama
spec:
  predictor:
    model:
      modelFormat: {{name: vLLM}}
      runtime: vllm-runtime
      storageUri: pvc://models/llama
      args: ["--tensor-parallel-size=2"]
      resources:
        limits: {{nvidia.com/gpu: "2"}}
"""


@pytest.mark.parametrize("kind", ["ServingRuntime", "ClusterServingRuntime"])
def test_a_serving_runtime_without_gpu_resources_is_not_no_gpu(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "kserve.yaml"
    p.write_text(SERVING_RUNTIME.format(kind=kind))
    found = [f for f in audit_model(load(p).model).findings if f.cause == TP]
    assert found == [], [f.message for f in found]


# --- 7: default_runtime_name unset is "runc": a runc entry whose binary is the NVIDIA runtime is nvidia as default ------


def test_runc_entry_running_the_nvidia_binary_without_default_runtime_name(tmp_path: Path) -> None:
    config = (
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
        'BinaryName = "/usr/bin/nvidia-container-runtime"\nSystemdCgroup = true\n'
    )
    assert RC not in _node_causes(tmp_path, config)


# --- 8: mpi-np's gap is bounded: a long line of launcher words is not quadratic -----------------------------------------


MPIRUN = "mpirun --allow-run-as-root -H a:4,b:4 -np 4 python train.py"
ACCELERATE = "accelerate launch --multi_gpu --num_machines 1 --num_processes 4 train.py"


@pytest.mark.parametrize(
    ("fact", "group", "word", "good", "value"),
    [
        ("mpi-np", "mpi_np", "mpirun ", MPIRUN, "4"),
        ("multi-node-launch", "multi_node_launch2", "mpirun ", MPIRUN, "a:4,b:4"),
        ("accelerate-num-processes", "accelerate_num_processes", "accelerate launch ", ACCELERATE, "4"),
        ("accelerate-num-machines", "accelerate_num_machines", "accelerate launch ", ACCELERATE, "1"),
    ],
)
def test_launcher_fact_patterns_are_linear_on_a_line_of_launcher_words(
    fact: str, group: str, word: str, good: str, value: str
) -> None:
    import re
    import time

    from tpdoctor.explain.signatures import knowledge_base

    regex = next(f.regex for f in knowledge_base().facts if f.id == fact)
    pattern = re.compile(regex.pattern, re.M)
    line = word * (64000 // len(word))  # one MAX_LINE (64 KiB) line: the unbounded gap took 2-5 s, quadratic
    start = time.perf_counter()
    assert pattern.search(line) is None
    assert time.perf_counter() - start < 0.6  # bounded: 0.02-0.1 s; unbounded: 1.4-5 s
    m = pattern.search(good)
    assert m is not None and m.group(group) == value
