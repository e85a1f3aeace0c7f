"""Issue 13, heldout39 lessons (glearn39a): the NVIDIA "no GPU / no driver" family on CI runners and rented boxes.

Lines are written from the code and docs that print them (not copied from the heldout39 logs):
- cudaErrorInsufficientDriver (35) beside nvidia-smi's banner with a driver below CUDA 12's minor-version floor
  (525.60.13, NVIDIA "CUDA Compatibility" table): the driver is old for the CUDA 12 runtime current builds ship;
  a CUDA 11 image tag or runtime named in the log keeps the bare error's order (explain/driver_floor.py);
- CUDA finding no usable driver in a job on a CI runner without a GPU (GitHub-hosted runner image banner, runs-on a
  standard hosted label, Travis job URLs / fold markers, GitLab SaaS Linux runners, the words "GitHub Actions doesn't
  have ... CUDA"): the runner has no driver, not an old one and not a node left out;
- cuInit's CUDA_ERROR_NO_DEVICE as Taichi/Genesis ("CUDA Error %s: %s while calling init (cuInit)"), newer XLA
  ("Failed call to cuInit: ...") and PyCUDA ("cuInit failed: ...") print it, and WSL said in lower case;
- Dr.Jit / enoki-jit / Mitsuba 2 failing to load libnvoptix.so.1 ("jit_optix_init(): %s could not be loaded");
- a CPU image's Dockerfile or compose file named beside a CUDA binary that cannot load libcuda.so.1 (clean);
- the NGC "NVIDIA Driver was not detected" banner on Docker 19.03+ without --gpus (device.no-gpu named beside the
  toolkit);
- CUDA's forward-compatibility libraries removed as the workaround on a consumer GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes
from tpdoctor.explain import explain

E35 = "CUDA driver version is insufficient for CUDA runtime version"


# --- (1) error 35 and who is first -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "banner",
    [
        "| NVIDIA-SMI 470.199.02   Driver Version: 470.199.02   CUDA Version: 11.4     |",
        "NVIDIA-SMI 510.47.03    Driver Version: 510.47.03    CUDA Version: 11.6",
        "| NVIDIA-SMI 515.105.01   Driver Version: 515.105.01   CUDA Version: 11.7     |",
    ],
)
def test_insufficient_driver_with_a_driver_below_cuda12_floor_is_too_old(tmp_path: Path, banner: str) -> None:
    # CTranslate2's "CUDA failed with error %s" (src/cuda/utils.h THROW_RUNTIME_ERROR) and torch's form
    for err in (f"RuntimeError: CUDA failed with error {E35}", f"RuntimeError: CUDA error: {E35}"):
        got = _causes(tmp_path, banner + "\n" + err + "\n")
        assert got[0] == "cuda.driver-too-old", (err, got)


def test_insufficient_driver_with_a_cuda12_driver_keeps_the_table_order(tmp_path: Path) -> None:
    # 550 runs every CUDA 12 runtime: the banner is the host's, the container may have no libcuda at all
    text = "| NVIDIA-SMI 550.144.03   Driver Version: 550.144.03   CUDA Version: 12.4     |\n" f"RuntimeError: CUDA failed with error {E35}\n"
    assert _causes(tmp_path, text)[0] == "device.nvidia-node-missing"


def test_insufficient_driver_with_a_cuda11_image_and_a_470_driver_is_not_called_old(tmp_path: Path) -> None:
    # a CUDA 11 image runs on 470 through minor-version compatibility
    text = (
        "$ docker run --rm myorg/app:1.0-cuda11.8 python infer.py\n"
        "| NVIDIA-SMI 470.199.02   Driver Version: 470.199.02   CUDA Version: 11.4     |\n"
        f"RuntimeError: CUDA failed with error {E35}\n"
    )
    assert _causes(tmp_path, text)[:1] != ["cuda.driver-too-old"]


def test_bare_insufficient_driver_keeps_the_table_order_and_never_proves(tmp_path: Path) -> None:
    got = _findings(tmp_path, f"RuntimeError: CUDA failed with error {E35}\n")
    assert got[0] == ("device.nvidia-node-missing", "suggests")


@pytest.mark.parametrize(
    "context",
    [
        # the GitHub-hosted runner image banner of "Set up job" (and the older virtual-environments one)
        "Runner Image\n  Image: ubuntu-22.04\n  Version: 20240616.1.0\n"
        "  Included Software: https://github.com/actions/runner-images/blob/ubuntu22/20240616.1/images/ubuntu/Ubuntu2204-Readme.md",
        "2021-05-03T10:00:00.0000000Z Included Software: https://github.com/actions/virtual-environments/blob/ubuntu20/20210425.1/images/linux/Ubuntu2004-README.md",
        # a workflow on a standard hosted label
        "jobs:\n  test:\n    runs-on: ubuntu-latest\n    container: ghcr.io/org/gpu-image:latest",
        "    runs-on: [ubuntu-22.04]",
        # Travis CI
        "Job log: https://travis-ci.com/github/org/project/jobs/123456#L2000",
        "travis_fold:start:script",
        # GitLab.com SaaS Linux runner
        "Running with gitlab-runner 16.6.0 (abc)\n  on blue-2.saas-linux-small-amd64.runners-manager.gitlab.com/default x, system ID: s_1",
        # the words
        "GitHub Actions doesn't have the CUDA runtime, so the GPU tests fail",
        "Travis does not have a GPU run-time, understandably",
    ],
)
def test_ci_runner_without_gpu_names_the_missing_runtime_not_an_old_driver(tmp_path: Path, context: str) -> None:
    for err in (f"Error: CUDA error 35: {E35}.", f"RuntimeError: CUDA failed with error {E35}"):
        text = context + "\n" + err + "\n"
        got = _causes(tmp_path, text)
        assert got[:1] == ["runtime.nvidia-toolkit-missing"], (context, got)
        assert "cuda.driver-too-old" not in got and "device.nvidia-node-missing" not in got
        assert "device.no-gpu" in _all(tmp_path, text)


@pytest.mark.parametrize(
    "context",
    [
        # a self-hosted runner, an NVIDIA managed GPU runner, a GPU label of GitLab SaaS: the runner may have a GPU
        "    runs-on: [self-hosted, gpu]",
        "NVIDIA Managed Runner\nIncluded Software: https://github.com/actions/runner-images/blob/ubuntu22/x/Ubuntu2204-Readme.md",
        "  on green-1.saas-linux-medium-amd64-gpu-standard.runners-manager.gitlab.com/default x",
        # prose that mentions GitHub Actions without saying it has no GPU
        "We run this on GitHub Actions with our own GPU machines",
    ],
)
def test_ci_words_that_do_not_say_no_gpu_keep_the_usual_reading(tmp_path: Path, context: str) -> None:
    got = _causes(tmp_path, context + f"\nError: CUDA error 35: {E35}.\n")
    assert got[:1] == ["device.nvidia-node-missing"], (context, got)


def test_ci_runner_with_a_driver_shown_is_not_a_gpuless_runner(tmp_path: Path) -> None:
    text = (
        "    runs-on: ubuntu-latest\n"
        "| NVIDIA-SMI 470.199.02   Driver Version: 470.199.02   CUDA Version: 11.4     |\n"
        f"RuntimeError: CUDA failed with error {E35}\n"
    )
    assert _causes(tmp_path, text)[:1] == ["cuda.driver-too-old"]


def test_ci_words_alone_are_clean(tmp_path: Path) -> None:
    text = "    runs-on: ubuntu-latest\ntravis_fold:start:install\nGitHub Actions doesn't have a GPU, so we skip those tests\n"
    assert _causes(tmp_path, text) == []


# --- (2) the NGC banner after a plain docker run ----------------------------------------------------------------

NGC = (
    "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
    "   Use the NVIDIA Container Toolkit to start this container with GPU support; see\n"
)


@pytest.mark.parametrize("version", ["Docker version 19.03.1, build 74b1e89", "Docker version 24.0.7, build afdd53b", " Server Version: 27.3.1"])
def test_ngc_banner_on_a_gpus_era_docker_names_both(tmp_path: Path, version: str) -> None:
    text = NGC + version + "\n"
    assert _causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]
    assert "device.no-gpu" in _all(tmp_path, text)


def test_ngc_banner_on_an_old_docker_or_with_gpus_is_not_the_missing_request(tmp_path: Path) -> None:
    assert "device.no-gpu" not in _all(tmp_path, NGC + "Docker version 18.09.7, build 2d0083d\n")
    text = "$ docker run --gpus all -it --rm nvcr.io/nvidia/pytorch:24.01-py3\n" + NGC + "Docker version 24.0.7, build afdd53b\n"
    assert "device.no-gpu" not in _all(tmp_path, text)


# --- (3) WSL2: cuInit finds no device ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # Taichi / Genesis: CUDADriverFunction::get_error_message
        "[E 01/05/25 09:10:11.222 3141] [cuda_driver.h:operator()@92] CUDA Error CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected while calling init (cuInit)",
        # newer XLA: cuda::ToStatus(cuInit(0), "Failed call to cuInit")
        "E0000 00:00:1722222222.000000 100 cuda_executor.cc:1015] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
        # PyCUDA: CUDAPP_CALL_GUARDED
        "pycuda._driver.RuntimeError: cuInit failed: no CUDA-capable device is detected",
    ],
)
def test_cuinit_no_device_under_wsl_in_every_form(tmp_path: Path, line: str) -> None:
    for wsl in ("my script run under wsl2 ubuntu", "I am on WSL2", "inside wsl the gpu is not found"):
        got = _causes(tmp_path, wsl + "\n" + line + "\n")
        assert got[:1] == ["host.wsl-linux-driver-installed"], (wsl, got)


def test_cuinit_no_device_without_wsl_is_not_a_wsl_driver(tmp_path: Path) -> None:
    line = "[cuda_driver.h:operator()@92] CUDA Error CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected while calling init (cuInit)\n"
    assert "host.wsl-linux-driver-installed" not in _causes(tmp_path, line)
    # other calls of the same wrapper are not cuInit
    other = "[cuda_driver.h:operator()@92] CUDA Error CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected while calling device_get (cuDeviceGet)\n"
    assert "host.wsl-linux-driver-installed" not in _causes(tmp_path, "running under wsl2\n" + other)


def test_lowercase_wsl_words_alone_are_clean(tmp_path: Path) -> None:
    assert _causes(tmp_path, "I use docker under wsl2 and the build finished\n") == []


# --- Dr.Jit / Mitsuba cannot load OptiX --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "jit_optix_init(): libnvoptix.so.1 could not be loaded -- disabling OptiX backend! Set the DRJIT_LIBOPTIX_PATH environment variable to specify its path.",
        "jit_optix_init(): libnvoptix.so.1 could not be loaded -- disabling OptiX backend! Set the ENOKI_LIBOPTIX_PATH environment variable to specify its path.",
        "2021-03-01 12:00:00 ERROR main  [optix_api.cpp:207] optix_init(): libnvoptix.so.1 could not be loaded.",
    ],
)
def test_drjit_optix_not_loaded_is_the_driver_install(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("nvidia.host-driver-library-missing", "suggests")]
    log = tmp_path / "optix.log"
    log.write_text(line + "\n", encoding="utf-8")
    assert "nvidia.driver-capabilities-missing" in explain([str(log)]).findings[0].related


def test_drjit_other_optix_messages_are_not_the_library(tmp_path: Path) -> None:
    line = "jit_optix_init(): could not find symbol optixQueryFunctionTable\n"
    assert "nvidia.host-driver-library-missing" not in _causes(tmp_path, line)


# --- (5) a CPU image built with CUDA (clean) ---------------------------------------------------------------------

LIBCUDA = "/app/server: error while loading shared libraries: libcuda.so.1: cannot open shared object file: No such file or directory"


@pytest.mark.parametrize(
    "named",
    [
        "When using the provided cpu.Dockerfile, the server fails to start",
        "docker build -f Dockerfile.cpu -t app:cpu .",
        "docker compose -f docker-compose.cpu.yml up",
        "Building with docker/Dockerfile-cpu",
    ],
)
def test_cpu_image_that_cannot_load_libcuda_is_clean(tmp_path: Path, named: str) -> None:
    got = _causes(tmp_path, named + "\n" + LIBCUDA + "\n")
    assert "runtime.nvidia-toolkit-missing" not in got and "device.nvidia-node-missing" not in got


def test_gpu_image_or_gpu_request_beside_a_cpu_file_keeps_the_reading(tmp_path: Path) -> None:
    assert _causes(tmp_path, "docker build -f Dockerfile.gpu .\n" + LIBCUDA + "\n")[:1] == ["runtime.nvidia-toolkit-missing"]
    text = "docker compose -f docker-compose.cpu.yml up\n$ docker run --gpus all app:latest\n" + LIBCUDA + "\n"
    assert _causes(tmp_path, text)


# --- (4) forward compatibility on a consumer GPU -----------------------------------------------------------------


@pytest.mark.parametrize(
    "workaround",
    [
        'entrypoint: ["/bin/sh", "-c", "rm -rf /usr/local/cuda*/compat && ldconfig && exec /app/llama-server"]',
        "RUN rm -r /usr/local/cuda-13.0/compat",
        "apt-get remove -y cuda-compat-12-8 fixed it",
    ],
)
def test_compat_removed_on_a_consumer_gpu_is_forward_compat(tmp_path: Path, workaround: str) -> None:
    for gpu in ("Hardware: RTX 5090 (Blackwell), driver 595.58.03", "GPU: NVIDIA GeForce RTX 3090"):
        assert _causes(tmp_path, gpu + "\n" + workaround + "\n")[:1] == ["cuda.forward-compat-unsupported"]


def test_compat_named_without_removal_or_on_a_datacenter_gpu_is_clean(tmp_path: Path) -> None:
    # NGC images keep /usr/local/cuda/compat/lib in LD_LIBRARY_PATH on every GPU
    env = "LD_LIBRARY_PATH=/usr/local/cuda/compat/lib:/usr/local/nvidia/lib:/usr/local/nvidia/lib64\nGPU 0: NVIDIA GeForce RTX 4090\n"
    assert _causes(tmp_path, env) == []
    assert _causes(tmp_path, "GPU 0: NVIDIA H100 80GB HBM3\nRUN rm -rf /usr/local/cuda/compat\n") == []


def test_notes_name_the_ci_runner(tmp_path: Path) -> None:
    text = f"    runs-on: ubuntu-latest\nError: CUDA error 35: {E35}.\n"
    assert any("runner has no GPU" in n for n in _notes(tmp_path, text))
