"""A real 2-rank NCCL all-reduce with torch.distributed, for the fault table (never hangs).

Prints one line `RESULT {json}`: ok, correct, busbw_gbs at 64 MiB, per-rank exit codes.
Exit status 0 only when both ranks finished and the sum was right.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from datetime import timedelta

# 2 ranks on the 2-GPU machine; ALLREDUCE_WORLD=1 when only one GPU is lent (CUDA and NCCL
# init are still exercised, bandwidth is then meaningless).
WORLD = int(os.environ.get("ALLREDUCE_WORLD", "2"))
SIZE = 64 << 20  # bytes, where the H200 NVLink vs SHM gap is 10x (research/gpu/README.md)
DEADLINE_S = float(os.environ.get("ALLREDUCE_DEADLINE_S", "100"))


def _worker(rank: int, port: int, queue: object) -> None:
    import torch
    import torch.distributed as dist

    try:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        torch.cuda.set_device(rank)
        dist.init_process_group("nccl", rank=rank, world_size=WORLD, timeout=timedelta(seconds=60))
        y = torch.full((1024,), float(rank + 1), device="cuda")
        dist.all_reduce(y)
        correct = bool((y == WORLD * (WORLD + 1) / 2).all())
        x = torch.ones(SIZE // 4, dtype=torch.float32, device="cuda")
        for _ in range(3):
            dist.all_reduce(x)
        torch.cuda.synchronize()
        iters = 10
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(x)
        torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / iters
        busbw = SIZE / dt / 1e9 * 2 * (WORLD - 1) / WORLD
        if rank == 0:
            queue.put({"correct": correct, "busbw_gbs": round(busbw, 1)})  # type: ignore[attr-defined]
        dist.destroy_process_group()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def main() -> int:
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, port, queue)) for r in range(WORLD)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + DEADLINE_S
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
    timed_out = any(p.is_alive() for p in procs)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(5)
    result: dict[str, object] = {"exitcodes": [p.exitcode for p in procs], "timed_out": timed_out}
    try:
        result.update(queue.get(timeout=1))
    except Exception:
        result["correct"] = False
    result["ok"] = bool(not timed_out and all(p.exitcode == 0 for p in procs) and result.get("correct"))
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
