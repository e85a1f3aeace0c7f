"""heldout17 lessons (glearn17b): GPU peer-to-peer on PCIe-only (consumer/workstation) GPUs.

Families:
- accelerate's guard (state.py PartialState / utils/environment.py check_cuda_p2p_ib_support): RTX 40-series
  GPUs whose P2P does not work and NCCL_P2P_DISABLE not set -> NotImplementedError "Using RTX 4000 series doesn't
  support faster communication broadband via P2P or IB" (older: "RTX 3090 or 4000 series"), in a traceback or
  quoted alone as a title. A shell comment above `export NCCL_P2P_DISABLE=1` is the workaround: clean.
- the same told in words ("the 4090 doesn't support P2P", "4090 不支持 P2P"); questions and conditionals clean.
- RTX A-series workstation cards counted without "x" ("2 or 4 A6000") select P2P for a hang, like other
  PCIe-only models; the model alone (no hang) names nothing.
Lines are written from the upstream source, not copied from the dev logs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes
from explain_helpers import findings as _findings

ACCEL_NEW = (
    "NotImplementedError: Using RTX 4000 series doesn't support faster communication broadband via P2P or IB. "
    'Please set `NCCL_P2P_DISABLE="1"` and `NCCL_IB_DISABLE="1" or use `accelerate launch` which will do this '
    "automatically.\n"
)


@pytest.mark.parametrize(
    "text",
    [
        ACCEL_NEW,
        ACCEL_NEW.replace("RTX 4000 series", "RTX 3090 or 4000 series"),
        'Traceback (most recent call last):\n  File "/opt/conda/lib/python3.10/site-packages/accelerate/state.py", '
        "line 246, in __init__\n    raise NotImplementedError(\n" + ACCEL_NEW,
        "[rank1]: " + ACCEL_NEW,
        "Fine-tuning on 40-series fails: Using RTX 4000 series doesn't support faster communication broadband via "
        "P2P or IB.\n",
    ],
)
def test_accelerate_guard_proves_p2p(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "proves"), found


@pytest.mark.parametrize(
    "text",
    [
        "The RTX 4090 doesn't support P2P, so NCCL hangs on the first all_reduce.\n",
        "RTX 40 series cards do not support peer-to-peer over PCIe anymore.\n",
        "Our 4090s can't do P2P, that is why the job froze.\n",
        "4090 不支持 P2P，需要设置 NCCL_P2P_DISABLE=1\n",
        "RTX 5090 GPUs do not support GPU P2P without the patched driver.\n",
    ],
)
def test_consumer_gpu_no_p2p_in_words_suggests_p2p(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        "It gets stuck with multi-GPUs (2 or 4 A6000), but works with a single GPU.\n",
        "Training with 4 A5000 GPUs hangs at the first step.\n",
        "dist.all_reduce hangs forever on our A6000 cards with backend nccl.\n",
    ],
)
def test_a_series_counted_selects_p2p_for_a_hang(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # the workaround already in a script, the message quoted as a comment
        "# Using RTX 3090 or 4000 series doesn't support faster communication broadband via P2P or IB\n"
        "export NCCL_P2P_DISABLE=1\nexport NCCL_IB_DISABLE=1\ntorchrun --nproc_per_node=2 train.py\n",
        # questions, conditionals, P2P that works
        "Does the RTX 4090 not support P2P?\n",
        "If the 4090 doesn't support P2P, NCCL should fall back to SHM.\n",
        "The RTX 4090 does support P2P with the tinygrad driver.\n",
        "My 3090s support P2P over the NVLink bridge.\n",
        # A-series named without a hang; a healthy run on them
        "Training with 4 A6000 GPUs finished in 3 hours.\n",
        "GPU 0: NVIDIA RTX A6000\nGPU 1: NVIDIA RTX A6000\nepoch 1/3 loss 0.42\n",
        # numbers that are not the model
        "Saved checkpoint to /data/A6000/run1, step 2 A5000x\n",
        # healthy NCCL INFO lines
        "host:1:2 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM\n"
        "host:1:2 [0] NCCL INFO NCCL_P2P_DISABLE set by environment to 1\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "nccl.p2p-unsupported" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "dist.all_reduce gets stuck with the nccl backend, but it works with gloo.\n",
        "Training hangs with backend nccl; works fine with `gloo`.\n",
        "NCCL hangs at the first barrier, Gloo works.\n",
    ],
)
def test_nccl_hangs_gloo_works_selects_p2p(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # both backends hang, or gloo is what hangs
        "It hangs with nccl and also hangs with gloo.\n",
        "The gloo backend hangs too, nccl works.\n",
        # gloo mentioned without a hang; a healthy run's Gloo line
        "I switched to gloo and it works.\n",
        "[Gloo] Rank 0 is connected to 1 peer ranks. Expected number of connected peer ranks is : 1\n",
        # across nodes the difference is the network, not P2P
        "With 2 nodes (--nnodes=2) training is stuck with nccl but works with gloo.\n"
        "NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n",
    ],
)
def test_gloo_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "nccl.p2p-unsupported" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "Copy data back to host from GPU0 and verify results...\n"
        "Verification error @ element 1: val = 0.000000, ref = 4.000000\n"
        "Verification error @ element 2: val = 0.000000, ref = 8.000000\nTest failed!\n",
        "Verification error @ element 0: val = nan, ref = 0.000000\n",
        "Two or more GPUs with Peer-to-Peer access capability are required for ./simpleP2P.\n"
        "Peer to Peer access is not available amongst GPUs in the system, waiving test.\n",
    ],
)
def test_simplep2p_failure_suggests_p2p(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


def test_simplep2p_pass_is_clean(tmp_path: Path) -> None:
    text = (
        "> Peer access from NVIDIA RTX A6000 (GPU0) -> NVIDIA RTX A6000 (GPU1) : Yes\n"
        "Enabling peer access between GPU0 and GPU1...\n"
        "Copy data back to host from GPU0 and verify results...\n"
        "Disabling peer access...\nShutting down...\nTest passed\n"
    )
    assert causes(tmp_path, text) == []


def test_nvidia_iommu_page_fault_suggests_p2p(tmp_path: Path) -> None:
    text = (
        "[ 812.334101] nvidia 0000:21:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000f "
        "address=0xe0001000 flags=0x0020]\n"
    )
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found
    # another device's fault (a NIC, an NVMe drive) says nothing about GPU peer-to-peer
    other = text.replace("nvidia 0000:21:00.0", "nvme 0000:01:00.0")
    assert "nccl.p2p-unsupported" not in causes(tmp_path, other)


@pytest.mark.parametrize(
    "text",
    [
        "显卡为RTX 4090，双卡加载模型时卡住\n",
        "两张4090 训练时卡住不动\n",
    ],
)
def test_geforce_named_in_chinese_selects_p2p_for_a_hang(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        "显卡为RTX 4090，训练正常结束\n",  # the model, no hang
        "共4090条样本，训练时卡住\n",  # a count of samples, not a card
    ],
)
def test_geforce_in_chinese_without_hang_is_clean(tmp_path: Path, text: str) -> None:
    assert "nccl.p2p-unsupported" not in causes(tmp_path, text)
