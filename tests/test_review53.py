"""review53: what the four passes of the 52nd session (glearn52a, glearn52b, gnew52, gwild52) and lead52 got wrong.

Each test fails on e3c89ccd (the base) and passes with the fix named in its docstring."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes

# ------------------------------------------------------------------ the pod's runtime class (glearn52a, gnew38)

TORCH_NO_DRIVER = (
    "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a "
    "driver from http://www.nvidia.com/Download/index.aspx\n"
)
LIBCUDA = "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"


def test_a_cdi_device_name_is_not_a_pods_gpu_request(tmp_path: Path) -> None:
    """`--device nvidia.com/gpu=1` is a CDI device (podman, docker 25+): no pod, no runtime class. glearn52a's request
    fact read `nvidia.com/gpu=1` as a pod's request and named k8s.nvidia-runtime-class-missing."""
    text = "$ podman run --rm --device nvidia.com/gpu=1 vllm/vllm-openai --model x\n" + LIBCUDA
    assert "k8s.nvidia-runtime-class-missing" not in causes(tmp_path, text)
    # a pod's own request still is
    pod = "    resources:\n      limits:\n        nvidia.com/gpu: 1\n" + LIBCUDA
    assert causes(tmp_path, pod)[:1] == ["k8s.nvidia-runtime-class-missing"]
    # so is kubectl run's --limits
    run = "$ kubectl run t --image=vllm/vllm-openai --limits=cpu=2,nvidia.com/gpu=1\n" + LIBCUDA
    assert causes(tmp_path, run)[:1] == ["k8s.nvidia-runtime-class-missing"]


@pytest.mark.parametrize(
    "selected",
    [
        '{"spec": {"runtimeClassName": "nvidia", "containers": [{"name": "vllm"}]}}\n',
        '    default_runtime_name = "nvidia"\n',
        '        - {name: CONTAINERD_SET_AS_DEFAULT, value: "true"}\n',
    ],
)
def test_a_pod_that_runs_under_the_nvidia_runtime_is_not_told_to_name_it(tmp_path: Path, selected: str) -> None:
    """The pod names runtimeClassName: nvidia, or nvidia is containerd's default (the GPU Operator's
    CONTAINERD_SET_AS_DEFAULT): its runtime class is not why the driver is missing."""
    pod = "$ kubectl logs vllm-0\n    resources:\n      limits:\n        nvidia.com/gpu: 1\n"
    for fail in (TORCH_NO_DRIVER, LIBCUDA, "RuntimeError: Failed to infer device type\n"):
        assert causes(tmp_path, pod + fail)[:1] == ["k8s.nvidia-runtime-class-missing"]
        assert "k8s.nvidia-runtime-class-missing" not in causes(tmp_path, pod + selected + fail)


def test_an_amd_pod_is_not_told_about_the_nvidia_runtime(tmp_path: Path) -> None:
    text = (
        "$ kubectl logs vllm-rocm-0\n    resources:\n      limits:\n        amd.com/gpu: 1\n"
        "    image: rocm/vllm:latest\nRuntimeError: Failed to infer device type\n"
    )
    found = causes(tmp_path, text)
    assert "k8s.nvidia-runtime-class-missing" not in found
    assert "runtime.nvidia-toolkit-missing" not in found


# ------------------------------------------------------------------ lead52's Ray GPU request

RAY_NO_GPU = "(ServeReplica:default:LLMServer pid=2211) RuntimeError: No CUDA GPUs are available\n"


@pytest.mark.parametrize(
    "line",
    [
        'ray.init(address="auto", num_gpus=4)\n',  # the cluster's GPUs, not a task's request
        "Namespace(model='x', num_gpus=4, seed=0)\n",  # the script's own arguments
        "{'lr': 0.001, 'num_gpus': 4}\n",
    ],
)
def test_num_gpus_outside_a_ray_request_leaves_the_task_without_gpu(tmp_path: Path, line: str) -> None:
    """lead52's fact read any `num_gpus=N` as the worker's GPU request: the task-without-GPU reading was dropped and the
    empty mask went back to cuda.visible-devices-mismatch."""
    assert causes(tmp_path, line + RAY_NO_GPU)[:1] == ["ray.task-without-gpu"]


def test_options_num_gpus_is_a_request(tmp_path: Path) -> None:
    text = "llm = LLMServer.options(num_gpus=1).remote()\n" + RAY_NO_GPU
    assert "ray.task-without-gpu" not in causes(tmp_path, text)


# ------------------------------------------------------------------ torchrun's elastic --nnodes=MIN:MAX


