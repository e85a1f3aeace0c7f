"""Issue 13, heldout33 lessons (glearn33a): the NVIDIA container stack as it was, and as it runs in sandboxes and HPC.

Lines are written from the code and docs that print them (not copied from the heldout33 logs):

- docker/cli: pflag's 'unknown flag: --%s' from a client older than 19.03 (the gpus flag arrived in 1ba368a5ac,
  v19.03.0) and cmd/docker/docker.go's '"--%s" requires API version %s, but the Docker daemon API version is %s' from
  a newer client on an older daemon: the engine's age, a note, never runtime.nvidia-toolkit-missing (the daemon's
  'could not select device driver' keeps that id).
- a build's own GPU probe ("Nvidia GPU not found", "No CUDA GPU found") in a docker build: runtime.build-without-gpu.
- HPE Cray MPICH's GTL '(GTL DEBUG: %d) cuIpcOpenMemHandle: %s, %s, line no %d' and Open MPI smcuda's help text
  'cuIpcOpenMemHandle return value: %d' with CUDA_ERROR_INVALID_VALUE: the peer's GPU hidden by Slurm's per-task
  binding (slurm.gpu-bind-isolates-ranks).
- an NVIDIA vGPU without Unified Memory, in words, and cudaErrorNotSupported beside a vGPU named in words.
- look-alikes that stay clean: KubeVirt v1.9.0's /dev/vfio/devices/vfioN cdev (kubevirt#18895), nccl-tests' wrong
  values over several hosts (nccl-tests#7).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

_TOOLKIT = "runtime.nvidia-toolkit-missing"
_BUILD = "runtime.build-without-gpu"
_BIND = "slurm.gpu-bind-isolates-ranks"
_VGPU = "nvidia.vgpu-uvm-disabled"


# --- docker's --gpus refused for the engine's age: a note, not a missing toolkit -------------------------------------

_OLD_CLIENT = {
    # docker 17.x/18.x (cobra + pflag): the flag error, then cobra's usage hint
    "client-17": "$ sudo docker run --gpus all nvidia/cuda:10.0-base nvidia-smi\nunknown flag: --gpus\n"
                 "See 'docker run --help'.\n",
    "client-docker-prefix": "docker: unknown flag: --gpus\nSee 'docker run --help'.\n",
    # a newer CLI against a daemon older than API 1.40
    "daemon-api-1.39": 'docker: "--gpus" requires API version 1.40, but the Docker daemon API version is 1.39.\n'
                       "See 'docker run --help'.\n",
    "daemon-api-1.38": 'Error: "--gpus" requires API version 1.40, but the Docker daemon API version is 1.38\n',
}


@pytest.mark.parametrize("form", sorted(_OLD_CLIENT))
def test_an_engine_too_old_for_gpus_is_a_note_not_a_missing_toolkit(tmp_path: Path, form: str) -> None:
    text = _OLD_CLIENT[form]
    assert _TOOLKIT not in _causes(tmp_path, text), form
    got = _notes(tmp_path, text)
    assert any("19.03" in n for n in got), (form, got)


def test_the_daemon_without_a_gpu_driver_stays_the_toolkit(tmp_path: Path) -> None:
    text = ('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'
            "unknown flag: --gpus\n")
    assert _findings(tmp_path, text)[0][0] == _TOOLKIT
    text = 'docker: Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]].\n'
    assert _findings(tmp_path, text)[0] == (_TOOLKIT, "proves")


def test_other_api_version_refusals_stay_clean(tmp_path: Path) -> None:
    # another flag of a newer API is not about GPUs
    assert _causes(tmp_path, '"--platform" requires API version 1.32, but the Docker daemon API version is 1.31\n') == []


# --- a build's own GPU probe in a docker build -----------------------------------------------------------------------

_BUILD_LOGS = {
    # a CMakeLists message(FATAL_ERROR) under the docker build command line
    "cmake-fatal": "docker build -t sim .\n-- The CUDA compiler identification is NVIDIA 11.8.89\n"
                   "CMake Error at CMakeLists.txt:61 (message):\n  NVIDIA GPU not found.  Abort.\n",
    "buildx": "$ docker buildx build --tag app:gpu .\nRuntimeError: No CUDA GPU was found\n",
    "compose-build": "docker compose build trainer\nCUDA device not found, cannot autodetect the architecture\n",
    # BuildKit's own RUN step line instead of the command
    "run-step": "#9 [4/6] RUN cmake -B build . && cmake --build build\n#9 2.113 No NVIDIA GPU detected\n",
    # the command line and torch's own words
    "cmd-no-cuda-gpus": "sudo docker build -t ext .\nRuntimeError: No CUDA GPUs are available\n",
}


@pytest.mark.parametrize("form", sorted(_BUILD_LOGS))
def test_a_gpu_probe_in_a_docker_build_is_the_build_without_gpu(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _BUILD_LOGS[form])
    assert got and got[0] == (_BUILD, "suggests"), (form, got)


@pytest.mark.parametrize(
    "text",
    [
        # the same words with no build: a CPU node, an install script
        "NVIDIA GPU not found. DCGM Exporter was not installed.\n",
        "CMake Error at CMakeLists.txt:54 (message):\n  Nvidia GPU not found.  Abort.\n",
        # a build, then the container started with --gpus: the probe may be the container's
        "docker build -t app .\ndocker run --gpus all app\nNo CUDA GPU found\n",
        # the command named in prose, not run
        "You can also run docker build yourself; if no NVIDIA GPU is found the script falls back to CPU.\n",
        # a found GPU
        "docker build -t app .\n-- NVIDIA GPU found: compute capability 8.6\n",
    ],
)
def test_gpu_probe_words_outside_a_docker_build_stay_clean(tmp_path: Path, text: str) -> None:
    assert _BUILD not in _causes(tmp_path, text)


# --- CUDA IPC refused between ranks: Slurm's per-task binding ---------------------------------------------------------

_IPC_LOGS = {
    # HPE Cray MPICH's GTL, two PE releases (line numbers of the library)
    "gtl-272": "(GTL DEBUG: 0) cuIpcOpenMemHandle: invalid argument, CUDA_ERROR_INVALID_VALUE, line no 272\n"
               "MPICH ERROR [Rank 0] [job id 123.0] [Mon Jan  1 00:00:00 2024] [nid001] - Abort(1) (rank 0 in comm 0)\n",
    "gtl-360": "(GTL DEBUG: 3) cuIpcOpenMemHandle: invalid argument, CUDA_ERROR_INVALID_VALUE, line no 360\n",
    # Open MPI 4.x smcuda help text with return value 1, and the 1.8-3.x wording
    "ompi-4": "--------------------------------------------------------------------------\n"
              "The call to cuIpcOpenMemHandle failed. This is an unrecoverable error\n"
              "and will cause the program to abort.\n"
              "  Hostname:                         gpu07\n"
              "  cuIpcOpenMemHandle return value:  1\n"
              "  address:                          0x7f0000200000\n"
              "Check the cuda.h file for what the return value means. A possible cause\n"
              "for this is not enough free device memory.  Try to reduce the device\n"
              "memory footprint of your application.\n",
    "ompi-1.8": "The call to cuIpcOpenMemHandle failed. This is an unrecoverable error and\n"
                "will cause the program to abort.\n"
                "   cuIpcOpenMemHandle return value:   1\n"
                "   address: 0x200200000\n"
                "Check the cuda.h file for what the return value means. Perhaps a reboot of\n"
                "the node will clear the problem.\n",
}


@pytest.mark.parametrize("form", sorted(_IPC_LOGS))
def test_cuda_ipc_invalid_value_between_ranks_is_per_task_binding(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _IPC_LOGS[form])
    assert got and got[0] == (_BIND, "suggests"), (form, got)


@pytest.mark.parametrize(
    "text",
    [
        # other return values: a failed mapping (205), peer access unsupported (217)
        "The call to cuIpcOpenMemHandle failed. This is an unrecoverable error\n"
        "   cuIpcOpenMemHandle return value:   205\n",
        "   cuIpcOpenMemHandle return value:   217\n",
        "   cuIpcOpenMemHandle return value:   12\n",
        # GTL with another error
        "(GTL DEBUG: 1) cuIpcOpenMemHandle: out of memory, CUDA_ERROR_OUT_OF_MEMORY, line no 360\n",
        # the variable named in a job script
        "export MPICH_GPU_SUPPORT_ENABLED=1\n",
    ],
)
def test_other_ipc_failures_are_not_per_task_binding(tmp_path: Path, text: str) -> None:
    assert _BIND not in _causes(tmp_path, text)


# --- an NVIDIA vGPU without Unified Memory ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "On the vGPU VM the GPU has no access to Unified Memory, so the solver crashes.\n",
        "Our GRID hypervisor does not support Unified Memory for this profile.\n",
        "The virtual GPU lacks managed memory: cudaMallocManaged fails.\n",
        "Unified Memory is disabled by default on a vGPU, per the release notes.\n",
        "UVM is not supported on fractional time-sliced vGPUs\n",
        # cudaErrorNotSupported beside a vGPU named in words
        "We run it in a VM with an NVIDIA vGPU (A100-40C).\n"
        "CUDA error: operation not supported (cudaErrorNotSupported) at cudaMallocManaged\n",
    ],
)
def test_a_vgpu_without_unified_memory_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_VGPU, "suggests"), got


@pytest.mark.parametrize(
    "text",
    [
        # Unified Memory works on the vGPU, or is off somewhere else
        "Unified Memory is supported on 1:1 vGPU profiles since vGPU 17.\n",
        "Unified Memory is not supported on Windows guests with WDDM.\n",
        "The Jetson has no managed memory paging like a discrete GPU.\n",
        "We enabled UVM on the vGPU and managed memory works now.\n",
        # cudaErrorNotSupported with no vGPU anywhere
        "RuntimeError: CUDA error: operation not supported\n",
    ],
)
def test_unified_memory_words_without_a_vgpu_stay_clean(tmp_path: Path, text: str) -> None:
    assert _VGPU not in _causes(tmp_path, text)


# --- look-alikes that stay clean --------------------------------------------------------------------------------------

def test_kubevirt_vfio_cdev_missing_is_not_a_host_node(tmp_path: Path) -> None:
    # KubeVirt v1.9.0 added /dev/vfio/devices/vfioN (IOMMUFD cdevs) to every spec (kubevirt#18895, fixed by #18905)
    text = ("Error: failed to generate container spec: failed to generate spec: "
            "lstat /dev/vfio/devices/vfio3: no such file or directory\n")
    assert "device.host-node-absent" not in _causes(tmp_path, text)
    # a GPU node the runtime was asked for is still one
    text = "Error: failed to create containerd container: lstat /dev/nvidia3: no such file or directory\n"
    assert "device.host-node-absent" in _causes(tmp_path, text)


def test_nccl_tests_wrong_values_over_several_hosts_do_not_name_p2p(tmp_path: Path) -> None:
    multi = ("mpirun -np 2 -host 10.0.0.1,10.0.0.2 -pernode ./build/all_reduce_perf -b 8 -e 64M -g 4\n"
             "# Out of bounds values : 37 FAILED\n")
    assert "nccl.p2p-unsupported" not in _causes(tmp_path, multi)
    assert any("several hosts" in n for n in _notes(tmp_path, multi))
    # on one host the P2P reading stays
    one = "./build/all_reduce_perf -b 8 -e 64M -g 8\n# Out of bounds values : 37 FAILED\n"
    assert _findings(tmp_path, one)[0][0] == "nccl.p2p-unsupported"


def test_a_gpu_probe_after_a_container_start_is_not_the_build(tmp_path: Path) -> None:
    # the image was built, then started (here without --gpus): the probe is the running container's
    text = "docker build -t app .\ndocker run --runtime=nvidia --rm app\nRuntimeError: No CUDA GPU found\n"
    assert _BUILD not in _causes(tmp_path, text)
    assert _findings(tmp_path, "docker build -t app .\nRuntimeError: No CUDA GPU found\n")[0][0] == _BUILD


def test_a_cuda_grid_is_not_nvidia_grid(tmp_path: Path) -> None:
    # a kernel's launch grid, not NVIDIA GRID
    assert _VGPU not in _causes(tmp_path, "Launch the grid without managed memory to compare timings.\n")
    assert _VGPU in _causes(tmp_path, "The NVIDIA GRID driver does not support managed memory here.\n")
