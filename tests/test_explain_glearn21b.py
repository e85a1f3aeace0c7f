"""Issue 13, heldout21 lessons (glearn21b): drivers, error codes, MPS and MIG.

Lines are written from the code and documents that print them (not copied from the heldout21 logs): an NGC release's
driver requirement (its release notes' "requires NVIDIA Driver release N or later", its image tag's YY.MM, the image's
own entrypoint check with its "[[CUDA Driver UNAVAILABLE (cuInit(0) returned N)]]" status) beside a host driver below
it and a CUDA start-up failure; an image tag's CUDA major above nvidia-smi's "CUDA Version"; CUDA error 35 where the
driver covers the image and only a new image changed (a regression in the image, not the host); the NGC check's "No
supported GPU(s) detected" under a host MPS server; and one MIG UUID failing vLLM's int() parse of the device id (a vLLM
bug, not a job over several MIG instances).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

_SMI_470 = "| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |\n"
_SMI_550 = "| NVIDIA-SMI 550.54.14    Driver Version: 550.54.14    CUDA Version: 12.4     |\n"
_MIG = "MIG-0c4e5a7b-1d2f-5e3a-8b9c-7d6e5f4a3b2c"
_MIG2 = "MIG-9a8b7c6d-5e4f-5a3b-9c2d-1e0f9a8b7c6d"
_INT_PARSE = f"ValueError: invalid literal for int() with base 10: '{_MIG}'\n"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # an NGC image tag's release (22.03: CUDA 11.6, driver 510) and nvidia-smi's older driver, with CUDA's
        # no-device (100) and insufficient-driver (35) strings
        ("docker run --gpus all nvcr.io/nvidia/pytorch:22.03-py3 python train.py\n" + _SMI_470
         + "RuntimeError: CUDA error: no CUDA-capable device is detected\n", "cuda.driver-too-old"),
        ("docker run --gpus all nvcr.io/nvidia/pytorch:22.03-py3 python train.py\n" + _SMI_470
         + "cudaGetDeviceCount failed: CUDA driver version is insufficient for CUDA runtime version\n",
         "cuda.driver-too-old"),
        # the driver API's name and the cuInit return code, as the NGC compat check prints them
        ("image: nvcr.io/nvidia/tritonserver:21.08-py3\nDriver Version: 460.91.03\n"
         "No CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE) cuInit()=100\n", "cuda.driver-too-old"),
        # the release notes' prose quoted beside the host driver
        ("Release 23.05 is based on CUDA 12.1.1, which requires NVIDIA Driver release 530 or later.\n"
         "Driver Version: 525.85.12\nE0101 00:00:00 cuInit failed: CUDA_ERROR_NO_DEVICE\n", "cuda.driver-too-old"),
        # the image's own entrypoint check, its status line naming cuInit's 100
        ("ERROR: This container was built for NVIDIA Driver Release 470.57 or later, but\n"
         "       version 455.45.01 was detected and compatibility mode is UNAVAILABLE.\n\n"
         "       [[CUDA Driver UNAVAILABLE (cuInit(0) returned 100)]]\n", "cuda.driver-too-old"),
        # an image tag's CUDA major above the one nvidia-smi's driver runs
        ("docker run --gpus all localai/localai:v2.1.0-cublas-cuda12\n" + _SMI_470
         + "CUDA error 35 at ggml-cuda.cu:100: CUDA driver version is insufficient for CUDA runtime version\n",
         "cuda.driver-too-old"),
        # MPS on the host (nvidia-smi's process table, the daemon command) and the NGC check finding no GPU
        ("ERROR: No supported GPU(s) detected to run this container\n"
         "|    0   N/A  N/A      4242      C   nvidia-cuda-mps-server             30MiB |\n", "nvidia.mps-not-shared"),
        ("$ sudo nvidia-cuda-mps-control -d\n$ docker run --gpus all nvcr.io/nvidia/pytorch:24.01-py3\n"
         "ERROR: No supported GPU(s) detected to run this container\n", "nvidia.mps-not-shared"),
    ],
)
def test_a_heldout21b_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


def test_an_old_driver_under_an_ngc_release_is_not_a_missing_gpu(tmp_path: Path) -> None:
    text = ("docker run --runtime=nvidia nvcr.io/nvidia/tritonserver:21.10-py3-sdk bash\nDriver Version: 455.45.01\n"
            "No CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE) cuInit()=100\n")
    found = causes(tmp_path, text)
    assert found == ["cuda.driver-too-old"], found
    assert any(n.startswith("Not device.nvidia-node-missing") for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the host driver meets the release's requirement (24.05: 550), or no host driver is shown
        ("image: nvcr.io/nvidia/tritonserver:24.05-py3\nDriver Version: 550.54.15\n"
         "No CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE) cuInit()=100\n", "cuda.driver-too-old"),
        ("docker run nvcr.io/nvidia/tritonserver:21.10-py3\nNo CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE)\n",
         "cuda.driver-too-old"),
        # an old driver beside an NGC tag, and CUDA never fails
        ("docker run --gpus all nvcr.io/nvidia/pytorch:22.03-py3\n" + _SMI_470 + "epoch 1 loss 0.42\n",
         "cuda.driver-too-old"),
        # the entrypoint check with forward compatibility refused (804) is not an init failure of this rule
        ("ERROR: This container was built for NVIDIA Driver Release 470.57 or later, but\n"
         "       version 460.32.03 was detected and compatibility mode is UNAVAILABLE.\n\n"
         "       [[CUDA Driver UNAVAILABLE (cuInit(0) returned 804)]]\n", "cuda.driver-too-old"),
        # a GPU newer than the image: the NGC check's warning names it, MPS or not
        ("WARNING: Detected NVIDIA NVIDIA GeForce RTX 5090 GPU, which is not yet supported in this version of the "
         "container\nERROR: No supported GPU(s) detected to run this container\nnvidia-cuda-mps-control -d\n",
         "nvidia.mps-not-shared"),
        ("ERROR: No supported GPU(s) detected to run this container\n", "nvidia.mps-not-shared"),
        # MPS in use and nothing failing
        ("|    0   N/A  N/A      4242    M+C   nvidia-cuda-mps-server             30MiB |\nserver started\n",
         "nvidia.mps-not-shared"),
        # one MIG UUID and vLLM's int() parse: a vLLM bug (vllm#41848), not a job over MIG instances
        (f'CUDA_VISIBLE_DEVICES="{_MIG}" vllm serve m\n'
         '  File ".../vllm/platforms/interface.py", line 230, in device_id_to_physical_device_id\n'
         "    return int(physical_device_id)\n" + _INT_PARSE, "nvidia.mig-multi-instance"),
        (f"export CUDA_VISIBLE_DEVICES={_MIG}\npython -m vllm.entrypoints.openai.api_server --model m\n" + _INT_PARSE,
         "nvidia.mig-multi-instance"),
    ],
)
def test_a_heldout21b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text), notes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # the int() parse over several MIG UUIDs, or one UUID with tensor parallel: still a job over MIG instances
        f"CUDA_VISIBLE_DEVICES={_MIG},{_MIG2} python serve.py\n" + _INT_PARSE,
        f"export CUDA_VISIBLE_DEVICES={_MIG}\nvllm serve m --tensor-parallel-size 2\n" + _INT_PARSE,
    ],
)
def test_mig_int_parse_over_several_instances_is_still_named(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["nvidia.mig-multi-instance"]


def test_cuda_error_35_after_an_image_update_on_a_covering_driver_is_clean(tmp_path: Path) -> None:
    # the driver runs CUDA 12.4, the image is built for CUDA 12, and only the image changed: a regression in its build
    text = ("docker run --gpus all localai/localai:v2.1.0-cublas-cuda12\n" + _SMI_550
            + "It ran with v2.0.0. After upgrading the image to v2.1.0 chat completion fails:\n"
            + "CUDA error 35 at ggml-cuda.cu:100: CUDA driver version is insufficient for CUDA runtime version\n")
    assert causes(tmp_path, text) == []
    assert any("regression in the image" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # no word that the image changed: a container without its GPU gives 35 too
        "docker run localai/localai:v2.1.0-cublas-cuda12\n" + _SMI_550
        + "CUDA error 35 at ggml-cuda.cu:100: CUDA driver version is insufficient for CUDA runtime version\n",
        # an image update, but the driver does not cover the image's CUDA: the driver is still the reading
        "docker run --gpus all localai/localai:v2.1.0-cublas-cuda12\n" + _SMI_470
        + "After upgrading the image to v2.1.0:\n"
        + "CUDA error 35 at ggml-cuda.cu:100: CUDA driver version is insufficient for CUDA runtime version\n",
    ],
)
def test_cuda_error_35_keeps_a_cause_without_both_facts(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text), notes(tmp_path, text)