def test_elastic_nnodes_counts_its_maximum_in_a_log(tmp_path: Path) -> None:
    """`--nnodes=1:4` was read as one node (MIN): a multi-node job taken for one node."""
    from tpdoctor.explain import explain

    for line in ("torchrun --nnodes=1:4 --nproc-per-node=8 train.py", "torchrun --nnodes 2:4 train.py"):
        log = tmp_path / "n.log"
        log.write_text(line + "\n", encoding="utf-8")
        assert explain([str(log)]).facts.get("nnodes") == "4"


@pytest.mark.parametrize("flag", ['"--nnodes=1:4"', '"--nnodes", "1:4"', '"--nnodes=${NODES:-1:4}"'])
def test_elastic_nnodes_counts_its_maximum_in_a_config(tmp_path: Path, flag: str) -> None:
    from tpdoctor.deploy.analysis import multi_node, node_count
    from tpdoctor.deploy.audit import load

    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  trainer:\n    image: nvcr.io/nvidia/pytorch:24.05-py3\n"
        f'    command: ["torchrun", {flag}, "--nproc-per-node=2", "train.py"]\n'
        "    gpus: all\n"
    )
    svc = load(p).model.services[0]
    assert (node_count(svc), multi_node(svc)) == (4, True)


# ------------------------------------------------------------------ an IMEX channel is no GPU (gwild52's left note)

COMPUTE_DOMAIN = """\
apiVersion: resource.nvidia.com/v1beta1
kind: ComputeDomain
metadata:
  name: cd
spec:
  numNodes: 2
  channel:
    resourceClaimTemplate:
      name: cd-channel
---
apiVersion: v1
kind: Pod
metadata:
  name: worker
spec:
  containers:
  - name: w
    image: ghcr.io/nvidia/k8s-samples:nvbandwidth-v0.7-8d103163
    resources:
      limits:
        {resource}: 2
      claims:
      - name: channel
  resourceClaims:
  - name: channel
    resourceClaimTemplateName: cd-channel
"""


def test_a_compute_domains_channel_claim_is_not_a_gpu(tmp_path: Path) -> None:
    """The ResourceClaimTemplate a ComputeDomain names is an IMEX channel: the pod sees its 2 GPUs, not "all"."""
    from tpdoctor.deploy.analysis import visible_gpus
    from tpdoctor.deploy.audit import load

    p = tmp_path / "pod.yaml"
    p.write_text(COMPUTE_DOMAIN.format(resource="nvidia.com/gpu"))
    svc = load(p).model.services[0]
    assert visible_gpus(svc) == 2
    assert [g.via for g in svc.gpus] == ["k8s-resource"]


@pytest.mark.parametrize(
    "resource", ["nvidia.com/imex-channel", "nvidia.com/rdma_shared_device_a", "nvidia.com/hostdev"]
)
def test_vendor_resources_that_are_not_gpus(tmp_path: Path, resource: str) -> None:
    from tpdoctor.deploy.analysis import requests_gpu
    from tpdoctor.deploy.audit import load

    p = tmp_path / "pod.yaml"
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: worker\nspec:\n  containers:\n  - name: w\n"
        "    image: python:3.12-slim\n    resources:\n      limits:\n        {resource}: 1\n"
    )
    p.write_text(pod.format(resource=resource))
    assert not requests_gpu(load(p).model.services[0])
    # a GPU under another name still is one (MIG's mixed strategy)
    p.write_text(pod.format(resource="nvidia.com/mig-1g.10gb"))
    assert requests_gpu(load(p).model.services[0])


def test_an_imex_channel_device_is_not_a_gpu_device(tmp_path: Path) -> None:
    from tpdoctor.deploy.analysis import backend, requests_gpu
    from tpdoctor.deploy.audit import load

    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  client:\n    image: python:3.12-slim\n    command: [\"python3\", \"-c\", \"print(1)\"]\n"
        "    devices:\n      - /dev/nvidia-caps-imex-channels/channel0\n"
    )
    svc = load(p).model.services[0]
    assert (backend(svc), requests_gpu(svc)) == ("none", False)
    p.write_text(p.read_text().replace("/dev/nvidia-caps-imex-channels/channel0", "/dev/nvidia0"))
    svc = load(p).model.services[0]
    assert (backend(svc), requests_gpu(svc)) == ("cuda", True)


# ------------------------------------------------------------------ the driver table (review52's left note)


@pytest.mark.parametrize(
    ("driver", "image"),
    [("387.34", "nvidia/cuda:9.1-devel-ubuntu16.04"), ("450.36.06", "nvidia/cuda:11.0-devel-ubuntu18.04")],
)
def test_a_driver_below_the_release_notes_minimum_does_not_run_that_cuda(
    tmp_path: Path, driver: str, image: str
) -> None:
    """CUDA 9.1.85 needs 390.46 and 11.0 GA 450.51.05 (the table read 387.26 and the 11.0 RC's 450.36.06)."""
    text = f"My NVIDIA driver version is {driver}\nFROM {image}\n"
    assert causes(tmp_path, text)[:1] == ["cuda.driver-too-old"]
    ok = {"387.34": "390.48", "450.36.06": "450.51.06"}[driver]
    assert "cuda.driver-too-old" not in causes(tmp_path, text.replace(driver, ok))


