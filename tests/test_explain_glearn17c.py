"""Issue 13, heldout17 lessons (glearn17c): multi-node transport choice, memlock, GDR, Docker bridge addresses.

Positive lines are written from the code or docs that print or state them (not copied from the heldout17 logs):
NCCL's socketFinalizeAccept refusing a peer of another socket type (include/socket.h: 3 NetSocket, 4 NetIb), a
verbs call's ENOMEM in the perror form, the locked-memory limit named in prose (Docker 64 KiB, systemd 8 MiB, the
fix ulimit -l unlimited), torch c10d dialing an address of Docker's default bridge, GPUDirect RDMA that cannot be
enabled, and a Slurm batch script that runs python without srun (a launcher mistake, not the network).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # NVIDIA/nccl src/misc/socket.cc socketFinalizeAccept, both directions
        ("gpu-a:2211:2290 [0] misc/socket.cc:538 NCCL WARN socketFinalizeAccept: wrong type 3 != 4\n"
         "gpu-a:2211:2290 [0] NCCL INFO misc/socket.cc:640 -> 3\n", "network.socket-fallback", "proves"),
        ("n2:77:91 [3] socket.c:446 NCCL WARN socketFinalizeAccept: wrong type 4 != 3\n",
         "network.socket-fallback", "proves"),
        # a verbs call reported as "call: strerror"
        ("ibv_create_qp: Cannot allocate memory\n", "rdma.memlock-too-low", "suggests"),
        ("rank 3: ibv_reg_mr: Cannot allocate memory\n", "rdma.memlock-too-low", "suggests"),
        # the locked-memory limit in prose
        ("Inside the pod the memlock limit is only 64 KiB, so the IB transport cannot start.\n",
         "rdma.memlock-too-low", "suggests"),
        ("slurmd was started by systemd and its jobs inherit a max locked memory of 8 MiB.\n",
         "rdma.memlock-too-low", "suggests"),
        ("The UCX errors go away only when we add ulimit -l unlimited to the job script.\n",
         "rdma.memlock-too-low", "suggests"),
        ("Running the container with --ulimit memlock=-1 fixed it.\n", "rdma.memlock-too-low", "suggests"),
        # torch c10d dialing Docker's default bridge
        ("torch.distributed.DistNetworkError: The client socket has timed out after 600s while trying to connect to "
         "(172.17.0.3, 29500).\n", "network.wrong-interface", "suggests"),
        ("[W socket.cpp:663] [c10d] The client socket has failed to connect to [172.17.0.2]:29500 (errno: 113 - No "
         "route to host).\n", "network.wrong-interface", "suggests"),
        # GPUDirect RDMA that cannot be turned on
        ("We cannot enable GPUDirect RDMA between the H100s and the ConnectX-7.\n", "rdma.gdr-module-missing",
         "suggests"),
        ("GDR is not working on our new nodes even though the NIC is PIX to the GPU.\n", "rdma.gdr-module-missing",
         "suggests"),
        # InfiniBand turned back on as the fix (NCCL docs NCCL_IB_DISABLE)
        ("We exported NCCL_IB_DISABLE=0 on all nodes and the ZeRO-3 slowdown was resolved.\n",
         "network.socket-fallback", "suggests"),
        ("Removing NCCL_IB_DISABLE=1 from the launcher fixed it.\n", "network.socket-fallback", "suggests"),
        # Open MPI's single copy turned off as the fix (help-btl-vader.txt, ompi#4948)
        ("export OMPI_MCA_btl_vader_single_copy_mechanism=none fixed the mpirun crash in the container\n",
         "mpi.cma-ptrace-denied", "suggests"),
        ("Solved by passing --mca btl_vader_single_copy_mechanism none to mpirun.\n", "mpi.cma-ptrace-denied",
         "suggests"),
    ],
)
def test_a_heldout17_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # another type pair (bootstrap vs proxy) and the magic check NCCL retries past
        ("n1:1:1 [0] misc/socket.cc:441 NCCL WARN socketFinalizeAccept: wrong type 1 != 2\n",
         "network.socket-fallback"),
        ("n1:1:1 [0] misc/socket.cc:430 NCCL WARN socketFinalizeAccept: wrong magic 1234 != 5678\n",
         "network.socket-fallback"),
        # another errno from a verbs call, a healthy NCCL IB line
        ("ibv_create_cq: Invalid argument\n", "rdma.memlock-too-low"),
        ("n1:1:1 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB ; OOB ib0:10.0.0.1<0>\n", "rdma.memlock-too-low"),
        # memlock unlimited / a big limit, and words without a size or a fix
        ("max locked memory       (kbytes, -l) unlimited\n", "rdma.memlock-too-low"),
        ("We set memlock to 512 GB in limits.conf.\n", "rdma.memlock-too-low"),
        ("Please check the memlock settings on the nodes.\n", "rdma.memlock-too-low"),
        # a routed address, or Docker's bridge only advertised on one node
        ("INFO worker.py:1642 -- Connecting to existing Ray cluster at address: 172.17.0.2:6379...\n",
         "network.wrong-interface"),
        ("n1:1:1 [0] NCCL INFO Bootstrap : Using eth0:172.17.0.2<0>\n", "network.wrong-interface"),
        # NCCL's own GDR INFO lines and GDR working
        ("n1:1:1 [0] NCCL INFO NET/IB : GPU Direct RDMA Enabled for HCA 0 'mlx5_0'\n", "rdma.gdr-module-missing"),
        ("GDR is enabled and the bus bandwidth is 190 GB/s.\n", "rdma.gdr-module-missing"),
        # NCCL_IB_DISABLE=1 as the fix is another story; the variable merely listed
        ("Setting NCCL_IB_DISABLE=1 fixed the crash on the single node.\n", "network.socket-fallback"),
        ("NCCL_IB_DISABLE=0\nNCCL_DEBUG=INFO\n", "network.socket-fallback"),
        # the single-copy setting named without a fix
        ("mpirun --mca btl_vader_single_copy_mechanism none -np 4 ./a.out\n", "mpi.cma-ptrace-denied"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


_BATCH = (
    "I run multi-node training with SLURM on 2 nodes and it hangs during ddp setup.\n"
    "#!/bin/bash\n#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=4\n#SBATCH --gpus=8\n\n{run}\n"
    "initializing ddp: GLOBAL_RANK: 0, MEMBER: 1/8\n"
)


def test_batch_script_without_srun_is_not_the_network(tmp_path: Path) -> None:
    found = [c for c, _ in _findings(tmp_path, _BATCH.format(run="python train.py"))]
    assert "network.wrong-interface" not in found, found


def test_batch_script_with_srun_keeps_the_multi_node_hang(tmp_path: Path) -> None:
    found = [c for c, _ in _findings(tmp_path, _BATCH.format(run="srun python train.py"))]
    assert found and found[0] == "network.wrong-interface", found
