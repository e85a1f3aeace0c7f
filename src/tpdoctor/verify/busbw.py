"""Bus bandwidth as nccl-tests defines it (NVIDIA/nccl-tests doc/PERFORMANCE.md, src/*.cu).

algbw = S / t, with S the bytes of the *whole* array: for all-reduce the buffer each rank holds;
for all-gather `sendcount*typesize*n` (the gathered output); for reduce-scatter
`recvcount*typesize*n` (the input). busbw = algbw * factor, the factor making the number
comparable to the link speed whatever the rank count:
  all_reduce      2(n-1)/n   (AllReduceGetBw)
  all_gather      (n-1)/n    (AllGatherGetBw)
  reduce_scatter  (n-1)/n    (ReduceScatterGetBw)
GB here is 1e9 bytes, as in nccl-tests.
"""

from __future__ import annotations

OPS = ("all_reduce", "all_gather", "reduce_scatter")


def bus_factor(op: str, nranks: int) -> float:
    if nranks < 1:
        raise ValueError("nranks must be >= 1")
    if op == "all_reduce":
        return 2.0 * (nranks - 1) / nranks
    if op in ("all_gather", "reduce_scatter"):
        return (nranks - 1) / nranks
    raise ValueError(f"unknown collective {op!r}")


def algbw_gbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e9 if seconds > 0 else 0.0


def busbw_gbps(op: str, nbytes: int, seconds: float, nranks: int) -> float:
    return algbw_gbps(nbytes, seconds) * bus_factor(op, nranks)
