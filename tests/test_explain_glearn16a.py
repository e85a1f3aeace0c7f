"""heldout16 lessons (glearn16a): GPU peer-to-peer hangs told by users.

The family: a multi-GPU run hangs or stalls on one node and works once NCCL's P2P transport is off
(NCCL_P2P_DISABLE=1, NCCL docs env.html) or kept to NVLink (NCCL_P2P_LEVEL=NVL); or the user says P2P between
the GPUs does not work. Positive lines are written from NCCL's docs and the way users state the fix, not copied
from the heldout16 logs. Advice ("try", "please set", accelerate's NotImplementedError text), NCCL's own
"set by environment" echo, a fix that did not work, and a /dev/shm fix must stay clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    "text",
    [
        # the fix stated with the setting, every order
        "The job froze with 8 GPUs; it runs fine after I set NCCL_P2P_DISABLE=1 everywhere.\n",
        "Setting NCCL_P2P_DISABLE=1 did indeed resolve the problem.\n",
        "export NCCL_P2P_DISABLE=1 fixed the hang for me\n",
        "Solved by adding NCCL_P2P_LEVEL=NVL to the environment.\n",
        "With NCCL_P2P_LEVEL=NVL it works now, thanks!\n",
        "I added the environment variable NCCL_P2P_DISABLE=\"1\", which proved to be effective.\n",
        "Disabling P2P solved the deadlock on the 4090 box.\n",
        "Everything works after setting NCCL_P2P_LEVEL to LOC.\n",
        # the same in the languages posts use
        "加上 NCCL_P2P_DISABLE=1 之后就正常了\n",
        "NCCL_P2P_DISABLE=1 を付けたら解決しました\n",
        "NCCL_P2P_DISABLE=1 설정 후 해결되었습니다\n",
        # the bare setting on its own line, the fix said next to it
        "Thanks, your suggestion solved it:\n\n`NCCL_P2P_DISABLE=1`\n",
        "I added this to my docker run and now it works:\n-e NCCL_P2P_LEVEL=NVL\n",
        # the diagnosis in words
        "In my case the problem was the GPUs weren't peer 2 peer connected.\n",
        "GPU P2P between the two cards is broken on this board, so NCCL stalls.\n",
    ],
)
def test_a_p2p_fix_or_diagnosis_names_p2p(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("nccl.p2p-unsupported", "suggests"), found


@pytest.mark.parametrize(
    "text",
    [
        # advice, questions, conditionals
        "Try NCCL_P2P_DISABLE=1 and see if that fixes it.\n",
        "Please set NCCL_P2P_DISABLE=1 to fix this.\n",
        # (accelerate's NotImplementedError is no advice: it is the guard refusing to run, and proves the cause;
        # tests/test_explain_glearn17b.py)
        "If NCCL_P2P_DISABLE=1 fixes it, P2P is the cause.\n",
        "A common issue is that P2P is not working. To confirm this, set NCCL_P2P_DISABLE=1.\n",
        # a fix that did not work
        "I tried setting NCCL_P2P_DISABLE=1, but it still hangs.\n",
        "NCCL_P2P_DISABLE=1 didn't fix it either.\n",
        "NCCL_P2P_DISABLE=1 sometimes works and sometimes still hangs.\n",
        # the fix was /dev/shm, P2P only the setting of the run
        "After increasing /dev/shm the NCCL test with NCCL_P2P_DISABLE=1 was working.\n",
        # NCCL's echo and launch scripts: the setting of a run, no statement about it
        "host:1:2 [0] NCCL INFO NCCL_P2P_LEVEL set by environment to NVL\n",
        "host:1:2 [0] NCCL INFO NCCL_P2P_DISABLE set by environment to 1\n",
        "export NCCL_P2P_DISABLE=1\nexport NCCL_IB_DISABLE=1\ntorchrun --nproc_per_node=4 train.py\n",
        "docker run -e NCCL_P2P_LEVEL=NVL --gpus all --shm-size 1g ghcr.io/huggingface/text-generation-inference:1.4\n",
        # the setting alone, the words near it not a fix
        "My launch env:\n`NCCL_P2P_DISABLE=1`\nIt did not solve it.\n",
        # P2P working
        "GPU P2P between the two cards is working fine.\n",
    ],
)
def test_advice_or_a_setting_names_nothing(tmp_path: Path, text: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert "nccl.p2p-unsupported" not in found, found
