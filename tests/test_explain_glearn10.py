"""Issue 13, heldout10 lessons (glearn10): the families behind its misses, read in the code that prints them.

Every positive line is written from the upstream format string its signature cites, at more than one version
where the wording changed (not copied from the heldout10 logs): Open MPI's CMA single-copy failure (vader
BTL v2-v4, smsc/cma v5), UCX's CMA transport (v1.2-v1.9 and v1.10+), Slurm's gres.conf checks in slurmd and
slurmctld, Ansible's multiprocessing wrapper, Python 2's bare EACCES under the SemLock( frame, and a GPU node
whose group is an unrelated named group.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # open-mpi/ompi opal/mca/btl/vader/btl_vader_get.c opal_output(0, "Read %ld, expected %lu, errno = %d\n")
        ("[c1:00040] Read -1, expected 262144, errno = 1\n", "mpi.cma-ptrace-denied"),
        # ... and the size redacted by the poster, spacing retyped
        ("Read -1, expected <size>, errno =1\n", "mpi.cma-ptrace-denied"),
        # btl_vader_put.c opal_output(0, "Wrote %ld, expected %lu, errno = %d\n")
        ("[c1:00041] Wrote -1, expected 65536, errno = 1\n", "mpi.cma-ptrace-denied"),
        # v5.0 opal/mca/smsc/cma/smsc_cma_module.c "CMA read %ld, expected %lu, errno = %d"
        ("CMA read -1, expected 8192, errno = 1\n", "mpi.cma-ptrace-denied"),
        # openucx/ucx src/uct/sm/scopy/cma/cma_ep.c (v1.6-v1.9) "%s delivered %zu instead of %zu, error message %s"
        ("[1600000000.000001] [n1:77 :0] cma_ep.c:87 UCX ERROR process_vm_writev delivered 0 instead of 1048576, "
         "error message Operation not permitted\n", "mpi.cma-ptrace-denied"),
        # v1.10+ uct_cma_ep_tx_error "%s(pid=%d {%s}-->{%s}) returned %zd: %s"
        ("cma_ep.c:81 UCX ERROR process_vm_readv(pid=99 {0x7f1200000000,4096}-->{0x7f3400000000,4096}) "
         "returned -1: Operation not permitted\n", "mpi.cma-ptrace-denied"),
        # SchedMD/slurm gres.c _my_stat: error("Waiting for gres.conf file %s"), fatal("can't stat gres.conf file %s: %m")
        ("slurmd: error: Waiting for gres.conf file /dev/nvidia3\n"
         "slurmd: fatal: can't stat gres.conf file /dev/nvidia3: No such file or directory\n",
         "slurm.gres-unavailable"),
        ("fatal: can't stat gres.conf file /dev/dri/renderD129: No such file or directory\n", "slurm.gres-unavailable"),
        # gres.c gres_plugin_node_config_load (v2.6-v17.11) "can't stat gres.conf file %s, assuming zero resource counts"
        ("error: can't stat gres.conf file /etc/slurm/gres.conf, assuming zero resource counts\n",
         "slurm.gres-unavailable"),
        # gres.c _node_config_validate / _foreach_rebuild_topo: "%s: %s: invalid GRES core specification (%s) on node %s"
        ("error: _foreach_rebuild_topo: gres/gpu: invalid GRES core specification (0-31) on node gpu7\n",
         "slurm.gres-unavailable"),
        # SchedMD/slurm src/interfaces/gpu.c _get_gpu_type (AutoDetect=nvml/rsmi with no library)
        ("slurmd: We were configured to autodetect nvml functionality, but we weren't able to find that lib when "
         "Slurm was configured.\n", "slurm.gres-unavailable"),
        ("slurmd: Configured with rsmi, but rsmi isn't enabled during the build.\n", "slurm.gres-unavailable"),
        # ansible/ansible lib/ansible/executor/task_queue_manager.py "Unable to use multiprocessing, ... /dev/shm: %s"
        ("ERROR! Unable to use multiprocessing, this is normally caused by lack of access to /dev/shm: "
         "[Errno 13] Permission denied\n", "shm.not-writable"),
        ("ERROR! Unable to use multiprocessing, this is normally caused by lack of access to /dev/shm: "
         "[Errno 30] Read-only file system\n", "shm.not-writable"),
        # CPython 2.7 Lib/multiprocessing/synchronize.py SemLock.__init__, semaphore.c sem_open -> OSError (no filename)
        ('  File "/usr/lib/python2.7/multiprocessing/synchronize.py", line 75, in __init__\n'
         "    sl = self._semlock = _multiprocessing.SemLock(kind, value, maxvalue)\n"
         "OSError: [Errno 13] Permission denied\n", "shm.not-writable"),
        # pytorch c10/xpu/XPUFunctions.cpp initGlobalDevicePoolState TORCH_WARN on a sycl::exception
        ("/venv/lib/python3.11/site-packages/torch/xpu/__init__.py:60: UserWarning: Failed to initialize XPU devices. "
         "The driver may not be installed, installed incorrectly, or incompatible with the current setup. Please refer "
         "to the guideline for proper installation and configuration.\n", "device.render-node-missing"),
        # NVIDIA_VISIBLE_DEVICES (NVML index) under the NVIDIA runtime together with a --device node (a minor number)
        ("$ docker run -e NVIDIA_VISIBLE_DEVICES=2 --runtime nvidia --device /dev/nvidia3 img nvidia-smi -L\n",
         "cuda.visible-devices-mismatch"),
        # a render node whose 0660 group is an unrelated named group (udev gives render/video)
        ("crw-rw---- 1 root systemd-journal 226, 129 Jan  2 10:00 renderD129\n", "device.group-denied"),
    ],
)
def test_a_heldout10_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0][0] == cause, found


@pytest.mark.parametrize(
    "text",
    [
        # ESRCH (errno 3): the peer rank died; no ptrace refusal
        "[c1:00040] Read -1, expected 262144, errno = 3\n",
        # UCX's probe at start-up is debug-level and names no errno
        "CMA is disabled:process_vm_writev delivered 0 instead of 4\n",
        # slurmd found the file after waiting
        "slurmd: error: Waiting for gres.conf file /dev/nvidia0\nslurmd: info: gres.conf file /dev/nvidia0 now exists\n",
        # the plugin loaded: AutoDetect works
        "slurmd: GPU NVML plugin loaded\n",
        # a bare EACCES with no SemLock( frame nearby is not /dev/shm
        "OSError: [Errno 13] Permission denied\n",
        # one selection only: the NVIDIA runtime with NVIDIA_VISIBLE_DEVICES, no --device node
        "$ docker run --runtime=nvidia -e NVIDIA_VISIBLE_DEVICES=0 img nvidia-smi -L\n",
        # render/video groups are the healthy ones
        "crw-rw---- 1 root render 226, 128 Jul 15 00:30 renderD128\n",
        "crw-rw---- 1 root video 226, 0 Jul 15 00:30 card0\n",
        # the overflow group of an unmapped GID (podman --userns keep-id --group-add keep-groups still grants it)
        "crw-rw----    1 nobody   nobody    226, 128 Dec 19 12:51 renderD128\n",
    ],
)
def test_the_family_neighbours_stay_out(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c in {"mpi.cma-ptrace-denied", "slurm.gres-unavailable", "shm.not-writable",
                         "device.group-denied"} for c, _ in found), found
