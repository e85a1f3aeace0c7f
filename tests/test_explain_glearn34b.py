"""Issue 13, heldout34 lessons (glearn34b): multi-node RDMA, rendezvous, Ray node IPs and /dev/shm.

Lines are written from the code and docs that print them (not copied from the heldout34 logs): the RoCE all-reduce
proxies' "RDMA device %s port %d is not active" / "%s port %d is not active" (NCCL itself skips a down port silently);
NCCL's ibv_modify_qp ETIMEDOUT retold without "Call to " (ibvwrap.cc, three wordings by release); the RoCEv2 GID
index told to differ between nodes; a rendezvous address (--dist-init-addr, MASTER_ADDR, the head's IP) the worker
cannot reach; Ray's autoscaler refusing vLLM's node:<IP> bundle; a misc/shmutils.cc WARN whose text is lost, at the
lines that are the fallocate failure in every NCCL/RCCL release; NCCL's create failure retold without path and size;
and the generic ncclSystemError next to an RDMA path failure no longer read as /dev/shm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # the RoCE proxies' port check: b12x RoCEnante's form and its derivative's
        ("WARNING [roce_all_reduce.py:88] RoCE all-reduce setup failed: rank 1: RoCE proxy setup failed: "
         "RDMA device roceP2p1s0f1 port 1 is not active\n", "rdma.port-down", "suggests"),
        ("RuntimeError: RDMA device mlx5_2 port 1 is not active\n", "rdma.port-down", "suggests"),
        ("proxy init error: rocep1s0f1 port 1 is not active\n", "rdma.port-down", "suggests"),
        ("setup failed: bnxt_re0 port 1 is not active\n", "rdma.port-down", "suggests"),
        # NCCL's modify-QP timeout retold without "Call to ", in each release's wording
        ("Both ranks died with `ibv_modify_qp failed with 110 Connection timed out, on dev mlx5_1:1` on the worker.\n",
         "rdma.fabric-unreachable", "suggests"),
        ("Rank 3 reports ibv_modify_qp failed with error Connection timed out errno 110\n",
         "rdma.fabric-unreachable", "suggests"),
        ("the log ends in: ibv_modify_qp failed with error Connection timed out\n",
         "rdma.fabric-unreachable", "suggests"),
        # the RoCEv2 GID index differing per node, in words
        ("The RoCEv2 GID index is 5 on the head and 3 on the worker.\n", "rdma.fabric-unreachable", "suggests"),
        ("show_gids: the routable GID index differs between the two nodes\n", "rdma.fabric-unreachable", "suggests"),
        ("We need a different GID index on each node, a global NCCL_IB_GID_INDEX=3 breaks node 2.\n",
         "rdma.fabric-unreachable", "suggests"),
        ("With one value for both, rank 1 advertises a GID from a different subnet.\n",
         "rdma.fabric-unreachable", "suggests"),
        # a rendezvous address the worker cannot reach, in words
        ("sglang sets --dist-init-addr to the head's LAN IP, and the worker node cannot connect to it.\n",
         "network.wrong-interface", "suggests"),
        ("MASTER_ADDR resolves to the management network, so the other nodes can't reach it.\n",
         "network.wrong-interface", "suggests"),
        ("The head node IP 10.1.0.4 is unreachable from the worker.\n", "network.wrong-interface", "suggests"),
        ("dist_init_addr picks the docker0 address instead of the QSFP one, so the second spark never connects.\n",
         "network.wrong-interface", "suggests"),
        # Ray's autoscaler: vLLM's node:<IP> bundle that no node offers (autoscaler v1 and v2 forms)
        ("(autoscaler +11s) Error: No available node types can fulfill resource request {'node:172.16.0.9': 0.001, "
         "'GPU': 1.0}. Add suitable node types to this cluster to resolve this issue.\n",
         "network.wrong-interface", "suggests"),
        ("Error: No available node types can fulfill resource request {'GPU': 1.0, 'node:10.8.1.2': 0.001}. Add "
         "suitable node types to this cluster to resolve this issue.\n", "network.wrong-interface", "suggests"),
        ("No available node types can fulfill placement group requests (detail=pg-7): {'node:10.8.1.2': 0.001, "
         "'GPU': 1.0}*1. Add suitable node types to this cluster to resolve this issue.\n",
         "network.wrong-interface", "suggests"),
        # a misc/shmutils.cc WARN with its text lost, at the fallocate line of each release
        ("node3:411:502 [2] misc/shmutils.cc:72 NCCL W\n", "shm.too-small", "suggests"),
        ("node3:411:502 [2] misc/shmutils.cc:38 NCCL WARN\n", "shm.too-small", "suggests"),
        ("(RayWorker pid=9) node3:411:502 [2] misc/shmutils.cc:87 NCCL WARN\n", "shm.too-small", "suggests"),
        # NCCL's create failure retold without path and size
        ("Title: NCCL fails at the decode step: Error while creating shared memory segment\n",
         "shm.too-small", "suggests"),
        ("torch.distributed.DistBackendError: NCCL error: Error while creating shared memory segment\n",
         "shm.too-small", "suggests"),
    ],
)
def test_a_heldout34b_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # the retold modify-QP timeout, the GID prose and a down port, each behind NCCL's generic system error
        ("host:1:2 [0] NCCL WARN NET/IB : rocep1s0f0:1 Got async event : port error\n"
         "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"),
        ("Both ranks died with `ibv_modify_qp failed with 110 Connection timed out, on dev mlx5_1:1`.\n"
         "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error\n"),
        ("The RoCEv2 GID index is 4 on node 1 and 3 on node 2.\n"
         "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"),
        ("node1:2211:2290 [0] misc/ibvwrap.cc:295 NCCL WARN Call to ibv_modify_qp failed with 110 Connection timed "
         "out, on dev mlx5_4:1, curr state INIT, next state RTR, local GID index 3, local GID ::ffff:10.2.0.5, remote "
         "GID ::ffff:10.3.0.9\n"
         "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"),
    ],
)
def test_an_rdma_path_failure_keeps_the_system_error_off_shm(tmp_path: Path, text: str) -> None:
    assert "shm.too-small" not in _all(tmp_path, text)
    assert any("RDMA path between the nodes" in n for n in _notes(tmp_path, text))


def test_the_system_error_alone_still_suggests_shm(tmp_path: Path) -> None:
    text = "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"
    assert _causes(tmp_path, text)[:1] == ["shm.too-small"]


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # a port that is not active but no RDMA device: a TCP port, a serial port, DPDK's debug line, a healthy port
        ("Port 8000 is not active, starting the server.\n", "rdma.port-down"),
        ("WARNING: port 29500 is not active yet, retrying\n", "rdma.port-down"),
        ("PMD: net_mlx4: port 1 is not active: \"DOWN\" (1)\n", "rdma.port-down"),
        ("RDMA device mlx5_0 port 1 is active\n", "rdma.port-down"),
        # the retried modify-QP INFO line of NCCL >= 2.24, and other errnos retold
        ("ibv_modify_qp failed with 110 Connection timed out, on dev mlx5_0:1, curr state INIT, next state RTR, "
         "retrying 1/5\n", "rdma.fabric-unreachable"),
        ("ibv_modify_qp failed with 22 Invalid argument on the first attempt only\n", "rdma.fabric-unreachable"),
        # GID indices that are the same, or compared between RoCE versions on one host, or advice
        ("The RoCEv2 GID index is 3 on the head and 3 on the worker.\n", "rdma.fabric-unreachable"),
        ("NCCL_IB_GID_INDEX=3 is set on all nodes and the job runs.\n", "rdma.fabric-unreachable"),
        ("GID index 0 is RoCE v1 and index 1 is RoCE v2 on this host.\n", "rdma.fabric-unreachable"),
        ("host:1:2 [0] NCCL INFO NCCL_IB_GID_INDEX set by environment to 3.\n", "rdma.fabric-unreachable"),
        # a rendezvous address in advice, reachable, or a worker problem with no address
        ("If MASTER_ADDR is wrong, the worker cannot connect to the store.\n", "network.wrong-interface"),
        ("Make sure --dist-init-addr is the head's IP on the QSFP link, otherwise the worker can't connect.\n",
         "network.wrong-interface"),
        ("MASTER_ADDR is 10.0.0.1 and the worker connects fine.\n", "network.wrong-interface"),
        ("--dist-init-addr 192.168.100.10:20000 --nnodes 2 --node-rank 1\n", "network.wrong-interface"),
        ("The worker cannot connect to Hugging Face to download the model.\n", "network.wrong-interface"),
        # Ray's infeasible request without a node:<IP> key, and vLLM's healthy wait
        ("(autoscaler +7s) Error: No available node types can fulfill resource request {'GPU': 1.0}. Add suitable "
         "node types to this cluster to resolve this issue.\n", "network.wrong-interface"),
        ("INFO 08-23 10:16:22 ray_utils.py:174] Waiting for creating a placement group of specs for 10 seconds. "
         "specs=[{'node:10.0.0.2': 0.001, 'GPU': 1.0}, {'GPU': 1.0}]. Check `ray status` to see if you have enough "
         "resources.\n", "network.wrong-interface"),
        # other misc/shmutils.cc WARNs: create/attach, unlink, munmap
        ("gpu03:4410:4482 [2] misc/shmutils.cc:173 NCCL WARN unlink shared memory /dev/shm/nccl-0aZk3P failed, "
         "error: No such file or directory (2)\n", "shm.too-small"),
        ("gpu03:4410:4482 [2] misc/shmutils.cc:140 NCCL WARN\n", "shm.too-small"),
        ("gpu03:4410:4482 [2] misc/shmutils.cc:720 NCCL WARN\n", "shm.too-small"),
        # a healthy NCCL_DEBUG=INFO shm line
        ("host:7:7 [0] NCCL INFO Channel 00 : 0[0] -> 1[1] via SHM/direct/direct\n", "shm.too-small"),
        # NCCL's create failure retold with a permission / read-only / missing-path errno
        ("Error while creating shared memory segment: Permission denied\n", "shm.too-small"),
        ("NCCL reported Error while creating shared memory segment, error: Read-only file system (30)\n",
         "shm.too-small"),
    ],
)
def test_a_heldout34b_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # NCCL >= 2.26's link-layer check, in its three WARNs (connect, merge, the peer's devices)
        "n1:5:9 [0] transport/net_ib.cc:1414 NCCL WARN NET/IB : Attempted to connect incompatible devices: "
        "[2]mlx5_2:1/RoCE and [0]mlx5_0:1/IB. Try selecting NICs of only one link type using NCCL_IB_HCA\n",
        "n1:5:9 [0] transport/net_ib.cc:542 NCCL WARN NET/IB : Attempted to merge incompatible devices: "
        "[0]mlx5_0:1/IB and [1]mlx5_1:1/RoCE. Try selecting NICs of only one link type using NCCL_IB_HCA\n",
        "n1:5:9 [0] transport/net_ib/connect.cc:1034 NCCL WARN NET/IB : Remote IB device is incompatible with the "
        "local [0]rocep1s0f0:1/RoCE. Try selecting NICs of only one link type using NCCL_IB_HCA\n",
    ],
)
def test_nccl_refusing_mixed_link_layers_is_the_hca_choice(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text)[:1] == [("rdma.fabric-unreachable", "suggests")]


def test_a_healthy_ib_device_listing_is_not_a_mixed_link_layer(tmp_path: Path) -> None:
    text = ("host:1:1 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_1:1/RoCE ; OOB eth0:10.0.0.2<0>\n"
            "host:1:1 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[0] [send] via NET/IB/0\n")
    assert "rdma.fabric-unreachable" not in _all(tmp_path, text)
