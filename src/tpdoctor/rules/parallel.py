"""Parallel sizes against the GPUs this process can see (every backend)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Facts, Finding, make_finding
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.gpus import (
    any_gpu_node,
    host_missing_render_nodes,
    infer_backend,
    visible_gpu_paths,
    visible_gpus,
)
from tpdoctor.rules.registry import fact_rule


@fact_rule("vllm.tp-exceeds-visible-gpus")
def tp_fits_visible_gpus(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """`--tp` is not larger than the number of GPUs the process can see.

    **What it checks.** The GPUs visible to the process: device nodes of the backend
    (`/dev/nvidiaN`; AMD or Intel `/dev/dri/renderD*`) or the driver's list, reduced by
    `CUDA_VISIBLE_DEVICES`, `HIP_VISIBLE_DEVICES`/`ROCR_VISIBLE_DEVICES` or `ZE_AFFINITY_MASK`,
    against `--tp`. `tp × pp` larger than that is reported as degraded (pipeline stages may run
    on other nodes).

    **Why it matters.** vLLM refuses to start (`tensor parallel size N is not allowed`, "larger
    than the number of available GPUs") or a rank fails with `invalid device ordinal`.

    **How to fix.** Pass as many GPUs as `--tp` to the container (`--gpus`, `devices:`,
    resources limits), fix the visibility mask, or lower `--tensor-parallel-size`.
    """
    backend = infer_backend(facts, options)
    if options.tp is None:
        return
    if backend is None:
        if not any_gpu_node(facts):
            yield make_finding(
                "vllm.tp-exceeds-visible-gpus",
                f"--tp {options.tp} but no GPU is visible to this process.",
                [("/dev", "no GPU device node")],
                context=fix_context(gpu_count=options.tp),
            )
        return
    vis = visible_gpus(facts, backend)
    if vis.count is None:
        return
    evidence: list[tuple[str, str]] = [(vis.base_source, f"{vis.base} GPU(s)")]
    if vis.mask_var:
        evidence.append((vis.mask_var, facts.env[vis.mask_var]))
    ctx = fix_context(gpu_count=options.tp, nvidia_only=backend == "cuda")  # `--gpus N` on NVIDIA, not render nodes
    if (
        host_missing_render_nodes(facts, backend, visible_gpu_paths(facts, backend))
        and options.tp > vis.count
    ):
        return  # the host has the GPUs: rules/devices.py reports device.render-node-missing
    if options.tp > vis.count:
        yield make_finding(
            "vllm.tp-exceeds-visible-gpus",
            f"--tp {options.tp} but only {vis.count} {backend} GPU(s) are visible to this process.",
            evidence,
            context=ctx,
        )
    elif options.tp * options.pp > vis.count:
        yield make_finding(
            "vllm.tp-exceeds-visible-gpus",
            f"tp×pp = {options.tp * options.pp} but {vis.count} GPU(s) are visible here; fine only if "
            "the other pipeline stages run on other nodes.",
            evidence,
            context=ctx,
            severity="degraded",
            confidence="suggests",
        )
