"""Issue 13, heldout43 lessons (glearn43a): the driver / no-device family as CUDA applications print it.

Lines are written from the code that prints them (not copied from the heldout43 logs):
- CUDA's 35 (cudaErrorInsufficientDriver, "CUDA driver version is insufficient for CUDA runtime version") from a
  program run out of the user's own Python environment (a traceback path under /home/<user>/.../site-packages/ or
  C:\\Users\\...\\site-packages\\) with no container named: the installed driver is older than the runtime the wheels
  ship (SYSTRAN/faster-whisper#363); an image's paths (/opt/conda, /usr/local, jupyter's /home/jovyan) keep the
  no-GPU-container reading;
- CUDA's 35 / 100 inside a docker build step (BuildKit's "#<vertex> <s>.<ms> " prefix, moby/buildkit progressui, or
  the build command with a Dockerfile RUN step): build steps get no GPU (moby/buildkit#1800, #1436);
- strace's "= -1 ENOENT (No such file or directory)" on /dev/nvidia-uvm, /dev/nvidiactl, /dev/nvidiaN (strace
  src/syscall.c): the node is not there (NVIDIA/nvidia-docker#471); the optional nvidia-uvm-tools stays clean;
- "no CUDA-capable device is detected" in a desktop hypervisor's guest (VMware Workstation/Player, VirtualBox): no
  GPU at all (a notice, device.no-gpu), not a mask or a node (facebookresearch/TransCoder#9);
- look-alikes that stay clean: gVisor (runsc) with --gpus (nvproxy's ioctl coverage, google/gvisor#10824) and WSL 2
  outside a container (no Linux module, no /dev/nvidia*; microsoft/WSL#6772).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes, causes

MSG35 = "CUDA driver version is insufficient for CUDA runtime version"


def _tb(path: str) -> str:
    return f'  File "{path}", line 124, in __init__\n    self.model = ctranslate2.models.Whisper(\n'


# --- 35 from the user's own environment on the machine ---
@pytest.mark.parametrize(
    "text",
    [
        # CTranslate2's CUDA_CHECK: "CUDA failed with error " + cudaGetErrorString
        "Traceback (most recent call last):\n"
        + _tb("/home/ana/projects/asr/.venv/lib/python3.11/site-packages/faster_whisper/transcribe.py")
        + f"RuntimeError: CUDA failed with error {MSG35}\n",
        # a conda env under the user's home, CuPy's "<name>: <string>" form
        _tb("/home/bo/miniconda3/envs/rapids/lib/python3.10/site-packages/cupy/_core/core.py")
        + f"cupy_backends.cuda.api.runtime.CUDARuntimeError: cudaErrorInsufficientDriver: {MSG35}\n",
        # pip --user
        _tb("/home/cz/.local/lib/python3.9/site-packages/faiss/__init__.py")
        + f"RuntimeError: Error in getNumDevices at DeviceUtils.cu:36: CUDA error 35 {MSG35}\n",
        # native Windows Python
        _tb("C:\\Users\\dee\\AppData\\Local\\Programs\\Python\\Python311\\Lib\\site-packages\\faster_whisper\\transcribe.py")
        + f"RuntimeError: CUDA failed with error {MSG35}\n",
    ],
)
def test_cuda35_from_the_users_own_environment_is_the_driver(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert got[:1] == ["cuda.driver-too-old"]
    assert "device.nvidia-node-missing" not in got


@pytest.mark.parametrize(
    "path",
    [
        "/opt/conda/lib/python3.10/site-packages/faster_whisper/transcribe.py",
        "/usr/local/lib/python3.10/dist-packages/faster_whisper/transcribe.py",
        "/home/jovyan/.local/lib/python3.11/site-packages/faster_whisper/transcribe.py",
    ],
)
def test_cuda35_from_an_image_path_keeps_the_no_gpu_reading(tmp_path: Path, path: str) -> None:
    got = causes(tmp_path, _tb(path) + f"RuntimeError: CUDA failed with error {MSG35}\n")
    assert got[:1] == ["device.nvidia-node-missing"]


def test_cuda35_from_home_inside_a_named_container_is_not_read_as_the_host(tmp_path: Path) -> None:
    text = (
        "$ docker run --rm -v $HOME:/home/ana asr:latest python /home/ana/run.py\n"
        + _tb("/home/ana/.venv/lib/python3.11/site-packages/faster_whisper/transcribe.py")
        + f"RuntimeError: CUDA failed with error {MSG35}\n"
    )
    assert causes(tmp_path, text)[:1] != ["cuda.driver-too-old"]


# --- 35 / 100 in a docker build step ---
@pytest.mark.parametrize(
    "text",
    [
        # BuildKit plain progress: '#%d ' + '%.3f ' per log line of the step
        "#11 0.874 ./deviceQuery Starting...\n#11 0.874 cudaGetDeviceCount returned 35\n"
        f"#11 0.874 -> {MSG35}\n#11 0.875 Result = FAIL\n",
        "#9 2.031 cudaGetDeviceCount returned 100\n#9 2.031 -> no CUDA-capable device is detected\n",
        # the legacy builder: the build command and the Dockerfile's RUN step, the output unprefixed
        "$ DOCKER_BUILDKIT=0 docker build -t probe .\nStep 4/4 : RUN make && ./deviceQuery\n"
        f"cudaGetDeviceCount returned 35\n-> {MSG35}\nResult = FAIL\n",
    ],
)
def test_cuda_init_failure_in_a_build_step_is_build_without_gpu(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert got[:1] == ["runtime.build-without-gpu"]
    assert "device.nvidia-node-missing" not in got


def test_cuda35_in_a_container_run_is_not_a_build(tmp_path: Path) -> None:
    text = f"$ docker run --rm --gpus all probe ./deviceQuery\ncudaGetDeviceCount returned 35\n-> {MSG35}\n"
    assert "runtime.build-without-gpu" not in causes(tmp_path, text)


def test_buildkit_prefix_on_a_healthy_step_stays_clean(tmp_path: Path) -> None:
    text = "#11 0.874 ./deviceQuery Starting...\n#11 1.020 Detected 1 CUDA Capable device(s)\n#11 1.021 Result = PASS\n"
    assert causes(tmp_path, text) == []


# --- strace: the NVIDIA node is not there ---
@pytest.mark.parametrize(
    "line",
    [
        'stat("/dev/nvidia-uvm", 0x7ffd5a1c0e20) = -1 ENOENT (No such file or directory)',
        '[pid 40211] openat(AT_FDCWD, "/dev/nvidiactl", O_RDWR|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
        'open("/dev/nvidia-uvm", O_RDWR) = -1 ENOENT (No such file or directory)',
        'newfstatat(AT_FDCWD, "/dev/nvidia0", 0x7ffe1b2c3d40, 0) = -1 ENOENT (No such file or directory)',
        'access("/dev/nvidia-uvm", F_OK)        = -1 ENOENT (No such file or directory)',
    ],
)
def test_strace_enoent_on_an_nvidia_node_names_the_node(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["device.nvidia-node-missing"]


@pytest.mark.parametrize(
    "line",
    [
        'openat(AT_FDCWD, "/dev/nvidia-uvm", O_RDWR|O_CLOEXEC) = 4',
        'stat("/dev/nvidia-uvm-tools", 0x7ffd5a1c0e20) = -1 ENOENT (No such file or directory)',
        'openat(AT_FDCWD, "/dev/nvidia-modeset", O_RDWR) = -1 ENOENT (No such file or directory)',
        'openat(AT_FDCWD, "/dev/nvidia-caps", O_RDONLY) = -1 ENOENT (No such file or directory)',
    ],
)
def test_strace_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n") == []


# --- a desktop hypervisor's guest has no GPU ---
@pytest.mark.parametrize(
    "text",
    [
        "I run it in VMware Workstation with Ubuntu 20.04.\n"
        "RuntimeError: cuda runtime error (100) : no CUDA-capable device is detected at /pytorch/aten/src/THC/THCGeneral.cpp:50\n",
        "Ubuntu 22.04 guest in VirtualBox 7.0\nRuntimeError: No CUDA GPUs are available\n",
        "VMware guest\ncudaGetDeviceCount returned 100\n-> no CUDA-capable device is detected\n",
    ],
)
def test_no_cuda_device_in_a_desktop_vm_is_no_gpu(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert "cuda.visible-devices-mismatch" not in got
    assert "device.nvidia-node-missing" not in got
    assert "device.no-gpu" in all_causes(tmp_path, text)


def test_vmware_esxi_passthrough_is_not_a_desktop_vm(tmp_path: Path) -> None:
    text = "VMware ESXi 8.0 VM with an A100 in passthrough\nRuntimeError: No CUDA GPUs are available\n"
    assert "device.no-gpu" not in all_causes(tmp_path, text)


# --- look-alikes that stay clean ---
GVISOR = "$ docker run --runtime={rt} --gpus=all pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime python -c 'import torch; torch.cuda.init()'\n"


def test_gvisor_with_gpus_requested_is_not_a_mask_or_a_node(tmp_path: Path) -> None:
    text = GVISOR.format(rt="runsc") + "RuntimeError: No CUDA GPUs are available\n"
    assert causes(tmp_path, text) == []


def test_runc_with_gpus_requested_keeps_its_reading(tmp_path: Path) -> None:
    text = GVISOR.format(rt="runc") + "RuntimeError: No CUDA GPUs are available\n"
    assert causes(tmp_path, text)


WSL = (
    "Linux version 5.10.102.1-microsoft-standard-WSL2 (oe-user@oe-host) (x86_64-msft-linux-gcc (GCC) 9.3.0) #1 SMP\n"
    "$ nvidia-smi\n"
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA "
    "driver is installed and running.\n"
    "$ ./deviceQuery\ncudaGetDeviceCount returned 100\n-> no CUDA-capable device is detected\nResult = FAIL\n"
)


def test_wsl_outside_a_container_is_not_a_module_node_or_mask(tmp_path: Path) -> None:
    assert causes(tmp_path, WSL) == []


def test_smi_driver_not_loaded_off_wsl_is_still_the_driver(tmp_path: Path) -> None:
    text = WSL.replace("5.10.102.1-microsoft-standard-WSL2", "5.15.0-91-generic")
    assert causes(tmp_path, text)[:1] == ["device.no-driver"]
