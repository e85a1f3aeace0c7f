"""Issue 13, heldout41 lessons (glearn41c): an application's CUDA build newer than the host driver, as miners and
engines print it; JAX under Slurm with per-task GPU binding; Ray's socket path limit told in words; KubeRay's init
container rejected at admission (a negative).

Lines are written from the code that prints them (not copied from the heldout41 logs): CUDA's
cudaGetErrorString(cudaErrorInsufficientDriver) in a native Windows build (lc0's CUDA error "(%s:%d)" with MSVC's
__FILE__) and beside modinfo(8) of the host's nvidia module; xmrig's CudaBackend printDisabled(" * %-13s" "disabled"
" (no devices)"); T-Rex's "Can't start miner, ..." start-up errors; JAX's "no supported devices found for platform
CUDA" under #SBATCH/srun --gpus-per-task; Ray's AF_UNIX limit named next to its temp dir; the kubelet's "Allocate
failed due to ..., which is unexpected" naming KubeRay's wait-gcs-ready init container.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

_INSUFFICIENT = "CUDA driver version is insufficient for CUDA runtime version"
_WINDOWS_35 = f"Exception: CUDA error: {_INSUFFICIENT} (C:\\projects\\engine\\src\\cuda\\net.cc:77)\n"


# --- CUDA's 35 where no container is around it -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # lc0 ReportCUDAErrors: "CUDA error: " + cudaGetErrorString(status) + " (" + __FILE__ + ":" + __LINE__ + ")",
        # built by MSVC (a drive-letter __FILE__)
        f"D:\\a\\lc0\\src\\utils\\exception.h:39] Exception: CUDA error: {_INSUFFICIENT} "
        "(D:\\a\\lc0\\src\\neural\\cuda\\network_cuda.cc:150)\n",
        # a CUDA sample / a checkCudaErrors-style macro in a Windows build, path before the text
        f"C:\\Users\\dev\\source\\repos\\kernel\\main.cu(42): CUDA error: {_INSUFFICIENT}\n",
    ],
    ids=["lc0-exception-windows-file", "msvc-path-first"],
)
def test_insufficient_driver_in_a_native_windows_build_is_the_driver(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == ("cuda.driver-too-old", "suggests")
    assert "device.nvidia-node-missing" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # modinfo(8)'s field as `modinfo nvidia` prints it ("%-16s%s": "version:" then the value)
        f"CUDA error '{_INSUFFICIENT}' at line 88\n$ modinfo nvidia | grep ^version\nversion:        410.78\n",
        # the command named, its output on another line
        f"Error: {_INSUFFICIENT}\nI checked the module with `modinfo -F version nvidia`, it says\n396.54\n",
    ],
    ids=["modinfo-version-field", "modinfo-F-version-command"],
)
def test_insufficient_driver_beside_the_hosts_module_is_the_driver(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == ("cuda.driver-too-old", "suggests")


@pytest.mark.parametrize(
    "text",
    [
        # a Linux build: the bare error keeps its container reading
        f"Exception: CUDA error: {_INSUFFICIENT} (/opt/lc0/src/neural/cuda/network_cudnn.cc:202)\n",
        # the host's module shown, but the job runs in a container started without a GPU
        f"$ modinfo nvidia | grep ^version\nversion:        535.104.05\n$ docker run --rm myimage python -c 'import "
        f"torch; torch.zeros(1).cuda()'\nRuntimeError: CUDA error: {_INSUFFICIENT}\n",
        # another module's modinfo
        f"$ modinfo nvidia_uvm\nRuntimeError: CUDA error: {_INSUFFICIENT}\n",
    ],
    ids=["linux-path", "modinfo-then-docker-run", "modinfo-other-module"],
)
def test_insufficient_driver_without_host_evidence_is_not_read_as_too_old(tmp_path: Path, text: str) -> None:
    # the host evidence taught here names the driver (each test fails without this change) ...
    assert findings(tmp_path, _WINDOWS_35)[0] == ("cuda.driver-too-old", "suggests")
    # ... and its neighbours keep the container readings
    got = causes(tmp_path, text)
    assert got and got[0] != "cuda.driver-too-old"


def test_windows_path_without_the_cuda_error_stays_clean(tmp_path: Path) -> None:
    assert findings(tmp_path, _WINDOWS_35)[0] == ("cuda.driver-too-old", "suggests")
    text = "D:\\a\\lc0\\src\\utils\\exception.h:39] Exception: Unable to open weights file (D:\\a\\lc0\\src\\main.cc:50)\n"
    assert causes(tmp_path, text) == []


# --- miners' "no CUDA" start-up lines beside a driver number -----------------------------------------------------

_XMRIG = " * CUDA         disabled (no devices)\n"
_SMI = "| NVIDIA-SMI 391.35       Driver Version: 391.35       CUDA Version: 9.1      |\n"


@pytest.mark.parametrize(
    "text",
    [
        # xmrig CudaBackendPrivate::init: printDisabled(kLabel, " (no devices)"), label "%-13s"
        " * CUDA         disabled (no devices)\nMy driver version is 418.56 on Ubuntu.\n",
        "[2021-01-02 03:04:05.678]  * CUDA         disabled (no devices)\n" + _SMI,
        # T-Rex's two start-up failures
        "20210212 23:00:32 ERROR: Can't start miner, CUDA initialize error, memory dump: eyJhIjoiQUJDIn0=\n"
        "Nvidia driver: 391.35\n",
        "ERROR: Can't start miner, unable to get number of CUDA devices, is nvidia driver installed?\n" + _SMI,
        "Can't start miner, CUDA initialize error\n$ modinfo nvidia\nversion:        384.130\n",
    ],
    ids=["xmrig-stated-driver", "xmrig-smi-banner", "trex-init-stated-driver", "trex-count-smi", "trex-modinfo"],
)
def test_miner_no_cuda_beside_a_driver_number_is_the_driver(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == ("cuda.driver-too-old", "suggests")


@pytest.mark.parametrize(
    "text",
    [
        # no driver number: a box without a GPU or driver prints the same
        " * CUDA         disabled (no devices)\n",
        "ERROR: Can't start miner, unable to get number of CUDA devices, is nvidia driver installed?\n",
        "20210212 23:00:32 ERROR: Can't start miner, CUDA initialize error, memory dump: eyJhIjoiQUJDIn0=\n",
        # CUDA switched off in the config (printDisabled with an empty reason), with a driver number
        " * CUDA         disabled\nMy driver version is 418.56.\n",
        # in a container the host's driver number says nothing about the miner's container (no GPU given to it?)
        "$ docker run -d --name xmrig metal3d/xmrig\n * CUDA         disabled (no devices)\n" + _SMI,
        "services:\n  miner:\n    image: trexminer/t-rex\n"
        "ERROR: Can't start miner, unable to get number of CUDA devices, is nvidia driver installed?\n"
        "My driver version is 418.56 on the host.\n",
    ],
    ids=["xmrig-alone", "trex-count-alone", "trex-init-alone", "xmrig-cuda-off", "docker-run-smi", "compose-stated"],
)
def test_miner_no_cuda_without_a_driver_number_stays_clean(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, _XMRIG + "Nvidia driver: 418.56\n")[0] == ("cuda.driver-too-old", "suggests")
    assert "cuda.driver-too-old" not in causes(tmp_path, text)


# --- JAX under Slurm with per-task GPU binding -------------------------------------------------------------------

_JAX_NO_DEV = (
    "RuntimeError: Unable to initialize backend 'cuda': INTERNAL: no supported devices found for platform CUDA "
    "(you may need to uninstall the failing plugin package, or set JAX_PLATFORMS=cpu to skip this backend.)\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "#!/bin/bash\n#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=8\n#SBATCH --gpus-per-task=1\nsrun python train.py\n"
        + _JAX_NO_DEV,
        "srun -N1 -n4 --gpu-bind=single:1 python -c 'import jax; jax.distributed.initialize()'\n"
        "jaxlib.xla_extension.XlaRuntimeError: INTERNAL: no supported devices found for platform CUDA\n",
    ],
    ids=["sbatch-gpus-per-task", "srun-gpu-bind"],
)
def test_jax_no_devices_with_per_task_binding_is_the_binding(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == ("slurm.gpu-bind-isolates-ranks", "suggests")


def test_jax_no_devices_with_gpus_per_node_stays_clean(tmp_path: Path) -> None:
    bound = "#SBATCH --ntasks-per-node=4\n#SBATCH --gpus-per-task=1\nsrun python train.py\n" + _JAX_NO_DEV
    assert findings(tmp_path, bound)[0] == ("slurm.gpu-bind-isolates-ranks", "suggests")
    text = "#SBATCH --ntasks-per-node=4\n#SBATCH --gpus-per-node=4\nsrun python train.py\n" + _JAX_NO_DEV
    assert "slurm.gpu-bind-isolates-ranks" not in causes(tmp_path, text)


# --- Ray's socket path limit in words ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ray.init(_temp_dir='/scratch/group/projects/experiment-2024/ray') dies because the unix socket path is too "
        "long\n",
        "With ray start --head --temp-dir=/gpfs/home/user/a/very/deep/dir the raylet aborts: the socket path length "
        "exceeds what AF_UNIX allows\n",
        "Setting RAY_TMPDIR to the job's scratch directory hits the AF_UNIX socket length limit\n",
    ],
    ids=["ray-init-temp-dir", "ray-start-temp-dir", "ray-tmpdir"],
)
def test_ray_temp_dir_and_the_socket_limit_in_words(tmp_path: Path, text: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == ("ray.socket-path-too-long", "suggests")


@pytest.mark.parametrize(
    "text",
    [
        "The docker socket path is too long on this CI runner, so buildx fails.\n",
        "ray.init() works fine here; the temp dir is /tmp/ray.\n",
    ],
    ids=["other-program-socket", "ray-without-socket-words"],
)
def test_socket_words_without_ray_stay_clean(tmp_path: Path, text: str) -> None:
    ray = "ray.init(_temp_dir='/scratch/a/b/c/d') aborts: the socket path is too long\n"
    assert findings(tmp_path, ray)[0] == ("ray.socket-path-too-long", "suggests")
    assert "ray.socket-path-too-long" not in causes(tmp_path, text)


# --- KubeRay's init container rejected at admission (a negative) -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # pod status message, one line
        "status:\n  message: Pod Allocate failed due to pod 1c2f container wait-gcs-ready unable to find GPU device "
        "allocation by scheduler, which is unexpected\n  phase: Failed\n  reason: UnexpectedAdmissionError\n",
        # kubectl's YAML folding the message after "container"
        "  message: Pod Allocate failed due to pod 1c2f container\n    wait-gcs-ready unable to find GPU device "
        "allocation by scheduler, which is unexpected\n  reason: UnexpectedAdmissionError\n",
    ],
    ids=["one-line", "folded"],
)
def test_kuberay_init_container_admission_is_not_a_gpu_shortage(tmp_path: Path, text: str) -> None:
    assert "k8s.gpu-resource-unavailable" not in causes(tmp_path, text)
    assert any("wait-gcs-ready" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # the Ray container itself rejected
        "  message: Pod Allocate failed due to pod 1c2f container ray-worker unable to find GPU device allocation "
        "by scheduler, which is unexpected\n  reason: UnexpectedAdmissionError\n",
        # the init container only started (a healthy event) beside a real rejection
        "  Normal   Started                   12s  kubelet  Started container wait-gcs-ready\n"
        "  Warning  UnexpectedAdmissionError  5s   kubelet  Allocate failed due to requested number of devices "
        "unavailable for nvidia.com/gpu. Requested: 1, Available: 0, which is unexpected\n",
    ],
    ids=["ray-container", "init-container-started"],
)
def test_other_admission_failures_keep_the_gpu_reading(tmp_path: Path, text: str) -> None:
    init = (
        "  message: Pod Allocate failed due to pod 1c2f container wait-gcs-ready unable to find GPU device allocation "
        "by scheduler, which is unexpected\n  reason: UnexpectedAdmissionError\n"
    )
    assert "k8s.gpu-resource-unavailable" not in causes(tmp_path, init)
    assert "k8s.gpu-resource-unavailable" in causes(tmp_path, text)
