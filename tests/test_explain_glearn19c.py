"""Issue 13, heldout19 lessons (glearn19c): shared memory, P2P and interfaces told in other words.

Lines are written from the code and docs that print them (not copied from the heldout19 logs): Ray's
determine_plasma_store_config ValueError in its early-2021 size-less form ("exceeds the capacity of /dev/shm") and
the later one with sizes; a container's shared-memory cap named as the reason for a SIGBUS (MPICH's shared-memory
transport in Docker, ai2cm/fv3core#583); GPU peer-to-peer off as a first-person experiment that worked
(NCCL_P2P_DISABLE=1), the IOMMU kernel parameter that fixed it (iommu=soft/pt) and the PCIe P2P configuration blamed
in Chinese (NCCL troubleshooting 'PCI Access Control Services').
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # Ray's object store larger than /dev/shm: both forms of services.py's ValueError
        ("ValueError: The configured object store size exceeds the capacity of /dev/shm. This will harm "
         "performance. To proceed regardless of this warning, you can set RAY_OBJECT_STORE_ALLOW_SLOW_STORAGE=1.\n",
         "shm.too-small", "proves"),
        ("ValueError: The configured object store size (30.0 GB) exceeds /dev/shm size (0.067108864 GB). This will "
         "harm performance. Consider deleting files in /dev/shm or increasing its size with --shm-size in Docker.\n",
         "shm.too-small", "proves"),
        # the container's shared-memory cap named as the reason for a SIGBUS
        ("Docker limits the shared memory of the container, so MPICH crashes.\n", "shm.too-small", "suggests"),
        ("Open MPI's vader BTL maps its segments in /dev/shm, which ends in a SIGBUS once it fills.\n",
         "shm.too-small", "suggests"),
        ("The ranks die with a bus error caused by the tiny shared memory of the pod.\n", "shm.too-small", "suggests"),
        ("容器限制了 /dev/shm 的大小，mpirun 直接崩溃\n", "shm.too-small", "suggests"),
        # a child's SIGBUS retold next to the container
        ("The ranks are killed by signal 7 inside the docker container after the first step.\n",
         "shm.too-small", "suggests"),
        ("Every worker in the pod gets SIGBUS right after NCCL init.\n", "shm.too-small", "suggests"),
        # P2P off as an experiment that worked, the IOMMU fix, the PCIe P2P configuration blamed
        ("If we export NCCL_P2P_DISABLE=1, DDP runs on all four GPUs.\n", "nccl.p2p-unsupported", "suggests"),
        ("When I set `NCCL_P2P_DISABLE=1` then training no longer hangs with three GPUs.\n",
         "nccl.p2p-unsupported", "suggests"),
        ("Booting with intel_iommu=off fixed the NCCL hang.\n", "nccl.p2p-unsupported", "suggests"),
        ("Resolved by adding iommu=pt to GRUB_CMDLINE_LINUX.\n", "nccl.p2p-unsupported", "suggests"),
        ("内核参数加上 iommu=soft 之后就好了\n", "nccl.p2p-unsupported", "suggests"),
        ("export NCCL_P2P_DISABLE=1 之后 8 卡可以正常跑了\n", "nccl.p2p-unsupported", "suggests"),
        ("最后发现是服务器 PCIe 上 GPU 之间 P2P 通信的配置问题\n", "nccl.p2p-unsupported", "suggests"),
        # NCCL's bootstrap finding no interface, as retold and from the ND plugin
        ("RuntimeError: NCCL error: invalid usage; Bootstrap: no socket interface found\n",
         "network.wrong-interface", "proves"),
        ("host:12:12 [0] NCCL WARN NET/ND : no socket interface found for out-of-band connections\n",
         "network.wrong-interface", "proves"),
        # the socket variable names an interface the machine does not have, in words
        ("The job script sets NCCL_SOCKET_IFNAME=eth0 while the VM only has ens5 and lo.\n",
         "network.wrong-interface", "suggests"),
        ("GLOO_SOCKET_IFNAME points at bond0 but this host doesn't have one.\n", "network.wrong-interface", "suggests"),
        ("We exported NCCL_SOCKET_IFNAME=ib0, but there is no such interface inside the container.\n",
         "network.wrong-interface", "suggests"),
        ("NCCL_SOCKET_IFNAME=eno1 设置的网卡在这台机器上不存在\n", "network.wrong-interface", "suggests"),
    ],
)
def test_a_heldout19c_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # Ray's warning that it fell back to /tmp, on a host where nothing failed, is not this ValueError
        ("The object store capacity is 2.0 GB; /dev/shm has 32 GB available.\n", "shm.too-small"),
        # shared memory mentioned, no cap, no crash
        ("NCCL uses shared memory between the local ranks.\n", "shm.too-small"),
        ("Docker limits the CPU shares of the container to 2.\n", "shm.too-small"),
        # a bus error said not to be about shared memory
        ("The bus error is not related to /dev/shm, which has 64 GB here.\n", "shm.too-small"),
        ("If shared memory were the problem we would see a bus error.\n", "shm.too-small"),
        # a retold SIGBUS on a bare host, or denied
        ("The process gets SIGBUS on the bare-metal host when it reads the mmapped dataset.\n", "shm.too-small"),
        ("The container did not get a SIGBUS; it exits with code 1.\n", "shm.too-small"),
        # NCCL_P2P_DISABLE as advice, or with the hang staying
        ("If you set NCCL_P2P_DISABLE=1, it works on most consumer boards.\n", "nccl.p2p-unsupported"),
        ("If I set NCCL_P2P_DISABLE=1 it still hangs.\n", "nccl.p2p-unsupported"),
        ("设置了 NCCL_P2P_DISABLE=1 还是不能正常训练\n", "nccl.p2p-unsupported"),
        ("NCCL INFO NCCL_P2P_DISABLE set by environment to 1\n", "nccl.p2p-unsupported"),
        # RCCL's start-up advice, and an IOMMU setting that did not help
        ("NCCL WARN Missing \"iommu=pt\" from kernel command line which can lead to system instablity or hang!\n",
         "nccl.p2p-unsupported"),
        ("Setting iommu=pt did not fix the hang.\n", "nccl.p2p-unsupported"),
        ("iommu=pt is in the kernel command line.\n", "nccl.p2p-unsupported"),
        # a configuration problem not about P2P
        ("这是 PCIe 网卡驱动的配置问题\n", "nccl.p2p-unsupported"),
        # NCCL echoing the variable, a healthy bootstrap line, and advice
        ("host:33:33 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to eth0\n"
         "host:33:33 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.2<0>\n", "network.wrong-interface"),
        ("Set NCCL_SOCKET_IFNAME to the interface your nodes share, for example eth0.\n", "network.wrong-interface"),
        ("NCCL_SOCKET_IFNAME=eth0 and the machine has eth0 and lo.\n", "network.wrong-interface"),
    ],
)
def test_a_heldout19c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _all(tmp_path, text)
