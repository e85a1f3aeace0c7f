"""Issue 13, heldout40 lessons (glearn40a): the image needs a newer host driver, and its look-alikes.

Lines are written from the code that prints them (not copied from the heldout40 logs):
- the driver's PTX JIT refusing a newer PTX ISA: ptxas's "%s, line %d; fatal   : Unsupported .version %s; current version
  is '%s'" with the JIT's input name "application ptx input", under CUDA_ERROR_INVALID_PTX (218, before CUDA 11.1) or
  CUDA_ERROR_UNSUPPORTED_PTX_VERSION (222); an offline ptxas names its file, nvJitLink is not the driver;
- pynvml / nvidia-ml-py's _nvmlGetFunctionPointer: ctypes' "<lib>: undefined symbol: <name>" then
  NVMLError_FunctionNotFound "Function Not Found" (the host's libnvidia-ml older than the binding);
- cudaErrorInsufficientDriver with nvidia-smi's driver below CUDA 12's floor and a CUDA 12 package (ctranslate2 4.x)
  in an image whose base tag says CUDA 11;
- an empty JetPack placeholder (glibc "file too short") while jetson_release lists the library on the host;
- cuInit's CUDA_ERROR_NO_DEVICE with a report that the GPU comes and goes between runs (no mask in the log);
- Triton's pinned-pool fallback (pinned_memory_manager.cc) and model-repository errors after the NGC no-driver banner;
- a command quoted inside a sentence, and "is_available() and it returned False";
- GPU-to-GPU copies said to corrupt data (P2P under IOMMU/ACS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

# --- (1) the image's CUDA user space newer than the host driver, shown by a version ---------------------------------

PTX_JIT = "ptxas application ptx input, line {n}; fatal   : Unsupported .version {want}; current version is '{have}'"


@pytest.mark.parametrize(
    "text",
    [
        # CUDA 10.x-11.0 drivers: CUDA_ERROR_INVALID_PTX (218), the check's own words around it
        "Check failed: cuLinkAddFile_v2(state, CU_JIT_INPUT_FATBINARY, path, 0, nullptr, nullptr) == CUDA_SUCCESS (218 == 0) "
        + PTX_JIT.format(n=9, want="7.0", have="6.4"),
        # numba's LinkerError: the CUresult line, then the JIT log on the next line
        "numba.cuda.cudadrv.driver.LinkerError: [218] Call to cuLinkAddData results in CUDA_ERROR_INVALID_PTX\n"
        + PTX_JIT.format(n=9, want="7.4", have="7.1"),
        # the JIT log alone (a wrapper that prints only the error log)
        PTX_JIT.format(n=12, want="7.8", have="7.4"),
    ],
)
def test_driver_jit_refusing_newer_ptx_names_driver_too_old(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == ["cuda.driver-too-old"]


@pytest.mark.parametrize(
    "text",
    [
        # an offline ptxas (a toolkit's, OpenAI Triton's TRITON_PTXAS_PATH) names its input file: not the driver
        "ptxas /tmp/tmpa1b2c3.ptx, line 5; fatal   : Unsupported .version 8.4; current version is '8.2'",
        # nvJitLink (a pip/toolkit library) older than the NVVM that wrote the PTX
        "ERROR NVJITLINK_ERROR_PTX_COMPILE: JIT the PTX (ptx)\n" + PTX_JIT.format(n=9, want="8.5", have="8.4"),
        # a JIT warning of the same input name
        "ptxas application ptx input, line 12; warning : Unused register r3",
    ],
)
def test_ptx_version_neighbours_are_not_the_driver(tmp_path: Path, text: str) -> None:
    assert "cuda.driver-too-old" not in causes(tmp_path, text + "\n")
    # while the driver JIT's own line is read
    assert causes(tmp_path, PTX_JIT.format(n=9, want="8.0", have="7.8") + "\n")[:1] == ["cuda.driver-too-old"]


@pytest.mark.parametrize(
    "text",
    [
        # Python 3's chained traceback: ctypes' AttributeError, then pynvml's class
        "AttributeError: /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: undefined symbol: nvmlDeviceGetComputeRunningProcesses_v3\n"
        "\nDuring handling of the above exception, another exception occurred:\n\n"
        "pynvml.NVMLError_FunctionNotFound: Function Not Found",
        "pynvml.nvml.NVMLError_FunctionNotFound: Function Not Found",
        "AttributeError: /usr/lib64/libnvidia-ml.so: undefined symbol: nvmlDeviceGetMemoryInfo_v2",
    ],
)
def test_nvml_binding_function_not_found_names_driver_too_old(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text + "\n")[:1] == [("cuda.driver-too-old", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # another library's undefined symbol is the extension's build, not NVML
        "ImportError: /opt/venv/lib/python3.10/site-packages/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi",
        # libnvidia-container's own words are the legacy-driver id, not this one
        "nvidia-container-cli: detection error: nvml error: function not found",
    ],
)
def test_nvml_neighbours_stay_off_driver_too_old(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] != ["cuda.driver-too-old"]
    assert causes(tmp_path, "pynvml.NVMLError_FunctionNotFound: Function Not Found\n")[:1] == ["cuda.driver-too-old"]


SMI_510 = (
    "+-----------------------------------------------------------------------------+\n"
    "| NVIDIA-SMI 510.47.03    Driver Version: 510.47.03    CUDA Version: 11.6     |\n"
)
INSUFFICIENT = "RuntimeError: CUDA failed with error CUDA driver version is insufficient for CUDA runtime version\n"


@pytest.mark.parametrize(
    "package",
    [
        "pip install faster-whisper ctranslate2==4.1.0",
        "Successfully installed ctranslate2-4.0.0 faster-whisper-1.0.1",
        "ctranslate2         4.4.0",  # pip list
    ],
)
def test_cuda12_package_on_a_cuda11_base_image_below_the_floor(tmp_path: Path, package: str) -> None:
    text = "FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04\n" + package + "\n" + SMI_510 + INSUFFICIENT
    assert causes(tmp_path, text)[:1] == ["cuda.driver-too-old"]


def test_cuda11_package_on_that_driver_is_not_read_as_too_old(tmp_path: Path) -> None:
    # ctranslate2 3.x is a CUDA 11 build, which driver 510 runs: the driver reading stays off
    text = "FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04\nctranslate2==3.24.0\n" + SMI_510 + INSUFFICIENT
    assert causes(tmp_path, text)[:1] != ["cuda.driver-too-old"]
    assert causes(tmp_path, text.replace("ctranslate2==3.24.0", "ctranslate2==4.3.1"))[:1] == ["cuda.driver-too-old"]


# --- (2) Jetson images run without the NVIDIA runtime ---------------------------------------------------------------

TOO_SHORT = "./detectnet: error while loading shared libraries: /usr/lib/aarch64-linux-gnu/libnvinfer.so.8: file too short\n"


@pytest.mark.parametrize(
    "listing",
    [
        # jetson-stats 2.x/3.x jetson_release
        " - Libraries:\n   * CUDA: 10.2.300\n   * cuDNN: 8.2.1.32\n   * TensorRT: 8.2.1.8\n",
        # jetson-stats 4.x
        "Libraries:\n - CUDA: 11.4.315\n - cuDNN: 8.6.0.166\n - TensorRT: 8.5.2.2\n",
    ],
)
def test_empty_placeholder_with_the_library_on_the_host_names_the_runtime(tmp_path: Path, listing: str) -> None:
    assert causes(tmp_path, TOO_SHORT + listing)[:1] == ["runtime.jetson-gpus-flag"]


def test_empty_placeholder_alone_keeps_the_host_library_reading(tmp_path: Path) -> None:
    # the host lacking TensorRT (jetson-inference#1733, run with docker/run.sh) stays first without the listing
    assert causes(tmp_path, TOO_SHORT)[:1] == ["nvidia.host-driver-library-missing"]
    assert causes(tmp_path, TOO_SHORT + "   * TensorRT: 8.2.1.8\n")[:1] == ["runtime.jetson-gpus-flag"]


def test_listing_without_a_version_does_not_say_the_host_has_it(tmp_path: Path) -> None:
    listing = " - Libraries:\n   * CUDA: 10.2.300\n   * cuDNN: MISSING\n   * TensorRT: NOT_INSTALLED\n"
    assert causes(tmp_path, TOO_SHORT + listing)[:1] == ["nvidia.host-driver-library-missing"]
    assert causes(tmp_path, TOO_SHORT + listing.replace("NOT_INSTALLED", "7.1.3.0"))[:1] == ["runtime.jetson-gpus-flag"]


# --- (3) no device, with a report that the GPU comes and goes ------------------------------------------------------

NO_DEVICE = (
    "2025-01-02 10:00:00.000000: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to "
    "cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n"
)


@pytest.mark.parametrize(
    "prose",
    [
        "The job cannot find a GPU; if you rerun it a few times it may pick up the GPUs.",
        "Sometimes the GPU disappears from the container after a few hours.",
        "The worker randomly can't find the GPU and falls back to the CPU.",
    ],
)
def test_no_device_that_comes_and_goes_names_the_nodes_first(tmp_path: Path, prose: str) -> None:
    assert causes(tmp_path, prose + "\n" + NO_DEVICE)[:1] == ["device.nvidia-node-missing"]


def test_no_device_with_a_mask_in_the_log_keeps_the_mask(tmp_path: Path) -> None:
    text = "export CUDA_VISIBLE_DEVICES=3\nThe job randomly can't find the GPU.\n" + NO_DEVICE
    assert causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]
    assert causes(tmp_path, text.replace("export CUDA_VISIBLE_DEVICES=3\n", ""))[:1] == ["device.nvidia-node-missing"]


def test_no_device_alone_keeps_its_prior(tmp_path: Path) -> None:
    assert causes(tmp_path, NO_DEVICE)[:1] == ["cuda.visible-devices-mismatch"]
    # a retry that works is what moves it
    retried = "It fails most of the time; after a restart it sometimes finds the GPU.\n"
    assert causes(tmp_path, retried + NO_DEVICE)[:1] == ["device.nvidia-node-missing"]


# --- (4) a CPU-only Triton run: the banner and the pinned-pool fallback are warnings --------------------------------

BANNER = (
    "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
    "   Use the NVIDIA Container Toolkit to start this container with GPU support; see\n"
    "   https://docs.nvidia.com/datacenter/cloud-native/ .\n"
)
RUN_CPU = "$ docker run --rm -p8000:8000 -v /srv/models:/models nvcr.io/nvidia/tritonserver:22.04-py3 tritonserver --model-repository=/models\n"


@pytest.mark.parametrize(
    "pinned",
    [
        "E0412 08:00:01.000000 1 pinned_memory_manager.cc:240] failed to allocate pinned system memory: "
        "CUDA driver version is insufficient for CUDA runtime version\n",
        "W0412 08:00:01.000000 1 pinned_memory_manager.cc:236] Unable to allocate pinned system memory, pinned memory "
        "pool will not be available: CUDA driver version is insufficient for CUDA runtime version\n",
    ],
)
@pytest.mark.parametrize(
    "repo_error",
    [
        "E0412 08:00:01.100000 1 model_repository_manager.cc:1919] unexpected platform type caffe2_netdef for densenet\n",
        "E0412 08:00:01.100000 1 model_repository_manager.cc:1604] failed to open text file for read "
        "/models/simple/config.pbtxt: No such file or directory\n",
    ],
)
def test_cpu_only_triton_failing_on_its_repository_is_clean(tmp_path: Path, pinned: str, repo_error: str) -> None:
    text = RUN_CPU + BANNER + pinned + repo_error
    assert causes(tmp_path, text) == []
    assert any("model repository" in n for n in notes(tmp_path, text))


def test_banner_without_a_repository_error_still_names_the_toolkit(tmp_path: Path) -> None:
    # the banner as the only thing wrong (cactus#1343's form) is still read, and a later Triton error that a GPU
    # causes keeps it
    assert "runtime.nvidia-toolkit-missing" in causes(tmp_path, BANNER)
    assert causes(tmp_path, RUN_CPU + BANNER + "E0412 08:00:01.100000 1 model_repository_manager.cc:1919] unexpected "
                  "platform type caffe2_netdef for densenet\n") == []


def test_cuda_error_outside_the_pinned_pool_line_still_counts(tmp_path: Path) -> None:
    text = RUN_CPU + "E0412 08:00:02.000000 1 model_lifecycle.cc:626] failed to load 'resnet' version 1: Internal: " \
        "unable to get number of CUDA devices: CUDA driver version is insufficient for CUDA runtime version\n"
    assert causes(tmp_path, text)[:1] == ["device.nvidia-node-missing"]
    # while the same string on the pinned-pool line is the server's fallback
    pinned = text.replace("model_lifecycle.cc:626] failed to load 'resnet' version 1: Internal: unable to get number "
                          "of CUDA devices:", "pinned_memory_manager.cc:240] failed to allocate pinned system memory:")
    assert causes(tmp_path, pinned) == []


# --- (5) prose: a command quoted in a sentence, and GPU-to-GPU copies that corrupt ----------------------------------


def test_docker_run_quoted_in_a_sentence_without_gpus(tmp_path: Path) -> None:
    text = (
        '- started the service with "docker run -d --name api -p 8080:80 example/api:1.0-cuda11.8"\n'
        "- inside it torch.cuda.is_available() and it returned False\n"
    )
    assert causes(tmp_path, text)[:1] == ["device.nvidia-node-missing"]


def test_docker_run_quoted_in_a_sentence_with_gpus_is_not_a_missing_request(tmp_path: Path) -> None:
    from tpdoctor.explain import explain

    text = (
        '- started the service with "docker run -d --gpus all --name api -p 8080:80 example/api:1.0-cuda11.8"\n'
        "- inside it torch.cuda.is_available() and it returned False\n"
    )
    log = tmp_path / "g.log"
    log.write_text(text, encoding="utf-8")
    said = " ".join(f.message for f in explain([str(log)]).findings)
    assert "without any GPU request" not in said
    log.write_text(text.replace("--gpus all ", ""), encoding="utf-8")
    said = " ".join(f.message for f in explain([str(log)]).findings)
    assert "without any GPU request" in said


@pytest.mark.parametrize(
    "line",
    [
        "Moving a tensor from one GPU to another GPU results in data corruption, silently.",
        "Copying data from one GPU to another gives all zeros on this box.",
    ],
)
def test_gpu_to_gpu_copy_corruption_names_p2p(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["nccl.p2p-unsupported"]


@pytest.mark.parametrize(
    "line",
    [
        "Moving a tensor from one GPU to another is slow (3 GB/s).",
        "How do I copy data from one GPU to another without going through the CPU?",
    ],
)
def test_gpu_to_gpu_copy_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "nccl.p2p-unsupported" not in causes(tmp_path, line + "\n")
    assert causes(tmp_path, "Transferring tensors from one GPU to another returns zeros.\n")[:1] == ["nccl.p2p-unsupported"]
