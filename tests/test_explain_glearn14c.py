"""Heldout14 lessons (glearn14c): the serving / HPC / network families behind its misses.

Every line is written from the upstream text its signature cites (not copied from the heldout14 logs): NCCL's
"Failed to open libibverbs.so[.1]" (src/misc/ibvwrap.cc, ibvsymbols.cc), coreutils ls on /dev/infiniband, the
retellings of NCCL's socket fallback and of ranks split across containers (NVIDIA/nccl#945), Ray's task error
wrapper around an invalid CUDA device index (ray/exceptions.py RayTaskError), and a reporter's resolution by
upgrading the image's CUDA/torch stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# NCCL src/misc/ibvsymbols.cc buildIbvSymbols: INFO(NCCL_INIT, "Failed to open libibverbs.so[.1]") (WARN in ibvwrap.cc
# v2.4-v2.18); init.cc "comm %p rank %d nRanks %d nNodes %d localRanks %d localRank %d MNNVL %d"
IBV = "node-a:311:402 [0] NCCL INFO {level}Failed to open libibverbs.so[.1]\n"
NNODES = "node-a:311:402 [0] NCCL INFO comm 0x5581 rank 0 nRanks 16 nNodes {n} localRanks 8 localRank 0 MNNVL 0\n"
SOCKET = "node-a:311:402 [0] NCCL INFO NET/Socket : Using [0]eth0:10.1.0.4<0>\n"
# ray/exceptions.py RayTaskError: "ray.exceptions.RayTaskError(<cause class>): ray::<Class>.<method>() (pid=, ip=)"
RAY = (
    "ray.exceptions.RayTaskError(RuntimeError): ray::Worker.run() (pid=4821, ip=10.0.0.7, actor_id=ab12)\n"
    '  File "/app/bench.py", line 88, in run\n'
    "    torch.cuda.set_device(self.rank)\n"
    '  File "/usr/lib/python3/site-packages/torch/cuda/__init__.py", line 478, in set_device\n'
    "    torch._C._cuda_setDevice(device)\n"
    "RuntimeError: CUDA error: invalid device ordinal\n"
)
BARE_ORDINAL = (
    "$ docker run --gpus '\"device=2,3\"' -e CUDA_VISIBLE_DEVICES=2,3 img python train.py\n"
    "RuntimeError: CUDA error: invalid device ordinal\n"
)
# torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp (1.x): "NCCL error in: <file>:<line>, unhandled system error,
# NCCL version X"
NCCL_SYS = "RuntimeError: NCCL error in: /pytorch/torch/lib/c10d/ProcessGroupNCCL.cpp:911, unhandled system error, NCCL version 2.7.8\n"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # NCCL cannot load the verbs library and ranks span nodes: sockets between nodes
        (NNODES.format(n=2) + IBV.format(level="") + SOCKET, "network.socket-fallback"),
        (NNODES.format(n=2) + "node-a:311:402 [0] NCCL WARN Failed to open libibverbs.so[.1]\n", "network.socket-fallback"),
        # the image retold without the verbs library
        ("Multi-node runs were slow: rdma-core is not installed in the Docker image we use.\n", "network.socket-fallback"),
        ("The base image ships no libibverbs, so NCCL never engages InfiniBand.\n", "network.socket-fallback"),
        # NCCL's socket fallback retold
        ("After the move to k8s NCCL fell back to TCP sockets between the nodes.\n", "network.socket-fallback"),
        ("Training was running over TCP sockets instead of InfiniBand, 30x slower.\n", "network.socket-fallback"),
        # /dev/infiniband not in the container: shown by ls, or retold
        ("root@worker-1:/# ls /dev/infiniband\nls: cannot access '/dev/infiniband': No such file or directory\n",
         "rdma.ib-device-missing"),
        ("The launcher starts the container without --device /dev/infiniband, so NCCL falls back to NET/Socket.\n",
         "rdma.ib-device-missing"),
        ("The helm chart does not expose /dev/infiniband to the pods.\n", "rdma.ib-device-missing"),
        # ranks in separate containers on one node
        ("Two containers on one DGX: NVLink P2P does not work between containers, only SHM.\n",
         "topology.ranks-split-across-containers"),
        ("Is there a way to get P2P across containers in the same node?\n", "topology.ranks-split-across-containers"),
        ('Each container is a separate "node" for NCCL, so it cannot use P2P.\n', "topology.ranks-split-across-containers"),
    ],
)
def test_a_heldout14c_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


def test_missing_dev_infiniband_leads_the_socket_fallback_it_causes(tmp_path: Path) -> None:
    text = (
        "run.sh starts the workers with --gpus all but without --device /dev/infiniband.\n"
        "NCCL silently falls back to NET/Socket over eth0.\n"
    )
    found = [c for c, _ in _findings(tmp_path, text)]
    assert found[:1] == ["rdma.ib-device-missing"], found
    assert "network.socket-fallback" in found


@pytest.mark.parametrize(
    "text",
    [
        # one node: NCCL prints the dlopen failure on every host without rdma-core, harmlessly
        IBV.format(level="") + SOCKET,
        NNODES.format(n=1) + IBV.format(level=""),
        # healthy IB
        "node-a:311:402 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_1:1/IB ; OOB ib0:10.2.0.4<0>\n",
        # a Dockerfile installing the library, and a statement that IB is used
        "RUN apt-get install -y libibverbs1 ibverbs-providers\n",
        "With /dev/infiniband passed, NCCL uses IB between the nodes.\n",
        # conditional or healthy prose
        "We run one container per node and everything works.\n",
        "--device /dev/infiniband:/dev/infiniband\n",
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not {"network.socket-fallback", "rdma.ib-device-missing", "topology.ranks-split-across-containers"} & set(
        found
    ), found


def test_a_single_node_libibverbs_failure_is_a_note(tmp_path: Path) -> None:
    text = IBV.format(level="") + SOCKET
    assert any("could not load libibverbs" in n for n in _notes(tmp_path, text))


def test_an_invalid_ordinal_inside_a_ray_task_is_no_container_cause(tmp_path: Path) -> None:
    assert _findings(tmp_path, RAY) == []
    assert any("inside a Ray worker" in n for n in _notes(tmp_path, RAY))


def test_an_invalid_ordinal_outside_ray_still_names_the_mask(tmp_path: Path) -> None:
    found = _findings(tmp_path, BARE_ORDINAL)
    assert found and found[0][0] == "cuda.visible-devices-mismatch", found


def test_ncclsystemerror_fixed_by_upgrading_the_image_is_no_container_cause(tmp_path: Path) -> None:
    text = NCCL_SYS + "After we upgraded torch and the CUDA base image we no longer see the error.\n"
    assert _findings(tmp_path, text) == []


@pytest.mark.parametrize(
    "resolution",
    [
        # a host upgrade is a host cause of its own: the generic guess stays
        "After we upgraded the NVIDIA driver we no longer see the error.\n",
        "Once I updated the nvidia-container-toolkit it was fixed.\n",
        # no resolution at all
        "We will try to upgrade torch next week.\n",
    ],
)
def test_ncclsystemerror_without_a_stack_upgrade_keeps_its_guess(tmp_path: Path, resolution: str) -> None:
    found = [c for c, _ in _findings(tmp_path, NCCL_SYS + resolution)]
    assert found and found[0] == "shm.too-small", found


# NCCL src/bootstrap.cc bootstrapNetInit "Bootstrap : Using%s"; net plugin / IB probes; init.cc and transport.cc
# lines printed once the ranks connected
BOOT = (
    "trainer-0:201:388 [0] NCCL INFO Bootstrap : Using eth0:10.40.2.17<0>\n"
    "trainer-0:201:388 [0] NCCL INFO NET/Plugin : No plugin found (libnccl-net.so), using internal implementation\n"
    "trainer-0:201:388 [0] NCCL INFO NET/IB : No device found.\n"
    "trainer-0:201:388 [0] NCCL INFO NET/Socket : Using [0]eth0:10.40.2.17<0>\n"
)
PAST = (
    "trainer-0:201:388 [0] NCCL INFO Channel 00/02 :    0   1\n"
    "trainer-0:201:388 [0] NCCL INFO Channel 00 : 0[1000] -> 1[2000] via P2P/IPC\n"
    "trainer-0:201:388 [0] NCCL INFO comm 0x7f10 rank 0 nranks 2 cudaDev 0 busId 1000 - Init COMPLETE\n"
)


def test_a_hang_stalled_at_ncclbootstrap_is_a_blocked_port(tmp_path: Path) -> None:
    found = _findings(tmp_path, "The training just hangs after this, no error.\n" + BOOT)
    assert found and found[0] == ("network.port-blocked", "suggests"), found


def test_a_hang_after_nccl_init_completed_is_not_a_blocked_port(tmp_path: Path) -> None:
    found = [c for c, _ in _findings(tmp_path, "The training just hangs after this, no error.\n" + BOOT + PAST)]
    assert "network.port-blocked" not in found, found


def test_bootstrap_lines_without_a_hang_name_nothing(tmp_path: Path) -> None:
    assert "network.port-blocked" not in [c for c, _ in _findings(tmp_path, BOOT)]


def test_a_hang_bootstrapping_on_docker0_across_nodes_stays_the_interface(tmp_path: Path) -> None:
    text = (
        "It hangs at init.\n"
        "a-node:1:2 [0] NCCL INFO Bootstrap : Using docker0:172.17.0.1<0>\n"
        "b-node:1:2 [0] NCCL INFO Bootstrap : Using docker0:172.17.0.1<0>\n"
    )
    found = [c for c, _ in _findings(tmp_path, text)]
    assert found[:1] == ["network.wrong-interface"], found
