"""heldout15 lessons (glearn15d): a worker's SIGBUS return code (-7) as users retell the launchers' reports, NCCL's bridge/veth
interfaces when the ranks really talk over the network transport, and ranks talking over docker0 retold.

Every line is written from the upstream text its signature cites (not copied from the heldout15 logs): DeepSpeed's
launcher sigkill_handler ("{cmd} exits with return code = {last_return_code}") as users shorten it, torch elastic's
ProcessFailure repr ("exitcode=-7"), subprocess.CompletedProcess's repr ("returncode=-7"), NCCL's "NET/Socket : Using" and "Channel ... via NET/..." lines, and
Open MPI's TCP BTL interface choice (btl_tcp_if_exclude / Horovod's "non-routed network interfaces").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

SHM = "shm.too-small"
WRONG_IF = "network.wrong-interface"

NCCL_VETH = (
    "node-a:4100:4160 [0] NCCL INFO Bootstrap : Using [0]eth0:10.0.0.5<0> [1]veth1a2b3c4:fe80::1c:2dff:fe3e:4f5a%veth1a2b3c4<0>\n"
    "node-a:4100:4160 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.5<0> [1]veth1a2b3c4:fe80::1c:2dff:fe3e:4f5a%veth1a2b3c4<0>\n"
    "NCCL version 2.7.8+cuda11.1\n"
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # a child's Python return code retold (DeepSpeed's "exits with return code = -7" shortened, torch elastic's
        # ProcessFailure repr, subprocess.CompletedProcess's repr): read as a SIGBUS death (explain/death.py)
        ("deepspeed finetune on 2 GPUs in docker: [launch.py:315:sigkill_handler] exits with return -7\n", SHM),
        ("两张 3090 微调,运行脚本后退出 return code=-7\n", SHM),
        ("LoRA training on two A10 cards ends with exit code: -7\n", SHM),
        ("failures: {1: ProcessFailure(local_rank=1, pid=77, exitcode=-7, error_file='<N/A>')}\n", SHM),
        ("CompletedProcess(args=['python', 'train.py'], returncode=-7)\n", SHM),
        # NCCL listed a veth interface and the ranks do connect through NET/Socket
        (NCCL_VETH + "node-a:4100:4170 [0] NCCL INFO Channel 00 : 1[3b000] -> 0[3b000] [receive] via NET/Socket/1\n", WRONG_IF),
        # docker0 retold
        ("It turned out the ranks were communicating over docker0 instead of eth1.\n", WRONG_IF),
        ("Open MPI picked docker0 on both hosts, so every connect was refused\n", WRONG_IF),
        ("mpirun kept using the wrong interface docker0\n", WRONG_IF),
        ("Adding -mca btl_tcp_if_exclude lo,docker0 fixed the hang.\n", WRONG_IF),
        ("Finally solved it by excluding docker0 from the TCP BTL\n", WRONG_IF),
        ("torch.distributed with gloo was using virbr0 on the second host\n", WRONG_IF),
    ],
)
def test_a_learned_family_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        # other return codes, and -7 where /dev/shm is the host's (explain/death.py + correlate._shm_not_small)
        ("deepspeed launcher exits with return -9\n", SHM),
        ("Process finished with exit code -1\n", SHM),
        ("the helper returned error code -70 (EPROTO)\n", SHM),
        ("return code -7.5 ms latency delta\n", SHM),
        ("docker run --gpus all --ipc=host img deepspeed train.py\n[launch.py:315:sigkill_handler] exits with return -7\n", SHM),
        # veth listed on one node, ranks on P2P: no socket traffic
        (NCCL_VETH + "node-a:4100:4170 [0] NCCL INFO Channel 00 : 0[3b000] -> 1[5e000] via P2P/IPC\n", WRONG_IF),
        # docker0 in commands, configs and interface listings, or named as not the problem
        ("mpirun -np 16 -H n1:8,n2:8 -mca btl_tcp_if_exclude docker0,lo -x NCCL_SOCKET_IFNAME=^docker0,lo python train.py\n", WRONG_IF),
        ("n1:20:20 [0] NCCL INFO NCCL_SOCKET_IFNAME set by environment to ^docker0,lo\n", WRONG_IF),
        ("3: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default\n", WRONG_IF),
        ("Excluding docker0 did not fix it.\n", WRONG_IF),
        ("4: virbr0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN\n", WRONG_IF),
        ("We are not using docker0 at all, the pods run with hostNetwork.\n", WRONG_IF),
        ("The ranks communicate over ib0 since we exclude docker0.\n", WRONG_IF),
    ],
)
def test_near_forms_name_not_that_cause(tmp_path: Path, text: str, wrong: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c == wrong for c, _ in found), found
