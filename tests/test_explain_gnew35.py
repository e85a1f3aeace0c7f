"""Issue 13, gnew35: cause ids for container/host causes the blind rounds named no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- runtime.wsl-toolkit-predates-driver: pytorch c10/cuda/CUDAFunctions.cpp device_count_impl ('Unexpected error from
  cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() that might have already set an
  error? Error %d: %s'); openxla/xla stream_executor cuda_driver.cc ('failed call to cuInit: ' + ToString(res), the
  CUresult name and its string); ollama gpu_info_nvcuda.c ('cuInit err: %d', 'cuda driver library init failure: %d');
  cudarc's DriverError Debug ('DriverError(CUDA_ERROR_NOT_FOUND, "named symbol not found")'); cuda-samples deviceQuery
  ('cudaGetDeviceCount returned %d'); nvidia-smi's header ('Driver Version: %s', the Windows release under WSL2).
  NVIDIA/nvidia-container-toolkit#520 names error 500 at CUDA's initialisation for 555.xx+ drivers without
  libnvdxgdmal.so.1 in the container.
- k8s.operator-driver-on-host-driver: NVIDIA/gpu-driver-container's nvidia-driver _unload_driver ('Could not unload
  NVIDIA driver kernel modules, driver is in use'); NVIDIA/k8s-driver-manager's pre-installed check (shell v0.4.0-v0.8:
  'NVIDIA GPU driver is already pre-installed on the node, ...'; Go: 'Host driver detected: %s').
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_WSL = "runtime.wsl-toolkit-predates-driver"
_OPER = "k8s.operator-driver-on-host-driver"


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "cuda.init-not-found-500", "gpu-driver-container.unload-driver-in-use", "nvidia-windows-driver-555-plus",
        "windows-docker-host", "host-driver-preinstalled", "wsl-init-500-driver-555",
        "windows-docker-init-500-driver-555", "wsl-init-500", "windows-docker-init-500", "windows-driver-555-init-500",
        "operator-unload-host-driver",
    ):
        assert sid in got, sid


# --- runtime.wsl-toolkit-predates-driver -----------------------------------------------------------------------------

_TORCH_500 = (
    "RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
    "NumCudaDevices() that might have already set an error? Error 500: named symbol not found\n"
)
_INIT_500_FORMS = {
    "torch": _TORCH_500,
    "torch-warning": (
        "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py:128: UserWarning: CUDA initialization: "
        "Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() "
        "that might have already set an error? Error 500: named symbol not found (Triggered internally at "
        "../c10/cuda/CUDAFunctions.cpp:108.)\n"
    ),
    "xla": (
        "2024-05-28 09:14:02.771203: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:282] failed call to "
        "cuInit: CUDA_ERROR_NOT_FOUND: named symbol not found\n"
    ),
    "ollama": (
        'time=2024-07-16T08:12:01.417Z level=WARN source=gpu.go:616 msg="unknown error initializing cuda driver '
        "library /usr/lib/x86_64-linux-gnu/libcuda.so.1.1: cuda driver library init failure: 500. see "
        'https://github.com/ollama/ollama/blob/main/docs/troubleshooting.md for more information"\n'
    ),
    "cudarc": 'Error: DriverError(CUDA_ERROR_NOT_FOUND, "named symbol not found")\n',
    "device-query": "cudaGetDeviceCount returned 500\n-> named symbol not found\nResult = FAIL\n",
}
_WSL_SMI = "| NVIDIA-SMI 555.52.01              Driver Version: 555.85         CUDA Version: 12.5     |\n"


@pytest.mark.parametrize("form", sorted(_INIT_500_FORMS))
def test_init_500_under_wsl2_with_a_555_driver_proves_it(tmp_path: Path, form: str) -> None:
    text = "$ uname -r\n5.15.153.1-microsoft-standard-WSL2\n" + _WSL_SMI + _INIT_500_FORMS[form]
    got = _findings(tmp_path, text)
    assert got and got[0] == (_WSL, "proves"), (form, got)


def test_docker_desktop_on_windows_with_the_driver_named_in_words_proves_it(tmp_path: Path) -> None:
    # AbdBarho/stable-diffusion-webui-docker#694's shape: the driver in prose, Windows named by the issue form
    text = (
        "With the current Nvidia Driver from 2024-05-21 (version 555.85) the container does not start\n"
        + _TORCH_500
        + "- OS: Windows 11\n- Docker compose version: v2.27.0-desktop.2\n"
    )
    assert _findings(tmp_path, text)[0] == (_WSL, "proves")


@pytest.mark.parametrize(
    "context",
    ["running the container in WSL2 with --gpus all\n", "Docker Desktop 4.30.0 (149282) on Windows\n"],
)
def test_wsl_or_windows_without_a_driver_version_suggests_it(tmp_path: Path, context: str) -> None:
    got = _findings(tmp_path, context + _TORCH_500)
    assert got and got[0] == (_WSL, "suggests"), got


def test_a_two_part_555_driver_alone_suggests_it(tmp_path: Path) -> None:
    got = _findings(tmp_path, "NVIDIA driver 560.94\n" + _TORCH_500)
    assert got and got[0] == (_WSL, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # a kernel's symbol later in a run (NVIDIA/nccl#1372: a build without sm_90 on an H100), even beside WSL words
        "in WSL2\nDriver Version: 555.85\ngcn75:2336636:2336906 [0] enqueue.cc:58 NCCL WARN Cuda failure "
        "'named symbol not found'\n",
        # error 500 at init on a native Linux host: the Linux release is three-part, no WSL or Windows named
        "| NVIDIA-SMI 555.42.02   Driver Version: 555.42.02   CUDA Version: 12.5 |\n" + _TORCH_500,
        # the line alone
        _TORCH_500,
        # another init error under WSL2 (803) is not this cause
        "5.15.153.1-microsoft-standard-WSL2\n" + _WSL_SMI + "RuntimeError: Unexpected error from cudaGetDeviceCount(). "
        "Did you run some cuda functions before calling NumCudaDevices() that might have already set an error? "
        "Error 803: system has unsupported display driver / cuda driver combination\n",
    ],
)
def test_neighbours_stay_clean_of_it(tmp_path: Path, text: str) -> None:
    assert _WSL not in _all(tmp_path, text)


def test_the_driver_fact_reads_only_a_windows_release_after_a_driver_word(tmp_path: Path) -> None:
    # a three-part Linux release, a version without a driver word, a release before 555: no fact, no cause
    for line in ("Driver Version: 560.35.03", "vllm version 560.12", "driver 552.44"):
        assert _WSL not in _all(tmp_path, line + "\n" + _TORCH_500), line


# --- k8s.operator-driver-on-host-driver -------------------------------------------------------------------------------

_UNLOAD = (
    "========== NVIDIA Software Installer ==========\n\n"
    "Starting installation of NVIDIA driver version 550.90.07 for Linux kernel version 5.15.0-113-generic\n\n"
    "Stopping NVIDIA persistence daemon...\n"
    "Unloading NVIDIA driver kernel modules...\n"
    "nvidia_modeset       1241088  1\n"
    "nvidia              56717312  19 nvidia_uvm,nvidia_modeset\n"
    "Could not unload NVIDIA driver kernel modules, driver is in use\n"
)


@pytest.mark.parametrize(
    "context",
    [
        "NVIDIA GPU driver is already pre-installed on the node, will not proceed with the containerized driver "
        "installation. This pod can be disabled through 'nvidia.com/gpu.deploy.driver=false' node label.\n",
        'time="2025-09-01T10:00:00Z" level=info msg="Host driver detected: 570.133.20"\n',
        "The issue we see is that, when the host already have the nvidia drivers installed, the pod fails.\n",
        "The NVIDIA driver is already installed on the nodes by the AMI.\n",
    ],
)
def test_the_unload_refusal_with_a_host_driver_named_proves_it(tmp_path: Path, context: str) -> None:
    got = _findings(tmp_path, context + _UNLOAD)
    assert got and got[0] == (_OPER, "proves"), got


def test_the_unload_refusal_alone_suggests_it(tmp_path: Path) -> None:
    got = _findings(tmp_path, _UNLOAD)
    assert got and got[0] == (_OPER, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # the operator handling a host driver: the driver pod is disabled, nothing failed
        "NVIDIA GPU driver is already pre-installed on the node, disabling the containerized driver on the node\n"
        "node/gpu-node-1 labeled\n",
        # the validator's routine line on every node, and the fabric manager's own stop failure
        'time="2025-04-24T07:21:03Z" level=info msg="Attempting to validate a pre-installed driver on the host"\n'
        "Could not stop NVIDIA fabric manager daemon\n",
        # a successful unload
        "Unloading NVIDIA driver kernel modules...\nUnmounting NVIDIA driver rootfs...\n",
    ],
)
def test_operator_neighbours_stay_clean_of_it(tmp_path: Path, text: str) -> None:
    assert _OPER not in _all(tmp_path, text)
