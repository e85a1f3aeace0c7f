"""lead52: a Ray worker that requested GPUs is not "a task that requested none" (ray.task-without-gpu)."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes

# Ray prefixes a worker's output with "(<class> pid=N)" (_private/worker.py print_worker_logs); a Serve replica's
# class is "ServeReplica:<app>:<deployment>"; torch's "No CUDA GPUs are available" (torch/cuda/__init__.py _lazy_init)
NO_GPU = "(ServeReplica:default:LLMServer pid=2211) RuntimeError: No CUDA GPUs are available\n"


@pytest.mark.parametrize(
    "request_line",
    [
        "(ServeReplica:default:LLMServer pid=2211) deployment options: ray_actor_options={'num_gpus': 1}\n",
        '  ray_actor_options: {"num_gpus": 0.5, "num_cpus": 4}\n',
        "@serve.deployment(ray_actor_options={'num_gpus': 2})\n",
        "@ray.remote(num_gpus=1)\n",
        "      num_gpus: 1\n",
    ],
)
def test_a_worker_that_requested_gpus_is_not_told_to_request_them(tmp_path: Path, request_line: str) -> None:
    assert "ray.task-without-gpu" not in causes(tmp_path, request_line + NO_GPU)


@pytest.mark.parametrize(
    "other_line",
    [
        "",
        "(ServeReplica:default:LLMServer pid=2211) deployment options: ray_actor_options={'num_gpus': 0}\n",
        "ray.init(num_gpus=4)\n",
        "deepspeed --num_gpus=2 train.py\n",
        "Started a local Ray instance. num_gpus_per_worker: 0\n",
    ],
)
def test_a_worker_that_requested_none_still_is(tmp_path: Path, other_line: str) -> None:
    assert causes(tmp_path, other_line + NO_GPU)[0] == "ray.task-without-gpu"
