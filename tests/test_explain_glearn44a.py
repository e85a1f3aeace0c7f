"""Issue 13, heldout44 lessons (glearn44a): disaggregated / multi-node serving networks as the transfer layers print them.

Lines are written from the code that prints them (not copied from the heldout44 logs):
- UCX uct_ib_device_query_gid_info "ibv_query_gid(dev=%s port=%d index=%d) failed: %m" (ib_device.c v1.8-@9466d104a3,
  rdmacm_cm.c): the RDMA device UCX picked has no GID there (a VM/management mlx5, not the fabric);
- UCX cuda_ipc_cache.c "cuIpcOpenMemHandle() failed: %s" with 'invalid device context': legacy CUDA IPC between
  containers without a shared PID namespace (openucx/ucx#11514);
- vLLM NixlConnector: the KeyError in TpKVTopology.block_size_ratio_from_engine_id / tp_ratio_from_engine_id after a
  handshake that never completed, "Handshake with %s failed" + zmq.error.Again (RCVTIMEO 5000 ms); a configuration
  refusal ("NIXL compatibility hash mismatch") keeps them notes;
- vLLM split_zmq_path "Invalid zmq path: {path}" with an empty host (tcp://:PORT): an empty leader address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

UCX_HEAD = "[1761234567.891011] [prefill-0:4021:0]     ib_device.c:{line}  UCX  ERROR "


@pytest.mark.parametrize(
    "line",
    [
        # v1.18+ (ib_device.c:953 @9466d104a3), an mlx5 that backs VM networking
        UCX_HEAD.format(line=953) + "ibv_query_gid(dev=mlx5_7 port=1 index=0) failed: Invalid argument",
        # v1.12 (ib_device.c:924), another index
        UCX_HEAD.format(line=924) + "ibv_query_gid(dev=mlx5_2 port=1 index=3) failed: Invalid argument",
        # the rdmacm connection manager's copy of the same format, a bond device
        "[1761234567.000001] [decode-1:77:1]  rdmacm_cm.c:490  UCX  ERROR ibv_query_gid(dev=mlx5_bond_0 port=1 index=1) failed: No data available",
    ],
)
def test_ucx_gid_query_failure_names_the_interface(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n")[0] == "network.wrong-interface"
    assert ("network.wrong-interface", "suggests") in _findings(tmp_path, line + "\n")


def test_ucx_gid_query_failure_with_nixl_backend_lines(tmp_path: Path) -> None:
    text = (
        UCX_HEAD.format(line=953) + "ibv_query_gid(dev=mlx5_9 port=1 index=0) failed: Invalid argument\n"
        "[1761234567.891100] [prefill-0:4021:0]  ucp_worker.c:1498 UCX  ERROR uct_iface_open(rc_mlx5/mlx5_9:1) failed: Invalid parameter\n"
        "E1021 08:01:02.000000 4021 nixl_agent.cpp:404] createBackend: backend creation failed for 'UCX'\n"
    )
    assert _causes(tmp_path, text)[0] == "network.wrong-interface"


@pytest.mark.parametrize(
    "line",
    [
        # the gid *type* parse error and the subnet filter are other messages of the same file: not this signature
        UCX_HEAD.format(line=940) + "failed to parse gid type 'IB' (dev=mlx5_0 port=1 index=2)",
        # a user's shell running the verbs call by hand, no UCX format
        "ibv_query_gid returned 0 for mlx5_0 port 1",
        # healthy UCX debug line about the gid in use
        "[1761234567.1] [n:1:0]  ib_device.c:1209 UCX  DEBUG mlx5_0:1 using gid_index=3 ver=2 addr_family=2",
    ],
)
def test_ucx_gid_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "network.wrong-interface" not in _causes(tmp_path, line + "\n")
    # while the query failure itself is named
    named = UCX_HEAD.format(line=953) + "ibv_query_gid(dev=mlx5_0 port=1 index=0) failed: Invalid argument\n"
    assert _causes(tmp_path, named)[0] == "network.wrong-interface"


@pytest.mark.parametrize(
    "line",
    [
        # UCX >= 1.19: ucs_log(log_level, ...) at error level
        "[1761234567.222222] [decode:88:0]  cuda_ipc_cache.c:288  UCX  ERROR cuIpcOpenMemHandle() failed: invalid device context",
        # UCX 1.12-1.16: ucs_debug (UCX_LOG_LEVEL=debug)
        "[1761234567.222222] [decode:88:0]  cuda_ipc_cache.c:110  UCX  DEBUG cuIpcOpenMemHandle() failed: invalid device context",
    ],
)
def test_ucx_cuda_ipc_invalid_context_is_a_split_pid_namespace(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == ["topology.ranks-split-across-containers"]


def test_ucx_cuda_ipc_other_errors_stay_off_the_split(tmp_path: Path) -> None:
    # an already-mapped handle is UCX's own cache (UCS_ERR_ALREADY_EXISTS), not a namespace split
    line = "[1761234567.2] [decode:88:0]  cuda_ipc_cache.c:288  UCX  ERROR cuIpcOpenMemHandle() failed: resource already mapped"
    assert "topology.ranks-split-across-containers" not in _causes(tmp_path, line + "\n")
    named = line.replace("resource already mapped", "invalid device context")
    assert _causes(tmp_path, named + "\n") == ["topology.ranks-split-across-containers"]


FRAME = '  File "/usr/local/lib/python3.12/dist-packages/vllm/distributed/kv_transfer/kv_connector/{f}", line {n}, in {fn}\n'


@pytest.mark.parametrize(
    "text",
    [
        # v0.11+: TpKVTopology in kv_connector/utils.py, called from NixlConnectorWorker.get_finished
        FRAME.format(f="v1/nixl_connector.py", n=1890, fn="get_finished")
        + FRAME.format(f="utils.py", n=301, fn="block_size_ratio_from_engine_id")
        + "    remote_block_size = self.remote_block_size[remote_engine_id]\n"
        "KeyError: '2f0a3c1e-8d4b-4e7a-9c55-1b2d3e4f5a6b'\n",
        # the TP-size twin of the same lookup
        FRAME.format(f="utils.py", n=289, fn="tp_ratio_from_engine_id")
        + "KeyError: '2f0a3c1e-8d4b-4e7a-9c55-1b2d3e4f5a6b_dp0'\n",
        # prose of a report
        "the decode EngineCore died with a KeyError in block_size_ratio_from_engine_id() (EngineDeadError)\n",
    ],
)
def test_nixl_remote_engine_never_registered_suggests_an_unreachable_side_channel(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == ["network.wrong-interface"]


def test_nixl_remote_engine_after_a_config_refusal_is_a_note(tmp_path: Path) -> None:
    text = (
        "RuntimeError: NIXL compatibility hash mismatch. Local: 3ad1e0, Remote: 9fe271. Prefill and decode instances "
        "have incompatible configurations. This can be caused by: different vLLM versions, models, dtypes\n"
        + FRAME.format(f="utils.py", n=301, fn="block_size_ratio_from_engine_id")
        + "KeyError: '2f0a3c1e-8d4b-4e7a-9c55-1b2d3e4f5a6b'\n"
    )
    assert "network.wrong-interface" not in _causes(tmp_path, text)
    assert any("configuration mismatch" in n for n in _notes(tmp_path, text))


def test_nixl_source_listing_is_not_a_failure(tmp_path: Path) -> None:
    text = "    def block_size_ratio_from_engine_id(\n        self,\n        remote_engine_id: EngineId,\n    ) -> int:\n"
    assert _causes(tmp_path, text) == []
    frame = FRAME.format(f="utils.py", n=301, fn="block_size_ratio_from_engine_id")
    assert _causes(tmp_path, frame) == ["network.wrong-interface"]


HANDSHAKE = "ERROR 10-21 08:14:03 [nixl_connector.py:1033] Handshake with 6d1e0c2a-5b47-4f0e-9e61-0f7a2b9c1d33 failed\n"


def test_nixl_handshake_timeout_names_the_side_channel(tmp_path: Path) -> None:
    text = (
        HANDSHAKE + "Traceback (most recent call last):\n"
        + FRAME.format(f="v1/nixl_connector.py", n=760, fn="_nixl_handshake")
        + "    handshake_bytes = sock.recv()\n"
        "zmq.error.Again: Resource temporarily unavailable\n"
    )
    assert _causes(tmp_path, text) == ["network.wrong-interface"]


@pytest.mark.parametrize(
    "text",
    [
        # the handshake failure alone (its traceback not pasted) names nothing
        HANDSHAKE,
        # a ZMQ timeout elsewhere (vLLM's shm broadcast, a client poll) without a NIXL handshake
        "zmq.error.Again: Resource temporarily unavailable\n",
        # a TLS handshake
        "ssl.SSLError: TLS Handshake with api.example.com failed: certificate verify failed\n",
    ],
)
def test_nixl_handshake_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "network.wrong-interface" not in _causes(tmp_path, text)
    # the pair is named
    assert _causes(tmp_path, HANDSHAKE + "zmq.error.Again: Resource temporarily unavailable\n") == ["network.wrong-interface"]


@pytest.mark.parametrize(
    "line",
    [
        "ValueError: Invalid zmq path: tcp://:29550",
        "(EngineCore_DP1 pid=311) ValueError: Invalid zmq path: tcp://:13345",
    ],
)
def test_empty_zmq_host_is_an_unresolved_leader_name(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == ["network.peer-name-unresolved"]


@pytest.mark.parametrize(
    "line",
    [
        # a host but no port, or another scheme: not an empty address
        "ValueError: Invalid zmq path: tcp://10.1.2.3",
        "ValueError: Invalid zmq path: ipc://",
    ],
)
def test_zmq_path_with_a_host_stays_clean(tmp_path: Path, line: str) -> None:
    assert "network.peer-name-unresolved" not in _causes(tmp_path, line + "\n")
    assert _causes(tmp_path, "ValueError: Invalid zmq path: tcp://:5557\n") == ["network.peer-name-unresolved"]
