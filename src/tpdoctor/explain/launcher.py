"""Which launcher the log used: the fact that selects a remedy's words (model/fixes.py `variants`).

A rank count above the visible GPUs is one cause (vllm.tp-exceeds-visible-gpus) whatever started the ranks,
but its remedy is the launcher's own setting: torchrun's `--nproc-per-node` (torch/distributed/run.py),
accelerate's `--num_processes` / `num_processes:` (accelerate/commands/launch.py), DeepSpeed's `--num_gpus` /
`--include` (deepspeed/launcher/runner.py), mpirun's `-np`, vLLM's `--tensor-parallel-size` and
`--pipeline-parallel-size` (their product is the world size it checks against the GPUs), SGLang's `--tp` /
`--tp-size`, TGI's `--num-shard`, Ray's `num_gpus`. The log names it by the facts its lines show
(data/signatures.yaml `facts:`): a launcher word at a command's start (`step_launcher`), a launcher's own
count flag, a server's size or name, a Ray scheduler message.

The order is the order of wrapping: a launcher that starts other launchers comes first (accelerate and
DeepSpeed start torch's elastic agent, whose `local_ranks=[...]` is torchrun's fact; DeepSpeed's runner may
print the `mpirun` command it builds), then the process launchers, then the servers whose size is the rank
count, then Ray, which schedules whatever asked it for GPUs.
"""

from __future__ import annotations

from collections.abc import Collection

from tpdoctor.explain.scanner import LogFacts

# The values `launcher` takes (the keys of a remedy's `variants`).
LAUNCHERS = ("accelerate", "deepspeed", "mpirun", "torchrun", "sglang", "tgi", "vllm", "ray")

_TORCHRUN_WORDS = frozenset({"torchrun", "torch.distributed.launch", "torch.distributed.run"})
_MPI_WORDS = frozenset({"mpirun", "mpiexec"})
# Ray's scheduler saying a GPU request cannot be met (python/ray/_private/worker.py's resource-demand warning,
# `ray status` pending demands, the autoscaler's infeasible request): the request is the job's num_gpus. vLLM's
# own placement-group messages (vllm.* signatures, and ray.current-node-no-gpu, vLLM's ray_utils words) are vLLM's.
_RAY_SCHEDULER = frozenset({"ray.resource-request-pending", "ray.status-pending-gpu-demand", "ray.autoscaler-infeasible"})
_VLLM_ON_RAY = frozenset({"ray.current-node-no-gpu"})


def _server(facts: LogFacts, signatures: Collection[str]) -> str | None:
    """The serving engine whose size the log shows: SGLang or TGI by name, else vLLM by its size or version."""
    named = facts.values.get("llm_server", [])
    if any(v.startswith("text") or "num" in v for v in named):
        return "tgi"
    if named:
        return "sglang"
    if any(facts.get(k) for k in ("tp_size", "cmd_tp_size", "tp_size_many", "vllm_version", "vllm_executor_backend")):
        return "vllm"
    if any(s.startswith("vllm.") or s in _VLLM_ON_RAY for s in signatures):
        return "vllm"
    return None


def elastic_local_ranks(facts: LogFacts) -> str | None:
    """torch elastic's rendezvous result `local_ranks=[0, 1, ...]` (signatures.yaml elastic-local-ranks), as its
    list. NCCL's init line "nRanks N nNodes N localRanks N" (nccl-comm) fills the same fact with a count, printed
    by any NCCL job (vLLM with NCCL_DEBUG=INFO): a count is never 0, the agent's list always starts at local rank 0."""
    return next((v for v in facts.values.get("local_ranks", []) if v.split(",")[0].strip() == "0"), None)


def launcher_ranks(facts: LogFacts) -> int | None:
    """The ranks a process launcher starts, as the log gives them (torchrun, accelerate, DeepSpeed, mpirun)."""
    for key in ("cmd_nproc_per_node", "nproc_per_node", "accelerate_num_processes", "mpi_np"):
        value = facts.get(key)
        if value and value.isdigit():
            return int(value)
    local = elastic_local_ranks(facts)
    return len(local.split(",")) if local else None


def launcher_of(facts: LogFacts, signatures: Collection[str] = ()) -> str | None:
    """The launcher the log shows (one of LAUNCHERS), or None when it shows none: the remedy keeps its own words.

    `signatures`: the ids of the symptom signatures that hit (a Ray scheduler message names Ray)."""
    steps = set(facts.values.get("step_launcher", []))
    if facts.get("accelerate_num_processes") or "accelerate launch" in steps:
        return "accelerate"
    if "deepspeed" in steps:
        return "deepspeed"
    if steps & _MPI_WORDS or facts.get("mpi_np"):
        return "mpirun"
    if (
        steps & _TORCHRUN_WORDS
        or facts.get("nproc_per_node")
        or facts.get("cmd_nproc_per_node")
        or elastic_local_ranks(facts)
    ):
        return "torchrun"
    server = _server(facts, signatures)
    if server:
        return server
    if any(s in _RAY_SCHEDULER for s in signatures):
        return "ray"
    return None
