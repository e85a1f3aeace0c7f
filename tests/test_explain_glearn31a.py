"""Issue 13, heldout31 lessons (glearn31a): MPI / UCX inside containers and managed clusters.

Lines are written from the texts that print them (not copied from the heldout31 logs): Intel MPI's dcp large-message
read refused ('dcp_recv(<line>)...: Internal MPI error!  Cannot read from remote process' and the advice it prints
after it), with the ranks in their own PID namespaces leading to the split; UCX 1.5-1.7's uct_posix_attach
('Error returned from open in attach. %s. File name is: %s%s') for the proc-link and the /dev/shm forms; a Kubernetes
training pod with no vpc.amazonaws.com/efa request told in words; a CycleCloud azslurm bucket of a GPU VM size with
NGPUS 0, and the same told in words. Then context: a SIGBUS inside libfabric in a container (its shm provider's
/dev/shm region), Open MPI sending its messages to docker0 told in words, each rank given its own CUDA_VISIBLE_DEVICES with
Slurm's per-task GPU request; and two readings of CUDA error 46 that are not the compute mode (caffe's cuDNN handle
failing after its cuBLAS handle was made; the same GPUs running another branch of the job).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings

_DCP_STACK = (
    "Fatal error in PMPI_Recv: Other MPI error, error stack:\n"
    "PMPI_Recv(171)..................: MPI_Recv(buf=0x7f00, count=8192, MPI_DOUBLE, src=1, tag=7, comm=0x84000002, "
    "status=0x1) failed\n"
    "PMPIDI_CH3I_Progress(623).......: fail failed\n"
    "pkt_RTS_handler(317)............: fail failed\n"
    "do_cts(662).....................: fail failed\n"
    "MPID_nem_lmt_dcp_start_recv(302): fail failed\n"
    "dcp_recv(165)...................: Internal MPI error!  Cannot read from remote process\n"
)
_DCP_ADVICE = (
    " Two workarounds have been identified for this issue:\n"
    " 1) Enable ptrace for non-root users with:\n"
    "    echo 0 | sudo tee /proc/sys/kernel/yama/ptrace_scope\n"
    " 2) Or, use:\n"
    "    I_MPI_SHM_LMT=shm\n"
)
_UCX = "[1600000000.000001] [node7:2211 :0]       mm_posix.c:445  UCX  ERROR "


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # Intel MPI's dcp read refused: the stack alone, with its advice, and the advice alone (a cut stack)
        (_DCP_STACK, "mpi.cma-ptrace-denied", "suggests"),
        (_DCP_STACK + _DCP_ADVICE, "mpi.cma-ptrace-denied", "suggests"),
        ("[3] " + _DCP_ADVICE, "mpi.cma-ptrace-denied", "suggests"),
        # the same stack with the ranks in their own PID namespaces: the split leads
        ("Each rank runs under its own singularity exec -p, so every rank has a separate PID namespace.\n"
         + _DCP_STACK + _DCP_ADVICE, "topology.ranks-split-across-containers", "suggests"),
        # UCX 1.5-1.7 uct_posix_attach: the proc-link form refused or missing, the /dev/shm form missing
        (_UCX + "Error returned from open in attach. Permission denied. File name is: /proc/31337/fd/22\n",
         "topology.ranks-split-across-containers", "suggests"),
        (_UCX + "Error returned from open in attach. No such file or directory. File name is: /proc/4102/fd/19\n",
         "topology.ranks-split-across-containers", "suggests"),
        (_UCX + "Error returned from open in attach. No such file or directory. File name is: "
         "/dev/shm/ucx_shm_posix_6b8f01a2\n", "topology.ranks-split-across-containers", "suggests"),
        # a training pod without the EFA resource, in words
        ("The rendered PyTorchJob doesn't include vpc.amazonaws.com/efa, so the two nodes talk over TCP.\n",
         "rdma.ib-device-missing", "suggests"),
        ("Our MPIJob spec did not request `vpc.amazonaws.com/efa` and NCCL picked NET/Socket.\n",
         "rdma.ib-device-missing", "suggests"),
        ("vpc.amazonaws.com/efa: 4 was never added to the worker's limits.\n", "rdma.ib-device-missing", "suggests"),
        ("The EFA devices were not allocated to the pods by the device plugin.\n",
         "rdma.ib-device-missing", "suggests"),
        ("Pods run without any vpc.amazonaws.com/efa request, so there is no /dev/infiniband.\n",
         "rdma.ib-device-missing", "suggests"),
        # a CycleCloud bucket of a GPU size counted with no GPUs, with and without a placement group
        ("NODEARRAY PLACEMENT_GROUP VM_SIZE VCPU_COUNT PCPU_COUNT MEMORY AVAILABLE_COUNT NCPUS PCPUS NGPUS MEMGB\n"
         "gpu       Standard_NC24ads_A100_v4 24 24 220.00g 8 24 24 0 220.00g\n", "slurm.gres-unavailable", "suggests"),
        ("gpu   gpu_pg0   Standard_ND96asr_v4   96   96   900.00g   4   96   96   0   900.00g   855.00g\n",
         "slurm.gres-unavailable", "suggests"),
        # the same in words
        ("azslurm reports 0 GPUs for the ND H200 node array.\n", "slurm.gres-unavailable", "suggests"),
        ("After `azslurm scale`, gres.conf is not generated for the gpu partition.\n",
         "slurm.gres-unavailable", "suggests"),
        ("No gres are configured for the nodes in azure.conf.\n", "slurm.gres-unavailable", "suggests"),
        ("ParallelCluster detected zero GPUs on the p5 compute resource.\n", "slurm.gres-unavailable", "suggests"),
    ],
)
def test_a_heldout31a_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # Intel MPI's other errors, and MPICH's healthy-looking stack lines
        ("dcp_recv(165)...................: fail failed\n", "mpi.cma-ptrace-denied"),
        ("Fatal error in PMPI_Init: Other MPI error, error stack:\nMPIR_Init_thread(805): fail failed\n",
         "mpi.cma-ptrace-denied"),
        ("Cannot read from remote host: connection reset by peer\n", "mpi.cma-ptrace-denied"),
        ("We enabled ptrace for non-root users with the sysctl and it works now.\n", "mpi.cma-ptrace-denied"),
        # PID namespaces mentioned without the refused read
        ("Each rank runs under its own singularity exec -p, so every rank has a separate PID namespace.\n",
         "topology.ranks-split-across-containers"),
        # UCX attach errors that are not about a peer in another namespace
        (_UCX + "Error returned from open in attach. Permission denied. File name is: "
         "/dev/shm/ucx_shm_posix_6b8f01a2\n", "topology.ranks-split-across-containers"),
        (_UCX + "Error returned from open in attach. Too many open files. File name is: /proc/4102/fd/19\n",
         "topology.ranks-split-across-containers"),
        ("[node7:2211:0] mm_posix.c:200 UCX DEBUG posix allocated 0x7f00 length 8392704 id 0x1\n",
         "topology.ranks-split-across-containers"),
        # the EFA resource present, or EFA told of otherwise
        ("resources: {limits: {nvidia.com/gpu: 8, vpc.amazonaws.com/efa: 32}}\n", "rdma.ib-device-missing"),
        ("The pod requests vpc.amazonaws.com/efa: 4 and NCCL uses NET/OFI.\n", "rdma.ib-device-missing"),
        ("EFA devices are not supported on g5.xlarge, so a single node is used.\n", "rdma.ib-device-missing"),
        ("ip-10-0-1-2:33:33 [0] NCCL INFO NET/OFI Selected Provider is efa (found 4 nics)\n",
         "rdma.ib-device-missing"),
        # CycleCloud buckets of CPU sizes (0 GPUs is right), a GPU size counted right, an FPGA size
        ("htc   Standard_F2s_v2   2   1   4.00g   10   2   1   0   4.00g   3.00g\n", "slurm.gres-unavailable"),
        ("hpc   Standard_ND96isr_H100_v5   96   96   1900.00g   2   96   96   8   1900.00g   1805.00g\n",
         "slurm.gres-unavailable"),
        ("fpga   Standard_NP10s   10   10   168.00g   2   10   10   0   168.00g   160.00g\n",
         "slurm.gres-unavailable"),
        # GPUs and gres.conf mentioned in healthy or other ways
        ("azslurm reports 8 GPUs for Standard_ND96isr_H100_v5.\n", "slurm.gres-unavailable"),
        ("slurmd: gres.conf is generated by AutoDetect=nvml on each node.\n", "slurm.gres-unavailable"),
        ("The login node has no GPUs, which is expected.\n", "slurm.gres-unavailable"),
    ],
)
def test_a_heldout31a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)


_OMPI_BUS = (
    "[c0ffee123456:00417] *** Process received signal ***\n"
    "[c0ffee123456:00417] Signal: Bus error (7)\n"
    "[c0ffee123456:00417] Signal code: Non-existant physical address (2)\n"
    "[c0ffee123456:00417] [ 0] /lib64/libc.so.6(+0x3e9a0)[0x7f1d2c83e9a0]\n"
    "[c0ffee123456:00417] [ 1] /usr/lib64/libfabric.so.1(+0x5a1b20)[0x7f1d2a1a1b20]\n"
    "[c0ffee123456:00417] [ 2] /usr/lib64/openmpi/lib/openmpi/mca_mtl_ofi.so(+0x4c21)[0x7f1d29e04c21]\n"
)
_CAFFE_46 = "F0301 10:00:00.000001  4242 gpu_memory.cpp:152] Check failed: error == cudaSuccess (46 vs. 0)  " \
    "all CUDA-capable devices are busy or unavailable\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # a SIGBUS inside libfabric in a container
        ("$ podman run --rm -it fedora-mpi mpirun -n 2 ./a.out\n" + _OMPI_BUS, "shm.too-small", "suggests"),
        ("docker run --rm ci-image ctest\n" + _OMPI_BUS.replace("libfabric.so.1(+0x5a1b20)",
                                                                "libfabric.so.1(fi_getinfo+0x2c)"),
         "shm.too-small", "suggests"),
        # Open MPI sending its messages to docker0 (and lo), told in words
        ("The MPI broadcast seems to send messages to interfaces like lo and docker0 since Docker was installed.\n",
         "network.wrong-interface", "suggests"),
        ("mpirun sends its packets to the 'docker0' bridge and the run does nothing.\n", "network.wrong-interface",
         "suggests"),
        ("Open MPI was sending data to docker0 on every node.\n", "network.wrong-interface", "suggests"),
        # each rank with its own CUDA_VISIBLE_DEVICES, with Slurm's per-task GPU request in the log
        ("#SBATCH --gpus-per-task=1\nSlurm 23.02 sets CUDA_VISIBLE_DEVICES on a per-task basis.\n",
         "slurm.gpu-bind-isolates-ranks", "suggests"),
        ("srun -n 8 --gpus-per-task=1 python run.py\nEach MPI rank only sees a single GPU.\n",
         "slurm.gpu-bind-isolates-ranks", "suggests"),
    ],
)
def test_a_heldout31a_context_names_the_cause(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # caffe made its cuBLAS handle, only cuDNN failed: 46 is not the compute mode (BVLC spelling too)
        ("E0301 10:00:00.000000  4242 common.cpp:128] Cannot create cuDNN handle. cuDNN won't be available.\n"
         + _CAFFE_46, "nvidia.compute-mode-exclusive"),
        ("E0301 10:00:00.000000  4242 common.cpp:60] Cannot create Cudnn handle. Cudnn won't be available.\n"
         + _CAFFE_46, "nvidia.compute-mode-exclusive"),
        # the same GPUs run another branch of the job
        ("CUDA error: all CUDA-capable devices are busy or unavailable, line 148\n"
         "The same job with the v0.6 release works on these GPUs; the problem is not caused by the GPUs.\n",
         "nvidia.compute-mode-exclusive"),
        ("RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n"
         "It works with the develop branch on the same nodes.\n", "nvidia.compute-mode-exclusive"),
        # a bus error inside libfabric on a bare host, a segfault inside libfabric in a container
        (_OMPI_BUS, "shm.too-small"),
        ("$ podman run --rm fedora-mpi mpirun -n 2 ./a.out\n"
         + _OMPI_BUS.replace("Bus error (7)", "Segmentation fault (11)"), "shm.too-small"),
        # docker0 mentioned, not used by MPI, or excluded without a fix reported
        ("Open MPI uses the eth0 interface and ignores docker0.\n", "network.wrong-interface"),
        ("The host has docker0 and eth0.\n", "network.wrong-interface"),
        ("I tried --mca btl_tcp_if_exclude lo,docker0 but it still hangs.\n", "network.wrong-interface"),
        ("I sent the output of ip a, which lists docker0.\n", "network.wrong-interface"),
        ("MPI sends its messages over eth0, not docker0.\n", "network.wrong-interface"),
        # per-rank GPUs without Slurm's per-task request, and a per-node request
        ("Each MPI rank only sees a single GPU.\n", "slurm.gpu-bind-isolates-ranks"),
        ("#SBATCH --gpus-per-node=8\nCUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 in every rank.\n",
         "slurm.gpu-bind-isolates-ranks"),
    ],
)
def test_a_heldout31a_context_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # both handles failed: the GPU took no context, the compute mode stays a reading
        "E0301 10:00:00.000000  4242 common.cpp:117] Cannot create Cublas handle. Cublas won't be available.\n"
        "E0301 10:00:00.000000  4242 common.cpp:128] Cannot create cuDNN handle. cuDNN won't be available.\n"
        + _CAFFE_46,
        # a bare 46 with no word of another setup
        "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n",
    ],
)
def test_a_heldout31a_compute_mode_stays_named(tmp_path: Path, text: str) -> None:
    assert "nvidia.compute-mode-exclusive" in _all(tmp_path, text)
