"""Issue 13, heldout48 lessons (glearn48b): device indices and GPU counts outside vLLM.

Lines are written from the format strings that print them (not copied from the heldout48 logs):

- OpenMM's device-index check (CudaContext.cpp / HipContext.cpp / OpenCLContext.cpp
  `"Illegal value for DeviceIndex: "+intToString(deviceIndex)`; `CudaDeviceIndex` / `OpenCLDeviceIndex` in 7.0);
- LAMMPS geryon's and HPCToolkit's CU_SAFE_CALL (`"Cuda driver error %d in call at file '%s' in line %i.\\n"`),
  whose number goes to the CUresult table;
- older torch's TCPStore client warning (`The client socket has failed to connect to {} (errno: N - msg).`) for the
  errors that mean no answer (110, 113, 101), not the refusal of a store that is not up yet;
- torch's `_store_based_barrier` ("Rank %s: Completed store-based barrier for key:%s with %s nodes.") counting the
  ranks of a world in which a rank then asks for a GPU it cannot see;
- Ray's infeasible-request event for several GPUs where the report says each node has one GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

_ORDINAL = (
    "Traceback (most recent call last):\n"
    '  File "/opt/conda/lib/python3.10/site-packages/torch/cuda/__init__.py", line 350, in set_device\n'
    "    torch._C._cuda_setDevice(device)\n"
    "RuntimeError: CUDA error: invalid device ordinal\n"
)


# --- OpenMM: an index past the GPUs the platform enumerates --------------------------------------------------------

@pytest.mark.parametrize(
    "line",
    [
        "openmm.OpenMMException: Illegal value for DeviceIndex: 2",  # OpenMM 7.1+ (CUDA, HIP, OpenCL)
        "simtk.openmm.OpenMMException: Illegal value for DeviceIndex: 5",  # the simtk namespace (<= 7.5)
        "Exception: Illegal value for CudaDeviceIndex: 1",  # OpenMM 7.0 CUDA
        "OpenMMException: Illegal value for OpenCLDeviceIndex: 3",  # OpenMM 7.0 OpenCL
    ],
)
def test_openmm_illegal_device_index_forms(tmp_path: Path, line: str) -> None:
    got = findings(tmp_path, "export CUDA_VISIBLE_DEVICES=4,7\n" + line + "\n")
    assert got and got[0] == ("cuda.visible-devices-mismatch", "suggests"), got
    # the same prefix for OpenMM's other properties names no device cause
    for other in ("openmm.OpenMMException: Illegal value for Precision: quad",
                  "OpenMMException: Illegal value for OpenCLPlatformIndex: 2"):
        assert "cuda.visible-devices-mismatch" not in causes(tmp_path, other + "\n"), other


def test_openmm_illegal_device_index_without_mask(tmp_path: Path) -> None:
    # the exception alone still points at the index against the visible GPUs
    text = (
        '  File "/usr/lib/python3/site-packages/openmm/openmm.py", line 13911, in __init__\n'
        "    _openmm.Context_swiginit(self, _openmm.new_Context(*args))\n"
        "openmm.OpenMMException: Illegal value for DeviceIndex: 6\n"
    )
    assert causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]
    assert causes(tmp_path, text.replace("DeviceIndex: 6", "Precision: 6")) == []


# --- LAMMPS geryon / HPCToolkit: the CUresult as a bare number ---------------------------------------------------

def test_geryon_cuda_driver_error_number(tmp_path: Path) -> None:
    line = "Cuda driver error 804 in call at file '/opt/lammps/lib/gpu/geryon/nvd_device.h' in line 333.\n"
    assert findings(tmp_path, line)[:1] == [("cuda.forward-compat-unsupported", "suggests")]
    # the same words with no number, or a version after them, name nothing from the table
    assert "cuda.forward-compat-unsupported" not in causes(tmp_path, "Cuda driver error in call at file 'x.h'\n")
    assert causes(tmp_path, "Cuda driver version 12.4 installed, Cuda driver error handling enabled\n") == []


def test_geryon_cuda_driver_error_other_code(tmp_path: Path) -> None:
    # 804 is forward compatibility; the CU_SAFE_CALL form reads any CUresult (803: driver/compat mismatch)
    line = "Cuda driver error 803 in call at file 'geryon/nvd_device.h' in line 302.\n"
    assert causes(tmp_path, line), "the number is read from the CUresult table"


# --- torch's TCPStore client: a connect that gets no answer --------------------------------------------------------

@pytest.mark.parametrize(
    "line",
    [
        "[W socket.cpp:663] [c10d] The client socket has failed to connect to [10.1.2.3]:29500 "
        "(errno: 110 - Connection timed out).",
        "[W socket.cpp:558] [c10d] The client socket has failed to connect to [node-0]:29400 "
        "(errno: 113 - No route to host).",
        "[W1207 10:00:00.000000 123 torch/csrc/distributed/c10d/socket.cpp:752] [c10d] The client socket has failed "
        "to connect to [::ffff:192.168.0.1]:29500 (errno: 101 - Network is unreachable).",
    ],
)
def test_store_client_no_answer_forms(tmp_path: Path, line: str) -> None:
    launch = "MASTER_ADDR=192.168.0.1 torchrun --nproc_per_node 4 train.py\n"
    assert findings(tmp_path, launch + line + "\n")[:1] == [("network.wrong-interface", "suggests")]
    # the benign retry of a store that is not up yet, and IPv6 localhost tried first, stay clean
    refused = "[W socket.cpp:663] [c10d] The client socket has failed to connect to [node-0]:29500 (errno: 111 - Connection refused).\n"
    ipv6 = "[W socket.cpp:663] [c10d] The client socket has failed to connect to [localhost]:29500 (errno: 99 - Cannot assign requested address).\n"
    assert causes(tmp_path, launch + refused) == []
    assert causes(tmp_path, launch + ipv6) == []


def test_store_client_timeout_then_run_ok_is_benign(tmp_path: Path) -> None:
    line = "[W socket.cpp:663] [c10d] The client socket has failed to connect to [10.1.2.3]:29500 (errno: 110 - Connection timed out).\n"
    assert causes(tmp_path, line) == ["network.wrong-interface"]
    ok = line + "node1:77:77 [0] NCCL INFO comm 0x5581 rank 0 nranks 2 cudaDev 0 busId 1b000 - Init COMPLETE\n"
    assert causes(tmp_path, ok) == []
    assert any("retry that succeeded" in n for n in notes(tmp_path, ok))


# --- more ranks than GPUs: the store-based barrier counts the world --------------------------------------------------

def _barrier(n: int) -> str:
    return "".join(
        f"INFO:torch.distributed.distributed_c10d:Rank {r}: Completed store-based barrier for key:store_based_barrier_key:1 with {n} nodes.\n"
        for r in range(n)
    )


def test_barrier_world_with_invalid_ordinal_is_rank_count(tmp_path: Path) -> None:
    got = causes(tmp_path, _barrier(3) + _ORDINAL)
    assert got[:1] == ["vllm.tp-exceeds-visible-gpus"], got
    # the bare ordinal stays what it was; a world of one rank, or a multi-node launch, counts nothing per node
    assert "vllm.tp-exceeds-visible-gpus" not in causes(tmp_path, _ORDINAL)
    assert "vllm.tp-exceeds-visible-gpus" not in causes(
        tmp_path, "Rank 0: Completed store-based barrier for key:store_based_barrier_key:1 with 1 nodes.\n" + _ORDINAL
    )
    assert "vllm.tp-exceeds-visible-gpus" not in causes(
        tmp_path, "torchrun --nnodes=2 --nproc_per_node=4 train.py\n" + _barrier(8) + _ORDINAL
    )


def test_barrier_world_with_thc_ordinal(tmp_path: Path) -> None:
    # torch <= 1.x's THC form of the same error: the code table's cudaErrorInvalidDevice, not the c10 line
    thc = "RuntimeError: cuda runtime error (101) : invalid device ordinal at /pytorch/torch/csrc/cuda/Module.cpp:59\n"
    assert causes(tmp_path, _barrier(4) + thc)[:1] == ["vllm.tp-exceeds-visible-gpus"]
    assert "vllm.tp-exceeds-visible-gpus" not in causes(tmp_path, thc)


def test_barrier_world_alone_is_clean(tmp_path: Path) -> None:
    # a healthy run prints the barrier too
    assert causes(tmp_path, _barrier(4) + "epoch 1 loss 0.53\n") == []
    assert "vllm.tp-exceeds-visible-gpus" in causes(tmp_path, _barrier(4) + _ORDINAL)


# --- Ray: one request for more GPUs than any node has --------------------------------------------------------------

_RAY = (
    "Error: No available node types can fulfill resource request {'CPU': 1.0, 'GPU': %s, 'worker_node': 0.1}. "
    "Add suitable node types to this cluster to resolve this issue.\n"
)


@pytest.mark.parametrize(
    "prose",
    [
        "The cluster has two nodes, each with 1 GPU.\n",
        "We run 4 workers, each with a single GPU.\n",
        "Our Ray cluster has one GPU per node.\n",
        "Two machines with 1 GPU each.\n",
    ],
)
def test_ray_request_exceeds_one_gpu_nodes(tmp_path: Path, prose: str) -> None:
    got = findings(tmp_path, prose + _RAY % "2.0")
    assert got[:1] == [("vllm.tp-exceeds-visible-gpus", "suggests")], got
    # a one-GPU request, or the event without the per-node count, keeps the benign reading
    assert causes(tmp_path, prose + _RAY % "1.0") == []
    assert causes(tmp_path, _RAY % "2.0") == []
