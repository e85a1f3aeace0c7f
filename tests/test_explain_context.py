"""Ambiguous symptoms resolved by the container command the log quotes (explain/context.py,
explain/differential.py, deploy/logquote.py).

The symptom lines are the upstream format strings: c10/cuda/CUDAFunctions.cpp device_count_ensure_non_zero
("No CUDA GPUs are available") and device_count_impl ("Found no NVIDIA driver on your system ..."), torch's
hipified "No HIP GPUs are available", c10 set_device -> C10_CUDA_CHECK ("CUDA error: invalid device
ordinal", cudaGetErrorString(cudaErrorInvalidDevice)), CPython's OSError for ENOSPC, vLLM
vllm/executor/ray_utils.py. The commands are what users paste: `$ sudo docker run ...` with continuations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.logquote import run_facts
from tpdoctor.explain import explain, scan_inputs
from tpdoctor.explain.context import MAX_SPAN_LINES, capture_span
from tpdoctor.model import Finding

NO_CUDA = "RuntimeError: No CUDA GPUs are available"
NO_DRIVER = (
    "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
    "installed a driver from http://www.nvidia.com/Download/index.aspx"
)
NO_HIP = "RuntimeError: No HIP GPUs are available"
ORDINAL = "RuntimeError: CUDA error: invalid device ordinal"
ENOSPC = "OSError: [Errno 28] No space left on device"
SIGBUS = "Fatal Python error: Bus error"


def _findings(tmp_path: Path, text: str) -> list[Finding]:
    log = tmp_path / "ctx.log"
    log.write_text(text)
    return [f for f in explain([str(log)]).findings if f.severity.value != "notice"]


def _first(tmp_path: Path, text: str) -> Finding:
    found = _findings(tmp_path, text)
    assert found, "no cause above notice"
    return found[0]


# --- deploy/logquote.py: what a quoted command says -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("$ sudo docker run -it pytorch/pytorch python", {"cmd_gpu_request": "none", "cmd_shm": "default"}),
        (
            "root@h:~# docker run --gpus all --ipc=host img",
            {"cmd_gpu_request": "nvidia", "cmd_shm": "ipc=host"},
        ),
        ("docker run --gpus 2 --shm-size=256m img", {"cmd_gpu_count": "2", "cmd_shm": str(256 << 20)}),
        ("docker run --gpus '\"device=1,3\"' img", {"cmd_gpu_count": "2"}),
        ("nvidia-docker run -it img python x.py", {"cmd_gpu_request": "nvidia"}),
        ("podman run --device nvidia.com/gpu=all img", {"cmd_gpu_request": "nvidia"}),
        ("docker run --privileged img", {"cmd_gpu_request": "privileged"}),
        ("docker run --device /dev/kfd --device /dev/dri rocm/pytorch", {"cmd_kfd": "yes", "cmd_dri": "yes"}),
        ("docker run --device=/dev/dri rocm/pytorch", {"cmd_kfd": "no", "cmd_dri": "yes"}),
        ("docker run -e CUDA_VISIBLE_DEVICES=4,5 --gpus all img", {"cmd_cuda_visible_devices": "4,5"}),
        (
            "docker run --gpus all vllm/vllm-openai --model m --tensor-parallel-size 4",
            {"cmd_tp_size": "4", "cmd_backend": "cuda"},
        ),
        ("docker run --gpus all img torchrun --nproc_per_node=8 t.py", {"cmd_nproc_per_node": "8"}),
    ],
)
def test_run_facts(line: str, want: dict[str, str]) -> None:
    facts = run_facts(line)
    assert facts is not None
    assert {k: facts.get(k) for k in want} == want


def test_run_facts_none_without_a_command() -> None:
    assert run_facts("docker run failed: see above") is None
    assert run_facts("the docker daemon is running") is None
    assert run_facts("when I docker run img it fails") is None  # prose, not a prompt


@pytest.mark.parametrize("prompt", [
    "➜  vllm git:(main) ✗ ", "➜  ~ ", "❯ ", "λ ", "[root@node1 ~]# ", "[user@gpu-host work]$ ", "bash-4.2# ",
    "sh-5.1$ ", "user@host ~ % ", "(venv) (base) user@h:~$ ", "PS C:\\Users\\me> ", "C:\\src> ",
])
def test_run_facts_after_the_default_prompts_of_common_shells(prompt: str) -> None:
    """bash's RHEL/Fedora prompt, `bash-5.1#`, zsh's `%`, oh-my-zsh's robbyrussell `➜  dir git:(b) ✗`, starship's `❯`,
    PowerShell's and cmd's drive prompts (glearn43c: no cmd_* facts came from an oh-my-zsh line)."""
    facts = run_facts(prompt + "docker run --gpus all --shm-size 1g vllm/vllm-openai --tensor-parallel-size 2")
    assert facts and facts.get("cmd_gpu_request") == "nvidia" and facts.get("cmd_shm") == str(1 << 30), facts


@pytest.mark.parametrize("prose", ["then I typed docker run --gpus all img", "➜ so I ran the docker run --gpus all img",
                                   "see docker run --gpus all img"])
def test_prose_before_a_command_is_still_no_prompt(prose: str) -> None:
    assert run_facts(prose) is None


def test_run_facts_in_backticks() -> None:
    assert (run_facts("I ran `$ docker run -it img` and got") or {}).get("cmd_gpu_request") == "none"
    assert (run_facts("I ran `docker run --gpus all img python` too") or {}).get(
        "cmd_gpu_request"
    ) == "nvidia"


# --- capture: the command with its continuation lines, bounded ----------------------------------------


def test_capture_follows_continuations_and_stops() -> None:
    block = b"docker run \\\n  --gpus all \\\n  img\nnext line\n"
    assert capture_span(block, 0, len(block)) == "docker run \\\n  --gpus all \\\n  img"


def test_capture_never_reads_past_the_block_end() -> None:
    block = b"docker run img\n" + b"\x00" * 64
    assert capture_span(block, 0, 15) == "docker run img"
    endless = b"docker run \\\n" + b"  -e A=1 \\\n" * (MAX_SPAN_LINES * 2)
    assert capture_span(endless, 0, len(endless)).count("\n") == MAX_SPAN_LINES


def test_multiline_command_read_as_one(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    log.write_text(
        "$ docker run \\\n    --gpus 2 \\\n    --shm-size 1g \\\n    img python x.py\n" + NO_CUDA + "\n"
    )
    scan = scan_inputs([str(log)])
    assert scan.facts.get("cmd_gpu_count") == "2"
    assert scan.facts.get("cmd_shm") == str(1 << 30)


# --- no GPU: the command says whether one was asked for ------------------------------------------------


def test_no_gpu_request_selects_node_missing(tmp_path: Path) -> None:
    f = _first(
        tmp_path,
        "$ sudo docker run -it pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime python\n" + NO_CUDA + "\n",
    )
    assert f.cause == "device.nvidia-node-missing"
    assert f.confidence == "suggests"  # the pasted command is what the user says they ran
    assert "without any GPU request" in f.message
    assert any("docker run" in e.text for e in f.evidence)


def test_no_driver_without_request(tmp_path: Path) -> None:
    f = _first(
        tmp_path, "docker run --rm -it img python -c 'import torch; torch.cuda.init()'\n" + NO_DRIVER + "\n"
    )
    assert f.cause == "device.nvidia-node-missing"
    assert "without any GPU request" in f.message


def test_gpu_requested_is_not_called_unrequested(tmp_path: Path) -> None:
    for cmd in ("docker run --gpus all img", "nvidia-docker run img", "docker run --runtime=nvidia img"):
        found = _findings(tmp_path, f"{cmd}\n{NO_CUDA}\n")
        assert all("without any GPU request" not in f.message for f in found), cmd


def test_bare_symptom_stays_a_guess(tmp_path: Path) -> None:
    found = _findings(tmp_path, NO_CUDA + "\n")
    assert all(f.confidence == "suggests" for f in found)
    assert all("without any GPU request" not in f.message for f in found)


def test_repl_is_available_false(tmp_path: Path) -> None:
    text = "$ docker run -it img ipython\nIn [2]: torch.cuda.is_available()\nOut[2]: False\n"
    assert _first(tmp_path, text).cause == "device.nvidia-node-missing"
    # is_available() True is no symptom; without a command, False alone names no cause
    assert _findings(tmp_path, "$ docker run -it img ipython\n>>> torch.cuda.is_available()\nTrue\n") == []
    assert _findings(tmp_path, ">>> torch.cuda.is_available()\nFalse\n") == []


def test_privileged_nvidia_lacks_libraries(tmp_path: Path) -> None:
    f = _first(tmp_path, "docker run --privileged img\n" + NO_DRIVER + "\n")
    assert f.cause == "device.nvidia-node-missing"
    assert "did not inject libcuda" in f.message


def test_rocm_device_flags_select(tmp_path: Path) -> None:
    dri_only = _first(
        tmp_path, "docker run --device=/dev/dri --group-add video rocm/pytorch\n" + NO_HIP + "\n"
    )
    assert dri_only.cause == "device.kfd-missing"
    assert "not /dev/kfd" in dri_only.message
    kfd_only = _first(
        tmp_path, "docker run --device=/dev/kfd --group-add video rocm/pytorch\n" + NO_HIP + "\n"
    )
    assert kfd_only.cause == "device.render-node-missing"
    neither = _first(tmp_path, "docker run -it rocm/pytorch\n" + NO_HIP + "\n")
    assert neither.cause == "device.kfd-missing"
    assert "without /dev/kfd and /dev/dri" in neither.message


# --- shared memory -------------------------------------------------------------------------------------


def test_enospc_with_default_shm(tmp_path: Path) -> None:
    f = _first(tmp_path, "docker run --gpus all img python train.py\n" + ENOSPC + "\n")
    assert f.cause == "shm.too-small"
    assert f.confidence == "suggests"
    assert "64 MiB" in f.message


def test_enospc_elsewhere_or_ample_shm_is_no_shm_cause(tmp_path: Path) -> None:
    other_fs = ENOSPC + ": '/root/.cache/huggingface/hub/model.safetensors'"
    assert _findings(tmp_path, f"docker run --gpus all img\n{other_fs}\n") == []
    assert _findings(tmp_path, f"docker run --gpus all --shm-size 16g img\n{ENOSPC}\n") == []
    assert _findings(tmp_path, f"docker run --gpus all --ipc=host img\n{ENOSPC}\n") == []
    assert _findings(tmp_path, ENOSPC + "\n") == []  # bare: a disk or a tmpfs, cannot tell


def test_sigbus_with_small_shm_names_the_size(tmp_path: Path) -> None:
    f = _first(tmp_path, "docker run --gpus all --shm-size=256m img\n" + SIGBUS + "\n")
    assert f.cause == "shm.too-small"
    assert "256 MiB" in f.message
    host = _first(tmp_path, "docker run --gpus all --ipc=host img\n" + SIGBUS + "\n")
    assert (
        "--shm-size=16g or --ipc=host" not in host.message
    )  # the context does not blame an ipc=host /dev/shm


# --- GPU count -----------------------------------------------------------------------------------------


def test_nproc_beyond_requested_gpus(tmp_path: Path) -> None:
    f = _first(tmp_path, "docker run --gpus 2 img torchrun --nproc_per_node=4 train.py\n" + ORDINAL + "\n")
    assert f.cause == "vllm.tp-exceeds-visible-gpus"
    assert "asks for 4 GPUs" in f.message and "2 GPU(s)" in f.message


def test_tp_beyond_nvidia_smi_rows(tmp_path: Path) -> None:
    rows = "".join(
        f"|   {i}  NVIDIA GeForce RTX 4090        Off |   00000000:0{i + 1}:00.0 Off |                  Off |\n"
        for i in range(2)
    )
    text = rows + "INFO args: tensor_parallel_size=4\n" + "Invalid device ordinal\n"
    f = _first(tmp_path, text)
    assert f.cause == "vllm.tp-exceeds-visible-gpus"
    assert "nvidia-smi lists 2 GPU(s)" in f.message


def test_counts_that_fit_pick_nothing(tmp_path: Path) -> None:
    found = _findings(
        tmp_path, "docker run --gpus 4 img torchrun --nproc_per_node=4 train.py\n" + ORDINAL + "\n"
    )
    assert all("asks for" not in f.message for f in found)
    assert found and found[0].cause == "cuda.visible-devices-mismatch"  # the symptom's own guess


def test_vllm_ray_forms(tmp_path: Path) -> None:
    # vllm/executor/ray_utils.py: f"The number of required {device_str}s exceeds the total number of available
    # {device_str}s in the placement group." and _verify_bundles' "You don't have enough GPUs available in a current node."
    req = "ValueError: The number of required GPUs exceeds the total number of available GPUs in the placement group."
    assert _first(tmp_path, req + " Required number of devices: 4. Total number of devices: 2.\n").cause == (
        "vllm.tp-exceeds-visible-gpus"
    )
    driver = (
        "RuntimeError: driver_node_id=1f2e is not included in a placement group 3a. Node id -> bundles {}. "
        "You don't have enough GPUs available in a current node. Check `ray status` and `ray list nodes`\n"
    )
    assert _first(tmp_path, driver).cause == "vllm.tp-exceeds-visible-gpus"


def test_healthy_run_with_a_command_stays_clean(tmp_path: Path) -> None:
    text = (
        "$ docker run --gpus all -p 8000:8000 vllm/vllm-openai --model m --tensor-parallel-size 2\n"
        "INFO 05-06 10:00:00 [api_server.py:1000] vLLM API server version 0.8.5\n"
        "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)\n"
    )
    assert _findings(tmp_path, text) == []


def test_mask_past_the_passed_gpus(tmp_path: Path) -> None:
    f = _first(tmp_path, "docker run --gpus 2 -e CUDA_VISIBLE_DEVICES=2,3 img python x.py\n" + NO_CUDA + "\n")
    assert f.cause == "cuda.visible-devices-mismatch"
    assert "numbered 0..1" in f.message
    rocm = "docker run --device /dev/kfd --device /dev/dri/renderD129 -e HIP_VISIBLE_DEVICES=1 rocm/pytorch\n"
    r = _first(tmp_path, rocm + NO_HIP + "\n")
    assert r.cause == "rocm.visible-devices-mismatch"
    # a mask inside the passed range is no mismatch of this kind
    ok = _findings(tmp_path, "docker run --gpus 2 -e CUDA_VISIBLE_DEVICES=0,1 img\n" + NO_CUDA + "\n")
    assert all("numbered 0.." not in f.message for f in ok)


COMPOSE_NO_GPU = """```yaml
services:
  vllm:
    image: vllm/vllm-openai:v0.8.5
    command: --model m --tensor-parallel-size 2
    ports:
      - "8000:8000"
```
"""


def test_compose_snippet_without_gpu_reservation(tmp_path: Path) -> None:
    f = _first(tmp_path, COMPOSE_NO_GPU + NO_CUDA + "\n")
    assert f.cause == "device.nvidia-node-missing"
    assert "deploy.resources.reservations.devices" in f.message
    with_gpu = COMPOSE_NO_GPU.replace(
        '      - "8000:8000"\n',
        '      - "8000:8000"\n    deploy:\n      resources:\n        reservations:\n          devices:\n'
        "            - driver: nvidia\n              count: 2\n              capabilities: [gpu]\n",
    )
    found = _findings(tmp_path, with_gpu + NO_CUDA + "\n")
    assert all("without any GPU request" not in x.message for x in found)


def test_compose_snippet_shm(tmp_path: Path) -> None:
    f = _first(tmp_path, COMPOSE_NO_GPU + SIGBUS + "\n")
    assert f.cause == "shm.too-small"
    assert "no shm_size, no ipc: host" in f.message
    roomy = COMPOSE_NO_GPU.replace("    ports:", "    ipc: host\n    ports:")
    assert all("64 MiB" not in x.message for x in _findings(tmp_path, roomy + SIGBUS + "\n"))


def test_compose_snippet_never_reads_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a .env in the working directory must not change what a quoted snippet says
    (tmp_path / ".env").write_text("SHM=16g\n")
    monkeypatch.chdir(tmp_path)
    text = COMPOSE_NO_GPU.replace("    ports:", "    shm_size: ${SHM}\n    ports:")
    log = tmp_path / "c.log"
    log.write_text(text + SIGBUS + "\n")
    scan = scan_inputs([str(log)])
    assert scan.facts.get("cmd_shm") != str(16 << 30)


def test_services_word_in_prose_is_not_compose(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    log.write_text("Restarting services: nginx\n" + NO_CUDA + "\n")
    assert scan_inputs([str(log)]).quoted == []


@pytest.mark.parametrize(
    "line",
    ["docker run --device $DEV img", 'docker run "${ARGS[@]}" img', "docker run --shm-size $SHM img"],
)
def test_hidden_words_are_unknown_not_absent(line: str) -> None:
    facts = run_facts(line) or {}
    assert facts.get("cmd_gpu_request") != "none" or facts.get("cmd_shm") == "unknown"
    assert facts.get("cmd_shm") != "default" or facts.get("cmd_gpu_request") == "unknown"


def test_hidden_words_name_no_cause(tmp_path: Path) -> None:
    assert all(
        "without any GPU request" not in f.message
        for f in _findings(tmp_path, 'docker run "${EXTRA[@]}" img\n' + NO_CUDA + "\n")
    )
    assert _findings(tmp_path, "docker run --gpus all --shm-size $SHM img\n" + ENOSPC + "\n") == []


KFD_DENIED = "Unable to open /dev/kfd read-write: Permission denied"  # rocminfo / ROCt


def test_denied_with_named_group_or_podman(tmp_path: Path) -> None:
    named = "docker run --device /dev/kfd --device /dev/dri --group-add render rocm/pytorch\n"
    f = _first(tmp_path, named + KFD_DENIED + "\n")
    assert f.cause == "device.group-name-unresolved"
    assert "by name (render" in f.message
    podman = "$ podman run --device /dev/kfd --device /dev/dri --group-add video rocm/pytorch\n"
    p = _first(tmp_path, podman + KFD_DENIED + "\n")
    assert p.cause == "userns.gid-unmapped"
    video = "docker run --device /dev/kfd --device /dev/dri --group-add video rocm/pytorch\n"
    v = _first(tmp_path, video + KFD_DENIED + "\n")
    assert v.cause == "device.group-denied"
    assert "only the video group" in v.message
    numeric = "docker run --device /dev/kfd --device /dev/dri --group-add 110 rocm/pytorch\n"
    found = _findings(tmp_path, numeric + KFD_DENIED + "\n")
    assert all("by name" not in x.message and "keep-groups" not in x.message for x in found)


def test_runtime_strings_and_other_vendors(tmp_path: Path) -> None:
    # cudaGetErrorString(cudaErrorNoDevice); SYCL device_selector.cpp; vLLM's empty device string
    cuda = _first(
        tmp_path,
        "docker run img ./deviceQuery\ncudaGetDeviceCount returned 100\n-> no CUDA-capable device is detected\n",
    )
    assert cuda.cause == "device.nvidia-node-missing"
    sycl = _first(
        tmp_path,
        "docker run intel/oneapi-basekit python x.py\nNo device of requested type 'info::device_type::gpu' available.\n",
    )
    assert sycl.cause == "device.render-node-missing"
    assert "without /dev/dri" in sycl.message


def test_torchrun_local_ranks_against_nvidia_smi_list(tmp_path: Path) -> None:
    listing = "".join(
        f"GPU {i}: NVIDIA L4 (UUID: GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd)\n" for i in range(2)
    )
    rendezvous = (
        "[default] Rendezvous complete for workers. Result:\n  restart_count=0\n  group_rank=0\n"
        "  group_world_size=1\n  local_ranks=[0, 1, 2, 3]\n  role_ranks=[0, 1, 2, 3]\n"
    )
    f = _first(tmp_path, listing + rendezvous + ORDINAL + "\n")
    assert f.cause == "vllm.tp-exceeds-visible-gpus"
    assert "local_ranks=[0, 1, 2, 3]" in f.message and "nvidia-smi lists 2" in f.message
    # the same ranks on four listed GPUs: no count mismatch
    four = "".join(
        f"GPU {i}: NVIDIA L4 (UUID: GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd)\n" for i in range(4)
    )
    assert all("asks for" not in x.message for x in _findings(tmp_path, four + rendezvous + ORDINAL + "\n"))


def test_rocm_smi_lines_count_gpus(tmp_path: Path) -> None:
    smi = "GPU[0]\t\t: Temperature (Sensor edge) (C): 37.0\nGPU[1]\t\t: Temperature (Sensor edge) (C): 39.0\n"
    f = _first(
        tmp_path, smi + "INFO args: tensor_parallel_size=4\nRuntimeError: HIP error: invalid device ordinal\n"
    )
    assert f.cause == "vllm.tp-exceeds-visible-gpus"
    assert "rocm-smi lists 2" in f.message


@pytest.mark.parametrize(
    "size",
    [
        "server_args=ServerArgs(model_path='m', tp_size=4, pp_size=1)",  # SGLang's dump
        "python3 -m sglang.launch_server --model-path m --tp 4",
        'Args { model_id: "m", sharded: None, num_shard: Some(4), quantize: None }',  # TGI launcher
    ],
)
def test_tp_spellings_of_sglang_and_tgi(tmp_path: Path, size: str) -> None:
    text = f"docker run --gpus 2 img\n{size}\n{ORDINAL}\n"
    assert _first(tmp_path, text).cause == "vllm.tp-exceeds-visible-gpus"


SMI_FAILED = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


def test_nvidia_smi_failed_in_a_container_without_gpus(tmp_path: Path) -> None:
    found = _findings(
        tmp_path, "$ docker run --rm nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + SMI_FAILED + "\n"
    )
    assert found[0].cause == "device.nvidia-node-missing"
    no_driver = [f for f in found if f.cause == "device.no-driver"]
    assert no_driver and no_driver[0].confidence == "suggests"  # the host-driver reading is no longer proven
    # with GPUs requested, the driver reading stands as the signature says
    host = _findings(
        tmp_path,
        "$ docker run --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + SMI_FAILED + "\n",
    )
    assert host[0].cause == "device.no-driver" and host[0].confidence == "proves"


def test_is_available_vendor_from_the_image(tmp_path: Path) -> None:
    rocm = _first(
        tmp_path, "$ docker run -it rocm/pytorch:latest python\n>>> torch.cuda.is_available()\nFalse\n"
    )
    assert rocm.cause == "device.kfd-missing"  # ROCm builds answer through torch.cuda
    xpu = _first(
        tmp_path,
        "$ docker run -it intel/intel-extension-for-pytorch:2.3.110-xpu python\n>>> torch.xpu.is_available()\nFalse\n",
    )
    assert xpu.cause == "device.render-node-missing"


def test_mask_past_the_listed_gpus_without_a_command(tmp_path: Path) -> None:
    rows = "".join(
        f"|   {i}  NVIDIA A10G                     On  |   00000000:00:1{i}.0 Off |                    0 |\n"
        for i in range(2)
    )
    f = _first(tmp_path, rows + "export CUDA_VISIBLE_DEVICES=2,3\n" + NO_CUDA + "\n")
    assert f.cause == "cuda.visible-devices-mismatch"
    assert "nvidia-smi lists 2 GPU(s)" in f.message
    inside = _findings(tmp_path, rows + "export CUDA_VISIBLE_DEVICES=1\n" + NO_CUDA + "\n")
    assert all("names none of the GPUs" not in x.message for x in inside)


POD_NO_GPU = """apiVersion: v1
kind: Pod
metadata:
  name: vllm
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.8.5
      args: ["--model", "m", "--tensor-parallel-size", "2"]
