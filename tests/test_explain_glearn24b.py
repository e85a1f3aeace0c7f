"""Issue 13, heldout24 lessons (glearn24b): networking, hangs, shared memory and CUDA IPC.

Lines are written from the code that prints them (not copied from the heldout24 logs): Open MPI's TCP BTL handshake
reaching another process (btl_tcp_endpoint.c, the v1.10-v4.1 and v5 forms); aws-ofi-nccl's fi_av_insert failure (RC
as a number and as a string, the CM form) and its security-group banner (platform-aws.cpp); Triton's CUDA IPC handle
that the server cannot open (the client-side and server-log forms); /dev/shm stated at 64 MB and a DataLoader failing
to allocate shared memory, in words; a tensor copied between GPUs that arrives as zeros; a hang across nodes told by
the launcher's host list (paddle --ips, mpirun -H) or in words; btl_tcp_if_include / NCCL_SOCKET_IFNAME told as
the fix; and NCCL's per-collective INFO line, which shows the ranks got past the bootstrap (so a static-graph hang
with those lines names no network cause).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes, findings


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # Open MPI TCP BTL: the address dialled reached another rank (v1.10-v4.1 form, v5 form)
        ("[gpu-b][[52310,1],2][btl_tcp_endpoint.c:625:mca_btl_tcp_endpoint_recv_connect_ack] received unexpected "
         "process identifier [[52310,1],5]\n", "network.wrong-interface", "suggests"),
        ("[gpu-b][[prterun-gpu-a-811@1,2]][btl_tcp_endpoint.c:667:mca_btl_tcp_endpoint_recv_connect_ack] received "
         "unexpected process identifier: got [[prterun-gpu-a-811@1,6]] expected [[prterun-gpu-a-811@1,1]]\n",
         "network.wrong-interface", "suggests"),
        # the interface restriction told as the fix (Open MPI's include/exclude lists, NCCL_SOCKET_IFNAME in Chinese)
        ("Fixed it: the job only runs once I pass --mca btl_tcp_if_include eno2 to mpirun\n",
         "network.wrong-interface", "suggests"),
        ("Adding -mca oob_tcp_if_include 192.168.10.0/24 did the trick.\n", "network.wrong-interface", "suggests"),
        ("两台机器 export NCCL_SOCKET_IFNAME=bond0 之后就好了\n", "network.wrong-interface", "suggests"),
        # aws-ofi-nccl: the peer's EFA address could not be inserted (every printed form), and the SG banner (gnew30c: the
        # EFA security group has its own id, network.efa-security-group)
        ("trn1-a:41:97 [2] NCCL WARN NET/OFI Unable to insert remote address into address vector for device 2. "
         "RC: 0\n", "network.efa-security-group", "suggests"),
        ("p5-b:12:58 [7] nccl_ofi_rdma.c:2523 NCCL WARN NET/OFI Unable to insert remote address into address vector "
         "for device 7. RC: Invalid argument\n", "network.efa-security-group", "suggests"),
        ("p5-b:12:58 [0] NCCL WARN NET/OFI CM: Unable to insert remote address into address vector for device.\n",
         "network.efa-security-group", "suggests"),
        ("NCCL WARN NET/OFI Request 0x7f31 (send) completed with error: err: 113, flags: 0, prov_errno: 4, strerror: "
         "Destination unreachable, len: 0\n\n"
         "**********************************************************************\n"
         "* This error indicates that the security group on either this instance or the peer instance\n"
         "* is not setup correctly.  For more information, please see the AWS documentation at\n",
         "network.efa-security-group", "proves"),
        # Triton: the server could not open the client's CUDA IPC handle (client-side, older server; newer server log)
        ("tritonclient.utils.InferenceServerException: [StatusCode.INTERNAL] failed to register CUDA shared memory "
         "region 'in0': failed to open CUDA IPC handle: invalid argument\n",
         "topology.ranks-split-across-containers", "suggests"),
        ("E0612 08:01:02.003004 1 shared_memory_manager.cc:260] failed to open CUDA IPC handle: invalid resource "
         "handle\n", "topology.ranks-split-across-containers", "suggests"),
        # /dev/shm stated at 64 MB, in words
        ("The workflow pods have their shared memory (/dev/shm) set to 64 MB and nothing in the spec changes it.\n",
         "shm.too-small", "suggests"),
        ("In the notebook server /dev/shm is limited to 64MB.\n", "shm.too-small", "suggests"),
        ("Each Argo step runs with a 64 MB /dev/shm.\n", "shm.too-small", "suggests"),
        ("Kubeflow 的 notebook 里 /dev/shm 只有 64M\n", "shm.too-small", "suggests"),
        # a DataLoader failing to allocate shared memory, in words
        ("The operator's DataLoader throws an error when trying to allocate shared memory in the pipeline.\n",
         "shm.too-small", "suggests"),
        ("Training with num_workers=8 fails: the workers cannot get enough shared memory.\n",
         "shm.too-small", "suggests"),
        ("Shared memory allocation fails in the DataLoader workers on the cluster.\n", "shm.too-small", "suggests"),
        # a tensor copied between GPUs arrives as zeros
        ("When I copy a tensor from cuda:0 to cuda:1 it comes back as all zeros.\n", "nccl.p2p-unsupported",
         "suggests"),
        ("y = x.to('cuda:1') gives zeros on the dual 4090 box\n", "nccl.p2p-unsupported", "suggests"),
        ("把张量从 cuda:0 复制到 cuda:1 以后变成了全0\n", "nccl.p2p-unsupported", "suggests"),
        ("cudaMemcpyPeer returns success but the buffer on GPU1 contains only zeros\n", "nccl.p2p-unsupported",
         "suggests"),
    ],
)
def test_a_heldout24b_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # a hang across nodes, told by paddle's launcher host list, then the stall in Chinese ("stuck after ...")
        ("python -m paddle.distributed.launch --gpus 0,1 --ips=10.2.0.11,10.2.0.12 train.py\n"
         "训练在 init nccl 之后一直卡在这里，没有任何报错\n", "network.wrong-interface"),
        # mpirun's host list (Open MPI mpirun(1) -H host:slots,...)
        ("mpirun -np 8 -H gpu-a:4,gpu-b:4 -bind-to none python train.py\nThe job hangs right after start-up.\n",
         "network.wrong-interface"),
        # ... or in words
        ("多机多卡训练时程序卡住，单机多卡正常\n", "network.wrong-interface"),
        ("The multi-node job hangs right after start-up; a single node runs fine.\n", "network.wrong-interface"),
    ],
)
def test_a_multi_node_hang_with_nothing_else_is_read_as_the_interface(tmp_path: Path, text: str, cause: str) -> None:
    assert causes(tmp_path, text)[:1] == [cause]


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # Open MPI's other handshake messages, and a connect that worked
        ("[gpu-b][[52310,1],2][btl_tcp_endpoint.c:590:mca_btl_tcp_endpoint_recv_connect_ack] received unexpected "
         "message from peer\n", "network.wrong-interface"),
        # the interface restriction as advice, or with the failure staying
        ("You could try --mca btl_tcp_if_include eth0 if it hangs.\n", "network.wrong-interface"),
        ("Even with -mca btl_tcp_if_include ib0 it is still not fixed.\n", "network.wrong-interface"),
        ("设置了 NCCL_SOCKET_IFNAME=eth0 之后还是不行\n", "network.wrong-interface"),
        ("host:12:12 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to eth0\n", "network.wrong-interface"),
        # the plugin inserting addresses fine, and the SG banner quoted as docs
        ("NCCL INFO NET/OFI Selected provider is efa, fabric is efa-direct (found 32 nics)\n",
         "network.port-blocked"),
        # Triton: CUDA IPC absent altogether (Jetson), NCCL's own IPC handle line, and a registration that worked
        ("failed to register CUDA shared memory region 'in0': failed to open CUDA IPC handle: operation not "
         "supported\n", "topology.ranks-split-across-containers"),
        ("NCCL WARN failed to open CUDA IPC handle : 217 peer access is not supported between these two devices\n",
         "topology.ranks-split-across-containers"),
        ("I1204 10:00:00.000000 1 shared_memory_manager.cc:300] Registered CUDA shared memory region 'in0'\n",
         "topology.ranks-split-across-containers"),
        # /dev/shm sizes that are not the 64 MB default, a df line, and the fix set to a large value
        ("shm              64M     0   64M   0% /dev/shm\n", "shm.too-small"),
        ("/dev/shm is set to 64 GB on the node.\n", "shm.too-small"),
        ("We set --shm-size to 64g and /dev/shm is not limited to 64MB any more.\n", "shm.too-small"),
        ("Use a 64 MB shared memory block per GPU kernel launch.\n", "shm.too-small"),
        # GPU kernel shared memory, and a DataLoader that no longer fails
        ("The Triton kernel fails to allocate shared memory: out of resource, Required: 98304, Hardware limit: "
         "65536\n", "shm.too-small"),
        ("After --shm-size=8g the DataLoader no longer fails to allocate shared memory.\n", "shm.too-small"),
        ("The DataLoader is fast; it does not fail to allocate shared memory.\n", "shm.too-small"),
        # zeros on purpose, expected zeros, and non-zero copies
        ("x = torch.zeros(4, device='cuda:0').to('cuda:1')\n", "nccl.p2p-unsupported"),
        ("The tensor copied from cuda:0 to cuda:1 should be all zeros because the mask is empty.\n",
         "nccl.p2p-unsupported"),
        ("After copying from cuda:0 to cuda:1 the values are not zeros, they match.\n", "nccl.p2p-unsupported"),
        # NCCL's per-collective line: the ranks got past the bootstrap, so a stall across nodes there names no
        # interface (PaddlePaddle/Paddle#47451 was the program's reduce strategy)
        ("python -m paddle.distributed.launch --ips=10.2.0.11,10.2.0.12 train.py\n"
         "程序卡住不动\n"
         "gpu1:201:201 [0] NCCL INFO AllReduce: opCount 3f sendbuff 0x7f10 recvbuff 0x7f10 count 1024 datatype 7 op 0 "
         "root 0 comm 0x55e0 [nranks=8] stream 0x55f0\n", "network.wrong-interface"),
        # a hang on two 3090s across two machines is no single-node P2P hang
        ("两台各自有四张3090的机器，多机多卡训练时程序卡住不动\n", "nccl.p2p-unsupported"),
        # a stall denied in Chinese, and a multi-node warning that names a possibility
        ("python -m paddle.distributed.launch --ips=10.2.0.11,10.2.0.12 train.py\n训练没有卡在 init nccl 之后，直接报错退出\n",
         "network.wrong-interface"),
        ("Multi-node communication performance may be reduced. The job hangs at startup.\n", "network.wrong-interface"),
        # a multi-node job mentioned as a plan or a negation, with a stall on one node
        ("We have not tried multi-node yet; on one node the job hangs at startup.\n", "network.wrong-interface"),
    ],
)
def test_a_heldout24b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)