def test_the_compat_libcuda_of_cuda_13_1_is_recognised(tmp_path: Path) -> None:
    """TensorFlow's kernel/DSO mismatch where the DSO is the image's CUDA 13.1 compat libcuda (R590) over a 580 kernel
    module: the branch table stopped at CUDA 13.0."""
    from tpdoctor.explain import explain

    log = tmp_path / "t.log"
    log.write_text(
        "FROM nvidia/cuda:13.1.0-devel-ubuntu24.04\n"
        "E external/xla/xla/stream_executor/cuda/cuda_diagnostics.cc:313] kernel version 580.95.5 does not match DSO "
        "version 590.44.1 -- cannot find working devices in this configuration\n",
        encoding="utf-8",
    )
    assert explain([str(log)]).facts.get("image_compat_libcuda") == "590 (CUDA 13.1)"


# ------------------------------------------------------------------ an APU target in a build's target list (glearn52a)

HIP_FAIL = "RuntimeError: HIP error: invalid device function\n"


@pytest.mark.parametrize(
    "targets",
    [
        ["gfx90a", "gfx942", "gfx1030", "gfx1036", "gfx1100"],  # an Instinct target: no APU desktop prints it
        ["gfx1030", "gfx1036", "gfx1100", "gfx1101", "gfx1102"],  # three or more discrete targets
    ],
)
def test_an_apu_target_in_a_build_target_list_is_no_igpu(tmp_path: Path, targets: list[str]) -> None:
    """glearn52a's bare-line fact read gfx1036 in a build's target list, printed one a line, as the host's iGPU."""
    text = "GPU: AMD Radeon RX 7900 XTX\nBuilding with GPU_TARGETS:\n" + "".join(t + "\n" for t in targets) + HIP_FAIL
    assert "rocm.igpu-visible" not in causes(tmp_path, text)
    # amdgpu-arch's own listing beside it still is an iGPU
    ggml = (
        "ggml_cuda_init: found 2 ROCm devices:\n"
        "  Device 1: AMD Radeon Graphics, gfx1036 (0x1036), VMM: no, Wave Size: 32\n"
    )
    arch = "GPU: AMD Radeon RX 7900 XTX\n$ amdgpu-arch\ngfx1100\ngfx1036\n"
    assert causes(tmp_path, arch + HIP_FAIL)[:1] == ["rocm.igpu-visible"]
    assert "rocm.igpu-visible" in causes(tmp_path, ggml + text)


# ------------------------------------------------------------------ a read-only hub cache asked for with offline mode (gnew52)

EROFS_REFS = "OSError: [Errno 30] Read-only file system: '/model-cache/models--meta-llama--Llama-3.1-8B-Instruct/refs'\n"


@pytest.mark.parametrize(
    "offline",
    [
        "        - {name: HF_HUB_OFFLINE, value: \"1\"}\n",
        "docker run -e HF_HUB_OFFLINE=1 -v /srv/hf:/model-cache:ro vllm/vllm-openai --model meta-llama/Llama-3.1-8B-Instruct\n",
        'os.environ["HF_HUB_OFFLINE"] = "1"\n',
    ],
)
def test_a_read_only_cache_with_offline_mode_is_told_offline_did_not_reach_the_writer(
    tmp_path: Path, offline: str
) -> None:
    """gnew52's reading told a user who mounted a pre-filled cache read-only and set HF_HUB_OFFLINE to mount it
    read-write or set HF_HUB_OFFLINE: offline, huggingface_hub writes nothing there, so the writer did not run
    offline."""
    from tpdoctor.explain import explain

    log = tmp_path / "o.log"
    log.write_text(offline + EROFS_REFS, encoding="utf-8")
    (finding,) = [f for f in explain([str(log)]).findings if f.cause == "fs.model-cache-unwritable"]
    assert "did not run offline" in finding.message
    log.write_text(EROFS_REFS, encoding="utf-8")
    (finding,) = [f for f in explain([str(log)]).findings if f.cause == "fs.model-cache-unwritable"]
    assert "did not run offline" not in finding.message
    log.write_text('        - {name: HF_HUB_OFFLINE, value: "0"}\n' + EROFS_REFS, encoding="utf-8")
    (finding,) = [f for f in explain([str(log)]).findings if f.cause == "fs.model-cache-unwritable"]
    assert "did not run offline" not in finding.message


