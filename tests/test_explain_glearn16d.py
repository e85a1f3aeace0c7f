"""Issue 13, heldout16 lessons (glearn16d): the families behind its misses.

Positive lines are written from the code or the docs that print or state them (not copied from the
heldout16 logs): NCCL's CUDACHECK with cudaErrorInsufficientDriver and ncclUnhandledCudaError at a TP
start-up (NVIDIA/nccl checks.h, InternLM/lmdeploy#1267), the driver version stated next to CUDA's
"driver version is insufficient", strace's EACCES on a DRM node and its render-group retellings
(intel/compute-runtime#701), the oneAPI environment retold as not loaded (vllm-project/vllm#47578,
#47709), and an xe engine reset traced to the GuC firmware (vllm-project/vllm#55425), which is no
container cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

INSUFFICIENT = "CUDA driver version is insufficient for CUDA runtime version"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # NCCL's CUDACHECK, 2.18+ and older forms
        ("node1:811:902 [1] misc/cudawrap.cc:120 NCCL WARN Cuda failure 35 '" + INSUFFICIENT + "'\n",
         "cuda.driver-too-old"),
        ("node1:811:811 [0] NCCL WARN Cuda failure '" + INSUFFICIENT + "'\n", "cuda.driver-too-old"),
        # a TP start-up: NCCL's unhandled cuda error, NCCL_DEBUG naming the insufficient driver
        ("[TM][ERROR] NCCL error src/turbomind/utils/nccl_utils.cc:296 'unhandled cuda error (run with "
         "NCCL_DEBUG=INFO for details)'\n" + INSUFFICIENT + "\n", "cuda.driver-too-old"),
        ("torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1275, unhandled cuda error, "
         "NCCL version 2.18.1\nlast CUDA error: " + INSUFFICIENT + "\n", "cuda.driver-too-old"),
        # the driver stated next to the error
        ("RuntimeError: CUDA error: " + INSUFFICIENT + "\nMy NVIDIA driver version is 470.82.01\n",
         "cuda.driver-too-old"),
        ("报错：" + INSUFFICIENT + "\n驱动版本：510.47.03\n", "cuda.driver-too-old"),
        # strace and Go forms of a refused DRM node
        ('openat(AT_FDCWD, "/dev/dri/by-path/pci-0000:03:00.0-render", O_RDWR|O_CLOEXEC) = -1 EACCES '
         "(Permission denied)\n", "device.group-denied"),
        ('openat(AT_FDCWD, "/dev/dri/card1", O_RDWR|O_CLOEXEC) = -1 EACCES (Permission denied)\n',
         "device.group-denied"),
        ("open /dev/dri/by-path/pci-0000:4d:00.0-render: permission denied\n", "device.group-denied"),
        # the render group retold
        ("Please make sure that the user you are using is a member of group render.\n", "device.group-denied"),
        ("The user over ssh is not a member of the render group, so clinfo lists no GPU.\n",
         "device.group-denied"),
        ("sudo usermod -a -G render $USER fixed it for me\n", "device.group-denied"),
        # the oneAPI environment retold as not loaded
        ("The oneAPI environment is not sourced in the container entrypoint, so torch.xpu finds nothing.\n",
         "oneccl.env-not-sourced"),
        ("Make sure the oneAPI env is loaded before starting vllm serve.\n", "oneccl.env-not-sourced"),
        ("RuntimeError: Failed to infer device type\nIt fails without sourcing the oneAPI environment.\n",
         "oneccl.env-not-sourced"),
        # the Ray executor named as the fix of a multi-node vLLM start
        ("Adding --distributed-executor-backend ray solved it: the second node's GPU is used now.\n",
         "vllm.tp-exceeds-visible-gpus"),
        ("On ROCm you have to pass --distributed-executor-backend=ray for multi-node serving.\n",
         "vllm.tp-exceeds-visible-gpus"),
    ],
)
def test_a_heldout16_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the bare insufficient-driver string keeps the missing GPU first; nvidia-smi's table is not a statement
        ("RuntimeError: CUDA error: " + INSUFFICIENT + "\n", "cuda.driver-too-old"),
        ("RuntimeError: CUDA error: " + INSUFFICIENT + "\n"
         "| NVIDIA-SMI 550.144.03             Driver Version: 550.144.03     CUDA Version: 12.4     |\n",
         "cuda.driver-too-old"),
        # a healthy NCCL start-up with the driver version
        ("node1:811:811 [0] NCCL INFO cudaDriverVersion 12020\nnode1:811:811 [0] NCCL INFO NCCL version "
         "2.18.1+cuda12.1\nDriver version 535.104.05\n", "cuda.driver-too-old"),
        # DRM nodes opened fine, or refused with EPERM (the device cgroup)
        ('openat(AT_FDCWD, "/dev/dri/by-path/pci-0000:03:00.0-render", O_RDWR|O_CLOEXEC) = 5\n',
         "device.group-denied"),
        ('openat(AT_FDCWD, "/dev/dri/by-path/pci-0000:03:00.0-render", O_RDWR|O_CLOEXEC) = -1 EPERM '
         "(Operation not permitted)\n", "device.group-denied"),
        ("ls -l /dev/dri/by-path/pci-0000:03:00.0-render -> ../renderD128\n", "device.group-denied"),
        # a setup step, not a diagnosis
        ("sudo usermod -aG render,video $USER\n", "device.group-denied"),
        ("uid=1000(me) gid=1000(me) groups=1000(me),44(video),992(render) is member of render\n",
         "device.group-denied"),
        # the oneAPI environment loaded
        ("$ source /opt/intel/oneapi/setvars.sh\n:: oneAPI environment initialized ::\n",
         "oneccl.env-not-sourced"),
        ("The oneAPI environment is loaded by the image entrypoint.\n", "oneccl.env-not-sourced"),
        # the Ray flag on a command line, or Ray in use while something else fails
        ("vllm serve /models/m --tensor-parallel-size 8 --pipeline-parallel-size 2 --distributed-executor-backend ray\n",
         "vllm.tp-exceeds-visible-gpus"),
        ("Using --distributed-executor-backend ray the NCCL init hangs.\n", "vllm.tp-exceeds-visible-gpus"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


RESET = "xe 0000:03:00.0: [drm] Tile0: GT0: Engine reset: engine_class=ccs, logical_mask: 0x1, guc_id=4, state=0x3\n"


@pytest.mark.parametrize(
    "blame",
    [
        "Upgrading the firmware, GuC 70.44.1 -> 70.49.4, made the resets go away.\n",
        "We bisected it down to the GuC firmware on BMG.\n",
        "This is a GuC firmware regression.\n",
    ],
)
def test_an_engine_reset_traced_to_guc_firmware_is_no_device_lost(tmp_path: Path, blame: str) -> None:
    text = blame + RESET
    assert _findings(tmp_path, text) == []
    assert any("GuC firmware" in n for n in _notes(tmp_path, text))


def test_an_engine_reset_without_firmware_blame_is_still_device_lost(tmp_path: Path) -> None:
    text = ("xe 0000:03:00.0: [drm] GT0: Using GuC firmware from xe/bmg_guc_70.bin version 70.44.1\n" + RESET)
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "xpu.device-lost", found


def test_device_lost_from_level_zero_stays_with_firmware_blame(tmp_path: Path) -> None:
    # the benign note covers the kernel line only; the process's own DEVICE_LOST still backs the cause
    text = ("This is a GuC firmware regression.\n" + RESET
            + "RuntimeError: level_zero backend failed with error: 20 (UR_RESULT_ERROR_DEVICE_LOST)\n")
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "xpu.device-lost", found
