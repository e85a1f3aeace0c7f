"""Issue 13, heldout31 lessons (glearn31b): the NVIDIA driver and libraries as a container sees them.

Lines are written from the code or documents that print them (not copied from the heldout31 logs):
- XLA's NVPTXCompiler::ChooseLinkingMethod (openxla/xla xla/service/gpu/nvptx_compiler.cc): "The NVIDIA driver's CUDA
  version is %d.%d which is older than the ptxas CUDA version (%s)" (to 2024) / "... older than the PTX compiler
  version %s" (since): the host driver is behind the image's CUDA;
- Unreal Engine's Pixel Streaming "Failed to initialize Pixel Streaming plugin because ... NVENC ...": no
  libnvidia-encode, i.e. the video capability was not set when the container was created;
- a driver "not compatible with CUDA N" in prose: the wheel's CUDA is newer than the driver;
- the CUDA forward-compat layer (/usr/local/cuda/compat) put first, with a driver it does not list;
- precision: vLLM's "Custom allreduce is disabled because your platform lacks GPU P2P capability or P2P test failed"
  alone is what a PCIe pair without P2P prints on a working start; torch's "Found no NVIDIA driver" in a ROCm
  environment is a CUDA wheel in a ROCm image, not a container started without an NVIDIA GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

XLA_TAIL = (
    ". Because the driver is older than the {v} version, XLA is disabling parallel compilation, which may slow down "
    "compilation. You should update your NVIDIA driver or use the NVIDIA-provided CUDA forward compatibility packages."
)


@pytest.mark.parametrize(
    "line",
    [
        # to mid-2024: "... older than the ptxas CUDA version (%s)"
        "2024-06-02 10:11:12.000001: W external/xla/xla/service/gpu/nvptx_compiler.cc:760] The NVIDIA driver's CUDA "
        "version is 12.1 which is older than the ptxas CUDA version (12.4.131)" + XLA_TAIL.format(v="ptxas"),
        # since: "... older than the PTX compiler version %s"
        "2025-05-01 08:00:00.123456: W external/xla/xla/service/gpu/nvptx_compiler.cc:893] The NVIDIA driver's CUDA "
        "version is 12.0 which is older than the PTX compiler version 12.8.93" + XLA_TAIL.format(v="PTX compiler"),
        # wrapped by a notebook: the first part alone
        "The NVIDIA driver's CUDA version is 11.8 which is older than the PTX compiler version 12.6.85. Because ",
    ],
)
def test_xla_driver_older_than_ptxas(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("cuda.driver-too-old", "suggests")]


def test_xla_forward_compat_advice_alone_stays_clean(tmp_path: Path) -> None:
    # the last sentence of the warning, on its own line (a wrapped paste), says nothing of the versions
    text = "You should update your NVIDIA driver or use the NVIDIA-provided CUDA forward compatibility packages.\n"
    assert _causes(tmp_path, text) == []
    versions = "The NVIDIA driver's CUDA version is 12.2 which is older than the PTX compiler version 12.6.77.\n"
    assert _causes(tmp_path, versions + text) == ["cuda.driver-too-old"]


@pytest.mark.parametrize(
    "line",
    [
        "[2021.06.01-10.00.00:000][  0]LogPixelStreaming: Error: Failed to initialize Pixel Streaming plugin because NVENC is not available",
        "PixelStreaming: Error: Failed to initialise Pixel Streaming plugin because NVIDIA NVENC was not installed",
    ],
)
def test_pixel_streaming_without_nvenc_is_the_video_capability(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("nvidia.driver-capabilities-missing", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "LogPixelStreaming: Error: Failed to initialize Pixel Streaming plugin because minimum requirement is Windows 8",
        "LogPixelStreaming: Error: Failed to initialize Pixel Streaming plugin because NVENC is not available in C:\\Program Files\\Epic",
    ],
)
def test_pixel_streaming_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    linux = "LogPixelStreaming: Error: Failed to initialize Pixel Streaming plugin because NVENC is not available\n"
    assert _causes(tmp_path, line + "\n" + linux) == ["nvidia.driver-capabilities-missing"]


@pytest.mark.parametrize(
    "line",
    [
        "My NVIDIA drivers are not compatible with CUDA 12, and I cannot upgrade them on this cluster.",
        "pip pulled cu12 wheels, and it fails because of a mismatch between the old nvidia driver and cuda",
        "The host driver is not compatible with cuda 11.8 that the wheel bundles",
    ],
)
def test_driver_not_compatible_with_cuda_in_prose(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("cuda.driver-too-old", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "The CUDA toolkit is not compatible with CUDA 12 kernels built by gcc 13",
        "The amdgpu driver is not compatible with ROCm 6.2 on this kernel",
        "cuDNN 9 is not compatible with CUDA 11.8",
    ],
)
def test_driver_cuda_prose_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    told = "These drivers are not compatible with CUDA 12.\n"
    assert _causes(tmp_path, line + "\n" + told) == ["cuda.driver-too-old"]


@pytest.mark.parametrize(
    "line",
    [
        "Our Dockerfile puts /usr/local/cuda/compat first on LD_LIBRARY_PATH, and the newer host driver isn't supported by it.",
        "The cuda-compat package checks a hard-coded list of driver versions, so the injected driver 580 fails.",
        "CUDA forward compatibility is not supported on this GeForce GPU, but the image ships the compat libs and the driver is 550",
    ],
)
def test_cuda_compat_layer_first_in_prose(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["cuda.forward-compat-unsupported"]


@pytest.mark.parametrize(
    "line",
    [
        "If your driver is older, install the cuda-compat package for your CUDA version.",
        "The NGC image ships /usr/local/cuda/compat and uses it only with an older datacenter driver.",
    ],
)
def test_cuda_compat_advice_stays_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    told = "LD_LIBRARY_PATH finds the CUDA compat layer first and the new host driver is unsupported by it.\n"
    assert _causes(tmp_path, line + "\n" + told)[:1] == ["cuda.forward-compat-unsupported"]


CUSTOM_AR = (
    "WARNING 03-31 10:00:00 custom_all_reduce.py:{n}] Custom allreduce is disabled because your platform lacks GPU "
    "P2P capability or P2P test failed. To silence this warning, specify disable_custom_all_reduce=True explicitly."
)


@pytest.mark.parametrize("n", [45, 134, 166])
def test_custom_allreduce_disabled_alone_is_a_note(tmp_path: Path, n: int) -> None:
    text = CUSTOM_AR.format(n=n) + "\n"
    assert _causes(tmp_path, text) == []
    assert any("turned its custom all-reduce off" in x for x in _notes(tmp_path, text))


def test_custom_allreduce_disabled_with_a_cached_verdict_stays(tmp_path: Path) -> None:
    text = (
        "INFO 03-31 10:00:00 custom_all_reduce_utils.py:244] reading GPU P2P access cache from "
        "/root/.cache/vllm/gpu_p2p_access_cache_for_0,1.json\n" + CUSTOM_AR.format(n=146) + "\n"
    )
    assert _causes(tmp_path, text) == ["vllm.custom-allreduce-p2p"]
    assert _causes(tmp_path, CUSTOM_AR.format(n=146) + "\n") == []  # the cache line is what keeps it


def test_custom_allreduce_disabled_with_a_p2p_failure_stays(tmp_path: Path) -> None:
    text = (
        CUSTOM_AR.format(n=134) + "\n"
        "[rank0]: RuntimeError: Error happened when batch testing peer-to-peer access from (0, 0, 1, 1) to (0, 1, 0, 1):\n"
    )
    assert "vllm.custom-allreduce-p2p" in _causes(tmp_path, text)
    assert _causes(tmp_path, CUSTOM_AR.format(n=134) + "\n") == []  # the P2P failure is what keeps it


NO_DRIVER = (
    "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a "
    "driver from http://www.nvidia.com/Download/index.aspx\n"
)


@pytest.mark.parametrize(
    "context",
    [
        "Building the ROCm image from the updated Dockerfile, the app fails at start:\n",
        "docker run --device /dev/kfd --device /dev/dri rocm/pytorch:latest python app.py\n",
        "After the update to ROCm 6.4.3 the container fails:\n",
        "INFO 01-01 00:00:00 [__init__.py:44] Automatically detected platform rocm.\n",
    ],
)
def test_no_nvidia_driver_in_a_rocm_environment_is_no_container_cause(tmp_path: Path, context: str) -> None:
    text = context + NO_DRIVER
    assert _causes(tmp_path, text) == []
    assert any("CUDA build" in x for x in _notes(tmp_path, text))


def test_no_nvidia_driver_without_rocm_still_names_the_missing_gpu(tmp_path: Path) -> None:
    text = "docker run --rm my/cuda-image python app.py\n" + NO_DRIVER
    assert _causes(tmp_path, text)[:1] == ["device.nvidia-node-missing"]
    assert not any("CUDA build" in x for x in _notes(tmp_path, text))
    rocm = "After the update to ROCm 6.4.3 the container fails:\n" + NO_DRIVER
    assert _causes(tmp_path, rocm) == []
