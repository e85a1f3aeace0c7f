"""Issue 13, heldout50 lessons (glearn50b): Kubernetes and serving platforms in their own words.

Lines are written from the code or docs that print them (not copied from the heldout50 logs):
- KServe's Hugging Face server 0.13.x: VLLMModel.load sets tensor_parallel_size = torch.cuda.device_count() and vLLM
  divides by it; __main__.py logs "Failed to start model server: {e}" (kserve/kserve#3922: k3d, no runtimeClassName);
  without a GPU request in the log it is a CPU-only InferenceService as likely, so a note;
- Go's os.PathError ("mkdir /.ollama: permission denied") from Ollama's $HOME/.ollama under a UID whose HOME is /;
- a report naming the random/arbitrary UID with no home (llm-d/llm-d-kv-cache#83);
- the scheduler's refusal retold ("insufficient resources: NVIDIA GPUs", kubeflow/kubeflow#5937) and one GPU held by
  another user's pod (NVIDIA/k8s-device-plugin#51);
- "No CUDA GPUs are available" in a Ray Serve deployment ("(ServeReplica:<app>:<deployment> pid=N)"): Ray's empty
  CUDA_VISIBLE_DEVICES for a replica without num_gpus (ray-project/ray#51193), a user's own mask stays a mask;
- a GPU pod whose RuntimeClass handler is gVisor's runsc, torch then without CUDA (google/gvisor#13060, #9368).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

KSERVE = (
    "2024-09-24 14:02:11.123 1 kserve ERROR [__main__.py:<module>():259] Failed to start model server: "
    "integer division or modulo by zero\n"
)


@pytest.mark.parametrize(
    "request_line",
    [
        "        resources:\n          limits:\n            nvidia.com/gpu: 1\n",
        '{"resources": {"limits": {"nvidia.com/gpu": "2"}}}\n',
        "The pod keeps crashing even when allocating GPUs for the InferenceService.\n",
        "We requested a GPU in the predictor spec.\n",
    ],
)
def test_kserve_zero_gpu_count_with_a_gpu_request_is_the_runtime_class(tmp_path: Path, request_line: str) -> None:
    found = _findings(tmp_path, request_line + KSERVE)
    assert found and found[0] == ("k8s.nvidia-runtime-class-missing", "suggests"), found


def test_kserve_zero_gpu_count_without_a_gpu_request_is_a_note(tmp_path: Path) -> None:
    # a CPU-only InferenceService on KServe 0.13 divides by the same zero
    assert _causes(tmp_path, KSERVE) == []
    assert any("CPU-only InferenceService" in n for n in _notes(tmp_path, KSERVE))


@pytest.mark.parametrize(
    "line",
    [
        # ollama cmd/cmd.go initializeKeypair: fmt.Errorf("could not create directory %w", err)
        "Error: could not create directory mkdir /.ollama: permission denied",
        # envconfig.Models() = $HOME/.ollama/models
        "Error: mkdir /.ollama/models: permission denied",
        "Error: open /.ollama/id_ed25519: permission denied",
        # any Go program's cache under $HOME
        'time=2025-01-01T00:00:00Z level=ERROR msg="cache init" err="mkdir /.cache/huggingface: permission denied"',
        "failed to load config: open /.config/app/settings.json: permission denied",
    ],
)
def test_go_path_error_under_root_dot_dir_is_the_arbitrary_uid(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("fs.home-unwritable-arbitrary-uid", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "Generated random users (non-root) sometimes have no home set, so the caches default to /.cache.",
        "The pod runs with an arbitrary UID without a HOME directory, as usual on OpenShift.",
        "There is no HOME for the random user OpenShift assigns, so vLLM cannot write its cache.",
        "Random UIDs lack a home directory in our cluster.",
    ],
)
def test_prose_arbitrary_uid_without_home(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["fs.home-unwritable-arbitrary-uid"]


@pytest.mark.parametrize(
    "line",
    [
        "When I create a notebook server with 2 GPUs I get an error insufficient resources: NVIDIA GPUs.",
        "Warning: Insufficient resources: GPUs on every node.",
        "The pod stays Pending with Insufficient NVIDIA GPUs.",
        "the second user pod fails to start as the GPU has already been allocated by the first user",
        "The GPU is already assigned to another pod, so the new notebook stays Pending.",
        "Our only GPU was already claimed by a running notebook.",
    ],
)
def test_prose_gpu_scheduling_refusal(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["k8s.gpu-resource-unavailable"]


SERVE = (
    "2025-03-09 17:27:15,079 INFO scripts.py:494 -- Running import path: 'llm:build_app'.\n"
    "(ServeReplica:default:VLLMDeployment pid=4121) INFO 03-09 17:27:33 __init__.py:207] Automatically detected platform cuda.\n"
)


@pytest.mark.parametrize(
    "error",
    [
        "RuntimeError: No CUDA GPUs are available\n",
        'I ran into "RuntimeError: No CUDA GPUs are available" when I deploy it.\n',
        "RuntimeError: CUDA error: no CUDA-capable device is detected\n",
    ],
)
def test_no_cuda_gpus_in_a_serve_replica_is_the_replica_without_num_gpus(tmp_path: Path, error: str) -> None:
    found = _findings(tmp_path, SERVE + error)
    assert found and found[0] == ("ray.task-without-gpu", "suggests"), found
    assert "cuda.visible-devices-mismatch" not in [c for c, _ in found]


def test_old_serve_replica_prefix_without_app(tmp_path: Path) -> None:
    text = "(ServeReplica:LLMDeployment pid=77) loading model\nRuntimeError: No CUDA GPUs are available\n"
    found = _causes(tmp_path, text)
    assert found[:1] == ["ray.task-without-gpu"] and "cuda.visible-devices-mismatch" not in found, found


def test_a_users_own_mask_in_a_serve_replica_stays_a_mask(tmp_path: Path) -> None:
    text = SERVE + "export CUDA_VISIBLE_DEVICES=4,5\nRuntimeError: No CUDA GPUs are available\n"
    assert _causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]


GVISOR_POD = (
    "apiVersion: v1\nkind: Pod\nspec:\n  runtimeClassName: gvisor\n  containers:\n  - name: cuda\n"
    "    resources:\n      limits:\n        nvidia.com/gpu: 1\n"
)


@pytest.mark.parametrize(
    "symptom",
    [
        "torch.cuda.is_available() is False inside the pod\n",
        'python -c "import torch; print(torch.cuda.is_available())" prints False\n',
        "torch.cuda.is_available() returns False in the pod\n",
        "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx\n",
        "RuntimeError: No CUDA GPUs are available\n",
    ],
)
def test_gpu_pod_under_runsc_runtime_class_is_the_runtime_class(tmp_path: Path, symptom: str) -> None:
    found = _findings(tmp_path, GVISOR_POD + symptom)
    assert found and found[0] == ("k8s.nvidia-runtime-class-missing", "suggests"), found


def test_runsc_shim_named_by_containerd(tmp_path: Path) -> None:
    text = (
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.gvisor]\n  runtime_type = "io.containerd.runsc.v1"\n'
        '  nvidia.com/gpu: "1"\ntorch.cuda.is_available() == False\n'
    )
    assert _causes(tmp_path, text)[:1] == ["k8s.nvidia-runtime-class-missing"]


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # gVisor's own nvproxy gaps are not the runtime class
        (GVISOR_POD + "W0101 nvproxy: unknown frontend ioctl 0xc8\ntorch.cuda.is_available() == False\n",
         "k8s.nvidia-runtime-class-missing"),
        # GKE Sandbox installs the driver itself
        (GVISOR_POD + "GKE node pool with gVisor sandbox\ntorch.cuda.is_available() == False\n",
         "k8s.nvidia-runtime-class-missing"),
        # a gVisor pod with no GPU request, and a GPU pod that found its GPU
        ("  runtimeClassName: gvisor\ntorch.cuda.is_available() == False\n", "k8s.nvidia-runtime-class-missing"),
        (GVISOR_POD + ">>> torch.cuda.is_available()\nTrue\n", "k8s.nvidia-runtime-class-missing"),
        # a Serve replica that found its GPU, and "No CUDA GPUs" with no Serve replica
        (SERVE + "(ServeReplica:default:VLLMDeployment pid=4121) INFO model loaded on cuda:0\n", "ray.task-without-gpu"),
        # the model server failing for another reason
        ("kserve ERROR Failed to start model server: CUDA out of memory\n", "k8s.nvidia-runtime-class-missing"),
        # Go errors under a real home, or a dot-dir that is no home's
        ("Error: mkdir /home/app/.ollama: permission denied\n", "fs.home-unwritable-arbitrary-uid"),
        ("Error: mkdir /root/.cache: permission denied\n", "fs.home-unwritable-arbitrary-uid"),
        ("Error: mkdir /.ollama: no space left on device\n", "fs.home-unwritable-arbitrary-uid"),
        # random users / UIDs that have a home
        ("OpenShift assigns a random UID; we set HOME=/tmp so it has a home.\n", "fs.home-unwritable-arbitrary-uid"),
        ("A random user id is picked for each test run.\n", "fs.home-unwritable-arbitrary-uid"),
        # GPU memory, ports and processes are not the scheduler
        ("RuntimeError: insufficient resources: GPU memory is too small for this model\n", "k8s.gpu-resource-unavailable"),
        ("Insufficient NVIDIA GPU memory to load the model.\n", "k8s.gpu-resource-unavailable"),
        ("Bind for 0.0.0.0:8000 failed: port is already allocated\n", "k8s.gpu-resource-unavailable"),
        ("The GPU memory is already allocated by the first process.\n", "k8s.gpu-resource-unavailable"),
        ("GPU 0 is already assigned to another process (exclusive compute mode).\n", "k8s.gpu-resource-unavailable"),
    ],
)
def test_a_glearn50b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _causes(tmp_path, text)


def test_healthy_nccl_info_run_stays_clean(tmp_path: Path) -> None:
    text = (
        "node1:100:100 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.2<0>\n"
        "node1:100:100 [0] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation\n"
        "node1:100:100 [0] NCCL INFO cudaDriverVersion 12040\n"
        "node1:100:100 [0] NCCL INFO Channel 00/02 :    0   1\n"
        "node1:100:100 [0] NCCL INFO Connected all rings\n"
        "node1:100:100 [0] NCCL INFO comm 0x55d1 rank 0 nranks 2 cudaDev 0 busId 1000 - Init COMPLETE\n"
        "(ServeReplica:default:VLLMDeployment pid=4121) INFO model loaded on cuda:0\n"
    )
    assert _causes(tmp_path, text) == []
