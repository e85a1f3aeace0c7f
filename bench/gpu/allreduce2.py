"""A real 2-rank NCCL all-reduce with torch.distributed, for the fault table (never hangs),
then the /dev/shm traffic a vLLM TP group adds on top of NCCL: vLLM's shm broadcast ring
(vllm/distributed/device_communicators/shm_broadcast.py, MessageQueue defaults
max_chunk_bytes=10 MiB x max_chunks=10 = 100 MiB in /dev/shm, written by rank 0 and read by the
other local ranks). A bare all-reduce survives a 64 MiB /dev/shm; that ring does not (SIGBUS).

Prints one line `RESULT {json}`: ok, correct, busbw_gbs at 64 MiB, shm_ring, per-rank exit codes.
Exit status 0 only when every rank finished, the sum was right and the ring was read back.
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
RING_CHUNK = 10 << 20
RING_BYTES = int(os.environ.get("ALLREDUCE_SHM_RING_CHUNKS", "10")) * RING_CHUNK


def _shm_ring(rank: int, port: int) -> bool:
    """vLLM's broadcast ring: rank 0 fills every chunk of a RING_BYTES segment, others read it."""
    from multiprocessing import shared_memory

    import torch.distributed as dist

    name = f"tpd_ring_{port}"
    if rank == 0:
        shm = shared_memory.SharedMemory(name=name, create=True, size=RING_BYTES)
        dist.barrier()
        chunk = b"\x01" * RING_CHUNK
        for off in range(0, RING_BYTES, RING_CHUNK):
            shm.buf[off : off + RING_CHUNK] = chunk  # SIGBUS here when /dev/shm is smaller
        dist.barrier()
        dist.barrier()
        shm.close()
        shm.unlink()
        return True
    dist.barrier()
    shm = shared_memory.SharedMemory(name=name)
    dist.barrier()
    ok = all(shm.buf[off] == 1 for off in range(0, RING_BYTES, RING_CHUNK))
    dist.barrier()
    shm.close()
    return ok


def _worker(rank: int, port: int, queue: object) -> None:
    import faulthandler

    faulthandler.enable()  # "Fatal Python error: Bus error", as vLLM users see it
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
        if WORLD > 1 and RING_BYTES:
            ring_ok = _shm_ring(rank, port)
            if rank == WORLD - 1:
                queue.put({"shm_ring": "ok" if ring_ok else "wrong"})  # type: ignore[attr-defined]
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
    # A rank that dies (e.g. SIGBUS in the shm ring) leaves the others waiting in a collective:
    # end them at once instead of at the deadline.
    while time.monotonic() < deadline and any(p.is_alive() for p in procs):
        if any(p.exitcode not in (None, 0) for p in procs):
            break
        time.sleep(0.2)
    timed_out = time.monotonic() >= deadline and any(p.is_alive() for p in procs)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(5)
    result: dict[str, object] = {"exitcodes": [p.exitcode for p in procs], "timed_out": timed_out}
    result["correct"] = False
    while True:
        try:
            result.update(queue.get(timeout=1))
        except Exception:
            break
    ring_needed = WORLD > 1 and RING_BYTES > 0
    result["ok"] = bool(
        not timed_out
        and all(p.exitcode == 0 for p in procs)
        and result.get("correct")
        and (result.get("shm_ring") == "ok" or not ring_needed)
    )
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
