"""Generic downstream errors: lines every failure ends with, whatever its root.

A launcher, executor or process-group wrapper re-raises the real error under its own words
("See root cause above"). Such a line names no cause, so it must never be shown as the first
real error nor prove a cause; signatures that match one carry `downstream: true` (correlate.py
ranks their causes after every cause a specific line supports and never lets them prove).
"""

from __future__ import annotations

import re

from tpdoctor.explain.normalize import strip_prefixes

# Each alternative is the text the wrapper prints; the source of each is given next to it.
GENERIC = re.compile(
    "|".join(
        (
            # vLLM v1 vllm/v1/engine/utils.py wait_for_engine_startup (0.8-0.11):
            #   raise RuntimeError("Engine core initialization failed. See root cause above. ...")
            r"Engine core initialization failed",
            # vLLM v1 vllm/v1/executor/multiproc_executor.py WorkerProc.worker_main:
            #   logger.exception("WorkerProc failed to start.")
            r"WorkerProc failed to start",
            # vLLM v1 multiproc_executor.py wait_for_ready: "WorkerProc initialization failed due to an exception in a background process."
            r"WorkerProc initialization failed",
            # Ray python/ray/exceptions.py: ActorDiedError / RayActorError ("The actor died unexpectedly
            # before finishing this task"), RayTaskError wraps the remote traceback.
            r"\bActorDiedError\b|\bRayActorError\b|The actor died unexpectedly|\bRayTaskError\b",
            # Ray src/ray/gcs/gcs_server/gcs_actor_manager.cc ("The actor died because its node has
            # died."), core_worker ("The actor is dead because its worker process has died."),
            # python/ray/exceptions.py WorkerCrashedError ("The worker died unexpectedly while executing
            # this task"), raylet ("A worker died or was killed while executing a task by an unexpected
            # system error"): each only says that the process holding the real error is gone.
            r"The actor died because its node has died|The actor is dead because its worker process has died"
            r"|\bWorkerCrashedError\b|The worker died unexpectedly while executing"
            r"|A worker died or was killed while executing a task"
            # python/ray/exceptions.py ActorDiedError: the creation task's own traceback follows.
            r"|The actor died because of an error raised in its creation task"
            # python/ray/_private (dashboard agent / log monitor) when the raylet process is gone.
            r"|Raylet is terminated\. Termination is unexpected",
            # NCCL src/misc/argcheck + torch NCCLUtils.hpp C10D_NCCL_CHECK: "NCCL error in: ...,
            # unhandled system error (run with NCCL_DEBUG=INFO for details)": ncclSystemError's string.
            r"unhandled system error|ncclSystemError",
            # torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp: the watchdog re-raises the real
            # exception: "Process group watchdog thread terminated with exception: <real error>".
            r"Process group watchdog thread terminated with exception",
            # torch/distributed/elastic/multiprocessing/errors/__init__.py: ChildFailedError lists the
            # ranks that exited; the cause is in their own output.
            r"\bChildFailedError\b",
            # torch/distributed/elastic/agent/server/api.py + multiprocessing/api.py: the agent's
            # "failed (exitcode: 1) local_rank: 0 (pid: 123) of binary: ..." line for a dead rank.
            r"failed \(exitcode: -?\d+\) local_rank: \d+",
            # horovod/horovod horovod/common/common.h SHUT_DOWN_ERROR (v0.16-v0.28): "Horovod has been shut down.
            # This was caused by an exception on one of the ranks ... you should see the exception in the log before
            # the first shutdown message."
            r"Horovod has been shut down\. This was caused by an exception on one of the",
        )
    )
)


def is_generic(text: str) -> bool:
    """True for a wrapper line that only says that something failed earlier or elsewhere."""
    return GENERIC.search(strip_prefixes(text)) is not None
