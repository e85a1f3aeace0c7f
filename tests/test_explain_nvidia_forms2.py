"""Issue 13, second knowledge pass (kb-nv2): forms read in upstream code, and lines that must stay quiet.

Each positive line is the wording of the code the signature cites (NCCL proxy.cc / bootstrap.cc / ibvwrap.cc,
torch c10d, vLLM platform detection, TGI's launcher, pynvml); each quiet line is a generic consequence or a
benign message that the same programs print when another rank died or in a healthy run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as findings


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        # NCCL 2.19-2.23 and master: the cuMem fd fetched through the peer's proxy (abstract UDS, per netns)
        ("proxy.cc:1168 NCCL WARN ncclProxyClientGetFd call to tpRank 1 handle 0x7f12 failed : 2",
         "topology.ranks-split-across-containers"),
        ("bootstrap.cc:577 NCCL WARN no device found matching ib0, verify NCCL_OOB_NET_IFNAME",
         "network.wrong-interface"),
        ("misc/ibvwrap.cc:244 NCCL WARN Call to ibv_create_cq failed with error Cannot allocate memory",
         "rdma.memlock-too-low"),
        ("pynvml.nvml.NVMLError_LibRmVersionMismatch: RM has detected an NVML/RM version mismatch.",
         "nvidia.driver-library-mismatch"),
        ("pynvml.nvml.NVMLError_DriverNotLoaded: Driver Not Loaded", "device.no-driver"),
        ("ValueError: ProcessGroupNCCL is only supported with GPUs, no GPUs found!", "device.nvidia-node-missing"),
        ("DEBUG 04-25 06:11:24 [__init__.py:88] CUDA platform is not available because no GPU is found.",
         "device.nvidia-node-missing"),
        ("nvidia-container-cli: mount error: stat failed: /dev/nvidia-uvm: no such file or directory: unknown",
         "device.nvidia-node-missing"),
        ("DEBUG 04-25 06:11:24 [__init__.py:93] CUDA platform is not available because: Unknown Error",
         "device.nvml-cgroup-lost"),
        ("thread 'main' panicked at launcher/src/main.rs:1321:18: --num-shard and "
         "CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES/ZE_AFFINITY_MASK are not set: NotPresent",
         "device.nvidia-node-missing"),
    ],
)
def test_form_names_its_cause_first(tmp_path: Path, line: str, cause: str) -> None:
    assert findings(tmp_path, line + "\n")[:1] == [cause]


@pytest.mark.parametrize(
    "line",
    [
        # what every surviving rank prints when another rank died: no cause of its own
        "NCCL WARN socketProgress: Connection closed by remote peer 10.0.0.2<43215>",
        "RuntimeError: NCCL error: remote process exited or there was a network error",
        # vLLM's env_override warning on every start with the variable set: a fact, not a cause
        "WARNING 06-23 13:44:36 [env_override.py:17] NCCL_CUMEM_ENABLE is set to 0, skipping override. "
        "This may increase memory overhead with cudagraph+allreduce: https://github.com/NVIDIA/nccl/issues/1234",
    ],
)
def test_generic_or_benign_line_stays_clean(tmp_path: Path, line: str) -> None:
    assert findings(tmp_path, line + "\n") == []


def test_client_socket_timeout_is_downstream_of_a_real_failure(tmp_path: Path) -> None:
    # rank 0 ran out of memory; the others time out reaching its store: the timeout names no cause then
    text = (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n"
        "torch.distributed.DistNetworkError: The client socket has timed out after 600000ms while trying to "
        "connect to (10.0.0.1, 29500).\n"
    )
    assert findings(tmp_path, text) == []
    alone = findings(tmp_path, text.splitlines()[1] + "\n")
    assert alone[:1] == ["network.wrong-interface"]


def test_vllm_kept_cumem_value_against_another_process_is_a_mismatch(tmp_path: Path) -> None:
    vllm = (
        "WARNING 06-23 13:44:36 [env_override.py:17] NCCL_CUMEM_ENABLE is set to 1, skipping override. "
        "This may increase memory overhead with cudagraph+allreduce: https://github.com/NVIDIA/nccl/issues/1234\n"
    )
    trainer = "trainer:9:9 [0] NCCL INFO NCCL_CUMEM_ENABLE set by environment to 0.\n"
    assert "nccl.cumem-mismatch" in findings(tmp_path, vllm + trainer)
    assert "nccl.cumem-mismatch" not in findings(tmp_path, vllm + trainer.replace("to 0.", "to 1."))
