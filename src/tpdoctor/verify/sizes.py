"""Message sizes: parse "1M..4G", "1M..4G:2", "64K,1M,16M" and print them as nccl-tests does (bytes)."""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# ASCII digits, at most 20 (int() of 4,301+ digits raises its own message, review43): past that it is not a size
_ONE = re.compile(r"^\s*([0-9]{1,20})\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)

# Defaults. GPU: nccl-tests' `-b 1M -e 4G -f 4` so the two tables line up row by row.
GPU_SIZES = "1M..4G:4"
GPU_QUICK = "1M,64M,256M"
CPU_SIZES = "64K..16M:4"
CPU_QUICK = "64K,1M"
# Small all-reduces (latency path: graph-captured on CUDA/ROCm), as `all_reduce_perf -b 8K -e 16M -f 2`.
GPU_SMALL = "8K..16M:2"
GPU_SMALL_QUICK = "8K,64K,1M"
CPU_SMALL = "8K,64K"
CPU_SMALL_QUICK = "8K"
# vLLM's CustomAllreduce(max_size=8192 * 1024): larger all-reduces go to NCCL in vLLM.
VLLM_CUSTOM_AR_MAX = 8192 * 1024


# No GPU holds one buffer past this (an H200 has 141 GB, and a collective needs two): `--sizes 1T` was launched and
# ended as a rank's allocation error reported as a blocker of the setup (exit 3), and `--small-sizes 1..99999999999999999`
# ran 57 sizes up to 89 PB until the timeout (gsafe43); refused as the option error it is (exit 2)
MAX_SIZE = 64 << 30


def parse_size(text: str) -> int:
    m = _ONE.match(text)
    if not m:
        raise ValueError(f"not a size: {text.strip()[:40]!r} (use e.g. 64K, 1M, 4G)")
    value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    if value > MAX_SIZE:
        raise ValueError(f"size over {human(MAX_SIZE)}: {text.strip()[:40]!r}")
    return value


def parse_sizes(spec: str) -> list[int]:
    """`A..B[:F]` is A, A*F, ... up to B (F defaults to 4, as `all_reduce_perf -f 4`); else a comma list."""
    spec = spec.strip()
    if ".." in spec:
        rng, _, factor_text = spec.partition(":")
        lo_text, _, hi_text = rng.partition("..")
        lo, hi = parse_size(lo_text), parse_size(hi_text)
        if factor_text.strip() and not re.fullmatch(r"[0-9]{1,6}", factor_text.strip()):
            raise ValueError(f"size factor must be a whole number >= 2: {spec[:80]!r}")
        factor = int(factor_text) if factor_text.strip() else 4
        if factor < 2:
            raise ValueError(f"size factor must be >= 2: {spec!r}")
        if hi < lo:
            raise ValueError(f"empty size range: {spec!r}")
        out = []
        size = lo
        while size <= hi:
            out.append(size)
            size *= factor
        return out
    sizes = [parse_size(part) for part in spec.split(",") if part.strip()]
    if not sizes:
        raise ValueError("no sizes given")
    return sorted(set(sizes))


def human(nbytes: int) -> str:
    """1048576 -> '1 MiB' (exact binary units when they divide, else one decimal)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            q = nbytes / scale
            return f"{int(q)} {unit}" if nbytes % scale == 0 else f"{q:.1f} {unit}"
    return f"{nbytes} B"
