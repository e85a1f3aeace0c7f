"""HPC container runtimes and GPU partitioning: Apptainer/Singularity, enroot/Pyxis, LXC/LXD/Incus, Slurm GRES,
MIG and WSL2 (issue 13, gruntimes).

Every line is written from the format string of the code that prints it (signature `source` fields in
src/tpdoctor/data/signatures.yaml give repository, file, function and version):
- apptainer/apptainer internal/pkg/runtime/launch/launcher_linux.go addGPUBinds, setNvCCLIConfig, SetGPUConfig;
  internal/pkg/runtime/engine/apptainer/prepare_linux.go; internal/pkg/util/gpu/nvidia.go NVCLIConfigure,
  NVCLIEnvToFlags; sylog prints "WARNING: ", "FATAL:   ", "INFO:    " (pkg/sylog prefix, %-8s);
- NVIDIA/enroot conf/hooks/98-nvidia.sh with src/common.sh common::log ("[ERROR] ", "[WARN] ");
  NVIDIA/pyxis common.c prints enroot's log behind "pyxis:     ";
- lxc/lxc hooks/nvidia, src/lxc/conf.c mount_entry (log_error_errno: "<strerror> - <message>");
  lxc/incus internal/server/instance/drivers/driver_lxc.go, internal/server/device/gpu_*.go;
- SchedMD/slurm src/common/slurm_errno.c with srun allocate.c / launch.c and sbatch.c wrappers;
- NCCL init.cc "Duplicate GPU detected : rank %d and rank %d both on CUDA device %lx"; nvidia-smi -L MIG rows;
- vLLM platforms/interface.py is_pin_memory_available ("Using 'pin_memory=False' as WSL is detected. ...").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain

MIG_LIST = (
    "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0)\n"
    "  MIG 3g.40gb     Device  0: (UUID: MIG-5f8a3c3e-2b2f-5d6e-9a51-2f1e3c4d5e6f)\n"
    "  MIG 3g.40gb     Device  1: (UUID: MIG-6f8a3c3e-2b2f-5d6e-9a51-2f1e3c4d5e6f)\n"
)
DUPLICATE = "node1:311:402 [1] init.cc:1270 NCCL WARN Duplicate GPU detected : rank 1 and rank 0 both on CUDA device 7000\n"
ORDINAL = "[rank1]: torch.AcceleratorError: CUDA error: invalid device ordinal\n"
NO_GPU = "RuntimeError: No CUDA GPUs are available\n"


def _messages(tmp_path: Path, text: str) -> str:
    log = tmp_path / "m.log"
    log.write_text(text)
    return "\n".join(f.message for f in explain([str(log)]).findings)


# One line, the cause it names first.
@pytest.mark.parametrize(
    ("line", "cause"),
    [
        # Apptainer / Singularity
        (
            "FATAL:   container creation failed: nvidia-container-cli not allowed in setuid mode",
            "runtime.gpu-request-invalid",
        ),
        (
            "FATAL:   --fakeroot does not support --nvccli in set-uid installations",
            "runtime.gpu-request-invalid",
        ),
        (
            'FATAL:   container creation failed: exec: "nvidia-container-cli": executable file not found in $PATH',
            "runtime.nvidia-toolkit-missing",
        ),
        (
            "FATAL:   container creation failed: unknown NVIDIA_DRIVER_CAPABILITIES value: gpu",
            "runtime.gpu-request-invalid",
        ),
        ("WARNING: Could not find any nv libraries on this host!", "runtime.nvidia-toolkit-missing"),
        ("WARNING: Could not find any NVIDIA libraries on this host!", "runtime.nvidia-toolkit-missing"),
        ('FATAL:   "nvidia-smi": executable file not found in $PATH', "device.nvidia-node-missing"),
        ("/.singularity.d/actions/exec: 9: exec: nvidia-smi: not found", "device.nvidia-node-missing"),
        # enroot / Pyxis, LXC, Incus/LXD
        (
            "slurmstepd: error: pyxis:     [ERROR] Command not found: nvidia-container-cli, see https://github.com/NVIDIA/libnvidia-container",
            "runtime.nvidia-toolkit-missing",
        ),
        (
            "ERROR: Missing tool nvidia-container-cli, see https://github.com/NVIDIA/libnvidia-container",
            "runtime.nvidia-toolkit-missing",
        ),
        (
            "Error: Failed to run: The NVIDIA container tools couldn't be found",
            "runtime.nvidia-toolkit-missing",
        ),
        ("Error: Failed to run: The NVIDIA LXC hook couldn't be found", "runtime.nvidia-toolkit-missing"),
        ("[ERROR] Unknown NVIDIA driver capability: gpu", "runtime.gpu-request-invalid"),
        ('ERROR: Unknown driver capability "compute utility".', "runtime.gpu-request-invalid"),
        # gnew30a: its own id (a privileged container under LXC's NVIDIA hook), no longer a malformed request
        ("FIXME: This hook currently only works in unprivileged mode.", "lxc.privileged-nvidia-hook"),
        (
            'Error: Invalid devices: Device validation failed for "mig1": nvidia.runtime must be set to true for MIG GPUs to work',
            "runtime.gpu-request-invalid",
        ),
        (
            'Error: Failed to start device "gpu0": Failed to detect requested GPU device',
            "device.host-node-absent",
        ),
        (
            'Error: Failed to start device "mig1": MIG device gi=1 ci=0 doesn\'t exist on GPU 0',
            "device.host-node-absent",
        ),
        (
            'lxc-start: 101: ../src/lxc/conf.c: mount_entry: 2262 No such file or directory - Failed to mount "/dev/nvidia-uvm" on "/usr/lib/x86_64-linux-gnu/lxc/rootfs/dev/nvidia-uvm"',
            "device.host-node-absent",
        ),
        # WSL2 (libnvidia-container nvc_init), Charliecloud (ch-fromhost --nvidia)
        (
            "nvidia-container-cli: initialization error: WSL environment detected but no adapters were found: unknown.",
            "runtime.nvidia-toolkit-missing",
        ),
        ("error: nvidia-container-cli failed; does this host have GPUs?", "runtime.nvidia-toolkit-missing"),
        # Slurm
        (
            "srun: error: Unable to allocate resources: Invalid generic resource (gres) specification",
            "slurm.gres-unavailable",
        ),
        (
            "salloc: error: Job submit/allocate failed: Invalid GRES specification (with and without type identification)",
            "slurm.gres-unavailable",
        ),
        (
            "srun: error: Unable to create step for job 4242: Insufficient GRES available in allocation",
            "slurm.gres-unavailable",
        ),
        (
            "   Reason=gres/gpu count reported lower than configured (0 < 4) [slurm@2026-12-01T10:00:00]",
            "slurm.gres-unavailable",
        ),
        (
            "sbatch: error: Batch job submission failed: Requested node configuration is not available",
            "slurm.gres-unavailable",
        ),
    ],
)
def test_line_names_cause(tmp_path: Path, line: str, cause: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == [cause]


# A warning that is harmless unless the run then finds no GPU: nothing above notice alone, a cause with the symptom.
@pytest.mark.parametrize(
    "warning",
    [
        "WARNING: Could not find any nv files on this host!",
        "INFO:    Could not find any NVIDIA binaries on this host!",
        "WARNING: When using nvidia-container-cli with --contain NVIDIA_VISIBLE_DEVICES must be set or no GPUs will be available in container.",
        "[WARN] Kernel module nvidia_uvm is not loaded. Make sure the NVIDIA device driver is installed and loaded.",
        "WARN: Kernel module nvidia_uvm is not loaded, nvidia-container-cli might fail. Make sure the NVIDIA device driver is installed and loaded.",
    ],
)
def test_warning_benign_alone_cause_with_no_gpu(tmp_path: Path, warning: str) -> None:
    assert (
        causes(tmp_path, warning + "\nINFO 12-01 10:00:00 launcher.py:28] Application startup complete.\n")
        == []
    )
    assert causes(tmp_path, warning + "\n" + NO_GPU)[:1] in (
        ["device.nvidia-node-missing"],
        ["runtime.nvidia-toolkit-missing"],
    )
    assert any("line 1" in n for n in notes(tmp_path, warning + "\n"))


# A quoted Apptainer/Singularity command decides the no-GPU symptom: no --nv is the missing GPU request.
def test_apptainer_without_nv_is_the_missing_request(tmp_path: Path) -> None:
    text = "$ apptainer exec vllm.sif vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 2\n" + NO_GPU
    assert causes(tmp_path, text)[:1] == ["device.nvidia-node-missing"]
    assert "has no --nv" in _messages(tmp_path, text)


@pytest.mark.parametrize(
    "command",
    [
        "$ apptainer exec --nv vllm.sif vllm serve m --tensor-parallel-size 2",
        "$ singularity run --nvccli vllm.sif",
        "$ apptainer exec --device nvidia.com/gpu=all vllm.sif python x.py",
        "$ apptainer exec vllm.sif \\",  # the option may be on the continuation line
        "I ran apptainer exec vllm.sif python x.py and it failed",  # prose, not a pasted command
    ],
)
def test_apptainer_gpu_option_or_prose_is_not_read_as_no_request(tmp_path: Path, command: str) -> None:
    assert "has no --nv" not in _messages(tmp_path, command + "\n" + NO_GPU)


def test_apptainer_without_rocm_is_the_missing_kfd(tmp_path: Path) -> None:
    text = "$ singularity exec rocm_vllm.sif python -c 'import torch; torch.zeros(1).cuda()'\nRuntimeError: No HIP GPUs are available\n"
    assert causes(tmp_path, text)[:1] == ["device.kfd-missing"]


def test_apptainer_no_host_driver_leads(tmp_path: Path) -> None:
    text = (
        "$ apptainer exec --nv vllm.sif vllm serve m --tensor-parallel-size 2\n"
        "WARNING: Could not find any nv libraries on this host!\n" + NO_GPU
    )
    assert causes(tmp_path, text)[:1] == ["runtime.nvidia-toolkit-missing"]


def test_contained_rank_per_container_splits_shm(tmp_path: Path) -> None:
    shm = "host:11:22 [0] misc/shmutils.cc:120 NCCL WARN Error while attaching to shared memory segment /dev/shm/nccl-7XkYz1 (size 9637888)\n"
    text = "srun --ntasks-per-node=2 apptainer exec --nv --containall vllm.sif python worker.py\n" + shm
    assert causes(tmp_path, text)[:1] == ["topology.ranks-split-across-containers"]
    # one container for all ranks (torchrun inside it): the same line is not a split
    single = (
        "srun --ntasks-per-node=1 apptainer exec --nv vllm.sif torchrun --nproc-per-node 2 worker.py\n" + shm
    )
    assert "topology.ranks-split-across-containers" not in causes(tmp_path, single)[:1]


# MIG: a count or duplicate-GPU symptom where the GPUs are MIG instances.
@pytest.mark.parametrize("symptom", [DUPLICATE, ORDINAL])
def test_mig_instances_in_parallel(tmp_path: Path, symptom: str) -> None:
    assert causes(tmp_path, MIG_LIST + symptom)[:1] == ["nvidia.mig-multi-instance"]
    assert "nvidia.mig-multi-instance" not in causes(tmp_path, symptom)


def test_mig_uuid_in_mask_counts(tmp_path: Path) -> None:
    text = (
        "CUDA_VISIBLE_DEVICES=MIG-GPU-8a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/1/0,MIG-GPU-8a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/2/0\n"
        + DUPLICATE
    )
    assert causes(tmp_path, text)[:1] == ["nvidia.mig-multi-instance"]


# Slurm per-task GPU binding: each task's GPU is device 0, so cuda:LOCAL_RANK is beyond it.
def test_slurm_per_task_binding_explains_ordinal(tmp_path: Path) -> None:
    text = "#SBATCH --gpus-per-task=1\n#SBATCH --ntasks-per-node=2\n" + ORDINAL
    assert causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]
    assert "binds GPUs per task" in _messages(tmp_path, text)
    assert "binds GPUs per task" not in _messages(tmp_path, "#SBATCH --gres=gpu:2\n" + ORDINAL)


# LXC/Proxmox: NVIDIA nodes bind-mounted with lxc.mount.entry, then NVML's unknown error: the device cgroup
# (lxc.cgroup2.devices.allow), not Docker's daemon-reload; without the config line the NVML line keeps its reading.
def test_lxc_bind_mounted_nodes_need_cgroup_allow(tmp_path: Path) -> None:
    nvml = "root@ct:~# nvidia-smi\nFailed to initialize NVML: Unknown Error\n"
    mount = "lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n"
    assert causes(tmp_path, mount + nvml) == ["device.cgroup-denied"]
    assert causes(tmp_path, nvml)[:1] == ["device.nvml-cgroup-lost"]


def test_wsl_adds_its_p2p_limit(tmp_path: Path) -> None:
    wsl = "WARNING 05-29 21:12:41 utils.py:465] Using 'pin_memory=False' as WSL is detected. This may slow down the performance.\n"
    p2p = "ERROR 05-29 21:12:50 Error happened when batch testing peer-to-peer access from (0, 0, 1, 1) to (0, 1, 0, 1)\n"
    assert "under WSL2" in _messages(tmp_path, wsl + p2p)
    assert "under WSL2" not in _messages(tmp_path, p2p)
    libcuda = "OSError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
    ldconfig = "/sbin/ldconfig.real: /usr/lib/wsl/lib/libcuda.so.1 is not a symbolic link\n"
    assert "/usr/lib/wsl/lib" in _messages(tmp_path, ldconfig + libcuda)
    assert "/usr/lib/wsl/lib" not in _messages(tmp_path, libcuda)


# Healthy runs on these runtimes keep nothing above notice: the markers (MIG listing, WSL, per-task binding, a
# quoted apptainer command with --nv) name no cause on their own.
def test_healthy_runs_stay_clean(tmp_path: Path) -> None:
    healthy = (
        "$ apptainer exec --nv vllm.sif vllm serve m --tensor-parallel-size 2\n"
        "INFO:    Setting 'NVIDIA_VISIBLE_DEVICES=all' to emulate legacy GPU binding.\n"
        "srun --ntasks-per-node=4 --gpus-per-task=1 python train.py\n"
        + MIG_LIST
        + "lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n"
        + "/sbin/ldconfig.real: /usr/lib/wsl/lib/libcuda.so.1 is not a symbolic link\n"
        + "WARNING 05-29 21:12:41 utils.py:465] Using 'pin_memory=False' as WSL is detected. This may slow down the performance.\n"
        "node1:311:402 [0] NCCL INFO comm 0x55d0 rank 0 nranks 2 cudaDev 0 busId 7000 commId 0x1 - Init COMPLETE\n"
        "INFO 12-01 10:00:00 launcher.py:28] Application startup complete.\n"
    )
    assert causes(tmp_path, healthy) == []
