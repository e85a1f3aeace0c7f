"""Issue 13, heldout35 lessons (glearn35b): clusters, schedulers and devices.

Lines are written from the code that prints them (not copied from the heldout35 logs):
- MuJoCo's EGL device selection (google-deepmind/mujoco python/mujoco/egl/__init__.py, dm_control, robosuite
  renderers/context/egl_context.py): "The MUJOCO_EGL_DEVICE_ID environment variable must be an integer between 0 and
  {n-1} (inclusive), got {idx}." -- a physical GPU index used as the EGL index after CUDA_VISIBLE_DEVICES renumbering;
  "between 0 and -1" (no EGL device at all) stays out; robosuite's "specified device id is not made visible in
  environment variables." assert;
- Open MPI's launcher: openssh's "ssh: Could not resolve hostname %s: %s" next to ORTE's/PRRTE's "... was unable to
  reliably start one or more daemons" (MPIJob launchers without the namespace's search domain); the Kubernetes FQDN
  form with a redacted <namespace>;
- XGBoost on MIG: "Multiple processes within communication group running on same CUDA device is not supported"
  (xgboost's NCCL communicator) and dask tasks "[xgboost.dask-MIG-<uuid>]" whose training failed;
- libnuma's EPERM in lower case (HugeCTR in the Merlin containers without --cap-add SYS_NICE).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings

EGL = "RuntimeError: The MUJOCO_EGL_DEVICE_ID environment variable must be an integer between 0 and {n} (inclusive), got {i}."


@pytest.mark.parametrize(
    "text",
    [
        # mujoco / dm_control / robosuite's RuntimeError: one GPU in the container, the physical index 1 or 3 as EGL id
        EGL.format(n=0, i=1),
        EGL.format(n=0, i=3),
        # four GPUs visible to EGL, a host index beyond them
        EGL.format(n=3, i=6),
        # inside a traceback from robosuite's egl_context
        '  File "/opt/venv/lib/python3.10/site-packages/robosuite/renderers/context/egl_context.py", line 58, in '
        "create_initialized_egl_device_display\n" + EGL.format(n=0, i=2),
        # the message retold without the phrase "environment variable ... an integer"
        'EGL init fails with "MUJOCO_EGL_DEVICE_ID must be between 0 and 0, got 5" when CUDA_VISIBLE_DEVICES=5',
        # robosuite's assert: a render device id that the visible list does not hold
        "AssertionError: specified device id is not made visible in environment variables.",
    ],
)
def test_egl_device_id_after_renumbering_is_a_visible_devices_mismatch(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text + "\n")[:1] == [("cuda.visible-devices-mismatch", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # no EGL device at all (EGL vendor library, driver/EGL version mismatch): not a renumbering
        EGL.format(n=-1, i=0),
        # other checks of the variable and other programs' ranges
        "RuntimeError: MUJOCO_EGL_DEVICE_ID must be a non-negative integer",
        "export MUJOCO_EGL_DEVICE_ID=1 CUDA_VISIBLE_DEVICES=1",
        "PORT environment variable must be an integer between 1 and 65535, got 70000",
    ],
)
def test_egl_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "cuda.visible-devices-mismatch" not in _causes(tmp_path, text + "\n")


DAEMONS = (
    "--------------------------------------------------------------------------\n"
    "{mpi} was unable to reliably start one or more daemons.\n"
    "This usually is caused by:\n"
)


@pytest.mark.parametrize(
    "text",
    [
        # an MPIJob launcher: short worker names (no namespace search domain), ORTE (Open MPI <= 4)
        "ssh: Could not resolve hostname bert-worker-0: Name or service not known\n" + DAEMONS.format(mpi="ORTE"),
        # PRRTE of Open MPI 5, DNS not answering
        "ssh: Could not resolve hostname trainer-worker-2.trainer: Temporary failure in name resolution\n"
        + DAEMONS.format(mpi="PRTE"),
        # a bare-metal hostfile entry that is in no DNS
        "ssh: Could not resolve hostname gpu-node17: No address associated with hostname\n"
        + DAEMONS.format(mpi="ORTE")
        + "ORTE does not know how to route a message to the specified daemon\n",
        # the worker FQDN of an MPIJob with the namespace redacted, alone
        "ssh: Could not resolve hostname mnist-worker-1.mnist.<namespace>.svc: Name or service not known\n",
    ],
)
def test_mpi_ssh_cannot_resolve_a_peer(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("network.peer-name-unresolved", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # ssh alone (a typo at the prompt, a git remote): no MPI launcher
        "ssh: Could not resolve hostname gitlab.internal: Name or service not known\n",
        # the daemons failed for another reason (orted not on PATH, host keys)
        "bash: orted: command not found\n" + DAEMONS.format(mpi="ORTE"),
        "Host key verification failed.\n" + DAEMONS.format(mpi="ORTE"),
    ],
)
def test_mpi_daemons_without_a_name_failure_stay_clean(tmp_path: Path, text: str) -> None:
    assert "network.peer-name-unresolved" not in _causes(tmp_path, text)


XGB_SAME = (
    "xgboost.core.XGBoostError: [09:12:44] /workspace/src/collective/comm.cu:71: Check failed: n_uniques == root.World() "
    "(1 vs. 2) : Multiple processes within communication group running on same CUDA device is not supported. "
    "4e0c9a1b-77d2-8f3e-a1b2-c3d4e5f60718\n"
)
MIG_TASK = "[09:12:40] task [xgboost.dask-MIG-{u}]:tcp://10.0.0.5:{p} got new rank {r}\n"
U1 = "3f2a9c1d-5b6e-5f70-8a9b-0c1d2e3f4a5b"
U2 = "7d8e9f0a-1b2c-5d3e-9f4a-5b6c7d8e9f0a"


@pytest.mark.parametrize(
    "text",
    [
        # xgboost's same-device check with the MIG devices listed (nvidia-smi -L, a mask)
        "  MIG 3g.40gb     Device  0: (UUID: MIG-" + U1 + ")\n"
        "  MIG 3g.40gb     Device  1: (UUID: MIG-" + U2 + ")\n" + XGB_SAME,
        # ... or in the dask task names
        MIG_TASK.format(u=U1, p=40111, r=0) + MIG_TASK.format(u=U2, p=40112, r=1) + XGB_SAME,
        # dask tasks on MIG workers and an XGBoost failure in another wording (NCCL through gpu_hist)
        MIG_TASK.format(u=U1, p=40111, r=0) + MIG_TASK.format(u=U2, p=40112, r=1)
        + "xgboost.core.XGBoostError: [09:12:45] /workspace/src/tree/updater_gpu_hist.cu:781: Exception in gpu_hist: "
        "NCCL failure :unhandled cuda error\n",
        # ... or only libxgboost's backtrace through its C API
        MIG_TASK.format(u=U1, p=40111, r=0)
        + "  [bt] (5) /opt/conda/lib/libxgboost.so(XGBoosterUpdateOneIter+0x8a) [0x7f734105f35a]\n",
    ],
)
def test_xgboost_workers_on_mig_instances(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("nvidia.mig-multi-instance", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # workers on MIG that trained (no failure)
        MIG_TASK.format(u=U1, p=40111, r=0) + MIG_TASK.format(u=U2, p=40112, r=1) + "[09:13:02] [0]\ttrain-rmse:0.41\n",
        # the same-device check on whole GPUs (a dask LocalCluster putting every worker on GPU 0)
        XGB_SAME,
        # a worker on a MIG slice that ran out of memory (xgboost's ThrowOOMError), its backtrace below
        MIG_TASK.format(u=U1, p=40111, r=0)
        + "xgboost.core.XGBoostError: [09:12:45] /workspace/src/common/device_helpers.cu:33: Memory allocation error "
        "on worker 0: std::bad_alloc: cudaErrorMemoryAllocation: out of memory\n- Free memory: 812.5MB\n"
        "- Requested memory: 2.0GB\n"
        "  [bt] (5) /opt/conda/lib/libxgboost.so(XGBoosterUpdateOneIter+0x8a) [0x7f734105f35a]\n",
        # an XGBoost failure on whole GPUs
        "[09:12:40] task [xgboost.dask-tcp://10.0.0.5:40111]:tcp://10.0.0.5:40111 got new rank 0\n"
        "xgboost.core.XGBoostError: [09:12:45] /workspace/src/tree/updater_gpu_hist.cu:781: Exception in gpu_hist: "
        "NCCL failure :unhandled cuda error\n",
    ],
)
def test_xgboost_neighbours_stay_clean_of_mig(tmp_path: Path, text: str) -> None:
    assert "nvidia.mig-multi-instance" not in _causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # libnuma's perror quoted with strerror in lower case (HugeCTR in a Merlin container without SYS_NICE)
        "set_mempolicy: operation not permitted",
        "I keep getting `set_mempolicy: operation not permitted` while training with HugeCTR in the container",
        "mbind: operation not permitted",
        "migrate_pages: operation not permitted",
    ],
)
def test_numa_eperm_in_lower_case(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text + "\n")[:1] == [("seccomp.numa-syscalls-denied", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # get_mempolicy's EPERM is a warning that programs survive; other syscalls' EPERM are not NUMA
        "get_mempolicy: operation not permitted",
        "setns: operation not permitted",
        "docs: set_mempolicy(2) returns EPERM when the caller lacks CAP_SYS_NICE",
    ],
)
def test_numa_lower_case_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "seccomp.numa-syscalls-denied" not in _causes(tmp_path, text + "\n")
