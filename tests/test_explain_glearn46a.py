"""Issue 13, heldout46 lessons (glearn46a): the NVIDIA driver, its libraries and the toolkit as image builders and
NAS users see them.

Lines are written from the code that prints them (not copied from the heldout46 logs):
- runc >= 1.2 libcontainer/process_linux.go 'failed to fulfil mount request: %w' around mountRequest (Go os.PathError
  'open %s: no such file or directory'): a CDI spec naming the previous driver release's versioned files;
- a report that the jail/container did not have /dev/nvidia-uvm (nvidia-modprobe creates it only once nvidia-uvm is
  loaded; nvidia-ctk lists only nodes that exist);
- torch's "Found no NVIDIA driver on your system" (torch/cuda/__init__.py _check_driver / c10 CUDAFunctions.cpp
  warning) while the report says the docker build phase ran it;
- nvidia-smi's "couldn't find libnvidia-ml.so library" and ldconfig run by hand in the container;
- GNU ld 'cannot find -lcuda' from Triton's launcher build in a user's own conda env on a bare host (clean);
- CUDA's "driver version is insufficient" with a driver that runs the image's CUDA and a GPU newer than that CUDA
  (clean; the same code with an old driver or no GPU line keeps its causes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

DAEMON = (
    "Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create "
    "failed: runc create failed: unable to start container process: error during container init: "
)


@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.570.124.04",
        "/usr/lib/x86_64-linux-gnu/libnvidia-glcore.so.550.120",
        "/usr/lib64/libcuda.so.575.51.02",
        "/lib/firmware/nvidia/570.124.04/gsp_tu10x.bin",
    ],
)
def test_runc_fulfil_mount_request_of_old_driver_file_is_stale_cdi(tmp_path: Path, path: str) -> None:
    line = DAEMON + f"failed to fulfil mount request: open {path}: no such file or directory: unknown\n"
    assert _findings(tmp_path, line)[:1] == [("runtime.cdi-spec-stale", "suggests")]


@pytest.mark.parametrize(
    "path",
    [
        "/mnt/media/library",  # a user bind mount whose source is gone
        "/home/me/.cache/huggingface",
    ],
)
def test_runc_fulfil_mount_request_of_other_paths_is_not_stale_cdi(tmp_path: Path, path: str) -> None:
    line = DAEMON + f"failed to fulfil mount request: open {path}: no such file or directory: unknown\n"
    assert "runtime.cdi-spec-stale" not in _causes(tmp_path, line)


@pytest.mark.parametrize(
    "line",
    [
        "Inside the jail I didn't have /dev/nvidia-uvm, although the nvidia_uvm module was loaded.",
        "The LXC container does not have `/dev/nvidia-uvm-tools`, so CUDA finds no device.",
        "After a reboot the app doesn't have /dev/nvidiactl any more.",
    ],
)
def test_report_of_a_missing_nvidia_node(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n")[:1] == [("device.nvidia-node-missing", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "I don't have /dev/nvidia-caps on this host, which is fine without MIG.",
        "The container does not have /dev/nvidia0 permissions for the render group.",
        "You don't have to pass /dev/nvidia-uvm by hand with --gpus all.",
    ],
)
def test_neighbours_of_a_missing_node_report_stay_clean(tmp_path: Path, line: str) -> None:
    assert "device.nvidia-node-missing" not in _causes(tmp_path, line + "\n")


NO_DRIVER = (
    "/opt/conda/lib/python3.10/site-packages/torch/cuda/__init__.py:118: UserWarning: CUDA initialization: Found no "
    "NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from "
    "http://www.nvidia.com/Download/index.aspx (Triggered internally at ../c10/cuda/CUDAFunctions.cpp:108.)"
)


@pytest.mark.parametrize(
    "words",
    [
        "The package fails to install during docker build, where no GPU is configured.",
        "pip install breaks in the docker build phase of our image.",
        "It fails in the image build stage but installs fine in the running container.",
    ],
)
def test_no_driver_during_a_docker_build_told_in_words(tmp_path: Path, words: str) -> None:
    got = _causes(tmp_path, words + "\n" + NO_DRIVER + "\n")
    assert got[:1] == ["runtime.build-without-gpu"]
    assert "device.nvidia-node-missing" not in got


def test_no_driver_at_docker_run_with_gpus_is_not_a_build(tmp_path: Path) -> None:
    text = "$ docker run --gpus all -it myimage:latest python train.py\n" + NO_DRIVER + "\n"
    assert "runtime.build-without-gpu" not in _causes(tmp_path, text)


SMI_NVML = (
    "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display Driver "
    "is properly installed and present in your system.\n"
    "Please also try adding directory that contains libnvidia-ml.so to your system PATH.\n"
)


@pytest.mark.parametrize("prompt", ["root@3f9c2a1b7d4e:/# ldconfig", "user@box:~$ sudo ldconfig", "# ldconfig"])
def test_nvml_missing_until_ldconfig_is_the_ld_cache(tmp_path: Path, prompt: str) -> None:
    text = "root@3f9c2a1b7d4e:/# nvidia-smi\n" + SMI_NVML + prompt + "\nroot@3f9c2a1b7d4e:/# nvidia-smi\n"
    got = _causes(tmp_path, text)
    assert got[:1] == ["nvidia.toolkit-ldconfig-wrong"]
    assert "runtime.nvidia-toolkit-missing" not in got


def test_nvml_missing_without_ldconfig_keeps_the_toolkit_reading(tmp_path: Path) -> None:
    text = "root@3f9c2a1b7d4e:/# nvidia-smi\n" + SMI_NVML + "root@3f9c2a1b7d4e:/# ldconfig -p | grep nvidia\n"
    assert "nvidia.toolkit-ldconfig-wrong" not in _causes(tmp_path, text)


GCC = (
    "subprocess.CalledProcessError: Command '['/usr/bin/gcc', '/tmp/tmpa1b2c3/main.c', '-O3', '-shared', '-fPIC', "
    "'-o', '/tmp/tmpa1b2c3/cuda_utils.cpython-311-x86_64-linux-gnu.so', '-lcuda', "
    "'-L{env}/lib/python3.11/site-packages/triton/backends/nvidia/lib', '-L/lib/x86_64-linux-gnu', "
    "'-I/tmp/tmpa1b2c3']' returned non-zero exit status 1.\n"
)


@pytest.mark.parametrize("env", ["/home/ana/miniconda3/envs/r1", "/home/bob/.venvs/seg"])
def test_lcuda_link_failure_in_a_users_own_env_is_clean(tmp_path: Path, env: str) -> None:
    text = "/usr/bin/ld: cannot find -lcuda: No such file or directory\ncollect2: error: ld returned 1 exit status\n"
    text += GCC.format(env=env)
    assert _causes(tmp_path, text) == []
    assert any("toolchain" in n for n in _notes(tmp_path, text))


def test_lcuda_link_failure_in_a_container_keeps_its_cause(tmp_path: Path) -> None:
    text = "/usr/bin/ld: cannot find -lcuda: No such file or directory\n" + GCC.format(env="/usr/local")
    assert "nvidia.driver-libs-off-library-path" in _causes(tmp_path, text)
    text = "$ docker run --gpus all img\n/usr/bin/ld: cannot find -lcuda\n" + GCC.format(env="/home/u/venv")
    assert "nvidia.driver-libs-off-library-path" in _causes(tmp_path, text)


INSUFFICIENT = "CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version\n"


@pytest.mark.parametrize(
    "context",
    [
        "Driver Version: 580.82.07\nImage: nvidia/cuda:12.4.1-runtime-ubuntu22.04\nGPU compute capability 12.0\n",
        "Driver: 575.64.03\nFROM nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04\ncompute_cap: 10.0\n",
        "nvidia driver version: 535.104.05\nCUDA used to build PyTorch: 11.7\ncompute capability: 9.0 (H100)\n",
    ],
)
def test_insufficient_driver_with_new_driver_and_newer_gpu_is_clean(tmp_path: Path, context: str) -> None:
    text = context + INSUFFICIENT
    assert _causes(tmp_path, text) == []
    assert any("predates the GPU" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "context",
    [
        # the driver's branch is below the runtime's CUDA major: the old driver reading stays
        "Driver Version: 470.199.02\nImage: nvidia/cuda:12.2.2-runtime-ubuntu22.04\nGPU compute capability 12.0\n",
        # the image's CUDA knows the GPU: no reason to doubt the code's readings
        "Driver Version: 580.82.07\nImage: nvidia/cuda:12.8.1-runtime-ubuntu22.04\ncompute capability 12.0\n",
        # no GPU named
        "Driver Version: 580.82.07\nImage: nvidia/cuda:12.2.2-runtime-ubuntu22.04\n",
    ],
)
def test_insufficient_driver_neighbours_keep_a_cause(tmp_path: Path, context: str) -> None:
    assert _causes(tmp_path, context + INSUFFICIENT)
