"""heldout16 lessons (glearn16b): shared memory too small, and multi-node network causes.

Positive lines are written from the code and docs that print or state them (not copied from the heldout16 logs):
MPICH's UCX netmod status line (ucx_init.c, errnames.txt "**ucx_nm_status") and UCX's worker creation with
UCS_ERR_NO_RESOURCE; a /dev/shm that had to be enlarged or ran out, retold; a quoted `docker run` of a sharded server
with Docker's default 64 MiB /dev/shm and nothing else to blame; Ray's node startup lookup ("Failed to get node info")
running past its gRPC deadline; NCCL_SOCKET_IFNAME/GLOO_SOCKET_IFNAME named as the fix; a host firewall named as
the cause. Neighbours: the same words on healthy lines, questions, negations, GPU-kernel shared memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

TGI = "ghcr.io/huggingface/text-generation-inference:2.0"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # MPICH ch4 UCX netmod: MPIDI_UCX_CHK_STATUS(ucp_worker_create(...)) -> "**ucx_nm_status %s %d %s %s"
        ("Fatal error in internal_Init_thread: Other MPI error, error stack:\n"
         "MPIDI_UCX_init_world(275).....:\n"
         "init_worker(48)...............:  ucx function returned with failed status(ucx_init.c 48 init_worker No "
         "resources are available to initiate the operation)\n", "shm.too-small"),
        ("MPIDI_UCX_mpi_init_hook(160)..: ucx function returned with failed status(ucx_init.c 160 "
         "MPIDI_UCX_mpi_init_hook No resources are available to initiate the operation)\n", "shm.too-small"),
        ("[host:123] ucp_worker_create() failed: No resources are available to initiate the operation\n",
         "shm.too-small"),
        # a /dev/shm that had to be enlarged / ran out, retold
        ("To get the pods running we had to manually increase /dev/shm with a memory emptyDir.\n", "shm.too-small"),
        ("I needed to raise --shm-size to 8g before the four shards came up.\n", "shm.too-small"),
        ("The trainer pod crashed with 8 GPUs due to exhausting shared memory.\n", "shm.too-small"),
        ("My guess is that it is running into a shared memory issue when all 8 ranks start.\n", "shm.too-small"),
        ("Mount a bigger volume to avoid NCCL shared memory allocation errors.\n", "shm.too-small"),
        # a sharded server on Docker's default /dev/shm, and only a prose error
        (f"docker run --gpus all -p 8080:80 {TGI} --model-id m --num-shard 4\n"
         "The shards do not come up, it errors out.\n", "shm.too-small"),
        ("docker run --gpus all vllm/vllm-openai:latest --model m --tensor-parallel-size 2\n"
         "It fails at startup with an error.\n", "shm.too-small"),
        # Ray node startup: the GCS lookup past its gRPC deadline
        ("2025-01-01 00:00:00,000 INFO node.py:362 -- Failed to get node info b'RPC error: Deadline Exceeded'\n"
         "Exception: The current node timed out during startup. This could happen because some of the raylet "
         "failed to startup or the GCS has become overloaded.\n", "network.wrong-interface"),
        # the interface named as the fix
        ("Solved it by setting NCCL_SOCKET_IFNAME=ens5 on both nodes.\n", "network.wrong-interface"),
        ("Setting GLOO_SOCKET_IFNAME=eth1 fixed the hang at init_process_group.\n", "network.wrong-interface"),
        ("export NCCL_SOCKET_IFNAME=bond0 did the trick\n", "network.wrong-interface"),
        # a firewall named as the cause
        ("Turned out to be a firewall problem on the worker node.\n", "network.port-blocked"),
        ("Disabling firewalld on both machines fixed the NCCL timeout.\n", "network.port-blocked"),
        ("ufw was blocking the ports the second node listens on.\n", "network.port-blocked"),
        ("Everything works once the firewall was turned off.\n", "network.port-blocked"),
        ("两台机器关闭防火墙后就正常了\n", "network.port-blocked"),
    ],
)
def test_a_heldout16_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # UCX's other statuses, and NO_RESOURCE outside worker creation
        ("init_worker(48)...: ucx function returned with failed status(ucx_init.c 48 init_worker Input/output "
         "error)\n", "shm.too-small"),
        ("ucp_ep_create failed: No resources are available to initiate the operation\n", "shm.too-small"),
        # questions, negations, GPU-kernel shared memory
        ("Do I need to increase /dev/shm for two GPUs?\n", "shm.too-small"),
        ("We did not have to increase --shm-size, the default was fine.\n", "shm.too-small"),
        ("triton.runtime.errors.OutOfResources: out of resource: shared memory, Required: 98304, Hardware limit: "
         "65536. Reducing block sizes may help; running into a shared memory issue.\n", "shm.too-small"),
        ("This kernel keeps exhausting shared memory per block at large tile sizes.\n", "shm.too-small"),
        # a sharded server with a large /dev/shm, or --ipc=host, or a single GPU; and one with no error at all
        (f"docker run --gpus all --shm-size 1g {TGI} --model-id m --num-shard 4\nIt errors out.\n", "shm.too-small"),
        (f"docker run --gpus all --ipc=host {TGI} --model-id m --num-shard 4\nIt errors out.\n", "shm.too-small"),
        (f"docker run --gpus all {TGI} --model-id m --num-shard 1\nIt errors out.\n", "shm.too-small"),
        (f"docker run --gpus all {TGI} --model-id m --num-shard 4\nConnected\n", "shm.too-small"),
        # healthy Ray startup lines and other node-info errors
        ("2025-01-01 00:00:00,000 INFO scripts.py:1128 -- Local node IP: 10.0.0.5\n", "network.wrong-interface"),
        ("Failed to get node info for node abc: not found\n", "network.wrong-interface"),
        # NCCL's own INFO line and a plain setting; the variable tried without effect
        ("node1:123:456 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to eth0\n", "network.wrong-interface"),
        ("export NCCL_SOCKET_IFNAME=eth0\n", "network.wrong-interface"),
        ("Setting NCCL_SOCKET_IFNAME=eth0 did not fix it.\n", "network.wrong-interface"),
        # firewalls mentioned with no cause
        ("The firewall is not the problem: I already checked it.\n", "network.port-blocked"),
        ("No firewall issue here, ports 29500 and 6379 are open.\n", "network.port-blocked"),
        ("Check whether the firewall allows the ports.\n", "network.port-blocked"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


TWO_NODES = (
    "torchrun --nproc_per_node=8 --nnodes=2 --node_rank=0 --master_addr=10.0.0.1 --master_port=29500 train.py\n"
    "torchrun --nproc_per_node=8 --nnodes=2 --node_rank=1 --master_addr=10.0.0.1 --master_port=29500 train.py\n"
)


def test_a_bare_two_node_hang_points_at_the_interface(tmp_path: Path) -> None:
    found = _findings(tmp_path, TWO_NODES + "Both nodes just hang after start, no error is printed.\n")
    assert found and found[0] == ("network.wrong-interface", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # one node
        "torchrun --nproc_per_node=8 --nnodes=1 train.py\nThe run hangs after start.\n",
        # two nodes, no hang
        TWO_NODES + "Training finished, loss 0.12.\n",
        # two nodes and NCCL shows the bootstrap on a routable NIC: not a bare hang
        TWO_NODES + "node1:1:1 [0] NCCL INFO Bootstrap : Using ens5:10.0.0.1<0>\nIt hangs after start.\n",
    ],
)
def test_no_bare_multi_node_pick_without_its_conditions(tmp_path: Path, text: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert "network.wrong-interface" not in found, found


COMPOSE_TP2 = """```yaml
services:
  vllm:
    image: vllm/vllm-openai:v0.8.5
    command: --model m --tensor-parallel-size 2
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 2
              capabilities: [gpu]
```
"""


def test_a_sharded_compose_service_on_the_default_shm(tmp_path: Path) -> None:
    found = _findings(tmp_path, COMPOSE_TP2 + "The container exits with an error at startup.\n")
    assert found and found[0] == ("shm.too-small", "suggests"), found
    roomy = COMPOSE_TP2.replace("    deploy:", "    shm_size: 16g\n    deploy:")
    assert "shm.too-small" not in [c for c, _ in _findings(tmp_path, roomy + "The container exits with an error.\n")]
