"""Issue 13, heldout27 lessons (glearn27a).

Lines are written from the code that prints them (not copied from the heldout27 logs):
- GPUMounter's three forms of a Slave Pod that found no free GPU on the node (pokerfaceSad/GPUMounter @c5c4220:
  master "Insufficient GPU on Node: " + nodeName, worker "Insufficient gpu for Pod: ", allocator "No enough gpu
  for Pod: ");
- NVML's Insufficient Permissions (NVML_ERROR_NO_PERMISSION) for a process the log shows is not root (prose, netdata's
  nd-run, docker run --user, sudo -u) and no SELinux named: the nodes' group; with SELinux named or as root, the label;
- a SIGBUS that only the death report names, under Slurm on the host with no container or /dev/shm words, or beside
  a host OOM report: no /dev/shm size problem;
- vLLM's shared-memory ring buffer that a local reader cannot attach to (vllm-project/vllm#54274's message).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes

# --- GPUMounter --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # cmd/GPUMounter-master/main.go: Logger.Error / http.Error("Insufficient GPU on Node: " + nodeName)
        "Insufficient GPU on Node: k8s-gpu-worker-02",
        'time="2023-03-02T10:04:11+08:00" level=error msg="Insufficient GPU on Node: node7"',
        # pkg/server/gpu-mount/server.go: Logger.Error("Insufficient gpu for Pod: ", name, " Namespace: "+ns)
        'time="2023-03-02T10:04:11+08:00" level=error msg="Insufficient gpu for Pod: jupyter-7f9c Namespace: lab"',
        # pkg/util/gpu/allocator/allocator.go checkCreateState: Logger.Info("No enough gpu for Pod: ", slavePodName)
        'level=info msg="No enough gpu for Pod: jupyter-7f9c-slave-pod-a81c2e"',
    ],
)
def test_gpumounter_insufficient_gpu_is_resource_unavailable(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[:1] == ["k8s.gpu-resource-unavailable"]


@pytest.mark.parametrize(
    "line",
    [
        "Insufficient GPU memory on node 0 for the requested batch size",
        "No enough GPU memory left, reduce --max-model-len",
        'level=info msg="Successfully add gpu for Pod: jupyter-7f9c"',
    ],
)
def test_gpumounter_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "k8s.gpu-resource-unavailable" not in _causes(tmp_path, line + "\n")


# --- NVML Insufficient Permissions: group or label -----------------------------------------------------------------

NVML = "Failed to initialize NVML: Insufficient Permissions"


@pytest.mark.parametrize(
    "text",
    [
        # prose: a non-root user in the container
        "nvidia-smi fails for the non-root user in the container:\n" + NVML,
        "Running as an unprivileged user inside the image:\n$ nvidia-smi\n" + NVML,
        # netdata's nd-run drops to the netdata user (netdata/netdata#21353)
        "# /usr/sbin/nd-run /usr/bin/nvidia-smi -q -x\n" + NVML,
        # docker run --user / -u with a non-zero user
        "$ docker run --rm --gpus all --user 1000:1000 nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + NVML,
        "docker run -it -u app --runtime=nvidia my-image nvidia-smi\n" + NVML,
        'docker run --rm --gpus all --user "$(id -u):$(id -g)" my-image nvidia-smi\n' + NVML,
        # sudo -u / runuser -u another user
        "sudo -u prometheus nvidia-smi\n" + NVML,
    ],
)
def test_nvml_denied_for_a_non_root_user_is_the_group(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text + "\n")
    assert got[:1] == ["device.group-denied"]
    assert "lsm.selinux-device-denied" not in got


@pytest.mark.parametrize(
    "text",
    [
        # a bare line: the label stays the first reading (root in a container bypasses file modes)
        NVML,
        "docker run --rm --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + NVML,
        # as root, explicitly
        "docker run --rm --gpus all --user 0 nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + NVML,
        "docker run --rm --gpus all -u root nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi\n" + NVML,
        # python's -u (unbuffered) after the image is no user
        "docker run --rm --gpus all my-image python -u train.py\n" + NVML,
        # a non-root user, but SELinux named
        "The non-root user gets this on Fedora with SELinux enforcing:\n" + NVML,
        "sudo -u svc nvidia-smi\n" + NVML + "\ntype=AVC msg=audit(1700000000.1:42): avc:  denied  { read write } for "
        'pid=4242 comm="nvidia-smi" name="nvidiactl" scontext=system_u:system_r:container_t:s0',
    ],
)
def test_nvml_denied_as_root_or_with_selinux_keeps_the_label(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text + "\n")[:1] == ["lsm.selinux-device-denied"]


def test_non_root_words_without_nvml_name_no_group(tmp_path: Path) -> None:
    text = "docker run --user 1000 --gpus all img python train.py\nEpoch 1/3 loss=0.41\n"
    assert "device.group-denied" not in _causes(tmp_path, text)


# --- SIGBUS: /dev/shm only where a container or shared memory is in sight ------------------------------------------

ELASTIC = (
    "[{i}]:\n  time      : 2024-03-01_10:00:00\n  host      : gpu-node-4\n  rank      : {i} (local_rank: {i})\n"
    "  exitcode  : -7 (pid: 4{i}10)\n  error_file: <N/A>\n  traceback : Signal 7 (SIGBUS) received by PID 4{i}10\n"
)
ALL_RANKS = "".join(ELASTIC.format(i=i) for i in range(4))
# Slurm src/srun/launch.c _task_finish: error("%s: %s %s: Exited with exit code %d", hosts, task_str, tasks, rc)
SRUN_EXIT = "srun: error: gpu-node-4: task 0: Exited with exit code 1\n"


@pytest.mark.parametrize(
    "text",
    [
        ALL_RANKS + SRUN_EXIT,
        ALL_RANKS + "srun: error: gpu-node-[4-5]: tasks 0-1: Exited with exit code 1\n",
        "#SBATCH --gres=gpu:4\n" + ALL_RANKS,
        "slurmstepd: error: *** STEP 1234.0 ON gpu-node-4 CANCELLED AT 2024-03-01T10:00:01 ***\n" + ALL_RANKS,
        # host memory ran out: Slurm's cgroup OOM report (task/cgroup), the kernel's
        ALL_RANKS + "slurmstepd: error: Detected 1 oom_kill event in StepId=1234.0. Some of your processes may have "
        "been killed by the cgroup out-of-memory handler.\n",
        ALL_RANKS + "[12345.678] Out of memory: Killed process 4010 (python) total-vm:812345678kB\n",
    ],
)
def test_sigbus_on_host_slurm_or_with_host_oom_is_not_shm(tmp_path: Path, text: str) -> None:
    assert "shm.too-small" not in _causes(tmp_path, text)
    assert any("SIGBUS, but" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        # no Slurm: the generic reading stays
        ALL_RANKS,
        # Slurm, but the job runs in a container (pyxis) or a DataLoader / /dev/shm is in sight
        "srun --container-image=nvcr.io#nvidia/pytorch:24.01-py3 torchrun train.py\n" + ALL_RANKS + SRUN_EXIT,
        ALL_RANKS + "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared "
        "memory (shm).\n" + SRUN_EXIT,
        "docker run --gpus all img torchrun --nproc_per_node 4 train.py\n" + ALL_RANKS + SRUN_EXIT,
    ],
)
def test_sigbus_with_container_or_shm_context_keeps_shm(tmp_path: Path, text: str) -> None:
    assert "shm.too-small" in _causes(tmp_path, text)


# --- vLLM's shared-memory ring buffer gone --------------------------------------------------------------------------

RING = (
    "RuntimeError: Rank {r} is a local reader but could not attach to shared memory ring buffer '{n}'. The segment "
    "may have been unlinked, the handle may be stale, or the processes may not share a /dev/shm namespace."
)


@pytest.mark.parametrize("text", [RING.format(r=1, n="psm_0c4e12aa"), RING.format(r=3, n="psm_7b21f9d0")])
def test_vllm_ring_buffer_gone_suggests_logind(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text + "\n")
    assert got[:1] == ["shm.removed-by-logind"]


@pytest.mark.parametrize(
    "line",
    [
        "INFO 03-01 10:00:00 shm_broadcast.py:258] vLLM message queue communication handle: Handle(local_reader_ranks=[1])",
        "UserWarning: resource_tracker: There appear to be 1 leaked shared_memory objects to clean up at shutdown",
    ],
)
def test_vllm_ring_buffer_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "shm.removed-by-logind" not in _causes(tmp_path, line + "\n")