# ------------------------------------------------------------------ a printed tensor is no fixed index (glearn52b)

ORDINAL = "RuntimeError: CUDA error: invalid device ordinal\n"


@pytest.mark.parametrize(
    "printed",
    [
        "tensor([1., 2., 3.], device='cuda:1')\n",
        "        [0.5000, 0.1000]], device='cuda:1', grad_fn=<AddBackward0>)\n",
    ],
)
def test_a_tensor_printed_on_gpu_1_is_not_the_programs_fixed_index(tmp_path: Path, printed: str) -> None:
    """glearn52b read torch's tensor repr `device='cuda:1'` as the program's fixed index and dropped the device-mask
    reading: the log was left with no cause although the tensor shows GPU 1 exists."""
    assert causes(tmp_path, printed + ORDINAL)[:1] == ["cuda.visible-devices-mismatch"]
    # the code's own choice still is the program's index
    assert causes(tmp_path, '    trainer = Trainer(model, device="cuda:1")\n' + ORDINAL) == []


# ------------------------------------------------------------------ a server whose arguments are in a file (gwild52)


@pytest.mark.parametrize("config", ['"--config", "/cfg/serve.yaml"', '"--config=/cfg/serve.yaml"'])
def test_a_vllm_server_with_a_config_file_is_not_one_rank(tmp_path: Path, config: str) -> None:
    """`vllm serve --config FILE` takes tensor-parallel-size from the file: gwild52's one_rank said "tensor parallel
    size 1" and turned shm.too-small into a notice."""
    from tpdoctor.deploy.analysis import one_rank
    from tpdoctor.deploy.audit import load

    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai:latest\n"
        f'    command: ["--model", "meta-llama/Llama-3.1-70B-Instruct", {config}]\n    gpus: all\n'
    )
    assert one_rank(load(p).model.services[0]) is None
    p.write_text(p.read_text().replace(config, '"--max-model-len", "8192"'))
    assert one_rank(load(p).model.services[0]) is not None


def test_the_cache_owner_remedy_does_not_mount_under_root() -> None:
    """gnew52's docker remedy ran the server as the cache's owner (--user UID:GID) with the cache mounted at
    /root/.cache/huggingface: /root is mode 700 in the images, so that user could not reach it."""
    from tpdoctor.model.fixes import fixes_for

    fixes = fixes_for("fs.model-cache-unwritable")
    (fix,) = [f for f in fixes if f.id == "model-cache-owned-by-pod-user" and f.runtime == "docker"]
    assert "--user" in fix.snippet and ":/root/" not in fix.snippet and "HF_HOME=/root" not in fix.snippet


# ------------------------------------------------------------------ /dev/kfd beside a bind-mounted /dev/dri (gwild52)


def test_kfd_beside_a_bind_mounted_dri_has_its_render_nodes(tmp_path: Path) -> None:
    """gwild52's kfd_without_render_nodes took `-v /dev/dri:/dev/dri` (with a device-cgroup rule for 226:*) for no
    render node at all."""
    from tpdoctor.deploy.audit import audit_model, load

    p = tmp_path / "run.sh"
    p.write_text(
        '#!/bin/sh\ndocker run --rm --device /dev/kfd -v /dev/dri:/dev/dri --device-cgroup-rule="c 226:* rmw" '
        "rocm/pytorch python3 train.py\n"
    )
    found = [f.cause for f in audit_model(load(p).model).findings]
    assert "device.render-node-missing" not in found
    p.write_text("#!/bin/sh\ndocker run --rm --device /dev/kfd rocm/pytorch python3 train.py\n")
    assert "device.render-node-missing" in [f.cause for f in audit_model(load(p).model).findings]


# ------------------------------------------------------------------ advice is no report that the toolkit works (glearn52b)


@pytest.mark.parametrize(
    "line",
    [
        "Check that the NVIDIA Container Toolkit is working before you start.",
        "I am not sure that the toolkit is working at all.",
        "Make sure the NVIDIA Container Toolkit is working, then start the server.",
    ],
)
def test_advice_or_doubt_is_not_a_working_toolkit(tmp_path: Path, line: str) -> None:
    """glearn52b's words fact read a README's advice and a user's doubt as "the toolkit works": the toolkit reading was
    dropped and device.nvidia-node-missing named instead."""
    assert causes(tmp_path, line + "\n" + LIBCUDA)[:1] == ["runtime.nvidia-toolkit-missing"]
    said = "I confirmed that my NVIDIA Container Toolkit was working by running a container that ran nvidia-smi\n"
    assert causes(tmp_path, said + LIBCUDA)[:1] == ["device.nvidia-node-missing"]
