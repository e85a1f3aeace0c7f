"""`verify --profile inference`: the all-reduce sizes tensor-parallel decoding issues, and their cost.

A Megatron-style TP transformer layer ends its attention block (row-parallel o_proj) and its MLP
(row-parallel down_proj) with one all-reduce each of the layer's output, [tokens, hidden] in the
activation dtype (Megatron-LM's RowParallelLinear; vLLM's `tensor_model_parallel_all_reduce` in
RowParallelLinear.forward). So one decode step of a batch of B sequences issues
    2 x layers all-reduces of B x hidden x bytes(dtype)
and its communication time, added to every sequence's time per output token, is
    2 x layers x t_allreduce(B x hidden x bytes).
A prefill chunk of P tokens issues the same count at P x hidden x bytes.

Presets: hidden_size, num_hidden_layers and intermediate_size from each model's public
config.json on the Hugging Face Hub (URLs in PRESETS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpdoctor.verify.latency import LatencyModel
from tpdoctor.verify.results import InferenceProfile, OpResult, PhaseCost

DECODE_BATCHES = (1, 8, 64)
PREFILL_TOKENS = (512, 2048, 8192)
ALLREDUCES_PER_LAYER = 2
DTYPE_BYTES = {"bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class ModelPreset:
    hidden: int
    layers: int
    ffn: int
    source: str


_HF = "https://huggingface.co/{}/blob/main/config.json"
PRESETS: dict[str, ModelPreset] = {
    "llama-3-8b": ModelPreset(4096, 32, 14336, _HF.format("meta-llama/Meta-Llama-3-8B")),
    "llama-3-70b": ModelPreset(8192, 80, 28672, _HF.format("meta-llama/Meta-Llama-3-70B")),
    "llama-3.1-405b": ModelPreset(16384, 126, 53248, _HF.format("meta-llama/Llama-3.1-405B")),
    "qwen2.5-7b": ModelPreset(3584, 28, 18944, _HF.format("Qwen/Qwen2.5-7B")),
    "qwen2.5-72b": ModelPreset(8192, 80, 29568, _HF.format("Qwen/Qwen2.5-72B")),
}


def resolve_model(name: str | None, hidden: int | None, layers: int | None) -> tuple[str, ModelPreset]:
    """A preset by name, or a custom shape from --model-hidden (and --model-layers, default 32).
    Raises ValueError with a one-line reason."""
    if name:
        key = name.strip().lower()
        if key not in PRESETS:
            raise ValueError(f"unknown model {name!r}: one of {', '.join(PRESETS)} (or --model-hidden H)")
        p = PRESETS[key]
        if hidden is not None or layers is not None:
            p = ModelPreset(hidden or p.hidden, layers or p.layers, p.ffn, p.source + " (overridden)")
        return key, p
    if hidden is None:
        raise ValueError("--profile inference needs --model NAME or --model-hidden H")
    if hidden < 1 or (layers is not None and layers < 1):
        raise ValueError("--model-hidden and --model-layers must be >= 1")
    return "custom", ModelPreset(hidden, layers or 32, 4 * hidden, "given on the command line")


def decode_bytes(model: ModelPreset, batch: int, dtype: str) -> int:
    return batch * model.hidden * DTYPE_BYTES[dtype]


def profile_sizes(model: ModelPreset, dtype: str) -> list[int]:
    """Every all-reduce size the profile needs measured: decode batches, then prefill chunks."""
    sizes = [decode_bytes(model, b, dtype) for b in DECODE_BATCHES]
    sizes += [decode_bytes(model, p, dtype) for p in PREFILL_TOKENS]
    return sorted(set(sizes))


def measured_us(rows: list[OpResult], nbytes: int) -> float | None:
    """Time of one all-reduce of `nbytes`: the row of that size, else log-log interpolation
    between the nearest measured sizes (None outside the measured range)."""
    pts = sorted((r.bytes, r.time_us) for r in rows if r.time_us > 0 and not r.wrong)
    for b, t in pts:
        if b == nbytes:
            return t
    below = [p for p in pts if p[0] < nbytes]
    above = [p for p in pts if p[0] > nbytes]
    if not below or not above:
        return None
    (b0, t0), (b1, t1) = below[-1], above[0]
    f = (math.log(nbytes) - math.log(b0)) / (math.log(b1) - math.log(b0))
    return round(math.exp(math.log(t0) + f * (math.log(t1) - math.log(t0))), 2)


def build_profile(
    name: str,
    model: ModelPreset,
    tp: int,
    dtype: str,
    rows: list[OpResult],
    lat: LatencyModel | None,
    vllm_rows: list[OpResult] | None = None,
) -> InferenceProfile:
    """Per-step communication at each decode batch and prefill chunk, against the floor."""
    n_ar = ALLREDUCES_PER_LAYER * model.layers
    phases: list[PhaseCost] = []
    for phase, counts in (("decode", DECODE_BATCHES), ("prefill", PREFILL_TOKENS)):
        for tokens in counts:
            nbytes = decode_bytes(model, tokens, dtype)
            pc = PhaseCost(phase=phase, tokens=tokens, allreduce_bytes=nbytes, allreduces=n_ar)
            one = measured_us(rows, nbytes)
            if one is not None:
                pc.measured_us = one
                pc.comm_us = round(one * n_ar, 1)
            vone = measured_us(vllm_rows, nbytes) if vllm_rows else None
            if vone is not None:
                pc.vllm_comm_us = round(vone * n_ar, 1)
            if lat is not None:
                floor, _ = lat.floor_us(nbytes)
                pc.floor_us = round(floor * n_ar, 1)
                pc.expected_max_us = round(lat.limit_us(nbytes) * n_ar, 1)
            if tp < 2:
                pc.verdict = "not judged"
            elif pc.comm_us is not None and pc.expected_max_us is not None:
                pc.verdict = "ok" if pc.comm_us <= pc.expected_max_us else "degraded"
            phases.append(pc)
    prof = InferenceProfile(
        model=name,
        hidden=model.hidden,
        layers=model.layers,
        tp=tp,
        dtype=dtype,
        source=model.source,
        latency_source=lat.source if lat else None,
        phases=phases,
    )
    prof.summary = summary(prof)
    return prof


def summary(p: InferenceProfile) -> str:
    """One line: 'communication adds X us per token at batch 1 (8: .., 64: ..); expected <= Y'."""
    dec = [ph for ph in p.phases if ph.phase == "decode"]
    if p.tp < 2:
        return f"{p.model} at TP {p.tp}: one rank issues no all-reduce; nothing to judge"
    parts = [
        f"batch {ph.tokens}: {ph.comm_us:g} us"
        + (f" (expected <= {ph.expected_max_us:g})" if ph.expected_max_us else "")
        for ph in dec
        if ph.comm_us is not None
    ]
    if not parts:
        return f"{p.model} at TP {p.tp}: the decode sizes were not measured"
    first = next(ph for ph in dec if ph.comm_us is not None)
    head = (
        f"{p.model} at TP {p.tp}: communication adds {first.comm_us:g} us per token at batch {first.tokens}"
    )
    head += f" ({ALLREDUCES_PER_LAYER * p.layers} all-reduces of {first.allreduce_bytes} B)"
    if first.expected_max_us is not None:
        head += f"; expected <= {first.expected_max_us:g} us"
    else:
        head += "; no expected latency for this link (not judged)"
    return head + "; " + ", ".join(parts)
