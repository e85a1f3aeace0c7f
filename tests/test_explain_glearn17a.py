"""Issue 13, heldout17 lessons (glearn17a): precision around NCCL's shm attach, vLLM's custom all-reduce,
ROCm's hsa_init and Ray's ROCm mask check.

Lines are written from the code that prints them (not copied from the heldout17 logs): NCCL
src/misc/shmutils.cc ncclShmOpen ("Error while %s shared memory segment %s (size %ld), error: %s (%d)"),
vLLM csrc/custom_all_reduce.cuh CUDACHECK ("Failed: Cuda error %s:%d '%s'"), rocminfo's
"Unable to open /dev/kfd read-write: %s" and RET_IF_HSA_ERR, Ray's amd_gpu.py refusal of ROCR_VISIBLE_DEVICES,
and the custom all-reduce failure retold in prose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

ATTACH = "h1:7:9 [1] misc/shmutils.cc:129 NCCL WARN Error while attaching to shared memory segment /dev/shm/nccl-{} (size {}), error: {}\n"


def _all(tmp_path: Path, text: str) -> list[str]:
    from tpdoctor.explain import explain

    log = tmp_path / "a.log"
    log.write_text(text)
    return [f.cause for f in explain([str(log)]).findings]


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # custom all-reduce retold: wrong output or a host reset over the peer path
        ("With the patched P2P driver, vLLM's custom all-reduce returns wrong data on the two 3090s.\n",
         "vllm.custom-allreduce-p2p", "suggests"),
        ("Custom allreduce produces garbage tokens across both cards; NCCL alone is fine.\n",
         "vllm.custom-allreduce-p2p", "suggests"),
        ("The all-reduce over the P2P path hard-resets the machine as soon as the first request arrives.\n",
         "vllm.custom-allreduce-p2p", "suggests"),
        ("The model prints !!!! garbage output when p2p is enabled, none when it is off.\n",
         "vllm.custom-allreduce-p2p", "suggests"),
        # the CUDACHECK line without expandable segments still reads as the IPC/P2P path
        ("Failed: Cuda error /workspace/csrc/custom_all_reduce.cuh:336 'invalid argument'\n",
         "vllm.custom-allreduce-p2p", "suggests"),
        # hsa_init with nothing that says why: still the container's KFD
        ("hsa api call failure at: /src/rocminfo/rocminfo.cc:1142\nCall returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: "
         "The runtime failed to allocate the necessary resources.\n", "device.kfd-missing", "suggests"),
    ],
)
def test_a_heldout17_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # attaching never allocates: ENOENT and a size-0 descriptor are not a full /dev/shm
        (ATTACH.format("Xy12Ab", 9637888, "No such file or directory (2)"), "shm.too-small"),
        (ATTACH.format("\u040c", 0, "No such file or directory (2)"), "shm.too-small"),
        # custom all-reduce failing under expandable segments (VMM memory, cudaIpcGetMemHandle refuses it)
        ("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True vllm serve m -tp 2\n"
         "Failed: Cuda error /workspace/csrc/custom_all_reduce.cuh:455 'invalid argument'\n",
         "vllm.custom-allreduce-p2p"),
        ("export PYTORCH_ALLOC_CONF=expandable_segments:True\nCustom allreduce returns wrong data with TP=2.\n",
         "vllm.custom-allreduce-p2p"),
        # healthy neighbours: vLLM's P2P probe and config dump, a plain all-reduce mention
        ("INFO custom_all_reduce_utils.py:242] reading GPU P2P access cache from /root/.cache/vllm/gpu_p2p.json\n",
         "vllm.custom-allreduce-p2p"),
        ("disable_custom_all_reduce=False, quantization=None, enforce_eager=False\n", "vllm.custom-allreduce-p2p"),
        ("The all-reduce finished in 3 ms; the machine was reset for maintenance later.\n",
         "vllm.custom-allreduce-p2p"),
        # rocminfo says the open failed inside amdkfd itself (ENOMEM / EINVAL): a host problem
        ("ROCk module is loaded\nUnable to open /dev/kfd read-write: Cannot allocate memory\n"
         "hsa api call failure at: /src/rocminfo/rocminfo.cc:1142\n"
         "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources.\n",
         "device.kfd-missing"),
        # Ray 2.45's blanket refusal while both masks pick the same GPU
        ("export ROCR_VISIBLE_DEVICES=0\nexport HIP_VISIBLE_DEVICES=0\n"
         "RuntimeError: Please use HIP_VISIBLE_DEVICES instead of ROCR_VISIBLE_DEVICES\n",
         "rocm.visible-devices-mismatch"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


def test_shm_attach_size0_names_the_cumem_host_fallback(tmp_path: Path) -> None:
    text = ATTACH.format("\u040c", 0, "No such file or directory (2)")
    assert "nccl.cumem-host-fallback" in _all(tmp_path, text)


def test_shm_attach_enoent_points_at_cumem_paths(tmp_path: Path) -> None:
    text = ATTACH.format("aB3dEf", 14156128, "No such file or directory (2)")
    assert _all(tmp_path, text) == ["nccl.cumem-host-fallback"]


def test_shm_attach_other_errno_keeps_the_old_reading(tmp_path: Path) -> None:
    text = "NCCL WARN Error while attaching to shared memory segment /dev/shm/nccl-abc (size 4194304)\n"
    assert "shm.too-small" in [c for c, _ in _findings(tmp_path, text)]


def test_torch_oom_advice_is_not_the_setting(tmp_path: Path) -> None:
    text = ("If reserved but unallocated memory is large try setting\n"
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.\n"
            "Failed: Cuda error /workspace/csrc/custom_all_reduce.cuh:455 'invalid argument'\n")
    assert "vllm.custom-allreduce-p2p" in [c for c, _ in _findings(tmp_path, text)]


def test_ray_refusal_with_disagreeing_masks_still_named(tmp_path: Path) -> None:
    text = ("export ROCR_VISIBLE_DEVICES=1\nexport HIP_VISIBLE_DEVICES=1\n"
            "RuntimeError: Please use HIP_VISIBLE_DEVICES instead of ROCR_VISIBLE_DEVICES\n")
    assert "rocm.visible-devices-mismatch" in [c for c, _ in _findings(tmp_path, text)]
