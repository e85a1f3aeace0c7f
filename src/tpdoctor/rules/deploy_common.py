"""Helpers shared by the deploy_* rule modules: evidence and fix context for one service."""

from __future__ import annotations

from tpdoctor.deploy.analysis import facts_render_gid, facts_render_nodes, visible_gpus
from tpdoctor.deploy.model import Service
from tpdoctor.model import Evidence
from tpdoctor.model.fixes import fix_context
from tpdoctor.rules.registry import DeployContext


def ev(svc: Service, ctx: DeployContext, text: str, line: int | None = None) -> Evidence:
    return Evidence(source=ctx.model.source, line=line or svc.line, text=f"{svc.name}: {text}")


def fctx(svc: Service, ctx: DeployContext) -> dict[str, str]:
    nodes = facts_render_nodes(ctx.facts) or None
    return fix_context(
        render_nodes=nodes,
        render_gid=facts_render_gid(ctx.facts),
        gpu_count=visible_gpus(svc) or (len(nodes) if nodes else None),
    )
