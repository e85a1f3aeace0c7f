"""Issue 13, gnew27: cause ids for container/host causes heldout25/heldout26's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- nvidia.compute-mode-exclusive: CUDA's cudaErrorDevicesUnavailable / CUDA_ERROR_DEVICE_UNAVAILABLE (46) in each
  wording (CUDA 11+ 'CUDA-capable device(s) is/are busy or unavailable', CUDA <= 10 'all CUDA-capable devices are
  busy or unavailable', the names) as torch, NCCL's CUDACHECK and glog print them; the compute mode as nvidia-smi's
  table ('E. Process', 'Prohibited'), `nvidia-smi -q` ('Compute Mode : Exclusive_Process'), cuda-samples' deviceQuery
  and gpuDeviceInit, and the `nvidia-smi -c` command show it. MPS in the log keeps nvidia.mps-not-shared.
- nvidia.driver-gpu-unsupported: the NVIDIA kernel module's NVRM lines (open-gpu-kernel-modules osapi.c
  print_unsupported, the open module's GSP check, nv-pci.c's legacy GPU), one per dmesg line or pasted joined.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from tpdoctor.explain.signatures import knowledge_base

_CME = "nvidia.compute-mode-exclusive"
_MPS = "nvidia.mps-not-shared"
_DGU = "nvidia.driver-gpu-unsupported"

_BUSY = [
    # torch C10_CUDA_CHECK, CUDA 11+
    "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n",
    # NCCL CUDACHECK with cudaGetErrorString
    "node3:41022:41022 [1] misc/strongstream.cc:53 NCCL WARN Cuda failure 'CUDA-capable device(s) is/are busy or "
    "unavailable'\n",
    # caffe/glog CHECK_EQ with CUDA <= 10's wording
    "F1204 11:02:33.118203  3110 common.cpp:152] Check failed: error == cudaSuccess (46 vs. 0)  all CUDA-capable "
    "devices are busy or unavailable\n",
    # the names
    "cudaSetDevice(1) failed: cudaErrorDevicesUnavailable\n",
    "pycuda._driver.LogicError: cuCtxCreate failed: CUDA_ERROR_DEVICE_UNAVAILABLE\n",
]

_MODE = [
    # nvidia-smi table, pre-525 and 525+ layouts
    "| N/A   34C    P0    43W / 300W |      0MiB / 32510MiB |      0%   E. Process |\n",
    "| N/A   30C    P0             69W /  700W |       4MiB /  81559MiB |      0%   E. Process |\n",
    "| 23%   30C    P8     9W / 250W |      1MiB / 11264MiB |      0%   Prohibited |\n",
    # nvidia-smi -q
    "    Compute Mode                          : Exclusive_Process\n",
    # cuda-samples deviceQuery
    "     < Exclusive Process (many threads in one process is able to use ::cudaSetDevice() with this device) >\n",
    # the command that sets it (what the k8s device plugin's MPS daemon runs, and admins' scripts)
    "+ nvidia-smi -i 2 -c EXCLUSIVE_PROCESS\n",
    "sudo nvidia-smi --compute-mode=3\n",
]


@pytest.mark.parametrize("line", _BUSY)
def test_error_46_alone_names_compute_mode_first_mps_beside(tmp_path: Path, line: str) -> None:
    got = _findings(tmp_path, line)
    assert got and got[0] == (_CME, "suggests"), got


@pytest.mark.parametrize("mode", _MODE)
def test_mode_shown_with_busy_gpu_names_compute_mode(tmp_path: Path, mode: str) -> None:
    text = mode + "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n"
    assert _causes(tmp_path, text)[:1] == [_CME]


@pytest.mark.parametrize("mode", _MODE)
def test_mode_alone_names_nothing(tmp_path: Path, mode: str) -> None:
    # a node may run in EXCLUSIVE_PROCESS mode on purpose; without a refused GPU that is no failure
    assert knowledge_base().signature("nvidia.compute-mode-not-default")
    assert _CME not in _all(tmp_path, mode)


def test_prohibited_gpu_device_init(tmp_path: Path) -> None:
    # cuda-samples Common/helper_cuda.h gpuDeviceInit
    text = "Error: device is running in <Compute Mode Prohibited>, no threads can use cudaSetDevice().\n"
    assert _causes(tmp_path, text)[:1] == [_CME]


@pytest.mark.parametrize(
    "mps",
    [
        "|    0   N/A  N/A     20311    M+C   nvidia-cuda-mps-server                        30MiB |\n",
        "export CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps\n",
        "RuntimeError: CUDA error: MPS client failed to connect to the MPS control daemon or the MPS server\n",
    ],
)
def test_mps_in_log_keeps_mps_not_compute_mode(tmp_path: Path, mps: str) -> None:
    text = mps + _MODE[0] + "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n"
    got = _causes(tmp_path, text)
    assert got[:1] == [_MPS], got
    assert _CME not in got


@pytest.mark.parametrize(
    "line",
    [
        # the Default mode in each form
        "| N/A   34C    P0    43W / 300W |      0MiB / 32510MiB |      0%      Default |\n",
        "    Compute Mode                          : Default\n",
        "sudo nvidia-smi -c DEFAULT\n",
        # other 'busy' texts are not CUDA's 46
        "OSError: [Errno 16] Device or resource busy: '/dev/nvidia0'\n",
        "ERROR: all devices are busy, please retry later\n",
        # 'Prohibited' elsewhere
        "HTTP/1.1 403 Prohibited\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    kb = knowledge_base()
    assert kb.signature("nvidia.compute-mode-not-default") and kb.signature("cuda.devices-unavailable")
    assert _CME not in _all(tmp_path, line + "RuntimeError: CUDA error: out of memory\n")


_NVRM_RELEASE = (
    "[    6.204117] NVRM: The NVIDIA GPU 0000:18:00.0 (PCI ID: 10de:2330)\n"
    "[    6.204118] NVRM: installed in this system is not supported by the\n"
    "[    6.204120] NVRM: NVIDIA 515.65.01 driver release.\n"
    "[    6.204121] NVRM: Please see 'Appendix A - Supported NVIDIA GPU Products'\n"
    "[    6.204123] NVRM: in this release's README, available on the operating system\n"
    "[    6.204125] NVRM: specific graphics driver download page at www.nvidia.com.\n"
)
_NVRM_OPEN = (
    "Dec 04 09:12:01 node7 kernel: NVRM: The NVIDIA GPU 0000:00:1e.0 (PCI ID: 10de:1db1)\n"
    "Dec 04 09:12:01 node7 kernel: NVRM: installed in this system is not supported by open\n"
    "Dec 04 09:12:01 node7 kernel: NVRM: nvidia.ko because it does not include the required GPU\n"
    "Dec 04 09:12:01 node7 kernel: NVRM: System Processor (GSP).\n"
)
_NVRM_VGPU_HOST = (
    "NVRM: The NVIDIA GPU 0000:3b:00.0 (PCI ID: 10de:1eb8)\n"
    "NVRM: installed in this vGPU host system is not supported by\n"
    "NVRM: open nvidia.ko.\n"
)
_NVRM_LEGACY = "[    4.310872] NVRM: ignoring the legacy GPU 0000:00:1e.0\n[    4.311020] NVRM: No NVIDIA GPU found.\n"


@pytest.mark.parametrize(
    "text",
    [
        _NVRM_RELEASE,
        # pasted joined into one line
        "NVRM: The NVIDIA GPU 0000:18:00.0 (PCI ID: 10de:2330) NVRM: installed in this system is not supported by the "
        "NVRM: NVIDIA 470.82.01 driver release.\n",
        _NVRM_OPEN,
        "NVRM: The NVIDIA GPU 0000:00:1e.0 (PCI ID: 10de:1db1) NVRM: installed in this system is not supported by open "
        "NVRM: nvidia.ko because it does not include the required GPU NVRM: System Processor (GSP).\n",
        _NVRM_VGPU_HOST,
        _NVRM_LEGACY,
        "NVRM: The NVIDIA Tesla K80 GPU installed in this system is\nNVRM:  supported through the NVIDIA 470.xx Legacy "
        "drivers. Please\n",
    ],
    ids=["release", "release-joined", "open-gsp", "open-gsp-joined", "open-vgpu-host", "legacy-ignored", "legacy-branch"],
)
def test_nvrm_gpu_unsupported_forms(tmp_path: Path, text: str) -> None:
    text += "Failed to initialize NVML: Driver Not Loaded\n"
    assert _DGU in _causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # a GPU that fell off the bus: same opening, other cause
        "NVRM: The NVIDIA GPU 0000:18:00.0\nNVRM: (PCI ID: 10de:2330) installed in this system has\n"
        "NVRM: fallen off the bus and is not responding to commands.\n",
        # NVIDIA's own ignore of a non-NVIDIA-driven VF, and the loaded driver's version line
        "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n",
        "NVRM: Ignoring probe for VF 0000:3b:00.4\n",
        # nvidia-smi's 'No devices were found' alone has other causes
        "No devices were found\n",
        # unrelated 'not supported by the' text
        "small BAR configurations are not supported by the runtime\n",
    ],
)
def test_nvrm_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    kb = knowledge_base()
    assert kb.signature("nvrm.gpu-not-supported-by-release") and kb.signature("nvrm.legacy-gpu-ignored")
    assert _DGU not in _all(tmp_path, text)


_CGD = "runtime.cgroup-driver-mismatch"
# runc specconv CreateCgroupConfig: fmt.Errorf("expected cgroupsPath to be of format \"slice:prefix:name\" for systemd
# cgroups, got %q instead", path), wrapped by containerd's shim ("OCI runtime create failed: ...: unknown")
_RUNC_FMT = 'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "{path}" instead'


@pytest.mark.parametrize(
    "text",
    [
        "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        + _RUNC_FMT.format(path="/kubepods/burstable/pod5e1c/9d8e7f")
        + ": unknown\n",
        # logrus JSON-escaped, as containerd's journal prints it
        'time="2026-12-04T10:01:02Z" level=error msg="RunPodSandbox failed" error="failed to create shim task: OCI '
        'runtime create failed: expected cgroupsPath to be of format \\"slice:prefix:name\\" for systemd cgroups, got '
        '\\"/kubepods/besteffort/pod1/abc\\" instead: unknown"\n',
        # runc before 2019 (no ', got ...')
        'container_linux.go:247: starting container process caused "expected cgroupsPath to be of format '
        '\\"slice:prefix:name\\" for systemd cgroups"\n',
    ],
    ids=["shim", "logrus-escaped", "old-runc"],
)
def test_runc_systemd_driver_given_cgroupfs_path(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == [_CGD]


@pytest.mark.parametrize(
    "text",
    [
        "SystemdCgroup = true\n",
        "  cgroupDriver: systemd\n",
        # crun's own path errors are other faults
        "Error: OCI runtime error: crun: invalid cgroup path `../x`: `..` components are not allowed\n",
        "OCI runtime create failed: runc create failed: unable to start container process: error during container "
        "init: error mounting \"proc\" to rootfs at \"/proc\": unknown\n",
    ],
)
def test_cgroup_driver_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert knowledge_base().signature("runc.cgroupspath-not-systemd-format")
    assert _CGD not in _all(tmp_path, text)


_SGB = "slurm.gpu-bind-isolates-ranks"


@pytest.mark.parametrize(
    "text",
    [
        # slurm 21.08+ gres.c _get_usable_gres
        "slurmstepd: error: Bind request single:1 does not specify any devices within the allocation for task 3. "
        "Binding to the first device in the allocation instead.\n",
        # slurm 20.02-21.08 gres_common.c: the request twice, no task number
        "slurmstepd-dgx04: error: Bind request map_gpu:4,5 (map_gpu:4,5) does not specify any devices within the "
        "allocation. Binding to the first device in the allocation instead.\n",
        # per-task binding beside a failed CUDA IPC open between ranks of one node
        "srun --ntasks-per-node=4 --gpus-per-task=1 --gpu-bind=single:1 ./picongpu -d 2 2 1\n"
        "E1204 10:11:12.000000 4242 shm.cc:88] failed to open CUDA IPC handle: invalid device context\n",
    ],
    ids=["gres-c", "gres-common-c", "per-task-ipc"],
)
def test_slurm_gpu_binding(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == [_SGB]


@pytest.mark.parametrize(
    "text",
    [
        # per-task binding alone is a normal way to run
        "srun --ntasks-per-node=4 --gpus-per-task=1 python train.py\n",
        # another Slurm GRES error
        "srun: error: Unable to create step for job 4242: Invalid generic resource (gres) specification\n",
        # a CUDA IPC failure without per-task binding stays where it was
        "E1204 10:11:12.000000 4242 shm.cc:88] failed to open CUDA IPC handle: invalid device context\n",
    ],
)
def test_slurm_binding_neighbours(tmp_path: Path, text: str) -> None:
    assert knowledge_base().signature("slurm.gpu-bind-no-device-in-allocation")
    assert _SGB not in _all(tmp_path, text)


@pytest.mark.parametrize(
    "line",
    [
        "nvidia-smi dmon -c 1\n",  # -c is dmon's sample count
        "nvidia-smi pmon -i 0 -c 3\n",
        "| N/A   34C    P0    43W / 300W |      0MiB / 32510MiB |      0%      Default |\n",
    ],
)
def test_compute_mode_record_skips_other_uses_of_c(line: str) -> None:
    sig = knowledge_base().signature("nvidia.compute-mode-not-default")
    assert not sig.regex.search(line)
    assert sig.regex.search("sudo nvidia-smi -i 0 -c 3\n")
