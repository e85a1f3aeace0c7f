"""review38: bugs found reviewing gnew38 (k8s.nvidia-runtime-class-missing) and gfeat38 (launcher-aware remedies,
runtimes = [], k3s/RKE2 bundled runc)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.explain import explain

TP = "vllm.tp-exceeds-visible-gpus"


# --- 1: NCCL's "localRanks N" is not torch elastic's local_ranks=[...] -------------------------------------------------


def test_vllm_log_with_nccl_init_line_keeps_vllm_words(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(
        "docker run --gpus 2 img\n"
        "INFO 05-01 10:00:00 api_server.py:1 vLLM API server version 0.8.5\n"
        "INFO args: tensor_parallel_size=4\n"
        "(VllmWorker rank=0 pid=1) host:1:1 [0] NCCL INFO comm 0x5581 rank 0 nRanks 4 nNodes 1 localRanks 4 "
        "localRank 0 MNNVL 0\n"
        "RuntimeError: CUDA error: invalid device ordinal\n"
    )
    f = next(x for x in explain([str(log)]).findings if x.cause == TP)
    env = [x for x in f.fixes if x.runtime == "env"]
    assert env and all("--tensor-parallel-size" in x.snippet for x in env), env
    assert not any("torchrun" in x.snippet or "nproc" in x.title for x in env)
