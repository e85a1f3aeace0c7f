"""Issue 13, heldout30 lessons (glearn30a): RDMA and NCCL network-plugin failures in pods and containers.

Lines are written from the code that prints them (not copied from the heldout30 logs):
- NCCL's ibv_modify_qp wrapper refused with ENODEV (src/misc/ibvwrap.cc: 'failed with error %s' <= 2.18,
  '... errno %d' 2.19-2.23, '%d %s, on dev %s:%d, curr state %s, next state %s, local GID index %d, local GID %s,
  remote GID %s' >= 2.24): a forced NCCL_IB_GID_INDEX that is not the pod's RoCE entry (NVIDIA/nccl#718);
- the same >= 2.24 line with an empty local GID ('::'): a pod whose network namespace lacks the RDMA NIC's netdev;
- perftest's 'Failed to modify QP %d to RTR', ' Unable to Connect the HCA's through the link' and an all-zero
  PERF_GID_FMT GID (Mellanox/k8s-rdma-shared-dev-plugin#72);
- libfabric EFA v1.13-v1.17 efa_eq_write_error with -12 ('Unable to write to EQ: %s. err: %s (%zd) ...',
  'Writing error %s to EQ.', 'Writing error to EQ: err: %s (%zd) ...', 'Libfabric error: (%zd) %s'), and
  aws-ofi-nccl's 'Couldn't open CQ. RC: %d, ERROR: %s' family with -12: the locked-memory limit (aws-ofi-nccl#107);
- NCCL 2.26.2/2.26.3's NVLS bind (transport/nvls.cc:254) refused with 'invalid argument' on an older driver is an
  NCCL/driver version issue (pytorch/pytorch#150852), not a fabric-manager restart.
The gdrdrv miss (vllm#42750) is left as a hard case: NCCL says nothing when gdr_open() fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain

P = "worker-3:412:530 [1] "

# --- ibv_modify_qp ENODEV: every NCCL form, each beside a neighbour that must stay unnamed ---------------------------

QP_OK = (
    "misc/ibvwrap.cc:376 NCCL WARN Call to ibv_modify_qp failed with 95 Operation not supported, on dev mlx5_0:1, "
    "curr state INIT, next state RTR, local GID index 3, local GID ::ffff:10.1.0.4, remote GID ::ffff:10.1.0.9"
)


@pytest.mark.parametrize(
    ("line", "neighbour"),
    [
        # <= v2.18: IBV_INT_CHECK_RET_ERRNO 'Call to %s failed with error %s'; ENXIO is another errno
        (
            P + "misc/ibvwrap.cc:284 NCCL WARN Call to ibv_modify_qp failed with error No such device",
            P + "misc/ibvwrap.cc:284 NCCL WARN Call to ibv_modify_qp failed with error No such device or address",
        ),
        # v2.19-v2.23: '... errno %d'; a healthy INFO line that only echoes the variable
        (
            P + "misc/ibvwrap.cc:71 NCCL WARN Call to ibv_modify_qp failed with error No such device errno 19",
            P + "NCCL INFO NCCL_IB_GID_INDEX set by environment to 3.",
        ),
        # >= v2.24: '%d %s, ' + ibvModifyQpLog; another errno with a real local GID
        (
            P + "misc/ibvwrap.cc:376 NCCL WARN Call to ibv_modify_qp failed with 19 No such device, on dev mlx5_3:1, "
            "curr state INIT, next state RTR, local GID index 5, local GID ::ffff:172.16.4.21, remote GID ::ffff:172.16.9.2",
            P + QP_OK,
        ),
    ],
)
def test_modify_qp_enodev_names_the_fabric(tmp_path: Path, line: str, neighbour: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["rdma.fabric-unreachable"]
    assert "rdma.fabric-unreachable" not in causes(tmp_path, neighbour + "\n")


def test_modify_qp_enodev_with_forced_gid_index_relates_the_variable(tmp_path: Path) -> None:
    text = (
        P + "NCCL INFO NCCL_IB_GID_INDEX set by environment to 5.\n"
        + P + "misc/ibvwrap.cc:71 NCCL WARN Call to ibv_modify_qp failed with error No such device errno 19\n"
    )
    log = tmp_path / "g.log"
    log.write_text(text, encoding="utf-8")
    found = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert found[0].cause == "rdma.fabric-unreachable"
    assert "env.invalid-value" in found[0].related


# --- an empty local GID in NCCL's >= 2.24 modify-qp log (ETIMEDOUT/EINVAL were already read by rdma.modify-qp-unreachable)


@pytest.mark.parametrize("err", ["95 Operation not supported", "5 Input/output error"])
def test_modify_qp_empty_local_gid_names_the_fabric(tmp_path: Path, err: str) -> None:
    line = (
        P + f"misc/ibvwrap.cc:376 NCCL WARN Call to ibv_modify_qp failed with {err}, on dev mlx5_0:1, "
        "curr state INIT, next state RTR, local GID index 0, local GID ::, remote GID ::ffff:192.168.30.7\n"
    )
    assert causes(tmp_path, line)[:1] == ["rdma.fabric-unreachable"]
    assert "rdma.fabric-unreachable" not in causes(tmp_path, P + QP_OK + "\n")


# --- perftest: RTR refused, all-zero GIDs ------------------------------------------------------------------------------

ZERO = " GID: " + ":".join(["00"] * 16)
REAL = " GID: 254:128:00:00:00:00:00:00:02:12:51:255:254:40:17:66"
HEALTHY = (
    "                    RDMA_Write BW Test\n"
    " Link type       : Ethernet\n"
    " GID index       : 3\n"
    " local address: LID 0000 QPN 0x0112 PSN 0x1a2b3c RKey 0x1fff VAddr 0x007f00000000\n"
    f"{REAL}\n"
    " remote address: LID 0000 QPN 0x0113 PSN 0x4d5e6f RKey 0x2fff VAddr 0x007f10000000\n"
    f"{REAL}\n"
    " #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n"
    " 65536      5000             11580.31            11579.02             0.185264\n"
)


@pytest.mark.parametrize(
    "text",
    [
        f"{ZERO}\nFailed to modify QP 211 to RTR\n Unable to Connect the HCA's through the link\n",
        "Failed to modify QP 77 to RTR\n",
        " Unable to Connect the HCA's through the link\n",
        "Failed to modify QP to RTR\n",  # rdma-core's rc_pingpong
        f" local address: LID 0000 QPN 0x0112 PSN 0x1a2b3c\n{ZERO}\n remote address: LID 0000 QPN 0x0113\n{ZERO}\n",
    ],
)
def test_perftest_cannot_connect_names_the_fabric(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["rdma.fabric-unreachable"]
    assert causes(tmp_path, HEALTHY) == []  # a run with real GIDs and a bandwidth table stays clean


# --- EFA ENOMEM: libfabric v1.13-v1.17 forms, aws-ofi-nccl set-up -12; each beside another errno ------------------

EQ = "Unable to write to EQ: Missing or unavailable event queue. err: {e} prov_errno: {e} prov/efa/src/rxr/rxr.h:1015"


@pytest.mark.parametrize(
    ("line", "neighbour"),
    [
        # v1.13-v1.15 stderr (file:line appended) and FI_WARN forms
        (EQ.format(e="Unknown error -12 (-12)"), EQ.format(e="Input/output error (5)")),
        (
            "libfabric:9001:efa:eq:efa_eq_write_error():987<warn> Unable to write to EQ: Missing or unavailable event "
            "queue. err: Cannot allocate memory (12) prov_errno: Cannot allocate memory (12)",
            "libfabric:9001:efa:eq:efa_eq_write_error():987<warn> Unable to write to EQ: Missing or unavailable event "
            "queue. err: Operation timed out (110) prov_errno: Operation timed out (110)",
        ),
        (
            "libfabric:9001:efa:eq:efa_eq_write_error():972<warn> Writing error Unknown error -12 to EQ.",
            "libfabric:9001:efa:eq:efa_eq_write_error():972<warn> Writing error Input/output error to EQ.",
        ),
        # v1.16-v1.17
        (
            "libfabric:9001:1712000000::efa:eq:efa_eq_write_error():672<warn> Writing error to EQ: err: Unknown error "
            "-12 (-12) prov_errno: Failure to post internal receive buffers (4112)",
            "libfabric:9001:1712000000::efa:eq:efa_eq_write_error():672<warn> Writing error to EQ: err: Input/output "
            "error (5) prov_errno: Unknown error (4097)",
        ),
        ("Libfabric error: (-12) Unknown error -12", "Libfabric error: (-5) Input/output error"),
        # aws-ofi-nccl endpoint set-up
        (
            "ip-172-31-2-9:51:51 [3] nccl_net_ofi_rdma_domain_create_cq:6633 NCCL WARN NET/OFI Couldn't open CQ. "
            "RC: -12, ERROR: Cannot allocate memory",
            "ip-172-31-2-9:51:51 [3] nccl_net_ofi_rdma_domain_create_cq:6633 NCCL WARN NET/OFI Couldn't open CQ. "
            "RC: -22, ERROR: Invalid argument",
        ),
        (
            "ip-172-31-2-9:51:51 [3] ofi_init_connection:407 NCCL WARN NET/OFI Couldn't enable endpoint. RC: -12, "
            "ERROR: Cannot allocate memory",
            "ip-172-31-2-9:51:51 [3] ofi_init_connection:407 NCCL WARN NET/OFI Couldn't enable endpoint. RC: -110, "
            "ERROR: Connection timed out",
        ),
        (
            "ip-172-31-2-9:51:51 [3] create_nccl_ofi_component:430 NCCL WARN NET/OFI Couldn't allocate endpoint. "
            "RC: -12, ERROR: Cannot allocate memory",
            "ip-172-31-2-9:51:51 [3] ofi_init_connection:273 NCCL WARN NET/OFI Couldn't allocate endpoint. RC: -22, "
            "ERROR: Invalid argument",
        ),
    ],
)
def test_efa_enomem_names_memlock(tmp_path: Path, line: str, neighbour: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["rdma.memlock-too-low"]
    assert "rdma.memlock-too-low" not in causes(tmp_path, neighbour + "\n")


# --- NVLS 'invalid argument' in NCCL 2.26.2/2.26.3: a version issue, not a fabric-manager restart -------------------

NVLS254 = "gpu7:5120:5188 [3] transport/nvls.cc:254 NCCL WARN Cuda failure {code}\n"
TAIL = (
    "gpu7:5120:5188 [3] NCCL INFO transport/nvls.cc:409 -> 1\n"
    "torch.distributed.DistBackendError: NCCL error in: NCCLUtils.cpp:77, unhandled cuda error (run with "
    "NCCL_DEBUG=INFO for details), NCCL version {v}\n"
)
EINVAL = "1 'invalid argument'"


@pytest.mark.parametrize(
    ("version", "still_fm"),
    [
        # the same line and version with CUDA 401: the fabric manager reading stays
        ("2.26.2", NVLS254.format(code="401 'the operation cannot be performed in the present state'") + TAIL.format(v="2.26.2")),
        # 'invalid argument' at the bind of NCCL 2.18 (nvls.cc:165): the NVIDIA maintainers' FM restart
        ("2.26.3", "gpu7:5120:5188 [3] transport/nvls.cc:165 NCCL WARN Cuda failure 'invalid argument'\n" + TAIL.format(v="2.18.5")),
        # line 254 with no NCCL version in the log
        ("2.26.2", NVLS254.format(code=EINVAL)),
    ],
)
def test_nvls_bind_einval_in_nccl_2_26_is_not_the_fabric_manager(tmp_path: Path, version: str, still_fm: str) -> None:
    text = NVLS254.format(code=EINVAL) + TAIL.format(v=version)
    assert not any(c.startswith("nvidia.fabric-manager") for c in causes(tmp_path, text))
    assert any("NCCL 2.26's multicast bind" in n for n in notes(tmp_path, text))
    assert causes(tmp_path, still_fm)[:1] == ["nvidia.fabric-manager-restarted"]
