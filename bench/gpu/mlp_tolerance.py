"""How close the TP MLP comes to its tolerance at real decode shapes, on one device.

The n ranks of verify's TP MLP are emulated on one GPU (or CPU): each shard's partial output of
the row-parallel GEMM is computed as a rank would (its column block of W1, its row block of
W2), rounded to bf16, and the partials are summed in bf16 in ring order (n-1 roundings, as a
ring all-reduce does); the result is compared with the unsharded MLP as verify does
(max|TP - single| / max|single|), next to workloads.tp_tolerance. A skipped all-reduce (one
partial alone) is printed too, to show the margin on the other side.

    PYTHONPATH=src python3 bench/gpu/mlp_tolerance.py [cuda|cpu]
"""

from __future__ import annotations

import sys

import torch

from tpdoctor.verify.workloads import tp_tolerance

SHAPES = {"llama-3-8b": (4096, 14336), "llama-3-70b": (8192, 28672), "qwen2.5-72b": (8192, 29568)}


def main(device: str) -> None:
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    shapes = SHAPES if dev.type == "cuda" else {"small": (512, 1792)}
    print("| model | batch | tp | max rel err | tolerance | err / tol | skipped all-reduce |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (hidden, ffn) in shapes.items():
        g = torch.Generator(device=dev).manual_seed(20240607)
        kw = {"generator": g, "device": dev, "dtype": torch.float32}
        w1 = (torch.randn(hidden, ffn, **kw) / hidden**0.5).bfloat16()
        w2 = (torch.randn(ffn, hidden, **kw) / ffn**0.5).bfloat16()
        for batch in (1, 64):
            x = torch.randn(batch, hidden, **kw).bfloat16()
            ref = (torch.nn.functional.gelu(x @ w1) @ w2).float()
            for n in (2, 4, 8):
                k = ffn // n
                parts = [
                    torch.nn.functional.gelu(x @ w1[:, r * k : (r + 1) * k]) @ w2[r * k : (r + 1) * k]
                    for r in range(n)
                ]
                acc = parts[0]
                for p in parts[1:]:
                    acc = acc + p  # bf16 + bf16 -> bf16: one rounding per ring step
                scale = ref.abs().max()
                err = float((acc.float() - ref).abs().max() / scale)
                skip = float((parts[0].float() - ref).abs().max() / scale)
                tol = tp_tolerance("bf16", n, max(hidden, ffn))
                print(f"| {name} | {batch} | {n} | {err:.2e} | {tol:.3g} | {err / tol:.2f} | {skip:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu"))