---
INFO 05-06 10:00:00 [api_server.py:1000] vLLM API server version 0.8.5
"""


def test_pod_manifest_without_gpu_limit(tmp_path: Path) -> None:
    f = _first(tmp_path, POD_NO_GPU + NO_CUDA + "\n")
    assert f.cause == "device.nvidia-node-missing"
    assert "nvidia.com/gpu in resources.limits" in f.message
    limited = POD_NO_GPU.replace(
        '      args: ["--model", "m", "--tensor-parallel-size", "2"]\n',
        '      args: ["--model", "m", "--tensor-parallel-size", "2"]\n      resources:\n        limits:\n          nvidia.com/gpu: 2\n',
    )
    assert all(
        "without any GPU request" not in x.message for x in _findings(tmp_path, limited + NO_CUDA + "\n")
    )


def test_pod_manifest_shm(tmp_path: Path) -> None:
    f = _first(tmp_path, POD_NO_GPU + SIGBUS + "\n")
    assert f.cause == "shm.too-small"
    assert "emptyDir with medium: Memory" in f.message


def test_pod_manifest_with_dshm_is_not_default(tmp_path: Path) -> None:
    dshm = POD_NO_GPU.replace(
        '      args: ["--model", "m", "--tensor-parallel-size", "2"]\n',
        '      args: ["--model", "m", "--tensor-parallel-size", "2"]\n'
        "      volumeMounts:\n        - {name: dshm, mountPath: /dev/shm}\n"
        "  volumes:\n    - name: dshm\n      emptyDir: {medium: Memory, sizeLimit: 16Gi}\n",
    )
    log = tmp_path / "k.log"
    log.write_text(dshm + SIGBUS + "\n")
    assert scan_inputs([str(log)]).facts.get("cmd_shm") not in (None, "default")


def test_shm_refused_is_not_a_size_question(tmp_path: Path) -> None:
    # NCCL src/misc/shmutils.cc ncclShmOpen: "failed to create shared memory file %s, error %s (%d)"
    refused = "host:1:2 [0] NCCL WARN Error: failed to create shared memory file /dev/shm/nccl-abc, error Permission denied (13)"
    found = _findings(tmp_path, "docker run --gpus all img\n" + refused + "\n")
    assert all("64 MiB" not in f.message for f in found)
    full = "host:1:2 [0] NCCL WARN Error: failed to create shared memory file /dev/shm/nccl-abc, error No space left on device (28)"
    assert "64 MiB" in _first(tmp_path, "docker run --gpus all img\n" + full + "\n").message


def test_code_comparing_is_available_is_no_symptom(tmp_path: Path) -> None:
    code = '  File "x.py", line 3, in <module>\n    if torch.cuda.is_available() == False:\nValueError: bad config\n'
    assert _findings(tmp_path, "docker run -it img python x.py\n" + code) == []


# --- `docker create` / `podman container create`: run's flags, the container `docker start` runs later ---------------


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("$ docker create --name desk -p 6901:6901 img", {"cmd_gpu_request": "none", "cmd_shm": "default"}),
        ("docker create --gpus all --shm-size=2g img", {"cmd_gpu_request": "nvidia", "cmd_shm": str(2 << 30)}),
        ("podman container create --device nvidia.com/gpu=all img", {"cmd_gpu_request": "nvidia"}),
        ("nvidia-docker create -it img", {"cmd_gpu_request": "nvidia"}),
    ],
)
def test_create_is_read_as_run(line: str, want: dict[str, str]) -> None:
    facts = run_facts(line)
    assert facts is not None, line
    assert {k: facts.get(k) for k in want} == want


def test_created_container_with_default_shm_names_shm(tmp_path: Path) -> None:
    # the command is read from the log (capture literal), and its 64 MiB default explains the ENOSPC
    f = _first(tmp_path, "$ docker create --gpus all --name trainer img python train.py\n$ docker start -a trainer\n"
               + ENOSPC + "\n")
    assert f.cause == "shm.too-small" and "64 MiB" in f.message, f
    assert _findings(tmp_path, f"$ docker create --gpus all --shm-size 16g img\n{ENOSPC}\n") == []


def test_audit_reads_a_created_container(tmp_path: Path) -> None:
    from tpdoctor.deploy.dockerrun import find_run_commands

    runs, _vars, _notes = find_run_commands("docker create --privileged --gpus all img\ndocker start x\n")
    assert len(runs) == 1 and "--privileged" in runs[0].tokens
    assert find_run_commands("docker start -a x\ndocker container create img\n")[0][0].start_line == 2
