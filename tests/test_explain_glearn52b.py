"""Issue 13, dev backlog lessons (glearn52b).

Lines are written from the code that prints them (not copied from the dev logs):
- CUDA's 35 ("CUDA driver version is insufficient for CUDA runtime version") is ambiguous in cudart (a libcuda older
  than the runtime, or none at all), but Paddle's device count reads cudaDriverGetVersion first and counts 0 devices,
  without any CUDA call, when no driver is found (paddle/fluid/platform/gpu_info.cc GetCUDADeviceCountImpl; later
  paddle/phi/backends/gpu/cuda/cuda_info.cc). Paddle's enforce reporting 35 is a driver that is there and too old:
  2.0's " Cuda error(35), <string>." + "[Advise: ...]", 2.1+'s "CUDA error(35), <string>. [Hint: ...]", behind
  ExternalError (C++) or "(External)" (Python).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

S35 = "CUDA driver version is insufficient for CUDA runtime version"
ADVISE = (
    "  [Advise: This indicates that the installed NVIDIA CUDA driver is older than the CUDA runtime library. This is "
    "not a supported configuration.Users should install an updated NVIDIA display driver to allow the application to "
    "run.] (at /paddle/paddle/fluid/platform/gpu_info.cc:71)"
)
HINT = (
    " [Hint: 'cudaErrorInsufficientDriver'. This indicates that the installed NVIDIA CUDA driver is older than the CUDA "
    "runtime library.] (at /paddle/paddle/phi/backends/gpu/cuda/cuda_info.cc:66)"
)


@pytest.mark.parametrize(
    "text",
    [
        # Paddle 2.0, Python: "(External)" + build_nvidia_error_msg's leading space
        "OSError: (External)  Cuda error(35), " + S35 + ".\n" + ADVISE + "\n",
        # Paddle 2.0, the C++ summary
        "ExternalError:  Cuda error(35), " + S35 + ".\n" + ADVISE + "\n",
        # Paddle 2.1+ / phi: "CUDA error(35)" and the Hint on the same line
        "OSError: (External) CUDA error(35), " + S35 + "." + HINT + "\n",
        # inside the traceback of paddle.set_device
        '  File "/usr/lib/python3.8/site-packages/paddle/device/__init__.py", line 190, in set_device\n'
        "    place = _convert_to_place(device)\n"
        "OSError: (External) CUDA error(35), " + S35 + "." + HINT + "\n",
    ],
)
def test_paddle_error_35_is_a_driver_too_old(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text) == [("cuda.driver-too-old", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # cudart's bare string: still both readings, the missing GPU first (the dev logs split evenly)
        "RuntimeError: CUDA failed with error " + S35 + "\n",
        # legacy Paddle v1's CHECK has no driver check (hl_cuda_device.cc): not Paddle's 2.x enforce
        "F0101 10:00:00.000000  1 hl_cuda_device.cc:565] Check failed: cudaSuccess == cudaStat (0 vs. 35) Cuda Error: " + S35 + "\n",
        # a user program's own CHECK_CUDA macro printing the same words (no Paddle device count before it)
        "[kernel.cu:40, main] CUDA error(35), " + S35 + " when call cudaSetDevice(0)\n",
    ],
)
def test_other_error_35_forms_keep_the_missing_gpu_reading(tmp_path: Path, text: str) -> None:
    # the neighbour keeps both readings while Paddle's own form names the old driver alone
    assert "device.nvidia-node-missing" in _causes(tmp_path, text)
    paddle = "OSError: (External) CUDA error(35), " + S35 + "." + HINT + "\n"
    assert _causes(tmp_path, paddle) == ["cuda.driver-too-old"]


def test_paddle_error_35_in_a_container_without_gpu_words_is_still_the_driver(tmp_path: Path) -> None:
    # the container itself does not make Paddle's 35 a missing GPU: no driver would have counted 0 devices
    text = "docker run -it --gpus all paddlepaddle/paddle:2.4.2-gpu-cuda11.7-cudnn8.4-trt8.4 bash\n"
    text += "OSError: (External) CUDA error(35), " + S35 + "." + HINT + "\n"
    assert _causes(tmp_path, text)[:1] == ["cuda.driver-too-old"]


def test_healthy_paddle_start_stays_clean(tmp_path: Path) -> None:
    text = (
        "W0101 10:00:00.000000  1 gpu_resources.cc:61] Please NOTE: device: 0, GPU Compute Capability: 8.0, Driver API Version: 12.2, Runtime API Version: 11.8\n"
        "W0101 10:00:00.000100  1 gpu_resources.cc:91] device: 0, cuDNN Version: 8.6.\n"
        "PaddlePaddle works well on 1 GPU.\n"
    )
    assert _causes(tmp_path, text) == []
    assert _causes(tmp_path, text + "ExternalError:  Cuda error(35), " + S35 + ".\n") == ["cuda.driver-too-old"]


# --- invalid device ordinal from the program's own fixed index (tab-ddpm#20 family) ---
ORDINAL = (
    "RuntimeError: CUDA error: invalid device ordinal\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.\n"
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
)


@pytest.mark.parametrize(
    "code",
    [
        'model = Net().to(torch.device("cuda:1"))',
        "x = batch.to('cuda:2')",
        '    trainer = Trainer(model, device="cuda:1")',
        "    train(config, device = 'cuda:3')",
    ],
)
def test_ordinal_with_a_fixed_index_in_the_code_is_the_program(tmp_path: Path, code: str) -> None:
    assert _causes(tmp_path, code + "\n" + ORDINAL) == []
    # the same error without the code line still suggests the mask
    assert _causes(tmp_path, ORDINAL) == ["cuda.visible-devices-mismatch"]


@pytest.mark.parametrize(
    "before",
    [
        # a mask is set: host-style index against a renumbered set, the mask stays named
        "export CUDA_VISIBLE_DEVICES=3\n",
        # a container given GPUs: its renumbering may be why
        "docker run --gpus '\"device=1\"' -it trainer:latest python train.py\n",
        # a launcher starting several ranks: more ranks than GPUs
        "torchrun --nproc-per-node 4 train.py\n",
    ],
)
def test_ordinal_with_a_fixed_index_and_a_selector_keeps_a_cause(tmp_path: Path, before: str) -> None:
    text = before + 'device = torch.device("cuda:1")\n' + ORDINAL
    assert _causes(tmp_path, text)
    assert _causes(tmp_path, 'device = torch.device("cuda:1")\n' + ORDINAL) == []


@pytest.mark.parametrize("code", ['device = torch.device("cuda:0")', "torch.cuda.set_device(args.local_rank)", 'x.to("cuda")'])
def test_ordinal_with_index_zero_or_a_variable_still_suggests_the_mask(tmp_path: Path, code: str) -> None:
    assert _causes(tmp_path, code + "\n" + ORDINAL) == ["cuda.visible-devices-mismatch"]
    assert _causes(tmp_path, 'x.to("cuda:1")\n' + ORDINAL) == []


# --- OpenMM's DeviceIndex past the one GPU a mask leaves, no error line quoted (biosimspace#467 family) ---
@pytest.mark.parametrize(
    ("mask", "prop"),
    [
        ('export CUDA_VISIBLE_DEVICES="2"', "properties = {'CudaDeviceIndex': '2'}"),
        ("CUDA_VISIBLE_DEVICES=1", 'platform.setPropertyDefaultValue("DeviceIndex", "1")'),
        ('  CUDA_VISIBLE_DEVICES: "5"', 'props = {"DeviceIndex": "5", "Precision": "mixed"}'),
    ],
)
def test_one_gpu_mask_with_an_openmm_index_past_0(tmp_path: Path, mask: str, prop: str) -> None:
    assert _causes(tmp_path, mask + "\n" + prop + "\n") == ["cuda.visible-devices-mismatch"]


@pytest.mark.parametrize(
    ("mask", "prop"),
    [
        # the position within the mask: fine
        ('export CUDA_VISIBLE_DEVICES="2"', "properties = {'CudaDeviceIndex': '0'}"),
        # several GPUs visible: index 1 exists
        ("CUDA_VISIBLE_DEVICES=2,3", "properties = {'CudaDeviceIndex': '1'}"),
        # no mask: the index may name a real GPU
        ("", "properties = {'CudaDeviceIndex': '1', 'CudaPrecision': 'mixed'}"),
    ],
)
def test_openmm_index_that_a_mask_allows_stays_clean(tmp_path: Path, mask: str, prop: str) -> None:
    assert _causes(tmp_path, mask + "\n" + prop + "\n") == []
    assert _causes(tmp_path, "CUDA_VISIBLE_DEVICES=3\n{'CudaDeviceIndex': '3'}\n") == ["cuda.visible-devices-mismatch"]


# --- Slurm + pyxis/enroot: host-numbered nodes absent by design, CUDA_VISIBLE_DEVICES the host index (pyxis#47) ---
def _absent(node: str) -> str:
    return f"/usr/bin/ls: cannot access '{node}': No such file or directory\n"


PYXIS_CMD = "srun -p batch --gres=gpu:1 --container-image=nvcr.io#nvidia/pytorch:24.01-py3 --pty ls -l /dev/nvidia0 /dev/nvidia1 /dev/nvidia2 /dev/nvidia3\n"
CVD_ECHO = "user@node07:~$ echo $CUDA_VISIBLE_DEVICES\n3\n"


@pytest.mark.parametrize(
    ("cmd", "echo"),
    [
        (PYXIS_CMD, CVD_ECHO),
        # sbatch's own flags and pyxis's --container-name, printenv
        (
            "srun --gpus-per-node=1 --container-name=train --pty ls /dev/nvidia0 /dev/nvidia1\n",
            "$ printenv CUDA_VISIBLE_DEVICES\n1\n",
        ),
        (PYXIS_CMD, "+ echo ${CUDA_VISIBLE_DEVICES}\n2\n"),
    ],
)
def test_pyxis_numbered_nodes_absent_with_the_mask_checked_is_the_mask(tmp_path: Path, cmd: str, echo: str) -> None:
    text = echo + cmd + _absent("/dev/nvidia0") + _absent("/dev/nvidia1")
    assert _causes(tmp_path, text) == ["cuda.visible-devices-mismatch"]


@pytest.mark.parametrize(
    "text",
    [
        # the control node absent too: no GPU was injected at all
        CVD_ECHO + PYXIS_CMD + _absent("/dev/nvidia0") + _absent("/dev/nvidiactl"),
        # no container flag: a bare Slurm step on the host (a node really missing)
        CVD_ECHO + "srun --gres=gpu:1 ls /dev/nvidia0\n" + _absent("/dev/nvidia0"),
        # a Docker container: no Slurm request, the nodes were not requested
        CVD_ECHO + "docker run --rm ubuntu ls /dev/nvidia0\n" + _absent("/dev/nvidia0"),
    ],
)
def test_node_absence_outside_that_setting_stays_node_missing(tmp_path: Path, text: str) -> None:
    assert "device.nvidia-node-missing" in _causes(tmp_path, text)
    assert _causes(tmp_path, CVD_ECHO + PYXIS_CMD + _absent("/dev/nvidia0")) == ["cuda.visible-devices-mismatch"]


def test_pyxis_listing_without_the_mask_checked_is_not_named_the_mask(tmp_path: Path) -> None:
    text = PYXIS_CMD + _absent("/dev/nvidia0") + _absent("/dev/nvidia1")
    assert "cuda.visible-devices-mismatch" not in _causes(tmp_path, text)
    assert _causes(tmp_path, CVD_ECHO + text) == ["cuda.visible-devices-mismatch"]


# --- the toolkit said to work in words, and a container without libcuda (lilypad#548 family) ---
NO_LIBCUDA = "/usr/local/bin/worker: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file or directory\n"


@pytest.mark.parametrize(
    "words",
    [
        "I checked that the NVIDIA Container Toolkit is working: a test container sees the card.",
        "My nvidia-container-toolkit was working, I ran a container that ran `nvidia-smi`, which returned the GPU list.",
        "nvidia-smi works inside another container on the same host.",
        "The toolkit is working fine on this server.",
    ],
)
def test_toolkit_said_to_work_and_no_libcuda_is_no_gpu_request(tmp_path: Path, words: str) -> None:
    assert _causes(tmp_path, words + "\n" + NO_LIBCUDA)[:1] == ["device.nvidia-node-missing"]
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, words + "\n" + NO_LIBCUDA)


@pytest.mark.parametrize(
    "words",
    [
        # negated or doubted: not a statement that it works
        "The NVIDIA Container Toolkit is not working after the upgrade.",
        "I am not sure the toolkit is working at all.",
        "I cannot tell whether the toolkit is working.",
    ],
)
def test_toolkit_words_negated_keep_the_toolkit_reading(tmp_path: Path, words: str) -> None:
    assert _causes(tmp_path, words + "\n" + NO_LIBCUDA)[:1] == ["runtime.nvidia-toolkit-missing"]
    assert _causes(tmp_path, "The NVIDIA Container Toolkit is working.\n" + NO_LIBCUDA)[:1] == ["device.nvidia-node-missing"]


def test_toolkit_words_with_a_gpu_request_are_not_a_missing_request(tmp_path: Path) -> None:
    # the failing container was given a GPU: the request is there, something else withheld the library
    text = "The NVIDIA Container Toolkit is working.\ndocker run --gpus all -it worker:latest\n" + NO_LIBCUDA
    assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]
    assert _causes(tmp_path, text.replace("docker run --gpus all -it worker:latest\n", ""))[:1] == ["device.nvidia-node-missing"]
    assert _causes(tmp_path, "The NVIDIA Container Toolkit is working.\n" + NO_LIBCUDA)[:1] == ["device.nvidia-node-missing"]


def test_toolkit_words_in_a_healthy_log_stay_clean(tmp_path: Path) -> None:
    text = "The NVIDIA Container Toolkit is working and nvidia-smi works in the container.\nTraining finished in 31.2s\n"
    assert _causes(tmp_path, text) == []
    assert _causes(tmp_path, text + NO_LIBCUDA)[:1] == ["device.nvidia-node-missing"]
