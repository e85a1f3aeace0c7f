"""Fix-template values taken from the facts (the real render nodes, the numeric render GID)."""

from __future__ import annotations

from collections.abc import Iterable

from tpdoctor.model import CheckOptions
from tpdoctor.model.facts import Facts
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.gpus import infer_backend, render_nodes


def facts_fix_context(
    facts: Facts,
    *,
    nodes: Iterable[str] | None = None,
    gpu_count: int | None = None,
    extra: dict[str, str] | None = None,
    backend: str | None = None,
) -> dict[str, str]:
    present = [n for n in render_nodes(facts) if n.kind == "char"]
    chosen = list(nodes) if nodes is not None else [n.path for n in present]
    gids = [n.gid for n in present if n.gid is not None and n.gid != 0]
    render_gid = gids[0] if gids else facts.groups.get("render")
    return fix_context(
        render_nodes=chosen or None,
        render_gid=render_gid,
        video_gid=facts.groups.get("video"),
        gpu_count=gpu_count or (len(chosen) or None),
        # NVIDIA GPUs and no render node: the GPU request is `--gpus N` itself (a mixed host keeps both forms)
        nvidia_only=not present and nodes is None and (backend or infer_backend(facts, CheckOptions())) == "cuda",
        extra=extra,
    )
