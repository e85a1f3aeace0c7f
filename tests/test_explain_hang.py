"""Hangs: the symptom forms, the facts that select a cause, and what stays silent (explain/hang.py,
explain/topology.py, the `hang*` / selecting facts of data/signatures.yaml).

Lines are written from the format strings of the code that prints them:
- pytorch torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp: watchdog `logPrefix() + "Watchdog caught collective
  operation timeout: " << WorkNCCL << " ran for " << ms << " milliseconds before timing out."`, operator<<(WorkNCCL)
  "WorkNCCL(SeqNum=S, OpType=X, TensorShape=[..], Timeout(ms)=T)" (1.x) / "...NumelIn=.., NumelOut=.., ..." (2.x),
  logPrefix "[Rank N] " / "[PG ID 0 PG GUID 0(default_pg) Rank N] "; synchronizeInternal "Caught collective operation
  timeout: " and "Work <work> timed out in call to wait()."; watchdogHandler "Timeout at NCCL work: S, last enqueued
  NCCL work: E, last completed NCCL work: C."; HeartbeatMonitor "Received a dump signal due to a collective timeout
  from this local rank and we will try our best to dump the debug info.";
- vLLM v1 multiproc_executor.py collective_rpc 'raise TimeoutError(f"RPC call to {method} timed out.")';
- vLLM shm_broadcast.py MessageQueue "No available block found in %s second. " (v0.5-0.7) and "No available shared
  memory broadcast block found in %s seconds. This typically happens when ..." (v0.8+);
- NCCL src/misc/socket.cc "socketPollConnect: exceeded timeouts (%d)"; RCCL src/clique/MsgQueue.cc; RCCL
  src/init.cc 'Missing "iommu=pt" from kernel command line which can lead to system instablity or hang!';
- NCCL debug.cc record header "%s:%d:%d [%d] NCCL INFO ", bootstrap.cc "Bootstrap : Using%s" / "Bootstrap: Using%s",
  init.cc "comm %p rank %d nRanks %d nNodes %d localRanks %d localRank %d", transport.cc "Channel %02d/%d : %d[%d] ->
  %d[%d] via %s", graph/search.cc "Pattern %d, crossNic %d, nChannels %d, bw %f/%f, type %s/%s, sameChannels %d";
- `nvidia-smi topo -m` / `nvidia-smi topo -p2p r` (NCCL docs, GPU troubleshooting), `lspci -vvv` ACSCtl;
- vLLM custom_all_reduce.py "Custom allreduce is disabled because it's not supported on more than two PCIe-only
  GPUs. To silence this warning, specify disable_custom_all_reduce=True explicitly.";
- torch distributed_c10d.py barrier() "using GPU 0 to perform barrier as devices used by this process are currently
  unknown. This can potentially cause a hang if this rank to GPU mapping is incorrect."
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain
from tpdoctor.explain.topology import matrix_facts

WATCHDOG_24 = (
    "[rank0]:[E1201 10:00:00.123456789 ProcessGroupNCCL.cpp:632] [PG ID 0 PG GUID 0(default_pg) Rank 0] Watchdog caught "
    "collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran "
    "for 600012 milliseconds before timing out."
)
WATCHDOG_1X = (
    "[E ProcessGroupNCCL.cpp:587] [Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=2, "
    "OpType=BROADCAST, TensorShape=[1024], Timeout(ms)=1800000) ran for 1800437 milliseconds before timing out."
)
BLOCKING = (
    "RuntimeError: [Rank 0] Caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, "
    "Timeout(ms)=60000) ran for 60012 milliseconds before timing out."
)
WAIT = "Work WorkNCCL(SeqNum=1, OpType=ALLREDUCE, Timeout(ms)=60000) timed out in call to wait()."
DESYNC = "[PG 0 Rank 2] Timeout at NCCL work: 1, last enqueued NCCL work: 1, last completed NCCL work: 0."
DUMP = (
    "[PG ID 0 PG GUID 0(default_pg) Rank 1] Received a dump signal due to a collective timeout from this local rank and "
    "we will try our best to dump the debug info. Last enqueued NCCL work: 1, last completed NCCL work: 0."
)
SHM_OLD = "(VllmWorkerProcess pid=161) WARNING 08-22 06:24:42 shm_broadcast.py:386] No available block found in 60 second. "
SHM_NEW = (
    "(EngineCore_DP0 pid=333) INFO 02-22 23:21:42 [shm_broadcast.py:548] No available shared memory broadcast block "
    "found in 60 seconds. This typically happens when some processes are hanging or doing some time-consuming work "
    "(e.g. compilation, weight/kv cache quantization)."
)
NCCL_SOCKET = "node1:2201:2290 [0] misc/socket.cc:576 NCCL WARN socketPollConnect: exceeded timeouts (20)"
RCCL_QUEUE = "node1:2201:2290 [0] clique/MsgQueue.cc:79 NCCL WARN Message Queue timed out waiting for all ranks to receive messages."
VLLM_RPC = "TimeoutError: RPC call to execute_model timed out."
SYMPTOMS = [VLLM_RPC, WATCHDOG_24, WATCHDOG_1X, BLOCKING, WAIT, DESYNC, DUMP, SHM_OLD, SHM_NEW, NCCL_SOCKET, RCCL_QUEUE]

TOPO_PCIE = (
    "\tGPU0\tGPU1\tGPU2\tGPU3\tCPU Affinity\tNUMA Affinity\n"
    "GPU0\t X \tPXB\tSYS\tSYS\t0-27,56-83\t0\n"
    "GPU1\tPXB\t X \tSYS\tSYS\t0-27,56-83\t0\n"
    "GPU2\tSYS\tSYS\t X \tPIX\t28-55,84-111\t1\n"
    "GPU3\tSYS\tSYS\tPIX\t X \t28-55,84-111\t1\n"
    "\n"
    "Legend:\n"
    "\n"
    "  X    = Self\n"
    "  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI)\n"
    "  PIX  = Connection traversing at most a single PCIe bridge\n"
    "  NV#  = Connection traversing a bonded set of # NVLinks\n"
)
TOPO_NVLINK = (
    "        GPU0    GPU1    NIC0    CPU Affinity    NUMA Affinity   GPU NUMA ID\n"
    "GPU0     X      NV18    PXB     0-55    0               N/A\n"
    "GPU1    NV18     X      SYS     0-55    0               N/A\n"
    "NIC0    PXB     SYS      X\n"
    "\n"
    "Legend:\n"
    "  NV#  = Connection traversing a bonded set of # NVLinks\n"
)
P2P_CNS = "          GPU0    GPU1\n GPU0     X       CNS\n GPU1     CNS     X\n"
P2P_CHANNEL = "node1:2201:2290 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM"
INIT_DONE = "node1:2201:2290 [0] NCCL INFO comm 0x55d0 rank 0 nranks 2 cudaDev 0 busId 1000 commId 0x1 - Init COMPLETE"


def _log(*parts: str) -> str:
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("symptom", SYMPTOMS)
def test_every_hang_form_with_a_pcie_matrix_suggests_p2p(tmp_path: Path, symptom: str) -> None:
    assert causes(tmp_path, _log(TOPO_PCIE, INIT_DONE, symptom))[:1] == ["nccl.p2p-unsupported"]


@pytest.mark.parametrize("symptom", SYMPTOMS)
def test_a_hang_with_no_selecting_fact_names_nothing_and_says_how_to_narrow_it(
    tmp_path: Path, symptom: str
) -> None:
    text = _log(INIT_DONE, symptom)
    assert causes(tmp_path, text) == []
    said = " ".join(notes(tmp_path, text))
    assert "nothing in the log selects its cause" in said and "NCCL_P2P_DISABLE=1" in said


def test_the_pick_is_only_a_suggestion_and_says_how_to_confirm(tmp_path: Path) -> None:
    log = tmp_path / "h.log"
    log.write_text(_log(TOPO_PCIE, WATCHDOG_24))
    finding = explain([str(log)]).findings[0]
    assert finding.cause == "nccl.p2p-unsupported"
    assert finding.confidence == "suggests"
    assert "NCCL_P2P_DISABLE=1" in finding.message and "tpdoctor verify" in finding.message
    watchdog = len(TOPO_PCIE.splitlines()) + 2  # _log joins with a newline after the trailing one
    assert {e.line for e in finding.evidence} >= {1, watchdog}  # the matrix header and the watchdog line


@pytest.mark.parametrize(
    "fact",
    [
        P2P_CNS,
        "GPU 0: NVIDIA GeForce RTX 4090\nGPU 1: NVIDIA GeForce RTX 4090",
        "#  Rank  0 Group  0 Pid 587622 on box device  0 [0x21] NVIDIA RTX A6000",
        "\tCapabilities: [2a0 v1] Access Control Services\n\t\tACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+",
        'node1:1:1 [0] /src/init.cc:163 NCCL WARN Missing "iommu=pt" from kernel command line which can lead to system instablity or hang!',
        "node1:1:1 [0] NCCL INFO Pattern 4, crossNic 0, nChannels 2, bw 12.000000/12.000000, type PHB/PIX, sameChannels 1",
        "NotImplementedError: Using RTX 4000 series doesn't support faster communication broadband via P2P or IB. "
        'Please set `NCCL_P2P_DISABLE="1"` and `NCCL_IB_DISABLE="1" or use `accelerate launch` which will do this '
        "automatically.",
        "WARNING 07-23 20:47:09 custom_all_reduce.py:134] Custom allreduce is disabled because it's not supported on more "
        "than two PCIe-only GPUs. To silence this warning, specify disable_custom_all_reduce=True explicitly.",
    ],
    ids=["p2p-matrix", "geforce", "rtx-a6000", "acs", "rccl-iommu", "nccl-graph-phb", "accelerate", "vllm-pcie-only"],
)
def test_each_pcie_fact_selects_p2p(tmp_path: Path, fact: str) -> None:
    assert causes(tmp_path, _log(fact, WATCHDOG_24)) == ["nccl.p2p-unsupported"]
    # the fact alone is no hang; accelerate's guard is an error of its own (it refuses to run: glearn17b)
    assert causes(tmp_path, _log(fact)) == ([] if "NotImplementedError" not in fact else ["nccl.p2p-unsupported"])


def test_p2p_channels_select_only_when_the_first_collectives_hung(tmp_path: Path) -> None:
    assert causes(tmp_path, _log(P2P_CHANNEL, INIT_DONE, WATCHDOG_24)) == ["nccl.p2p-unsupported"]
    late = WATCHDOG_24.replace("SeqNum=1,", "SeqNum=500,")
    assert causes(tmp_path, _log(P2P_CHANNEL, INIT_DONE, late)) == []
    # healthy NCCL INFO: P2P channels and no hang
    assert causes(tmp_path, _log(P2P_CHANNEL, INIT_DONE)) == []
    # a hang whose sequence is unknown (vLLM's shm broadcast) with P2P channels only: no selecting fact
    assert causes(tmp_path, _log(P2P_CHANNEL, INIT_DONE, SHM_NEW)) == []


def test_nvlink_matrix_selects_nothing(tmp_path: Path) -> None:
    assert causes(tmp_path, _log(TOPO_NVLINK, WATCHDOG_24)) == []
    # an NVLink matrix also overrules a model name (RTX 3090s can carry an NVLink bridge)
    assert causes(tmp_path, _log(TOPO_NVLINK, "GPU 0: NVIDIA GeForce RTX 3090", WATCHDOG_24)) == []
    nvl = "node1:1:1 [0] NCCL INFO Pattern 4, crossNic 0, nChannels 16, bw 40.000000/40.000000, type NVL/PIX, sameChannels 1"
    assert causes(tmp_path, _log(nvl, "GPU 0: NVIDIA GeForce RTX 3090", WATCHDOG_24)) == []


def test_a_p2p_read_channel_is_nvlink(tmp_path: Path) -> None:
    # NCCL transport/p2p.cc prints "/read" only when graph/paths.cc ncclTopoCheckP2p enabled P2P read: NVLink, sm80
    read = P2P_CHANNEL + "/read"
    assert causes(tmp_path, _log(read, INIT_DONE, WATCHDOG_24)) == []
    assert causes(tmp_path, _log(read, "GPU 0: NVIDIA RTX A6000", WATCHDOG_24)) == []
    assert causes(tmp_path, _log(P2P_CHANNEL, "GPU 0: NVIDIA RTX A6000", WATCHDOG_24)) == ["nccl.p2p-unsupported"]


def test_a_late_timeout_is_no_setup_hang(tmp_path: Path) -> None:
    late = WATCHDOG_24.replace("SeqNum=1,", "SeqNum=64214,")
    text = _log(TOPO_PCIE, late)
    assert causes(tmp_path, text) == []
    assert any("far into the run" in n for n in notes(tmp_path, text))


def test_p2p_already_disabled_is_not_p2p(tmp_path: Path) -> None:
    env = "node1:1:1 [0] NCCL INFO NCCL_P2P_DISABLE set by environment to 1."
    assert causes(tmp_path, _log(env, TOPO_PCIE, WATCHDOG_24)) == []


def test_a_timeout_the_run_got_past_is_not_a_hang(tmp_path: Path) -> None:
    ready = "(EngineCore_DP0 pid=333) INFO 02-22 23:24:01 [kv_cache_utils.py:1087] GPU KV cache size: 416,512 tokens"
    text = _log(TOPO_PCIE, SHM_NEW, ready)
    assert causes(tmp_path, text) == []
    assert not any("hang or timeout" in n for n in notes(tmp_path, text))
    # the same lines in the other order: the run stalled after it was ready
    assert causes(tmp_path, _log(TOPO_PCIE, ready, SHM_NEW)) == ["nccl.p2p-unsupported"]


def test_prose(tmp_path: Path) -> None:
    title = "[Bug]: vLLM hangs at the first all-reduce with tensor parallel 2"
    assert causes(tmp_path, _log(title, "GPU 0: NVIDIA GeForce RTX 4090")) == ["nccl.p2p-unsupported"]
    assert causes(tmp_path, _log("[BUG] Deadlock in distribution with multiple RTX 4090")) == [
        "nccl.p2p-unsupported"
    ]
    # warnings that only say a hang could happen are not a hang
    barrier = (
        "UserWarning: using GPU 0 to perform barrier as devices used by this process are currently unknown. This can "
        "potentially cause a hang if this rank to GPU mapping is incorrect."
    )
    # vLLM's own shm_broadcast text says when processes hang, not that they did: with a run that went on, nothing
    ready = "(EngineCore_DP0 pid=333) INFO 02-22 23:24:01 [kv_cache_utils.py:1087] GPU KV cache size: 416,512 tokens"
    assert causes(tmp_path, _log(SHM_NEW, ready, "GPU 0: NVIDIA GeForce RTX 4090")) == []
    for line in (
        barrier,
        "it doesn't hang any more with NCCL_P2P_DISABLE",
        "we sleep here to avoid a deadlock",
    ):
        assert causes(tmp_path, _log(line, TOPO_PCIE)) == [], line


@pytest.mark.parametrize(
    "title",
    [
        "[BUG] Deadlock in distribution with multiple 4090",
        "vLLM hangs with tp=2 on 2x4090",
        "Server stuck at startup on 8 × 4090 SUPER",
        "Training stuck at step 0 on 4x A6000 with DDP",
        "NCCL all_reduce hangs on our 3090s",
        "dual 3090 Ti: torchrun hangs after init",
    ],
)
def test_prose_counts_gpus_without_the_brand(tmp_path: Path, title: str) -> None:
    """Users count their cards in a title ("2x4090", "dual 3090s"): the model is read without "RTX"/"GeForce"."""
    assert causes(tmp_path, _log(title)) == ["nccl.p2p-unsupported"]


@pytest.mark.parametrize(
    "line",
    [
        "server hangs, listening on port 4090",
        "the job hangs after 3060s and is killed",
        "stuck: 24090MiB used on GPU 0",
        "hang at address 0x74090",
        "stuck in the 2090 rows of the table",
    ],
)
def test_a_bare_number_is_no_gpu_model(tmp_path: Path, line: str) -> None:
    """A four-digit number without a count before it or a plural after it is a port, a time, a size."""
    assert causes(tmp_path, _log(line)) == []


def test_a_known_root_explains_the_timeout(tmp_path: Path) -> None:
    oom = (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB "
        "of which 1.06 GiB is free."
    )
    assert "nccl.p2p-unsupported" not in causes(tmp_path, _log(TOPO_PCIE, oom, WATCHDOG_24))


def _nccl(host: str, rank: int, iface: str, ip: str, nodes: int) -> str:
    return _log(
        f"{host}:{100 + rank}:{200 + rank} [0] NCCL INFO Bootstrap : Using {iface}:{ip}<0>",
        f"{host}:{100 + rank}:{200 + rank} [0] NCCL INFO NET/Socket : Using [0]{iface}:{ip}<0>",
        f"{host}:{100 + rank}:{200 + rank} [0] NCCL INFO comm 0x1 rank {rank} nRanks 2 nNodes {nodes} localRanks 1 localRank 0",
    )


def test_multi_node_bootstrap_on_a_bridge_is_the_interface(tmp_path: Path) -> None:
    text = _nccl("gpu-node-a", 0, "docker0", "172.17.0.1", 2) + _nccl(
        "gpu-node-b", 1, "docker0", "172.17.0.1", 2
    )
    assert causes(tmp_path, text + WATCHDOG_24) == ["network.wrong-interface"]
    loop = _nccl("gpu-node-a", 0, "lo", "127.0.0.1", 2)
    assert "network.wrong-interface" in causes(tmp_path, loop + WATCHDOG_24)
    # the same address on two hosts: each behind its own bridge (eth0 inside a bridged container)
    same = _nccl("gpu-node-a", 0, "eth0", "10.88.0.5", 2) + _nccl("gpu-node-b", 1, "eth0", "10.88.0.5", 2)
    assert causes(tmp_path, same + WATCHDOG_24) == ["network.wrong-interface"]


def test_multi_node_socket_transport_on_a_bridge(tmp_path: Path) -> None:
    # only NCCL's "NET/Socket : Using [0]docker0:..." (net_socket.cc), bootstrap not shown
    lines = [
        "gpu-node-a:101:201 [0] NCCL INFO NET/Socket : Using [0]docker0:172.17.0.1<0>",
        "gpu-node-a:101:201 [0] NCCL INFO comm 0x1 rank 0 nRanks 2 nNodes 2 localRanks 1 localRank 0",
    ]
    assert causes(tmp_path, _log(*lines, WATCHDOG_24)) == ["network.wrong-interface"]


def test_multi_node_on_a_routable_interface_names_nothing(tmp_path: Path) -> None:
    text = _nccl("gpu-node-a", 0, "ens5", "10.0.1.11", 2) + _nccl("gpu-node-b", 1, "ens5", "10.0.1.12", 2)
    assert causes(tmp_path, text + WATCHDOG_24) == []
    # multi-node: a PCIe model name selects no P2P cause (the hang may be between nodes)
    assert causes(tmp_path, text + "GPU 0: NVIDIA L40S\n" + WATCHDOG_24) == []


def test_ranks_in_two_containers_of_one_host(tmp_path: Path) -> None:
    text = _nccl("3f2a1b0c9d8e", 0, "eth0", "172.18.0.2", 2) + _nccl(
        "9a8b7c6d5e4f", 1, "eth0", "172.18.0.3", 2
    )
    got = causes(tmp_path, text + WATCHDOG_24)
    assert got[:1] == ["topology.ranks-split-across-containers"]
    assert "network.wrong-interface" not in got


def test_matrix_parsing() -> None:
    assert matrix_facts(TOPO_PCIE.split("\n\n")[0]) == {
        "topo_links": "pcie",
        "topo_cells": "PIX,PXB,SYS",
        "topo_gpus": "4",
    }
    assert matrix_facts(TOPO_NVLINK.split("\n\n")[0])["topo_links"] == "nvlink"
    assert matrix_facts("\tGPU0\tCPU Affinity\nGPU0\t X \t0-7\n") == {}  # one GPU: no link


def test_prose_that_mentions_cpu_affinity_is_no_matrix(tmp_path: Path) -> None:
    text = _log("I set the CPU Affinity of GPU0 and GPU1 by hand", "GPU0 then hung", WATCHDOG_24)
    assert causes(tmp_path, text) == []


def test_a_log_that_ends_on_a_progress_bar_at_zero(tmp_path: Path) -> None:
    # tqdm/std.py format_meter: '{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, ...]'
    bar = "Processed prompts:   0%|          | 0/16 [00:00<?, ?it/s, est. speed input: 0.00 toks/s, output: 0.00 toks/s]"
    done = "Processed prompts: 100%|##########| 16/16 [00:02<00:00,  7.31it/s, est. speed input: 52.1 toks/s]"
    model = "GPU 0: NVIDIA RTX A6000"
    assert causes(tmp_path, _log(model, bar)) == ["nccl.p2p-unsupported"]
    assert causes(tmp_path, model + "\n" + bar) == ["nccl.p2p-unsupported"]  # no newline after the last line
    assert causes(tmp_path, _log(model, bar, done)) == []  # it progressed
    assert causes(tmp_path, _log(P2P_CHANNEL, INIT_DONE, bar)) == []  # a stall, no selecting fact


ROCM_BANNER = "=============================== Link Type between two GPUs ==============================="


def test_rocm_smi_link_type_matrix(tmp_path: Path) -> None:
    # rocm-smi --showtopo (ROCm/rocm_smi_lib rocm_smi.py), as posted in ROCm/ROCm#1503
    pcie = _log(ROCM_BANNER, "       GPU0         GPU1", "GPU0   0            PCIE", "GPU1   PCIE         0", "=" * 90)
    xgmi = _log(ROCM_BANNER, "       GPU0         GPU1", "GPU0   0            XGMI", "GPU1   XGMI         0", "=" * 90)
    assert causes(tmp_path, pcie + WATCHDOG_24) == ["nccl.p2p-unsupported"]
    assert causes(tmp_path, xgmi + WATCHDOG_24) == []
    assert causes(tmp_path, pcie) == []


def test_a_wrapped_watchdog_record_keeps_its_sequence_number(tmp_path: Path) -> None:
    head, _, rest = WATCHDOG_24.replace("SeqNum=1,", "SeqNum=64214,").partition("timeout: ")
    wrapped = _log(TOPO_PCIE, head + "timeout:", rest)
    assert causes(tmp_path, wrapped) == []  # a late collective, read from the continuation line
    head, _, rest = WATCHDOG_24.partition("timeout: ")
    assert causes(tmp_path, _log(TOPO_PCIE, head + "timeout:", rest)) == ["nccl.p2p-unsupported"]
