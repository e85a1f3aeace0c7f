"""Issue 13, heldout42 lessons (glearn42c): the GPU not found as applications print it.

Lines are written from the code that prints them (not copied from the heldout42 logs): PaddlePaddle's C++ init warning
"Compiled with WITH_GPU, but no GPU found in runtime." (init.cc InitDevices, logged only when the driver library loaded
and cudaGetDeviceCount failed) beside the installed driver's number or a visibility mask; Paddle's Python fallback to CPU
(framework.py _current_expected_place, install_check.py, in its three wordings) in a container given no GPU; numba's
cuInit CUDA_ERROR_NO_DEVICE (CudaAPIError / CudaSupportError) under a CUDA_VISIBLE_DEVICES naming absent GPUs; a compose
GPU reservation pasted as a fragment whose device entry is only `capabilities: [gpu]`; Docker's platform warning beside
a reporter saying the container did not start.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

INIT_CC = "W0311 09:12:44.518203  4711 init.cc:{line}] Compiled with WITH_GPU, but no GPU found in runtime.\n"
FRAMEWORK = (
    "/usr/local/lib/python3.8/dist-packages/paddle/{mod}/framework.py:{line}: UserWarning: You are using GPU version "
    "Paddle, but your CUDA device is not set properly. CPU device will be used by default.\n"
    "  warnings.warn(\n"
)
INSTALL_CHECK = (
    "WARNING: You are using GPU version PaddlePaddle, but there is no GPU detected on your machine. Maybe CUDA devices "
    "is not set properly.\n"
)
FLUID_CHECK = "WARNING:root:You are using GPU version Paddle Fluid, But Your CUDA Device is not set properly\n"
DOCKER_RUN = "$ docker run -it --name ocr -v $PWD:/work paddlepaddle/paddle:2.4.2-gpu-cuda11.7-cudnn8.4-trt8.4 bash\n"
PLATFORM_WARNING = (
    "WARNING: The requested image's platform (linux/{image}) does not match the detected host platform "
    "(linux/{host}) and no specific platform was requested\n"
)
COMPOSE_HEAD = "services:\n  app:\n    image: app\n"
FFMPEG_NO_LIBCUDA = (
    "[AVHWDeviceContext @ 0x55d0c8a1e2c0] Cannot load libcuda.so.1\n"
    "[AVHWDeviceContext @ 0x55d0c8a1e2c0] Could not dynamically load CUDA\n"
    "Device creation failed: -1.\n"
)


def _fragment(entry: str) -> str:
    return "    deploy:\n      resources:\n        reservations:\n          devices:\n" + entry


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # Paddle's init.cc warning (2.1's line 136, 2.4's line 182) beside the driver as stated, or as nvidia-smi shows it
        ("cuda: 10.1\ndriver: 430.64\n>>> import paddle\n" + INIT_CC.format(line=136), "cuda.driver-too-old"),
        ("NVIDIA driver version is 418.87.01\n" + INIT_CC.format(line=182) + FRAMEWORK.format(mod="fluid", line=634),
         "cuda.driver-too-old"),
        ("| NVIDIA-SMI 440.33.01    Driver Version: 440.33.01    CUDA Version: 10.2     |\n"
         + INIT_CC.format(line=182), "cuda.driver-too-old"),
        ("显卡驱动版本：450.51.06\n" + INIT_CC.format(line=136), "cuda.driver-too-old"),
        # the same warning under a visibility mask
        ("export CUDA_VISIBLE_DEVICES=4,5\n" + INIT_CC.format(line=182), "cuda.visible-devices-mismatch"),
        # numba's cuInit CUDA_ERROR_NO_DEVICE under a mask: CudaAPIError ('Call to %s results in %s') and
        # ensure_initialized's CudaSupportError ('Error at driver init: ...')
        ("$ CUDA_VISIBLE_DEVICES=\"1,2,5,6\" python check.py\n"
         "numba.cuda.cudadrv.driver.CudaAPIError: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE\n",
         "cuda.visible-devices-mismatch"),
        ("export CUDA_VISIBLE_DEVICES=3\n"
         "numba.cuda.cudadrv.error.CudaSupportError: Error at driver init: Call to cuInit results in "
         "CUDA_ERROR_NO_DEVICE (100)\n", "cuda.visible-devices-mismatch"),
        # Paddle's fallback to CPU, each wording, in a container that got no GPU
        (DOCKER_RUN + FRAMEWORK.format(mod="fluid", line=298), "device.nvidia-node-missing"),
        (DOCKER_RUN + FRAMEWORK.format(mod="base", line=688), "device.nvidia-node-missing"),
        ("docker exec -it paddle_gpu python -c 'import paddle; paddle.utils.run_check()'\n" + INSTALL_CHECK,
         "device.nvidia-node-missing"),
        ("docker run --rm -it hub.baidubce.com/paddlepaddle/paddle:1.8.5-gpu-cuda10.0-cudnn7 python check.py\n"
         + FLUID_CHECK, "device.nvidia-node-missing"),
        # a compose reservation pasted as a fragment, capabilities only, and the container's no-GPU symptom
        (_fragment("            - capabilities: [gpu]\n") + FFMPEG_NO_LIBCUDA, "compose.gpu-reservation-incomplete"),
        (_fragment("            - capabilities: [\"gpu\"]\n") + FFMPEG_NO_LIBCUDA,
         "compose.gpu-reservation-incomplete"),
        (_fragment("            - capabilities: [gpu, compute, utility]\n")
         + "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
         "installed a driver from http://www.nvidia.com/Download/index.aspx\n", "compose.gpu-reservation-incomplete"),
        # Docker's platform warning and the reporter saying the container did not start
        (PLATFORM_WARNING.format(image="arm64", host="amd64/v3") + "test_gpu 容器没有启动成功，日志如下\n",
         "runtime.image-arch-mismatch"),
        (PLATFORM_WARNING.format(image="amd64", host="arm64/v8") + "容器启动失败了，这是怎么回事？\n",
         "runtime.image-arch-mismatch"),
        ("The container failed to start after I loaded the images with docker load.\n"
         + PLATFORM_WARNING.format(image="arm64/v8", host="amd64"), "runtime.image-arch-mismatch"),
        ("WARN[0000] image platform (linux/arm64) does not match the expected platform (linux/amd64)\n"
         "the container doesn't start at all\n", "runtime.image-arch-mismatch"),
    ],
)
def test_a_heldout42c_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the init.cc warning alone: a driver too old or a device gone, the text does not say which
        (INIT_CC.format(line=182), "cuda.driver-too-old"),
        # in a container the stated driver is the host's, read elsewhere
        (DOCKER_RUN + "driver: 470.82.01\n" + INIT_CC.format(line=182), "cuda.driver-too-old"),
        # a driver number without Paddle's warning, and a healthy import
        ("driver: 430.64\n>>> import paddle\n>>> paddle.utils.run_check()\nPaddlePaddle works well on 1 GPU.\n",
         "cuda.driver-too-old"),
        # Paddle's CPU fallback on a host (a GPU wheel on a machine without a GPU is harmless)
        (FRAMEWORK.format(mod="base", line=688), "device.nvidia-node-missing"),
        ("$ python tools/infer.py\n" + INSTALL_CHECK, "device.nvidia-node-missing"),
        # in a container given GPUs, or in one where the driver library loaded (init.cc warned first)
        ("docker run --gpus all -it paddlepaddle/paddle:2.4.2-gpu-cuda11.7-cudnn8.4-trt8.4 bash\n"
         + FRAMEWORK.format(mod="fluid", line=634), "device.nvidia-node-missing"),
        (DOCKER_RUN + INIT_CC.format(line=182) + FRAMEWORK.format(mod="fluid", line=634),
         "device.nvidia-node-missing"),
        # cuInit's no-device without a mask, and a mask beside another error
        ("numba.cuda.cudadrv.driver.CudaAPIError: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE\n",
         "cuda.visible-devices-mismatch"),
        ("CUDA_VISIBLE_DEVICES=0,1 python train.py\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
         "2.00 GiB\n", "cuda.visible-devices-mismatch"),
        # a complete reservation (count or device_ids beside capabilities), in either order, and no failure at all
        (_fragment("            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n")
         + FFMPEG_NO_LIBCUDA, "compose.gpu-reservation-incomplete"),
        (_fragment("            - capabilities: [gpu]\n              driver: nvidia\n              count: all\n")
         + FFMPEG_NO_LIBCUDA, "compose.gpu-reservation-incomplete"),
        (_fragment("            - capabilities: [gpu]\n              device_ids: ['0']\n") + FFMPEG_NO_LIBCUDA,
         "compose.gpu-reservation-incomplete"),
        (_fragment("            - capabilities: [gpu]\n") + "frame=  240 fps=120 q=28.0 Lsize=    1024kB\n",
         "compose.gpu-reservation-incomplete"),
        # the platform warning alone, with the container running, and a container that did not start with no warning
        (PLATFORM_WARNING.format(image="amd64", host="arm64/v8") + "Hello from the container\n",
         "runtime.image-arch-mismatch"),
        (PLATFORM_WARNING.format(image="arm64/v8", host="amd64") + "The container started and answered on :8080.\n",
         "runtime.image-arch-mismatch"),
        ("容器没有启动成功，日志如下\nError: port 8080 is already allocated\n", "runtime.image-arch-mismatch"),
    ],
)
def test_a_heldout42c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)
