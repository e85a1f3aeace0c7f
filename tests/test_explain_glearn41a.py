"""Issue 13, heldout41 lessons (glearn41a): the NVIDIA container stack as end users meet it outside LLM serving.

Lines are written from the code that prints them (not copied from the heldout41 logs):
- Apollo's docker/scripts/dev_start.sh determine_gpu_use_host: the host's nvidia-smi answered but no
  nvidia-container-toolkit / nvidia-docker is on PATH ("Cannot access GPU from within container. Please install latest
  Docker" "and NVIDIA Container Toolkit as described by: "; v3.5-v5.0 "... latest docker and nvidia-container-toolkit");
- libnvidia-container nvc_ldcache_update's "process %s failed with error code: %d" with exit 1 (configure.c prefixes
  "ldcache error: "): the hook's ldconfig step, a guess;
- libnvidia-container driver_init's "load library failed: %s" quoted without the "nvidia-container-cli: " prefix;
- CMake's NOTFOUND list (cmGlobalGenerator CheckTargetProperties: var + " (ADVANCED)") for FindCUDA's
  CUDA_CUDA_LIBRARY (libcuda.so, never searched in stubs): a build with no driver (docker build);
- rocker's nvidia extension (nvidia_snippet.Dockerfile.em: NVIDIA_DRIVER_CAPABILITIES
  ${NVIDIA_DRIVER_CAPABILITIES:+$NVIDIA_DRIVER_CAPABILITIES,}graphics): graphics only on an image that sets none;
- CUDA's initialisation returning 500 'named symbol not found' where the report names Windows (Docker Desktop / WSL2's
  toolkit older than the 555+ driver).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

# --- Apollo's launch script: the host driver is there, the toolkit is not ------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # v5.5+ dev_start.sh: warning "Cannot access GPU from within container. Please install latest Docker" \ "and ..."
        "[WARNING] Cannot access GPU from within container. Please install latest Docker and NVIDIA Container Toolkit "
        "as described by: \n[WARNING]   https://github.com/NVIDIA/nvidia-docker/blob/master/README.md\n",
        # v3.5-v5.0: warning "Cannot access GPU from within container. Please install " \ "latest docker and ..."
        "[WARNING] Cannot access GPU from within container. Please install  latest docker and nvidia-container-toolkit "
        "as described by: \n",
        # a fork's echo form, prefixed by the script's info lines
        "[INFO] Determine whether host GPU is available ...\n"
        "Cannot access GPU from within container. Please install latest Dockerand NVIDIA Container Toolkit as described by: \n",
    ],
)
def test_apollo_cannot_access_gpu_names_the_toolkit(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


def test_apollo_cpu_on_purpose_stays_clean(tmp_path: Path) -> None:
    # the first branch (no nvidia-smi on the host: CPU on purpose, a Jetson) is not the toolkit
    assert causes(tmp_path, "[WARNING] No nvidia-driver found. CPU will be used.\n[INFO] USE_GPU_HOST: 0\n") == []
    # while the warning itself is read
    assert causes(tmp_path, "[WARNING] Cannot access GPU from within container.\n") == ["runtime.nvidia-toolkit-missing"]


# --- the legacy hook's ldconfig step failing with exit 1 -------------------------------------------------------------

HOOK = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime "
    "create failed: runc create failed: unable to start container process: error during container init: error running "
    "hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
    "nvidia-container-cli: ldcache error: {}: unknown\n"
)


@pytest.mark.parametrize(
    "ldconfig",
    ["/sbin/ldconfig", "/sbin/ldconfig.real", "/usr/sbin/ldconfig"],
)
def test_ldcache_exit_1_suggests_the_hook_ldconfig(tmp_path: Path, ldconfig: str) -> None:
    text = HOOK.format(f"process {ldconfig} failed with error code: 1")
    assert findings(tmp_path, text)[:1] == [("nvidia.toolkit-ldconfig-wrong", "suggests")]
    # another exit code is not read by this signature (12 is not 1)
    assert "nvidia.toolkit-ldconfig-wrong" not in causes(tmp_path, HOOK.format(f"process {ldconfig} failed with error code: 12"))


def test_other_error_code_1_stays_out(tmp_path: Path) -> None:
    assert "nvidia.toolkit-ldconfig-wrong" not in causes(
        tmp_path, "slurmstepd: error: pyxis: container start failed with error code: 1\n"
    )
    assert causes(tmp_path, "nvidia-container-cli: ldcache error: process /sbin/ldconfig failed with error code: 1\n")


# --- the hook's NVML load failure quoted without its prefix ----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "`initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such file or directory: unknown`",
        "Error: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared object file: no such file or directory",
        "> initialization error: load library failed: libnvidia-ml.so: cannot open shared object file",
    ],
)
def test_unprefixed_nvml_load_failure_names_the_host_stack(tmp_path: Path, line: str) -> None:
    got = causes(tmp_path, "docker run -it --rm --gpus all --ipc=host monai:latest bash\n" + line + "\n")
    assert got[:1] == ["runtime.nvidia-toolkit-missing"]
    # another library's load failure in some other program's init is not the hook's NVML
    other = line.replace("libnvidia-ml.so.1", "libfoo.so.2").replace("libnvidia-ml.so", "libfoo.so")
    assert "runtime.nvidia-toolkit-missing" not in causes(tmp_path, other + "\n")


# --- CMake's FindCUDA found no driver library: a build with no GPU ---------------------------------------------------

NOTFOUND = (
    "CMake Error: The following variables are used in this project, but they are set to NOTFOUND.\n"
    "Please set them or make sure they are set and tested correctly in the CMake files:\n"
)


@pytest.mark.parametrize(
    "text",
    [
        NOTFOUND + 'CUDA_CUDA_LIBRARY (ADVANCED)\n    linked by target "cuda_ops" in directory /src/ops\n'
        "-- Configuring incomplete, errors occurred!\n",
        NOTFOUND.replace(":\n", ": ") + "CUDA_CUDA_LIBRARY\n",
        "make[2]: *** No rule to make target 'CUDA_CUDA_LIBRARY-NOTFOUND', needed by 'lib/libkernels.so'.  Stop.\n",
        "/usr/bin/ld: cannot find CUDA_CUDA_LIBRARY-NOTFOUND: No such file or directory\n",
    ],
)
def test_cuda_driver_library_notfound_is_a_build_without_gpu(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


def test_cuda_driver_library_found_or_other_notfound_stays_clean(tmp_path: Path) -> None:
    assert "runtime.build-without-gpu" not in causes(tmp_path, NOTFOUND + "CUDA_nppi_LIBRARY (ADVANCED)\n")
    healthy = (
        "-- Found CUDA: /usr/local/cuda (found version \"11.8\")\n"
        "-- CUDA_CUDA_LIBRARY: /usr/lib/x86_64-linux-gnu/libcuda.so\n"
        "CUDA_CUDA_LIBRARY:FILEPATH=/usr/lib/x86_64-linux-gnu/libcuda.so\n"
        "-- CUDA_CUDA_LIBRARY=CUDA_CUDA_LIBRARY-NOTFOUND\n"
        "-- Build files have been written to: /src/build\n"
    )
    assert causes(tmp_path, healthy) == []
    assert causes(tmp_path, NOTFOUND + "CUDA_CUDA_LIBRARY (ADVANCED)\n") == ["runtime.build-without-gpu"]


# --- rocker's nvidia extension: graphics only ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context",
    [
        "$ rocker --nvidia --x11 --user osrf/ros:humble-desktop nvidia-smi\n",
        "rocker --x11 --nvidia --volume ~/ws:/ws -- ros:noetic bash\n",
        "ENV NVIDIA_DRIVER_CAPABILITIES ${NVIDIA_DRIVER_CAPABILITIES:+$NVIDIA_DRIVER_CAPABILITIES,}graphics\n",
    ],
)
@pytest.mark.parametrize(
    "symptom",
    ["bash: nvidia-smi: command not found\n", "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n"],
)
def test_rocker_graphics_only_names_the_capabilities(tmp_path: Path, context: str, symptom: str) -> None:
    assert causes(tmp_path, context + symptom)[:1] == ["nvidia.driver-capabilities-missing"]


def test_rocker_without_nvidia_or_with_capabilities_set_is_not_this(tmp_path: Path) -> None:
    smi = "bash: nvidia-smi: command not found\n"
    assert "nvidia.driver-capabilities-missing" not in causes(tmp_path, "$ rocker --x11 --user ros:humble bash\n" + smi)
    with_caps = "$ rocker --nvidia --env NVIDIA_DRIVER_CAPABILITIES=all ros:humble nvidia-smi\n" + smi
    assert "nvidia.driver-capabilities-missing" not in causes(tmp_path, with_caps)
    # the template with compute/utility appended is not graphics only
    full = "ENV NVIDIA_DRIVER_CAPABILITIES ${NVIDIA_DRIVER_CAPABILITIES:+$NVIDIA_DRIVER_CAPABILITIES,}graphics,utility,compute\n"
    assert "nvidia.driver-capabilities-missing" not in causes(tmp_path, full + smi)
    assert causes(tmp_path, "$ rocker --nvidia ros:humble nvidia-smi\n" + smi)[:1] == ["nvidia.driver-capabilities-missing"]


# --- CUDA's initialisation 500 on a Windows host ---------------------------------------------------------------------

TORCH_500 = (
    "RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
    "NumCudaDevices() that might have already set an error? Error 500: named symbol not found\n"
)
GGML_500 = "ggml_cuda_init: failed to initialize CUDA: named symbol not found\n"


@pytest.mark.parametrize("error", [TORCH_500, GGML_500])
@pytest.mark.parametrize(
    "words",
    [
        "nvidia-smi works fine on Windows.\n",
        "在windows下nvidia-smi正常\n",
        "Host OS: windows, GPU: RTX 4090\n",
    ],
)
def test_init_500_with_windows_named_is_the_wsl_toolkit(tmp_path: Path, error: str, words: str) -> None:
    assert causes(tmp_path, error + "\n" + words)[:1] == ["runtime.wsl-toolkit-predates-driver"]


@pytest.mark.parametrize(
    "words",
    [
        "loaded C:\\Windows\\System32\\nvcuda.dll\n",  # a path, not the report's words
        "runs-on: windows-latest\n",  # a CI label
        "nvidia-smi on windows\n| NVIDIA-SMI 550.54.14    Driver Version: 550.54.14    CUDA Version: 12.4 |\n",  # a Linux driver
    ],
)
def test_windows_in_other_roles_does_not_name_it(tmp_path: Path, words: str) -> None:
    assert causes(tmp_path, TORCH_500 + words)[:1] != ["runtime.wsl-toolkit-predates-driver"]
    assert causes(tmp_path, TORCH_500 + "nvidia-smi works on Windows\n")[:1] == ["runtime.wsl-toolkit-predates-driver"]
