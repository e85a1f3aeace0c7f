"""Issue 13, heldout28 lessons (glearn28b): WSL2 / Docker Desktop and Jetson (L4T).

Lines are written from the code that prints them (not copied from the heldout28 logs):
- CUDA error 46 (cudaErrorDevicesUnavailable, both cudaGetErrorString wordings) under WSL2 (kernel
  "<ver>-microsoft-standard[-WSL2]", a Windows computer name in the prompt): WSL has no compute modes, so it is not
  nvidia.compute-mode-exclusive;
- the NGC entrypoint banner "WARNING: The NVIDIA Driver was not detected." (nvidia_entrypoint.sh tested only
  /dev/nvidiactl, absent under WSL2) after `docker run --gpus` that the hook let start: cosmetic;
- libnvidia-container under WSL2: "driver error: failed to process request" (<= 1.5), "driver rpc error: failed to
  process request" (1.6+), nvc.c "dxcore initialization failed, continuing assuming a non-WSL environment": the
  Windows side gives WSL no GPU (device.dxg-missing), not a missing toolkit;
- Jetson: an L4T image (l4t_version_from_tag "r35.2.1") newer than the host's L4T (/etc/nv_tegra_release "# R32
  (release), REVISION: 7.1", dpkg nvidia-l4t-core, jetson-containers L4T_VERSION, JetPack N.M) with CUDA failing at
  start-up: cuda.driver-too-old; a csv-mounted driver file colliding ("file exists") on Jetson: the image's release;
- an image of another CPU architecture (moby's platform warning, Podman's, exec format error) before the NVIDIA hook's
  failure: not runtime.nvidia-toolkit-missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

# --- CUDA error 46 under WSL2 -------------------------------------------------------------------------------------
CUDA46_SAMPLE = 'CUDA error at simpleP2P.cu:102 code=46(cudaErrorDevicesUnavailable) "cudaMalloc(&d_a, bytes)"'
CUDA46_TORCH = "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable"
CUDA46_OLD = "cudaGetDeviceCount returned 46\n-> all CUDA-capable devices are busy or unavailable"


@pytest.mark.parametrize(
    ("where", "error"),
    [
        # the WSL2 kernel since 5.10.16.3 (uname -r / collect_env)
        ("Linux version 5.15.133.1-microsoft-standard-WSL2 (root@1c602f52c2e4) (gcc (GCC) 11.2.0) #1 SMP", CUDA46_SAMPLE),
        # the WSL2 kernels before it: "-microsoft-standard" alone
        ("Linux DESKTOP 4.19.104-microsoft-standard #1 SMP Wed Feb 19 06:37:35 UTC 2020 x86_64 GNU/Linux", CUDA46_TORCH),
        # the Windows computer name in the WSL prompt
        ("ana@DESKTOP-Q7K2M1P:~/cuda-samples/bin$ ./deviceQuery", CUDA46_OLD),
        ("I run this under WSL2 with the Windows 11 driver.", CUDA46_TORCH),
    ],
)
def test_cuda_46_under_wsl_is_no_compute_mode(tmp_path: Path, where: str, error: str) -> None:
    text = where + "\n" + error + "\n"
    assert "nvidia.compute-mode-exclusive" not in _causes(tmp_path, text)
    assert any("no compute modes" in n for n in _notes(tmp_path, text))


def test_cuda_46_on_linux_still_names_the_compute_mode(tmp_path: Path) -> None:
    # a native host (an Azure VM kernel is not WSL): the compute mode stays the first reading
    native = "Linux gpu-node-3 5.15.0-1034-azure #41-Ubuntu SMP x86_64 GNU/Linux\n" + CUDA46_TORCH + "\n"
    assert _causes(tmp_path, native)[:1] == ["nvidia.compute-mode-exclusive"]
    wsl = "Linux version 5.10.102.1-microsoft-standard-WSL2\n" + CUDA46_TORCH + "\n"
    assert "nvidia.compute-mode-exclusive" not in _causes(tmp_path, wsl)


# --- the NGC banner after docker run --gpus ------------------------------------------------------------------------
BANNER_2019 = (
    "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
    "   Use 'nvidia-docker run' to start this container; see\n"
    "   https://github.com/NVIDIA/nvidia-docker/wiki/nvidia-docker .\n"
)
BANNER_2020 = (
    "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
    "   Use Docker with NVIDIA Container Toolkit to start this container; see\n"
    "   https://github.com/NVIDIA/nvidia-docker.\n"
)
BANNER_2021 = (
    "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.\n"
    "   Use the NVIDIA Container Toolkit to start this container with GPU support; see\n"
    "   https://docs.nvidia.com/datacenter/cloud-native/ .\n"
)


@pytest.mark.parametrize("banner", [BANNER_2019, BANNER_2020, BANNER_2021])
@pytest.mark.parametrize(
    "command",
    [
        "$ docker run --gpus all -it --rm nvcr.io/nvidia/pytorch:20.12-py3 nvidia-smi",
        "PS C:\\> docker run --rm --gpus=all nvcr.io/nvidia/tensorflow:21.03-tf2-py3 python -c 'import tensorflow'",
        'docker run --gpus "device=0" --rm nvcr.io/nvidia/tritonserver:21.02-py3 tritonserver --model-repository=/models',
    ],
)
def test_ngc_banner_after_gpus_flag_is_cosmetic(tmp_path: Path, banner: str, command: str) -> None:
    text = command + "\n\n=============\n== PyTorch ==\n=============\n\n" + banner
    assert _causes(tmp_path, text) == []
    assert any("cosmetic" in n for n in _notes(tmp_path, text))


# which of the two is first is the dev data's call (glearn38a: both dev logs with the banner and no GPU request were
# resolved by the toolkit + --gpus); what this test holds is that the banner is then a cause, not cosmetic
NO_GPU_IN_CONTAINER = ("runtime.nvidia-toolkit-missing", "device.nvidia-node-missing")


def test_ngc_banner_without_a_gpu_request_still_names_it(tmp_path: Path) -> None:
    no_request = "$ docker run -it --rm nvcr.io/nvidia/pytorch:20.12-py3\n" + BANNER_2021
    assert _causes(tmp_path, no_request)[:1] == [NO_GPU_IN_CONTAINER[0]]
    # Podman before 5 accepted --gpus and ignored it: only docker's --gpus shows the hook ran
    podman = "$ podman run --gpus all -it --rm nvcr.io/nvidia/pytorch:20.12-py3\n" + BANNER_2021
    assert _causes(tmp_path, podman)[:1] == [NO_GPU_IN_CONTAINER[0]]
    docker = "$ docker run --gpus all -it --rm nvcr.io/nvidia/pytorch:20.12-py3\n" + BANNER_2021
    assert _causes(tmp_path, docker) == []


# --- the NVIDIA hook under WSL2 ------------------------------------------------------------------------------------
HOOK = (
    "docker: Error response from daemon: OCI runtime create failed: container_linux.go:380: starting container process "
    "caused: process_linux.go:545: container init caused: Running hook #0:: error running hook: exit status 1, stdout: , "
    "stderr: nvidia-container-cli: initialization error: {err}: unknown."
)
RPC_OLD = HOOK.format(err="driver error: failed to process request")
RPC_NEW = HOOK.format(err="driver rpc error: failed to process request")
DXCORE = "I0302 09:14:11.201934 812 nvc.c:415] dxcore initialization failed, continuing assuming a non-WSL environment"


@pytest.mark.parametrize(
    "text",
    [
        "root@DESKTOP-5K3JQ7W:~# docker run --rm --gpus all nvidia/cuda:11.0-base nvidia-smi\n" + RPC_OLD,
        "Kernel: 5.10.43.3-microsoft-standard-WSL2\n$ docker run --rm --gpus all nvidia/cuda:12.2.0-base-ubuntu22.04 nvidia-smi\n" + RPC_NEW,
        "I followed https://docs.docker.com/desktop/features/wsl/ and then\n" + RPC_NEW,
        "I am running Docker Desktop with WSL2 backend.\n" + DXCORE + "\n" + RPC_OLD,
        "nvidia-container-cli does not work on WSL2 because dxcore initialization failed.",
    ],
)
def test_wsl_hook_driver_failure_is_dxg(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text + "\n")
    assert got[:1] == ["device.dxg-missing"]
    assert "runtime.nvidia-toolkit-missing" not in got


def test_hook_driver_failure_off_wsl_stays_the_toolkit(tmp_path: Path) -> None:
    native = "user@gpu-box:~$ docker run --rm --gpus all nvidia/cuda:11.0-base nvidia-smi\n" + RPC_OLD + "\n"
    assert _causes(tmp_path, native)[:1] == ["runtime.nvidia-toolkit-missing"]
    # every native debug log prints the dxcore line: no WSL, no reading
    healthy = (
        "I0302 09:14:11.201870 812 nvc.c:413] attempting to load dxcore to see if we are running under Windows Subsystem for Linux (WSL)\n"
        + DXCORE
        + "\nI0302 09:14:11.204003 813 rpc.c:71] starting driver rpc service\n"
    )
    assert _causes(tmp_path, healthy) == []
    wsl = "root@DESKTOP-5K3JQ7W:~# docker run --rm --gpus all nvidia/cuda:11.0-base nvidia-smi\n" + RPC_OLD + "\n"
    assert _causes(tmp_path, wsl)[:1] == ["device.dxg-missing"]


# --- Jetson: an L4T image newer than the host's L4T ------------------------------------------------------------------
INIT_3 = "cudaGetDeviceCount returned 3\n-> initialization error\nResult = FAIL"
INIT_35 = "cudaGetDeviceCount returned 35\n-> CUDA driver version is insufficient for CUDA runtime version\nResult = FAIL"


@pytest.mark.parametrize(
    ("host", "image", "error"),
    [
        # /etc/nv_tegra_release (jetson-containers get_l4t_version's source)
        ("# R32 (release), REVISION: 7.1, GCID: 29689809, BOARD: t186ref, EABI: aarch64, DATE: Wed Feb  2 21:33:23 UTC 2022",
         "sudo docker run --runtime nvidia -it --rm dustynv/l4t-pytorch:r35.2.1", INIT_35),
        # dpkg's L4T core package
        ("ii  nvidia-l4t-core  32.6.1-20210726122859  arm64  NVIDIA Core Package",
         "docker run -it --rm --runtime nvidia nvcr.io/nvidia/l4t-ml:r34.1.1-py3 bash", INIT_3),
        # jetson-containers' environment line
        ("-- L4T_VERSION=32.7.1  JETPACK_VERSION=4.6.1  CUDA_VERSION=10.2",
         "docker run --runtime nvidia -it dustynv/ros:humble-ros-base-l4t-r35.2.1", INIT_3),
        # JetPack named for the host
        ("My Xavier NX has JetPack 4.6 installed.",
         "docker run --runtime nvidia -it nvcr.io/nvidia/l4t-jetpack:r36.2.0", INIT_35),
        # the words: the host "with version r32.6"
        ("Jetson NX with version r32.6",
         "docker run --rm -it --gpus all nvcr.io/nvidia/l4t-base:r34.1", INIT_3),
    ],
)
def test_l4t_image_newer_than_host_is_driver_too_old(tmp_path: Path, host: str, image: str, error: str) -> None:
    text = host + "\n" + image + "\n" + error + "\n"
    assert _causes(tmp_path, text)[:1] == ["cuda.driver-too-old"]


def test_l4t_image_of_the_host_release_or_older_is_not_driver_too_old(tmp_path: Path) -> None:
    newer = "# R32 (release), REVISION: 6.1, GCID: 26856094\ndocker run --runtime nvidia -it nvcr.io/nvidia/l4t-ml:r35.2.1-py3\n" + INIT_3 + "\n"
    assert _causes(tmp_path, newer)[:1] == ["cuda.driver-too-old"]
    same = "# R35 (release), REVISION: 3.1, GCID: 32790763\ndocker run --runtime nvidia -it nvcr.io/nvidia/l4t-ml:r35.2.1-py3\n" + INIT_3 + "\n"
    assert "cuda.driver-too-old" not in _causes(tmp_path, same)
    older = "# R35 (release), REVISION: 3.1, GCID: 32790763\ndocker run --runtime nvidia -it nvcr.io/nvidia/l4t-base:r32.7.1\n" + INIT_3 + "\n"
    assert "cuda.driver-too-old" not in _causes(tmp_path, older)


# --- Jetson: a csv-mounted driver file the image carries -------------------------------------------------------------
EXISTS = (
    "nvidia-container-cli: mount error: file creation failed: /var/lib/docker/overlay2/9c1e/merged/usr/lib/"
    "{lib}: file exists: unknown."
)


@pytest.mark.parametrize(
    "where",
    ["It works on Jetpack 4.4.1 but not on the Jetson Nano with Jetpack 4.5", "Board: NVIDIA Jetson AGX Xavier (JetPack 4.5)"],
)
def test_jetson_csv_file_exists_is_not_the_driver_mismatch(tmp_path: Path, where: str) -> None:
    jetson = where + "\n" + EXISTS.format(lib="aarch64-linux-gnu/tegra/libnvidia-fatbinaryloader.so.32.5.0") + "\n"
    assert "nvidia.driver-library-mismatch" not in _causes(tmp_path, jetson)
    x86 = EXISTS.format(lib="x86_64-linux-gnu/libnvidia-ml.so.1") + "\n"
    assert _causes(tmp_path, x86)[:1] == ["nvidia.driver-library-mismatch"]


# --- an image of another CPU architecture before the NVIDIA hook's failure --------------------------------------------
@pytest.mark.parametrize(
    "warning",
    [
        "WARNING: The requested image's platform (linux/amd64) does not match the detected host platform (linux/arm64/v8) and no specific platform was requested",
        "WARN[0000] image platform (linux/amd64) does not match the expected platform (linux/arm64)",
        "standard_init_linux.go:228: exec user process caused: exec format error",
    ],
)
def test_foreign_arch_image_is_not_the_toolkit(tmp_path: Path, warning: str) -> None:
    text = "sudo docker run -it --runtime nvidia devicequery\n" + warning + "\n" + RPC_OLD + "\n"
    assert "runtime.nvidia-toolkit-missing" not in _causes(tmp_path, text)
    alone = "sudo docker run -it --runtime nvidia devicequery\n" + RPC_OLD + "\n"
    assert _causes(tmp_path, alone)[:1] == ["runtime.nvidia-toolkit-missing"]
