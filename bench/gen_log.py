#!/usr/bin/env python3
"""Write a large synthetic multi-rank log: NCCL_DEBUG=INFO / vLLM / Ray noise with real failure
signatures buried at random lines. A manifest (<out>.manifest.json) records where each was put.

    python3 bench/gen_log.py /tmp/tpdoctor-bench.log --size 1GiB --seed 1
"""

from __future__ import annotations

import argparse
import json
import random

# (cause expected from `tpdoctor explain`, the line as real tools print it)
PLANTED = [
    (
        "oneccl.pidfd-unsupported",
        "2025:03:01-10:00:00:(  532) |CCL_WARN| pidfd is not supported, fallbacks to drmfd exchange mode",
    ),
    (
        "oneccl.bypath-missing",
        "(RayWorkerWrapper pid=4242) RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: could not open device directory",
    ),
    (
        "shm.too-small",
        "gpu-node-7:4242:4301 [1] NCCL WARN Error: failed to extend /dev/shm/nccl-4Xh2Gq to 9637892 bytes",
    ),
    (
        "nccl.p2p-unsupported",
        "gpu-node-7:4242:4301 [0] transport/shm.cc:590 NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'",
    ),
    (
        "rdma.memlock-too-low",
        "gpu-node-7:4242:4301 [0] misc/ibvwrap.cc:201 NCCL WARN Call to ibv_reg_mr_iova2 failed with error Cannot allocate memory",
    ),
    ("cuda.ipc-pidfd-denied", "[rank1]: RuntimeError: pidfd_getfd: Operation not permitted"),
    (
        "network.wrong-interface",
        "(RayWorkerWrapper pid=1890, ip=10.41.0.8) [rank8]:[E ProcessGroupGloo.cpp:144] Gloo connectFullMesh failed with [../third_party/gloo/gloo/transport/tcp/pair.cc:144] no error",
    ),
    ("device.nvml-cgroup-lost", "Failed to initialize NVML: Unknown Error"),
    (
        "oneccl.ofi-provider-missing",
        "CCL_ERROR| atl_ofi_helper.cpp:1118 fi_getinfo error: ret -61, providers 0",
    ),
    (
        "vllm.custom-allreduce-p2p",
        "\x1b[33mWARNING 03-01 12:00:00 custom_all_reduce.py:134] Custom allreduce is disabled because your platform lacks GPU P2P capability or P2P test failed. To silence this warning, specify disable_custom_all_reduce=True explicitly.\x1b[0m",
    ),
]


def noise_pool(rng: random.Random, n: int, ansi: float) -> list[bytes]:
    hosts = ["gpu-node-7", "gpu-node-8"]
    out: list[bytes] = []
    for _ in range(n):
        h = rng.choice(hosts)
        pid = rng.randint(1000, 9999)
        tid = pid + rng.randint(1, 90)
        dev = rng.randint(0, 7)
        ch = rng.randint(0, 31)
        kind = rng.random()
        if kind < 0.45:
            t = rng.choice(["P2P/CUMEM/read", "P2P/CUMEM", "P2P/IPC", "SHM/direct/direct"])
            line = f"{h}:{pid}:{tid} [{dev}] NCCL INFO Channel {ch:02d}/0 : {dev}[{dev}] -> {(dev + 1) % 8}[{(dev + 1) % 8}] via {t}"
        elif kind < 0.60:
            line = f"{h}:{pid}:{tid} [{dev}] NCCL INFO Connected all rings, use ring PXN 0 GDR 1"
        elif kind < 0.70:
            line = f"{h}:{pid}:{tid} [{dev}] NCCL INFO {rng.choice(['ncclCommInitRank', 'comm 0x55d4c0'])} rank {dev} nranks 8 cudaDev {dev} nvmlDev {dev} busId {rng.randint(0x18, 0xDB):x}000 commId 0x{rng.getrandbits(64):x} - Init START"
        elif kind < 0.78:
            line = f"{h}:{pid}:{tid} [{dev}] NCCL INFO P2P Chunksize set to 524288"
        elif kind < 0.86:
            line = f"(RayWorkerWrapper pid={pid}, ip=10.41.0.{dev}) INFO 03-01 12:{ch:02d}:00 [model_runner.py:1234] Loading model weights took {rng.random() * 20:.4f} GB"
        elif kind < 0.92:
            line = f"[rank{dev}]:[I ProcessGroupNCCL.cpp:{rng.randint(800, 4000)}] [PG 0 Rank {dev}] ProcessGroupNCCL initialization options: size: 8, global rank: {dev}, TIMEOUT(ms): 600000"
        elif kind < 0.97:
            line = f"{h}:{pid}:{tid} [{dev}] NCCL INFO threadThresholds 8/8/64 | 64/8/64 | 512 | 512"
        elif kind < 0.995:
            level = "\x1b[32mINFO\x1b[0m" if rng.random() < ansi else "INFO"  # vLLM colours only on a tty
            line = f"{level} 03-01 12:{ch:02d}:{dev:02d} [metrics.py:351] Avg prompt throughput: {rng.random() * 900:.1f} tokens/s, Running: {dev} reqs"
        else:
            # benign lines that contain grep's words and the engine's literals but are no failure
            line = rng.choice(
                [
                    f"{h}:{pid}:{tid} [{dev}] NCCL INFO NET/Plugin: Could not find: libnccl-net.so. Using internal network plugin.",
                    f"{h}:{pid}:{tid} [{dev}] misc/ibvwrap.cc:63 NCCL WARN Failed to open libibverbs.so[.1]",
                    "WARNING 03-01 12:00:00 [utils.py:12] error_on_missing_weights is deprecated",
                    f"{h}:{pid}:{tid} [{dev}] NCCL INFO cudaDriverVersion 12040",
                ]
            )
        out.append(line.encode() + b"\n")
    return out


def parse_size(text: str) -> int:
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.lower()
    for suffix, mult in units.items():
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * mult)
    return int(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--ansi", type=float, default=0.0, help="share of vLLM metric lines with colour codes (0..1)"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    target = parse_size(args.size)
    pool = noise_pool(rng, 60_000, args.ansi)
    per_block = 40_000
    n_blocks_est = max(1, target // (per_block * 100))
    # choose the blocks (and the positions in them) where the planted lines go
    plan: dict[int, list[tuple[str, str]]] = {}
    for cause, line in PLANTED:
        plan.setdefault(rng.randrange(n_blocks_est), []).append((cause, line))
    manifest: list[dict[str, object]] = []
    written = 0
    line_no = 0
    block = 0
    with open(args.out, "wb") as f:
        while written < target:
            lines = rng.choices(pool, k=per_block)
            planted = [(cause, text, text.encode() + b"\n") for cause, text in plan.get(block, [])]
            for _cause, _text, raw in planted:
                lines.insert(rng.randrange(len(lines) + 1), raw)
            for cause, text, raw in planted:
                pos = next(i for i, x in enumerate(lines) if x is raw)
                manifest.append({"cause": cause, "line": line_no + pos + 1, "text": text})
            data = b"".join(lines)
            f.write(data)
            written += len(data)
            line_no += len(lines)
            block += 1
    with open(args.out + ".manifest.json", "w") as f:
        json.dump({"bytes": written, "lines": line_no, "planted": manifest}, f, indent=1)
    print(f"wrote {written} bytes, {line_no} lines, {len(manifest)} planted signatures to {args.out}")


if __name__ == "__main__":
    main()
